//! Collects what the searcher selects in one blob, to be printed once per file holding it.

use grep_regex::RegexMatcher;
use grep_searcher::{Searcher, Sink, SinkContext, SinkMatch};

/// The kind of a reported line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A selected line.
    Match,
    /// A line of context.
    Context,
    /// A gap between two groups of context (`--`).
    Break,
}

/// One reported line.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) kind: Kind,
    pub(crate) number: u64,
    pub(crate) text: Vec<u8>,
}

/// Everything a blob reported.
#[derive(Debug, Default)]
pub(crate) struct Hits {
    pub(crate) lines: Vec<Line>,
    /// Selected lines.
    pub(crate) selected: u64,
}

/// Fills [`Hits`]; with `keep` false only counts (`-c`, `-l` print no lines).
struct Collect<'a> {
    hits: &'a mut Hits,
    keep: bool,
}

impl Sink for Collect<'_> {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, m: &SinkMatch<'_>) -> Result<bool, Self::Error> {
        self.hits.selected += 1;
        if self.keep {
            self.hits.lines.push(Line { kind: Kind::Match, number: m.line_number().unwrap_or(0), text: m.bytes().to_vec() });
        }
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, c: &SinkContext<'_>) -> Result<bool, Self::Error> {
        if self.keep {
            self.hits.lines.push(Line { kind: Kind::Context, number: c.line_number().unwrap_or(0), text: c.bytes().to_vec() });
        }
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, Self::Error> {
        if self.keep {
            self.hits.lines.push(Line { kind: Kind::Break, number: 0, text: Vec::new() });
        }
        Ok(true)
    }
}

/// Searches one blob. A blob holding a NUL byte is read the way ripgrep reads a file (through
/// its line buffer, which stops at the buffer holding the NUL), so results agree with ripgrep
/// on the same bytes on disk; others are searched in place. With `keep_lines` false only the
/// selected lines are counted.
pub(crate) fn search_blob(searcher: &mut Searcher, matcher: &RegexMatcher, data: &[u8], keep_lines: bool) -> std::io::Result<Hits> {
    let mut hits = Hits::default();
    let sink = Collect { hits: &mut hits, keep: keep_lines };
    if memchr::memchr(0, data).is_some() {
        searcher.search_reader(matcher, data, sink)?;
    } else {
        searcher.search_slice(matcher, data, sink)?;
    }
    Ok(hits)
}
