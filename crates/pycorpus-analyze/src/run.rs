//! `analyze` over a corpus: each unique `.py`/`.pyi` blob of the selection that no earlier run
//! analysed is parsed once, on all cores, and its facts are added to `<corpus>/analysis/`.

use crate::store::{StoreError, known_oids, write_part};
use crate::{Facts, Limits, STACK_BYTES, analyze_guarded};
use pycorpus_catalog::Filter;
use pycorpus_core::{Corpus, Ctx};
use pycorpus_store::Oid;
use pycorpus_visit::{VisitError, VisitOptions, VisitStats, visit_blobs};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Facts are written in parts of this many blobs: a crash or Ctrl-C loses at most one part's
/// work, and memory holds at most one part.
const PART_ROWS: usize = 20_000;

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// Reading the corpus.
    #[error("{0}")]
    Visit(#[from] VisitError),
    /// Reading or writing facts.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AnalyzeSummary {
    /// Blobs parsed this run.
    pub analyzed: u64,
    /// Selected blobs analysed by an earlier run (not parsed again).
    pub known: u64,
    /// This run's blobs by status.
    pub by_status: BTreeMap<String, u64>,
    /// Parts written.
    pub parts: Vec<PathBuf>,
    /// The visit underneath.
    pub visit: VisitStats,
}

/// Where the facts of `corpus` live.
pub fn analysis_dir(corpus: &Corpus) -> PathBuf {
    corpus.root().join("analysis")
}

/// Analyses the selected Python files of `corpus` (`.py` and `.pyi` unless the filter names
/// extensions; one per blob). `ctx`: progress in bytes of the selection (blobs analysed by an
/// earlier run are not part of the selection's bytes). Files are
/// parsed on threads with a stack of [`STACK_BYTES`] (the visit's own pool), as many as
/// rayon's global pool has.
pub fn analyze_corpus(corpus: &Corpus, filter: &Filter, limits: &Limits, ctx: Ctx<'_>) -> Result<AnalyzeSummary, AnalyzeError> {
    let dir = analysis_dir(corpus);
    let mut known = corpus.key_set::<20>();
    known_oids(&dir, &mut known)?;
    // A failed lookup in the spilled set counts as "not known" (the blob is analysed again,
    // which is harmless) and is reported once the visit is over.
    let lookup_failed: std::sync::Mutex<Option<std::io::Error>> = std::sync::Mutex::new(None);
    let mut filter = filter.clone();
    if filter.exts.is_empty() {
        filter.exts = vec!["py".into(), "pyi".into()];
    }
    filter.unique = true;
    let mut summary = AnalyzeSummary::default();
    let mut pending: Vec<(Oid, Facts)> = Vec::new();
    let mut failed: Option<StoreError> = None;
    let skip = |oid: &Oid| match known.contains(&oid.0) {
        Ok(k) => k,
        Err(e) => {
            lookup_failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
            false
        }
    };
    let visit = visit_blobs(
        corpus,
        &filter,
        &VisitOptions { skip: Some(&skip), stack_size: STACK_BYTES, parallel_blobs: true, batch_per_thread: 4, ..Default::default() },
        ctx,
        &|| (),
        &|_, oid, _, data| Ok((*oid, analyze_guarded(data, limits))),
        &mut |(oid, facts): (Oid, Facts)| {
            summary.analyzed += 1;
            *summary.by_status.entry(facts.status.as_str().to_string()).or_default() += 1;
            pending.push((oid, facts));
            if pending.len() >= PART_ROWS {
                match write_part(&dir, &pending) {
                    Ok(p) => summary.parts.push(p),
                    Err(e) => {
                        failed = Some(e);
                        return Err(VisitError::Output(std::io::Error::other("writing facts failed")));
                    }
                }
                pending.clear();
            }
            Ok(())
        },
    );
    if let Some(e) = failed {
        return Err(e.into());
    }
    // What was parsed before an interruption is kept.
    if !pending.is_empty() {
        summary.parts.push(write_part(&dir, &pending)?);
    }
    summary.visit = visit?;
    if let Some(e) = lookup_failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(StoreError::Io { path: corpus.tmp_dir(), source: e }.into());
    }
    summary.known = summary.visit.skipped_blobs;
    Ok(summary)
}
