//! Exploring a corpus: `grep`, `extract` and `stream` over the blobs a filter selects.
//!
//! The filters select rows; their stored blobs are the candidates, each decoded and searched
//! once however many files share it. Blobs are located in their shards and grouped by zstd
//! frame, so a frame is decoded once, only up to its last candidate, on one of the worker
//! threads; results come back in a fixed order (shard, frame, offset in frame) whatever the
//! thread count. Matching is ripgrep's own: the `grep-searcher` and `grep-regex` crates with
//! ripgrep's defaults (Rust regex syntax, UTF-16 BOM sniffing, a blob stops being searched at
//! its first NUL byte as ripgrep does for files found by walking a folder).
#![deny(missing_docs)]

mod deps;
mod extract;
mod names;
mod output;
mod plan;
mod secrets;
mod sink;
mod spec;
mod stream;

use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder};
use pycorpus_catalog::Filter;
use pycorpus_core::Ctx;
use pycorpus_core::{CoreError, Corpus};
use pycorpus_store::{Candidates, Oid};
use pycorpus_visit::{Holders, VisitError, VisitOptions, VisitStats, visit_blobs};
use serde::Serialize;
use std::io::Write;

pub use deps::{DepsQuery, DepsSpec};
pub use extract::{ExtractSummary, Layout, extract};
pub use names::{safe_component, safe_path};
pub use output::{OutputMode, write_records};
pub use secrets::{SECRET_COLUMNS, SecretRecord, SecretsSpec, SecretsStats, secrets};
pub use spec::{ExtractSpec, FILE_FIELDS, GrepSpec, MATCH_FIELDS, file_fields};
pub use stream::{StreamFormat, StreamStats, stream};

/// Errors of a search.
#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    /// The pattern does not compile.
    #[error("invalid pattern: {0}")]
    Pattern(String),
    /// A rule file that cannot be read, or a bad rule in it (`secrets --rules`).
    #[error("{0}")]
    Rules(String),
    /// The visit, or writing what it found.
    #[error("{0}")]
    Visit(#[from] VisitError),
}

impl From<CoreError> for ExploreError {
    fn from(e: CoreError) -> ExploreError {
        ExploreError::Visit(e.into())
    }
}

impl From<std::io::Error> for ExploreError {
    fn from(e: std::io::Error) -> ExploreError {
        ExploreError::Visit(e.into())
    }
}

impl ExploreError {
    /// True when the reader of our output went away (`| head`): not an error for a grep.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ExploreError::Visit(e) if e.is_broken_pipe())
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
    /// Bytes the compiled pattern may take (`None`: the engine's default). A server facing a
    /// network sets it, so that no query compiles into a huge automaton; matching stays linear
    /// in the text whatever the pattern.
    pub regex_size_limit: Option<usize>,
    /// Decoded frames kept from earlier searches, used and filled by this one (a server's:
    /// a one-off search has no use for it).
    pub frame_cache: Option<std::sync::Arc<pycorpus_visit::FrameCache>>,
}

/// What a search did (`--stats`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GrepStats {
    /// The row scan and the blobs read (frames skipped by the trigram index included).
    pub visit: VisitStats,
    /// Blobs with at least one selected line.
    pub blobs_matched: u64,
    /// Selected lines (matches, or non-matches with `-v`).
    pub lines_matched: u64,
    /// Blobs that every sealed shard's search index (`postings.idx`) left as candidates, when
    /// the row scans read only their rows (`None`: they read every row).
    pub index_candidates: Option<u64>,
}

impl GrepOptions {
    fn matcher(&self) -> Result<RegexMatcher, ExploreError> {
        let mut b = RegexMatcherBuilder::new();
        b.case_insensitive(self.case_insensitive).fixed_strings(self.fixed_strings).word(self.word).line_terminator(Some(b'\n'));
        if let Some(n) = self.regex_size_limit {
            b.size_limit(n).dfa_size_limit(n);
        }
        b.build(&self.pattern).map_err(|e| ExploreError::Pattern(e.to_string()))
    }

    /// Where the pattern matches in a line: for front ends that highlight what a search found.
    pub fn match_ranges(&self) -> Result<MatchRanges, ExploreError> {
        Ok(MatchRanges(self.matcher()?))
    }

    fn searcher(&self) -> Searcher {
        let mut b = SearcherBuilder::new();
        // Line numbers cost a count of every newline before each match: only lines print them.
        b.line_number(self.mode == OutputMode::Lines).invert_match(self.invert).before_context(self.before).after_context(self.after).binary_detection(BinaryDetection::quit(b'\x00'));
        match self.mode {
            OutputMode::FilesWithMatches => b.max_matches(Some(1)),
            _ => b.max_matches(self.max_count),
        };
        b.build()
    }
}

/// Searches the blobs of the rows `filter` selects, writing results to `out` in a fixed
/// order. Returns what it did; `stats.lines_matched == 0` means nothing matched. `ctx`: its
/// progress in bytes of the selection (blobs the trigram indexes rule out count as passed; when
/// `rows.idx` names the rows of the candidates, only theirs are the selection), and its
/// cancel flag.
pub fn grep(corpus: &Corpus, filter: &Filter, opts: &GrepOptions, out: &mut dyn Write, ctx: Ctx<'_>) -> Result<GrepStats, ExploreError> {
    let context = opts.mode == OutputMode::Lines && !opts.json && opts.before + opts.after > 0;
    let mut written_any = false;
    let stats = search(
        corpus,
        filter,
        opts,
        ctx,
        &|oid: &Oid, holders: &Holders, hits: sink::Hits| -> Result<Vec<u8>, VisitError> {
            let mut buf = Vec::new();
            if hits.selected > 0 {
                output::write_blob(&mut buf, oid, holders, &hits, opts)?;
            }
            Ok(buf)
        },
        &mut |mut buf: Vec<u8>| -> Result<(), VisitError> {
            if context && !written_any && buf.starts_with(b"--\n") {
                buf.drain(..3);
            }
            written_any |= !buf.is_empty();
            out.write_all(&buf)?;
            Ok(())
        },
    )?;
    out.flush()?;
    Ok(stats)
}

/// Finds the matches of a search's pattern in a line ([`GrepOptions::match_ranges`]).
pub struct MatchRanges(RegexMatcher);

impl MatchRanges {
    /// The byte ranges of `line` that the pattern matches, in order, none empty.
    pub fn of(&self, line: &[u8]) -> Vec<std::ops::Range<usize>> {
        use grep_matcher::Matcher;
        let mut out = Vec::new();
        let _ = self.0.find_iter(line, |m| {
            if !m.is_empty() {
                out.push(m.start()..m.end());
            }
            true
        });
        out
    }
}

/// One line a search reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchLine {
    /// Its number in the file, from 1.
    pub number: u64,
    /// The line, with its line ending.
    pub text: Vec<u8>,
    /// A selected line (else a line of context).
    pub selected: bool,
}

/// What a search found in one blob, as values: for callers that build their own records (the
/// Python module) rather than print.
#[derive(Debug, Clone)]
pub struct BlobMatches {
    /// The blob.
    pub oid: Oid,
    /// The files holding it: the first, and the others with [`GrepOptions::all_paths`].
    pub holders: Holders,
    /// Its lines, in order (no group separators).
    pub lines: Vec<MatchLine>,
}

/// [`grep`] handing each blob with a selected line to `sink` as [`BlobMatches`], in the same
/// order (only [`OutputMode::Lines`] applies; the output options are ignored). To stop early,
/// set the cancel flag of `ctx` from the sink.
pub fn grep_matches(corpus: &Corpus, filter: &Filter, opts: &GrepOptions, ctx: Ctx<'_>, sink: &mut dyn FnMut(BlobMatches) -> Result<(), VisitError>) -> Result<GrepStats, ExploreError> {
    let opts = GrepOptions { mode: OutputMode::Lines, ..opts.clone() };
    search(
        corpus,
        filter,
        &opts,
        ctx,
        &|oid: &Oid, holders: &Holders, hits: sink::Hits| -> Result<Option<BlobMatches>, VisitError> {
            if hits.selected == 0 {
                return Ok(None);
            }
            let holders = holders.clone();
            let lines = hits.lines.into_iter().filter(|l| l.kind != sink::Kind::Break).map(|l| MatchLine { number: l.number, selected: l.kind == sink::Kind::Match, text: l.text }).collect();
            Ok(Some(BlobMatches { oid: *oid, holders, lines }))
        },
        &mut |found: Option<BlobMatches>| match found {
            Some(m) => sink(m),
            None => Ok(()),
        },
    )
}

/// The search under [`grep`] and [`grep_matches`]: `make` turns each blob's hits into what
/// `sink` takes, on the worker threads; `sink` gets them in order.
fn search<T: Send>(
    corpus: &Corpus,
    filter: &Filter,
    opts: &GrepOptions,
    ctx: Ctx<'_>,
    make: &(dyn Fn(&Oid, &Holders, sink::Hits) -> Result<T, VisitError> + Sync),
    sink: &mut dyn FnMut(T) -> Result<(), VisitError>,
) -> Result<GrepStats, ExploreError> {
    let matcher = opts.matcher()?;
    let (mut matched_blobs, mut lines) = (0u64, 0u64);
    // Blobs (and frames) whose trigrams rule the pattern out are not read (not with -v: any
    // line of any blob can be selected then).
    let query = if opts.invert { None } else { plan::query_for(&opts.pattern, opts.case_insensitive, opts.fixed_strings).filter(|q| !q.is_all()) };
    // Each sealed shard's candidates, once; with every shard's from `postings.idx` and few
    // enough of them, the row scans read only the rows of candidate blobs.
    let (candidates, hash_in) = match &query {
        Some(q) => plan::candidates(corpus, q)?,
        None => (std::collections::HashMap::new(), None),
    };
    let index_candidates = hash_in.as_ref().map(|h| h.len() as u64);
    let filter = &Filter { hash_in: hash_in.map(std::sync::Arc::new), ..filter.clone() };
    let blob_filter = |dir: &std::path::Path, _: &pycorpus_store::PackReader| -> Result<Option<Candidates>, VisitError> { Ok(candidates.get(dir).cloned().flatten()) };
    let visit = visit_blobs(
        corpus,
        filter,
        &VisitOptions { all_rows: opts.all_paths, blob_filter: Some(&blob_filter), batch_per_thread: 4, frame_cache: opts.frame_cache.as_deref(), ..Default::default() },
        ctx,
        &|| opts.searcher(),
        &|searcher: &mut Searcher, oid: &Oid, holders: &Holders, data: &pycorpus_visit::Blob<'_>| -> Result<(u64, T), VisitError> {
            let hits = sink::search_blob(searcher, &matcher, data, opts.mode == OutputMode::Lines)?;
            Ok((hits.selected, make(oid, holders, hits)?))
        },
        &mut |(selected, t): (u64, T)| -> Result<(), VisitError> {
            if selected > 0 {
                matched_blobs += 1;
                lines += selected;
            }
            sink(t)
        },
    )?;
    Ok(GrepStats { visit, blobs_matched: matched_blobs, lines_matched: lines, index_candidates })
}
