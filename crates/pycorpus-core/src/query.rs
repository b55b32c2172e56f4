//! Reading a corpus: rows, blobs, status and verification, over sealed and open shards alike.

use crate::corpus::{journal_records, read_journal, read_manifest};
use crate::manifest::{MANIFEST_FORMAT, MANIFEST_VERSION};
use crate::seal::{digest_file, latest};
use crate::{BlobLocator, CoreError, Corpus, Ctx, FileLookupError, ShardInfo, ShardKind};
use pycorpus_catalog::{DistRecord, DistStatus, FileRow, Filter, Release, RowView, ScanStats, format_time, parse_date, read_releases, scan_file_views};
use pycorpus_store::{Journal, Oid, OidSet, PackEntry, PackReader};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// One shard's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShardStatus {
    /// Number.
    pub number: u32,
    /// `sealed` or `open`.
    pub state: String,
    /// Distribution files.
    pub distributions: u64,
    /// Of which failed.
    pub failed: u64,
    /// Files indexed.
    pub files: u64,
    /// Files whose contents are stored.
    pub stored_files: u64,
    /// Unique blobs.
    pub unique_blobs: u64,
    /// Their total size.
    pub blob_bytes: u64,
    /// Size of every indexed file before dedup.
    pub original_bytes: u64,
    /// Bytes on disk.
    pub disk_bytes: u64,
    /// Bytes of the search index (`postings.idx`, and `rows.idx` for the rows of its
    /// candidates) among them: 0 for a shard without one (open, or sealed before it existed:
    /// searched through `grams.idx`).
    pub search_index_bytes: u64,
    /// Earliest upload.
    pub first_upload: Option<String>,
    /// Latest upload.
    pub last_upload: Option<String>,
}

/// The whole corpus's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The corpus folder.
    pub corpus: PathBuf,
    /// Totals over all shards.
    pub total: ShardStatus,
    /// original_bytes / blob_bytes.
    pub dedup_ratio: f64,
    /// original_bytes / disk_bytes.
    pub overall_ratio: f64,
    /// Each shard.
    pub shards: Vec<ShardStatus>,
    /// What `sync` has recorded (absent before the first sync).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::SyncState>,
}

/// What [`Corpus::verify`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Shards looked at.
    pub shards_checked: u64,
    /// Blobs re-hashed.
    pub blobs_checked: u64,
    /// Files whose sha256 was checked against a manifest.
    pub files_checked: u64,
    /// Everything wrong, one line each (empty when sound).
    pub problems: Vec<String>,
    /// Remarks that are not problems (a torn journal tail that the next write cuts).
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The distributions of one shard, sealed or open.
pub fn shard_releases(shard: &ShardInfo) -> Result<Vec<Release>, CoreError> {
    Ok(match shard.kind {
        ShardKind::Sealed => read_releases(&shard.dir.join("releases.parquet"))?,
        ShardKind::Open => open_records(shard)?.into_iter().flat_map(|(_, r, _)| r).map(|r| r.release).collect(),
    })
}

/// The records of an open shard, read without changing anything; `None` while it is empty.
pub(crate) fn open_records(shard: &ShardInfo) -> Result<Option<(Journal, Vec<DistRecord>, u64)>, CoreError> {
    let Some((journal, rec)) = read_journal(&shard.dir)? else { return Ok(None) };
    let records = latest(journal_records(shard.number, &journal, &rec.commits), |r| &r.release)?;
    Ok(Some((journal, records, rec.truncated_bytes)))
}

fn records_to_rows(records: &[DistRecord]) -> Vec<FileRow> {
    let mut rows: Vec<FileRow> = records.iter().flat_map(|r| r.files.iter().map(|f| FileRow::new(&r.release, f))).collect();
    rows.sort_unstable_by(|a, b| (&a.project_name, &a.project_version, &a.project_release, &a.path).cmp(&(&b.project_name, &b.project_version, &b.project_release, &b.path)));
    rows
}

/// A matching row: read in place from a sealed shard's index, or built from an open shard's
/// journal.
pub enum RowRef<'a> {
    /// In place.
    View(&'a RowView<'a>),
    /// Built.
    Row(&'a FileRow),
}

impl RowRef<'_> {
    /// The blob id.
    pub fn hash(&self) -> Result<Oid, CoreError> {
        match self {
            RowRef::View(v) => Ok(v.hash()?),
            RowRef::Row(r) => Ok(r.hash),
        }
    }

    /// True when the contents are stored.
    pub fn is_stored(&self) -> bool {
        match self {
            RowRef::View(v) => v.is_stored(),
            RowRef::Row(r) => r.is_stored(),
        }
    }

    /// The whole row.
    pub fn to_row(&self) -> Result<FileRow, CoreError> {
        match self {
            RowRef::View(v) => Ok(v.to_row()?),
            RowRef::Row(r) => Ok((*r).clone()),
        }
    }
}

/// [`Corpus::scan_shard_row_refs`] of a sealed shard, which needs nothing of the corpus but
/// the shard's folder (so a thread without the corpus can scan it).
pub fn scan_sealed_row_refs(shard: &ShardInfo, filter: &Filter, stats: &mut ScanStats, f: &mut dyn FnMut(RowRef<'_>) -> Result<bool, CoreError>) -> Result<bool, CoreError> {
    if !filter.shards.is_empty() && !filter.shards.contains(&shard.number) {
        return Ok(true);
    }
    stats.shards += 1;
    if !shard_may_match(shard, filter)? {
        stats.shards_skipped += 1;
        return Ok(true);
    }
    let mut failed = None;
    let go_on = scan_file_views(&shard.dir.join("files.parquet"), filter, stats, &mut |v| match f(RowRef::View(v)) {
        Ok(more) => Ok(more),
        Err(e) => {
            failed = Some(e);
            Ok(false)
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(go_on),
    }
}

/// False when the shard's manifest shows no upload in the filter's time range.
fn shard_may_match(shard: &ShardInfo, filter: &Filter) -> Result<bool, CoreError> {
    if filter.since.is_none() && filter.until.is_none() {
        return Ok(true);
    }
    let m = read_manifest(&shard.dir)?;
    let t = |s: &Option<String>| s.as_deref().and_then(|s| parse_date(s).ok());
    let (Some(first), Some(last)) = (t(&m.first_upload), t(&m.last_upload)) else { return Ok(true) };
    Ok(!(filter.since.is_some_and(|s| last < s) || filter.until.is_some_and(|u| first >= u)))
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map(|it| it.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()).unwrap_or(0)
}

impl Corpus {
    /// Calls `f` with every row that matches `filter`, sealed shards first, in index order;
    /// stops early when `f` returns false. A distribution found in two shards (a retried
    /// failure) is listed once.
    pub fn for_each_row(&self, filter: &Filter, f: &mut dyn FnMut(FileRow) -> bool) -> Result<(), CoreError> {
        self.scan_rows(filter, &mut ScanStats::default(), f)
    }

    /// Calls `f` with each matching row, in place where it can ([`RowRef`]): for callers that
    /// keep few of the rows they see. No `unique` handling (the caller's to do). Stops when
    /// `f` returns false.
    pub fn scan_row_refs(&self, filter: &Filter, stats: &mut ScanStats, f: &mut dyn FnMut(RowRef<'_>) -> Result<bool, CoreError>) -> Result<(), CoreError> {
        for shard in self.shards()? {
            if !self.scan_shard_row_refs(&shard, filter, stats, f)? {
                break;
            }
        }
        Ok(())
    }

    /// [`Corpus::scan_row_refs`] over one shard; false when `f` asked to stop.
    pub fn scan_shard_row_refs(&self, shard: &ShardInfo, filter: &Filter, stats: &mut ScanStats, f: &mut dyn FnMut(RowRef<'_>) -> Result<bool, CoreError>) -> Result<bool, CoreError> {
        if !filter.shards.is_empty() && !filter.shards.contains(&shard.number) {
            return Ok(true);
        }
        match shard.kind {
            ShardKind::Sealed => scan_sealed_row_refs(shard, filter, stats, f),
            ShardKind::Open => {
                stats.shards += 1;
                for row in open_records(shard)?.map(|(_, r, _)| records_to_rows(&r)).unwrap_or_default() {
                    stats.rows_read += 1;
                    if !filter.matches(&row) {
                        continue;
                    }
                    stats.rows_matched += 1;
                    if !f(RowRef::Row(&row))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }

    /// [`Corpus::for_each_row`], counting what it touched: shards whose upload-time range (from
    /// the manifest) cannot match are not opened, and within a shard only the row groups whose
    /// statistics can match are read.
    pub fn scan_rows(&self, filter: &Filter, stats: &mut ScanStats, f: &mut dyn FnMut(FileRow) -> bool) -> Result<(), CoreError> {
        let mut seen_blobs = filter.unique.then(|| self.key_set::<20>());
        let tmp = self.tmp_dir();
        self.scan_row_refs(filter, stats, &mut |r| {
            if let Some(seen) = seen_blobs.as_mut()
                && !seen.insert(r.hash()?.0).map_err(|e| CoreError::io(&tmp, e))?
            {
                return Ok(true);
            }
            Ok(f(r.to_row()?))
        })
    }

    /// Reads a blob from whichever shard stores it: the blob index names the sealed shard,
    /// whose pack index gives the frame; else the open shard's journal.
    pub fn read_blob(&self, oid: &Oid) -> Result<Option<Vec<u8>>, CoreError> {
        if let Some(data) = crate::SealedReader::new(self)?.read(oid)? {
            return Ok(Some(data));
        }
        for s in self.shards()?.iter().filter(|s| s.kind == ShardKind::Open) {
            let Some((mut j, _)) = read_journal(&s.dir)? else { continue };
            if let Some(data) = j.read_blob(oid)? {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// [`Corpus::write_lock`] into the file `path`, streamed and replaced whole or not at all
    /// (a crash or an error leaves the old file); returns the number of distributions.
    pub fn write_lock_file(&self, path: &Path) -> Result<u64, CoreError> {
        let mut n = 0;
        pycorpus_fs::write_atomic_with(path, |w| {
            n = self.write_lock(w)?;
            Ok::<(), CoreError>(())
        })?;
        Ok(n)
    }

    /// Writes the corpus's lock file (the TSV that `sync --lock` reads: every distribution
    /// read whole, by project, upload time and file name) to `out`; returns the number of
    /// distributions in it. Releases are
    /// read a shard at a time and ordered through a sorter (`memory_budget_bytes`, spilling
    /// under `<corpus>/tmp/`), so the corpus's releases are never all in memory.
    pub fn write_lock(&self, out: &mut dyn std::io::Write) -> Result<u64, CoreError> {
        let tmp = self.tmp_dir();
        let io = |source: std::io::Error| CoreError::Io { path: tmp.clone(), source };
        pycorpus_spill::remove_stale(&tmp).map_err(io)?;
        let mut sorter = pycorpus_spill::Sorter::new(&tmp, usize::try_from(self.config.memory_budget_bytes / 4).unwrap_or(usize::MAX));
        let mut line = String::new();
        for shard in self.shards()? {
            for r in shard_releases(&shard)?.into_iter().filter(|r| r.status == DistStatus::Ok) {
                let mut key = pycorpus_spill::Key::new();
                key.str(&r.project_name).u64((r.uploaded_on as u64) ^ (1 << 63)).str(&r.project_release);
                line.clear();
                line.push_str(&format!("{}\t{}\t{}\t{}\t{}\t{}\n", r.project_name, r.project_version, r.project_release, r.dist_size, r.dist_sha256, format_time(r.uploaded_on)));
                sorter.push(&key.0, line.as_bytes()).map_err(io)?;
            }
        }
        let out_err = |source: std::io::Error| CoreError::Io { path: PathBuf::from("<lock output>"), source };
        out.write_all(b"project\tversion\tfilename\tsize\tsha256\tupload_time\n").map_err(out_err)?;
        let mut merged = sorter.finish().map_err(io)?;
        let mut n = 0;
        while let Some((_, line)) = merged.next().map_err(io)? {
            out.write_all(line).map_err(out_err)?;
            n += 1;
        }
        Ok(n)
    }

    /// Reads each of `oids` that some shard holds, opening each shard that stores some of
    /// them once; `f` gets each blob found, once. Blobs no shard holds are left out.
    pub fn read_blobs(&self, oids: &OidSet, f: &mut dyn FnMut(Oid, Vec<u8>)) -> Result<(), CoreError> {
        let mut left = oids.clone();
        let shards = self.shards()?;
        let reader = crate::SealedReader::new(self)?;
        let locator = reader.locator();
        let mut by_shard: BTreeMap<u32, Vec<Oid>> = BTreeMap::new();
        for oid in oids {
            if let Some(n) = locator.locate(oid) {
                by_shard.entry(n).or_default().push(*oid);
            }
        }
        for s in shards.iter().filter(|s| s.kind == ShardKind::Sealed) {
            let Some(wanted) = by_shard.get(&s.number) else { continue };
            // Each frame is decoded once, up to the last wanted blob in it.
            let pack = reader.pack(s.number)?;
            let mut found: Vec<(Oid, PackEntry)> = wanted.iter().filter_map(|o| pack.find(o).map(|e| (*o, e))).collect();
            // Blobs stored as deltas, each from its base (after the others: their bases'
            // frames are then likely in the reader's cache).
            let (deltas, whole): (Vec<_>, Vec<_>) = found.into_iter().partition(|(_, e)| pack.delta(e.frame as usize).is_some());
            found = whole;
            found.sort_unstable_by_key(|(_, e)| (e.frame, e.offset));
            let (mut frame, mut scratch) = (Vec::new(), Vec::new());
            for group in found.chunk_by(|a, b| a.1.frame == b.1.frame) {
                let upto = group.iter().map(|(_, e)| e.offset as usize + e.len as usize).max().unwrap_or(0);
                pack.decode_frame_prefix(group[0].1.frame as usize, upto, &mut frame, &mut scratch)?;
                for (oid, e) in group {
                    left.remove(oid);
                    f(*oid, frame[e.offset as usize..e.offset as usize + e.len as usize].to_vec());
                }
            }
            for (oid, _) in deltas {
                if let Some(data) = reader.read_in(s.number, &oid)? {
                    left.remove(&oid);
                    f(oid, data);
                }
            }
        }
        for s in shards.iter().filter(|s| s.kind == ShardKind::Open) {
            if left.is_empty() {
                break;
            }
            let Some((mut j, _)) = read_journal(&s.dir)? else { continue };
            for oid in left.clone() {
                if let Some(data) = j.read_blob(&oid)? {
                    left.remove(&oid);
                    f(oid, data);
                }
            }
        }
        Ok(())
    }

    /// Rows of `project` (any spelling) at `version` whose path inside the distribution is
    /// `path`, or, when none is, ends with `/path`.
    pub fn find_files(&self, project: &str, version: &str, path: &str) -> Result<Vec<FileRow>, CoreError> {
        let mut filter = Filter::default();
        filter.projects.add_glob(project).map_err(|e| CoreError::Invalid(e.to_string()))?;
        filter.versions.push(version.to_string());
        let mut exact = Vec::new();
        let mut suffix = Vec::new();
        let want = path.trim_start_matches('/');
        let tail = format!("/{want}");
        self.for_each_row(&filter, &mut |row| {
            if row.inner_path() == want {
                exact.push(row);
            } else if row.inner_path().ends_with(&tail) {
                suffix.push(row);
            }
            true
        })?;
        Ok(if exact.is_empty() { suffix } else { exact })
    }

    /// The blob of the file `path` of `project` at `version` (see [`Corpus::find_files`]): one
    /// file, or several holding the same contents. Errors say which: no such file, a file whose
    /// contents are not stored, or a path that names files with different contents.
    pub fn file_blob(&self, project: &str, version: &str, path: &str) -> Result<Oid, FileLookupError> {
        let rows = self.find_files(project, version, path)?;
        let first = rows.first().ok_or_else(|| FileLookupError::NoSuchFile { project: project.into(), version: version.into(), path: path.into() })?;
        if rows.iter().any(|r| r.hash != first.hash) {
            let candidates = rows.iter().map(|r| format!("{} {}", r.project_release, r.inner_path())).collect();
            return Err(FileLookupError::Ambiguous { path: path.into(), candidates });
        }
        match first.skip_reason {
            Some(reason) => Err(FileLookupError::NotStored { path: first.path.clone(), reason: reason.to_string() }),
            None => Ok(first.hash),
        }
    }

    /// Counts and sizes of every shard.
    pub fn status(&self) -> Result<Status, CoreError> {
        let mut st = Status { corpus: self.root.clone(), ..Status::default() };
        for shard in self.shards()? {
            let s = match shard.kind {
                ShardKind::Sealed => {
                    let m = read_manifest(&shard.dir)?;
                    ShardStatus {
                        number: shard.number,
                        state: "sealed".into(),
                        distributions: m.distributions,
                        failed: m.failed_distributions,
                        files: m.files,
                        stored_files: m.stored_files,
                        unique_blobs: m.unique_blobs,
                        blob_bytes: m.blob_bytes,
                        original_bytes: m.original_bytes,
                        disk_bytes: dir_bytes(&shard.dir),
                        search_index_bytes: ["postings.idx", "rows.idx"].iter().map(|f| std::fs::metadata(shard.dir.join(f)).map_or(0, |m| m.len())).sum(),
                        first_upload: m.first_upload,
                        last_upload: m.last_upload,
                    }
                }
                ShardKind::Open => {
                    let Some((journal, records, _)) = open_records(&shard)? else {
                        st.shards.push(ShardStatus { number: shard.number, state: "open".into(), ..ShardStatus::default() });
                        continue;
                    };
                    let rows = records_to_rows(&records);
                    let times = records.iter().map(|r| r.release.uploaded_on);
                    ShardStatus {
                        number: shard.number,
                        state: "open".into(),
                        distributions: records.len() as u64,
                        failed: records.iter().filter(|r| r.release.status == DistStatus::Failed).count() as u64,
                        files: rows.len() as u64,
                        stored_files: rows.iter().filter(|r| r.is_stored()).count() as u64,
                        unique_blobs: journal.blob_count() as u64,
                        blob_bytes: journal.raw_bytes(),
                        original_bytes: rows.iter().map(|r| r.size).sum(),
                        disk_bytes: dir_bytes(&shard.dir),
                        search_index_bytes: 0,
                        first_upload: times.clone().min().map(format_time),
                        last_upload: times.max().map(format_time),
                    }
                }
            };
            let t = &mut st.total;
            t.distributions += s.distributions;
            t.failed += s.failed;
            t.files += s.files;
            t.stored_files += s.stored_files;
            t.unique_blobs += s.unique_blobs;
            t.blob_bytes += s.blob_bytes;
            t.original_bytes += s.original_bytes;
            t.disk_bytes += s.disk_bytes;
            t.search_index_bytes += s.search_index_bytes;
            t.first_upload = [t.first_upload.take(), s.first_upload.clone()].into_iter().flatten().min();
            t.last_upload = [t.last_upload.take(), s.last_upload.clone()].into_iter().flatten().max();
            st.shards.push(s);
        }
        st.total.state = format!("{} shard(s)", st.shards.len());
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        st.dedup_ratio = ratio(st.total.original_bytes, st.total.blob_bytes);
        st.overall_ratio = ratio(st.total.original_bytes, st.total.disk_bytes);
        st.sync = crate::SyncLog::read_state(&self.root.join("state.sqlite"))?.filter(|s| !s.files.is_empty());
        Ok(st)
    }

    /// Re-hashes every blob and checks every manifest, index and cross-reference. Reports;
    /// never repairs. Cancelled through `ctx`, it stops within a frame per thread with
    /// [`CoreError::Cancelled`] (it writes nothing).
    pub fn verify(&self, ctx: Ctx<'_>) -> Result<VerifyReport, CoreError> {
        let reporter = ctx.reporter;
        let mut report = VerifyReport::default();
        let shards = self.shards()?;
        let locator = match self.blob_locator() {
            Ok(l) => Some(l),
            Err(e) => {
                report.problems.push(format!("blob index: {e}"));
                None
            }
        };
        let stored_elsewhere = |oid: &Oid| locator.as_ref().and_then(|l| l.locate(oid));
        // bases of delta frames, read from the shards that store them
        let reader = locator.is_some().then(|| crate::SealedReader::new(self).ok()).flatten();
        let mut placement = locator.as_ref().map(|l| Placement::new(&shards, l));
        reporter.start("verify", shards.len() as u64 + 1, 0);
        for shard in &shards {
            ctx.check()?;
            report.shards_checked += 1;
            let name = format!("shard {:06}", shard.number);
            match shard.kind {
                ShardKind::Sealed => self.verify_sealed(shard, &name, locator.as_ref(), reader.as_ref(), placement.as_mut(), &mut report, ctx),
                ShardKind::Open => match open_records(shard) {
                    Err(e) => report.problems.push(format!("{name}: {e}")),
                    Ok(None) => report.notes.push(format!("{name}: open and still empty")),
                    Ok(Some((journal, records, torn))) => {
                        if torn > 0 {
                            report.notes.push(format!("{name}: a torn journal tail of {torn} bytes (an interrupted write); the next add cuts it"));
                        }
                        report.blobs_checked += journal.blob_count() as u64;
                        for (oid, why) in journal.verify_blobs() {
                            report.problems.push(format!("{name}: blob {oid}: {why}"));
                        }
                        for r in &records {
                            for f in r.files.iter().filter(|f| f.skip_reason.is_none() && !journal.contains(&f.hash) && stored_elsewhere(&f.hash).is_none()) {
                                report.problems.push(format!("{name}: {} {} refers to missing blob {}", r.release.project_release, f.path, f.hash));
                            }
                        }
                    }
                },
            }
            reporter.advance(1, 0);
        }
        ctx.check()?;
        report.problems.extend(crate::infohash::check_dependencies(&shards));
        reporter.advance(1, 0);
        reporter.finish();
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_sealed(
        &self,
        shard: &ShardInfo,
        name: &str,
        locator: Option<&BlobLocator>,
        reader: Option<&crate::SealedReader>,
        placement: Option<&mut Placement<'_>>,
        report: &mut VerifyReport,
        ctx: Ctx<'_>,
    ) {
        let m = match read_manifest(&shard.dir) {
            Ok(m) => m,
            Err(e) => return report.problems.push(format!("{name}: manifest: {e}")),
        };
        if m.format != MANIFEST_FORMAT || m.format_version > MANIFEST_VERSION {
            report.problems.push(format!("{name}: unknown format {} v{}", m.format, m.format_version));
        }
        for (file, want) in &m.files_sha256 {
            report.files_checked += 1;
            match digest_file(&shard.dir.join(file)) {
                Ok(got) if got == *want => {}
                Ok(got) => report.problems.push(format!("{name}: {file}: sha256 {} ({} bytes), manifest says {} ({} bytes)", got.sha256, got.size, want.sha256, want.size)),
                Err(e) => report.problems.push(format!("{name}: {e}")),
            }
        }
        for n in m.depends_on.iter().flatten().filter(|n| locator.is_some_and(|l| !l.has_shard(**n))) {
            report.problems.push(format!("{name}: uses blobs stored in shard {n:06}, which this corpus does not have"));
        }
        let pack = match PackReader::open(&shard.dir) {
            Ok(p) => p,
            Err(e) => return report.problems.push(format!("{name}: {e}")),
        };
        report.blobs_checked += pack.len() as u64;
        let go_on = |_| if ctx.cancelled() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
        let problems = match reader {
            Some(r) => pack.verify_with(&|b| r.base_contents(shard.number, b), &go_on),
            None => pack.verify(&go_on),
        };
        if ctx.cancelled() {
            return; // the caller stops at its next check
        }
        report.problems.extend(problems.into_iter().map(|p| format!("{name}: {p}")));
        if pack.len() as u64 != m.unique_blobs {
            report.problems.push(format!("{name}: pack holds {} blobs, manifest says {}", pack.len(), m.unique_blobs));
        }
        if let Some(p) = placement {
            p.check(shard.number, m.depends_on.is_some(), &pack, report);
        }
        // Each delta frame's record of its chain (root and depth: what readers plan by) is
        // the one its base's place gives, and the shards it needs are listed as dependencies.
        if let Some(r) = reader {
            let deps: BTreeSet<u32> = m.depends_on.iter().flatten().copied().collect();
            for i in pack.frame_count() - pack.delta_count()..pack.frame_count() {
                let Some(d) = pack.delta(i) else { continue };
                match r.delta_on(&d.oid) {
                    Ok(Some((want, n, _))) if want.root == d.root && want.depth == d.depth => {
                        for s in [n, d.root.shard].into_iter().filter(|s| *s != shard.number && !deps.contains(s)) {
                            report.problems.push(format!("{name}: delta frame {i} needs shard {s:06}, which its manifest does not list"));
                        }
                    }
                    Ok(Some((want, _, _))) => {
                        report.problems.push(format!("{name}: delta frame {i} records root {:?} at depth {}, its base gives {:?} at depth {}", d.root, d.depth, want.root, want.depth))
                    }
                    Ok(None) => report.problems.push(format!("{name}: delta frame {i}: its base {} is stored in no sealed shard", d.oid)),
                    Err(e) => report.problems.push(format!("{name}: delta frame {i}: {e}")),
                }
            }
        }
        // The search index: sound (every posting in order and in range) and of this pack.
        match pycorpus_store::PostingsIndex::open(&shard.dir) {
            Ok(Some(idx)) => {
                if let Err(e) = idx.check(&pack) {
                    report.problems.push(format!("{name}: {e}"));
                }
            }
            Ok(None) => {}
            Err(e) => report.problems.push(format!("{name}: {e}")),
        }
        // Rows stream through, read in place; the blobs the pack does not hold (at most one
        // entry per row of this shard: bounded by the shard's capacity) are then looked up once
        // each in id order, so the blob index is walked forward and only the pages of the last
        // few thousand lookups stay mapped, however large the index.
        let deps = m.depends_on.clone().unwrap_or_default();
        // The rows.idx check needs each row's blob key (8 bytes a row: bounded by the shard's
        // capacity in files, like `foreign`).
        let rows_index = pycorpus_catalog::RowsIndex::open_beside(&shard.dir.join("files.parquet"));
        let mut keys = Vec::new();
        let (mut rows, mut foreign) = (0u64, Vec::new());
        let scanned = scan_file_views(&shard.dir.join("files.parquet"), &Filter::default(), &mut ScanStats::default(), &mut |r| {
            let stored = r.is_stored();
            if stored {
                let hash = r.hash()?;
                if pack.find(&hash).is_none() {
                    foreign.push((hash, rows));
                }
                if matches!(rows_index, Ok(Some(_))) {
                    keys.push(Some(pycorpus_catalog::rows_key(&hash)));
                }
            } else if matches!(rows_index, Ok(Some(_))) {
                keys.push(None);
            }
            rows += 1;
            Ok(true)
        });
        match scanned {
            Err(e) => report.problems.push(format!("{name}: {e}")),
            Ok(_) if rows != m.files => report.problems.push(format!("{name}: files.parquet has {rows} rows, manifest says {}", m.files)),
            Ok(_) => {}
        }
        // which rows hold each blob: every stored row listed under its blob, once
        match rows_index.and_then(|idx| idx.map(|i| i.check(&keys)).transpose()) {
            Ok(_) => {}
            Err(e) => report.problems.push(format!("{name}: {e}")),
        }
        drop(keys);
        foreign.sort_unstable();
        foreign.dedup_by_key(|(hash, _)| *hash);
        let mut wrong = BTreeMap::new(); // row -> (blob, why)
        for (hash, row) in foreign {
            let why = match locator.and_then(|l| l.locate(&hash)) {
                Some(n) if deps.contains(&n) => continue,
                Some(n) if m.depends_on.is_some() => format!("stored in shard {n:06}, which its manifest does not list"),
                _ => format!("missing from the pack{}", if deps.is_empty() { "" } else { " and from the shards it depends on" }),
            };
            wrong.insert(row, (hash, why));
            if wrong.len() > 20 {
                wrong.pop_last();
            }
        }
        if let Some(&last) = wrong.keys().next_back() {
            // the paths of the (at most 20) rows reported: a second pass, on damage only; a
            // row it cannot name is reported by its number
            let mut row = 0u64;
            let _ = scan_file_views(&shard.dir.join("files.parquet"), &Filter::default(), &mut ScanStats::default(), &mut |r| {
                if let Some((hash, why)) = wrong.remove(&row) {
                    report.problems.push(format!("{name}: {} refers to blob {hash} {why}", r.to_row()?.path));
                }
                row += 1;
                Ok(row <= last)
            });
            report.problems.extend(wrong.into_iter().map(|(row, (hash, why))| format!("{name}: row {row} of files.parquet refers to blob {hash} {why}")));
        }
        match read_releases(&shard.dir.join("releases.parquet")) {
            Err(e) => report.problems.push(format!("{name}: {e}")),
            Ok(rels) if rels.len() as u64 != m.distributions => report.problems.push(format!("{name}: releases.parquet has {} rows, manifest says {}", rels.len(), m.distributions)),
            Ok(_) => {}
        }
    }
}

/// Checks that a blob stored by a format-2 shard is stored by no other shard (format-1
/// shards may repeat each other's), and that the blob index names, for every stored blob, the
/// lowest shard storing it. Each sealed pack is walked in order, in its shard's check, against
/// the blob index: for each blob B of shard s the index must name s or a lower shard that
/// stores B too. A wrong entry is caught at the lowest shard holding B (which the index cannot
/// name correctly otherwise), and a repeat at each later one. Memory and open files do not
/// grow with the number of shards (a merge of every pack at once held each one open and mapped).
struct Placement<'a> {
    locator: &'a BlobLocator,
    sealed: BTreeMap<u32, PathBuf>,
    /// The lower shards the index names, opened as needed (format-1 repeats, or damage).
    lower: BTreeMap<u32, Option<PackReader>>,
    /// Problems reported so far (at most 20).
    found: usize,
}

impl<'a> Placement<'a> {
    fn new(shards: &[ShardInfo], locator: &'a BlobLocator) -> Placement<'a> {
        let sealed = shards.iter().filter(|s| s.kind == ShardKind::Sealed).map(|s| (s.number, s.dir.clone())).collect();
        Placement { locator, sealed, lower: BTreeMap::new(), found: 0 }
    }

    /// Checks the blobs of shard `n`'s `pack` (`v2`: a format-2 shard, which must not repeat).
    fn check(&mut self, n: u32, v2: bool, pack: &PackReader, report: &mut VerifyReport) {
        const AGAIN: &str = "(the index is rebuilt by the next write, or delete <corpus>/blobs/)";
        for i in 0..pack.len() {
            if self.found >= 20 {
                return;
            }
            let oid = pack.entry_at(i).0;
            let problem = match self.locator.locate(&oid) {
                Some(m) if m == n => None,
                Some(m) if m < n && self.sealed.contains_key(&m) => {
                    if self.lower.len() >= 64 {
                        self.lower.clear();
                    }
                    let dir = &self.sealed[&m];
                    let other = self.lower.entry(m).or_insert_with(|| PackReader::open(dir).ok());
                    match other.as_ref().map(|p| p.find(&oid).is_some()) {
                        Some(true) if v2 => Some(format!("blob {oid} is stored in shards [{m}, {n}]: a format-2 shard stores only blobs that no earlier shard stores")),
                        // a format-1 repeat, or an unreadable pack (reported by its shard's check)
                        Some(true) | None => None,
                        Some(false) => Some(format!("blob index: blob {oid} is stored in shard {n:06} but the index says {m:06}, which does not store it {AGAIN}")),
                    }
                }
                Some(m) => Some(format!("blob index: blob {oid} is stored in shard {n:06} but the index says {m:06} {AGAIN}")),
                None => Some(format!("blob index: blob {oid} is stored in shard {n:06} but the index names no shard {AGAIN}")),
            };
            if let Some(p) = problem {
                self.found += 1;
                report.problems.push(p);
            }
        }
    }
}
