//! Sharing from Python: `get` (into a datastore, or into a corpus with the shards it depends
//! on), seeding, and `torrent create`, each with the options layer's options.

use crate::progress::{Mode, Progress};
use crate::{err, interruptible, invalid, json, kwarg, spec};
use pycorpus_share::ShareError;
use pycorpus_torrent::TorrentError;
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::{Path, PathBuf};

/// `get`: into the datastore `dest`, or with `corpus` into that corpus's (each torrent a shard
/// registered there). `options`: JSON of [`pycorpus_torrent::GetSpec`]'s fields. Returns JSON
/// `{"fetched": [report, ...], "missing": [shard, ...]}`, the torrent asked for first, each
/// report with its `name`, `info_hash` and `registered_distributions`.
#[pyfunction]
#[pyo3(signature = (what, dest, corpus, options, progress=None))]
pub(crate) fn get(py: Python<'_>, what: &str, dest: Option<PathBuf>, corpus: Option<PathBuf>, options: &str, progress: Option<Bound<'_, PyAny>>) -> PyResult<String> {
    let progress = Progress::new(Mode::from_arg(progress.as_ref())?);
    let request = pycorpus_torrent::Request::parse(what).map_err(invalid)?;
    let spec: pycorpus_torrent::GetSpec = spec(options)?;
    let dest = match (&corpus, dest) {
        (Some(root), _) => pycorpus_share::corpus_datastore(root).map_err(err)?,
        (None, Some(d)) => d,
        (None, None) => return Err(PyValueError::new_err("get needs a datastore folder or a corpus")),
    };
    let opts = spec.build(dest, &kwarg).map_err(invalid)?;
    progress.begin("get", "bytes", None);
    let on_progress = |p: &pycorpus_torrent::Progress| progress.set(p.done, (p.total > 0).then_some(p.total));
    let got = interruptible(py, &progress, |cancel| pycorpus_share::get(&request, &opts, corpus.as_deref(), spec.with_deps, &mut |_| Ok(()), &on_progress, cancel))?;
    let summary = match got {
        Ok(s) => s,
        Err(ShareError::Torrent(TorrentError::Interrupted)) => return Err(PyKeyboardInterrupt::new_err("interrupted; verified pieces are kept")),
        Err(e) => return Err(err(e)),
    };
    let fetched = summary
        .fetched
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(&f.report).map_err(err)?;
            v["name"] = f.meta.name.clone().into();
            v["info_hash"] = f.meta.hex().into();
            v["registered_distributions"] = f.registered.into();
            Ok(v)
        })
        .collect::<PyResult<Vec<_>>>()?;
    json(&serde_json::json!({"fetched": fetched, "missing": summary.missing}))
}

/// A running seeder.
#[pyclass(module = "pycorpus._native")]
pub(crate) struct NativeSeeder {
    swarm: Option<pycorpus_torrent::Swarm>,
    torrents: Vec<(String, pycorpus_torrent::Torrent)>,
    addr: Option<String>,
}

#[pymethods]
impl NativeSeeder {
    /// Seeds `targets`, or with none, the sealed shards of the corpus at `corpus`. `options`:
    /// JSON of [`pycorpus_torrent::SeedSpec`]'s fields.
    #[new]
    #[pyo3(signature = (targets, options, corpus=None))]
    fn new(py: Python<'_>, targets: Vec<PathBuf>, options: &str, corpus: Option<PathBuf>) -> PyResult<Self> {
        let spec: pycorpus_torrent::SeedSpec = spec(options)?;
        let sopts = spec.swarm(&kwarg).map_err(invalid)?;
        let targets = match corpus {
            Some(root) if targets.is_empty() => pycorpus_share::sealed_shards(&root).map_err(err)?,
            _ => targets,
        };
        let create = spec.metainfo();
        let r = interruptible(py, &Progress::quiet(), |_| -> Result<NativeSeeder, TorrentError> {
            let swarm = pycorpus_torrent::Swarm::start(&sopts)?;
            let mut torrents = Vec::new();
            for t in &targets {
                let (meta, h, _) = pycorpus_torrent::seed_target(&swarm, t, spec.data.as_deref(), &create, &spec.trackers, spec.torrent_dir.as_deref())?;
                torrents.push((meta.hex(), h));
            }
            let addr = swarm.listen_addr().map(|a| a.to_string());
            Ok(NativeSeeder { swarm: Some(swarm), torrents, addr })
        })?;
        r.map_err(err)
    }

    #[getter]
    fn addr(&self) -> Option<String> {
        self.addr.clone()
    }

    #[getter]
    fn info_hashes(&self) -> Vec<String> {
        self.torrents.iter().map(|(h, _)| h.clone()).collect()
    }

    /// Bytes uploaded so far, per info-hash.
    fn uploaded(&self) -> Vec<(String, u64)> {
        match &self.swarm {
            Some(s) => self.torrents.iter().map(|(h, t)| (h.clone(), s.stats(t).uploaded_bytes)).collect(),
            None => Vec::new(),
        }
    }

    fn stop(&mut self, py: Python<'_>) {
        if let Some(s) = self.swarm.take() {
            self.torrents.clear();
            py.detach(|| s.stop());
        }
    }
}

/// `torrent create`: returns (info-hash, .torrent bytes). `options`: JSON of
/// [`pycorpus_torrent::CreateSpec`]'s fields.
#[pyfunction]
#[pyo3(signature = (target, options))]
pub(crate) fn create_torrent<'py>(py: Python<'py>, target: PathBuf, options: &str) -> PyResult<(String, Bound<'py, PyBytes>)> {
    let opts = spec::<pycorpus_torrent::CreateSpec>(options)?.build();
    let meta = interruptible(py, &Progress::quiet(), |cancel| pycorpus_torrent::create(Path::new(&target), &opts, pycorpus_core::Ctx::new(&pycorpus_core::NoReporter, cancel)))?.map_err(err)?;
    Ok((meta.hex(), PyBytes::new(py, &meta.bytes)))
}
