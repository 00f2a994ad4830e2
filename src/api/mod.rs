//! The HTTP API of contract section 4.
//!
//! **API boundary:** this module is the only one that knows the wire JSON (`wire`) and
//! how requests are read (`ingest`); the rest of the hub speaks in store and domain types.

mod error;
mod events;
mod ingest;
mod jobs;
mod wire;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

pub use error::ApiError;

use crate::hub::Core;

pub(crate) fn router(core: Arc<Core>, max_body: usize) -> Router {
    let v1 = Router::new()
        .route("/events", post(events::publish))
        .route("/events/batch", post(events::publish_batch))
        .route("/events/{id}", get(events::show))
        .route("/jobs", get(jobs::list))
        .route("/jobs/retry", post(jobs::retry_many))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/retry", post(jobs::retry))
        .route("/jobs/{id}/cancel", post(jobs::cancel));
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(core)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(core): State<Arc<Core>>) -> Result<Json<serde_json::Value>, ApiError> {
    core.store.ping().await.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("the store is not ready: {e}"),
        )
    })?;
    Ok(Json(json!({ "status": "ready" })))
}
