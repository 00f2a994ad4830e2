//! The JSON shapes of contract section 4. Only the API knows them; the store's types
//! convert here. Every field is always present, null when unknown.

use ferry_domain::Timestamp;
use serde::Serialize;

use crate::envelope::EventEnvelope;
use crate::store::{AttemptRecord, DeliveryRecord, EventDetail, JobRecord, LastOutcome};

#[derive(Serialize)]
pub struct OutcomeJson<'a> {
    pub class: &'static str,
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub at: Timestamp,
}

impl<'a> From<&'a LastOutcome> for OutcomeJson<'a> {
    fn from(o: &'a LastOutcome) -> Self {
        OutcomeJson {
            class: o.class.as_str(),
            status: o.status,
            error: o.error.as_deref(),
            at: o.at,
        }
    }
}

#[derive(Serialize)]
pub struct JobJson<'a> {
    pub id: &'a str,
    pub event_id: &'a str,
    pub subscription: &'a str,
    pub client: &'a str,
    pub topic: &'a str,
    pub key: Option<&'a str>,
    pub state: &'static str,
    pub priority: &'static str,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub lease_expires_at: Option<Timestamp>,
    pub last_outcome: Option<OutcomeJson<'a>>,
    pub dead_reason: Option<&'a str>,
    pub cancel_reason: Option<&'static str>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

impl<'a> From<&'a JobRecord> for JobJson<'a> {
    fn from(j: &'a JobRecord) -> Self {
        JobJson {
            id: &j.id,
            event_id: &j.event_id,
            subscription: &j.subscription,
            client: &j.client,
            topic: &j.topic,
            key: j.key.as_deref(),
            state: j.state.as_str(),
            priority: j.priority.as_str(),
            attempts: j.attempts,
            next_attempt_at: j.next_attempt_at,
            lease_expires_at: j.lease_expires_at,
            last_outcome: j.last_outcome.as_ref().map(Into::into),
            dead_reason: j.dead_reason.as_deref(),
            cancel_reason: j.cancel_reason.map(|r| r.as_str()),
            created_at: j.created_at,
            updated_at: j.updated_at,
            finished_at: j.finished_at,
        }
    }
}

fn body_text(body: &Option<Vec<u8>>) -> Option<String> {
    body.as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

#[derive(Serialize)]
pub struct AttemptJson<'a> {
    pub attempt: u32,
    pub at: Timestamp,
    pub duration_ms: u64,
    pub class: &'static str,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub error: Option<&'a str>,
}

impl<'a> From<&'a AttemptRecord> for AttemptJson<'a> {
    fn from(a: &'a AttemptRecord) -> Self {
        AttemptJson {
            attempt: a.number,
            at: a.at,
            duration_ms: a.duration_ms,
            class: a.class.as_str(),
            status: a.status,
            body: body_text(&a.body),
            error: a.error.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub struct JobDetailJson<'a> {
    #[serde(flatten)]
    pub job: JobJson<'a>,
    pub history: Vec<AttemptJson<'a>>,
}

#[derive(Serialize)]
pub struct ResponseJson {
    pub status: Option<u16>,
    pub body: Option<String>,
}

#[derive(Serialize)]
pub struct DeliveryJson<'a> {
    pub job_id: &'a str,
    pub subscription: &'a str,
    pub client: &'a str,
    pub state: &'static str,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_outcome: Option<OutcomeJson<'a>>,
    /// The latest attempt's answer; its fields are null before the first answer.
    pub response: ResponseJson,
}

impl<'a> From<&'a DeliveryRecord> for DeliveryJson<'a> {
    fn from(d: &'a DeliveryRecord) -> Self {
        DeliveryJson {
            job_id: &d.job.id,
            subscription: &d.job.subscription,
            client: &d.job.client,
            state: d.job.state.as_str(),
            attempts: d.job.attempts,
            next_attempt_at: d.job.next_attempt_at,
            last_outcome: d.job.last_outcome.as_ref().map(Into::into),
            response: ResponseJson {
                status: d.last_attempt.as_ref().and_then(|a| a.status),
                body: d.last_attempt.as_ref().and_then(|a| body_text(&a.body)),
            },
        }
    }
}

/// `GET /v1/events/{id}`, and the answer to a publish that waited.
#[derive(Serialize)]
pub struct EventDocument<'a> {
    pub event: EventEnvelope<'a>,
    pub deliveries: Vec<DeliveryJson<'a>>,
}

impl<'a> From<&'a EventDetail> for EventDocument<'a> {
    fn from(d: &'a EventDetail) -> Self {
        EventDocument {
            event: EventEnvelope::of(&d.event),
            deliveries: d.deliveries.iter().map(Into::into).collect(),
        }
    }
}

/// Every delivery of the event has reached a terminal state.
pub fn all_terminal(detail: &EventDetail) -> bool {
    detail.deliveries.iter().all(|d| d.job.state.is_terminal())
}

#[derive(Serialize)]
pub struct ListJson<T: Serialize> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
