//! The index of a corpus: one row per file of every distribution, one per distribution.
//!
//! The column names are a contract with users' DuckDB / pandas / polars queries: they are
//! those of py-code.org's pypi-data (`project_name, project_version, project_release,
//! uploaded_on, path, archive_path, size, hash, skip_reason, lines, repository`) plus ours
//! (`dist_sha256, dist_type, entry_type, link_target`). See `docs/FORMAT.md`.
//!
//! [`DistRecord`] is what the store journals per distribution; [`write_files`] /
//! [`write_releases`] turn records into Parquet at seal time and [`read_files`] /
//! [`read_releases`] read them back; [`Filter`] selects rows.
#![deny(missing_docs)]

mod deps_tables;
mod filter;
mod options;
mod parquet_io;
mod records;
mod rows_index;
mod scan;

pub use deps_tables::{
    DEPS_FILES, DepsWriter, DistKey, ENTRY_POINTS_FILE, IMPORT_NAMES_FILE, REQUIREMENTS_COLUMNS, REQUIREMENTS_FILE, RequirementRow, entry_points_schema, import_names_schema, read_requirements,
    read_table, requirements_batch, requirements_schema, rows_in, scan_requirements,
};
pub use filter::{FILTERS, Filter, FilterError, FilterKind, FilterSpec, ProjectMatcher, parse_date, parse_size};
pub use options::{field_kinds, struct_fields};
pub use parquet_io::{CatalogError, FILES_COLUMNS, FilesBatcher, FilesWriter, files_schema, read_files, read_releases, write_files, write_releases};
pub use records::{Cell as RecordCell, CellKind, RecordColumns, RecordWriter, records_batch};
pub use rows_index::{ROWS_MAGIC, RowsIndex, RowsIndexWriter, rows_key};
pub use scan::{RowView, ScanStats, scan_file_views, scan_files};

/// Column types of a row, for crates that build or read rows without the archive readers.
pub use pycorpus_archive::{DistType, SkipReason};
pub use pycorpus_deps::{Fields, Rows};
use pycorpus_store::Oid;
use serde::{Deserialize, Serialize};

/// What an indexed entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// A regular file.
    File,
    /// A symbolic link (its `hash` is the blob id of the target text, as git stores links).
    Symlink,
    /// A hard link (its `hash` is the blob id of the target name).
    Hardlink,
}

impl EntryType {
    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::File => "file",
            EntryType::Symlink => "symlink",
            EntryType::Hardlink => "hardlink",
        }
    }

    /// Parses a column value.
    pub fn parse(s: &str) -> Option<EntryType> {
        Some(match s {
            "file" => EntryType::File,
            "symlink" => EntryType::Symlink,
            "hardlink" => EntryType::Hardlink,
            _ => return None,
        })
    }
}

/// Whether a distribution was read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DistStatus {
    /// Every entry indexed.
    Ok,
    /// The archive was corrupt, truncated or hit a limit; no file row is kept.
    Failed,
}

impl DistStatus {
    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            DistStatus::Ok => "ok",
            DistStatus::Failed => "failed",
        }
    }
}

/// One file inside a distribution, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Normalised path inside the archive (safe: relative, no `..`).
    pub path: String,
    /// The entry name exactly as stored, invalid UTF-8 escaped as `\xNN`.
    pub archive_path: String,
    /// Contents length in bytes.
    pub size: u64,
    /// Git blob id of the contents.
    pub hash: Oid,
    /// Why the contents are not stored; `None` when they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
    /// Line count (`None` for binary files and links).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<u64>,
    /// File or link.
    pub entry_type: EntryType,
    /// Link target (escaped), for links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
}

/// One distribution file and what is known of its release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Normalised project name.
    pub project_name: String,
    /// Version.
    pub project_version: String,
    /// The distribution's file name.
    pub project_release: String,
    /// sdist, wheel, egg or conda.
    pub dist_type: DistType,
    /// sha256 of the distribution file (hex).
    pub dist_sha256: String,
    /// Size of the distribution file.
    pub dist_size: u64,
    /// Upload time, microseconds since the Unix epoch, UTC.
    pub uploaded_on: i64,
    /// The shard that holds it (py-code.org's `repository`).
    pub repository: u32,
    /// Whether it was read to its end.
    pub status: DistStatus,
    /// `code: message` when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Files indexed.
    pub file_count: u64,
    /// Name in the distribution's own metadata, when it has some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_name: Option<String>,
    /// Version in its own metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_version: Option<String>,
    /// Summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// License.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Requires-Python.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    /// Trove classifiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classifiers: Vec<String>,
    /// Project URLs as (label, url): the distribution's own `Project-URL`/`Home-page`, else
    /// the index's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub project_urls: Vec<(String, String)>,
    /// Yanked on the index (PEP 592), when known from the index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked: Option<bool>,
    /// Its other packaging fields (core metadata, `pyproject.toml`, `WHEEL`): the columns
    /// after `yanked`.
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub packaging: Fields,
}

/// What one distribution adds to a shard: committed to the journal in one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistRecord {
    /// The distribution.
    pub release: Release,
    /// Its files (empty when it failed).
    pub files: Vec<FileEntry>,
    /// Its rows of the requirement, entry point and import name tables.
    #[serde(default, skip_serializing_if = "Rows::is_empty")]
    pub deps: Rows,
}

/// A row of `files.parquet`: a file with its distribution's columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRow {
    /// Normalised project name.
    pub project_name: String,
    /// Version.
    pub project_version: String,
    /// Distribution file name.
    pub project_release: String,
    /// Upload time (µs since the epoch, UTC).
    pub uploaded_on: i64,
    /// `packages/<project>/<release>/<path in archive>` as in pypi-data.
    pub path: String,
    /// The entry name as stored (escaped).
    pub archive_path: String,
    /// Contents length.
    pub size: u64,
    /// Blob id.
    pub hash: Oid,
    /// Why not stored.
    pub skip_reason: Option<SkipReason>,
    /// Lines.
    pub lines: Option<u64>,
    /// Shard number.
    pub repository: u32,
    /// sha256 of the distribution.
    pub dist_sha256: String,
    /// Distribution type.
    pub dist_type: DistType,
    /// File or link.
    pub entry_type: EntryType,
    /// Link target.
    pub link_target: Option<String>,
}

/// A file row as JSON, as every front end hands it out: the Parquet column names, times in
/// RFC 3339, the hash in hex.
pub fn row_json(r: &FileRow) -> serde_json::Value {
    let cells = FILES_COLUMNS.iter().enumerate().map(|(i, name)| {
        let v = match r.value(i) {
            Some(RowValue::Text(s)) => serde_json::Value::String(s.into_owned()),
            Some(RowValue::Number(n)) => serde_json::Value::from(n),
            _ => serde_json::Value::Null,
        };
        (name.to_string(), v)
    });
    serde_json::Value::Object(cells.collect())
}

/// One value of a file row as every front end shows it: text (times in RFC 3339, the blob id
/// in hex, names of closed sets), a whole number, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowValue<'a> {
    /// Text.
    Text(std::borrow::Cow<'a, str>),
    /// A whole number.
    Number(u64),
    /// No value.
    Null,
}

impl<'a> From<&'a str> for RowValue<'a> {
    fn from(s: &'a str) -> RowValue<'a> {
        RowValue::Text(s.into())
    }
}

impl<'a> From<Option<&'a str>> for RowValue<'a> {
    fn from(s: Option<&'a str>) -> RowValue<'a> {
        s.map_or(RowValue::Null, RowValue::from)
    }
}

impl FileRow {
    /// The value of column `i` of [`FILES_COLUMNS`] (`None` past the last): the one mapping
    /// from columns to values that the CLI's JSON and CSV and the module's rows share.
    pub fn value(&self, i: usize) -> Option<RowValue<'_>> {
        Some(match i {
            0 => self.project_name.as_str().into(),
            1 => self.project_version.as_str().into(),
            2 => self.project_release.as_str().into(),
            3 => RowValue::Text(format_time(self.uploaded_on).into()),
            4 => self.path.as_str().into(),
            5 => self.archive_path.as_str().into(),
            6 => RowValue::Number(self.size),
            7 => RowValue::Text(self.hash.to_hex().into()),
            8 => self.skip_reason.map(|s| s.as_str()).into(),
            9 => self.lines.map_or(RowValue::Null, RowValue::Number),
            10 => RowValue::Number(u64::from(self.repository)),
            11 => self.dist_sha256.as_str().into(),
            12 => self.dist_type.as_str().into(),
            13 => self.entry_type.as_str().into(),
            14 => self.link_target.as_deref().into(),
            _ => return None,
        })
    }

    /// Builds the row of `entry` in `release`.
    pub fn new(release: &Release, entry: &FileEntry) -> FileRow {
        FileRow {
            project_name: release.project_name.clone(),
            project_version: release.project_version.clone(),
            project_release: release.project_release.clone(),
            uploaded_on: release.uploaded_on,
            path: format!("packages/{}/{}/{}", release.project_name, release.project_release, entry.path),
            archive_path: entry.archive_path.clone(),
            size: entry.size,
            hash: entry.hash,
            skip_reason: entry.skip_reason,
            lines: entry.lines,
            repository: release.repository,
            dist_sha256: release.dist_sha256.clone(),
            dist_type: release.dist_type,
            entry_type: entry.entry_type,
            link_target: entry.link_target.clone(),
        }
    }

    /// See [`history_key`].
    pub fn history_key(&self) -> u64 {
        history_key(&self.project_name, &self.archive_path, self.dist_type.as_str())
    }

    /// The path inside the distribution (the `path` column without its
    /// `packages/<project>/<release>/` prefix).
    pub fn inner_path(&self) -> &str {
        inner_path_of(&self.path, &self.project_name, &self.project_release)
    }

    /// True when the contents are in the store.
    pub fn is_stored(&self) -> bool {
        self.skip_reason.is_none()
    }
}

/// A key for "the same file in another release of the project": a hash of the project and the
/// path inside the archive less a source distribution's top folder (which names the version).
/// A seal (shard format 3) stores a new blob as a delta of the blob stored last under the same
/// key; a collision only picks a less similar base. Not stored: valid within one process.
pub fn history_key(project: &str, archive_path: &str, dist_type: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let path = match dist_type {
        "sdist" => archive_path.split_once('/').map_or(archive_path, |(_, rest)| rest),
        _ => archive_path,
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (project, path).hash(&mut h);
    h.finish()
}

/// The path inside the distribution of a `path` column value of `project`'s `release`.
pub fn inner_path_of<'a>(path: &'a str, project: &str, release: &str) -> &'a str {
    let prefix = "packages/".len() + project.len() + 1 + release.len() + 1;
    path.get(prefix..).unwrap_or(path)
}

/// Formats µs since the epoch as RFC 3339 UTC (`2024-05-01T12:00:00Z`).
pub fn format_time(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros).map(|t| t.to_string()).unwrap_or_else(|_| micros.to_string())
}

/// A stored file of `lines` lines for tests, its contents and size made from `i`.
#[cfg(test)]
pub(crate) fn test_entry(path: String, i: u32, lines: u64) -> FileEntry {
    FileEntry {
        archive_path: path.clone(),
        path,
        size: u64::from(i),
        hash: pycorpus_store::Oid::for_blob(&i.to_le_bytes()),
        skip_reason: None,
        lines: Some(lines),
        entry_type: EntryType::File,
        link_target: None,
    }
}

/// A distribution's row for tests.
#[cfg(test)]
pub(crate) fn test_release(project: &str, uploaded_on: i64) -> Release {
    Release {
        project_name: project.into(),
        project_version: "1.0".into(),
        project_release: format!("{project}-1.0.tar.gz"),
        dist_type: DistType::Sdist,
        dist_sha256: "00".into(),
        dist_size: 1,
        uploaded_on,
        repository: 1,
        status: DistStatus::Ok,
        error: None,
        file_count: 1,
        metadata_name: None,
        metadata_version: None,
        summary: None,
        license: None,
        requires_python: None,
        classifiers: vec![],
        project_urls: vec![],
        yanked: None,
        packaging: Fields::default(),
    }
}
