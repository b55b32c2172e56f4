//! `files.parquet` and `releases.parquet`: writing at seal time, reading for queries.

use crate::{DistStatus, EntryType, FileRow, Release};
use arrow_array::builder::{ListBuilder, MapBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, FixedSizeBinaryArray, Int32Array, ListArray, MapArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use pycorpus_archive::{DistType, SkipReason};
use pycorpus_deps::{Column, Fields};
use pycorpus_store::Oid;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per row group: filters on the sorted columns skip whole groups. Smaller groups skip
/// more finely but repeat each column's dictionary: 16 Ki rows made corpus-v1's files.parquet
/// 8.5 MB instead of 6.7 MB.
pub(crate) const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The columns of `files.parquet`, in order.
pub const FILES_COLUMNS: [&str; 15] = [
    "project_name",
    "project_version",
    "project_release",
    "uploaded_on",
    "path",
    "archive_path",
    "size",
    "hash",
    "skip_reason",
    "lines",
    "repository",
    "dist_sha256",
    "dist_type",
    "entry_type",
    "link_target",
];

/// Errors reading or writing the index.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// File I/O.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Parquet or Arrow failure (corrupt or foreign file).
    #[error("{}: {what}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

pub(crate) fn fmt_err(path: &Path, e: impl std::fmt::Display) -> CatalogError {
    CatalogError::Format { path: path.to_path_buf(), what: e.to_string() }
}

pub(crate) fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow schema of `files.parquet`.
pub fn files_schema() -> SchemaRef {
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    Arc::new(Schema::new(vec![
        f("project_name", DataType::Utf8, false),
        f("project_version", DataType::Utf8, false),
        f("project_release", DataType::Utf8, false),
        f("uploaded_on", ts(), false),
        f("path", DataType::Utf8, false),
        f("archive_path", DataType::Utf8, false),
        f("size", DataType::UInt64, false),
        f("hash", DataType::FixedSizeBinary(20), false),
        f("skip_reason", DataType::Utf8, true),
        f("lines", DataType::UInt64, true),
        f("repository", DataType::UInt32, false),
        f("dist_sha256", DataType::Utf8, false),
        f("dist_type", DataType::Utf8, false),
        f("entry_type", DataType::Utf8, false),
        f("link_target", DataType::Utf8, true),
    ]))
}

/// Columns of `files.parquet` whose values repeat over long runs: read as Arrow dictionaries,
/// each distinct value decoded once per row group instead of copied into every row.
const FILES_DICTIONARY_COLUMNS: [&str; 7] = ["project_name", "project_version", "project_release", "skip_reason", "dist_sha256", "dist_type", "entry_type"];

/// How `files.parquet` is read: [`files_schema`] with the repeating columns as dictionaries.
pub(crate) fn files_read_options() -> ArrowReaderOptions {
    let fields: Vec<Field> = files_schema()
        .fields()
        .iter()
        .map(|f| match FILES_DICTIONARY_COLUMNS.contains(&f.name().as_str()) {
            true => Field::new(f.name(), DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), f.is_nullable()),
            false => f.as_ref().clone(),
        })
        .collect();
    ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)))
}

fn releases_schema() -> SchemaRef {
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    let mut fields = vec![
        f("project_name", DataType::Utf8, false),
        f("project_version", DataType::Utf8, false),
        f("project_release", DataType::Utf8, false),
        f("dist_type", DataType::Utf8, false),
        f("dist_sha256", DataType::Utf8, false),
        f("dist_size", DataType::UInt64, false),
        f("uploaded_on", ts(), false),
        f("repository", DataType::UInt32, false),
        f("status", DataType::Utf8, false),
        f("error", DataType::Utf8, true),
        f("file_count", DataType::UInt64, false),
        f("metadata_name", DataType::Utf8, true),
        f("metadata_version", DataType::Utf8, true),
        f("summary", DataType::Utf8, true),
        f("license", DataType::Utf8, true),
        f("requires_python", DataType::Utf8, true),
        f("classifiers", list_of_text(), false),
        f("project_urls", urls_type(), false),
        f("yanked", DataType::Boolean, true),
    ];
    fields.extend(Fields::COLUMNS.iter().map(|(name, col)| match col {
        Column::Text(..) => f(name, DataType::Utf8, true),
        Column::List(..) => f(name, list_of_text(), false),
        Column::Flag(..) => f(name, DataType::Boolean, true),
    }));
    Arc::new(Schema::new(fields))
}

fn list_of_text() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// A list column of `lists`.
pub(crate) fn text_lists<'a>(lists: impl Iterator<Item = &'a [String]>) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for list in lists {
        for v in list {
            b.values().append_value(v);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// `project_urls`: a map from label to URL (as `MapBuilder` writes it: `entries` of
/// `key`/`value`, the Parquet spec's names), so `project_urls['Source']` works in DuckDB.
fn urls_type() -> DataType {
    let entries = Field::new("entries", DataType::Struct(vec![Field::new("key", DataType::Utf8, false), Field::new("value", DataType::Utf8, true)].into()), false);
    DataType::Map(Arc::new(entries), false)
}

/// Uncompressed bytes per data page (parquet-rs's default is 1 MiB). A search reads the rows
/// of its candidate blobs through `rows.idx` and the page index, and each row costs the pages
/// that hold it in every column: at 16x (61 shards) the rows of a rare literal's 11 candidates
/// lay in 81 row groups, and decompressing their 1 MiB pages was a third of the search. Smaller
/// pages make `files.parquet` ~14 % larger (corpus-v1: 7.0 to 8.0 MB, 0.5 % of the shard).
pub const PAGE_BYTES: usize = 64 << 10;

/// zstd everywhere; the sorted path columns front-coded (DELTA_BYTE_ARRAY: consecutive rows
/// share `packages/<project>/<release>/...`), which halves them; every reader we support
/// (pyarrow, DuckDB, polars, parquet-rs) decodes it.
pub(crate) fn props(delta_columns: &[&str], group_rows: usize) -> WriterProperties {
    let mut b =
        WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(6).expect("valid level"))).set_max_row_group_row_count(Some(group_rows)).set_data_page_size_limit(PAGE_BYTES);
    for c in delta_columns {
        let col = ColumnPath::from(*c);
        b = b.set_column_dictionary_enabled(col.clone(), false).set_column_encoding(col, Encoding::DELTA_BYTE_ARRAY);
    }
    b.build()
}

pub(crate) fn strs<'a>(it: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(it))
}

pub(crate) fn opt_strs<'a>(it: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(it.collect::<StringArray>())
}

fn write_batches(path: &Path, schema: SchemaRef, props: WriterProperties, n: usize, group_rows: usize, mut batch: impl FnMut(std::ops::Range<usize>) -> Vec<ArrayRef>) -> Result<(), CatalogError> {
    let file = File::create(path).map_err(|e| CatalogError::Io { path: path.to_path_buf(), source: e })?;
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| fmt_err(path, e))?;
    let mut start = 0;
    while start < n || (n == 0 && start == 0) {
        let end = (start + group_rows).min(n);
        let rb = RecordBatch::try_new(schema.clone(), batch(start..end)).map_err(|e| fmt_err(path, e))?;
        w.write(&rb).map_err(|e| fmt_err(path, e))?;
        if n == 0 {
            break;
        }
        start = end;
    }
    let file = w.into_inner().map_err(|e| fmt_err(path, e))?;
    file.sync_all().map_err(|e| CatalogError::Io { path: path.to_path_buf(), source: e })
}

/// Writes `files.parquet` from rows already in their final order.
pub fn write_files(path: &Path, rows: &[FileRow]) -> Result<(), CatalogError> {
    write_files_grouped(path, rows, ROW_GROUP_ROWS)
}

/// [`write_files`] with `group_rows` rows per row group.
pub(crate) fn write_files_grouped(path: &Path, rows: &[FileRow], group_rows: usize) -> Result<(), CatalogError> {
    write_batches(path, files_schema(), props(&["path", "archive_path"], group_rows), rows.len(), group_rows, |r| files_columns(&rows[r]))
}

/// Makes a batch's columns from its rows.
type Columns<R> = Box<dyn Fn(&[R]) -> Vec<ArrayRef> + Send>;

/// A Parquet file written a row group at a time from rows handed over in their final order,
/// so that a writer (seal) never holds a whole shard's rows.
pub(crate) struct TableWriter<R> {
    path: PathBuf,
    schema: SchemaRef,
    columns: Columns<R>,
    w: ArrowWriter<File>,
    rows: Vec<R>,
    group_rows: usize,
    written: bool,
    taken: u64,
}

impl<R> TableWriter<R> {
    /// Rows taken so far.
    pub(crate) fn taken(&self) -> u64 {
        self.taken
    }

    /// Creates the file.
    pub(crate) fn create(path: &Path, schema: SchemaRef, props: WriterProperties, group_rows: usize, columns: impl Fn(&[R]) -> Vec<ArrayRef> + Send + 'static) -> Result<TableWriter<R>, CatalogError> {
        let file = File::create(path).map_err(|e| CatalogError::Io { path: path.to_path_buf(), source: e })?;
        let w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| fmt_err(path, e))?;
        Ok(TableWriter { path: path.to_path_buf(), schema, columns: Box::new(columns), w, rows: Vec::with_capacity(group_rows.min(1 << 16)), group_rows, written: false, taken: 0 })
    }

    /// Takes the next row.
    pub(crate) fn push(&mut self, row: R) -> Result<(), CatalogError> {
        self.taken += 1;
        self.rows.push(row);
        if self.rows.len() == self.group_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), CatalogError> {
        let rb = RecordBatch::try_new(self.schema.clone(), (self.columns)(&self.rows)).map_err(|e| fmt_err(&self.path, e))?;
        self.w.write(&rb).map_err(|e| fmt_err(&self.path, e))?;
        self.rows.clear();
        self.written = true;
        Ok(())
    }

    /// Writes the last rows (an empty file has one empty batch, as [`write_batches`]
    /// writes) and syncs the file.
    pub(crate) fn finish(mut self) -> Result<(), CatalogError> {
        if !self.rows.is_empty() || !self.written {
            self.flush()?;
        }
        let file = self.w.into_inner().map_err(|e| fmt_err(&self.path, e))?;
        file.sync_all().map_err(|e| CatalogError::Io { path: self.path.clone(), source: e })
    }
}

/// `files.parquet` written a row group at a time (see [`TableWriter`]); the same bytes as
/// [`write_files`] of the same rows.
pub struct FilesWriter(TableWriter<FileRow>);

impl FilesWriter {
    /// Creates the file.
    pub fn create(path: &Path) -> Result<FilesWriter, CatalogError> {
        FilesWriter::grouped(path, ROW_GROUP_ROWS)
    }

    fn grouped(path: &Path, group_rows: usize) -> Result<FilesWriter, CatalogError> {
        TableWriter::create(path, files_schema(), props(&["path", "archive_path"], group_rows), group_rows, files_columns).map(FilesWriter)
    }

    /// Takes the next row.
    pub fn push(&mut self, row: FileRow) -> Result<(), CatalogError> {
        self.0.push(row)
    }

    /// Writes the last rows and syncs the file.
    pub fn finish(self) -> Result<(), CatalogError> {
        self.0.finish()
    }
}

/// Rows turned into Arrow batches with `files.parquet`'s schema as they come, a row group's
/// worth each: what a file of them would hold, without the file (the Python module hands them
/// to pyarrow in memory). Only one batch's rows are held as [`FileRow`]s at a time, so a large
/// selection costs its Arrow columns, not also a copy of every row.
#[derive(Default)]
pub struct FilesBatcher {
    rows: Vec<FileRow>,
    done: Vec<RecordBatch>,
}

impl FilesBatcher {
    /// Takes one row (the next in the selection's order).
    pub fn push(&mut self, row: FileRow) {
        self.rows.push(row);
        if self.rows.len() == ROW_GROUP_ROWS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.rows.is_empty() {
            // The columns match the schema by construction.
            let batch = RecordBatch::try_new(files_schema(), files_columns(&self.rows)).expect("columns of files_schema");
            self.done.push(batch);
            self.rows.clear();
        }
    }

    /// The batches of every row taken, as a reader (none when no row was).
    pub fn finish(mut self) -> impl arrow_array::RecordBatchReader + Send + 'static {
        self.flush();
        arrow_array::RecordBatchIterator::new(self.done.into_iter().map(Ok), files_schema())
    }
}

/// The columns of `files.parquet` for `rows`, in its order.
fn files_columns(rows: &[FileRow]) -> Vec<ArrayRef> {
    vec![
        strs(rows.iter().map(|x| x.project_name.as_str())),
        strs(rows.iter().map(|x| x.project_version.as_str())),
        strs(rows.iter().map(|x| x.project_release.as_str())),
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|x| x.uploaded_on)).with_timezone("UTC")),
        strs(rows.iter().map(|x| x.path.as_str())),
        strs(rows.iter().map(|x| x.archive_path.as_str())),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|x| x.size))),
        Arc::new(FixedSizeBinaryArray::try_from_iter(rows.iter().map(|x| x.hash.0)).unwrap_or_else(|_| FixedSizeBinaryArray::new_null(20, 0))),
        opt_strs(rows.iter().map(|x| x.skip_reason.map(SkipReason::as_str))),
        Arc::new(rows.iter().map(|x| x.lines).collect::<UInt64Array>()),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|x| x.repository))),
        strs(rows.iter().map(|x| x.dist_sha256.as_str())),
        strs(rows.iter().map(|x| x.dist_type.as_str())),
        strs(rows.iter().map(|x| x.entry_type.as_str())),
        opt_strs(rows.iter().map(|x| x.link_target.as_deref())),
    ]
}

/// Writes `releases.parquet`.
pub fn write_releases(path: &Path, rels: &[Release]) -> Result<(), CatalogError> {
    write_batches(path, releases_schema(), props(&[], ROW_GROUP_ROWS), rels.len(), ROW_GROUP_ROWS, |r| {
        let rels = &rels[r];
        let mut urls = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for rel in rels {
            for (label, url) in &rel.project_urls {
                urls.keys().append_value(label);
                urls.values().append_value(url);
            }
            urls.append(true).expect("keys and values stay in step");
        }
        let mut cols = vec![
            strs(rels.iter().map(|x| x.project_name.as_str())),
            strs(rels.iter().map(|x| x.project_version.as_str())),
            strs(rels.iter().map(|x| x.project_release.as_str())),
            strs(rels.iter().map(|x| x.dist_type.as_str())),
            strs(rels.iter().map(|x| x.dist_sha256.as_str())),
            Arc::new(UInt64Array::from_iter_values(rels.iter().map(|x| x.dist_size))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(rels.iter().map(|x| x.uploaded_on)).with_timezone("UTC")),
            Arc::new(UInt32Array::from_iter_values(rels.iter().map(|x| x.repository))),
            strs(rels.iter().map(|x| x.status.as_str())),
            opt_strs(rels.iter().map(|x| x.error.as_deref())),
            Arc::new(UInt64Array::from_iter_values(rels.iter().map(|x| x.file_count))),
            opt_strs(rels.iter().map(|x| x.metadata_name.as_deref())),
            opt_strs(rels.iter().map(|x| x.metadata_version.as_deref())),
            opt_strs(rels.iter().map(|x| x.summary.as_deref())),
            opt_strs(rels.iter().map(|x| x.license.as_deref())),
            opt_strs(rels.iter().map(|x| x.requires_python.as_deref())),
            text_lists(rels.iter().map(|x| x.classifiers.as_slice())),
            Arc::new(urls.finish()),
            Arc::new(rels.iter().map(|r| r.yanked).collect::<BooleanArray>()),
        ];
        cols.extend(Fields::COLUMNS.iter().map(|(_, col)| -> ArrayRef {
            match col {
                Column::Text(get, _) => opt_strs(rels.iter().map(|x| get(&x.packaging))),
                Column::List(get, _) => text_lists(rels.iter().map(|x| get(&x.packaging))),
                Column::Flag(get, _) => Arc::new(rels.iter().map(|x| get(&x.packaging)).collect::<BooleanArray>()),
            }
        }));
        cols
    })
}

/// Reads a whole Parquet file as record batches.
pub(crate) fn batches(path: &Path, options: ArrowReaderOptions) -> Result<Vec<RecordBatch>, CatalogError> {
    let file = File::open(path).map_err(|e| CatalogError::Io { path: path.to_path_buf(), source: e })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).and_then(|b| b.with_batch_size(ROW_GROUP_ROWS).build()).map_err(|e| fmt_err(path, e))?;
    reader.map(|b| b.map_err(|e| fmt_err(path, e))).collect()
}

pub(crate) struct Cols<'a> {
    pub(crate) batch: &'a RecordBatch,
    pub(crate) path: &'a Path,
}

impl<'a> Cols<'a> {
    pub(crate) fn get<T: 'static>(&self, name: &str) -> Result<&'a T, CatalogError> {
        self.batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<T>()).ok_or_else(|| fmt_err(self.path, format!("column {name} missing or of the wrong type")))
    }
    pub(crate) fn str(&self, name: &str) -> Result<StrCol<'a>, CatalogError> {
        let col = self.batch.column_by_name(name).ok_or_else(|| fmt_err(self.path, format!("column {name} missing")))?;
        if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
            return Ok(StrCol::Plain(a));
        }
        let dict = col.as_any().downcast_ref::<DictionaryArray<Int32Type>>();
        match dict.and_then(|d| Some((d.keys(), d.values().as_any().downcast_ref::<StringArray>()?))) {
            Some((keys, values)) => Ok(StrCol::Dict { keys, values }),
            None => Err(fmt_err(self.path, format!("column {name} is not text"))),
        }
    }
}

/// A text column, plain or dictionary-encoded.
#[derive(Clone, Copy)]
pub(crate) enum StrCol<'a> {
    /// One value per row.
    Plain(&'a StringArray),
    /// Keys into distinct values.
    Dict { keys: &'a Int32Array, values: &'a StringArray },
}

impl<'a> StrCol<'a> {
    /// Row `i`'s value ("" when null).
    pub(crate) fn value(&self, i: usize) -> &'a str {
        match self {
            StrCol::Plain(a) => a.value(i),
            StrCol::Dict { keys, values } => values.value(keys.value(i) as usize),
        }
    }

    /// False when row `i` is null.
    pub(crate) fn is_valid(&self, i: usize) -> bool {
        match self {
            StrCol::Plain(a) => a.is_valid(i),
            StrCol::Dict { keys, .. } => keys.is_valid(i),
        }
    }

    /// Row `i`'s dictionary key: rows of one batch with the same key hold the same value.
    pub(crate) fn key(&self, i: usize) -> Option<i32> {
        match self {
            StrCol::Plain(_) => None,
            StrCol::Dict { keys, .. } => keys.is_valid(i).then(|| keys.value(i)),
        }
    }
}

pub(crate) fn opt(a: StrCol<'_>, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_string())
}

fn bad(path: &Path, what: &str, v: &str) -> CatalogError {
    fmt_err(path, format!("unknown {what} {v:?}"))
}

/// The columns of a `files.parquet` batch.
pub(crate) struct FileCols<'a> {
    pub(crate) project: StrCol<'a>,
    pub(crate) version: StrCol<'a>,
    pub(crate) release: StrCol<'a>,
    pub(crate) uploaded: &'a TimestampMicrosecondArray,
    pub(crate) path: StrCol<'a>,
    pub(crate) archive_path: StrCol<'a>,
    pub(crate) size: &'a UInt64Array,
    pub(crate) hash: &'a FixedSizeBinaryArray,
    pub(crate) skip: StrCol<'a>,
    lines: &'a UInt64Array,
    repo: &'a UInt32Array,
    sha: StrCol<'a>,
    pub(crate) dist_type: StrCol<'a>,
    entry_type: StrCol<'a>,
    link_target: StrCol<'a>,
}

impl<'a> FileCols<'a> {
    pub(crate) fn new(batch: &'a RecordBatch, path: &'a Path) -> Result<FileCols<'a>, CatalogError> {
        let c = Cols { batch, path };
        Ok(FileCols {
            project: c.str("project_name")?,
            version: c.str("project_version")?,
            release: c.str("project_release")?,
            uploaded: c.get::<TimestampMicrosecondArray>("uploaded_on")?,
            path: c.str("path")?,
            archive_path: c.str("archive_path")?,
            size: c.get::<UInt64Array>("size")?,
            hash: c.get::<FixedSizeBinaryArray>("hash")?,
            skip: c.str("skip_reason")?,
            lines: c.get::<UInt64Array>("lines")?,
            repo: c.get::<UInt32Array>("repository")?,
            sha: c.str("dist_sha256")?,
            dist_type: c.str("dist_type")?,
            entry_type: c.str("entry_type")?,
            link_target: c.str("link_target")?,
        })
    }
}

/// Builds row `i` of a batch.
pub(crate) fn row_at(c: &FileCols, i: usize, path: &Path) -> Result<FileRow, CatalogError> {
    Ok(FileRow {
        project_name: c.project.value(i).to_string(),
        project_version: c.version.value(i).to_string(),
        project_release: c.release.value(i).to_string(),
        uploaded_on: c.uploaded.value(i),
        path: c.path.value(i).to_string(),
        archive_path: c.archive_path.value(i).to_string(),
        size: c.size.value(i),
        hash: Oid::from_slice(c.hash.value(i)).ok_or_else(|| fmt_err(path, "hash is not 20 bytes"))?,
        skip_reason: match c.skip.is_valid(i) {
            true => Some(SkipReason::parse(c.skip.value(i)).ok_or_else(|| bad(path, "skip reason", c.skip.value(i)))?),
            false => None,
        },
        lines: c.lines.is_valid(i).then(|| c.lines.value(i)),
        repository: c.repo.value(i),
        dist_sha256: c.sha.value(i).to_string(),
        dist_type: DistType::parse(c.dist_type.value(i)).ok_or_else(|| bad(path, "distribution type", c.dist_type.value(i)))?,
        entry_type: EntryType::parse(c.entry_type.value(i)).ok_or_else(|| bad(path, "entry type", c.entry_type.value(i)))?,
        link_target: opt(c.link_target, i),
    })
}

/// Reads every row of a `files.parquet`.
pub fn read_files(path: &Path) -> Result<Vec<FileRow>, CatalogError> {
    let mut out = Vec::new();
    for batch in batches(path, files_read_options())? {
        let c = FileCols::new(&batch, path)?;
        for i in 0..batch.num_rows() {
            out.push(row_at(&c, i, path)?);
        }
    }
    Ok(out)
}

/// Reads every row of a `releases.parquet`.
pub fn read_releases(path: &Path) -> Result<Vec<Release>, CatalogError> {
    let mut out = Vec::new();
    for batch in batches(path, ArrowReaderOptions::new())? {
        let c = Cols { batch: &batch, path };
        let (pn, pv, pr, dt, sha) = (c.str("project_name")?, c.str("project_version")?, c.str("project_release")?, c.str("dist_type")?, c.str("dist_sha256")?);
        let (size, up, repo, status, err) =
            (c.get::<UInt64Array>("dist_size")?, c.get::<TimestampMicrosecondArray>("uploaded_on")?, c.get::<UInt32Array>("repository")?, c.str("status")?, c.str("error")?);
        let (fc, mn, mv, sum, lic, rp) = (c.get::<UInt64Array>("file_count")?, c.str("metadata_name")?, c.str("metadata_version")?, c.str("summary")?, c.str("license")?, c.str("requires_python")?);
        let cls = c.batch.column_by_name("classifiers").map(|a| a.as_ref()).ok_or_else(|| fmt_err(path, "column classifiers missing"))?;
        let yanked = c.get::<BooleanArray>("yanked")?;
        let urls = c.get::<MapArray>("project_urls")?;
        let (url_keys, url_values) = (
            urls.keys().as_any().downcast_ref::<StringArray>().ok_or_else(|| fmt_err(path, "project_urls keys are not strings"))?,
            urls.values().as_any().downcast_ref::<StringArray>().ok_or_else(|| fmt_err(path, "project_urls values are not strings"))?,
        );
        let offsets = urls.value_offsets();
        // shards sealed before a column was written lack it: left at its default
        let packaging: Vec<(&Column, &dyn Array)> = Fields::COLUMNS.iter().filter_map(|(name, col)| Some((col, batch.column_by_name(name)?.as_ref()))).collect();
        for i in 0..batch.num_rows() {
            out.push(Release {
                project_name: pn.value(i).to_string(),
                project_version: pv.value(i).to_string(),
                project_release: pr.value(i).to_string(),
                dist_type: DistType::parse(dt.value(i)).ok_or_else(|| bad(path, "distribution type", dt.value(i)))?,
                dist_sha256: sha.value(i).to_string(),
                dist_size: size.value(i),
                uploaded_on: up.value(i),
                repository: repo.value(i),
                status: if status.value(i) == "ok" { DistStatus::Ok } else { DistStatus::Failed },
                error: opt(err, i),
                file_count: fc.value(i),
                metadata_name: opt(mn, i),
                metadata_version: opt(mv, i),
                summary: opt(sum, i),
                license: opt(lic, i),
                requires_python: opt(rp, i),
                classifiers: text_list(cls, i).ok_or_else(|| fmt_err(path, "classifiers are not a list of text"))?,
                project_urls: (offsets[i] as usize..offsets[i + 1] as usize).map(|j| (url_keys.value(j).to_string(), url_values.value(j).to_string())).collect(),
                yanked: yanked.is_valid(i).then(|| yanked.value(i)),
                packaging: read_fields(&packaging, i, path)?,
            });
        }
    }
    Ok(out)
}

/// Row `i`'s [`Fields`] from the columns a file has.
fn read_fields(cols: &[(&Column, &dyn Array)], i: usize, path: &Path) -> Result<Fields, CatalogError> {
    let mut f = Fields::default();
    let wrong = || fmt_err(path, "a packaging column of the wrong type");
    for (col, a) in cols {
        if !a.is_valid(i) {
            continue;
        }
        match col {
            Column::Text(_, set) => set(&mut f, a.as_any().downcast_ref::<StringArray>().ok_or_else(wrong)?.value(i).to_string()),
            Column::Flag(_, set) => set(&mut f, a.as_any().downcast_ref::<BooleanArray>().ok_or_else(wrong)?.value(i)),
            Column::List(_, set) => set(&mut f, text_list(*a, i).ok_or_else(wrong)?),
        }
    }
    Ok(f)
}

/// Row `i` of a list-of-text column.
pub(crate) fn text_list(a: &dyn Array, i: usize) -> Option<Vec<String>> {
    let list = a.as_any().downcast_ref::<ListArray>()?.value(i);
    let values = list.as_any().downcast_ref::<StringArray>()?;
    Some((0..values.len()).map(|j| values.value(j).to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::RecordBatchReader;

    #[test]
    fn files_batcher_gives_row_groups_of_what_the_file_holds() {
        let rel = crate::test_release("p", 1_700_000_000_000_000);
        let rows: Vec<FileRow> = (0..ROW_GROUP_ROWS as u32 + 1)
            .map(|i| {
                let e = crate::test_entry(format!("p-1.0/m{i:06}.py"), i, u64::from(i));
                FileRow::new(&rel, &e)
            })
            .collect();
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("files.parquet");
        write_files(&path, &rows).expect("write");
        let mut batcher = FilesBatcher::default();
        for r in rows {
            batcher.push(r);
        }
        let reader = batcher.finish();
        assert_eq!(reader.schema(), files_schema());
        let got: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
        assert_eq!(got.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [ROW_GROUP_ROWS, 1]);
        let file = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).expect("open")).expect("footer").with_batch_size(ROW_GROUP_ROWS).build().expect("reader");
        let on_disk: Vec<RecordBatch> = file.collect::<Result<_, _>>().expect("read");
        assert_eq!(got.len(), on_disk.len());
        for (a, b) in got.iter().zip(&on_disk) {
            assert_eq!(a.num_rows(), b.num_rows());
            for (x, y) in a.columns().iter().zip(b.columns()) {
                assert_eq!(x.to_data(), y.to_data());
            }
        }
    }

    #[test]
    fn files_writer_writes_the_bytes_write_files_does() {
        let rel = crate::test_release("p", 1_700_000_000_000_000);
        let rows = |n: u32| -> Vec<FileRow> {
            (0..n)
                .map(|i| {
                    let e = crate::test_entry(format!("p-1.0/m{i:06}.py"), i, u64::from(i));
                    FileRow::new(&rel, &e)
                })
                .collect()
        };
        let dir = tempfile::tempdir().expect("tmp");
        for n in [0, 1, 999, 1000, 2500] {
            let (a, b) = (dir.path().join(format!("a{n}.parquet")), dir.path().join(format!("b{n}.parquet")));
            write_files_grouped(&a, &rows(n), 1000).expect("write");
            let mut w = FilesWriter::grouped(&b, 1000).expect("create");
            for r in rows(n) {
                w.push(r).expect("push");
            }
            w.finish().expect("finish");
            assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"), "{n} rows");
            assert_eq!(read_files(&b).expect("read").len(), n as usize);
        }
    }
}
