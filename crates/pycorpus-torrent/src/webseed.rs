//! BEP 19 web seeds: the missing pieces fetched from plain HTTP servers with Range requests,
//! each piece checked against its sha1 before it is written. librqbit has no web seeds, so
//! this is ours.
//!
//! Work goes out in runs of consecutive missing pieces (up to [`UNIT_BYTES`]) to a few
//! connections at once, so memory stays at `connections x UNIT_BYTES` whatever the torrent's
//! size. A server that sends a piece with the wrong hash is banned at once (it holds other
//! bytes than the torrent's); one that fails on the network is retried with backoff and
//! banned after [`MAX_NET_FAILURES`] failures in a row.

use crate::TorrentError;
use crate::layout::Layout;
use crate::metainfo::Metainfo;
use sha1::{Digest, Sha1};
use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Largest run of pieces asked for at once.
pub const UNIT_BYTES: u64 = 8 << 20;
/// Network failures in a row after which a web seed is dropped.
pub const MAX_NET_FAILURES: u32 = 5;

/// How the web seeds are used.
#[derive(Debug, Clone)]
pub struct WebSeedOptions {
    /// Requests in flight at once.
    pub connections: usize,
    /// Longest a request may take (connect, headers and body).
    pub timeout: Duration,
}

impl Default for WebSeedOptions {
    fn default() -> Self {
        WebSeedOptions { connections: 4, timeout: Duration::from_secs(120) }
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WebSeedReport {
    /// Bytes received and verified.
    pub verified_bytes: u64,
    /// Bytes received that failed their hash.
    pub discarded_bytes: u64,
    /// Web seeds dropped, with why.
    pub banned: Vec<(String, String)>,
}

struct Seed {
    url: String,
    net_failures: AtomicU32,
    banned: AtomicBool,
}

/// The URL of file `fi` on web seed `base` (BEP 19: a multi-file torrent's files sit under
/// `<base>/<name>/`; a single file is `<base>` itself, or `<base><name>` when it ends in `/`).
pub fn file_url(base: &str, meta: &Metainfo, fi: usize) -> String {
    let enc = |s: &str| crate::magnet::encode(s);
    if meta.layout.single_file {
        return if base.ends_with('/') { format!("{base}{}", enc(&meta.name)) } else { base.to_string() };
    }
    let mut url = base.trim_end_matches('/').to_string();
    url.push('/');
    url.push_str(&enc(&meta.name));
    for c in meta.layout.files[fi].path.iter() {
        url.push('/');
        url.push_str(&enc(&c.to_string_lossy()));
    }
    url
}

/// Fetches every piece not marked in `have` into the files under `root`, marking each as it
/// is verified and counting its bytes into `progress`. Fails when every web seed is banned
/// with pieces still missing; stops (leaving `have` as far as it got) when `cancel` is set.
pub fn fetch(meta: &Metainfo, root: &Path, have: &mut [bool], seeds: &[String], opts: &WebSeedOptions, progress: &AtomicU64, cancel: &AtomicBool) -> Result<WebSeedReport, TorrentError> {
    let layout = &meta.layout;
    let units = plan(layout, have);
    if units.is_empty() {
        return Ok(WebSeedReport::default());
    }
    if seeds.is_empty() {
        return Err(TorrentError::Invalid("no web seeds to fetch from".into()));
    }
    let http = http_client(opts.timeout)?;
    let handles = layout.open_write(root).map_err(|e| TorrentError::io(root, e))?;
    let seeds: Vec<Seed> = seeds.iter().map(|u| Seed { url: u.clone(), net_failures: AtomicU32::new(0), banned: AtomicBool::new(false) }).collect();
    let queue = Mutex::new(units);
    let have_m = Mutex::new(have);
    let report = Mutex::new(WebSeedReport::default());
    let next_seed = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..opts.connections.max(1) {
            s.spawn(|| {
                let mut buf = Vec::new();
                loop {
                    if cancel.load(Ordering::Relaxed) {
                        return;
                    }
                    let Some((first, count)) = queue.lock().expect("queue").pop_front() else { return };
                    let live: Vec<&Seed> = seeds.iter().filter(|s| !s.banned.load(Ordering::Relaxed)).collect();
                    if live.is_empty() {
                        queue.lock().expect("queue").push_front((first, count));
                        return;
                    }
                    let seed = live[next_seed.fetch_add(1, Ordering::Relaxed) as usize % live.len()];
                    let (start, _) = layout.piece(first);
                    let (last_start, last_len) = layout.piece(first + count - 1);
                    let len = last_start + last_len - start;
                    match get_range(&http, meta, &seed.url, start, len, &mut buf) {
                        Err(e) => {
                            let n = seed.net_failures.fetch_add(1, Ordering::Relaxed) + 1;
                            tracing::warn!("web seed {}: {e}", seed.url);
                            if n >= MAX_NET_FAILURES && !seed.banned.swap(true, Ordering::Relaxed) {
                                report.lock().expect("report").banned.push((seed.url.clone(), e));
                            }
                            queue.lock().expect("queue").push_back((first, count));
                            std::thread::sleep(Duration::from_millis(200 * u64::from(n.min(10))));
                        }
                        Ok(()) => {
                            seed.net_failures.store(0, Ordering::Relaxed);
                            for i in first..first + count {
                                let (ps, pl) = layout.piece(i);
                                let data = &buf[(ps - start) as usize..(ps - start + pl) as usize];
                                if Sha1::digest(data).as_slice() != meta.pieces[i as usize] {
                                    let mut r = report.lock().expect("report");
                                    r.discarded_bytes += pl;
                                    if !seed.banned.swap(true, Ordering::Relaxed) {
                                        r.banned.push((seed.url.clone(), format!("piece {i} failed its sha1")));
                                    }
                                    queue.lock().expect("queue").push_back((i, 1));
                                    continue;
                                }
                                if let Err(e) = layout.write_at(&handles, ps, data).and_then(|_| layout.start_writeback(&handles, ps, pl)) {
                                    // A local write error will not get better by retrying.
                                    report.lock().expect("report").banned.push((String::from("(local disk)"), e.to_string()));
                                    cancel_all(&seeds);
                                    return;
                                }
                                have_m.lock().expect("have")[i as usize] = true;
                                report.lock().expect("report").verified_bytes += pl;
                                progress.fetch_add(pl, Ordering::Relaxed);
                            }
                        }
                    }
                }
            });
        }
    });
    let report = report.into_inner().expect("report");
    let have = have_m.into_inner().expect("have");
    if cancel.load(Ordering::Relaxed) || have.iter().all(|h| *h) {
        return Ok(report);
    }
    let why: Vec<String> = report.banned.iter().map(|(u, e)| format!("{u}: {e}")).collect();
    Err(TorrentError::Net(format!("{} of {} pieces still missing and no web seed left to ask ({})", have.iter().filter(|h| !**h).count(), have.len(), why.join("; "))))
}

fn cancel_all(seeds: &[Seed]) {
    for s in seeds {
        s.banned.store(true, Ordering::Relaxed);
    }
}

/// Runs of consecutive missing pieces, each at most `UNIT_BYTES` (or one piece).
fn plan(layout: &Layout, have: &[bool]) -> VecDeque<(u64, u64)> {
    let per_unit = (UNIT_BYTES / layout.piece_length).max(1);
    let mut out = VecDeque::new();
    let mut i = 0u64;
    let n = have.len() as u64;
    while i < n {
        if have[i as usize] {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !have[i as usize] && i - start < per_unit {
            i += 1;
        }
        out.push_back((start, i - start));
    }
    out
}

/// Reads torrent bytes `start..start+len` from one web seed into `buf`, one Range request
/// per file it spans.
fn get_range(http: &reqwest::blocking::Client, meta: &Metainfo, base: &str, start: u64, len: u64, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.resize(len as usize, 0);
    let mut at = 0usize;
    for (fi, off, n) in meta.layout.segments(start, len) {
        let url = file_url(base, meta, fi);
        let file_len = meta.layout.files[fi].length;
        let resp = http.get(&url).header(reqwest::header::RANGE, format!("bytes={off}-{}", off + n - 1)).send().map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let whole = status == 200 && off == 0 && n == file_len;
        if status != 206 && !whole {
            return Err(format!("{url}: HTTP {status} to a Range request"));
        }
        if let Some(cl) = resp.content_length()
            && cl != n
        {
            return Err(format!("{url}: {cl} bytes sent for a range of {n}"));
        }
        let mut body = resp.take(n);
        body.read_exact(&mut buf[at..at + n as usize]).map_err(|e| format!("{url}: {e}"))?;
        at += n as usize;
    }
    Ok(())
}

/// A keep-alive HTTP client trusting the system's certificates, like the index client's.
pub fn http_client(timeout: Duration) -> Result<reqwest::blocking::Client, TorrentError> {
    // reqwest is built without a default crypto provider; ring is ours. Installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .user_agent(concat!("pycorpus/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .timeout(timeout)
        .build()
        .map_err(|e| TorrentError::Net(format!("cannot build the HTTP client: {e}")))
}
