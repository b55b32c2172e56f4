//! What `sync` keeps between runs in `state.sqlite`: each file's progress (queued →
//! downloaded → ingested, or failed with its reason) and each project's last serial with the
//! selection it was synced under.
//!
//! It has its own connection, so download threads can record progress while the ingest holds
//! the corpus. The shards stay the truth: a file counts as held when `distributions` has its
//! sha256, whatever this log says, so a crash between the two never loses or repeats work.

use crate::sync::PlannedFile;
use crate::CoreError;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

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

fn now() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

impl SyncLog {
    /// Opens the log of a corpus opened for writing (its tables exist: `State::open` made them).
    pub fn open(path: &Path) -> Result<SyncLog, CoreError> {
        let conn = Connection::open(path).map_err(|e| CoreError::state(path, e))?;
        conn.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;").map_err(|e| CoreError::state(path, e))?;
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
            c.execute(
                "UPDATE sync_files SET status = ?2, reason = ?3, attempts = attempts + ?4, updated_at = ?5 WHERE file_name = ?1",
                params![file_name, status.as_str(), reason, attempt, now()],
            )
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

    /// Projects with work left: files queued, downloaded but not ingested, or failed to fetch.
    pub fn unfinished_projects(&self) -> Result<std::collections::HashSet<String>, CoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT DISTINCT project FROM sync_files s WHERE s.status IN ('queued', 'downloaded')
                    OR (s.status = 'failed' AND NOT EXISTS (SELECT 1 FROM distributions d WHERE d.file_name = s.file_name))",
            )?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
    }

    /// Each project's last serial and the selection key it was synced under.
    pub fn serials(&self) -> Result<HashMap<String, (u64, String)>, CoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT name, last_serial, selection FROM projects")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get::<_, i64>(1)? as u64, r.get::<_, String>(2)?))))?;
            rows.collect()
        })
    }

    /// Records projects fully synced at `serial` under `selection`.
    pub fn put_serials(&self, serials: &[(String, u64)], selection: &str) -> Result<(), CoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached("INSERT OR REPLACE INTO projects (name, last_serial, selection, synced_at) VALUES (?1, ?2, ?3, ?4)")?;
                let t = now();
                for (name, serial) in serials {
                    st.execute(params![name, *serial as i64, selection, t])?;
                }
            }
            tx.commit()
        })
    }

    /// A summary for `status`; `None` when the corpus has no state database (never opened
    /// for writing). Opens read-only, so it works beside a running sync.
    pub fn read_state(path: &Path) -> Result<Option<SyncState>, CoreError> {
        if !path.is_file() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| CoreError::state(path, e))?;
        let has_table = conn
            .query_row("SELECT 1 FROM sqlite_master WHERE name = 'sync_files'", [], |_| Ok(()))
            .optional()
            .map_err(CoreError::sql)?
            .is_some();
        if !has_table {
            return Ok(None);
        }
        let mut out = SyncState::default();
        let mut st = conn.prepare("SELECT status, COUNT(*) FROM sync_files GROUP BY status").map_err(CoreError::sql)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))).map_err(CoreError::sql)?;
        out.files = rows.collect::<Result<_, _>>().map_err(CoreError::sql)?;
        out.projects_with_serial = conn.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get::<_, i64>(0)).map_err(CoreError::sql)? as u64;
        let mut st = conn
            .prepare("SELECT project, file_name, COALESCE(reason, ''), attempts FROM sync_files WHERE status = 'failed' ORDER BY updated_at DESC LIMIT 20")
            .map_err(CoreError::sql)?;
        let rows = st
            .query_map([], |r| Ok(FailedFile { project: r.get(0)?, file_name: r.get(1)?, reason: r.get(2)?, attempts: r.get::<_, i64>(3)? as u64 }))
            .map_err(CoreError::sql)?;
        out.failed = rows.collect::<Result<_, _>>().map_err(CoreError::sql)?;
        Ok(Some(out))
    }
}
