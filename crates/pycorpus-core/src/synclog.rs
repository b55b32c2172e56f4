//! What `sync` keeps between runs in `state.sqlite`: each file's progress (queued →
//! downloaded → ingested, or failed with its reason) and each project's last serial with the
//! selection it was synced under.
//!
//! It has its own connection, so download threads can record progress while the ingest holds
//! the corpus. The shards stay the truth: a file counts as held when `distributions` has its
//! sha256, whatever this log says, so a crash between the two never loses or repeats work.

use crate::{CoreError, IndexMeta};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// One file the plan will fetch.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    /// Normalised project.
    pub project: String,
    /// Version.
    pub version: String,
    /// File name.
    pub filename: String,
    /// Absolute URL.
    pub url: String,
    /// sha256 from the index.
    pub sha256: Option<String>,
    /// Size from the index.
    pub size: Option<u64>,
    /// Upload time (µs).
    pub upload_time: Option<i64>,
    /// Release metadata from the index.
    #[serde(skip)]
    pub meta: IndexMeta,
}

/// Progress of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Planned, not yet fetched.
    Queued,
    /// Fetched and verified, waiting for the ingest.
    Downloaded,
    /// Read into the corpus.
    Ingested,
    /// Could not be fetched, did not verify, or could not be read.
    Failed,
}

impl FileStatus {
    fn as_str(self) -> &'static str {
        match self {
            FileStatus::Queued => "queued",
            FileStatus::Downloaded => "downloaded",
            FileStatus::Ingested => "ingested",
            FileStatus::Failed => "failed",
        }
    }
}

/// A file that failed, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct FailedFile {
    /// Project.
    pub project: String,
    /// File name.
    pub file_name: String,
    /// Why.
    pub reason: String,
    /// Attempts so far.
    pub attempts: u64,
}

/// What the sync log says, for `status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncState {
    /// Files by status.
    pub files: BTreeMap<String, u64>,
    /// Projects with a recorded serial.
    pub projects_with_serial: u64,
    /// The most recent failures (at most 20).
    pub failed: Vec<FailedFile>,
}

/// The log (see the module docs).
pub struct SyncLog {
    conn: Mutex<Connection>,
}

/// Projects with work left: files queued, downloaded but not ingested, or failed to fetch.
const UNFINISHED: &str = "SELECT DISTINCT project FROM sync_files s WHERE s.status IN ('queued', 'downloaded')
    OR (s.status = 'failed' AND NOT EXISTS (SELECT 1 FROM distributions d WHERE d.file_name = s.file_name))";

fn now() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

impl SyncLog {
    /// Opens the log of a corpus opened for writing (its tables exist: `State::open` made them).
    pub fn open(path: &Path) -> Result<SyncLog, CoreError> {
        let conn = crate::state::connect(path)?;
        // The selection is a temporary table of every project listed (~600k for the whole
        // index); SQLite as built here keeps temporary tables in memory unless told otherwise,
        // and gives the temporary database its own page cache (2 MB unless told otherwise).
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA temp_store = FILE; PRAGMA temp.cache_size = -512;").map_err(|e| CoreError::state(path, e))?;
        Ok(SyncLog { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, CoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(CoreError::sql)
    }

    /// Records the plan: every file queued (a file seen before keeps its attempt count).
    pub fn queue(&self, files: &[PlannedFile]) -> Result<(), CoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO sync_files (file_name, project, version, url, sha256, size, upload_time, status, reason, attempts, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', NULL, 0, ?8)
                     ON CONFLICT(file_name) DO UPDATE SET project = ?2, version = ?3, url = ?4, sha256 = ?5, size = ?6,
                         upload_time = ?7, status = 'queued', updated_at = ?8",
                )?;
                let t = now();
                for f in files {
                    st.execute(params![f.filename, f.project, f.version, f.url, f.sha256, f.size.map(|s| s as i64), f.upload_time, t])?;
                }
            }
            tx.commit()
        })
    }

    /// Moves one file on; a failure counts an attempt and keeps its reason.
    pub fn mark(&self, file_name: &str, status: FileStatus, reason: Option<&str>) -> Result<(), CoreError> {
        let attempt = i64::from(status == FileStatus::Failed);
        self.with(|c| {
            c.execute("UPDATE sync_files SET status = ?2, reason = ?3, attempts = attempts + ?4, updated_at = ?5 WHERE file_name = ?1", params![file_name, status.as_str(), reason, attempt, now()])
        })?;
        Ok(())
    }

    /// After an ingest: files the corpus now holds become `ingested`, or `failed` with the
    /// archive's error when it could not be read.
    /// Matched by sha256, or by file name when the index gave no sha256 (one statement each,
    /// so that each uses its index).
    pub fn settle(&self) -> Result<(), CoreError> {
        self.with(|c| {
            for on in ["d.sha256 = sync_files.sha256", "sync_files.sha256 IS NULL AND d.file_name = sync_files.file_name"] {
                c.execute(
                    &format!(
                        "UPDATE sync_files SET
                             status = CASE d.status WHEN 'ok' THEN 'ingested' ELSE 'failed' END,
                             reason = d.error, updated_at = ?1
                         FROM distributions AS d
                         WHERE sync_files.status IN ('queued', 'downloaded') AND {on}"
                    ),
                    [now()],
                )?;
            }
            Ok(())
        })
    }

    /// Starts a selection: the projects a sync will look at, with the index's serial for each
    /// when its root page gives one, kept on disk (a temporary table of this connection) so
    /// that a sync of the whole index never holds the project list in memory.
    pub fn select_begin(&self) -> Result<(), CoreError> {
        self.with(|c| {
            c.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS sync_select (
                     key TEXT PRIMARY KEY, name TEXT NOT NULL, serial INTEGER, listed_serial INTEGER);
                 CREATE TEMP TABLE IF NOT EXISTS sync_lock (
                     file_name TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (file_name, sha256));
                 DELETE FROM sync_select; DELETE FROM sync_lock;",
            )
        })
    }

    /// Adds projects (name, serial from the index's root) to the selection; a name given twice
    /// keeps the first spelling and the serial of whichever gave one.
    pub fn select(&self, projects: &[(String, Option<u64>)]) -> Result<(), CoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO sync_select (key, name, serial) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET serial = COALESCE(excluded.serial, serial)",
                )?;
                for (name, serial) in projects {
                    st.execute(params![pycorpus_archive::normalize_project(name), name, serial.map(|s| s as i64)])?;
                }
            }
            tx.commit()
        })
    }

    /// Adds exact files of a lock file (file name, lowercase sha256) to the selection.
    pub fn select_files(&self, files: &[(String, String)]) -> Result<(), CoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached("INSERT OR IGNORE INTO sync_lock (file_name, sha256) VALUES (?1, ?2)")?;
                for (name, sha) in files {
                    st.execute(params![name, sha])?;
                }
            }
            tx.commit()
        })
    }

    /// True when a lock file selected this exact file.
    pub fn file_selected(&self, file_name: &str, sha256: &str) -> Result<bool, CoreError> {
        self.with(|c| {
            c.prepare_cached("SELECT 1 FROM sync_lock WHERE file_name = ?1 AND sha256 = ?2")?.query_row(params![file_name, sha256.to_ascii_lowercase()], |_| Ok(())).optional().map(|r| r.is_some())
        })
    }

    /// Projects selected, and of those the ones whose serial is the one they were last
    /// completely synced at under `selection` (`None`: serials not tracked).
    pub fn selected(&self, selection: Option<&str>) -> Result<(u64, u64), CoreError> {
        self.with(|c| {
            let all = c.query_row("SELECT COUNT(*) FROM sync_select", [], |r| r.get::<_, i64>(0))?;
            let same = match selection {
                Some(sel) => c.query_row(
                    "SELECT COUNT(*) FROM sync_select s JOIN projects p ON p.name = s.key
                     WHERE p.last_serial = s.serial AND p.selection = ?1",
                    [sel],
                    |r| r.get::<_, i64>(0),
                )?,
                None => 0,
            };
            Ok((all as u64, same as u64))
        })
    }

    /// The next `limit` selected projects after `after` (by normalised name) as
    /// (key, name, serial), leaving out the unchanged ones when `selection` is given.
    pub fn selected_batch(&self, after: &str, limit: usize, selection: Option<&str>) -> Result<Vec<(String, String, Option<u64>)>, CoreError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT s.key, s.name, s.serial FROM sync_select s
                 WHERE s.key > ?1 AND NOT (?3 IS NOT NULL AND EXISTS (
                     SELECT 1 FROM projects p WHERE p.name = s.key AND p.last_serial = s.serial AND p.selection = ?3))
                 ORDER BY s.key LIMIT ?2",
            )?;
            let rows = st.query_map(params![after, limit as i64, selection], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, Option<i64>>(2)?.map(|s| s as u64))))?;
            rows.collect()
        })
    }

    /// Records the serial each listed project was seen at, to be made its last serial once
    /// the sync completes ([`SyncLog::put_listed_serials`]).
    pub fn set_listed(&self, serials: &[(String, u64)]) -> Result<(), CoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached("UPDATE sync_select SET listed_serial = ?2 WHERE key = ?1")?;
                for (key, serial) in serials {
                    st.execute(params![key, *serial as i64])?;
                }
            }
            tx.commit()
        })
    }

    /// After a complete sync: every listed project with no work left is recorded at the
    /// serial it was listed at, under `selection`.
    pub fn put_listed_serials(&self, selection: &str) -> Result<(), CoreError> {
        self.with(|c| {
            c.execute(
                &format!(
                    "INSERT OR REPLACE INTO projects (name, last_serial, selection, synced_at)
                     SELECT key, listed_serial, ?1, ?2 FROM sync_select
                     WHERE listed_serial IS NOT NULL AND key NOT IN ({UNFINISHED})"
                ),
                params![selection, now()],
            )
        })?;
        Ok(())
    }

    /// A summary for `status`; `None` when the corpus has no state database (never opened
    /// for writing). Opens read-only, so it works beside a running sync.
    pub fn read_state(path: &Path) -> Result<Option<SyncState>, CoreError> {
        if !path.is_file() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| CoreError::state(path, e))?;
        let has_table = conn.query_row("SELECT 1 FROM sqlite_master WHERE name = 'sync_files'", [], |_| Ok(())).optional().map_err(CoreError::sql)?.is_some();
        if !has_table {
            return Ok(None);
        }
        let mut out = SyncState::default();
        let mut st = conn.prepare("SELECT status, COUNT(*) FROM sync_files GROUP BY status").map_err(CoreError::sql)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))).map_err(CoreError::sql)?;
        out.files = rows.collect::<Result<_, _>>().map_err(CoreError::sql)?;
        out.projects_with_serial = conn.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get::<_, i64>(0)).map_err(CoreError::sql)? as u64;
        let mut st = conn.prepare("SELECT project, file_name, COALESCE(reason, ''), attempts FROM sync_files WHERE status = 'failed' ORDER BY updated_at DESC LIMIT 20").map_err(CoreError::sql)?;
        let rows = st.query_map([], |r| Ok(FailedFile { project: r.get(0)?, file_name: r.get(1)?, reason: r.get(2)?, attempts: r.get::<_, i64>(3)? as u64 })).map_err(CoreError::sql)?;
        out.failed = rows.collect::<Result<_, _>>().map_err(CoreError::sql)?;
        Ok(Some(out))
    }
}
