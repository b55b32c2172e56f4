//! File names that are safe to create on Linux, macOS and Windows.
//!
//! Names in the index are the archive's own (escaped when not UTF-8), and archives hold names
//! no file system should see: `..`, `aux.py`, `a:b`, 300-byte components. Extraction maps each
//! path component through [`safe_component`]; the mapping is deterministic, so a resumed
//! extraction finds the files it wrote before.

use sha1::{Digest, Sha1};

/// Longest component we write, in bytes (file systems allow 255; room is left for the
/// temporary suffix used while writing).
const MAX_COMPONENT: usize = 200;

const RESERVED: [&str; 22] =
    ["con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9"];

/// A safe version of one path component: characters Windows refuses (`<>:"/\|?*` and control
/// characters) become `_`; a trailing dot or space becomes `_`; Windows device names (`CON`,
/// `aux.py`, ...) get a leading `_`; `.`, `..` and the empty name become `_`, `__`, `_`; and a
/// component longer than 200 bytes is cut, keeping its extension, with a hash of the whole
/// name so that two long names never collide.
pub fn safe_component(name: &str) -> String {
    match name {
        "" | "." => return "_".into(),
        ".." => return "__".into(),
        _ => {}
    }
    let mut s: String = name.chars().map(|c| if matches!(c, '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*') || c.is_control() { '_' } else { c }).collect();
    if s.ends_with(['.', ' ']) {
        s.pop();
        s.push('_');
    }
    let stem = s.split('.').next().unwrap_or("").trim_end().to_ascii_lowercase();
    if RESERVED.contains(&stem.as_str()) {
        s.insert(0, '_');
    }
    if s.len() > MAX_COMPONENT {
        let ext = s.rfind('.').map(|i| &s[i..]).filter(|e| e.len() <= 16).unwrap_or("").to_string();
        let hash = hex::encode(&Sha1::digest(name.as_bytes())[..6]);
        let mut cut = MAX_COMPONENT - ext.len() - hash.len() - 1;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s = format!("{}~{hash}{ext}", &s[..cut]);
    }
    s
}

/// A relative path made of safe components.
pub fn safe_path(path: &str) -> std::path::PathBuf {
    path.split('/').filter(|c| !c.is_empty()).map(safe_component).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_safe() {
        assert_eq!(safe_component("ok_name.py"), "ok_name.py");
        assert_eq!(safe_component("a:b?.py"), "a_b_.py");
        assert_eq!(safe_component("AUX.py"), "_AUX.py");
        assert_eq!(safe_component("com1"), "_com1");
        assert_eq!(safe_component("console.py"), "console.py");
        assert_eq!(safe_component("trailing."), "trailing_");
        assert_eq!(safe_component(".."), "__");
        assert_eq!(safe_component("tab\there"), "tab_here");
        assert_eq!(safe_component(r"bad\xff"), "bad_xff");
        let long = format!("{}.py", "x".repeat(300));
        let a = safe_component(&long);
        assert!(a.len() <= 200 && a.ends_with(".py"), "{a}");
        let other = format!("{}y.py", "x".repeat(299));
        assert_ne!(safe_component(&other), a, "long names keep apart");
        let unicode = "é".repeat(150);
        assert!(safe_component(&unicode).len() <= 200);
        assert_eq!(safe_path("../a//./b:c"), std::path::PathBuf::from("__/a/_/b_c"));
    }
}
