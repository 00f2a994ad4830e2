//! Ferry's domain: the rules of the hub as plain functions over plain data.
//!
//! # Layout
//! - [`event`]: what a publisher sends (topic, key, priority) and how it is validated.
//! - [`job`]: one delivery of one event to one subscription, and its state machine.
//! - [`outcome`]: what an attempt produced and how it is classified (contract section 3).
//! - [`retry`]: what happens after an attempt: succeed, retry at a time, or give up.
//! - [`fanout`]: which subscriptions an event goes to.
//!
//! **Architecture invariant:** this crate does no I/O. It knows nothing of tokio, SQL or
//! HTTP; time comes in as an argument (`now`) and randomness as a number (`jitter`), so
//! every decision is a deterministic function that a unit test can pin down.

pub mod event;
pub mod fanout;
pub mod job;
pub mod outcome;
pub mod retry;

pub use event::{Priority, ValidationError};
pub use fanout::{AttributeFilter, Subscription, TopicPattern};
pub use job::{CancelReason, JobState};
pub use outcome::{ClassifyRule, OutcomeClass, StatusPattern};
pub use retry::{DeadReason, Next, RetryPolicy};

/// Instants are UTC timestamps; durations are signed so that arithmetic never panics.
pub use jiff::{SignedDuration, Timestamp};
