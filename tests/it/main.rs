//! Ferry's integration tests: one test binary (one link step), one module per area.
//! Every test drives a real hub over HTTP with a real SQLite file and a real destination.

mod smoke;
mod store;
mod support;
