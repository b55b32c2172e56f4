//! Reading the dependency tables over sealed and open shards alike, and `reindex-metadata`'s
//! shard rewrite.

use crate::query::open_records;
use crate::{CoreError, Corpus, ShardInfo, ShardKind};
use pycorpus_archive::DistType;
use pycorpus_catalog::{DepsWriter, DistKey, REQUIREMENTS_FILE, Release, RequirementRow, read_requirements};
use pycorpus_deps::{DistMetadata, wanted};
use std::path::Path;

/// What [`Corpus::requirements`] went through.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DepsCoverage {
    /// Shards read.
    pub shards: u64,
    /// Sealed shards without the dependency tables (sealed before they existed): nothing of
    /// theirs is in the answer until `pycorpus reindex-metadata` adds them.
    pub shards_without_tables: Vec<u32>,
}

/// The requirement rows of one shard that `keep(project_name, name)` keeps; `None` for a
/// sealed shard without `requirements.parquet`.
pub fn shard_requirements(shard: &ShardInfo, keep: &dyn Fn(&str, Option<&str>) -> bool) -> Result<Option<Vec<RequirementRow>>, CoreError> {
    match shard.kind {
        ShardKind::Sealed => {
            let path = shard.dir.join(REQUIREMENTS_FILE);
            match path.exists() {
                true => Ok(Some(read_requirements(&path, keep)?)),
                false => Ok(None),
            }
        }
        ShardKind::Open => {
            let mut out = Vec::new();
            // in the order a seal writes them, not the order workers committed them
            let mut records = open_records(shard)?.map(|(_, records, _)| records).unwrap_or_default();
            records.sort_by(|a, b| {
                let (a, b) = (&a.release, &b.release);
                (&a.project_name, &a.project_version, &a.project_release, &a.dist_sha256).cmp(&(&b.project_name, &b.project_version, &b.project_release, &b.dist_sha256))
            });
            for record in records {
                let dist = DistKey::of(&record.release);
                for requirement in record.deps.requirements {
                    if keep(&dist.project_name, requirement.name.as_deref()) {
                        out.push(RequirementRow { dist: dist.clone(), requirement });
                    }
                }
            }
            Ok(Some(out))
        }
    }
}

/// Hands `f` each requirement row of one shard, sealed (streamed from its table) or open;
/// false for a sealed shard without the table (nothing handed).
pub fn scan_shard_requirements(shard: &ShardInfo, f: &mut dyn FnMut(RequirementRow) -> bool) -> Result<bool, CoreError> {
    let path = shard.dir.join(REQUIREMENTS_FILE);
    match shard.kind {
        ShardKind::Sealed if !path.exists() => Ok(false),
        ShardKind::Sealed => {
            pycorpus_catalog::scan_requirements(&path, &|_, _| true, f)?;
            Ok(true)
        }
        ShardKind::Open => {
            for r in shard_requirements(shard, &|_, _| true)?.unwrap_or_default() {
                if !f(r) {
                    break;
                }
            }
            Ok(true)
        }
    }
}

impl Corpus {
    /// Hands `f` the requirement rows of each shard that `keep` keeps, a shard at a time in
    /// shard order (memory: one shard's kept rows).
    pub fn requirements(&self, keep: &dyn Fn(&str, Option<&str>) -> bool, f: &mut dyn FnMut(Vec<RequirementRow>) -> Result<(), CoreError>) -> Result<DepsCoverage, CoreError> {
        let mut cov = DepsCoverage::default();
        for shard in self.shards()? {
            cov.shards += 1;
            match shard_requirements(&shard, keep)? {
                Some(rows) => f(rows)?,
                None => cov.shards_without_tables.push(shard.number),
            }
        }
        Ok(cov)
    }
}

/// What [`Corpus::reindex_metadata`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReindexSummary {
    /// Shards whose packaging columns and dependency tables were made from their stored files.
    pub shards_reindexed: Vec<u32>,
    /// Later shards whose manifests only took the new info-hashes of the shards they depend on.
    pub manifests_updated: Vec<u32>,
    /// Distributions read.
    pub distributions: u64,
    /// Metadata files read from the store.
    pub files_read: u64,
    /// Rows written to requirements.parquet.
    pub requirements: u64,
}

impl Corpus {
    /// Adds the packaging columns of releases.parquet and the dependency tables to every sealed
    /// shard that lacks them (`force`: to every sealed shard), from the metadata files each
    /// stores (a file that was not stored, as over a size limit, is said in
    /// `metadata_problems`). Shards depending on a rewritten one take its new info-hash. All
    /// shards are replaced in one atomic step (as `upgrade` does); a crash leaves the corpus as
    /// it was.
    pub fn reindex_metadata(&mut self, force: bool, reporter: &dyn crate::Reporter) -> Result<ReindexSummary, CoreError> {
        self.state_mut()?;
        let mut summary = ReindexSummary::default();
        let sealed: Vec<ShardInfo> = self.shards()?.into_iter().filter(|s| s.kind == ShardKind::Sealed).collect();
        let mut reindex = std::collections::BTreeSet::new();
        let mut numbers = Vec::new();
        for s in &sealed {
            let lacks = !pycorpus_catalog::DEPS_FILES.iter().all(|f| s.dir.join(f).exists());
            let depends = crate::corpus::read_manifest(&s.dir)?.depends_on.unwrap_or_default();
            if force || lacks {
                reindex.insert(s.number);
                numbers.push(s.number);
            } else if depends.iter().any(|d| reindex.contains(d) || summary.manifests_updated.contains(d)) {
                summary.manifests_updated.push(s.number);
                numbers.push(s.number);
            }
        }
        if numbers.is_empty() {
            return Ok(summary);
        }
        let reader = crate::SealedReader::new(self)?;
        reporter.start("reindex-metadata", reindex.len() as u64, 0);
        let shards_dir = self.root.join(crate::upgrade::STAGING);
        self.replace_shards(&numbers, false, &mut |n, src, dst| {
            std::fs::create_dir_all(dst).map_err(|e| CoreError::io(dst, e))?;
            let mut m = crate::corpus::read_manifest(src)?;
            let mut new_files: Vec<&str> = Vec::new();
            if reindex.contains(&n) {
                reindex_shard(src, dst, &reader, &mut summary)?;
                new_files.push("releases.parquet");
                new_files.extend(pycorpus_catalog::DEPS_FILES);
                summary.shards_reindexed.push(n);
                reporter.advance(1, 0);
            }
            for entry in std::fs::read_dir(src).map_err(|e| CoreError::io(src, e))? {
                let name = entry.map_err(|e| CoreError::io(src, e))?.file_name().to_string_lossy().into_owned();
                if name != "manifest.json" && !new_files.contains(&name.as_str()) {
                    std::fs::hard_link(src.join(&name), dst.join(&name)).map_err(|e| CoreError::io(&dst.join(&name), e))?;
                }
            }
            for name in new_files {
                m.files_sha256.insert(name.to_string(), crate::seal::digest_file(&dst.join(name))?);
            }
            if let Some(deps) = &m.depends_on {
                let hashes = deps.iter().map(|&d| Ok((crate::corpus::shard_name(d), crate::infohash::shard_info_hash(&shards_dir, d)?))).collect::<Result<_, CoreError>>()?;
                m.depends_on_info_hash = Some(hashes);
            }
            let json = serde_json::to_vec_pretty(&m).map_err(|e| CoreError::Invalid(e.to_string()))?;
            crate::write_atomic(&dst.join("manifest.json"), &json)?;
            crate::sync_dir(dst)
        })?;
        reporter.finish();
        Ok(summary)
    }
}

/// Writes shard `src`'s releases.parquet (with packaging fields) and dependency tables at
/// `dst`, from the metadata files its rows name, a distribution at a time in the shard's order.
fn reindex_shard(src: &Path, dst: &Path, reader: &crate::SealedReader, summary: &mut ReindexSummary) -> Result<(), CoreError> {
    let mut releases = pycorpus_catalog::read_releases(&src.join("releases.parquet"))?;
    let mut index: std::collections::HashMap<(String, String), usize> = std::collections::HashMap::new();
    for (i, r) in releases.iter().enumerate() {
        index.insert((r.project_release.clone(), r.dist_sha256.clone()), i);
    }
    let mut out = DepsWriter::create(dst)?;
    let mut current: Option<(usize, DistMetadata)> = None;
    let mut failure: Option<CoreError> = None;
    let mut finish = |cur: Option<(usize, DistMetadata)>, releases: &mut Vec<Release>, out: &mut DepsWriter| -> Result<(), CoreError> {
        if let Some((i, meta)) = cur {
            let parsed = meta.finish();
            releases[i].packaging = parsed.fields;
            out.push(&releases[i], parsed.rows)?;
            summary.distributions += 1;
        }
        Ok(())
    };
    let mut stats = pycorpus_catalog::ScanStats::default();
    pycorpus_catalog::scan_files(&src.join("files.parquet"), &pycorpus_catalog::Filter::default(), &mut stats, &mut |row| {
        let mut step = || -> Result<(), CoreError> {
            let Some(&i) = index.get(&(row.project_release.clone(), row.dist_sha256.clone())) else { return Ok(()) };
            if releases[i].status != pycorpus_catalog::DistStatus::Ok {
                return Ok(());
            }
            if current.as_ref().is_none_or(|(c, _)| *c != i) {
                finish(current.take(), &mut releases, &mut out)?;
                current = Some((i, DistMetadata::default()));
            }
            let (_, meta) = current.as_mut().expect("set above");
            let path = row.inner_path();
            if let Some(kind) = wanted(row.dist_type, path).or_else(|| wanted(DistType::Conda, path)) {
                match row.is_stored().then(|| reader.read(&row.hash)).transpose()?.flatten() {
                    Some(data) => {
                        meta.add(kind, path, &data);
                        summary.files_read += 1;
                    }
                    None => meta.problem(path, &format!("not stored ({}), not parsed", row.skip_reason.map_or("missing", |s| s.as_str()))),
                }
            }
            if row.dist_type == DistType::Wheel {
                meta.wheel_path(path);
            }
            Ok(())
        };
        match step() {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    finish(current.take(), &mut releases, &mut out)?;
    summary.requirements += out.requirements_written();
    out.finish()?;
    pycorpus_catalog::write_releases(&dst.join("releases.parquet"), &releases)?;
    Ok(())
}
