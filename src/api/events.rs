//! `POST /v1/events`, `POST /v1/events/batch`, `GET /v1/events/{id}`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::{ApiError, Body, Segment};
use super::ingest;
use super::wire::{EventDocument, all_terminal};
use crate::hub::Core;
use crate::store::{EventDetail, PublishOutcome};

/// The event with its deliveries, or a 404.
async fn load_event(core: &Core, id: &str) -> Result<EventDetail, ApiError> {
    core.store
        .event(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("event {id} not found")))
}

fn status_url(id: &str) -> String {
    format!("/v1/events/{id}")
}

#[derive(Serialize)]
struct Accepted<'a> {
    id: &'a str,
    status_url: String,
    duplicate: bool,
    #[serde(flatten)]
    document: Option<EventDocument<'a>>,
}

pub async fn publish(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let request = if headers.contains_key("ce-specversion") {
        ingest::binary_cloudevent(&headers, &body)?
    } else if content_type.is_some_and(|ct| {
        ct.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/cloudevents+json")
    }) {
        ingest::structured_cloudevent(&body)?
    } else {
        ingest::json_event(&body)?
    };
    let wait = ingest::prefer_wait(&headers)?;
    let now = core.clock.now();
    let event = core.fan_out(request, now);
    let id = event.event.id.clone();
    let outcome = core.publish(vec![event], now).await?;
    let duplicate = outcome.first() == Some(&PublishOutcome::Duplicate);

    let Some(wait) = wait else {
        let status = if duplicate {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        let body = Accepted {
            id: &id,
            status_url: status_url(&id),
            duplicate,
            document: None,
        };
        return Ok(with_location(status, &id, Json(body).into_response()));
    };
    let detail = match wait_for_deliveries(&core, &id, wait).await {
        Ok(detail) => detail,
        // The event is stored: whatever went wrong while waiting, the publisher gets its
        // id and can ask later, rather than an error that suggests nothing was stored.
        Err(e) => {
            tracing::error!(event = %id, error = %e.message, "reading the event while waiting failed");
            let body = Accepted {
                id: &id,
                status_url: status_url(&id),
                duplicate,
                document: None,
            };
            return Ok(with_location(
                StatusCode::ACCEPTED,
                &id,
                Json(body).into_response(),
            ));
        }
    };
    let finished = all_terminal(&detail);
    let status = if duplicate || finished {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let body = Accepted {
        id: &id,
        status_url: status_url(&id),
        duplicate,
        document: Some((&detail).into()),
    };
    let mut response = with_location(status, &id, Json(body).into_response());
    if let Ok(applied) = HeaderValue::from_str(&format!("wait={}", wait.as_secs())) {
        response.headers_mut().insert("preference-applied", applied);
    }
    Ok(response)
}

fn with_location(status: StatusCode, id: &str, mut response: Response) -> Response {
    *response.status_mut() = status;
    if let Ok(location) = HeaderValue::from_str(&status_url(id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Request/reply: waits until every delivery of the event is terminal or `wait` ends,
/// and returns the event as it then stands.
async fn wait_for_deliveries(
    core: &Core,
    id: &str,
    wait: Duration,
) -> Result<EventDetail, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let waiter = core.waiters.wait_for(id);
    loop {
        // Armed before reading, so that a delivery ending between the read and the wait
        // still wakes us.
        let rung = waiter.bell.notified();
        tokio::pin!(rung);
        rung.as_mut().enable();
        let detail = load_event(core, id).await?;
        if all_terminal(&detail) || tokio::time::Instant::now() >= deadline {
            return Ok(detail);
        }
        tokio::select! {
            _ = rung => {}
            _ = tokio::time::sleep_until(deadline) => {}
            // Shutting down: answer with the status so far rather than hold up the exit.
            _ = core.stopping.cancelled() => {
                return load_event(core, id).await;
            }
        }
    }
}

#[derive(Serialize)]
struct BatchAccepted {
    ids: Vec<String>,
    /// How many of the ids existed already (nothing was created for them).
    duplicates: usize,
}

pub async fn publish_batch(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let requests = ingest::batch(content_type, &body)?;
    let now = core.clock.now();
    let events: Vec<_> = requests.into_iter().map(|r| core.fan_out(r, now)).collect();
    let ids: Vec<String> = events.iter().map(|e| e.event.id.clone()).collect();
    let outcomes = core.publish(events, now).await?;
    let duplicates = outcomes
        .iter()
        .filter(|o| **o == PublishOutcome::Duplicate)
        .count();
    Ok((
        StatusCode::ACCEPTED,
        Json(BatchAccepted { ids, duplicates }),
    )
        .into_response())
}

pub async fn show(
    State(core): State<Arc<Core>>,
    Segment(id): Segment,
) -> Result<Response, ApiError> {
    let detail = load_event(&core, &id).await?;
    Ok(Json(EventDocument::from(&detail)).into_response())
}
