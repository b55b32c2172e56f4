//! One pass over the index, joined with the facts of `analyze` by blob id: what each release,
//! each project in each period and each unique file uses, and what each release ships.

use crate::features::{count_columns, Test, FEATURES};
use crate::period::{month_of, Period};
use crate::ReportError;
use arrow_array::{Array, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray, UInt32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use pycorpus_analyze::{is_stdlib, store, Packaging};
use pycorpus_archive::DistType;
use pycorpus_catalog::{FileRow, Filter};
use pycorpus_core::Corpus;
use pycorpus_store::{Oid, OidMap, OidSet};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// The three ways of counting adoption, in page order: `(key, unit name)`.
pub const VIEWS: [(&str, &str); 3] = [("release", "releases"), ("project_period", "projects"), ("file", "unique files")];

/// Whether a release's packaging has some property.
pub type PackagingTest = fn(&Packaging) -> bool;

/// Packaging facts followed per release, in page order: `(key, label, test)`.
pub const PACKAGING: &[(&str, &str, PackagingTest)] = &[
    ("pyproject", "pyproject.toml", |p| p.pyproject),
    ("setup_py", "setup.py", |p| p.setup_py),
    ("setup_cfg", "setup.cfg", |p| p.setup_cfg),
    ("pyproject_only", "pyproject.toml without setup.py", |p| p.pyproject && !p.setup_py),
    ("py_typed", "py.typed (PEP 561)", |p| p.py_typed),
    ("pyi", "Stub files (.pyi)", |p| p.pyi),
    ("requirements_txt", "requirements*.txt", |p| p.requirements_txt),
    ("rust", "Rust sources", |p| p.rust),
    ("c", "C sources", |p| p.c),
    ("cpp", "C++ sources", |p| p.cpp),
    ("cython", "Cython sources", |p| p.cython),
];

/// Label of the build backend of a `pyproject.toml` that names none (pip then uses
/// setuptools' legacy backend).
pub const NO_BACKEND: &str = "(none named)";

/// What the report reads.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Rows of the index to look at.
    pub filter: Filter,
    /// Leave out Python files under `test(s)/`, `testing/`, `doc(s)/`, `example(s)/` folders:
    /// linters' documentation examples skew the newest-syntax lines.
    pub exclude_tests_docs: bool,
    /// Bucket width; `None` picks one from the amount of data ([`Period::auto`]).
    pub period: Option<Period>,
}

/// Units of one bucket, and how many of them use each followed thing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Units in the bucket (the denominator).
    pub units: u64,
    /// Units using each thing, in list order.
    pub with: Vec<u64>,
}

impl Tally {
    fn add(&mut self, bits: u64, n: usize) {
        if self.with.is_empty() {
            self.with = vec![0; n];
        }
        self.units += 1;
        for (i, w) in self.with.iter_mut().enumerate() {
            *w += (bits >> i) & 1;
        }
    }
}

/// Whole-selection counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Projects with a row in the selection.
    pub projects: u64,
    /// Releases (project and version).
    pub releases: u64,
    /// Releases with at least one analysed Python file.
    pub releases_with_python: u64,
    /// Releases with a source distribution.
    pub sdist_releases: u64,
    /// Distribution files.
    pub distributions: u64,
    /// Rows (files) read.
    pub files: u64,
    /// Stored `.py`/`.pyi` rows looked at.
    pub python_files: u64,
    /// Of those, rows whose blob has no facts yet (run `analyze`).
    pub python_files_without_facts: u64,
    /// Python rows left out by `exclude_tests_docs`.
    pub python_files_excluded: u64,
    /// Unique analysed Python blobs in the selection.
    pub unique_python_files: u64,
}

/// An imported module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Import {
    /// Top-level module name.
    pub module: String,
    /// Part of the standard library.
    pub stdlib: bool,
    /// Releases importing it (a release's imports of its own modules do not count).
    pub releases: u64,
    /// Unique files importing it.
    pub files: u64,
}

/// Everything a report shows, before formatting.
#[derive(Debug, Clone, Serialize)]
pub struct Data {
    /// Bucket width.
    pub period: Period,
    /// First and last bucket holding anything.
    pub span: Option<(i32, i32)>,
    /// Per view ([`VIEWS`]), per bucket: units and users of each of [`FEATURES`].
    pub views: Vec<BTreeMap<i32, Tally>>,
    /// Per view, all time: releases, projects (using it in any period), unique files.
    pub overall: Vec<Tally>,
    /// Per bucket, of releases with a source distribution: holders of each of [`PACKAGING`].
    pub packaging: BTreeMap<i32, Tally>,
    /// Per bucket, of releases with a top-level `pyproject.toml`: releases per build backend.
    pub backends: BTreeMap<i32, (u64, BTreeMap<String, u64>)>,
    /// Minimum Python minor version (7 = 3.7 or older) -> (unique files, releases).
    pub min_versions: BTreeMap<u8, (u64, u64)>,
    /// Imported modules, most imported first.
    pub imports: Vec<Import>,
    /// Parse status -> unique files.
    pub status: BTreeMap<String, u64>,
    /// Whole-selection counts.
    pub totals: Totals,
}

/// What is known of one blob.
struct Blob {
    bits: u64,
    /// 0: unknown (did not parse); else the minor version needed (7: 3.7 or older).
    minor: u8,
    status: pycorpus_analyze::Status,
    imports: Box<[u32]>,
    /// Earliest upload of a selected row holding it (µs), `i64::MAX` when none.
    first: i64,
}

/// Names interned to small ids.
#[derive(Default)]
struct Names {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.ids.insert(s.to_string(), i);
        self.names.push(s.to_string());
        i
    }
}

fn fmt(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Facts(store::fmt(path, e))
}

fn col<'a, T: 'static>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a T, ReportError> {
    Ok(store::col(batch, name, path)?)
}

/// Reads the facts of `dir` (this analyzer version), only the columns the report needs.
fn load_facts(dir: &Path, modules: &mut Names) -> Result<OidMap<Blob>, ReportError> {
    let counts = count_columns();
    let mut blobs = OidMap::default();
    for part in store::parts(dir)? {
        let file = std::fs::File::open(&part).map_err(|source| ReportError::Facts(store::StoreError::Io { path: part.clone(), source }))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fmt(&part, e))?;
        let mut wanted = vec!["oid", "analyzer_version", "status", "min_version", "imports"];
        wanted.extend(&counts);
        let mask = ProjectionMask::columns(b.parquet_schema(), wanted.iter().copied());
        for batch in b.with_projection(mask).build().map_err(|e| fmt(&part, e))? {
            let batch = batch.map_err(|e| fmt(&part, e))?;
            let oids = col::<FixedSizeBinaryArray>(&batch, "oid", &part)?;
            let versions = col::<UInt32Array>(&batch, "analyzer_version", &part)?;
            let status = col::<StringArray>(&batch, "status", &part)?;
            let minv = col::<StringArray>(&batch, "min_version", &part)?;
            let imports = col::<ListArray>(&batch, "imports", &part)?;
            let cols: Vec<&UInt32Array> = counts.iter().map(|c| col::<UInt32Array>(&batch, c, &part)).collect::<Result<_, _>>()?;
            for i in 0..batch.num_rows() {
                if versions.value(i) != store::ANALYZER_VERSION {
                    continue;
                }
                let st = status.value(i);
                let status = pycorpus_analyze::Status::parse(st).ok_or_else(|| fmt(&part, format!("unknown status {st:?}")))?;
                let parsed = st == "ok" || st == "limit";
                let mut bits = 0u64;
                for (bit, feat) in FEATURES.iter().enumerate() {
                    let on = match feat.test {
                        Test::Any(names) => parsed && names.iter().any(|n| counts.iter().position(|c| c == n).is_some_and(|k| cols[k].value(i) > 0)),
                        Test::Python2 => st == "python2",
                    };
                    bits |= u64::from(on) << bit;
                }
                let minor = if !parsed {
                    0
                } else if minv.is_valid(i) {
                    minv.value(i).strip_prefix("3.").and_then(|m| m.parse::<u8>().ok()).unwrap_or(0)
                } else {
                    7
                };
                let list = imports.value(i);
                let list = list.as_any().downcast_ref::<StringArray>().ok_or_else(|| fmt(&part, "imports are not text"))?;
                let oid = Oid::from_slice(oids.value(i)).ok_or_else(|| fmt(&part, "oid is not 20 bytes"))?;
                let imports = list.iter().flatten().map(|m| modules.id(m)).collect();
                blobs.insert(oid, Blob { bits, minor, status, imports, first: i64::MAX });
            }
        }
    }
    Ok(blobs)
}

/// A release (project and version) as its rows come by.
struct Release {
    first: i64,
    bits: u64,
    python_files: u64,
    minor: u8,
    imports: HashSet<u32>,
    /// Names of its own modules and folders that are also imported somewhere.
    own: HashSet<u32>,
    packaging: Packaging,
    sdist: bool,
    pyproject: Option<Oid>,
}

fn is_python(inner: &str) -> bool {
    let name = inner.rsplit('/').next().unwrap_or(inner);
    name.rsplit_once('.').is_some_and(|(_, e)| e.eq_ignore_ascii_case("py") || e.eq_ignore_ascii_case("pyi"))
}

/// True for paths under a test, documentation or example folder.
fn in_tests_docs(inner: &str) -> bool {
    let mut parts: Vec<&str> = inner.split('/').collect();
    parts.pop();
    parts.iter().any(|d| matches!(d.to_ascii_lowercase().as_str(), "test" | "tests" | "testing" | "doc" | "docs" | "example" | "examples"))
}

/// Reads the index rows of `sel` and the facts, and counts. `progress` gets the rows read so
/// far; `cancel` stops the scan (what was read is still counted).
pub fn collect(corpus: &Corpus, sel: &Selection, cancel: &AtomicBool, progress: &dyn Fn(u64)) -> Result<Data, ReportError> {
    let mut modules = Names::default();
    let dir = pycorpus_analyze::analysis_dir(corpus);
    let mut blobs = load_facts(&dir, &mut modules)?;
    if blobs.is_empty() {
        return Err(ReportError::NoFacts(dir));
    }
    let mut totals = Totals::default();
    let mut projects = Names::default();
    let mut releases: HashMap<(u32, String), Release> = HashMap::new();
    // (project, month) -> (features used, holds an analysed Python file)
    let mut project_months: HashMap<(u32, i32), (u64, bool)> = HashMap::new();
    let mut dists: HashSet<(u32, String)> = HashSet::new();
    let mut scanned = 0u64;
    corpus.for_each_row(&sel.filter, &mut |row: FileRow| {
        scanned += 1;
        if scanned.is_multiple_of(4096) {
            progress(scanned);
        }
        totals.files += 1;
        let pid = projects.id(&row.project_name);
        dists.insert((pid, row.project_release.clone()));
        let inner = row.inner_path();
        let sdist = row.dist_type == DistType::Sdist;
        let rel = releases.entry((pid, row.project_version.clone())).or_insert_with(|| Release {
            first: i64::MAX,
            bits: 0,
            python_files: 0,
            minor: 0,
            imports: HashSet::new(),
            own: HashSet::new(),
            packaging: Packaging::default(),
            sdist: false,
            pyproject: None,
        });
        rel.first = rel.first.min(row.uploaded_on);
        rel.sdist |= sdist;
        rel.packaging.add_path(inner, sdist);
        if sdist && row.is_stored() && Packaging::is_top_pyproject(inner) {
            rel.pyproject = Some(row.hash);
        }
        let pm = project_months.entry((pid, month_of(row.uploaded_on))).or_default();
        if !(row.is_stored() && is_python(inner)) {
            return !cancel.load(Ordering::Relaxed);
        }
        if sel.exclude_tests_docs && in_tests_docs(inner) {
            totals.python_files_excluded += 1;
            return !cancel.load(Ordering::Relaxed);
        }
        totals.python_files += 1;
        // Its own module and folder names: `import mypkg` inside mypkg is not a third-party use.
        let mut parts = inner.split('/');
        if let Some(file) = parts.next_back() {
            for name in parts.chain(file.rsplit_once('.').map(|(stem, _)| stem)) {
                if let Some(&id) = modules.ids.get(name) {
                    rel.own.insert(id);
                }
            }
        }
        let Some(b) = blobs.get_mut(&row.hash) else {
            totals.python_files_without_facts += 1;
            return !cancel.load(Ordering::Relaxed);
        };
        b.first = b.first.min(row.uploaded_on);
        rel.bits |= b.bits;
        rel.python_files += 1;
        rel.minor = rel.minor.max(b.minor);
        rel.imports.extend(b.imports.iter().copied());
        pm.0 |= b.bits;
        pm.1 = true;
        !cancel.load(Ordering::Relaxed)
    })?;
    progress(scanned);
    totals.projects = projects.names.len() as u64;
    totals.releases = releases.len() as u64;
    totals.distributions = dists.len() as u64;

    // Bucket width: from the releases that hold Python files.
    let with_python: Vec<&Release> = releases.values().filter(|r| r.python_files > 0).collect();
    totals.releases_with_python = with_python.len() as u64;
    totals.sdist_releases = releases.values().filter(|r| r.sdist).count() as u64;
    let months: Vec<i32> = releases.values().map(|r| month_of(r.first)).collect();
    let (lo, hi) = (months.iter().min().copied(), months.iter().max().copied());
    let period = sel.period.unwrap_or_else(|| match (lo, hi) {
        (Some(lo), Some(hi)) => Period::auto(totals.releases_with_python, lo, hi, 30),
        _ => Period::Year,
    });
    let bucket = |micros: i64| period.of_month(month_of(micros));
    let n = FEATURES.len();

    let mut views: Vec<BTreeMap<i32, Tally>> = vec![BTreeMap::new(); VIEWS.len()];
    for r in &with_python {
        views[0].entry(bucket(r.first)).or_default().add(r.bits, n);
    }
    let mut per_project: HashMap<(u32, i32), (u64, bool)> = HashMap::new();
    for ((pid, month), (bits, py)) in project_months {
        let e = per_project.entry((pid, period.of_month(month))).or_default();
        e.0 |= bits;
        e.1 |= py;
    }
    let mut ever: HashMap<u32, u64> = HashMap::new();
    for (&(pid, p), &(bits, py)) in &per_project {
        if py {
            views[1].entry(p).or_default().add(bits, n);
            *ever.entry(pid).or_default() |= bits;
        }
    }
    let mut overall = vec![Tally::default(); VIEWS.len()];
    for r in &with_python {
        overall[0].add(r.bits, n);
    }
    for bits in ever.values() {
        overall[1].add(*bits, n);
    }
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    let mut min_versions: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
    let mut import_files: HashMap<u32, u64> = HashMap::new();
    for b in blobs.values().filter(|b| b.first != i64::MAX) {
        totals.unique_python_files += 1;
        views[2].entry(bucket(b.first)).or_default().add(b.bits, n);
        overall[2].add(b.bits, n);
        *status.entry(b.status.as_str().to_string()).or_default() += 1;
        if b.minor > 0 {
            min_versions.entry(b.minor).or_default().0 += 1;
        }
        for &m in b.imports.iter() {
            *import_files.entry(m).or_default() += 1;
        }
    }
    for r in &with_python {
        if r.minor > 0 {
            min_versions.entry(r.minor).or_default().1 += 1;
        }
    }

    // Imports per release, leaving out a release's imports of its own third-party-looking names.
    let mut import_releases: HashMap<u32, u64> = HashMap::new();
    for r in &with_python {
        for &m in &r.imports {
            if is_stdlib(&modules.names[m as usize]) || !r.own.contains(&m) {
                *import_releases.entry(m).or_default() += 1;
            }
        }
    }
    let mut imports: Vec<Import> = import_releases
        .into_iter()
        .map(|(m, releases)| {
            let module = modules.names[m as usize].clone();
            Import { stdlib: is_stdlib(&module), module, releases, files: import_files.get(&m).copied().unwrap_or(0) }
        })
        .collect();
    imports.sort_by(|a, b| b.releases.cmp(&a.releases).then(b.files.cmp(&a.files)).then(a.module.cmp(&b.module)));

    // Packaging, of releases with a source distribution; build backends from their pyproject.toml.
    let wanted: OidSet = releases.values().filter(|r| r.sdist).filter_map(|r| r.pyproject).collect();
    let mut backend_of: OidMap<Option<String>> = OidMap::default();
    corpus.read_blobs(&wanted, &mut |oid, data| {
        let mut p = Packaging::default();
        p.set_pyproject_text(&String::from_utf8_lossy(&data));
        backend_of.insert(oid, p.build_backend);
    })?;
    let mut packaging: BTreeMap<i32, Tally> = BTreeMap::new();
    let mut backends: BTreeMap<i32, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for r in releases.values_mut().filter(|r| r.sdist) {
        let p = bucket(r.first);
        if let Some(oid) = r.pyproject {
            r.packaging.build_backend = backend_of.get(&oid).cloned().flatten();
        }
        let bits = PACKAGING.iter().enumerate().fold(0u64, |acc, (i, (_, _, test))| acc | (u64::from(test(&r.packaging)) << i));
        packaging.entry(p).or_default().add(bits, PACKAGING.len());
        if r.packaging.pyproject {
            let e = backends.entry(p).or_default();
            e.0 += 1;
            *e.1.entry(r.packaging.build_backend.clone().unwrap_or_else(|| NO_BACKEND.to_string())).or_default() += 1;
        }
    }
    let span = views.iter().chain(std::iter::once(&packaging)).flat_map(|v| v.keys().copied()).fold(None, |acc: Option<(i32, i32)>, p| match acc {
        None => Some((p, p)),
        Some((a, b)) => Some((a.min(p), b.max(p))),
    });
    Ok(Data { period, span, views, overall, packaging, backends, min_versions, imports, status, totals })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_files_and_test_folders() {
        assert!(is_python("a/b.py") && is_python("a/B.PYI") && !is_python("a/b.pyc") && !is_python("py"));
        assert!(in_tests_docs("pkg-1/tests/test_x.py") && in_tests_docs("pkg-1/Docs/conf.py"));
        assert!(!in_tests_docs("pkg-1/src/tests.py"), "a module named tests is not a folder");
    }
}
