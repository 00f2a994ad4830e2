//! The event envelope: the JSON shape of an event, shared by the API's answers and the
//! default delivery body so that the two can never drift apart.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::store::StoredEvent;

#[derive(Serialize)]
pub struct EventEnvelope<'a> {
    pub id: &'a str,
    pub topic: &'a str,
    pub key: Option<&'a str>,
    pub data: &'a RawValue,
    pub attributes: &'a BTreeMap<String, String>,
    pub priority: &'static str,
    pub created_at: String,
}

/// Stored `data` is validated JSON; should it ever not be, `null` is shown rather than
/// failing the whole answer.
fn raw_data(data: &str) -> &RawValue {
    serde_json::from_str::<&RawValue>(data).unwrap_or_else(|_| {
        tracing::warn!("stored event data is not JSON; showing null");
        serde_json::from_str::<&RawValue>("null").unwrap_or_else(|_| unreachable!("null is JSON"))
    })
}

impl<'a> EventEnvelope<'a> {
    pub fn of(event: &'a StoredEvent) -> EventEnvelope<'a> {
        EventEnvelope {
            id: &event.id,
            topic: &event.topic,
            key: event.key.as_deref(),
            data: raw_data(&event.data),
            attributes: &event.attributes,
            priority: event.priority.as_str(),
            created_at: event.created_at.to_string(),
        }
    }
}

/// The envelope as JSON bytes: the default body of a delivery.
pub fn to_json(event: &StoredEvent) -> Vec<u8> {
    // Serialising borrowed strings, a map of strings and raw JSON cannot fail.
    serde_json::to_vec(&EventEnvelope::of(event)).unwrap_or_default()
}
