//! ML datasets from a corpus: `<natural language, code>` pairs in CodeSearchNet's and
//! PyTorrent's schema, from every unique Python file of a selection, with their filters,
//! duplicate removal and a split by project; the same corpus gives byte-identical files.

mod build;
mod card;
pub mod dedup;
pub mod extract;
mod filters;
mod record;
pub mod redact;
mod run;
mod spec;
mod split;
pub mod text;
mod write;

pub use filters::{Drop, Filters, Scenario};
pub use record::{Record, RecordView};
pub use run::{ExportOptions, ExportSummary, export};
pub use spec::{DEFAULT_CHUNK, DEFAULT_MAX_DOC_TOKENS, DEFAULT_MAX_FILE_BYTES, DEFAULT_MIN_CODE_LINES, DEFAULT_MIN_DOC_TOKENS, DEFAULT_NEAR_DUPLICATES, ExportSpec, FORMATS, SCENARIOS};
pub use split::{SPLITS, Split};
pub use write::Format;

use std::path::PathBuf;

/// Errors of an export.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Reading the corpus.
    #[error("{0}")]
    Core(#[from] pycorpus_core::CoreError),
    /// Reading blobs.
    #[error("{0}")]
    Visit(#[from] pycorpus_visit::VisitError),
    /// An option's value is not one the export takes.
    #[error("{option}: {message}")]
    Option {
        /// The option, as the caller spells it.
        option: String,
        /// What is wrong.
        message: String,
    },
    /// The destination exists.
    #[error("{} exists: export into a new folder (or remove it first)", .0.display())]
    Exists(PathBuf),
    /// Ctrl-C: nothing is left behind.
    #[error("interrupted: no dataset written")]
    Interrupted,
    /// Writing an output.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
