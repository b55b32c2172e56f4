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

/// One line's record, its fields in the order serde_json's maps print them (sorted by name,
/// as the other modes' records): `grep --json` and the web server's API write these bytes,
/// without building a map per line.
#[derive(serde::Serialize)]
struct LineRecord<'a> {
    line_number: u64,
    oid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    other_paths: Option<u64>,
    path: &'a str,
    path_in_archive: &'a str,
    project: &'a str,
    release: &'a str,
    text: std::borrow::Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'a str,
}

/// Writes the record of line `number` of the blob `oid` (hex) as held by `row`, and a newline.
fn write_line(out: &mut Vec<u8>, oid: &str, row: &FileRow, others: Option<u64>, number: u64, selected: bool, text: &[u8]) -> std::io::Result<()> {
    let [oid, project, version, release, path, path_in_archive] = file_fields(oid, row);
    let kind = if selected { "match" } else { "context" };
    serde_json::to_writer(&mut *out, &LineRecord { line_number: number, oid, other_paths: others, path, path_in_archive, project, release, text: String::from_utf8_lossy(text), kind, version })?;
    out.push(b'\n');
    Ok(())
}

/// Writes the records `grep --json` prints for what one blob reported (the first file holding
/// it, with `other_paths`), one JSON object a line: for front ends that hand the records on.
pub fn write_records(m: &crate::BlobMatches, out: &mut Vec<u8>) -> std::io::Result<()> {
    let oid = m.oid.to_hex();
    let others = Some(m.holders.count.saturating_sub(1));
    for l in &m.lines {
        write_line(out, &oid, &m.holders.first, others, l.number, l.selected, &l.text)?;
    }
    Ok(())
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
            match opts.mode {
                crate::OutputMode::FilesWithMatches => {
                    serde_json::to_writer(&mut *out, &file_json(oid, row, others))?;
                    out.push(b'\n');
                }
                crate::OutputMode::Count => {
                    let mut base = file_json(oid, row, others);
                    base["count"] = json!(hits.selected);
                    serde_json::to_writer(&mut *out, &base)?;
                    out.push(b'\n');
                }
                crate::OutputMode::Lines => {
                    let hex = oid.to_hex();
                    for line in hits.lines.iter().filter(|l| l.kind != Kind::Break) {
                        write_line(out, &hex, row, others, line.number, line.kind == Kind::Match, &line.text)?;
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
