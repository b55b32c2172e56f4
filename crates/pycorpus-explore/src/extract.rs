//! `extract`: the selected files' contents written to a folder.
//!
//! Two layouts: `oid` (`DEST/ab/cd/<oid>.<file name>`, one copy per blob, for tools that
//! want each content once) and `tree` (`DEST/<project>/<release>/<path in archive>`, every
//! selected file). Names go through [`crate::names::safe_component`]. Each file is written
//! to `.<name>.pycorpus-part` and renamed into place, so an interrupted run leaves no file
//! that looks finished and is not; a rerun skips files already there with the right contents,
//! and never overwrites a file with other contents (it reports a conflict instead).

use crate::ExploreError;
use crate::names::{safe_component, safe_path};
use pycorpus_catalog::{FileRow, Filter};
use pycorpus_core::Corpus;
use pycorpus_core::Ctx;
use pycorpus_store::Oid;
use pycorpus_visit::{Holders, VisitError, VisitOptions, VisitStats, visit_blobs};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where extracted files go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `DEST/ab/cd/<oid>.<file name>`: one copy per blob.
    #[default]
    Oid,
    /// `DEST/<project>/<release>/<path in archive>`: every selected file.
    Tree,
}

/// What `extract` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExtractSummary {
    /// Files written.
    pub written: u64,
    /// Their bytes.
    pub written_bytes: u64,
    /// Files already there with the right contents (an earlier run).
    pub already_present: u64,
    /// Selected files without stored contents (skipped at ingest: binary, too large, ...).
    pub not_stored: u64,
    /// Files not written, with the reason: a different file already at that path, or a path
    /// the file system refused.
    pub conflicts: Vec<(String, String)>,
    /// The blob visit.
    pub visit: VisitStats,
}

/// What happened to one target.
enum Outcome {
    Written(String, u64),
    Present,
    Conflict(String, String),
}

/// The target path of `row` (relative to DEST) in `layout`.
fn target(layout: Layout, oid: &Oid, row: &FileRow) -> PathBuf {
    match layout {
        Layout::Oid => {
            let hex = oid.to_hex();
            let name = row.inner_path().rsplit('/').next().unwrap_or("");
            Path::new(&hex[..2]).join(&hex[2..4]).join(safe_component(&format!("{hex}.{name}")))
        }
        Layout::Tree => Path::new(&safe_component(&row.project_name)).join(safe_component(&row.project_release)).join(safe_path(row.inner_path())),
    }
}

/// True when `path` holds exactly `data`.
fn holds(path: &Path, data: &[u8]) -> std::io::Result<bool> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() || meta.len() != data.len() as u64 {
        return Ok(false);
    }
    Ok(std::fs::read(path)? == data)
}

fn write_one(dest: &Path, rel: &Path, data: &[u8]) -> Outcome {
    let shown = rel.display().to_string();
    let path = dest.join(rel);
    match holds(&path, data) {
        Ok(true) => return Outcome::Present,
        Ok(false) => return Outcome::Conflict(shown, "a different file is already there".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Outcome::Conflict(shown, e.to_string()),
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let part = path.with_file_name(format!(".{name}.pycorpus-part"));
    let written = (|| -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = std::fs::File::create(&part)?;
        f.write_all(data)?;
        drop(f);
        std::fs::rename(&part, &path)
    })();
    match written {
        Ok(()) => Outcome::Written(shown, data.len() as u64),
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Outcome::Conflict(shown, e.to_string())
        }
    }
}

/// Writes the contents of the rows `filter` selects under `dest`; `on_written` gets each
/// written path (relative to `dest`), in a fixed order. `ctx`: its progress in bytes of the selection, and its
/// cancel flag.
pub fn extract(corpus: &Corpus, filter: &Filter, dest: &Path, layout: Layout, ctx: Ctx<'_>, on_written: &mut dyn FnMut(&str)) -> Result<ExtractSummary, ExploreError> {
    std::fs::create_dir_all(dest).map_err(VisitError::Output)?;
    let mut summary = ExtractSummary::default();
    let visit = visit_blobs(
        corpus,
        filter,
        &VisitOptions { all_rows: layout == Layout::Tree, blob_filter: None, batch_per_thread: 1, ..Default::default() },
        ctx,
        &|| (),
        &|_: &mut (), oid: &Oid, h: &Holders, data: &pycorpus_visit::Blob<'_>| -> Result<Vec<Outcome>, VisitError> {
            let rows: Vec<&FileRow> = match layout {
                Layout::Oid => vec![&*h.first],
                Layout::Tree => h.all().collect(),
            };
            Ok(rows.into_iter().map(|row| write_one(dest, &target(layout, oid, row), data)).collect())
        },
        &mut |outcomes: Vec<Outcome>| -> Result<(), VisitError> {
            for o in outcomes {
                match o {
                    Outcome::Written(p, n) => {
                        summary.written += 1;
                        summary.written_bytes += n;
                        on_written(&p);
                    }
                    Outcome::Present => summary.already_present += 1,
                    Outcome::Conflict(p, why) => summary.conflicts.push((p, why)),
                }
            }
            Ok(())
        },
    )?;
    summary.not_stored = visit.unstored_rows;
    summary.visit = visit;
    Ok(summary)
}
