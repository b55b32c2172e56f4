//! `sync`: mirror distribution files from a package index into the corpus.
//!
//! Plan: resolve the index (flag, corpus.toml, pip's configuration), list the selected
//! projects' files from the JSON API (falling back to the simple page), apply the filters, and
//! drop files whose sha256 the corpus already holds. Fetch: `jobs` download threads write
//! verified files into `<corpus>/downloads/` (partial files resume after a crash; a complete
//! file there is reused, never fetched twice) and hand each one to the ingest pipeline as it
//! finishes; the archive is deleted once its distribution is committed, unless kept.

use crate::{AddOptions, AddSummary, Corpus, CoreError, Failure, IndexMeta, IngestItem, Reporter};
use pycorpus_archive::{normalize_project, DistFilename, DistType};
use pycorpus_index::{json_api_url, parse_html_project, parse_html_root, parse_json_project, parse_json_root, parse_project_json, simple, Client, ClientOptions, IndexFile};
use serde::Serialize;
use crate::synclog::{FileStatus, SyncLog};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

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

/// One file the plan will fetch.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    /// Normalised project.
    pub project: String,
    /// Version.
    pub version: String,
    /// File name.
    pub filename: String,
    /// Absolute URL.
    pub url: String,
    /// sha256 from the index.
    pub sha256: Option<String>,
    /// Size from the index.
    pub size: Option<u64>,
    /// Upload time (µs).
    pub upload_time: Option<i64>,
    /// Release metadata from the index.
    #[serde(skip)]
    pub meta: IndexMeta,
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

/// A lock file row.
#[derive(Debug, Clone)]
struct LockRow {
    project: String,
    filename: String,
    sha256: String,
}

fn read_lock(path: &Path) -> Result<Vec<LockRow>, CoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).ok_or_else(|| CoreError::Invalid(format!("{}: no {name:?} column (need project, filename, sha256)", path.display())));
    let (p, f, s) = (col("project")?, col("filename")?, col("sha256")?);
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split('\t').collect();
        let get = |c: usize| cells.get(c).map(|v| v.trim().to_string()).ok_or_else(|| CoreError::Invalid(format!("{}: line {} has too few columns", path.display(), i + 2)));
        rows.push(LockRow { project: get(p)?, filename: get(f)?, sha256: get(s)?.to_ascii_lowercase() });
    }
    Ok(rows)
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
fn project_files(client: &Client, index: &str, project: &str) -> Result<Option<Listing>, CoreError> {
    let err = |e: pycorpus_index::IndexError| CoreError::Invalid(format!("{project}: {e}"));
    match client.get(&json_api_url(index, project), "application/json") {
        Ok(page) => {
            let p = parse_project_json(&page.body, &page.url).map_err(err)?;
            let meta = IndexMeta {
                summary: p.summary,
                license: p.license,
                classifiers: p.classifiers,
                requires_python: p.requires_python,
                project_urls: p.project_urls.into_iter().collect(),
                yanked: false,
            };
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
fn conda_listing(client: &Client, channel: &str, subdirs: &[String]) -> Result<BTreeMap<String, Vec<IndexFile>>, CoreError> {
    let mut out: BTreeMap<String, Vec<IndexFile>> = BTreeMap::new();
    let channel = channel.trim_end_matches('/');
    for subdir in subdirs {
        let url = format!("{channel}/{subdir}/repodata.json");
        let page = client.get(&url, "application/json").map_err(|e| CoreError::Invalid(format!("conda channel: {e}")))?;
        let v: serde_json::Value = serde_json::from_str(&page.body).map_err(|e| CoreError::Invalid(format!("{url}: not repodata JSON: {e}")))?;
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
            && let Some((abi, platform)) = wheel_tags(&f.filename) {
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

impl Corpus {
    /// Mirrors the selected files from the index (see the module docs).
    pub fn sync(&mut self, opts: &SyncOptions, reporter: &dyn Reporter, cancel: &AtomicBool) -> Result<SyncSummary, CoreError> {
        // A conda channel needs no package index; otherwise find it the way pip does.
        let index = match &opts.conda_channel {
            Some(ch) => pycorpus_index::IndexUrl { url: ch.clone(), source: pycorpus_index::IndexSource::Flag },
            None => pycorpus_index::resolve_index_url(opts.index_url.as_deref(), self.config.index_url.as_deref(), &|k| std::env::var(k).ok())
                .map_err(|e| CoreError::Invalid(e.to_string()))?,
        };
        let mut summary = SyncSummary { index_url: index.url.clone(), index_source: format!("{:?}", index.source), dry_run: opts.dry_run, ..SyncSummary::default() };
        let client = Client::new(opts.client).map_err(|e| CoreError::Invalid(e.to_string()))?;
        let jobs = if opts.jobs == 0 { 4 } else { opts.jobs };

        // Which projects, and (for a lock) which exact files.
        let lock = opts.lock.as_deref().map(read_lock).transpose()?;
        let mut names: Vec<String> = opts.projects.clone();
        if let Some(f) = &opts.projects_file {
            let text = std::fs::read_to_string(f).map_err(|e| CoreError::io(f, e))?;
            names.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string));
        }
        if let Some(rows) = &lock {
            names.extend(rows.iter().map(|r| r.project.clone()));
        }
        // PEP 691's root gives each project's serial: projects unchanged since their last
        // complete sync (under the same selection) need not be listed again.
        let mut root_serials: HashMap<String, u64> = HashMap::new();
        if opts.all && opts.conda_channel.is_none() {
            let page = client.get(&index.url, simple::ACCEPT).map_err(|e| CoreError::Invalid(e.to_string()))?;
            if page.content_type.starts_with(simple::JSON_TYPE) {
                for (n, serial) in parse_json_root(&page.body, &page.url).map_err(|e| CoreError::Invalid(e.to_string()))? {
                    if let Some(serial) = serial {
                        root_serials.insert(normalize_project(&n), serial);
                    }
                    names.push(n);
                }
            } else {
                names.extend(parse_html_root(&page.body));
            }
        }
        // The same project globs as every other command (PEP 503-normalised).
        let mut exclude = pycorpus_catalog::ProjectMatcher::default();
        for g in &opts.exclude {
            exclude.add_glob(g).map_err(|e| CoreError::Invalid(format!("--exclude: {e}")))?;
        }
        let excluded = |n: &str| !opts.exclude.is_empty() && exclude.matches(&normalize_project(n));
        let mut seen = HashSet::new();
        names.retain(|n| seen.insert(normalize_project(n)) && !excluded(n));
        let conda = match &opts.conda_channel {
            Some(ch) => {
                let subdirs = if opts.conda_subdirs.is_empty() { vec!["noarch".to_string()] } else { opts.conda_subdirs.clone() };
                let listing = conda_listing(&client, ch, &subdirs)?;
                if opts.all {
                    names.extend(listing.keys().filter(|n| !excluded(n)).cloned());
                }
                summary.index_url = ch.clone();
                summary.index_source = "conda channel".into();
                Some(listing)
            }
            None => None,
        };
        let mut seen = HashSet::new();
        names.retain(|n| seen.insert(normalize_project(n)));
        if names.is_empty() {
            return Err(CoreError::Invalid("nothing selected: give --project NAME, --projects-file F, --lock FILE or --all".into()));
        }
        summary.projects = names.len() as u64;
        let log = SyncLog::open(&self.root.join("state.sqlite"))?;
        let selection = opts.selection_key();
        let track_serials = lock.is_none() && conda.is_none();
        if track_serials && !root_serials.is_empty() {
            let done = log.serials()?;
            names.retain(|n| {
                let n = normalize_project(n);
                let same = root_serials.get(&n).is_some_and(|s| done.get(&n).is_some_and(|(d, sel)| d == s && *sel == selection));
                summary.unchanged_projects += u64::from(same);
                !same
            });
        }

        // List every project's files, `jobs` at a time.
        reporter.start("index", names.len() as u64, 0);
        let queue = Mutex::new(names.clone());
        type Listed = (String, Option<Listing>);
        let listed: Mutex<Vec<Listed>> = Mutex::new(Vec::new());
        let errors: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(|| loop {
                    let Some(name) = queue.lock().expect("lock").pop() else { break };
                    if cancel.load(Ordering::SeqCst) {
                        break;
                    }
                    let found = match &conda {
                        Some(listing) => Ok(listing.get(&normalize_project(&name)).map(|f| Listing { files: f.clone(), ..Listing::default() })),
                        None => project_files(&client, &index.url, &name),
                    };
                    match found {
                        Ok(files) => listed.lock().expect("lock").push((name, files)),
                        Err(e) => errors.lock().expect("lock").push(Failure { file: name, reason: e.to_string() }),
                    }
                    reporter.advance(1, 0);
                });
            }
        });
        reporter.finish();
        summary.failures.extend(errors.into_inner().expect("lock"));
        let mut listed = listed.into_inner().expect("lock");
        listed.sort_by(|a, b| a.0.cmp(&b.0));

        // Filter.
        let lock_files: Option<HashSet<(String, String)>> = lock.as_ref().map(|rows| rows.iter().map(|r| (r.filename.clone(), r.sha256.clone())).collect());
        let known = self.state_mut()?.known_sha256(true)?;
        let known_names = self.state_mut()?.known_file_names()?;
        let mut serials: Vec<(String, u64)> = Vec::new();
        for (name, listing) in listed {
            let Some(Listing { files, meta, serial }) = listing else {
                summary.projects_missing.push(name);
                continue;
            };
            let project = normalize_project(&name);
            if let Some(serial) = serial.or_else(|| root_serials.get(&project).copied()) {
                serials.push((project.clone(), serial));
            }
            let mut planned = Vec::new();
            for f in files {
                let parsed = if conda.is_some() { DistFilename::parse_conda_tarball(&f.filename).or_else(|| DistFilename::parse(&f.filename, None)) } else { DistFilename::parse(&f.filename, Some(&project)) };
                let Some(parsed) = parsed else { continue };
                if let Some(lf) = &lock_files {
                    if !f.sha256.as_ref().is_some_and(|s| lf.contains(&(f.filename.clone(), s.clone()))) {
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
            if let (Some(n), None) = (opts.latest, &lock_files) {
                planned = latest_versions(planned, n);
            }
            for p in planned {
                let have = match &p.sha256 {
                    Some(s) => hex::decode(s).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).is_some_and(|b| known.contains(&b)),
                    None => known_names.contains(&p.filename),
                };
                if have {
                    summary.already_present += 1;
                } else {
                    summary.planned_bytes += p.size.unwrap_or(0);
                    summary.planned.push(p);
                }
            }
        }
        // Oldest first, so shards cover time ranges.
        summary.planned.sort_by(|a, b| (a.upload_time, &a.filename).cmp(&(b.upload_time, &b.filename)));
        if opts.dry_run {
            return Ok(summary);
        }
        log.queue(&summary.planned)?;
        if !summary.planned.is_empty() {
            self.fetch_and_ingest(opts, &client, &log, &mut summary, jobs, reporter, cancel)?;
        }
        // Projects with nothing left to do are recorded at their serial.
        log.settle()?;
        if track_serials && !cancel.load(Ordering::SeqCst) {
            let unfinished = log.unfinished_projects()?;
            serials.retain(|(p, _)| !unfinished.contains(p));
            log.put_serials(&serials, &selection)?;
        }
        Ok(summary)
    }

    /// Downloads the plan `jobs` at a time, streaming each verified file into the ingest.
    #[allow(clippy::too_many_arguments)]
    fn fetch_and_ingest(&mut self, opts: &SyncOptions, client: &Client, log: &SyncLog, summary: &mut SyncSummary, jobs: usize, reporter: &dyn Reporter, cancel: &AtomicBool) -> Result<(), CoreError> {

        // Download and ingest together.
        let dir = opts.keep_archives.clone().unwrap_or_else(|| self.root.join("downloads"));
        std::fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
        let work = Mutex::new(summary.planned.iter().rev().cloned().collect::<Vec<_>>());
        let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
        let (done, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
        let (tx, rx) = crossbeam_channel::unbounded::<IngestItem>();
        let quiet = Quiet(reporter);
        reporter.start("sync", summary.planned.len() as u64, summary.planned_bytes);
        let add = std::thread::scope(|s| {
            for _ in 0..jobs {
                let tx = tx.clone();
                let (work, failures, done, bytes, dir) = (&work, &failures, &done, &bytes, &dir);
                s.spawn(move || loop {
                    if cancel.load(Ordering::SeqCst) {
                        break;
                    }
                    let Some(p) = work.lock().expect("lock").pop() else { break };
                    let dest = dir.join(&p.filename);
                    let reuse = dest.is_file() && p.sha256.as_ref().is_some_and(|want| crate::sha256_file(&dest).is_ok_and(|(h, _)| hex::encode(h) == *want));
                    let got = if reuse { Ok(()) } else { client.download(&p.url, &dest, p.sha256.as_deref(), &|n| reporter.advance(0, n)).map(|d| {
                        bytes.fetch_add(d.bytes - d.resumed_from, Ordering::SeqCst);
                    }) };
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
                                file_name: p.filename.clone(),
                                project_hint: Some(p.project.clone()),
                                // an index that gives no upload time: the time it was mirrored
                                uploaded_on: p.upload_time.or_else(|| Some(jiff::Timestamp::now().as_microsecond())),
                                expected_sha256: p.sha256.clone(),
                                remove_after: opts.keep_archives.is_none(),
                                index_meta: Some(p.meta.clone()),
                            };
                            if tx.send(item).is_err() {
                                break;
                            }
                        }
                        Err(e) => failures.lock().expect("lock").push(Failure { file: p.filename.clone(), reason: e.to_string() }),
                    }
                    reporter.advance(1, 0);
                });
            }
            drop(tx);
            self.ingest_stream(&rx, (0, 0), &AddOptions::default(), &quiet, cancel)
        });
        reporter.finish();
        summary.add = add?;
        summary.downloaded = done.into_inner();
        summary.downloaded_bytes = bytes.into_inner();
        summary.failures.extend(failures.into_inner().expect("lock"));
        Ok(())
    }
}

/// Forwards notes only: the sync's own bar stays on screen while ingest runs.
struct Quiet<'a>(&'a dyn Reporter);
impl Reporter for Quiet<'_> {
    fn note(&self, m: &str) {
        self.0.note(m)
    }
}
