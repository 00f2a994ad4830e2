//! Write operations. Each runs on the writer thread inside a savepoint of a group commit
//! (see `writer.rs`), so each is all-or-nothing and none of them commits by itself.

use ferry_domain::{CancelReason, JobState, Priority, Timestamp};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::rows::{self, micros};
use super::{filter_sql, sql_error};
use crate::store::{
    ClaimBatch, ClaimRequest, ClaimedJob, Completion, JobFilter, JobHandle, JobNext, JobRecord,
    Lease, NewEvent, PruneCutoffs, PruneReport, PublishOutcome, StoreError, StoreResult,
};

pub fn publish(
    conn: &Connection,
    events: &[NewEvent],
    now: Timestamp,
) -> StoreResult<Vec<PublishOutcome>> {
    let mut insert_event = conn
        .prepare_cached(
            "INSERT INTO events (id, topic, key, data, attributes, priority, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
        )
        .map_err(sql_error)?;
    let mut insert_job = conn
        .prepare_cached(
            "INSERT INTO jobs (id, event_id, subscription, client, topic, key, priority, state,
                               next_attempt_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?8, ?8)",
        )
        .map_err(sql_error)?;
    let mut outcomes = Vec::with_capacity(events.len());
    let now = micros(now);
    for NewEvent { event, jobs } in events {
        let created = micros(event.created_at);
        let inserted = insert_event
            .execute(params![
                event.id,
                event.topic,
                event.key,
                event.data,
                rows::attributes_json(&event.attributes),
                event.priority.rank(),
                created,
            ])
            .map_err(sql_error)?;
        if inserted == 0 {
            outcomes.push(PublishOutcome::Duplicate);
            continue;
        }
        for job in jobs {
            insert_job
                .execute(params![
                    job.id,
                    event.id,
                    job.subscription,
                    job.client,
                    event.topic,
                    event.key,
                    event.priority.rank(),
                    now,
                ])
                .map_err(sql_error)?;
        }
        outcomes.push(PublishOutcome::Created);
    }
    Ok(outcomes)
}

pub fn claim(conn: &Connection, request: &ClaimRequest) -> StoreResult<ClaimBatch> {
    let now = micros(request.now);
    let lease_until = micros(request.lease_until);
    // One tight range scan per priority (the queue index is client, priority, due time),
    // rather than one scan that has to skip every future-due job of a higher priority.
    let mut due = conn
        .prepare_cached(&format!(
            "SELECT j.seq, j.id, j.subscription, j.attempts, j.window_attempts, j.window_start, {}
             FROM jobs j JOIN events e ON e.id = j.event_id
             WHERE j.client = ?1 AND j.state = 'pending' AND j.priority = ?2 AND j.next_attempt_at <= ?3
             ORDER BY j.next_attempt_at
             LIMIT ?4",
            rows::event_columns("e.")
        ))
        .map_err(sql_error)?;
    let mut lease = conn
        .prepare_cached(
            "UPDATE jobs SET state = 'running', lease_token = ?2, lease_expires_at = ?3, next_attempt_at = NULL,
                 attempts = attempts + 1, window_attempts = window_attempts + 1,
                 window_start = COALESCE(window_start, ?4), updated_at = ?4
             WHERE seq = ?1",
        )
        .map_err(sql_error)?;
    let mut jobs = Vec::new();
    for priority in Priority::ALL {
        let room = request.limit.saturating_sub(jobs.len());
        if room == 0 {
            break;
        }
        let found = due
            .query_map(
                params![request.client, priority.rank(), now, room as i64],
                |row| {
                    let window_start = rows::opt_timestamp(row, 5)?.unwrap_or(request.now);
                    Ok(ClaimedJob {
                        lease: Lease {
                            job: JobHandle(row.get(0)?),
                            token: 0,
                        },
                        job_id: row.get(1)?,
                        subscription: row.get(2)?,
                        client: request.client.clone(),
                        attempt: row.get::<_, u32>(3)? + 1,
                        attempt_in_window: row.get::<_, u32>(4)? + 1,
                        window_start,
                        event: rows::event(row, 6)?,
                    })
                },
            )
            .map_err(sql_error)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql_error)?;
        for mut job in found {
            job.lease.token = new_lease_token();
            lease
                .execute(params![job.lease.job.0, job.lease.token, lease_until, now])
                .map_err(sql_error)?;
            jobs.push(job);
        }
    }
    let next_due = next_due(conn, &request.client)?;
    Ok(ClaimBatch { jobs, next_due })
}

/// Random, so that tokens of different claims (and different nodes) never repeat.
fn new_lease_token() -> i64 {
    fastrand::i64(1..i64::MAX)
}

fn next_due(conn: &Connection, client: &str) -> StoreResult<Option<Timestamp>> {
    let mut min = conn
        .prepare_cached(
            "SELECT MIN(next_attempt_at) FROM jobs WHERE client = ?1 AND state = 'pending' AND priority = ?2",
        )
        .map_err(sql_error)?;
    let mut earliest: Option<i64> = None;
    for priority in Priority::ALL {
        let at: Option<i64> = min
            .query_row(params![client, priority.rank()], |row| row.get(0))
            .map_err(sql_error)?;
        earliest = match (earliest, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    earliest
        .map(|us| Timestamp::from_microsecond(us).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

pub fn complete(conn: &Connection, completions: &[Completion]) -> StoreResult<Vec<bool>> {
    let mut update = conn
        .prepare_cached(
            "UPDATE jobs SET state = ?3, next_attempt_at = ?4, lease_token = NULL, lease_expires_at = NULL,
                 last_class = ?5, last_status = ?6, last_error = ?7, last_at = ?8, dead_reason = ?9,
                 finished_at = ?10, updated_at = ?11
             WHERE seq = ?1 AND lease_token = ?2 AND state = 'running'",
        )
        .map_err(sql_error)?;
    let mut record = conn
        .prepare_cached(
            "INSERT INTO attempts (job_seq, number, at, duration_ms, class, status, body, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(sql_error)?;
    let mut accepted = Vec::with_capacity(completions.len());
    for c in completions {
        let attempt = &c.attempt;
        let ended = attempt
            .at
            .checked_add(jiff::SignedDuration::from_millis(
                attempt.duration_ms as i64,
            ))
            .unwrap_or(attempt.at);
        let (state, next_at, dead_reason, finished) = match &c.next {
            JobNext::Succeeded => (JobState::Succeeded, None, None, Some(micros(ended))),
            JobNext::RetryAt(at) => (JobState::Pending, Some(micros(*at)), None, None),
            JobNext::Dead { reason } => (
                JobState::Dead,
                None,
                Some(reason.as_str()),
                Some(micros(ended)),
            ),
        };
        let changed = update
            .execute(params![
                c.lease.job.0,
                c.lease.token,
                state.as_str(),
                next_at,
                attempt.class.as_str(),
                attempt.status,
                attempt.error,
                micros(attempt.at),
                dead_reason,
                finished,
                micros(ended),
            ])
            .map_err(sql_error)?;
        if changed == 1 {
            record
                .execute(params![
                    c.lease.job.0,
                    attempt.number,
                    micros(attempt.at),
                    attempt.duration_ms as i64,
                    attempt.class.as_str(),
                    attempt.status,
                    attempt.body,
                    attempt.error,
                ])
                .map_err(sql_error)?;
        }
        accepted.push(changed == 1);
    }
    Ok(accepted)
}

pub fn release(conn: &Connection, leases: &[Lease], now: Timestamp) -> StoreResult<Vec<bool>> {
    let mut release = conn
        .prepare_cached(
            "UPDATE jobs SET state = 'pending', next_attempt_at = ?3, lease_token = NULL, lease_expires_at = NULL,
                 attempts = attempts - 1, window_attempts = window_attempts - 1,
                 window_start = CASE WHEN window_attempts <= 1 THEN NULL ELSE window_start END,
                 updated_at = ?3
             WHERE seq = ?1 AND lease_token = ?2 AND state = 'running'",
        )
        .map_err(sql_error)?;
    leases
        .iter()
        .map(|l| {
            Ok(release
                .execute(params![l.job.0, l.token, micros(now)])
                .map_err(sql_error)?
                == 1)
        })
        .collect()
}

fn job_by_id(conn: &Connection, id: &str) -> StoreResult<JobRecord> {
    conn.prepare_cached(&format!(
        "SELECT {} FROM jobs WHERE id = ?1",
        rows::JOB_COLUMNS
    ))
    .map_err(sql_error)?
    .query_row([id], rows::job)
    .optional()
    .map_err(sql_error)?
    .ok_or(StoreError::NotFound)
}

/// The columns an operator's retry resets: pending, due now, a fresh window.
const REOPEN: &str = "state = 'pending', next_attempt_at = ?1, window_start = NULL, window_attempts = 0, \
     dead_reason = NULL, cancel_reason = NULL, finished_at = NULL, updated_at = ?1";

pub fn retry_job(conn: &Connection, id: &str, now: Timestamp) -> StoreResult<JobRecord> {
    let job = job_by_id(conn, id)?;
    if !job.state.can_retry() {
        return Err(StoreError::Conflict(format!(
            "job {id} is {}; only dead or cancelled jobs can be retried",
            job.state
        )));
    }
    conn.prepare_cached(&format!("UPDATE jobs SET {REOPEN} WHERE id = ?2"))
        .map_err(sql_error)?
        .execute(params![micros(now), id])
        .map_err(sql_error)?;
    job_by_id(conn, id)
}

/// Reopens up to `limit` jobs the filter matches; the caller repeats until fewer come back.
pub fn retry_jobs(
    conn: &Connection,
    filter: &JobFilter,
    now: Timestamp,
    limit: usize,
) -> StoreResult<u64> {
    let state = filter.state.unwrap_or(JobState::Dead);
    if !state.can_retry() {
        return Err(StoreError::Conflict(format!(
            "only dead or cancelled jobs can be retried, not {state}"
        )));
    }
    let filter = JobFilter {
        state: Some(state),
        ..filter.clone()
    };
    let mut values = vec![rusqlite::types::Value::Integer(micros(now))];
    let conditions = filter_sql(&filter, &mut values);
    values.push(rusqlite::types::Value::Integer(limit as i64));
    let sql = format!(
        "UPDATE jobs SET {REOPEN} WHERE seq IN (SELECT seq FROM jobs WHERE {conditions} LIMIT ?{})",
        values.len()
    );
    let changed = conn
        .execute(&sql, params_from_iter(values))
        .map_err(sql_error)?;
    Ok(changed as u64)
}

pub fn cancel_job(
    conn: &Connection,
    id: &str,
    reason: CancelReason,
    now: Timestamp,
) -> StoreResult<JobRecord> {
    let job = job_by_id(conn, id)?;
    if !job.state.can_cancel() {
        return Err(StoreError::Conflict(format!(
            "job {id} is {}; only pending jobs can be cancelled",
            job.state
        )));
    }
    conn.prepare_cached(
        "UPDATE jobs SET state = 'cancelled', cancel_reason = ?2, next_attempt_at = NULL,
             finished_at = ?3, updated_at = ?3
         WHERE id = ?1",
    )
    .map_err(sql_error)?
    .execute(params![id, reason.as_str(), micros(now)])
    .map_err(sql_error)?;
    job_by_id(conn, id)
}

pub fn prune(conn: &Connection, cutoffs: PruneCutoffs, limit: usize) -> StoreResult<PruneReport> {
    let seqs: Vec<i64> = conn
        .prepare_cached(
            "SELECT seq FROM jobs
             WHERE finished_at IS NOT NULL
               AND ((state IN ('succeeded', 'cancelled') AND finished_at < ?1) OR (state = 'dead' AND finished_at < ?2))
             LIMIT ?3",
        )
        .map_err(sql_error)?
        .query_map(params![micros(cutoffs.succeeded_before), micros(cutoffs.dead_before), limit as i64], |row| {
            row.get(0)
        })
        .map_err(sql_error)?
        .collect::<Result<_, _>>()
        .map_err(sql_error)?;
    {
        let mut attempts = conn
            .prepare_cached("DELETE FROM attempts WHERE job_seq = ?1")
            .map_err(sql_error)?;
        let mut job = conn
            .prepare_cached("DELETE FROM jobs WHERE seq = ?1")
            .map_err(sql_error)?;
        for seq in &seqs {
            attempts.execute([seq]).map_err(sql_error)?;
            job.execute([seq]).map_err(sql_error)?;
        }
    }
    // Events go once retention has passed for them and no job refers to them any more:
    // an event with a dead job stays as long as its dead letter does.
    let events = conn
        .prepare_cached(
            "DELETE FROM events WHERE rowid IN (
                 SELECT e.rowid FROM events e
                 WHERE e.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = e.id)
                 LIMIT ?2)",
        )
        .map_err(sql_error)?
        .execute(params![micros(cutoffs.succeeded_before), limit as i64])
        .map_err(sql_error)?;
    Ok(PruneReport {
        jobs: seqs.len() as u64,
        events: events as u64,
    })
}
