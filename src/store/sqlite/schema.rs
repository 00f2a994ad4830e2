//! The SQLite schema and its migrations. `PRAGMA user_version` is the migration ledger:
//! SQLite keeps it in the file header, so no crate or extra table is needed (a migration
//! crate would also pin our rusqlite version).
//!
//! Times are microseconds since the Unix epoch (INTEGER); priorities are ranks (0 = high).

use rusqlite::Connection;

/// Each entry moves the schema one version up; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: events, jobs, attempts.
    r#"
    CREATE TABLE events (
        id          TEXT PRIMARY KEY,
        topic       TEXT NOT NULL,
        key         TEXT,
        data        TEXT NOT NULL,
        attributes  TEXT NOT NULL,
        priority    INTEGER NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE INDEX events_created_at ON events (created_at);

    CREATE TABLE jobs (
        seq              INTEGER PRIMARY KEY,
        id               TEXT NOT NULL UNIQUE,
        event_id         TEXT NOT NULL,
        subscription     TEXT NOT NULL,
        client           TEXT NOT NULL,
        topic            TEXT NOT NULL,
        key              TEXT,
        priority         INTEGER NOT NULL,
        state            TEXT NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        window_attempts  INTEGER NOT NULL DEFAULT 0,
        window_start     INTEGER,
        next_attempt_at  INTEGER,
        lease_token      INTEGER,
        lease_expires_at INTEGER,
        last_class       TEXT,
        last_status      INTEGER,
        last_error       TEXT,
        last_at          INTEGER,
        dead_reason      TEXT,
        cancel_reason    TEXT,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        finished_at      INTEGER
    );
    -- The queue: due pending jobs of a client, by priority then due time (then seq).
    CREATE INDEX jobs_queue ON jobs (client, priority, next_attempt_at) WHERE state = 'pending';
    -- Leases to sweep when their holder has stopped.
    CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
    CREATE INDEX jobs_event ON jobs (event_id);
    CREATE INDEX jobs_state ON jobs (state, seq);
    CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

    CREATE TABLE attempts (
        job_seq     INTEGER NOT NULL,
        number      INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        class       TEXT NOT NULL,
        status      INTEGER,
        body        BLOB,
        error       TEXT,
        PRIMARY KEY (job_seq, number)
    ) WITHOUT ROWID;
    "#,
];

pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Settings every connection gets. `synchronous = FULL` in WAL mode fsyncs the log on
/// every commit, so an acknowledged event survives power loss, not only a crash; group
/// commit is what keeps that affordable.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -32000;",
    )?;
    Ok(())
}

pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Applies every migration above the file's version, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    let mut current = version(conn)?;
    while current < LATEST {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Re-read inside the write lock: another process may have migrated meanwhile.
        current = version(&tx)?;
        if current >= LATEST {
            break;
        }
        tx.execute_batch(MIGRATIONS[current as usize])?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
        current += 1;
    }
    Ok(current)
}
