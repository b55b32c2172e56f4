//! Sealing: turning the open shard's journal into an immutable, compact shard.
//!
//! The sealed folder is built as `<NNNNNN>.sealing/`, synced, then renamed to `<NNNNNN>/`; only
//! then is `<NNNNNN>.open/` removed. A crash at any step leaves either the journal (the seal
//! runs again) or the finished shard (the journal is removed on the next open).

use crate::corpus::{journal_records, shard_name};
use crate::infohash;
use crate::manifest::{FileDigest, Manifest, MANIFEST_FORMAT, MANIFEST_VERSION, OPTIONAL_SHARD_FILES, SHARD_FILES};
use crate::{sync_dir, write_atomic, Corpus, CoreError, Reporter, ShardInfo};
use pycorpus_catalog::{format_time, write_files, write_releases, DistRecord, DistStatus, FileRow, Release};
use pycorpus_store::{Journal, Oid, PackOptions, PackWriter};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// What [`Corpus::seal`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SealSummary {
    /// Shard number.
    pub shard: u32,
    /// The manifest written.
    pub manifest: Manifest,
}

/// The latest record of each distribution: a later successful read replaces an earlier failure.
pub(crate) fn latest_records(records: Vec<DistRecord>) -> Vec<DistRecord> {
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<DistRecord> = Vec::with_capacity(records.len());
    for r in records {
        match at.get(&r.release.dist_sha256) {
            Some(&i) if out[i].release.status == DistStatus::Failed => out[i] = r,
            Some(_) => {}
            None => {
                at.insert(r.release.dist_sha256.clone(), out.len());
                out.push(r);
            }
        }
    }
    out
}

/// Key that puts similar blobs next to each other: extension, file name, project, path.
fn similarity_key(row: &FileRow) -> (String, String, String, String) {
    let inner = row.inner_path();
    let name = inner.rsplit('/').next().unwrap_or(inner);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    (ext, name.to_string(), row.project_name.clone(), inner.to_string())
}

impl Corpus {
    /// Seals the open shard, if it holds anything. Returns what was written.
    pub fn seal(&mut self, reporter: &dyn Reporter) -> Result<Option<SealSummary>, CoreError> {
        self.state_mut()?;
        let Some(shard) = self.open_shard()? else { return Ok(None) };
        self.seal_shard(&shard, reporter)
    }

    pub(crate) fn seal_shard(&mut self, shard: &ShardInfo, reporter: &dyn Reporter) -> Result<Option<SealSummary>, CoreError> {
        let journal_path = shard.dir.join("journal.log");
        let (journal, rec) = Journal::open(&journal_path, self.config.durable)?;
        let records = latest_records(journal_records(shard.number, &journal, &rec.commits).collect::<Result<_, _>>()?);
        drop(rec);
        if records.is_empty() {
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

        let mut releases: Vec<Release> = Vec::with_capacity(records.len());
        let mut rows: Vec<FileRow> = Vec::new();
        for r in records {
            for f in &r.files {
                rows.push(FileRow::new(&r.release, f));
            }
            releases.push(r.release);
        }
        rows.sort_unstable_by(|a, b| {
            (&a.project_name, &a.project_version, &a.project_release, &a.path, &a.archive_path)
                .cmp(&(&b.project_name, &b.project_version, &b.project_release, &b.path, &b.archive_path))
        });
        releases.sort_by(|a, b| (&a.project_name, &a.project_version, &a.project_release).cmp(&(&b.project_name, &b.project_version, &b.project_release)));

        // Blob order: the smallest similarity key of any row that refers to the blob, so the
        // order (and the pack) does not depend on the order distributions were added in.
        let mut keys: HashMap<Oid, (String, String, String, String)> = HashMap::new();
        for row in rows.iter().filter(|r| r.is_stored()) {
            let k = similarity_key(row);
            match keys.get_mut(&row.hash) {
                Some(old) if *old <= k => {}
                Some(old) => *old = k,
                None => {
                    keys.insert(row.hash, k);
                }
            }
        }
        let mut order: Vec<(Oid, (String, String, String, String))> = keys.into_iter().collect();
        order.sort_unstable_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
        tracing::info!("seal: rows sorted and blobs ordered at {:?}", t0.elapsed());
        // Format 2: blobs an earlier sealed shard stores are not packed again; the rows refer
        // to them there. Format 1 packs them all (reading from those shards what ingest, under
        // format 2, did not journal).
        let stored = self.blob_locator()?;
        let v2 = self.config.shard_format >= 2;
        let mut depends_on = BTreeSet::new();
        let mut foreign = 0u64;
        if v2 {
            order.retain(|(oid, _)| match stored.locate(oid) {
                Some(n) => {
                    depends_on.insert(n);
                    foreign += 1;
                    false
                }
                None => true,
            });
        }
        let locs: HashMap<Oid, _> = journal.blobs().map(|(o, l)| (*o, *l)).collect();
        reporter.start("seal", order.len() as u64, order.iter().filter_map(|(o, _)| locs.get(o)).map(|l| u64::from(l.len)).sum());
        let opts = PackOptions { level: self.config.pack_level, frame_size: self.config.pack_frame_bytes as usize };
        let mut pack = PackWriter::create(&tmp_dir, opts)?;
        for (oid, _) in &order {
            let data = match locs.get(oid) {
                Some(loc) => journal.read_at(loc)?,
                None => match stored.locate(oid) {
                    Some(n) => self.read_sealed_blob(n, oid)?,
                    None => None,
                }
                .ok_or_else(|| CoreError::Corrupt { shard: shard.number, message: format!("blob {oid} is indexed but missing from the journal") })?,
            };
            pack.add(*oid, &data)?;
            reporter.advance(1, data.len() as u64);
        }
        let stats = pack.finish()?;
        drop(order);
        tracing::info!("seal: pack written in {:?}", t0.elapsed());
        write_files(&tmp_dir.join("files.parquet"), &rows)?;
        write_releases(&tmp_dir.join("releases.parquet"), &releases)?;
        tracing::info!("seal: parquet written at {:?}", t0.elapsed());

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
            format_version: if v2 { MANIFEST_VERSION } else { 1 },
            shard: shard.number,
            distributions: releases.len() as u64,
            failed_distributions: releases.iter().filter(|r| r.status == DistStatus::Failed).count() as u64,
            files: rows.len() as u64,
            stored_files: rows.iter().filter(|r| r.is_stored()).count() as u64,
            unique_blobs: stats.blobs,
            foreign_blobs: v2.then_some(foreign),
            depends_on: v2.then(|| depends_on.into_iter().collect()),
            depends_on_info_hash,
            blob_bytes: stats.raw_bytes,
            original_bytes: rows.iter().map(|r| r.size).sum(),
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
        std::fs::rename(&tmp_dir, &final_dir).map_err(|e| CoreError::io(&final_dir, e))?;
        sync_dir(&self.shards_dir())?;
        std::fs::remove_dir_all(&shard.dir).map_err(|e| CoreError::io(&shard.dir, e))?;
        sync_dir(&self.shards_dir())?;
        self.state_mut()?.replace_shard(shard.number, releases.iter().map(Ok))?;
        drop(stored);
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

/// Size and sha256 of a file.
pub(crate) fn digest_file(path: &Path) -> Result<FileDigest, CoreError> {
    let (sha, size) = crate::sha256_file(path).map_err(|e| CoreError::io(path, e))?;
    Ok(FileDigest { size, sha256: hex::encode(sha) })
}
