//! `export codesearchnet`: each unique Python blob of the selection parsed once (in parallel),
//! its functions turned into records and filtered, then duplicates dropped, splits assigned
//! and files written, all in a fixed order so that the same corpus gives the same bytes.

use crate::DatasetError;
use crate::build::{judge, record};
use crate::dedup::{MAX_PER_BAND, band_keys, decode_set, encode_set, exact_key, is_near, near_set};
use crate::extract::{FileSkip, functions};
use crate::filters::{Drop, Filters, Scenario};
use crate::record::{Record, codec};
use crate::split::{SPLITS, Split};
use crate::write::{ChunkWriter, Format};
use pycorpus_catalog::FileRow;
use pycorpus_catalog::Filter;
use pycorpus_core::{Corpus, Ctx, ShardInfo, shard_releases};
use pycorpus_spill::{Key, Sorter};
use pycorpus_visit::{VisitOptions, visit_blobs};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How to export.
#[derive(Debug, Clone, Serialize)]
pub struct ExportOptions {
    /// Files to read (`.py` unless it names extensions; one per blob).
    #[serde(skip)]
    pub filter: Filter,
    /// Natural language of each record.
    pub scenario: Scenario,
    /// Split shares.
    pub split: Split,
    /// File format.
    pub format: Format,
    /// Functions nested in functions, and methods of nested classes, too.
    pub nested: bool,
    /// Filters.
    pub filters: Filters,
    /// Records per file.
    pub chunk_records: usize,
    /// Files larger than this are not parsed.
    pub max_file_bytes: usize,
    /// Secrets, emails and public IP addresses replaced before functions are read.
    pub redact: bool,
    /// The opt-out list whose projects were left out (named in the card).
    pub opt_out: Option<PathBuf>,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        ExportOptions {
            filter: Filter::default(),
            scenario: Scenario::Docstring,
            split: Split::default(),
            format: Format::JsonlGz,
            nested: false,
            filters: Filters::default(),
            chunk_records: crate::DEFAULT_CHUNK,
            max_file_bytes: crate::DEFAULT_MAX_FILE_BYTES,
            redact: true,
            opt_out: None,
        }
    }
}

/// What an export did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportSummary {
    /// The dataset folder.
    pub dest: PathBuf,
    /// Files written (records, card, lock).
    pub files: Vec<PathBuf>,
    /// Unique files read.
    pub blobs: u64,
    /// Files not parsed, by reason (`syntax-error`, `not-text`, `too-large`, `too-deep`, `panic`).
    pub files_skipped: BTreeMap<String, u64>,
    /// Functions found.
    pub functions: u64,
    /// Functions left out, by reason (`Drop::name`).
    pub dropped: BTreeMap<String, u64>,
    /// Records per split.
    pub records: BTreeMap<String, u64>,
    /// Functions that pass the filters under each scenario (before duplicate removal): what
    /// an export with another `--scenario` would start from.
    pub per_scenario: BTreeMap<String, u64>,
    /// Bytes of sorted runs written to the temporary folder because the records outgrew
    /// `memory_budget_bytes` (0 when they fit).
    pub spilled_bytes: u64,
    /// What redaction replaced in the files read (all of them, kept functions or not).
    pub redacted: crate::redact::Redacted,
}

/// What one blob gave.
struct BlobOut {
    skip: Option<&'static str>,
    /// Functions passing the filters under each of [`Scenario::ALL`].
    per_scenario: [u64; 3],
    functions: u64,
    /// Its records, ready for the first sort: (exact-duplicate key + export order, encoded
    /// record), made on the worker threads so that the sink only pushes them.
    records: Vec<(Vec<u8>, Vec<u8>)>,
    dropped: Vec<Drop>,
    redacted: crate::redact::Redacted,
}

/// Exports the selected functions of `corpus` into the new folder `dest`. The folder is
/// built under a temporary name beside it and renamed when complete, so it either holds a
/// whole dataset or does not exist. Parsing runs on threads with a stack of
/// [`pycorpus_analyze::STACK_BYTES`] (the visit's own pool).
pub fn export(corpus: &Corpus, dest: &Path, opts: &ExportOptions, ctx: Ctx<'_>) -> Result<ExportSummary, DatasetError> {
    let name = dest.file_name().and_then(|n| n.to_str()).ok_or_else(|| DatasetError::Exists(dest.to_path_buf()))?;
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = parent.join(format!(".{name}.partial"));
    let result = export_via(corpus, dest, &tmp, opts, ctx);
    if result.is_err() {
        // Nothing half-made is left behind (a crash leaves it; the next export removes it).
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn export_via(corpus: &Corpus, dest: &Path, tmp: &Path, opts: &ExportOptions, ctx: Ctx<'_>) -> Result<ExportSummary, DatasetError> {
    let cancel = ctx.cancel;
    let tmp = tmp.to_path_buf();
    if dest.exists() {
        return Err(DatasetError::Exists(dest.to_path_buf()));
    }
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|source| DatasetError::Write { path: tmp.clone(), source })?;
    }
    std::fs::create_dir_all(&tmp).map_err(|source| DatasetError::Write { path: tmp.clone(), source })?;
    let licenses = Licenses::new(corpus)?;
    let budget = usize::try_from(corpus.config().memory_budget_bytes).unwrap_or(usize::MAX);
    let spill = tmp.join(".spill");
    let io_err = |source: std::io::Error| DatasetError::Write { path: spill.clone(), source };
    // While the visit runs, a quarter of the budget for records: the rest is for the
    // frames and parse trees in flight. Merges after it take up to half.
    let mut by_hash = Sorter::new(&spill, budget / 4);
    let mut sink_error: Option<std::io::Error> = None;
    let mut filter = opts.filter.clone();
    if filter.exts.is_empty() {
        filter.exts = vec!["py".into()];
    }
    filter.unique = true;
    let mut summary = ExportSummary { dest: dest.to_path_buf(), ..Default::default() };
    let mut dropped: BTreeMap<Drop, u64> = BTreeMap::new();
    let redactor = opts.redact.then(crate::redact::Redactor::default);
    let result = visit_blobs(
        corpus,
        &filter,
        &VisitOptions { stack_size: pycorpus_analyze::STACK_BYTES, parallel_blobs: true, batch_per_thread: 4, ..Default::default() },
        ctx,
        &|| (),
        &|_, _, holders, data| {
            let row = &holders.first;
            let mut out = BlobOut { skip: None, per_scenario: [0; 3], functions: 0, records: Vec::new(), dropped: Vec::new(), redacted: Default::default() };
            if data.len() > opts.max_file_bytes {
                out.skip = Some("too-large");
                return Ok(out);
            }
            let Some(text) = pycorpus_analyze::decode(data) else {
                out.skip = Some("not-text");
                return Ok(out);
            };
            let text = match redactor.as_ref().map(|r| r.redact(&text)) {
                Some((std::borrow::Cow::Owned(clean), n)) => {
                    out.redacted = n;
                    std::borrow::Cow::Owned(clean)
                }
                _ => text,
            };
            let path = row.inner_path();
            let (mut judged, mut dropped, mut total, mut per_scenario) = (Vec::new(), Vec::new(), 0u64, [0u64; 3]);
            let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                functions(&text, opts.nested, &mut |f| {
                    total += 1;
                    for (n, s) in per_scenario.iter_mut().zip(Scenario::ALL) {
                        if s != opts.scenario {
                            *n += u64::from(judge(f, path, s, &opts.filters).is_ok());
                        }
                    }
                    match judge(f, path, opts.scenario, &opts.filters) {
                        Ok(nl) => {
                            judged.push(nl);
                            per_scenario[Scenario::ALL.iter().position(|s| *s == opts.scenario).unwrap_or(0)] += 1;
                            true
                        }
                        Err(d) => {
                            dropped.push(d);
                            false
                        }
                    }
                })
            }));
            let found = match found {
                Ok(Ok(f)) => f,
                Ok(Err(FileSkip::SyntaxError)) => {
                    out.skip = Some("syntax-error");
                    return Ok(out);
                }
                Ok(Err(FileSkip::TooDeep)) => {
                    out.skip = Some("too-deep");
                    return Ok(out);
                }
                Ok(Err(FileSkip::NotText)) => {
                    out.skip = Some("not-text");
                    return Ok(out);
                }
                Err(_) => {
                    out.skip = Some("panic");
                    return Ok(out);
                }
            };
            let license = licenses.get(row)?;
            let license = license.as_ref();
            out.functions = total;
            out.per_scenario = per_scenario;
            out.dropped = dropped;
            out.records = found
                .into_iter()
                .zip(judged)
                .map(|(f, nl)| {
                    let r = record(f, nl, row, license);
                    // Sorted by exact-duplicate key, then the export's order: the first of
                    // each group of exact duplicates is the earliest.
                    let mut key = Key::new();
                    key.bytes(&if opts.filters.dedup_exact { exact_key(&r.code_token_texts()) } else { [0; 20] });
                    order_key(&r, &mut key);
                    let mut payload = Vec::new();
                    codec::encode(&r, &mut payload);
                    (key.0, payload)
                })
                .collect();
            Ok(out)
        },
        &mut |out: BlobOut| {
            summary.blobs += 1;
            summary.redacted.add(out.redacted);
            if let Some(s) = out.skip {
                *summary.files_skipped.entry(s.to_string()).or_default() += 1;
            }
            summary.functions += out.functions;
            for (s, n) in Scenario::ALL.iter().zip(out.per_scenario) {
                *summary.per_scenario.entry(s.name().to_string()).or_default() += n;
            }
            for d in out.dropped {
                *dropped.entry(d).or_default() += 1;
            }
            for (key, payload) in out.records {
                if let Err(e) = by_hash.push(&key, &payload) {
                    sink_error.get_or_insert(e);
                    return Err(pycorpus_visit::VisitError::Output(std::io::Error::other("spilling records failed")));
                }
            }
            Ok(())
        },
    );
    if let Some(e) = sink_error {
        return Err(io_err(e));
    }
    result?;
    if cancel.load(Ordering::SeqCst) {
        return Err(DatasetError::Interrupted);
    }
    let near = opts.filters.near_duplicate_jaccard < 1.0;

    // 1. Exact duplicates: keep the first of each key; the rest go on in the export's order,
    //    and (for near duplicates) into one LSH bucket per band.
    summary.spilled_bytes += by_hash.spilled_bytes();
    let mut kept = Sorter::new(&spill, budget / 4);
    let mut bands = Sorter::new(&spill, budget / 4);
    {
        let mut merged = by_hash.finish().map_err(io_err)?;
        let mut previous: Option<[u8; 20]> = None;
        let mut set_bytes = Vec::new();
        while let Some((key, payload)) = merged.next().map_err(io_err)? {
            check(cancel)?;
            let (exact, order) = key.split_at(20);
            if opts.filters.dedup_exact && previous.as_ref().is_some_and(|p| p[..] == *exact) {
                *dropped.entry(Drop::ExactDuplicate).or_default() += 1;
                continue;
            }
            previous = exact.try_into().ok();
            kept.push(order, payload).map_err(io_err)?;
            if near {
                let r = decode(payload, &spill)?;
                let set = near_set(&r.code_token_texts());
                set_bytes.clear();
                encode_set(&set, &mut set_bytes);
                for (band, bucket) in band_keys(&set).into_iter().enumerate() {
                    let mut k = Key::new();
                    k.u64(band as u64).u64(bucket).bytes(order);
                    bands.push(&k.0, &set_bytes).map_err(io_err)?;
                }
            }
        }
    }

    summary.spilled_bytes += kept.spilled_bytes() + bands.spilled_bytes();

    // 2. Near duplicates: within each bucket, in the export's order, a record alike one of the
    //    first MAX_PER_BAND others of the bucket is dropped (their keys, sorted, in `near_ids`).
    let mut near_ids = Sorter::new(&spill, budget / 8);
    {
        let mut merged = bands.finish().map_err(io_err)?;
        let mut bucket: Vec<u8> = Vec::new();
        let mut earlier: Vec<Vec<u64>> = Vec::new();
        while let Some((key, set)) = merged.next().map_err(io_err)? {
            check(cancel)?;
            let (b, order) = key.split_at(16);
            if b != bucket {
                bucket.clear();
                bucket.extend_from_slice(b);
                earlier.clear();
            }
            let set = decode_set(set);
            if earlier.iter().any(|e| is_near(&set, e, opts.filters.near_duplicate_jaccard)) {
                near_ids.push(order, &[]).map_err(io_err)?;
            } else if earlier.len() < MAX_PER_BAND {
                earlier.push(set);
            }
        }
    }

    summary.spilled_bytes += near_ids.spilled_bytes();

    // 3. The kept records, less the near duplicates, by split and the split's order.
    let mut by_split = Sorter::new(&spill, budget / 4);
    {
        let mut records = kept.finish().map_err(io_err)?;
        let mut near_ids = near_ids.finish().map_err(io_err)?;
        while let Some((order, payload)) = records.next().map_err(io_err)? {
            check(cancel)?;
            while near_ids.peek_key().map_err(io_err)?.is_some_and(|k| k < order) {
                near_ids.next().map_err(io_err)?;
            }
            if near_ids.peek_key().map_err(io_err)? == Some(order) {
                *dropped.entry(Drop::NearDuplicate).or_default() += 1;
                continue;
            }
            let r = decode(payload, &spill)?;
            let split = opts.split.of(&r.repo);
            let mut key = Key::new();
            key.u64(SPLITS.iter().position(|s| *s == split).unwrap_or(0) as u64);
            split_order_key(&r, &mut key);
            by_split.push(&key.0, payload).map_err(io_err)?;
        }
    }
    summary.spilled_bytes += by_split.spilled_bytes();
    summary.dropped = Drop::ALL.iter().map(|d| (d.name().to_string(), dropped.get(d).copied().unwrap_or(0))).collect();

    // 4. The files: each split in chunks of `chunk_records`.
    {
        let mut records = by_split.finish().map_err(io_err)?;
        let mut chunk: Option<(usize, usize, ChunkWriter)> = None;
        let root = tmp.join("python").join("final").join(opts.format.dir());
        while let Some((key, payload)) = records.next().map_err(io_err)? {
            check(cancel)?;
            let split = usize::try_from(u64::from_be_bytes(key[..8].try_into().expect("8 bytes"))).unwrap_or(0).min(SPLITS.len() - 1);
            let mut r = decode(payload, &spill)?;
            r.partition = SPLITS[split];
            let next_index = match &chunk {
                Some((s, i, w)) if *s == split && w.records() >= opts.chunk_records.max(1) as u64 => Some(i + 1),
                Some((s, _, _)) if *s == split => None,
                _ => Some(0),
            };
            if let Some(index) = next_index {
                if let Some((_, _, w)) = chunk.take() {
                    summary.files.push(w.finish()?);
                }
                chunk = Some((split, index, ChunkWriter::create(&root.join(SPLITS[split]), SPLITS[split], index, opts.format)?));
            }
            let (_, _, w) = chunk.as_mut().expect("a chunk is open");
            w.push(r)?;
            *summary.records.entry(SPLITS[split].to_string()).or_default() += 1;
        }
        if let Some((_, _, w)) = chunk.take() {
            summary.files.push(w.finish()?);
        }
    }
    for split in SPLITS {
        summary.records.entry(split.to_string()).or_default();
    }
    // made only if something spilled
    match std::fs::remove_dir_all(&spill) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(e)),
        _ => {}
    }
    let lock_path = tmp.join("corpus.lock.tsv");
    let lock_err = |source: std::io::Error| DatasetError::Write { path: lock_path.clone(), source };
    let mut lock = HashingWriter { inner: std::io::BufWriter::new(std::fs::File::create(&lock_path).map_err(lock_err)?), sha: Sha256::new() };
    let distributions = corpus.write_lock(&mut lock)?;
    let lock_sha = hex::encode(lock.sha.finalize_reset());
    lock.inner.into_inner().map_err(|e| lock_err(e.into_error()))?;
    summary.files.push(lock_path.clone());
    let card = tmp.join("README.md");
    std::fs::write(&card, crate::card::card(opts, &summary, distributions, &lock_sha)).map_err(|source| DatasetError::Write { path: card.clone(), source })?;
    summary.files.push(card);
    std::fs::rename(&tmp, dest).map_err(|source| DatasetError::Write { path: dest.to_path_buf(), source })?;
    summary.files = summary.files.iter().map(|p| dest.join(p.strip_prefix(&tmp).unwrap_or(p))).collect();
    Ok(summary)
}

/// Passes bytes on and hashes them: the card names the sha256 of the lock it wrote.
struct HashingWriter<W> {
    inner: W,
    sha: Sha256,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn check(cancel: &AtomicBool) -> Result<(), DatasetError> {
    if cancel.load(Ordering::Relaxed) { Err(DatasetError::Interrupted) } else { Ok(()) }
}

fn decode(payload: &[u8], spill: &Path) -> Result<Record, DatasetError> {
    codec::decode(payload).ok_or_else(|| DatasetError::Write { path: spill.to_path_buf(), source: std::io::Error::other("a spilled record does not read back") })
}

/// The export's order (the first of duplicates is the earliest upload).
fn order_key(r: &Record, k: &mut Key) {
    k.str(&r.uploaded_on).str(&r.repo).str(&r.distribution).str(&r.path).u64(u64::from(r.start_line)).str(&r.func_name);
}

/// The order within a split: project, version, path and line.
fn split_order_key(r: &Record, k: &mut Key) {
    k.str(&r.repo).str(&r.uploaded_on).str(&r.distribution).str(&r.path).u64(u64::from(r.start_line)).str(&r.func_name);
}

/// The license of each distribution, read one shard's releases at a time (rows come shard by
/// shard), so that memory holds a shard's releases, never the corpus's.
struct Licenses {
    shards: Vec<ShardInfo>,
    /// The shard last read and its licenses by distribution file name.
    cached: Mutex<Option<(u32, Arc<LicenseMap>)>>,
}

type LicenseMap = HashMap<String, Option<String>>;

impl Licenses {
    fn new(corpus: &Corpus) -> Result<Licenses, DatasetError> {
        Ok(Licenses { shards: corpus.shards()?, cached: Mutex::new(None) })
    }

    fn get(&self, row: &FileRow) -> Result<Option<String>, pycorpus_visit::VisitError> {
        let shard = {
            let mut cached = self.cached.lock().expect("licenses lock");
            match &*cached {
                Some((n, map)) if *n == row.repository => map.clone(),
                _ => {
                    let releases = match self.shards.iter().find(|s| s.number == row.repository) {
                        Some(s) => shard_releases(s)?,
                        None => Vec::new(),
                    };
                    let map = Arc::new(releases.into_iter().map(|r| (r.project_release, r.license)).collect::<LicenseMap>());
                    *cached = Some((row.repository, map.clone()));
                    map
                }
            }
        };
        Ok(shard.get(&row.project_release).cloned().flatten())
    }
}
