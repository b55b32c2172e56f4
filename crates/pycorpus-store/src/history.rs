//! Runs of the corpus history index: for each history key (a hash of a file's project and path
//! inside its distribution), the blob stored last under it and the shard storing that blob. A
//! seal (shard format 3) looks up each new blob's key to find the earlier version to store it
//! as a delta of, in a page or two per run whatever the corpus's size.
//!
//! ```text
//! <run> := "PYCHRUN\x01"  key_count:u64  shard_count:u32  0:u32
//!          shards[shard_count]   number:u32 rows:u64     the shards it covers, with their index's row count
//!          fanout[65536]:u32     number of keys whose top 16 bits are <= i
//!          entries[key_count]    key:u64 (big-endian) shard:u32 oid[20]   sorted by key, each once
//! ```
//!
//! Little-endian but the keys (big-endian, so that bytes sort as numbers). Written from one
//! shard's rows (the row uploaded last for a key that several rows share) or by merging runs
//! (their shards together; a key that several hold keeps the highest shard's entry: the later
//! version), to `<name>.tmp` first, renamed when synced. Derived data, like the blob index.

use crate::{Oid, StoreError};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// First bytes of a history run.
pub const HISTORY_MAGIC: &[u8; 8] = b"PYCHRUN\x01";
const HEADER: usize = 8 + 8 + 4 + 4;
const SHARD_LEN: usize = 12;
const FANOUT: usize = 1 << 16;
const ENTRY_LEN: usize = 32;

/// Writes a history run from keys given in increasing order.
pub struct HistoryWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    fanout: Vec<u32>,
    count: u64,
    last: Option<u64>,
    header_len: u64,
}

impl HistoryWriter {
    /// Starts `path` (written as `path.tmp` until [`HistoryWriter::finish`]) for the shards
    /// `covered` (number, rows of its index).
    pub fn create(path: &Path, covered: &[(u32, u64)]) -> Result<HistoryWriter, StoreError> {
        let tmp = path.with_extension("hrun.tmp");
        let io = |e| StoreError::io(&tmp, e);
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp).map_err(io)?);
        out.write_all(HISTORY_MAGIC).map_err(io)?;
        out.write_all(&0u64.to_le_bytes()).map_err(io)?;
        out.write_all(&(covered.len() as u32).to_le_bytes()).map_err(io)?;
        out.write_all(&0u32.to_le_bytes()).map_err(io)?;
        for (n, k) in covered {
            out.write_all(&n.to_le_bytes()).map_err(io)?;
            out.write_all(&k.to_le_bytes()).map_err(io)?;
        }
        out.write_all(&vec![0u8; FANOUT * 4]).map_err(io)?;
        let header_len = (HEADER + covered.len() * SHARD_LEN) as u64;
        Ok(HistoryWriter { path: path.to_path_buf(), tmp, out, fanout: vec![0; FANOUT], count: 0, last: None, header_len })
    }

    /// Adds a key; keys come in strictly increasing order.
    pub fn push(&mut self, key: u64, shard: u32, oid: &Oid) -> Result<(), StoreError> {
        if self.last.is_some_and(|l| l >= key) {
            return Err(StoreError::Format { path: self.tmp.clone(), what: format!("keys out of order at {key:016x}") });
        }
        self.last = Some(key);
        let io = |e| StoreError::io(&self.tmp, e);
        self.out.write_all(&key.to_be_bytes()).map_err(io)?;
        self.out.write_all(&shard.to_le_bytes()).map_err(io)?;
        self.out.write_all(&oid.0).map_err(io)?;
        self.fanout[(key >> 48) as usize] += 1;
        self.count += 1;
        Ok(())
    }

    /// Fills in the counts, syncs, and renames the run into place.
    pub fn finish(self) -> Result<u64, StoreError> {
        crate::runs::finish_run(self.out, &self.tmp, &self.path, self.count, self.header_len, self.fanout)
    }

    /// A run of one shard (whose index has `rows` rows, recorded to check the run against the
    /// shard later) from its stored rows' (key, upload time, blob) triples, in any order: each
    /// key once, with the blob of the latest upload (of the last such triple on a tie).
    pub fn from_rows(path: &Path, shard: u32, rows: u64, mut triples: Vec<(u64, i64, Oid)>) -> Result<u64, StoreError> {
        // stable: on a tie of key and time, the last given stays last
        triples.sort_by_key(|r| (r.0, r.1));
        let mut w = HistoryWriter::create(path, &[(shard, rows)])?;
        for group in triples.chunk_by(|a, b| a.0 == b.0) {
            let (key, _, oid) = group[group.len() - 1];
            w.push(key, shard, &oid)?;
        }
        w.finish()
    }

    /// Merges `runs` into one at `path`: every key once, with the entry of the highest shard.
    pub fn merge(path: &Path, runs: &[&HistoryRun]) -> Result<u64, StoreError> {
        let mut covered: Vec<(u32, u64)> = runs.iter().flat_map(|r| r.covered()).collect();
        covered.sort_unstable();
        let mut w = HistoryWriter::create(path, &covered)?;
        let mut at = vec![0usize; runs.len()];
        loop {
            let mut best: Option<(u64, u32, Oid)> = None;
            for (r, &i) in runs.iter().zip(&at) {
                if i < r.len() {
                    let e = r.entry_at(i);
                    if best.is_none_or(|b| e.0 < b.0 || (e.0 == b.0 && e.1 > b.1)) {
                        best = Some(e);
                    }
                }
            }
            let Some((key, shard, oid)) = best else { break };
            w.push(key, shard, &oid)?;
            for (r, i) in runs.iter().zip(at.iter_mut()) {
                if *i < r.len() && r.entry_at(*i).0 == key {
                    *i += 1;
                }
            }
        }
        w.finish()
    }
}

/// A history run, mapped.
pub struct HistoryRun {
    path: PathBuf,
    map: memmap2::Mmap,
    keys: usize,
    covered: Vec<(u32, u64)>,
    entries_at: usize,
}

impl HistoryRun {
    /// Maps a run and checks its shape.
    pub fn open(path: &Path) -> Result<HistoryRun, StoreError> {
        let f = File::open(path).map_err(|e| StoreError::io(path, e))?;
        // SAFETY: as for blob runs: written under a temporary name, synced, renamed into place,
        // never written again; every slice below is bounds-checked against the checked length.
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| StoreError::io(path, e))?;
        let bad = |what: &str| StoreError::Format { path: path.to_path_buf(), what: what.to_string() };
        if map.len() < HEADER || &map[..8] != HISTORY_MAGIC {
            return Err(bad("not a pycorpus history run (bad magic)"));
        }
        let keys = u64::from_le_bytes(map[8..16].try_into().expect("8"));
        let shards = u32::from_le_bytes(map[16..20].try_into().expect("4")) as usize;
        let entries_at = shards.checked_mul(SHARD_LEN).map(|s| HEADER + s + FANOUT * 4);
        let want = entries_at.and_then(|at| usize::try_from(keys).ok()?.checked_mul(ENTRY_LEN)?.checked_add(at));
        let (Some(entries_at), true) = (entries_at, want == Some(map.len())) else { return Err(bad("run length does not match its counts")) };
        let covered = (0..shards)
            .map(|i| {
                let at = HEADER + i * SHARD_LEN;
                (u32::from_le_bytes(map[at..at + 4].try_into().expect("4")), u64::from_le_bytes(map[at + 4..at + 12].try_into().expect("8")))
            })
            .collect();
        let run = HistoryRun { path: path.to_path_buf(), map, keys: keys as usize, covered, entries_at };
        if run.keys > 0 && run.fanout(FANOUT - 1) != run.keys {
            return Err(bad("fanout table does not match the key count"));
        }
        Ok(run)
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys
    }

    /// True when it holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    /// The shards it covers (number, rows of its index), by number.
    pub fn covered(&self) -> Vec<(u32, u64)> {
        self.covered.clone()
    }

    fn fanout(&self, i: usize) -> usize {
        let at = HEADER + self.covered.len() * SHARD_LEN + i * 4;
        u32::from_le_bytes(self.map[at..at + 4].try_into().expect("4")) as usize
    }

    /// The `i`-th entry in key order: key, shard, blob.
    pub fn entry_at(&self, i: usize) -> (u64, u32, Oid) {
        let at = self.entries_at + i * ENTRY_LEN;
        let e = &self.map[at..at + ENTRY_LEN];
        (u64::from_be_bytes(e[..8].try_into().expect("8")), u32::from_le_bytes(e[8..12].try_into().expect("4")), Oid::from_slice(&e[12..32]).expect("20"))
    }

    /// The shard and blob this run has for `key`.
    pub fn find(&self, key: u64) -> Option<(u32, Oid)> {
        let b = (key >> 48) as usize;
        let (mut lo, mut hi) = (if b == 0 { 0 } else { self.fanout(b - 1) }, self.fanout(b).min(self.keys));
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (k, shard, oid) = self.entry_at(mid);
            match k.cmp(&key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some((shard, oid)),
            }
        }
        None
    }

    /// Lets go of the pages this process has touched (see `release_pages`).
    pub fn release_pages(&self) {
        crate::release_pages(&self.map);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(i: u64) -> Oid {
        Oid::for_blob(&i.to_le_bytes())
    }

    #[test]
    fn runs_keep_the_latest_version_of_each_key_and_merge_to_the_highest_shard() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // shard 1: keys 0..1000, key 7 twice (uploaded at 5, then at 3: the first is later)
        let mut rows: Vec<(u64, i64, Oid)> = (0..1000).map(|i| (key(i), 10, oid(i))).collect();
        rows.push((key(7), 5, oid(70_000)));
        rows[7].1 = 3;
        let a = dir.path().join("a.hrun");
        assert_eq!(HistoryWriter::from_rows(&a, 1, 1001, rows).expect("write"), 1000);
        // shard 2: keys 500..1500, newer versions
        let b = dir.path().join("b.hrun");
        HistoryWriter::from_rows(&b, 2, 1000, (500..1500).map(|i| (key(i), 20, oid(i + 10_000))).collect()).expect("write");
        let (ra, rb) = (HistoryRun::open(&a).expect("open"), HistoryRun::open(&b).expect("open"));
        assert_eq!(ra.find(key(7)), Some((1, oid(70_000))), "the latest upload");
        assert_eq!(ra.find(key(5000)), None);
        let m = dir.path().join("m.hrun");
        assert_eq!(HistoryWriter::merge(&m, &[&ra, &rb]).expect("merge"), 1500);
        let rm = HistoryRun::open(&m).expect("open");
        assert_eq!(rm.covered(), vec![(1, 1001), (2, 1000)]);
        for i in 0..1500 {
            let want = if i < 500 { (1, if i == 7 { oid(70_000) } else { oid(i) }) } else { (2, oid(i + 10_000)) };
            assert_eq!(rm.find(key(i)), Some(want), "key {i}");
        }
        assert!(!dir.path().join("m.hrun.tmp").exists());
        // damage: cut short, or another magic
        let mut data = std::fs::read(&m).expect("read");
        std::fs::write(&m, &data[..data.len() - 1]).expect("write");
        assert!(HistoryRun::open(&m).is_err());
        data[0] = b'X';
        std::fs::write(&m, &data).expect("write");
        assert!(HistoryRun::open(&m).is_err());
    }
}
