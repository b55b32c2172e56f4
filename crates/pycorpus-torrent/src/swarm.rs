//! The peer-to-peer side, on librqbit: one session per command, torrents added from our own
//! metainfo bytes (or a magnet when only peers know the metainfo), driven from blocking code.

use crate::TorrentError;
use crate::metainfo::Metainfo;
use librqbit::limits::LimitsConfig;
use librqbit::{AddTorrent, AddTorrentOptions, ListenerMode, ListenerOptions, ManagedTorrent, Session, SessionOptions};
use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Session settings.
#[derive(Debug, Clone, Default)]
pub struct SwarmOptions {
    /// Where to accept peers (`None`: outgoing connections only). Port 0 picks a free port.
    pub listen: Option<SocketAddr>,
    /// The port told to trackers and the DHT (default: the listening port, also on loopback).
    pub announce_port: Option<u16>,
    /// Mainline DHT and local service discovery (off in tests: neither forms on loopback).
    pub dht: bool,
    /// Upload limit, bytes per second.
    pub upload_limit: Option<u32>,
    /// Download limit, bytes per second.
    pub download_limit: Option<u32>,
}

/// A running librqbit session with its own tokio runtime.
pub struct Swarm {
    rt: tokio::runtime::Runtime,
    session: Arc<Session>,
}

/// A torrent in the session.
#[derive(Clone)]
pub struct Torrent(Arc<ManagedTorrent>);

/// Where a torrent's transfer stands.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SwarmStats {
    /// Verified bytes on disk.
    pub have_bytes: u64,
    /// Bytes of the torrent.
    pub total_bytes: u64,
    /// All pieces verified.
    pub finished: bool,
    /// Bytes received from peers this session (more than the verified ones when a peer sent
    /// bad pieces).
    pub fetched_bytes: u64,
    /// Bytes received and verified this session.
    pub checked_bytes: u64,
    /// Bytes sent to peers this session.
    pub uploaded_bytes: u64,
    /// Peers connected now.
    pub live_peers: u32,
    /// Why the torrent stopped, if it did.
    pub error: Option<String>,
}

fn bt(context: &str, e: impl std::fmt::Display) -> TorrentError {
    TorrentError::Net(format!("{context}: {e:#}"))
}

/// A free TCP port on `ip` (so that the announced port is known before librqbit binds it).
fn free_port(addr: SocketAddr) -> Result<SocketAddr, TorrentError> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let l = TcpListener::bind(addr).map_err(|e| bt(&format!("cannot listen on {addr}"), e))?;
    l.local_addr().map_err(|e| bt("listen address", e))
}

impl Swarm {
    /// Starts a session.
    pub fn start(opts: &SwarmOptions) -> Result<Swarm, TorrentError> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().thread_name("pycorpus-bt").build().map_err(|e| bt("cannot start the async runtime", e))?;
        let listen = opts.listen.map(free_port).transpose()?;
        let nz = |v: Option<u32>| v.and_then(NonZeroU32::new);
        let sopts = SessionOptions {
            dht: opts.dht.then(Default::default),
            disable_local_service_discovery: !opts.dht,
            listen: listen.map(|addr| ListenerOptions {
                mode: ListenerMode::TcpOnly,
                listen_addr: addr,
                announce_port: Some(opts.announce_port.unwrap_or(addr.port())),
                ipv4_only: addr.is_ipv4(),
                ..Default::default()
            }),
            ipv4_only: listen.is_some_and(|a| a.is_ipv4()),
            ratelimits: LimitsConfig { upload_bps: nz(opts.upload_limit), download_bps: nz(opts.download_limit) },
            client_name_and_version: Some(concat!("pycorpus/", env!("CARGO_PKG_VERSION")).to_string()),
            ..Default::default()
        };
        let session = rt.block_on(Session::new_with_opts(PathBuf::from("."), sopts)).map_err(|e| bt("cannot start the BitTorrent session", e))?;
        Ok(Swarm { rt, session })
    }

    /// Where peers reach us, if we listen.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.session.listen_addr()
    }

    /// Adds a torrent whose content is (or will be) in `root`, checking what is already
    /// there. `peers` are tried at once; `trackers` add to the metainfo's.
    pub fn add(&self, meta: &Metainfo, root: &Path, peers: &[SocketAddr], trackers: &[String]) -> Result<Torrent, TorrentError> {
        self.add_inner(AddTorrent::from_bytes(meta.bytes.clone()), root, peers, trackers)
    }

    /// Adds a torrent known only by info-hash: the metainfo comes from peers (BEP 9). Waits
    /// at most `timeout` for it, and stops waiting when `cancel` is set.
    pub fn add_magnet(&self, info_hash: &[u8; 20], root: &Path, peers: &[SocketAddr], trackers: &[String], timeout: Duration, cancel: &AtomicBool) -> Result<Torrent, TorrentError> {
        let link = format!("magnet:?xt=urn:btih:{}", hex::encode(info_hash));
        let add = AddTorrent::from_url(link);
        // Paused: only the metainfo is wanted here; the download starts from the partial folder.
        let fut = self.add_future(add, root, peers, trackers, true);
        self.rt.block_on(async {
            tokio::pin!(fut);
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                tokio::select! {
                    // A failure that races with Ctrl-C (the peers giving up as the user
                    // stops) is the interruption the user asked for.
                    r = &mut fut => return match r {
                        Err(_) if cancel.load(Ordering::Relaxed) => Err(TorrentError::Interrupted),
                        r => r,
                    },
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        if cancel.load(Ordering::Relaxed) {
                            return Err(TorrentError::Interrupted);
                        }
                        if tokio::time::Instant::now() >= deadline {
                            return Err(TorrentError::Net(format!(
                                "no peer sent the metainfo of {} within {} s (a catalog, a known peer or a tracker may have it)",
                                hex::encode(info_hash),
                                timeout.as_secs()
                            )));
                        }
                    }
                }
            }
        })
    }

    fn add_inner(&self, add: AddTorrent<'static>, root: &Path, peers: &[SocketAddr], trackers: &[String]) -> Result<Torrent, TorrentError> {
        self.rt.block_on(self.add_future(add, root, peers, trackers, false))
    }

    async fn add_future(&self, add: AddTorrent<'static>, root: &Path, peers: &[SocketAddr], trackers: &[String], paused: bool) -> Result<Torrent, TorrentError> {
        let opts = AddTorrentOptions {
            paused,
            overwrite: true,
            output_folder: Some(root.to_string_lossy().into_owned()),
            initial_peers: (!peers.is_empty()).then(|| peers.to_vec()),
            trackers: (!trackers.is_empty()).then(|| trackers.to_vec()),
            ..Default::default()
        };
        let resp = self.session.add_torrent(add, Some(opts)).await.map_err(|e| bt("cannot add the torrent", e))?;
        let handle = resp.into_handle().ok_or_else(|| TorrentError::Net("librqbit listed the torrent instead of adding it".into()))?;
        handle.wait_until_initialized().await.map_err(|e| bt("checking the files on disk", e))?;
        Ok(Torrent(handle))
    }

    /// The transfer's figures now.
    pub fn stats(&self, t: &Torrent) -> SwarmStats {
        let s = t.0.stats();
        let live = s.live.as_ref();
        SwarmStats {
            have_bytes: s.progress_bytes,
            total_bytes: s.total_bytes,
            finished: s.finished,
            fetched_bytes: live.map_or(0, |l| l.snapshot.fetched_bytes),
            checked_bytes: live.map_or(0, |l| l.snapshot.downloaded_and_checked_bytes),
            uploaded_bytes: s.uploaded_bytes,
            live_peers: live.map_or(0, |l| l.snapshot.peer_stats.live),
            error: s.error,
        }
    }

    /// The `.torrent` bytes librqbit holds (for a magnet: once the metainfo arrived).
    pub fn torrent_bytes(&self, t: &Torrent) -> Option<Vec<u8>> {
        t.0.with_metadata(|m| m.torrent_bytes.to_vec()).ok()
    }

    /// Removes a torrent from the session, keeping its files, and waits until its files are
    /// closed.
    pub fn remove(&self, t: Torrent) -> Result<(), TorrentError> {
        let id = t.0.id();
        drop(t);
        self.rt.block_on(self.session.delete(id.into(), false)).map_err(|e| bt("removing the torrent", e))
    }

    /// Stops the session.
    pub fn stop(self) {
        self.rt.block_on(self.session.stop());
        self.rt.shutdown_timeout(Duration::from_secs(5));
    }
}
