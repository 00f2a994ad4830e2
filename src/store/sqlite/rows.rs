//! Mapping between rows and the store's types.

use std::collections::BTreeMap;

use ferry_domain::{CancelReason, JobState, OutcomeClass, Priority, Timestamp};
use rusqlite::Row;
use rusqlite::types::Type;

use crate::store::{AttemptRecord, JobRecord, LastOutcome, StoredEvent};

pub fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

fn bad(idx: usize, ty: Type, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, msg.into())
}

pub fn timestamp(row: &Row, idx: usize) -> rusqlite::Result<Timestamp> {
    let us: i64 = row.get(idx)?;
    Timestamp::from_microsecond(us).map_err(|e| bad(idx, Type::Integer, e.to_string()))
}

pub fn opt_timestamp(row: &Row, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    match row.get::<_, Option<i64>>(idx)? {
        None => Ok(None),
        Some(us) => Timestamp::from_microsecond(us)
            .map(Some)
            .map_err(|e| bad(idx, Type::Integer, e.to_string())),
    }
}

fn parsed<T: std::str::FromStr>(row: &Row, idx: usize) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.get(idx)?;
    text.parse()
        .map_err(|e: T::Err| bad(idx, Type::Text, e.to_string()))
}

fn opt_parsed<T: std::str::FromStr>(row: &Row, idx: usize) -> rusqlite::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|e: T::Err| bad(idx, Type::Text, e.to_string())),
    }
}

pub fn priority(row: &Row, idx: usize) -> rusqlite::Result<Priority> {
    let rank: i64 = row.get(idx)?;
    Priority::from_rank(rank)
        .ok_or_else(|| bad(idx, Type::Integer, format!("unknown priority rank {rank}")))
}

pub fn attributes_json(attributes: &BTreeMap<String, String>) -> String {
    // A map of strings always serialises.
    serde_json::to_string(attributes).unwrap_or_else(|_| "{}".to_owned())
}

fn attributes(row: &Row, idx: usize) -> rusqlite::Result<BTreeMap<String, String>> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| bad(idx, Type::Text, e.to_string()))
}

fn opt_u16(row: &Row, idx: usize) -> rusqlite::Result<Option<u16>> {
    Ok(row
        .get::<_, Option<i64>>(idx)?
        .and_then(|s| u16::try_from(s).ok()))
}

/// Columns of `events`, in the order [`event`] reads them; `prefix` qualifies them.
pub fn event_columns(prefix: &str) -> String {
    [
        "id",
        "topic",
        "key",
        "data",
        "attributes",
        "priority",
        "created_at",
    ]
    .map(|c| format!("{prefix}{c}"))
    .join(", ")
}

pub fn event(row: &Row, at: usize) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        id: row.get(at)?,
        topic: row.get(at + 1)?,
        key: row.get(at + 2)?,
        data: row.get(at + 3)?,
        attributes: attributes(row, at + 4)?,
        priority: priority(row, at + 5)?,
        created_at: timestamp(row, at + 6)?,
    })
}

/// Columns of `jobs` that [`job`] reads, starting with `seq`.
pub const JOB_COLUMNS: &str = "seq, id, event_id, subscription, client, topic, key, priority, state, attempts, \
     next_attempt_at, lease_expires_at, last_class, last_status, last_error, last_at, dead_reason, \
     cancel_reason, created_at, updated_at, finished_at";

pub fn job(row: &Row) -> rusqlite::Result<JobRecord> {
    let last_outcome = match opt_parsed::<OutcomeClass>(row, 12)? {
        None => None,
        Some(class) => Some(LastOutcome {
            class,
            status: opt_u16(row, 13)?,
            error: row.get(14)?,
            at: timestamp(row, 15)?,
        }),
    };
    Ok(JobRecord {
        id: row.get(1)?,
        event_id: row.get(2)?,
        subscription: row.get(3)?,
        client: row.get(4)?,
        topic: row.get(5)?,
        key: row.get(6)?,
        priority: priority(row, 7)?,
        state: parsed::<JobState>(row, 8)?,
        attempts: row.get(9)?,
        next_attempt_at: opt_timestamp(row, 10)?,
        lease_expires_at: opt_timestamp(row, 11)?,
        last_outcome,
        dead_reason: row.get(16)?,
        cancel_reason: opt_parsed::<CancelReason>(row, 17)?,
        created_at: timestamp(row, 18)?,
        updated_at: timestamp(row, 19)?,
        finished_at: opt_timestamp(row, 20)?,
    })
}

pub const ATTEMPT_COLUMNS: &str = "number, at, duration_ms, class, status, body, error";

pub fn attempt(row: &Row) -> rusqlite::Result<AttemptRecord> {
    Ok(AttemptRecord {
        number: row.get(0)?,
        at: timestamp(row, 1)?,
        duration_ms: row.get::<_, i64>(2)?.max(0) as u64,
        class: parsed::<OutcomeClass>(row, 3)?,
        status: opt_u16(row, 4)?,
        body: row.get(5)?,
        error: row.get(6)?,
    })
}
