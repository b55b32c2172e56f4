//! Opening a corpus folder: layout, the writer lock, and recovery after a crash.

use crate::{Config, CoreError, State, manifest::Manifest, sync_dir};
use pycorpus_catalog::{DistRecord, Release, read_releases};
use pycorpus_store::{Journal, JournalCommit};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// How a corpus is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Queries only; never blocks on a writer and never changes a file.
    Read,
    /// Ingest and seal: takes the corpus's exclusive lock and repairs what a crash left.
    Write,
}

/// Whether a shard is sealed or still being filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardKind {
    /// Immutable, with a manifest.
    Sealed,
    /// An append-only journal (`<NNNNNN>.open/journal.log`).
    Open,
}

/// A shard folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    /// Its number (py-code.org's `repository`).
    pub number: u32,
    /// Sealed or open.
    pub kind: ShardKind,
    /// Its folder.
    pub dir: PathBuf,
}

/// An open corpus folder.
pub struct Corpus {
    pub(crate) root: PathBuf,
    pub(crate) config: Config,
    pub(crate) state: Option<State>,
    _lock: Option<File>,
}

/// Name of a shard folder.
pub(crate) fn shard_name(n: u32) -> String {
    format!("{n:06}")
}

impl Corpus {
    /// Creates a corpus in `root` (the folder may exist; an existing corpus is opened as is).
    pub fn init(root: &Path) -> Result<Corpus, CoreError> {
        fs::create_dir_all(root.join("shards")).map_err(|e| CoreError::io(root, e))?;
        let cfg = root.join("corpus.toml");
        if !cfg.exists() {
            crate::write_atomic(&cfg, Config::template().as_bytes())?;
        }
        Corpus::open(root, Access::Write)
    }

    /// Opens an existing corpus.
    pub fn open(root: &Path, access: Access) -> Result<Corpus, CoreError> {
        let cfg_path = root.join("corpus.toml");
        if !cfg_path.is_file() {
            return Err(CoreError::NotACorpus(root.to_path_buf()));
        }
        let text = fs::read_to_string(&cfg_path).map_err(|e| CoreError::io(&cfg_path, e))?;
        let config: Config = toml::from_str(&text).map_err(|e| CoreError::Config { path: cfg_path.clone(), message: e.to_string() })?;
        if !(1..=crate::MANIFEST_VERSION).contains(&config.shard_format) {
            return Err(CoreError::Config { path: cfg_path, message: format!("shard_format = {}: this version writes shard formats 1, 2 and 3", config.shard_format) });
        }
        let mut corpus = Corpus { root: root.to_path_buf(), config, state: None, _lock: None };
        if access == Access::Write {
            let lock_path = root.join(".lock");
            let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| CoreError::io(&lock_path, e))?;
            match lock.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Err(CoreError::Busy(root.to_path_buf())),
                Err(std::fs::TryLockError::Error(e)) => return Err(CoreError::io(&lock_path, e)),
            }
            corpus._lock = Some(lock);
            fs::create_dir_all(corpus.shards_dir()).map_err(|e| CoreError::io(root, e))?;
            corpus.state = Some(State::open(&root.join("state.sqlite"))?);
            corpus.recover()?;
        }
        Ok(corpus)
    }

    /// The corpus folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where commands spill sorted runs and sets that outgrow their memory budget.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// A set of blob ids (or other hashes) that keeps a 64th of `memory_budget_bytes` in
    /// memory and spills sorted tables under [`Corpus::tmp_dir`] beyond it: the sets that
    /// grow with the corpus (blobs visited, blobs analysed) hold no more than that.
    pub fn key_set<const N: usize>(&self) -> pycorpus_spill::KeySet<N> {
        pycorpus_spill::KeySet::new(&self.tmp_dir(), self.config.key_set_budget())
    }

    /// Counts of blob ids in the same budget as [`Corpus::key_set`].
    pub fn key_counts<const N: usize>(&self) -> pycorpus_spill::KeyCounts<N> {
        pycorpus_spill::KeyCounts::new(&self.tmp_dir(), self.config.key_set_budget())
    }

    pub(crate) fn shards_dir(&self) -> PathBuf {
        self.root.join("shards")
    }

    /// The log of what `sync` selected, fetched and failed, in the state database (a corpus
    /// opened for writing).
    pub fn sync_log(&mut self) -> Result<crate::SyncLog, CoreError> {
        self.state_mut()?; // the log's tables exist once the state is open
        crate::SyncLog::open(&self.root.join("state.sqlite"))
    }

    pub(crate) fn state_mut(&mut self) -> Result<&mut State, CoreError> {
        self.state.as_mut().ok_or_else(|| CoreError::Invalid("the corpus was opened read-only".into()))
    }

    /// Every shard, sealed and open, by number. A number that is both sealed and open (a
    /// crash between the seal's rename and the journal's removal) is listed as sealed only.
    pub fn shards(&self) -> Result<Vec<ShardInfo>, CoreError> {
        let dir = self.shards_dir();
        let mut out: Vec<ShardInfo> = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(CoreError::io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| CoreError::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let (num, kind) = match name.strip_suffix(".open") {
                Some(n) => (n, ShardKind::Open),
                None => (name.as_str(), ShardKind::Sealed),
            };
            if num.len() != 6 || !num.bytes().all(|b| b.is_ascii_digit()) {
                continue; // `.sealing` folders and anything foreign
            }
            let number: u32 = num.parse().expect("six digits");
            out.push(ShardInfo { number, kind, dir: entry.path() });
        }
        out.sort_by_key(|s| (s.number, s.kind == ShardKind::Open));
        out.dedup_by_key(|s| s.number);
        Ok(out)
    }

    /// The open shard, if one exists.
    pub(crate) fn open_shard(&self) -> Result<Option<ShardInfo>, CoreError> {
        Ok(self.shards()?.into_iter().find(|s| s.kind == ShardKind::Open))
    }

    /// Finishes or undoes what an interrupted run left, and brings `state.sqlite` in line
    /// with the shards.
    fn recover(&mut self) -> Result<(), CoreError> {
        crate::upgrade::remove_leftover(&self.root)?;
        let dir = self.shards_dir();
        for entry in fs::read_dir(&dir).map_err(|e| CoreError::io(&dir, e))? {
            let path = entry.map_err(|e| CoreError::io(&dir, e))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.ends_with(".sealing") {
                // A seal that did not finish: its journal is intact; the seal runs again later.
                tracing::info!("removing unfinished seal {}", path.display());
                fs::remove_dir_all(&path).map_err(|e| CoreError::io(&path, e))?;
            } else if let Some(num) = name.strip_suffix(".open")
                && dir.join(num).join("manifest.json").is_file()
            {
                // Sealed, but the journal was not yet removed.
                fs::remove_dir_all(&path).map_err(|e| CoreError::io(&path, e))?;
            }
        }
        sync_dir(&dir)?;
        self.reconcile_state()?;
        self.update_blob_index()
    }

    /// Makes `state.sqlite` agree with the shards: the open shard's rows are rebuilt from its
    /// journal; a sealed shard whose row count differs is reloaded from `releases.parquet`.
    fn reconcile_state(&mut self) -> Result<(), CoreError> {
        let shards = self.shards()?;
        let numbers: Vec<u32> = shards.iter().map(|s| s.number).collect();
        let state = self.state.as_mut().expect("write access");
        state.retain_shards(&numbers)?;
        for s in &shards {
            match s.kind {
                ShardKind::Open => {
                    let Some((journal, rec)) = read_journal(&s.dir)? else {
                        state.replace_shard(s.number, std::iter::empty::<Result<Release, CoreError>>())?;
                        continue;
                    };
                    state.replace_shard(s.number, rec.commits.iter().map(|c| journal_release(s.number, &journal, c)))?;
                }
                ShardKind::Sealed => {
                    let Ok(m) = read_manifest(&s.dir) else { continue };
                    if state.count_shard(s.number)? != m.distributions {
                        let rels = read_releases(&s.dir.join("releases.parquet"))?;
                        state.replace_shard(s.number, rels.iter().map(Ok))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Opens an open shard's journal for reading. `None` when the shard is still empty: a crash
/// can leave the folder without `journal.log`, or with only part of its header.
pub(crate) fn read_journal(dir: &Path) -> Result<Option<(Journal, pycorpus_store::Recovery)>, CoreError> {
    let path = dir.join("journal.log");
    match fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CoreError::io(&path, e)),
        Ok(m) if m.len() < pycorpus_store::JOURNAL_MAGIC.len() as u64 => return Ok(None),
        Ok(_) => {}
    }
    Ok(Some(Journal::open_read_only(&path)?))
}

/// Reads and parses a journal's commit records one at a time, so that a reader of a full
/// open shard holds one distribution's rows, not the shard's.
pub(crate) fn journal_records<'a>(shard: u32, journal: &'a Journal, commits: &'a [JournalCommit]) -> impl Iterator<Item = Result<DistRecord, CoreError>> + 'a {
    commits.iter().map(move |c| journal_record(shard, journal, c))
}

/// Reads and parses one commit record.
pub(crate) fn journal_record(shard: u32, journal: &Journal, commit: &JournalCommit) -> Result<DistRecord, CoreError> {
    decode_commit(shard, &journal.read_commit(commit)?)
}

/// Reads one commit record's distribution only: its file rows are parsed past, not built.
pub(crate) fn journal_release(shard: u32, journal: &Journal, commit: &JournalCommit) -> Result<Release, CoreError> {
    #[derive(serde::Deserialize)]
    struct ReleaseOnly {
        release: Release,
    }
    decode_commit::<ReleaseOnly>(shard, &journal.read_commit(commit)?).map(|r| r.release)
}

fn decode_commit<T: serde::de::DeserializeOwned>(shard: u32, payload: &[u8]) -> Result<T, CoreError> {
    serde_json::from_slice(payload).map_err(|e| CoreError::Corrupt { shard, message: format!("unreadable commit record: {e}") })
}

/// Reads a sealed shard's manifest.
pub(crate) fn read_manifest(dir: &Path) -> Result<Manifest, CoreError> {
    let p = dir.join("manifest.json");
    let data = fs::read(&p).map_err(|e| CoreError::io(&p, e))?;
    serde_json::from_slice(&data).map_err(|e| CoreError::Corrupt { shard: 0, message: format!("{}: {e}", p.display()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_writer_at_a_time_readers_never_block() {
        let dir = tempfile::tempdir().expect("tmp");
        let writer = Corpus::init(dir.path()).expect("init");
        match Corpus::open(dir.path(), Access::Write) {
            Err(CoreError::Busy(p)) => assert_eq!(p, dir.path()),
            other => panic!("a second writer must be refused, got {:?}", other.map(|_| ())),
        }
        assert!(Corpus::open(dir.path(), Access::Read).is_ok(), "readers do not wait for the writer");
        drop(writer);
        assert!(Corpus::open(dir.path(), Access::Write).is_ok(), "the lock goes with the writer");
        assert!(matches!(Corpus::open(&dir.path().join("nope"), Access::Read), Err(CoreError::NotACorpus(_))));
    }
}
