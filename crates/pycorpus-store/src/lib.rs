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
mod history;
mod journal;
mod oid;
mod pack;
mod postings;
mod runs;

/// Lookups into a read-only mapping of an immutable index (a pack's, a blob index run), and
/// letting go of the pages they touched before there are many: they stay in the page cache,
/// and a later read faults them back in, so resident memory does not grow with the index.
///
/// The kernel maps the cached pages around a faulting one with it (64 KiB by default), so a
/// lookup leaves up to 64 KiB resident per page it reads, and 4,096 random lookups had a 37 MB
/// run wholly resident. What is counted is lookups landing in another 64 KiB than the one
/// before: a sweep in key order counts one per 64 KiB it moves, random lookups one each; every
/// [`CHUNKS_PER_RELEASE`] of them the whole mapping is let go (a few MiB at most resident).
/// A mapping smaller than that many chunks is never let go by lookups: it could not grow past
/// the bound, and letting it go would only fault it back.
#[derive(Default)]
pub(crate) struct Lookups {
    chunks: std::sync::atomic::AtomicU32,
    last: std::sync::atomic::AtomicUsize,
}

/// See [`Lookups`]: at most 64 chunks of 64 KiB of a bucket (and as many of a fanout table).
const CHUNKS_PER_RELEASE: u32 = 64;

impl Lookups {
    /// Counts a lookup reading around byte `at` of `map`.
    pub(crate) fn count(&self, map: &memmap2::Mmap, at: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let chunk = at >> 16;
        if map.len() <= (CHUNKS_PER_RELEASE as usize) << 16 {
            return;
        }
        if self.last.swap(chunk, Relaxed) != chunk && self.chunks.fetch_add(1, Relaxed) % CHUNKS_PER_RELEASE == CHUNKS_PER_RELEASE - 1 {
            release_pages(map);
        }
    }
}

/// Maps the sealed-shard file at `path` read-only; `None` when there is none (an optional
/// file, like the search indexes of a shard sealed before they existed).
pub fn map_sealed_file(path: &Path) -> std::io::Result<Option<memmap2::Mmap>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // SAFETY: sealed shards are immutable (the seal renames a finished folder into place and no
    // pycorpus code writes to it again); a file changed underneath is what `verify` finds.
    unsafe { memmap2::Mmap::map(&file) }.map(Some)
}

/// Lets go of the pages of a read-only mapping of an immutable file that this process has
/// touched (see [`Lookups`]); readers that sweep an index a shard at a time also call it
/// between shards.
pub(crate) fn release_pages(map: &memmap2::Mmap) {
    // SAFETY: the mapping is shared and read-only, of a file no pycorpus code writes once it
    // is in place (sealed packs, blob index runs). MADV_DONTNEED only drops this process's
    // page-table entries for it: any reference into the map, now or later, reads the same
    // bytes, faulted again from the file. Failure (an old kernel) only leaves them resident.
    let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
}

pub use grams::{FrameSet, GRAMS_MAGIC, GramIndex, fold, is_utf16, trigram, trigrams_of, write_grams};
pub use history::{HISTORY_MAGIC, HistoryRun, HistoryWriter};
pub use journal::{JOURNAL_MAGIC, Journal, JournalBlob, JournalCommit, Recovery};
pub use oid::{BadOid, HexOid, Oid, OidBits, OidHasher, OidMap, OidSet};
pub use pack::{BlobPlace, DeltaBase, FrameBuffers, FrameInfo, IDX_MAGIC, IDX_MAGIC_DELTAS, MAX_DELTA_SPAN, PACK_MAGIC, PackEntry, PackOptions, PackReader, PackStats, PackWriter};
pub use postings::{BlockCache, Candidates, POSTINGS_MAGIC, PostingsIndex, PostingsWriter};
pub use runs::{BlobRun, RUN_MAGIC, RunWriter};

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
