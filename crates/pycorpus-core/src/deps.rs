//! Reading the dependency tables over sealed and open shards alike, and `reindex-metadata`'s
//! shard rewrite.

use crate::query::open_records;
use crate::{CoreError, Corpus, ShardInfo, ShardKind};
use pycorpus_catalog::{DistKey, REQUIREMENTS_FILE, RequirementRow, read_requirements};

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
            for record in open_records(shard)?.map(|(_, records, _)| records).unwrap_or_default() {
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
