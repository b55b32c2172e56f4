//! HTTP: pages and downloads with retries, resume and verification.

use crate::IndexError;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Network settings.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// Longest wait for any one connect, read or write (catches stalled connections).
    /// Default 60 s.
    pub timeout: Duration,
    /// Longest wait for a connection. Default 20 s.
    pub connect_timeout: Duration,
    /// Retries after the first try, on resets, timeouts, 408, 429 and 5xx. Default 5.
    pub retries: u32,
    /// First backoff; doubles each retry. Default 500 ms.
    pub backoff: Duration,
    /// Longest backoff, and longest `Retry-After` honoured. Default 60 s.
    pub max_backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { timeout: Duration::from_secs(60), connect_timeout: Duration::from_secs(20), retries: 5, backoff: Duration::from_millis(500), max_backoff: Duration::from_secs(60) }
    }
}

/// A fetched page.
#[derive(Debug, Clone)]
pub struct Page {
    /// The URL after redirects (relative links resolve against it).
    pub url: String,
    /// `Content-Type`, lower case.
    pub content_type: String,
    /// The body.
    pub body: String,
}

/// The head of a response whose body is read as it arrives ([`Client::get_streamed`]).
#[derive(Debug, Clone)]
pub struct PageHead {
    /// The URL after redirects (relative links resolve against it).
    pub url: String,
    /// `Content-Type`, lower case.
    pub content_type: String,
}

/// A body reader that remembers whether the network failed under it, so that a failure of
/// the caller's parse can be told apart: a broken connection is retried, a bad page is not.
struct Watched<R> {
    inner: R,
    failed: bool,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Bytes of the file.
    pub bytes: u64,
    /// Its sha256 (hex).
    pub sha256: String,
    /// Bytes that were already there from an earlier, interrupted download.
    pub resumed_from: u64,
    /// Requests made.
    pub attempts: u32,
}

/// A keep-alive HTTP client (system trust store for TLS) that names pycorpus and its version.
#[derive(Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    opts: ClientOptions,
}

enum Step {
    Retry(Option<Duration>, String),
    Fail(IndexError),
}

fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

fn retry_after(resp: &reqwest::blocking::Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl Client {
    /// Builds a client.
    pub fn new(opts: ClientOptions) -> Result<Client, IndexError> {
        // reqwest is built without a default crypto provider; ring is ours. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("pycorpus/", env!("CARGO_PKG_VERSION")))
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .pool_max_idle_per_host(32)
            .build()
            .map_err(|e| IndexError::Network { url: String::new(), message: format!("cannot build the HTTP client: {e}") })?;
        Ok(Client { http, opts })
    }

    fn pause(&self, attempt: u32, hint: Option<Duration>) {
        let backoff = self.opts.backoff.saturating_mul(1 << attempt.min(16));
        std::thread::sleep(hint.unwrap_or(backoff).min(self.opts.max_backoff));
    }

    /// Runs `once` until it succeeds, fails for good, or runs out of retries.
    fn with_retries<T>(&self, url: &str, mut once: impl FnMut(u32) -> Result<T, Step>) -> Result<T, IndexError> {
        let mut attempt = 0;
        loop {
            match once(attempt) {
                Ok(v) => return Ok(v),
                Err(Step::Fail(e)) => return Err(e),
                Err(Step::Retry(hint, why)) => {
                    if attempt >= self.opts.retries {
                        return Err(IndexError::Network { url: url.to_string(), message: format!("{why} (gave up after {} tries)", attempt + 1) });
                    }
                    tracing::debug!("{url}: {why}; retrying");
                    self.pause(attempt, hint);
                    attempt += 1;
                }
            }
        }
    }

    /// GETs a page with `Accept: accept`. 404 and other non-retryable statuses are errors.
    pub fn get(&self, url: &str, accept: &str) -> Result<Page, IndexError> {
        self.get_streamed(url, accept, |head, body| {
            let mut bytes = Vec::new();
            body.read_to_end(&mut bytes).map_err(|e| IndexError::Network { url: url.to_string(), message: format!("reading the body: {e}") })?;
            let body = String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            Ok(Page { url: head.url.clone(), content_type: head.content_type.clone(), body })
        })
    }

    /// GETs a page with `Accept: accept` and hands its body to `read` as it arrives, for
    /// pages too big to hold whole (an index's root lists every project: tens of MB for the
    /// whole index). When the connection fails under `read`, the request is retried like any
    /// other and `read` runs again from the start: it must tolerate seeing entries twice.
    pub fn get_streamed<T, E: From<IndexError>>(&self, url: &str, accept: &str, mut read: impl FnMut(&PageHead, &mut dyn Read) -> Result<T, E>) -> Result<T, E> {
        let mut failed = None;
        let got = self.with_retries(url, |_| {
            let resp = self.http.get(url).header(reqwest::header::ACCEPT, accept).send().map_err(|e| Step::Retry(None, e.to_string()))?;
            let status = resp.status().as_u16();
            if retryable(status) {
                return Err(Step::Retry(retry_after(&resp), format!("HTTP {status}")));
            }
            if !resp.status().is_success() {
                return Err(Step::Fail(IndexError::Status { url: url.to_string(), status }));
            }
            let head = PageHead { url: resp.url().to_string(), content_type: resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase() };
            let mut body = Watched { inner: std::io::BufReader::with_capacity(256 * 1024, resp), failed: false };
            match read(&head, &mut body) {
                Ok(v) => Ok(v),
                Err(_) if body.failed => Err(Step::Retry(None, "the connection failed while reading the body".into())),
                Err(e) => {
                    failed = Some(e);
                    Err(Step::Fail(IndexError::Parse { url: url.to_string(), what: String::new() }))
                }
            }
        });
        match (got, failed) {
            (Ok(v), _) => Ok(v),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// Downloads `url` to `dest` through `dest.part`: an existing partial file is resumed with
    /// a Range request; the bytes are hashed as they arrive; with `expected_sha256`, a mismatch
    /// deletes the partial file and downloads once more, then fails. `dest` only ever appears
    /// complete and verified. `progress` gets byte counts as they arrive.
    pub fn download(&self, url: &str, dest: &Path, expected_sha256: Option<&str>, progress: &(dyn Fn(u64) + Sync)) -> Result<Download, IndexError> {
        let part = part_path(dest);
        let io = |e: std::io::Error| IndexError::Io { path: part.display().to_string(), source: e };
        let mut mismatches = 0;
        let mut attempts = 0;
        loop {
            let mut resumed_from = 0;
            let result = self.with_retries(url, |_| {
                attempts += 1;
                let (mut file, mut sha, have) = open_part(&part).map_err(|e| Step::Fail(io(e)))?;
                let mut req = self.http.get(url);
                if have > 0 {
                    req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
                }
                let mut resp = req.send().map_err(|e| Step::Retry(None, e.to_string()))?;
                let status = resp.status().as_u16();
                if retryable(status) {
                    return Err(Step::Retry(retry_after(&resp), format!("HTTP {status}")));
                }
                let mut written = have;
                match status {
                    206 if have > 0 => resumed_from = have,
                    200 => {
                        // no resume offered: start over
                        file.set_len(0).map_err(|e| Step::Fail(io(e)))?;
                        sha = Sha256::new();
                        written = 0;
                    }
                    416 if have > 0 => {
                        // the part file is already complete (or garbage): check it below
                        return finish_part(&part, file, sha, written).map_err(|e| Step::Fail(io(e)));
                    }
                    _ => return Err(Step::Fail(IndexError::Status { url: url.to_string(), status })),
                }
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = match resp.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) => {
                            file.flush().map_err(|e| Step::Fail(io(e)))?;
                            return Err(Step::Retry(None, format!("download interrupted after {written} bytes: {e}")));
                        }
                    };
                    file.write_all(&buf[..n]).map_err(|e| Step::Fail(io(e)))?;
                    sha.update(&buf[..n]);
                    written += n as u64;
                    progress(n as u64);
                }
                if let Some(len) = resp.content_length()
                    && written - resumed_from < len
                {
                    return Err(Step::Retry(None, format!("body ended after {} of {len} bytes", written - resumed_from)));
                }
                finish_part(&part, file, sha, written).map_err(|e| Step::Fail(io(e)))
            });
            let (bytes, got) = result?;
            match expected_sha256 {
                Some(want) if !want.eq_ignore_ascii_case(&got) => {
                    let _ = std::fs::remove_file(&part);
                    mismatches += 1;
                    if mismatches >= 2 {
                        return Err(IndexError::HashMismatch { url: url.to_string(), expected: want.to_ascii_lowercase(), got });
                    }
                    tracing::warn!("{url}: sha256 mismatch; downloading again");
                }
                _ => {
                    std::fs::rename(&part, dest).map_err(|e| IndexError::Io { path: dest.display().to_string(), source: e })?;
                    return Ok(Download { bytes, sha256: got, resumed_from, attempts });
                }
            }
        }
    }
}

/// `<dest>.part`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

/// Opens (creating) the partial file for appending, hashing what it already holds.
fn open_part(part: &Path) -> std::io::Result<(File, Sha256, u64)> {
    let mut sha = Sha256::new();
    let mut have = 0u64;
    if let Ok(mut f) = File::open(part) {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            have += n as u64;
        }
    }
    let file = OpenOptions::new().create(true).append(true).open(part)?;
    Ok((file, sha, have))
}

fn finish_part(_part: &Path, mut file: File, sha: Sha256, written: u64) -> std::io::Result<(u64, String)> {
    file.flush()?;
    file.sync_all()?;
    Ok((written, hex::encode(sha.finalize())))
}
