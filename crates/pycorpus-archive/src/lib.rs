//! Reading Python distribution files safely.
//!
//! Every archive from a package index is treated as an attacker. This crate reads sdists
//! (`.tar.gz`, `.tgz`, `.tar.bz2`, `.tar.xz`, `.zip`), wheels, eggs and conda packages
//! (`.tar.bz2`, `.conda`) in one streaming pass under [`Limits`], reports links without
//! following them, escapes names losslessly ([`escape_name`]) and normalises them into
//! paths that cannot leave their root ([`normalize_path`]). It also holds the rules that
//! decide which files are stored ([`classify`]) and the parsing of distribution file names
//! ([`DistFilename`]) and of the metadata inside ([`Metadata`]).
//!
//! It writes nothing anywhere: callers get entries and readers.
//!
//! ```no_run
//! use pycorpus_archive::{read_archive, Limits, EntryKind};
//! let mut names = Vec::new();
//! read_archive("requests-2.34.2.tar.gz".as_ref(), &Limits::default(), &mut |entry, _contents| {
//!     if entry.kind == EntryKind::File { names.push(pycorpus_archive::escape_name(&entry.name)); }
//!     Ok(())
//! })?;
//! # Ok::<(), pycorpus_archive::ArchiveError>(())
//! ```
#![deny(missing_docs)]

mod classify;
mod metadata;
mod name;
mod path;
mod read;

pub use classify::{BINARY_SCAN, ContentProbe, LONG_LINES_MIN_SIZE, LONG_LINES_NEWLINES, MAX_OTHER_SIZE, MAX_PY_SIZE, SkipReason, classify, size_limit, too_large_unread};
pub use metadata::{Metadata, for_each_header};
pub use name::{DistFilename, DistType, is_distribution_name, normalize_project};
pub use path::{escape_name, normalize_path};
pub use read::{ArchiveError, Compression, Container, Entry, EntryKind, LimitExceeded, Limits, Summary, Visitor, read_archive, sniff};
