//! Package index client for pycorpus.
//!
//! Finds the index the way pip does ([`resolve_index_url`]), reads project pages in either
//! simple-API form (PEP 503 HTML or PEP 691 JSON, [`simple`]), reads the JSON API for upload
//! times and metadata ([`jsonapi`]), and downloads files concurrently-safe, resumably and
//! verified ([`Client::download`]): Range resume of partial files, sha256 checked before a file
//! is handed on, retries with backoff on 408/429/5xx and resets (honouring `Retry-After`),
//! timeouts that catch stalled connections. It names no index host: the URL always comes from
//! the user or pip's configuration.
#![deny(missing_docs)]

mod discover;
mod http;
pub mod jsonapi;
pub mod simple;

pub use discover::{IndexSource, IndexUrl, pip_config_files, read_pip_config, resolve_index_url};
pub use http::{Client, ClientOptions, Download, Page, PageHead};
pub use jsonapi::{ProjectInfo, json_api_url, parse_project_json};
pub use simple::{IndexFile, parse_html_project, parse_json_project, read_html_root, read_json_root};

/// Errors of the index client.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// No index could be determined.
    #[error("no package index: {0}")]
    NoIndex(String),
    /// The server answered with an error status (after retries, for retryable ones).
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Network failure (connection, timeout, reset), after retries.
    #[error("{url}: {message}")]
    Network {
        /// The URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// A page that does not parse.
    #[error("{url}: cannot read the page: {what}")]
    Parse {
        /// The URL.
        url: String,
        /// What is wrong.
        what: String,
    },
    /// The downloaded bytes do not have the sha256 the index gave, even after a retry.
    #[error("{url}: sha256 mismatch: the index says {expected}, the download has {got}")]
    HashMismatch {
        /// The URL.
        url: String,
        /// From the index.
        expected: String,
        /// Of the bytes received.
        got: String,
    },
    /// Local file I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl IndexError {
    /// True for a 404 (a project or file that does not exist).
    pub fn is_not_found(&self) -> bool {
        matches!(self, IndexError::Status { status: 404, .. })
    }
}
