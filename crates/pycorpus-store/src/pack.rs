//! Sealed blob packs: `blobs.pack` (zstd frames) and `blobs.idx` (a sorted id table).
//!
//! ```text
//! blobs.pack := "PYCPACK" 0x01, then zstd frames back to back; each frame holds the
//!               contents of several blobs concatenated (blobs never straddle frames), or, for
//!               a delta frame, one blob compressed with another blob's contents as its prefix
//! blobs.idx  := "PYCIDX" 0x00 0x01                          magic + version (8 bytes)
//!               blob_count:u64 frame_count:u64
//!               fanout[256]:u32       number of ids whose first byte is <= i
//!               entries[blob_count]   oid[20] frame:u32 offset:u32 len:u32  (sorted by oid)
//!               frames[frame_count]   pack_offset:u64 compressed_len:u32 len:u32
//!            |  "PYCIDX" 0x00 0x02    (a pack with delta frames: the same, and)
//!               blob_count:u64 frame_count:u64 delta_count:u64
//!               fanout, entries, frames as above
//!               deltas[delta_count]   base[20] root_shard:u32 root_frame:u32 root_offset:u32
//!                                     root_len:u32 depth:u32 unit:u32
//! ```
//!
//! The last `delta_count` frames are delta frames, in order: frame `frame_count -
//! delta_count + i` is described by `deltas[i]`. Its one blob was compressed with the
//! contents of blob `base` (stored in this pack or an earlier shard's) as a zstd raw-content
//! prefix; `root_*` is where the chain of bases ends in a blob stored whole (the shard, frame,
//! offset and length), `depth` how many deltas lead from there to this blob (1: the base is
//! the root). `unit` groups delta frames for `grams.idx`, which indexes units: each frame
//! before the deltas is its own unit, and consecutive delta frames share one (as many bytes as
//! a quarter of a frame holds), so the trigram index stays small.
//!
//! All integers are little-endian. The index is read through `mmap`: a lookup touches the
//! fanout, a dozen entries and one frame, whatever the shard's size. Frames are compressed in
//! parallel; the caller orders blobs (similar files next to each other) for a better ratio.

use crate::{Oid, StoreError};
use rayon::prelude::*;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// First bytes of `blobs.pack`.
pub const PACK_MAGIC: &[u8; 8] = b"PYCPACK\x01";
/// First bytes of `blobs.idx`.
pub const IDX_MAGIC: &[u8; 8] = b"PYCIDX\x00\x01";
/// First bytes of a `blobs.idx` with delta frames.
pub const IDX_MAGIC_DELTAS: &[u8; 8] = b"PYCIDX\x00\x02";
const ENTRY_LEN: usize = 32;
const FRAME_LEN: usize = 16;
const DELTA_LEN: usize = 44;
const IDX_HEADER: usize = 8 + 16 + 256 * 4;
/// Delta frames per `grams.idx` unit: as many as hold a quarter of a frame's bytes. A unit the
/// trigram index lets through has each of its deltas decoded, and each of those needs its
/// chain's root frame: with units as large as a frame, `grep frobnicate` over corpus-v1 as 16
/// shards decoded 1,290 frames (0.37 s) against 253 (0.23 s) with a quarter (a sixteenth: 91
/// frames, 0.22 s, but a trigram index 2.9 MB larger than a quarter's).
const DELTA_UNIT_DIVISOR: usize = 4;

/// Largest window a delta frame may need (its base and itself): zstd decoders accept up to
/// 2^27 by default. A blob whose base and itself exceed it is stored whole.
pub const MAX_DELTA_SPAN: usize = 1 << 27;

/// First bytes of a zstd dictionary in its own format (little-endian 0xEC30A437).
const ZSTD_DICT_MAGIC: [u8; 4] = [0x37, 0xa4, 0x30, 0xec];

thread_local! {
    /// The decoder of delta frames on this thread.
    static DELTA_DCTX: std::cell::RefCell<zstd::zstd_safe::DCtx<'static>> = std::cell::RefCell::new(zstd::zstd_safe::DCtx::create());
}

/// Where a blob stored whole lies: the end of a chain of deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobPlace {
    /// The shard whose pack stores it.
    pub shard: u32,
    /// Its frame there.
    pub frame: u32,
    /// Its offset in the decoded frame.
    pub offset: u32,
    /// Its length.
    pub len: u32,
}

/// What a delta frame was compressed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaBase {
    /// The blob whose contents are the frame's prefix (in this pack or an earlier shard's).
    pub oid: Oid,
    /// The blob stored whole that the chain of bases ends in.
    pub root: BlobPlace,
    /// Deltas from the root to this blob, this one included (1: the base is the root).
    pub depth: u32,
}

/// Settings of a pack writer.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// zstd level. Default 10.
    pub level: i32,
    /// Uncompressed bytes per frame (a frame closes once it reaches this). Default 6 MiB.
    pub frame_size: usize,
    /// Bytes of `postings.idx` postings held in memory while the pack is written, before a
    /// sorted run spills. Default 256 MiB.
    pub index_memory: usize,
    /// Where those runs go (in a folder of their own, removed with the writer); `None`: the
    /// pack's folder.
    pub index_tmp: Option<PathBuf>,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions { level: 10, frame_size: 6 << 20, index_memory: 256 << 20, index_tmp: None }
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
    /// Bytes of `postings.idx`.
    pub postings_bytes: u64,
}

#[derive(Clone, Copy)]
struct IdxEntry {
    oid: Oid,
    frame: u32,
    offset: u32,
    len: u32,
}

/// A blob to store as a delta: its id, contents, base and the base's contents.
struct DeltaJob {
    oid: Oid,
    data: Vec<u8>,
    base: DeltaBase,
    base_data: Vec<u8>,
}

/// Work for the compressing thread.
enum Job {
    /// A frame of blobs stored whole (its bytes, and each blob's id, offset and length).
    Frame(Vec<u8>, Vec<(Oid, u32, u32)>),
    /// Delta frames of one unit of `grams.idx`.
    Deltas(Vec<DeltaJob>),
}

/// A batch of jobs on its way to the compressing thread.
type Batch = Vec<Job>;

/// What the compressing thread hands back.
struct Written {
    entries: Vec<IdxEntry>,
    frames: Vec<(u64, u32, u32)>,
    /// Each unit's trigrams, and whether it holds a UTF-16 blob, for `grams.idx`.
    grams: Vec<Vec<u32>>,
    utf16: Vec<bool>,
    /// The delta frames' bases and units, in frame order.
    deltas: Vec<(DeltaBase, u32)>,
    pack_len: u64,
    /// The postings of `postings.idx`, written by [`PackWriter::finish`] (not when the
    /// writer is dropped unfinished: a cancelled seal writes nothing more).
    postings: Option<crate::PostingsWriter>,
}

/// One `postings.idx` unit (blob) of a job: where it is (a frame's offset, or its place among
/// the job's deltas), its distinct trigrams, whether it is UTF-16.
type JobUnit = (u32, Vec<u32>, bool);

/// A job's units, and the trigrams of all of them (sorted, distinct) for `grams.idx`.
type JobUnits = (Vec<JobUnit>, Vec<u32>);

thread_local! {
    /// Scratch bitmap of [`crate::postings::unit_trigrams`] on this thread (2 MiB, clear).
    static SEEN: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The `postings.idx` units of a job: its non-empty blobs in storage order (an empty one
/// shares its place with the next blob, and is no unit); and their trigrams together, the
/// job's `grams.idx` entry (found here, on the compressing threads, rather than by reading
/// the frame again: a match never spans two blobs, so the trigrams across a blob's end are
/// not needed).
fn job_units(job: &Job) -> JobUnits {
    // (start, len, utf16) of each blob, in storage order
    let parts: Vec<(&[u8], bool)> = match job {
        Job::Frame(raw, entries) => entries
            .iter()
            .map(|&(_, off, len)| {
                let b = &raw[off as usize..(off + len) as usize];
                (b, crate::grams::is_utf16(b))
            })
            .collect(),
        Job::Deltas(jobs) => jobs.iter().map(|j| (&j.data[..], crate::grams::is_utf16(&j.data))).collect(),
    };
    let start_of = |i: usize| match job {
        Job::Frame(_, entries) => entries[i].1,
        Job::Deltas(_) => i as u32,
    };
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        let mut units = Vec::new();
        for (i, &(data, utf16)) in parts.iter().enumerate().filter(|(_, p)| !p.0.is_empty()) {
            let mut grams = Vec::new();
            crate::postings::unit_trigrams(data, false, &mut seen, &mut grams);
            units.push((start_of(i), grams, utf16));
        }
        // grams.idx's are folded
        let mut all: Vec<u32> = units.iter().flat_map(|u| u.1.iter().map(|&t| crate::postings::fold_trigram(t))).collect();
        all.sort_unstable();
        all.dedup();
        // kept until the pack is finished: only its length
        all.shrink_to_fit();
        (units, all)
    })
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
    /// Deltas waiting to make a unit, and their bytes; once one is added, blobs stored whole
    /// are not (delta frames come last).
    deltas: Vec<DeltaJob>,
    delta_bytes: usize,
    in_deltas: bool,
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
        let mut postings = crate::PostingsWriter::new(&dir.join("postings.idx"), opts.index_memory, opts.index_tmp.as_deref().unwrap_or(dir));
        let worker = std::thread::Builder::new()
            .name("pack-compress".into())
            .spawn(move || {
                // Compression contexts, reused from frame to frame and dropped with the writer:
                // a level-10 context with a frame-sized window is ~21 MB, too much to make per frame.
                let contexts: std::sync::Mutex<Vec<zstd::bulk::Compressor<'static>>> = std::sync::Mutex::new(Vec::new());
                let mut w = Written { entries: Vec::new(), frames: Vec::new(), grams: Vec::new(), utf16: Vec::new(), deltas: Vec::new(), pack_len: PACK_MAGIC.len() as u64, postings: None };
                let mut put = |w: &mut Written, c: &[u8], raw_len: usize| -> Result<u32, StoreError> {
                    let frame_no = w.frames.len() as u32;
                    out.write_all(c).map_err(|e| StoreError::io(&path, e))?;
                    w.frames.push((w.pack_len, c.len() as u32, raw_len as u32));
                    w.pack_len += c.len() as u64;
                    Ok(frame_no)
                };
                for batch in rx {
                    // each job compressed, and its postings units found, side by side
                    let compressed: Vec<(std::io::Result<Vec<Vec<u8>>>, JobUnits)> = batch
                        .par_iter()
                        .map(|job| {
                            rayon::join(
                                || match job {
                                    Job::Frame(raw, _) => compress_frame(&contexts, raw, level).map(|c| vec![c]),
                                    Job::Deltas(jobs) => jobs.par_iter().map_init(zstd::zstd_safe::CCtx::create, |c, j| compress_delta(c, j, level)).collect(),
                                },
                                || job_units(job),
                            )
                        })
                        .collect();
                    for (job, (c, (units, job_grams))) in batch.into_iter().zip(compressed) {
                        let c = c.map_err(|e| StoreError::io(&path, e))?;
                        match job {
                            Job::Frame(raw, entries) => {
                                w.grams.push(job_grams);
                                w.utf16.push(units.iter().any(|u| u.2));
                                let frame_no = put(&mut w, &c[0], raw.len())?;
                                for (offset, grams, utf16) in units {
                                    postings.add_unit((frame_no, offset), &grams, utf16)?;
                                }
                                w.entries.extend(entries.into_iter().map(|(oid, offset, len)| IdxEntry { oid, frame: frame_no, offset, len }));
                            }
                            Job::Deltas(jobs) => {
                                let unit = w.grams.len() as u32;
                                let first_frame = w.frames.len() as u32;
                                for (j, c) in jobs.iter().zip(&c) {
                                    let frame_no = put(&mut w, c, j.data.len())?;
                                    w.entries.push(IdxEntry { oid: j.oid, frame: frame_no, offset: 0, len: j.data.len() as u32 });
                                    w.deltas.push((j.base, unit));
                                }
                                w.utf16.push(units.iter().any(|u| u.2));
                                for (at, grams, utf16) in units {
                                    postings.add_unit((first_frame + at, 0), &grams, utf16)?;
                                }
                                w.grams.push(job_grams);
                            }
                        }
                    }
                }
                let file = out.into_inner().map_err(|e| StoreError::io(&path, e.into_error()))?;
                file.sync_all().map_err(|e| StoreError::io(&path, e))?;
                w.postings = Some(postings);
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
            deltas: Vec::new(),
            delta_bytes: 0,
            in_deltas: false,
            tx: Some(tx),
            worker: Some(worker),
            raw_bytes: 0,
        })
    }

    /// Adds a blob. The caller adds each id once.
    pub fn add(&mut self, oid: Oid, data: &[u8]) -> Result<(), StoreError> {
        if self.in_deltas {
            return Err(StoreError::Format { path: self.pack_path.clone(), what: "a blob stored whole after a delta".into() });
        }
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

    /// Adds a blob stored as a delta frame against `base`, whose contents are `base_data`.
    /// Deltas come after every blob stored whole; the caller adds each id once and checks
    /// that the two together fit [`MAX_DELTA_SPAN`].
    pub fn add_delta(&mut self, oid: Oid, data: Vec<u8>, base: DeltaBase, base_data: Vec<u8>) -> Result<(), StoreError> {
        u32::try_from(data.len()).map_err(|_| StoreError::TooLarge(data.len() as u64))?;
        if data.len() + base_data.len() > MAX_DELTA_SPAN || base.depth == 0 || base.oid == oid {
            return Err(StoreError::Format { path: self.pack_path.clone(), what: format!("blob {oid} cannot be stored as a delta of {}", base.oid) });
        }
        if !self.in_deltas {
            self.in_deltas = true;
            self.close_frame()?;
        }
        self.raw_bytes += data.len() as u64;
        self.delta_bytes += data.len();
        self.deltas.push(DeltaJob { oid, data, base, base_data });
        if self.delta_bytes >= (self.opts.frame_size / DELTA_UNIT_DIVISOR).max(1) {
            self.close_deltas()?;
        }
        Ok(())
    }

    /// Sends the waiting deltas as one unit.
    fn close_deltas(&mut self) -> Result<(), StoreError> {
        if !self.deltas.is_empty() {
            self.pending.push(Job::Deltas(std::mem::take(&mut self.deltas)));
            self.delta_bytes = 0;
        }
        self.send_pending()
    }

    fn close_frame(&mut self) -> Result<(), StoreError> {
        if !self.current_entries.is_empty() {
            let frame = std::mem::take(&mut self.current);
            let entries = std::mem::take(&mut self.current_entries);
            self.pending.push(Job::Frame(frame, entries));
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
        self.close_deltas()?;
        let mut w = self.join()?;
        w.entries.sort_unstable_by_key(|e| e.oid);
        if let Some(d) = w.entries.windows(2).find(|d| d[0].oid == d[1].oid) {
            return Err(StoreError::Format { path: self.idx_path.clone(), what: format!("blob {} added twice", d[0].oid) });
        }
        write_idx(&self.idx_path, &w.entries, &w.frames, &w.deltas)?;
        let grams_path = self.idx_path.with_file_name("grams.idx");
        let grams_bytes = crate::grams::write_grams(&grams_path, &w.grams, &w.utf16)?;
        let postings_bytes = match w.postings.take() {
            Some(p) => p.finish(w.entries.iter().map(|e| (e.frame, e.offset, e.len)))?,
            None => 0,
        };
        Ok(PackStats { blobs: w.entries.len() as u64, frames: w.frames.len() as u64, raw_bytes: self.raw_bytes, pack_bytes: w.pack_len, grams_bytes, postings_bytes })
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

/// Compresses a delta job: its blob with its base's contents as a raw-content prefix, in a
/// window that spans both.
fn compress_delta<'a>(c: &mut zstd::zstd_safe::CCtx<'a>, j: &'a DeltaJob, level: i32) -> std::io::Result<Vec<u8>> {
    use zstd::zstd_safe::CParameter;
    let err = |code: usize| std::io::Error::other(zstd::zstd_safe::get_error_name(code));
    c.reset(zstd::zstd_safe::ResetDirective::SessionAndParameters).map_err(err)?;
    c.set_parameter(CParameter::CompressionLevel(level)).map_err(err)?;
    c.set_parameter(CParameter::WindowLog(window_log(j.data.len() + j.base_data.len()))).map_err(err)?;
    c.set_parameter(CParameter::ContentSizeFlag(true)).map_err(err)?;
    c.ref_prefix(&j.base_data).map_err(err)?;
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(j.data.len()));
    c.compress2(&mut out, &j.data).map_err(err)?;
    out.shrink_to_fit();
    Ok(out)
}

/// The smallest zstd window log that spans `len` bytes (at least 2^10, at most 2^27).
fn window_log(len: usize) -> u32 {
    (usize::BITS - len.max(1 << 10).saturating_sub(1).leading_zeros()).clamp(10, 27)
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

fn write_idx(path: &Path, entries: &[IdxEntry], frames: &[(u64, u32, u32)], deltas: &[(DeltaBase, u32)]) -> Result<(), StoreError> {
    let io = |e| StoreError::io(path, e);
    let mut out = BufWriter::new(File::create(path).map_err(io)?);
    let mut fanout = [0u32; 256];
    for e in entries {
        fanout[e.oid.0[0] as usize] += 1;
    }
    for i in 1..256 {
        fanout[i] += fanout[i - 1];
    }
    // without deltas, version 1: what readers before delta frames read
    out.write_all(if deltas.is_empty() { IDX_MAGIC } else { IDX_MAGIC_DELTAS }).map_err(io)?;
    out.write_all(&(entries.len() as u64).to_le_bytes()).map_err(io)?;
    out.write_all(&(frames.len() as u64).to_le_bytes()).map_err(io)?;
    if !deltas.is_empty() {
        out.write_all(&(deltas.len() as u64).to_le_bytes()).map_err(io)?;
    }
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
    for (b, unit) in deltas {
        out.write_all(&b.oid.0).map_err(io)?;
        for v in [b.root.shard, b.root.frame, b.root.offset, b.root.len, b.depth, *unit] {
            out.write_all(&v.to_le_bytes()).map_err(io)?;
        }
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
    /// Bytes before the fanout's end (the first entry).
    header: usize,
    blobs: usize,
    frames: usize,
    /// Delta frames (the last ones).
    deltas: usize,
    /// Lookups since the index's pages were last let go.
    lookups: crate::Lookups,
    /// The pack file's device and inode.
    file_id: (u64, u64),
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
        let with_deltas = idx.get(..8) == Some(&IDX_MAGIC_DELTAS[..]);
        let header = IDX_HEADER + if with_deltas { 8 } else { 0 };
        if idx.len() < header || !(with_deltas || &idx[..8] == IDX_MAGIC) {
            return Err(bad("not a pycorpus blob index (bad magic)"));
        }
        let count = |at: usize| u64::from_le_bytes(idx[at..at + 8].try_into().expect("8")) as usize;
        let (blobs, frames) = (count(8), count(16));
        let deltas = if with_deltas { count(24) } else { 0 };
        let want = blobs
            .checked_mul(ENTRY_LEN)
            .and_then(|b| frames.checked_mul(FRAME_LEN).and_then(|f| b.checked_add(f)))
            .and_then(|bf| deltas.checked_mul(DELTA_LEN).and_then(|d| (header + bf).checked_add(d)));
        if want != Some(idx.len()) || deltas > frames {
            return Err(bad("index length does not match its counts"));
        }
        let pack = File::open(&pack_path).map_err(|e| StoreError::io(&pack_path, e))?;
        let fanout_ok = blobs == 0 || u32::from_le_bytes(idx[header - 4..header].try_into().expect("4")) as usize == blobs;
        if !fanout_ok {
            return Err(bad("fanout table does not match the blob count"));
        }
        let file_id = {
            use std::os::unix::fs::MetadataExt;
            let m = pack.metadata().map_err(|e| StoreError::io(&pack_path, e))?;
            (m.dev(), m.ino())
        };
        Ok(PackReader { idx_path, pack_path, idx, pack, header, blobs, frames, deltas, lookups: Default::default(), file_id })
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.blobs
    }

    /// True when the pack holds no blob.
    pub fn is_empty(&self) -> bool {
        self.blobs == 0
    }

    /// The pack file's identity (device, inode): what a cache of decoded frames keys on, so
    /// that a shard replaced in place (an upgrade swaps whole folders) is another pack.
    pub fn file_id(&self) -> (u64, u64) {
        self.file_id
    }

    /// Number of frames.
    pub fn frame_count(&self) -> usize {
        self.frames
    }

    fn fanout(&self, i: usize) -> u32 {
        let at = self.header - 256 * 4 + i * 4;
        u32::from_le_bytes(self.idx[at..at + 4].try_into().expect("4"))
    }

    /// The `i`-th entry in id order.
    pub fn entry_at(&self, i: usize) -> (Oid, PackEntry) {
        let at = self.header + i * ENTRY_LEN;
        let e = &self.idx[at..at + ENTRY_LEN];
        let u = |o: usize| u32::from_le_bytes(e[o..o + 4].try_into().expect("4"));
        (Oid::from_slice(&e[..20]).expect("20"), PackEntry { frame: u(20), offset: u(24), len: u(28) })
    }

    /// Frame `i`.
    pub fn frame(&self, i: usize) -> FrameInfo {
        let at = self.header + self.blobs * ENTRY_LEN + i * FRAME_LEN;
        let f = &self.idx[at..at + FRAME_LEN];
        FrameInfo {
            pack_offset: u64::from_le_bytes(f[..8].try_into().expect("8")),
            compressed_len: u32::from_le_bytes(f[8..12].try_into().expect("4")),
            len: u32::from_le_bytes(f[12..16].try_into().expect("4")),
        }
    }

    /// Number of delta frames (the last frames of the pack).
    pub fn delta_count(&self) -> usize {
        self.deltas
    }

    /// The base of frame `i` when it is a delta frame.
    pub fn delta(&self, i: usize) -> Option<DeltaBase> {
        self.delta_entry(i).map(|(b, _)| b)
    }

    fn delta_entry(&self, i: usize) -> Option<(DeltaBase, u32)> {
        let d = i.checked_sub(self.frames - self.deltas).filter(|_| i < self.frames)?;
        let at = self.header + self.blobs * ENTRY_LEN + self.frames * FRAME_LEN + d * DELTA_LEN;
        let e = &self.idx[at..at + DELTA_LEN];
        let u = |o: usize| u32::from_le_bytes(e[o..o + 4].try_into().expect("4"));
        let root = BlobPlace { shard: u(20), frame: u(24), offset: u(28), len: u(32) };
        Some((DeltaBase { oid: Oid::from_slice(&e[..20]).expect("20"), root, depth: u(36) }, u(40)))
    }

    /// Units of `grams.idx`: each frame before the delta frames, then each group of them.
    pub fn gram_units(&self) -> usize {
        match self.deltas {
            0 => self.frames,
            _ => self.delta_entry(self.frames - 1).map_or(self.frames, |(_, u)| u as usize + 1),
        }
    }

    /// The unit of `grams.idx` that frame `i` belongs to.
    pub fn gram_unit(&self, i: usize) -> usize {
        self.delta_entry(i).map_or(i, |(_, u)| u as usize)
    }

    /// Lets go of the index pages this process has touched (see `release_pages`).
    pub fn release_pages(&self) {
        crate::release_pages(&self.idx);
    }

    /// Finds a blob by binary search within its fanout bucket.
    pub fn find(&self, oid: &Oid) -> Option<PackEntry> {
        let b = oid.0[0] as usize;
        let (mut lo, mut hi) = (if b == 0 { 0 } else { self.fanout(b - 1) as usize }, self.fanout(b) as usize);
        self.lookups.count(&self.idx, self.header + lo * ENTRY_LEN);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match oid.cmp_stored(&self.idx[self.header + mid * ENTRY_LEN..]) {
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
    /// A blob stored as a delta is an error here: see [`PackReader::read_with`].
    pub fn read(&self, oid: &Oid) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_with(oid, &mut |b| Err(StoreError::Format { path: self.idx_path.clone(), what: format!("blob {oid} is stored as a delta of {b}, which this pack alone cannot give") }))
    }

    /// Reads a blob's contents as [`PackReader::read`] does, asking `base` for the contents of
    /// the base of a blob stored as a delta.
    pub fn read_with(&self, oid: &Oid, base: &mut dyn FnMut(&Oid) -> Result<Vec<u8>, StoreError>) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(e) = self.find(oid) else { return Ok(None) };
        if let Some(d) = self.delta(e.frame as usize) {
            let b = base(&d.oid)?;
            let mut out = Vec::new();
            self.decode_delta(e.frame as usize, &b, &mut out, &mut Vec::new())?;
            return Ok(Some(out));
        }
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
        self.not_delta(i)?;
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

    /// An error when frame `i` is a delta frame (which decodes only with its base).
    fn not_delta(&self, i: usize) -> Result<(), StoreError> {
        match self.delta(i) {
            Some(d) => Err(StoreError::Format { path: self.idx_path.clone(), what: format!("frame {i} is a delta of blob {}: it decodes only with that blob", d.oid) }),
            None => Ok(()),
        }
    }

    /// Decodes delta frame `i` whole into `out` (its allocation reused; `scratch` takes the
    /// compressed bytes), given the contents of its base.
    pub fn decode_delta(&self, i: usize, base: &[u8], out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> Result<(), StoreError> {
        let Some(d) = self.delta(i) else {
            return Err(StoreError::Format { path: self.idx_path.clone(), what: format!("frame {i} is not a delta frame") });
        };
        let len = self.read_compressed_into(i, scratch)?;
        let wrong = |what: String| StoreError::Format { path: self.pack_path.clone(), what };
        out.clear();
        // one byte of room more than the blob should hold, as in read_frame_into
        out.reserve(len + 1);
        let got = match base.starts_with(&ZSTD_DICT_MAGIC) {
            // zstd would read such a base as a dictionary of its own format: a one-use
            // context told that it is raw content
            true => {
                let mut dctx = zstd::zstd_safe::DCtx::create();
                dctx.ref_prefix(base).map_err(|c| wrong(format!("frame {i}: {}", zstd::zstd_safe::get_error_name(c))))?;
                dctx.decompress(out, &scratch[..])
            }
            // a context per thread, reused: making one per blob showed in profiles
            false => DELTA_DCTX.with(|d| d.borrow_mut().decompress_using_dict(out, &scratch[..], base)),
        };
        match got {
            Ok(n) if n == len => Ok(()),
            Ok(n) => Err(wrong(format!("delta frame {i} decodes to {n} bytes, its index entry says {len}"))),
            Err(c) => Err(wrong(format!("delta frame {i} does not decode against blob {}: {}", d.oid, zstd::zstd_safe::get_error_name(c)))),
        }
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
        self.not_delta(i)?;
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
    /// problems found (empty when the pack is sound); `progress` gets frames done, and when it
    /// returns `Break` the check stops there (the problems are then those of the frames checked). A delta
    /// frame is reported as unchecked: see [`PackReader::verify_with`].
    pub fn verify(&self, progress: &(dyn Fn(u64) -> ControlFlow<()> + Sync)) -> Vec<String> {
        self.verify_with(&|b| Err(StoreError::Format { path: self.idx_path.clone(), what: format!("base {b} is in no pack given") }), progress)
    }

    /// [`PackReader::verify`], asking `base` for the contents of the bases of delta frames;
    /// also checks the delta table (units in order, depths of at least 1).
    pub fn verify_with(&self, base: &(dyn Fn(&Oid) -> Result<Vec<u8>, StoreError> + Sync), progress: &(dyn Fn(u64) -> ControlFlow<()> + Sync)) -> Vec<String> {
        let mut problems = Vec::new();
        let first_delta = self.frames - self.deltas;
        let mut last_unit = first_delta.checked_sub(1).map(|u| u as u32);
        for i in first_delta..self.frames {
            let (d, unit) = self.delta_entry(i).expect("a delta frame");
            let next = last_unit.map_or(0, |u| u + 1);
            if unit != next && Some(unit) != last_unit {
                problems.push(format!("delta frame {i}: unit {unit} out of order"));
            }
            last_unit = Some(unit);
            if d.depth == 0 {
                problems.push(format!("delta frame {i}: depth 0"));
            }
        }
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
        let stop = std::sync::atomic::AtomicBool::new(false);
        let workers = rayon::current_num_threads().clamp(1, self.frames.max(1));
        let mut found: Vec<(usize, Vec<String>)> = (0..workers)
            .into_par_iter()
            .map(|_| {
                let (mut bufs, mut data, mut found) = (FrameBuffers::default(), Vec::new(), Vec::new());
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(blobs) = by_frame.get(i).filter(|_| !stop.load(std::sync::atomic::Ordering::Relaxed)) else { break found };
                    let read = match self.delta(i) {
                        Some(d) => base(&d.oid).and_then(|b| self.decode_delta(i, &b, &mut data, &mut bufs.compressed)),
                        None => self.read_frame_into(i, &mut bufs, &mut data),
                    };
                    let p = match read {
                        Err(e) => vec![format!("frame {i}: {e}")],
                        Ok(()) => check_frame(i, blobs, &data),
                    };
                    if !p.is_empty() {
                        found.push((i, p));
                    }
                    if progress(1).is_break() {
                        // every worker stops before its next frame
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
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
        let mut w = PackWriter::create(dir.path(), PackOptions { level: 3, frame_size: 1000, ..Default::default() }).expect("create");
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
        assert!(r.verify(&|_| ControlFlow::Continue(())).is_empty());
    }

    #[test]
    fn the_search_index_names_exactly_the_units_of_the_blobs_that_hold_a_trigram() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(dir.path(), PackOptions { level: 3, frame_size: 40_000, ..Default::default() }).expect("create");
        // 400 blobs of ~3 KB (several frames) and the empty one; every 37th holds the needle
        let mut blobs: Vec<Vec<u8>> = (0..400).map(|i| format!("line {i} {}\n", if i % 37 == 5 { "Zyxwv" } else { "plain" }).repeat(100).into_bytes()).collect();
        blobs.insert(17, Vec::new());
        for b in &blobs {
            w.add(Oid::for_blob(b), b).expect("add");
        }
        let stats = w.finish().expect("finish");
        assert!(stats.postings_bytes > 0 && stats.frames > 10, "{stats:?}");
        let r = PackReader::open(dir.path()).expect("open");
        let idx = crate::PostingsIndex::open(dir.path()).expect("open").expect("written");
        idx.check(&r).expect("sound");
        assert!(idx.fits(&r) && idx.units() == 400, "a unit per blob but the empty one");
        // the index of another pack does not fit this one
        let other = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(other.path(), PackOptions { level: 3, frame_size: 40_000, ..Default::default() }).expect("create");
        for b in blobs.iter().skip(1) {
            w.add(Oid::for_blob(b), b).expect("add");
        }
        w.finish().expect("finish");
        let r2 = PackReader::open(other.path()).expect("open");
        assert!(idx.check(&r2).is_err() && crate::PostingsIndex::open(other.path()).expect("open").expect("written").check(&r).is_err());
        let keep = idx.units_with(crate::trigram(b'Z', b'y', b'x')).expect("read");
        let c = idx.candidates(keep, &r);
        let mut got = std::collections::BTreeSet::new();
        c.each_blob(&r, &mut |oid| {
            got.insert(oid);
            ControlFlow::Continue(())
        });
        // exactly the holders, and the empty blob (which no index rules out)
        let mut holders: std::collections::BTreeSet<Oid> = blobs.iter().filter(|b| b.windows(5).any(|x| x == b"Zyxwv")).map(|b| Oid::for_blob(b)).collect();
        holders.insert(Oid::for_blob(b""));
        assert_eq!(got, holders);
        for (i, b) in blobs.iter().enumerate() {
            let e = r.find(&Oid::for_blob(b)).expect("stored");
            assert_eq!(c.keeps(&r, e.frame, e.offset, e.len), holders.contains(&Oid::for_blob(b)), "blob {i}");
        }
        // and it stops when asked
        let mut n = 0;
        c.each_blob(&r, &mut |_| {
            n += 1;
            if n == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        });
        assert_eq!(n, 3);
    }

    #[test]
    fn frame_prefixes_decode_into_one_reused_buffer() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(dir.path(), PackOptions { level: 3, frame_size: 4000, ..Default::default() }).expect("create");
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

    /// Versions of a file: each the one before with a line changed and one added.
    fn versions(n: usize) -> Vec<Vec<u8>> {
        // scattered numbers, so that a version does not compress to nothing by itself
        let mut v: Vec<String> = (0..200u64).map(|i| format!("def function_{:x}(x):\n    return x * {}\n", i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i.wrapping_mul(2_654_435_761) % 1_000_003)).collect();
        (0..n)
            .map(|k| {
                v[k * 7 % 200] = format!("def function_{k}(y):  # changed in version {k}\n    return y\n");
                v.push(format!("# added in version {k}\n"));
                v.concat().into_bytes()
            })
            .collect()
    }

    #[test]
    fn delta_frames_decode_against_their_base_and_cost_about_the_change() {
        let vs = versions(12);
        let ids: Vec<Oid> = vs.iter().map(|b| Oid::for_blob(b)).collect();
        // an "earlier shard": version 0 stored whole
        let early = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(early.path(), PackOptions { level: 3, frame_size: 1 << 20, ..Default::default() }).expect("create");
        w.add(ids[0], &vs[0]).expect("add");
        let whole = w.finish().expect("finish");
        let early_r = PackReader::open(early.path()).expect("open");
        assert_eq!(early_r.delta_count(), 0);
        assert_eq!(&std::fs::read(early.path().join("blobs.idx")).expect("idx")[..8], IDX_MAGIC, "no deltas: version 1");
        let e0 = early_r.find(&ids[0]).expect("stored");
        let root = BlobPlace { shard: 1, frame: e0.frame, offset: e0.offset, len: e0.len };
        // a later pack: a blob stored whole, then versions 1.. each a delta of the one before
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(dir.path(), PackOptions { level: 3, frame_size: 80_000, ..Default::default() }).expect("create");
        w.add(Oid::for_blob(b"unrelated\n"), b"unrelated\n").expect("add");
        for k in 1..vs.len() {
            w.add_delta(ids[k], vs[k].clone(), DeltaBase { oid: ids[k - 1], root, depth: k as u32 }, vs[k - 1].clone()).expect("delta");
        }
        assert!(w.add(Oid::for_blob(b"late"), b"late").is_err(), "blobs stored whole come first");
        let stats = w.finish().expect("finish");
        assert_eq!((stats.blobs, stats.frames), (12, 12));
        // eleven deltas cost less than one blob stored whole
        assert!(stats.pack_bytes < whole.pack_bytes, "{stats:?} vs {whole:?}");
        let r = PackReader::open(dir.path()).expect("open");
        assert_eq!(r.delta_count(), 11);
        assert_eq!(&std::fs::read(dir.path().join("blobs.idx")).expect("idx")[..8], IDX_MAGIC_DELTAS);
        let d5 = r.delta(r.find(&ids[5]).expect("stored").frame as usize).expect("a delta");
        assert_eq!((d5.oid, d5.root, d5.depth), (ids[4], root, 5));
        assert_eq!(r.delta(0), None);
        // units: frame 0, then the deltas in groups of about 20,000 bytes (a quarter frame)
        let units = r.gram_units();
        assert!(units > 2 && units < 11, "{units} units");
        assert_eq!(crate::GramIndex::open(dir.path()).expect("grams").expect("present").frames(), units);
        let all: std::collections::HashMap<Oid, Vec<u8>> = ids.iter().copied().zip(vs.iter().cloned()).collect();
        let base = |b: &Oid| all.get(b).cloned().ok_or_else(|| StoreError::Format { path: "x".into(), what: "no".into() });
        for k in 1..vs.len() {
            assert_eq!(r.read_with(&ids[k], &mut |b| base(b)).expect("read").as_deref(), Some(&vs[k][..]));
            // without a way to its base, a clear error, not wrong bytes
            let e = r.read(&ids[k]).expect_err("needs its base").to_string();
            assert!(e.contains("delta"), "{e}");
        }
        let f = r.find(&ids[3]).expect("stored").frame as usize;
        assert!(r.decode_frame_prefix(f, 1, &mut Vec::new(), &mut Vec::new()).is_err());
        // the wrong base gives an error or other bytes (which verify's hash check catches, below)
        let mut out = Vec::new();
        assert!(r.decode_delta(f, &vs[1], &mut out, &mut Vec::new()).is_err() || out != vs[3]);
        assert_eq!(r.verify_with(&base, &|_| ControlFlow::Continue(())), Vec::<String>::new());
        assert_eq!(r.verify(&|_| ControlFlow::Continue(())).len(), 11, "without bases, each delta frame is reported");
        // a base with other contents is caught by the hash
        let wrong = |b: &Oid| if *b == ids[6] { Ok(vs[7].clone()) } else { base(b) };
        let problems = r.verify_with(&wrong, &|_| ControlFlow::Continue(()));
        assert!(problems.iter().any(|p| p.contains(&format!("frame {}", r.find(&ids[7]).expect("stored").frame))), "{problems:?}");
    }

    #[test]
    fn a_delta_that_cannot_be_one_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(dir.path(), PackOptions { level: 1, frame_size: 1 << 20, ..Default::default() }).expect("create");
        let (a, b) = (b"version one\n".to_vec(), b"version two\n".to_vec());
        let (oa, ob) = (Oid::for_blob(&a), Oid::for_blob(&b));
        let root = BlobPlace { shard: 1, frame: 0, offset: 0, len: a.len() as u32 };
        // depth 0 (a delta is at least one step from its root), itself as base, too large a window
        assert!(w.add_delta(ob, b.clone(), DeltaBase { oid: oa, root, depth: 0 }, a.clone()).is_err());
        assert!(w.add_delta(ob, b.clone(), DeltaBase { oid: ob, root, depth: 1 }, b.clone()).is_err());
        assert!(w.add_delta(ob, b.clone(), DeltaBase { oid: oa, root, depth: 1 }, vec![b'x'; MAX_DELTA_SPAN]).is_err());
        // refused, nothing was added: the pack is still whole-blob only
        w.add(oa, &a).expect("add");
        assert_eq!(w.finish().expect("finish").blobs, 1);
    }

    #[test]
    fn a_base_that_starts_like_a_zstd_dictionary_is_still_raw_content() {
        let mut base = ZSTD_DICT_MAGIC.to_vec();
        base.extend(versions(1).remove(0));
        let mut next = base.clone();
        next.extend_from_slice(b"one more line\n");
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(dir.path(), PackOptions { level: 3, frame_size: 1 << 20, ..Default::default() }).expect("create");
        let (b, n) = (Oid::for_blob(&base), Oid::for_blob(&next));
        let root = BlobPlace { shard: 1, frame: 0, offset: 0, len: base.len() as u32 };
        w.add_delta(n, next.clone(), DeltaBase { oid: b, root, depth: 1 }, base.clone()).expect("delta");
        w.finish().expect("finish");
        let r = PackReader::open(dir.path()).expect("open");
        assert_eq!(r.read_with(&n, &mut |_| Ok(base.clone())).expect("read").as_deref(), Some(&next[..]));
    }

    /// A pack of 50 small blobs in frames of 64 bytes (a few blobs each).
    fn small_frames() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = PackWriter::create(dir.path(), PackOptions { level: 1, frame_size: 64, ..Default::default() }).expect("create");
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
        assert_eq!(
            r.verify(&|n| {
                done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                ControlFlow::Continue(())
            }),
            Vec::<String>::new()
        );
        assert_eq!(done.into_inner(), frames as u64, "every frame checked once");
        // told to stop, each worker checks no more than the frame it was on
        let done = std::sync::atomic::AtomicU64::new(0);
        r.verify(&|n| {
            done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            ControlFlow::Break(())
        });
        assert!(done.into_inner() <= rayon::current_num_threads() as u64, "stopped at once");
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
        let problems = PackReader::open(dir.path()).expect("open").verify(&|_| ControlFlow::Continue(()));
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
        assert!(!r.verify(&|_| ControlFlow::Continue(())).is_empty());
        let idx = dir.path().join("blobs.idx");
        let mut data = std::fs::read(&idx).expect("read");
        data.truncate(data.len() - 1);
        std::fs::write(&idx, &data).expect("write");
        assert!(matches!(PackReader::open(dir.path()), Err(StoreError::Format { .. })));
    }
}
