//! Clients: one configured connection to one external API.
//!
//! [`Client`] is the seam. The hub hands a client one [`Delivery`] at a time and gets back
//! a [`DeliveryResult`]; it never knows whether that went over HTTP, SOAP or FTP. The
//! HTTP client ([`http::HttpClient`]) is the first implementation; an embedding program
//! registers its own with [`crate::HubBuilder::client`] (see `examples/custom_client.rs`).
//!
//! Classification is not the client's business: a client that saw a status reports a
//! [`DeliveryResult::Response`] and the hub applies the client's `classify` rules and the
//! defaults; a client that failed before any answer says which class the failure is.

pub mod http;
mod signing;
mod template;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_domain::{OutcomeClass, SignedDuration};

use crate::store::StoredEvent;

/// At most this much of a response body is kept per attempt.
pub const MAX_RECORDED_BODY: usize = 64 * 1024;

/// One attempt to deliver one event through one client.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The job's id: the same on every attempt (`webhook-id`), for receivers to dedup.
    pub job_id: &'a str,
    /// 1 on the first attempt.
    pub attempt: u32,
    pub subscription: &'a str,
    pub client: &'a str,
    pub event: &'a StoredEvent,
}

/// What one attempt produced.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryResult {
    /// The destination answered. Classified by the client's rules, then the defaults.
    Response {
        status: u16,
        /// The first [`MAX_RECORDED_BODY`] bytes of the answer.
        body: Bytes,
        /// What the destination asked for with `Retry-After`, as a delay from now.
        retry_after: Option<SignedDuration>,
    },
    /// No answer (connection refused, timeout, a protocol error): the client says how to
    /// treat it. Transport failures are `Transient`.
    Failed {
        class: OutcomeClass,
        error: String,
        retry_after: Option<SignedDuration>,
    },
}

impl DeliveryResult {
    pub fn transient(error: impl Into<String>) -> DeliveryResult {
        DeliveryResult::Failed {
            class: OutcomeClass::Transient,
            error: error.into(),
            retry_after: None,
        }
    }

    pub fn permanent(error: impl Into<String>) -> DeliveryResult {
        DeliveryResult::Failed {
            class: OutcomeClass::Permanent,
            error: error.into(),
            retry_after: None,
        }
    }

    /// A success with no response to show (for clients whose protocol has none).
    pub fn delivered() -> DeliveryResult {
        DeliveryResult::Response {
            status: 200,
            body: Bytes::new(),
            retry_after: None,
        }
    }
}

/// A destination. Implementations must be cheap to call concurrently: the hub runs up to
/// the client's `concurrency` deliveries at once, and enforces its `timeout` around each.
#[async_trait]
pub trait Client: Send + Sync + 'static {
    async fn deliver(&self, delivery: Delivery<'_>) -> DeliveryResult;
}
