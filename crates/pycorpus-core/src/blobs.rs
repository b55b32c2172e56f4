//! The corpus blob index: which sealed shard stores each blob.
//!
//! A `shards-v2` shard packs only the blobs that no earlier sealed shard stores, so a row's
//! blob may live in another shard. `<corpus>/blobs/AAAAAA-BBBBBB.run` files (see
//! [`pycorpus_store::BlobRun`]) map every stored id to its shard. They are derived: written
//! at seal, checked and completed whenever the corpus is opened for writing, and rebuilt from
//! the shards' own pack indexes when lost. Runs are merged like a binary counter (a run never
//! covers fewer shards than a newer one), so a lookup reads at most log2(shards) + 1 runs, one
//! page each when cold. Readers use the runs whose shards are all present and look up any
//! sealed shard no run covers in its own pack index, so a stale or missing index costs time,
//! never answers.

use crate::corpus::shard_name;
use crate::{CoreError, Corpus, ShardKind};
use pycorpus_store::{BlobRun, Oid, PackReader, RunWriter, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where the sealed shards' blobs are: see the module's documentation.
pub struct BlobLocator {
    /// Runs covering disjoint sets of shards, oldest first.
    runs: Vec<BlobRun>,
    /// Sealed shards no run covers, by number.
    loose: Vec<(u32, PackReader)>,
    /// Every sealed shard's number.
    sealed: BTreeSet<u32>,
}

impl BlobLocator {
    /// The sealed shard that stores `oid` (the lowest, when shards of the older format
    /// repeat it), if any.
    pub fn locate(&self, oid: &Oid) -> Option<u32> {
        self.runs.iter().find_map(|r| r.find(oid)).or_else(|| self.loose.iter().find(|(_, p)| p.find(oid).is_some()).map(|(n, _)| *n))
    }

    /// The lowest sealed shard that stores `oid`, looking in every run and shard (when
    /// format-1 shards repeat blobs, [`BlobLocator::locate`] may give another).
    pub fn locate_lowest(&self, oid: &Oid) -> Option<u32> {
        self.runs.iter().filter_map(|r| r.find(oid)).chain(self.loose.iter().filter(|(_, p)| p.find(oid).is_some()).map(|(n, _)| *n)).min()
    }

    /// True when shard `n` is sealed in this corpus.
    pub fn has_shard(&self, n: u32) -> bool {
        self.sealed.contains(&n)
    }

    /// Number of runs and of shards looked up one by one (for `status` and tests).
    pub fn shape(&self) -> (usize, usize) {
        (self.runs.len(), self.loose.len())
    }
}

/// A run file's name: the first and last shard it covers.
fn run_name(first: u32, last: u32, ext: &str) -> String {
    format!("{}-{}.{ext}", shard_name(first), shard_name(last))
}

/// The runs of `dir` that open (a run removed while listing is left out: a writer merged it).
fn list_runs(dir: &Path) -> Result<Vec<BlobRun>, CoreError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(CoreError::io(dir, e)),
    };
    for entry in entries {
        let path = entry.map_err(|e| CoreError::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "run") {
            match BlobRun::open(&path) {
                Ok(r) => out.push(r),
                Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("ignoring blob index run: {e}"),
            }
        }
    }
    Ok(out)
}

/// A run of a derived corpus index (the blob index, the history index): a file covering a set
/// of sealed shards.
pub(crate) trait Run: Sized {
    fn path(&self) -> &Path;
    /// The shards it covers, with the count it recorded for each, by number.
    fn covered(&self) -> Vec<(u32, u64)>;
}

impl Run for BlobRun {
    fn path(&self) -> &Path {
        BlobRun::path(self)
    }
    fn covered(&self) -> Vec<(u32, u64)> {
        BlobRun::covered(self)
    }
}

impl Run for pycorpus_store::HistoryRun {
    fn path(&self) -> &Path {
        pycorpus_store::HistoryRun::path(self)
    }
    fn covered(&self) -> Vec<(u32, u64)> {
        pycorpus_store::HistoryRun::covered(self)
    }
}

/// Picks runs covering disjoint sets of shards, largest first (a merge that a crash
/// interrupted leaves the merged run beside its inputs), among those `usable` accepts;
/// returns them oldest first, and the others.
pub(crate) fn choose<R: Run>(runs: Vec<R>, usable: &dyn Fn(&R) -> bool) -> (Vec<R>, Vec<R>) {
    let mut runs = runs;
    runs.sort_by_key(|r| (std::cmp::Reverse(r.covered().len()), r.covered().first().map(|c| c.0)));
    let (mut keep, mut drop) = (Vec::new(), Vec::new());
    let mut taken = BTreeSet::new();
    for r in runs {
        let shards: Vec<u32> = r.covered().iter().map(|c| c.0).collect();
        if usable(&r) && shards.iter().all(|s| !taken.contains(s)) {
            taken.extend(shards);
            keep.push(r);
        } else {
            drop.push(r);
        }
    }
    keep.sort_by_key(|r| r.covered().first().map(|c| c.0));
    (keep, drop)
}

/// Brings the runs of `dir` (files ending in `.ext`, opened by `open`) in line with the sealed
/// shards: removes leftover temporary files and the runs `sound` rejects or a bigger one
/// replaces; writes a run for each sealed shard none covers (`make`: shard, path); merges the
/// two newest while the older covers no more shards than the newer (a binary counter: at most
/// log2(shards) + 1 runs). Crash-safe at every step (runs are renamed into place; inputs
/// removed after).
pub(crate) fn maintain_runs<R: Run>(
    dir: &Path,
    ext: &str,
    sealed: &BTreeMap<u32, PathBuf>,
    open: &dyn Fn(&Path) -> Result<R, StoreError>,
    sound: &dyn Fn(&R) -> bool,
    make: &dyn Fn(u32, &Path) -> Result<(), CoreError>,
    merge: &dyn Fn(&Path, &R, &R) -> Result<(), CoreError>,
) -> Result<(), CoreError> {
    std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| CoreError::io(dir, e))? {
        let path = entry.map_err(|e| CoreError::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path).map_err(|e| CoreError::io(&path, e))?;
        } else if path.extension().is_some_and(|e| e == ext) {
            match open(&path) {
                Ok(r) => runs.push(r),
                Err(e) => tracing::warn!("replacing a damaged index run: {e}"),
            }
        }
    }
    let sound_paths: BTreeSet<PathBuf> = runs.iter().filter(|r| sound(r)).map(|r| r.path().to_path_buf()).collect();
    let (mut keep, stale) = choose(runs, &|r| sound_paths.contains(r.path()));
    for r in stale {
        std::fs::remove_file(r.path()).map_err(|e| CoreError::io(r.path(), e))?;
    }
    let covered: BTreeSet<u32> = keep.iter().flat_map(|r| r.covered()).map(|c| c.0).collect();
    for n in sealed.keys().filter(|n| !covered.contains(n)) {
        let path = dir.join(run_name(*n, *n, ext));
        make(*n, &path)?;
        keep.push(open(&path)?);
        while keep.len() >= 2 && keep[keep.len() - 2].covered().len() <= keep[keep.len() - 1].covered().len() {
            let (b, a) = (keep.pop().expect("two"), keep.pop().expect("two"));
            let shards: Vec<u32> = a.covered().iter().chain(b.covered().iter()).map(|c| c.0).collect();
            let (first, last) = (*shards.iter().min().expect("a shard"), *shards.iter().max().expect("a shard"));
            let path = dir.join(run_name(first, last, ext));
            merge(&path, &a, &b)?;
            crate::sync_dir(dir)?;
            for old in [&a, &b].into_iter().filter(|r| r.path() != path) {
                std::fs::remove_file(old.path()).map_err(|e| CoreError::io(old.path(), e))?;
            }
            keep.push(open(&path)?);
        }
    }
    crate::sync_dir(dir)
}

impl Corpus {
    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    fn sealed_shards(&self) -> Result<BTreeMap<u32, PathBuf>, CoreError> {
        Ok(self.shards()?.into_iter().filter(|s| s.kind == ShardKind::Sealed).map(|s| (s.number, s.dir)).collect())
    }

    /// The shards a sealed shard's rows use blobs of (its manifest's `depends_on`; none for
    /// format 1 and for the open shard, which may use any sealed shard).
    pub fn shard_dependencies(&self, shard: &crate::ShardInfo) -> Result<Vec<u32>, CoreError> {
        match shard.kind {
            ShardKind::Sealed => Ok(crate::corpus::read_manifest(&shard.dir)?.depends_on.unwrap_or_default()),
            ShardKind::Open => Ok(Vec::new()),
        }
    }

    /// True when a sealed shard's pack holds only blobs that no shard sealed before it stores
    /// (format 2): a blob found there is stored nowhere earlier, so no earlier shard's rows
    /// use it. False for format 1 (whose packs repeat blobs) and for the open shard.
    pub fn shard_stores_only_new_blobs(&self, shard: &crate::ShardInfo) -> Result<bool, CoreError> {
        match shard.kind {
            ShardKind::Sealed => Ok(crate::corpus::read_manifest(&shard.dir)?.format_version >= 2),
            ShardKind::Open => Ok(false),
        }
    }

    /// Where each blob of the sealed shards is: the runs of the blob index whose shards are
    /// all sealed, and the pack index of each sealed shard they do not cover. Never writes.
    pub fn blob_locator(&self) -> Result<BlobLocator, CoreError> {
        let sealed = self.sealed_shards()?;
        let (runs, _) = choose(list_runs(&self.blobs_dir())?, &|r| r.covered().iter().all(|c| sealed.contains_key(&c.0)));
        let covered: BTreeSet<u32> = runs.iter().flat_map(|r| r.covered()).map(|c| c.0).collect();
        let mut loose = Vec::new();
        for (n, dir) in sealed.iter().filter(|(n, _)| !covered.contains(n)) {
            loose.push((*n, PackReader::open(dir)?));
        }
        Ok(BlobLocator { runs, loose, sealed: sealed.into_keys().collect() })
    }

    /// Brings the blob index in line with the sealed shards: drops runs that name a shard
    /// that is gone or holds other blobs now, and runs a bigger one replaces; writes a run for
    /// each sealed shard none covers; merges until no run covers fewer shards than a newer one.
    /// Crash-safe at every step (runs are renamed into place; inputs removed after).
    pub(crate) fn update_blob_index(&self) -> Result<(), CoreError> {
        let dir = self.blobs_dir();
        let sealed = self.sealed_shards()?;
        // Each covered shard's pack must still hold the number of blobs the run recorded.
        let counts: std::cell::RefCell<BTreeMap<u32, Option<u64>>> = Default::default();
        let count_of = |n: u32| -> Option<u64> { *counts.borrow_mut().entry(n).or_insert_with(|| sealed.get(&n).and_then(|d| PackReader::open(d).ok()).map(|p| p.len() as u64)) };
        maintain_runs(
            &dir,
            "run",
            &sealed,
            &|p| BlobRun::open(p),
            &|r: &BlobRun| r.covered().iter().all(|&(n, blobs)| count_of(n) == Some(blobs)),
            &|n, path| Ok(RunWriter::from_pack(path, n, &PackReader::open(&sealed[&n])?).map(|_| ())?),
            &|path, a, b| Ok(RunWriter::merge(path, &[a, b]).map(|_| ())?),
        )?;
        self.update_history_index()
    }
}
