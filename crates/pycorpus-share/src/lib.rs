//! A corpus over BitTorrent: `get` of a shard into a corpus (checked to be a shard that can
//! land there, then registered so that every reader sees it at once), and of the shards whose
//! blobs its rows use (a format-2 manifest's `depends_on`, by info-hash), from the sources the
//! first came from. The front ends render the events; the transfer is pycorpus-torrent's.
#![deny(missing_docs)]

use pycorpus_core::{Access, Corpus, Manifest, ShardKind};
use pycorpus_torrent::magnet::{Magnet, parse_hash};
use pycorpus_torrent::{GetOptions, GetReport, Metainfo, Progress, Request, TorrentError};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// What can go wrong fetching into a corpus.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// The transfer (interrupted: [`TorrentError::Interrupted`]).
    #[error("{0}")]
    Torrent(#[from] TorrentError),
    /// The corpus.
    #[error("{0}")]
    Core(#[from] pycorpus_core::CoreError),
    /// A fetched shard's manifest is unreadable or says something else than its torrent.
    #[error("{}: {why}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A seed of a corpus's shards, when it has none sealed.
    #[error("{} has no sealed shard to seed", .0.display())]
    NothingToSeed(PathBuf),
    /// The front end could not say what happened (its output is gone).
    #[error("writing what was fetched: {0}")]
    Output(#[from] std::io::Error),
}

/// What a `get` did, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// A torrent is in the datastore (fetched now, or there already).
    Fetched(&'a Fetched),
    /// The shard in `of` uses blobs stored in shard `shard`.
    DependsOn {
        /// The shard folder read.
        of: &'a Path,
        /// The shard it needs.
        shard: u32,
        /// Its info-hash, when the manifest gives it.
        info_hash: Option<&'a str>,
        /// Already in the datastore.
        present: bool,
        /// About to be fetched (with deps asked for).
        fetching: bool,
    },
}

/// One torrent in the datastore.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where the bytes came from.
    pub report: GetReport,
    /// Its metainfo.
    pub meta: Metainfo,
    /// Into a corpus: the distributions of the shard now registered there.
    pub registered: Option<u64>,
}

/// What a `get` fetched, and the shards still missing.
#[derive(Debug, Clone, Default)]
pub struct GetSummary {
    /// The torrent asked for first, then each dependency fetched.
    pub fetched: Vec<Fetched>,
    /// Shards whose blobs fetched rows use, not in the datastore (not asked for, or with no
    /// info-hash in the manifest): readers of those rows stop at their blobs.
    pub missing: Vec<u32>,
}

/// The datastore of the corpus at `root` (its `shards/`), making the folder a corpus first if
/// it is not one yet.
pub fn corpus_datastore(root: &Path) -> Result<PathBuf, ShareError> {
    Ok(Corpus::init(root)?.root().join("shards"))
}

/// The sealed shards of the corpus at `root`: what seeding a corpus offers.
pub fn sealed_shards(root: &Path) -> Result<Vec<PathBuf>, ShareError> {
    let corpus = Corpus::open(root, Access::Read)?;
    let sealed: Vec<PathBuf> = corpus.shards()?.into_iter().filter(|s| s.kind == ShardKind::Sealed).map(|s| s.dir).collect();
    if sealed.is_empty() {
        return Err(ShareError::NothingToSeed(root.to_path_buf()));
    }
    Ok(sealed)
}

/// Fetches `request` into `opts.dest` and, with `with_deps`, the shards its rows depend on.
/// `corpus`: the corpus whose datastore `opts.dest` is ([`corpus_datastore`]): each torrent
/// must be a shard that can land there, and is registered once fetched.
pub fn get(
    request: &Request,
    opts: &GetOptions,
    corpus: Option<&Path>,
    with_deps: bool,
    on_event: &mut dyn FnMut(Event<'_>) -> std::io::Result<()>,
    on_progress: &(dyn Fn(&Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<GetSummary, ShareError> {
    let fetch = |request: &Request| -> Result<Fetched, ShareError> {
        let accept = |m: &Metainfo| if corpus.is_some() { accept_shard(m, &opts.dest) } else { Ok(()) };
        let (report, meta) = pycorpus_torrent::get(request, opts, &accept, on_progress, cancel)?;
        let registered = corpus.map(|root| register(root, &meta, &report.path)).transpose()?;
        Ok(Fetched { report, meta, registered })
    };
    let first = fetch(request)?;
    on_event(Event::Fetched(&first))?;
    let sources = match request {
        Request::Hash(m) => Magnet { trackers: m.trackers.clone(), webseeds: m.webseeds.clone(), peers: m.peers.clone(), ..Default::default() },
        Request::File(_) => Magnet::default(),
    };
    let mut todo = vec![(first.report.path.clone(), first.meta.webseeds.clone())];
    let mut summary = GetSummary { fetched: vec![first], missing: Vec::new() };
    let mut seen = BTreeSet::new();
    while let Some((dir, webseeds)) = todo.pop() {
        for (shard, info_hash) in dependencies(&dir) {
            if !seen.insert(shard) {
                continue;
            }
            let path = opts.dest.join(format!("{shard:06}"));
            let present = path.join("manifest.json").is_file();
            let fetching = !present && with_deps && info_hash.is_some();
            on_event(Event::DependsOn { of: &dir, shard, info_hash: info_hash.as_deref(), present, fetching })?;
            if present {
                // it may have come without its own dependencies
                todo.push((path, Vec::new()));
                continue;
            }
            let Some(hash) = info_hash.filter(|_| fetching) else {
                summary.missing.push(shard);
                continue;
            };
            let bad = |why: String| ShareError::Manifest { path: dir.join("manifest.json"), why };
            let info_hash = parse_hash(&hash).ok_or_else(|| bad(format!("{hash:?} is not an info-hash")))?;
            let mut m = Magnet { info_hash, name: Some(format!("{shard:06}")), ..sources.clone() };
            m.webseeds.extend(webseeds.iter().filter(|w| !m.webseeds.contains(w)).cloned().collect::<Vec<_>>());
            let dep = fetch(&Request::Hash(m))?;
            if dep.meta.name != format!("{shard:06}") {
                return Err(bad(format!("names {hash} as shard {shard:06}, but that torrent is {:?}", dep.meta.name)));
            }
            on_event(Event::Fetched(&dep))?;
            todo.push((dep.report.path.clone(), dep.meta.webseeds.clone()));
            summary.fetched.push(dep);
        }
    }
    Ok(summary)
}

/// Refuses a torrent that cannot land in the corpus whose datastore is `shards` as shard NAME.
fn accept_shard(meta: &Metainfo, shards: &Path) -> Result<(), TorrentError> {
    let refuse = |why: String| Err(TorrentError::Invalid(format!("{} ({}) cannot go into the corpus: {why}; fetch it into a datastore folder instead", meta.name, meta.hex())));
    if meta.layout.single_file || !meta.layout.files.iter().any(|f| f.path == Path::new("manifest.json")) {
        return refuse("it is not a pycorpus shard (no manifest.json at its top)".into());
    }
    if meta.name.len() != 6 || !meta.name.bytes().all(|b| b.is_ascii_digit()) {
        return refuse("a shard's name is its six-digit number".into());
    }
    if shards.join(format!("{}.open", meta.name)).exists() {
        return refuse(format!("the corpus is filling its own shard {} (seal it, or fetch into another corpus)", meta.name));
    }
    Ok(())
}

/// The shards the shard in `dir` depends on, with their info-hashes when given (none when it
/// is not a shard, or a format-1 one).
fn dependencies(dir: &Path) -> Vec<(u32, Option<String>)> {
    let Ok(text) = std::fs::read(dir.join("manifest.json")) else { return Vec::new() };
    let Ok(m) = serde_json::from_slice::<Manifest>(&text) else { return Vec::new() };
    let hashes = m.depends_on_info_hash.unwrap_or_default();
    m.depends_on.unwrap_or_default().into_iter().map(|shard| (shard, hashes.get(&format!("{shard:06}")).cloned())).collect()
}

/// Makes a fetched shard part of the corpus at `root`: its manifest must name the same shard,
/// then the corpus's state takes in its releases. Returns its distributions.
fn register(root: &Path, meta: &Metainfo, path: &Path) -> Result<u64, ShareError> {
    let manifest = path.join("manifest.json");
    let bad = |why: String| ShareError::Manifest { path: manifest.clone(), why };
    let text = std::fs::read(&manifest).map_err(|e| bad(e.to_string()))?;
    let m: Manifest = serde_json::from_slice(&text).map_err(|e| bad(format!("not a shard manifest: {e}")))?;
    if format!("{:06}", m.shard) != meta.name {
        return Err(bad(format!("says shard {:06}, the torrent's name is {}", m.shard, meta.name)));
    }
    // Opening for writing reconciles state.sqlite with the shards, loading the new one.
    drop(Corpus::open(root, Access::Write)?);
    Ok(m.distributions)
}
