//! Adding distribution files: read each safely, index every file, journal unique contents.
//!
//! Worker threads (one per core) each take a distribution file, hash it, read it under the
//! archive limits, classify every entry and compress new blobs; one writer (the calling
//! thread) appends blobs and then the distribution's commit record to the open shard's
//! journal. A distribution is in the corpus exactly when its commit record is. Shards that
//! reach their capacity are sealed between distributions and a new one is opened.

use crate::corpus::{journal_records, shard_name};
use crate::{CoreError, Corpus, Ctx, Reporter, ShardInfo, ShardKind};
use crossbeam_channel::{Receiver, Sender};
use pycorpus_archive::{
    ArchiveError, ContentProbe, DistFilename, DistType, EntryKind, Limits, MAX_PY_SIZE, classify, escape_name, is_distribution_name, normalize_path, normalize_project, read_archive,
};
use pycorpus_catalog::{DistRecord, DistStatus, EntryType, Fields, FileEntry, Release, Rows};
use pycorpus_deps::{DistMetadata, MetaFile, Parsed, wanted};
use pycorpus_store::{Journal, Oid, OidHasher};
use serde::Serialize;
use std::collections::{HashSet, VecDeque};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// One distribution file to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestItem {
    /// Where the file is.
    pub path: PathBuf,
    /// Its distribution file name (decides project, version and type).
    pub file_name: String,
    /// The project, when known from elsewhere (the index, a lock file).
    pub project_hint: Option<String>,
    /// Upload time (µs since the epoch); default: the file's modification time.
    pub uploaded_on: Option<i64>,
    /// sha256 the file must have; a mismatch is a failure and nothing is ingested.
    pub expected_sha256: Option<String>,
    /// Delete the file once its distribution is committed (or found already present): for
    /// downloads that are not to be kept.
    pub remove_after: bool,
    /// What the index says of the release; fills what the archive's own metadata lacks.
    pub index_meta: Option<IndexMeta>,
}

/// Release metadata from an index (the JSON API), as PyTorrent keeps per package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexMeta {
    /// Summary.
    pub summary: Option<String>,
    /// License.
    pub license: Option<String>,
    /// Classifiers.
    pub classifiers: Vec<String>,
    /// Requires-Python of the file.
    pub requires_python: Option<String>,
    /// Project URLs (label, url).
    pub project_urls: Vec<(String, String)>,
    /// Yanked.
    pub yanked: bool,
}

/// Options of [`Corpus::ingest`].
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// Worker threads; 0 means one per core.
    pub jobs: usize,
    /// Read again distributions recorded as failed (default: skip every known file).
    pub retry_failed: bool,
}

/// An input that could not be added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// File name.
    pub file: String,
    /// `code: message`.
    pub reason: String,
}

/// What [`Corpus::ingest`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AddSummary {
    /// Inputs looked at.
    pub considered: u64,
    /// Distributions committed as read.
    pub added: u64,
    /// Distributions committed as failed, plus inputs that could not be read at all.
    pub failed: u64,
    /// Inputs already in the corpus (same sha256).
    pub already_present: u64,
    /// Files indexed.
    pub files: u64,
    /// New unique blobs stored.
    pub new_blobs: u64,
    /// Their size.
    pub new_blob_bytes: u64,
    /// Bytes of distribution files read.
    pub input_bytes: u64,
    /// Shards sealed because they reached capacity.
    pub sealed_shards: Vec<u32>,
    /// Every failure, in order.
    pub failures: Vec<Failure>,
    /// True when the run was cancelled before the end (what was committed stays).
    pub interrupted: bool,
}

/// Expands files and folders into distribution files, sorted by upload time then name.
/// Returns the items and the files that are not distributions (by name). `uploaded_on`
/// overrides every file's modification time.
pub fn collect_inputs(paths: &[PathBuf], uploaded_on: Option<i64>) -> Result<(Vec<IngestItem>, Vec<PathBuf>), CoreError> {
    let mut items = Vec::new();
    let mut ignored = Vec::new();
    let mut push = |path: PathBuf, items: &mut Vec<IngestItem>| -> Result<(), CoreError> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !is_distribution_name(&name) {
            ignored.push(path);
            return Ok(());
        }
        let time = match uploaded_on {
            Some(t) => t,
            None => mtime_micros(&path)?,
        };
        items.push(IngestItem { path, file_name: name, project_hint: None, uploaded_on: Some(time), expected_sha256: None, remove_after: false, index_meta: None });
        Ok(())
    };
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| CoreError::io(p, e))?;
        if meta.is_dir() {
            for entry in walkdir::WalkDir::new(p).follow_links(false).sort_by_file_name() {
                let entry = entry.map_err(|e| CoreError::io(p, e.into()))?;
                if entry.file_type().is_file() {
                    push(entry.into_path(), &mut items)?;
                }
            }
        } else {
            push(p.clone(), &mut items)?;
        }
    }
    items.sort_by(|a, b| (a.uploaded_on, &a.file_name).cmp(&(b.uploaded_on, &b.file_name)));
    Ok((items, ignored))
}

fn mtime_micros(path: &Path) -> Result<i64, CoreError> {
    let m = std::fs::metadata(path).and_then(|m| m.modified()).map_err(|e| CoreError::io(path, e))?;
    Ok(match m.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    })
}

enum Msg {
    Blob {
        oid: Oid,
        len: u32,
        data: Vec<u8>,
    },
    /// A distribution read to its end (or failed), with the input it came from so that it can
    /// be handed to the next shard when this one filled up in the meantime.
    Commit(Box<DistRecord>, IngestItem),
    Skipped {
        bytes: u64,
        failure: Option<Failure>,
        item: IngestItem,
    },
}

/// What the ingest's workers share.
struct Shared<'a> {
    queue: &'a Receiver<IngestItem>,
    /// Inputs handed back (read while a shard filled up): taken before the queue.
    pending: &'a Mutex<VecDeque<IngestItem>>,
    known_blobs: Mutex<HashSet<Oid>>,
    /// Format 2: where sealed shards store blobs, which are then not journaled again.
    stored: Option<crate::BlobLocator>,
    known_dists: &'a crate::state::Holdings,
    full: AtomicBool,
    stop: AtomicBool,
    cancel: &'a AtomicBool,
    limits: Limits,
    shard: u32,
}

impl Corpus {
    /// Adds distribution files. Inputs already present (by sha256) are skipped; a corrupt
    /// or hostile archive is committed as failed with its reason and the batch goes on. Safe to
    /// interrupt at any point (`ctx`'s cancel flag, a crash, `kill -9`): what was committed
    /// stays, and the next run adds the rest.
    pub fn ingest(&mut self, items: Vec<IngestItem>, opts: &AddOptions, ctx: Ctx<'_>) -> Result<AddSummary, CoreError> {
        let total_bytes: u64 = items.iter().filter_map(|i| std::fs::metadata(&i.path).ok()).map(|m| m.len()).sum();
        let (qtx, qrx) = crossbeam_channel::unbounded();
        let n = items.len() as u64;
        for item in items {
            qtx.send(item).expect("queue open");
        }
        drop(qtx);
        self.ingest_stream(&qrx, (n, total_bytes), opts, ctx)
    }

    /// Like [`Corpus::ingest`], for inputs that arrive while it runs (downloads): it returns
    /// once every sender of `input` is gone and everything received is done. `expected` is
    /// (items, bytes) for the progress bar, (0, 0) when unknown.
    pub fn ingest_stream(&mut self, input: &Receiver<IngestItem>, expected: (u64, u64), opts: &AddOptions, ctx: Ctx<'_>) -> Result<AddSummary, CoreError> {
        let Ctx { reporter, cancel } = ctx;
        let mut summary = AddSummary::default();
        self.state_mut()?; // a corpus opened for writing has its state database
        let known_dists = crate::state::Holdings::open(&self.root.join("state.sqlite"), opts.retry_failed)?;
        let pending: Mutex<VecDeque<IngestItem>> = Mutex::new(VecDeque::new());
        let jobs = if opts.jobs == 0 { std::thread::available_parallelism().map_or(2, |n| n.get()) } else { opts.jobs };
        reporter.start("add", expected.0, expected.1);
        loop {
            let shard = self.ensure_open_shard()?;
            let journal_path = shard.dir.join("journal.log");
            let (mut journal, rec) = Journal::open(&journal_path, self.config.durable)?;
            let (mut committed, mut shard_files) = (HashSet::new(), 0u64);
            for r in journal_records(shard.number, &journal, &rec.commits) {
                let r = r?;
                if !opts.retry_failed || r.release.status == DistStatus::Ok {
                    committed.insert(r.release.dist_sha256);
                }
                shard_files += r.files.len() as u64;
            }
            let ctx = Shared {
                queue: input,
                pending: &pending,
                known_blobs: Mutex::new(journal.blobs().map(|(o, _)| *o).collect()),
                stored: (self.config.shard_format >= 2).then(|| self.blob_locator()).transpose()?,
                known_dists: &known_dists,
                full: AtomicBool::new(self.over_capacity(&journal, shard_files)),
                stop: AtomicBool::new(false),
                cancel,
                limits: self.config.limits.into(),
                shard: shard.number,
            };
            let (tx, rx) = crossbeam_channel::bounded::<Msg>(64);
            let mut fatal: Option<CoreError> = None;
            std::thread::scope(|s| {
                for _ in 0..jobs {
                    let tx = tx.clone();
                    let ctx = &ctx;
                    s.spawn(move || worker(ctx, &tx));
                }
                drop(tx);
                for msg in rx {
                    if fatal.is_some() {
                        continue; // drain so that workers never block
                    }
                    let msg = match msg {
                        // Read while the shard filled up: it goes to the next shard. Its blobs
                        // stay behind unreferenced, so they are never packed.
                        Msg::Commit(_, item) if ctx.full.load(Ordering::SeqCst) => {
                            pending.lock().expect("lock").push_back(item);
                            continue;
                        }
                        m => m,
                    };
                    let r = self.write_msg(msg, ctx.stored.as_ref(), &mut journal, &mut committed, &mut shard_files, &mut summary, reporter);
                    match r {
                        Err(e) => {
                            fatal = Some(e);
                            ctx.stop.store(true, Ordering::SeqCst);
                        }
                        Ok(()) if self.over_capacity(&journal, shard_files) => ctx.full.store(true, Ordering::SeqCst),
                        Ok(()) => {}
                    }
                }
            });
            let more = !pending.lock().expect("lock").is_empty()
                || match input.try_recv() {
                    Ok(item) => {
                        pending.lock().expect("lock").push_back(item);
                        true
                    }
                    Err(crossbeam_channel::TryRecvError::Empty) => true,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => false,
                };
            let empty = journal.file_len() == pycorpus_store::JOURNAL_MAGIC.len() as u64;
            drop(journal);
            if empty {
                // Nothing reached this shard (everything was known or failed to open): leave
                // no empty shard behind.
                std::fs::remove_dir_all(&shard.dir).map_err(|e| CoreError::io(&shard.dir, e))?;
            }
            if let Some(e) = fatal {
                reporter.finish();
                return Err(e);
            }
            if cancel.load(Ordering::SeqCst) {
                summary.interrupted = more;
                break;
            }
            if ctx.full.load(Ordering::SeqCst) {
                reporter.note(&format!("shard {} reached its capacity; sealing it", shard.number));
                self.seal_shard(&shard, crate::Ctx::new(reporter, cancel))?;
                summary.sealed_shards.push(shard.number);
                if more {
                    continue;
                }
            }
            break;
        }
        reporter.finish();
        Ok(summary)
    }

    fn over_capacity(&self, journal: &Journal, files: u64) -> bool {
        journal.raw_bytes() >= self.config.shard_capacity_bytes || files >= self.config.shard_capacity_files
    }

    #[allow(clippy::too_many_arguments)]
    fn write_msg(
        &mut self,
        msg: Msg,
        stored: Option<&crate::BlobLocator>,
        journal: &mut Journal,
        committed: &mut HashSet<String>,
        shard_files: &mut u64,
        summary: &mut AddSummary,
        reporter: &dyn Reporter,
    ) -> Result<(), CoreError> {
        match msg {
            Msg::Blob { oid, len, data } => {
                if journal.append_blob(oid, len, &data)? {
                    summary.new_blobs += 1;
                    summary.new_blob_bytes += u64::from(len);
                }
            }
            Msg::Skipped { bytes, failure, item } => {
                summary.considered += 1;
                remove_input(&item);
                match failure {
                    Some(f) => {
                        reporter.note(&format!("failed: {}: {}", f.file, f.reason));
                        summary.failed += 1;
                        summary.failures.push(f);
                    }
                    None => summary.already_present += 1,
                }
                reporter.advance(1, bytes);
            }
            Msg::Commit(rec, item) => {
                summary.considered += 1;
                let rel = &rec.release;
                if !committed.insert(rel.dist_sha256.clone()) {
                    summary.already_present += 1; // the same file twice in one batch
                    reporter.advance(1, rel.dist_size);
                    remove_input(&item);
                    return Ok(());
                }
                let held = |oid: &Oid| journal.contains(oid) || stored.is_some_and(|s| s.locate(oid).is_some());
                if let Some(f) = rec.files.iter().find(|f| f.skip_reason.is_none() && !held(&f.hash)) {
                    return Err(CoreError::Corrupt { shard: rel.repository, message: format!("internal error: {} refers to blob {} that was never stored", rel.project_release, f.hash) });
                }
                let payload = serde_json::to_vec(&*rec).map_err(|e| CoreError::Invalid(e.to_string()))?;
                journal.commit(&payload)?;
                self.state_mut()?.put(std::slice::from_ref(rel))?;
                remove_input(&item);
                *shard_files += rec.files.len() as u64;
                summary.input_bytes += rel.dist_size;
                match rel.status {
                    DistStatus::Ok => {
                        summary.added += 1;
                        summary.files += rec.files.len() as u64;
                    }
                    DistStatus::Failed => {
                        let f = Failure { file: rel.project_release.clone(), reason: rel.error.clone().unwrap_or_default() };
                        reporter.note(&format!("failed: {}: {}", f.file, f.reason));
                        summary.failed += 1;
                        summary.failures.push(f);
                    }
                }
                reporter.advance(1, rel.dist_size);
            }
        }
        Ok(())
    }

    /// The open shard, created if there is none.
    pub(crate) fn ensure_open_shard(&self) -> Result<ShardInfo, CoreError> {
        if let Some(s) = self.open_shard()? {
            return Ok(s);
        }
        let number = self.shards()?.iter().map(|s| s.number).max().unwrap_or(0) + 1;
        let dir = self.shards_dir().join(format!("{}.open", shard_name(number)));
        std::fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
        crate::sync_dir(&self.shards_dir())?;
        Ok(ShardInfo { number, kind: ShardKind::Open, dir })
    }
}

/// Deletes an input the caller does not want kept, once nothing more depends on it.
fn remove_input(item: &IngestItem) {
    if item.remove_after
        && let Err(e) = std::fs::remove_file(&item.path)
    {
        tracing::warn!("cannot remove {}: {e}", item.path.display());
    }
}

/// The next input: handed-back ones first, then the queue (waiting for it while it is open).
fn next_item(ctx: &Shared<'_>) -> Option<IngestItem> {
    loop {
        if ctx.full.load(Ordering::SeqCst) || ctx.stop.load(Ordering::SeqCst) || ctx.cancel.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(item) = ctx.pending.lock().expect("lock").pop_front() {
            return Some(item);
        }
        match ctx.queue.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(item) => return Some(item),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// What a worker reuses from one distribution to the next: the entry buffer, a compression
/// context and its output buffer. A context made per blob allocated and freed about a
/// megabyte each time, which the allocator kept resident for a while on every worker.
#[derive(Default)]
struct Scratch {
    buf: Vec<u8>,
    journal: JournalCompressor,
}

/// Compresses blobs for the journal with one context.
#[derive(Default)]
struct JournalCompressor {
    zstd: Option<zstd::bulk::Compressor<'static>>,
    out: Vec<u8>,
}

/// Buffers over this size are let go after the distribution that needed them.
const SCRATCH_KEEP: usize = 256 << 10;

impl JournalCompressor {
    /// `data` compressed, in a vector of its exact size.
    fn compress(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        let zstd = match &mut self.zstd {
            Some(z) => z,
            None => self.zstd.insert(zstd::bulk::Compressor::new(1)?),
        };
        self.out.clear();
        self.out.reserve(zstd::zstd_safe::compress_bound(data.len()));
        zstd.compress_to_buffer(data, &mut self.out)?;
        Ok(self.out.as_slice().to_vec())
    }
}

impl Scratch {
    /// Lets go of the buffers a large entry grew past [`SCRATCH_KEEP`].
    fn trim(&mut self) {
        for b in [&mut self.buf, &mut self.journal.out] {
            if b.capacity() > SCRATCH_KEEP {
                *b = Vec::new();
            }
        }
    }
}

fn worker(ctx: &Shared<'_>, tx: &Sender<Msg>) {
    let mut scratch = Scratch::default();
    while let Some(item) = next_item(ctx) {
        let msg = ingest_one(ctx, &item, tx, &mut scratch);
        scratch.trim();
        match msg {
            Some(msg) => {
                if tx.send(msg).is_err() {
                    break;
                }
            }
            None => break, // the writer stopped
        }
    }
}

/// Why a distribution was not added: the closed set of codes that lead its reason (`code:
/// detail`) in the summary, the state database and releases.parquet's `error` column.
enum Refusal<'a> {
    /// The file could not be read at all.
    Unreadable(&'a Path, std::io::Error),
    /// The state database could not say whether the corpus holds it.
    StateDatabase(CoreError),
    /// Its sha256 is not the one the index gave.
    Sha256Mismatch { expected: &'a str, got: &'a str },
    /// Its name is no distribution file name.
    UnrecognisedName,
    /// The archive itself (corrupt, a bomb, over a limit: the archive reader's codes).
    Archive(&'a ArchiveError),
}

impl Refusal<'_> {
    fn code(&self) -> &'static str {
        match self {
            Refusal::Unreadable(..) => "unreadable",
            Refusal::StateDatabase(_) => "state-database",
            Refusal::Sha256Mismatch { .. } => "sha256-mismatch",
            Refusal::UnrecognisedName => "unrecognised-name",
            Refusal::Archive(e) => e.code(),
        }
    }

    /// `code: detail`.
    fn reason(&self) -> String {
        let detail = match self {
            Refusal::Unreadable(path, e) => format!("{}: {e}", path.display()),
            Refusal::StateDatabase(e) => e.to_string(),
            Refusal::Sha256Mismatch { expected, got } => format!("expected {expected}, got {got}"),
            Refusal::UnrecognisedName => "not a distribution file name".to_string(),
            Refusal::Archive(e) => e.to_string(),
        };
        format!("{}: {detail}", self.code())
    }
}

/// Reads one distribution; `None` when the writer has gone away.
fn ingest_one(ctx: &Shared<'_>, item: &IngestItem, tx: &Sender<Msg>, scratch: &mut Scratch) -> Option<Msg> {
    let fail = |bytes, why: Refusal<'_>| Some(Msg::Skipped { bytes, failure: Some(Failure { file: item.file_name.clone(), reason: why.reason() }), item: item.clone() });
    let (sha, size) = match crate::sha256_file(&item.path) {
        Ok(x) => x,
        Err(e) => return fail(0, Refusal::Unreadable(&item.path, e)),
    };
    let sha_hex = hex::encode(sha);
    match ctx.known_dists.holds(Some(&sha_hex), &item.file_name) {
        Ok(true) => return Some(Msg::Skipped { bytes: size, failure: None, item: item.clone() }),
        Ok(false) => {}
        Err(e) => return fail(size, Refusal::StateDatabase(e)),
    }
    if let Some(want) = &item.expected_sha256
        && !want.eq_ignore_ascii_case(&sha_hex)
    {
        return fail(size, Refusal::Sha256Mismatch { expected: want, got: &sha_hex });
    }
    let parsed = DistFilename::parse(&item.file_name, item.project_hint.as_deref());
    let guess_type = guess_type(&item.file_name);
    let (mut project, mut version, mut dist_type) = match &parsed {
        Some(p) => (p.project.clone(), p.version.clone(), p.dist_type),
        None => (normalize_project(item.file_name.split('-').next().unwrap_or(&item.file_name)), String::new(), guess_type),
    };

    let mut files: Vec<FileEntry> = Vec::new();
    let mut meta = DistMetadata::default();
    let mut conda_index = false;
    let mut writer_gone = false;
    let result = read_archive(&item.path, &ctx.limits, &mut |entry, reader| {
        let archive_path = escape_name(&entry.name);
        let path = normalize_path(&entry.name).unwrap_or_else(|| "_".to_string());
        let (hash, size, skip, lines, entry_type, link_target) = match &entry.kind {
            EntryKind::File if pycorpus_archive::too_large_unread(&path, entry, &ctx.limits) => (Oid::NULL, entry.size, Some(pycorpus_archive::SkipReason::TooLarge), None, EntryType::File, None),
            EntryKind::File => {
                let (oid, probe, kept) = read_entry(reader, entry.size, &mut scratch.buf)?;
                let buf = &scratch.buf;
                let skip = classify(&path, &probe);
                if kept {
                    // Marked known only once sent: a commit that relies on the mark then
                    // always reaches the writer after the blob. Two workers may both send a
                    // blob; the journal keeps one.
                    let stored = || ctx.stored.as_ref().is_some_and(|s| s.locate(&oid).is_some());
                    if skip.is_none() && !ctx.known_blobs.lock().expect("lock").contains(&oid) && !stored() {
                        let data = scratch.journal.compress(buf)?;
                        if tx.send(Msg::Blob { oid, len: buf.len() as u32, data }).is_err() {
                            writer_gone = true;
                            return Err(ArchiveError::abort());
                        }
                        ctx.known_blobs.lock().expect("lock").insert(oid);
                    }
                    if let Some(kind) = wanted(dist_type, &path).or_else(|| wanted(DistType::Conda, &path)) {
                        conda_index |= kind == MetaFile::CondaIndex;
                        meta.add(kind, &path, buf);
                    }
                } else if wanted(dist_type, &path).is_some() {
                    meta.problem(&path, &format!("{} bytes: over the {MAX_PY_SIZE} read, not parsed", entry.size));
                }
                if dist_type == DistType::Wheel {
                    meta.wheel_path(&path);
                }
                let lines = (!probe.is_binary()).then(|| probe.lines());
                (oid, probe.size(), skip, lines, EntryType::File, None)
            }
            EntryKind::Symlink { target } | EntryKind::Hardlink { target } => {
                if dist_type == DistType::Wheel {
                    meta.wheel_path(&path);
                }
                let (ty, reason) = match entry.kind {
                    EntryKind::Symlink { .. } => (EntryType::Symlink, pycorpus_archive::SkipReason::Symlink),
                    _ => (EntryType::Hardlink, pycorpus_archive::SkipReason::Hardlink),
                };
                (Oid::for_blob(target), target.len() as u64, Some(reason), None, ty, Some(escape_name(target)))
            }
        };
        files.push(FileEntry { path, archive_path, size, hash, skip_reason: skip, lines, entry_type, link_target });
        Ok(())
    });
    if writer_gone {
        return None;
    }
    let (status, error) = match result {
        Ok(_) => (DistStatus::Ok, None),
        Err(e) => {
            files.clear();
            (DistStatus::Failed, Some(Refusal::Archive(&e).reason()))
        }
    };
    if conda_index
        && item.file_name.to_ascii_lowercase().ends_with(".tar.bz2")
        && let Some(c) = DistFilename::parse_conda_tarball(&item.file_name)
    {
        (project, version, dist_type) = (c.project, c.version, c.dist_type);
    }
    let Parsed { metadata, fields, rows } = meta.finish();
    let mut md = metadata.unwrap_or_default();
    if let Some(im) = &item.index_meta {
        md.summary = md.summary.or_else(|| im.summary.clone());
        md.license = md.license.or_else(|| im.license.clone());
        md.requires_python = md.requires_python.or_else(|| im.requires_python.clone());
        if md.classifiers.is_empty() {
            md.classifiers = im.classifiers.clone();
        }
        if md.project_urls.is_empty() {
            md.project_urls = im.project_urls.clone();
        }
    }
    // Legacy sdist names are ambiguous (`py-3to2-1.0`): the archive's own metadata decides.
    if let (Some(name), None) = (&md.name, &item.project_hint)
        && normalize_project(name) != project
        && let Some(p) = DistFilename::parse(&item.file_name, Some(name)).filter(|p| p.project == normalize_project(name))
    {
        (project, version) = (p.project, p.version);
    }
    let (status, error) = match (status, parsed.is_none()) {
        (DistStatus::Ok, true) => (DistStatus::Failed, Some(Refusal::UnrecognisedName.reason())),
        _ => (status, error),
    };
    let (fields, rows) = match status {
        DistStatus::Failed => {
            files.clear();
            (Fields::default(), Rows::default())
        }
        DistStatus::Ok => (fields, rows),
    };
    Some(Msg::Commit(
        Box::new(DistRecord {
            release: Release {
                project_name: project,
                project_version: version,
                project_release: item.file_name.clone(),
                dist_type,
                dist_sha256: sha_hex,
                dist_size: size,
                uploaded_on: item.uploaded_on.unwrap_or(0),
                repository: ctx.shard,
                status,
                error,
                file_count: files.len() as u64,
                metadata_name: md.name,
                metadata_version: md.version,
                summary: md.summary,
                license: md.license,
                requires_python: md.requires_python,
                classifiers: md.classifiers,
                project_urls: md.project_urls,
                yanked: item.index_meta.as_ref().map(|m| m.yanked),
                packaging: fields,
            },
            files,
            deps: rows,
        }),
        item.clone(),
    ))
}

fn guess_type(name: &str) -> DistType {
    let l = name.to_ascii_lowercase();
    if l.ends_with(".whl") {
        DistType::Wheel
    } else if l.ends_with(".egg") {
        DistType::Egg
    } else if l.ends_with(".conda") {
        DistType::Conda
    } else {
        DistType::Sdist
    }
}

/// Reads an entry's contents. Entries that could be stored (up to [`MAX_PY_SIZE`]) are kept in
/// `buf`; larger ones are streamed through the hasher and probe only. A length that differs
/// from the declared one is an error (a corrupt or lying archive).
fn read_entry(r: &mut dyn Read, declared: u64, buf: &mut Vec<u8>) -> io::Result<(Oid, ContentProbe, bool)> {
    let mismatch = |got: u64| io::Error::new(io::ErrorKind::InvalidData, format!("entry holds {got} bytes but declares {declared}"));
    if declared <= MAX_PY_SIZE {
        buf.clear();
        r.take(declared + 1).read_to_end(buf)?;
        if buf.len() as u64 != declared {
            return Err(mismatch(buf.len() as u64));
        }
        return Ok((Oid::for_blob(buf), ContentProbe::of(buf), true));
    }
    let mut h = OidHasher::new(declared);
    let mut probe = ContentProbe::default();
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = r.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        h.update(&chunk[..n]);
        probe.update(&chunk[..n]);
        if h.seen() > declared {
            return Err(mismatch(h.seen()));
        }
    }
    if !h.size_ok() {
        return Err(mismatch(h.seen()));
    }
    Ok((h.finish(), probe, false))
}
