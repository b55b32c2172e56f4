//! `manifest.json` of a sealed shard: what it holds and the sha256 of each of its files.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Value of [`Manifest::format`].
pub const MANIFEST_FORMAT: &str = "pycorpus-shard";
/// Value of [`Manifest::format_version`] written by this version.
pub const MANIFEST_VERSION: u32 = 3;

/// Size and sha256 of one shard file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Bytes.
    pub size: u64,
    /// sha256, hex.
    pub sha256: String,
}

/// A sealed shard's description. It holds no timestamp of its own making, so that the same
/// inputs give a byte-identical shard (and the same torrent info-hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Format version.
    pub format_version: u32,
    /// Shard number.
    pub shard: u32,
    /// Distribution files (ok and failed).
    pub distributions: u64,
    /// Of which failed.
    pub failed_distributions: u64,
    /// Rows of `files.parquet`.
    pub files: u64,
    /// Rows whose contents are stored.
    pub stored_files: u64,
    /// Unique blobs in the pack.
    pub unique_blobs: u64,
    /// Format 2: blobs this shard's rows use that earlier shards store (not in its pack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign_blobs: Option<u64>,
    /// Format 2: the shards storing them, by number (a reader needs them beside this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<u32>>,
    /// Format 2: the info-hash of each of those shards (six-digit name -> hex), as
    /// `torrent create` makes it, so that they can be fetched by hash (`get --with-deps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on_info_hash: Option<BTreeMap<String, String>>,
    /// Their total size.
    pub blob_bytes: u64,
    /// Total size of every indexed file (before dedup, skipped ones included).
    pub original_bytes: u64,
    /// Size of `blobs.pack`.
    pub pack_bytes: u64,
    /// Earliest upload (RFC 3339), if any distribution.
    pub first_upload: Option<String>,
    /// Latest upload.
    pub last_upload: Option<String>,
    /// zstd level of the pack.
    pub pack_level: i32,
    /// Frame size target of the pack.
    pub pack_frame_bytes: u64,
    /// Every other file of the shard folder.
    pub files_sha256: BTreeMap<String, FileDigest>,
}

/// The files a sealed shard folder holds besides `manifest.json`.
pub const SHARD_FILES: [&str; 4] = ["blobs.pack", "blobs.idx", "files.parquet", "releases.parquet"];

/// Files a shard has when it was sealed by a version that writes them (listed in the
/// manifest, and so verified, when present).
pub const OPTIONAL_SHARD_FILES: [&str; 6] = ["grams.idx", "postings.idx", "rows.idx", "requirements.parquet", "entry_points.parquet", "import_names.parquet"];

#[cfg(test)]
mod tests {
    #[test]
    fn the_dependency_tables_are_listed_when_present() {
        for f in pycorpus_catalog::DEPS_FILES {
            assert!(super::OPTIONAL_SHARD_FILES.contains(&f), "{f}");
        }
    }
}
