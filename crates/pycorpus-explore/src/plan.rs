//! Which blobs can hold a match: the literals a pattern requires, as trigram queries answered
//! by each shard's `postings.idx` (blob units) or, for shards sealed before it, `grams.idx`
//! (frames).
//!
//! The pattern is parsed as the matcher parses it; every match must contain each literal run
//! of a concatenation, some branch of an alternation, and the body of a repetition of at least
//! one. Runs are folded to ASCII lower case like the index (a class such as `[Ff]`, which
//! `-i` makes of `f`, counts as `f`; a class with any non-ASCII member, like `-i`'s
//! `[Kk\u{212A}]`, ends the run). Anything else asks nothing, so a pattern without a usable
//! literal scans every frame, as it must.

use pycorpus_store::{BlockCache, Candidates, FrameSet, GramIndex, OidSet, PackReader, PostingsIndex, StoreError, fold, trigram};
use regex_syntax::hir::{Class, Hir, HirKind};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// A condition on a frame's trigrams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Query {
    /// Every frame may match.
    All,
    /// The frame has this trigram.
    Tri(u32),
    /// All of these hold.
    And(Vec<Query>),
    /// One of these holds.
    Or(Vec<Query>),
}

impl Query {
    fn and(parts: Vec<Query>) -> Query {
        let mut parts: Vec<Query> = parts
            .into_iter()
            .flat_map(|q| match q {
                Query::And(inner) => inner,
                q => vec![q],
            })
            .filter(|q| *q != Query::All)
            .collect();
        parts.dedup();
        match parts.len() {
            0 => Query::All,
            1 => parts.pop().expect("one"),
            _ => Query::And(parts),
        }
    }

    fn or(parts: Vec<Query>) -> Query {
        if parts.is_empty() || parts.contains(&Query::All) {
            return Query::All;
        }
        Query::Or(parts)
    }

    /// True when the query asks nothing (every frame must be read).
    pub(crate) fn is_all(&self) -> bool {
        *self == Query::All
    }

    /// The units of an index that can match (frames of `grams.idx`, blob units of
    /// `postings.idx`).
    pub(crate) fn units(&self, idx: &dyn TrigramSets) -> Result<FrameSet, StoreError> {
        Ok(match self {
            Query::All => FrameSet::all(idx.size()),
            Query::Tri(t) => idx.with(*t)?,
            Query::And(qs) => {
                let mut s = FrameSet::all(idx.size());
                for q in qs {
                    s.and(&q.units(idx)?);
                    if s.is_empty() {
                        break;
                    }
                }
                s
            }
            Query::Or(qs) => {
                let mut s = FrameSet::none(idx.size());
                for q in qs {
                    s.or(&q.units(idx)?);
                }
                s
            }
        })
    }
}

/// A trigram index: the units that may hold each trigram.
pub(crate) trait TrigramSets {
    /// Number of units.
    fn size(&self) -> usize;
    /// The units that may hold `t`.
    fn with(&self, t: u32) -> Result<FrameSet, StoreError>;
}

impl TrigramSets for GramIndex {
    fn size(&self) -> usize {
        self.frames()
    }
    fn with(&self, t: u32) -> Result<FrameSet, StoreError> {
        self.frames_with(t)
    }
}

/// A `postings.idx` answering one query: the blocks it decodes are kept for the query's
/// next trigrams.
struct Postings<'a> {
    idx: &'a PostingsIndex,
    cache: std::cell::RefCell<BlockCache>,
}

impl TrigramSets for Postings<'_> {
    fn size(&self) -> usize {
        self.idx.units()
    }
    fn with(&self, t: u32) -> Result<FrameSet, StoreError> {
        self.idx.units_with_in(t, &mut self.cache.borrow_mut())
    }
}

/// Bytes a candidate costs in a row scan's `hash_in` (its id and the set's own share): the
/// set holds at most a key set's budget of them (`memory_budget_bytes / 64`); past it (a
/// search that selects this many blobs is no longer selective) every row is scanned, as
/// without an index.
const HASH_IN_BYTES: usize = 40;

/// Candidates in more than one blob in this many of the sealed shards' blobs are not worth
/// locating row by row: reading every row's hash costs less then (`import os` on corpus-v1,
/// every blob a candidate: the rows through `rows.idx` took 140 ms, the plain scan ~50 ms).
const HASH_IN_SHARE: usize = 8;

/// The candidates of each sealed shard of `corpus` for `q` (by shard folder): from
/// `postings.idx`, else `grams.idx`, else none (every blob read; so is a shard whose index is
/// damaged or does not fit its pack: an index only speeds things up). With the blobs that
/// every shard's `postings.idx` leaves in, when there are few enough.
#[allow(clippy::type_complexity)]
pub(crate) fn candidates(corpus: &pycorpus_core::Corpus, q: &Queries) -> Result<(HashMap<PathBuf, Option<Candidates>>, Option<OidSet>), pycorpus_core::CoreError> {
    let mut out = HashMap::new();
    let mut blobs = Some(OidSet::default());
    let max_blobs = corpus.config().key_set_budget() / HASH_IN_BYTES;
    let mut stored = 0usize;
    let sealed: Vec<_> = corpus.shards()?.into_iter().filter(|s| s.kind == pycorpus_core::ShardKind::Sealed).collect();
    let present: std::collections::BTreeSet<u32> = sealed.iter().map(|s| s.number).collect();
    for shard in sealed {
        // rows that use a missing shard's blobs must reach the visit, which names the shard
        if corpus.shard_dependencies(&shard)?.iter().any(|n| !present.contains(n)) {
            blobs = None;
        }
        let Ok(pack) = PackReader::open(&shard.dir) else {
            // the visit reports it
            blobs = None;
            continue;
        };
        stored += pack.len();
        let c = shard_candidates(q, &shard.dir, &pack);
        match (&c, blobs.as_mut()) {
            (Some(c @ Candidates::Units { .. }), Some(set)) => {
                c.each_blob(&pack, &mut |oid| {
                    set.insert(oid);
                    if set.len() > max_blobs { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
                });
                if set.len() > max_blobs {
                    blobs = None;
                }
            }
            _ => blobs = None,
        }
        out.insert(shard.dir.clone(), c);
    }
    if blobs.as_ref().is_some_and(|b| b.len() * HASH_IN_SHARE > stored) {
        blobs = None;
    }
    tracing::debug!("search index: {:?} candidate blob(s) for the row scans", blobs.as_ref().map(|b| b.len()));
    Ok((out, blobs))
}

/// The candidates of one sealed shard (see [`candidates`]).
fn shard_candidates(q: &Queries, dir: &Path, pack: &PackReader) -> Option<Candidates> {
    if let Ok(Some(idx)) = PostingsIndex::open(dir)
        && idx.fits(pack)
        && let Ok(units) = q.exact.units(&Postings { idx: &idx, cache: Default::default() })
    {
        // every blob: nothing to rule out
        return (units.len() < idx.units()).then(|| idx.candidates(units, pack));
    }
    match GramIndex::open(dir) {
        Ok(Some(idx)) if idx.frames() == pack.gram_units() => q.folded.units(&idx).ok().map(Candidates::Frames),
        _ => None,
    }
}

/// The trigram queries of a pattern: `folded` for `grams.idx` (ASCII-lowercased trigrams),
/// `exact` for `postings.idx` (trigrams as they are: a letter that `-i` or a class lets be
/// either case asks for either trigram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Queries {
    pub(crate) folded: Query,
    pub(crate) exact: Query,
}

impl Queries {
    /// True when the pattern asks for no trigram (every blob must be read).
    pub(crate) fn is_all(&self) -> bool {
        self.folded.is_all() && self.exact.is_all()
    }
}

/// The queries for a pattern, parsed with the matcher's options. `None` when the pattern does
/// not parse here (the matcher reports the error).
pub(crate) fn query_for(pattern: &str, case_insensitive: bool, fixed: bool) -> Option<Queries> {
    let pattern = if fixed { regex_syntax::escape(pattern) } else { pattern.to_string() };
    let hir = regex_syntax::ParserBuilder::new().case_insensitive(case_insensitive).build().parse(&pattern).ok()?;
    Some(Queries { folded: walk(&hir, true), exact: walk(&hir, false) })
}

/// A literal run: at each position, the bytes a match may have there (one, or a letter in
/// either case).
type Run = Vec<Vec<u8>>;

/// The trigrams of a run, all required: folded, or each as one of its exact variants.
fn run_query(run: &[Vec<u8>], folded: bool) -> Query {
    if run.iter().any(|at| at.contains(&b'\n')) {
        return Query::All;
    }
    Query::and(
        run.windows(3)
            .map(|w| {
                if folded {
                    return Query::Tri(trigram(fold(w[0][0]), fold(w[1][0]), fold(w[2][0])));
                }
                let mut variants: Vec<Query> = w[0].iter().flat_map(|&a| w[1].iter().flat_map(move |&b| w[2].iter().map(move |&c| Query::Tri(trigram(a, b, c))))).collect();
                if variants.len() == 1 { variants.pop().expect("one") } else { Query::Or(variants) }
            })
            .collect(),
    )
}

/// The bytes a node matches, position by position, when it is a fixed run whose letters may
/// be in either case (a class counts when its members are one byte in its cases: `-i` makes
/// `[Ff]` of `f`; one with any non-ASCII member, like `-i`'s `[Kk\u{212A}]`, is no run).
fn run_of(h: &Hir) -> Option<Run> {
    /// The members of a class, when they are one ASCII letter's cases or a single byte.
    fn members(bytes: impl Iterator<Item = (u32, u32)>) -> Option<Vec<u8>> {
        let mut out: Vec<u8> = Vec::new();
        for (start, end) in bytes {
            for v in start..=end {
                let b = u8::try_from(v).ok()?;
                if (!b.is_ascii() && start != end) || out.first().is_some_and(|&f| fold(f) != fold(b)) || out.len() >= 2 {
                    return None;
                }
                out.push(b);
            }
        }
        (!out.is_empty()).then_some(out)
    }
    match h.kind() {
        HirKind::Literal(l) => Some(l.0.iter().map(|&b| vec![b]).collect()),
        HirKind::Class(Class::Unicode(c)) => {
            if c.ranges().iter().any(|r| !r.start().is_ascii() || !r.end().is_ascii()) {
                return None;
            }
            members(c.ranges().iter().map(|r| (r.start() as u32, r.end() as u32))).map(|m| vec![m])
        }
        HirKind::Class(Class::Bytes(c)) => members(c.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end())))).map(|m| vec![m]),
        HirKind::Capture(c) => run_of(&c.sub),
        _ => None,
    }
}

fn walk(h: &Hir, folded: bool) -> Query {
    match h.kind() {
        HirKind::Literal(_) => run_query(&run_of(h).unwrap_or_default(), folded),
        HirKind::Repetition(r) if r.min >= 1 => walk(&r.sub, folded),
        HirKind::Capture(c) => walk(&c.sub, folded),
        HirKind::Concat(children) => {
            let mut parts = Vec::new();
            let mut run: Run = Vec::new();
            for c in children {
                match run_of(c) {
                    Some(more) => run.extend(more),
                    None => {
                        parts.push(run_query(&run, folded));
                        run.clear();
                        parts.push(walk(c, folded));
                    }
                }
            }
            parts.push(run_query(&run, folded));
            Query::and(parts)
        }
        HirKind::Alternation(children) => Query::or(children.iter().map(|c| walk(c, folded)).collect()),
        _ => Query::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tri(s: &str) -> Query {
        let b = s.as_bytes();
        Query::Tri(trigram(fold(b[0]), fold(b[1]), fold(b[2])))
    }

    fn exact(s: &str) -> Query {
        let b = s.as_bytes();
        Query::Tri(trigram(b[0], b[1], b[2]))
    }

    /// The folded queries (`grams.idx`).
    fn query_for(pattern: &str, case_insensitive: bool, fixed: bool) -> Option<Query> {
        super::query_for(pattern, case_insensitive, fixed).map(|q| q.folded)
    }

    #[test]
    fn exact_queries_ask_for_each_case_a_pattern_allows() {
        let q = |p: &str, i: bool| super::query_for(p, i, false).map(|q| q.exact);
        assert_eq!(q("lEr", false), Some(exact("lEr")));
        assert_eq!(q("oLEr", false), Some(Query::And(vec![exact("oLE"), exact("LEr")])));
        let ci = q("aB1", true).unwrap();
        let Query::Or(v) = &ci else { panic!("{ci:?}") };
        assert_eq!(v, &vec![exact("AB1"), exact("Ab1"), exact("aB1"), exact("ab1")]);
        assert_eq!(q("[Ee]rr", false), Some(Query::Or(vec![exact("Err"), exact("err")])));
        assert_eq!(q("[ab]cd", false), Some(Query::All), "a class of two letters is no run");
        assert!(super::query_for("ab", false, false).unwrap().is_all());
    }

    #[test]
    fn literals_become_trigram_queries() {
        assert_eq!(query_for("frob", false, false), Some(Query::And(vec![tri("fro"), tri("rob")])));
        assert_eq!(query_for("FROB", true, false), Some(Query::And(vec![tri("fro"), tri("rob")])), "-i folds like the index");
        assert_eq!(query_for("a.", true, true), Some(Query::All), "-F: too short");
        assert_eq!(query_for("x.y.z", false, true), Some(Query::And(vec![tri("x.y"), tri(".y."), tri("y.z")])));
        assert_eq!(query_for(r"\w+", false, false), Some(Query::All));
        assert_eq!(query_for("ab", false, false), Some(Query::All));
        assert_eq!(query_for("(abc|xyz)d", false, false), Some(Query::Or(vec![tri("abc"), tri("xyz")])));
        assert_eq!(query_for("abc|x", false, false), Some(Query::All), "a branch without trigrams");
        assert_eq!(query_for("(abcd)*", false, false), Some(Query::All), "zero repetitions match too");
        assert_eq!(query_for(r"def \w+\(self", false, false), Some(Query::And(vec![tri("def"), tri("ef "), tri("(se"), tri("sel"), tri("elf")])));
        // -i makes `k` a class with the Kelvin sign: the run ends there
        assert_eq!(query_for("kabc", true, false), Some(tri("abc")));
        assert_eq!(query_for("(unclosed", false, false), None);
    }
}
