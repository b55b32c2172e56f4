//! How results are printed: ripgrep's `path:line:text` (context lines `path-line-text`, `--`
//! between groups), or JSON lines that carry the blob id and the distribution's columns.

use crate::sink::{Hits, Kind};
use crate::{FILE_FIELDS, GrepOptions, Holders, file_fields};
use pycorpus_catalog::FileRow;
use pycorpus_store::Oid;
use serde_json::json;
use std::io::Write;

/// What to print per blob.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// Every selected line (and its context).
    #[default]
    Lines,
    /// The file names only (`-l`).
    FilesWithMatches,
    /// The number of selected lines (`-c`).
    Count,
}

fn file_json(oid: &Oid, row: &FileRow, others: Option<u64>) -> serde_json::Value {
    let oid = oid.to_hex();
    let mut v: serde_json::Map<String, serde_json::Value> = FILE_FIELDS.iter().zip(file_fields(&oid, row)).map(|(k, v)| (k.to_string(), json!(v))).collect();
    if let Some(n) = others {
        v.insert("other_paths".into(), json!(n));
    }
    serde_json::Value::Object(v)
}

/// The record of one line: the file's fields, then the line's.
fn line_record(file: &serde_json::Value, number: u64, selected: bool, text: &[u8]) -> serde_json::Value {
    let mut v = file.clone();
    v["line_number"] = json!(number);
    v["type"] = json!(if selected { "match" } else { "context" });
    v["text"] = json!(String::from_utf8_lossy(text));
    v
}

/// The records `grep --json` prints for what one blob reported (the first file holding it,
/// with `other_paths`): for front ends that hand the records over rather than print them.
pub fn blob_records(m: &crate::BlobMatches) -> Vec<serde_json::Value> {
    let base = file_json(&m.oid, &m.holders.first, Some(m.holders.count.saturating_sub(1)));
    m.lines.iter().map(|l| line_record(&base, l.number, l.selected, &l.text)).collect()
}

/// Writes what one blob reported, once per file shown: the first file holding it and, in
/// text, `[+N]` after its path when N other files hold it too; every file with `all_paths`.
pub(crate) fn write_blob(out: &mut Vec<u8>, oid: &Oid, h: &Holders, hits: &Hits, opts: &GrepOptions) -> std::io::Result<()> {
    let rows: Vec<&FileRow> = if opts.all_paths { h.all().collect() } else { vec![&*h.first] };
    let others = (!opts.all_paths).then(|| h.count - 1);
    let suffix = match others {
        Some(n) if n > 0 => format!("[+{n}]"),
        _ => String::new(),
    };
    let context = opts.before + opts.after > 0;
    for row in rows {
        if opts.json {
            let mut base = file_json(oid, row, others);
            match opts.mode {
                crate::OutputMode::FilesWithMatches => {
                    serde_json::to_writer(&mut *out, &base)?;
                    out.push(b'\n');
                }
                crate::OutputMode::Count => {
                    base["count"] = json!(hits.selected);
                    serde_json::to_writer(&mut *out, &base)?;
                    out.push(b'\n');
                }
                crate::OutputMode::Lines => {
                    for line in hits.lines.iter().filter(|l| l.kind != Kind::Break) {
                        serde_json::to_writer(&mut *out, &line_record(&base, line.number, line.kind == Kind::Match, &line.text))?;
                        out.push(b'\n');
                    }
                }
            }
            continue;
        }
        match opts.mode {
            crate::OutputMode::FilesWithMatches => writeln!(out, "{}", row.path)?,
            crate::OutputMode::Count => writeln!(out, "{}{suffix}:{}", row.path, hits.selected)?,
            crate::OutputMode::Lines => {
                if context {
                    // between files, as between groups; the very first is dropped by the caller
                    out.extend_from_slice(b"--\n");
                }
                for line in &hits.lines {
                    let sep = match line.kind {
                        Kind::Match => ':',
                        Kind::Context => '-',
                        Kind::Break => {
                            out.extend_from_slice(b"--\n");
                            continue;
                        }
                    };
                    write!(out, "{}{suffix}{sep}{}{sep}", row.path, line.number)?;
                    out.extend_from_slice(&line.text);
                    if !line.text.ends_with(b"\n") {
                        out.push(b'\n');
                    }
                }
            }
        }
    }
    Ok(())
}
