//! `stream`: the selected files and their contents on a pipe, for any script to read.
//!
//! `jsonl`: one object per selected file, `{oid, project, version, release, path,
//! path_in_archive, size, uploaded_on, encoding, contents}`, contents as text when it is
//! UTF-8 (`encoding: "utf-8"`), else base64 (`encoding: "base64"`; `--base64` for all).
//! `raw`: `git cat-file --batch` framing (`<oid> blob <size>\n<contents>\n`), one per unique
//! blob, so scripts written against the git seed pipeline read it unchanged.

use crate::ExploreError;
use base64::Engine;
use pycorpus_catalog::{Filter, format_time};
use pycorpus_core::Corpus;
use pycorpus_core::Ctx;
use pycorpus_store::Oid;
use pycorpus_visit::{Holders, VisitError, VisitOptions, VisitStats, visit_blobs};
use serde_json::json;
use std::io::Write;

/// Output framing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum StreamFormat {
    /// JSON lines, one per file.
    #[default]
    Jsonl,
    /// `git cat-file --batch` framing, one per unique blob.
    Raw,
}

/// What a stream wrote.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    /// What the visit touched.
    pub visit: VisitStats,
    /// Records written: files (`jsonl`) or unique blobs (`raw`).
    pub records: u64,
    /// Bytes written: the work of a `jsonl` stream follows them (each file's contents are
    /// written, and escaped, once per file that holds them), not the unique bytes read.
    pub bytes: u64,
}

/// Writes the selection to `out`; returns what it wrote and what the visit touched.
/// `ctx`: its progress in bytes of the selection, and its cancel flag.
pub fn stream(corpus: &Corpus, filter: &Filter, format: StreamFormat, always_base64: bool, out: &mut dyn Write, ctx: Ctx<'_>) -> Result<StreamStats, ExploreError> {
    let (mut records, mut bytes) = (0u64, 0u64);
    let visit = visit_blobs(
        corpus,
        filter,
        &VisitOptions { all_rows: format == StreamFormat::Jsonl, blob_filter: None, batch_per_thread: 1, ..Default::default() },
        ctx,
        &|| (),
        &|_: &mut (), oid: &Oid, h: &Holders, data: &pycorpus_visit::Blob<'_>| -> Result<(u64, Vec<u8>), VisitError> {
            let mut n = 0u64;
            let mut buf = Vec::with_capacity(data.len() + 256);
            match format {
                StreamFormat::Raw => {
                    writeln!(buf, "{} blob {}", oid.to_hex(), data.len())?;
                    buf.extend_from_slice(data);
                    buf.push(b'\n');
                    n = 1;
                }
                StreamFormat::Jsonl => {
                    let text = if always_base64 { None } else { std::str::from_utf8(data).ok() };
                    let (encoding, contents) = match text {
                        Some(t) => ("utf-8", t.to_string()),
                        None => ("base64", base64::engine::general_purpose::STANDARD.encode(data)),
                    };
                    for row in h.all() {
                        let v = json!({
                            "oid": oid.to_hex(),
                            "project": row.project_name,
                            "version": row.project_version,
                            "release": row.project_release,
                            "path": row.path,
                            "path_in_archive": row.inner_path(),
                            "size": row.size,
                            "uploaded_on": format_time(row.uploaded_on),
                            "encoding": encoding,
                            "contents": contents,
                        });
                        serde_json::to_writer(&mut buf, &v).map_err(std::io::Error::other)?;
                        buf.push(b'\n');
                        n += 1;
                    }
                }
            }
            Ok((n, buf))
        },
        &mut |(n, buf): (u64, Vec<u8>)| -> Result<(), VisitError> {
            out.write_all(&buf)?;
            records += n;
            bytes += buf.len() as u64;
            Ok(())
        },
    )?;
    out.flush()?;
    Ok(StreamStats { visit, records, bytes })
}
