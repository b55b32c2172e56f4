//! Dependency and packaging metadata of a distribution, parsed from its own files: core
//! metadata (`PKG-INFO`, `METADATA`), `pyproject.toml`, `setup.cfg`, `*.egg-info/requires.txt`,
//! a wheel's `WHEEL`, `entry_points.txt` and `top_level.txt`.
//!
//! Everything here is a pure function of bytes, and nothing is fatal: a file that does not
//! parse, a header without a colon, a requirement that is not PEP 508 are recorded (a
//! requirement keeps its raw text and the parser's error), never dropped, and no input makes
//! work or memory grow past the limits below.
#![deny(missing_docs)]

mod core;
mod dist;
mod fields;
mod files;
mod requirement;

pub use crate::core::{CoreMetadata, parse_core};
pub use dist::{DistMetadata, ImportName, ImportSource, MetaFile, Parsed, Rows, wanted};
pub use fields::{Column, Fields};
pub use files::{EntryPoint, Pyproject, Wheel, parse_entry_points, parse_pyproject, parse_requires_txt, parse_setup_cfg, parse_top_level, parse_wheel};
pub use requirement::{Kind, Requirement, Source, parse_requirement};

/// Limits on what one file may make us hold.
pub mod limits {
    /// Bytes of a metadata file read (the rest is left out, and said so).
    pub const FILE_BYTES: usize = 16 << 20;
    /// Values kept of one multi-valued field (`Requires-Dist`, `Classifier`, ...).
    pub const VALUES: usize = 10_000;
    /// Bytes of one value kept (a longer one is cut, and said so).
    pub const VALUE_BYTES: usize = 64 << 10;
}

/// A file's problem, as recorded beside what could be read of it.
pub type Problem = String;

/// `s` cut to `limits::VALUE_BYTES` on a character boundary, and whether it was cut.
pub(crate) fn cut(s: &str) -> (&str, bool) {
    let c = cut_to(s, limits::VALUE_BYTES);
    (c, c.len() < s.len())
}

/// `s` cut to at most `n` bytes on a character boundary.
pub(crate) fn cut_to(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
