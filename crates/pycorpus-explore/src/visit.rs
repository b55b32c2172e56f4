//! Visiting the unique blobs of a selection: the engine under grep, extract and stream.
//!
//! The filters select rows; their stored blobs are located in their shards and grouped by
//! zstd frame, each frame decoded once, only up to its last wanted blob, on the worker threads.
//! Per-blob work runs in parallel; its results reach the caller's sink in a fixed order
//! (shard, frame, offset in frame), whatever the thread count.

use crate::ExploreError;
use pycorpus_catalog::{FileRow, Filter, ScanStats};
use pycorpus_core::{Corpus, ShardKind};
use pycorpus_store::{FrameSet, Journal, JournalBlob, Oid, OidMap, PackReader};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// The files that hold one blob.
#[derive(Debug, Clone)]
pub struct Holders {
    /// The first file in index order.
    pub first: FileRow,
    /// How many selected files hold it.
    pub count: u64,
    /// The other files, when asked for.
    pub others: Vec<FileRow>,
}

impl Holders {
    /// Every file kept: the first, then the others.
    pub fn all(&self) -> impl Iterator<Item = &FileRow> {
        std::iter::once(&self.first).chain(self.others.iter())
    }
}

/// What a visit touched.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VisitStats {
    /// The row scan.
    pub scan: ScanStats,
    /// Unique blobs selected.
    pub candidate_blobs: u64,
    /// Their bytes.
    pub candidate_bytes: u64,
    /// Selected rows with stored contents (several rows can share a blob).
    pub stored_rows: u64,
    /// Selected rows without (skipped at ingest: binary, too large, links, ...).
    pub unstored_rows: u64,
    /// Selected blobs found in no shard (a damaged corpus; `verify` says more).
    pub missing_blobs: u64,
    /// zstd frames decoded.
    pub frames_decoded: u64,
    /// Bytes decoded from them.
    pub bytes_decoded: u64,
    /// Blobs handed to the work function.
    pub blobs_read: u64,
    /// Frames holding selected blobs that the frame filter (the trigram index) ruled out.
    pub frames_skipped: u64,
    /// Sealed shards whose frames were filtered that way.
    pub shards_filtered: u64,
}

/// Decides which frames of a sealed shard can matter: given the shard's folder and its frame
/// count, the frames to read, or `None` for all.
pub type FrameFilter<'a> = dyn Fn(&std::path::Path, usize) -> Result<Option<FrameSet>, ExploreError> + Sync + 'a;

/// The per-blob work: worker state, blob id, the files holding it, its bytes.
pub type BlobWork<'a, S, T> = dyn Fn(&mut S, &Oid, &Holders, &[u8]) -> Result<T, ExploreError> + Sync + 'a;

/// What one unit gives back: per-blob results, frames decoded, bytes decoded.
type UnitOut<T> = Result<(Vec<T>, u64, u64), ExploreError>;

/// A unit of work: blobs read together.
enum Unit {
    /// Blobs of one frame of a sealed shard (place in the holders list, offset, length), by
    /// offset.
    Frame { pack: usize, frame: usize, blobs: Vec<(u32, u32, u32)> },
    /// Blobs of an open shard's journal (place in the holders list, location).
    Journal { journal: usize, blobs: Vec<(u32, JournalBlob)> },
}

/// How a visit goes.
#[derive(Default)]
pub struct VisitOptions<'a> {
    /// Keep every selected file holding a blob in [`Holders::others`], not only the first.
    pub all_rows: bool,
    /// Rules out whole frames of sealed shards.
    pub frame_filter: Option<&'a FrameFilter<'a>>,
    /// Units (frames) whose results are held at once before going to the sink, per worker
    /// thread (0: 4). Larger evens out the load between threads; smaller bounds memory when
    /// results are large (a frame's worth of contents each).
    pub batch_per_thread: usize,
}

/// A shard opened for reading blobs.
enum Store {
    /// A sealed shard's pack and the frames worth reading (`None`: all).
    Sealed { pack: PackReader, keep: Option<FrameSet> },
    /// An open shard's journal.
    Open(Journal),
}

/// Opens every shard's blob store, in shard order (open shards without a journal yet hold
/// nothing and are left out).
fn open_stores(shards: &[pycorpus_core::ShardInfo], frame_filter: Option<&FrameFilter<'_>>) -> Result<Vec<Store>, ExploreError> {
    let mut out = Vec::new();
    for shard in shards {
        match shard.kind {
            ShardKind::Sealed => {
                let pack = PackReader::open(&shard.dir)?;
                let keep = match frame_filter {
                    Some(f) => f(&shard.dir, pack.frame_count())?,
                    None => None,
                };
                out.push(Store::Sealed { pack, keep });
            }
            ShardKind::Open => {
                let path = shard.dir.join("journal.log");
                if path.exists() {
                    out.push(Store::Open(Journal::open_read_only(&path)?.0));
                }
            }
        }
    }
    Ok(out)
}

/// Scans the index for the selected rows and gathers the files holding each stored blob, in
/// first-seen order. Rows are built only for the first file holding each blob (and, with
/// `all_rows`, for every file): most selected rows share a blob with an earlier one.
fn scan_holders(corpus: &Corpus, filter: &Filter, all_rows: bool, cancel: &AtomicBool, stats: &mut VisitStats) -> Result<Vec<(Oid, Box<Holders>)>, ExploreError> {
    // Boxed: the list grows by copying, and a row is large.
    let mut holders: Vec<(Oid, Box<Holders>)> = Vec::new();
    // A blob's place in `holders`.
    let mut index: OidMap<u32> = OidMap::default();
    corpus.scan_row_refs(filter, &mut stats.scan, &mut |r| {
        if !r.is_stored() {
            stats.unstored_rows += 1;
            return Ok(!cancel.load(Ordering::SeqCst));
        }
        let hash = r.hash()?;
        match index.get(&hash) {
            Some(_) if filter.unique => {}
            Some(&at) => {
                stats.stored_rows += 1;
                let h = &mut holders[at as usize].1;
                h.count += 1;
                if all_rows {
                    h.others.push(r.to_row()?);
                }
            }
            None => {
                stats.stored_rows += 1;
                let row = r.to_row()?;
                stats.candidate_bytes += row.size;
                index.insert(hash, holders.len() as u32);
                holders.push((hash, Box::new(Holders { first: row, count: 1, others: Vec::new() })));
            }
        }
        Ok(!cancel.load(Ordering::SeqCst))
    })?;
    Ok(holders)
}

/// Calls `work` on every unique stored blob of the rows `filter` selects (in parallel, each
/// worker with its own state from `init`), then `sink` on each result in a fixed order.
pub fn visit_blobs<S, T: Send>(
    corpus: &Corpus,
    filter: &Filter,
    opts: &VisitOptions<'_>,
    cancel: &AtomicBool,
    init: &(dyn Fn() -> S + Sync),
    work: &BlobWork<'_, S, T>,
    sink: &mut dyn FnMut(T) -> Result<(), ExploreError>,
) -> Result<VisitStats, ExploreError> {
    let mut stats = VisitStats::default();
    // The shards' packs, journals and frame filters are opened on another thread while this
    // one scans the index: both take a while on a large shard and need nothing from each other.
    let shards = corpus.shards()?;
    let (scanned, stores) = std::thread::scope(|s| {
        let stores = s.spawn(|| open_stores(&shards, opts.frame_filter));
        let scanned = scan_holders(corpus, filter, opts.all_rows, cancel, &mut stats);
        (scanned, stores.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    });
    let (holders, stores) = (scanned?, stores?);
    stats.candidate_blobs = holders.len() as u64;

    // Where each blob is, grouped by frame, in frame and offset order.
    let (mut packs, mut journals, mut units) = (Vec::new(), Vec::new(), Vec::new());
    // Blob ids in order (the pack's index order), each with its place in `holders`.
    let mut left: Vec<(Oid, u32)> = holders.iter().enumerate().map(|(i, (oid, _))| (*oid, i as u32)).collect();
    left.sort_unstable();
    for store in stores {
        if left.is_empty() {
            break;
        }
        match store {
            Store::Sealed { pack, keep } => {
                stats.shards_filtered += u64::from(keep.is_some());
                let mut by_frame: BTreeMap<u32, Vec<(u32, u32, u32)>> = BTreeMap::new();
                left.retain(|(oid, at)| match pack.find(oid) {
                    Some(e) => {
                        by_frame.entry(e.frame).or_default().push((*at, e.offset, e.len));
                        false
                    }
                    None => true,
                });
                for (frame, mut blobs) in by_frame {
                    if keep.as_ref().is_some_and(|k| !k.contains(frame as usize)) {
                        stats.frames_skipped += 1;
                        continue;
                    }
                    blobs.sort_unstable_by_key(|b| b.1);
                    units.push(Unit::Frame { pack: packs.len(), frame: frame as usize, blobs });
                }
                packs.push(pack);
            }
            Store::Open(journal) => {
                let mut blobs: Vec<(u32, JournalBlob)> = Vec::new();
                left.retain(|(oid, at)| match journal.locate(oid) {
                    Some(loc) => {
                        blobs.push((*at, loc));
                        false
                    }
                    None => true,
                });
                blobs.sort_unstable_by_key(|b| b.1.offset);
                for chunk in blobs.chunks(256) {
                    units.push(Unit::Journal { journal: journals.len(), blobs: chunk.to_vec() });
                }
                journals.push(journal);
            }
        }
    }
    stats.missing_blobs = left.len() as u64;

    // Units run on worker threads, each with its own state and buffers; their results reach
    // the sink in unit order, never more than a window of units ahead of it (bounded memory).
    let threads = rayon::current_num_threads().max(1);
    let window = threads * if opts.batch_per_thread == 0 { 4 } else { opts.batch_per_thread };
    let run_unit = |(state, buf, scratch): &mut (S, Vec<u8>, Vec<u8>), unit: &Unit| -> UnitOut<T> {
        let mut out = Vec::new();
        match unit {
            Unit::Frame { pack, frame, blobs } => {
                let end = blobs.iter().map(|b| (b.1 + b.2) as usize).max().unwrap_or(0);
                packs[*pack].decode_frame_prefix(*frame, end, buf, scratch)?;
                for (at, off, len) in blobs {
                    let (oid, h) = &holders[*at as usize];
                    out.push(work(state, oid, h, &buf[*off as usize..(*off + *len) as usize])?);
                }
                Ok((out, 1, end as u64))
            }
            Unit::Journal { journal, blobs } => {
                for (at, loc) in blobs {
                    let data = journals[*journal].read_at(loc)?;
                    let (oid, h) = &holders[*at as usize];
                    out.push(work(state, oid, h, &data)?);
                }
                Ok((out, 0, 0))
            }
        }
    };
    crate::ordered::ordered_map(
        units.len(),
        threads,
        window,
        cancel,
        &|| (init(), Vec::new(), Vec::new()),
        &|st, i| run_unit(st, &units[i]),
        &mut |r: UnitOut<T>| -> Result<(), ExploreError> {
            let (outs, frames, decoded) = r?;
            stats.frames_decoded += frames;
            stats.bytes_decoded += decoded;
            stats.blobs_read += outs.len() as u64;
            for t in outs {
                sink(t)?;
            }
            Ok(())
        },
    )?;
    Ok(stats)
}
