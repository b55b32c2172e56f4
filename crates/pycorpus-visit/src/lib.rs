//! The blob visit: the engine under every reader (grep, extract, stream, analyze, export,
//! the module's `iter_files`).
//!
//! The filters select rows; their stored blobs are the candidates, each decoded once however
//! many files share it. Blobs are located in their shards (this shard's pack, an earlier
//! shard's, or a delta of an earlier version) and grouped by zstd frame, so a frame is decoded
//! once, only up to its last candidate, on one of the worker threads; per-blob work runs on a
//! pool this crate owns, with the stack the caller asks for (a parser needs a large one,
//! whatever pool anyone built first); results come back in a fixed order (shard, frame, offset
//! in frame) whatever the thread count.
#![deny(missing_docs)]

mod blob;
mod blob_pool;
mod cache;
mod ordered;
mod row_codec;
mod visit;

pub use blob::{Blob, SharedBlob};
pub use cache::{CacheStats, FrameCache};
pub use visit::{BlobFilter, BlobWork, Holders, VisitOptions, VisitStats, visit_blobs};

use pycorpus_core::CoreError;

/// Errors of a visit, and of the work and sinks that run in it.
#[derive(Debug, thiserror::Error)]
pub enum VisitError {
    /// Reading the corpus failed.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// Reading a shard's blobs failed.
    #[error("{0}")]
    Store(#[from] pycorpus_store::StoreError),
    /// The threads that work on blobs could not be started.
    #[error("cannot start worker threads")]
    Threads(#[from] rayon::ThreadPoolBuildError),
    /// Writing the results failed (a closed pipe ends a visit quietly: see `is_broken_pipe`).
    #[error("writing results: {0}")]
    Output(#[from] std::io::Error),
}

impl VisitError {
    /// True when the reader of our output went away (`| head`): not an error for a reader.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, VisitError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
