//! Runs of the corpus blob index: which sealed shard stores each blob.
//!
//! ```text
//! <run> := "PYCBRUN\x01"  blob_count:u64  bits:u32  shard_count:u32
//!          shards[shard_count]   number:u32 blobs:u64   the shards it covers, with their pack's blob count
//!          fanout[2^bits]:u32    number of ids whose first `bits` bits are <= i
//!          entries[blob_count]   oid[20] shard:u32       sorted by oid, each id once
//! ```
//!
//! Little-endian. `bits` grows with the run (a bucket holds about 64 ids), so a lookup reads
//! two fanout words and binary-searches a bucket of a page or two: one disk read per run for a
//! cold lookup, whatever the number of blobs. Random lookups read with `pread`; lookups in id
//! order (readers sweep a shard's blobs in id order) and merges read through `mmap`: a mapped
//! read leaves the whole folio around the page it reads resident (64 KiB to 512 KiB of a
//! cached file on current kernels), so random mapped lookups, one per blob at ingest, kept
//! megabytes of every run resident, more as runs were added; a sweep uses all it maps, and a
//! syscall per lookup made it several times slower. A run is written
//! from a pack's index (one shard) or by merging runs (their shards together; an id that
//! several hold keeps the lowest shard), to `<name>.tmp` first and renamed when synced.

use crate::{Oid, PackReader, StoreError};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

/// First bytes of a run.
pub const RUN_MAGIC: &[u8; 8] = b"PYCBRUN\x01";
const HEADER: usize = 8 + 8 + 4 + 4;
const SHARD_LEN: usize = 12;
const ENTRY_LEN: usize = 24;
/// Ids per fanout bucket aimed at, and the largest fanout (16 MiB of counts while writing).
const BUCKET: u64 = 64;
const MAX_BITS: u32 = 22;
/// Buckets within 64 KiB of entries: a lookup this close after the one before is a sweep's.
const NEAR_BUCKETS: usize = (64 << 10) / (BUCKET as usize * ENTRY_LEN);

fn bits_for(blobs: u64) -> u32 {
    let want = (blobs / BUCKET).max(1);
    (u64::BITS - want.leading_zeros()).clamp(8, MAX_BITS)
}

/// Binary search of a bucket's entries (sorted by id) for `oid`'s shard.
fn search_bucket(entries: &[u8], oid: &Oid) -> Option<u32> {
    let (mut lo, mut hi) = (0, entries.len() / ENTRY_LEN);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let e = &entries[mid * ENTRY_LEN..(mid + 1) * ENTRY_LEN];
        match oid.cmp_stored(e) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(u32::from_le_bytes(e[20..24].try_into().expect("4"))),
        }
    }
    None
}

fn bucket(oid: &[u8], bits: u32) -> usize {
    (u32::from_be_bytes([0, oid[0], oid[1], oid[2]]) >> (24 - bits)) as usize
}

/// Ends a run written to `tmp` through `out` (the blob index's or the history index's: the
/// entry count at byte 8, the fanout at `fanout_at`): writes `count` and the running sums of
/// `fanout`, syncs, and renames it to `path`. Returns `count`.
pub(crate) fn finish_run(mut out: BufWriter<File>, tmp: &Path, path: &Path, count: u64, fanout_at: u64, mut fanout: Vec<u32>) -> Result<u64, StoreError> {
    let io = |e| StoreError::io(tmp, e);
    let mut sum = 0u32;
    for c in &mut fanout {
        sum += *c;
        *c = sum;
    }
    out.seek(SeekFrom::Start(8)).map_err(io)?;
    out.write_all(&count.to_le_bytes()).map_err(io)?;
    out.seek(SeekFrom::Start(fanout_at)).map_err(io)?;
    let words: Vec<u8> = fanout.iter().flat_map(|c| c.to_le_bytes()).collect();
    out.write_all(&words).map_err(io)?;
    let file = out.into_inner().map_err(|e| StoreError::io(tmp, e.into_error()))?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(tmp, path).map_err(|e| StoreError::io(path, e))?;
    Ok(count)
}

/// Writes a run from ids given in increasing order.
pub struct RunWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    bits: u32,
    fanout: Vec<u32>,
    count: u64,
    last: Option<Oid>,
    header_len: u64,
}

impl RunWriter {
    /// Starts `path` (written as `path.tmp` until [`RunWriter::finish`]) for the shards
    /// `covered` (number, blob count); `expected` sizes the fanout (any count stays valid).
    pub fn create(path: &Path, covered: &[(u32, u64)], expected: u64) -> Result<RunWriter, StoreError> {
        let tmp = path.with_extension("run.tmp");
        let io = |e| StoreError::io(&tmp, e);
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp).map_err(io)?);
        let bits = bits_for(expected);
        out.write_all(RUN_MAGIC).map_err(io)?;
        out.write_all(&0u64.to_le_bytes()).map_err(io)?;
        out.write_all(&bits.to_le_bytes()).map_err(io)?;
        out.write_all(&(covered.len() as u32).to_le_bytes()).map_err(io)?;
        for (n, b) in covered {
            out.write_all(&n.to_le_bytes()).map_err(io)?;
            out.write_all(&b.to_le_bytes()).map_err(io)?;
        }
        let fanout = vec![0u32; 1 << bits];
        for _ in 0..fanout.len() {
            out.write_all(&0u32.to_le_bytes()).map_err(io)?;
        }
        let header_len = (HEADER + covered.len() * SHARD_LEN) as u64;
        Ok(RunWriter { path: path.to_path_buf(), tmp, out, bits, fanout, count: 0, last: None, header_len })
    }

    /// Adds an id; ids come in strictly increasing order.
    pub fn push(&mut self, oid: &Oid, shard: u32) -> Result<(), StoreError> {
        if self.last.is_some_and(|l| l >= *oid) {
            return Err(StoreError::Format { path: self.tmp.clone(), what: format!("ids out of order at {oid}") });
        }
        self.last = Some(*oid);
        let io = |e| StoreError::io(&self.tmp, e);
        self.out.write_all(&oid.0).map_err(io)?;
        self.out.write_all(&shard.to_le_bytes()).map_err(io)?;
        self.fanout[bucket(&oid.0, self.bits)] += 1;
        self.count += 1;
        Ok(())
    }

    /// Fills in the counts, syncs, and renames the run into place.
    pub fn finish(self) -> Result<u64, StoreError> {
        finish_run(self.out, &self.tmp, &self.path, self.count, self.header_len, self.fanout)
    }

    /// A run of one sealed shard: its pack's ids.
    pub fn from_pack(path: &Path, shard: u32, pack: &PackReader) -> Result<u64, StoreError> {
        let mut w = RunWriter::create(path, &[(shard, pack.len() as u64)], pack.len() as u64)?;
        for i in 0..pack.len() {
            w.push(&pack.entry_at(i).0, shard)?;
        }
        w.finish()
    }

    /// Merges `runs` into one at `path`: every id once, with the lowest shard that stores it.
    pub fn merge(path: &Path, runs: &[&BlobRun]) -> Result<u64, StoreError> {
        let mut covered: Vec<(u32, u64)> = runs.iter().flat_map(|r| r.covered()).collect();
        covered.sort_unstable();
        let mut w = RunWriter::create(path, &covered, runs.iter().map(|r| r.len() as u64).sum())?;
        let mut at = vec![0usize; runs.len()];
        loop {
            // The smallest id at the heads, and the lowest shard storing it (a handful of runs).
            let mut best: Option<(Oid, u32)> = None;
            for (r, &i) in runs.iter().zip(&at) {
                if i < r.len() {
                    let e = r.entry_at(i);
                    if best.is_none_or(|b| e < b) {
                        best = Some(e);
                    }
                }
            }
            let Some((oid, shard)) = best else { break };
            w.push(&oid, shard)?;
            for (r, i) in runs.iter().zip(at.iter_mut()) {
                if *i < r.len() && r.entry_at(*i).0 == oid {
                    *i += 1;
                }
            }
        }
        w.finish()
    }
}

/// A run, mapped.
pub struct BlobRun {
    path: PathBuf,
    map: memmap2::Mmap,
    /// The same file, for lookups by positioned reads.
    file: File,
    blobs: usize,
    bits: u32,
    covered: Vec<(u32, u64)>,
    entries_at: usize,
    /// Lookups since its pages were last let go.
    lookups: crate::Lookups,
    /// The bucket of the last lookup, and how many lookups in a row landed a little after the
    /// one before: a sweep in id order, read through the mapping.
    last_bucket: AtomicUsize,
    near_streak: AtomicU32,
}

impl BlobRun {
    /// Maps a run and checks its shape.
    pub fn open(path: &Path) -> Result<BlobRun, StoreError> {
        let f = File::open(path).map_err(|e| StoreError::io(path, e))?;
        // SAFETY: a run is written to a temporary name, synced and renamed into place; no
        // pycorpus code writes to it afterwards (a newer run replaces it under another name).
        // Every slice below is bounds-checked against the length validated here.
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| StoreError::io(path, e))?;
        let bad = |what: &str| StoreError::Format { path: path.to_path_buf(), what: what.to_string() };
        if map.len() < HEADER || &map[..8] != RUN_MAGIC {
            return Err(bad("not a pycorpus blob run (bad magic)"));
        }
        let u32_at = |at: usize| u32::from_le_bytes(map[at..at + 4].try_into().expect("4"));
        let blobs = u64::from_le_bytes(map[8..16].try_into().expect("8"));
        let bits = u32_at(16);
        let shards = u32_at(20) as usize;
        if !(8..=MAX_BITS).contains(&bits) {
            return Err(bad("fanout size out of range"));
        }
        let entries_at = HEADER + shards * SHARD_LEN + (4 << bits);
        let want = usize::try_from(blobs).ok().and_then(|b| b.checked_mul(ENTRY_LEN)).and_then(|b| b.checked_add(entries_at));
        if want != Some(map.len()) {
            return Err(bad("run length does not match its counts"));
        }
        let covered = (0..shards)
            .map(|i| {
                let at = HEADER + i * SHARD_LEN;
                (u32_at(at), u64::from_le_bytes(map[at + 4..at + 12].try_into().expect("8")))
            })
            .collect();
        let run = BlobRun {
            path: path.to_path_buf(),
            map,
            file: f,
            blobs: blobs as usize,
            bits,
            covered,
            entries_at,
            lookups: Default::default(),
            last_bucket: AtomicUsize::new(usize::MAX),
            near_streak: AtomicU32::new(0),
        };
        if run.blobs > 0 && run.fanout(run.fanout_len() - 1) as usize != run.blobs {
            return Err(bad("fanout table does not match the blob count"));
        }
        Ok(run)
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.blobs
    }

    /// True when it holds no id.
    pub fn is_empty(&self) -> bool {
        self.blobs == 0
    }

    /// The shards it covers (number, blob count of the pack), by number.
    pub fn covered(&self) -> Vec<(u32, u64)> {
        self.covered.clone()
    }

    fn fanout_len(&self) -> usize {
        1 << self.bits
    }

    fn fanout(&self, i: usize) -> u32 {
        let at = HEADER + self.covered.len() * SHARD_LEN + i * 4;
        u32::from_le_bytes(self.map[at..at + 4].try_into().expect("4"))
    }

    /// The `i`-th id and its shard, in id order.
    pub fn entry_at(&self, i: usize) -> (Oid, u32) {
        let at = self.entries_at + i * ENTRY_LEN;
        let e = &self.map[at..at + ENTRY_LEN];
        (Oid::from_slice(&e[..20]).expect("20"), u32::from_le_bytes(e[20..24].try_into().expect("4")))
    }

    /// Lets go of the pages this process has touched (see `release_pages`).
    pub fn release_pages(&self) {
        crate::release_pages(&self.map);
    }

    /// The shard storing `oid`, if this run knows it. A lookup a little after the two before
    /// it (a sweep in id order) reads through the mapping, whose pages the sweep uses in turn;
    /// any other reads the fanout words and the bucket with positioned reads, so nothing of
    /// the run stays resident. A failed read (the file changed under a reader, which pycorpus
    /// never does) falls back to the mapping.
    pub fn find(&self, oid: &Oid) -> Option<u32> {
        let b = bucket(&oid.0, self.bits);
        let last = self.last_bucket.swap(b, Relaxed);
        let near = b >= last && b - last <= NEAR_BUCKETS;
        let streak = if near {
            self.near_streak.fetch_add(1, Relaxed) + 1
        } else {
            self.near_streak.store(0, Relaxed);
            0
        };
        if streak >= 2 {
            return self.find_mapped(oid);
        }
        let fanout_at = HEADER + self.covered.len() * SHARD_LEN;
        let mut words = [0u8; 8];
        let (at, words) = if b == 0 { (fanout_at, &mut words[4..]) } else { (fanout_at + (b - 1) * 4, &mut words[..]) };
        if self.file.read_exact_at(words, at as u64).is_err() {
            return self.find_mapped(oid);
        }
        let word = |i: usize| u32::from_le_bytes(words[i..i + 4].try_into().expect("4")) as usize;
        let (lo, hi) = if b == 0 { (0, word(0)) } else { (word(0), word(4)) };
        let hi = hi.min(self.blobs);
        if lo >= hi {
            return None;
        }
        // a bucket holds ~64 ids (at most a few hundred): on the stack
        let mut stack = [0u8; 256 * ENTRY_LEN];
        let mut heap = Vec::new();
        let len = (hi - lo) * ENTRY_LEN;
        let bucket: &mut [u8] = if len <= stack.len() {
            &mut stack[..len]
        } else {
            heap.resize(len, 0);
            &mut heap
        };
        if self.file.read_exact_at(bucket, (self.entries_at + lo * ENTRY_LEN) as u64).is_err() {
            return self.find_mapped(oid);
        }
        search_bucket(bucket, oid)
    }

    /// [`BlobRun::find`] through the mapping.
    fn find_mapped(&self, oid: &Oid) -> Option<u32> {
        let b = bucket(&oid.0, self.bits);
        let (lo, hi) = (if b == 0 { 0 } else { self.fanout(b - 1) as usize }, (self.fanout(b) as usize).min(self.blobs));
        if lo >= hi {
            return None;
        }
        self.lookups.count(&self.map, self.entries_at + lo * ENTRY_LEN);
        search_bucket(&self.map[self.entries_at + lo * ENTRY_LEN..self.entries_at + hi * ENTRY_LEN], oid)
    }

    /// Checks that ids are sorted and unique and that each shard is one the run covers.
    pub fn verify(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut prev: Option<Oid> = None;
        for i in 0..self.blobs {
            let (oid, shard) = self.entry_at(i);
            if prev.is_some_and(|p| p >= oid) {
                problems.push(format!("{}: ids not sorted at entry {i} ({oid})", self.path.display()));
                break;
            }
            if self.covered.binary_search_by_key(&shard, |c| c.0).is_err() {
                problems.push(format!("{}: blob {oid} points at shard {shard}, which the run does not cover", self.path.display()));
                break;
            }
            prev = Some(oid);
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PackOptions, PackWriter};

    fn pack_of(dir: &Path, blobs: &[String]) -> PackReader {
        std::fs::create_dir_all(dir).expect("mkdir");
        let mut w = PackWriter::create(dir, PackOptions { level: 1, frame_size: 1 << 12, ..Default::default() }).expect("create");
        for b in blobs {
            w.add(Oid::for_blob(b.as_bytes()), b.as_bytes()).expect("add");
        }
        w.finish().expect("finish");
        PackReader::open(dir).expect("open")
    }

    #[test]
    fn runs_of_packs_merge_and_find_every_id_with_its_lowest_shard() {
        let dir = tempfile::tempdir().expect("tmp");
        let a: Vec<String> = (0..3000).map(|i| format!("blob {i}\n")).collect();
        // The second shard repeats a tenth of the first (a v1 corpus) and adds its own.
        let b: Vec<String> = (2700..6000).map(|i| format!("blob {i}\n")).collect();
        let (pa, pb) = (pack_of(&dir.path().join("1"), &a), pack_of(&dir.path().join("2"), &b));
        RunWriter::from_pack(&dir.path().join("000001-000001.run"), 1, &pa).expect("run 1");
        RunWriter::from_pack(&dir.path().join("000002-000002.run"), 2, &pb).expect("run 2");
        let r1 = BlobRun::open(&dir.path().join("000001-000001.run")).expect("open");
        let r2 = BlobRun::open(&dir.path().join("000002-000002.run")).expect("open");
        assert_eq!((r1.len(), r1.covered()), (3000, vec![(1, 3000)]));
        let merged = dir.path().join("000001-000002.run");
        assert_eq!(RunWriter::merge(&merged, &[&r2, &r1]).expect("merge"), 6000);
        assert!(!merged.with_extension("run.tmp").exists());
        let m = BlobRun::open(&merged).expect("open");
        assert_eq!(m.covered(), vec![(1, 3000), (2, 3300)]);
        assert!(m.verify().is_empty());
        // twice over, and after letting the pages go: 12,000 lookups cross the releases that
        // lookups in other chunks make, and none misses
        for round in 0..2 {
            for i in 0..6000 {
                let oid = Oid::for_blob(format!("blob {i}\n").as_bytes());
                assert_eq!(m.find(&oid), Some(if i < 3000 { 1 } else { 2 }), "blob {i}, round {round}");
                assert_eq!(m.find_mapped(&oid), m.find(&oid), "blob {i}, round {round}, mapped");
                assert_eq!(pa.find(&oid).is_some(), i < 3000, "blob {i}, round {round}");
            }
            m.release_pages();
            pa.release_pages();
        }
        assert_eq!(m.find(&Oid::for_blob(b"absent")), None);
        assert_eq!(r1.find(&Oid::for_blob(b"blob 5000\n")), None);
    }

    /// Resident kB of the mappings of `path` in this process (Linux).
    fn resident_kb(path: &Path) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let (mut ours, mut kb) = (false, 0);
        for line in smaps.lines() {
            match line.split_whitespace().collect::<Vec<_>>()[..] {
                [range, ..] if range.contains('-') && !range.ends_with(':') => ours = line.ends_with(path.to_str().expect("utf-8")),
                ["Rss:", n, "kB"] if ours => kb += n.parse::<u64>().expect("kB"),
                _ => {}
            }
        }
        kb
    }

    #[test]
    fn random_lookups_keep_nothing_of_a_large_run_resident() {
        // 1.5 M ids (36 MB, just written so in the page cache: a mapped read leaves the folio
        // around each page read resident); 20,000 lookups at random through the mapping would
        // leave all of it resident
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("000001-000001.run");
        let n = 1_500_000u64;
        let mut w = RunWriter::create(&p, &[(1, n)], n).expect("create");
        let id = |i: u64| {
            let mut b = [0u8; 20];
            b[..8].copy_from_slice(&(i * (u64::MAX / n)).to_be_bytes());
            Oid(b)
        };
        for i in 0..n {
            w.push(&id(i), 1).expect("push");
        }
        w.finish().expect("finish");
        let r = BlobRun::open(&p).expect("open");
        let opened = resident_kb(&p); // the header and the fanout's last word, read by open
        let mut x = 1u64;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let i = (x >> 33) % n;
            assert_eq!(r.find(&id(i)), Some(1), "id {i}");
        }
        let kb = resident_kb(&p);
        assert!(kb <= opened, "{kb} kB of the run resident after lookups, {opened} kB after open");
        // a sweep in id order reads through the mapping, finds every id and keeps to the
        // bound of mapped lookups (64 chunks of 64 KiB)
        for i in (0..n).step_by(7) {
            assert_eq!(r.find(&id(i)), Some(1), "id {i}");
        }
        let kb = resident_kb(&p);
        assert!(kb > opened && kb < 8 * 1024, "{kb} kB of the run resident after a sweep");
        // the mapped fallback keeps to the bound of its lookups (a few MiB)
        for _ in 0..20_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let i = (x >> 33) % n;
            assert_eq!(r.find_mapped(&id(i)), Some(1), "id {i}");
        }
        let kb = resident_kb(&p);
        assert!(kb < 16 * 1024, "{kb} kB of the run resident after mapped lookups");
        // the last bucket, and the first (whose start is not in the fanout)
        assert_eq!(r.find(&Oid([0xff; 20])), None);
        assert_eq!(id(0), Oid([0; 20]));
        assert_eq!(r.find(&id(0)), Some(1));
    }

    #[test]
    fn a_bucket_larger_than_the_stack_buffer_is_read_whole() {
        // 1,000 ids sharing their first three bytes fall in one bucket (buckets are cut by the
        // leading bits), four times what a lookup reads on the stack
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("000001-000001.run");
        let id = |i: u32| {
            let mut b = [0u8; 20];
            b[3..7].copy_from_slice(&(i * 7).to_be_bytes());
            Oid(b)
        };
        let mut w = RunWriter::create(&p, &[(1, 1000)], 1000).expect("create");
        for i in 0..1000 {
            w.push(&id(i), 1).expect("push");
        }
        w.finish().expect("finish");
        let r = BlobRun::open(&p).expect("open");
        let far = Oid([0xff; 20]);
        for i in (0..1000).rev() {
            // a lookup far away first: each of these is a random lookup (positioned reads)
            assert_eq!(r.find(&far), None);
            assert_eq!(r.find(&id(i)), Some(1), "id {i}");
            let mut absent = id(i).0;
            absent[19] = 1;
            assert_eq!(r.find(&far), None);
            assert_eq!(r.find(&Oid(absent)), None);
        }
        // and in order, through the mapping
        for i in 0..1000 {
            assert_eq!(r.find(&id(i)), Some(1), "id {i}, in order");
        }
    }

    #[test]
    fn an_empty_run_and_damaged_runs() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("000001-000001.run");
        RunWriter::create(&p, &[(1, 0)], 0).expect("create").finish().expect("finish");
        let r = BlobRun::open(&p).expect("open");
        assert!(r.is_empty());
        assert_eq!(r.find(&Oid::for_blob(b"x")), None);
        let mut w = RunWriter::create(&dir.path().join("x.run"), &[(1, 2)], 2).expect("create");
        w.push(&Oid([9; 20]), 1).expect("push");
        assert!(matches!(w.push(&Oid([3; 20]), 1), Err(StoreError::Format { .. })), "ids out of order are refused");
        let mut data = std::fs::read(&p).expect("read");
        data.push(0);
        std::fs::write(&p, &data).expect("write");
        assert!(matches!(BlobRun::open(&p), Err(StoreError::Format { .. })));
        std::fs::write(&p, b"PYCPACK\x01").expect("write");
        assert!(matches!(BlobRun::open(&p), Err(StoreError::Format { .. })));
    }
}
