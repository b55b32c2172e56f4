//! Which files are stored and which are only indexed: pypi-data's skip rules, in its order.
//!
//! Every file is indexed; a file with a skip reason is indexed without its contents. The rules,
//! first match wins (the order and thresholds of py-code.org's pypi-data, so that counts agree):
//!
//! 1. `binary`: a NUL byte in the first 1024 bytes, or a PDF/PNG signature (the rule of the
//!    `content_inspector` crate that pypi-data uses; a UTF-16/32 byte-order mark means text);
//! 2. `empty`: zero bytes;
//! 3. `binary`: starts with `__pyarmor` (obfuscated bytecode bundles);
//! 4. `version-control`: a git-lfs pointer (`version https://git-lfs`);
//! 5. `too-large`: a `.py` file over 5 MiB, any other file over 200 KiB;
//! 6. `version-control`: under a `.git/`, `.hg/` or `.svn/` folder;
//! 7. `virtualenv`: under a `.venv/`, `venv/` or `site-packages/` folder;
//! 8. `text-long-lines`: fewer than 5 newlines and at least 50 KiB (minified or packed data).
//!
//! Links are never followed: symlinks and hard links are indexed with `symlink` / `hardlink`.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::read::{Entry, EntryKind, Limits};

/// Largest `.py` file stored (bytes).
pub const MAX_PY_SIZE: u64 = 5 * 1024 * 1024;
/// Largest non-`.py` file stored (bytes).
pub const MAX_OTHER_SIZE: u64 = 200 * 1024;
/// Files of at least this size with fewer than [`LONG_LINES_NEWLINES`] newlines are skipped.
pub const LONG_LINES_MIN_SIZE: u64 = 50 * 1024;
/// See [`LONG_LINES_MIN_SIZE`].
pub const LONG_LINES_NEWLINES: u64 = 5;
/// How many leading bytes the binary test looks at.
pub const BINARY_SCAN: usize = 1024;

/// Why a file's contents are not stored (the `skip_reason` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Not text (see the module docs).
    Binary,
    /// Zero bytes long.
    Empty,
    /// Over the size limit for its kind.
    TooLarge,
    /// A version-control folder or a git-lfs pointer.
    VersionControl,
    /// Part of a virtual environment uploaded by mistake.
    Virtualenv,
    /// Large with almost no newlines.
    TextLongLines,
    /// A symbolic link (never followed).
    Symlink,
    /// A hard link (never followed).
    Hardlink,
}

impl SkipReason {
    /// All reasons, for help texts and validation.
    pub const ALL: [SkipReason; 8] =
        [SkipReason::Binary, SkipReason::Empty, SkipReason::TooLarge, SkipReason::VersionControl, SkipReason::Virtualenv, SkipReason::TextLongLines, SkipReason::Symlink, SkipReason::Hardlink];

    /// The value stored in the `skip_reason` column.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::Empty => "empty",
            SkipReason::TooLarge => "too-large",
            SkipReason::VersionControl => "version-control",
            SkipReason::Virtualenv => "virtualenv",
            SkipReason::TextLongLines => "text-long-lines",
            SkipReason::Symlink => "symlink",
            SkipReason::Hardlink => "hardlink",
        }
    }

    /// Parses a column value.
    pub fn parse(s: &str) -> Option<SkipReason> {
        SkipReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the skip rules need to know of a file's contents, gathered in one streaming pass so
/// that files too large to keep in memory are classified too.
#[derive(Debug, Clone)]
pub struct ContentProbe {
    head: Vec<u8>,
    size: u64,
    newlines: u64,
    last: Option<u8>,
}

impl Default for ContentProbe {
    fn default() -> Self {
        ContentProbe { head: Vec::with_capacity(BINARY_SCAN), size: 0, newlines: 0, last: None }
    }
}

impl ContentProbe {
    /// A probe over a whole buffer.
    pub fn of(data: &[u8]) -> ContentProbe {
        let mut p = ContentProbe::default();
        p.update(data);
        p
    }

    /// Feeds the next chunk of the file.
    pub fn update(&mut self, chunk: &[u8]) {
        if self.head.len() < BINARY_SCAN {
            let take = (BINARY_SCAN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.size += chunk.len() as u64;
        self.newlines += memchr_count(b'\n', chunk);
        if let Some(&b) = chunk.last() {
            self.last = Some(b);
        }
    }

    /// Bytes seen.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Lines as Rust's `BufRead::lines` counts them (pypi-data's `lines` column): the number
    /// of `\n`, plus one for a last line without a newline.
    pub fn lines(&self) -> u64 {
        self.newlines + u64::from(self.last.is_some_and(|b| b != b'\n'))
    }

    /// The binary test of rule 1.
    pub fn is_binary(&self) -> bool {
        const BOMS: &[&[u8]] = &[b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf"];
        if BOMS.iter().any(|b| self.head.starts_with(b)) {
            return false;
        }
        self.head.contains(&0) || self.head.starts_with(b"%PDF") || self.head.starts_with(b"\x89PNG")
    }
}

fn memchr_count(needle: u8, hay: &[u8]) -> u64 {
    memchr::memchr_iter(needle, hay).count() as u64
}

/// Applies the skip rules to a file at `path` (normalised, inside its archive). `None` means
/// the contents are stored.
pub fn classify(path: &str, probe: &ContentProbe) -> Option<SkipReason> {
    if probe.is_binary() {
        return Some(SkipReason::Binary);
    }
    if probe.size == 0 {
        return Some(SkipReason::Empty);
    }
    if probe.head.starts_with(b"__pyarmor") {
        return Some(SkipReason::Binary);
    }
    if probe.head.starts_with(b"version https://git-lfs") {
        return Some(SkipReason::VersionControl);
    }
    if probe.size > size_limit(path) {
        return Some(SkipReason::TooLarge);
    }
    if in_folder(path, &[".git", ".hg", ".svn"]) {
        return Some(SkipReason::VersionControl);
    }
    if in_folder(path, &[".venv", "venv", "site-packages"]) {
        return Some(SkipReason::Virtualenv);
    }
    if probe.newlines < LONG_LINES_NEWLINES && probe.size >= LONG_LINES_MIN_SIZE {
        return Some(SkipReason::TextLongLines);
    }
    None
}

/// The `too-large` threshold of rule 5 for a file at `path`.
pub fn size_limit(path: &str) -> u64 {
    if path.ends_with(".py") { MAX_PY_SIZE } else { MAX_OTHER_SIZE }
}

/// True when an entry is indexed as `too-large` from its header alone, never decompressed: it
/// is over rule 5's size for its path and its own compression ratio is over the archive
/// limit (see [`Entry::is_bomb_by_itself`]). Reading it would break the bomb check and lose
/// the archive's good files with it; such a row takes the null blob id and no `lines`, and
/// rules 1-4, which need its first bytes, are not applied to it.
pub fn too_large_unread(path: &str, entry: &Entry, limits: &Limits) -> bool {
    entry.kind == EntryKind::File && entry.size > size_limit(path) && entry.is_bomb_by_itself(limits)
}

/// True when one of the folders of `path` (not its last component) is named one of `names`.
fn in_folder(path: &str, names: &[&str]) -> bool {
    let mut comps: Vec<&str> = path.split('/').collect();
    comps.pop();
    comps.iter().any(|c| names.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(path: &str, data: &[u8]) -> Option<SkipReason> {
        classify(path, &ContentProbe::of(data))
    }

    #[test]
    fn each_rule_in_order() {
        assert_eq!(c("a.py", b"print(1)\n"), None);
        assert_eq!(c("a.bin", b"\x00\x01"), Some(SkipReason::Binary));
        assert_eq!(c("a.pdf", b"%PDF-1.4\n"), Some(SkipReason::Binary));
        assert_eq!(c("a.txt", b"\xff\xfeh\x00i\x00"), None, "UTF-16 with BOM is text");
        assert_eq!(c("a.py", b""), Some(SkipReason::Empty));
        assert_eq!(c("a.py", b"__pyarmor__(__name__)"), Some(SkipReason::Binary));
        assert_eq!(c("a.bin", b"version https://git-lfs.github.com/spec/v1\n"), Some(SkipReason::VersionControl));
        assert_eq!(c("big.txt", &vec![b'\n'; 200 * 1024 + 1]), Some(SkipReason::TooLarge));
        assert_eq!(c("ok.txt", &vec![b'\n'; 200 * 1024]), None);
        assert_eq!(c("big.py", &vec![b'\n'; 5 * 1024 * 1024]), None);
        assert_eq!(c("big.py", &vec![b'\n'; 5 * 1024 * 1024 + 1]), Some(SkipReason::TooLarge));
        assert_eq!(c("x/.git/config", b"[core]\n"), Some(SkipReason::VersionControl));
        assert_eq!(c(".hg/x", b"a\n"), Some(SkipReason::VersionControl));
        assert_eq!(c("a/venv/lib/x.py", b"a\n"), Some(SkipReason::Virtualenv));
        assert_eq!(c("lib/site-packages/x.py", b"a\n"), Some(SkipReason::Virtualenv));
        assert_eq!(c("a/venv", b"a\n"), None, "a file named venv is not a folder");
        assert_eq!(c("min.js", &vec![b'x'; 60 * 1024]), Some(SkipReason::TextLongLines));
        let mut four = vec![b'x'; 60 * 1024];
        four[..4].copy_from_slice(b"\n\n\n\n");
        assert_eq!(c("min.js", &four), Some(SkipReason::TextLongLines));
        four[4] = b'\n';
        assert_eq!(c("min.js", &four), None);
    }

    #[test]
    fn probe_counts_lines_like_bufread() {
        assert_eq!(ContentProbe::of(b"").lines(), 0);
        assert_eq!(ContentProbe::of(b"a").lines(), 1);
        assert_eq!(ContentProbe::of(b"a\n").lines(), 1);
        assert_eq!(ContentProbe::of(b"a\nb").lines(), 2);
        let mut p = ContentProbe::default();
        for chunk in [&b"ab"[..], b"\n", b"", b"c"] {
            p.update(chunk);
        }
        assert_eq!((p.lines(), p.size()), (2, 4));
    }

    #[test]
    fn reasons_round_trip() {
        for r in SkipReason::ALL {
            assert_eq!(SkipReason::parse(r.as_str()), Some(r));
        }
    }
}
