//! A sealed shard's info-hash, as `pycorpus torrent create` makes it (the default piece rule,
//! no trackers, no date: a function of the shard's files alone). A format-2 shard's manifest
//! records it for each shard it depends on, so that whoever fetched the shard can fetch those
//! by hash (`get --with-deps`).
//!
//! Hashing reads the whole shard, so its metainfo is kept beside it as `shards/NNNNNN.torrent`
//! (made when the shard is sealed, while it is in the page cache). The file is derived: it is
//! used only when it names the shard and lists exactly the shard's files with their sizes, and
//! made again otherwise.

use crate::corpus::{read_manifest, shard_name};
use crate::{CoreError, ShardInfo, ShardKind, write_atomic};
use pycorpus_metainfo::{CreateOptions, Metainfo};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the metainfo of the shard at `dir` is kept: beside it, `NNNNNN.torrent`.
fn cache_path(dir: &Path) -> PathBuf {
    dir.with_extension("torrent")
}

/// The metainfo of the sealed shard at `dir` (`shards/NNNNNN`), from its cache when that
/// still describes the shard's files, else made (and cached).
pub(crate) fn shard_metainfo(dir: &Path) -> Result<Metainfo, CoreError> {
    metainfo(dir, true)
}

/// [`shard_metainfo`]; `keep` false leaves the folder untouched (a read-only command).
fn metainfo(dir: &Path, keep: bool) -> Result<Metainfo, CoreError> {
    let cache = cache_path(dir);
    if let Ok(bytes) = std::fs::read(&cache)
        && let Ok(meta) = Metainfo::parse(bytes)
        && describes(&meta, dir)
    {
        return Ok(meta);
    }
    let meta = pycorpus_metainfo::create(dir, &CreateOptions::default(), crate::Ctx::quiet()).map_err(|e| CoreError::Invalid(format!("hashing {} for its info-hash: {e}", dir.display())))?;
    if keep {
        write_atomic(&cache, &meta.bytes)?;
    }
    Ok(meta)
}

/// The info-hash (hex) of sealed shard `n` of the shards folder `shards`.
pub(crate) fn shard_info_hash(shards: &Path, n: u32) -> Result<String, CoreError> {
    Ok(shard_metainfo(&shards.join(shard_name(n)))?.hex())
}

/// For `verify`: problems with the info-hashes that sealed shards' manifests record for the
/// shards they depend on, against the shards present (a shard of another corpus with the same
/// number shows here); each present shard is hashed at most once. Absent shards are reported
/// by the shard check.
pub(crate) fn check_dependencies(shards: &[ShardInfo]) -> Vec<String> {
    let mut wanted: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for s in shards.iter().filter(|s| s.kind == ShardKind::Sealed) {
        if let Ok(m) = read_manifest(&s.dir) {
            for (dep, hash) in m.depends_on_info_hash.unwrap_or_default() {
                wanted.entry(dep).or_default().push((s.number, hash));
            }
        }
    }
    let mut problems = Vec::new();
    for (dep, users) in wanted {
        let Some(s) = shards.iter().find(|s| s.kind == ShardKind::Sealed && shard_name(s.number) == dep) else { continue };
        match metainfo(&s.dir, false) {
            Ok(m) => problems.extend(
                users
                    .into_iter()
                    .filter(|(_, want)| *want != m.hex())
                    .map(|(user, want)| format!("shard {}: was sealed with shard {dep} of info-hash {want}, but the shard {dep} here is {} (another corpus's?)", shard_name(user), m.hex())),
            ),
            Err(e) => problems.push(format!("shard {dep}: {e}")),
        }
    }
    problems
}

/// Whether `meta` is the metainfo of the folder `dir` as it is: same name, same files, same
/// sizes (sealed shards never change in place, so the sizes tell a stale file).
fn describes(meta: &Metainfo, dir: &Path) -> bool {
    let name_ok = dir.file_name().is_some_and(|n| n.to_str() == Some(meta.name.as_str()));
    if !name_ok || meta.layout.single_file {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    let on_disk = entries.filter_map(Result::ok).filter(|e| e.file_type().is_ok_and(|t| t.is_file())).count();
    on_disk == meta.layout.files.len() && meta.layout.files.iter().all(|f| std::fs::metadata(dir.join(&f.path)).is_ok_and(|m| m.is_file() && m.len() == f.length))
}
