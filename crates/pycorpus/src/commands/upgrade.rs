//! `upgrade` (format-1 shards rewritten as format 2) and `reindex-metadata` (packaging
//! columns and dependency tables added to older shards): the shards replaced in one step.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::UpgradeArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::UpgradeArgs { json } = a;
    let (root, reporter) = (env.root, env.reporter);
    let mut corpus = Corpus::open(root, Access::Write)?;
    let s = corpus.upgrade(reporter)?;
    if json {
        serde_json::to_writer(&mut *out, &s)?;
        writeln!(out)?;
    } else if s.shards_rewritten == 0 {
        writeln!(out, "nothing to upgrade: every sealed shard is format 2 already")?;
    } else {
        writeln!(
            out,
            "upgraded {} shard(s) to format 2: {} blobs -> {} ({} -> {} of packs); {} shard(s) kept as they were",
            s.shards_rewritten,
            thousands(s.blobs_before),
            thousands(s.blobs_after),
            human_bytes(s.pack_bytes_before),
            human_bytes(s.pack_bytes_after),
            s.shards_kept
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `reindex-metadata`.
pub(crate) fn reindex_metadata(a: crate::cli::ReindexMetadataArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let mut corpus = Corpus::open(env.root, Access::Write)?;
    let s = corpus.reindex_metadata(a.force, env.reporter)?;
    if a.json {
        serde_json::to_writer(&mut *out, &s)?;
        writeln!(out)?;
    } else if s.shards_reindexed.is_empty() {
        writeln!(out, "nothing to do: every sealed shard has the dependency tables (--force rewrites them)")?;
    } else {
        writeln!(
            out,
            "reindexed {} shard(s): {} distributions, {} metadata files read, {} requirements; {} later manifest(s) updated",
            s.shards_reindexed.len(),
            thousands(s.distributions),
            thousands(s.files_read),
            thousands(s.requirements),
            s.manifests_updated.len()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
