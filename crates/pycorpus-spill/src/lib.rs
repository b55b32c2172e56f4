//! External sorting in bounded memory, so that commands whose work grows with the corpus
//! (export's dedup and splits, report's aggregation) keep a peak memory set by a budget.
//!
//! A [`Sorter`] takes items as a byte key and a byte payload. It keeps them in memory until
//! they weigh its budget, then sorts them and writes them as a *run*: one zstd stream (level 1)
//! in a private folder under the temporary folder it was given. [`Sorter::finish`] hands back
//! a [`Merged`] reader that yields every item in key order, merging the runs with a heap
//! (as many at a time as the budget pays for, see [`RUN_MERGE_BYTES`]; beyond, consecutive
//! runs are merged into one first).
//! Items with equal keys come out in the order they were pushed, so results are deterministic.
//!
//! For sets and counts of fixed-width keys (blobs analysed, blob ids listed once), [`KeySet`]
//! and [`KeyCounts`] keep a fixed-capacity hash table and write sorted tables when it fills,
//! looked up with one read per table.
//!
//! Keys compare as bytes: [`Key`] builds keys of tuples (strings, numbers) whose byte order
//! is the order of the tuples. The folder and its runs are removed when the reader (or the
//! sorter) is dropped; a process killed in between leaves them under the temporary folder,
//! where [`remove_stale`] finds them by the process id in their name.
//!
//! ```
//! let tmp = tempfile::tempdir().unwrap();
//! let mut s = pycorpus_spill::Sorter::new(tmp.path(), 1 << 20);
//! for (k, v) in [("b", "2"), ("a", "1"), ("b", "3")] {
//!     s.push(k.as_bytes(), v.as_bytes()).unwrap();
//! }
//! let mut m = s.finish().unwrap();
//! let mut out = Vec::new();
//! while let Some((k, v)) = m.next().unwrap() {
//!     out.push((k.to_vec(), v.to_vec()));
//! }
//! assert_eq!(out, [(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"2".to_vec()), (b"b".to_vec(), b"3".to_vec())]);
//! ```
#![deny(missing_docs)]

mod set;
pub use set::{Counts, FENCE, KeyCounts, KeySet};

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Most runs read at once by one merge, whatever the budget.
pub const MAX_FAN_IN: usize = 128;

/// Fewest runs read at once by one merge, however small the budget.
pub const MIN_FAN_IN: usize = 8;

/// What one run being merged holds in memory: the decoder's context, its [`RUN_WINDOW_LOG`]
/// window and a block in and out (zstd's own estimate is ~480 kB), and two read buffers of
/// [`RUN_READ_BUFFER`]. A merge reads as many runs at once as its sorter's budget pays for
/// (between [`MIN_FAN_IN`] and [`MAX_FAN_IN`]): at 128 runs a merge held 64 MB whatever the
/// budget, so export's peak at 64 MiB grew from 4x to 32x of the scale benchmark.
pub const RUN_MERGE_BYTES: usize = 512 << 10;

/// The read buffers of a run being merged (compressed, then decompressed bytes).
const RUN_READ_BUFFER: usize = 16 << 10;

/// zstd window of a run (2^17 = 128 kB): sorted items resemble their neighbours, so a small
/// window loses little, and it is what each run being merged holds in memory.
pub const RUN_WINDOW_LOG: u32 = 17;

/// The smallest budget a sorter takes (a smaller one is raised to it).
pub const MIN_BUDGET: usize = 64;

/// Bookkeeping bytes per item held in memory, beside its key and payload.
const ITEM_OVERHEAD: usize = std::mem::size_of::<(usize, u32, u32)>();

/// Sorts items by key in bounded memory. See the crate docs.
pub struct Sorter {
    tmp: PathBuf,
    /// Made at the first spill: a sort that fits its budget never touches the disk.
    dir: Option<tempfile::TempDir>,
    budget: usize,
    arena: Vec<u8>,
    /// (offset in arena, key length, payload length)
    items: Vec<(usize, u32, u32)>,
    runs: Vec<PathBuf>,
    pushed: u64,
    spilled_bytes: u64,
}

impl Sorter {
    /// A sorter holding at most about `budget` bytes of items in memory (at least
    /// [`MIN_BUDGET`], and always one item), spilling runs to a new folder under `tmp`
    /// (created, if missing, at the first spill: until then nothing is written).
    pub fn new(tmp: &Path, budget: usize) -> Sorter {
        Sorter { tmp: tmp.to_path_buf(), dir: None, budget: budget.max(MIN_BUDGET), arena: Vec::new(), items: Vec::new(), runs: Vec::new(), pushed: 0, spilled_bytes: 0 }
    }

    /// The folder of the runs, made on first use.
    fn dir(&mut self) -> io::Result<PathBuf> {
        if self.dir.is_none() {
            self.dir = Some(run_dir(&self.tmp)?);
        }
        Ok(self.dir.as_ref().expect("made above").path().to_path_buf())
    }

    /// Adds one item. Keys and payloads are at most 4 GiB each.
    pub fn push(&mut self, key: &[u8], payload: &[u8]) -> io::Result<()> {
        let too_long = |what| io::Error::new(io::ErrorKind::InvalidInput, format!("{what} over 4 GiB"));
        let k = u32::try_from(key.len()).map_err(|_| too_long("key"))?;
        let p = u32::try_from(payload.len()).map_err(|_| too_long("payload"))?;
        if !self.items.is_empty() && !self.make_room(key.len() + payload.len()) {
            self.spill()?;
        }
        self.items.push((self.arena.len(), k, p));
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(payload);
        self.pushed += 1;
        Ok(())
    }

    /// Items pushed so far.
    pub fn len(&self) -> u64 {
        self.pushed
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.pushed == 0
    }

    /// Bytes written to disk so far (compressed runs).
    pub fn spilled_bytes(&self) -> u64 {
        self.spilled_bytes
    }

    /// Grows the buffers for one more item of `bytes` within the budget, counting what they
    /// have allocated (not only what they hold: doubling a vector could take twice the
    /// budget); false when the item does not fit.
    fn make_room(&mut self, bytes: usize) -> bool {
        let items_cap = if self.items.len() < self.items.capacity() { self.items.capacity() } else { (self.items.capacity() * 2).max(64) };
        let Some(arena_room) = self.budget.checked_sub(items_cap * ITEM_OVERHEAD) else { return false };
        let need = self.arena.len() + bytes;
        if need > arena_room || self.arena.capacity() > arena_room {
            return false;
        }
        if need > self.arena.capacity() {
            let target = (self.arena.capacity() * 2).max(need).min(arena_room);
            self.arena.reserve_exact(target - self.arena.len());
        }
        if items_cap > self.items.capacity() {
            self.items.reserve_exact(items_cap - self.items.len());
        }
        true
    }

    fn sort_held(&mut self) {
        let arena = &self.arena;
        // Equal keys keep their push order: offsets grow with it.
        self.items.sort_unstable_by(|a, b| arena[a.0..a.0 + a.1 as usize].cmp(&arena[b.0..b.0 + b.1 as usize]).then(a.0.cmp(&b.0)));
    }

    fn spill(&mut self) -> io::Result<()> {
        self.sort_held();
        let name = format!("run-{:06}.zst", self.runs.len());
        let path = self.dir()?.join(name);
        let mut w = RunWriter::create(&path)?;
        for &(off, k, p) in &self.items {
            let (k, p) = (k as usize, p as usize);
            w.write(&self.arena[off..off + k], &self.arena[off + k..off + k + p])?;
        }
        self.spilled_bytes += w.finish()?;
        self.runs.push(path);
        // Kept for the next run, unless one item larger than the budget grew them past it: a
        // sorter that spilled once fills up again, and buffers grown anew from nothing cost a
        // copy per doubling and fresh pages for each run.
        self.items.clear();
        self.arena.clear();
        if self.arena.capacity() + self.items.capacity() * ITEM_OVERHEAD > self.budget {
            self.items = Vec::new();
            self.arena = Vec::new();
        }
        Ok(())
    }

    /// Writes what is held as the last run and lets go of the buffers: the merges spend the
    /// budget on their runs' buffers instead.
    fn spill_the_rest(&mut self) -> io::Result<()> {
        if !self.items.is_empty() {
            self.spill()?;
        }
        self.items = Vec::new();
        self.arena = Vec::new();
        Ok(())
    }

    /// Runs one merge reads at once: as many as the budget pays for.
    fn fan_in(&self) -> usize {
        (self.budget / RUN_MERGE_BYTES).clamp(MIN_FAN_IN, MAX_FAN_IN)
    }

    /// Ends the input and returns the items in key order.
    pub fn finish(mut self) -> io::Result<Merged> {
        if self.runs.is_empty() {
            self.sort_held();
            let Sorter { dir, arena, items, .. } = self;
            return Ok(Merged { _dir: dir, source: Source::Memory { arena, items, at: 0 } });
        }
        self.spill_the_rest()?;
        // Merges of consecutive runs into one, in their place (equal keys stay in push order),
        // until one merge can read them all. Each merges only as many as that needs, and the
        // next starts after the run the last one made, so no item is read more than twice
        // before the last merge.
        let dir = self.dir()?;
        let fan_in = self.fan_in();
        let mut round = 0;
        while self.runs.len() > fan_in {
            let take = fan_in.min(self.runs.len() - fan_in + 1);
            let first = round.min(self.runs.len() - take);
            let path = dir.join(format!("merge-{round:06}.zst"));
            let mut heap = Heap::open(&self.runs[first..first + take])?;
            let mut w = RunWriter::create(&path)?;
            while let Some((k, p)) = heap.next()? {
                w.write(k, p)?;
            }
            self.spilled_bytes += w.finish()?;
            drop(heap);
            for r in self.runs.splice(first..first + take, [path]) {
                std::fs::remove_file(r)?;
            }
            round += 1;
        }
        let heap = Heap::open(&self.runs)?;
        Ok(Merged { _dir: self.dir, source: Source::Runs(heap) })
    }
}

/// A new folder for spilled runs under `tmp` (created if need be), removed when dropped; named
/// so that [`remove_stale`] removes it once this process is gone (killed mid-way).
pub fn run_dir(tmp: &Path) -> io::Result<tempfile::TempDir> {
    std::fs::create_dir_all(tmp)?;
    tempfile::Builder::new().prefix(&format!("sort-{}-", std::process::id())).tempdir_in(tmp)
}

/// Removes the run folders under `tmp` left by processes that are no longer running (killed
/// in the middle of a sort). Folders of live processes are left alone, so concurrent
/// readers of one corpus do not disturb each other. Where processes cannot be looked up
/// (no `/proc`), nothing is removed. Returns how many folders were removed.
pub fn remove_stale(tmp: &Path) -> io::Result<usize> {
    let proc = Path::new("/proc/self");
    if !proc.exists() {
        return Ok(0);
    }
    let Ok(entries) = std::fs::read_dir(tmp) else { return Ok(0) };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("sort-")).and_then(|n| n.split('-').next()).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            std::fs::remove_dir_all(e.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The items of a [`Sorter`] in key order. Removes its folder when dropped.
pub struct Merged {
    _dir: Option<tempfile::TempDir>,
    source: Source,
}

enum Source {
    Memory { arena: Vec<u8>, items: Vec<(usize, u32, u32)>, at: usize },
    Runs(Heap),
}

impl Merged {
    /// The next item, or `None` at the end. The slices live until the next call.
    #[allow(clippy::should_implement_trait)] // lending: the slices borrow the reader
    pub fn next(&mut self) -> io::Result<Option<(&[u8], &[u8])>> {
        match &mut self.source {
            Source::Memory { arena, items, at } => {
                let Some(&(off, k, p)) = items.get(*at) else { return Ok(None) };
                *at += 1;
                let (k, p) = (k as usize, p as usize);
                Ok(Some((&arena[off..off + k], &arena[off + k..off + k + p])))
            }
            Source::Runs(heap) => heap.next(),
        }
    }

    /// Peeks at the key of the next item without taking it.
    pub fn peek_key(&mut self) -> io::Result<Option<&[u8]>> {
        match &mut self.source {
            Source::Memory { arena, items, at } => Ok(items.get(*at).map(|&(off, k, _)| &arena[off..off + k as usize])),
            Source::Runs(heap) => heap.peek_key(),
        }
    }
}

struct RunWriter {
    w: BufWriter<zstd::stream::write::Encoder<'static, File>>,
}

impl RunWriter {
    fn create(path: &Path) -> io::Result<RunWriter> {
        let mut e = zstd::stream::write::Encoder::new(File::create(path)?, 1)?;
        e.window_log(RUN_WINDOW_LOG)?;
        Ok(RunWriter { w: BufWriter::with_capacity(1 << 16, e) })
    }

    fn write(&mut self, key: &[u8], payload: &[u8]) -> io::Result<()> {
        self.w.write_all(&(key.len() as u32).to_le_bytes())?;
        self.w.write_all(&(payload.len() as u32).to_le_bytes())?;
        self.w.write_all(key)?;
        self.w.write_all(payload)
    }

    /// Returns the bytes written.
    fn finish(self) -> io::Result<u64> {
        let file = self.w.into_inner().map_err(|e| e.into_error())?.finish()?;
        let n = file.metadata()?.len();
        Ok(n)
    }
}

/// One run being read: its current item is in `key` / `payload`.
struct RunReader {
    r: BufReader<zstd::stream::read::Decoder<'static, BufReader<File>>>,
    key: Vec<u8>,
    payload: Vec<u8>,
    index: usize,
}

impl RunReader {
    /// Reads the next item into the buffers; false at the end of the run.
    fn advance(&mut self) -> io::Result<bool> {
        let mut head = [0u8; 8];
        match self.r.read_exact(&mut head[..1]) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            r => r?,
        }
        self.r.read_exact(&mut head[1..])?;
        let k = u32::from_le_bytes(head[..4].try_into().expect("4")) as usize;
        let p = u32::from_le_bytes(head[4..].try_into().expect("4")) as usize;
        self.key.resize(k, 0);
        self.r.read_exact(&mut self.key)?;
        self.payload.resize(p, 0);
        self.r.read_exact(&mut self.payload)?;
        Ok(true)
    }
}

impl PartialEq for RunReader {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for RunReader {}
impl PartialOrd for RunReader {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RunReader {
    /// By key, then by run: an earlier run holds earlier pushes.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key).then(self.index.cmp(&other.index))
    }
}

/// A k-way merge of runs.
struct Heap {
    heap: BinaryHeap<Reverse<RunReader>>,
    /// The reader whose item was handed out last; it advances at the next call.
    current: Option<RunReader>,
}

impl Heap {
    fn open(paths: &[PathBuf]) -> io::Result<Heap> {
        let mut heap = BinaryHeap::with_capacity(paths.len());
        for (index, p) in paths.iter().enumerate() {
            let d = zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(RUN_READ_BUFFER, File::open(p)?))?;
            let mut r = RunReader { r: BufReader::with_capacity(RUN_READ_BUFFER, d), key: Vec::new(), payload: Vec::new(), index };
            if r.advance()? {
                heap.push(Reverse(r));
            }
        }
        Ok(Heap { heap, current: None })
    }

    fn restore(&mut self) -> io::Result<()> {
        if let Some(mut r) = self.current.take()
            && r.advance()?
        {
            self.heap.push(Reverse(r));
        }
        Ok(())
    }

    fn next(&mut self) -> io::Result<Option<(&[u8], &[u8])>> {
        self.restore()?;
        let Some(Reverse(r)) = self.heap.pop() else { return Ok(None) };
        let r = self.current.insert(r);
        Ok(Some((&r.key, &r.payload)))
    }

    fn peek_key(&mut self) -> io::Result<Option<&[u8]>> {
        self.restore()?;
        Ok(self.heap.peek().map(|Reverse(r)| &r.key[..]))
    }
}

/// Builds a byte key whose order is the order of the tuple of values appended to it.
#[derive(Debug, Default, Clone)]
pub struct Key(pub Vec<u8>);

impl Key {
    /// An empty key.
    pub fn new() -> Key {
        Key(Vec::new())
    }

    /// Appends a string. Strings compare bytewise (the order of Rust's `str`), shorter first;
    /// a NUL inside a string is escaped so that no string's key is a prefix of another's.
    pub fn str(&mut self, s: &str) -> &mut Key {
        for &b in s.as_bytes() {
            if b == 0 {
                self.0.extend_from_slice(&[0, 0xff]);
            } else {
                self.0.push(b);
            }
        }
        self.0.extend_from_slice(&[0, 0]);
        self
    }

    /// Appends an unsigned number (big-endian: byte order is numeric order).
    pub fn u64(&mut self, n: u64) -> &mut Key {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// Appends raw bytes of a fixed length (hashes).
    pub fn bytes(&mut self, b: &[u8]) -> &mut Key {
        self.0.extend_from_slice(b);
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::{Rng, SeedableRng};

    fn drain(m: &mut Merged) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((k, p)) = m.next().unwrap() {
            out.push((k.to_vec(), p.to_vec()));
        }
        out
    }

    /// The same items through memory only, a few runs, and more runs than one merge reads:
    /// each gives the stable sort of the input.
    #[test]
    fn every_path_gives_the_stable_sort() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let items: Vec<(Vec<u8>, Vec<u8>)> = (0..20_000u32)
            .map(|i| {
                let k: Vec<u8> = (0..rng.random_range(0..6)).map(|_| rng.random_range(b'a'..b'e')).collect();
                (k, i.to_le_bytes().to_vec())
            })
            .collect();
        let mut want = items.clone();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        // the smallest two: some 250 and 450 runs, more than one merge reads (450: several
        // merges before the last)
        for budget in [1 << 30, 200_000, 1 << 16, 2048, 1100] {
            let tmp = tempfile::tempdir().unwrap();
            let mut s = Sorter::new(tmp.path(), budget);
            for (k, p) in &items {
                s.push(k, p).unwrap();
            }
            let spilled = s.spilled_bytes() > 0;
            assert_eq!(spilled, budget < 1 << 30);
            assert_eq!(s.runs.len() > MAX_FAN_IN, budget <= 2048, "{}", s.runs.len());
            if budget == 1100 {
                assert!(s.runs.len() > 2 * MAX_FAN_IN, "{}", s.runs.len());
            }
            let mut m = s.finish().unwrap();
            assert_eq!(drain(&mut m), want, "budget {budget}");
            drop(m);
            assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the runs are removed");
        }
    }

    #[test]
    fn a_merge_reads_as_many_runs_at_once_as_the_budget_pays_for() {
        let tmp = tempfile::tempdir().unwrap();
        let fan_in = |budget| Sorter::new(tmp.path(), budget).fan_in();
        assert_eq!(fan_in(16 << 20), 32); // export's sorters at a 64 MiB budget
        assert_eq!(fan_in(1 << 30), MAX_FAN_IN);
        assert_eq!(fan_in(64), MIN_FAN_IN);
    }

    #[test]
    fn stale_folders_of_dead_processes_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        // a live sorter that has spilled (its folder is made then)
        let mut live = Sorter::new(tmp.path(), 64);
        for i in 0u32..100 {
            live.push(&i.to_be_bytes(), &[0; 32]).unwrap();
        }
        assert!(live.spilled_bytes() > 0);
        // pid_max on Linux is at most 2^22: this process cannot exist
        std::fs::create_dir_all(tmp.path().join("sort-4294967-abc/x")).unwrap();
        std::fs::create_dir_all(tmp.path().join("other")).unwrap();
        assert_eq!(remove_stale(tmp.path()).unwrap(), 1);
        let mut left: Vec<String> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left.len(), 2);
        assert!(left[0] == "other" && left[1].starts_with(&format!("sort-{}-", std::process::id())));
        drop(live);
    }

    /// A spill keeps the buffers for the next run (no regrowth from nothing), except after an
    /// item larger than the budget, which must not leave every later push spilling alone.
    #[test]
    fn a_spill_keeps_its_buffers_unless_an_item_outgrew_the_budget() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Sorter::new(tmp.path(), 10_000);
        let mut after_spills = 0;
        for i in 0..2_000u32 {
            let runs = s.runs.len();
            s.push(&i.to_be_bytes(), &[1; 40]).unwrap();
            if s.runs.len() > runs {
                // just spilled: one item held, the room of a full run kept
                after_spills += 1;
                assert!(s.arena.len() == 44 && s.arena.capacity() > 4_000, "kept: {}", s.arena.capacity());
            }
        }
        assert!(after_spills > 5, "{after_spills}");
        s.push(b"huge", &[2; 50_000]).unwrap();
        s.push(b"next", &[3; 10]).unwrap();
        assert!(s.arena.capacity() <= 10_000, "let go: {}", s.arena.capacity());
        let before = s.runs.len();
        for i in 0..100u32 {
            s.push(&i.to_le_bytes(), &[4; 10]).unwrap();
        }
        assert!(s.runs.len() <= before + 1, "runs of one item: {} -> {}", before, s.runs.len());
        // before the merges, the buffers go: the merges are paid from the same budget
        s.spill_the_rest().unwrap();
        assert_eq!(s.arena.capacity() + s.items.capacity(), 0);
        let mut m = s.finish().unwrap();
        assert_eq!(drain(&mut m).len(), 2_102);
    }

    /// What the buffers have allocated stays within the budget whatever the item sizes.
    #[test]
    fn allocations_stay_within_the_budget() {
        let tmp = tempfile::tempdir().unwrap();
        let budget = 100_000;
        let mut s = Sorter::new(tmp.path(), budget);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for i in 0..20_000u32 {
            let payload = vec![7u8; rng.random_range(0..3000)];
            s.push(&i.to_be_bytes(), &payload).unwrap();
            assert!(s.arena.capacity() + s.items.capacity() * ITEM_OVERHEAD <= budget, "at item {i}: {} {} {}", s.arena.capacity(), s.items.capacity(), s.arena.len());
        }
        assert!(s.spilled_bytes() > 0);
    }

    #[test]
    fn peek_does_not_take() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Sorter::new(tmp.path(), 1 << 16);
        for i in (0..5000u64).rev() {
            s.push(&i.to_be_bytes(), &[0; 40]).unwrap();
        }
        let mut m = s.finish().unwrap();
        assert_eq!(m.peek_key().unwrap(), Some(&0u64.to_be_bytes()[..]));
        assert_eq!(m.next().unwrap().unwrap().0, 0u64.to_be_bytes());
        assert_eq!(m.peek_key().unwrap(), Some(&1u64.to_be_bytes()[..]));
        assert_eq!(drain(&mut m).len(), 4999);
        assert_eq!(m.peek_key().unwrap(), None);
    }

    #[test]
    fn variable_length_numbers_come_back_and_overlong_ones_are_refused() {
        let mut out = Vec::new();
        let ns = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX - 1, u64::MAX];
        for n in ns {
            codec::put_var(&mut out, n);
        }
        codec::put_var_bytes(&mut out, b"abc");
        assert_eq!(out[0..4], [0, 1, 127, 0x80]);
        let mut r = codec::Reader(&out);
        for n in ns {
            assert_eq!(r.var(), Some(n));
        }
        assert_eq!(r.var_bytes(), Some(&b"abc"[..]));
        assert!(r.is_empty());
        // eleven bytes, or a tenth byte with more than the 64th bit: not a u64
        assert_eq!(codec::Reader(&[0xff; 11]).var(), None);
        assert_eq!(codec::Reader(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).var(), None);
        assert_eq!(codec::Reader(&[0x80]).var(), None);
    }

    #[test]
    fn keys_order_like_tuples() {
        let k = |s: &str, n: u64| Key::new().str(s).u64(n).0.clone();
        let mut v = [("ab", 1), ("a", 9), ("a\0", 0), ("b", 0), ("a", 2), ("", 5)];
        let mut keys: Vec<Vec<u8>> = v.iter().map(|(s, n)| k(s, *n)).collect();
        keys.sort();
        v.sort();
        assert_eq!(keys, v.iter().map(|(s, n)| k(s, *n)).collect::<Vec<_>>());
    }
}

/// Little helpers to write payloads and read them back: fixed-width little-endian numbers and
/// length-prefixed strings.
pub mod codec {
    /// Appends a u32.
    pub fn put_u32(out: &mut Vec<u8>, n: u32) {
        out.extend_from_slice(&n.to_le_bytes());
    }

    /// Appends a u64.
    pub fn put_u64(out: &mut Vec<u8>, n: u64) {
        out.extend_from_slice(&n.to_le_bytes());
    }

    /// Appends a string (u32 length, then its bytes).
    pub fn put_str(out: &mut Vec<u8>, s: &str) {
        put_u32(out, s.len() as u32);
        out.extend_from_slice(s.as_bytes());
    }

    /// Appends a number in as few bytes as it needs (LEB128: 7 bits a byte), for payloads
    /// that many items repeat.
    pub fn put_var(out: &mut Vec<u8>, mut n: u64) {
        while n >= 0x80 {
            out.push(n as u8 | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    /// Appends bytes after their length as [`put_var`] writes it.
    pub fn put_var_bytes(out: &mut Vec<u8>, b: &[u8]) {
        put_var(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    /// Reads what the `put_*` functions wrote, in the same order; `None` past the end.
    pub struct Reader<'a>(pub &'a [u8]);

    impl Reader<'_> {
        /// The next `n` bytes.
        pub fn take(&mut self, n: usize) -> Option<&[u8]> {
            let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
            self.0 = b;
            Some(a)
        }
        /// A byte.
        pub fn u8(&mut self) -> Option<u8> {
            Some(self.take(1)?[0])
        }
        /// A u32.
        pub fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
        }
        /// A u64.
        pub fn u64(&mut self) -> Option<u64> {
            Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
        }
        /// A string.
        pub fn string(&mut self) -> Option<String> {
            let n = self.u32()? as usize;
            String::from_utf8(self.take(n)?.to_vec()).ok()
        }
        /// A number [`put_var`] wrote (`None` also when it runs past 64 bits).
        pub fn var(&mut self) -> Option<u64> {
            let mut n = 0u64;
            for shift in (0..64).step_by(7) {
                let b = self.u8()?;
                let bits = u64::from(b & 0x7f);
                if shift == 63 && bits > 1 {
                    return None;
                }
                n |= bits << shift;
                if b < 0x80 {
                    return Some(n);
                }
            }
            None
        }
        /// Bytes [`put_var_bytes`] wrote.
        pub fn var_bytes(&mut self) -> Option<&[u8]> {
            let n = usize::try_from(self.var()?).ok()?;
            self.take(n)
        }
        /// True when everything was read.
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }
}
