//! `GET /v1/jobs`, `GET /v1/jobs/{id}`, retry (one or in bulk) and cancel.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use ferry_domain::{CancelReason, JobState};
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, Body, Segment, json_error};
use super::wire::{AttemptJson, JobDetailJson, JobJson, ListJson};
use crate::hub::Core;
use crate::store::{Cursor, JobFilter};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FilterFields {
    state: Option<String>,
    client: Option<String>,
    subscription: Option<String>,
    topic: Option<String>,
    key: Option<String>,
}

impl FilterFields {
    fn into_filter(self) -> Result<JobFilter, ApiError> {
        let state = self
            .state
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<JobState>()
                    .map_err(|e| ApiError::invalid(e.to_string()))
            })
            .transpose()?;
        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        Ok(JobFilter {
            state,
            client: non_empty(self.client),
            subscription: non_empty(self.subscription),
            topic: non_empty(self.topic),
            key: non_empty(self.key),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    client: Option<String>,
    subscription: Option<String>,
    topic: Option<String>,
    key: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Cursors are opaque to callers; inside, a position in the job sequence.
fn encode_cursor(cursor: Cursor) -> String {
    format!("j{}", cursor.0)
}

fn decode_cursor(text: &str) -> Result<Cursor, ApiError> {
    text.strip_prefix('j')
        .and_then(|n| n.parse::<i64>().ok())
        .map(Cursor)
        .ok_or_else(|| ApiError::invalid(format!("cursor {text:?} is not one this API handed out")))
}

pub async fn list(
    State(core): State<Arc<Core>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q: ListQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::invalid(format!("query: {e}")))?;
    let limit = match q.limit.as_deref().filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(format!(
                    "limit must be a number from 1 to {MAX_LIMIT}"
                )));
            }
        },
    };
    let cursor = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    let filter = FilterFields {
        state: q.state,
        client: q.client,
        subscription: q.subscription,
        topic: q.topic,
        key: q.key,
    }
    .into_filter()?;
    let page = core.store.list_jobs(filter, limit, cursor).await?;
    let body = ListJson {
        items: page.items.iter().map(JobJson::from).collect(),
        next_cursor: page.next.map(encode_cursor),
    };
    Ok(Json(body).into_response())
}

pub async fn show(
    State(core): State<Arc<Core>>,
    Segment(id): Segment,
) -> Result<Response, ApiError> {
    let detail = core
        .store
        .job(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("job {id} not found")))?;
    let body = JobDetailJson {
        job: (&detail.job).into(),
        history: detail.history.iter().map(AttemptJson::from).collect(),
    };
    Ok(Json(body).into_response())
}

fn not_found_job(id: &str) -> impl FnOnce(crate::store::StoreError) -> ApiError + '_ {
    move |e| match e {
        crate::store::StoreError::NotFound => ApiError::not_found(format!("job {id} not found")),
        other => other.into(),
    }
}

pub async fn retry(
    State(core): State<Arc<Core>>,
    Segment(id): Segment,
) -> Result<Response, ApiError> {
    let job = core
        .store
        .retry_job(&id, core.clock.now())
        .await
        .map_err(not_found_job(&id))?;
    core.dispatcher.wake(&job.client);
    Ok(Json(JobJson::from(&job)).into_response())
}

pub async fn retry_many(
    State(core): State<Arc<Core>>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let fields: FilterFields = if body.iter().all(u8::is_ascii_whitespace) {
        FilterFields::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| json_error("the filter", &e))?
    };
    let mut filter = fields.into_filter()?;
    let state = filter.state.get_or_insert(JobState::Dead);
    if !state.can_retry() {
        return Err(ApiError::invalid(format!(
            "state must be dead or cancelled to retry, not {state}"
        )));
    }
    let retried = core.store.retry_jobs(filter, core.clock.now()).await?;
    if retried > 0 {
        core.dispatcher.wake_all();
    }
    Ok(Json(json!({ "retried": retried })).into_response())
}

pub async fn cancel(
    State(core): State<Arc<Core>>,
    Segment(id): Segment,
) -> Result<Response, ApiError> {
    let job = core
        .store
        .cancel_job(&id, CancelReason::Operator, core.clock.now())
        .await
        .map_err(not_found_job(&id))?;
    core.waiters.ring(&job.event_id);
    Ok(Json(JobJson::from(&job)).into_response())
}
