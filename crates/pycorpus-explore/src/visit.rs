//! Visiting the unique blobs of a selection: the engine under grep, extract and stream.
//!
//! The filters select rows; their stored blobs are located in their shards and grouped by
//! zstd frame, each frame decoded once, only up to its last wanted blob, on the worker threads.
//! Per-blob work runs in parallel; its results reach the caller's sink in a fixed order
//! (shard, frame, offset in frame), whatever the thread count.

use crate::ExploreError;
use pycorpus_catalog::{FileRow, Filter, ScanStats};
use pycorpus_core::{Corpus, ShardKind};
use pycorpus_store::{FrameSet, Journal, JournalBlob, Oid, PackReader};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
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
pub type FrameFilter<'a> = dyn Fn(&std::path::Path, usize) -> Result<Option<FrameSet>, ExploreError> + 'a;

/// The per-blob work: worker state, blob id, the files holding it, its bytes.
pub type BlobWork<'a, S, T> = dyn Fn(&mut S, &Oid, &Holders, &[u8]) -> Result<T, ExploreError> + Sync + 'a;

/// What one unit gives back: per-blob results, frames decoded, bytes decoded.
type UnitOut<T> = Result<(Vec<T>, u64, u64), ExploreError>;

/// A unit of work: blobs read together.
enum Unit {
    /// Blobs of one frame of a sealed shard, by offset.
    Frame { pack: usize, frame: usize, blobs: Vec<(Oid, u32, u32)> },
    /// Blobs of an open shard's journal.
    Journal { journal: usize, blobs: Vec<(Oid, JournalBlob)> },
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
    let mut holders: HashMap<Oid, Holders> = HashMap::new();
    // Rows are built only for the first file holding each blob (and, with `all_rows`, for
    // every file): most selected rows share a blob with an earlier one.
    corpus.scan_row_refs(filter, &mut stats.scan, &mut |r| {
        if !r.is_stored() {
            stats.unstored_rows += 1;
            return Ok(!cancel.load(Ordering::SeqCst));
        }
        let hash = r.hash()?;
        if filter.unique && holders.contains_key(&hash) {
            return Ok(true);
        }
        stats.stored_rows += 1;
        match holders.get_mut(&hash) {
            Some(h) => {
                h.count += 1;
                if opts.all_rows {
                    h.others.push(r.to_row()?);
                }
            }
            None => {
                let row = r.to_row()?;
                stats.candidate_bytes += row.size;
                holders.insert(hash, Holders { first: row, count: 1, others: Vec::new() });
            }
        }
        Ok(!cancel.load(Ordering::SeqCst))
    })?;
    stats.candidate_blobs = holders.len() as u64;

    // Where each blob is, grouped by frame, in frame and offset order.
    let (mut packs, mut journals, mut units) = (Vec::new(), Vec::new(), Vec::new());
    let mut left: Vec<Oid> = holders.keys().copied().collect();
    left.sort_unstable();
    for shard in corpus.shards()? {
        if left.is_empty() {
            break;
        }
        match shard.kind {
            ShardKind::Sealed => {
                let pack = PackReader::open(&shard.dir)?;
                let keep = match opts.frame_filter {
                    Some(f) => f(&shard.dir, pack.frame_count())?,
                    None => None,
                };
                stats.shards_filtered += u64::from(keep.is_some());
                let mut by_frame: BTreeMap<u32, Vec<(Oid, u32, u32)>> = BTreeMap::new();
                left.retain(|oid| match pack.find(oid) {
                    Some(e) => {
                        by_frame.entry(e.frame).or_default().push((*oid, e.offset, e.len));
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
            ShardKind::Open => {
                let path = shard.dir.join("journal.log");
                if !path.exists() {
                    continue;
                }
                let (journal, _) = Journal::open_read_only(&path)?;
                let mut blobs: Vec<(Oid, JournalBlob)> = Vec::new();
                left.retain(|oid| match journal.locate(oid) {
                    Some(loc) => {
                        blobs.push((*oid, loc));
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

    // A batch of units at a time: bounded memory, results handed on in order.
    let batch = rayon::current_num_threads() * if opts.batch_per_thread == 0 { 4 } else { opts.batch_per_thread };
    for chunk in units.chunks(batch) {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        let results: Vec<UnitOut<T>> = chunk
            .par_iter()
            .map_init(
                || (init(), Vec::new(), Vec::new()),
                |(state, buf, scratch), unit| -> UnitOut<T> {
                    let mut out = Vec::new();
                    match unit {
                        Unit::Frame { pack, frame, blobs } => {
                            let end = blobs.iter().map(|b| (b.1 + b.2) as usize).max().unwrap_or(0);
                            packs[*pack].decode_frame_prefix(*frame, end, buf, scratch)?;
                            for (oid, off, len) in blobs {
                                out.push(work(state, oid, &holders[oid], &buf[*off as usize..(*off + *len) as usize])?);
                            }
                            Ok((out, 1, end as u64))
                        }
                        Unit::Journal { journal, blobs } => {
                            for (oid, loc) in blobs {
                                let data = journals[*journal].read_at(loc)?;
                                out.push(work(state, oid, &holders[oid], &data)?);
                            }
                            Ok((out, 0, 0))
                        }
                    }
                },
            )
            .collect();
        for r in results {
            let (outs, frames, decoded) = r?;
            stats.frames_decoded += frames;
            stats.bytes_decoded += decoded;
            stats.blobs_read += outs.len() as u64;
            for t in outs {
                sink(t)?;
            }
        }
    }
    Ok(stats)
}
