//! `postings.idx`: which blobs of a pack contain each trigram, so that a search decodes and
//! scans only the blobs that can match, not whole frames.
//!
//! Each non-empty blob is a *unit*, numbered in storage order (a frame's blobs by offset, then
//! the delta frames); an empty blob is in none and read by every search (it costs nothing).
//! Trigrams are those of `grams.idx` (ASCII-lowercased, without newlines, so case-insensitive
//! searches use it too), taken up to the blob's first NUL byte: a search reads a blob holding
//! one as ripgrep reads a file, which stops before it, so nothing past it can match. A trigram
//! found in more than one unit in [`EVERYWHERE_SHARE`] (and in more than [`EVERYWHERE_FLOOR`]
//! units) is kept as "everywhere" without a posting: it rules nothing out worth its bytes.
//! Measured on corpus-v1 as one shard (102,203 blobs): 35.0 MB, 23 % of the shard, with a
//! twenty-fifth (a twentieth: 37.7 MB; a fortieth: 30.1 MB, and `asyncio.run_coroutine_threadsafe`
//! left 111 candidate blobs instead of 63); the first layout's units of 16 KiB of blobs took
//! 26 MB but left searches up to 10 times the candidates. A UTF-16 blob is read by every
//! search (see `grams.idx`).
//!
//! Layout (little-endian; tables after the postings, so the file is written in one pass):
//! ```text
//! magic "PYCPOST\x02"
//! blocks          zstd frames back to back; decoded and put end to end they are the postings:
//!                 per trigram in key order, its units varint-coded (the first as it is, then
//!                 each minus the one before); nothing for an "everywhere" trigram. A block
//!                 holds whole lists (at least BLOCK_BYTES of them, but the last)
//! starts          units x (frame:u32 offset:u32): where each unit's blob is, increasing
//! entries         units x u32: the unit's blob's place in blobs.idx (so a search names its
//!                 candidate blobs without a look at the others)
//! always          ceil(units / 8) bytes: bit u of byte u / 8, the unit is UTF-16
//! everywhere      ceil(trigrams / 8) bytes: bit i, trigram i is everywhere
//! keys            trigrams x u32, sorted
//! ends            trigrams x u64: where each trigram's postings end in the decoded postings
//!                 (each starts where the one before ends)
//! block_ends      blocks x (decoded:u64 stored:u64): where each block ends, decoded and in
//!                 the file (from the end of the magic)
//! footer          units:u64 trigrams:u64 blocks:u64 stored_len:u64 tables_crc32:u64
//!                 (of everything from `starts` to `block_ends`) magic "PYCPOST\x02"
//! ```
//! A search decodes the blocks of the trigrams it asks for (64 KiB each). An index of an
//! older layout (its magic) is not used: searches fall back to `grams.idx`.
//! It is built at seal in bounded memory: postings are gathered per trigram as they come
//! (units arrive in storage order, so each list is sorted) and spilled to sorted runs past a
//! limit (in a folder of their own under a temporary folder, removed with the writer), merged
//! when the pack is finished.

use crate::{FrameSet, StoreError};
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// First (and last) bytes of `postings.idx`.
pub const POSTINGS_MAGIC: &[u8; 8] = b"PYCPOST\x02";
/// A trigram in more than `units / EVERYWHERE_SHARE` units has no posting.
pub const EVERYWHERE_SHARE: usize = 25;
/// ... and in more than this many units (small packs keep every posting).
pub const EVERYWHERE_FLOOR: usize = 256;
/// Decoded bytes of one block at most: a block past it is damaged (or hostile), not decoded.
/// Blocks close at the first list boundary past [`BLOCK_BYTES`], so only a list of millions of
/// units comes near it.
const MAX_BLOCK_BYTES: u64 = 64 << 20;
/// zstd level of the blocks.
const BLOCK_LEVEL: i32 = 6;
/// Decoded bytes of postings per block, at least (but the last).
pub const BLOCK_BYTES: usize = 64 << 10;
const FOOTER_LEN: usize = 8 * 5 + 8;
/// Bytes of a list's header in a spilled run.
const RUN_HEAD: usize = 4 + 8 + 4 + 4;

/// A hasher for trigrams (already well spread in their low 24 bits).
#[derive(Default, Clone, Copy)]
struct TriHasher(u64);

impl std::hash::Hasher for TriHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = u64::from(v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type TriMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<TriHasher>>;

use pycorpus_spill::codec::{Reader, put_var};

/// The first `i` in `0..n` where `before(i)` is false (`before` true then false along the
/// range): a binary search over the mapped tables.
fn partition(n: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The distinct trigrams of `parts` taken together (folded, without newlines), appended to
/// `out` unsorted; `seen` is a scratch bitmap of 2^24 bits, all clear before and after.
pub(crate) fn unit_trigrams<'a>(parts: impl IntoIterator<Item = &'a [u8]>, seen: &mut Vec<u64>, out: &mut Vec<u32>) {
    if seen.is_empty() {
        seen.resize((1 << 24) / 64, 0);
    }
    let start = out.len();
    let (mut w, mut n) = (0u32, 0usize);
    for data in parts {
        // nothing past a NUL byte is searched (see the module's doc)
        let data = &data[..memchr::memchr(0, data).unwrap_or(data.len())];
        for &b in data {
            w = (w << 8 | crate::fold(b) as u32) & 0xff_ffff;
            n = if b == b'\n' { 0 } else { n + 1 };
            if n < 3 {
                continue;
            }
            let (word, bit) = ((w >> 6) as usize, w & 63);
            if seen[word] & (1 << bit) == 0 {
                seen[word] |= 1 << bit;
                out.push(w);
            }
        }
    }
    for &t in &out[start..] {
        seen[(t >> 6) as usize] &= !(1 << (t & 63));
    }
}

/// The postings of one trigram being gathered: how many, the last unit, the coded units.
#[derive(Default)]
struct List {
    n: u64,
    last: u32,
    bytes: Vec<u8>,
    /// Found in so many units that it is everywhere already (see [`DROP_SHARE`]): its units are
    /// no longer kept.
    dropped: bool,
}

/// A trigram whose list (since the last spill) holds more than a tenth of the units written
/// so far, and more than [`DROP_FLOOR`], is marked everywhere at once and its postings freed:
/// the most common trigrams (`def`, `ret`, ...) would otherwise hold most of the writer's
/// memory, and end everywhere anyway. Everywhere is never wrong (it rules nothing out), and the
/// rule depends only on the order units come in, so a shard is still built byte for byte the
/// same from the same inputs.
const DROP_SHARE: u64 = 10;
const DROP_FLOOR: u64 = 4096;

/// Builds `postings.idx` from units given in storage order.
pub struct PostingsWriter {
    path: PathBuf,
    starts: Vec<(u32, u32)>,
    always: Vec<bool>,
    lists: TriMap<List>,
    /// Bytes held in `lists` (their vectors' capacity, plus each list's own cost).
    held: usize,
    limit: usize,
    /// Where runs go (a folder made under it at the first one), and the runs.
    tmp: PathBuf,
    run_dir: Option<tempfile::TempDir>,
    runs: Vec<PathBuf>,
}

/// Bytes a list costs beyond its coded units (the map's entry and the vector).
const LIST_COST: usize = 48;

impl PostingsWriter {
    /// A writer of `path`, holding at most about `limit` bytes of postings before it spills
    /// a sorted run under `tmp`.
    pub fn new(path: &Path, limit: usize, tmp: &Path) -> PostingsWriter {
        PostingsWriter {
            path: path.to_path_buf(),
            starts: Vec::new(),
            always: Vec::new(),
            lists: TriMap::default(),
            held: 0,
            limit: limit.max(1 << 20),
            tmp: tmp.to_path_buf(),
            run_dir: None,
            runs: Vec::new(),
        }
    }

    /// Adds the next unit: where its first blob is (frame, offset), its distinct trigrams (any
    /// order), and whether it holds a UTF-16 blob.
    pub fn add_unit(&mut self, start: (u32, u32), trigrams: &[u32], always: bool) -> Result<(), StoreError> {
        if self.starts.last().is_some_and(|s| *s >= start) {
            return Err(StoreError::Format { path: self.path.clone(), what: format!("unit at {start:?} comes after {:?}", self.starts.last()) });
        }
        let unit = u32::try_from(self.starts.len()).map_err(|_| StoreError::Format { path: self.path.clone(), what: "too many units".into() })?;
        self.starts.push(start);
        self.always.push(always);
        let drop_at = (u64::from(unit) / DROP_SHARE).max(DROP_FLOOR);
        for &t in trigrams {
            let l = self.lists.entry(t).or_insert_with(|| {
                self.held += LIST_COST;
                List::default()
            });
            if l.dropped {
                continue;
            }
            if l.n >= drop_at {
                self.held -= l.bytes.capacity().min(self.held);
                l.bytes = Vec::new();
                l.dropped = true;
                continue;
            }
            let before = l.bytes.capacity();
            put_var(&mut l.bytes, if l.n == 0 { u64::from(unit) } else { u64::from(unit - l.last) });
            l.n += 1;
            l.last = unit;
            self.held += l.bytes.capacity() - before;
        }
        if self.held > self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the lists held as a run (per list, in trigram order: trigram:u32 count:u64
    /// last_unit:u32 coded_len:u32, then the coded units) and empties them.
    fn spill(&mut self) -> Result<(), StoreError> {
        if self.run_dir.is_none() {
            self.run_dir = Some(pycorpus_spill::run_dir(&self.tmp).map_err(|e| StoreError::io(&self.tmp, e))?);
        }
        let path = self.run_dir.as_ref().expect("made above").path().join(format!("postings{}", self.runs.len()));
        let io = |e| StoreError::io(&path, e);
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).map_err(io)?);
        let mut keys: Vec<u32> = self.lists.iter().filter(|(_, l)| !l.dropped).map(|(k, _)| *k).collect();
        keys.sort_unstable();
        for k in keys {
            let l = self.lists.remove(&k).expect("a key of the map");
            let len = u32::try_from(l.bytes.len()).map_err(|_| StoreError::Format { path: path.clone(), what: "a posting list over 4 GiB".into() })?;
            let mut head = [0u8; RUN_HEAD];
            head[..4].copy_from_slice(&k.to_le_bytes());
            head[4..12].copy_from_slice(&l.n.to_le_bytes());
            head[12..16].copy_from_slice(&l.last.to_le_bytes());
            head[16..].copy_from_slice(&len.to_le_bytes());
            out.write_all(&head).map_err(io)?;
            out.write_all(&l.bytes).map_err(io)?;
        }
        out.flush().map_err(io)?;
        // the dropped ones stay, as markers (everywhere, whatever the runs hold)
        self.lists.shrink_to_fit();
        self.held = self.lists.len() * LIST_COST;
        self.runs.push(path);
        Ok(())
    }

    /// Merges what was gathered into `postings.idx` (removing the runs); returns its bytes.
    /// `blobs`: the pack's blobs as `blobs.idx` lists them, (frame, offset, len): each unit's
    /// place among them goes beside it.
    pub fn finish(mut self, blobs: impl Iterator<Item = (u32, u32, u32)>) -> Result<u64, StoreError> {
        let units = self.starts.len();
        let mut entries = vec![u32::MAX; units];
        for (i, (frame, offset, len)) in blobs.enumerate() {
            if len > 0
                && let Ok(u) = self.starts.binary_search(&(frame, offset))
            {
                entries[u] = u32::try_from(i).map_err(|_| StoreError::Format { path: self.path.clone(), what: "too many blobs".into() })?;
            }
        }
        if let Some(u) = entries.iter().position(|e| *e == u32::MAX) {
            return Err(StoreError::Format { path: self.path.clone(), what: format!("unit {u} at {:?} is no blob of the pack", self.starts[u]) });
        }
        let threshold = (units / EVERYWHERE_SHARE).max(EVERYWHERE_FLOOR) as u64;
        if !self.runs.is_empty() && self.lists.values().any(|l| !l.dropped) {
            self.spill()?;
        }
        let dropped: TriMap<()> = self.lists.iter().filter(|(_, l)| l.dropped).map(|(k, _)| (*k, ())).collect();
        let path = self.path.clone();
        let io = |e| StoreError::io(&path, e);
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).map_err(io)?);
        out.write_all(POSTINGS_MAGIC).map_err(io)?;
        let (mut keys, mut ends, mut everywhere) = (Vec::new(), Vec::new(), Vec::new());
        // the block being filled, and where each block ends (decoded, stored)
        let (mut block, mut block_ends): (Vec<u8>, Vec<(u64, u64)>) = (Vec::new(), Vec::new());
        let (mut decoded, mut stored) = (0u64, 0u64);
        let mut compressor = zstd::bulk::Compressor::new(BLOCK_LEVEL).map_err(io)?;
        // each block checked as it is decoded
        compressor.include_checksum(true).map_err(io)?;
        let mut flush = |out: &mut BufWriter<std::fs::File>, block: &mut Vec<u8>, decoded: u64, stored: &mut u64, block_ends: &mut Vec<(u64, u64)>| -> Result<(), StoreError> {
            if block.is_empty() {
                return Ok(());
            }
            let packed = compressor.compress(block).map_err(io)?;
            out.write_all(&packed).map_err(io)?;
            *stored += packed.len() as u64;
            block_ends.push((decoded, *stored));
            block.clear();
            Ok(())
        };
        let mut put = |out: &mut BufWriter<std::fs::File>, key: u32, n: u64, parts: &mut dyn Iterator<Item = (u32, Vec<u8>)>| -> Result<(), StoreError> {
            keys.push(key);
            let all = n > threshold || dropped.contains_key(&key);
            everywhere.push(all);
            // each part's first unit is as it is; after the first part, it becomes a gap
            let mut prev_last: Option<u32> = None;
            for (last, bytes) in parts {
                if all {
                    continue;
                }
                let mut r = Reader(&bytes);
                let first = r.var().ok_or_else(|| StoreError::Format { path: path.clone(), what: "a damaged postings run".into() })?;
                let before = block.len();
                put_var(&mut block, prev_last.map_or(first, |p| first - u64::from(p)));
                block.extend_from_slice(r.0);
                decoded += (block.len() - before) as u64;
                prev_last = Some(last);
            }
            ends.push(decoded);
            if block.len() >= BLOCK_BYTES {
                flush(out, &mut block, decoded, &mut stored, &mut block_ends)?;
            }
            Ok(())
        };
        if self.runs.is_empty() {
            let mut lists: Vec<(u32, List)> = std::mem::take(&mut self.lists).into_iter().collect();
            lists.sort_unstable_by_key(|(k, _)| *k);
            for (k, l) in lists {
                put(&mut out, k, l.n, &mut std::iter::once((l.last, l.bytes)))?;
            }
        } else {
            let mut runs = self.runs.iter().map(|p| RunReader::open(p)).collect::<Result<Vec<_>, _>>()?;
            // the runs' trigrams, and those dropped before any run held them
            let mut dropped_keys: Vec<u32> = dropped.keys().copied().collect();
            dropped_keys.sort_unstable();
            let mut next_dropped = dropped_keys.into_iter().peekable();
            while let Some(key) = runs.iter().filter_map(|r| r.head.as_ref().map(|h| h.0)).chain(next_dropped.peek().copied()).min() {
                if next_dropped.peek() == Some(&key) {
                    next_dropped.next();
                }
                let mut n = 0;
                let mut parts = Vec::new();
                for r in runs.iter_mut() {
                    if r.head.as_ref().is_some_and(|h| h.0 == key) {
                        let (_, count, last, bytes) = r.head.take().expect("checked");
                        n += count;
                        parts.push((last, bytes));
                        r.advance()?;
                    }
                }
                put(&mut out, key, n, &mut parts.into_iter())?;
            }
        }
        flush(&mut out, &mut block, decoded, &mut stored, &mut block_ends)?;
        // the tables, with their checksum in the footer
        let mut tables = Vec::with_capacity(self.starts.len() * 13 + keys.len() * 13 + block_ends.len() * 16);
        for (frame, offset) in &self.starts {
            tables.extend_from_slice(&frame.to_le_bytes());
            tables.extend_from_slice(&offset.to_le_bytes());
        }
        entries.iter().for_each(|e| tables.extend_from_slice(&e.to_le_bytes()));
        tables.extend_from_slice(&bits(&self.always));
        tables.extend_from_slice(&bits(&everywhere));
        keys.iter().for_each(|k| tables.extend_from_slice(&k.to_le_bytes()));
        ends.iter().for_each(|e| tables.extend_from_slice(&e.to_le_bytes()));
        for (d, s) in &block_ends {
            tables.extend_from_slice(&d.to_le_bytes());
            tables.extend_from_slice(&s.to_le_bytes());
        }
        out.write_all(&tables).map_err(io)?;
        for v in [units as u64, keys.len() as u64, block_ends.len() as u64, stored, u64::from(crc32fast::hash(&tables))] {
            out.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        out.write_all(POSTINGS_MAGIC).map_err(io)?;
        let file = out.into_inner().map_err(|e| StoreError::io(&path, e.into_error()))?;
        file.sync_all().map_err(io)?;
        // the runs go with their folder
        Ok(file.metadata().map_err(io)?.len())
    }
}

fn bits(flags: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; flags.len().div_ceil(8)];
    for (i, _) in flags.iter().enumerate().filter(|(_, f)| **f) {
        out[i / 8] |= 1 << (i % 8);
    }
    out
}

/// One spilled run, read a list at a time.
struct RunReader {
    path: PathBuf,
    input: BufReader<std::fs::File>,
    /// The list at hand: trigram, count, last unit, coded units.
    head: Option<(u32, u64, u32, Vec<u8>)>,
}

impl RunReader {
    fn open(path: &Path) -> Result<RunReader, StoreError> {
        let file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
        let mut r = RunReader { path: path.to_path_buf(), input: BufReader::with_capacity(1 << 19, file), head: None };
        r.advance()?;
        Ok(r)
    }

    fn advance(&mut self) -> Result<(), StoreError> {
        let mut head = [0u8; RUN_HEAD];
        match self.input.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.head = None;
                return Ok(());
            }
            Err(e) => return Err(StoreError::io(&self.path, e)),
        }
        let mut r = Reader(&head);
        let (key, n, last, len) = (r.u32(), r.u64(), r.u32(), r.u32());
        let (Some(key), Some(n), Some(last), Some(len)) = (key, n, last, len) else { unreachable!("a header of RUN_HEAD bytes") };
        let mut bytes = vec![0u8; len as usize];
        self.input.read_exact(&mut bytes).map_err(|e| StoreError::io(&self.path, e))?;
        self.head = Some((key, n, last, bytes));
        Ok(())
    }
}

/// The magic of the first layout (a unit per 16 KiB of blobs), no longer read.
const POSTINGS_MAGIC_V1: &[u8; 8] = b"PYCPOST\x01";

/// An opened `postings.idx` (mapped).
pub struct PostingsIndex {
    path: PathBuf,
    map: memmap2::Mmap,
    units: usize,
    trigrams: usize,
    blocks: usize,
    stored_len: usize,
    /// The units of UTF-16 blobs, read once at open.
    always: FrameSet,
}

impl PostingsIndex {
    /// Opens the index of the pack in `dir`; `None` when there is none (a shard sealed before
    /// it existed, or with the first layout). A file whose sizes do not add up or whose tables
    /// fail their checksum is an error (blocks are checked as they are decoded): a damaged
    /// index is never used.
    pub fn open(dir: &Path) -> Result<Option<PostingsIndex>, StoreError> {
        let path = dir.join("postings.idx");
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        // SAFETY: sealed shards are immutable; a file changed underneath is what `verify` finds.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| StoreError::io(&path, e))?;
        let bad = |what: &str| StoreError::Format { path: path.clone(), what: format!("postings.idx: {what}") };
        let len = map.len();
        if map.starts_with(POSTINGS_MAGIC_V1) {
            return Ok(None);
        }
        if len < POSTINGS_MAGIC.len() + FOOTER_LEN || &map[..8] != POSTINGS_MAGIC || &map[len - 8..] != POSTINGS_MAGIC {
            return Err(bad("not a postings index (magic)"));
        }
        let word = |i: usize| u64::from_le_bytes(map[len - FOOTER_LEN + i * 8..len - FOOTER_LEN + i * 8 + 8].try_into().expect("8 bytes"));
        let (units, trigrams, blocks, stored_len, crc) = (word(0), word(1), word(2), word(3), word(4));
        let sizes = [Some(8), Some(stored_len), units.checked_mul(12), Some(units.div_ceil(8)), Some(trigrams.div_ceil(8)), trigrams.checked_mul(12), blocks.checked_mul(16), Some(FOOTER_LEN as u64)];
        let total = sizes.iter().try_fold(0u64, |t, v| v.and_then(|v| t.checked_add(v)));
        if total != Some(len as u64) {
            return Err(bad("sizes do not add up (truncated or damaged)"));
        }
        let mut idx = PostingsIndex {
            path: path.clone(),
            map,
            units: units as usize,
            trigrams: trigrams as usize,
            blocks: blocks as usize,
            stored_len: stored_len as usize,
            always: FrameSet::none(units as usize),
        };
        if u64::from(crc32fast::hash(&idx.map[idx.starts_at()..len - FOOTER_LEN])) != crc {
            return Err(bad("its tables fail their checksum (damaged)"));
        }
        let always: Vec<usize> = (0..idx.units).filter(|&u| idx.flag(idx.always_at(), u)).collect();
        always.into_iter().for_each(|u| idx.always.insert(u));
        Ok(Some(idx))
    }

    fn starts_at(&self) -> usize {
        8 + self.stored_len
    }
    fn entries_at(&self) -> usize {
        self.starts_at() + self.units * 8
    }
    fn always_at(&self) -> usize {
        self.entries_at() + self.units * 4
    }
    fn everywhere_at(&self) -> usize {
        self.always_at() + self.units.div_ceil(8)
    }
    fn keys_at(&self) -> usize {
        self.everywhere_at() + self.trigrams.div_ceil(8)
    }
    fn ends_at(&self) -> usize {
        self.keys_at() + self.trigrams * 4
    }
    fn block_ends_at(&self) -> usize {
        self.ends_at() + self.trigrams * 8
    }
    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.map[at..at + 8].try_into().expect("8 bytes"))
    }
    fn key(&self, i: usize) -> u32 {
        let at = self.keys_at() + i * 4;
        u32::from_le_bytes(self.map[at..at + 4].try_into().expect("4 bytes"))
    }
    fn end(&self, i: usize) -> u64 {
        self.u64_at(self.ends_at() + i * 8)
    }
    /// Where block `b` ends: decoded, and stored (from the end of the magic).
    fn block_end(&self, b: usize) -> (u64, u64) {
        let at = self.block_ends_at() + b * 16;
        (self.u64_at(at), self.u64_at(at + 8))
    }
    fn flag(&self, table: usize, i: usize) -> bool {
        self.map[table + i / 8] & (1 << (i % 8)) != 0
    }

    fn damaged(&self, what: String) -> StoreError {
        StoreError::Format { path: self.path.clone(), what: format!("postings.idx: {what}") }
    }

    /// Block `b` decoded, and where it starts in the decoded postings.
    fn block(&self, b: usize) -> Result<(Vec<u8>, u64), StoreError> {
        let (d0, s0) = if b == 0 { (0, 0) } else { self.block_end(b - 1) };
        let (d1, s1) = self.block_end(b);
        if d1 < d0 || s1 < s0 || s1 as usize > self.stored_len {
            return Err(self.damaged(format!("block {b} out of order")));
        }
        if d1 - d0 > MAX_BLOCK_BYTES {
            return Err(self.damaged(format!("block {b} says it decodes to {} bytes, more than {MAX_BLOCK_BYTES}", d1 - d0)));
        }
        let data = zstd::bulk::decompress(&self.map[8 + s0 as usize..8 + s1 as usize], (d1 - d0) as usize).map_err(|e| self.damaged(format!("block {b}: {e}")))?;
        if data.len() as u64 != d1 - d0 {
            return Err(self.damaged(format!("block {b} decodes to {} bytes, not {}", data.len(), d1 - d0)));
        }
        Ok((data, d0))
    }

    /// The units trigram `i` names: decoded from its block (`None`: it is everywhere).
    fn list(&self, i: usize, cache: &mut Option<(usize, Vec<u8>, u64)>, mut each: impl FnMut(u64) -> Result<(), StoreError>) -> Result<Option<()>, StoreError> {
        if self.flag(self.everywhere_at(), i) {
            return Ok(None);
        }
        let (s, e) = (if i == 0 { 0 } else { self.end(i - 1) }, self.end(i));
        // the first block that ends past the list's start
        let b = partition(self.blocks, |b| self.block_end(b).0 <= s);
        if e <= s || b >= self.blocks {
            return Err(self.damaged(format!("trigram {:06x}: an empty or misplaced posting", self.key(i))));
        }
        if cache.as_ref().is_none_or(|c| c.0 != b) {
            let (data, d0) = self.block(b)?;
            *cache = Some((b, data, d0));
        }
        let (_, data, d0) = cache.as_ref().expect("set above");
        let list = data.get((s - d0) as usize..(e - d0) as usize).ok_or_else(|| self.damaged(format!("trigram {:06x}: a posting across blocks", self.key(i))))?;
        let (mut r, mut unit, mut first) = (Reader(list), 0u64, true);
        while !r.0.is_empty() {
            let v = r.var().ok_or_else(|| self.damaged(format!("trigram {:06x}: a damaged posting", self.key(i))))?;
            if !first && v == 0 {
                return Err(self.damaged(format!("trigram {:06x}: a unit twice", self.key(i))));
            }
            unit = if first { v } else { unit.saturating_add(v) };
            first = false;
            if unit >= self.units as u64 {
                return Err(self.damaged(format!("trigram {:06x}: unit {unit} of {}", self.key(i), self.units)));
            }
            each(unit)?;
        }
        Ok(Some(()))
    }

    /// Number of units.
    pub fn units(&self) -> usize {
        self.units
    }

    /// Where unit `u`'s first blob is (frame, offset).
    pub fn start(&self, u: usize) -> (u32, u32) {
        let at = self.starts_at() + u * 8;
        let w = |i: usize| u32::from_le_bytes(self.map[at + i..at + i + 4].try_into().expect("4 bytes"));
        (w(0), w(4))
    }

    /// Unit `u`'s blob's place in `blobs.idx`.
    pub fn entry(&self, u: usize) -> usize {
        let at = self.entries_at() + u * 4;
        u32::from_le_bytes(self.map[at..at + 4].try_into().expect("4 bytes")) as usize
    }

    /// Units that hold UTF-16 blobs (read by every search).
    pub fn always(&self) -> &FrameSet {
        &self.always
    }

    /// True when the index can be the one of `pack` (its last unit is where the pack keeps
    /// that blob): an index that does not fit its pack is not used. [`Self::check`] checks
    /// every unit.
    pub fn fits(&self, pack: &crate::PackReader) -> bool {
        self.units == 0 || (self.units <= pack.len() && self.unit_fits(pack, self.units - 1))
    }

    fn unit_fits(&self, pack: &crate::PackReader, u: usize) -> bool {
        let e = self.entry(u);
        e < pack.len() && {
            let (_, at) = pack.entry_at(e);
            at.len > 0 && (at.frame, at.offset) == self.start(u)
        }
    }

    /// The units that may hold trigram `t`: those its postings name (all for an "everywhere"
    /// one, none for one in no unit), with the UTF-16 ones.
    pub fn units_with(&self, t: u32) -> Result<FrameSet, StoreError> {
        let lo = partition(self.trigrams, |i| self.key(i) < t);
        let mut s = self.always.clone();
        if lo >= self.trigrams || self.key(lo) != t {
            return Ok(s);
        }
        let listed = self.list(lo, &mut None, |u| {
            s.insert(u as usize);
            Ok(())
        })?;
        Ok(match listed {
            Some(()) => s,
            None => FrameSet::all(self.units),
        })
    }

    /// Checks the whole index against its `pack` (keys sorted; every posting decodes, in order
    /// and in range; units in storage order, each where the pack keeps its blob): for `verify`.
    pub fn check(&self, pack: &crate::PackReader) -> Result<(), StoreError> {
        let mut cache = None;
        for i in 0..self.trigrams {
            if i > 0 && (self.key(i - 1) >= self.key(i) || self.end(i - 1) > self.end(i)) {
                return Err(self.damaged(format!("keys or ends out of order at {i}")));
            }
            self.list(i, &mut cache, |_| Ok(()))?;
        }
        if self.blocks > 0 && self.block_end(self.blocks - 1) != (if self.trigrams == 0 { 0 } else { self.end(self.trigrams - 1) }, self.stored_len as u64) {
            return Err(self.damaged("the blocks do not end where the postings do".into()));
        }
        for u in 0..self.units {
            if u > 0 && self.start(u - 1) >= self.start(u) {
                return Err(self.damaged(format!("unit {u} starts before the one before it")));
            }
            if !self.unit_fits(pack, u) {
                return Err(self.damaged(format!("unit {u} at {:?} is not where the pack keeps blob {} of its index", self.start(u), self.entry(u))));
            }
        }
        Ok(())
    }

    /// The candidates of a search whose units are `keep`.
    pub fn candidates(self, keep: FrameSet) -> Candidates {
        Candidates::Units { index: std::sync::Arc::new(self), keep }
    }

    /// The unit of the blob at (frame, offset), if one is there.
    fn unit_at(&self, frame: u32, offset: u32) -> Option<usize> {
        let u = partition(self.units, |u| self.start(u) < (frame, offset));
        (u < self.units && self.start(u) == (frame, offset)).then_some(u)
    }
}

impl std::fmt::Debug for PostingsIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostingsIndex").field("path", &self.path).field("units", &self.units).field("trigrams", &self.trigrams).finish()
    }
}

/// Which blobs of a pack a search must read, from one of its trigram indexes.
#[derive(Debug, Clone)]
pub enum Candidates {
    /// By `grams.idx` unit ([`crate::PackReader::gram_unit`] of the blob's frame).
    Frames(FrameSet),
    /// By `postings.idx` unit (blob).
    Units {
        /// The index (shared by the clones a search hands to its threads).
        index: std::sync::Arc<PostingsIndex>,
        /// The units that may match.
        keep: FrameSet,
    },
}

impl Candidates {
    /// Calls `each` with every candidate blob of `pack` (in id order for `grams.idx`; for
    /// `postings.idx` in storage order, only the candidates looked at, and the empty blob,
    /// which no index rules out), until it breaks.
    pub fn each_blob(&self, pack: &crate::PackReader, each: &mut dyn FnMut(crate::Oid) -> std::ops::ControlFlow<()>) {
        match self {
            Candidates::Frames(units) => {
                for i in 0..pack.len() {
                    let (oid, e) = pack.entry_at(i);
                    if units.contains(pack.gram_unit(e.frame as usize)) && each(oid).is_break() {
                        return;
                    }
                }
            }
            Candidates::Units { index, keep } => {
                let empty = crate::Oid::for_blob(b"");
                if pack.find(&empty).is_some() && each(empty).is_break() {
                    return;
                }
                for u in keep.iter() {
                    if each(pack.entry_at(index.entry(u)).0).is_break() {
                        return;
                    }
                }
            }
        }
    }

    /// True when the blob at `offset` in `frame` of `pack`, `len` bytes, may match.
    pub fn keeps(&self, pack: &crate::PackReader, frame: u32, offset: u32, len: u32) -> bool {
        match self {
            Candidates::Frames(units) => units.contains(pack.gram_unit(frame as usize)),
            // a blob that is no unit (the empty one) is read
            Candidates::Units { index, keep } => len == 0 || index.unit_at(frame, offset).is_none_or(|u| keep.contains(u)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(dir: &Path, units: &[(u32, u32, &[u8], bool)], limit: usize) -> PostingsIndex {
        let tmp = dir.join("tmp");
        let mut w = PostingsWriter::new(&dir.join("postings.idx"), limit, &tmp);
        // `limit` below the writer's floor: force runs by spilling by hand
        let (mut seen, mut t) = (Vec::new(), Vec::new());
        for (i, (f, o, data, utf16)) in units.iter().enumerate() {
            t.clear();
            unit_trigrams([*data], &mut seen, &mut t);
            w.add_unit((*f, *o), &t, *utf16).expect("add");
            if limit == 0 && i % 3 == 2 {
                w.spill().expect("spill");
            }
        }
        assert!(seen.iter().all(|w| *w == 0), "the scratch bitmap is left clear");
        // the pack's index lists them in another order (by id): here, backwards
        w.finish(units.iter().rev().map(|u| (u.0, u.1, u.2.len() as u32))).expect("finish");
        let idx = PostingsIndex::open(dir).expect("open").expect("present");
        assert!((0..units.len()).all(|u| idx.entry(u) == units.len() - 1 - u));
        idx
    }

    #[test]
    fn postings_name_the_units_that_hold_a_trigram_in_memory_and_through_runs() {
        let units: Vec<(u32, u32, &[u8], bool)> = vec![
            (0, 0, b"import os\nfrobnicate()", false),
            (0, 100, b"def f(self):\n  pass", false),
            (0, 900, b"FROBNICATE = 1", false),
            (1, 0, b"nothing here", false),
            (2, 0, b"\xff\xfeu\x00t\x00f\x00", true),
            (2, 50, b"frob\nnicate", false),
            (3, 0, b"x = frobnicate\0after", false),
        ];
        for limit in [1 << 30, 0] {
            let dir = tempfile::tempdir().expect("tmp");
            let idx = build(dir.path(), &units, limit);
            assert_eq!(idx.units(), 7);
            assert_eq!(idx.start(5), (2, 50));
            let has = |s: &str| {
                let t = crate::trigram(s.as_bytes()[0], s.as_bytes()[1], s.as_bytes()[2]);
                let set = idx.units_with(t).expect("read");
                (0..7).filter(|u| set.contains(*u)).collect::<Vec<_>>()
            };
            // folded: FROBNICATE counts; a trigram across a newline does not, nor one past a
            // NUL byte; UTF-16 always
            assert_eq!(has("bni"), vec![0, 2, 4, 6], "limit {limit}");
            assert_eq!(has("aft"), vec![4]);
            assert_eq!(has("imp"), vec![0, 4]);
            assert_eq!(has("zzz"), vec![4], "a trigram in no unit: only the UTF-16 one");
            assert_eq!(std::fs::read_dir(dir.path().join("tmp")).map_or(0, |d| d.count()), 0, "runs removed");
        }
    }

    #[test]
    fn a_trigram_in_most_units_is_everywhere_and_candidates_map_blobs_to_units() {
        let dir = tempfile::tempdir().expect("tmp");
        let text = b"common text";
        let units: Vec<(u32, u32, &[u8], bool)> = (0..600u32).map(|i| (i / 10, (i % 10) * 100, if i == 7 { &b"rare one"[..] } else { &text[..] }, false)).collect();
        let idx = build(dir.path(), &units, 1 << 30);
        let common = idx.units_with(crate::trigram(b'c', b'o', b'm')).expect("read");
        assert_eq!(common.len(), 600, "everywhere");
        let rare = idx.units_with(crate::trigram(b'r', b'a', b'r')).expect("read");
        assert_eq!(rare.len(), 1);
        assert_eq!(idx.unit_at(0, 700), Some(7));
        assert_eq!(idx.unit_at(0, 750), None, "no blob starts there");
        let c = idx.candidates(rare);
        let Candidates::Units { index, keep } = &c else { panic!("units") };
        assert_eq!(keep.iter().collect::<Vec<_>>(), vec![7]);
        assert_eq!(index.entry(7), 600 - 1 - 7);
    }

    #[test]
    fn the_commonest_trigrams_are_dropped_early_and_stay_everywhere_through_runs() {
        let (common, sparse, late) = (crate::trigram(b'a', b'b', b'c'), crate::trigram(b'x', b'y', b'z'), crate::trigram(b'q', b'q', b'q'));
        for spill_at in [None, Some(5000u32)] {
            let dir = tempfile::tempdir().expect("tmp");
            let mut w = PostingsWriter::new(&dir.path().join("postings.idx"), 1 << 30, &dir.path().join("tmp"));
            for u in 0..12_000u32 {
                let mut t = vec![common];
                if u % 50 == 0 {
                    t.push(sparse);
                }
                if u >= 11_990 {
                    t.push(late);
                }
                w.add_unit((u, 0), &t, false).expect("add");
                if spill_at == Some(u) {
                    w.spill().expect("spill");
                }
            }
            // dropped at its 4,097th unit, before the spill: in no run, and still everywhere
            assert!(w.lists[&common].dropped, "{spill_at:?}");
            w.finish((0..12_000u32).map(|u| (u, 0, 1))).expect("finish");
            let idx = PostingsIndex::open(dir.path()).expect("open").expect("present");
            assert_eq!(idx.units_with(common).expect("read").len(), 12_000, "{spill_at:?}");
            let s = idx.units_with(sparse).expect("read");
            assert_eq!((0..12_000).filter(|u| s.contains(*u)).collect::<Vec<_>>(), (0..12_000).step_by(50).collect::<Vec<_>>(), "{spill_at:?}");
            assert_eq!(idx.units_with(late).expect("read").len(), 10);
        }
    }

    #[test]
    fn a_damaged_index_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tmp");
        build(dir.path(), &[(0, 0, b"some text here", false)], 1 << 30);
        let path = dir.path().join("postings.idx");
        let good = std::fs::read(&path).expect("read");
        for cut in [0, 5, good.len() / 2, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).expect("write");
            assert!(PostingsIndex::open(dir.path()).is_err(), "truncated at {cut}");
        }
        // a damaged table: the checksum fails at open
        let mut bad = good.clone();
        let at = bad.len() - FOOTER_LEN - 1;
        bad[at] ^= 0x55;
        std::fs::write(&path, &bad).expect("write");
        assert!(PostingsIndex::open(dir.path()).is_err(), "a damaged table");
        // a block that says it decodes to more than 64 MiB (its tables checksummed anew, as a
        // hostile shard would): refused, not allocated
        let mut bad = good.clone();
        let len = bad.len();
        let at = len - FOOTER_LEN - 16; // the last (only) block's decoded end
        let decoded = u64::from_le_bytes(bad[at..at + 8].try_into().expect("8 bytes"));
        bad[at..at + 8].copy_from_slice(&(decoded + MAX_BLOCK_BYTES + 1).to_le_bytes());
        let units = u64::from_le_bytes(bad[len - FOOTER_LEN..len - FOOTER_LEN + 8].try_into().expect("8 bytes"));
        assert_eq!(units, 1);
        let stored = u64::from_le_bytes(bad[len - FOOTER_LEN + 24..len - FOOTER_LEN + 32].try_into().expect("8 bytes"));
        let tables = 8 + stored as usize;
        assert!(units == 1 && tables < len - FOOTER_LEN);
        let crc = u64::from(crc32fast::hash(&bad[tables..len - FOOTER_LEN]));
        bad[len - FOOTER_LEN + 32..len - FOOTER_LEN + 40].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, &bad).expect("write");
        let idx = PostingsIndex::open(dir.path()).expect("the tables are sound").expect("present");
        let err = idx.units_with(crate::trigram(b's', b'o', b'm')).expect_err("refused").to_string();
        assert!(err.contains("more than 67108864"), "{err}");
        // a damaged block: found when decoded
        let mut bad = good.clone();
        bad[8] ^= 0xff;
        bad[9] ^= 0xff;
        std::fs::write(&path, &bad).expect("write");
        match PostingsIndex::open(dir.path()) {
            Ok(Some(idx)) => {
                let mut cache = None;
                assert!(idx.list(0, &mut cache, |_| Ok(())).is_err());
            }
            Ok(None) => panic!("present"),
            Err(_) => {}
        }
        // the first layout is not read (no index), not an error
        let mut old = good.clone();
        old[..8].copy_from_slice(POSTINGS_MAGIC_V1);
        std::fs::write(&path, &old).expect("write");
        assert!(PostingsIndex::open(dir.path()).expect("not an error").is_none());
    }
}
