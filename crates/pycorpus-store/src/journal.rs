//! The open shard: an append-only journal that survives `kill -9` at any point.
//!
//! Layout of `journal.log` (all integers little-endian):
//!
//! ```text
//! header  := "PYCJRNL" 0x01                       (8 bytes: magic, format version)
//! record  := kind:u8 len:u32 payload[len] crc:u32   (crc32 of kind, len and payload)
//! kind 1  =  blob:   oid[20] raw_len:u32 zstd(contents)
//! kind 2  =  commit: an opaque payload from the caller (the rows of one distribution)
//! ```
//!
//! The writer appends the blobs of a distribution, then its commit record, then syncs. A
//! commit is therefore only ever written after every blob it refers to. On open the journal is
//! scanned and every record checked; the first torn or corrupt record and everything after it
//! is cut off. Blobs after the last commit survive but no row refers to them, and sealing keeps
//! only referenced blobs, so an interrupted run leaves no trace in the sealed shard.

use crate::{Oid, StoreError};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// First bytes of a journal file.
pub const JOURNAL_MAGIC: &[u8; 8] = b"PYCJRNL\x01";
const KIND_BLOB: u8 = 1;
const KIND_COMMIT: u8 = 2;
/// Largest record accepted (a guard against a corrupt length field).
const MAX_RECORD: u32 = 1 << 30;

/// Where a blob lives in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalBlob {
    /// Offset of the compressed contents in the file.
    pub offset: u64,
    /// Compressed length.
    pub compressed_len: u32,
    /// Contents length.
    pub len: u32,
}

/// Where a commit record's payload lives in the journal. Opening keeps these, not the
/// payloads: a full shard's commits (every file row of every distribution) are tens of MB,
/// and each reader decodes them one at a time ([`Journal::read_commit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalCommit {
    /// Offset of the payload in the file.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
}

/// What opening a journal found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Commit records, in the order they were written.
    pub commits: Vec<JournalCommit>,
    /// Bytes cut from a torn or corrupt tail (0 after a clean stop).
    pub truncated_bytes: u64,
    /// Blobs written after the last commit (left by an interrupted run; never indexed).
    pub uncommitted_blobs: u64,
}

/// An open shard's journal.
pub struct Journal {
    path: PathBuf,
    /// `None` when opened read-only.
    out: Option<BufWriter<File>>,
    reader: File,
    len: u64,
    blobs: HashMap<Oid, JournalBlob>,
    raw_bytes: u64,
    durable: bool,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`, recovering from any interrupted
    /// write. With `durable`, every commit is flushed to stable storage before it returns.
    pub fn open(path: &Path, durable: bool) -> Result<(Journal, Recovery), StoreError> {
        Journal::open_mode(path, Some(durable))
    }

    /// Opens an existing journal for reading only: nothing is created or cut, so this is safe
    /// while another process appends (a torn tail is simply not read).
    pub fn open_read_only(path: &Path) -> Result<(Journal, Recovery), StoreError> {
        Journal::open_mode(path, None)
    }

    fn open_mode(path: &Path, write: Option<bool>) -> Result<(Journal, Recovery), StoreError> {
        let io = |e| StoreError::io(path, e);
        if write.is_none() {
            let file = File::open(path).map_err(io)?;
            let mut magic = [0u8; 8];
            file.read_exact_at(&mut magic, 0).map_err(|_| StoreError::Format { path: path.to_path_buf(), what: "not a pycorpus journal (too short)".into() })?;
            if &magic != JOURNAL_MAGIC {
                return Err(StoreError::Format { path: path.to_path_buf(), what: "not a pycorpus journal (bad magic)".into() });
            }
            let (blobs, recovery, good_len, raw_bytes) = scan(&file, path)?;
            return Ok((Journal { path: path.to_path_buf(), out: None, reader: file, len: good_len, blobs, raw_bytes, durable: false }, recovery));
        }
        let durable = write.unwrap_or(false);
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        if file_len < JOURNAL_MAGIC.len() as u64 {
            // New, or torn while writing the header: nothing can have been committed.
            file.set_len(0).map_err(io)?;
            file.write_all(JOURNAL_MAGIC).map_err(io)?;
            file.sync_all().map_err(io)?;
        } else {
            let mut magic = [0u8; 8];
            file.read_exact_at(&mut magic, 0).map_err(io)?;
            if &magic != JOURNAL_MAGIC {
                return Err(StoreError::Format { path: path.to_path_buf(), what: "not a pycorpus journal (bad magic)".into() });
            }
        }
        let (blobs, recovery, good_len, raw_bytes) = scan(&file, path)?;
        if good_len < file.metadata().map_err(io)?.len() {
            file.set_len(good_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::Start(good_len)).map_err(io)?;
        let reader = file.try_clone().map_err(io)?;
        let journal = Journal { path: path.to_path_buf(), out: Some(BufWriter::with_capacity(1 << 20, file)), reader, len: good_len, blobs, raw_bytes, durable };
        Ok((journal, recovery))
    }

    /// True when the journal holds this blob.
    pub fn contains(&self, oid: &Oid) -> bool {
        self.blobs.contains_key(oid)
    }

    /// Number of distinct blobs held.
    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    /// Total uncompressed bytes of the blobs held.
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Size of the journal file in bytes.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Every blob and where it is.
    pub fn blobs(&self) -> impl Iterator<Item = (&Oid, &JournalBlob)> {
        self.blobs.iter()
    }

    /// Appends a blob whose contents the caller already compressed with zstd (so that
    /// compression runs on the worker threads). A blob already held is not written again;
    /// returns whether it was written.
    pub fn append_blob(&mut self, oid: Oid, len: u32, compressed: &[u8]) -> Result<bool, StoreError> {
        if self.blobs.contains_key(&oid) {
            return Ok(false);
        }
        let mut head = [0u8; 24];
        head[..20].copy_from_slice(&oid.0);
        head[20..].copy_from_slice(&len.to_le_bytes());
        let offset = self.write_record(KIND_BLOB, &[&head, compressed])? + 5 + 24;
        let compressed_len = u32::try_from(compressed.len()).map_err(|_| StoreError::TooLarge(compressed.len() as u64))?;
        self.blobs.insert(oid, JournalBlob { offset, compressed_len, len });
        self.raw_bytes += u64::from(len);
        Ok(true)
    }

    /// Appends a commit record and makes it durable. Everything appended before it is durable too.
    pub fn commit(&mut self, payload: &[u8]) -> Result<(), StoreError> {
        self.write_record(KIND_COMMIT, &[payload])?;
        let (path, durable) = (self.path.clone(), self.durable);
        let out = self.writer()?;
        out.flush().map_err(|e| StoreError::io(&path, e))?;
        if durable {
            out.get_ref().sync_data().map_err(|e| StoreError::io(&path, e))?;
        }
        Ok(())
    }

    /// Reads a blob's contents (flushing pending writes first).
    pub fn read_blob(&mut self, oid: &Oid) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(loc) = self.blobs.get(oid).copied() else { return Ok(None) };
        if let Some(out) = self.out.as_mut() {
            out.flush().map_err(|e| StoreError::io(&self.path, e))?;
        }
        self.read_at(&loc).map(Some)
    }

    /// Where a blob is, if the journal has it.
    pub fn locate(&self, oid: &Oid) -> Option<JournalBlob> {
        self.blobs.get(oid).copied()
    }

    /// Reads a commit's payload (no flush: for the commits [`Journal::open`] found, which
    /// were checked then).
    pub fn read_commit(&self, c: &JournalCommit) -> Result<Vec<u8>, StoreError> {
        let mut buf = vec![0u8; c.len as usize];
        self.reader.read_exact_at(&mut buf, c.offset).map_err(|e| StoreError::io(&self.path, e))?;
        Ok(buf)
    }

    /// Reads a blob at a known location (no flush: for use after [`Journal::open`]).
    pub fn read_at(&self, loc: &JournalBlob) -> Result<Vec<u8>, StoreError> {
        let mut buf = vec![0u8; loc.compressed_len as usize];
        self.reader.read_exact_at(&mut buf, loc.offset).map_err(|e| StoreError::io(&self.path, e))?;
        let data = zstd::bulk::decompress(&buf, loc.len as usize).map_err(|e| StoreError::io(&self.path, e))?;
        if data.len() != loc.len as usize {
            return Err(StoreError::Format { path: self.path.clone(), what: format!("blob at {} has the wrong length", loc.offset) });
        }
        Ok(data)
    }

    fn writer(&mut self) -> Result<&mut BufWriter<File>, StoreError> {
        let path = self.path.clone();
        self.out.as_mut().ok_or(StoreError::Format { path, what: "journal opened read-only".into() })
    }

    /// Re-reads every blob and checks it hashes to its id; returns the ids that do not.
    pub fn verify_blobs(&self) -> Vec<(Oid, String)> {
        let mut bad = Vec::new();
        for (oid, loc) in &self.blobs {
            match self.read_at(loc) {
                Ok(data) if Oid::for_blob(&data) == *oid => {}
                Ok(_) => bad.push((*oid, "contents do not hash to the id".to_string())),
                Err(e) => bad.push((*oid, e.to_string())),
            }
        }
        bad
    }

    fn write_record(&mut self, kind: u8, parts: &[&[u8]]) -> Result<u64, StoreError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len32 = u32::try_from(len).ok().filter(|&l| l <= MAX_RECORD).ok_or(StoreError::TooLarge(len as u64))?;
        let mut crc = crc32fast::Hasher::new();
        let head = [&[kind][..], &len32.to_le_bytes()].concat();
        crc.update(&head);
        let at = self.len;
        let path = self.path.clone();
        let io = |e| StoreError::io(&path, e);
        let out = self.writer()?;
        out.write_all(&head).map_err(io)?;
        for p in parts {
            crc.update(p);
            out.write_all(p).map_err(io)?;
        }
        out.write_all(&crc.finalize().to_le_bytes()).map_err(io)?;
        self.len += 5 + len as u64 + 4;
        Ok(at)
    }
}

type Scan = (HashMap<Oid, JournalBlob>, Recovery, u64, u64);

/// Reads every record, checking each; stops at the first bad one.
fn scan(file: &File, path: &Path) -> Result<Scan, StoreError> {
    let mut r = BufReader::with_capacity(1 << 20, file.try_clone().map_err(|e| StoreError::io(path, e))?);
    r.seek(SeekFrom::Start(JOURNAL_MAGIC.len() as u64)).map_err(|e| StoreError::io(path, e))?;
    let total = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
    let mut pos = JOURNAL_MAGIC.len() as u64;
    let mut blobs = HashMap::new();
    let mut recovery = Recovery::default();
    let mut raw_bytes = 0u64;
    let mut since_commit = Vec::new();
    let mut payload = Vec::new();
    loop {
        let mut head = [0u8; 5];
        if r.read_exact(&mut head).is_err() {
            break;
        }
        let kind = head[0];
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        if !(kind == KIND_BLOB || kind == KIND_COMMIT) || len > MAX_RECORD || pos + 9 + u64::from(len) > total {
            break;
        }
        payload.resize(len as usize, 0);
        let mut crc_bytes = [0u8; 4];
        if r.read_exact(&mut payload).is_err() || r.read_exact(&mut crc_bytes).is_err() {
            break;
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        crc.update(&payload);
        if crc.finalize() != u32::from_le_bytes(crc_bytes) {
            break;
        }
        if kind == KIND_BLOB {
            if payload.len() < 24 {
                break;
            }
            let oid = Oid::from_slice(&payload[..20]).expect("20 bytes");
            let blen = u32::from_le_bytes(payload[20..24].try_into().expect("4 bytes"));
            let loc = JournalBlob { offset: pos + 5 + 24, compressed_len: len - 24, len: blen };
            if blobs.insert(oid, loc).is_none() {
                raw_bytes += u64::from(blen);
            }
            since_commit.push(oid);
        } else {
            recovery.commits.push(JournalCommit { offset: pos + 5, len });
            since_commit.clear();
        }
        pos += 9 + u64::from(len);
    }
    recovery.truncated_bytes = total - pos;
    recovery.uncommitted_blobs = since_commit.len() as u64;
    Ok((blobs, recovery, pos, raw_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(j: &Journal, rec: &Recovery) -> Vec<Vec<u8>> {
        rec.commits.iter().map(|c| j.read_commit(c).expect("read commit")).collect()
    }

    fn put(j: &mut Journal, data: &[u8]) -> Oid {
        let oid = Oid::for_blob(data);
        j.append_blob(oid, data.len() as u32, &zstd::bulk::compress(data, 1).expect("zstd")).expect("append");
        oid
    }

    #[test]
    fn round_trip_and_dedup() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("journal.log");
        let (mut j, rec) = Journal::open(&p, false).expect("open");
        assert!(rec.commits.is_empty());
        let a = put(&mut j, b"alpha\n");
        put(&mut j, b"alpha\n");
        j.commit(b"one").expect("commit");
        assert_eq!(j.blob_count(), 1);
        assert_eq!(j.read_blob(&a).expect("read").as_deref(), Some(&b"alpha\n"[..]));
        drop(j);
        let (mut j, rec) = Journal::open(&p, false).expect("reopen");
        assert_eq!(payloads(&j, &rec), vec![b"one".to_vec()]);
        assert_eq!(j.read_blob(&a).expect("read").as_deref(), Some(&b"alpha\n"[..]));
    }

    #[test]
    fn every_torn_tail_recovers_to_the_last_commit() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("journal.log");
        let (mut j, _) = Journal::open(&p, false).expect("open");
        put(&mut j, b"first");
        j.commit(b"c1").expect("commit");
        let committed = j.file_len();
        let b = put(&mut j, b"second blob");
        j.commit(b"c2").expect("commit");
        drop(j);
        let full = std::fs::read(&p).expect("read");
        // Cut the file at every byte after the first commit: the first commit always survives,
        // the second only when complete, and nothing torn is ever reported.
        for cut in committed as usize..full.len() {
            std::fs::write(&p, &full[..cut]).expect("write");
            let (mut j, rec) = Journal::open(&p, false).expect("recover");
            assert_eq!(payloads(&j, &rec), vec![b"c1".to_vec()], "cut at {cut}");
            assert_eq!(std::fs::metadata(&p).expect("meta").len() + rec.truncated_bytes, cut as u64);
            // the journal is usable again after recovery
            put(&mut j, b"third");
            j.commit(b"c3").expect("commit after recovery");
            let _ = j.read_blob(&b);
        }
    }

    #[test]
    fn corrupt_byte_stops_the_scan() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("journal.log");
        let (mut j, _) = Journal::open(&p, false).expect("open");
        put(&mut j, b"first");
        j.commit(b"c1").expect("commit");
        let at = j.file_len();
        put(&mut j, b"second");
        j.commit(b"c2").expect("commit");
        drop(j);
        let mut data = std::fs::read(&p).expect("read");
        data[at as usize + 12] ^= 0xff;
        std::fs::write(&p, &data).expect("write");
        let (j, rec) = Journal::open(&p, false).expect("recover");
        assert_eq!(payloads(&j, &rec), vec![b"c1".to_vec()]);
    }

    #[test]
    fn read_only_never_cuts() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("journal.log");
        let (mut j, _) = Journal::open(&p, false).expect("open");
        let a = put(&mut j, b"first");
        j.commit(b"c1").expect("commit");
        drop(j);
        let mut data = std::fs::read(&p).expect("read");
        data.extend_from_slice(&[1, 200, 0, 0, 0, 7]); // a torn record, as seen mid-append
        std::fs::write(&p, &data).expect("write");
        let (mut r, rec) = Journal::open_read_only(&p).expect("open ro");
        assert_eq!(payloads(&r, &rec), vec![b"c1".to_vec()]);
        assert_eq!(rec.truncated_bytes, 6);
        assert_eq!(std::fs::metadata(&p).expect("meta").len(), data.len() as u64, "reader must not cut");
        assert!(r.commit(b"x").is_err());
        assert_eq!(r.read_blob(&a).expect("read").as_deref(), Some(&b"first"[..]));
        assert!(r.verify_blobs().is_empty());
    }

    #[test]
    fn rejects_foreign_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("journal.log");
        std::fs::write(&p, b"hello world, not a journal").expect("write");
        assert!(matches!(Journal::open(&p, false), Err(StoreError::Format { .. })));
    }
}
