//! `postings.idx`: which blobs of a pack contain each trigram, so that a search decodes and
//! scans only the blobs that can match, not whole frames.
//!
//! Each non-empty blob is a *unit*, numbered in storage order (a frame's blobs by offset, then
//! the delta frames); an empty blob is in none and read by every search (it costs nothing).
//! Trigrams are the blob's bytes as they are (`ProtocolError`'s `lEr` is rare where `ler` is
//! everywhere; a case-insensitive search asks for every case of each trigram), without
//! newlines, up to the blob's first NUL byte: a search reads a blob holding one as ripgrep
//! reads a file, which stops before it, so nothing past it can match. A trigram
//! found in more than one unit in [`EVERYWHERE_SHARE`] (and in more than [`EVERYWHERE_FLOOR`]
//! units) is kept as "everywhere" without a posting: it rules nothing out worth its bytes.
//! Measured on corpus-v1 as one shard (102,203 blobs, 677,000 exact trigrams): a twenty-fifth
//! took 41.3 MB, a fortieth 35.5 MB, a forty-fifth (this) 33.8 MB with about the same candidates for our benchmark's patterns, a
//! fiftieth 32.6 MB but `sklearn\.ensemble` left 827 candidate blobs instead of 162 (129
//! hold it); folded trigrams, their keys in a table, took 35.0 MB at a twenty-fifth but ruled nothing out for
//! `ProtocolError` (every folded trigram of it is everywhere; exact ones leave 316 candidates
//! for 239 holders). The first layout's units of 16 KiB of blobs took 26 MB but left searches
//! up to 10 times the candidates. A UTF-16 blob is read by every search (see `grams.idx`).
//!
//! Layout (little-endian; tables after the postings, so the file is written in one pass):
//! ```text
//! magic "PYCPOST\x02"
//! blocks          zstd frames back to back (with their decoded size and a checksum), each of
//!                 whole lists (at least BLOCK_BYTES of them, but the last): per trigram in key
//!                 order, varints: the trigram (the block's first as it is, then each minus the
//!                 one before), its number of units, its units (the first as it is, then each
//!                 minus the one before). "Everywhere" trigrams are not listed
//! entries         units x u32: each unit's blob's place in blobs.idx (so a search names its
//!                 candidate blobs without a look at the others)
//! always          ceil(units / 8) bytes: bit u of byte u / 8, the unit is UTF-16
//! everywhere      everywhere x u32: the everywhere trigrams, sorted
//! block_keys      blocks x u32: each block's first trigram
//! block_ends      blocks x u64: where each block ends (from the end of the magic)
//! footer          units:u64 everywhere:u64 blocks:u64 stored_len:u64 tables_crc32:u64
//!                 (of everything from `entries` to `block_ends`) magic "PYCPOST\x02"
//! ```
//! A search decodes the block of each trigram it asks for (64 KiB): keys live compressed in the
//! blocks, 2 to 3 bytes each rather than 12 in a table (corpus-v1 has 677,000 trigrams). An index of an
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
pub const EVERYWHERE_SHARE: usize = 45;
/// ... and in more than this many units (small packs keep every posting).
pub const EVERYWHERE_FLOOR: usize = 256;
/// Decoded bytes of one block at most: a block past it is damaged (or hostile), not decoded.
/// Blocks close at the first list boundary past [`BLOCK_BYTES`], so only a list of millions of
/// units comes near it.
const MAX_BLOCK_BYTES: u64 = 64 << 20;
/// zstd level of the blocks.
const BLOCK_LEVEL: i32 = 9;
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

/// The distinct trigrams of a blob (without newlines, up to its first NUL byte; ASCII-lowercased
/// when `fold`), appended to `out` unsorted; `seen` is a scratch bitmap of 2^24 bits, all
/// clear before and after.
pub(crate) fn unit_trigrams(data: &[u8], fold: bool, seen: &mut Vec<u64>, out: &mut Vec<u32>) {
    if seen.is_empty() {
        seen.resize((1 << 24) / 64, 0);
    }
    let start = out.len();
    let (mut w, mut n) = (0u32, 0usize);
    // nothing past a NUL byte is searched (see the module's doc)
    let data = &data[..memchr::memchr(0, data).unwrap_or(data.len())];
    for &b in data {
        w = (w << 8 | if fold { crate::fold(b) } else { b } as u32) & 0xff_ffff;
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
    for &t in &out[start..] {
        seen[(t >> 6) as usize] &= !(1 << (t & 63));
    }
}

/// A trigram ASCII-lowercased (what `grams.idx` keeps of an exact one).
pub(crate) fn fold_trigram(t: u32) -> u32 {
    let b = |shift: u32| crate::fold((t >> shift) as u8);
    crate::trigram(b(16), b(8), b(0))
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
        let mut everywhere: Vec<u32> = Vec::new();
        // the block being filled (its first key, its last), and each block's first key and end
        let mut block: Vec<u8> = Vec::new();
        let (mut block_keys, mut block_ends): (Vec<u32>, Vec<u64>) = (Vec::new(), Vec::new());
        let mut last_key: Option<u32> = None;
        let mut stored = 0u64;
        let mut compressor = zstd::bulk::Compressor::new(BLOCK_LEVEL).map_err(io)?;
        // each block checked as it is decoded
        compressor.include_checksum(true).map_err(io)?;
        let mut flush = |out: &mut BufWriter<std::fs::File>, block: &mut Vec<u8>, stored: &mut u64, block_ends: &mut Vec<u64>| -> Result<(), StoreError> {
            if block.is_empty() {
                return Ok(());
            }
            let packed = compressor.compress(block).map_err(io)?;
            out.write_all(&packed).map_err(io)?;
            *stored += packed.len() as u64;
            block_ends.push(*stored);
            block.clear();
            Ok(())
        };
        let mut put = |out: &mut BufWriter<std::fs::File>, key: u32, n: u64, parts: &mut dyn Iterator<Item = (u32, Vec<u8>)>| -> Result<(), StoreError> {
            if n > threshold || dropped.contains_key(&key) {
                everywhere.push(key);
                return Ok(());
            }
            if block.is_empty() {
                block_keys.push(key);
                put_var(&mut block, u64::from(key));
            } else {
                put_var(&mut block, u64::from(key - last_key.expect("a key before, in this block")));
            }
            last_key = Some(key);
            put_var(&mut block, n);
            // each part's first unit is as it is; after the first part, it becomes a gap
            let mut prev_last: Option<u32> = None;
            for (last, bytes) in parts {
                let mut r = Reader(&bytes);
                let first = r.var().ok_or_else(|| StoreError::Format { path: path.clone(), what: "a damaged postings run".into() })?;
                put_var(&mut block, prev_last.map_or(first, |p| first - u64::from(p)));
                block.extend_from_slice(r.0);
                prev_last = Some(last);
            }
            if block.len() >= BLOCK_BYTES {
                flush(out, &mut block, &mut stored, &mut block_ends)?;
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
        flush(&mut out, &mut block, &mut stored, &mut block_ends)?;
        // the tables, with their checksum in the footer
        let mut tables = Vec::with_capacity(entries.len() * 4 + units.div_ceil(8) + everywhere.len() * 4 + block_ends.len() * 12);
        entries.iter().for_each(|e| tables.extend_from_slice(&e.to_le_bytes()));
        tables.extend_from_slice(&bits(&self.always));
        everywhere.iter().for_each(|k| tables.extend_from_slice(&k.to_le_bytes()));
        block_keys.iter().for_each(|k| tables.extend_from_slice(&k.to_le_bytes()));
        block_ends.iter().for_each(|e| tables.extend_from_slice(&e.to_le_bytes()));
        out.write_all(&tables).map_err(io)?;
        for v in [units as u64, everywhere.len() as u64, block_ends.len() as u64, stored, u64::from(crc32fast::hash(&tables))] {
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

/// The length of the first `n` varints of `data` (a varint ends at its first byte under
/// 0x80), or `None` when it holds fewer.
fn skip_varints(data: &[u8], n: u64) -> Option<usize> {
    let mut left = n;
    let mut at = 0;
    // whole chunks while they end fewer varints than are left (a count the compiler
    // vectorizes), then byte by byte
    for chunk in data.chunks_exact(32) {
        let ends = chunk.iter().filter(|&&b| b < 0x80).count() as u64;
        if ends >= left {
            break;
        }
        left -= ends;
        at += 32;
    }
    for (i, &b) in data[at..].iter().enumerate() {
        if b < 0x80 {
            left -= 1;
            if left == 0 {
                return Some(at + i + 1);
            }
        }
    }
    None
}

/// The magic of the first layout (a unit per 16 KiB of blobs), no longer read.
const POSTINGS_MAGIC_V1: &[u8; 8] = b"PYCPOST\x01";

/// Blocks of a [`PostingsIndex`] decoded lately, for the trigrams of one query: a
/// case-insensitive one asks for every case of each (`FRO`, `FRo`, `FrO`, ...), and cases
/// that differ after the first letter lie in one block. At 16x (61 shards) `FROBNICATE -i`
/// decoded 64 blocks per shard. Held by the caller, so it lives as long as the query.
#[derive(Default)]
pub struct BlockCache {
    blocks: Vec<(usize, Vec<u8>)>,
}

impl BlockCache {
    /// Blocks kept (64 KiB each).
    const BLOCKS: usize = 8;
}

/// An opened `postings.idx` (mapped).
pub struct PostingsIndex {
    path: PathBuf,
    map: memmap2::Mmap,
    units: usize,
    everywhere: usize,
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
        let Some(map) = crate::map_sealed_file(&path).map_err(|e| StoreError::io(&path, e))? else { return Ok(None) };
        let bad = |what: &str| StoreError::Format { path: path.clone(), what: format!("postings.idx: {what}") };
        let len = map.len();
        if map.starts_with(POSTINGS_MAGIC_V1) {
            return Ok(None);
        }
        if len < POSTINGS_MAGIC.len() + FOOTER_LEN || &map[..8] != POSTINGS_MAGIC || &map[len - 8..] != POSTINGS_MAGIC {
            return Err(bad("not a postings index (magic)"));
        }
        let word = |i: usize| u64::from_le_bytes(map[len - FOOTER_LEN + i * 8..len - FOOTER_LEN + i * 8 + 8].try_into().expect("8 bytes"));
        let (units, everywhere, blocks, stored_len, crc) = (word(0), word(1), word(2), word(3), word(4));
        let sizes = [Some(8), Some(stored_len), units.checked_mul(4), Some(units.div_ceil(8)), everywhere.checked_mul(4), blocks.checked_mul(12), Some(FOOTER_LEN as u64)];
        let total = sizes.iter().try_fold(0u64, |t, v| v.and_then(|v| t.checked_add(v)));
        if total != Some(len as u64) {
            return Err(bad("sizes do not add up (truncated or damaged)"));
        }
        let mut idx = PostingsIndex {
            path: path.clone(),
            map,
            units: units as usize,
            everywhere: everywhere as usize,
            blocks: blocks as usize,
            stored_len: stored_len as usize,
            always: FrameSet::none(units as usize),
        };
        if u64::from(crc32fast::hash(&idx.map[idx.entries_at()..len - FOOTER_LEN])) != crc {
            return Err(bad("its tables fail their checksum (damaged)"));
        }
        let always: Vec<usize> = (0..idx.units).filter(|&u| idx.map[idx.always_at() + u / 8] & (1 << (u % 8)) != 0).collect();
        always.into_iter().for_each(|u| idx.always.insert(u));
        Ok(Some(idx))
    }

    fn entries_at(&self) -> usize {
        8 + self.stored_len
    }
    fn always_at(&self) -> usize {
        self.entries_at() + self.units * 4
    }
    fn everywhere_at(&self) -> usize {
        self.always_at() + self.units.div_ceil(8)
    }
    fn block_keys_at(&self) -> usize {
        self.everywhere_at() + self.everywhere * 4
    }
    fn block_ends_at(&self) -> usize {
        self.block_keys_at() + self.blocks * 4
    }
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.map[at..at + 4].try_into().expect("4 bytes"))
    }
    /// Where block `b` ends in the file (from the end of the magic).
    fn block_end(&self, b: usize) -> u64 {
        let at = self.block_ends_at() + b * 8;
        u64::from_le_bytes(self.map[at..at + 8].try_into().expect("8 bytes"))
    }
    fn block_key(&self, b: usize) -> u32 {
        self.u32_at(self.block_keys_at() + b * 4)
    }
    fn everywhere_key(&self, i: usize) -> u32 {
        self.u32_at(self.everywhere_at() + i * 4)
    }

    fn damaged(&self, what: String) -> StoreError {
        StoreError::Format { path: self.path.clone(), what: format!("postings.idx: {what}") }
    }

    /// Block `b` decoded.
    fn block(&self, b: usize) -> Result<Vec<u8>, StoreError> {
        let s0 = if b == 0 { 0 } else { self.block_end(b - 1) };
        let s1 = self.block_end(b);
        if s1 < s0 || s1 as usize > self.stored_len {
            return Err(self.damaged(format!("block {b} out of place")));
        }
        let packed = &self.map[8 + s0 as usize..8 + s1 as usize];
        match zstd::zstd_safe::get_frame_content_size(packed) {
            Ok(Some(n)) if n <= MAX_BLOCK_BYTES => zstd::bulk::decompress(packed, n as usize).map_err(|e| self.damaged(format!("block {b}: {e}"))),
            Ok(Some(n)) => Err(self.damaged(format!("block {b} says it decodes to {n} bytes, more than {MAX_BLOCK_BYTES}"))),
            _ => Err(self.damaged(format!("block {b}: not a zstd frame with its size"))),
        }
    }

    /// Calls `each` with every list of block `b` (its trigram and units, in order), until it
    /// returns false; checks the block's keys follow `after`, and returns its last key.
    fn walk_block(&self, b: usize, after: Option<u32>, each: &mut dyn FnMut(u32, &[u32]) -> bool) -> Result<Option<u32>, StoreError> {
        self.walk_decoded(b, &self.block(b)?, after, None, each)
    }

    /// [`Self::walk_block`] over block `b` decoded already (`data`). With `only`, the
    /// postings of other trigrams are stepped over, not decoded or checked (the block's zstd
    /// checksum covers them), and `each` sees that trigram's alone: a lookup walked every
    /// posting before its own, a third of a case-insensitive search at 16x.
    fn walk_decoded(&self, b: usize, data: &[u8], after: Option<u32>, only: Option<u32>, each: &mut dyn FnMut(u32, &[u32]) -> bool) -> Result<Option<u32>, StoreError> {
        let mut r = Reader(data);
        let (mut key, mut units) = (None::<u32>, Vec::new());
        while !r.0.is_empty() {
            let bad = |what: &str| self.damaged(format!("block {b}: {what}"));
            let v = r.var().ok_or_else(|| bad("a damaged key"))?;
            let k = match key {
                None => u32::try_from(v).ok().filter(|&k| k == self.block_key(b)).ok_or_else(|| bad("its first key is not the one its table gives"))?,
                Some(k) => u32::try_from(v).ok().filter(|&d| d > 0).and_then(|d| k.checked_add(d)).ok_or_else(|| bad("keys out of order"))?,
            };
            if after.is_some_and(|a| a >= k) || k > 0xff_ffff {
                return Err(bad("keys out of order"));
            }
            key = Some(k);
            let n = r.var().ok_or_else(|| bad("a damaged count"))?;
            if n == 0 || n > self.units as u64 {
                return Err(bad(&format!("trigram {k:06x} in {n} of {} units", self.units)));
            }
            if let Some(t) = only
                && k != t
            {
                if k > t {
                    break;
                }
                let len = skip_varints(r.0, n).ok_or_else(|| bad(&format!("trigram {k:06x}: a damaged posting")))?;
                r.0 = &r.0[len..];
                continue;
            }
            units.clear();
            let mut unit = 0u64;
            for i in 0..n {
                let d = r.var().ok_or_else(|| bad(&format!("trigram {k:06x}: a damaged posting")))?;
                if i > 0 && d == 0 {
                    return Err(bad(&format!("trigram {k:06x}: a unit twice")));
                }
                unit = if i == 0 { d } else { unit.saturating_add(d) };
                if unit >= self.units as u64 {
                    return Err(bad(&format!("trigram {k:06x}: unit {unit} of {}", self.units)));
                }
                units.push(unit as u32);
            }
            if !each(k, &units) {
                break;
            }
        }
        Ok(key)
    }

    /// Number of units.
    pub fn units(&self) -> usize {
        self.units
    }

    /// Unit `u`'s blob's place in `blobs.idx`.
    pub fn entry(&self, u: usize) -> usize {
        self.u32_at(self.entries_at() + u * 4) as usize
    }

    /// Units that hold UTF-16 blobs (read by every search).
    pub fn always(&self) -> &FrameSet {
        &self.always
    }

    /// True when the index can be the one of `pack` (as many units as the pack has blobs with
    /// contents, its last one of them): an index that does not fit its pack is not used.
    /// [`Self::check`] checks every unit.
    pub fn fits(&self, pack: &crate::PackReader) -> bool {
        self.units <= pack.len() && (self.units == 0 || self.entry(self.units - 1) < pack.len())
    }

    /// The units that may hold trigram `t`: those its postings name (all for an "everywhere"
    /// one, none for one in no unit), with the UTF-16 ones.
    pub fn units_with(&self, t: u32) -> Result<FrameSet, StoreError> {
        self.units_with_in(t, &mut BlockCache::default())
    }

    /// [`Self::units_with`], keeping the blocks it decodes in `cache` for the next trigrams
    /// of the same query.
    pub fn units_with_in(&self, t: u32, cache: &mut BlockCache) -> Result<FrameSet, StoreError> {
        if partition(self.everywhere, |i| self.everywhere_key(i) < t) < self.everywhere && self.everywhere_key(partition(self.everywhere, |i| self.everywhere_key(i) < t)) == t {
            return Ok(FrameSet::all(self.units));
        }
        let mut s = self.always.clone();
        // the last block whose first key is at most t
        let b = partition(self.blocks, |b| self.block_key(b) <= t);
        if b == 0 {
            return Ok(s);
        }
        let at = match cache.blocks.iter().position(|(n, _)| *n == b - 1) {
            Some(at) => at,
            None => {
                if cache.blocks.len() == BlockCache::BLOCKS {
                    cache.blocks.remove(0);
                }
                cache.blocks.push((b - 1, self.block(b - 1)?));
                cache.blocks.len() - 1
            }
        };
        self.walk_decoded(b - 1, &cache.blocks[at].1, None, Some(t), &mut |k, units| {
            if k == t {
                units.iter().for_each(|&u| s.insert(u as usize));
            }
            k < t
        })?;
        Ok(s)
    }

    /// Checks the whole index against its `pack` (every posting decodes, keys in order and in
    /// one place, units in range; units in storage order, one for each blob with contents):
    /// for `verify`.
    pub fn check(&self, pack: &crate::PackReader) -> Result<(), StoreError> {
        let mut last = None;
        for i in 1..self.everywhere {
            if self.everywhere_key(i - 1) >= self.everywhere_key(i) {
                return Err(self.damaged(format!("everywhere trigrams out of order at {i}")));
            }
        }
        let mut twice = None;
        for b in 0..self.blocks {
            last = self.walk_block(b, last, &mut |k, _| {
                if twice.is_none()
                    && partition(self.everywhere, |i| self.everywhere_key(i) < k) < self.everywhere
                    && self.everywhere_key(partition(self.everywhere, |i| self.everywhere_key(i) < k)) == k
                {
                    twice = Some(k);
                }
                true
            })?;
        }
        if let Some(k) = twice {
            return Err(self.damaged(format!("trigram {k:06x} is everywhere and listed")));
        }
        if self.blocks > 0 && self.block_end(self.blocks - 1) != self.stored_len as u64 {
            return Err(self.damaged("the blocks do not end where the postings do".into()));
        }
        let with_contents = (0..pack.len()).filter(|&i| pack.entry_at(i).1.len > 0).count();
        if self.units != with_contents {
            return Err(self.damaged(format!("{} units for {with_contents} blobs with contents", self.units)));
        }
        let mut prev = None;
        for u in 0..self.units {
            let e = self.entry(u);
            if e >= pack.len() {
                return Err(self.damaged(format!("unit {u}: blob {e} of {}", pack.len())));
            }
            let at = pack.entry_at(e).1;
            if at.len == 0 || prev.is_some_and(|p| p >= (at.frame, at.offset)) {
                return Err(self.damaged(format!("unit {u} (blob {e}) is not the pack's next blob with contents")));
            }
            prev = Some((at.frame, at.offset));
        }
        Ok(())
    }

    /// The candidates of a search of `pack` whose units are `keep`.
    pub fn candidates(self, keep: FrameSet, pack: &crate::PackReader) -> Candidates {
        let mut places: Vec<(u32, u32)> = keep.iter().map(|u| self.entry(u)).filter(|&e| e < pack.len()).map(|e| pack.entry_at(e).1).map(|e| (e.frame, e.offset)).collect();
        places.sort_unstable();
        Candidates::Units { index: std::sync::Arc::new(self), keep, places }
    }
}

impl std::fmt::Debug for PostingsIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostingsIndex").field("path", &self.path).field("units", &self.units).field("blocks", &self.blocks).finish()
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
        /// Where their blobs are in the pack (frame, offset), sorted.
        places: Vec<(u32, u32)>,
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
            Candidates::Units { index, keep, .. } => {
                let empty = crate::Oid::for_blob(b"");
                if pack.find(&empty).is_some() && each(empty).is_break() {
                    return;
                }
                for u in keep.iter().filter(|&u| index.entry(u) < pack.len()) {
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
            Candidates::Units { places, .. } => len == 0 || places.binary_search(&(frame, offset)).is_ok(),
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
            unit_trigrams(data, false, &mut seen, &mut t);
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
        walk_all(&idx);
        idx
    }

    /// Every list of every block, checked (what `check` does without a pack).
    fn walk_all(idx: &PostingsIndex) -> Vec<(u32, Vec<u32>)> {
        let (mut out, mut last) = (Vec::new(), None);
        for b in 0..idx.blocks {
            last = idx
                .walk_block(b, last, &mut |k, units| {
                    out.push((k, units.to_vec()));
                    true
                })
                .expect("sound");
        }
        out
    }

    /// One query's lookups share the blocks they decode, in any order: every `step`-th trigram
    /// through one cache gives what the full walk lists (with the `always` units).
    fn lookups_match_the_walk(idx: &PostingsIndex, always: &[usize], step: usize) {
        let mut lists: Vec<_> = walk_all(idx).into_iter().step_by(step).collect();
        let mut cache = BlockCache::default();
        for _ in 0..2 {
            for (k, list) in &lists {
                let set = idx.units_with_in(*k, &mut cache).expect("read");
                let want: Vec<usize> = (0..idx.units()).filter(|&u| list.contains(&(u as u32)) || always.contains(&u)).collect();
                assert_eq!((0..idx.units()).filter(|&u| set.contains(u)).collect::<Vec<_>>(), want, "{k:06x}");
            }
            lists.reverse();
        }
    }

    #[test]
    fn lookups_through_more_blocks_than_a_cache_keeps() {
        // three units of varied bytes: ~180,000 trigrams, some blocks more than BlockCache keeps
        let mut x = 12345u32;
        let texts: Vec<Vec<u8>> = (0..3)
            .map(|_| {
                (0..60_000)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        (x >> 16) as u8 % 250 + 2
                    })
                    .map(|b| if b == b'\n' { b'x' } else { b })
                    .collect()
            })
            .collect();
        let units: Vec<(u32, u32, &[u8], bool)> = texts.iter().enumerate().map(|(i, t)| (i as u32, 0, t.as_slice(), false)).collect();
        let dir = tempfile::tempdir().expect("tmp");
        let idx = build(dir.path(), &units, 1 << 30);
        assert!(idx.blocks > BlockCache::BLOCKS, "{} blocks", idx.blocks);
        lookups_match_the_walk(&idx, &[], 997);
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
            let has = |s: &str| {
                let t = crate::trigram(s.as_bytes()[0], s.as_bytes()[1], s.as_bytes()[2]);
                let set = idx.units_with(t).expect("read");
                (0..7).filter(|u| set.contains(*u)).collect::<Vec<_>>()
            };
            // exact: FROBNICATE is another trigram; a trigram across a newline does not count,
            // nor one past a NUL byte; UTF-16 always
            assert_eq!(has("bni"), vec![0, 4, 6], "limit {limit}");
            assert_eq!(has("BNI"), vec![2, 4], "limit {limit}");
            assert_eq!(has("aft"), vec![4]);
            assert_eq!(has("imp"), vec![0, 4]);
            assert_eq!(has("zzz"), vec![4], "a trigram in no unit: only the UTF-16 one");
            lookups_match_the_walk(&idx, &[4], 1);
            assert_eq!(std::fs::read_dir(dir.path().join("tmp")).map_or(0, |d| d.count()), 0, "runs removed");
        }
    }

    #[test]
    fn skipping_varints_lands_where_reading_them_does() {
        // lists of one to 300 varints of one to three bytes, past chunk edges
        let mut data = Vec::new();
        let mut ends = Vec::new();
        for i in 0..3000u64 {
            put_var(&mut data, (i * 7919) % (1 << (7 * (1 + i % 3))));
            ends.push(data.len());
        }
        for n in [1u64, 2, 31, 32, 33, 64, 299, 300, 2999, 3000] {
            assert_eq!(skip_varints(&data, n), Some(ends[n as usize - 1]), "{n}");
            let mut r = Reader(&data);
            (0..n).for_each(|_| _ = r.var().expect("var"));
            assert_eq!(data.len() - r.0.len(), ends[n as usize - 1]);
        }
        assert_eq!(skip_varints(&data, 3001), None, "fewer than asked");
        assert_eq!(skip_varints(&data[..ends[40] - 1], 41), None, "the last one cut");
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
        assert_eq!(rare.iter().collect::<Vec<_>>(), vec![7]);
        assert_eq!(idx.entry(7), 600 - 1 - 7);
        // the common trigrams are in no block
        let listed = walk_all(&idx);
        assert!(listed.iter().all(|(k, _)| *k != crate::trigram(b'c', b'o', b'm')) && listed.iter().any(|(k, u)| *k == crate::trigram(b'r', b'a', b'r') && u == &[7]));
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
        // a block that says it decodes to more than 64 MiB (put in place of the only one, the
        // tables checksummed anew, as a hostile shard would): refused, not allocated
        let len = good.len();
        let word = |i: usize| u64::from_le_bytes(good[len - FOOTER_LEN + i * 8..len - FOOTER_LEN + i * 8 + 8].try_into().expect("8 bytes"));
        let (units, blocks, stored) = (word(0), word(2), word(3) as usize);
        assert!(units == 1 && blocks == 1);
        let huge = zstd::bulk::compress(&vec![0u8; (MAX_BLOCK_BYTES + 1) as usize], 1).expect("compress");
        let mut tables = good[8 + stored..len - FOOTER_LEN].to_vec();
        let end = tables.len() - 8;
        tables[end..].copy_from_slice(&(huge.len() as u64).to_le_bytes());
        let mut bad = POSTINGS_MAGIC.to_vec();
        bad.extend_from_slice(&huge);
        bad.extend_from_slice(&tables);
        for v in [units, word(1), blocks, huge.len() as u64, u64::from(crc32fast::hash(&tables))] {
            bad.extend_from_slice(&v.to_le_bytes());
        }
        bad.extend_from_slice(POSTINGS_MAGIC);
        std::fs::write(&path, &bad).expect("write");
        let idx = PostingsIndex::open(dir.path()).expect("the tables are sound").expect("present");
        let err = idx.units_with(crate::trigram(b's', b'o', b'm')).expect_err("refused").to_string();
        assert!(err.contains("more than 67108864"), "{err}");
        // a damaged block: found when decoded
        let mut bad = good.clone();
        bad[12] ^= 0xff;
        bad[13] ^= 0xff;
        std::fs::write(&path, &bad).expect("write");
        match PostingsIndex::open(dir.path()) {
            Ok(Some(idx)) => assert!(idx.walk_block(0, None, &mut |_, _| true).is_err()),
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
