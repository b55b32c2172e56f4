//! The corpus directory: the library behind every pycorpus front end.
//!
//! A [`Corpus`] is a folder holding `corpus.toml`, `state.sqlite` and `shards/`. Distribution
//! files go in through [`Corpus::ingest`] (read safely, every file indexed, unique contents
//! journaled into the open shard), come to rest through [`Corpus::seal`] (a compact, immutable,
//! self-describing shard), and come back out through [`Corpus::for_each_row`],
//! [`Corpus::read_blob`], [`Corpus::status`] and [`Corpus::verify`]. See `docs/FORMAT.md`.
//!
//! ```no_run
//! use pycorpus_core::{Corpus, AddOptions, Ctx};
//! let mut corpus = Corpus::init("pycorpus-data".as_ref())?;
//! let (items, _ignored) = pycorpus_core::collect_inputs(&["downloads/".into()], None)?;
//! let summary = corpus.ingest(items, &AddOptions::default(), Ctx::quiet())?;
//! corpus.seal(Ctx::quiet())?;
//! println!("{} distributions added", summary.added);
//! # Ok::<(), pycorpus_core::CoreError>(())
//! ```
#![deny(missing_docs)]

mod blobs;
mod chain;
mod config;
mod corpus;
mod deps;
mod history;
mod infohash;
mod ingest;
mod manifest;
mod query;
mod seal;
mod spec;
mod state;
mod synclog;
mod upgrade;

pub use blobs::BlobLocator;
pub use chain::{MAX_CHAIN, SealedReader};
pub use config::{Config, LimitsConfig};
pub use corpus::{Access, Corpus, ShardInfo, ShardKind};
pub use deps::{DepsCoverage, ReindexSummary, scan_shard_requirements, shard_requirements};
pub use ingest::{AddOptions, AddSummary, Failure, IndexMeta, IngestItem, collect_inputs};
pub use manifest::{FileDigest, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest};
pub use pycorpus_progress::{Cancelled, Ctx, NoReporter, Reporter};
pub use query::{RowRef, ShardStatus, Status, VerifyReport, scan_sealed_row_refs, shard_releases};
pub use seal::SealSummary;
pub use spec::{AddSpec, date};
pub use state::{Holdings, State};
pub use synclog::{FailedFile, FileStatus, PlannedFile, SyncLog, SyncState};
pub use upgrade::UpgradeSummary;

use std::path::{Path, PathBuf};

/// Errors of corpus operations.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The folder is not a corpus.
    #[error("{} is not a pycorpus corpus (no corpus.toml)", .0.display())]
    NotACorpus(PathBuf),
    /// Another process holds the write lock.
    #[error("another pycorpus process is writing to {}; wait for it to finish", .0.display())]
    Busy(PathBuf),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `corpus.toml` is invalid.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The state database failed.
    #[error("state database {}: {source}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// An SQL statement failed.
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// Store failure.
    #[error("{0}")]
    Store(#[from] pycorpus_store::StoreError),
    /// Catalog failure.
    #[error("{0}")]
    Catalog(#[from] pycorpus_catalog::CatalogError),
    /// A shard is damaged in a way that stops the operation (run `pycorpus verify`).
    #[error("shard {shard}: {message}")]
    Corrupt {
        /// Shard number.
        shard: u32,
        /// What is wrong.
        message: String,
    },
    /// A shard's rows use blobs that a shard absent from the corpus stores (format 2).
    #[error("shard {shard:06} uses blobs stored in shard {needs:06}, which this corpus does not have (shard {shard:06}'s manifest gives the info-hash to fetch it by)")]
    MissingShard {
        /// The shard read.
        shard: u32,
        /// The shard it needs.
        needs: u32,
    },
    /// Bad input from the caller.
    #[error("{0}")]
    Invalid(String),
    /// The caller asked the operation to stop ([`Ctx::cancel`]).
    #[error("{0}")]
    Cancelled(#[from] Cancelled),
}

/// Why [`Corpus::file_blob`] found no one blob.
#[derive(Debug, thiserror::Error)]
pub enum FileLookupError {
    /// No file of that path in that release.
    #[error("no file {path:?} in {project} {version}")]
    NoSuchFile {
        /// The project asked for.
        project: String,
        /// Its version.
        version: String,
        /// The path asked for.
        path: String,
    },
    /// The file is indexed but its contents were not stored.
    #[error("{path} is indexed but its contents are not stored (skip reason: {reason})")]
    NotStored {
        /// The file.
        path: String,
        /// Its skip reason.
        reason: String,
    },
    /// The path names files with different contents (a suffix of several paths).
    #[error("{path:?} matches {} files with different contents; give the full path:\n  {}", candidates.len(), candidates.iter().take(10).cloned().collect::<Vec<_>>().join("\n  "))]
    Ambiguous {
        /// The path asked for.
        path: String,
        /// `release path` of each file it names.
        candidates: Vec<String>,
    },
    /// Reading the index failed.
    #[error("{0}")]
    Core(#[from] CoreError),
}

impl CoreError {
    /// An I/O error at `path` (readers spilling under the corpus's tmp folder use it too).
    pub fn io(path: &Path, source: std::io::Error) -> CoreError {
        CoreError::Io { path: path.to_path_buf(), source }
    }
    pub(crate) fn state(path: &Path, source: rusqlite::Error) -> CoreError {
        CoreError::State { path: path.to_path_buf(), source }
    }
    pub(crate) fn sql(e: rusqlite::Error) -> CoreError {
        CoreError::Sql(e)
    }
}

/// An error and its causes, joined with `: `, leaving out a cause that the text already ends
/// with (many errors quote their source in their own message): what front ends show, so that
/// "cannot write PATH" keeps its why.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    for cause in std::iter::successors(Some(e), |e| e.source()) {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

/// sha256 and length of a file, streamed in 1 MiB pieces (archives can be gigabytes).
pub fn sha256_file(path: &Path) -> std::io::Result<([u8; 32], u64)> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0u64;
    loop {
        match f.read(&mut buf)? {
            0 => break,
            k => {
                h.update(&buf[..k]);
                n += k as u64;
            }
        }
    }
    Ok((h.finalize().into(), n))
}

impl From<pycorpus_fs::WriteError> for CoreError {
    fn from(e: pycorpus_fs::WriteError) -> CoreError {
        CoreError::Io { path: e.path, source: e.source }
    }
}

/// [`pycorpus_fs::write_atomic`] with the corpus's error.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), CoreError> {
    Ok(pycorpus_fs::write_atomic(path, data)?)
}

/// [`pycorpus_fs::sync_dir`] with the corpus's error.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), CoreError> {
    Ok(pycorpus_fs::sync_dir(dir)?)
}
