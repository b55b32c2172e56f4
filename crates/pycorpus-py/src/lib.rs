//! `pycorpus._native`: the library crates under Python. The pure-Python package `pycorpus`
//! wraps it (pyarrow tables, pathlib paths, keyword filters); this file only converts and
//! calls. Every long call runs on a worker thread with the GIL released while the calling
//! thread watches for Ctrl-C (`KeyboardInterrupt` stops the work at its next checkpoint).

mod progress;
mod row;
mod share;

use arrow_array::builder::{StringBuilder, StringDictionaryBuilder, UInt64Builder};
use arrow_array::types::{Int8Type, Int32Type};
use crossbeam_channel::RecvTimeoutError;
use progress::{Mode, Progress};
use pycorpus_catalog::{FileRow, FilterSpec};
use pycorpus_core::error_chain;
use pycorpus_core::{Access, Corpus, Ctx};
use pycorpus_store::Oid;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyError, PyStopIteration, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use row::Row;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// mimalloc for the module's own allocations, with the policy of pycorpus-alloc (why there).
#[global_allocator]
static GLOBAL: pycorpus_alloc::Allocator = pycorpus_alloc::Allocator;

create_exception!(_native, PycorpusError, PyException, "A pycorpus operation failed; the message says what and why.");

/// An error with its causes and what to do about it in Python's terms (the libraries'
/// messages name no command or flag).
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let hint = std::iter::successors(Some(e), |e| e.source()).find_map(hint);
    format!("{}{}", error_chain(e), hint.unwrap_or(""))
}

/// What to do about one error of a cause chain, if the Python caller can do something.
fn hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use pycorpus_core::CoreError as C;
    match cause.downcast_ref::<C>() {
        Some(C::NotACorpus(_)) => return Some("; Corpus(path, create=True) makes one"),
        Some(C::MissingShard { .. }) => return Some("; fetch it with Corpus.get(HASH, with_deps=True)"),
        _ => {}
    }
    if let Some(pycorpus_report::ReportError::NoFacts(_)) = cause.downcast_ref() {
        return Some("; run Corpus.analyze() first");
    }
    if let Some(pycorpus_share::ShareError::NothingToSeed(_)) = cause.downcast_ref() {
        return Some("; seal it first (Corpus.seal()), or name what to seed");
    }
    if let Some(pycorpus_sync::SyncError::NothingSelected) = cause.downcast_ref() {
        return Some("; give projects= or lock=");
    }
    if let Some(pycorpus_sync::IndexError::NoIndex(_)) = cause.downcast_ref() {
        return Some("; give index_url= or set PIP_INDEX_URL");
    }
    None
}

/// A failed operation as `PycorpusError` (see [`describe`]).
pub(crate) fn err(e: impl std::error::Error + 'static) -> PyErr {
    PycorpusError::new_err(describe(&e))
}

/// A message that already holds its causes (see [`describe`]) as `PycorpusError`.
pub(crate) fn err_msg(message: impl std::fmt::Display) -> PyErr {
    PycorpusError::new_err(message.to_string())
}

/// An option of the options layer as Python spells it: `min_size=`.
pub(crate) fn kwarg(field: &str) -> String {
    format!("{field}=")
}

/// An options struct of the options layer from the JSON the Python layer sends; a value of
/// the wrong type or out of range is a `ValueError` naming the option.
pub(crate) fn spec<T: serde::de::DeserializeOwned>(json: &str) -> PyResult<T> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(json)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde_json's position in the JSON we made means nothing to the caller
        let inner = inner.rsplit_once(" at line ").map_or(inner.as_str(), |(m, _)| m);
        PyValueError::new_err(if path == "." { format!("options: {inner}") } else { format!("{}: {inner}", kwarg(&path)) })
    })
}

/// A check of the options layer failed: a `ValueError` with its message.
pub(crate) fn invalid(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Runs `work` on a scoped thread with the GIL released; every 100 ms the calling thread
/// checks for signals, and on `KeyboardInterrupt` sets the cancel flag, waits for the work
/// to stop, and raises.
pub(crate) fn interruptible<T: Send>(py: Python<'_>, progress: &Progress, work: impl FnOnce(&AtomicBool) -> T + Send) -> PyResult<T> {
    let cancel = AtomicBool::new(false);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let out = std::thread::scope(|s| {
        let cancel = &cancel;
        s.spawn(move || {
            let _ = tx.send(work(cancel));
        });
        loop {
            match py.detach(|| rx.recv_timeout(Duration::from_millis(100))) {
                Ok(r) => return progress.poll(py).map(|()| r),
                Err(RecvTimeoutError::Timeout) => {
                    // Ctrl-C, or an exception from the progress callable: stop the work, raise.
                    if let Err(e) = py.check_signals().and_then(|()| progress.poll(py)) {
                        cancel.store(true, Ordering::SeqCst);
                        let _ = py.detach(|| rx.recv());
                        return Err(e);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Err(err_msg("the worker thread panicked")),
            }
        }
    });
    progress.end();
    out
}

/// The filters as the Python layer sends them: JSON of [`FilterSpec`]'s fields (its names,
/// `min_size=`, are the options layer's own).
fn filter(json: &str) -> PyResult<pycorpus_catalog::Filter> {
    spec::<FilterSpec>(json)?.build(&kwarg).map_err(invalid)
}

/// The options of each command that takes them besides its filters, in order, with the kind of
/// value each takes (`flag`, `whole`, `number`, `text`, `list`, `choice`, `any`): the fields of
/// its options struct, which the CLI's flags are too. The Python layer routes and converts
/// keyword arguments by these, and tests compare them with its signatures.
#[pyfunction]
fn options(command: &str) -> PyResult<Vec<(&'static str, &'static str)>> {
    use pycorpus_catalog::field_kinds as f;
    Ok(match command {
        "add" => f::<pycorpus_core::AddSpec>(),
        "sync" => f::<pycorpus_sync::SyncSpec>(),
        "grep" => f::<pycorpus_explore::GrepSpec>(),
        "extract" => f::<pycorpus_explore::ExtractSpec>(),
        "analyze" => f::<pycorpus_analyze::AnalyzeSpec>(),
        "report" => f::<pycorpus_report::ReportSpec>(),
        "export_codesearchnet" => f::<pycorpus_dataset::ExportSpec>(),
        "get" => f::<pycorpus_torrent::GetSpec>(),
        "seed" => f::<pycorpus_torrent::SeedSpec>(),
        "create_torrent" => f::<pycorpus_torrent::CreateSpec>(),
        "deps" => f::<pycorpus_explore::DepsSpec>(),
        "secrets" => f::<pycorpus_explore::SecretsSpec>(),
        other => return Err(PyValueError::new_err(format!("no command {other:?} takes options"))),
    })
}

/// Every filter's name and the kind of value it takes (`strings`, `path`, `date`, `size`,
/// `flag`, `shards`): what the Python layer accepts and checks.
#[pyfunction]
fn filters() -> Vec<(&'static str, &'static str)> {
    pycorpus_catalog::FILTERS.iter().map(|(n, k)| (*n, k.as_str())).collect()
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(err)
}

/// A corpus folder.
#[pyclass(module = "pycorpus._native", frozen)]
struct NativeCorpus {
    root: PathBuf,
}

/// Opens `root` for reading and runs `f` on it, on the worker thread of [`interruptible`]
/// (a `Corpus` holds a SQLite handle and stays on the thread that uses it), with `progress`
/// and Ctrl-C as its context.
fn with_corpus<T: Send, E: std::error::Error + 'static>(py: Python<'_>, root: &Path, progress: &Progress, f: impl FnOnce(&Corpus, Ctx<'_>) -> Result<T, E> + Send) -> PyResult<T> {
    with_corpus_as(py, root, Access::Read, progress, |c, ctx| f(c, ctx))
}

/// [`with_corpus`], opened for writing.
fn with_corpus_mut<T: Send, E: std::error::Error + 'static>(py: Python<'_>, root: &Path, progress: &Progress, f: impl FnOnce(&mut Corpus, Ctx<'_>) -> Result<T, E> + Send) -> PyResult<T> {
    with_corpus_as(py, root, Access::Write, progress, f)
}

fn with_corpus_as<T: Send, E: std::error::Error + 'static>(
    py: Python<'_>,
    root: &Path,
    access: Access,
    progress: &Progress,
    f: impl FnOnce(&mut Corpus, Ctx<'_>) -> Result<T, E> + Send,
) -> PyResult<T> {
    interruptible(py, progress, |cancel| -> Result<T, String> {
        let mut c = Corpus::open(root, access).map_err(|e| describe(&e))?;
        f(&mut c, Ctx::new(progress, cancel)).map_err(|e| describe(&e))
    })?
    .map_err(err_msg)
}

// Python keyword arguments map one to one onto parameters.
#[allow(clippy::too_many_arguments)]
#[pymethods]
impl NativeCorpus {
    #[new]
    #[pyo3(signature = (path, create=false))]
    fn new(path: PathBuf, create: bool) -> PyResult<Self> {
        if create {
            Corpus::init(&path).map_err(err)?;
        } else {
            Corpus::open(&path, Access::Read).map_err(err)?;
        }
        Ok(NativeCorpus { root: path })
    }

    #[getter]
    fn root(&self) -> PathBuf {
        self.root.clone()
    }

    /// [(number, "sealed"|"open", folder)]
    fn shards(&self) -> PyResult<Vec<(u32, &'static str, PathBuf)>> {
        let c = Corpus::open(&self.root, Access::Read).map_err(err)?;
        Ok(c.shards().map_err(err)?.into_iter().map(|s| (s.number, if s.kind == pycorpus_core::ShardKind::Sealed { "sealed" } else { "open" }, s.dir)).collect())
    }

    fn status(&self, py: Python<'_>) -> PyResult<String> {
        let s = with_corpus(py, &self.root, &Progress::quiet(), |c, _| c.status())?;
        json(&s)
    }

    /// The selected rows as an Arrow stream (files.parquet's schema), for pyarrow to take over
    /// without a copy through a file.
    fn files_arrow(&self, py: Python<'_>, filters: &str) -> PyResult<ArrowStream> {
        let f = filter(filters)?;
        let batches = with_corpus(py, &self.root, &Progress::quiet(), |c, ctx| {
            let mut batches = pycorpus_catalog::FilesBatcher::default();
            c.for_each_row(&f, &mut |r| {
                batches.push(r);
                !ctx.cancelled()
            })?;
            Ok::<_, pycorpus_core::CoreError>(batches.finish())
        })?;
        Ok(ArrowStream { reader: std::sync::Mutex::new(Some(Box::new(batches))) })
    }

    /// Every requirement row of the corpus (requirements.parquet's schema): the sealed shards'
    /// tables as they are, the open shard's rows from its journal.
    fn requirements_arrow(&self, py: Python<'_>) -> PyResult<ArrowStream> {
        let batches = with_corpus(py, &self.root, &Progress::quiet(), |c, _| {
            let mut out = Vec::new();
            for shard in c.shards()? {
                let file = shard.dir.join(pycorpus_catalog::REQUIREMENTS_FILE);
                match shard.kind {
                    pycorpus_core::ShardKind::Sealed if file.exists() => out.extend(pycorpus_catalog::read_table(&file)?),
                    pycorpus_core::ShardKind::Sealed => {}
                    pycorpus_core::ShardKind::Open => out.extend(pycorpus_core::shard_requirements(&shard, &|_, _| true)?.map(pycorpus_catalog::requirements_batch)),
                }
            }
            Ok::<_, pycorpus_core::CoreError>(out)
        })?;
        let reader = arrow_array::RecordBatchIterator::new(batches.into_iter().map(Ok), pycorpus_catalog::requirements_schema());
        Ok(ArrowStream { reader: std::sync::Mutex::new(Some(Box::new(reader))) })
    }

    /// `secrets` over the selection, with `options` (JSON of
    /// [`pycorpus_explore::SecretsSpec`]): one row per file holding a finding.
    #[pyo3(signature = (filters, options, progress=None))]
    fn secrets_arrow(&self, py: Python<'_>, filters: &str, options: &str, progress: Option<Bound<'_, PyAny>>) -> PyResult<ArrowStream> {
        let f = filter(filters)?;
        let spec = spec::<pycorpus_explore::SecretsSpec>(options)?;
        let rules = spec.rule_set().map_err(invalid)?;
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        progress.begin("secrets", "bytes", None);
        let records = with_corpus(py, &self.root, &progress, |c, ctx| {
            let mut all = Vec::new();
            pycorpus_explore::secrets(c, &f, &rules, spec.show_secrets, ctx, &mut |r| {
                all.extend(r);
                Ok(())
            })?;
            Ok::<_, pycorpus_explore::ExploreError>(all)
        })?;
        let rows: Vec<Vec<pycorpus_catalog::RecordCell>> = records.iter().map(pycorpus_explore::SecretRecord::cells).collect();
        Ok(ArrowStream::of_batch(pycorpus_catalog::records_batch(pycorpus_explore::SECRET_COLUMNS, &rows)))
    }

    /// `deps PROJECT` with `options` (JSON of [`pycorpus_explore::DepsSpec`]) as one batch.
    fn deps_arrow(&self, py: Python<'_>, project: &str, options: &str) -> PyResult<ArrowStream> {
        let query = spec::<pycorpus_explore::DepsSpec>(options)?.build(project).map_err(invalid)?;
        let rows = with_corpus(py, &self.root, &Progress::quiet(), |c, ctx| {
            let mut rows = Vec::new();
            query.run(c, &mut |r| {
                rows.push(r);
                !ctx.cancelled()
            })?;
            Ok::<_, pycorpus_core::CoreError>(rows)
        })?;
        Ok(ArrowStream::of_batch(pycorpus_catalog::requirements_batch(rows)))
    }

    fn read<'py>(&self, py: Python<'py>, oid: &str) -> PyResult<Bound<'py, PyBytes>> {
        let id: Oid = oid.parse().map_err(|_| PyValueError::new_err(format!("{oid:?} is not a blob id (40 hex digits)")))?;
        match with_corpus(py, &self.root, &Progress::quiet(), |c, _| c.read_blob(&id))? {
            Some(data) => Ok(PyBytes::new(py, &data)),
            None => Err(PyKeyError::new_err(format!("no blob {oid} in {}", self.root.display()))),
        }
    }

    /// The contents of the file `path` of `project` at `version` (`cat PROJECT VERSION PATH`):
    /// `KeyError` when there is no such file, `ValueError` when the path names files with
    /// different contents, `PycorpusError` when its contents were not stored.
    fn cat<'py>(&self, py: Python<'py>, project: &str, version: &str, path: &str) -> PyResult<Bound<'py, PyBytes>> {
        use pycorpus_core::FileLookupError as L;
        let found = with_corpus(py, &self.root, &Progress::quiet(), |c, _| {
            Ok::<_, pycorpus_core::CoreError>(match c.file_blob(project, version, path) {
                Ok(oid) => Ok(c.read_blob(&oid)?.ok_or_else(|| format!("blob {oid} is not stored in {}", self.root.display()))),
                Err(e) => Err(e),
            })
        })?;
        match found {
            Ok(Ok(data)) => Ok(PyBytes::new(py, &data)),
            Ok(Err(message)) => Err(err_msg(message)),
            Err(e @ L::NoSuchFile { .. }) => Err(PyKeyError::new_err(e.to_string())),
            Err(e @ L::Ambiguous { .. }) => Err(PyValueError::new_err(e.to_string())),
            Err(e) => Err(err(e)),
        }
    }

    #[pyo3(signature = (filters, progress=None))]
    fn iter_files(&self, filters: &str, progress: Option<Bound<'_, PyAny>>) -> PyResult<FileIter> {
        let f = filter(filters)?;
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        progress.begin("iter_files", "bytes", None);
        let root = self.root.clone();
        // Batches end after 64 files or 8 MB of frames held, whichever first; with 4 in the
        // channel, the readers keep at most ~60 MB of decoded frames ahead of Python.
        let (tx, rx) = crossbeam_channel::bounded::<Result<Chunk, String>>(4);
        let cancel = Arc::new(AtomicBool::new(false));
        let total = Arc::new(AtomicU64::new(0));
        let (stop, selected_bytes) = (cancel.clone(), total.clone());
        let handle = std::thread::spawn(move || {
            let run = || -> Result<(), String> {
                let c = Corpus::open(&root, Access::Read).map_err(|e| describe(&e))?;
                // Only the total: what was handed out is counted as Python takes it.
                let selected = SelectedBytes(&selected_bytes);
                let opts = pycorpus_visit::VisitOptions { all_rows: !f.unique, batch_per_thread: 4, ..Default::default() };
                let (mut chunk, mut held) = (Chunk::default(), 0usize);
                pycorpus_visit::visit_blobs(
                    &c,
                    &f,
                    &opts,
                    pycorpus_core::Ctx::new(&selected, &stop),
                    &|| (),
                    &|_: &mut (), _oid: &Oid, h: &pycorpus_visit::Holders, data: &pycorpus_visit::Blob<'_>| -> Result<_, pycorpus_visit::VisitError> {
                        let data = data.share();
                        let rows = std::iter::once(h.first.clone()).chain(h.others.iter().map(|r| Arc::new(r.clone())));
                        Ok(rows.map(|r| (r, data.clone())).collect::<Vec<_>>())
                    },
                    &mut |items: Batch| -> Result<(), pycorpus_visit::VisitError> {
                        // One blob's rows: its bytes count once.
                        chunk.bytes += items.first().map_or(0, |i| i.1.len() as u64);
                        for item in items {
                            if !chunk.items.last().is_some_and(|last| last.1.same_frame(&item.1)) {
                                held += item.1.frame_bytes();
                            }
                            chunk.items.push(item);
                        }
                        if chunk.items.len() >= 64 || held >= 8 << 20 {
                            held = 0;
                            if tx.send(Ok(std::mem::take(&mut chunk))).is_err() {
                                stop.store(true, Ordering::SeqCst);
                            }
                        }
                        Ok(())
                    },
                )
                .map_err(|e| describe(&e))?;
                if !chunk.items.is_empty() {
                    let _ = tx.send(Ok(chunk));
                }
                Ok(())
            };
            if let Err(e) = run() {
                let _ = tx.send(Err(e));
            }
        });
        Ok(FileIter { rx, pending: std::collections::VecDeque::new(), cancel, handle: Some(handle), progress, total, done: 0, polled: None })
    }

    /// The matching lines, one per file holding each matching blob, in the CLI's order; at
    /// most `limit` of them: as dicts, or with `table` as an Arrow stream (columns named like
    /// the dicts' keys; the fields a file's lines share as dictionaries) built without a
    /// Python object per line. Matches reach this thread as they are found (the result is the
    /// only copy), and the search stops once `limit` are in. `options`: JSON of
    /// [`pycorpus_explore::GrepSpec`]'s fields.
    #[pyo3(signature = (pattern, filters, options, limit=None, table=false, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn grep<'py>(&self, py: Python<'py>, pattern: &str, filters: &str, options: &str, limit: Option<u64>, table: bool, progress: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let f = filter(filters)?;
        // Every file holding a match is a record of its own; a bad pattern is a ValueError.
        let opts = spec::<pycorpus_explore::GrepSpec>(options)?.build(pattern.to_string(), pycorpus_explore::OutputMode::Lines, true, false).map_err(invalid)?;
        let search = GrepCall { filter: &f, opts: &opts, limit: limit.unwrap_or(u64::MAX) };
        if table {
            let mut t = MatchTable::default();
            self.grep_each(py, &search, progress, &mut |_, m, room| Ok(t.push(m, room)))?;
            Ok(Bound::new(py, t.finish())?.into_any())
        } else {
            let out = PyList::empty(py);
            self.grep_each(py, &search, progress, &mut |py, m, room| match_dicts(py, &out, m, room))?;
            Ok(out.into_any())
        }
    }

    /// `options`: JSON of [`pycorpus_explore::ExtractSpec`]'s fields.
    #[pyo3(signature = (dest, filters, options, progress=None))]
    fn extract(&self, py: Python<'_>, dest: PathBuf, filters: &str, options: &str, progress: Option<Bound<'_, PyAny>>) -> PyResult<String> {
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        let f = filter(filters)?;
        let layout = spec::<pycorpus_explore::ExtractSpec>(options)?.layout;
        progress.begin("extract", "bytes", None);
        let s = with_corpus(py, &self.root, &progress, |c, ctx| pycorpus_explore::extract(c, &f, &dest, layout, ctx, &mut |_| {}))?;
        json(&s)
    }

    /// `options`: JSON of [`pycorpus_analyze::AnalyzeSpec`]'s fields.
    #[pyo3(signature = (filters, options, progress=None))]
    fn analyze(&self, py: Python<'_>, filters: &str, options: &str, progress: Option<Bound<'_, PyAny>>) -> PyResult<String> {
        let f = filter(filters)?;
        let limits = spec::<pycorpus_analyze::AnalyzeSpec>(options)?.limits();
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        progress.begin("analyze", "bytes", None);
        let s = with_corpus(py, &self.root, &progress, |c, ctx| pycorpus_analyze::analyze_corpus(c, &f, &limits, ctx))?;
        json(&s)
    }

    /// The report (the CLI's `report`): the page, charts and tables written where `options`
    /// (JSON of [`pycorpus_report::ReportSpec`]'s fields) says; returns the JSON summary.
    #[pyo3(signature = (filters, options, progress=None))]
    fn report(&self, py: Python<'_>, filters: &str, options: &str, progress: Option<Bound<'_, PyAny>>) -> PyResult<String> {
        let spec = spec::<pycorpus_report::ReportSpec>(options)?;
        let sel = spec.selection(filter(filters)?);
        let outputs = spec.outputs(&self.root, &kwarg).map_err(invalid)?;
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        progress.begin("report", "rows", None);
        let s = with_corpus(py, &self.root, &progress, |c, ctx| pycorpus_report::report(c, &sel, spec.drawing(), &outputs, ctx))?;
        json(&s)
    }

    /// The names of the report's tables, in its order (before computing any).
    #[staticmethod]
    fn feature_tables() -> Vec<&'static str> {
        pycorpus_report::TABLE_NAMES.to_vec()
    }

    /// The report's tables (adoption, packaging, versions, imports, ...) as (name, Arrow
    /// stream) pairs, in the report's order: computed in memory, no page or files.
    /// `options`: JSON of the counting fields of [`pycorpus_report::ReportSpec`] (`period`,
    /// `exclude_tests_docs`).
    #[pyo3(signature = (filters, options, progress=None))]
    fn features(&self, py: Python<'_>, filters: &str, options: &str, progress: Option<Bound<'_, PyAny>>) -> PyResult<Vec<(&'static str, ArrowStream)>> {
        let sel = spec::<pycorpus_report::ReportSpec>(options)?.selection(filter(filters)?);
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        progress.begin("features", "rows", None);
        let tables = with_corpus(py, &self.root, &progress, |c, ctx| pycorpus_report::tables(c, &sel, ctx))?;
        tables.iter().map(|t| Ok((t.name, ArrowStream::of_batch(t.to_batch().map_err(|e| err_msg(format!("table {}: {e}", t.name)))?)))).collect()
    }

    /// `options`: JSON of [`pycorpus_dataset::ExportSpec`]'s fields (as the CLI's flags).
    #[pyo3(signature = (dest, filters, options, progress=None))]
    fn export_codesearchnet(&self, py: Python<'_>, dest: PathBuf, filters: &str, options: &str, progress: Option<Bound<'_, PyAny>>) -> PyResult<String> {
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        let opts = spec::<pycorpus_dataset::ExportSpec>(options)?.build(filter(filters)?, &kwarg).map_err(invalid)?;
        progress.begin("export", "bytes", None);
        let s = with_corpus(py, &self.root, &progress, |c, ctx| pycorpus_dataset::export(c, &dest, &opts, ctx))?;
        json(&s)
    }

    /// `options`: JSON of [`pycorpus_core::AddSpec`]'s fields.
    #[pyo3(signature = (paths, options, progress=None))]
    fn add(&self, py: Python<'_>, paths: Vec<PathBuf>, options: &str, progress: Option<Bound<'_, PyAny>>) -> PyResult<String> {
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        let (time, opts) = spec::<pycorpus_core::AddSpec>(options)?.build(&kwarg).map_err(invalid)?;
        let (items, _ignored) = pycorpus_core::collect_inputs(&paths, time).map_err(err)?;
        let s = with_corpus_mut(py, &self.root, &progress, |c, ctx| c.ingest(items, &opts, ctx))?;
        json(&s)
    }

    /// Mirrors from a package index (the CLI's `sync`). `options`: JSON of
    /// [`pycorpus_sync::SyncSpec`]'s fields.
    #[pyo3(signature = (options, progress=None))]
    fn sync(&self, py: Python<'_>, options: &str, progress: Option<Bound<'_, PyAny>>) -> PyResult<String> {
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        let opts = spec::<pycorpus_sync::SyncSpec>(options)?.build(&kwarg).map_err(invalid)?;
        let s = with_corpus_mut(py, &self.root, &progress, |c, ctx| pycorpus_sync::sync(c, &opts, ctx))?;
        json(&s)
    }

    /// Re-hashes every blob and checks every manifest and index (the CLI's `verify`).
    fn verify(&self, py: Python<'_>, progress: Option<Bound<'_, PyAny>>) -> PyResult<String> {
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        let r = with_corpus(py, &self.root, &progress, |c, ctx| c.verify(ctx))?;
        json(&r)
    }

    /// The lock file of the corpus (the CLI's `lock`): streamed to the file `output`, else
    /// returned as text.
    #[pyo3(signature = (output=None))]
    fn lock(&self, py: Python<'_>, output: Option<PathBuf>) -> PyResult<Option<String>> {
        with_corpus(py, &self.root, &Progress::quiet(), |c, _| match &output {
            Some(path) => c.write_lock_file(path).map(|_| None),
            None => {
                let mut text = Vec::new();
                c.write_lock(&mut text).map(|_| Some(String::from_utf8_lossy(&text).into_owned()))
            }
        })
    }

    /// Rewrites format-1 shards as format 2 (the CLI's `upgrade`).
    fn upgrade(&self, py: Python<'_>, progress: Option<Bound<'_, PyAny>>) -> PyResult<String> {
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        let s = with_corpus_mut(py, &self.root, &progress, |c, ctx| c.upgrade(ctx.reporter))?;
        json(&s)
    }

    fn seal(&self, py: Python<'_>) -> PyResult<String> {
        let s = with_corpus_mut(py, &self.root, &Progress::quiet(), |c, ctx| c.seal(ctx))?;
        json(&s)
    }
}

/// Rows on their way to pyarrow through the Arrow C stream interface (`__arrow_c_stream__`):
/// batches are built as the consumer pulls them.
#[pyclass(module = "pycorpus._native")]
struct ArrowStream {
    reader: std::sync::Mutex<Option<Box<dyn arrow_array::RecordBatchReader + Send>>>,
}

impl ArrowStream {
    /// One batch as a stream.
    fn of_batch(batch: arrow_array::RecordBatch) -> ArrowStream {
        let schema = batch.schema();
        ArrowStream { reader: std::sync::Mutex::new(Some(Box::new(arrow_array::RecordBatchIterator::new([Ok(batch)], schema)))) }
    }
}

#[pymethods]
impl ArrowStream {
    /// The stream as a PyCapsule named "arrow_array_stream"; it can be taken once.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(&self, py: Python<'py>, requested_schema: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, pyo3::types::PyCapsule>> {
        // Any requested schema is the consumer's to cast to: this one is files.parquet's.
        let _ = requested_schema;
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or_else(|| PyValueError::new_err("this Arrow stream was already consumed"))?;
        let stream = arrow_array::ffi_stream::FFI_ArrowArrayStream::new(reader);
        pyo3::types::PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }
}

/// Rows with their blob's contents, as they cross from the reading threads to Python.
type Batch = Vec<(Arc<FileRow>, pycorpus_visit::SharedBlob)>;

/// Batches of whole blobs (all their rows) sent to Python together, and those blobs' bytes.
#[derive(Default)]
struct Chunk {
    items: Batch,
    bytes: u64,
}

/// Rows and contents of the selected files, decoded on Rust threads ahead of the consumer.
#[pyclass(module = "pycorpus._native")]
struct FileIter {
    rx: crossbeam_channel::Receiver<Result<Chunk, String>>,
    pending: std::collections::VecDeque<(Arc<FileRow>, pycorpus_visit::SharedBlob)>,
    cancel: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
    progress: Progress,
    /// The selection's bytes, set by the readers as each shard's index is scanned.
    total: Arc<AtomicU64>,
    /// Bytes of the blobs handed out (counted as each batch arrives).
    done: u64,
    /// When the progress callable, if any, was last called (first: at the first batch).
    polled: Option<Instant>,
}

/// `iter_files`'s view of the visit's progress: only the selection's total (what was handed
/// out is counted as Python takes it).
struct SelectedBytes<'a>(&'a AtomicU64);

impl pycorpus_core::Reporter for SelectedBytes<'_> {
    fn progress(&self, _done: u64, total: Option<u64>) {
        if let Some(t) = total {
            self.0.store(t, Ordering::Relaxed);
        }
    }
}

/// A module grep's search, checked.
struct GrepCall<'a> {
    filter: &'a pycorpus_catalog::Filter,
    opts: &'a pycorpus_explore::GrepOptions,
    /// Lines in all, at most.
    limit: u64,
}

/// What a module grep does with each blob's matches, on the calling thread: keeps at most
/// `room` lines and says how many it kept.
type TakeMatches<'a> = dyn FnMut(Python<'_>, &pycorpus_explore::BlobMatches, u64) -> PyResult<u64> + 'a;

impl NativeCorpus {
    /// Runs a grep on a search thread and hands its matches to `take` as they arrive, until
    /// the search ends or `limit` lines are in; Ctrl-C and the progress callable are heard
    /// ten times a second, even while matches keep coming.
    fn grep_each(&self, py: Python<'_>, call: &GrepCall<'_>, progress: Option<Bound<'_, PyAny>>, take: &mut TakeMatches<'_>) -> PyResult<()> {
        let GrepCall { filter: f, opts, limit } = *call;
        let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
        if limit == 0 {
            return Ok(());
        }
        progress.begin("grep", "bytes", None);
        let cancel = AtomicBool::new(false);
        let (tx, rx) = crossbeam_channel::bounded::<pycorpus_explore::BlobMatches>(64);
        let root = &self.root;
        let searched = std::thread::scope(|s| -> PyResult<Result<(), String>> {
            let (cancel, progress) = (&cancel, &progress);
            let search = s.spawn(move || -> Result<(), String> {
                let c = Corpus::open(root, Access::Read).map_err(|e| describe(&e))?;
                let mut gone = false;
                let sent = pycorpus_explore::grep_matches(&c, f, opts, pycorpus_core::Ctx::new(progress, cancel), &mut |m| {
                    // Python stopped reading (the limit, an error): the search ends here.
                    tx.send(m).map_err(|_| {
                        gone = true;
                        pycorpus_visit::VisitError::Output(std::io::ErrorKind::BrokenPipe.into())
                    })
                });
                match sent {
                    Err(_) if gone => Ok(()),
                    r => r.map(|_| ()).map_err(|e| describe(&e)),
                }
            });
            let (mut taken, mut checked) = (0u64, Instant::now());
            let stopped = loop {
                match py.detach(|| rx.recv_timeout(Duration::from_millis(100))) {
                    Ok(m) => {
                        if let Err(e) = take(py, &m, limit - taken).map(|n| taken += n) {
                            break Err(e);
                        }
                        if taken >= limit {
                            break Ok(());
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break Ok(()),
                }
                // Ctrl-C, or an exception from the progress callable, ten times a second even
                // while matches keep coming: stop and raise.
                if checked.elapsed() >= Duration::from_millis(100) {
                    checked = Instant::now();
                    if let Err(e) = py.check_signals().and_then(|()| progress.poll(py)) {
                        break Err(e);
                    }
                }
            };
            cancel.store(true, Ordering::SeqCst);
            drop(rx);
            let result = py.detach(|| search.join()).map_err(|_| err_msg("the search thread panicked"))?;
            stopped?;
            progress.poll(py)?;
            // Once the limit is in, what the search met after it does not matter.
            Ok(if taken >= limit { Ok(()) } else { result })
        });
        progress.end();
        searched?.map_err(err_msg)
    }
}

/// Appends to `out` the dicts of [`NativeCorpus::grep`] for `m`: one per line of each file
/// holding the blob, `room` at most; returns how many. A file's keys are filled once and copied
/// into each of its lines, which share their strings.
fn match_dicts(py: Python<'_>, out: &Bound<'_, PyList>, m: &pycorpus_explore::BlobMatches, room: u64) -> PyResult<u64> {
    use pycorpus_explore::{FILE_FIELDS, MATCH_FIELDS};
    let [line_number, kind, text] = [MATCH_FIELDS[6], MATCH_FIELDS[7], MATCH_FIELDS[8]].map(|k| pyo3::types::PyString::intern(py, k));
    let file_keys = FILE_FIELDS.map(|k| pyo3::types::PyString::intern(py, k));
    let (matched, context) = (intern!(py, "match"), intern!(py, "context"));
    let oid = m.oid.to_hex();
    let mut n = 0;
    for row in m.holders.all() {
        let file = PyDict::new(py);
        for (k, v) in file_keys.iter().zip(pycorpus_explore::file_fields(&oid, row)) {
            file.set_item(k, v)?;
        }
        for line in &m.lines {
            if n == room {
                return Ok(n);
            }
            let d = file.copy()?;
            d.set_item(&line_number, line.number)?;
            d.set_item(&kind, if line.selected { matched } else { context })?;
            d.set_item(&text, String::from_utf8_lossy(&line.text))?;
            out.append(d)?;
            n += 1;
        }
    }
    Ok(n)
}

/// [`NativeCorpus::grep`]'s lines as Arrow columns, cut into batches of
/// [`MatchTable::BATCH_LINES`] (so no column's 32-bit offsets can overflow, however many lines).
#[derive(Default)]
struct MatchTable {
    /// oid, project, version, release, path, path_in_archive: the file's fields, as dictionaries.
    file: [StringDictionaryBuilder<Int32Type>; 6],
    line_number: UInt64Builder,
    kind: StringDictionaryBuilder<Int8Type>,
    text: StringBuilder,
    lines: usize,
    done: Vec<arrow_array::RecordBatch>,
}

impl MatchTable {
    const BATCH_LINES: usize = 64 * 1024;

    /// Appends the lines of `m` (one per line of each file holding the blob, as the dicts),
    /// `room` at most; returns how many.
    fn push(&mut self, m: &pycorpus_explore::BlobMatches, room: u64) -> u64 {
        let mut n = 0;
        let oid = m.oid.to_hex();
        for row in m.holders.all() {
            let fields = pycorpus_explore::file_fields(&oid, row);
            for line in &m.lines {
                if n == room {
                    return n;
                }
                for (b, v) in self.file.iter_mut().zip(fields) {
                    b.append_value(v);
                }
                self.line_number.append_value(line.number);
                self.kind.append_value(if line.selected { "match" } else { "context" });
                self.text.append_value(String::from_utf8_lossy(&line.text));
                n += 1;
                self.lines += 1;
                if self.lines == Self::BATCH_LINES {
                    self.cut();
                }
            }
        }
        n
    }

    /// The lines so far become a batch (an empty one when there are none: it carries the schema).
    fn cut(&mut self) {
        let mut columns: Vec<arrow_array::ArrayRef> = self.file.iter_mut().map(|b| Arc::new(b.finish()) as _).collect();
        columns.push(Arc::new(self.line_number.finish()));
        columns.push(Arc::new(self.kind.finish()));
        columns.push(Arc::new(self.text.finish()));
        let columns = pycorpus_explore::MATCH_FIELDS.into_iter().zip(columns);
        // Columns of equal length, none null: a batch by construction.
        self.done.push(arrow_array::RecordBatch::try_from_iter(columns).expect("equal columns"));
        self.lines = 0;
    }

    /// Every batch, as a stream.
    fn finish(mut self) -> ArrowStream {
        if self.lines > 0 || self.done.is_empty() {
            self.cut();
        }
        let schema = self.done[0].schema();
        ArrowStream { reader: std::sync::Mutex::new(Some(Box::new(arrow_array::RecordBatchIterator::new(self.done.into_iter().map(Ok), schema)))) }
    }
}

#[pymethods]
impl FileIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[allow(clippy::type_complexity)]
    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyBytes>)> {
        loop {
            if let Some((row, data)) = self.pending.pop_front() {
                return Ok((Bound::new(py, Row(row))?.into_any(), PyBytes::new(py, &data)));
            }
            let rx = self.rx.clone();
            let got = loop {
                match py.detach(|| rx.recv_timeout(Duration::from_millis(100))) {
                    Ok(v) => break Some(v),
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break None,
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                        if let Err(e) = py.check_signals() {
                            self.close();
                            return Err(e);
                        }
                    }
                }
            };
            match got {
                Some(Ok(chunk)) => {
                    self.done += chunk.bytes;
                    self.pending.extend(chunk.items);
                    self.show(py, false)?;
                }
                Some(Err(e)) => {
                    self.close();
                    return Err(err_msg(e));
                }
                None => {
                    // The last news for the callable (once), then the bar goes.
                    if self.handle.is_some() {
                        self.show(py, true)?;
                        self.close();
                    }
                    return Err(PyStopIteration::new_err(()));
                }
            }
        }
    }

    /// Stops the readers (also when the iterator is dropped); what they had sent is dropped,
    /// so that a closed iterator ends.
    fn close(&mut self) {
        self.progress.end();
        self.pending.clear();
        self.cancel.store(true, Ordering::SeqCst);
        while self.rx.try_recv().is_ok() {}
        if let Some(h) = self.handle.take() {
            // The producer may be blocked on a full channel: keep draining until it ends.
            while !h.is_finished() {
                while self.rx.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = h.join();
        }
    }
}

impl FileIter {
    /// Passes the counts on: to the bar at once, to the callable at the first batch, then ten
    /// times a second at most, and at the end (`last`); an exception from the callable stops
    /// the iteration.
    fn show(&mut self, py: Python<'_>, last: bool) -> PyResult<()> {
        self.progress.set(self.done, Some(self.total.load(Ordering::Relaxed)));
        if last || self.polled.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
            self.polled = Some(Instant::now());
            if let Err(e) = self.progress.poll(py) {
                self.close();
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for FileIter {
    fn drop(&mut self) {
        self.close();
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pycorpus_alloc::configure();
    m.add("PycorpusError", m.py().get_type::<PycorpusError>())?;
    m.add_class::<NativeCorpus>()?;
    m.add_class::<FileIter>()?;
    m.add_class::<Row>()?;
    m.add_class::<ArrowStream>()?;
    m.add_class::<share::NativeSeeder>()?;
    m.add_function(wrap_pyfunction!(share::get, m)?)?;
    m.add_function(wrap_pyfunction!(share::create_torrent, m)?)?;
    m.add_function(wrap_pyfunction!(filters, m)?)?;
    m.add_function(wrap_pyfunction!(options, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The README's test command builds the module with the dev profile, several times slower
    // than `pip install .`: benchmarks read this to refuse timing such a build.
    m.add("DEBUG_BUILD", cfg!(debug_assertions))?;
    Ok(())
}
