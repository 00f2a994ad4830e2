//! Read queries. They run on pooled read-only connections (WAL lets them proceed while
//! the writer commits) and never take the write lock.

use ferry_domain::Timestamp;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::rows::{self, micros};
use super::{filter_sql, sql_error};
use crate::store::{
    Cursor, DeliveryRecord, EventDetail, ExpiredLease, JobDetail, JobFilter, JobHandle, JobRecord,
    Lease, Page, StoreResult,
};

pub fn event(conn: &Connection, id: &str) -> StoreResult<Option<EventDetail>> {
    let event = conn
        .prepare_cached(&format!(
            "SELECT {} FROM events WHERE id = ?1",
            rows::event_columns("")
        ))
        .map_err(sql_error)?
        .query_row([id], |row| rows::event(row, 0))
        .optional()
        .map_err(sql_error)?;
    let Some(event) = event else { return Ok(None) };
    let jobs: Vec<(i64, JobRecord)> = conn
        .prepare_cached(&format!(
            "SELECT {} FROM jobs WHERE event_id = ?1 ORDER BY seq",
            rows::JOB_COLUMNS
        ))
        .map_err(sql_error)?
        .query_map([id], |row| Ok((row.get(0)?, rows::job(row)?)))
        .map_err(sql_error)?
        .collect::<Result<_, _>>()
        .map_err(sql_error)?;
    let mut last = conn
        .prepare_cached(&format!(
            "SELECT {} FROM attempts WHERE job_seq = ?1 ORDER BY number DESC LIMIT 1",
            rows::ATTEMPT_COLUMNS
        ))
        .map_err(sql_error)?;
    let mut deliveries = Vec::with_capacity(jobs.len());
    for (seq, job) in jobs {
        let last_attempt = if job.last_outcome.is_some() {
            last.query_row([seq], rows::attempt)
                .optional()
                .map_err(sql_error)?
        } else {
            None
        };
        deliveries.push(DeliveryRecord { job, last_attempt });
    }
    Ok(Some(EventDetail { event, deliveries }))
}

pub fn job(conn: &Connection, id: &str) -> StoreResult<Option<JobDetail>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {} FROM jobs WHERE id = ?1",
            rows::JOB_COLUMNS
        ))
        .map_err(sql_error)?
        .query_row([id], |row| Ok((row.get::<_, i64>(0)?, rows::job(row)?)))
        .optional()
        .map_err(sql_error)?;
    let Some((seq, job)) = found else {
        return Ok(None);
    };
    let history = conn
        .prepare_cached(&format!(
            "SELECT {} FROM attempts WHERE job_seq = ?1 ORDER BY number",
            rows::ATTEMPT_COLUMNS
        ))
        .map_err(sql_error)?
        .query_map([seq], rows::attempt)
        .map_err(sql_error)?
        .collect::<Result<_, _>>()
        .map_err(sql_error)?;
    Ok(Some(JobDetail { job, history }))
}

pub fn list_jobs(
    conn: &Connection,
    filter: &JobFilter,
    limit: usize,
    after: Option<Cursor>,
) -> StoreResult<Page<JobRecord>> {
    let mut values = Vec::new();
    let mut conditions = filter_sql(filter, &mut values);
    if let Some(Cursor(seq)) = after {
        values.push(rusqlite::types::Value::Integer(seq));
        conditions.push_str(&format!(" AND seq < ?{}", values.len()));
    }
    values.push(rusqlite::types::Value::Integer(limit as i64 + 1));
    let sql = format!(
        "SELECT {} FROM jobs WHERE {conditions} ORDER BY seq DESC LIMIT ?{}",
        rows::JOB_COLUMNS,
        values.len()
    );
    let mut found: Vec<(i64, JobRecord)> = conn
        .prepare_cached(&sql)
        .map_err(sql_error)?
        .query_map(params_from_iter(values), |row| {
            Ok((row.get(0)?, rows::job(row)?))
        })
        .map_err(sql_error)?
        .collect::<Result<_, _>>()
        .map_err(sql_error)?;
    let next = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|(seq, _)| Cursor(*seq))
    } else {
        None
    };
    Ok(Page {
        items: found.into_iter().map(|(_, job)| job).collect(),
        next,
    })
}

pub fn expired_leases(
    conn: &Connection,
    now: Timestamp,
    limit: usize,
) -> StoreResult<Vec<ExpiredLease>> {
    conn.prepare_cached(
        "SELECT seq, lease_token, id, client, event_id, attempts, window_attempts, window_start, lease_expires_at
         FROM jobs WHERE state = 'running' AND lease_expires_at <= ?1
         ORDER BY lease_expires_at LIMIT ?2",
    )
    .map_err(sql_error)?
    .query_map(params![micros(now), limit as i64], |row| {
        let expired_at = rows::timestamp(row, 8)?;
        Ok(ExpiredLease {
            lease: Lease { job: JobHandle(row.get(0)?), token: row.get(1)? },
            job_id: row.get(2)?,
            client: row.get(3)?,
            event_id: row.get(4)?,
            attempt: row.get(5)?,
            attempt_in_window: row.get(6)?,
            window_start: rows::opt_timestamp(row, 7)?.unwrap_or(expired_at),
            lease_expired_at: expired_at,
        })
    })
    .map_err(sql_error)?
    .collect::<Result<_, _>>()
    .map_err(sql_error)
}

pub fn open_jobs_by_client(conn: &Connection) -> StoreResult<Vec<(String, u64)>> {
    conn.prepare_cached(
        "SELECT client, COUNT(*) FROM jobs WHERE state IN ('pending', 'running') GROUP BY client ORDER BY client",
    )
    .map_err(sql_error)?
    .query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)?.max(0) as u64)))
    .map_err(sql_error)?
    .collect::<Result<_, _>>()
    .map_err(sql_error)
}
