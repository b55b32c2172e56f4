//! One pass over the index, joined with the facts of `analyze` by blob id: what each release,
//! each project in each period and each unique file uses, and what each release ships.

use crate::ReportError;
use crate::features::{FEATURES, Test, count_columns};
use crate::period::{Period, month_of};
use arrow_array::{Array, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray, UInt32Array};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pycorpus_analyze::{Packaging, is_stdlib, store};
use pycorpus_archive::DistType;
use pycorpus_catalog::{FileRow, Filter};
use pycorpus_core::Corpus;
use pycorpus_core::Ctx;
use pycorpus_spill::codec::{Reader, put_str, put_u32, put_u64};
use pycorpus_spill::{Key, Merged, Sorter};
use pycorpus_store::{Oid, OidMap, OidSet};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::Ordering;

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
    /// Buckets with fewer units are too small to compare (the standard library's movers).
    pub min_units: u64,
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
    /// Counts one unit using the things whose bits are set (bit i: the i-th of `n`).
    pub(crate) fn add(&mut self, bits: u64, n: usize) {
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
    /// Per bucket, of releases with Python files: releases importing each standard library
    /// module (the bucket's units first).
    pub stdlib: BTreeMap<i32, (u64, BTreeMap<String, u64>)>,
    /// The packaging metadata section, per bucket.
    pub metadata: crate::MetadataData,
    /// The selection's `min_units`.
    pub min_units: u64,
    /// Whole-selection counts.
    pub totals: Totals,
}

/// What is known of one blob (a row of the facts).
struct Blob {
    bits: u64,
    /// 0: unknown (did not parse); else the minor version needed (7: 3.7 or older).
    minor: u8,
    status: pycorpus_analyze::Status,
    imports: Vec<u32>,
}

impl Blob {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.bits);
        out.push(self.minor);
        put_str(out, self.status.as_str());
        put_u32(out, self.imports.len() as u32);
        for &m in &self.imports {
            put_u32(out, m);
        }
    }

    fn decode(bytes: &[u8]) -> Option<Blob> {
        let mut r = Reader(bytes);
        let (bits, minor) = (r.u64()?, r.u8()?);
        let status = pycorpus_analyze::Status::parse(&r.string()?)?;
        let n = r.u32()? as usize;
        let imports = (0..n).map(|_| r.u32()).collect::<Option<Vec<u32>>>()?;
        Some(Blob { bits, minor, status, imports })
    }
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

/// Reads the facts of `dir` (this analyzer version), only the columns the report needs, into
/// `out` keyed by blob id (a later part's row for the same blob comes later and wins), and
/// interns every imported module name. Returns the rows pushed.
fn load_facts(dir: &Path, modules: &mut Names, out: &mut Sorter) -> Result<u64, ReportError> {
    let counts = count_columns();
    let mut pushed = 0u64;
    let mut payload = Vec::new();
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
                payload.clear();
                Blob { bits, minor, status, imports }.encode(&mut payload);
                out.push(oid.as_bytes(), &payload).map_err(spill_err)?;
                pushed += 1;
            }
        }
    }
    Ok(pushed)
}

fn spill_err(e: std::io::Error) -> ReportError {
    ReportError::Spill(e)
}

/// What is known of a release (project and version), from part of its rows: partials of one
/// release, from the scan and from the join with the facts, are merged by [`Release::merge`].
struct Release {
    first: i64,
    sdist: bool,
    /// [`PACKAGING`]'s path-based facts as bits (`build_backend` comes later).
    packaging: Packaging,
    pyproject: Option<Oid>,
    /// Names of its own modules and folders that are also imported somewhere.
    own: BTreeSet<u32>,
    bits: u64,
    python_files: u64,
    minor: u8,
    imports: BTreeSet<u32>,
}

const PATH_FACTS: usize = 10;

fn packaging_flags(p: &mut Packaging) -> [&mut bool; PATH_FACTS] {
    [&mut p.pyproject, &mut p.setup_py, &mut p.setup_cfg, &mut p.py_typed, &mut p.pyi, &mut p.requirements_txt, &mut p.rust, &mut p.c, &mut p.cpp, &mut p.cython]
}

impl Default for Release {
    /// Nothing seen yet: the first upload is "never" (`i64::MAX`), so any row's time is earlier.
    fn default() -> Release {
        Release { first: i64::MAX, sdist: false, packaging: Packaging::default(), pyproject: None, own: BTreeSet::new(), bits: 0, python_files: 0, minor: 0, imports: BTreeSet::new() }
    }
}

impl Release {
    fn encode(&mut self, out: &mut Vec<u8>) {
        put_u64(out, self.first as u64);
        out.push(u8::from(self.sdist));
        let flags = packaging_flags(&mut self.packaging).iter().enumerate().fold(0u32, |acc, (i, f)| acc | (u32::from(**f) << i));
        put_u32(out, flags);
        match self.pyproject {
            Some(o) => {
                out.push(1);
                out.extend_from_slice(o.as_bytes());
            }
            None => out.push(0),
        }
        put_u64(out, self.bits);
        put_u64(out, self.python_files);
        out.push(self.minor);
        for set in [&self.own, &self.imports] {
            put_u32(out, set.len() as u32);
            for &m in set {
                put_u32(out, m);
            }
        }
    }

    /// Merges an encoded partial into `self`.
    fn merge(&mut self, bytes: &[u8]) -> Option<()> {
        let mut r = Reader(bytes);
        self.first = self.first.min(r.u64()? as i64);
        self.sdist |= r.u8()? != 0;
        let flags = r.u32()?;
        for (i, f) in packaging_flags(&mut self.packaging).into_iter().enumerate() {
            *f |= flags >> i & 1 == 1;
        }
        if r.u8()? == 1 {
            self.pyproject = Some(Oid::from_slice(r.take(20)?)?);
        }
        self.bits |= r.u64()?;
        self.python_files += r.u64()?;
        self.minor = self.minor.max(r.u8()?);
        for set in [&mut self.own, &mut self.imports] {
            let n = r.u32()? as usize;
            for _ in 0..n {
                set.insert(r.u32()?);
            }
        }
        r.is_empty().then_some(())
    }
}

fn release_key(project: &str, version: &str) -> Vec<u8> {
    let mut k = Key::new();
    k.str(project).str(version);
    k.0
}

/// Partials waiting to be pushed, merged in memory while they are few (rows of one release
/// come together in a shard): bounded by [`COMBINE`] entries, then spilled.
struct Combiner {
    held: HashMap<Vec<u8>, Release>,
    out: Sorter,
    payload: Vec<u8>,
}

const COMBINE: usize = 4096;

impl Combiner {
    fn new(out: Sorter) -> Combiner {
        Combiner { held: HashMap::new(), out, payload: Vec::new() }
    }

    fn entry(&mut self, key: Vec<u8>) -> Result<&mut Release, ReportError> {
        if self.held.len() >= COMBINE && !self.held.contains_key(&key) {
            self.flush()?;
        }
        Ok(self.held.entry(key).or_default())
    }

    fn flush(&mut self) -> Result<(), ReportError> {
        // Any order: the sorter orders the keys, and a key is held once per flush.
        for (k, mut r) in self.held.drain() {
            self.payload.clear();
            r.encode(&mut self.payload);
            self.out.push(&k, &self.payload).map_err(spill_err)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Merged, ReportError> {
        self.flush()?;
        self.out.finish().map_err(spill_err)
    }
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

/// Adds `t` into `into` (same list of things).
fn add_tally(into: &mut Tally, t: &Tally) {
    if into.with.is_empty() {
        into.with = vec![0; t.with.len()];
    }
    into.units += t.units;
    for (a, b) in into.with.iter_mut().zip(&t.with) {
        *a += b;
    }
}

/// Month tallies summed into buckets of `period`.
fn coarsen(months: &BTreeMap<i32, Tally>, period: Period) -> BTreeMap<i32, Tally> {
    let mut out: BTreeMap<i32, Tally> = BTreeMap::new();
    for (&m, t) in months {
        add_tally(out.entry(period.of_month(m)).or_default(), t);
    }
    out
}

/// How many pyproject.toml blobs are read at once to learn build backends.
const BACKEND_BATCH: usize = 16_384;

/// Reads the index rows of `sel` and the facts, and counts. `ctx`'s reporter gets the rows
/// read so far; its cancel flag stops the scan (what was read is still counted).
///
/// Memory does not grow with the corpus: facts, Python rows, releases and (project, month)
/// pairs flow through sorted spills (budget: `memory_budget_bytes` of `corpus.toml`, spills
/// under `<corpus>/tmp/`), joined by blob id and merged by release; what is held are tallies
/// per month and counts per imported module.
pub fn collect(corpus: &Corpus, sel: &Selection, ctx: Ctx<'_>) -> Result<Data, ReportError> {
    let (cancel, progress) = (ctx.cancel, |n: u64| ctx.reporter.progress(n, None));
    if sel.filter.unique {
        return Err(ReportError::UniqueFilter);
    }
    let budget = usize::try_from(corpus.config().memory_budget_bytes).unwrap_or(usize::MAX);
    let tmp = corpus.tmp_dir();
    pycorpus_spill::remove_stale(&tmp).map_err(spill_err)?;
    let sorter = |share: usize| Sorter::new(&tmp, budget / share);
    let mut modules = Names::default();
    let dir = pycorpus_analyze::analysis_dir(corpus);
    let mut facts = sorter(4);
    if load_facts(&dir, &mut modules, &mut facts)? == 0 {
        return Err(ReportError::NoFacts(dir));
    }
    let n = FEATURES.len();

    // 1. The scan: release partials (path facts, own module names), distributions, and the
    //    Python rows, sorted by blob id for the join.
    let mut totals = Totals::default();
    let mut releases = Combiner::new(sorter(8));
    let mut py_rows = sorter(4);
    let mut last_dist: Option<(String, String)> = None;
    let mut scanned = 0u64;
    let mut failed: Option<ReportError> = None;
    let mut payload = Vec::new();
    corpus.for_each_row(&sel.filter, &mut |row: FileRow| {
        let mut step = || -> Result<(), ReportError> {
            scanned += 1;
            if scanned.is_multiple_of(4096) {
                progress(scanned);
            }
            totals.files += 1;
            if last_dist.as_ref().is_none_or(|(p, r)| *p != row.project_name || *r != row.project_release) {
                totals.distributions += 1;
                last_dist = Some((row.project_name.clone(), row.project_release.clone()));
            }
            let inner = row.inner_path();
            let sdist = row.dist_type == DistType::Sdist;
            let key = release_key(&row.project_name, &row.project_version);
            let rel = releases.entry(key.clone())?;
            rel.first = rel.first.min(row.uploaded_on);
            rel.sdist |= sdist;
            rel.packaging.add_path(inner, sdist);
            if sdist && row.is_stored() && Packaging::is_top_pyproject(inner) {
                rel.pyproject = Some(row.hash);
            }
            if !(row.is_stored() && is_python(inner)) {
                return Ok(());
            }
            if sel.exclude_tests_docs && in_tests_docs(inner) {
                totals.python_files_excluded += 1;
                return Ok(());
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
            let mut k = Key::new();
            k.bytes(row.hash.as_bytes());
            payload.clear();
            put_u64(&mut payload, row.uploaded_on as u64);
            put_str(&mut payload, &row.project_name);
            put_str(&mut payload, &row.project_version);
            py_rows.push(&k.0, &payload).map_err(spill_err)
        };
        if let Err(e) = step() {
            failed = Some(e);
            return false;
        }
        !cancel.load(Ordering::Relaxed)
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    progress(scanned);

    // 2. The join of Python rows with the facts, by blob id: what each unique file uses (first
    //    seen at its earliest selected row), and partials of releases and (project, month).
    let mut file_months: BTreeMap<i32, Tally> = BTreeMap::new();
    let mut file_overall = Tally::default();
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    let mut min_versions: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
    let mut import_files: HashMap<u32, u64> = HashMap::new();
    let mut project_months = Combiner::new(sorter(8));
    {
        let mut facts = facts.finish().map_err(spill_err)?;
        let mut rows = py_rows.finish().map_err(spill_err)?;
        let mut blob: Option<(Oid, Blob, i64)> = None;
        let mut unique_files = 0u64;
        let mut without_facts = 0u64;
        let mut end_blob = |b: Option<(Oid, Blob, i64)>| {
            if let Some((_, b, first)) = b {
                unique_files += 1;
                let t = file_months.entry(month_of(first)).or_default();
                t.add(b.bits, n);
                file_overall.add(b.bits, n);
                *status.entry(b.status.as_str().to_string()).or_default() += 1;
                if b.minor > 0 {
                    min_versions.entry(b.minor).or_default().0 += 1;
                }
                for &m in &b.imports {
                    *import_files.entry(m).or_default() += 1;
                }
            }
        };
        let bad = |what: &str| ReportError::Spill(std::io::Error::other(format!("{what} does not read back")));
        while let Some((key, row)) = rows.next().map_err(spill_err)? {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let oid = Oid::from_slice(key).ok_or_else(|| bad("a row's blob id"))?;
            if blob.as_ref().is_none_or(|(o, _, _)| *o != oid) {
                end_blob(blob.take());
                // The facts of this blob: the last of its group, if any.
                while facts.peek_key().map_err(spill_err)?.is_some_and(|k| k < &oid.as_bytes()[..]) {
                    facts.next().map_err(spill_err)?;
                }
                let mut found = None;
                while facts.peek_key().map_err(spill_err)? == Some(&oid.as_bytes()[..]) {
                    let (_, f) = facts.next().map_err(spill_err)?.ok_or_else(|| bad("a fact"))?;
                    found = Some(Blob::decode(f).ok_or_else(|| bad("a fact"))?);
                }
                blob = found.map(|b| (oid, b, i64::MAX));
            }
            let Some((_, b, first)) = blob.as_mut() else {
                without_facts += 1;
                continue;
            };
            let mut r = Reader(row);
            let (uploaded_on, project, version) = (|| Some((r.u64()? as i64, r.string()?, r.string()?)))().ok_or_else(|| bad("a Python row"))?;
            *first = (*first).min(uploaded_on);
            let rel = releases.entry(release_key(&project, &version))?;
            rel.bits |= b.bits;
            rel.python_files += 1;
            rel.minor = rel.minor.max(b.minor);
            rel.imports.extend(b.imports.iter().copied());
            let mut k = Key::new();
            k.str(&project).u64(month_of(uploaded_on) as u32 as u64);
            project_months.entry(k.0)?.bits |= b.bits;
        }
        end_blob(blob.take());
        totals.unique_python_files = unique_files;
        totals.python_files_without_facts = without_facts;
    }

    // 3. Releases, merged: per month of first upload; their imports; packaging of those with
    //    a source distribution, whose pyproject.toml (read below) names a build backend.
    let mut release_months: BTreeMap<i32, Tally> = BTreeMap::new();
    let mut release_overall = Tally::default();
    let mut import_releases: HashMap<u32, u64> = HashMap::new();
    // per month: releases with Python files, and of them those importing each stdlib module
    let mut stdlib_months: BTreeMap<i32, (u64, HashMap<u32, u64>)> = BTreeMap::new();
    let mut packaging_months: BTreeMap<i32, Tally> = BTreeMap::new();
    let mut backend_months: BTreeMap<i32, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    let mut pyprojects = sorter(8);
    let (mut lo, mut hi): (Option<i32>, Option<i32>) = (None, None);
    let mut count_packaging = |month: i32, p: &Packaging| {
        let bits = PACKAGING.iter().enumerate().fold(0u64, |acc, (i, (_, _, test))| acc | (u64::from(test(p)) << i));
        packaging_months.entry(month).or_default().add(bits, PACKAGING.len());
        if p.pyproject {
            let e = backend_months.entry(month).or_default();
            e.0 += 1;
            *e.1.entry(p.build_backend.clone().unwrap_or_else(|| NO_BACKEND.to_string())).or_default() += 1;
        }
    };
    {
        let mut merged = releases.finish()?;
        let mut current: Option<(Vec<u8>, Release)> = None;
        let mut last_project: Vec<u8> = Vec::new();
        loop {
            let item = merged.next().map_err(spill_err)?;
            if let Some((key, _)) = &item
                && current.as_ref().is_some_and(|(k, _)| k == key)
            {
                let (_, part) = item.expect("an item");
                current.as_mut().expect("current").1.merge(part).ok_or_else(|| spill_err(std::io::Error::other("a release does not read back")))?;
                continue;
            }
            if let Some((key, mut r)) = current.take() {
                // key = project \0\0 version \0\0: the project is what precedes the first terminator
                let project_end = key.windows(2).position(|w| w == [0, 0]).unwrap_or(key.len());
                if key[..project_end] != last_project[..] || totals.releases == 0 {
                    totals.projects += 1;
                    last_project = key[..project_end].to_vec();
                }
                totals.releases += 1;
                let month = month_of(r.first);
                lo = Some(lo.map_or(month, |l| l.min(month)));
                hi = Some(hi.map_or(month, |h| h.max(month)));
                if r.python_files > 0 {
                    totals.releases_with_python += 1;
                    release_months.entry(month).or_default().add(r.bits, n);
                    release_overall.add(r.bits, n);
                    if r.minor > 0 {
                        min_versions.entry(r.minor).or_default().1 += 1;
                    }
                    // Leaving out a release's imports of its own third-party-looking names.
                    let std = stdlib_months.entry(month).or_default();
                    std.0 += 1;
                    for &m in &r.imports {
                        let stdlib = is_stdlib(&modules.names[m as usize]);
                        if stdlib || !r.own.contains(&m) {
                            *import_releases.entry(m).or_default() += 1;
                        }
                        if stdlib {
                            *std.1.entry(m).or_default() += 1;
                        }
                    }
                }
                if r.sdist {
                    totals.sdist_releases += 1;
                    match r.pyproject {
                        Some(oid) => {
                            payload.clear();
                            put_u32(&mut payload, month as u32);
                            r.encode(&mut payload);
                            pyprojects.push(oid.as_bytes(), &payload).map_err(spill_err)?;
                        }
                        None => count_packaging(month, &r.packaging),
                    }
                }
            }
            let Some((key, part)) = item else { break };
            let mut r = Release::default();
            r.merge(part).ok_or_else(|| spill_err(std::io::Error::other("a release does not read back")))?;
            current = Some((key.to_vec(), r));
        }
    }
    {
        // Build backends: the pyproject.toml blobs read a batch at a time, in blob id order.
        let mut merged = pyprojects.finish().map_err(spill_err)?;
        let mut batch: Vec<(Oid, i32, Release)> = Vec::new();
        let mut flush = |batch: &mut Vec<(Oid, i32, Release)>| -> Result<(), ReportError> {
            let wanted: OidSet = batch.iter().map(|(o, _, _)| *o).collect();
            let mut backend_of: OidMap<Option<String>> = OidMap::default();
            corpus.read_blobs(&wanted, &mut |oid, data| {
                let mut p = Packaging::default();
                p.set_pyproject_text(&String::from_utf8_lossy(&data));
                backend_of.insert(oid, p.build_backend);
            })?;
            for (oid, month, mut r) in batch.drain(..) {
                r.packaging.build_backend = backend_of.get(&oid).cloned().flatten();
                count_packaging(month, &r.packaging);
            }
            Ok(())
        };
        while let Some((key, item)) = merged.next().map_err(spill_err)? {
            let bad = || spill_err(std::io::Error::other("a release does not read back"));
            let oid = Oid::from_slice(key).ok_or_else(bad)?;
            let month = u32::from_le_bytes(item.get(..4).ok_or_else(bad)?.try_into().expect("4 bytes")) as i32;
            let mut r = Release::default();
            r.merge(&item[4..]).ok_or_else(bad)?;
            batch.push((oid, month, r));
            if batch.len() >= BACKEND_BATCH {
                flush(&mut batch)?;
            }
        }
        flush(&mut batch)?;
    }

    // 4. Projects per period: (project, month) pairs merged, then ORed per bucket of each
    //    width (the width is chosen below, from the releases).
    let mut project_views: Vec<BTreeMap<i32, Tally>> = vec![BTreeMap::new(); Period::ALL.len()];
    let mut project_overall = Tally::default();
    {
        let mut merged = project_months.finish()?;
        let mut current: Option<(Vec<u8>, u64)> = None;
        let mut project: Vec<u8> = Vec::new();
        // per width: (bucket, bits) being ORed; and all-time bits of the project
        let mut open: Vec<Option<(i32, u64)>> = vec![None; Period::ALL.len()];
        let mut ever: Option<u64> = None;
        let close_project = |project_views: &mut Vec<BTreeMap<i32, Tally>>, project_overall: &mut Tally, open: &mut Vec<Option<(i32, u64)>>, ever: &mut Option<u64>| {
            for (i, o) in open.iter_mut().enumerate() {
                if let Some((b, bits)) = o.take() {
                    project_views[i].entry(b).or_default().add(bits, n);
                }
            }
            if let Some(bits) = ever.take() {
                project_overall.add(bits, n);
            }
        };
        loop {
            let item = merged.next().map_err(spill_err)?;
            if let Some((key, part)) = &item
                && current.as_ref().is_some_and(|(k, _)| k == key)
            {
                let mut r = Release::default();
                r.merge(part).ok_or_else(|| spill_err(std::io::Error::other("a project month does not read back")))?;
                current.as_mut().expect("current").1 |= r.bits;
                continue;
            }
            if let Some((key, bits)) = current.take() {
                let (p, m) = key.split_at(key.len() - 8);
                let month = u64::from_be_bytes(m.try_into().expect("8 bytes")) as u32 as i32;
                if p != project {
                    close_project(&mut project_views, &mut project_overall, &mut open, &mut ever);
                    project = p.to_vec();
                }
                for (i, period) in Period::ALL.iter().enumerate() {
                    let b = period.of_month(month);
                    match &mut open[i] {
                        Some((ob, obits)) if *ob == b => *obits |= bits,
                        slot => {
                            if let Some((ob, obits)) = slot.take() {
                                project_views[i].entry(ob).or_default().add(obits, n);
                            }
                            *slot = Some((b, bits));
                        }
                    }
                }
                *ever.get_or_insert(0) |= bits;
            }
            let Some((key, part)) = item else { break };
            let mut r = Release::default();
            r.merge(part).ok_or_else(|| spill_err(std::io::Error::other("a project month does not read back")))?;
            current = Some((key.to_vec(), r.bits));
        }
        close_project(&mut project_views, &mut project_overall, &mut open, &mut ever);
    }

    // Bucket width: from the releases that hold Python files.
    let period = sel.period.unwrap_or_else(|| match (lo, hi) {
        (Some(lo), Some(hi)) => Period::auto(totals.releases_with_python, lo, hi, 30),
        _ => Period::Year,
    });
    let width = Period::ALL.iter().position(|p| *p == period).unwrap_or(0);
    let views = vec![coarsen(&release_months, period), project_views.swap_remove(width), coarsen(&file_months, period)];
    let overall = vec![release_overall, project_overall, file_overall];
    let packaging = coarsen(&packaging_months, period);
    let mut backends: BTreeMap<i32, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for (m, (units, names)) in backend_months {
        let e = backends.entry(period.of_month(m)).or_default();
        e.0 += units;
        for (name, k) in names {
            *e.1.entry(name).or_default() += k;
        }
    }
    let mut stdlib: BTreeMap<i32, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for (m, (units, by)) in stdlib_months {
        let e = stdlib.entry(period.of_month(m)).or_default();
        e.0 += units;
        for (module, k) in by {
            *e.1.entry(modules.names[module as usize].clone()).or_default() += k;
        }
    }
    let mut metadata = crate::metadata::collect(corpus, &sel.filter, &month_of, crate::metadata::MOST_REQUIRED)?;
    metadata.facts = coarsen(&metadata.facts, period);
    metadata.pep621 = coarsen(&metadata.pep621, period);
    let mut versions: BTreeMap<i32, BTreeMap<String, u64>> = BTreeMap::new();
    for (m, by) in std::mem::take(&mut metadata.versions) {
        for (v, k) in by {
            *versions.entry(period.of_month(m)).or_default().entry(v).or_default() += k;
        }
    }
    metadata.versions = versions;
    let mut imports: Vec<Import> = import_releases
        .into_iter()
        .map(|(m, releases)| {
            let module = modules.names[m as usize].clone();
            Import { stdlib: is_stdlib(&module), module, releases, files: import_files.get(&m).copied().unwrap_or(0) }
        })
        .collect();
    imports.sort_by(|a, b| b.releases.cmp(&a.releases).then(b.files.cmp(&a.files)).then(a.module.cmp(&b.module)));
    let span = views.iter().chain([&packaging, &metadata.facts, &metadata.pep621]).flat_map(|v| v.keys().copied()).fold(None, |acc: Option<(i32, i32)>, p| match acc {
        None => Some((p, p)),
        Some((a, b)) => Some((a.min(p), b.max(p))),
    });
    Ok(Data { period, span, views, overall, packaging, backends, min_versions, imports, status, stdlib, metadata, min_units: sel.min_units, totals })
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
