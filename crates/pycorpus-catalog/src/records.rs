//! Tables of records that commands make (findings, matches): a fixed list of typed columns,
//! as an Arrow batch (for the Python module) or a Parquet file written a row group at a time.

use crate::parquet_io::{CatalogError, ROW_GROUP_ROWS, TableWriter, props};
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use std::path::Path;
use std::sync::Arc;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// Text.
    Text,
    /// A whole number.
    UInt,
    /// True or false.
    Bool,
}

/// One value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A whole number.
    UInt(u64),
    /// True or false.
    Bool(bool),
}

/// The columns of a record table: names and kinds, in order.
pub type RecordColumns = &'static [(&'static str, CellKind)];

fn schema(cols: RecordColumns) -> SchemaRef {
    let t = |k: CellKind| match k {
        CellKind::Text => DataType::Utf8,
        CellKind::UInt => DataType::UInt64,
        CellKind::Bool => DataType::Boolean,
    };
    Arc::new(Schema::new(cols.iter().map(|(n, k)| Field::new(*n, t(*k), false)).collect::<Vec<_>>()))
}

fn arrays(cols: RecordColumns, rows: &[Vec<Cell>]) -> Vec<ArrayRef> {
    cols.iter()
        .enumerate()
        .map(|(i, (_, kind))| -> ArrayRef {
            let cell = |r: &Vec<Cell>| r.get(i).cloned();
            match kind {
                CellKind::Text => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| match cell(r) {
                    Some(Cell::Text(s)) => s,
                    _ => String::new(),
                }))),
                CellKind::UInt => Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| match cell(r) {
                    Some(Cell::UInt(n)) => n,
                    _ => 0,
                }))),
                CellKind::Bool => Arc::new(rows.iter().map(|r| Some(matches!(cell(r), Some(Cell::Bool(true))))).collect::<BooleanArray>()),
            }
        })
        .collect()
}

/// `rows` as one batch with `cols`' schema (a cell of the wrong kind reads as empty, 0 or false).
pub fn records_batch(cols: RecordColumns, rows: &[Vec<Cell>]) -> RecordBatch {
    // the arrays follow the schema by construction
    RecordBatch::try_new(schema(cols), arrays(cols, rows)).expect("arrays of the schema")
}

/// A Parquet file of records, written a row group at a time.
pub struct RecordWriter(TableWriter<Vec<Cell>>);

impl RecordWriter {
    /// Creates the file.
    pub fn create(path: &Path, cols: RecordColumns) -> Result<RecordWriter, CatalogError> {
        TableWriter::create(path, schema(cols), props(&[], ROW_GROUP_ROWS), ROW_GROUP_ROWS, move |rows: &[Vec<Cell>]| arrays(cols, rows)).map(RecordWriter)
    }

    /// Takes a row.
    pub fn push(&mut self, row: Vec<Cell>) -> Result<(), CatalogError> {
        self.0.push(row)
    }

    /// Writes the last rows and syncs the file.
    pub fn finish(self) -> Result<(), CatalogError> {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_parquet() {
        const COLS: RecordColumns = &[("name", CellKind::Text), ("line", CellKind::UInt), ("flag", CellKind::Bool)];
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("r.parquet");
        let mut w = RecordWriter::create(&path, COLS).expect("create");
        w.push(vec![Cell::Text("a".into()), Cell::UInt(3), Cell::Bool(true)]).expect("push");
        w.finish().expect("finish");
        let batches = crate::read_table(&path).expect("read");
        assert_eq!(batches[0], records_batch(COLS, &[vec![Cell::Text("a".into()), Cell::UInt(3), Cell::Bool(true)]]));
    }
}
