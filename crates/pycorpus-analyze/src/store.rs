//! Facts on disk: `<corpus>/analysis/facts-NNNNNN.parquet`, one row per blob, keyed by its
//! id. Each part is written whole to a temporary name, synced and renamed, so a crash loses at
//! most the part being written; a later run reads the ids of every part and analyses only
//! blobs that none holds (for the current [`ANALYZER_VERSION`]).

use crate::{Counts, Facts, Status};
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use pycorpus_spill::KeySet;
use pycorpus_store::Oid;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bumped whenever a change (of the parser or of the counts) makes older facts stale: rows of
/// another version are analysed again.
pub const ANALYZER_VERSION: u32 = 2;

/// Errors reading or writing facts: those of the index, whose files these are like.
pub use pycorpus_catalog::CatalogError as StoreError;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// A format error of the facts file at `path`.
pub fn fmt(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Format { path: path.to_path_buf(), what: e.to_string() }
}

/// The names of the count columns, in [`Counts`]' order of fields.
pub fn count_names() -> Vec<String> {
    match serde_json::to_value(Counts::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

fn schema() -> Arc<Schema> {
    let mut fields = vec![
        Field::new("oid", DataType::FixedSizeBinary(20), false),
        Field::new("analyzer_version", DataType::UInt32, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("min_version", DataType::Utf8, true),
        Field::new("lines", DataType::UInt64, false),
        Field::new("code_lines", DataType::UInt64, false),
    ];
    fields.extend(count_names().into_iter().map(|n| Field::new(n, DataType::UInt32, false)));
    fields.push(Field::new("imports", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false));
    Arc::new(Schema::new(fields))
}

/// The fact parts in `dir`, in order (none when it does not exist).
pub fn parts(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(dir)(e)),
    };
    for e in entries {
        let p = e.map_err(io(dir))?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("facts-") && name.ends_with(".parquet") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Adds to `known` the ids of the blobs analysed already (by this analyzer version).
pub fn known_oids(dir: &Path, known: &mut KeySet<20>) -> Result<(), StoreError> {
    for part in parts(dir)? {
        let file = File::open(&part).map_err(io(&part))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fmt(&part, e))?;
        let mask = ProjectionMask::columns(b.parquet_schema(), ["oid", "analyzer_version"]);
        for batch in b.with_projection(mask).build().map_err(|e| fmt(&part, e))? {
            let batch = batch.map_err(|e| fmt(&part, e))?;
            let (oids, versions) = (col::<FixedSizeBinaryArray>(&batch, "oid", &part)?, col::<UInt32Array>(&batch, "analyzer_version", &part)?);
            for i in 0..batch.num_rows() {
                if versions.value(i) == ANALYZER_VERSION {
                    let oid = Oid::from_slice(oids.value(i)).ok_or_else(|| fmt(&part, "oid is not 20 bytes"))?;
                    known.insert(oid.0).map_err(|e| StoreError::Io { path: known.spill_dir().to_path_buf(), source: e })?;
                }
            }
        }
    }
    Ok(())
}

/// Column `name` of `batch` as an array of type `T` (a format error when missing or of another type).
pub fn col<'a, T: 'static>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a T, StoreError> {
    batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<T>()).ok_or_else(|| fmt(path, format!("column {name} missing or of the wrong type")))
}

/// Writes `rows` as a new part in `dir`; returns its path.
pub fn write_part(dir: &Path, rows: &[(Oid, Facts)]) -> Result<PathBuf, StoreError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let next = parts(dir)?.iter().filter_map(|p| p.file_stem()?.to_str()?.strip_prefix("facts-")?.parse::<u64>().ok()).max().map_or(1, |n| n + 1);
    let path = dir.join(format!("facts-{next:06}.parquet"));
    let tmp = dir.join(format!(".facts-{next:06}.parquet.tmp"));
    let schema = schema();
    let counts: Vec<serde_json::Map<String, serde_json::Value>> = rows
        .iter()
        .map(|(_, f)| match serde_json::to_value(&f.counts) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        })
        .collect();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(FixedSizeBinaryArray::try_from_iter(rows.iter().map(|(o, _)| o.0)).map_err(|e| fmt(&path, e))?),
        Arc::new(UInt32Array::from(vec![ANALYZER_VERSION; rows.len()])),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, f)| f.status.as_str()))),
        Arc::new(rows.iter().map(|(_, f)| f.error.as_deref()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|(_, f)| f.min_version.as_deref()).collect::<StringArray>()),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|(_, f)| f.lines))),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|(_, f)| f.code_lines))),
    ];
    for name in count_names() {
        columns.push(Arc::new(UInt32Array::from_iter_values(counts.iter().map(|m| m.get(&name).and_then(|v| v.as_u64()).unwrap_or(0) as u32))));
    }
    let mut imports = ListBuilder::new(StringBuilder::new());
    for (_, f) in rows {
        for m in &f.imports {
            imports.values().append_value(m);
        }
        imports.append(true);
    }
    columns.push(Arc::new(imports.finish()));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| fmt(&path, e))?;
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| fmt(&path, e))?)).build();
    let file = File::create(&tmp).map_err(io(&tmp))?;
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| fmt(&tmp, e))?;
    w.write(&batch).map_err(|e| fmt(&tmp, e))?;
    let file = w.into_inner().map_err(|e| fmt(&tmp, e))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

/// Every stored fact of this analyzer version, part by part.
pub fn read_facts(dir: &Path) -> Result<Vec<(Oid, Facts)>, StoreError> {
    let mut out = Vec::new();
    let names = count_names();
    for part in parts(dir)? {
        let file = File::open(&part).map_err(io(&part))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).and_then(|b| b.build()).map_err(|e| fmt(&part, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| fmt(&part, e))?;
            let oids = col::<FixedSizeBinaryArray>(&batch, "oid", &part)?;
            let versions = col::<UInt32Array>(&batch, "analyzer_version", &part)?;
            let status = col::<StringArray>(&batch, "status", &part)?;
            let error = col::<StringArray>(&batch, "error", &part)?;
            let minv = col::<StringArray>(&batch, "min_version", &part)?;
            let lines = col::<UInt64Array>(&batch, "lines", &part)?;
            let code = col::<UInt64Array>(&batch, "code_lines", &part)?;
            let imports = col::<ListArray>(&batch, "imports", &part)?;
            let count_cols: Vec<&UInt32Array> = names.iter().map(|n| col::<UInt32Array>(&batch, n, &part)).collect::<Result<_, _>>()?;
            for i in 0..batch.num_rows() {
                if versions.value(i) != ANALYZER_VERSION {
                    continue;
                }
                let mut m = serde_json::Map::new();
                for (n, c) in names.iter().zip(&count_cols) {
                    m.insert(n.clone(), c.value(i).into());
                }
                let counts: Counts = serde_json::from_value(m.into()).map_err(|e| fmt(&part, e))?;
                let list = imports.value(i);
                let list = list.as_any().downcast_ref::<StringArray>().ok_or_else(|| fmt(&part, "imports are not text"))?;
                out.push((
                    Oid::from_slice(oids.value(i)).ok_or_else(|| fmt(&part, "oid is not 20 bytes"))?,
                    Facts {
                        status: Status::parse(status.value(i)).ok_or_else(|| fmt(&part, format!("unknown status {:?}", status.value(i))))?,
                        error: error.is_valid(i).then(|| error.value(i).to_string()),
                        min_version: minv.is_valid(i).then(|| minv.value(i).to_string()),
                        lines: lines.value(i),
                        code_lines: code.value(i),
                        counts,
                        imports: list.iter().flatten().map(str::to_string).collect(),
                    },
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_and_known_ids() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = (Oid::for_blob(b"a"), crate::analyze_source(b"import os\nprint(f'{1}')\n", &crate::Limits::default()));
        let b = (Oid::for_blob(b"b"), crate::analyze_source(b"print 'x'\n", &crate::Limits::default()));
        write_part(dir.path(), std::slice::from_ref(&a)).expect("write");
        write_part(dir.path(), std::slice::from_ref(&b)).expect("write");
        assert_eq!(parts(dir.path()).expect("parts").len(), 2);
        let known_in = |budget| {
            let mut k = KeySet::<20>::new(&dir.path().join("tmp"), budget);
            known_oids(dir.path(), &mut k).expect("known");
            k
        };
        for budget in [1 << 20, 0] {
            let known = known_in(budget);
            assert!(known.contains(&a.0.0).unwrap() && known.contains(&b.0.0).unwrap() && known.len() == 2);
        }
        let mut back = read_facts(dir.path()).expect("read");
        back.sort_by_key(|x| x.0);
        let mut want = vec![a, b];
        want.sort_by_key(|x| x.0);
        assert_eq!(back, want);
        // a leftover temporary part (a crash mid-write) is ignored
        std::fs::write(dir.path().join(".facts-000003.parquet.tmp"), b"half").expect("write");
        assert_eq!(known_in(1 << 20).len(), 2);
    }
}
