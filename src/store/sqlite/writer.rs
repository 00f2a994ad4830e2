//! The single writer: one thread owns the only read-write connection and applies every
//! write in group commits. Whatever operations are queued when it wakes go into one
//! transaction (each inside its own savepoint, so an operation that fails is undone alone),
//! then one `COMMIT` (one fsync) makes them all durable, and only then are their callers
//! answered. When the transaction itself is lost (SQLite rolls it back on a full disk or an
//! I/O error) or cannot be trusted, the whole group fails and every caller is told so. At 1 write per transaction SQLite with `synchronous = FULL` manages a few
//! thousand per second; grouped, it manages two orders of magnitude more.

use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::sql_error;
use crate::store::{StoreError, StoreResult};

/// How many queued operations one transaction takes at most, so that one commit's
/// latency stays bounded under a flood.
const MAX_OPS_PER_COMMIT: usize = 1024;
/// Operations waiting for the writer before senders wait (back-pressure).
const QUEUE_DEPTH: usize = 8192;

/// One queued write: applied inside the group transaction, answered after the commit.
trait WriteOp: Send {
    /// Runs the operation in its own savepoint. The operation's own failure is kept for
    /// its caller; an `Err` here means the group's transaction is lost.
    fn apply(&mut self, conn: &Connection) -> Result<(), StoreError>;
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

struct Op<T, F> {
    work: Option<F>,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> WriteOp for Op<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn apply(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let Some(work) = self.work.take() else {
            return Ok(());
        };
        control(conn, "SAVEPOINT op")?;
        let result = work(conn);
        if let Err(e) = &result {
            // On some errors (SQLITE_FULL, SQLITE_IOERR) SQLite rolls the whole
            // transaction back by itself: there is no savepoint left to return to.
            if conn.is_autocommit() {
                return Err(e.clone());
            }
            control(conn, "ROLLBACK TO op")?;
        }
        control(conn, "RELEASE op")?;
        self.result = Some(result);
        Ok(())
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let answer = match commit {
            Ok(()) => self.result.unwrap_or(Err(StoreError::Closed)),
            Err(e) => Err(e),
        };
        // The caller may have gone away (a client hung up); the write stands regardless.
        let _ = self.reply.send(answer);
    }
}

/// Runs one statement of transaction control from the statement cache: these run for
/// every operation, and parsing them each time showed in profiles.
fn control(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(sql_error)
}

#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn WriteOp>>,
}

impl Writer {
    pub(super) fn spawn(conn: Connection) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (queue, ops) = mpsc::channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("ferry-sqlite-writer".into())
            .spawn(move || run(conn, ops))?;
        Ok((Writer { queue }, thread))
    }

    /// Runs `work` in the next group commit and answers once it is durable.
    pub(super) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Box::new(Op {
            work: Some(work),
            result: None,
            reply,
        });
        self.queue.send(op).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn run(conn: Connection, mut ops: mpsc::Receiver<Box<dyn WriteOp>>) {
    let mut batch: Vec<Box<dyn WriteOp>> = Vec::with_capacity(MAX_OPS_PER_COMMIT);
    while let Some(first) = ops.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_OPS_PER_COMMIT {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let commit = commit_group(&conn, &mut batch);
        if let Err(e) = &commit {
            tracing::error!(error = %e, ops = batch.len(), "group commit failed; its writes were rolled back");
        }
        for op in batch.drain(..) {
            op.finish(commit.clone());
        }
    }
    tracing::debug!("sqlite writer stopped");
}

fn commit_group(conn: &Connection, batch: &mut [Box<dyn WriteOp>]) -> Result<(), StoreError> {
    control(conn, "BEGIN IMMEDIATE")?;
    for op in batch.iter_mut() {
        if let Err(e) = op.apply(conn) {
            abandon(conn);
            return Err(e);
        }
    }
    if let Err(e) = control(conn, "COMMIT") {
        abandon(conn);
        return Err(e);
    }
    Ok(())
}

/// Rolls back whatever is left of the group's transaction.
fn abandon(conn: &Connection) {
    // A failed statement may leave the transaction open (SQLITE_BUSY, SQLITE_FULL).
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}
