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

/// Lets go of the pages of a read-only mapping of an immutable file that this process has
/// touched: they stay in the page cache, and a later read faults them back in. Readers that
/// sweep an index a shard at a time call it between shards, so their resident memory does not
/// grow with the index (a lookup touches a page or two; a command touches them all in time).
/// Lookups into one mapped index between two [`release_pages`] of it: a sweep in key order
/// touches each page once, so this costs no extra faults there, and random lookups a few.
pub(crate) const LOOKUPS_PER_RELEASE: u32 = 4096;

/// Counts a lookup into `map`, and lets its pages go every [`LOOKUPS_PER_RELEASE`].
pub(crate) fn count_lookup(map: &memmap2::Mmap, lookups: &std::sync::atomic::AtomicU32) {
    if lookups.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % LOOKUPS_PER_RELEASE == LOOKUPS_PER_RELEASE - 1 {
        release_pages(map);
    }
}

pub(crate) fn release_pages(map: &memmap2::Mmap) {
    // SAFETY: the mapping is shared and read-only, of a file no pycorpus code writes once it
    // is in place (sealed packs, blob index runs). MADV_DONTNEED only drops this process's
    // page-table entries for it: any reference into the map, now or later, reads the same
    // bytes, faulted again from the file. Failure (an old kernel) only leaves them resident.
    let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
}

pub use grams::{fold, is_utf16, trigram, trigrams_of, write_grams, FrameSet, GramIndex, GRAMS_MAGIC};
pub use journal::{Journal, JournalBlob, Recovery, JOURNAL_MAGIC};
pub use oid::{BadOid, HexOid, Oid, OidBits, OidHasher, OidMap, OidSet};
pub use pack::{FrameBuffers, FrameInfo, PackEntry, PackOptions, PackReader, PackStats, PackWriter, IDX_MAGIC, PACK_MAGIC};
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
