//! Content-addressed blob storage for pycorpus shards.
//!
//! Blobs are keyed by their git blob id ([`Oid`]), so each unique file is kept once per shard
//! and every id joins with git and py-code.org's datasets. A shard being filled is a
//! crash-safe append-only [`Journal`]; a sealed shard holds a [`PackReader`]-readable pair of
//! files written by [`PackWriter`]: zstd frames of similar blobs and a sorted, mmap-able index.
//!
//! ```no_run
//! use pycorpus_store::{Oid, PackReader};
//! let pack = PackReader::open("corpus/shards/000001".as_ref())?;
//! let oid: Oid = "ce013625030ba8dba906f756967f9e9ca394464a".parse().expect("hex");
//! if let Some(bytes) = pack.read(&oid)? { println!("{} bytes", bytes.len()); }
//! # Ok::<(), pycorpus_store::StoreError>(())
//! ```
#![deny(missing_docs)]

mod grams;
mod journal;
mod oid;
mod pack;
mod runs;

pub use grams::{fold, is_utf16, trigram, trigrams_of, write_grams, FrameSet, GramIndex, GRAMS_MAGIC};
pub use journal::{Journal, JournalBlob, Recovery, JOURNAL_MAGIC};
pub use oid::{BadOid, HexOid, Oid, OidBits, OidHasher, OidMap, OidSet};
pub use pack::{FrameInfo, PackEntry, PackOptions, PackReader, PackStats, PackWriter, IDX_MAGIC, PACK_MAGIC};
pub use runs::{BlobRun, RunWriter, RUN_MAGIC};

use std::path::{Path, PathBuf};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not in the expected format (corrupt, truncated, foreign).
    #[error("{}: {what}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A record or blob is larger than the format allows.
    #[error("{0} bytes is larger than a record may be")]
    TooLarge(u64),
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io { path: path.to_path_buf(), source }
    }
}
