//! `sync`: mirror distribution files from a package index (or a conda channel) into a
//! corpus. The only crate under the front ends that speaks HTTP to an index: readers of a
//! corpus do not link the client.
//!
//! Plan: resolve the index (option, corpus.toml, pip's configuration), list the selected
//! projects' files from the JSON API (falling back to the simple page), apply the filters, and
//! drop files whose sha256 the corpus already holds. Fetch: `jobs` download threads write
//! verified files into `<corpus>/downloads/` (partial files resume after a crash; a complete
//! file there is reused, never fetched twice) and hand each one to the ingest pipeline as it
//! finishes; the archive is deleted once its distribution is committed, unless kept.
#![deny(missing_docs)]

mod sync;

pub use pycorpus_core::PlannedFile;
pub use pycorpus_index::{ClientOptions, IndexError};
pub use sync::{SyncOptions, SyncSummary, sync};

use pycorpus_archive::DistType;
use pycorpus_core::{CoreError, date};
use std::path::PathBuf;

/// Concurrent downloads of a sync.
pub const DEFAULT_SYNC_JOBS: usize = 4;
/// Seconds without progress before a connection counts as stalled.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// Retries of a failed request.
pub const DEFAULT_RETRIES: u32 = 5;

/// What can go wrong mirroring.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The corpus.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// The index: finding it, or a request that failed past its retries.
    #[error("{0}")]
    Index(#[from] pycorpus_index::IndexError),
    /// Nothing to mirror: no project, projects file, lock file, nor all.
    #[error("nothing selected: name projects, a projects file or a lock file, or ask for every project")]
    NothingSelected,
    /// An option out of its range or at odds with another, or input that is not what it
    /// should be (the message says which).
    #[error("{0}")]
    Invalid(String),
}

/// What to mirror from a package index, and how.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct SyncSpec {
    /// A project to mirror (repeatable).
    #[cfg_attr(feature = "clap", arg(long = "project", value_name = "NAME", help_heading = "Selection"))]
    pub projects: Vec<String>,
    /// A file of project names, one per line.
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE", help_heading = "Selection"))]
    pub projects_file: Option<PathBuf>,
    /// Every project the index lists.
    #[cfg_attr(feature = "clap", arg(long, help_heading = "Selection"))]
    pub all: bool,
    /// Exactly the files of a lock file (the TSV that `pycorpus lock` writes).
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE", help_heading = "Selection"))]
    pub lock: Option<PathBuf>,
    /// Uploaded on or after (YYYY-MM-DD or RFC 3339).
    #[cfg_attr(feature = "clap", arg(long, value_name = "DATE", help_heading = "Filters"))]
    pub since: Option<String>,
    /// Uploaded before.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DATE", help_heading = "Filters"))]
    pub until: Option<String>,
    /// Only the newest N versions of each project (by upload time).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", help_heading = "Filters"))]
    pub latest: Option<usize>,
    /// Distribution types: sdist, wheel, egg, conda (comma-separated).
    #[cfg_attr(feature = "clap", arg(long, value_name = "T", value_delimiter = ',', help_heading = "Filters"))]
    pub types: Vec<String>,
    /// Leave out projects matching this glob (repeatable), e.g. '*-nightly'.
    #[cfg_attr(feature = "clap", arg(long, value_name = "GLOB", help_heading = "Filters"))]
    pub exclude: Vec<String>,
    /// Skip files larger than this (K, M, G suffixes).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", value_parser = pycorpus_catalog::parse_size, help_heading = "Filters"))]
    pub max_file_size: Option<u64>,
    /// Wheels only when pure Python (`none-any`).
    #[cfg_attr(feature = "clap", arg(long, help_heading = "Filters"))]
    pub only_pure_wheels: bool,
    /// Wheels only for platform tags containing this (repeatable), e.g. manylinux, win_amd64.
    #[cfg_attr(feature = "clap", arg(long = "platform", value_name = "TAG", help_heading = "Filters"))]
    pub platforms: Vec<String>,
    /// Fetch yanked files too.
    #[cfg_attr(feature = "clap", arg(long, help_heading = "Filters"))]
    pub include_yanked: bool,
    /// The index's simple API URL.
    #[cfg_attr(feature = "clap", arg(long, value_name = "URL"))]
    pub index_url: Option<String>,
    /// Mirror a conda channel instead (its SUBDIR/repodata.json), e.g. a local channel folder's URL.
    #[cfg_attr(feature = "clap", arg(long, value_name = "URL", conflicts_with = "index_url"))]
    pub conda_channel: Option<String>,
    /// Conda subdirs to read (comma-separated; default noarch), e.g. linux-64,noarch.
    #[cfg_attr(feature = "clap", arg(long = "subdir", value_name = "DIRS", value_delimiter = ',', requires = "conda_channel"))]
    pub subdirs: Vec<String>,
    /// Concurrent downloads.
    #[cfg_attr(feature = "clap", arg(long, short, default_value_t = DEFAULT_SYNC_JOBS, value_name = "N"))]
    pub jobs: usize,
    /// Print what would be fetched, the count and total size; fetch nothing.
    #[cfg_attr(feature = "clap", arg(long))]
    pub dry_run: bool,
    /// Keep the downloaded archives in this folder.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DIR"))]
    pub keep_archives: Option<PathBuf>,
    /// Seconds without progress before a connection counts as stalled.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_TIMEOUT_SECS, value_name = "SECS"))]
    pub timeout: u64,
    /// Retries of a failed request (resets, timeouts, 408, 429, 5xx).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_RETRIES, value_name = "N"))]
    pub retries: u32,
}

impl Default for SyncSpec {
    fn default() -> SyncSpec {
        SyncSpec {
            projects: Vec::new(),
            projects_file: None,
            all: false,
            lock: None,
            since: None,
            until: None,
            latest: None,
            types: Vec::new(),
            exclude: Vec::new(),
            max_file_size: None,
            only_pure_wheels: false,
            platforms: Vec::new(),
            include_yanked: false,
            index_url: None,
            conda_channel: None,
            subdirs: Vec::new(),
            jobs: DEFAULT_SYNC_JOBS,
            dry_run: false,
            keep_archives: None,
            timeout: DEFAULT_TIMEOUT_SECS,
            retries: DEFAULT_RETRIES,
        }
    }
}

impl SyncSpec {
    /// The sync's options, checked; `name` spells an option as the front end does.
    pub fn build(&self, name: &dyn Fn(&str) -> String) -> Result<SyncOptions, SyncError> {
        let types = self
            .types
            .iter()
            .map(|t| DistType::parse(t).ok_or_else(|| SyncError::Invalid(format!("{}: unknown type {t:?} (sdist, wheel, egg, conda)", name("types")))))
            .collect::<Result<Vec<_>, SyncError>>()?;
        if !self.subdirs.is_empty() && self.conda_channel.is_none() {
            return Err(SyncError::Invalid(format!("{} needs {}", name("subdirs"), name("conda_channel"))));
        }
        if self.conda_channel.is_some() && self.index_url.is_some() {
            return Err(SyncError::Invalid(format!("{} and {} exclude each other", name("conda_channel"), name("index_url"))));
        }
        Ok(SyncOptions {
            index_url: self.index_url.clone(),
            projects: self.projects.clone(),
            projects_file: self.projects_file.clone(),
            all: self.all,
            lock: self.lock.clone(),
            since: date(self.since.as_deref(), "since", name)?,
            until: date(self.until.as_deref(), "until", name)?,
            latest: self.latest,
            types,
            exclude: self.exclude.clone(),
            max_file_size: self.max_file_size,
            only_pure_wheels: self.only_pure_wheels,
            platforms: self.platforms.clone(),
            include_yanked: self.include_yanked,
            jobs: self.jobs,
            dry_run: self.dry_run,
            keep_archives: self.keep_archives.clone(),
            conda_channel: self.conda_channel.clone(),
            conda_subdirs: self.subdirs.clone(),
            client: ClientOptions { timeout: std::time::Duration::from_secs(self.timeout.max(1)), retries: self.retries, ..Default::default() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(f: &str) -> String {
        format!("{f}=")
    }

    #[test]
    fn sync_options_are_checked_and_named() {
        let spec: SyncSpec = serde_json::from_str(r#"{"projects": ["a"], "types": ["sdist", "wheel"], "since": "2024-01-01"}"#).expect("parses");
        let o = spec.build(&flag).expect("valid");
        assert_eq!((o.projects, o.types, o.since, o.jobs), (vec!["a".to_string()], vec![DistType::Sdist, DistType::Wheel], Some(1_704_067_200_000_000), DEFAULT_SYNC_JOBS));
        let bad = |json: &str| serde_json::from_str::<SyncSpec>(json).expect("parses").build(&flag).unwrap_err().to_string();
        assert_eq!(bad(r#"{"types": ["rpm"]}"#), r#"types=: unknown type "rpm" (sdist, wheel, egg, conda)"#);
        assert!(bad(r#"{"until": "soon"}"#).starts_with("until=: "));
        assert_eq!(bad(r#"{"subdirs": ["noarch"]}"#), "subdirs= needs conda_channel=");
        assert_eq!(bad(r#"{"conda_channel": "http://c.test/", "index_url": "http://i.test/"}"#), "conda_channel= and index_url= exclude each other");
        assert!(serde_json::from_str::<SyncSpec>(r#"{"project": ["a"]}"#).is_err(), "unknown fields are refused");
    }
}
