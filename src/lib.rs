//! Ferry: a durable integration hub. The core system publishes events; Ferry stores each
//! one durably before answering, fans it out to the subscriptions on its topic, and
//! delivers it through each subscription's client with retries, classification and dead
//! letters.
//!
//! # Layout
//! - `ferry_domain` (its own crate): the rules as pure functions: classification, retry
//!   decisions, fan-out, the job state machine. No I/O.
//! - [`config`]: the TOML file, validated once into typed values.
//! - [`store`]: the durable state behind the [`Store`] trait; `store::sqlite` is the
//!   embedded implementation (one writer thread, group commit).
//! - [`client`]: the [`Client`] trait and the HTTP client.
//! - `dispatch`: a lane per client that claims, delivers and records outcomes; the lease
//!   sweeper; request/reply waiters.
//! - `api`: the HTTP API (axum); the only module that knows the wire JSON.
//! - [`hub`]: assembles the above from a [`Config`] and runs it ([`Hub::run`]).
//! - The `ferry` binary (`src/main.rs`, `src/cli/`) parses the command line; everything it
//!   runs lives here, so tests and embedding programs use the same code.
//!
//! # Embedding
//! Build a hub from a config, register clients written in Rust, run it:
//! see [`hub`] and `examples/custom_client.rs`.

mod api;
pub mod client;
pub mod clock;
pub mod config;
mod dispatch;
mod envelope;
pub mod hub;
mod ids;
mod retention;
pub mod store;

pub use client::{Client, Delivery, DeliveryResult};
pub use config::Config;
pub use ferry_domain as domain;
pub use hub::{Hub, HubBuilder, HubError, PublishRequest};
pub use store::Store;
