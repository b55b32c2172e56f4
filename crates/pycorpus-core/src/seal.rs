//! Sealing: turning the open shard's journal into an immutable, compact shard.
//!
//! The sealed folder is built as `<NNNNNN>.sealing/`, synced, then renamed to `<NNNNNN>/`; only
//! then is `<NNNNNN>.open/` removed. A crash at any step leaves either the journal (the seal
//! runs again) or the finished shard (the journal is removed on the next open). A seal that
//! fails or is cancelled before the rename removes its `.sealing/` folder: the journal stays,
//! and nothing half-written is left beside it.

use crate::corpus::{journal_record, journal_release, shard_name};
use crate::infohash;
use crate::manifest::{FileDigest, MANIFEST_FORMAT, Manifest, OPTIONAL_SHARD_FILES, SHARD_FILES};
use crate::{CoreError, Corpus, Ctx, ShardInfo, sync_dir, write_atomic};
use pycorpus_catalog::{DepsWriter, DistStatus, FileRow, FilesWriter, Release, RowsIndexWriter, format_time, write_releases};
use pycorpus_spill::{Key, Sorter};
use pycorpus_store::{DeltaBase, Journal, JournalCommit, Oid, OidMap, PackOptions, PackWriter};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

/// What [`Corpus::seal`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SealSummary {
    /// Shard number.
    pub shard: u32,
    /// The manifest written.
    pub manifest: Manifest,
}

/// The latest record of each distribution, in the order first seen: a later successful read
/// replaces an earlier failure. `release` finds an item's distribution.
pub(crate) fn latest<T>(items: impl IntoIterator<Item = Result<T, CoreError>>, release: impl Fn(&T) -> &Release) -> Result<Vec<T>, CoreError> {
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<T> = Vec::new();
    for item in items {
        let item = item?;
        match at.get(&release(&item).dist_sha256) {
            Some(&i) if release(&out[i]).status == DistStatus::Failed => out[i] = item,
            Some(_) => {}
            None => {
                at.insert(release(&item).dist_sha256.clone(), out.len());
                out.push(item);
            }
        }
    }
    Ok(out)
}

/// Sets `key` to the key that puts similar blobs next to each other, then the blob's id:
/// extension (any case), file name, project, path.
fn similarity_key(key: &mut Key, row: &FileRow) {
    let inner = row.inner_path();
    let name = inner.rsplit('/').next().unwrap_or(inner);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    key.0.clear();
    key.str(&ext).str(name).str(&row.project_name).str(inner).bytes(&row.hash.0);
}

impl Corpus {
    /// Seals the open shard, if it holds anything. Returns what was written. Cancelled through
    /// `ctx` before its shard is in place, it stops with [`CoreError::Cancelled`], the shard
    /// still open and nothing else written.
    pub fn seal(&mut self, ctx: Ctx<'_>) -> Result<Option<SealSummary>, CoreError> {
        self.state_mut()?;
        let Some(shard) = self.open_shard()? else { return Ok(None) };
        self.seal_shard(&shard, ctx)
    }

    pub(crate) fn seal_shard(&mut self, shard: &ShardInfo, ctx: Ctx<'_>) -> Result<Option<SealSummary>, CoreError> {
        let reporter = ctx.reporter;
        let journal_path = shard.dir.join("journal.log");
        let (journal, rec) = Journal::open(&journal_path, self.config.durable)?;
        // The latest record of each distribution (see `latest_records`): its release is kept,
        // its rows stay in the journal until they are written.
        let mut dists: Vec<(Release, &JournalCommit)> = latest(rec.commits.iter().map(|c| journal_release(shard.number, &journal, c).map(|r| (r, c))), |(r, _)| r)?;
        if dists.is_empty() {
            drop(journal);
            std::fs::remove_dir_all(&shard.dir).map_err(|e| CoreError::io(&shard.dir, e))?;
            return Ok(None);
        }
        let t0 = std::time::Instant::now();
        let final_dir = self.shards_dir().join(shard_name(shard.number));
        let tmp_dir = self.shards_dir().join(format!("{}.sealing", shard_name(shard.number)));
        if tmp_dir.exists() {
            std::fs::remove_dir_all(&tmp_dir).map_err(|e| CoreError::io(&tmp_dir, e))?;
        }
        std::fs::create_dir_all(&tmp_dir).map_err(|e| CoreError::io(&tmp_dir, e))?;
        let sealing = RemoveUnlessKept(Some(tmp_dir.clone()));

        // files.parquet in (project, version, release, path) order, a distribution at a time
        // (those sharing a release name together), each row's similarity key to a sorter that
        // spills past its budget: a shard's rows are never all in memory.
        let same = |a: &Release, b: &Release| (&a.project_name, &a.project_version, &a.project_release) == (&b.project_name, &b.project_version, &b.project_release);
        dists.sort_by(|(a, _), (b, _)| (&a.project_name, &a.project_version, &a.project_release, &a.dist_sha256).cmp(&(&b.project_name, &b.project_version, &b.project_release, &b.dist_sha256)));
        let tmp = self.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
        // the spilled runs of a seal (or any sort) killed before it could remove them
        pycorpus_spill::remove_stale(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
        let mut similar = Sorter::new(&tmp, usize::try_from(self.config.memory_budget_bytes / 4).unwrap_or(usize::MAX));
        let mut files_out = FilesWriter::create(&tmp_dir.join("files.parquet"))?;
        let mut deps_out = DepsWriter::create(&tmp_dir)?;
        // which rows hold each blob (rows.idx), for searches that know their candidate blobs
        let mut rows_of_blobs = RowsIndexWriter::new(&tmp, usize::try_from(self.config.memory_budget_bytes / 4).unwrap_or(usize::MAX));
        let (mut files, mut stored_files, mut original_bytes) = (0u64, 0u64, 0u64);
        let mut key = Key::new();
        // Format 3: each stored blob's history key (see `find_bases`), from its first row.
        let deltas_on = self.config.shard_format >= 3;
        let mut history: OidMap<u64> = OidMap::default();
        for group in dists.chunk_by(|(a, _), (b, _)| same(a, b)) {
            ctx.check()?;
            let mut rows = Vec::new();
            for (release, commit) in group {
                let record = journal_record(shard.number, &journal, commit)?;
                rows.extend(record.files.iter().map(|f| FileRow::new(release, f)));
                deps_out.push(release, record.deps)?;
            }
            rows.sort_by(|a, b| (&a.path, &a.archive_path).cmp(&(&b.path, &b.archive_path)));
            for row in rows {
                let row_no = u32::try_from(files).map_err(|_| CoreError::Invalid(format!("shard {}: over 2^32 files", shard.number)))?;
                files += 1;
                original_bytes += row.size;
                if row.is_stored() {
                    stored_files += 1;
                    rows_of_blobs.push(&row.hash, row_no)?;
                    similarity_key(&mut key, &row);
                    similar.push(&key.0, &[]).map_err(|e| CoreError::io(&tmp, e))?;
                    if deltas_on {
                        history.entry(row.hash).or_insert_with(|| row.history_key());
                    }
                }
                files_out.push(row)?;
            }
        }
        files_out.finish()?;
        deps_out.finish()?;
        rows_of_blobs.finish(&tmp_dir.join("rows.idx"))?;
        let releases: Vec<Release> = dists.into_iter().map(|(r, _)| r).collect();
        write_releases(&tmp_dir.join("releases.parquet"), &releases)?;
        tracing::info!("seal: parquet written at {:?}", t0.elapsed());
        // Blob order: the smallest similarity key of any row that refers to the blob (the
        // first time a blob comes out of the sorted keys), so the order (and the pack) does
        // not depend on the order distributions were added in.
        let mut order: Vec<Oid> = Vec::new();
        let mut seen: HashSet<Oid> = HashSet::new();
        let mut sorted = similar.finish().map_err(|e| CoreError::io(&tmp, e))?;
        while let Some((k, _)) = sorted.next().map_err(|e| CoreError::io(&tmp, e))? {
            let oid = k.get(k.len().saturating_sub(20)..).and_then(Oid::from_slice).ok_or_else(|| CoreError::Invalid(format!("a spilled file under {} is damaged", tmp.display())))?;
            if seen.insert(oid) {
                order.push(oid);
            }
        }
        drop((sorted, seen));
        tracing::info!("seal: blobs ordered at {:?}", t0.elapsed());
        // Format 2: blobs an earlier sealed shard stores are not packed again; the rows refer
        // to them there. Format 1 packs them all (reading from those shards what ingest, under
        // format 2, did not journal).
        let reader = crate::SealedReader::new(self)?;
        let stored = reader.locator();
        let v2 = self.config.shard_format >= 2;
        let mut depends_on = BTreeSet::new();
        let mut foreign = 0u64;
        if v2 {
            order.retain(|oid| match stored.locate(oid) {
                Some(n) => {
                    depends_on.insert(n);
                    foreign += 1;
                    false
                }
                None => true,
            });
        }
        // Format 3: blobs with an earlier version in a sealed shard become deltas of it, packed
        // after the blobs stored whole (in the same order among themselves).
        let bases = match deltas_on && !order.is_empty() {
            true => self.find_bases(&order, &history, &journal, &reader, ctx)?,
            false => OidMap::default(),
        };
        drop(history);
        for (base, n, _) in bases.values() {
            depends_on.insert(*n);
            depends_on.insert(base.root.shard);
        }
        reporter.start("seal", order.len() as u64, order.iter().filter_map(|o| journal.locate(o)).map(|l| u64::from(l.len)).sum());
        let opts = PackOptions {
            level: self.config.pack_level,
            frame_size: self.config.pack_frame_bytes as usize,
            index_memory: usize::try_from(self.config.memory_budget_bytes / 4).unwrap_or(usize::MAX),
            index_tmp: Some(self.tmp_dir()),
        };
        let mut pack = PackWriter::create(&tmp_dir, opts.clone())?;
        let read = |oid: &Oid| -> Result<Vec<u8>, CoreError> {
            match journal.locate(oid) {
                Some(loc) => Ok(journal.read_at(&loc)?),
                None => match stored.locate(oid) {
                    Some(n) => reader.read_in(n, oid)?,
                    None => None,
                }
                .ok_or_else(|| CoreError::Corrupt { shard: shard.number, message: format!("blob {oid} is indexed but missing from the journal") }),
            }
        };
        for oid in order.iter().filter(|o| !bases.contains_key(o)) {
            ctx.check()?;
            let data = read(oid)?;
            pack.add(*oid, &data)?;
            reporter.advance(1, data.len() as u64);
        }
        // Deltas in the order of their chains' roots, so that the reader's cache of decoded
        // frames holds each root frame while the bases that start there are read.
        let mut deltas: Vec<(&Oid, DeltaBase)> = order.iter().filter_map(|o| bases.get(o).map(|b| (o, b.0))).collect();
        deltas.sort_by_key(|(_, b)| (b.root, b.depth));
        for (oid, base) in deltas {
            ctx.check()?;
            let data = read(oid)?;
            let base_data = reader.read(&base.oid)?.ok_or_else(|| CoreError::Corrupt { shard: shard.number, message: format!("base {} of blob {oid} is indexed but not stored", base.oid) })?;
            let len = data.len() as u64;
            pack.add_delta(*oid, data, base, base_data)?;
            reporter.advance(1, len);
        }
        let stats = pack.finish()?;
        drop(order);
        tracing::info!("seal: pack written in {:?}", t0.elapsed());

        let mut files_sha256 = BTreeMap::new();
        for name in SHARD_FILES {
            files_sha256.insert(name.to_string(), digest_file(&tmp_dir.join(name))?);
        }
        for name in OPTIONAL_SHARD_FILES.into_iter().filter(|n| tmp_dir.join(n).exists()) {
            files_sha256.insert(name.to_string(), digest_file(&tmp_dir.join(name))?);
        }
        let times = releases.iter().map(|r| r.uploaded_on);
        let depends_on_info_hash = match v2 {
            true => Some(depends_on.iter().map(|&n| Ok((shard_name(n), infohash::shard_info_hash(&self.shards_dir(), n)?))).collect::<Result<_, CoreError>>()?),
            false => None,
        };
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            format_version: if deltas_on {
                3
            } else if v2 {
                2
            } else {
                1
            },
            shard: shard.number,
            distributions: releases.len() as u64,
            failed_distributions: releases.iter().filter(|r| r.status == DistStatus::Failed).count() as u64,
            files,
            stored_files,
            unique_blobs: stats.blobs,
            foreign_blobs: v2.then_some(foreign),
            depends_on: v2.then(|| depends_on.into_iter().collect()),
            depends_on_info_hash,
            blob_bytes: stats.raw_bytes,
            original_bytes,
            pack_bytes: stats.pack_bytes,
            first_upload: times.clone().min().map(format_time),
            last_upload: times.max().map(format_time),
            pack_level: opts.level,
            pack_frame_bytes: opts.frame_size as u64,
            files_sha256,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| CoreError::Invalid(e.to_string()))?;
        write_atomic(&tmp_dir.join("manifest.json"), &json)?;
        sync_dir(&tmp_dir)?;
        drop(journal);
        // the last point to stop at: from the rename on, the shard is sealed
        ctx.check()?;
        std::fs::rename(&tmp_dir, &final_dir).map_err(|e| CoreError::io(&final_dir, e))?;
        sealing.keep();
        sync_dir(&self.shards_dir())?;
        std::fs::remove_dir_all(&shard.dir).map_err(|e| CoreError::io(&shard.dir, e))?;
        sync_dir(&self.shards_dir())?;
        self.state_mut()?.replace_shard(shard.number, releases.iter().map(Ok))?;
        drop(reader);
        self.update_blob_index()?;
        if v2 {
            // Hashed now, while in the page cache: later shards' manifests name it.
            if let Err(e) = infohash::shard_metainfo(&final_dir) {
                tracing::warn!("{e} (it is made again when a later shard needs it)");
            }
        }
        reporter.finish();
        Ok(Some(SealSummary { shard: shard.number, manifest }))
    }
}

impl Corpus {
    /// The base of each blob of `order` (shard format 3) that has an earlier version: the blob
    /// stored last under the same history key ([`pycorpus_catalog::history_key`]) in a sealed
    /// shard, from the history index (one lookup per blob and run), when the chain it would
    /// extend stays within [`crate::MAX_CHAIN`] and the two fit a delta's window. With each
    /// base: its shard and length.
    fn find_bases(&self, order: &[Oid], history: &OidMap<u64>, journal: &Journal, reader: &crate::SealedReader, ctx: Ctx<'_>) -> Result<OidMap<(DeltaBase, u32, u32)>, CoreError> {
        let runs = self.history_runs()?;
        let mut bases = OidMap::default();
        for oid in order {
            ctx.check()?;
            let Some((_, base)) = history.get(oid).and_then(|k| crate::history::latest(&runs, *k)) else { continue };
            let base = &base;
            let Some((d, n, base_len)) = reader.delta_on(base)? else { continue };
            let len = journal.locate(oid).map_or(0, |l| l.len as usize);
            if d.depth <= crate::MAX_CHAIN && len > 0 && len + base_len as usize <= pycorpus_store::MAX_DELTA_SPAN {
                bases.insert(*oid, (d, n, base_len));
            }
        }
        Ok(bases)
    }
}

/// Removes a folder when dropped (an error or a cancel on the way), unless kept.
struct RemoveUnlessKept(Option<std::path::PathBuf>);

impl RemoveUnlessKept {
    /// The folder is in place: leave it.
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveUnlessKept {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Size and sha256 of a file.
pub(crate) fn digest_file(path: &Path) -> Result<FileDigest, CoreError> {
    let (sha, size) = crate::sha256_file(path).map_err(|e| CoreError::io(path, e))?;
    Ok(FileDigest { size, sha256: hex::encode(sha) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pycorpus_catalog::{DistType, EntryType};

    fn row(project: &str, release: &str, inner: &str) -> FileRow {
        FileRow {
            project_name: project.into(),
            project_version: "1".into(),
            project_release: release.into(),
            uploaded_on: 0,
            path: format!("packages/{project}/{release}/{inner}"),
            archive_path: inner.into(),
            size: 0,
            hash: Oid::for_blob(inner.as_bytes()),
            skip_reason: None,
            lines: None,
            repository: 1,
            dist_sha256: String::new(),
            dist_type: DistType::Sdist,
            entry_type: EntryType::File,
            link_target: None,
        }
    }

    /// The keys' byte order is the order of the tuple (extension lowercased, name, project,
    /// path, id) that seal has always packed blobs in, so packs sealed before and after agree.
    #[test]
    fn similarity_keys_sort_by_extension_any_case_then_name_project_path() {
        let rows = [
            row("b", "b-1.tar.gz", "b-1/pkg/Setup.PY"),
            row("a", "a-1.tar.gz", "a-1/pkg/setup.py"),
            row("a", "a-1.tar.gz", "a-1/README"),
            row("b", "b-1.tar.gz", "b-1/x/__init__.py"),
            row("a", "a-1.tar.gz", "a-1/y/__init__.py"),
            row("c", "c-1.tar.gz", "c-1/data.Json"),
            row("a", "a-1.tar.gz", "a-1/z/__init__.py"),
            row("a", "a-1.tar.gz", "a-1/.py"),
            row("a", "a-1.tar.gz", "a-1/nul\0.py"),
        ];
        let owned = |r: &FileRow| {
            let inner = r.inner_path();
            let name = inner.rsplit('/').next().unwrap_or(inner);
            (name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default(), name.to_string(), r.project_name.clone(), inner.to_string(), r.hash)
        };
        let key = |r: &FileRow| {
            let mut k = Key::new();
            similarity_key(&mut k, r);
            k.0
        };
        for a in &rows {
            for b in &rows {
                assert_eq!(key(a).cmp(&key(b)), owned(a).cmp(&owned(b)), "{} vs {}", a.path, b.path);
            }
        }
        let mut sorted: Vec<&FileRow> = rows.iter().collect();
        sorted.sort_by_key(|r| key(r));
        let got: Vec<&str> = sorted.iter().map(|r| r.inner_path()).collect();
        assert_eq!(got, ["a-1/README", "c-1/data.Json", "a-1/.py", "b-1/pkg/Setup.PY", "a-1/y/__init__.py", "a-1/z/__init__.py", "b-1/x/__init__.py", "a-1/nul\0.py", "a-1/pkg/setup.py"]);
    }
}
