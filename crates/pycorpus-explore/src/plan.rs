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

use pycorpus_store::{Candidates, FrameSet, GramIndex, OidSet, PackReader, PostingsIndex, StoreError, fold, trigram};
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

impl TrigramSets for PostingsIndex {
    fn size(&self) -> usize {
        self.units()
    }
    fn with(&self, t: u32) -> Result<FrameSet, StoreError> {
        self.units_with(t)
    }
}

/// Bytes a candidate costs in a row scan's `hash_in` (its id and the set's own share): the
/// set holds at most a key set's budget of them (`memory_budget_bytes / 64`); past it (a
/// search that selects this many blobs is no longer selective) every row is scanned, as
/// without an index.
const HASH_IN_BYTES: usize = 40;

/// The candidates of each sealed shard of `corpus` for `q` (by shard folder): from
/// `postings.idx`, else `grams.idx`, else none (every blob read; so is a shard whose index is
/// damaged or does not fit its pack: an index only speeds things up). With the blobs that
/// every shard's `postings.idx` leaves in, when there are few enough.
#[allow(clippy::type_complexity)]
pub(crate) fn candidates(corpus: &pycorpus_core::Corpus, q: &Query) -> Result<(HashMap<PathBuf, Option<Candidates>>, Option<OidSet>), pycorpus_core::CoreError> {
    let mut out = HashMap::new();
    let mut blobs = Some(OidSet::default());
    let max_blobs = corpus.config().key_set_budget() / HASH_IN_BYTES;
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
    tracing::debug!("search index: {:?} candidate blob(s) for the row scans", blobs.as_ref().map(|b| b.len()));
    Ok((out, blobs))
}

/// The candidates of one sealed shard (see [`candidates`]).
fn shard_candidates(q: &Query, dir: &Path, pack: &PackReader) -> Option<Candidates> {
    if let Ok(Some(idx)) = PostingsIndex::open(dir)
        && idx.fits(pack)
        && let Ok(units) = q.units(&idx)
    {
        return Some(idx.candidates(units));
    }
    match GramIndex::open(dir) {
        Ok(Some(idx)) if idx.frames() == pack.gram_units() => q.units(&idx).ok().map(Candidates::Frames),
        _ => None,
    }
}

/// The query for a pattern, parsed with the matcher's options. `None` when the pattern does
/// not parse here (the matcher reports the error).
pub(crate) fn query_for(pattern: &str, case_insensitive: bool, fixed: bool) -> Option<Query> {
    let pattern = if fixed { regex_syntax::escape(pattern) } else { pattern.to_string() };
    let hir = regex_syntax::ParserBuilder::new().case_insensitive(case_insensitive).build().parse(&pattern).ok()?;
    Some(walk(&hir))
}

/// The trigrams of a folded run, all required.
fn run_query(run: &[u8]) -> Query {
    if run.contains(&b'\n') {
        return Query::All;
    }
    Query::and(run.windows(3).map(|w| Query::Tri(trigram(w[0], w[1], w[2]))).collect())
}

/// The single folded byte a node always matches, if it is one.
fn one_byte(h: &Hir) -> Option<Vec<u8>> {
    match h.kind() {
        HirKind::Literal(l) => Some(l.0.iter().map(|&b| fold(b)).collect()),
        HirKind::Class(Class::Unicode(c)) => {
            let mut folded = None;
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    if !ch.is_ascii() {
                        return None;
                    }
                    let b = fold(ch as u8);
                    if *folded.get_or_insert(b) != b {
                        return None;
                    }
                }
            }
            folded.map(|b| vec![b])
        }
        HirKind::Class(Class::Bytes(c)) => {
            let mut folded = None;
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    if !b.is_ascii() && r.start() != r.end() {
                        return None;
                    }
                    let b = fold(b);
                    if *folded.get_or_insert(b) != b {
                        return None;
                    }
                }
            }
            folded.map(|b| vec![b])
        }
        HirKind::Capture(c) => one_byte(&c.sub),
        _ => None,
    }
}

fn walk(h: &Hir) -> Query {
    match h.kind() {
        HirKind::Literal(_) => run_query(&one_byte(h).unwrap_or_default()),
        HirKind::Repetition(r) if r.min >= 1 => walk(&r.sub),
        HirKind::Capture(c) => walk(&c.sub),
        HirKind::Concat(children) => {
            let mut parts = Vec::new();
            let mut run: Vec<u8> = Vec::new();
            for c in children {
                match one_byte(c) {
                    Some(bytes) => run.extend_from_slice(&bytes),
                    None => {
                        parts.push(run_query(&run));
                        run.clear();
                        parts.push(walk(c));
                    }
                }
            }
            parts.push(run_query(&run));
            Query::and(parts)
        }
        HirKind::Alternation(children) => Query::or(children.iter().map(walk).collect()),
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
