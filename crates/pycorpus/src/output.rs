//! Rendering results: aligned tables for people, JSON lines and CSV for programs.

use serde_json::Value;
use std::io::{self, Write};

/// `1234567` -> `1.2 MB` (decimal units, as download sizes are usually given).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub use pycorpus_catalog::row_json;

/// Writes one CSV record (RFC 4180 quoting).
pub fn csv_record<W: Write>(out: &mut W, fields: &[String]) -> io::Result<()> {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if f.contains([',', '"', '\n', '\r']) {
            write!(out, "\"{}\"", f.replace('"', "\"\""))?;
        } else {
            out.write_all(f.as_bytes())?;
        }
    }
    out.write_all(b"\n")
}

/// A JSON value as a CSV field (strings bare, null empty).
pub fn csv_field(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints a table with columns sized to their contents; numeric columns right-aligned.
pub fn table<W: Write>(out: &mut W, header: &[&str], rows: &[Vec<String>], right: &[bool]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |out: &mut W, cells: &[String]| -> io::Result<()> {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            let last = i + 1 == cells.len();
            if right.get(i).copied().unwrap_or(false) {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if !last {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if !last {
                s.push_str("  ");
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, &header.iter().map(|h| h.to_string()).collect::<Vec<_>>())?;
    for r in rows {
        line(out, r)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_310_000_000), "1.3 GB");
        assert_eq!(thousands(412111), "412,111");
        assert_eq!(thousands(12), "12");
        let mut v = Vec::new();
        csv_record(&mut v, &["a".into(), "b,c".into(), "say \"hi\"".into()]).expect("write");
        assert_eq!(String::from_utf8(v).expect("utf8"), "a,\"b,c\",\"say \"\"hi\"\"\"\n");
        let mut t = Vec::new();
        table(&mut t, &["name", "n"], &[vec!["x".into(), "10".into()], vec!["long".into(), "2".into()]], &[false, true]).expect("write");
        assert_eq!(String::from_utf8(t).expect("utf8"), "name   n\nx     10\nlong   2\n");
    }
}
