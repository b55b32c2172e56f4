//! Sealed blob packs: `blobs.pack` (zstd frames) and `blobs.idx` (a sorted id table).
//!
//! ```text
//! blobs.pack := "PYCPACK" 0x01, then zstd frames back to back; each frame holds the
//!               contents of several blobs concatenated (blobs never straddle frames)
//! blobs.idx  := "PYCIDX" 0x00 0x01                          magic + version (8 bytes)
//!               blob_count:u64 frame_count:u64
//!               fanout[256]:u32       number of ids whose first byte is <= i
//!               entries[blob_count]   oid[20] frame:u32 offset:u32 len:u32  (sorted by oid)
//!               frames[frame_count]   pack_offset:u64 compressed_len:u32 len:u32
//! ```
//!
//! All integers are little-endian. The index is read through `mmap`: a lookup touches the
//! fanout, a dozen entries and one frame, whatever the shard's size. Frames are compressed in
//! parallel; the caller orders blobs (similar files next to each other) for a better ratio.

use crate::{Oid, StoreError};
use rayon::prelude::*;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// First bytes of `blobs.pack`.
pub const PACK_MAGIC: &[u8; 8] = b"PYCPACK\x01";
/// First bytes of `blobs.idx`.
pub const IDX_MAGIC: &[u8; 8] = b"PYCIDX\x00\x01";
const ENTRY_LEN: usize = 32;
const FRAME_LEN: usize = 16;
const IDX_HEADER: usize = 8 + 16 + 256 * 4;

/// Settings of a pack writer.
#[derive(Debug, Clone, Copy)]
pub struct PackOptions {
    /// zstd level. Default 10.
    pub level: i32,
    /// Uncompressed bytes per frame (a frame closes once it reaches this). Default 6 MiB.
    pub frame_size: usize,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions { level: 10, frame_size: 6 << 20 }
    }
}

/// Figures of a finished pack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackStats {
    /// Blobs written.
    pub blobs: u64,
    /// Frames written.
    pub frames: u64,
    /// Bytes of contents.
    pub raw_bytes: u64,
    /// Bytes of `blobs.pack`.
    pub pack_bytes: u64,
    /// Bytes of `grams.idx`.
    pub grams_bytes: u64,
}

#[derive(Clone, Copy)]
struct IdxEntry {
    oid: Oid,
    frame: u32,
    offset: u32,
    len: u32,
}

/// A batch of raw frames on its way to the compressing thread.
type Batch = Vec<(Vec<u8>, Vec<(Oid, u32, u32)>)>;

/// What the compressing thread hands back.
struct Written {
    entries: Vec<IdxEntry>,
    frames: Vec<(u64, u32, u32)>,
    /// Each frame's trigrams, and whether it holds a UTF-16 blob, for `grams.idx`.
    grams: Vec<Vec<u32>>,
    utf16: Vec<bool>,
    pack_len: u64,
}

/// Writes a pack from blobs given in the order they should be stored. Frames are compressed
/// in parallel on a background thread while the caller keeps adding blobs.
pub struct PackWriter {
    pack_path: PathBuf,
    idx_path: PathBuf,
    opts: PackOptions,
    current: Vec<u8>,
    current_entries: Vec<(Oid, u32, u32)>,
    pending: Batch,
    tx: Option<std::sync::mpsc::SyncSender<Batch>>,
    worker: Option<std::thread::JoinHandle<Result<Written, StoreError>>>,
    raw_bytes: u64,
}

impl PackWriter {
    /// Creates `blobs.pack` and (on finish) `blobs.idx` in `dir`.
    pub fn create(dir: &Path, opts: PackOptions) -> Result<PackWriter, StoreError> {
        let pack_path = dir.join("blobs.pack");
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&pack_path).map_err(|e| StoreError::io(&pack_path, e))?);
        out.write_all(PACK_MAGIC).map_err(|e| StoreError::io(&pack_path, e))?;
        // One batch compressed while the next fills (a rendezvous: no third batch waits in
        // between), so memory stays at two batches of frames.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(0);
        let path = pack_path.clone();
        let level = opts.level;
        let worker = std::thread::Builder::new()
            .name("pack-compress".into())
            .spawn(move || {
                // Compression contexts, reused from frame to frame and dropped with the writer:
                // a level-10 context with a frame-sized window is ~21 MB, too much to make per frame.
                let contexts: std::sync::Mutex<Vec<zstd::bulk::Compressor<'static>>> = std::sync::Mutex::new(Vec::new());
                let mut w = Written { entries: Vec::new(), frames: Vec::new(), grams: Vec::new(), utf16: Vec::new(), pack_len: PACK_MAGIC.len() as u64 };
                for batch in rx {
                    let compressed: Vec<(std::io::Result<Vec<u8>>, Vec<u32>)> = batch.par_iter().map(|(raw, _)| (compress_frame(&contexts, raw, level), crate::grams::trigrams_of(raw))).collect();
                    for ((raw, entries), (c, grams)) in batch.into_iter().zip(compressed) {
                        let c = c.map_err(|e| StoreError::io(&path, e))?;
                        w.grams.push(grams);
                        w.utf16.push(entries.iter().any(|&(_, off, len)| crate::grams::is_utf16(&raw[off as usize..(off + len) as usize])));
                        let frame_no = w.frames.len() as u32;
                        out.write_all(&c).map_err(|e| StoreError::io(&path, e))?;
                        w.frames.push((w.pack_len, c.len() as u32, raw.len() as u32));
                        w.pack_len += c.len() as u64;
                        w.entries.extend(entries.into_iter().map(|(oid, offset, len)| IdxEntry { oid, frame: frame_no, offset, len }));
                    }
                }
                let file = out.into_inner().map_err(|e| StoreError::io(&path, e.into_error()))?;
                file.sync_all().map_err(|e| StoreError::io(&path, e))?;
                Ok(w)
            })
            .map_err(|e| StoreError::io(&pack_path, e))?;
        Ok(PackWriter {
            idx_path: dir.join("blobs.idx"),
            pack_path,
            opts,
            current: Vec::new(),
            current_entries: Vec::new(),
            pending: Vec::new(),
            tx: Some(tx),
            worker: Some(worker),
            raw_bytes: 0,
        })
    }

    /// Adds a blob. The caller adds each id once.
    pub fn add(&mut self, oid: Oid, data: &[u8]) -> Result<(), StoreError> {
        let len = u32::try_from(data.len()).map_err(|_| StoreError::TooLarge(data.len() as u64))?;
        self.current_entries.push((oid, self.current.len() as u32, len));
        // A frame is allocated once at its size (growing by doubling would leave up to twice
        // that in every frame held); a blob that crosses the end grows it by exactly itself.
        if self.current.capacity() == 0 {
            self.current.reserve_exact(self.opts.frame_size);
        }
        self.current.reserve_exact(data.len());
        self.current.extend_from_slice(data);
        self.raw_bytes += data.len() as u64;
        if self.current.len() >= self.opts.frame_size {
            self.close_frame()?;
        }
        Ok(())
    }

    fn close_frame(&mut self) -> Result<(), StoreError> {
        if !self.current_entries.is_empty() {
            let frame = std::mem::take(&mut self.current);
            let entries = std::mem::take(&mut self.current_entries);
            self.pending.push((frame, entries));
        }
        // A batch is a frame per thread: compressed side by side while the next one fills.
        if self.pending.len() >= rayon::current_num_threads().max(2) {
            self.send_pending()?;
        }
        Ok(())
    }

    fn send_pending(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        if self.tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok()) {
            return Ok(());
        }
        // The thread stopped: its error says why.
        self.join().map(|_| ()).and(Err(StoreError::Format { path: self.pack_path.clone(), what: "pack writer stopped".into() }))
    }

    fn join(&mut self) -> Result<Written, StoreError> {
        self.tx = None;
        let worker = self.worker.take().ok_or_else(|| StoreError::Format { path: self.pack_path.clone(), what: "pack writer already finished".into() })?;
        worker.join().map_err(|_| StoreError::Format { path: self.pack_path.clone(), what: "pack compression thread panicked".into() })?
    }

    /// Writes the last frames and the index; syncs both files.
    pub fn finish(mut self) -> Result<PackStats, StoreError> {
        self.close_frame()?;
        self.send_pending()?;
        let mut w = self.join()?;
        w.entries.sort_unstable_by_key(|e| e.oid);
        if let Some(d) = w.entries.windows(2).find(|d| d[0].oid == d[1].oid) {
            return Err(StoreError::Format { path: self.idx_path.clone(), what: format!("blob {} added twice", d[0].oid) });
        }
        write_idx(&self.idx_path, &w.entries, &w.frames)?;
        let grams_path = self.idx_path.with_file_name("grams.idx");
        let grams_bytes = crate::grams::write_grams(&grams_path, &w.grams, &w.utf16)?;
        Ok(PackStats { blobs: w.entries.len() as u64, frames: w.frames.len() as u64, raw_bytes: self.raw_bytes, pack_bytes: w.pack_len, grams_bytes })
    }
}

/// Compresses a frame with a context from `contexts` (made when none is free), put back after.
fn compress_frame(contexts: &std::sync::Mutex<Vec<zstd::bulk::Compressor<'static>>>, raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let free = contexts.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut c = match free {
        Some(c) => c,
        None => zstd::bulk::Compressor::new(level)?,
    };
    let out = compress_with(&mut c, raw);
    contexts.lock().unwrap_or_else(|p| p.into_inner()).push(c);
    out
}

fn compress_with(c: &mut zstd::bulk::Compressor<'static>, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    // A window as large as the frame lets repeats anywhere in it be found.
    let window = (usize::BITS - raw.len().max(1 << 10).leading_zeros()).clamp(10, 27);
    c.set_parameter(zstd::zstd_safe::CParameter::WindowLog(window))?;
    c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true))?;
    // The output is allocated at zstd's bound (the frame's size): kept until the batch is
    // written, a batch of them would hold that much again.
    let mut out = c.compress(raw)?;
    out.shrink_to_fit();
    Ok(out)
}

fn write_idx(path: &Path, entries: &[IdxEntry], frames: &[(u64, u32, u32)]) -> Result<(), StoreError> {
    let io = |e| StoreError::io(path, e);
    let mut out = BufWriter::new(File::create(path).map_err(io)?);
    let mut fanout = [0u32; 256];
    for e in entries {
        fanout[e.oid.0[0] as usize] += 1;
    }
    for i in 1..256 {
        fanout[i] += fanout[i - 1];
    }
    out.write_all(IDX_MAGIC).map_err(io)?;
    out.write_all(&(entries.len() as u64).to_le_bytes()).map_err(io)?;
    out.write_all(&(frames.len() as u64).to_le_bytes()).map_err(io)?;
    for f in fanout {
        out.write_all(&f.to_le_bytes()).map_err(io)?;
    }
    for e in entries {
        out.write_all(&e.oid.0).map_err(io)?;
        for v in [e.frame, e.offset, e.len] {
            out.write_all(&v.to_le_bytes()).map_err(io)?;
        }
    }
    for (off, clen, len) in frames {
        out.write_all(&off.to_le_bytes()).map_err(io)?;
        out.write_all(&clen.to_le_bytes()).map_err(io)?;
        out.write_all(&len.to_le_bytes()).map_err(io)?;
    }
    let file = out.into_inner().map_err(|e| StoreError::io(path, e.into_error()))?;
    file.sync_all().map_err(io)
}

/// Where a blob is in a sealed pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    /// Frame number.
    pub frame: u32,
    /// Offset in the uncompressed frame.
    pub offset: u32,
    /// Contents length.
    pub len: u32,
}

/// One frame of a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Offset of the compressed frame in `blobs.pack`.
    pub pack_offset: u64,
    /// Compressed length.
    pub compressed_len: u32,
    /// Uncompressed length.
    pub len: u32,
}

/// The reusable state of [`PackReader::read_frame_into`]: the compressed bytes of the last
/// frame and a zstd decoder.
#[derive(Default)]
pub struct FrameBuffers {
    compressed: Vec<u8>,
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
}

/// Reads a sealed pack. Opening maps the index; nothing is read until asked.
pub struct PackReader {
    idx_path: PathBuf,
    pack_path: PathBuf,
    idx: memmap2::Mmap,
    pack: File,
    blobs: usize,
    frames: usize,
    /// Lookups since the index's pages were last let go.
    lookups: crate::Lookups,
}

impl PackReader {
    /// Opens `blobs.pack` and `blobs.idx` in `dir`, checking the index's shape.
    pub fn open(dir: &Path) -> Result<PackReader, StoreError> {
        let idx_path = dir.join("blobs.idx");
        let pack_path = dir.join("blobs.pack");
        let f = File::open(&idx_path).map_err(|e| StoreError::io(&idx_path, e))?;
        // SAFETY: sealed shard files are immutable once written: the seal renames a finished
        // folder into place and no pycorpus code writes to it again. Every slice taken below is
        // bounds-checked against the length validated here. Truncating the file from outside
        // while it is mapped is outside this contract (as for git's mmap-ed pack indexes).
        let idx = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| StoreError::io(&idx_path, e))?;
        let bad = |what: &str| StoreError::Format { path: idx_path.clone(), what: what.to_string() };
        if idx.len() < IDX_HEADER || &idx[..8] != IDX_MAGIC {
            return Err(bad("not a pycorpus blob index (bad magic)"));
        }
        let blobs = u64::from_le_bytes(idx[8..16].try_into().expect("8")) as usize;
        let frames = u64::from_le_bytes(idx[16..24].try_into().expect("8")) as usize;
        let want = blobs.checked_mul(ENTRY_LEN).and_then(|b| frames.checked_mul(FRAME_LEN).map(|f| IDX_HEADER + b + f));
        if want != Some(idx.len()) {
            return Err(bad("index length does not match its counts"));
        }
        let pack = File::open(&pack_path).map_err(|e| StoreError::io(&pack_path, e))?;
        let fanout_ok = blobs == 0 || u32::from_le_bytes(idx[24 + 255 * 4..24 + 256 * 4].try_into().expect("4")) as usize == blobs;
        if !fanout_ok {
            return Err(bad("fanout table does not match the blob count"));
        }
        Ok(PackReader { idx_path, pack_path, idx, pack, blobs, frames, lookups: Default::default() })
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.blobs
    }

    /// True when the pack holds no blob.
    pub fn is_empty(&self) -> bool {
        self.blobs == 0
    }

    /// Number of frames.
    pub fn frame_count(&self) -> usize {
        self.frames
    }

    fn fanout(&self, i: usize) -> u32 {
        let at = 24 + i * 4;
        u32::from_le_bytes(self.idx[at..at + 4].try_into().expect("4"))
    }

    /// The `i`-th entry in id order.
    pub fn entry_at(&self, i: usize) -> (Oid, PackEntry) {
        let at = IDX_HEADER + i * ENTRY_LEN;
        let e = &self.idx[at..at + ENTRY_LEN];
        let u = |o: usize| u32::from_le_bytes(e[o..o + 4].try_into().expect("4"));
        (Oid::from_slice(&e[..20]).expect("20"), PackEntry { frame: u(20), offset: u(24), len: u(28) })
    }

    /// Frame `i`.
    pub fn frame(&self, i: usize) -> FrameInfo {
        let at = IDX_HEADER + self.blobs * ENTRY_LEN + i * FRAME_LEN;
        let f = &self.idx[at..at + FRAME_LEN];
        FrameInfo {
            pack_offset: u64::from_le_bytes(f[..8].try_into().expect("8")),
            compressed_len: u32::from_le_bytes(f[8..12].try_into().expect("4")),
            len: u32::from_le_bytes(f[12..16].try_into().expect("4")),
        }
    }

    /// Lets go of the index pages this process has touched (see `release_pages`).
    pub fn release_pages(&self) {
        crate::release_pages(&self.idx);
    }

    /// Finds a blob by binary search within its fanout bucket.
    pub fn find(&self, oid: &Oid) -> Option<PackEntry> {
        let b = oid.0[0] as usize;
        let (mut lo, mut hi) = (if b == 0 { 0 } else { self.fanout(b - 1) as usize }, self.fanout(b) as usize);
        self.lookups.count(&self.idx, IDX_HEADER + lo * ENTRY_LEN);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match oid.cmp_stored(&self.idx[IDX_HEADER + mid * ENTRY_LEN..]) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.entry_at(mid).1),
            }
        }
        None
    }

    /// Reads a blob's contents: its frame is read and decoded into one anonymous mapping
    /// (advised for huge pages, so a cold process takes a handful of page faults rather than
    /// thousands), decoding directly into place and stopping at the blob's end.
    pub fn read(&self, oid: &Oid) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(e) = self.find(oid) else { return Ok(None) };
        let io = |x| StoreError::io(&self.pack_path, x);
        let f = self.frame(e.frame as usize);
        let (clen, flen) = (f.compressed_len as usize, f.len as usize);
        let (start, end) = (e.offset as usize, e.offset as usize + e.len as usize);
        if end > flen {
            return Err(StoreError::Format { path: self.idx_path.clone(), what: format!("blob {oid} lies beyond the end of frame {}", e.frame) });
        }
        let mut buf = memmap2::MmapMut::map_anon((clen + flen).max(1)).map_err(io)?;
        #[cfg(target_os = "linux")]
        let _ = buf.advise(memmap2::Advice::HugePage); // a hint; without THP, normal pages
        let (compressed, out) = buf.split_at_mut(clen);
        self.pack.read_exact_at(compressed, f.pack_offset).map_err(io)?;
        self.decode_prefix(e.frame as usize, compressed, out, end)?;
        Ok(Some(buf[clen + start..clen + end].to_vec()))
    }

    /// Decodes frame `frame` from `compressed` into `out` (room for the whole frame, as
    /// stable-output decoding needs: no internal window buffer as large as the frame), stopping
    /// once `end` bytes are out.
    fn decode_prefix<C: zstd::zstd_safe::WriteBuf + ?Sized>(&self, frame: usize, compressed: &[u8], out: &mut C, end: usize) -> Result<(), StoreError> {
        use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};
        let io = |x| StoreError::io(&self.pack_path, x);
        let mut dec = Decoder::new().map_err(io)?;
        dec.set_parameter(zstd::zstd_safe::DParameter::StableOutBuffer(true)).map_err(io)?;
        let mut input = InBuffer::around(compressed);
        let mut output = OutBuffer::around(out);
        while output.pos() < end {
            let before = (input.pos(), output.pos());
            dec.run(&mut input, &mut output).map_err(io)?;
            if (input.pos(), output.pos()) == before {
                return Err(StoreError::Format { path: self.pack_path.clone(), what: format!("frame {frame} ends before byte {end}") });
            }
        }
        Ok(())
    }

    /// Decodes the first `upto` bytes (at least) of frame `i` into `out`, reusing its
    /// allocation (when too small, a fresh one) and `scratch` for the compressed bytes: for
    /// scans that visit many frames and need only the blobs up to a point in each. `out` then
    /// holds what was decoded (`upto` bytes or more).
    pub fn decode_frame_prefix(&self, i: usize, upto: usize, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> Result<(), StoreError> {
        let flen = self.read_compressed_into(i, scratch)?;
        if upto > flen {
            return Err(StoreError::Format { path: self.idx_path.clone(), what: format!("byte {upto} lies beyond the end of frame {i}") });
        }
        out.clear();
        if out.capacity() < flen {
            // A fresh buffer rather than a grown one (growing would copy stale bytes), with room
            // for the next frames, which differ in length by a few percent. Not zeroed first:
            // decoding writes into its spare capacity.
            *out = Vec::with_capacity(flen + flen / 8);
        }
        self.decode_prefix(i, scratch, out, upto)
    }

    /// Reads the compressed bytes of frame `i` into `buf` (its allocation reused); returns
    /// the frame's decoded length.
    fn read_compressed_into(&self, i: usize, buf: &mut Vec<u8>) -> Result<usize, StoreError> {
        if i >= self.frames {
            return Err(StoreError::Format { path: self.idx_path.clone(), what: format!("frame {i} out of range") });
        }
        let f = self.frame(i);
        buf.resize(f.compressed_len as usize, 0);
        self.pack.read_exact_at(buf, f.pack_offset).map_err(|e| StoreError::io(&self.pack_path, e))?;
        Ok(f.len as usize)
    }

    /// Decompresses frame `i` whole.
    pub fn read_frame(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        let mut data = Vec::new();
        self.read_frame_into(i, &mut FrameBuffers::default(), &mut data)?;
        Ok(data)
    }

    /// Decompresses frame `i` whole into `out`, reusing its allocation and `bufs`: scans of
    /// many frames churn no large allocations (an allocator keeps freed ones mapped a while,
    /// so a fresh 6 MiB per frame shows as hundreds of MB resident).
    pub fn read_frame_into(&self, i: usize, bufs: &mut FrameBuffers, out: &mut Vec<u8>) -> Result<(), StoreError> {
        let len = self.read_compressed_into(i, &mut bufs.compressed)?;
        let dec = match &mut bufs.decompressor {
            Some(d) => d,
            None => bufs.decompressor.insert(zstd::bulk::Decompressor::new().map_err(|e| StoreError::io(&self.pack_path, e))?),
        };
        out.clear();
        // one byte of room more than the frame should hold: a longer frame shows as a length
        // error, not as a silently cut one
        out.reserve(len + 1);
        let wrong = |what: String| StoreError::Format { path: self.pack_path.clone(), what };
        match dec.decompress_to_buffer(&bufs.compressed[..], out) {
            Ok(n) if n == len => Ok(()),
            Ok(n) => Err(wrong(format!("frame {i} decodes to {n} bytes, its index entry says {len}"))),
            Err(e) => Err(wrong(format!("frame {i} does not decode to the {len} bytes its index entry says: {e}"))),
        }
    }

    /// Checks every blob: each frame decompresses to its length, every blob's bytes hash to
    /// its id, ids are sorted and unique, and every frame byte belongs to a blob. Returns the
    /// problems found (empty when the pack is sound); `progress` gets frames done.
    pub fn verify(&self, progress: &(dyn Fn(u64) + Sync)) -> Vec<String> {
        let mut problems = Vec::new();
        let mut by_frame: Vec<Vec<(Oid, PackEntry)>> = vec![Vec::new(); self.frames];
        let mut prev: Option<Oid> = None;
        for i in 0..self.blobs {
            let (oid, e) = self.entry_at(i);
            if prev.is_some_and(|p| p >= oid) {
                problems.push(format!("index not sorted at entry {i} ({oid})"));
            }
            prev = Some(oid);
            match by_frame.get_mut(e.frame as usize) {
                Some(v) => v.push((oid, e)),
                None => problems.push(format!("blob {oid} points at missing frame {}", e.frame)),
            }
        }
        // One set of buffers per worker for the whole pack, frames taken in turn: buffers made
        // per split of a parallel iterator came and went dozens of times per pack, and the
        // allocator's freed-but-not-yet-returned pages set verify's peak (40 MB over its heap).
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = rayon::current_num_threads().clamp(1, self.frames.max(1));
        let mut found: Vec<(usize, Vec<String>)> = (0..workers)
            .into_par_iter()
            .map(|_| {
                let (mut bufs, mut data, mut found) = (FrameBuffers::default(), Vec::new(), Vec::new());
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(blobs) = by_frame.get(i) else { break found };
                    let p = match self.read_frame_into(i, &mut bufs, &mut data) {
                        Err(e) => vec![format!("frame {i}: {e}")],
                        Ok(()) => check_frame(i, blobs, &data),
                    };
                    if !p.is_empty() {
                        found.push((i, p));
                    }
                    progress(1);
                }
            })
            .flatten()
            .collect();
        found.sort_unstable_by_key(|(i, _)| *i);
        problems.extend(found.into_iter().flat_map(|(_, p)| p));
        problems
    }
}

/// The problems of frame `i`, decoded to `data`, against the index entries of its `blobs`.
fn check_frame(i: usize, blobs: &[(Oid, PackEntry)], data: &[u8]) -> Vec<String> {
    let mut p = Vec::new();
    let mut covered = 0u64;
    for (oid, e) in blobs {
        let (s, end) = (e.offset as usize, e.offset as usize + e.len as usize);
        covered += u64::from(e.len);
        match data.get(s..end) {
            Some(b) if Oid::for_blob(b) == *oid => {}
            Some(_) => p.push(format!("blob {oid} in frame {i}: contents do not hash to the id")),
            None => p.push(format!("blob {oid} in frame {i}: out of the frame's bounds")),
        }
    }
    if covered != data.len() as u64 {
        p.push(format!("frame {i}: {} bytes belong to no blob", data.len() as i64 - covered as i64));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn write_read_verify() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(dir.path(), PackOptions { level: 3, frame_size: 1000 }).expect("create");
        let blobs: Vec<Vec<u8>> = (0..500).map(|i| format!("file {i}\n").repeat(i % 7 + 1).into_bytes()).collect();
        for b in &blobs {
            w.add(Oid::for_blob(b), b).expect("add");
        }
        let stats = w.finish().expect("finish");
        assert_eq!(stats.blobs, 500);
        assert!(stats.frames > 5, "{stats:?}");
        let r = PackReader::open(dir.path()).expect("open");
        for b in &blobs {
            assert_eq!(r.read(&Oid::for_blob(b)).expect("read").as_deref(), Some(&b[..]));
        }
        assert_eq!(r.read(&Oid::for_blob(b"absent")).expect("read"), None);
        assert!(r.verify(&|_| {}).is_empty());
    }

    #[test]
    fn frame_prefixes_decode_into_one_reused_buffer() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(dir.path(), PackOptions { level: 3, frame_size: 4000 }).expect("create");
        let blobs: Vec<Vec<u8>> = (0..300).map(|i| format!("line {i} of a blob\n").repeat(i * 37 % 50 + 1).into_bytes()).collect();
        for b in &blobs {
            w.add(Oid::for_blob(b), b).expect("add");
        }
        w.finish().expect("finish");
        let r = PackReader::open(dir.path()).expect("open");
        let mut by_frame: BTreeMap<u32, Vec<(PackEntry, &Vec<u8>)>> = BTreeMap::new();
        for b in &blobs {
            let e = r.find(&Oid::for_blob(b)).expect("stored");
            by_frame.entry(e.frame).or_default().push((e, b));
        }
        assert!(by_frame.len() > 5, "{} frames", by_frame.len());
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        // Largest frame first: later, shorter ones decode over its stale bytes, in its allocation.
        let mut order: Vec<u32> = by_frame.keys().copied().collect();
        order.sort_by_key(|&f| std::cmp::Reverse(r.frame(f as usize).len));
        let mut first_alloc = None;
        for f in order {
            let entries = &by_frame[&f];
            // Only up to the middle blob's end: the prefix holds it and those before it.
            let mut wanted: Vec<&(PackEntry, &Vec<u8>)> = entries.iter().collect();
            wanted.sort_by_key(|(e, _)| e.offset);
            wanted.truncate(wanted.len().div_ceil(2));
            let upto = wanted.iter().map(|(e, _)| (e.offset + e.len) as usize).max().expect("a blob");
            r.decode_frame_prefix(f as usize, upto, &mut out, &mut scratch).expect("decode");
            assert!(out.len() >= upto && out.len() <= r.frame(f as usize).len as usize);
            for (e, b) in wanted {
                assert_eq!(&out[e.offset as usize..(e.offset + e.len) as usize], &b[..], "frame {f}");
            }
            assert_eq!(*first_alloc.get_or_insert(out.as_ptr()), out.as_ptr(), "the buffer is reused");
        }
        let f0 = r.frame(0);
        assert!(matches!(r.decode_frame_prefix(0, f0.len as usize + 1, &mut out, &mut scratch), Err(StoreError::Format { .. })));
        assert!(matches!(r.decode_frame_prefix(r.frame_count(), 1, &mut out, &mut scratch), Err(StoreError::Format { .. })));
    }

    /// A pack of 50 small blobs in frames of 64 bytes (a few blobs each).
    fn small_frames() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(dir.path(), PackOptions { level: 1, frame_size: 64 }).expect("create");
        for i in 0..50 {
            let b = format!("blob number {i}");
            w.add(Oid::for_blob(b.as_bytes()), b.as_bytes()).expect("add");
        }
        w.finish().expect("finish");
        dir
    }

    #[test]
    fn verify_checks_every_frame_and_reports_in_frame_order() {
        let dir = small_frames();
        let r = PackReader::open(dir.path()).expect("open");
        let frames = r.frame_count();
        assert!(frames > 8, "{frames} frames");
        let done = std::sync::atomic::AtomicU64::new(0);
        assert_eq!(r.verify(&|n| { done.fetch_add(n, std::sync::atomic::Ordering::Relaxed); }), Vec::<String>::new());
        assert_eq!(done.into_inner(), frames as u64, "every frame checked once");
        // damage the first and the last frame: both are reported, the first one first,
        // whichever worker checked them
        let (first, last) = (r.frame(0), r.frame(frames - 1));
        drop(r);
        let pack = dir.path().join("blobs.pack");
        let mut data = std::fs::read(&pack).expect("read");
        for f in [first, last] {
            data[(f.pack_offset + u64::from(f.compressed_len) / 2) as usize] ^= 0x55;
        }
        std::fs::write(&pack, &data).expect("write");
        let problems = PackReader::open(dir.path()).expect("open").verify(&|_| {});
        let at = |i: usize| problems.iter().position(|p| p.contains(&format!("frame {i}:")));
        let (a, b) = (at(0), at(frames - 1));
        assert!(a.is_some() && b.is_some() && a < b, "{problems:?}");
    }

    #[test]
    fn verify_finds_corruption_and_open_rejects_bad_index() {
        let dir = small_frames();
        let pack = dir.path().join("blobs.pack");
        let mut data = std::fs::read(&pack).expect("read");
        let n = data.len();
        data[n - 3] ^= 0x55;
        std::fs::write(&pack, &data).expect("write");
        let r = PackReader::open(dir.path()).expect("open");
        assert!(!r.verify(&|_| {}).is_empty());
        let idx = dir.path().join("blobs.idx");
        let mut data = std::fs::read(&idx).expect("read");
        data.truncate(data.len() - 1);
        std::fs::write(&idx, &data).expect("write");
        assert!(matches!(PackReader::open(dir.path()), Err(StoreError::Format { .. })));
    }
}
