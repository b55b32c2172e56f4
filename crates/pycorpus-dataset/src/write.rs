//! Output files: chunked gzip JSON lines or Parquet in CodeSearchNet's layout, written
//! byte-identically for the same records (no timestamps, fixed order, fixed compression).

use crate::DatasetError;
use crate::record::{Record, RecordView};
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use flate2::{Compression, GzBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File format of the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Format {
    /// `*.jsonl.gz`, CodeSearchNet's.
    #[serde(rename = "jsonl.gz")]
    JsonlGz,
    /// `*.parquet` (zstd).
    #[serde(rename = "parquet")]
    Parquet,
}

impl Format {
    /// Folder name under `python/final/`.
    pub fn dir(self) -> &'static str {
        match self {
            Format::JsonlGz => "jsonl",
            Format::Parquet => "parquet",
        }
    }

    /// File name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Format::JsonlGz => "jsonl.gz",
            Format::Parquet => "parquet",
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Write { path: path.to_path_buf(), source }
}

fn other(path: &Path, e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Write { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) }
}

/// Records per Parquet row group (and per Arrow batch built): bounds what a chunk holds in
/// memory while it is written, whatever the chunk's size.
const PARQUET_BATCH: usize = 2048;

/// Writes one chunk file record by record, holding at most [`PARQUET_BATCH`] records.
pub struct ChunkWriter {
    path: PathBuf,
    inner: Inner,
    records: u64,
}

enum Inner {
    Jsonl(Box<std::io::BufWriter<flate2::write::GzEncoder<std::fs::File>>>),
    Parquet(Box<ArrowWriter<std::fs::File>>, Vec<Record>),
}

impl ChunkWriter {
    /// Starts chunk `index` of `split` in `dir`.
    pub fn create(dir: &Path, split: &str, index: usize, format: Format) -> Result<ChunkWriter, DatasetError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(format!("python_{split}_{index}.{}", format.suffix()));
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        let inner = match format {
            // Buffered: the compressor does work per write call (serde_json writes token by token).
            Format::JsonlGz => Inner::Jsonl(Box::new(std::io::BufWriter::with_capacity(1 << 20, GzBuilder::new().mtime(0).write(file, Compression::new(6))))),
            Format::Parquet => {
                let props =
                    WriterProperties::builder().set_compression(PqCompression::ZSTD(ZstdLevel::try_new(3).map_err(|e| other(&path, e))?)).set_max_row_group_row_count(Some(PARQUET_BATCH)).build();
                Inner::Parquet(Box::new(ArrowWriter::try_new(file, schema(), Some(props)).map_err(|e| other(&path, e))?), Vec::new())
            }
        };
        Ok(ChunkWriter { path, inner, records: 0 })
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Adds a record.
    pub fn push(&mut self, r: Record) -> Result<(), DatasetError> {
        self.records += 1;
        match &mut self.inner {
            Inner::Jsonl(w) => {
                serde_json::to_writer(&mut **w, &r.view()).map_err(|e| other(&self.path, e))?;
                w.write_all(b"\n").map_err(io(&self.path))
            }
            Inner::Parquet(w, batch) => {
                batch.push(r);
                if batch.len() >= PARQUET_BATCH {
                    w.write(&record_batch(batch, &self.path)?).map_err(|e| other(&self.path, e))?;
                    batch.clear();
                }
                Ok(())
            }
        }
    }

    /// Completes the file; returns its path.
    pub fn finish(self) -> Result<PathBuf, DatasetError> {
        let path = self.path;
        match self.inner {
            Inner::Jsonl(w) => {
                w.into_inner().map_err(|e| other(&path, e.error()))?.finish().map_err(io(&path))?;
            }
            Inner::Parquet(mut w, batch) => {
                if !batch.is_empty() {
                    w.write(&record_batch(&batch, &path)?).map_err(|e| other(&path, e))?;
                }
                w.close().map_err(|e| other(&path, e))?;
            }
        }
        Ok(path)
    }
}

fn strings<'a>(views: &'a [RecordView<'a>], f: impl Fn(&'a RecordView<'a>) -> Option<&'a str>) -> ArrayRef {
    Arc::new(views.iter().map(f).collect::<StringArray>())
}

fn lists<'a>(views: &'a [RecordView<'a>], f: impl Fn(&'a RecordView<'a>) -> &'a [&'a str]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for v in views {
        for t in f(v) {
            b.values().append_value(t);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

fn schema() -> Arc<Schema> {
    let list = || DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let text = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        text("repo", false),
        text("path", false),
        text("func_name", false),
        text("original_string", false),
        text("language", false),
        text("code", false),
        Field::new("code_tokens", list(), false),
        text("docstring", false),
        Field::new("docstring_tokens", list(), false),
        text("sha", false),
        text("url", false),
        text("partition", false),
        Field::new("code_tokens_ast", list(), false),
        text("code_with_docstrings", false),
        text("summary", false),
        text("project_version", false),
        text("uploaded_on", false),
        text("license", true),
        text("distribution", false),
        Field::new("start_line", DataType::UInt32, false),
        Field::new("end_line", DataType::UInt32, false),
    ]))
}

fn record_batch(records: &[Record], path: &Path) -> Result<RecordBatch, DatasetError> {
    let views: Vec<RecordView<'_>> = records.iter().map(Record::view).collect();
    let records = &views[..];
    let columns: Vec<ArrayRef> = vec![
        strings(records, |r| Some(r.repo)),
        strings(records, |r| Some(r.path)),
        strings(records, |r| Some(r.func_name)),
        strings(records, |r| Some(r.original_string)),
        strings(records, |r| Some(r.language)),
        strings(records, |r| Some(r.code)),
        lists(records, |r| &r.code_tokens),
        strings(records, |r| Some(r.docstring)),
        lists(records, |r| &r.docstring_tokens),
        strings(records, |r| Some(r.sha)),
        strings(records, |r| Some(r.url)),
        strings(records, |r| Some(r.partition)),
        lists(records, |r| &r.code_tokens_ast),
        strings(records, |r| Some(r.code_with_docstrings)),
        strings(records, |r| Some(r.summary)),
        strings(records, |r| Some(r.project_version)),
        strings(records, |r| Some(r.uploaded_on)),
        strings(records, |r| r.license),
        strings(records, |r| Some(r.distribution)),
        Arc::new(UInt32Array::from_iter_values(records.iter().map(|r| r.start_line))),
        Arc::new(UInt32Array::from_iter_values(records.iter().map(|r| r.end_line))),
    ];
    RecordBatch::try_new(schema(), columns).map_err(|e| other(path, e))
}
