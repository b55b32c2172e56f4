//! Deterministic BitTorrent metainfo (BEP 3, 12, 19), without the swarm.
//!
//! Kept apart from `pycorpus-torrent` (which links librqbit, tokio and an HTTP client) so that
//! the corpus crate can compute a sealed shard's info-hash, which a later shard's manifest
//! records for each shard it depends on, without linking a BitTorrent client.
//!
//! - [`metainfo`]: `.torrent` files made by us deterministically (the same folder gives the
//!   same info-hash anywhere), and a strict reader for foreign ones.
//! - [`layout`]: where a torrent's files lie and how pieces cut across them.
//! - [`bencode`]: the encoding, with a strict decoder.

pub mod bencode;
pub mod layout;
pub mod metainfo;

pub use metainfo::{CreateOptions, Metainfo, create};

use std::path::{Path, PathBuf};

/// What can go wrong making or reading metainfo.
#[derive(Debug, thiserror::Error)]
pub enum MetainfoError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A `.torrent` file is malformed or unsafe.
    #[error("bad torrent: {0}")]
    BadTorrent(String),
    /// A request that cannot be met as given.
    #[error("{0}")]
    Invalid(String),
    /// The caller asked to stop.
    #[error("{0}")]
    Cancelled(#[from] pycorpus_progress::Cancelled),
}

impl MetainfoError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> MetainfoError {
        MetainfoError::Io { path: path.to_path_buf(), source }
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}
