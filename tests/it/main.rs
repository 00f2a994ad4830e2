//! Ferry's integration tests: one test binary (one link step), one module per area.
//! Every test drives a real hub over HTTP with a real SQLite file and a real destination.

mod support;

mod bad_input;
mod cli;
mod crash;
mod delivery;
mod ingest;
mod jobs_api;
mod request_reply;
mod retention;
mod smoke;
mod store;
