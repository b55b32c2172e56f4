//! `state.sqlite`: what the corpus holds, for fast "have we got this file?" questions.
//!
//! The shards are the truth; this database is derived from them and repaired from them when
//! it disagrees (see `Corpus::reconcile`). `sync` adds its own tables here (serials, queues).

use crate::CoreError;
use pycorpus_catalog::Release;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

/// The state database.
pub struct State {
    conn: Connection,
}

/// A distribution's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDist {
    /// Shard holding it.
    pub shard: u32,
    /// `ok` or `failed`.
    pub status: String,
}

/// Opens a connection to `state.sqlite` (every writer's and sync's), with its settings: waits
/// for other connections' writes, and a page cache of 512 KiB instead of SQLite's 2 MiB, as
/// a command holds three and their lookups are index seeks served as well by the OS's cache.
pub(crate) fn connect(path: &Path) -> Result<Connection, CoreError> {
    let conn = Connection::open(path).map_err(|e| CoreError::state(path, e))?;
    conn.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA cache_size = -512;").map_err(|e| CoreError::state(path, e))?;
    Ok(conn)
}

impl State {
    /// Opens or creates the database.
    pub fn open(path: &Path) -> Result<State, CoreError> {
        let conn = connect(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS distributions (
                 sha256      TEXT PRIMARY KEY,
                 file_name   TEXT NOT NULL,
                 project     TEXT NOT NULL,
                 version     TEXT NOT NULL,
                 dist_type   TEXT NOT NULL,
                 size        INTEGER NOT NULL,
                 uploaded_on INTEGER NOT NULL,
                 shard       INTEGER NOT NULL,
                 status      TEXT NOT NULL,
                 error       TEXT
             );
             CREATE INDEX IF NOT EXISTS distributions_project ON distributions(project, version);
             CREATE INDEX IF NOT EXISTS distributions_shard ON distributions(shard);
             CREATE INDEX IF NOT EXISTS distributions_name ON distributions(file_name);
             CREATE TABLE IF NOT EXISTS projects (
                 name        TEXT PRIMARY KEY,
                 last_serial INTEGER NOT NULL,
                 selection   TEXT NOT NULL,
                 synced_at   INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS sync_files (
                 file_name   TEXT PRIMARY KEY,
                 project     TEXT NOT NULL,
                 version     TEXT NOT NULL,
                 url         TEXT NOT NULL,
                 sha256      TEXT,
                 size        INTEGER,
                 upload_time INTEGER,
                 status      TEXT NOT NULL,
                 reason      TEXT,
                 attempts    INTEGER NOT NULL DEFAULT 0,
                 updated_at  INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS sync_files_status ON sync_files(status);",
        )
        .map_err(|e| CoreError::state(path, e))?;
        Ok(State { conn })
    }

    /// Looks a distribution up by sha256.
    pub fn get(&self, sha256: &str) -> Result<Option<KnownDist>, CoreError> {
        self.conn.query_row("SELECT shard, status FROM distributions WHERE sha256 = ?1", [sha256], |r| Ok(KnownDist { shard: r.get(0)?, status: r.get(1)? })).optional().map_err(CoreError::sql)
    }

    /// Records distributions (replacing earlier rows with the same sha256).
    pub fn put(&mut self, rels: &[Release]) -> Result<(), CoreError> {
        let tx = self.conn.transaction().map_err(CoreError::sql)?;
        insert(&tx, rels.iter().map(Ok))?;
        tx.commit().map_err(CoreError::sql)
    }

    /// Replaces every row of `shard` with `rels`, in one transaction; `rels` are read as they
    /// come (an open shard's, straight from its journal).
    /// Losing rows forgets the project serials (see [`State::retain_shards`]).
    pub fn replace_shard<R: std::borrow::Borrow<Release>>(&mut self, shard: u32, rels: impl IntoIterator<Item = Result<R, CoreError>>) -> Result<(), CoreError> {
        let tx = self.conn.transaction().map_err(CoreError::sql)?;
        let gone = tx.execute("DELETE FROM distributions WHERE shard = ?1", [shard]).map_err(CoreError::sql)?;
        let put = insert(&tx, rels)?;
        if gone > put {
            tx.execute("DELETE FROM projects", []).map_err(CoreError::sql)?;
        }
        tx.commit().map_err(CoreError::sql)
    }

    /// Number of rows of `shard`.
    pub fn count_shard(&self, shard: u32) -> Result<u64, CoreError> {
        self.conn.query_row("SELECT COUNT(*) FROM distributions WHERE shard = ?1", [shard], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(CoreError::sql)
    }

    /// Removes rows of shards not in `shards`. When that loses anything, the per-project
    /// serials no longer describe what the corpus holds: they are forgotten, so the next sync
    /// lists every project again.
    /// Runs at every opening for writing, so it walks the shard index a shard at a time
    /// (one seek each) instead of scanning every distribution of the corpus.
    pub fn retain_shards(&mut self, shards: &[u32]) -> Result<(), CoreError> {
        let keep: std::collections::HashSet<u32> = shards.iter().copied().collect();
        let (mut gone, mut after) = (0, -1i64);
        while let Some(n) = self.conn.query_row("SELECT shard FROM distributions WHERE shard > ?1 ORDER BY shard LIMIT 1", [after], |r| r.get::<_, i64>(0)).optional().map_err(CoreError::sql)? {
            if !u32::try_from(n).is_ok_and(|n| keep.contains(&n)) {
                gone += self.conn.execute("DELETE FROM distributions WHERE shard = ?1", [n]).map_err(CoreError::sql)?;
            }
            after = n;
        }
        if gone > 0 {
            self.conn.execute("DELETE FROM projects", []).map_err(CoreError::sql)?;
        }
        Ok(())
    }
}

/// Inserts (or replaces) rows; returns how many.
fn insert<R: std::borrow::Borrow<Release>>(tx: &rusqlite::Transaction<'_>, rels: impl IntoIterator<Item = Result<R, CoreError>>) -> Result<usize, CoreError> {
    let mut st = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO distributions (sha256, file_name, project, version, dist_type, size, uploaded_on, shard, status, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(CoreError::sql)?;
    let mut n = 0;
    for r in rels {
        let r = r?;
        let r = r.borrow();
        st.execute(params![r.dist_sha256, r.project_release, r.project_name, r.project_version, r.dist_type.as_str(), r.dist_size as i64, r.uploaded_on, r.repository, r.status.as_str(), r.error])
            .map_err(CoreError::sql)?;
        n += 1;
    }
    Ok(n)
}

/// "Does the corpus hold this distribution?", asked of `state.sqlite` on a connection of its
/// own (ingest workers and sync's planner ask while the writer commits): an indexed lookup
/// per question, so nothing the size of the corpus is held in memory.
pub struct Holdings {
    conn: std::sync::Mutex<Connection>,
    /// The two lookups (by sha256, by file name), counting only distributions read to their
    /// end when failed ones are to be read again.
    by_sha: &'static str,
    by_name: &'static str,
}

impl Holdings {
    /// Opens the state database of a corpus opened for writing.
    pub fn open(path: &Path, ok_only: bool) -> Result<Holdings, CoreError> {
        let conn = connect(path)?;
        let (by_sha, by_name) = if ok_only {
            ("SELECT 1 FROM distributions WHERE sha256 = ?1 AND status = 'ok'", "SELECT 1 FROM distributions WHERE file_name = ?1 AND status = 'ok'")
        } else {
            ("SELECT 1 FROM distributions WHERE sha256 = ?1", "SELECT 1 FROM distributions WHERE file_name = ?1")
        };
        Ok(Holdings { conn: std::sync::Mutex::new(conn), by_sha, by_name })
    }

    /// By sha256 (hex, any case) when known, else by file name (indexes that give no hash).
    pub fn holds(&self, sha256: Option<&str>, file_name: &str) -> Result<bool, CoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let found = match sha256 {
            Some(s) => conn.prepare_cached(self.by_sha).and_then(|mut st| st.query_row([s.to_ascii_lowercase()], |_| Ok(())).optional()),
            None => conn.prepare_cached(self.by_name).and_then(|mut st| st.query_row([file_name], |_| Ok(())).optional()),
        };
        found.map(|r| r.is_some()).map_err(CoreError::sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(sha: &str, shard: u32) -> Release {
        serde_json::from_value(serde_json::json!({
            "project_name": "p", "project_version": "1", "project_release": format!("p-{sha}.tar.gz"), "dist_type": "sdist",
            "dist_sha256": sha, "dist_size": 1, "uploaded_on": 0, "repository": shard, "status": "ok", "file_count": 0,
        }))
        .expect("release")
    }

    fn shards(s: &State) -> Vec<(u32, i64)> {
        let mut st = s.conn.prepare("SELECT shard, COUNT(*) FROM distributions GROUP BY shard ORDER BY shard").expect("prepare");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").collect::<Result<_, _>>().expect("rows")
    }

    #[test]
    fn rows_of_shards_gone_are_dropped_and_serials_forgotten() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = State::open(&dir.path().join("state.sqlite")).expect("open");
        s.put(&[release("a", 1), release("b", 2), release("c", 2), release("d", 7), release("e", 9)]).expect("put");
        s.conn.execute("INSERT INTO projects VALUES ('p', 5, 'all', 0)", []).expect("serial");
        s.retain_shards(&[1, 2, 7, 9, 10]).expect("retain all");
        assert_eq!(shards(&s), vec![(1, 1), (2, 2), (7, 1), (9, 1)]);
        assert_eq!(s.count_shard(2).expect("count"), 2);
        assert!(s.conn.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get::<_, i64>(0)).expect("n") == 1, "nothing lost, serials kept");
        s.retain_shards(&[1, 9]).expect("retain");
        assert_eq!(shards(&s), vec![(1, 1), (9, 1)]);
        assert!(s.conn.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get::<_, i64>(0)).expect("n") == 0, "serials forgotten");
        // an open shard's rows replaced from a stream; fewer rows than before forget serials too
        s.conn.execute("INSERT INTO projects VALUES ('p', 5, 'all', 0)", []).expect("serial");
        s.replace_shard(9, [release("e", 9), release("f", 9)].into_iter().map(Ok)).expect("replace");
        assert_eq!(shards(&s), vec![(1, 1), (9, 2)]);
        assert!(s.conn.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get::<_, i64>(0)).expect("n") == 1);
        let failed = s.replace_shard(9, [Ok(release("g", 9)), Err(CoreError::Invalid("torn".into()))]);
        assert!(failed.is_err());
        assert_eq!(shards(&s), vec![(1, 1), (9, 2)], "a failed replacement changes nothing");
        s.replace_shard(9, std::iter::empty::<Result<Release, CoreError>>()).expect("empty");
        assert_eq!(shards(&s), vec![(1, 1)]);
        assert!(s.conn.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get::<_, i64>(0)).expect("n") == 0);
    }
}
