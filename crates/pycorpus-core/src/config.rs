//! `corpus.toml`: the settings of one corpus, with defaults for everything.

use pycorpus_archive::Limits;
use serde::{Deserialize, Serialize};

/// Settings stored in `<corpus>/corpus.toml`. Unknown keys are rejected so that typos show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The package index to mirror from (`sync`); empty means pip's configuration decides.
    pub index_url: Option<String>,
    /// A shard is sealed once its unique blob bytes reach this. Default 2 GiB.
    pub shard_capacity_bytes: u64,
    /// ... or once it indexes this many files. Default 4,000,000.
    pub shard_capacity_files: u64,
    /// zstd level of sealed packs. Default 10.
    pub pack_level: i32,
    /// Uncompressed bytes per pack frame. Default 6 MiB (a read decodes half a frame on
    /// average: smaller reads faster, larger packs tighter). A selective search decodes the
    /// frames of its candidates up to the last one: on corpus-v1, 1 MiB frames made the shard
    /// 10.7 % larger and such searches twice as fast (`frobnicate` 49 -> 24 ms, `sklearn\.ensemble`
    /// 80 -> 40 ms; BENCHMARKS.md): worth it for a corpus served to people searching it.
    pub pack_frame_bytes: u64,
    /// Sync the journal to disk at every distribution (survives power loss, not only crashes).
    pub durable: bool,
    /// Memory that commands whose work grows with the selection (export, report, lock) hold
    /// before they spill sorted runs to `<corpus>/tmp/` or their output's temporary folder.
    /// Default 1 GiB. Their peak is this plus fixed costs (threads, decoded frames).
    pub memory_budget_bytes: u64,
    /// Format of the shards sealed from now on: 3 (default) packs only the blobs no earlier
    /// shard stores, so each blob is stored once per corpus, and a new version of a file
    /// stored earlier as a delta of it; 2 the same without deltas (readable by pycorpus before
    /// deltas); 1 packs every blob of the shard's rows (a shard that stands alone, readable by
    /// pycorpus before shards-v2).
    pub shard_format: u32,
    /// Archive limits.
    pub limits: LimitsConfig,
}

/// [`Limits`] as written in `corpus.toml` (`[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// See [`Limits::max_entries`].
    pub max_entries: u64,
    /// See [`Limits::max_entry_size`].
    pub max_entry_bytes: u64,
    /// See [`Limits::max_total_size`].
    pub max_total_bytes: u64,
    /// See [`Limits::max_ratio`].
    pub max_ratio: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        LimitsConfig { max_entries: l.max_entries, max_entry_bytes: l.max_entry_size, max_total_bytes: l.max_total_size, max_ratio: l.max_ratio }
    }
}

impl From<LimitsConfig> for Limits {
    fn from(c: LimitsConfig) -> Limits {
        Limits { max_entries: c.max_entries, max_entry_size: c.max_entry_bytes, max_total_size: c.max_total_bytes, max_ratio: c.max_ratio, ..Limits::default() }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            index_url: None,
            shard_capacity_bytes: 2 << 30,
            shard_capacity_files: 4_000_000,
            pack_level: 10,
            pack_frame_bytes: 6 << 20,
            durable: true,
            memory_budget_bytes: 1 << 30,
            shard_format: 3,
            limits: LimitsConfig::default(),
        }
    }
}

impl Config {
    /// The share of the memory budget a growing set of blob ids may hold (see
    /// [`crate::Corpus::key_set`]): small, because lookups in its spilled tables are cheap.
    pub fn key_set_budget(&self) -> usize {
        usize::try_from(self.memory_budget_bytes / 64).unwrap_or(usize::MAX)
    }

    /// The text written by `init`: every setting with its default, commented.
    pub fn template() -> String {
        let d = Config::default();
        format!(
            "# pycorpus corpus settings. Every key is optional; shown here with its default.\n\
             # index_url = \"https://my-mirror.example/simple/\"   # else PIP_INDEX_URL, pip.conf, pip's default\n\
             shard_capacity_bytes = {}   # seal a shard at this many unique blob bytes\n\
             shard_capacity_files = {}\n\
             pack_level = {}             # zstd level of sealed packs (1-22)\n\
             pack_frame_bytes = {}   # bytes per zstd frame; larger packs tighter, reads slower\n\
             durable = {}             # fsync the journal after every distribution\n\
             memory_budget_bytes = {}   # export, report, lock: held in memory before sorted runs spill to disk\n\
             shard_format = {}             # 3: each blob stored once per corpus, new versions as deltas; 2: no deltas; 1: every shard stands alone\n\n\
             [limits]                   # per archive; a distribution over a limit is recorded as failed\n\
             max_entries = {}\n\
             max_entry_bytes = {}\n\
             max_total_bytes = {}\n\
             max_ratio = {}              # decompressed / compressed\n",
            d.shard_capacity_bytes,
            d.shard_capacity_files,
            d.pack_level,
            d.pack_frame_bytes,
            d.durable,
            d.memory_budget_bytes,
            d.shard_format,
            d.limits.max_entries,
            d.limits.max_entry_bytes,
            d.limits.max_total_bytes,
            d.limits.max_ratio
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_to_defaults() {
        let c: Config = toml::from_str(&Config::template()).expect("template parses");
        assert_eq!(c, Config::default());
        assert!(toml::from_str::<Config>("shard_capacity = 1").is_err(), "typos are rejected");
    }
}
