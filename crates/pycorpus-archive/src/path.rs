//! Entry names: escaping raw bytes without loss, and normalising to a safe relative path.

/// Renders raw entry-name bytes as text without losing anything: valid UTF-8 is kept, every
/// byte of an invalid sequence becomes `\xNN` (lower-case hex).
pub fn escape_name(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Normalises a raw entry name into a relative `/`-separated path that cannot leave its root:
/// `/` and `\` both separate; a leading `/` or drive letter (`C:`) is dropped; empty and `.`
/// components vanish; `..` removes the previous component (never going above the root). Each
/// component is then escaped: invalid UTF-8 and control characters become `\xNN`. Returns
/// `None` when nothing is left (e.g. `../`).
pub fn normalize_path(raw: &[u8]) -> Option<String> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for (i, comp) in raw.split(|&b| b == b'/' || b == b'\\').enumerate() {
        if i == 0 && comp.len() == 2 && comp[1] == b':' && comp[0].is_ascii_alphabetic() {
            continue; // a Windows drive such as `C:`
        }
        match comp {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            _ => parts.push(comp),
        }
    }
    (!parts.is_empty()).then(|| parts.iter().map(|c| escape_controls(&escape_name(c))).collect::<Vec<_>>().join("/"))
}

fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_invalid_utf8_losslessly() {
        assert_eq!(escape_name(b"caf\xc3\xa9.py"), "café.py");
        assert_eq!(escape_name(b"bad\xff\xfe.py"), "bad\\xff\\xfe.py");
    }

    #[test]
    fn normalises_hostile_paths() {
        let n = |s: &[u8]| normalize_path(s);
        assert_eq!(n(b"../../etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(n(b"/abs/path.py").as_deref(), Some("abs/path.py"));
        assert_eq!(n(b"a/b/../../../c").as_deref(), Some("c"));
        assert_eq!(n(b"C:\\Windows\\x.py").as_deref(), Some("Windows/x.py"));
        assert_eq!(n(b"pkg\\mod.py").as_deref(), Some("pkg/mod.py"));
        assert_eq!(n(b"./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(n(b"new\nline").as_deref(), Some("new\\x0aline"));
        assert_eq!(n(b"bad\xff/x.py").as_deref(), Some("bad\\xff/x.py"), "escapes are not separators");
        assert_eq!(n(b"../"), None);
        assert_eq!(n(b""), None);
    }
}
