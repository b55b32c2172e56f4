//! The report's numbers as tables: built once from [`Data`], then written as CSV, as Parquet
//! and into the page, so that every copy shows the same figures.

use crate::ReportError;
use crate::collect::{Data, PACKAGING, VIEWS};
use crate::features::FEATURES;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Int(u64),
    /// A percentage, already rounded to one decimal.
    Pct(f64),
}

impl Cell {
    /// As printed in CSV and on the page.
    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Pct(p) => format!("{p:.1}"),
        }
    }
}

/// `100 * part / whole`, rounded to one decimal (0 for an empty whole).
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { (1000.0 * part as f64 / whole as f64).round() / 10.0 }
}

/// A table with a file name.
#[derive(Debug, Clone)]
pub struct Table {
    /// File stem (`adoption` gives `adoption.csv`).
    pub name: &'static str,
    /// What it holds, for the page.
    pub title: &'static str,
    /// Column names.
    pub columns: Vec<&'static str>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// The minor version's label: `3.7 or older`, `3.10`.
pub fn version_label(minor: u8) -> String {
    if minor <= 7 { "3.7 or older".to_string() } else { format!("3.{minor}") }
}

/// The names of the tables [`build`] makes, in its order: known before any counting, so that a
/// caller asking for one by name can be told at once that it does not exist.
pub const TABLE_NAMES: [&str; 13] = [
    "summary",
    "features_overall",
    "adoption",
    "packaging",
    "build_backends",
    "packaging_metadata",
    "metadata_versions",
    "most_required",
    "min_versions",
    "imports",
    "stdlib_over_time",
    "stdlib_movers",
    "parse_status",
];

/// A standard library module whose share of releases moved between two buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct Mover {
    /// The module.
    pub module: String,
    /// The first bucket with enough releases, and the share there.
    pub from: (i32, f64),
    /// The last one, and the share there.
    pub to: (i32, f64),
}

impl Mover {
    /// Percentage points gained (negative: lost).
    pub fn change(&self) -> f64 {
        ((self.to.1 - self.from.1) * 10.0).round() / 10.0
    }
}

/// The standard library modules whose share of releases (with Python files) moved most
/// between the first and the last bucket holding at least `min_units` releases, most first.
pub fn stdlib_movers(data: &Data, min_units: u64) -> Vec<Mover> {
    let enough: Vec<_> = data.stdlib.iter().filter(|(_, (u, _))| *u >= min_units.max(1)).collect();
    let (Some((&a, (ua, ma))), Some((&b, (ub, mb)))) = (enough.first().copied(), enough.last().copied()) else { return Vec::new() };
    if a == b {
        return Vec::new();
    }
    let modules: std::collections::BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    let mut out: Vec<Mover> =
        modules.into_iter().map(|m| Mover { module: m.clone(), from: (a, pct(ma.get(m).copied().unwrap_or(0), *ua)), to: (b, pct(mb.get(m).copied().unwrap_or(0), *ub)) }).collect();
    out.sort_by(|x, y| y.change().abs().total_cmp(&x.change().abs()).then(x.module.cmp(&y.module)));
    out
}

/// Every table of the report ([`TABLE_NAMES`], in that order).
pub fn build(data: &Data) -> Vec<Table> {
    let label = |p: i32| data.period.label(p);
    let tot = &data.totals;
    let summary = Table {
        name: "summary",
        title: "What was counted",
        columns: vec!["item", "value"],
        rows: [
            ("projects", tot.projects),
            ("releases", tot.releases),
            ("releases with analysed Python files", tot.releases_with_python),
            ("releases with a source distribution", tot.sdist_releases),
            ("distribution files", tot.distributions),
            ("files (rows of the index)", tot.files),
            ("Python files (.py, .pyi)", tot.python_files),
            ("Python files not analysed yet", tot.python_files_without_facts),
            ("Python files left out (tests, docs, examples)", tot.python_files_excluded),
            ("unique Python files", tot.unique_python_files),
        ]
        .into_iter()
        .map(|(k, v)| vec![t(k), t(v.to_string())])
        .chain(std::iter::once(vec![t("period"), t(data.period.name())]))
        .collect(),
    };
    let overall = Table {
        name: "features_overall",
        title: "Features, all time: share of releases, of projects and of unique files using each",
        columns: vec!["feature", "label", "group", "releases_percent", "releases", "projects_percent", "projects", "files_percent", "files"],
        rows: FEATURES
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut row = vec![t(f.key), t(f.label), t(f.group)];
                for tally in &data.overall {
                    let with = tally.with.get(i).copied().unwrap_or(0);
                    row.push(Cell::Pct(pct(with, tally.units)));
                    row.push(Cell::Int(with));
                }
                row
            })
            .collect(),
    };
    let mut adoption =
        Table { name: "adoption", title: "Feature adoption over time, in three views", columns: vec!["view", "period", "feature", "units", "with_feature", "percent"], rows: Vec::new() };
    for ((view, _), buckets) in VIEWS.iter().zip(&data.views) {
        for (&p, tally) in buckets {
            for (i, f) in FEATURES.iter().enumerate() {
                adoption.rows.push(vec![t(*view), t(label(p)), t(f.key), Cell::Int(tally.units), Cell::Int(tally.with[i]), Cell::Pct(pct(tally.with[i], tally.units))]);
            }
        }
    }
    let mut packaging = Table {
        name: "packaging",
        title: "Packaging over time: share of releases with a source distribution that ship each",
        columns: vec!["period", "fact", "sdist_releases", "with_fact", "percent"],
        rows: Vec::new(),
    };
    for (&p, tally) in &data.packaging {
        for (i, (key, _, _)) in PACKAGING.iter().enumerate() {
            packaging.rows.push(vec![t(label(p)), t(*key), Cell::Int(tally.units), Cell::Int(tally.with[i]), Cell::Pct(pct(tally.with[i], tally.units))]);
        }
    }
    let mut backends = Table {
        name: "build_backends",
        title: "Build backends over time: share of releases with a top-level pyproject.toml naming each",
        columns: vec!["period", "backend", "pyproject_releases", "releases", "percent"],
        rows: Vec::new(),
    };
    // Every backend in every bucket (zero included), as the chart's lines go through zero.
    let names: std::collections::BTreeSet<&String> = data.backends.values().flat_map(|(_, by)| by.keys()).collect();
    for (&p, (units, by)) in &data.backends {
        for b in &names {
            let n = by.get(*b).copied().unwrap_or(0);
            backends.rows.push(vec![t(label(p)), t(b.as_str()), Cell::Int(*units), Cell::Int(n), Cell::Pct(pct(n, *units))]);
        }
    }
    let (files_known, releases_known) = data.min_versions.values().fold((0, 0), |(a, b), (f, r)| (a + f, b + r));
    let min_versions = Table {
        name: "min_versions",
        title: "Oldest Python 3 that accepts the syntax: of unique files that parse, and of releases (their newest file)",
        columns: vec!["min_version", "files", "files_percent", "releases", "releases_percent"],
        rows: data.min_versions.iter().map(|(&m, &(f, r))| vec![t(version_label(m)), Cell::Int(f), Cell::Pct(pct(f, files_known)), Cell::Int(r), Cell::Pct(pct(r, releases_known))]).collect(),
    };
    let imports = Table {
        name: "imports",
        title: "Imported modules (top level, absolute imports): releases importing each, of releases with Python files",
        columns: vec!["module", "kind", "releases", "releases_percent", "files"],
        rows: data
            .imports
            .iter()
            .map(|m| vec![t(m.module.as_str()), t(if m.stdlib { "stdlib" } else { "third-party" }), Cell::Int(m.releases), Cell::Pct(pct(m.releases, tot.releases_with_python)), Cell::Int(m.files)])
            .collect(),
    };
    let md = &data.metadata;
    let mut packaging_metadata = Table {
        name: "packaging_metadata",
        title: "Packaging metadata over time: share of releases with core metadata stating each (PEP 621: of releases with a pyproject.toml)",
        columns: vec!["period", "fact", "units", "with_fact", "percent"],
        rows: Vec::new(),
    };
    let buckets: std::collections::BTreeSet<i32> = md.facts.keys().chain(md.pep621.keys()).copied().collect();
    for p in buckets {
        if let Some(tally) = md.pep621.get(&p) {
            packaging_metadata.rows.push(vec![t(label(p)), t("pep621"), Cell::Int(tally.units), Cell::Int(tally.with[0]), Cell::Pct(pct(tally.with[0], tally.units))]);
        }
        if let Some(tally) = md.facts.get(&p) {
            for (i, (key, _)) in crate::METADATA_FACTS.iter().enumerate() {
                packaging_metadata.rows.push(vec![t(label(p)), t(*key), Cell::Int(tally.units), Cell::Int(tally.with[i]), Cell::Pct(pct(tally.with[i], tally.units))]);
            }
        }
    }
    let mut metadata_versions = Table {
        name: "metadata_versions",
        title: "Core metadata versions over time: releases by their highest Metadata-Version",
        columns: vec!["period", "metadata_version", "releases", "percent"],
        rows: Vec::new(),
    };
    for (&p, by) in &md.versions {
        let units: u64 = by.values().sum();
        for (v, &n) in by {
            metadata_versions.rows.push(vec![t(label(p)), t(v.as_str()), Cell::Int(n), Cell::Pct(pct(n, units))]);
        }
    }
    let most_required = Table {
        name: "most_required",
        title: "Most required projects: distinct projects requiring each for installing (run requirements of any release)",
        columns: vec!["project", "requiring_projects", "requiring_releases"],
        rows: md.most_required.iter().map(|r| vec![t(r.project.as_str()), Cell::Int(r.projects), Cell::Int(r.releases)]).collect(),
    };
    let mut stdlib_over_time = Table {
        name: "stdlib_over_time",
        title: "Standard library modules over time: share of releases (with Python files) importing each",
        columns: vec!["period", "module", "releases_with_python", "releases", "percent"],
        rows: Vec::new(),
    };
    // Every module in every bucket (zero included), as the chart's lines go through zero.
    let modules: std::collections::BTreeSet<&String> = data.stdlib.values().flat_map(|(_, by)| by.keys()).collect();
    for (&p, (units, by)) in &data.stdlib {
        for m in &modules {
            let n = by.get(*m).copied().unwrap_or(0);
            stdlib_over_time.rows.push(vec![t(label(p)), t(m.as_str()), Cell::Int(*units), Cell::Int(n), Cell::Pct(pct(n, *units))]);
        }
    }
    let stdlib_movers = Table {
        name: "stdlib_movers",
        title: "Standard library modules whose share of releases moved most, between the first and the last period with enough releases (--min-units)",
        columns: vec!["module", "from_period", "from_percent", "to_period", "to_percent", "change_points"],
        rows: stdlib_movers(data, data.min_units)
            .into_iter()
            .map(|m| vec![t(m.module.as_str()), t(label(m.from.0)), Cell::Pct(m.from.1), t(label(m.to.0)), Cell::Pct(m.to.1), Cell::Pct(m.change())])
            .collect(),
    };
    let files: u64 = data.status.values().sum();
    let status = Table {
        name: "parse_status",
        title: "Parse status of unique Python files",
        columns: vec!["status", "files", "percent"],
        rows: data.status.iter().map(|(s, &n)| vec![t(s.as_str()), Cell::Int(n), Cell::Pct(pct(n, files))]).collect(),
    };
    vec![summary, overall, adoption, packaging, backends, packaging_metadata, metadata_versions, most_required, min_versions, imports, stdlib_over_time, stdlib_movers, status]
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Write { path: path.to_path_buf(), source }
}

fn other(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Write { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) }
}

/// Writes `bytes` to `path` ([`pycorpus_fs::write_atomic`]), making its folder first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    pycorpus_fs::write_atomic(path, bytes).map_err(|e| ReportError::Write { path: e.path, source: e.source })
}

/// Writes each table as `<dir>/<name>.csv`; returns the paths.
pub fn write_csv(tables: &[Table], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    for table in tables {
        let path = dir.join(format!("{}.csv", table.name));
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&table.columns).map_err(|e| other(&path, e))?;
        for row in &table.rows {
            w.write_record(row.iter().map(Cell::text)).map_err(|e| other(&path, e))?;
        }
        let bytes = w.into_inner().map_err(|e| other(&path, e))?;
        write_atomic(&path, &bytes)?;
        out.push(path);
    }
    Ok(out)
}

impl Table {
    /// The table as one Arrow batch: counts as unsigned, percentages as doubles, the rest as
    /// text, each typed by the first row (text for all when there is none).
    pub fn to_batch(&self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (i, name) in self.columns.iter().enumerate() {
            let cells = self.rows.iter().map(|r| &r[i]);
            let (kind, array): (DataType, ArrayRef) = match self.rows.first().map(|r| &r[i]) {
                Some(Cell::Int(_)) => (DataType::UInt64, Arc::new(cells.map(|c| if let Cell::Int(n) = c { Some(*n) } else { None }).collect::<UInt64Array>())),
                Some(Cell::Pct(_)) => (DataType::Float64, Arc::new(cells.map(|c| if let Cell::Pct(p) = c { Some(*p) } else { None }).collect::<Float64Array>())),
                _ => (DataType::Utf8, Arc::new(cells.map(|c| Some(c.text())).collect::<StringArray>())),
            };
            fields.push(Field::new(*name, kind, true));
            columns.push(array);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
    }
}

/// Writes each table as `<dir>/<name>.parquet` ([`Table::to_batch`]); returns the paths.
pub fn write_parquet(tables: &[Table], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    for table in tables {
        let path = dir.join(format!("{}.parquet", table.name));
        let batch = table.to_batch().map_err(|e| other(&path, e))?;
        let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| other(&path, e))?)).build();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).map_err(|e| other(&path, e))?;
        w.write(&batch).map_err(|e| other(&path, e))?;
        w.close().map_err(|e| other(&path, e))?;
        write_atomic(&path, &buf)?;
        out.push(path);
    }
    Ok(out)
}
