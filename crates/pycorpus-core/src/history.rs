//! The corpus history index: for each history key (a file's project and path inside its
//! distribution, [`pycorpus_catalog::history_key`]), the blob stored last under it and its
//! shard. A seal in shard format 3 looks up each new blob's key to find the earlier version it
//! stores the blob as a delta of: a page or two per run, whatever the number of shards (no scan
//! of the earlier shards' indexes).
//!
//! `<corpus>/history/AAAAAA-BBBBBB.hrun` files (see [`pycorpus_store::HistoryRun`]), maintained
//! like the blob index's runs (see `blobs.rs`): derived, written at seal, checked and completed
//! whenever the corpus is opened for writing (only when `shard_format` is 3: nothing else
//! reads them), rebuilt from the shards' `files.parquet` when lost. A run records each shard's
//! row count, checked against its manifest.

use crate::blobs::maintain_runs;
use crate::corpus::read_manifest;
use crate::{CoreError, Corpus};
use pycorpus_catalog::{Filter, ScanStats, scan_file_views};
use pycorpus_store::{HistoryRun, HistoryWriter, Oid};
use std::path::{Path, PathBuf};

impl Corpus {
    pub(crate) fn history_dir(&self) -> PathBuf {
        self.root.join("history")
    }

    /// Brings the history index in line with the sealed shards (under `shard_format = 3`).
    pub(crate) fn update_history_index(&self) -> Result<(), CoreError> {
        if self.config.shard_format < 3 {
            return Ok(());
        }
        let sealed: std::collections::BTreeMap<u32, PathBuf> = self.shards()?.into_iter().filter(|s| s.kind == crate::ShardKind::Sealed).map(|s| (s.number, s.dir)).collect();
        let rows_of = |n: u32| sealed.get(&n).and_then(|d| read_manifest(d).ok()).map(|m| m.files);
        maintain_runs(
            &self.history_dir(),
            "hrun",
            &sealed,
            &|p| HistoryRun::open(p),
            &|r: &HistoryRun| r.covered().iter().all(|&(n, rows)| rows_of(n) == Some(rows)),
            &|n, path| history_of_shard(n, &sealed[&n], path),
            &|path, a, b| Ok(HistoryWriter::merge(path, &[a, b]).map(|_| ())?),
        )
    }

    /// The runs of the history index whose shards are all sealed here.
    pub(crate) fn history_runs(&self) -> Result<Vec<HistoryRun>, CoreError> {
        let sealed: std::collections::BTreeSet<u32> = self.shards()?.into_iter().filter(|s| s.kind == crate::ShardKind::Sealed).map(|s| s.number).collect();
        let dir = self.history_dir();
        let mut runs = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for e in entries {
                    let path = e.map_err(|e| CoreError::io(&dir, e))?.path();
                    if path.extension().is_some_and(|x| x == "hrun")
                        && let Ok(r) = HistoryRun::open(&path)
                    {
                        runs.push(r);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CoreError::io(&dir, e)),
        }
        let (keep, _) = crate::blobs::choose(runs, &|r: &HistoryRun| r.covered().iter().all(|c| sealed.contains(&c.0)));
        Ok(keep)
    }
}

/// The latest version under `key` in `runs`: (shard, blob) of the highest shard that has one.
pub(crate) fn latest(runs: &[HistoryRun], key: u64) -> Option<(u32, Oid)> {
    runs.iter().filter_map(|r| r.find(key)).max_by_key(|(n, _)| *n)
}

/// Writes shard `n`'s history run (from its index at `dir`) to `path`.
fn history_of_shard(n: u32, dir: &Path, path: &Path) -> Result<(), CoreError> {
    let mut rows: Vec<(u64, i64, Oid)> = Vec::new();
    let mut count = 0u64;
    scan_file_views(&dir.join("files.parquet"), &Filter::default(), &mut ScanStats::default(), &mut |v| {
        count += 1;
        if v.is_stored() {
            rows.push((v.history_key(), v.uploaded_on(), v.hash()?));
        }
        Ok(true)
    })?;
    HistoryWriter::from_rows(path, n, count, rows)?;
    Ok(())
}
