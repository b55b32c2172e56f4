//! `rows.idx`: which rows of a shard's `files.parquet` hold each blob, so that a search whose
//! index names a few candidate blobs reads their rows, not the `hash` column of every row (a
//! cost that grows with the corpus, where the candidates do not).
//!
//! Layout (little-endian; see `docs/FORMAT.md`):
//! ```text
//! magic "PYCROWS\x01"
//! rows     per blob in key order, its row numbers as varints (the first as it is, then each
//!          minus the one before)
//! keys     blobs x 8 bytes: the first 8 bytes of each blob id, in order (two blobs may share
//!          them: a reader takes the rows of both, and the scan checks each row's hash)
//! ends     blobs x u32: where each blob's rows end in `rows`
//! chunks   ceil(body / 16 KiB) x u32: the crc32 of each 16 KiB of `rows`, `keys` and `ends`
//!          taken together (the body), the last maybe shorter
//! footer   blobs:u64 rows:u64 rows_len:u64 crc32:u64 (of `chunks` and the three words) magic
//! ```
//! A reader checks the footer at open and each chunk the first time it reads from it, so a
//! search pays for the few it touches, not for the whole file (whose size follows the shard's
//! rows: at every open of every shard, that would grow with the corpus).
//! Built at seal from the rows as `files.parquet` is written, in bounded memory (a sorter that
//! spills past its budget).

use crate::CatalogError;
use pycorpus_spill::codec::{Reader, put_var};
use pycorpus_store::Oid;
use std::io::Write;
use std::path::{Path, PathBuf};

/// First (and last) bytes of `rows.idx`.
pub const ROWS_MAGIC: &[u8; 8] = b"PYCROWS\x01";
const FOOTER_LEN: usize = 4 * 8;
/// Bytes of the body under one checksum.
const CHUNK: usize = 16 << 10;

/// Checksums of a body written in pieces, a [`CHUNK`] at a time.
#[derive(Default)]
struct Chunks {
    crcs: Vec<u8>,
    hasher: crc32fast::Hasher,
    filled: usize,
}

impl Chunks {
    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = (CHUNK - self.filled).min(bytes.len());
            self.hasher.update(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == CHUNK {
                self.close();
            }
        }
    }

    fn close(&mut self) {
        let h = std::mem::take(&mut self.hasher);
        self.crcs.extend_from_slice(&h.finalize().to_le_bytes());
        self.filled = 0;
    }

    fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            self.close();
        }
        self.crcs
    }
}
/// Bytes of a blob id kept as its key.
const KEY_LEN: usize = 8;

/// Builds `rows.idx` from (blob, row) pairs given in any order.
pub struct RowsIndexWriter {
    sorter: pycorpus_spill::Sorter,
    tmp: PathBuf,
}

impl RowsIndexWriter {
    /// A writer holding at most about `budget` bytes before it spills sorted runs under `tmp`.
    pub fn new(tmp: &Path, budget: usize) -> RowsIndexWriter {
        RowsIndexWriter { sorter: pycorpus_spill::Sorter::new(tmp, budget), tmp: tmp.to_path_buf() }
    }

    /// Row `row` of `files.parquet` holds blob `oid`.
    pub fn push(&mut self, oid: &Oid, row: u32) -> Result<(), CatalogError> {
        let mut key = [0u8; 24];
        key[..20].copy_from_slice(oid.as_bytes());
        key[20..].copy_from_slice(&row.to_be_bytes());
        self.sorter.push(&key, &[]).map_err(|e| CatalogError::Io { path: self.tmp.clone(), source: e })
    }

    /// Writes `path` (synced); returns its bytes.
    pub fn finish(self, path: &Path) -> Result<u64, CatalogError> {
        let tmp_err = |e| CatalogError::Io { path: self.tmp.clone(), source: e };
        let io = |e| CatalogError::Io { path: path.to_path_buf(), source: e };
        let mut sorted = self.sorter.finish().map_err(tmp_err)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).map_err(io)?);
        out.write_all(ROWS_MAGIC).map_err(io)?;
        let mut crc = Chunks::default();
        let (mut keys, mut ends) = (Vec::new(), Vec::new());
        let (mut rows, mut rows_len, mut last): (u64, u64, Option<(Oid, u32)>) = (0, 0, None);
        let mut buf = Vec::new();
        while let Some((k, _)) = sorted.next().map_err(tmp_err)? {
            let (oid, row) = (Oid::from_slice(&k[..20]).expect("20 bytes"), u32::from_be_bytes(k[20..24].try_into().expect("4 bytes")));
            buf.clear();
            match last {
                Some((o, r)) if o == oid => put_var(&mut buf, u64::from(row - r)),
                _ => {
                    if last.is_some() {
                        ends.extend_from_slice(&u32::try_from(rows_len).map_err(|_| bad(path, "over 4 GiB of rows"))?.to_le_bytes());
                    }
                    keys.extend_from_slice(&oid.as_bytes()[..KEY_LEN]);
                    put_var(&mut buf, u64::from(row));
                }
            }
            crc.update(&buf);
            out.write_all(&buf).map_err(io)?;
            rows += 1;
            rows_len += buf.len() as u64;
            last = Some((oid, row));
        }
        if last.is_some() {
            ends.extend_from_slice(&u32::try_from(rows_len).map_err(|_| bad(path, "over 4 GiB of rows"))?.to_le_bytes());
        }
        let blobs = (keys.len() / KEY_LEN) as u64;
        crc.update(&keys);
        crc.update(&ends);
        out.write_all(&keys).map_err(io)?;
        out.write_all(&ends).map_err(io)?;
        let chunks = crc.finish();
        out.write_all(&chunks).map_err(io)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&chunks);
        for v in [blobs, rows, rows_len] {
            crc.update(&v.to_le_bytes());
            out.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        out.write_all(&u64::from(crc.finalize()).to_le_bytes()).map_err(io)?;
        out.write_all(ROWS_MAGIC).map_err(io)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(file.metadata().map_err(io)?.len())
    }
}

fn bad(path: &Path, what: &str) -> CatalogError {
    CatalogError::Format { path: path.to_path_buf(), what: format!("rows.idx: {what}") }
}

/// An opened `rows.idx` (mapped).
pub struct RowsIndex {
    path: PathBuf,
    map: memmap2::Mmap,
    blobs: usize,
    rows: u64,
    rows_len: usize,
    /// Bytes of the body (rows, keys, ends).
    body: usize,
    /// The chunks of the body found sound so far.
    checked: std::cell::RefCell<Vec<bool>>,
}

impl RowsIndex {
    /// Opens the `rows.idx` beside the `files.parquet` at `files`; `None` when there is none
    /// (a shard sealed before it existed). A file whose sizes do not add up or whose footer
    /// fails its checksum is an error, and so is a read from a chunk that fails its own: a
    /// damaged index is never used.
    pub fn open_beside(files: &Path) -> Result<Option<RowsIndex>, CatalogError> {
        let path = files.with_file_name("rows.idx");
        let Some(map) = pycorpus_store::map_sealed_file(&path).map_err(|e| CatalogError::Io { path: path.clone(), source: e })? else { return Ok(None) };
        let len = map.len();
        if len < ROWS_MAGIC.len() * 2 + FOOTER_LEN || &map[..8] != ROWS_MAGIC || &map[len - 8..] != ROWS_MAGIC {
            return Err(bad(&path, "not a rows index (magic)"));
        }
        let word = |i: usize| u64::from_le_bytes(map[len - 8 - FOOTER_LEN + i * 8..len - 8 - FOOTER_LEN + i * 8 + 8].try_into().expect("8 bytes"));
        let (blobs, rows, rows_len, crc) = (word(0), word(1), word(2), word(3));
        let body = blobs.checked_mul((KEY_LEN + 4) as u64).and_then(|t| t.checked_add(rows_len));
        let chunks = body.map(|b| b.div_ceil(CHUNK as u64) * 4);
        let total = body.zip(chunks).and_then(|(b, c)| b.checked_add(c)).and_then(|t| t.checked_add((ROWS_MAGIC.len() * 2 + FOOTER_LEN) as u64));
        if total != Some(len as u64) || rows < blobs || rows_len < rows {
            return Err(bad(&path, "sizes do not add up (truncated or damaged)"));
        }
        let body = body.expect("checked") as usize;
        if u64::from(crc32fast::hash(&map[8 + body..len - 16])) != crc {
            return Err(bad(&path, "it fails its checksum (damaged)"));
        }
        let checked = std::cell::RefCell::new(vec![false; body.div_ceil(CHUNK)]);
        Ok(Some(RowsIndex { path, map, blobs: blobs as usize, rows, rows_len: rows_len as usize, body, checked }))
    }

    /// Number of (blob, row) pairs: the stored rows of its `files.parquet`.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes `s..e` of the body, their chunks checked (once each).
    fn body(&self, s: usize, e: usize) -> Result<&[u8], CatalogError> {
        if s > e || e > self.body {
            return Err(bad(&self.path, &format!("bytes {s}..{e} of a body of {}", self.body)));
        }
        let mut checked = self.checked.borrow_mut();
        for c in s / CHUNK..e.div_ceil(CHUNK) {
            if !checked[c] {
                let (from, to) = (c * CHUNK, ((c + 1) * CHUNK).min(self.body));
                let at = 8 + self.body + c * 4;
                let want = u32::from_le_bytes(self.map[at..at + 4].try_into().expect("4 bytes"));
                if crc32fast::hash(&self.map[8 + from..8 + to]) != want {
                    return Err(bad(&self.path, &format!("bytes {from}..{to} fail their checksum (damaged)")));
                }
                checked[c] = true;
            }
        }
        Ok(&self.map[8 + s..8 + e])
    }

    fn key(&self, i: usize) -> Result<&[u8], CatalogError> {
        let at = self.rows_len + i * KEY_LEN;
        self.body(at, at + KEY_LEN)
    }

    fn end(&self, i: usize) -> Result<usize, CatalogError> {
        let at = self.rows_len + self.blobs * KEY_LEN + i * 4;
        Ok(u32::from_le_bytes(self.body(at, at + 4)?.try_into().expect("4 bytes")) as usize)
    }

    /// Calls `each` with the rows of blob `i` (in order).
    fn rows_of_blob(&self, i: usize, each: &mut dyn FnMut(u32)) -> Result<(), CatalogError> {
        let (s, e) = (if i == 0 { 0 } else { self.end(i - 1)? }, self.end(i)?);
        if s >= e || e > self.rows_len {
            return Err(bad(&self.path, &format!("blob {i}: its rows are out of place")));
        }
        let list = self.body(s, e)?;
        let (mut r, mut row, mut first) = (Reader(list), 0u64, true);
        while !r.0.is_empty() {
            let v = r.var().ok_or_else(|| bad(&self.path, &format!("blob {i}: damaged rows")))?;
            row = if first { v } else { row + v };
            if (!first && v == 0) || row > u64::from(u32::MAX) {
                return Err(bad(&self.path, &format!("blob {i}: rows out of order")));
            }
            first = false;
            each(row as u32);
        }
        Ok(())
    }

    /// The rows that may hold one of `oids` (every row that does, and rows of blobs sharing
    /// an id's first 8 bytes), sorted and distinct.
    pub fn rows_of<'a>(&self, oids: impl Iterator<Item = &'a Oid>) -> Result<Vec<u32>, CatalogError> {
        let mut out = Vec::new();
        for oid in oids {
            let k = &oid.as_bytes()[..KEY_LEN];
            let (mut lo, mut hi) = (0, self.blobs);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if self.key(mid)? < k {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            while lo < self.blobs && self.key(lo)? == k {
                self.rows_of_blob(lo, &mut |r| out.push(r))?;
                lo += 1;
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Checks that the index is the one of rows that `hash_of_row` describes (each stored
    /// row's blob, in order; `None` for a row without one): every pair listed once, no other.
    /// For `verify`.
    pub fn check(&self, hash_of_row: &[Option<[u8; KEY_LEN]>]) -> Result<(), CatalogError> {
        // every chunk, read or not
        self.body(0, self.body)?;
        let mut seen = vec![false; hash_of_row.len()];
        let mut n = 0u64;
        for i in 0..self.blobs {
            if i > 0 && self.key(i - 1)? > self.key(i)? {
                return Err(bad(&self.path, &format!("keys out of order at {i}")));
            }
            let key: [u8; KEY_LEN] = self.key(i)?.try_into().expect("8 bytes");
            let mut wrong = None;
            self.rows_of_blob(i, &mut |r| {
                n += 1;
                match hash_of_row.get(r as usize) {
                    Some(Some(h)) if *h == key && !seen[r as usize] => seen[r as usize] = true,
                    _ => wrong = wrong.or(Some(r)),
                }
            })?;
            if let Some(r) = wrong {
                return Err(bad(&self.path, &format!("row {r} listed under a blob it does not hold")));
            }
        }
        let stored = hash_of_row.iter().filter(|h| h.is_some()).count() as u64;
        if n != self.rows || n != stored {
            return Err(bad(&self.path, &format!("it lists {n} rows ({} in its footer); files.parquet has {stored} stored", self.rows)));
        }
        Ok(())
    }
}

/// The key `rows.idx` keeps of a blob id.
pub fn rows_key(oid: &Oid) -> [u8; KEY_LEN] {
    oid.as_bytes()[..KEY_LEN].try_into().expect("8 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8, tail: u8) -> Oid {
        let mut b = [n; 20];
        b[19] = tail;
        Oid(b)
    }

    #[test]
    fn rows_of_blobs_in_memory_and_through_runs_and_damage_refused() {
        // rows 0..500 hold five blobs; two share their first 8 bytes
        let blob_of = |r: u32| match r % 5 {
            0 => oid(1, 0),
            1 => oid(1, 1),
            2 => oid(7, 0),
            3 => oid(200, 9),
            _ => oid(3, 3),
        };
        for budget in [1 << 20, 64] {
            let dir = tempfile::tempdir().expect("tmp");
            let files = dir.path().join("files.parquet");
            let mut w = RowsIndexWriter::new(&dir.path().join("tmp"), budget);
            // any order in: backwards
            for r in (0..500u32).rev() {
                w.push(&blob_of(r), r).expect("push");
            }
            w.finish(&dir.path().join("rows.idx")).expect("finish");
            let idx = RowsIndex::open_beside(&files).expect("open").expect("present");
            assert_eq!(idx.rows(), 500);
            assert_eq!(idx.rows_of([oid(7, 0)].iter()).expect("read"), (0..500).filter(|r| r % 5 == 2).collect::<Vec<_>>());
            // a shared prefix gives both blobs' rows (the scan checks the hash)
            assert_eq!(idx.rows_of([oid(1, 1)].iter()).expect("read"), (0..500).filter(|r| r % 5 < 2).collect::<Vec<_>>());
            assert!(idx.rows_of([oid(9, 9)].iter()).expect("read").is_empty());
            let hashes: Vec<Option<[u8; 8]>> = (0..502).map(|r| (r < 500).then(|| rows_key(&blob_of(r)))).collect();
            idx.check(&hashes).expect("sound");
            let mut other = hashes.clone();
            other[3] = Some(rows_key(&oid(7, 0)));
            assert!(idx.check(&other).is_err(), "a row of another blob");
            other = hashes.clone();
            other[501] = Some(rows_key(&oid(7, 0)));
            assert!(idx.check(&other).is_err(), "a row left out");
        }
        // damage anywhere: an error at open, or at the first read of its chunk (and from
        // verify's check), never a panic or a wrong answer
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = RowsIndexWriter::new(dir.path(), 1 << 20);
        (0..50u32).for_each(|r| w.push(&blob_of(r), r).expect("push"));
        let path = dir.path().join("rows.idx");
        w.finish(&path).expect("finish");
        let good = std::fs::read(&path).expect("read");
        let files = dir.path().join("files.parquet");
        let hashes: Vec<Option<[u8; 8]>> = (0..50).map(|r| Some(rows_key(&blob_of(r)))).collect();
        let all = [oid(1, 0), oid(1, 1), oid(7, 0), oid(200, 9), oid(3, 3)];
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x24;
            std::fs::write(&path, &bad).expect("write");
            if let Ok(Some(idx)) = RowsIndex::open_beside(&files) {
                assert!(idx.rows_of(all.iter()).is_err(), "a byte changed at {at}: read");
                assert!(idx.check(&hashes).is_err(), "a byte changed at {at}: checked");
            }
        }
        for cut in [0, 8, good.len() / 2, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).expect("write");
            assert!(RowsIndex::open_beside(&files).is_err(), "cut at {cut}");
        }
        std::fs::remove_file(&path).expect("rm");
        assert!(RowsIndex::open_beside(&files).expect("none").is_none());
    }

    #[test]
    fn a_read_checks_only_the_chunks_it_touches() {
        // 20,000 blobs of 3 rows: a body of several chunks
        let dir = tempfile::tempdir().expect("tmp");
        let blob = |b: u32| Oid::for_blob(&b.to_le_bytes());
        let mut w = RowsIndexWriter::new(dir.path(), 1 << 24);
        (0..60_000u32).for_each(|r| w.push(&blob(r % 20_000), r).expect("push"));
        let path = dir.path().join("rows.idx");
        w.finish(&path).expect("finish");
        let files = dir.path().join("files.parquet");
        let idx = RowsIndex::open_beside(&files).expect("open").expect("present");
        assert!(idx.body > 4 * CHUNK, "{} bytes", idx.body);
        assert_eq!(idx.rows_of([blob(7)].iter()).expect("read"), vec![7, 20_007, 40_007]);
        let touched = idx.checked.borrow().iter().filter(|c| **c).count();
        assert!(touched * 2 < idx.checked.borrow().len(), "{touched} chunks checked for one blob");
        // a byte changed in the second chunk: reading every blob's rows fails, and so does
        // verify's check
        let mut bad = std::fs::read(&path).expect("read");
        bad[8 + CHUNK + 100] ^= 1;
        std::fs::write(&path, &bad).expect("write");
        let idx = RowsIndex::open_beside(&files).expect("the footer is sound").expect("present");
        let blobs: Vec<Oid> = (0..20_000).map(blob).collect();
        assert!(idx.rows_of(blobs.iter()).is_err());
        let hashes: Vec<Option<[u8; 8]>> = (0..60_000).map(|r| Some(rows_key(&blob(r % 20_000)))).collect();
        assert!(idx.check(&hashes).is_err());
    }
}
