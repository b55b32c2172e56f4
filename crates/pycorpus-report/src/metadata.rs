//! The packaging metadata section: from releases.parquet's packaging columns and the shards'
//! requirements tables (not from the files' facts), per release (a project's version: its
//! distribution files of one shard together).
//!
//! Memory: one shard's releases and their flags at a time; the (required project, requiring
//! project) pairs of "most required" flow through a sorted spill; what is held are tallies per
//! month and the top of the ranking.

use crate::ReportError;
use crate::collect::Tally;
use pycorpus_catalog::{Filter, Release};
use pycorpus_core::{Corpus, ShardKind, scan_shard_requirements, shard_releases};
use pycorpus_deps::Kind;
use pycorpus_spill::{Key, Sorter};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The facts followed per release with core metadata: `(key, label)`.
pub const METADATA_FACTS: &[(&str, &str)] = &[
    ("license_expression", "License-Expression (PEP 639)"),
    ("dynamic", "Dynamic fields (metadata 2.2+)"),
    ("requires_dist", "declares requirements"),
    ("markers", "a requirement with an environment marker"),
    ("extras", "declares extras"),
];

/// Rows of the "most required" table.
pub const MOST_REQUIRED: usize = 100;

/// A project and how many others require it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Required {
    /// The required project (normalised).
    pub project: String,
    /// Distinct projects requiring it (for installing: `run`), in any release.
    pub projects: u64,
    /// Releases requiring it.
    pub releases: u64,
}

/// What the section shows, before formatting.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetadataData {
    /// Per month of first upload, of releases with core metadata: each of [`METADATA_FACTS`].
    pub facts: BTreeMap<i32, Tally>,
    /// Per month, of releases with a pyproject.toml: those with a `[project]` table (PEP 621).
    pub pep621: BTreeMap<i32, Tally>,
    /// Per month: releases by their highest `Metadata-Version` (`unknown` when no file says).
    pub versions: BTreeMap<i32, BTreeMap<String, u64>>,
    /// The most required projects, most first.
    pub most_required: Vec<Required>,
    /// Sealed shards without the tables (sealed before them: `reindex-metadata`).
    pub shards_without_tables: Vec<u32>,
}

/// One release's flags, from its distributions' rows.
#[derive(Default)]
struct Flags {
    first: i64,
    core: bool,
    version: Option<String>,
    pyproject: bool,
    pep621: bool,
    bits: u64,
}

const LICENSE_EXPRESSION: u64 = 1;
const DYNAMIC: u64 = 2;
const REQUIRES: u64 = 4;
const MARKERS: u64 = 8;
const EXTRAS: u64 = 16;

/// Metadata versions compare as numbers (`1.10` after `1.2`); others after them, as text.
fn version_key(v: &str) -> (Vec<u64>, String) {
    (v.split('.').map(|p| p.trim().parse::<u64>().unwrap_or(u64::MAX)).collect(), v.to_string())
}

/// Counts the section over the releases `filter` selects (its project, version, time,
/// distribution type and shard filters: these tables have no file rows).
pub fn collect(corpus: &Corpus, filter: &Filter, month_of: &dyn Fn(i64) -> i32, top: usize) -> Result<MetadataData, ReportError> {
    let budget = usize::try_from(corpus.config().memory_budget_bytes / 4).unwrap_or(usize::MAX);
    let mut pairs = Sorter::new(&corpus.tmp_dir(), budget);
    let mut out = MetadataData::default();
    let spill = ReportError::Spill;
    for shard in corpus.shards()? {
        if !filter.shards.is_empty() && !filter.shards.contains(&shard.number) {
            continue;
        }
        let releases: Vec<Release> = shard_releases(&shard)?.into_iter().filter(|r| filter.matches_release(&r.project_name, &r.project_version, r.uploaded_on, r.dist_type)).collect();
        let mut flags: HashMap<(String, String), Flags> = HashMap::new();
        let mut dists: HashMap<String, (String, String)> = HashMap::new();
        for r in &releases {
            dists.insert(r.project_release.clone(), (r.project_name.clone(), r.project_version.clone()));
            let f = flags.entry((r.project_name.clone(), r.project_version.clone())).or_insert_with(|| Flags { first: i64::MAX, ..Flags::default() });
            f.first = f.first.min(r.uploaded_on);
            let p = &r.packaging;
            if let Some(v) = &p.core_metadata_version {
                f.core = true;
                if f.version.as_ref().is_none_or(|old| version_key(v) > version_key(old)) {
                    f.version = Some(v.clone());
                }
            }
            f.pyproject |= p.pyproject == Some(true);
            f.pep621 |= p.pep621 == Some(true);
            f.bits |= if p.license_expression.is_some() { LICENSE_EXPRESSION } else { 0 } | if p.dynamic.is_empty() { 0 } else { DYNAMIC } | if p.provides_extra.is_empty() { 0 } else { EXTRAS };
        }
        let mut failed: Option<ReportError> = None;
        let had = scan_shard_requirements(&shard, &mut |row| {
            let Some(release) = dists.get(&row.dist.project_release) else { return true };
            let Some(f) = flags.get_mut(release) else { return true };
            let req = &row.requirement;
            if req.source == pycorpus_deps::Source::CoreMetadata {
                f.bits |= REQUIRES;
                if matches!(req.kind, Kind::Extra(_)) {
                    f.bits |= EXTRAS;
                }
                if req.marker.as_deref().is_some_and(|m| m.replace(|c: char| c.is_whitespace(), "").split("and").any(|part| !part.trim_matches(['(', ')']).starts_with("extra=="))) {
                    f.bits |= MARKERS;
                }
            }
            if req.kind == Kind::Run
                && let Some(name) = &req.name
            {
                let mut k = Key::new();
                k.str(name).str(&release.0).str(&release.1);
                if let Err(e) = pairs.push(&k.0, &[]) {
                    failed = Some(spill(e));
                    return false;
                }
            }
            true
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if !had && shard.kind == ShardKind::Sealed {
            out.shards_without_tables.push(shard.number);
            continue;
        }
        for f in flags.values() {
            let month = month_of(f.first);
            if f.core {
                let t = out.facts.entry(month).or_default();
                // bit i of `bits` is METADATA_FACTS[i], in that order
                t.add(f.bits, METADATA_FACTS.len());
                *out.versions.entry(month).or_default().entry(f.version.clone().unwrap_or_else(|| "unknown".into())).or_default() += 1;
            }
            if f.pyproject {
                out.pep621.entry(month).or_default().add(u64::from(f.pep621), 1);
            }
        }
    }
    // Most required: the sorted (name, project, version) keys counted per name.
    let mut merged = pairs.finish().map_err(spill)?;
    let mut ranking: Vec<Required> = Vec::new();
    let (mut name, mut project, mut last): (Vec<u8>, Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new(), Vec::new());
    let mut current = Required { project: String::new(), projects: 0, releases: 0 };
    let close = |r: &mut Required, ranking: &mut Vec<Required>| {
        if r.releases > 0 {
            ranking.push(std::mem::replace(r, Required { project: String::new(), projects: 0, releases: 0 }));
            // keep the top only: sorted and cut whenever it doubles
            if ranking.len() >= 2 * top.max(1) {
                ranking.sort_by(|a, b| b.projects.cmp(&a.projects).then(b.releases.cmp(&a.releases)).then(a.project.cmp(&b.project)));
                ranking.truncate(top);
            }
        }
    };
    while let Some((key, _)) = merged.next().map_err(spill)? {
        if key == last.as_slice() {
            continue; // the same release stated it in several files
        }
        last = key.to_vec();
        let mut parts = key.split(|b| *b == 0).filter(|p| !p.is_empty());
        let (n, p) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        if n != name.as_slice() {
            close(&mut current, &mut ranking);
            name = n.to_vec();
            project.clear();
            current.project = String::from_utf8_lossy(n).into_owned();
        }
        current.releases += 1;
        if p != project.as_slice() {
            current.projects += 1;
            project = p.to_vec();
        }
    }
    close(&mut current, &mut ranking);
    ranking.sort_by(|a, b| b.projects.cmp(&a.projects).then(b.releases.cmp(&a.releases)).then(a.project.cmp(&b.project)));
    ranking.truncate(top);
    out.most_required = ranking;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_versions_sort_as_numbers() {
        let mut v = vec!["2.1", "1.10", "1.2", "2.4", "x"];
        v.sort_by_key(|s| version_key(s));
        assert_eq!(v, vec!["1.2", "1.10", "2.1", "2.4", "x"]);
    }
}
