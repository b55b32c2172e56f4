//! Filtered reads of `files.parquet`: row groups whose statistics rule the filter out are never
//! read, and rows are tested on the Arrow columns before any [`FileRow`] is built, so a
//! selective query costs little more than its answer.

use crate::parquet_io::{FileCols, files_read_options, fmt_err, row_at};
use crate::{FileRow, Filter, inner_path_of};
use arrow_array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowPredicateFn, ArrowReaderMetadata, ParquetRecordBatchReaderBuilder, RowFilter, RowSelection};
use parquet::file::metadata::{PageIndexPolicy, RowGroupMetaData};
use parquet::file::statistics::Statistics;
use pycorpus_archive::DistType;
use serde::Serialize;
use std::fs::File;
use std::path::Path;

/// What a filtered scan touched (`--stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// Shards looked at.
    pub shards: u64,
    /// Shards ruled out without reading their index (upload times in the manifest).
    pub shards_skipped: u64,
    /// Row groups in the shards read.
    pub row_groups: u64,
    /// Row groups ruled out by their statistics and not read.
    pub row_groups_skipped: u64,
    /// Rows decoded.
    pub rows_read: u64,
    /// Rows that matched.
    pub rows_matched: u64,
    /// Files whose rows of a search's candidate blobs were found through their `rows.idx`
    /// (only those rows read, not every row's hash).
    pub rows_indexed: u64,
}

fn str_range(s: Option<&Statistics>) -> Option<(String, String)> {
    match s? {
        Statistics::ByteArray(v) => Some((String::from_utf8_lossy(v.min_opt()?.data()).into_owned(), String::from_utf8_lossy(v.max_opt()?.data()).into_owned())),
        _ => None,
    }
}

fn int_range(s: Option<&Statistics>) -> Option<(i64, i64)> {
    match s? {
        Statistics::Int64(v) => Some((*v.min_opt()?, *v.max_opt()?)),
        _ => None,
    }
}

/// True when a row group with these statistics may hold a matching row. Missing statistics
/// never rule anything out.
fn may_match(filter: &Filter, rg: &RowGroupMetaData, col: &dyn Fn(&str) -> Option<usize>) -> bool {
    let stats = |name: &str| col(name).and_then(|i| rg.column(i).statistics());
    if let Some((lo, hi)) = str_range(stats("project_name"))
        && !filter.projects.may_match_range(&lo, &hi)
    {
        return false;
    }
    if let Some((lo, hi)) = int_range(stats("uploaded_on"))
        && (filter.since.is_some_and(|s| hi < s) || filter.until.is_some_and(|u| lo >= u))
    {
        return false;
    }
    if let Some((lo, hi)) = int_range(stats("size"))
        && (filter.min_size.is_some_and(|m| (hi as u64) < m) || filter.max_size.is_some_and(|m| (lo as u64) > m))
    {
        return false;
    }
    true
}

/// A matching row, read in place: callers that keep few of the rows they see (one per blob,
/// say) build a [`FileRow`] only for those.
pub struct RowView<'a> {
    cols: &'a FileCols<'a>,
    i: usize,
    path: &'a Path,
}

impl RowView<'_> {
    /// The blob id.
    pub fn hash(&self) -> Result<pycorpus_store::Oid, crate::CatalogError> {
        pycorpus_store::Oid::from_slice(self.cols.hash.value(self.i)).ok_or_else(|| fmt_err(self.path, "hash is not 20 bytes"))
    }

    /// True when the contents are stored.
    pub fn is_stored(&self) -> bool {
        !self.cols.skip.is_valid(self.i)
    }

    /// The whole row.
    pub fn to_row(&self) -> Result<FileRow, crate::CatalogError> {
        row_at(self.cols, self.i, self.path)
    }

    /// The upload time (µs since the epoch).
    pub fn uploaded_on(&self) -> i64 {
        self.cols.uploaded.value(self.i)
    }

    /// See [`crate::history_key`].
    pub fn history_key(&self) -> u64 {
        let c = self.cols;
        crate::history_key(c.project.value(self.i), c.archive_path.value(self.i), c.dist_type.value(self.i))
    }
}

/// Calls `f` with each row of the `files.parquet` at `path` that matches `filter`, in file
/// order; stops (returning false) when `f` does.
pub fn scan_files(path: &Path, filter: &Filter, stats: &mut ScanStats, f: &mut dyn FnMut(FileRow) -> bool) -> Result<bool, crate::CatalogError> {
    scan_file_views(path, filter, stats, &mut |v| Ok(f(v.to_row()?)))
}

/// [`scan_files`] handing out rows in place.
///
/// Row groups are decoded and filtered on up to four threads (one file handle each: clones of a
/// `File` share its offset), a few batches ahead of the callbacks here, which see the rows
/// in file order. Decoding is most of a scan, so this is what shortens it.
pub fn scan_file_views(path: &Path, filter: &Filter, stats: &mut ScanStats, f: &mut dyn FnMut(&RowView<'_>) -> Result<bool, crate::CatalogError>) -> Result<bool, crate::CatalogError> {
    let open = || File::open(path).map_err(|e| crate::CatalogError::Io { path: path.to_path_buf(), source: e });
    // With a search index's candidate blobs, the rows that hold them (from `rows.idx`, when the
    // shard has a sound one): only those are read, their pages found by the page index.
    let picked = picked_rows(path, filter);
    stats.rows_indexed += u64::from(picked.is_some());
    // No candidate blob here (the search index ruled every one out, or none has a row in this
    // file): nothing to read, not even the footer; with hundreds of shards that is most of them.
    if filter.hash_in.as_ref().is_some_and(|h| h.is_empty()) || picked.as_ref().is_some_and(|p| p.is_empty()) {
        return Ok(true);
    }
    let reader_meta = ArrowReaderMetadata::load(&open()?, files_read_options().with_offset_index_policy(if picked.is_some() { PageIndexPolicy::Optional } else { PageIndexPolicy::Skip }))
        .map_err(|e| fmt_err(path, e))?;
    let meta = reader_meta.metadata().clone();
    let schema = meta.file_metadata().schema_descr_ptr();
    let col = |name: &str| (0..schema.num_columns()).find(|&i| schema.column(i).name() == name);
    let mut selections = vec![None; meta.num_row_groups()];
    if let Some(rows) = &picked {
        let mut first = 0usize;
        for (g, sel) in selections.iter_mut().enumerate() {
            let n = meta.row_group(g).num_rows() as usize;
            let (lo, hi) = (rows.partition_point(|&r| (r as usize) < first), rows.partition_point(|&r| (r as usize) < first + n));
            *sel = Some(selection(&rows[lo..hi], first, n));
            first += n;
        }
    }
    let picks_none = |g: usize| selections[g].as_ref().is_some_and(|s: &RowSelection| s.row_count() == 0);
    let groups: Vec<usize> = (0..meta.num_row_groups()).filter(|&i| !picks_none(i) && may_match(filter, meta.row_group(i), &col)).collect();
    stats.row_groups += meta.num_row_groups() as u64;
    stats.row_groups_skipped += (meta.num_row_groups() - groups.len()) as u64;
    if groups.is_empty() {
        return Ok(true);
    }
    // Two at least: one decodes while the other waits on a read.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(2, 4).min(groups.len());
    std::thread::scope(|s| {
        let mut receivers = Vec::with_capacity(threads);
        for first in 0..threads {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Piece>(SCAN_BATCHES_AHEAD);
            receivers.push(rx);
            let mine: Vec<(usize, Option<RowSelection>)> = groups.iter().skip(first).step_by(threads).map(|&g| (g, selections[g].clone())).collect();
            let (reader_meta, open) = (reader_meta.clone(), &open);
            s.spawn(move || {
                // A panic in the decoder (a corrupt page it does not expect) is an error too.
                let decode = std::panic::AssertUnwindSafe(|| decode_groups(path, filter, &reader_meta, mine, open, &tx));
                if let Err(p) = std::panic::catch_unwind(decode) {
                    let what = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
                    let _ = tx.send(Piece::Batch(Err(fmt_err(path, format!("decoding failed: {what}")))));
                }
            });
        }
        for n in 0..groups.len() {
            loop {
                // A thread sends its error (or its panic, as one) before its channel closes, so
                // this is not expected; but it is an error, not rows left out.
                let piece = receivers[n % threads].recv().map_err(|_| fmt_err(path, "a decoding thread stopped"))?;
                let (batch, rows) = match piece {
                    Piece::Batch(selected) => selected?,
                    Piece::GroupEnd => break,
                };
                let c = FileCols::new(&batch, path)?;
                stats.rows_read += batch.num_rows() as u64;
                stats.rows_matched += rows.len() as u64;
                for i in rows {
                    if !f(&RowView { cols: &c, i: i as usize, path })? {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    })
}

/// The rows of the `files.parquet` at `path` that hold `filter`'s `hash_in` blobs (and maybe a
/// few others, which the hash filter then leaves out), from its `rows.idx`; `None` without a
/// sound one (every row's hash is tested then).
fn picked_rows(path: &Path, filter: &Filter) -> Option<Vec<u32>> {
    let set = filter.hash_in.as_ref().filter(|s| !s.is_empty())?;
    match crate::RowsIndex::open_beside(path).and_then(|idx| idx.map(|i| i.rows_of(set.iter())).transpose()) {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!("{e}: the rows of the candidate blobs are found by reading every row's hash");
            None
        }
    }
}

/// The selection of a row group of `n` rows that starts at row `first` of the file, for the
/// file's rows `rows` (sorted, all in the group).
fn selection(rows: &[u32], first: usize, n: usize) -> RowSelection {
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    for &r in rows {
        let r = r as usize - first;
        match ranges.last_mut() {
            Some(last) if last.end == r => last.end += 1,
            _ => ranges.push(r..r + 1),
        }
    }
    RowSelection::from_consecutive_ranges(ranges.into_iter(), n)
}

/// Decodes row groups `groups` (each with its rows, or all) in turn and sends each batch, with
/// its matching rows, then the group's end; stops at the first error (sent) or when the
/// receiver is gone.
fn decode_groups(
    path: &Path,
    filter: &Filter,
    meta: &ArrowReaderMetadata,
    groups: Vec<(usize, Option<RowSelection>)>,
    open: &dyn Fn() -> Result<File, crate::CatalogError>,
    tx: &std::sync::mpsc::SyncSender<Piece>,
) {
    let run = || -> Result<(), crate::CatalogError> {
        // One handle for this thread's groups, which it reads one after another.
        let file = open()?;
        for (g, picked) in groups {
            let picked_some = picked.is_some();
            let file = file.try_clone().map_err(|e| crate::CatalogError::Io { path: path.to_path_buf(), source: e })?;
            let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone()).with_row_groups(vec![g]).with_batch_size(SCAN_BATCH_ROWS);
            if let Some(sel) = picked {
                builder = builder.with_row_selection(sel);
            }
            if let Some(set) = &filter.hash_in {
                builder = builder.with_row_filter(row_filter(path, meta, filter, set.clone(), picked_some)?);
            }
            let reader = builder.build().map_err(|e| fmt_err(path, e))?;
            for batch in reader {
                #[cfg(test)]
                tests::failpoint(path, g);
                let batch = batch.map_err(|e| fmt_err(path, e))?;
                let rows = select_rows(&batch, filter, path)?;
                // The receiver is gone when the callback asked to stop.
                if tx.send(Piece::Batch(Ok((batch, rows)))).is_err() {
                    return Ok(());
                }
            }
            if tx.send(Piece::GroupEnd).is_err() {
                return Ok(());
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        let _ = tx.send(Piece::Batch(Err(e)));
    }
}

/// A row filter that keeps the rows whose `hash` is in `set`, decoding only that column for
/// the rows it leaves out. With `picked` (the rows of the candidates, spread thinly over the
/// file) and an extension filter, then the rows whose `path` can have the extension: the
/// candidates' rows of other files (the index covers every text blob) cost that column's
/// pages, not every column's.
fn row_filter(path: &Path, meta: &ArrowReaderMetadata, filter: &Filter, set: std::sync::Arc<pycorpus_store::OidSet>, picked: bool) -> Result<RowFilter, crate::CatalogError> {
    let schema = meta.metadata().file_metadata().schema_descr();
    let column = |name: &str| (0..schema.num_columns()).find(|&i| schema.column(i).name() == name).ok_or_else(|| fmt_err(path, format!("no {name} column")));
    let hashes = ArrowPredicateFn::new(ProjectionMask::leaves(schema, [column("hash")?]), move |batch: RecordBatch| {
        let hashes = batch.column(0).as_any().downcast_ref::<arrow_array::FixedSizeBinaryArray>().ok_or_else(|| arrow_schema::ArrowError::SchemaError("hash is not FixedSizeBinary(20)".into()))?;
        Ok((0..arrow_array::Array::len(hashes)).map(|i| Some(pycorpus_store::Oid::from_slice(hashes.value(i)).is_some_and(|o| set.contains(&o)))).collect::<arrow_array::BooleanArray>())
    });
    let mut predicates: Vec<Box<dyn parquet::arrow::arrow_reader::ArrowPredicate>> = vec![Box::new(hashes)];
    if picked && !filter.exts.is_empty() {
        let exts = filter.exts.clone();
        predicates.push(Box::new(ArrowPredicateFn::new(ProjectionMask::leaves(schema, [column("path")?]), move |batch: RecordBatch| {
            let paths = batch.column(0).as_any().downcast_ref::<arrow_array::StringArray>().ok_or_else(|| arrow_schema::ArrowError::SchemaError("path is not a string".into()))?;
            Ok(paths.iter().map(|p| Some(p.is_some_and(|p| crate::filter::may_have_ext(&exts, p)))).collect::<arrow_array::BooleanArray>())
        })));
    }
    Ok(RowFilter::new(predicates))
}

/// Rows per decoded batch of a scan: small enough that the batches in flight stay a few MB.
const SCAN_BATCH_ROWS: usize = 8192;

/// Batches each decoding thread may have waiting: the callbacks are the slower side, so a few
/// suffice (a whole row group's worth measured no faster, with more memory).
const SCAN_BATCHES_AHEAD: usize = 4;

/// What a decoding thread of [`scan_file_views`] hands over: a batch and its matching rows, or
/// the end of a row group.
enum Piece {
    Batch(Result<(RecordBatch, Vec<u32>), crate::CatalogError>),
    GroupEnd,
}

/// The rows of `batch` that match `filter`.
fn select_rows(batch: &RecordBatch, filter: &Filter, path: &Path) -> Result<Vec<u32>, crate::CatalogError> {
    let c = FileCols::new(batch, path)?;
    let mut out = Vec::new();
    // A distribution's rows are consecutive: its release-level filters are tested once,
    // again only when the row's distribution (dictionary keys) or upload time changes.
    let mut last_release: Option<([Option<i32>; 4], i64, bool)> = None;
    for i in 0..batch.num_rows() {
        let key = [c.project.key(i), c.version.key(i), c.release.key(i), c.dist_type.key(i)];
        let up = c.uploaded.value(i);
        let release_ok = match last_release {
            Some((k, u, ok)) if key.iter().all(Option::is_some) && k == key && u == up => ok,
            _ => {
                let (project, version, dt) = (c.project.value(i), c.version.value(i), c.dist_type.value(i));
                let ok = DistType::parse(dt).is_some_and(|t| filter.matches_release(project, version, up, t));
                last_release = Some((key, up, ok));
                ok
            }
        };
        if !release_ok {
            continue;
        }
        let size = c.size.value(i);
        let skip = c.skip.is_valid(i).then(|| c.skip.value(i));
        let inner = inner_path_of(c.path.value(i), c.project.value(i), c.release.value(i));
        if filter.matches_file(inner, size, skip) {
            out.push(i as u32);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Release;
    use crate::parquet_io::write_files_grouped;

    /// The file and row group whose decoding panics (a decoder bug the corruption tests
    /// never hit), keyed by path so that tests running beside it are not touched.
    static PANIC_AT: std::sync::Mutex<Option<(std::path::PathBuf, usize)>> = std::sync::Mutex::new(None);

    pub(super) fn failpoint(path: &Path, group: usize) {
        let at = PANIC_AT.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if at.is_some_and(|(p, g)| p == path && g == group) {
            panic!("injected in row group {group}");
        }
    }

    /// 40k rows over 400 projects (sorted, as a seal writes them): three row groups.
    fn rows() -> Vec<FileRow> {
        let mut out = Vec::new();
        for p in 0..400u32 {
            let project = format!("proj{p:03}");
            let rel = Release { dist_sha256: format!("{p:064x}"), file_count: 100, ..crate::test_release(&project, i64::from(p) * 1_000_000) };
            for i in 0..100u32 {
                let e = crate::test_entry(format!("{project}-1.0/m{i:03}.{}", if i % 2 == 0 { "py" } else { "txt" }), i, 1);
                out.push(FileRow::new(&rel, &e));
            }
        }
        out
    }

    /// Every row a scan of `path` with `f` gives, and its stats.
    fn scan_all(path: &Path, f: &Filter) -> (Vec<FileRow>, ScanStats) {
        let mut stats = ScanStats::default();
        let mut got = Vec::new();
        scan_files(path, f, &mut stats, &mut |r| {
            got.push(r);
            true
        })
        .expect("scan");
        (got, stats)
    }

    #[test]
    fn statistics_skip_row_groups_and_answers_stay_exact() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("files.parquet");
        let all = rows();
        write_files_grouped(&path, &all, 16 * 1024).expect("write");
        let run = |f: &Filter| {
            let (got, stats) = scan_all(&path, f);
            let want: Vec<&FileRow> = all.iter().filter(|r| f.matches(r)).collect();
            assert_eq!(got.iter().collect::<Vec<_>>(), want, "same rows as a full read");
            stats
        };
        let s = run(&Filter::default());
        assert_eq!((s.row_groups, s.row_groups_skipped, s.rows_read, s.rows_matched), (3, 0, 40_000, 40_000));
        let mut f = Filter::default();
        f.projects.add_glob("proj39*").expect("glob");
        f.exts.push("py".into());
        let s = run(&f);
        assert_eq!((s.row_groups_skipped, s.rows_matched), (2, 500), "{s:?}");
        let f = Filter { since: Some(10_000_000), until: Some(20_000_000), ..Filter::default() };
        let s = run(&f);
        assert_eq!((s.row_groups_skipped, s.rows_matched), (2, 1000), "{s:?}");
        let f = Filter { min_size: Some(1000), ..Filter::default() };
        let s = run(&f);
        assert_eq!((s.row_groups_skipped, s.rows_read, s.rows_matched), (3, 0, 0), "{s:?}");
        // stopping early
        let mut n = 0;
        assert!(
            !scan_files(&path, &Filter::default(), &mut ScanStats::default(), &mut |_| {
                n += 1;
                n < 5
            })
            .expect("scan")
        );
        assert_eq!(n, 5);
    }

    #[test]
    fn a_corrupt_row_group_is_an_error_not_a_crash_or_a_hang() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("files.parquet");
        write_files_grouped(&path, &rows(), 8 * 1024).expect("write");
        let mut data = std::fs::read(&path).expect("read");
        // The middle of the file: row-group data, not the footer.
        let mid = data.len() / 2;
        data[mid..mid + 4096].fill(0xff);
        std::fs::write(&path, &data).expect("write");
        let mut n = 0u64;
        let res = scan_files(&path, &Filter::default(), &mut ScanStats::default(), &mut |_| {
            n += 1;
            true
        });
        assert!(matches!(res, Err(crate::CatalogError::Format { .. })), "{res:?} after {n} rows");
        assert!(n < 40_000);
    }

    #[test]
    fn a_panic_while_decoding_is_an_error_after_the_rows_before_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("files.parquet");
        write_files_grouped(&path, &rows(), 8 * 1024).expect("write");
        for group in [0, 2] {
            *PANIC_AT.lock().expect("lock") = Some((path.clone(), group));
            let mut n = 0u64;
            let res = scan_files(&path, &Filter::default(), &mut ScanStats::default(), &mut |_| {
                n += 1;
                true
            });
            match res {
                Err(crate::CatalogError::Format { what, .. }) => assert!(what.contains(&format!("decoding failed: injected in row group {group}")), "{what}"),
                other => panic!("{other:?}"),
            }
            // Every row of the groups before it, in order; none after.
            assert_eq!(n, group as u64 * 8 * 1024, "group {group}");
        }
        *PANIC_AT.lock().expect("lock") = None;
        assert!(scan_files(&path, &Filter::default(), &mut ScanStats::default(), &mut |_| true).expect("scan"));
    }

    #[test]
    fn candidate_blobs_read_their_rows_only_and_none_here_reads_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("files.parquet");
        let all = rows();
        write_files_grouped(&path, &all, 8 * 1024).expect("write");
        let mut w = crate::RowsIndexWriter::new(dir.path(), 1 << 20);
        all.iter().enumerate().for_each(|(r, row)| w.push(&row.hash, r as u32).expect("push"));
        w.finish(&dir.path().join("rows.idx")).expect("finish");
        let only = |oids: &[pycorpus_store::Oid]| Filter { hash_in: Some(std::sync::Arc::new(oids.iter().copied().collect())), ..Filter::default() };
        let run = |f: &Filter| scan_all(&path, f);
        // blob 7: one row in each of the 400 projects, spread over every row group
        let seven = pycorpus_store::Oid::for_blob(&7u32.to_le_bytes());
        let (got, stats) = run(&only(&[seven]));
        assert_eq!(got.iter().collect::<Vec<_>>(), all.iter().filter(|r| r.hash == seven).collect::<Vec<_>>());
        assert_eq!((stats.rows_indexed, stats.rows_matched), (1, 400), "{stats:?}");
        assert!(stats.rows_read < 40_000 / 4, "only the candidates' pages: {stats:?}");
        // with an extension filter, tested on the path column first: blob 7 is in .txt files
        // only, blob 6 in .py files; the answer is a full read's
        for (blob, ext, want) in [(7u32, "py", 0), (6, "py", 400), (6, "PY", 400), (7, "txt", 400)] {
            let oid = pycorpus_store::Oid::for_blob(&blob.to_le_bytes());
            let f = Filter { exts: vec![ext.into()], ..only(&[oid]) };
            let (got, _) = run(&f);
            assert_eq!(got.len(), want, "blob {blob}, .{ext}");
            assert_eq!(got.iter().collect::<Vec<_>>(), all.iter().filter(|r| f.matches(r)).collect::<Vec<_>>());
        }
        // a blob with no row in this file, and no blob at all: not even the footer is read,
        // so a damaged one is no error (no row could match)
        let elsewhere = pycorpus_store::Oid::for_blob(b"stored in another shard");
        let data = std::fs::read(&path).expect("read");
        std::fs::write(&path, &data[..data.len() - 64]).expect("cut the footer");
        for f in [only(&[elsewhere]), only(&[])] {
            let (got, stats) = run(&f);
            assert!(got.is_empty());
            assert_eq!((stats.row_groups, stats.rows_read), (0, 0), "{stats:?}");
        }
        let mut stats = ScanStats::default();
        assert!(scan_files(&path, &only(&[seven]), &mut stats, &mut |_| true).is_err(), "a candidate here: the damage shows");
    }

    #[test]
    fn scans_of_files_corrupted_anywhere_end_in_rows_or_an_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("files.parquet");
        write_files_grouped(&path, &rows(), 8 * 1024).expect("write");
        let good = std::fs::read(&path).expect("read");
        let mut errors = 0;
        // 48 places across the file, 64 bytes each: data pages, page headers, the footer.
        for k in 0..48 {
            let at = (good.len() - 64) * k / 47;
            let mut data = good.clone();
            data[at..at + 64].iter_mut().for_each(|b| *b = b.wrapping_mul(31).wrapping_add(7));
            std::fs::write(&path, &data).expect("write");
            // Either rows (a flip the format cannot see) or an error; a panic in the decoder
            // must come back as an error too, never unwind through the caller.
            match scan_files(&path, &Filter::default(), &mut ScanStats::default(), &mut |_| true) {
                Ok(_) => {}
                Err(crate::CatalogError::Format { .. }) => errors += 1,
                Err(e) => panic!("at byte {at}: {e:?}"),
            }
        }
        assert!(errors > 24, "{errors} of 48 corruptions detected");
    }
}
