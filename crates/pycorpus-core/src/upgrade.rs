//! `pycorpus upgrade`: rewrites a corpus's format-1 shards as format 2, all at once.
//!
//! The new shards folder is built beside the old one as `shards.upgrade/`: each format-1 shard
//! gets a pack of only the blobs that no earlier shard stores (in the old pack's order, so
//! similar files still share frames), its `blobs.idx` and `grams.idx`, a format-2 manifest, and
//! its Parquet files hard-linked; everything else (format-2 shards, the open shard's journal) is
//! hard-linked as is. The two folders are then exchanged in one atomic rename
//! (`renameat2(RENAME_EXCHANGE)`), so a crash at any point leaves the corpus all in its old
//! formats or all in format 2; `shards.upgrade/` (the unfinished new folder, or the old one once
//! exchanged) is removed by the next open for writing. The blob index is removed before the
//! exchange (readers look in each shard's own index meanwhile) and rebuilt after it.

use crate::corpus::read_manifest;
use crate::manifest::{Manifest, OPTIONAL_SHARD_FILES, SHARD_FILES};
use crate::seal::digest_file;
use crate::{CoreError, Corpus, Reporter, ShardKind, sync_dir, write_atomic};
use pycorpus_store::{Oid, PackOptions, PackReader, PackWriter};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What [`Corpus::upgrade`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpgradeSummary {
    /// Format-1 shards rewritten as format 2.
    pub shards_rewritten: u64,
    /// Shards kept as they were (format 2 already, or open).
    pub shards_kept: u64,
    /// Blobs in the rewritten shards' packs, before and after.
    pub blobs_before: u64,
    /// See `blobs_before`.
    pub blobs_after: u64,
    /// Bytes of those packs, before and after.
    pub pack_bytes_before: u64,
    /// See `pack_bytes_before`.
    pub pack_bytes_after: u64,
}

/// Name of the folder the new shards are built in, beside `shards/`.
pub(crate) const STAGING: &str = "shards.upgrade";

impl Corpus {
    /// Rewrites every format-1 shard as format 2 (see the module's documentation). A corpus
    /// with none is left untouched.
    pub fn upgrade(&mut self, reporter: &dyn Reporter) -> Result<UpgradeSummary, CoreError> {
        self.state_mut()?;
        if self.config.shard_format < 2 {
            return Err(CoreError::Invalid("corpus.toml sets shard_format = 1 (every shard stands alone); set it to 2 to upgrade".into()));
        }
        let mut summary = UpgradeSummary::default();
        let shards = self.shards()?;
        let mut old = Vec::new();
        for s in &shards {
            match s.kind {
                ShardKind::Sealed => {
                    let m = read_manifest(&s.dir)?;
                    match m.depends_on.is_none() {
                        true => old.push((s.number, m)),
                        false => summary.shards_kept += 1,
                    }
                }
                ShardKind::Open => summary.shards_kept += 1,
            }
        }
        if old.is_empty() {
            return Ok(summary);
        }
        // The index names, for each blob, the lowest shard storing it.
        self.update_blob_index()?;
        let locator = self.blob_locator()?;
        reporter.start("upgrade", old.iter().map(|(_, m)| m.unique_blobs).sum(), old.iter().map(|(_, m)| m.blob_bytes).sum());
        let numbers: Vec<u32> = old.iter().map(|(n, _)| *n).collect();
        let budget = (usize::try_from(self.config.memory_budget_bytes / 4).unwrap_or(usize::MAX), self.tmp_dir());
        let mut manifests = old.iter();
        self.replace_shards(&numbers, true, &mut |n, src, dst| {
            let (_, m) = manifests.next().expect("one manifest per shard, in order");
            let stats = rewrite_shard(src, dst, n, m, (budget.0, &budget.1), &|oid| locator.locate_lowest(oid), reporter)?;
            summary.shards_rewritten += 1;
            summary.blobs_before += m.unique_blobs;
            summary.blobs_after += stats.0;
            summary.pack_bytes_before += m.pack_bytes;
            summary.pack_bytes_after += stats.1;
            Ok(())
        })?;
        drop(locator);
        self.update_blob_index()?;
        reporter.finish();
        Ok(summary)
    }

    /// Replaces the sealed shards `numbers` (ascending) in one step: a copy of the shards
    /// folder is made at `shards.upgrade/` with every other file hard-linked, `build(n, old
    /// folder, new folder)` writes each of those shards there (in order: a shard's manifest
    /// can name the info-hashes of the earlier ones, already in place), and the two folders are
    /// exchanged atomically (see the module's documentation). `packs_change`: the blob index
    /// is removed before the exchange (readers look in each shard's own index meanwhile).
    pub(crate) fn replace_shards(&mut self, numbers: &[u32], packs_change: bool, build: &mut dyn FnMut(u32, &Path, &Path) -> Result<(), CoreError>) -> Result<(), CoreError> {
        let staging = self.root.join(STAGING);
        remove_dir_if_present(&staging)?;
        std::fs::create_dir_all(&staging).map_err(|e| CoreError::io(&staging, e))?;
        let rewritten: BTreeSet<String> = numbers.iter().map(|n| crate::corpus::shard_name(*n)).collect();
        let src = self.shards_dir();
        for entry in std::fs::read_dir(&src).map_err(|e| CoreError::io(&src, e))? {
            let entry = entry.map_err(|e| CoreError::io(&src, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // A rewritten shard's cached metainfo (`NNNNNN.torrent`) is made anew.
            if !rewritten.contains(&name) && !rewritten.contains(name.trim_end_matches(".torrent")) {
                link_tree(&entry.path(), &staging.join(&name))?;
            }
        }
        for &n in numbers {
            let name = crate::corpus::shard_name(n);
            build(n, &src.join(&name), &staging.join(&name))?;
            crate::infohash::shard_metainfo(&staging.join(&name))?;
        }
        sync_dir(&staging)?;
        if packs_change {
            remove_dir_if_present(&self.blobs_dir())?;
        }
        sync_dir(&self.root)?;
        exchange(&staging, &src).map_err(|e| CoreError::io(&src, e))?;
        sync_dir(&self.root)?;
        remove_dir_if_present(&staging)
    }
}

fn remove_dir_if_present(dir: &Path) -> Result<(), CoreError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CoreError::io(dir, e)),
        _ => Ok(()),
    }
}

/// Recreates `src` at `dst` with every regular file hard-linked (shards are immutable; the
/// open shard's journal is not written while the writer lock is held).
fn link_tree(src: &Path, dst: &Path) -> Result<(), CoreError> {
    let meta = std::fs::symlink_metadata(src).map_err(|e| CoreError::io(src, e))?;
    if meta.is_dir() {
        std::fs::create_dir_all(dst).map_err(|e| CoreError::io(dst, e))?;
        for entry in std::fs::read_dir(src).map_err(|e| CoreError::io(src, e))? {
            let entry = entry.map_err(|e| CoreError::io(src, e))?;
            link_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
        sync_dir(dst)
    } else if meta.is_file() {
        std::fs::hard_link(src, dst).map_err(|e| CoreError::io(dst, e))
    } else {
        Ok(()) // symlinks and special files have no place in a corpus
    }
}

/// Writes shard `n` (format 1, at `src`) as format 2 at `dst`: its pack without the blobs
/// that `lowest` places in an earlier shard. Returns the new pack's blobs and bytes.
fn rewrite_shard(src: &Path, dst: &Path, n: u32, m: &Manifest, index: (usize, &Path), lowest: &dyn Fn(&Oid) -> Option<u32>, reporter: &dyn Reporter) -> Result<(u64, u64), CoreError> {
    std::fs::create_dir_all(dst).map_err(|e| CoreError::io(dst, e))?;
    let staging = dst.parent().expect("a shard folder is inside the shards folder");
    let pack = PackReader::open(src)?;
    let mut kept = Vec::with_capacity(pack.len());
    let mut depends_on = BTreeSet::new();
    let mut foreign = 0u64;
    for i in 0..pack.len() {
        let (oid, e) = pack.entry_at(i);
        match lowest(&oid) {
            Some(s) if s < n => {
                depends_on.insert(s);
                foreign += 1;
                reporter.advance(1, u64::from(e.len));
            }
            _ => kept.push((e.frame, e.offset, e.len, oid)),
        }
    }
    // The old pack's order: similar files stay together.
    kept.sort_unstable();
    let opts = PackOptions { level: m.pack_level, frame_size: usize::try_from(m.pack_frame_bytes).unwrap_or(usize::MAX), index_memory: index.0, index_tmp: Some(index.1.to_path_buf()) };
    let mut out = PackWriter::create(dst, opts)?;
    let (mut frame, mut scratch) = (Vec::new(), Vec::new());
    for group in kept.chunk_by(|a, b| a.0 == b.0) {
        let upto = group.iter().map(|b| (b.1 + b.2) as usize).max().unwrap_or(0);
        pack.decode_frame_prefix(group[0].0 as usize, upto, &mut frame, &mut scratch)?;
        for &(_, off, len, oid) in group {
            out.add(oid, &frame[off as usize..(off + len) as usize])?;
            reporter.advance(1, u64::from(len));
        }
    }
    let stats = out.finish()?;
    for name in ["files.parquet", "releases.parquet", "rows.idx"].into_iter().chain(pycorpus_catalog::DEPS_FILES) {
        if name != "files.parquet" && name != "releases.parquet" && !src.join(name).exists() {
            continue;
        }
        std::fs::hard_link(src.join(name), dst.join(name)).map_err(|e| CoreError::io(&dst.join(name), e))?;
    }
    let mut files_sha256 = std::collections::BTreeMap::new();
    for name in SHARD_FILES.into_iter().chain(OPTIONAL_SHARD_FILES.into_iter().filter(|f| dst.join(f).exists())) {
        files_sha256.insert(name.to_string(), digest_file(&dst.join(name))?);
    }
    let manifest = Manifest {
        // packs without deltas: format 2 (shard_format = 3 applies to shards sealed from now on)
        format_version: 2,
        unique_blobs: stats.blobs,
        blob_bytes: stats.raw_bytes,
        pack_bytes: stats.pack_bytes,
        foreign_blobs: Some(foreign),
        depends_on_info_hash: Some(depends_on.iter().map(|&d| Ok((crate::corpus::shard_name(d), crate::infohash::shard_info_hash(staging, d)?))).collect::<Result<_, CoreError>>()?),
        depends_on: Some(depends_on.into_iter().collect()),
        files_sha256,
        ..m.clone()
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| CoreError::Invalid(e.to_string()))?;
    write_atomic(&dst.join("manifest.json"), &json)?;
    sync_dir(dst)?;
    Ok((stats.blobs, stats.pack_bytes))
}

/// Swaps two folders in one step.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e));
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let r = unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) };
    match r {
        0 => Ok(()),
        _ => Err(std::io::Error::other(format!("cannot exchange {} and {} in one step: {}", a.display(), b.display(), std::io::Error::last_os_error()))),
    }
}

/// Swaps two folders in one step (only Linux offers it).
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(format!("cannot exchange {} and {} in one step on this system", a.display(), b.display())))
}

/// Removes what an interrupted upgrade left (see the module's documentation).
pub(crate) fn remove_leftover(root: &Path) -> Result<(), CoreError> {
    let dir: PathBuf = root.join(STAGING);
    if dir.exists() {
        tracing::info!("removing {} left by an interrupted upgrade", dir.display());
        remove_dir_if_present(&dir)?;
    }
    Ok(())
}
