//! The embedded store: one SQLite file in WAL mode.
//!
//! - `writer`: the one thread that writes, in group commits.
//! - `ops`: the write operations it runs; `read`: queries on pooled read-only connections.
//! - `schema`: migrations (`PRAGMA user_version`); `rows`: row ⇄ type mapping.

mod ops;
mod read;
mod rows;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_domain::{CancelReason, Timestamp};
use rusqlite::{Connection, OpenFlags, ffi};

use super::{
    ClaimBatch, ClaimRequest, Completion, Cursor, EventDetail, ExpiredLease, JobDetail, JobFilter,
    JobRecord, Lease, NewEvent, Page, PruneCutoffs, PruneReport, PublishOutcome, Store, StoreError,
    StoreResult,
};
use writer::Writer;

pub use schema::LATEST as SCHEMA_VERSION;

/// How a store is opened.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Apply pending migrations; without it a schema that is behind is an error.
    pub migrate: bool,
}

pub struct SqliteStore {
    writer: Writer,
    readers: Arc<ReadPool>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its parent directory.
    pub async fn open(path: &Path, options: Options) -> StoreResult<SqliteStore> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, options))
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?
    }

    fn open_blocking(path: PathBuf, options: Options) -> StoreResult<SqliteStore> {
        let mut conn = open_writer_connection(&path)?;
        let found = schema_version_known(&conn)?;
        if found < schema::LATEST {
            if !options.migrate {
                return Err(StoreError::NeedsMigration {
                    found,
                    expected: schema::LATEST,
                });
            }
            schema::migrate(&mut conn).map_err(sql_error)?;
        }
        let (writer, _thread) =
            Writer::spawn(conn).map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(SqliteStore {
            writer,
            readers: Arc::new(ReadPool {
                path,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let result = work(&conn);
            readers.put(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))?
    }
}

fn open_writer_connection(path: &Path) -> StoreResult<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    let conn = Connection::open(path).map_err(sql_error)?;
    schema::configure(&conn).map_err(sql_error)?;
    Ok(conn)
}

/// The file's schema version, refused when a newer Ferry wrote it.
fn schema_version_known(conn: &Connection) -> StoreResult<i64> {
    let found = schema::version(conn).map_err(sql_error)?;
    if found > schema::LATEST {
        return Err(StoreError::SchemaTooNew {
            found,
            expected: schema::LATEST,
        });
    }
    Ok(found)
}

/// Applies migrations to the file and returns the version reached.
pub async fn migrate_file(path: &Path) -> StoreResult<i64> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = open_writer_connection(&path)?;
        schema_version_known(&conn)?;
        schema::migrate(&mut conn).map_err(sql_error)
    })
    .await
    .map_err(|e| StoreError::Database(e.to_string()))?
}

/// Idle read-only connections. A handful of lines rather than a pool crate: r2d2 and
/// deadpool adapters pin the rusqlite version, and reads here are short.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

const MAX_IDLE_READERS: usize = 8;

impl ReadPool {
    fn take(&self) -> StoreResult<Connection> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_error)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql_error)?;
        Ok(conn)
    }

    fn put(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// Maps SQLite's errors onto the store's: a full disk or a read-only file means the store
/// cannot take writes (503), anything else is a database error.
pub(crate) fn sql_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(ffi::Error { code, .. }, _) = &e {
        use rusqlite::ErrorCode::*;
        if matches!(code, DiskFull | ReadOnly | CannotOpen | SystemIoFailure) {
            return StoreError::Unavailable(e.to_string());
        }
    }
    if let rusqlite::Error::FromSqlConversionFailure(..) = &e {
        return StoreError::Corrupt(e.to_string());
    }
    StoreError::Database(e.to_string())
}

/// The WHERE clause of a job filter, with numbered parameters appended to `values`.
pub(crate) fn filter_sql(filter: &JobFilter, values: &mut Vec<rusqlite::types::Value>) -> String {
    use rusqlite::types::Value;
    let mut conditions = vec!["1 = 1".to_owned()];
    let mut add = |column: &str, value: Option<String>| {
        if let Some(v) = value {
            values.push(Value::Text(v));
            conditions.push(format!("{column} = ?{}", values.len()));
        }
    };
    add("state", filter.state.map(|s| s.as_str().to_owned()));
    add("client", filter.client.clone());
    add("subscription", filter.subscription.clone());
    add("topic", filter.topic.clone());
    add("key", filter.key.clone());
    conditions.join(" AND ")
}

#[async_trait]
impl Store for SqliteStore {
    async fn publish(
        &self,
        events: Vec<NewEvent>,
        now: Timestamp,
    ) -> StoreResult<Vec<PublishOutcome>> {
        self.writer
            .write(move |conn| ops::publish(conn, &events, now))
            .await
    }

    async fn claim(&self, request: ClaimRequest) -> StoreResult<ClaimBatch> {
        self.writer
            .write(move |conn| ops::claim(conn, &request))
            .await
    }

    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<Vec<bool>> {
        self.writer
            .write(move |conn| ops::complete(conn, &completions))
            .await
    }

    async fn release(&self, leases: Vec<Lease>, now: Timestamp) -> StoreResult<Vec<bool>> {
        self.writer
            .write(move |conn| ops::release(conn, &leases, now))
            .await
    }

    async fn expired_leases(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<ExpiredLease>> {
        self.read(move |conn| read::expired_leases(conn, now, limit))
            .await
    }

    async fn event(&self, id: &str) -> StoreResult<Option<EventDetail>> {
        let id = id.to_owned();
        self.read(move |conn| read::event(conn, &id)).await
    }

    async fn job(&self, id: &str) -> StoreResult<Option<JobDetail>> {
        let id = id.to_owned();
        self.read(move |conn| read::job(conn, &id)).await
    }

    async fn list_jobs(
        &self,
        filter: JobFilter,
        limit: usize,
        after: Option<Cursor>,
    ) -> StoreResult<Page<JobRecord>> {
        self.read(move |conn| read::list_jobs(conn, &filter, limit, after))
            .await
    }

    async fn retry_job(&self, id: &str, now: Timestamp) -> StoreResult<JobRecord> {
        let id = id.to_owned();
        self.writer
            .write(move |conn| ops::retry_job(conn, &id, now))
            .await
    }

    async fn retry_jobs(&self, filter: JobFilter, now: Timestamp) -> StoreResult<u64> {
        // In chunks, each its own write: a bulk retry of a million dead letters must not
        // hold up publishing for the whole of it.
        const CHUNK: usize = 1000;
        let mut total = 0;
        loop {
            let filter = filter.clone();
            let done = self
                .writer
                .write(move |conn| ops::retry_jobs(conn, &filter, now, CHUNK))
                .await?;
            total += done;
            if done < CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    async fn cancel_job(
        &self,
        id: &str,
        reason: CancelReason,
        now: Timestamp,
    ) -> StoreResult<JobRecord> {
        let id = id.to_owned();
        self.writer
            .write(move |conn| ops::cancel_job(conn, &id, reason, now))
            .await
    }

    async fn prune(&self, cutoffs: PruneCutoffs, limit: usize) -> StoreResult<PruneReport> {
        self.writer
            .write(move |conn| ops::prune(conn, cutoffs, limit))
            .await
    }

    async fn open_jobs_by_client(&self) -> StoreResult<Vec<(String, u64)>> {
        self.read(read::open_jobs_by_client).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(sql_error)
        })
        .await?;
        self.writer.write(|_| Ok(())).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ferry_domain::Priority;

    use super::*;
    use crate::store::NewJob;

    fn big_event(id: usize) -> NewEvent {
        NewEvent {
            event: crate::store::StoredEvent {
                id: format!("e{id}"),
                topic: "t".into(),
                key: None,
                data: format!("\"{}\"", "x".repeat(20_000)),
                attributes: BTreeMap::new(),
                priority: Priority::Normal,
                created_at: Timestamp::UNIX_EPOCH,
            },
            jobs: vec![NewJob {
                id: format!("j{id}"),
                subscription: "s".into(),
                client: "c".into(),
            }],
        }
    }

    /// A full disk (SQLITE_FULL, here from `max_page_count`) is `Unavailable` (503), loses
    /// nothing that was acknowledged, writes nothing half, and heals when space returns.
    #[tokio::test]
    async fn a_full_disk_fails_writes_cleanly_and_heals() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("full.db"), Options { migrate: true })
            .await
            .unwrap();
        let pages: i64 = store
            .writer
            .write(|c| {
                c.query_row("PRAGMA page_count", [], |r| r.get(0))
                    .map_err(sql_error)
            })
            .await
            .unwrap();
        store
            .writer
            .write(move |c| {
                c.query_row(
                    &format!("PRAGMA max_page_count = {}", pages + 30),
                    [],
                    |_| Ok(()),
                )
                .map_err(sql_error)
            })
            .await
            .unwrap();
        let mut stored = Vec::new();
        let mut refused = None;
        for i in 0..100 {
            match store
                .publish(vec![big_event(i)], Timestamp::UNIX_EPOCH)
                .await
            {
                Ok(_) => stored.push(i),
                Err(e) => {
                    refused = Some((i, e));
                    break;
                }
            }
        }
        let (failed, error) = refused.expect("the database filled up");
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        assert!(!stored.is_empty());
        for i in &stored {
            assert!(
                store.event(&format!("e{i}")).await.unwrap().is_some(),
                "acknowledged event {i} is kept"
            );
        }
        assert!(
            store.event(&format!("e{failed}")).await.unwrap().is_none(),
            "nothing half-written"
        );
        assert!(store.job(&format!("j{failed}")).await.unwrap().is_none());
        // Space comes back: writes work again.
        store
            .writer
            .write(|c| {
                c.query_row("PRAGMA max_page_count = 1000000", [], |_| Ok(()))
                    .map_err(sql_error)
            })
            .await
            .unwrap();
        store
            .publish(vec![big_event(failed)], Timestamp::UNIX_EPOCH)
            .await
            .unwrap();
        assert!(store.event(&format!("e{failed}")).await.unwrap().is_some());
    }
}
