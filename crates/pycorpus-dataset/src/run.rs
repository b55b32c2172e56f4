//! `export codesearchnet`: each unique Python blob of the selection parsed once (in parallel),
//! its functions turned into records and filtered, then duplicates dropped, splits assigned
//! and files written, all in a fixed order so that the same corpus gives the same bytes.

use crate::build::{judge, record};
use crate::dedup::{Dedup, Verdict};
use crate::extract::{functions, FileSkip};
use crate::filters::{Drop, Filters, Scenario};
use crate::record::Record;
use crate::split::{Split, SPLITS};
use crate::write::{write_chunk, Format};
use crate::DatasetError;
use pycorpus_catalog::Filter;
use pycorpus_core::Corpus;
use pycorpus_explore::{visit_blobs, VisitOptions, VisitProgress};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

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
            chunk_records: 30_000,
            max_file_bytes: 8 << 20,
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
}

/// What one blob gave.
struct BlobOut {
    skip: Option<&'static str>,
    /// Functions passing the filters under each of [`Scenario::ALL`].
    per_scenario: [u64; 3],
    functions: u64,
    records: Vec<Record>,
    dropped: Vec<Drop>,
}

/// Exports the selected functions of `corpus` into the new folder `dest`. The folder is
/// built under a temporary name beside it and renamed when complete, so it either holds a
/// whole dataset or does not exist. Parsing runs on rayon's global pool, whose threads need
/// a stack of [`pycorpus_analyze::STACK_BYTES`].
pub fn export(corpus: &Corpus, dest: &Path, opts: &ExportOptions, cancel: &AtomicBool, progress: &VisitProgress<'_>) -> Result<ExportSummary, DatasetError> {
    let name = dest.file_name().and_then(|n| n.to_str()).ok_or_else(|| DatasetError::Exists(dest.to_path_buf()))?;
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = parent.join(format!(".{name}.partial"));
    let result = export_via(corpus, dest, &tmp, opts, cancel, progress);
    if result.is_err() {
        // Nothing half-made is left behind (a crash leaves it; the next export removes it).
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn export_via(corpus: &Corpus, dest: &Path, tmp: &Path, opts: &ExportOptions, cancel: &AtomicBool, progress: &VisitProgress<'_>) -> Result<ExportSummary, DatasetError> {
    let tmp = tmp.to_path_buf();
    if dest.exists() {
        return Err(DatasetError::Exists(dest.to_path_buf()));
    }
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|source| DatasetError::Write { path: tmp.clone(), source })?;
    }
    std::fs::create_dir_all(&tmp).map_err(|source| DatasetError::Write { path: tmp.clone(), source })?;
    let licenses: HashMap<(String, String), Option<String>> = corpus.releases()?.into_iter().map(|r| ((r.project_name, r.project_release), r.license)).collect();
    let mut filter = opts.filter.clone();
    if filter.exts.is_empty() {
        filter.exts = vec!["py".into()];
    }
    filter.unique = true;
    let mut summary = ExportSummary { dest: dest.to_path_buf(), ..Default::default() };
    let mut records: Vec<Record> = Vec::new();
    let mut dropped: BTreeMap<Drop, u64> = BTreeMap::new();
    visit_blobs(
        corpus,
        &filter,
        &VisitOptions { stack_size: pycorpus_analyze::STACK_BYTES, parallel_blobs: true, batch_per_thread: 4, progress: Some(progress), ..Default::default() },
        cancel,
        &|| (),
        &|_, _, holders, data| {
            let row = &holders.first;
            let mut out = BlobOut { skip: None, per_scenario: [0; 3], functions: 0, records: Vec::new(), dropped: Vec::new() };
            if data.len() > opts.max_file_bytes {
                out.skip = Some("too-large");
                return Ok(out);
            }
            let Some(text) = pycorpus_analyze::decode(data) else {
                out.skip = Some("not-text");
                return Ok(out);
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
            let license = licenses.get(&(row.project_name.clone(), row.project_release.clone())).and_then(|l| l.as_ref());
            out.functions = total;
            out.per_scenario = per_scenario;
            out.dropped = dropped;
            out.records = found.into_iter().zip(judged).map(|(f, nl)| record(f, nl, row, license)).collect();
            Ok(out)
        },
        &mut |out: BlobOut| {
            summary.blobs += 1;
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
            records.extend(out.records);
            Ok(())
        },
    )?;
    if cancel.load(Ordering::SeqCst) {
        return Err(DatasetError::Interrupted);
    }
    // A fixed order: the first of duplicates is the earliest upload.
    records.sort_by(|a, b| (&a.uploaded_on, &a.repo, &a.distribution, &a.path, a.start_line, &a.func_name).cmp(&(&b.uploaded_on, &b.repo, &b.distribution, &b.path, b.start_line, &b.func_name)));
    let mut dedup = Dedup::new(opts.filters.dedup_exact, opts.filters.near_duplicate_jaccard);
    let mut by_split: BTreeMap<&'static str, Vec<Record>> = BTreeMap::new();
    for mut r in records {
        match dedup.check(&r.code_token_texts()) {
            Verdict::Keep => {
                let split = opts.split.of(&r.repo);
                r.partition = split;
                by_split.entry(split).or_default().push(r);
            }
            Verdict::Exact => *dropped.entry(Drop::ExactDuplicate).or_default() += 1,
            Verdict::Near => *dropped.entry(Drop::NearDuplicate).or_default() += 1,
        }
    }
    summary.dropped = Drop::ALL.iter().map(|d| (d.name().to_string(), dropped.get(d).copied().unwrap_or(0))).collect();
    for split in SPLITS {
        let mut recs = by_split.remove(split).unwrap_or_default();
        // Within a split, records in project, version, path and line order.
        recs.sort_by(|a, b| (&a.repo, &a.uploaded_on, &a.distribution, &a.path, a.start_line, &a.func_name).cmp(&(&b.repo, &b.uploaded_on, &b.distribution, &b.path, b.start_line, &b.func_name)));
        summary.records.insert(split.to_string(), recs.len() as u64);
        let dir = tmp.join("python").join("final").join(opts.format.dir()).join(split);
        for (i, chunk) in recs.chunks(opts.chunk_records.max(1)).enumerate() {
            summary.files.push(write_chunk(&dir, split, i, chunk, opts.format)?);
        }
    }
    let lock = corpus.lock_text()?;
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, DatasetError> {
        let p = tmp.join(name);
        std::fs::write(&p, bytes).map_err(|source| DatasetError::Write { path: p.clone(), source })?;
        Ok(p)
    };
    summary.files.push(write("corpus.lock.tsv", lock.as_bytes())?);
    summary.files.push(write("README.md", crate::card::card(opts, &summary, &lock).as_bytes())?);
    std::fs::rename(&tmp, dest).map_err(|source| DatasetError::Write { path: dest.to_path_buf(), source })?;
    summary.files = summary.files.iter().map(|p| dest.join(p.strip_prefix(&tmp).unwrap_or(p))).collect();
    Ok(summary)
}
