//! `pycorpus serve`: code search, browsing and live statistics of a corpus in the browser,
//! with a JSON API behind every page.
//!
//! A third front end over the same functions as the command line and the Python module: a
//! search is `pycorpus_explore::grep_matches` with the filters of `FilterSpec`, a file is
//! `Corpus::read_blob`, the statistics are the report's tables and charts. Nothing is loaded
//! at start (the corpus is opened per request, which also sees shards sealed since), so the
//! server answers at once whatever the corpus's size.
//!
//! The server faces a browser and maybe a network: it binds 127.0.0.1 unless told otherwise
//! (anything else needs `--token`); every byte of the corpus is data (templates escape what
//! they print, a Content-Security-Policy forbids inline scripts); no part of a URL reaches the
//! filesystem (blobs are named by id, projects and releases are filter values); searches have
//! a size limit on the pattern, a cap on results, a time budget, stop when the client goes
//! away, and beyond a number at once get 503 with Retry-After; a bad request gets a 4xx
//! with a message.
#![deny(missing_docs)]

mod highlight;
mod pages;
mod query;
mod search;
mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use web::router;

/// The settings of `pycorpus serve`: the one definition of each, with its default.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct ServeSpec {
    /// Address and port to listen on (port 0: any free port, printed at start).
    #[cfg_attr(feature = "clap", arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8000"))]
    pub bind: SocketAddr,
    /// A secret every request must carry (`Authorization: Bearer TOKEN`, or `?token=TOKEN`
    /// once, which sets a cookie); required to listen on anything but a loopback address.
    #[cfg_attr(feature = "clap", arg(long, value_name = "TOKEN", env = "PYCORPUS_SERVE_TOKEN", hide_env_values = true))]
    pub token: Option<String>,
    /// Searches running at once; more get 503 with Retry-After (0: the number of cores).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", default_value_t = 0))]
    pub max_searches: usize,
    /// Seconds a search may run before it stops and answers with what it found (truncated).
    #[cfg_attr(feature = "clap", arg(long, value_name = "SECONDS", default_value_t = 10))]
    pub search_seconds: u64,
    /// Memory for decoded frames kept from one search to the next (K, M, G suffixes; 0: none):
    /// searches of a corpus that fits run on its text without decoding it again.
    #[cfg_attr(feature = "clap", arg(long, value_name = "BYTES", default_value = "1G", value_parser = pycorpus_catalog::parse_size))]
    pub cache_size: u64,
}

impl Default for ServeSpec {
    fn default() -> Self {
        ServeSpec { bind: SocketAddr::from(([127, 0, 0, 1], 8000)), token: None, max_searches: 0, search_seconds: 10, cache_size: 1 << 30 }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Listening on a non-loopback address without a token.
    #[error("refusing to serve on {0} without --token: anyone who can reach it could read the corpus (bind 127.0.0.1, or give a token)")]
    NeedsToken(SocketAddr),
    /// The corpus does not open.
    #[error("{0}")]
    Corpus(#[from] pycorpus_core::CoreError),
    /// Binding or serving.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime or the connection loop.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Limits that are not settings: what a request may ask for.
pub(crate) mod limits {
    /// Bytes of a query (pattern and filter words).
    pub const QUERY_BYTES: usize = 1000;
    /// Bytes the compiled pattern may take.
    pub const REGEX_BYTES: usize = 4 << 20;
    /// Matching lines a search answers with by default, and at most (with 8 MiB of matched
    /// text at most: see `search::TEXT_BYTES`).
    pub const RESULTS_DEFAULT: usize = 200;
    /// See [`RESULTS_DEFAULT`].
    pub const RESULTS_MAX: usize = 10_000;
    /// Files listed as holding one blob on its page.
    pub const HOLDERS_SHOWN: usize = 500;
    /// Bytes of a file shown on its page (the rest: the raw download).
    pub const FILE_SHOWN: usize = 2 << 20;
    /// Bytes of a request's headers and body.
    pub const REQUEST_BYTES: usize = 16 << 10;
    /// Seconds a page other than a search may take.
    pub const PAGE_SECONDS: u64 = 60;
    /// Seconds a page waits for its turn before it gets 503.
    pub const PAGE_WAIT_SECONDS: u64 = 10;
    /// Statistics kept in memory (one per project asked for, and the corpus's).
    pub const STATS_CACHED: usize = 16;
}

/// What every request shares.
pub struct App {
    root: PathBuf,
    token: Option<String>,
    searches: Arc<tokio::sync::Semaphore>,
    /// Pages being built at once (their reads of Parquet and packs), beyond which requests
    /// wait a while, then get 503: memory stays bounded however many clients there are.
    pages: Arc<tokio::sync::Semaphore>,
    search_budget: Duration,
    frames: Option<Arc<pycorpus_visit::FrameCache>>,
    stats: std::sync::Mutex<Vec<(String, Arc<pages::Stats>)>>,
}

impl App {
    /// The state of a server of the corpus at `root` (checked to open).
    pub fn new(root: &Path, spec: &ServeSpec) -> Result<App, ServeError> {
        pycorpus_core::Corpus::open(root, pycorpus_core::Access::Read)?;
        pages::check_templates();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let searches = match spec.max_searches {
            0 => cores,
            n => n,
        };
        Ok(App {
            root: root.to_path_buf(),
            token: spec.token.clone().filter(|t| !t.is_empty()),
            searches: Arc::new(tokio::sync::Semaphore::new(searches)),
            pages: Arc::new(tokio::sync::Semaphore::new(2 * cores)),
            search_budget: Duration::from_secs(spec.search_seconds.max(1)),
            frames: (spec.cache_size > 0).then(|| Arc::new(pycorpus_visit::FrameCache::new(usize::try_from(spec.cache_size).unwrap_or(usize::MAX)))),
            stats: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn corpus(&self) -> Result<pycorpus_core::Corpus, web::WebError> {
        pycorpus_core::Corpus::open(&self.root, pycorpus_core::Access::Read).map_err(web::WebError::internal)
    }
}

/// Serves the corpus at `root` until Ctrl-C; `ready` gets the address once it listens.
pub fn serve(root: &Path, spec: &ServeSpec, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    if !spec.bind.ip().is_loopback() && spec.token.as_deref().is_none_or(str::is_empty) {
        return Err(ServeError::NeedsToken(spec.bind));
    }
    let app = Arc::new(App::new(root, spec)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("serve").build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(spec.bind).await.map_err(|source| ServeError::Listen { addr: spec.bind, source })?;
        ready(listener.local_addr()?);
        axum::serve(listener, router(app))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}
