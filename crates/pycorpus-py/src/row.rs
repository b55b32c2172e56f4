//! `Row`: a row of the index as `iter_files` hands it out, a read-only mapping with the keys
//! and values of `files()`'s columns. Its values become Python objects when they are read, not
//! when the row is made: building fifteen of them per row (as a dict) cost more of `iter_files`
//! than anything else on Python's side (bench/iter_files.py, BENCHMARKS.md).

use pycorpus_catalog::{FileRow, RowValue};
use pyo3::exceptions::{PyAttributeError, PyKeyError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyMapping, PyString, PyTuple};
use std::sync::Arc;

/// The keys, in `files.parquet`'s column order.
const KEYS: [&str; 15] = pycorpus_catalog::FILES_COLUMNS;

/// One stored file's row of the index: `row["path"]` or `row.path`, `dict(row)`, `row.get(k)`,
/// `keys()`, `values()`, `items()`, `len()`, `in`, iteration over the keys, `==` with a dict.
/// Times are RFC 3339 text, the blob id 40 hex digits, a missing value None.
#[pyclass(module = "pycorpus._native", frozen, mapping)]
pub(crate) struct Row(pub(crate) Arc<FileRow>);

impl Row {
    /// Where `key` is in [`KEYS`], if it is a key.
    fn index(key: &Bound<'_, PyAny>) -> Option<usize> {
        let key = key.cast::<PyString>().ok()?.to_cow().ok()?;
        KEYS.iter().position(|k| *k == key)
    }

    /// The value of key number `i` of [`KEYS`].
    fn value<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self.0.value(i) {
            Some(RowValue::Text(s)) => PyString::new(py, &s).into_any(),
            Some(RowValue::Number(n)) => n.into_pyobject(py)?.into_any(),
            _ => py.None().into_bound(py),
        })
    }

    /// The keys as one tuple of Python strings, made once.
    fn keys_tuple(py: Python<'_>) -> &Bound<'_, PyTuple> {
        static KEYS_TUPLE: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();
        KEYS_TUPLE.get_or_init(py, || PyTuple::new(py, KEYS).expect("a tuple of strings").unbind()).bind(py)
    }

    /// The row as a dict, keys in column order.
    pub(crate) fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (i, k) in Row::keys_tuple(py).iter().enumerate() {
            d.set_item(k, self.value(py, i)?)?;
        }
        Ok(d)
    }
}

#[pymethods]
impl Row {
    /// Rows compare by value, so they are not hashable (as dicts are not).
    #[classattr]
    const __hash__: Option<Py<PyAny>> = None;

    fn __getitem__<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        match Row::index(key) {
            Some(i) => self.value(py, i),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __len__(&self) -> usize {
        KEYS.len()
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        Row::index(key).is_some()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(Row::keys_tuple(py).try_iter()?.into_any())
    }

    #[pyo3(signature = (key, default=None))]
    fn get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>, default: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        match Row::index(key) {
            Some(i) => self.value(py, i),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, Row::keys_tuple(py))
    }

    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, (0..KEYS.len()).map(|i| self.value(py, i)).collect::<PyResult<Vec<_>>>()?)
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let keys = Row::keys_tuple(py);
        PyList::new(py, keys.iter().enumerate().map(|(i, k)| PyTuple::new(py, [k, self.value(py, i)?])).collect::<PyResult<Vec<_>>>()?)
    }

    /// Equal to another row with the same values, or to any mapping equal to `dict(row)`.
    fn __eq__<'py>(&self, py: Python<'py>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(o) = other.cast::<Row>() {
            return Ok(pyo3::types::PyBool::new(py, *self.0 == *o.get().0).to_owned().into_any());
        }
        if other.cast::<PyMapping>().is_err() {
            return Ok(py.NotImplemented().into_bound(py));
        }
        let theirs = py.get_type::<PyDict>().call1((other,))?;
        Ok(pyo3::types::PyBool::new(py, self.to_dict(py)?.eq(theirs)?).to_owned().into_any())
    }

    /// `row.path`: the keys as attributes too (called only when no method has the name).
    fn __getattr__<'py>(&self, py: Python<'py>, name: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
        match Row::index(name.as_any()) {
            Some(i) => self.value(py, i),
            None => Err(PyAttributeError::new_err(format!("'Row' object has no attribute {}", name.repr()?))),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Row({})", self.to_dict(py)?.repr()?))
    }

    /// Pickled (to another process: Ray, multiprocessing) as the dict.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyDict>,))> {
        Ok((py.get_type::<PyDict>().into_any(), (self.to_dict(py)?,)))
    }
}
