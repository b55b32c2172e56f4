//! The sync itself: select, plan, fetch and ingest.

use crate::SyncError;
use pycorpus_archive::{DistFilename, DistType, normalize_project};
use pycorpus_core::{AddOptions, AddSummary, CoreError, Corpus, Ctx, Failure, FileStatus, IndexMeta, IngestItem, PlannedFile, Reporter, SyncLog};
use pycorpus_index::{Client, ClientOptions, IndexFile, json_api_url, parse_html_project, parse_json_project, parse_project_json, read_html_root, read_json_root, simple};
use pycorpus_spill::{Key, Merged, Sorter, codec};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What to mirror and how.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// `--index-url` (else corpus.toml, `PIP_INDEX_URL`, pip's configuration, pip's default).
    pub index_url: Option<String>,
    /// Projects by name.
    pub projects: Vec<String>,
    /// A file of project names, one per line (`#` comments).
    pub projects_file: Option<PathBuf>,
    /// Every project of the index.
    pub all: bool,
    /// Exact files from a lock file (project, version, filename, size, sha256, upload_time).
    pub lock: Option<PathBuf>,
    /// Uploaded at or after (µs).
    pub since: Option<i64>,
    /// Uploaded before (µs).
    pub until: Option<i64>,
    /// Only the newest N versions of each project (by upload time).
    pub latest: Option<usize>,
    /// Distribution types to fetch (empty: all).
    pub types: Vec<DistType>,
    /// Project globs to leave out.
    pub exclude: Vec<String>,
    /// Largest file to fetch.
    pub max_file_size: Option<u64>,
    /// Wheels only if pure (`none-any`); other types unaffected.
    pub only_pure_wheels: bool,
    /// Wheels only for platform tags containing one of these (e.g. `manylinux`, `win_amd64`).
    pub platforms: Vec<String>,
    /// Fetch yanked files too.
    pub include_yanked: bool,
    /// Concurrent downloads (0: 4).
    pub jobs: usize,
    /// Plan only.
    pub dry_run: bool,
    /// Keep the downloaded archives in this folder.
    pub keep_archives: Option<PathBuf>,
    /// Mirror a conda channel (its `<subdir>/repodata.json`) instead of a package index.
    pub conda_channel: Option<String>,
    /// Channel subdirs to read (default: `noarch`).
    pub conda_subdirs: Vec<String>,
    /// Network settings.
    pub client: ClientOptions,
}

/// What `sync` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncSummary {
    /// The index used.
    pub index_url: String,
    /// Where that URL came from.
    pub index_source: String,
    /// Projects looked at.
    pub projects: u64,
    /// Projects the index does not have.
    pub projects_missing: Vec<String>,
    /// Projects skipped because their serial has not changed since their last complete sync.
    pub unchanged_projects: u64,
    /// Files the filters selected that the corpus already holds.
    pub already_present: u64,
    /// Files to fetch.
    pub planned_files: u64,
    /// The plan itself, oldest first: on a dry run only (a sync of the whole index does not
    /// hold its plan in memory).
    pub planned: Vec<PlannedFile>,
    /// Their total size (as the index gives it).
    pub planned_bytes: u64,
    /// Files downloaded (or reused from an earlier interrupted run).
    pub downloaded: u64,
    /// Bytes received.
    pub downloaded_bytes: u64,
    /// Projects whose listing failed, and downloads that failed (after retries) or did not
    /// verify: nothing of these was ingested. (Archives that downloaded but could not be read
    /// are in `add.failures`, recorded in the corpus as failed.)
    pub failures: Vec<Failure>,
    /// The ingest of what was downloaded.
    pub add: AddSummary,
    /// True for a plan only.
    pub dry_run: bool,
}

/// Projects and files put in the selection, and planned files recorded, this many at a time.
const BATCH: usize = 1024;

/// Reads a lock file a line at a time, handing its rows (project, file name, lowercase
/// sha256) to `each` in batches.
fn read_lock(path: &Path, mut each: impl FnMut(&[(String, String, String)]) -> Result<(), SyncError>) -> Result<(), SyncError> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header = lines.next().transpose().map_err(|e| CoreError::io(path, e))?.unwrap_or_default();
    let header: Vec<&str> = header.split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).ok_or_else(|| SyncError::Invalid(format!("{}: no {name:?} column (need project, filename, sha256)", path.display())));
    let (p, f, s) = (col("project")?, col("filename")?, col("sha256")?);
    let mut rows = Vec::with_capacity(BATCH);
    for (i, line) in lines.enumerate() {
        let line = line.map_err(|e| CoreError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let get = |c: usize| cells.get(c).map(|v| v.trim().to_string()).ok_or_else(|| SyncError::Invalid(format!("{}: line {} has too few columns", path.display(), i + 2)));
        rows.push((get(p)?, get(f)?, get(s)?.to_ascii_lowercase()));
        if rows.len() == BATCH {
            each(&rows)?;
            rows.clear();
        }
    }
    each(&rows)
}

/// What the index says of one project.
#[derive(Debug, Clone, Default)]
struct Listing {
    files: Vec<IndexFile>,
    meta: IndexMeta,
    /// The project's serial (JSON API `last_serial`), when served.
    serial: Option<u64>,
}

/// The files of one project and what the index says of it: the JSON API when served, else
/// the simple page. `None` when the index does not have the project.
fn project_files(client: &Client, index: &str, project: &str) -> Result<Option<Listing>, SyncError> {
    let err = |e: pycorpus_index::IndexError| SyncError::Invalid(format!("{project}: {e}"));
    match client.get(&json_api_url(index, project), "application/json") {
        Ok(page) => {
            let p = parse_project_json(&page.body, &page.url).map_err(err)?;
            let meta =
                IndexMeta { summary: p.summary, license: p.license, classifiers: p.classifiers, requires_python: p.requires_python, project_urls: p.project_urls.into_iter().collect(), yanked: false };
            return Ok(Some(Listing { files: p.files, meta, serial: p.last_serial }));
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(err(e)),
    }
    let url = format!("{index}{}/", normalize_project(project));
    let listing = |files| Some(Listing { files, ..Listing::default() });
    match client.get(&url, simple::ACCEPT) {
        Ok(page) if page.content_type.starts_with(simple::JSON_TYPE) => parse_json_project(&page.body, &page.url).map(listing).map_err(err),
        Ok(page) => parse_html_project(&page.body, &page.url).map(listing).map_err(err),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(err(e)),
    }
}

/// Every package of a conda channel's subdirs, grouped by package name: `.tar.bz2` from
/// `packages` and `.conda` from `packages.conda`, URLs relative to the subdir.
fn conda_listing(client: &Client, channel: &str, subdirs: &[String]) -> Result<BTreeMap<String, Vec<IndexFile>>, SyncError> {
    let mut out: BTreeMap<String, Vec<IndexFile>> = BTreeMap::new();
    let channel = channel.trim_end_matches('/');
    for subdir in subdirs {
        let url = format!("{channel}/{subdir}/repodata.json");
        let page = client.get(&url, "application/json").map_err(|e| SyncError::Invalid(format!("conda channel: {e}")))?;
        let v: serde_json::Value = serde_json::from_str(&page.body).map_err(|e| SyncError::Invalid(format!("{url}: not repodata JSON: {e}")))?;
        for key in ["packages", "packages.conda"] {
            let Some(map) = v.get(key).and_then(|m| m.as_object()) else { continue };
            for (filename, p) in map {
                let s = |k: &str| p.get(k).and_then(|x| x.as_str()).map(str::to_string);
                let Some(name) = s("name") else { continue };
                out.entry(normalize_project(&name)).or_default().push(IndexFile {
                    filename: filename.clone(),
                    url: format!("{channel}/{subdir}/{filename}"),
                    sha256: s("sha256").map(|h| h.to_ascii_lowercase()),
                    requires_python: None,
                    yanked: false,
                    yanked_reason: None,
                    // conda timestamps are milliseconds since the epoch
                    upload_time: p.get("timestamp").and_then(|t| t.as_i64()).map(|ms| ms * 1000),
                    size: p.get("size").and_then(|x| x.as_u64()),
                    version: s("version"),
                });
            }
        }
    }
    Ok(out)
}

fn wheel_tags(filename: &str) -> Option<(String, String)> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    let n = parts.len();
    (n >= 5).then(|| (parts[n - 2].to_string(), parts[n - 1].to_string()))
}

impl SyncOptions {
    /// The filters that decide which files of a project are wanted: a project synced under
    /// another selection must be listed again even if its serial has not moved.
    fn selection_key(&self) -> String {
        let mut types: Vec<&str> = self.types.iter().map(|t| t.as_str()).collect();
        types.sort_unstable();
        format!(
            "types={types:?} since={:?} until={:?} latest={:?} max={:?} pure={} platforms={:?} yanked={}",
            self.since, self.until, self.latest, self.max_file_size, self.only_pure_wheels, self.platforms, self.include_yanked
        )
    }

    /// True when the filters keep `f` (of a distribution of type `t`).
    fn keeps(&self, f: &IndexFile, t: DistType) -> bool {
        if f.yanked && !self.include_yanked {
            return false;
        }
        if !self.types.is_empty() && !self.types.contains(&t) {
            return false;
        }
        if self.since.is_some_and(|s| f.upload_time.is_none_or(|u| u < s)) || self.until.is_some_and(|s| f.upload_time.is_none_or(|u| u >= s)) {
            return false;
        }
        if self.max_file_size.is_some_and(|m| f.size.is_some_and(|s| s > m)) {
            return false;
        }
        if t == DistType::Wheel
            && let Some((abi, platform)) = wheel_tags(&f.filename)
        {
            if self.only_pure_wheels && !(abi == "none" && platform == "any") {
                return false;
            }
            if !self.platforms.is_empty() && !self.platforms.iter().any(|p| platform.contains(p.as_str())) {
                return false;
            }
        }
        true
    }
}

/// Keeps the files of the newest `n` versions (by their latest upload time).
fn latest_versions(files: Vec<PlannedFile>, n: usize) -> Vec<PlannedFile> {
    let mut newest: BTreeMap<String, i64> = BTreeMap::new();
    for f in &files {
        let t = f.upload_time.unwrap_or(i64::MIN);
        newest.entry(f.version.clone()).and_modify(|v| *v = (*v).max(t)).or_insert(t);
    }
    let mut versions: Vec<(i64, String)> = newest.into_iter().map(|(v, t)| (t, v)).collect();
    versions.sort_by(|a, b| b.cmp(a));
    let keep: HashSet<String> = versions.into_iter().take(n).map(|(_, v)| v).collect();
    files.into_iter().filter(|f| keep.contains(&f.version)).collect()
}

/// Projects listed at once (`jobs` at a time), so that listings never pile up in memory.
const LIST_BATCH: usize = 512;

/// A project of the selection, listed (or not): (key, name, serial from the root, listing).
type Listed = (String, String, Option<u64>, Result<Option<Listing>, SyncError>);

/// Mirrors the selected files from the index into `corpus` (see the crate docs).
///
/// Memory does not grow with the index: the selection lives in `state.sqlite`, projects
/// are listed a batch at a time, what the corpus holds is looked up there, and the plan
/// goes through a sorter (`memory_budget_bytes`) into the downloads, oldest first.
/// Only a dry run keeps its plan, which is its answer.
pub fn sync(corpus: &mut Corpus, opts: &SyncOptions, ctx: Ctx<'_>) -> Result<SyncSummary, SyncError> {
    let Ctx { reporter, cancel } = ctx;
    // A conda channel needs no package index; otherwise find it the way pip does.
    let index = match &opts.conda_channel {
        Some(ch) => pycorpus_index::IndexUrl { url: ch.clone(), source: pycorpus_index::IndexSource::Flag },
        None => pycorpus_index::resolve_index_url(opts.index_url.as_deref(), corpus.config().index_url.as_deref(), &|k| std::env::var(k).ok())?,
    };
    let mut summary = SyncSummary { index_url: index.url.clone(), index_source: format!("{:?}", index.source), dry_run: opts.dry_run, ..SyncSummary::default() };
    let client = Client::new(opts.client).map_err(|e| SyncError::Invalid(e.to_string()))?;
    let jobs = if opts.jobs == 0 { 4 } else { opts.jobs };
    let log = corpus.sync_log()?;

    let conda = select(opts, &client, &index.url, &log, &mut summary)?;
    let selection = opts.selection_key();
    let track_serials = opts.lock.is_none() && conda.is_none();
    let (selected, unchanged) = log.selected(track_serials.then_some(selection.as_str()))?;
    if selected == 0 {
        return Err(SyncError::NothingSelected);
    }
    summary.projects = selected;
    summary.unchanged_projects = unchanged;

    let plan = plan(corpus, opts, &client, &index.url, &log, conda.as_ref(), track_serials.then_some(selection.as_str()), jobs, &mut summary, reporter, cancel)?;
    if opts.dry_run {
        summary.planned = PlanReader(plan).collect::<Result<_, _>>()?;
        return Ok(summary);
    }
    if summary.planned_files > 0 {
        fetch_and_ingest(corpus, opts, &client, &log, plan, &mut summary, jobs, reporter, cancel)?;
    }
    // Projects with nothing left to do are recorded at their serial.
    log.settle()?;
    if track_serials && !cancel.load(Ordering::SeqCst) {
        log.put_listed_serials(&selection)?;
    }
    Ok(summary)
}

/// Puts the selected projects in the log's selection (the same project globs as every
/// other command leave some out); for a conda channel, returns its listing.
fn select(opts: &SyncOptions, client: &Client, index: &str, log: &SyncLog, summary: &mut SyncSummary) -> Result<Option<BTreeMap<String, Vec<IndexFile>>>, SyncError> {
    let mut exclude = pycorpus_catalog::ProjectMatcher::default();
    for g in &opts.exclude {
        exclude.add_glob(g).map_err(|e| SyncError::Invalid(format!("exclude glob {g:?}: {e}")))?;
    }
    let keep = |n: &str| opts.exclude.is_empty() || !exclude.matches(&normalize_project(n));
    let batch = std::cell::RefCell::new(Vec::with_capacity(BATCH));
    let push = |n: String, serial: Option<u64>| -> Result<(), SyncError> {
        let mut batch = batch.borrow_mut();
        if keep(&n) {
            batch.push((n, serial));
        }
        if batch.len() == BATCH {
            log.select(&batch)?;
            batch.clear();
        }
        Ok(())
    };
    let flush = || -> Result<(), SyncError> { Ok(log.select(&std::mem::take(&mut *batch.borrow_mut()))?) };
    let add = |names: &mut dyn Iterator<Item = (String, Option<u64>)>| -> Result<(), SyncError> {
        for (n, serial) in names {
            push(n, serial)?;
        }
        flush()
    };
    log.select_begin()?;
    add(&mut opts.projects.iter().map(|n| (n.clone(), None)))?;
    if let Some(f) = &opts.projects_file {
        let text = std::fs::read_to_string(f).map_err(|e| CoreError::io(f, e))?;
        add(&mut text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(|n| (n.to_string(), None)))?;
    }
    if let Some(lock) = &opts.lock {
        read_lock(lock, |rows| {
            add(&mut rows.iter().map(|(p, _, _)| (p.clone(), None)))?;
            Ok(log.select_files(&rows.iter().map(|(_, f, s)| (f.clone(), s.clone())).collect::<Vec<_>>())?)
        })?;
    }
    // PEP 691's root gives each project's serial: projects unchanged since their last
    // complete sync (under the same selection) need not be listed again.
    if opts.all && opts.conda_channel.is_none() {
        // Read as it arrives: the whole index's root lists ~600k projects. A retry after a
        // broken connection lists them again, which the selection takes as repeats.
        client.get_streamed(index, simple::ACCEPT, |head, body| {
            if head.content_type.starts_with(simple::JSON_TYPE) {
                read_json_root(body, &head.url, &push)?;
            } else {
                read_html_root(body, &head.url, &push)?;
            }
            flush()
        })?;
    }
    let Some(ch) = &opts.conda_channel else { return Ok(None) };
    let subdirs = if opts.conda_subdirs.is_empty() { vec!["noarch".to_string()] } else { opts.conda_subdirs.clone() };
    let listing = conda_listing(client, ch, &subdirs)?;
    if opts.all {
        add(&mut listing.keys().map(|n| (n.clone(), None)))?;
    }
    summary.index_url = ch.clone();
    summary.index_source = "conda channel".into();
    Ok(Some(listing))
}

/// Lists the selected projects a batch at a time, `jobs` at once, and returns the files
/// to fetch (those the filters keep and the corpus does not hold), oldest first so that
/// shards cover time ranges. `selection`: leave out projects unchanged under it.
#[allow(clippy::too_many_arguments)]
fn plan(
    corpus: &Corpus,
    opts: &SyncOptions,
    client: &Client,
    index: &str,
    log: &SyncLog,
    conda: Option<&BTreeMap<String, Vec<IndexFile>>>,
    selection: Option<&str>,
    jobs: usize,
    summary: &mut SyncSummary,
    reporter: &dyn Reporter,
    cancel: &AtomicBool,
) -> Result<Merged, SyncError> {
    let tmp = corpus.tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
    let spill = |e: std::io::Error| CoreError::io(&tmp, e);
    let budget = usize::try_from(corpus.config().memory_budget_bytes / 4).unwrap_or(usize::MAX);
    let mut sorter = Sorter::new(&tmp, budget);
    let held = pycorpus_core::Holdings::open(&corpus.root().join("state.sqlite"), false)?;
    reporter.start("index", summary.projects - summary.unchanged_projects, 0);
    let mut after = String::new();
    let (mut key, mut payload) = (Key::new(), Vec::new());
    loop {
        let batch = log.selected_batch(&after, LIST_BATCH, selection)?;
        let Some(last) = batch.last() else { break };
        after = last.0.clone();
        let mut serials = Vec::new();
        for (project, name, root_serial, listing) in list_batch(batch, jobs, client, index, conda, reporter, cancel) {
            let Listing { files, meta, serial } = match listing {
                Ok(Some(l)) => l,
                Ok(None) => {
                    summary.projects_missing.push(name);
                    continue;
                }
                Err(e) => {
                    summary.failures.push(Failure { file: name, reason: e.to_string() });
                    continue;
                }
            };
            if let Some(serial) = serial.or(root_serial) {
                serials.push((project.clone(), serial));
            }
            let mut planned = Vec::new();
            for f in files {
                let parsed =
                    if conda.is_some() { DistFilename::parse_conda_tarball(&f.filename).or_else(|| DistFilename::parse(&f.filename, None)) } else { DistFilename::parse(&f.filename, Some(&project)) };
                let Some(parsed) = parsed else { continue };
                if opts.lock.is_some() {
                    let Some(sha) = &f.sha256 else { continue };
                    if !log.file_selected(&f.filename, sha)? {
                        continue;
                    }
                } else if !opts.keeps(&f, parsed.dist_type) {
                    continue;
                }
                let meta = IndexMeta { requires_python: f.requires_python.clone().or_else(|| meta.requires_python.clone()), yanked: f.yanked, ..meta.clone() };
                planned.push(PlannedFile {
                    project: project.clone(),
                    version: f.version.clone().unwrap_or(parsed.version),
                    filename: f.filename,
                    url: f.url,
                    sha256: f.sha256,
                    size: f.size,
                    upload_time: f.upload_time,
                    meta,
                });
            }
            if let (Some(n), None) = (opts.latest, &opts.lock) {
                planned = latest_versions(planned, n);
            }
            for p in planned {
                if held.holds(p.sha256.as_deref(), &p.filename)? {
                    summary.already_present += 1;
                    continue;
                }
                summary.planned_files += 1;
                summary.planned_bytes += p.size.unwrap_or(0);
                key.0.clear();
                key.bytes(&[u8::from(p.upload_time.is_some())]).u64(p.upload_time.unwrap_or(0) as u64 ^ (1 << 63)).str(&p.filename);
                payload.clear();
                encode_planned(&p, &mut payload);
                sorter.push(&key.0, &payload).map_err(spill)?;
            }
        }
        log.set_listed(&serials)?;
        if cancel.load(Ordering::SeqCst) {
            break;
        }
    }
    reporter.finish();
    Ok(sorter.finish().map_err(spill)?)
}

/// Downloads the plan `jobs` at a time, streaming each verified file into the ingest.
/// The plan is recorded in the log a batch at a time, just ahead of the downloads.
#[allow(clippy::too_many_arguments)]
fn fetch_and_ingest(
    corpus: &mut Corpus,
    opts: &SyncOptions,
    client: &Client,
    log: &SyncLog,
    plan: Merged,
    summary: &mut SyncSummary,
    jobs: usize,
    reporter: &dyn Reporter,
    cancel: &AtomicBool,
) -> Result<(), SyncError> {
    let dir = opts.keep_archives.clone().unwrap_or_else(|| corpus.root().join("downloads"));
    std::fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    let (done, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let (work_tx, work) = crossbeam_channel::bounded::<PlannedFile>(BATCH);
    // Downloads wait for the ingest: a fast link must not fill the disk with archives
    // that are not read yet (nor memory with their queue).
    let (tx, rx) = crossbeam_channel::bounded::<IngestItem>(jobs);
    let quiet = Quiet(reporter);
    reporter.start("sync", summary.planned_files, summary.planned_bytes);
    let (queued, add) = std::thread::scope(|s| {
        // The plan, oldest first: recorded as queued, then handed to the downloads.
        let feeder = s.spawn(move || -> Result<(), SyncError> {
            let mut plan = PlanReader(plan);
            loop {
                let batch = plan.by_ref().take(BATCH).collect::<Result<Vec<_>, _>>()?;
                if batch.is_empty() {
                    return Ok(());
                }
                log.queue(&batch)?;
                for p in batch {
                    if cancel.load(Ordering::SeqCst) || work_tx.send(p).is_err() {
                        return Ok(());
                    }
                }
            }
        });
        for _ in 0..jobs {
            let (tx, work) = (tx.clone(), work.clone());
            let (failures, done, bytes, dir) = (&failures, &done, &bytes, &dir);
            s.spawn(move || {
                for p in work {
                    if cancel.load(Ordering::SeqCst) {
                        break;
                    }
                    let dest = dir.join(&p.filename);
                    let reuse = dest.is_file() && p.sha256.as_ref().is_some_and(|want| pycorpus_core::sha256_file(&dest).is_ok_and(|(h, _)| hex::encode(h) == *want));
                    let got = if reuse {
                        Ok(())
                    } else {
                        client.download(&p.url, &dest, p.sha256.as_deref(), &|n| reporter.advance(0, n)).map(|d| {
                            bytes.fetch_add(d.bytes - d.resumed_from, Ordering::SeqCst);
                        })
                    };
                    let logged = match &got {
                        Ok(()) => log.mark(&p.filename, FileStatus::Downloaded, None),
                        Err(e) => log.mark(&p.filename, FileStatus::Failed, Some(&e.to_string())),
                    };
                    if let Err(e) = logged {
                        reporter.note(&format!("warning: state.sqlite: {e}"));
                    }
                    match got {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::SeqCst);
                            let item = IngestItem {
                                path: dest,
                                file_name: p.filename,
                                project_hint: Some(p.project),
                                // an index that gives no upload time: the time it was mirrored
                                uploaded_on: p.upload_time.or_else(|| Some(jiff::Timestamp::now().as_microsecond())),
                                expected_sha256: p.sha256,
                                remove_after: opts.keep_archives.is_none(),
                                index_meta: Some(p.meta),
                            };
                            if tx.send(item).is_err() {
                                break;
                            }
                        }
                        Err(e) => failures.lock().expect("lock").push(Failure { file: p.filename, reason: e.to_string() }),
                    }
                    reporter.advance(1, 0);
                }
            });
        }
        drop((tx, work));
        let add = corpus.ingest_stream(&rx, (0, 0), &AddOptions::default(), Ctx::new(&quiet, cancel));
        drop(rx); // an ingest that stopped early releases downloads waiting to hand it a file
        (feeder.join().expect("plan feeder"), add)
    });
    reporter.finish();
    summary.add = add?;
    queued?;
    summary.downloaded = done.into_inner();
    summary.downloaded_bytes = bytes.into_inner();
    summary.failures.extend(failures.into_inner().expect("lock"));
    Ok(())
}

/// Lists one batch of projects, `jobs` at a time; results in the batch's order.
fn list_batch(
    batch: Vec<(String, String, Option<u64>)>,
    jobs: usize,
    client: &Client,
    index: &str,
    conda: Option<&BTreeMap<String, Vec<IndexFile>>>,
    reporter: &dyn Reporter,
    cancel: &AtomicBool,
) -> Vec<Listed> {
    let next = AtomicU64::new(0);
    type Slot = Mutex<Option<Result<Option<Listing>, SyncError>>>;
    let out: Vec<Slot> = batch.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.min(batch.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    if i >= batch.len() || cancel.load(Ordering::SeqCst) {
                        break;
                    }
                    let (key, name, _) = &batch[i];
                    let found = match conda {
                        Some(listing) => Ok(listing.get(key).map(|f| Listing { files: f.clone(), ..Listing::default() })),
                        None => project_files(client, index, name),
                    };
                    *out[i].lock().expect("lock") = Some(found);
                    reporter.advance(1, 0);
                }
            });
        }
    });
    batch.into_iter().zip(out).filter_map(|((key, name, serial), r)| Some((key, name, serial, r.into_inner().expect("lock")?))).collect()
}

/// Writes a planned file as a sorter payload ([`decode_planned`] reads it back).
fn encode_planned(p: &PlannedFile, out: &mut Vec<u8>) {
    let opt_str = |out: &mut Vec<u8>, s: &Option<String>| {
        out.push(u8::from(s.is_some()));
        codec::put_str(out, s.as_deref().unwrap_or(""));
    };
    for s in [&p.project, &p.version, &p.filename, &p.url] {
        codec::put_str(out, s);
    }
    opt_str(out, &p.sha256);
    out.push(u8::from(p.size.is_some()));
    codec::put_u64(out, p.size.unwrap_or(0));
    out.push(u8::from(p.upload_time.is_some()));
    codec::put_u64(out, p.upload_time.unwrap_or(0) as u64);
    let m = &p.meta;
    opt_str(out, &m.summary);
    opt_str(out, &m.license);
    opt_str(out, &m.requires_python);
    out.push(u8::from(m.yanked));
    codec::put_u32(out, m.classifiers.len() as u32);
    for c in &m.classifiers {
        codec::put_str(out, c);
    }
    codec::put_u32(out, m.project_urls.len() as u32);
    for (label, url) in &m.project_urls {
        codec::put_str(out, label);
        codec::put_str(out, url);
    }
}

fn decode_planned(b: &[u8]) -> Option<PlannedFile> {
    let mut r = codec::Reader(b);
    fn opt_str(r: &mut codec::Reader<'_>) -> Option<Option<String>> {
        let some = r.u8()? == 1;
        let s = r.string()?;
        Some(some.then_some(s))
    }
    let (project, version, filename, url) = (r.string()?, r.string()?, r.string()?, r.string()?);
    let sha256 = opt_str(&mut r)?;
    let size = (r.u8()? == 1, r.u64()?);
    let upload_time = (r.u8()? == 1, r.u64()?);
    let (summary, license, requires_python) = (opt_str(&mut r)?, opt_str(&mut r)?, opt_str(&mut r)?);
    let yanked = r.u8()? == 1;
    let classifiers = (0..r.u32()?).map(|_| r.string()).collect::<Option<Vec<_>>>()?;
    let project_urls = (0..r.u32()?).map(|_| Some((r.string()?, r.string()?))).collect::<Option<Vec<_>>>()?;
    Some(PlannedFile {
        project,
        version,
        filename,
        url,
        sha256,
        size: size.0.then_some(size.1),
        upload_time: upload_time.0.then_some(upload_time.1 as i64),
        meta: IndexMeta { summary, license, classifiers, requires_python, project_urls, yanked },
    })
}

/// The sorted plan, read back a file at a time.
struct PlanReader(Merged);

impl Iterator for PlanReader {
    type Item = Result<PlannedFile, SyncError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.0.next() {
            Ok(Some((_, payload))) => Some(decode_planned(payload).ok_or_else(|| SyncError::Invalid("sync plan: a spilled record does not decode".into()))),
            Ok(None) => None,
            Err(e) => Some(Err(SyncError::Invalid(format!("sync plan: reading spilled records: {e}")))),
        }
    }
}

/// Forwards notes only: the sync's own bar stays on screen while ingest runs.
struct Quiet<'a>(&'a dyn Reporter);
impl Reporter for Quiet<'_> {
    fn note(&self, m: &str) {
        self.0.note(m)
    }
}
