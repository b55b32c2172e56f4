//! `grep` over a corpus.
//!
//! The filters select rows; their stored blobs are the candidates, each decoded and searched
//! once however many files share it. Blobs are located in their shards and grouped by zstd
//! frame, so a frame is decoded once, only up to its last candidate, on one of the worker
//! threads; results come back in a fixed order (shard, frame, offset in frame) whatever the
//! thread count. Matching is ripgrep's own: the `grep-searcher` and `grep-regex` crates with
//! ripgrep's defaults (Rust regex syntax, UTF-16 BOM sniffing, a blob stops being searched at
//! its first NUL byte as ripgrep does for files found by walking a folder).
#![deny(missing_docs)]

mod output;
mod sink;

use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder};
use pycorpus_catalog::{FileRow, Filter, ScanStats};
use pycorpus_core::{Corpus, CoreError, ShardKind};
use pycorpus_store::{Journal, JournalBlob, Oid, PackReader};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

pub use output::OutputMode;

/// Errors of a search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The pattern does not compile.
    #[error("invalid pattern: {0}")]
    Pattern(String),
    /// Reading the corpus failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Reading a shard's blobs failed.
    #[error(transparent)]
    Store(#[from] pycorpus_store::StoreError),
    /// Writing the results failed (a closed pipe ends the search quietly: see `is_broken_pipe`).
    #[error("writing results: {0}")]
    Output(#[from] std::io::Error),
}

impl SearchError {
    /// True when the reader of our output went away (`| head`): not an error for a grep.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, SearchError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// What to look for and how to report it (ripgrep's flags of the same names).
#[derive(Debug, Clone, Default)]
pub struct GrepOptions {
    /// The pattern (Rust regex syntax unless `fixed_strings`).
    pub pattern: String,
    /// `-i`.
    pub case_insensitive: bool,
    /// `-F`: the pattern is a literal string.
    pub fixed_strings: bool,
    /// `-w`: only matches surrounded by word boundaries.
    pub word: bool,
    /// `-v`: select non-matching lines.
    pub invert: bool,
    /// `-B`: lines of context before each match.
    pub before: usize,
    /// `-A`: lines of context after each match.
    pub after: usize,
    /// `-m`: at most this many matching lines per blob.
    pub max_count: Option<u64>,
    /// Lines, file names only (`-l`) or counts (`-c`).
    pub mode: OutputMode,
    /// Report every file that holds a matching blob, not the first and a count.
    pub all_paths: bool,
    /// JSON lines instead of text.
    pub json: bool,
}

/// What a search did (`--stats`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GrepStats {
    /// The row scan.
    pub scan: ScanStats,
    /// Unique blobs the filters selected.
    pub candidate_blobs: u64,
    /// Bytes of those blobs.
    pub candidate_bytes: u64,
    /// zstd frames decoded (sealed shards).
    pub frames_decoded: u64,
    /// Bytes decoded from those frames (prefixes up to the last candidate).
    pub bytes_decoded: u64,
    /// Blobs searched.
    pub blobs_searched: u64,
    /// Blobs with at least one selected line.
    pub blobs_matched: u64,
    /// Selected lines (matches, or non-matches with `-v`).
    pub lines_matched: u64,
}

/// The files that hold one blob.
#[derive(Debug, Clone)]
pub(crate) struct Holders {
    /// The first file in index order.
    pub(crate) first: FileRow,
    /// How many files hold it.
    pub(crate) count: u64,
    /// Every other file, when `all_paths`.
    pub(crate) others: Vec<FileRow>,
}

/// A unit of work: blobs read together.
enum Unit {
    /// Blobs of one frame of a sealed shard, by offset.
    Frame { pack: usize, frame: usize, blobs: Vec<(Oid, u32, u32)> },
    /// Blobs of an open shard's journal.
    Journal { journal: usize, blobs: Vec<(Oid, JournalBlob)> },
}

/// What one unit produced.
#[derive(Default)]
struct UnitResult {
    out: Vec<u8>,
    frames: u64,
    decoded: u64,
    searched: u64,
    matched_blobs: u64,
    lines: u64,
}

impl GrepOptions {
    fn matcher(&self) -> Result<RegexMatcher, SearchError> {
        RegexMatcherBuilder::new()
            .case_insensitive(self.case_insensitive)
            .fixed_strings(self.fixed_strings)
            .word(self.word)
            .line_terminator(Some(b'\n'))
            .build(&self.pattern)
            .map_err(|e| SearchError::Pattern(e.to_string()))
    }

    fn searcher(&self) -> Searcher {
        let mut b = SearcherBuilder::new();
        b.line_number(true)
            .invert_match(self.invert)
            .before_context(self.before)
            .after_context(self.after)
            .binary_detection(BinaryDetection::quit(b'\x00'));
        match self.mode {
            OutputMode::FilesWithMatches => b.max_matches(Some(1)),
            _ => b.max_matches(self.max_count),
        };
        b.build()
    }
}

/// Searches the blobs of the rows `filter` selects, writing results to `out` in a fixed
/// order. Returns what it did; `stats.lines_matched == 0` means nothing matched.
pub fn grep(corpus: &Corpus, filter: &Filter, opts: &GrepOptions, out: &mut dyn Write, cancel: &AtomicBool) -> Result<GrepStats, SearchError> {
    let matcher = opts.matcher()?;
    let mut stats = GrepStats::default();

    // Which blobs, and which files hold each.
    let mut holders: HashMap<Oid, Holders> = HashMap::new();
    corpus.scan_rows(filter, &mut stats.scan, &mut |row| {
        if row.is_stored() {
            match holders.get_mut(&row.hash) {
                Some(h) => {
                    h.count += 1;
                    if opts.all_paths {
                        h.others.push(row);
                    }
                }
                None => {
                    stats.candidate_bytes += row.size;
                    holders.insert(row.hash, Holders { first: row, count: 1, others: Vec::new() });
                }
            }
        }
        true
    })?;
    stats.candidate_blobs = holders.len() as u64;

    // Where each blob is: grouped by frame, in frame and offset order.
    let mut packs = Vec::new();
    let mut journals = Vec::new();
    let mut units = Vec::new();
    let mut left: Vec<Oid> = holders.keys().copied().collect();
    left.sort_unstable();
    for shard in corpus.shards()? {
        if left.is_empty() {
            break;
        }
        match shard.kind {
            ShardKind::Sealed => {
                let pack = PackReader::open(&shard.dir)?;
                let mut by_frame: std::collections::BTreeMap<u32, Vec<(Oid, u32, u32)>> = Default::default();
                left.retain(|oid| match pack.find(oid) {
                    Some(e) => {
                        by_frame.entry(e.frame).or_default().push((*oid, e.offset, e.len));
                        false
                    }
                    None => true,
                });
                for (frame, mut blobs) in by_frame {
                    blobs.sort_unstable_by_key(|b| b.1);
                    units.push(Unit::Frame { pack: packs.len(), frame: frame as usize, blobs });
                }
                packs.push(pack);
            }
            ShardKind::Open => {
                let path = shard.dir.join("journal.log");
                if !path.exists() {
                    continue;
                }
                let (journal, _) = Journal::open_read_only(&path)?;
                let mut blobs: Vec<(Oid, JournalBlob)> = Vec::new();
                left.retain(|oid| match journal.locate(oid) {
                    Some(loc) => {
                        blobs.push((*oid, loc));
                        false
                    }
                    None => true,
                });
                blobs.sort_unstable_by_key(|b| b.1.offset);
                for chunk in blobs.chunks(256) {
                    units.push(Unit::Journal { journal: journals.len(), blobs: chunk.to_vec() });
                }
                journals.push(journal);
            }
        }
    }

    // Search, a batch of units at a time, writing each batch in order.
    let batch = rayon::current_num_threads() * 4;
    let context = opts.mode == OutputMode::Lines && !opts.json && opts.before + opts.after > 0;
    let mut written_any = false;
    for chunk in units.chunks(batch) {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        let results: Vec<Result<UnitResult, SearchError>> = chunk
            .par_iter()
            .map_init(
                || (opts.searcher(), Vec::new(), Vec::new()),
                |(searcher, buf, scratch), unit| run_unit(unit, &packs, &journals, &holders, opts, &matcher, searcher, buf, scratch),
            )
            .collect();
        for r in results {
            let mut r = r?;
            if context && !written_any && r.out.starts_with(b"--\n") {
                r.out.drain(..3);
            }
            written_any |= !r.out.is_empty();
            stats.frames_decoded += r.frames;
            stats.bytes_decoded += r.decoded;
            stats.blobs_searched += r.searched;
            stats.blobs_matched += r.matched_blobs;
            stats.lines_matched += r.lines;
            out.write_all(&r.out)?;
        }
    }
    out.flush()?;
    Ok(stats)
}

#[allow(clippy::too_many_arguments)]
fn run_unit(
    unit: &Unit,
    packs: &[PackReader],
    journals: &[Journal],
    holders: &HashMap<Oid, Holders>,
    opts: &GrepOptions,
    matcher: &RegexMatcher,
    searcher: &mut Searcher,
    buf: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<UnitResult, SearchError> {
    let mut r = UnitResult::default();
    let mut search = |oid: &Oid, data: &[u8], r: &mut UnitResult| -> Result<(), SearchError> {
        r.searched += 1;
        let hits = sink::search_blob(searcher, matcher, data)?;
        if hits.selected > 0 {
            r.matched_blobs += 1;
            r.lines += hits.selected;
            output::write_blob(&mut r.out, oid, &holders[oid], &hits, opts)?;
        }
        Ok(())
    };
    match unit {
        Unit::Frame { pack, frame, blobs } => {
            let pack = &packs[*pack];
            let end = blobs.iter().map(|b| (b.1 + b.2) as usize).max().unwrap_or(0);
            pack.decode_frame_prefix(*frame, end, buf, scratch)?;
            r.frames = 1;
            r.decoded = end as u64;
            for (oid, off, len) in blobs {
                search(oid, &buf[*off as usize..(*off + *len) as usize], &mut r)?;
            }
        }
        Unit::Journal { journal, blobs } => {
            for (oid, loc) in blobs {
                let data = journals[*journal].read_at(loc)?;
                search(oid, &data, &mut r)?;
            }
        }
    }
    Ok(r)
}
