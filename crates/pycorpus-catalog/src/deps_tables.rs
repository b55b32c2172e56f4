//! The dependency tables of a shard, one row per requirement (`requirements.parquet`), entry
//! point (`entry_points.parquet`) and import name (`import_names.parquet`) of each
//! distribution, keyed by the index's column names (`project_name`, `project_version`,
//! `project_release`, `uploaded_on`). See docs/FORMAT.md.

use crate::Release;
use crate::parquet_io::{CatalogError, Cols, ROW_GROUP_ROWS, TableWriter, batches, fmt_err, opt, opt_strs, props, strs, text_list, text_lists, ts};
use arrow_array::{ArrayRef, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use pycorpus_deps::{EntryPoint, ImportName, Kind, Requirement, Rows, Source};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// `requirements.parquet`.
pub const REQUIREMENTS_FILE: &str = "requirements.parquet";
/// `entry_points.parquet`.
pub const ENTRY_POINTS_FILE: &str = "entry_points.parquet";
/// `import_names.parquet`.
pub const IMPORT_NAMES_FILE: &str = "import_names.parquet";
/// The three, as a shard holds them.
pub const DEPS_FILES: [&str; 3] = [REQUIREMENTS_FILE, ENTRY_POINTS_FILE, IMPORT_NAMES_FILE];

/// The distribution a row belongs to: the index's key columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DistKey {
    /// Normalised project name.
    pub project_name: String,
    /// Version.
    pub project_version: String,
    /// Distribution file name.
    pub project_release: String,
    /// Upload time (µs since the epoch, UTC).
    pub uploaded_on: i64,
}

impl DistKey {
    /// The key of `r`.
    pub fn of(r: &Release) -> DistKey {
        DistKey { project_name: r.project_name.clone(), project_version: r.project_version.clone(), project_release: r.project_release.clone(), uploaded_on: r.uploaded_on }
    }
}

fn key_fields() -> Vec<Field> {
    vec![
        Field::new("project_name", DataType::Utf8, false),
        Field::new("project_version", DataType::Utf8, false),
        Field::new("project_release", DataType::Utf8, false),
        Field::new("uploaded_on", ts(), false),
    ]
}

fn schema(more: &[(&str, DataType, bool)]) -> SchemaRef {
    let mut f = key_fields();
    f.extend(more.iter().map(|(n, t, null)| Field::new(*n, t.clone(), *null)));
    Arc::new(Schema::new(f))
}

/// The schema of `requirements.parquet`.
pub fn requirements_schema() -> SchemaRef {
    let text = DataType::Utf8;
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    // the order of REQUIREMENTS_COLUMNS
    schema(&[
        ("source", text.clone(), false),
        ("kind", text.clone(), false),
        ("name", text.clone(), true),
        ("specifier", text.clone(), true),
        ("url", text.clone(), true),
        ("marker", text.clone(), true),
        ("extras", list, false),
        ("raw", text.clone(), false),
        ("error", text, true),
    ])
}

/// The schema of `entry_points.parquet`.
pub fn entry_points_schema() -> SchemaRef {
    schema(&[("group", DataType::Utf8, false), ("name", DataType::Utf8, false), ("value", DataType::Utf8, false)])
}

/// The schema of `import_names.parquet`.
pub fn import_names_schema() -> SchemaRef {
    schema(&[("name", DataType::Utf8, false), ("source", DataType::Utf8, false)])
}

type Keyed<T> = (Arc<DistKey>, T);

fn key_columns<T>(rows: &[Keyed<T>]) -> Vec<ArrayRef> {
    vec![
        strs(rows.iter().map(|(k, _)| k.project_name.as_str())),
        strs(rows.iter().map(|(k, _)| k.project_version.as_str())),
        strs(rows.iter().map(|(k, _)| k.project_release.as_str())),
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|(k, _)| k.uploaded_on)).with_timezone("UTC")),
    ]
}

fn requirement_columns(rows: &[Keyed<Requirement>]) -> Vec<ArrayRef> {
    let mut c = key_columns(rows);
    let kinds: Vec<String> = rows.iter().map(|(_, r)| r.kind.as_text()).collect();
    c.extend([
        strs(rows.iter().map(|(_, r)| r.source.as_str())),
        strs(kinds.iter().map(String::as_str)),
        opt_strs(rows.iter().map(|(_, r)| r.name.as_deref())),
        opt_strs(rows.iter().map(|(_, r)| r.specifier.as_deref())),
        opt_strs(rows.iter().map(|(_, r)| r.url.as_deref())),
        opt_strs(rows.iter().map(|(_, r)| r.marker.as_deref())),
        text_lists(rows.iter().map(|(_, r)| r.extras.as_slice())),
        strs(rows.iter().map(|(_, r)| r.raw.as_str())),
        opt_strs(rows.iter().map(|(_, r)| r.error.as_deref())),
    ]);
    c
}

fn entry_point_columns(rows: &[Keyed<EntryPoint>]) -> Vec<ArrayRef> {
    let mut c = key_columns(rows);
    c.extend([strs(rows.iter().map(|(_, e)| e.group.as_str())), strs(rows.iter().map(|(_, e)| e.name.as_str())), strs(rows.iter().map(|(_, e)| e.value.as_str()))]);
    c
}

fn import_name_columns(rows: &[Keyed<ImportName>]) -> Vec<ArrayRef> {
    let mut c = key_columns(rows);
    c.extend([strs(rows.iter().map(|(_, n)| n.name.as_str())), strs(rows.iter().map(|(_, n)| n.source.as_str()))]);
    c
}

/// The three tables of a shard, written a row group at a time from distributions handed over
/// in the shard's order.
pub struct DepsWriter {
    requirements: TableWriter<Keyed<Requirement>>,
    entry_points: TableWriter<Keyed<EntryPoint>>,
    import_names: TableWriter<Keyed<ImportName>>,
}

impl DepsWriter {
    /// Creates the three files in `dir`.
    pub fn create(dir: &Path) -> Result<DepsWriter, CatalogError> {
        let g = ROW_GROUP_ROWS;
        Ok(DepsWriter {
            requirements: TableWriter::create(&dir.join(REQUIREMENTS_FILE), requirements_schema(), props(&[], g), g, requirement_columns)?,
            entry_points: TableWriter::create(&dir.join(ENTRY_POINTS_FILE), entry_points_schema(), props(&[], g), g, entry_point_columns)?,
            import_names: TableWriter::create(&dir.join(IMPORT_NAMES_FILE), import_names_schema(), props(&[], g), g, import_name_columns)?,
        })
    }

    /// Takes the rows of the distribution `release`.
    pub fn push(&mut self, release: &Release, rows: Rows) -> Result<(), CatalogError> {
        if rows.is_empty() {
            return Ok(());
        }
        let key = Arc::new(DistKey::of(release));
        for r in rows.requirements {
            self.requirements.push((key.clone(), r))?;
        }
        for e in rows.entry_points {
            self.entry_points.push((key.clone(), e))?;
        }
        for n in rows.import_names {
            self.import_names.push((key.clone(), n))?;
        }
        Ok(())
    }

    /// Requirement rows taken so far.
    pub fn requirements_written(&self) -> u64 {
        self.requirements.taken()
    }

    /// Writes the last rows and syncs the files.
    pub fn finish(self) -> Result<(), CatalogError> {
        self.requirements.finish()?;
        self.entry_points.finish()?;
        self.import_names.finish()
    }
}

/// A row of `requirements.parquet`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequirementRow {
    /// Its distribution.
    #[serde(flatten)]
    pub dist: DistKey,
    /// The requirement.
    #[serde(flatten)]
    pub requirement: Requirement,
}

/// The columns of `requirements.parquet`, in order.
pub const REQUIREMENTS_COLUMNS: [&str; 13] = ["project_name", "project_version", "project_release", "uploaded_on", "source", "kind", "name", "specifier", "url", "marker", "extras", "raw", "error"];

impl RequirementRow {
    /// The row as JSON, as every front end hands it out: [`REQUIREMENTS_COLUMNS`], the upload
    /// time in RFC 3339.
    pub fn to_json(&self) -> serde_json::Value {
        let (d, r) = (&self.dist, &self.requirement);
        let text = |s: &str| serde_json::Value::String(s.to_string());
        let opt = |s: &Option<String>| s.as_deref().map_or(serde_json::Value::Null, text);
        let values = [
            text(&d.project_name),
            text(&d.project_version),
            text(&d.project_release),
            text(&crate::format_time(d.uploaded_on)),
            text(r.source.as_str()),
            text(&r.kind.as_text()),
            opt(&r.name),
            opt(&r.specifier),
            opt(&r.url),
            opt(&r.marker),
            serde_json::Value::from(r.extras.clone()),
            text(&r.raw),
            opt(&r.error),
        ];
        serde_json::Value::Object(REQUIREMENTS_COLUMNS.iter().map(|c| c.to_string()).zip(values).collect())
    }

    /// The requirement as one line of text: `name[extras] specifier; marker`, `name @ url`,
    /// or the raw text and why it does not parse.
    pub fn display(&self) -> String {
        let r = &self.requirement;
        let Some(name) = &r.name else {
            return format!("{}  (does not parse: {})", r.raw, r.error.as_deref().unwrap_or("?"));
        };
        let mut s = name.clone();
        if !r.extras.is_empty() {
            s.push_str(&format!("[{}]", r.extras.join(",")));
        }
        if let Some(u) = &r.url {
            s.push_str(&format!(" @ {u}"));
        }
        if let Some(v) = &r.specifier {
            s.push_str(&format!(" {v}"));
        }
        if let Some(m) = &r.marker {
            s.push_str(&format!("; {m}"));
        }
        s
    }
}

/// The rows of a `requirements.parquet` that `keep(project_name, name)` keeps (`name`: the
/// required project, `None` for a requirement that does not parse), in the file's order.
pub fn read_requirements(path: &Path, keep: &dyn Fn(&str, Option<&str>) -> bool) -> Result<Vec<RequirementRow>, CatalogError> {
    let mut out = Vec::new();
    scan_requirements(path, keep, &mut |r| {
        out.push(r);
        true
    })?;
    Ok(out)
}

/// Hands `f` the rows [`read_requirements`] would return, a row group at a time in memory;
/// `f` returns false to stop.
pub fn scan_requirements(path: &Path, keep: &dyn Fn(&str, Option<&str>) -> bool, f: &mut dyn FnMut(RequirementRow) -> bool) -> Result<(), CatalogError> {
    let file = std::fs::File::open(path).map_err(|e| CatalogError::Io { path: path.to_path_buf(), source: e })?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).and_then(|b| b.with_batch_size(ROW_GROUP_ROWS).build()).map_err(|e| fmt_err(path, e))?;
    for batch in reader {
        let batch = batch.map_err(|e| fmt_err(path, e))?;
        let c = Cols { batch: &batch, path };
        let (pn, pv, pr, up) = (c.str("project_name")?, c.str("project_version")?, c.str("project_release")?, c.get::<TimestampMicrosecondArray>("uploaded_on")?);
        let (source, kind, name, spec, url, marker, raw, error) =
            (c.str("source")?, c.str("kind")?, c.str("name")?, c.str("specifier")?, c.str("url")?, c.str("marker")?, c.str("raw")?, c.str("error")?);
        let extras = batch.column_by_name("extras").map(|a| a.as_ref()).ok_or_else(|| fmt_err(path, "column extras missing"))?;
        for i in 0..batch.num_rows() {
            let n = name.is_valid(i).then(|| name.value(i));
            if !keep(pn.value(i), n) {
                continue;
            }
            let bad = |what: &str, v: &str| fmt_err(path, format!("unknown {what} {v:?}"));
            let requirement = Requirement {
                source: Source::parse(source.value(i)).ok_or_else(|| bad("requirement source", source.value(i)))?,
                kind: Kind::parse(kind.value(i)).ok_or_else(|| bad("requirement kind", kind.value(i)))?,
                name: n.map(str::to_string),
                specifier: opt(spec, i),
                url: opt(url, i),
                marker: opt(marker, i),
                extras: text_list(extras, i).ok_or_else(|| fmt_err(path, "extras are not a list of text"))?,
                raw: raw.value(i).to_string(),
                error: opt(error, i),
            };
            let dist = DistKey { project_name: pn.value(i).to_string(), project_version: pv.value(i).to_string(), project_release: pr.value(i).to_string(), uploaded_on: up.value(i) };
            if !f(RequirementRow { dist, requirement }) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// `rows` as one batch with `requirements.parquet`'s schema (for the Python module).
pub fn requirements_batch(rows: Vec<RequirementRow>) -> RecordBatch {
    let keyed: Vec<Keyed<Requirement>> = rows.into_iter().map(|r| (Arc::new(r.dist), r.requirement)).collect();
    // the columns match the schema by construction
    RecordBatch::try_new(requirements_schema(), requirement_columns(&keyed)).expect("columns of requirements_schema")
}

/// Every batch of one of the tables, as Arrow holds it (for the Python module).
pub fn read_table(path: &Path) -> Result<Vec<RecordBatch>, CatalogError> {
    batches(path, ArrowReaderOptions::new())
}

/// How many rows a batch list holds.
pub fn rows_in(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pycorpus_deps::{ImportSource, parse_requirement};

    #[test]
    fn rows_go_out_and_come_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = DepsWriter::create(dir.path()).expect("create");
        let rel = crate::test_release("demo", 1_700_000_000_000_000);
        let reqs = vec![
            parse_requirement("requests[socks]>=2; python_version > '3.8'", Source::CoreMetadata, Kind::Run),
            parse_requirement("pytest; extra == 'test'", Source::CoreMetadata, Kind::Run),
            parse_requirement("not a requirement !!", Source::RequiresTxt, Kind::Run),
        ];
        let rows = Rows {
            requirements: reqs.clone(),
            entry_points: vec![EntryPoint { group: "console_scripts".into(), name: "demo".into(), value: "demo:main".into() }],
            import_names: vec![ImportName { name: "demo".into(), source: ImportSource::Paths }],
        };
        w.push(&rel, rows).expect("push");
        w.push(&crate::test_release("empty", 1), Rows::default()).expect("push");
        w.finish().expect("finish");
        let back = read_requirements(&dir.path().join(REQUIREMENTS_FILE), &|_, _| true).expect("read");
        assert_eq!(back.iter().map(|r| r.requirement.clone()).collect::<Vec<_>>(), reqs);
        assert_eq!(back[0].dist.project_name, "demo");
        let only = read_requirements(&dir.path().join(REQUIREMENTS_FILE), &|_, n| n == Some("pytest")).expect("read");
        assert_eq!((only.len(), only[0].requirement.kind.as_text()), (1, "extra:test".to_string()));
        let names: Vec<String> = requirements_schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, REQUIREMENTS_COLUMNS);
        let json = back[0].to_json();
        let mut want = REQUIREMENTS_COLUMNS.to_vec();
        want.sort_unstable(); // serde_json's map keeps keys sorted
        assert_eq!(json.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default(), want);
        assert_eq!((json["extras"][0].as_str(), json["uploaded_on"].as_str()), (Some("socks"), Some("2023-11-14T22:13:20Z")));
        assert_eq!(back[0].display(), "requests[socks] >=2; python_full_version >= '3.9'");
        assert!(back[2].display().starts_with("not a requirement !!  (does not parse: "));
        for (file, n) in [(ENTRY_POINTS_FILE, 1), (IMPORT_NAMES_FILE, 1)] {
            assert_eq!(rows_in(&read_table(&dir.path().join(file)).expect("read")), n, "{file}");
        }
        // a distribution without rows adds none, and empty tables are still valid files
        let dir2 = tempfile::tempdir().expect("tmp");
        DepsWriter::create(dir2.path()).expect("create").finish().expect("finish");
        assert_eq!(rows_in(&read_table(&dir2.path().join(REQUIREMENTS_FILE)).expect("read")), 0);
    }
}
