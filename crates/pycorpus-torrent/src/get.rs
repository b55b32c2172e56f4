//! `get`: from an info-hash, magnet or `.torrent` to verified files in a datastore folder.
//!
//! The datastore is a plain folder: content lands in `<dest>/<name>`; beside it,
//! `<dest>/.torrents/` keeps `<hash>.torrent`, the verification stamp `<hash>.json` (sizes and
//! modification times of the files when every piece last verified), and
//! `<hash>.partial/`, the download in progress. Content appears under its name only once every
//! piece is verified, by a rename; a killed `get` resumes from the partial folder, keeping
//! every piece that still verifies.

use crate::TorrentError;
use crate::check;
use crate::magnet::Request;
use crate::metainfo::Metainfo;
use crate::swarm::{Swarm, SwarmOptions};
use crate::webseed::{self, WebSeedOptions};
use serde::{Deserialize, Serialize};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Where the sources are and how long to wait for them.
#[derive(Debug, Clone)]
pub struct GetOptions {
    /// The datastore folder.
    pub dest: PathBuf,
    /// Peers to try at once (`IP:PORT`).
    pub peers: Vec<SocketAddr>,
    /// Trackers, besides the metainfo's.
    pub trackers: Vec<String>,
    /// Web seeds, besides the metainfo's `url-list`.
    pub webseeds: Vec<String>,
    /// Folders of `<hash>.torrent` files reachable over HTTP.
    pub catalogs: Vec<String>,
    /// Re-check every piece of a datastore hit instead of trusting its stamp.
    pub verify: bool,
    /// The peer session.
    pub swarm: SwarmOptions,
    /// Web seed settings.
    pub webseed: WebSeedOptions,
    /// With web seeds at hand: how long peers may go without progress before the web seeds
    /// fetch the rest.
    pub webseed_after: Duration,
    /// With no web seed: how long peers may go without progress before giving up (the files
    /// stay for a later resume).
    pub stall_timeout: Duration,
    /// Longest wait for the metainfo from peers.
    pub metadata_timeout: Duration,
}

impl GetOptions {
    /// Defaults for `dest`.
    pub fn new(dest: PathBuf) -> GetOptions {
        GetOptions {
            dest,
            peers: Vec::new(),
            trackers: Vec::new(),
            webseeds: Vec::new(),
            catalogs: Vec::new(),
            verify: false,
            swarm: SwarmOptions { dht: true, ..Default::default() },
            webseed: WebSeedOptions::default(),
            webseed_after: Duration::from_secs(15),
            stall_timeout: Duration::from_secs(300),
            metadata_timeout: Duration::from_secs(120),
        }
    }
}

/// What `get` is doing, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading what is already on disk.
    Checking,
    /// Waiting for the metainfo from peers.
    Metadata,
    /// Downloading from peers.
    Peers,
    /// Downloading from web seeds.
    WebSeeds,
}

/// Progress of a `get`.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// What is running.
    pub phase: Phase,
    /// Bytes done (verified, or checked while checking).
    pub done: u64,
    /// Bytes in all.
    pub total: u64,
}

/// What a `get` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GetReport {
    /// The info-hash (hex).
    pub info_hash: String,
    /// The torrent's name.
    pub name: String,
    /// The content's path.
    pub path: PathBuf,
    /// Bytes of content.
    pub total_bytes: u64,
    /// Found in the datastore: nothing was downloaded.
    pub from_datastore: bool,
    /// Every piece re-checked.
    pub verified: bool,
    /// Verified bytes already on disk from an interrupted run.
    pub resumed_bytes: u64,
    /// Verified bytes from peers.
    pub peer_bytes: u64,
    /// Verified bytes from web seeds.
    pub webseed_bytes: u64,
    /// Bytes received that failed their piece hash (from peers or web seeds).
    pub discarded_bytes: u64,
    /// Web seeds dropped, and why.
    pub banned_webseeds: Vec<(String, String)>,
    /// Where the metainfo came from: `file`, `datastore`, a catalog URL, or `peers`.
    pub metainfo_from: String,
    /// Wall time.
    pub seconds: f64,
}

/// The verification stamp kept beside a finished download.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Stamp {
    info_hash: String,
    name: String,
    files: Vec<(PathBuf, u64, u128)>,
}

/// The datastore's bookkeeping folder.
fn meta_dir(dest: &Path) -> PathBuf {
    dest.join(".torrents")
}

/// The content folder of `meta` when its files sit under `parent` (a single-file torrent's
/// file sits in `parent` itself).
pub fn content_root(meta: &Metainfo, parent: &Path) -> PathBuf {
    if meta.layout.single_file { parent.to_path_buf() } else { parent.join(&meta.name) }
}

/// The path of the downloaded content.
pub fn content_path(meta: &Metainfo, dest: &Path) -> PathBuf {
    dest.join(&meta.name)
}

fn file_state(meta: &Metainfo, root: &Path) -> Option<Vec<(PathBuf, u64, u128)>> {
    meta.layout
        .files
        .iter()
        .map(|f| {
            let m = fs::metadata(root.join(&f.path)).ok()?;
            let mtime = m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
            Some((f.path.clone(), m.len(), mtime))
        })
        .collect()
}

fn write_stamp(meta: &Metainfo, dest: &Path) -> Result<(), TorrentError> {
    let root = content_root(meta, dest);
    let files = file_state(meta, &root).ok_or_else(|| TorrentError::Invalid(format!("{} lost a file while stamping", root.display())))?;
    let stamp = Stamp { info_hash: meta.hex(), name: meta.name.clone(), files };
    crate::write_file_atomic(&meta_dir(dest).join(format!("{}.json", meta.hex())), &serde_json::to_vec_pretty(&stamp).expect("json"))
}

/// Whether `dest` holds a stamp of `meta` (the content there is ours), and whether it still
/// describes the files there.
fn stamp_state(meta: &Metainfo, dest: &Path) -> (bool, bool) {
    let Ok(text) = fs::read(meta_dir(dest).join(format!("{}.json", meta.hex()))) else { return (false, false) };
    let Ok(stamp) = serde_json::from_slice::<Stamp>(&text) else { return (true, false) };
    (true, file_state(meta, &content_root(meta, dest)).is_some_and(|now| now == stamp.files))
}

/// The metainfo saved in the datastore, if any.
fn stored_metainfo(dest: &Path, hash: &[u8; 20]) -> Option<Metainfo> {
    let path = meta_dir(dest).join(format!("{}.torrent", hex::encode(hash)));
    Metainfo::parse(fs::read(path).ok()?).ok().filter(|m| m.info_hash == *hash)
}

/// Fetches `<catalog>/<hash>.torrent` from each catalog in turn; a file whose info-hash
/// differs from the one asked for is refused.
fn from_catalogs(catalogs: &[String], hash: &[u8; 20]) -> Result<Option<(Metainfo, String)>, TorrentError> {
    if catalogs.is_empty() {
        return Ok(None);
    }
    let http = webseed::http_client(Duration::from_secs(60))?;
    let mut problems = Vec::new();
    for c in catalogs {
        let url = format!("{}/{}.torrent", c.trim_end_matches('/'), hex::encode(hash));
        let resp = match http.get(&url).send() {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{url}: {e}"));
                continue;
            }
        };
        if !resp.status().is_success() {
            problems.push(format!("{url}: HTTP {}", resp.status().as_u16()));
            continue;
        }
        let bytes = match resp.bytes() {
            Ok(b) if b.len() <= 64 << 20 => b.to_vec(),
            Ok(_) => {
                problems.push(format!("{url}: larger than 64 MiB"));
                continue;
            }
            Err(e) => {
                problems.push(format!("{url}: {e}"));
                continue;
            }
        };
        match Metainfo::parse(bytes) {
            Ok(m) if m.info_hash == *hash => return Ok(Some((m, url))),
            Ok(m) => {
                return Err(TorrentError::WrongHash { source_url: url, asked: hex::encode(hash), got: m.hex() });
            }
            Err(e) => problems.push(format!("{url}: {e}")),
        }
    }
    Err(TorrentError::Net(format!("no catalog had the metainfo: {}", problems.join("; "))))
}

/// Drops repeats, keeping the first of each (sources are tried in the order given).
fn unique_in_order<T: PartialEq + Clone>(v: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::with_capacity(v.len());
    v.retain(|x| {
        let new = !seen.contains(x);
        if new {
            seen.push(x.clone());
        }
        new
    });
}

/// Runs `work` while a thread reports `counter` as the progress of `phase` ten times a second.
fn ticking<T>(phase: Phase, counter: &AtomicU64, total: u64, on_progress: &(dyn Fn(&Progress) + Sync), work: impl FnOnce() -> T) -> T {
    let finished = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                on_progress(&Progress { phase, done: counter.load(Ordering::Relaxed), total });
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = work();
        finished.store(true, Ordering::Relaxed);
        r
    })
}

/// Where the bytes may come from: the options' sources, the magnet's, the metainfo's.
struct Sources {
    peers: Vec<std::net::SocketAddr>,
    trackers: Vec<String>,
    webseeds: Vec<String>,
}

/// Downloads what `request` names into `opts.dest`, or finds it there. `accept` sees the
/// metainfo before anything is written (a corpus refuses a shard number it already uses).
pub fn get(
    request: &Request,
    opts: &GetOptions,
    accept: &dyn Fn(&Metainfo) -> Result<(), TorrentError>,
    on_progress: &(dyn Fn(&Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<(GetReport, Metainfo), TorrentError> {
    let started = Instant::now();
    let dest = &opts.dest;
    fs::create_dir_all(meta_dir(dest)).map_err(|e| TorrentError::io(dest, e))?;
    let mut sources = Sources { peers: opts.peers.clone(), trackers: opts.trackers.clone(), webseeds: opts.webseeds.clone() };
    let mut report = GetReport::default();
    let (meta, swarm) = find_metainfo(request, opts, &mut sources, &mut report, on_progress, cancel)?;
    sources.trackers.extend(meta.trackers.iter().cloned());
    sources.webseeds.extend(meta.webseeds.iter().cloned());
    unique_in_order(&mut sources.peers);
    unique_in_order(&mut sources.trackers);
    unique_in_order(&mut sources.webseeds);
    report.info_hash = meta.hex();
    report.name = meta.name.clone();
    report.total_bytes = meta.total_length();
    report.path = content_path(&meta, dest);
    let counter = AtomicU64::new(0);
    let checking = |root: &Path| -> Result<Vec<bool>, TorrentError> {
        counter.store(0, Ordering::Relaxed);
        let have = ticking(Phase::Checking, &counter, meta.total_length(), on_progress, || check::check(&meta.layout, &meta.pieces, root, &counter, cancel).map_err(|e| TorrentError::io(root, e)))?;
        if cancel.load(Ordering::Relaxed) {
            return Err(TorrentError::Interrupted);
        }
        Ok(have)
    };
    if in_datastore(&meta, opts, &mut report, &checking)? {
        report.seconds = started.elapsed().as_secs_f64();
        return Ok((report, meta));
    }
    accept(&meta)?;
    crate::write_file_atomic(&meta_dir(dest).join(format!("{}.torrent", meta.hex())), &meta.bytes)?;
    let partial = meta_dir(dest).join(format!("{}.partial", meta.hex()));
    fs::create_dir_all(&partial).map_err(|e| TorrentError::io(&partial, e))?;
    let mut have = checking(&partial)?;
    report.resumed_bytes = check::bytes_of(&meta.layout, &have);
    if !have.iter().all(|h| *h) && (!sources.peers.is_empty() || !sources.trackers.is_empty() || opts.swarm.dht) {
        let finished = from_peers(&meta, &partial, swarm, &sources, opts, &mut report, on_progress, cancel)?;
        // librqbit verified every piece it wrote; what it left for the web seeds is read back.
        have = if finished { vec![true; have.len()] } else { checking(&partial)? };
    }
    if !have.iter().all(|h| *h) {
        from_webseeds(&meta, &partial, &mut have, &sources.webseeds, opts, &mut report, on_progress, cancel)?;
    }
    finish(&meta, &partial, &report.path, dest)?;
    report.verified = true;
    report.seconds = started.elapsed().as_secs_f64();
    Ok((report, meta))
}

/// The metainfo: given, kept from an earlier run, from a catalog, or from peers (then with the
/// swarm that asked them, to fetch the content from the same peers). A magnet's sources join
/// `sources`.
fn find_metainfo(
    request: &Request,
    opts: &GetOptions,
    sources: &mut Sources,
    report: &mut GetReport,
    on_progress: &(dyn Fn(&Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<(Metainfo, Option<Swarm>), TorrentError> {
    let m = match request {
        Request::File(path) => {
            report.metainfo_from = "file".into();
            return Ok((Metainfo::read(path)?, None));
        }
        Request::Hash(m) => m,
    };
    sources.peers.extend(&m.peers);
    sources.trackers.extend(m.trackers.iter().cloned());
    sources.webseeds.extend(m.webseeds.iter().cloned());
    let dest = &opts.dest;
    if let Some(meta) = stored_metainfo(dest, &m.info_hash) {
        report.metainfo_from = "datastore".into();
        return Ok((meta, None));
    }
    let ask_peers = !sources.peers.is_empty() || !sources.trackers.is_empty() || opts.swarm.dht;
    match from_catalogs(&opts.catalogs, &m.info_hash) {
        Ok(Some((meta, url))) => {
            report.metainfo_from = url;
            return Ok((meta, None));
        }
        Ok(None) => {}
        // Catalogs that do not have it leave the peers to ask; one that lies is an error.
        Err(TorrentError::Net(why)) if ask_peers => tracing::warn!("{why}; asking peers"),
        Err(e) => return Err(e),
    }
    if !ask_peers {
        return Err(TorrentError::Invalid("nothing to ask for the metainfo: no .torrent file, catalog, peer or tracker was given and the DHT is off".into()));
    }
    on_progress(&Progress { phase: Phase::Metadata, done: 0, total: 0 });
    let s = Swarm::start(&opts.swarm)?;
    let scratch = meta_dir(dest).join(format!("{}.metadata", hex::encode(m.info_hash)));
    let t = s.add_magnet(&m.info_hash, &scratch, &sources.peers, &sources.trackers, opts.metadata_timeout, cancel)?;
    let bytes = s.torrent_bytes(&t).ok_or_else(|| TorrentError::Net("the peers' metainfo did not arrive".into()))?;
    s.remove(t)?;
    let _ = fs::remove_dir_all(&scratch);
    let meta = Metainfo::parse(bytes)?;
    if meta.info_hash != m.info_hash {
        return Err(TorrentError::WrongHash { source_url: "peers".into(), asked: hex::encode(m.info_hash), got: meta.hex() });
    }
    report.metainfo_from = "peers".into();
    Ok((meta, Some(s)))
}

/// The datastore: true when a stamped copy is there (or an unstamped one that checks whole).
/// A copy of ours damaged since goes back to the partial folder, keeping its good pieces;
/// anything else in the way is an error.
fn in_datastore(meta: &Metainfo, opts: &GetOptions, report: &mut GetReport, checking: &dyn Fn(&Path) -> Result<Vec<bool>, TorrentError>) -> Result<bool, TorrentError> {
    let (dest, final_path) = (&opts.dest, &report.path);
    if !final_path.exists() {
        return Ok(false);
    }
    let (ours, stamped) = stamp_state(meta, dest);
    if stamped && !opts.verify {
        report.from_datastore = true;
        return Ok(true);
    }
    let have = checking(&content_root(meta, dest))?;
    let bad = have.iter().filter(|h| !**h).count();
    if bad == 0 {
        write_stamp(meta, dest)?;
        (report.from_datastore, report.verified) = (true, true);
        return Ok(true);
    }
    if !ours {
        let (path, hash, pieces) = (final_path.display(), meta.hex(), have.len());
        return Err(TorrentError::Invalid(format!("{path} exists and does not match torrent {hash} ({bad} of {pieces} pieces differ); move it away or choose another -o")));
    }
    tracing::warn!("{}: {bad} pieces no longer verify; fetching them again", final_path.display());
    let partial = meta_dir(dest).join(format!("{}.partial", meta.hex()));
    let _ = fs::remove_dir_all(&partial);
    let _ = fs::remove_file(meta_dir(dest).join(format!("{}.json", meta.hex())));
    if meta.layout.single_file {
        fs::create_dir_all(&partial).map_err(|e| TorrentError::io(&partial, e))?;
        fs::rename(final_path, partial.join(&meta.name)).map_err(|e| TorrentError::io(final_path, e))?;
    } else {
        fs::rename(final_path, &partial).map_err(|e| TorrentError::io(final_path, e))?;
    }
    Ok(false)
}

/// Fetches from peers into `partial` until done, stalled (then web seeds, if any, take over
/// after `webseed_after`; else an error after `stall_timeout`), or cancelled. True when every
/// piece arrived.
#[allow(clippy::too_many_arguments)]
fn from_peers(
    meta: &Metainfo,
    partial: &Path,
    swarm: Option<Swarm>,
    sources: &Sources,
    opts: &GetOptions,
    report: &mut GetReport,
    on_progress: &(dyn Fn(&Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<bool, TorrentError> {
    let s = match swarm {
        Some(s) => s,
        None => Swarm::start(&opts.swarm)?,
    };
    let t = s.add(meta, partial, &sources.peers, &sources.trackers)?;
    let (total, fallback) = (meta.total_length(), !sources.webseeds.is_empty());
    let mut last = (s.stats(&t).have_bytes, Instant::now());
    let outcome = loop {
        let st = s.stats(&t);
        on_progress(&Progress { phase: Phase::Peers, done: st.have_bytes, total });
        report.peer_bytes = st.checked_bytes;
        report.discarded_bytes = st.fetched_bytes.saturating_sub(st.checked_bytes);
        if st.finished {
            break Ok(());
        }
        if cancel.load(Ordering::Relaxed) {
            break Err(TorrentError::Interrupted);
        }
        if let Some(e) = st.error {
            break if fallback { Ok(()) } else { Err(TorrentError::Net(format!("peers: {e}"))) };
        }
        if st.have_bytes > last.0 {
            last = (st.have_bytes, Instant::now());
        }
        let idle = last.1.elapsed();
        if fallback && idle >= opts.webseed_after {
            tracing::info!("no progress from peers for {} s; web seeds take over", idle.as_secs());
            break Ok(());
        }
        if !fallback && idle >= opts.stall_timeout {
            break Err(TorrentError::Net(format!("no progress from peers for {} s ({} of {total} bytes verified); run again to resume", idle.as_secs(), st.have_bytes)));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let finished = s.stats(&t).finished;
    s.remove(t)?;
    s.stop();
    outcome.map(|()| finished)
}

/// Fetches the pieces still missing from web seeds (HTTP Range).
#[allow(clippy::too_many_arguments)]
fn from_webseeds(
    meta: &Metainfo,
    partial: &Path,
    have: &mut [bool],
    webseeds: &[String],
    opts: &GetOptions,
    report: &mut GetReport,
    on_progress: &(dyn Fn(&Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<(), TorrentError> {
    if webseeds.is_empty() {
        return Err(TorrentError::Invalid("no source to download from: no peer, tracker or web seed was given (a magnet's x.pe=, tr= and ws= count) and the DHT is off".into()));
    }
    let done = AtomicU64::new(check::bytes_of(&meta.layout, have));
    let r = ticking(Phase::WebSeeds, &done, meta.total_length(), on_progress, || webseed::fetch(meta, partial, have, webseeds, &opts.webseed, &done, cancel))?;
    report.webseed_bytes = r.verified_bytes;
    report.discarded_bytes += r.discarded_bytes;
    report.banned_webseeds = r.banned;
    if cancel.load(Ordering::Relaxed) {
        return Err(TorrentError::Interrupted);
    }
    Ok(())
}

/// Every piece verified: the content takes its name, then the stamp is written. (Empty files
/// hold no piece, so nobody may have made them yet.)
fn finish(meta: &Metainfo, partial: &Path, final_path: &Path, dest: &Path) -> Result<(), TorrentError> {
    meta.layout.open_write(partial).map_err(|e| TorrentError::io(partial, e))?;
    // On disk before the stamp vouches for it.
    meta.layout.sync_all(partial).map_err(|e| TorrentError::io(partial, e))?;
    let from = if meta.layout.single_file { partial.join(&meta.name) } else { partial.to_path_buf() };
    fs::rename(&from, final_path).map_err(|e| TorrentError::io(final_path, e))?;
    let _ = fs::remove_dir_all(partial);
    pycorpus_fs::sync_dir(dest).map_err(|e| TorrentError::io(&e.path, e.source))?;
    write_stamp(meta, dest)
}
