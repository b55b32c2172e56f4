//! Visiting the unique blobs of a selection: the engine under grep, extract and stream.
//!
//! The filters select rows; their stored blobs are located in their shards and grouped by
//! zstd frame, each frame decoded once, only up to its last wanted blob, on the worker threads.
//! Per-blob work runs in parallel; its results reach the caller's sink in a fixed order
//! (shard, frame, offset in frame), whatever the thread count.

use crate::blob::{Blob, BufPool, FrameBuf};
use crate::ExploreError;
use pycorpus_catalog::{FileRow, Filter, ScanStats};
use pycorpus_core::{BlobLocator, CoreError, Corpus, ShardInfo, ShardKind};
use pycorpus_spill::{Counts, KeySet};
use pycorpus_store::{FrameSet, Journal, JournalBlob, Oid, OidMap, OidSet, PackReader};
use serde::Serialize;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The files that hold one blob.
#[derive(Debug, Clone)]
pub struct Holders {
    /// The first file in index order (shared: consumers that keep rows past the visit, like
    /// the Python module's `iter_files`, take a reference instead of a copy of ten strings).
    pub first: Arc<FileRow>,
    /// How many selected files hold it.
    pub count: u64,
    /// The other files, when asked for.
    pub others: Vec<FileRow>,
}

impl Holders {
    /// Every file kept: the first, then the others.
    pub fn all(&self) -> impl Iterator<Item = &FileRow> {
        std::iter::once(&*self.first).chain(self.others.iter())
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
    /// Their bytes.
    pub bytes_read: u64,
    /// Bytes of selected blobs that will not be read: in frames the frame filter ruled out, or
    /// missing. With `bytes_read`, they reach `candidate_bytes` when the visit is done.
    pub bytes_passed: u64,
    /// Frames holding selected blobs that the frame filter (the trigram index) ruled out.
    pub frames_skipped: u64,
    /// Sealed shards whose frames were filtered that way.
    pub shards_filtered: u64,
    /// Blobs left out by [`VisitOptions::skip`] (in each shard that holds them).
    pub skipped_blobs: u64,
}

/// Decides which frames of a sealed shard can matter: given the shard's folder and its frame
/// count, the frames to read, or `None` for all.
pub type FrameFilter<'a> = dyn Fn(&std::path::Path, usize) -> Result<Option<FrameSet>, ExploreError> + Sync + 'a;

/// The per-blob work: worker state, blob id, the files holding it, its bytes (kept beyond
/// the call, without a copy, by [`Blob::share`]).
pub type BlobWork<'a, S, T> = dyn Fn(&mut S, &Oid, &Holders, &Blob<'_>) -> Result<T, ExploreError> + Sync + 'a;

/// What one unit gives back: per-blob results, frames decoded, bytes decoded, blob bytes read.
type UnitOut<T> = Result<(Vec<T>, u64, u64, u64), ExploreError>;

/// A unit of work: blobs read together.
enum Unit {
    /// Blobs of one frame of a sealed shard's pack (place in the holders list, offset,
    /// length), by offset: the visited shard's own pack (`shard` `None`) or the pack of the
    /// shard that stores them (format 2).
    Frame { shard: Option<u32>, frame: usize, blobs: Vec<(u32, u32, u32)> },
    /// Blobs of an open shard's journal (place in the holders list, location).
    Journal { blobs: Vec<(u32, JournalBlob)> },
}

/// How a visit goes.
#[derive(Default)]
pub struct VisitOptions<'a> {
    /// Keep every selected file holding a blob in [`Holders::others`], not only the first.
    /// Each shard is then visited on its own (unless the filter asks for unique blobs): a
    /// blob that several shards hold is read once per shard, with that shard's files, so
    /// every file is reported once and memory holds one shard's rows at most.
    pub all_rows: bool,
    /// Make [`Holders::count`] count the files of every shard (a first pass over the index
    /// when more than one shard has rows); otherwise it counts those of the shard where the
    /// blob is first found.
    pub count_holders: bool,
    /// Rules out whole frames of sealed shards.
    pub frame_filter: Option<&'a FrameFilter<'a>>,
    /// Blobs not to read (known already, say); their rows are still counted.
    pub skip: Option<&'a (dyn Fn(&Oid) -> bool + Sync)>,
    /// Stack of the worker threads (0: the default), for work that recurses deeply.
    pub stack_size: usize,
    /// Spread the blobs of each frame over rayon's pool (which then needs the same stack),
    /// for work much slower than decoding: no thread waits while another finishes a slow
    /// frame.
    pub parallel_blobs: bool,
    /// Units (frames) whose results are held at once before going to the sink, per worker
    /// thread (0: 4). Larger evens out the load between threads; smaller bounds memory when
    /// results are large (a frame's worth of contents each).
    pub batch_per_thread: usize,
    /// Called on the calling thread with the stats so far: once each shard's index is scanned
    /// (the selection's totals, `candidate_blobs` and `candidate_bytes`, then cover every shard
    /// scanned: how a progress bar learns its length), once its reads are planned, and after
    /// each frame's results have reached the sink (`bytes_read + bytes_passed` is the bar's
    /// position).
    pub progress: Option<&'a VisitProgress<'a>>,
}

/// See [`VisitOptions::progress`].
pub type VisitProgress<'a> = dyn Fn(&VisitStats) + Sync + 'a;

/// A shard opened for reading blobs.
enum Store {
    /// A sealed shard's pack and the frames worth reading (`None`: all).
    Sealed { pack: PackReader, keep: Option<FrameSet> },
    /// An open shard's journal.
    Open(Journal),
}

/// Opens a shard's blob store (`None`: an open shard without a journal yet, which holds
/// nothing).
fn open_store(shard: &ShardInfo, frame_filter: Option<&FrameFilter<'_>>) -> Result<Option<Store>, ExploreError> {
    match shard.kind {
        ShardKind::Sealed => {
            let pack = PackReader::open(&shard.dir)?;
            let keep = match frame_filter {
                Some(f) => f(&shard.dir, pack.frame_count())?,
                None => None,
            };
            Ok(Some(Store::Sealed { pack, keep }))
        }
        ShardKind::Open => {
            let path = shard.dir.join("journal.log");
            match path.exists() {
                true => Ok(Some(Store::Open(Journal::open_read_only(&path)?.0))),
                false => Ok(None),
            }
        }
    }
}

/// The packs of other shards, for blobs that a shard's rows use and an earlier shard stores
/// (format 2): where each blob is, and the packs opened so far with their frame filters.
struct Elsewhere {
    locator: BlobLocator,
    dirs: BTreeMap<u32, std::path::PathBuf>,
    packs: BTreeMap<u32, (PackReader, Option<FrameSet>)>,
}

/// Packs kept open at once (each holds a file and a mapping).
const OPEN_PACKS: usize = 64;

impl Elsewhere {
    fn new(corpus: &Corpus, shards: &[ShardInfo]) -> Result<Elsewhere, ExploreError> {
        let dirs = shards.iter().filter(|s| s.kind == ShardKind::Sealed).map(|s| (s.number, s.dir.clone())).collect();
        Ok(Elsewhere { locator: corpus.blob_locator()?, dirs, packs: BTreeMap::new() })
    }

    /// Opens shard `n`'s pack (and frame filter) unless open already.
    fn open(&mut self, n: u32, frame_filter: Option<&FrameFilter<'_>>) -> Result<(), ExploreError> {
        if self.packs.contains_key(&n) {
            return Ok(());
        }
        let dir = self.dirs.get(&n).ok_or_else(|| ExploreError::Core(CoreError::Invalid(format!("shard {n:06} is not sealed"))))?;
        let pack = PackReader::open(dir)?;
        let keep = match frame_filter {
            Some(f) => f(dir, pack.frame_count())?,
            None => None,
        };
        self.packs.insert(n, (pack, keep));
        Ok(())
    }
}

/// What is remembered from one shard to the next. Each shard's rows are readable through
/// its own store and the shards it depends on, so shards can be visited one at a time; only
/// blob ids (and counts) cross over, in sets that spill to disk beyond their share of the
/// memory budget ([`Corpus::key_set`]).
enum Across {
    /// Nothing: every shard is visited on its own.
    Nothing,
    /// The blobs visited already, and (when counted first) how many selected files of all
    /// shards hold each blob.
    Seen(Box<(KeySet<20>, Option<Counts<20>>)>),
}

/// A blob met for the first time in a shard.
enum Claim {
    /// An earlier shard had it: skip.
    Earlier,
    /// First time: the files holding it in every shard, when known.
    New(Option<u64>),
}

impl Across {
    fn claim(&mut self, oid: Oid, tmp: &std::path::Path) -> Result<Claim, CoreError> {
        let io = |e| CoreError::io(tmp, e);
        match self {
            Across::Nothing => Ok(Claim::New(None)),
            Across::Seen(sets) => {
                let (seen, counts) = &mut **sets;
                if !seen.insert(oid.0).map_err(io)? {
                    return Ok(Claim::Earlier);
                }
                // none: a row added since the counting pass
                let total = match counts {
                    Some(c) => c.get(&oid.0).map_err(io)?.map(u64::from),
                    None => None,
                };
                Ok(Claim::New(total))
            }
        }
    }
}

/// The files holding each blob of one shard that no earlier shard held, in first-seen order.
/// Boxed: the list grows by copying, and a row is large.
type ShardHolders = Vec<(Oid, Box<Holders>)>;

/// How many selected files of all shards hold each stored blob.
fn count_holders(corpus: &Corpus, shards: &[ShardInfo], filter: &Filter, cancel: &AtomicBool) -> Result<Counts<20>, ExploreError> {
    let tmp = corpus.tmp_dir();
    let io = |e| ExploreError::Core(CoreError::io(&tmp, e));
    let mut counts = corpus.key_counts::<20>();
    let mut stats = pycorpus_catalog::ScanStats::default();
    for shard in shards {
        corpus.scan_shard_row_refs(shard, filter, &mut stats, &mut |r| {
            if r.is_stored() {
                counts.add(r.hash()?.0).map_err(|e| CoreError::io(&tmp, e))?;
            }
            Ok(!cancel.load(Ordering::SeqCst))
        })?;
    }
    counts.finish().map_err(io)
}

/// Scans one shard's index for the selected rows and gathers the files holding each stored
/// blob that `across` has not seen, in first-seen order; `found_one` is called at the first
/// such blob. Rows are built only for the first file holding each blob (and, with
/// `all_rows`, for every file): most selected rows share a blob with an earlier one.
#[allow(clippy::too_many_arguments)]
fn scan_holders(
    corpus: &Corpus,
    shard: &ShardInfo,
    filter: &Filter,
    all_rows: bool,
    cancel: &AtomicBool,
    across: &mut Across,
    skip: Option<&(dyn Fn(&Oid) -> bool + Sync)>,
    stats: &mut VisitStats,
    found_one: &mut dyn FnMut(),
) -> Result<ShardHolders, ExploreError> {
    let mut holders: ShardHolders = Vec::new();
    // A blob's place in `holders`, and its count over all shards when known.
    let mut index: OidMap<u32> = OidMap::default();
    let mut totals: Vec<Option<u64>> = Vec::new();
    let mut skipped = OidSet::default();
    let tmp = corpus.tmp_dir();
    corpus.scan_shard_row_refs(shard, filter, &mut stats.scan, &mut |r| {
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
            None if skip.is_some_and(|f| f(&hash)) => {
                stats.stored_rows += 1;
                // once per blob, whatever the number of shards holding it
                if skipped.insert(hash) && matches!(across.claim(hash, &tmp)?, Claim::New(_)) {
                    stats.skipped_blobs += 1;
                }
            }
            None => match across.claim(hash, &tmp)? {
                Claim::Earlier => stats.stored_rows += u64::from(!filter.unique),
                Claim::New(total) => {
                    stats.stored_rows += 1;
                    let row = r.to_row()?;
                    stats.candidate_bytes += row.size;
                    if holders.is_empty() {
                        found_one();
                    }
                    index.insert(hash, holders.len() as u32);
                    totals.push(total);
                    holders.push((hash, Box::new(Holders { first: Arc::new(row), count: 1, others: Vec::new() })));
                }
            },
        }
        Ok(!cancel.load(Ordering::SeqCst))
    })?;
    for ((_, h), total) in holders.iter_mut().zip(totals) {
        if let Some(n) = total {
            h.count = n.max(h.count);
        }
    }
    Ok(holders)
}

/// Calls `work` on every unique stored blob of the rows `filter` selects (in parallel, each
/// worker with its own state from `init`), then `sink` on each result in a fixed order:
/// shard, then frame, then place in the frame.
///
/// Shards are visited one at a time, so memory holds one shard's selected rows, not the
/// corpus's; what crosses from shard to shard is a set of blob ids (about 30 bytes per
/// unique blob) so that each is read once, or nothing with [`VisitOptions::all_rows`].
pub fn visit_blobs<S: Send, T: Send>(
    corpus: &Corpus,
    filter: &Filter,
    opts: &VisitOptions<'_>,
    cancel: &AtomicBool,
    init: &(dyn Fn() -> S + Sync),
    work: &BlobWork<'_, S, T>,
    sink: &mut dyn FnMut(T) -> Result<(), ExploreError>,
) -> Result<VisitStats, ExploreError> {
    let mut stats = VisitStats::default();
    let shards = corpus.shards()?;
    let mut elsewhere = Elsewhere::new(corpus, &shards)?;
    let mut across = if shards.len() <= 1 || (opts.all_rows && !filter.unique) {
        Across::Nothing
    } else if opts.count_holders && !filter.unique && shards.len() > 1 {
        Across::Seen(Box::new((corpus.key_set(), Some(count_holders(corpus, &shards, filter, cancel)?))))
    } else {
        Across::Seen(Box::new((corpus.key_set(), None)))
    };
    for shard in &shards {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        // The shard's pack (or journal) and frame filter are opened on another thread while
        // this one scans its index, from the first selected blob on.
        let (scanned, store) = std::thread::scope(|s| {
            let mut opening = None;
            let scanned = scan_holders(corpus, shard, filter, opts.all_rows, cancel, &mut across, opts.skip, &mut stats, &mut || {
                opening = Some(s.spawn(|| open_store(shard, opts.frame_filter)));
            });
            let store = opening.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (scanned, store)
        });
        let holders = scanned?;
        stats.candidate_blobs += holders.len() as u64;
        if let Some(f) = opts.progress {
            f(&stats);
        }
        if holders.is_empty() {
            continue;
        }
        let store = store.transpose()?.flatten();
        // One blob, one task: with shards named and unique blobs asked for, each named shard
        // gives the blobs it stores, so calls over every shard split the corpus's unique blobs
        // with no overlap (a blob that another shard stores is that shard's).
        let own_only = !filter.shards.is_empty() && !opts.all_rows;
        visit_shard(corpus, shard, &holders, store, &mut elsewhere, own_only, opts, cancel, init, work, sink, &mut stats)?;
    }
    Ok(stats)
}

/// Reads the blobs of one shard's `holders` from its `store` and hands them to `work`, then
/// the results to `sink`, in frame order.
#[allow(clippy::too_many_arguments)]
fn visit_shard<S: Send, T: Send>(
    corpus: &Corpus,
    shard: &ShardInfo,
    holders: &ShardHolders,
    store: Option<Store>,
    elsewhere: &mut Elsewhere,
    own_only: bool,
    opts: &VisitOptions<'_>,
    cancel: &AtomicBool,
    init: &(dyn Fn() -> S + Sync),
    work: &BlobWork<'_, S, T>,
    sink: &mut dyn FnMut(T) -> Result<(), ExploreError>,
    stats: &mut VisitStats,
) -> Result<(), ExploreError> {
    // Blob ids in order (the pack's index order), each with its place in `holders`.
    let mut left: Vec<(Oid, u32)> = holders.iter().enumerate().map(|(i, (oid, _))| (*oid, i as u32)).collect();
    left.sort_unstable();
    // Where each blob is, grouped by frame, in frame and offset order.
    let mut units = Vec::new();
    let (mut pack, mut journal) = (None, None);
    match store {
        Some(Store::Sealed { pack: p, keep }) => {
            stats.shards_filtered += u64::from(keep.is_some());
            let mut by_frame: BTreeMap<u32, Vec<(u32, u32, u32)>> = BTreeMap::new();
            left.retain(|(oid, at)| match p.find(oid) {
                Some(e) => {
                    by_frame.entry(e.frame).or_default().push((*at, e.offset, e.len));
                    false
                }
                None => true,
            });
            plan_frames(None, by_frame, keep.as_ref(), &mut units, stats);
            pack = Some(p);
        }
        Some(Store::Open(j)) => {
            let mut blobs: Vec<(u32, JournalBlob)> = Vec::new();
            left.retain(|(oid, at)| match j.locate(oid) {
                Some(loc) => {
                    blobs.push((*at, loc));
                    false
                }
                None => true,
            });
            blobs.sort_unstable_by_key(|b| b.1.offset);
            units.extend(blobs.chunks(256).map(|c| Unit::Journal { blobs: c.to_vec() }));
            journal = Some(j);
        }
        None => {}
    }
    // Blobs that other shards store (format 2), from their packs, grouped by shard and frame.
    // Packs stay open from shard to shard (neighbours share dependencies), up to a limit.
    if elsewhere.packs.len() >= OPEN_PACKS {
        elsewhere.packs.clear();
    }
    let mut by_shard: BTreeMap<u32, Vec<(Oid, u32)>> = BTreeMap::new();
    left.retain(|(oid, at)| match elsewhere.locator.locate(oid).filter(|&n| n != shard.number || pack.is_none()) {
        Some(n) => {
            by_shard.entry(n).or_default().push((*oid, *at));
            false
        }
        None => true,
    });
    if own_only {
        for (_, at) in std::mem::take(&mut by_shard).into_values().flatten() {
            stats.candidate_blobs -= 1;
            stats.candidate_bytes -= holders[at as usize].1.first.size;
        }
    }
    for (n, blobs) in by_shard {
        elsewhere.open(n, opts.frame_filter)?;
        let (p, keep) = &elsewhere.packs[&n];
        let mut by_frame: BTreeMap<u32, Vec<(u32, u32, u32)>> = BTreeMap::new();
        for (oid, at) in blobs {
            match p.find(&oid) {
                Some(e) => by_frame.entry(e.frame).or_default().push((at, e.offset, e.len)),
                None => left.push((oid, at)),
            }
        }
        stats.shards_filtered += u64::from(keep.is_some());
        plan_frames(Some(n), by_frame, keep.as_ref(), &mut units, stats);
    }
    if !left.is_empty()
        && let Some(needs) = corpus.shard_dependencies(shard)?.into_iter().find(|n| !elsewhere.locator.has_shard(*n)) {
            return Err(ExploreError::Core(CoreError::MissingShard { shard: shard.number, needs }));
        }
    stats.missing_blobs += left.len() as u64;
    stats.bytes_passed += left.iter().map(|(_, at)| holders[*at as usize].1.first.size).sum::<u64>();
    if let Some(f) = opts.progress {
        f(stats);
    }

    // Units run on worker threads, each with its own state and buffers; their results reach
    // the sink in unit order, never more than a window of units ahead of it (bounded memory).
    let threads = rayon::current_num_threads().max(1);
    let window = threads * if opts.batch_per_thread == 0 { 4 } else { opts.batch_per_thread };
    let frames = Arc::new(BufPool::default());
    let run_unit = |(state, buf, scratch): &mut (S, Arc<FrameBuf>, Vec<u8>), unit: &Unit| -> UnitOut<T> {
        let mut out = Vec::new();
        match unit {
            Unit::Frame { shard, frame, blobs } => {
                let end = blobs.iter().map(|b| (b.1 + b.2) as usize).max().unwrap_or(0);
                let pack = match shard {
                    None => pack.as_ref().expect("frames come from a pack"),
                    Some(n) => &elsewhere.packs[n].0,
                };
                pack.decode_frame_prefix(*frame, end, FrameBuf::reusable(buf, &frames), scratch)?;
                let buf = &*buf;
                let one = |state: &mut S, (at, off, len): &(u32, u32, u32)| {
                    let (oid, h) = &holders[*at as usize];
                    work(state, oid, h, &Blob::new(buf, *off as usize..(*off + *len) as usize))
                };
                if opts.parallel_blobs {
                    out = blobs.par_iter().map_init(init, one).collect::<Result<Vec<T>, _>>()?;
                } else {
                    for b in blobs {
                        out.push(one(state, b)?);
                    }
                }
                Ok((out, 1, end as u64, blobs.iter().map(|b| u64::from(b.2)).sum()))
            }
            Unit::Journal { blobs } => {
                let journal = journal.as_ref().expect("journal blobs come from a journal");
                let mut read = 0;
                for (at, loc) in blobs {
                    let data = FrameBuf::owned(journal.read_at(loc)?);
                    let blob = Blob::whole(&data);
                    read += blob.len() as u64;
                    let (oid, h) = &holders[*at as usize];
                    out.push(work(state, oid, h, &blob)?);
                }
                Ok((out, 0, 0, read))
            }
        }
    };
    crate::ordered::ordered_map(
        units.len(),
        crate::ordered::Pool { threads, stack_size: opts.stack_size, window },
        cancel,
        &|| (init(), FrameBuf::empty(&frames), Vec::new()),
        &|st, i| run_unit(st, &units[i]),
        &mut |r: UnitOut<T>| -> Result<(), ExploreError> {
            let (outs, frames, decoded, read) = r?;
            stats.frames_decoded += frames;
            stats.bytes_decoded += decoded;
            stats.blobs_read += outs.len() as u64;
            stats.bytes_read += read;
            for t in outs {
                sink(t)?;
            }
            if let Some(f) = opts.progress {
                f(stats);
            }
            Ok(())
        },
    )
}

/// Turns one pack's wanted blobs, by frame, into units (frames the filter rules out are
/// counted as passed instead).
fn plan_frames(shard: Option<u32>, by_frame: BTreeMap<u32, Vec<(u32, u32, u32)>>, keep: Option<&FrameSet>, units: &mut Vec<Unit>, stats: &mut VisitStats) {
    for (frame, mut blobs) in by_frame {
        if keep.is_some_and(|k| !k.contains(frame as usize)) {
            stats.frames_skipped += 1;
            stats.bytes_passed += blobs.iter().map(|b| u64::from(b.2)).sum::<u64>();
            continue;
        }
        blobs.sort_unstable_by_key(|b| b.1);
        units.push(Unit::Frame { shard, frame: frame as usize, blobs });
    }
}
