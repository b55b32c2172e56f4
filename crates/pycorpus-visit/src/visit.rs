//! Visiting the unique blobs of a selection: the engine under every reader.
//!
//! The filters select rows; their stored blobs are located in their shards and grouped by
//! zstd frame, each frame decoded once, only up to its last wanted blob, on the worker threads.
//! Per-blob work runs in parallel; its results reach the caller's sink in a fixed order
//! (shard, frame, offset in frame), whatever the thread count.

use crate::VisitError;
use crate::blob::{Blob, BufPool, FrameBuf};
use pycorpus_catalog::{FileRow, Filter, ScanStats};
use pycorpus_core::{CoreError, Corpus, Ctx, Reporter, SealedReader, ShardInfo, ShardKind};
use pycorpus_spill::{Sorter, codec};
use pycorpus_store::{Candidates, Journal, JournalBlob, Oid, OidMap, OidSet, PackReader};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The files that hold one blob.
#[derive(Debug, Clone)]
pub struct Holders {
    /// The first file in index order (shared: consumers that keep rows past the visit, like
    /// the Python module's `iter_files`, take a reference instead of a copy of ten strings).
    pub first: Arc<FileRow>,
    /// How many selected files hold it: of every shard when each blob is read once (the
    /// filter's `unique`, or without [`VisitOptions::all_rows`]); else those handed over.
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
    /// Bytes of selected blobs that will not be read: in frames the blob filter ruled out, or
    /// missing. With `bytes_read`, they reach `candidate_bytes` when the visit is done.
    pub bytes_passed: u64,
    /// Frames holding selected blobs that the blob filter (a trigram index) ruled out whole.
    pub frames_skipped: u64,
    /// Selected blobs that the blob filter ruled out (in those frames or in frames read).
    pub blobs_ruled_out: u64,
    /// Sealed shards whose frames were filtered that way.
    pub shards_filtered: u64,
    /// Blobs left out by [`VisitOptions::skip`] (in each shard that holds them).
    pub skipped_blobs: u64,
    /// Bases of delta frames read on their own through the corpus (their chain decoded from
    /// its root again) rather than at hand after their root's frame: none in a visit of every
    /// blob; a selection that leaves out a delta's base pays these.
    pub bases_fetched: u64,
}

impl VisitStats {
    /// Adds `o`'s counts to these (every field named: a new one must say how it adds up).
    fn absorb(&mut self, o: &VisitStats) {
        let VisitStats {
            scan,
            candidate_blobs,
            candidate_bytes,
            stored_rows,
            unstored_rows,
            missing_blobs,
            frames_decoded,
            bytes_decoded,
            blobs_read,
            bytes_read,
            bytes_passed,
            frames_skipped,
            blobs_ruled_out,
            shards_filtered,
            skipped_blobs,
            bases_fetched,
        } = o;
        let ScanStats { shards, shards_skipped, row_groups, row_groups_skipped, rows_read, rows_matched, rows_indexed } = scan;
        let a = &mut self.scan;
        a.shards += shards;
        a.shards_skipped += shards_skipped;
        a.row_groups += row_groups;
        a.row_groups_skipped += row_groups_skipped;
        a.rows_read += rows_read;
        a.rows_matched += rows_matched;
        a.rows_indexed += rows_indexed;
        self.candidate_blobs += candidate_blobs;
        self.candidate_bytes += candidate_bytes;
        self.stored_rows += stored_rows;
        self.unstored_rows += unstored_rows;
        self.missing_blobs += missing_blobs;
        self.frames_decoded += frames_decoded;
        self.bytes_decoded += bytes_decoded;
        self.blobs_read += blobs_read;
        self.bytes_read += bytes_read;
        self.bytes_passed += bytes_passed;
        self.frames_skipped += frames_skipped;
        self.blobs_ruled_out += blobs_ruled_out;
        self.shards_filtered += shards_filtered;
        self.skipped_blobs += skipped_blobs;
        self.bases_fetched += bases_fetched;
    }
}

/// Decides which blobs of a sealed shard can matter: given the shard's folder and its pack,
/// the candidates (from one of its trigram indexes), or `None` for all.
pub type BlobFilter<'a> = dyn Fn(&std::path::Path, &PackReader) -> Result<Option<Candidates>, VisitError> + Sync + 'a;

/// The per-blob work: worker state, blob id, the files holding it, its bytes (kept beyond
/// the call, without a copy, by [`Blob::share`]).
pub type BlobWork<'a, S, T> = dyn Fn(&mut S, &Oid, &Holders, &Blob<'_>) -> Result<T, VisitError> + Sync + 'a;

/// What one unit gives back: per-blob results, frames decoded, bytes decoded, blob bytes read,
/// bases fetched through the corpus.
type UnitOut<T> = Result<(Vec<T>, u64, u64, u64, u64), VisitError>;

/// A unit of work: blobs read together.
enum Unit {
    /// Blobs of one frame of a sealed shard's pack (place in the holders list, offset,
    /// length), by offset: the visited shard's own pack (`shard` `None`) or the pack of the
    /// shard that stores them (format 2); then blobs stored as deltas (format 3) whose chains
    /// start in that frame, each after its base.
    Frame { shard: Option<u32>, frame: usize, blobs: Vec<(u32, u32, u32)>, deltas: Vec<DeltaRead> },
    /// Blobs of an open shard's journal (place in the holders list, location).
    Journal { blobs: Vec<(u32, JournalBlob)> },
}

/// A blob stored as a delta frame (shard format 3), read right after the frame its chain
/// starts in (the unit's), so that its base is at hand: the root blob itself (depth 1), or a
/// delta read just before in the same unit.
#[derive(Clone)]
struct DeltaRead {
    /// Place in the holders list.
    at: u32,
    /// Where the delta frame is.
    shard: u32,
    frame: u32,
    /// Its base, and where the chain's root lies in the unit's frame.
    base: Oid,
    root_offset: u32,
    root_len: u32,
    depth: u32,
    /// Decoded only as the base of a later one (a unit that starts inside a chain decodes the
    /// chain's earlier deltas again): not handed to the work.
    silent: bool,
}

/// How a visit goes.
#[derive(Default)]
pub struct VisitOptions<'a> {
    /// Keep every selected file holding a blob in [`Holders::others`], not only the first,
    /// and hand each blob over with its files (unless the filter asks for unique blobs):
    /// every file is reported once. A blob held by many files is handed over again with the
    /// next ones (at most 4,096 files, and 4 MiB of contents counted once per file, per
    /// call), so memory holds no more whatever the corpus.
    pub all_rows: bool,
    /// Rules out blobs (or whole frames) of sealed shards.
    pub blob_filter: Option<&'a BlobFilter<'a>>,
    /// Blobs not to read (known already, say); their rows are still counted.
    pub skip: Option<&'a (dyn Fn(&Oid) -> bool + Sync)>,
    /// Stack of the worker threads (0: the default), for work that recurses deeply.
    pub stack_size: usize,
    /// Spread the blobs of each frame over a rayon pool of the visit's own (with
    /// `stack_size`, whatever rayon's global pool was built with), for work much slower than
    /// decoding: no thread waits while another finishes a slow frame.
    pub parallel_blobs: bool,
    /// Units (frames) whose results are held at once before going to the sink, per worker
    /// thread (0: 4). Larger evens out the load between threads; smaller bounds memory when
    /// results are large (a frame's worth of contents each).
    pub batch_per_thread: usize,
    /// Decoded frames kept from earlier visits, used and filled by this one (frames of
    /// sealed packs, decoded whole when it is given).
    pub frame_cache: Option<&'a crate::FrameCache>,
}

/// Tells `reporter` where the visit stands, on the calling thread: once each shard's index is
/// scanned (the total, `candidate_bytes`, then covers every shard scanned: how a progress bar
/// learns its length), once its reads are planned, and after each frame's results have
/// reached the sink (`bytes_read + bytes_passed` done).
fn report(reporter: &dyn Reporter, s: &VisitStats) {
    reporter.progress(s.bytes_read + s.bytes_passed, Some(s.candidate_bytes));
}

/// A shard opened for reading blobs.
enum Store {
    /// A sealed shard's pack and the blobs worth reading (`None`: all).
    Sealed { pack: PackReader, keep: Option<Candidates> },
    /// An open shard's journal.
    Open(Journal),
}

/// Opens a shard's blob store (`None`: an open shard without a journal yet, which holds
/// nothing).
fn open_store(shard: &ShardInfo, blob_filter: Option<&BlobFilter<'_>>) -> Result<Option<Store>, VisitError> {
    match shard.kind {
        ShardKind::Sealed => {
            let pack = PackReader::open(&shard.dir)?;
            let keep = match blob_filter {
                Some(f) => f(&shard.dir, &pack)?,
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
/// (format 2): where each blob is, and the packs opened so far with their blob filters.
struct Elsewhere {
    /// Where each blob is (its locator), and the bases of delta frames.
    chains: SealedReader,
    dirs: BTreeMap<u32, std::path::PathBuf>,
    packs: BTreeMap<u32, (PackReader, Option<Candidates>)>,
}

/// Packs kept open at once (each holds a file descriptor and a mapping of its index). Each
/// shard's rows use blobs of many earlier shards: with fewer open than the shards a corpus
/// has, every shard reopened dozens of packs and their blob filters (at 32x, 122 shards with
/// 64 open: grep of a rare literal took 2.6x the CPU per GB it takes at 4x; with 256, 0.94x).
const OPEN_PACKS: usize = 256;

impl Elsewhere {
    fn new(corpus: &Corpus, shards: &[ShardInfo]) -> Result<Elsewhere, VisitError> {
        let dirs = shards.iter().filter(|s| s.kind == ShardKind::Sealed).map(|s| (s.number, s.dir.clone())).collect();
        Ok(Elsewhere { chains: SealedReader::new(corpus)?, dirs, packs: BTreeMap::new() })
    }

    /// Opens shard `n`'s pack (and blob filter) unless open already.
    fn open(&mut self, n: u32, blob_filter: Option<&BlobFilter<'_>>) -> Result<(), VisitError> {
        if self.packs.contains_key(&n) {
            return Ok(());
        }
        let dir = self.dirs.get(&n).ok_or_else(|| VisitError::Core(CoreError::Invalid(format!("shard {n:06} is not sealed"))))?;
        let pack = PackReader::open(dir)?;
        let keep = match blob_filter {
            Some(f) => f(dir, &pack)?,
            None => None,
        };
        self.packs.insert(n, (pack, keep));
        Ok(())
    }
}

/// Wanted blobs of one pack by frame: (frame, [(place in the holders list, offset, length)]).
type Frames = Vec<(u32, Vec<(u32, u32, u32)>)>;

/// The files holding each blob of one shard's selection, in first-seen order.
/// Boxed: the list grows by copying, and a row is large.
type ShardHolders = Vec<(Oid, Box<Holders>)>;

/// Scans one shard's index for the selected rows and gathers the files holding each stored
/// blob, in first-seen order; `found_one` is called at the first one, and `skipped` once for
/// each blob that [`VisitOptions::skip`] leaves out. Rows are built only for the first file
/// holding each blob (and, with `all_rows`, for every file): most selected rows share a blob
/// with an earlier one. `skipped` says whether it counted the blob in the stats' `skipped_blobs`
/// (else it is counted later).
#[allow(clippy::too_many_arguments)]
fn scan_holders(
    corpus: Option<&Corpus>,
    shard: &ShardInfo,
    filter: &Filter,
    all_rows: bool,
    cancel: &AtomicBool,
    skip: Option<&(dyn Fn(&Oid) -> bool + Sync)>,
    stats: &mut VisitStats,
    found_one: &mut dyn FnMut(),
    skipped: &mut dyn FnMut(Oid) -> Result<bool, CoreError>,
) -> Result<ShardHolders, VisitError> {
    let mut holders: ShardHolders = Vec::new();
    // A blob's place in `holders`.
    let mut index: OidMap<u32> = OidMap::default();
    let mut skipped_here = OidSet::default();
    let mut skipped_now = 0;
    let mut each = |r: pycorpus_core::RowRef<'_>| -> Result<bool, CoreError> {
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
                if skipped_here.insert(hash) && skipped(hash)? {
                    skipped_now += 1;
                }
            }
            None => {
                stats.stored_rows += 1;
                let row = r.to_row()?;
                stats.candidate_bytes += row.size;
                if holders.is_empty() {
                    found_one();
                }
                index.insert(hash, holders.len() as u32);
                holders.push((hash, Box::new(Holders { first: Arc::new(row), count: 1, others: Vec::new() })));
            }
        }
        Ok(!cancel.load(Ordering::SeqCst))
    };
    let mut scan = std::mem::take(&mut stats.scan);
    match corpus {
        Some(c) => c.scan_shard_row_refs(shard, filter, &mut scan, &mut each)?,
        None => pycorpus_core::scan_sealed_row_refs(shard, filter, &mut scan, &mut each)?,
    };
    stats.scan = scan;
    stats.skipped_blobs += skipped_now;
    Ok(holders)
}

/// One shard's scan (see [`scan_holders`]): what it selected and counted, the blobs
/// [`VisitOptions::skip`] left out for [`Later`] to count, and its store, opened meanwhile.
struct Scanned {
    holders: ShardHolders,
    stats: VisitStats,
    skipped: Vec<Oid>,
    store: Option<Store>,
}

/// Scans one shard's index; its pack (or journal) and blob filter are opened on another
/// thread meanwhile, from the first selected blob on. `corpus` is needed for an open shard
/// only. `later_once`: the blobs `skip` leaves out are counted by [`Later`] (once each).
fn scan_shard(corpus: Option<&Corpus>, shard: &ShardInfo, filter: &Filter, opts: &VisitOptions<'_>, cancel: &AtomicBool, later_once: bool) -> Result<Scanned, VisitError> {
    let (mut stats, mut skipped) = (VisitStats::default(), Vec::new());
    let (holders, store) = std::thread::scope(|s| {
        let mut opening = None;
        let mut skip_one = |oid: Oid| -> Result<bool, CoreError> {
            if later_once {
                skipped.push(oid);
            }
            Ok(!later_once)
        };
        let holders = scan_holders(
            corpus,
            shard,
            filter,
            opts.all_rows,
            cancel,
            opts.skip,
            &mut stats,
            &mut || {
                opening = Some(s.spawn(|| open_store(shard, opts.blob_filter)));
            },
            &mut skip_one,
        );
        (holders, opening.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))))
    });
    let holders = holders?;
    let store = store.transpose()?.flatten();
    Ok(Scanned { holders, stats, skipped, store })
}

/// Calls `work` on every unique stored blob of the rows `filter` selects (in parallel, each
/// worker with its own state from `init`), then `sink` on each result in a fixed order.
///
/// Shards' indexes are scanned one at a time, so memory holds one shard's selected rows, not
/// the corpus's. With one shard, or only the blobs the named shards store, each shard's blobs
/// are read as its scan ends. Otherwise the blobs that another shard stores (format 2: most of
/// a later shard's rows use an earlier shard's blobs) and, when each blob is to be read once,
/// all blobs, wait in [`Later`] until every shard is scanned, then are read in the order they
/// are stored: each frame decoded once, each blob handed over once with every file holding
/// it, whatever the number of shards.
pub fn visit_blobs<S: Send, T: Send>(
    corpus: &Corpus,
    filter: &Filter,
    opts: &VisitOptions<'_>,
    ctx: Ctx<'_>,
    init: &(dyn Fn() -> S + Sync),
    work: &BlobWork<'_, S, T>,
    sink: &mut dyn FnMut(T) -> Result<(), VisitError>,
) -> Result<VisitStats, VisitError> {
    let Ctx { reporter, cancel } = ctx;
    let mut rd = Reading { opts, cancel, reporter, init, work, sink, stats: VisitStats::default(), buffers: Buffers::default() };
    let shards = corpus.shards()?;
    let mut elsewhere = Elsewhere::new(corpus, &shards)?;
    // One blob, one task: with shards named and unique blobs asked for, each named shard
    // gives the blobs it stores, so calls over every shard split the corpus's unique blobs
    // with no overlap (a blob that another shard stores is that shard's).
    let own_only = !filter.shards.is_empty() && !opts.all_rows;
    let once = filter.unique || !opts.all_rows;
    let mut later = (shards.len() > 1 && !own_only).then(|| Later::new(corpus, once));
    let later_once = later.as_ref().is_some_and(|l| l.once);
    // An open shard's blobs are in no search index: its rows are scanned whoever holds them.
    let open_filter = Filter { hash_in: None, ..filter.clone() };
    // Sealed shards' indexes are scanned (and their packs opened) on another thread, a shard
    // ahead of this one, which plans and reads the shard before: memory holds two shards'
    // selections at most. Open shards (the last ones) are scanned here.
    std::thread::scope(|scope| -> Result<(), VisitError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Scanned, VisitError>>(0);
        let sealed: Vec<&ShardInfo> = shards.iter().filter(|s| s.kind == ShardKind::Sealed).collect();
        scope.spawn(move || {
            for shard in sealed {
                if cancel.load(Ordering::SeqCst) {
                    break;
                }
                let scanned = scan_shard(None, shard, filter, opts, cancel, later_once);
                let failed = scanned.is_err();
                if tx.send(scanned).is_err() || failed {
                    break;
                }
            }
        });
        for shard in &shards {
            if cancel.load(Ordering::SeqCst) {
                break;
            }
            let scanned = match shard.kind {
                ShardKind::Sealed => match rx.recv() {
                    Ok(s) => s?,
                    // the scanning thread stopped: cancelled
                    Err(_) => break,
                },
                ShardKind::Open => scan_shard(Some(corpus), shard, &open_filter, opts, cancel, later_once)?,
            };
            let Scanned { holders, stats, skipped, store } = scanned;
            tracing::debug!("shard {:06}: {} blob(s) selected", shard.number, holders.len());
            rd.stats.absorb(&stats);
            if let Some(l) = later.as_mut() {
                for oid in skipped {
                    l.skip(oid)?;
                }
            }
            rd.stats.candidate_blobs += holders.len() as u64;
            report(rd.reporter, &rd.stats);
            if holders.is_empty() {
                continue;
            }
            visit_shard(corpus, shard, &holders, store, &mut elsewhere, later.as_mut(), own_only, &mut rd)?;
        }
        Ok(())
    })?;
    if let Some(l) = later
        && !cancel.load(Ordering::SeqCst)
    {
        l.run(&mut elsewhere, filter.unique, &mut rd)?;
    }
    Ok(rd.stats)
}

/// Plans the reads of one shard's `holders`: from its own `store` at once, or through `later`
/// (see [`visit_blobs`]); then reads the first kind and hands them to `work`, the results to
/// `sink`, in frame order.
#[allow(clippy::too_many_arguments)]
fn visit_shard<S: Send, T: Send>(
    corpus: &Corpus,
    shard: &ShardInfo,
    holders: &ShardHolders,
    store: Option<Store>,
    elsewhere: &mut Elsewhere,
    mut later: Option<&mut Later>,
    own_only: bool,
    rd: &mut Reading<'_, S, T>,
) -> Result<(), VisitError> {
    let (opts, stats) = (rd.opts, &mut rd.stats);
    // Blob ids in order (the pack's index order), each with its place in `holders`.
    let mut left: Vec<(Oid, u32)> = holders.iter().enumerate().map(|(i, (oid, _))| (*oid, i as u32)).collect();
    left.sort_unstable();
    // A blob another shard stores, by that shard.
    let mut by_shard: BTreeMap<u32, Vec<(Oid, u32)>> = BTreeMap::new();
    let locator = elsewhere.chains.locator();
    let stored_elsewhere = |oid: &Oid| locator.locate(oid).filter(|&n| n != shard.number);
    let mut units = Vec::new();
    let (mut pack, mut journal, mut own_keep) = (None, None, None);
    match store {
        Some(Store::Sealed { pack: p, keep }) => {
            stats.shards_filtered += u64::from(keep.is_some());
            // A format-1 pack may repeat a blob that an earlier shard stores: that copy is
            // the one read, so that each blob has one place.
            let only_new = corpus.shard_stores_only_new_blobs(shard)?;
            let mut by_frame: BTreeMap<u32, Vec<(u32, u32, u32)>> = BTreeMap::new();
            left.retain(|(oid, at)| match p.find(oid) {
                Some(e) => {
                    match (!only_new).then(|| stored_elsewhere(oid)).flatten() {
                        Some(n) => by_shard.entry(n).or_default().push((*oid, *at)),
                        None => by_frame.entry(e.frame).or_default().push((*at, e.offset, e.len)),
                    }
                    false
                }
                None => true,
            });
            let frames = kept_frames(by_frame, keep.as_ref(), &p, stats);
            own_keep = keep;
            match later.as_deref_mut() {
                Some(l) if l.once => l.push_frames(shard.number, &p, frames, holders)?,
                Some(l) => {
                    // every file now: the blobs stored whole here; a delta waits to be read
                    // after its chain's root (an earlier shard's frame)
                    let (deltas, whole): (Frames, Frames) = frames.into_iter().partition(|(f, _)| p.delta(*f as usize).is_some());
                    l.push_frames(shard.number, &p, deltas, holders)?;
                    units.extend(whole.into_iter().map(|(frame, blobs)| Unit::Frame { shard: None, frame: frame as usize, blobs, deltas: Vec::new() }));
                }
                None => units.extend(frames.into_iter().map(|(frame, blobs)| Unit::Frame { shard: None, frame: frame as usize, blobs, deltas: Vec::new() })),
            }
            pack = Some(p);
        }
        Some(Store::Open(j)) => {
            let mut blobs: Vec<(u32, JournalBlob)> = Vec::new();
            left.retain(|(oid, at)| match j.locate(oid) {
                Some(loc) => {
                    match stored_elsewhere(oid) {
                        Some(n) => by_shard.entry(n).or_default().push((*oid, *at)),
                        None => blobs.push((*at, loc)),
                    }
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
    // Blobs that other shards store (format 2), from their packs, by shard and frame. Packs
    // stay open from shard to shard (neighbours share dependencies), up to a limit.
    left.retain(|(oid, at)| match locator.locate(oid).filter(|&n| n != shard.number || pack.is_none()) {
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
    if elsewhere.packs.len() + by_shard.len() > OPEN_PACKS {
        elsewhere.packs.clear();
    }
    for (n, blobs) in by_shard {
        elsewhere.open(n, opts.blob_filter)?;
        let (p, keep) = &elsewhere.packs[&n];
        let mut by_frame: BTreeMap<u32, Vec<(u32, u32, u32)>> = BTreeMap::new();
        for (oid, at) in blobs {
            match p.find(&oid) {
                Some(e) => by_frame.entry(e.frame).or_default().push((at, e.offset, e.len)),
                None => left.push((oid, at)),
            }
        }
        // this shard is done with that index: its pages need not stay resident
        p.release_pages();
        stats.shards_filtered += u64::from(keep.is_some());
        let frames = kept_frames(by_frame, keep.as_ref(), p, stats);
        match later.as_deref_mut() {
            Some(l) => l.push_frames(n, p, frames, holders)?,
            None => units.extend(frames.into_iter().map(|(frame, blobs)| Unit::Frame { shard: Some(n), frame: frame as usize, blobs, deltas: Vec::new() })),
        }
    }
    if !left.is_empty()
        && let Some(needs) = corpus.shard_dependencies(shard)?.into_iter().find(|n| !elsewhere.chains.locator().has_shard(*n))
    {
        return Err(VisitError::Core(CoreError::MissingShard { shard: shard.number, needs }));
    }
    stats.missing_blobs += left.len() as u64;
    stats.bytes_passed += left.iter().map(|(_, at)| holders[*at as usize].1.first.size).sum::<u64>();
    report(rd.reporter, stats);
    let readers = Readers { own: pack.as_ref(), journal: journal.as_ref(), others: &elsewhere.packs, chains: &elsewhere.chains };
    run_units(&readers, holders, &units, rd)?;
    // Later shards' rows use this shard's blobs: its pack and blob filter stay open for them
    // (not opened again, its trigram index not decoded again).
    if let Some(p) = pack
        && elsewhere.packs.len() < OPEN_PACKS
    {
        elsewhere.packs.entry(shard.number).or_insert((p, own_keep));
    }
    Ok(())
}

/// What every read of one visit shares: how it goes, the per-blob work, where its results
/// go, and what it counts.
struct Reading<'a, S, T> {
    opts: &'a VisitOptions<'a>,
    cancel: &'a AtomicBool,
    reporter: &'a dyn Reporter,
    init: &'a (dyn Fn() -> S + Sync),
    work: &'a BlobWork<'a, S, T>,
    sink: &'a mut dyn FnMut(T) -> Result<(), VisitError>,
    stats: VisitStats,
    buffers: Buffers,
}

/// Buffers that outlive one batch of reads: a visit over many shards reads in hundreds of
/// batches, each on new worker threads, and buffers grown anew for each batch are faulted in
/// anew (at 122 shards, keeping them cut `grep`'s system time by a third).
#[derive(Default)]
struct Buffers {
    /// Decoded frames.
    frames: Arc<BufPool>,
    /// Compressed frames as read.
    compressed: Arc<BufPool>,
}

/// Where the units of a visit read from.
struct Readers<'a> {
    /// The visited shard's pack ([`Unit::Frame`] with no shard).
    own: Option<&'a PackReader>,
    /// The visited shard's journal.
    journal: Option<&'a Journal>,
    /// Other shards' packs.
    others: &'a BTreeMap<u32, (PackReader, Option<Candidates>)>,
    /// The bases of delta frames (shard format 3).
    chains: &'a SealedReader,
}

/// Reads `units` of `holders` on worker threads, each with its own state and buffers, and
/// hands their results to `sink` in unit order, never more than a window of units ahead of
/// it (bounded memory).
fn run_units<S: Send, T: Send>(readers: &Readers<'_>, holders: &ShardHolders, units: &[Unit], rd: &mut Reading<'_, S, T>) -> Result<(), VisitError> {
    let Reading { opts, cancel, reporter, init, work, sink, stats, buffers } = rd;
    let (opts, cancel, reporter, init, work) = (*opts, *cancel, *reporter, *init, *work);
    let threads = rayon::current_num_threads().max(1);
    let window = threads * if opts.batch_per_thread == 0 { 4 } else { opts.batch_per_thread };
    let blob_pool = match opts.parallel_blobs {
        true => Some(crate::blob_pool::blob_pool(threads, opts.stack_size)?),
        false => None,
    };
    let Buffers { frames, compressed } = &*buffers;
    let run_unit = |(state, buf, scratch): &mut (S, Arc<FrameBuf>, Arc<FrameBuf>), unit: &Unit| -> UnitOut<T> {
        let mut out = Vec::new();
        match unit {
            Unit::Frame { shard, frame, blobs, deltas } => {
                let pack_of = |n: &Option<u32>| match n {
                    None => readers.own.expect("frames come from a pack"),
                    Some(n) => &readers.others[n].0,
                };
                let pack = pack_of(shard);
                // the frame up to its last blob wanted, or needed as the root of a delta
                let end = blobs.iter().map(|b| (b.1 + b.2) as usize).chain(deltas.iter().map(|d| (d.root_offset + d.root_len) as usize)).max().unwrap_or(0);
                let mut fetched = 0;
                let (end, frames_decoded) = match pack.delta(*frame) {
                    Some(d) => {
                        fetched += 1;
                        // a delta frame holds one blob; its base comes from the shard storing
                        // it (units of one shard's own reads; see DeltaRead for the others)
                        let base = readers.chains.read(&d.oid)?.ok_or_else(|| VisitError::Core(CoreError::Invalid(format!("blob {} (the base of a delta) is stored in no sealed shard", d.oid))))?;
                        pack.decode_delta(*frame, &base, FrameBuf::reusable(buf, frames), FrameBuf::reusable(scratch, compressed))?;
                        (end, 1)
                    }
                    None => match opts.frame_cache {
                        Some(cache) => match cache.get(pack, *frame, end) {
                            Some(hit) => {
                                *buf = hit;
                                (0, 0)
                            }
                            None => {
                                // whole, so that any later search finds what it needs
                                let len = pack.frame(*frame).len as usize;
                                pack.decode_frame_prefix(*frame, len, FrameBuf::reusable(buf, frames), FrameBuf::reusable(scratch, compressed))?;
                                cache.put(pack, *frame, FrameBuf::detach(buf));
                                (len, 1)
                            }
                        },
                        None => {
                            pack.decode_frame_prefix(*frame, end, FrameBuf::reusable(buf, frames), FrameBuf::reusable(scratch, compressed))?;
                            (end, 1)
                        }
                    },
                };
                let buf = &*buf;
                let one = |state: &mut S, (at, off, len): &(u32, u32, u32)| {
                    let (oid, h) = &holders[*at as usize];
                    work(state, oid, h, &Blob::new(buf, *off as usize..(*off + *len) as usize))
                };
                if let Some(pool) = &blob_pool {
                    out = pool.install(|| blobs.par_iter().map_init(init, one).collect::<Result<Vec<T>, _>>())?;
                } else {
                    for b in blobs {
                        out.push(one(state, b)?);
                    }
                }
                let mut read: u64 = blobs.iter().map(|b| u64::from(b.2)).sum();
                // Deltas, each against the root blob or a delta decoded before it here (kept
                // only while a later one needs it).
                // Uses still to come of each blob: as a base, or as the same blob again (more
                // of its files, in rows mode).
                let mut uses: std::collections::HashMap<Oid, usize> = std::collections::HashMap::new();
                for d in deltas {
                    *uses.entry(d.base).or_default() += 1;
                    *uses.entry(holders[d.at as usize].0).or_default() += 1;
                }
                let mut kept: std::collections::HashMap<Oid, Arc<FrameBuf>> = std::collections::HashMap::new();
                let mut decoded = 0;
                let used = |uses: &mut std::collections::HashMap<Oid, usize>, kept: &mut std::collections::HashMap<Oid, Arc<FrameBuf>>, o: &Oid| {
                    if let Some(n) = uses.get_mut(o) {
                        *n -= 1;
                        if *n == 0 {
                            kept.remove(o);
                        }
                    }
                };
                for d in deltas {
                    let (oid, h) = &holders[d.at as usize];
                    let data = match kept.get(oid) {
                        Some(b) => b.clone(),
                        None => {
                            let fallback;
                            let base: &[u8] = match (d.depth, kept.get(&d.base)) {
                                (1, _) => buf
                                    .bytes()
                                    .get(d.root_offset as usize..(d.root_offset + d.root_len) as usize)
                                    .ok_or_else(|| VisitError::Core(CoreError::Invalid(format!("blob {oid}: its root lies beyond frame {frame}"))))?,
                                (_, Some(b)) => b.bytes(),
                                _ => {
                                    fetched += 1;
                                    fallback = readers
                                        .chains
                                        .read(&d.base)?
                                        .ok_or_else(|| VisitError::Core(CoreError::Invalid(format!("blob {} (the base of a delta) is stored in no sealed shard", d.base))))?;
                                    &fallback
                                }
                            };
                            let mut v = Vec::new();
                            pack_of(&Some(d.shard)).decode_delta(d.frame as usize, base, &mut v, FrameBuf::reusable(scratch, compressed))?;
                            decoded += v.len() as u64;
                            FrameBuf::owned(v)
                        }
                    };
                    used(&mut uses, &mut kept, &d.base);
                    if !d.silent {
                        read += data.bytes().len() as u64;
                        out.push(work(state, oid, h, &Blob::whole(&data))?);
                    }
                    if uses.get(oid).is_some_and(|n| *n > 1) {
                        kept.insert(*oid, data);
                    }
                    used(&mut uses, &mut kept, oid);
                }
                Ok((out, frames_decoded + deltas.len() as u64, end as u64 + decoded, read, fetched))
            }
            Unit::Journal { blobs } => {
                let journal = readers.journal.expect("journal blobs come from a journal");
                let mut read = 0;
                for (at, loc) in blobs {
                    let data = FrameBuf::owned(journal.read_at(loc)?);
                    let blob = Blob::whole(&data);
                    read += blob.len() as u64;
                    let (oid, h) = &holders[*at as usize];
                    out.push(work(state, oid, h, &blob)?);
                }
                Ok((out, 0, 0, read, 0))
            }
        }
    };
    let result = crate::ordered::ordered_map(
        units.len(),
        crate::ordered::Pool { threads, stack_size: opts.stack_size, window },
        cancel,
        &|| (init(), FrameBuf::from_pool(frames), FrameBuf::from_pool(compressed)),
        &|st, i| run_unit(st, &units[i]),
        &mut |r: UnitOut<T>| -> Result<(), VisitError> {
            let (outs, frames, decoded, read, fetched) = r?;
            stats.bases_fetched += fetched;
            stats.frames_decoded += frames;
            stats.bytes_decoded += decoded;
            stats.blobs_read += outs.len() as u64;
            stats.bytes_read += read;
            for t in outs {
                sink(t)?;
            }
            report(reporter, stats);
            Ok(())
        },
    );
    // the workers' buffers wait for the next batch's workers; no more
    frames.trim(threads);
    compressed.trim(threads);
    result
}

/// One pack's wanted blobs (place in the holders list, offset, length) by frame, in offset
/// order, less those the filter rules out (counted as passed instead; a frame left with
/// none is not read).
fn kept_frames(by_frame: BTreeMap<u32, Vec<(u32, u32, u32)>>, keep: Option<&Candidates>, pack: &PackReader, stats: &mut VisitStats) -> Frames {
    let mut kept = Vec::new();
    for (frame, mut blobs) in by_frame {
        if let Some(k) = keep {
            blobs.retain(|b| {
                let kept = k.keeps(pack, frame, b.1, b.2);
                if !kept {
                    stats.bytes_passed += u64::from(b.2);
                    stats.blobs_ruled_out += 1;
                }
                kept
            });
            if blobs.is_empty() {
                stats.frames_skipped += 1;
                continue;
            }
        }
        blobs.sort_unstable_by_key(|b| b.1);
        kept.push((frame, blobs));
    }
    kept
}

/// Files handed over with one blob at most, per call of the work: a blob that a million
/// files hold (a licence text) is handed over again with the next ones.
const ROWS_PER_CALL: usize = 4096;

/// Contents handed over in one call at most, counted once per file (a call's results, such as
/// `stream`'s lines, repeat a blob for each of its files): fewer files per call for larger blobs.
const CALL_BYTES: u64 = 4 << 20;

/// The same count for one unit of work (blobs of a frame read together, whose results wait
/// together for the sink): past it, the next blobs go to another unit, which decodes the
/// frame again. So a blob that many files of a large corpus hold costs more decodes, never
/// more memory.
const UNIT_BYTES: u64 = 12 << 20;

/// The files of a waiting blob as [`Later`] read them back: kept, or coded in the sorter's
/// record (`rows` of them still to decode).
enum Held {
    /// `first` until handed out.
    Kept {
        first: Option<Arc<FileRow>>,
        count: u64,
        others: std::vec::IntoIter<FileRow>,
    },
    Coded {
        count: u64,
        rows: u64,
    },
}

impl Held {
    fn kept(h: Holders) -> Held {
        Held::Kept { first: Some(h.first), count: h.count, others: h.others.into_iter() }
    }

    /// How many selected files hold the blob.
    fn count(&self) -> u64 {
        match self {
            Held::Kept { count, .. } | Held::Coded { count, .. } => *count,
        }
    }

    /// The next file (`Some(None)`: a damaged record), first to last.
    fn next_row(&mut self, r: &mut codec::Reader<'_>, oid: Oid) -> Option<Option<FileRow>> {
        match self {
            Held::Kept { first, others, .. } => match first.take() {
                Some(f) => Some(Some(Arc::unwrap_or_clone(f))),
                None => others.next().map(Some),
            },
            Held::Coded { rows, .. } if *rows > 0 => {
                *rows -= 1;
                Some(crate::row_codec::get_row(r, oid))
            }
            Held::Coded { .. } => None,
        }
    }
}

/// Where a waiting blob is stored: whole in a frame, or as a delta read after its root's frame.
enum Stored {
    Whole { shard: u32, frame: usize, offset: u32, len: u32 },
    Delta { root_shard: u32, root_frame: usize, read: DeltaRead },
}

/// Adds an entry (a blob with files to hand over) to a batch of the reading pass: to the last
/// unit when it reads the same frame and has room (see [`UNIT_BYTES`]), else to a new one. A
/// delta deeper than one stays with the unit before it (its base is there) up to four times
/// the room.
fn push_entry(holders: &mut ShardHolders, units: &mut Vec<Unit>, unit_weight: &mut u64, (oid, h): (Oid, Holders), stored: &Stored) {
    let len = match stored {
        Stored::Whole { len, .. } => u64::from(*len),
        Stored::Delta { .. } => h.first.size,
    };
    let weight = len * (1 + h.others.len() as u64);
    let at = holders.len() as u32;
    holders.push((oid, Box::new(h)));
    let (shard, frame, limit) = match stored {
        Stored::Whole { shard, frame, .. } => (*shard, *frame, UNIT_BYTES),
        Stored::Delta { root_shard, root_frame, read } => (*root_shard, *root_frame, if read.depth > 1 { 4 * UNIT_BYTES } else { UNIT_BYTES }),
    };
    let fits = *unit_weight + weight <= limit;
    let unit = match units.last_mut() {
        Some(Unit::Frame { shard: Some(s), frame: f, blobs, deltas }) if *s == shard && *f == frame && fits => {
            *unit_weight += weight;
            (blobs, deltas)
        }
        last => {
            // A delta whose base the unit before decodes: this one decodes that part of the
            // chain again (silently), so that no delta reads its base through the corpus.
            let mut chain = Vec::new();
            if let (Stored::Delta { read, .. }, Some(Unit::Frame { shard: Some(s), frame: f, deltas, .. })) = (stored, last)
                && *s == shard
                && *f == frame
            {
                let mut need = (read.depth > 1).then_some(read.base);
                for d in deltas.iter().rev() {
                    if need == Some(holders[d.at as usize].0) {
                        chain.push(DeltaRead { silent: true, ..d.clone() });
                        need = (d.depth > 1).then_some(d.base);
                    }
                }
                chain.reverse();
            }
            units.push(Unit::Frame { shard: Some(shard), frame, blobs: Vec::new(), deltas: chain });
            *unit_weight = weight;
            match units.last_mut() {
                Some(Unit::Frame { blobs, deltas, .. }) => (blobs, deltas),
                _ => unreachable!("a frame unit was just pushed"),
            }
        }
    };
    match stored {
        Stored::Whole { offset, len, .. } => unit.0.push((at, *offset, *len)),
        Stored::Delta { read, .. } => unit.1.push(DeltaRead { at, ..read.clone() }),
    }
}

/// Files handed over with a blob of `len` bytes per call.
fn rows_per_call(len: u64) -> usize {
    (CALL_BYTES / len.max(1)).clamp(1, ROWS_PER_CALL as u64) as usize
}

/// Bytes of a waiting blob's place in [`Later`]'s keys: root shard, frame and offset, depth,
/// shard and frame (see [`Later::push_frames`]); then a sequence number.
const PLACE_LEN: usize = 24;
const KEY_LEN: usize = PLACE_LEN + 8;

/// Blobs whose reading waits until every shard's index is scanned (see [`visit_blobs`]), each
/// with the files of one shard that hold it, in a sorter keyed by where the blob is stored
/// (shard, frame, offset) and the order they came in; spilled beyond a quarter of the memory
/// budget. Reading them back, in batches of a sixteenth, decodes each frame once and hands
/// each blob over once with all its files (or, when each blob is read once, with the
/// first, and the number of files of every shard holding it).
struct Later {
    sorter: Sorter,
    /// Blobs [`VisitOptions::skip`] left out (keyed by id, to count each once).
    skipped: Sorter,
    /// Each blob is read once (else once per call, with all its files).
    once: bool,
    /// Items pushed so far (the last part of the key).
    seq: u64,
    /// Bytes of waiting files read back at once, at least.
    batch_bytes: usize,
    /// The files of waiting blobs kept as they are, not coded into the sorter, while they fit
    /// `keep_limit` (by [`HOLDER_BYTES`] a file): coding every row and decoding it again was
    /// the largest cost of planning a read over many shards. Past it, rows are coded.
    kept: Vec<Option<Holders>>,
    kept_bytes: usize,
    keep_limit: usize,
    tmp: std::path::PathBuf,
    scratch: Vec<u8>,
}

/// What a file kept by [`Later`] is counted as (a row and its strings).
const HOLDER_BYTES: usize = 512;

impl Later {
    fn new(corpus: &Corpus, once: bool) -> Later {
        let tmp = corpus.tmp_dir();
        let budget = usize::try_from(corpus.config().memory_budget_bytes).unwrap_or(usize::MAX);
        Later {
            sorter: Sorter::new(&tmp, budget / 4),
            skipped: Sorter::new(&tmp, budget / 64),
            once,
            seq: 0,
            batch_bytes: (budget / 16).max(1 << 20),
            kept: Vec::new(),
            kept_bytes: 0,
            keep_limit: budget / 8,
            tmp,
            scratch: Vec::new(),
        }
    }

    fn skip(&mut self, oid: Oid) -> Result<(), CoreError> {
        self.skipped.push(&oid.0, &[]).map_err(|e| CoreError::io(&self.tmp, e))
    }

    /// Adds the kept frames of shard `n`'s pack (see [`kept_frames`]). A blob stored whole is
    /// keyed by where it is; a delta (format 3) by where its chain's root is, then its depth
    /// and where it is, so that it is read right after its root's frame, after its base.
    fn push_frames(&mut self, n: u32, pack: &PackReader, frames: Frames, holders: &ShardHolders) -> Result<(), VisitError> {
        for (frame, blobs) in frames {
            let delta = pack.delta(frame as usize);
            for (at, offset, len) in blobs {
                let (oid, h) = &holders[at as usize];
                let mut key = [0u8; KEY_LEN];
                let place = match &delta {
                    None => [n, frame, offset, 0, n, frame],
                    Some(d) => [d.root.shard, d.root.frame, d.root.offset, d.depth, n, frame],
                };
                for (i, v) in place.iter().enumerate() {
                    key[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
                }
                key[PLACE_LEN..].copy_from_slice(&self.seq.to_be_bytes());
                self.seq += 1;
                let p = &mut self.scratch;
                p.clear();
                p.extend_from_slice(&oid.0);
                if let Some(d) = &delta {
                    p.extend_from_slice(&d.oid.0);
                    codec::put_var(p, u64::from(d.root.len));
                }
                codec::put_var(p, u64::from(len));
                let weight = HOLDER_BYTES * (1 + h.others.len());
                if self.kept_bytes + weight <= self.keep_limit {
                    // kept: its place in `kept`
                    p.push(0);
                    codec::put_var(p, self.kept.len() as u64);
                    self.kept.push(Some((**h).clone()));
                    self.kept_bytes += weight;
                } else {
                    // coded: how many hold it, then the files
                    p.push(1);
                    codec::put_var(p, h.count);
                    codec::put_var(p, 1 + h.others.len() as u64);
                    for row in h.all() {
                        crate::row_codec::put_row(p, row);
                    }
                }
                self.sorter.push(&key, &self.scratch).map_err(|e| CoreError::io(&self.tmp, e))?;
            }
        }
        Ok(())
    }

    /// Reads the waiting blobs in the order they are stored and hands them over as
    /// [`visit_shard`] does. `unique`: the filter's (the first file of each blob was counted
    /// as stored in each shard holding it; once here).
    fn run<S: Send, T: Send>(self, elsewhere: &mut Elsewhere, unique: bool, rd: &mut Reading<'_, S, T>) -> Result<(), VisitError> {
        let Later { sorter, skipped, once, batch_bytes, mut kept, tmp, .. } = self;
        let io = |e| CoreError::io(&tmp, e);
        let damaged = || VisitError::Core(CoreError::Invalid(format!("a spilled file under {} is damaged", tmp.display())));
        let mut skipped = skipped.finish().map_err(io)?;
        let mut last: Option<Vec<u8>> = None;
        while let Some((k, _)) = skipped.next().map_err(io)? {
            if last.as_deref() != Some(k) {
                rd.stats.skipped_blobs += 1;
                last = Some(k.to_vec());
            }
        }
        drop(skipped);
        let mut merged = sorter.finish().map_err(io)?;
        // Where the last blob handed over is (see PLACE_LEN).
        let mut at: Option<[u8; PLACE_LEN]> = None;
        while !rd.cancel.load(Ordering::SeqCst) {
            let (mut holders, mut units, mut bytes): (ShardHolders, Vec<Unit>, usize) = (Vec::new(), Vec::new(), 0);
            // contents handed over by the last unit, once per file (see UNIT_BYTES)
            let mut unit_weight = 0u64;
            while let Some(key) = merged.peek_key().map_err(io)? {
                let place: [u8; PLACE_LEN] = key.get(..PLACE_LEN).and_then(|k| k.try_into().ok()).ok_or_else(damaged)?;
                let same_blob = at == Some(place) && !holders.is_empty();
                // a record of the blob just read joins it (unless its call is full)
                let joins = same_blob && (once || holders.last().is_some_and(|(_, h)| h.others.len() + 1 < rows_per_call(h.first.size)));
                // a batch ends at a frame's end once full, anywhere but inside one call once
                // four times full
                if !joins && bytes >= batch_bytes && (at.is_none_or(|a| a[..8] != place[..8]) || bytes >= 4 * batch_bytes) {
                    break;
                }
                let (_, payload) = merged.next().map_err(io)?.ok_or_else(damaged)?;
                bytes += payload.len();
                let mut r = codec::Reader(payload);
                let oid = Oid(r.take(20).and_then(|b| b.try_into().ok()).ok_or_else(damaged)?);
                let word = |i: usize| u32::from_be_bytes(place[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
                let depth = word(3);
                let base = match depth {
                    0 => None,
                    _ => Some((Oid(r.take(20).and_then(|b| b.try_into().ok()).ok_or_else(damaged)?), u32::try_from(r.var().ok_or_else(damaged)?).map_err(|_| damaged())?)),
                };
                let len = u32::try_from(r.var().ok_or_else(damaged)?).map_err(|_| damaged())?;
                // the files: kept as they were, or coded (how many hold the blob, the rows)
                let mut held = match r.take(1).ok_or_else(damaged)?[0] {
                    0 => {
                        let i = usize::try_from(r.var().ok_or_else(damaged)?).map_err(|_| damaged())?;
                        Held::kept(kept.get_mut(i).and_then(Option::take).ok_or_else(damaged)?)
                    }
                    1 => {
                        let count = r.var().ok_or_else(damaged)?;
                        Held::Coded { count, rows: r.var().ok_or_else(damaged)? }
                    }
                    _ => return Err(damaged()),
                };
                bytes += match &held {
                    Held::Kept { others, .. } => HOLDER_BYTES * (1 + others.len()),
                    Held::Coded { .. } => 0,
                };
                if same_blob {
                    // another shard's files of the blob just read: one read, one candidate
                    rd.stats.candidate_blobs -= 1;
                    rd.stats.candidate_bytes -= u64::from(len);
                    rd.stats.stored_rows -= u64::from(unique);
                }
                let stored = match base {
                    None => Stored::Whole { shard: word(0), frame: word(1) as usize, offset: word(2), len },
                    Some((base, root_len)) => Stored::Delta {
                        root_shard: word(0),
                        root_frame: word(1) as usize,
                        read: DeltaRead { at: 0, shard: word(4), frame: word(5), base, root_offset: word(2), root_len, depth, silent: false },
                    },
                };
                if once {
                    // the first file, and how many hold the blob
                    let count = held.count();
                    if same_blob {
                        holders.last_mut().expect("the same blob").1.count += count;
                    } else {
                        let first = match held {
                            Held::Kept { first, .. } => first.ok_or_else(damaged)?,
                            Held::Coded { .. } => Arc::new(crate::row_codec::get_row(&mut r, oid).ok_or_else(damaged)?),
                        };
                        push_entry(&mut holders, &mut units, &mut unit_weight, (oid, Holders { first, count, others: Vec::new() }), &stored);
                    }
                } else {
                    // every file, at most rows_per_call a call: the next ones in another entry
                    // of the same blob (read again)
                    let per = rows_per_call(u64::from(len));
                    let mut continues = same_blob;
                    while let Some(row) = held.next_row(&mut r, oid) {
                        let row = row.ok_or_else(damaged)?;
                        match holders.last_mut() {
                            Some((_, h)) if continues && h.others.len() + 1 < per => {
                                h.others.push(row);
                                h.count += 1;
                                unit_weight += u64::from(len);
                            }
                            _ => {
                                if continues {
                                    rd.stats.candidate_blobs += 1;
                                    rd.stats.candidate_bytes += u64::from(len);
                                }
                                push_entry(&mut holders, &mut units, &mut unit_weight, (oid, Holders { first: Arc::new(row), count: 1, others: Vec::new() }), &stored);
                                continues = true;
                            }
                        }
                    }
                }
                at = Some(place);
            }
            if holders.is_empty() {
                break;
            }
            let owners: std::collections::BTreeSet<u32> = units
                .iter()
                .flat_map(|u| match u {
                    Unit::Frame { shard, deltas, .. } => shard.iter().copied().chain(deltas.iter().map(|d| d.shard)).collect(),
                    Unit::Journal { .. } => Vec::new(),
                })
                .collect();
            // Storage order: a pack left behind is not read again.
            elsewhere.packs.retain(|n, _| owners.contains(n));
            for n in owners {
                // no blob filter: the blobs it ruled out were left out when planned
                elsewhere.open(n, None)?;
            }
            let readers = Readers { own: None, journal: None, others: &elsewhere.packs, chains: &elsewhere.chains };
            run_units(&readers, &holders, &units, rd)?;
        }
        Ok(())
    }
}
