//! The durable store: one trait, one conformance suite, one implementation per database.
//!
//! **API boundary:** the trait speaks in Ferry's terms (events, jobs, claims, completions,
//! leases), never in SQL. Nothing here may depend on how a backend orders rows, assigns
//! ids or locks: SQLite serialises writes through one writer thread with group commit;
//! PostgreSQL will claim with `FOR UPDATE SKIP LOCKED`. Both must pass `tests/it/store.rs`.
//!
//! **Invariants every implementation keeps:**
//! - `publish` returns only after the events and their jobs are durable (fsynced), and a
//!   batch is stored entirely or not at all.
//! - `complete` and `release` are fenced: they change a job only while it is `running`
//!   under the very lease token given, so a worker that stalled past its lease cannot
//!   overwrite the outcome written by whoever took the job over.
//! - Nothing is deleted except by `prune` (retention).

pub mod sqlite;

use std::collections::BTreeMap;

use async_trait::async_trait;
use ferry_domain::{CancelReason, JobState, OutcomeClass, Priority, Timestamp};

/// An event to store, with the jobs its fan-out produced.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event: StoredEvent,
    pub jobs: Vec<NewJob>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub id: String,
    pub subscription: String,
    pub client: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    Created,
    /// An event with this id exists already; nothing was created.
    Duplicate,
}

/// An event as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: String,
    pub topic: String,
    pub key: Option<String>,
    /// The event's `data`, as validated JSON text.
    pub data: String,
    pub attributes: BTreeMap<String, String>,
    pub priority: Priority,
    pub created_at: Timestamp,
}

/// The most recent attempt's outcome, kept on the job for listings.
#[derive(Debug, Clone, PartialEq)]
pub struct LastOutcome {
    pub class: OutcomeClass,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: String,
    pub event_id: String,
    pub subscription: String,
    pub client: String,
    pub topic: String,
    pub key: Option<String>,
    pub state: JobState,
    pub priority: Priority,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub lease_expires_at: Option<Timestamp>,
    pub last_outcome: Option<LastOutcome>,
    pub dead_reason: Option<String>,
    pub cancel_reason: Option<CancelReason>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// 1 for the job's first attempt.
    pub number: u32,
    pub at: Timestamp,
    pub duration_ms: u64,
    pub class: OutcomeClass,
    pub status: Option<u16>,
    /// At most the first 64 KiB of the response body.
    pub body: Option<Vec<u8>>,
    pub error: Option<String>,
}

/// A job with its event's latest attempt, as `GET /v1/events/{id}` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub job: JobRecord,
    pub last_attempt: Option<AttemptRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventDetail {
    pub event: StoredEvent,
    pub deliveries: Vec<DeliveryRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobDetail {
    pub job: JobRecord,
    pub history: Vec<AttemptRecord>,
}

/// Which jobs a listing or a bulk action covers. Absent fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub client: Option<String>,
    pub subscription: Option<String>,
    pub topic: Option<String>,
    pub key: Option<String>,
}

/// Where a listing resumes: an opaque position handed out by the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub i64);

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// Asks for up to `limit` due jobs of one client, highest priority first, oldest first
/// within a priority; each is leased until `lease_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub client: String,
    pub limit: usize,
    pub now: Timestamp,
    pub lease_until: Timestamp,
}

/// A job now `running` under a lease, with what its delivery needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub lease: Lease,
    pub job_id: String,
    pub subscription: String,
    pub client: String,
    /// This attempt's number; 1 for the first.
    pub attempt: u32,
    /// This attempt's number within the current retry window.
    pub attempt_in_window: u32,
    pub window_start: Timestamp,
    pub event: StoredEvent,
}

/// The fencing pair: a job's internal handle and the token of one claim of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    pub job: JobHandle,
    pub token: i64,
}

/// A backend's internal handle for a job (a row id or sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobHandle(pub i64);

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimBatch {
    pub jobs: Vec<ClaimedJob>,
    /// When the client's earliest pending job not claimed now falls due, if any.
    pub next_due: Option<Timestamp>,
}

/// A running job whose lease ran out: its holder stopped or stalled.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiredLease {
    pub lease: Lease,
    pub job_id: String,
    pub client: String,
    pub event_id: String,
    pub attempt: u32,
    pub attempt_in_window: u32,
    pub window_start: Timestamp,
    pub lease_expired_at: Timestamp,
}

/// What follows an attempt, decided by the domain's retry rules.
#[derive(Debug, Clone, PartialEq)]
pub enum JobNext {
    Succeeded,
    RetryAt(Timestamp),
    Dead { reason: String },
}

/// The end of one attempt, written only if `lease` is still the job's current lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub lease: Lease,
    pub attempt: AttemptRecord,
    pub next: JobNext,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PruneCutoffs {
    /// Succeeded and cancelled jobs finished before this go, with events left without jobs.
    pub succeeded_before: Timestamp,
    /// Dead jobs that died before this go.
    pub dead_before: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PruneReport {
    pub jobs: u64,
    pub events: u64,
}

impl PruneReport {
    pub fn is_empty(&self) -> bool {
        self.jobs == 0 && self.events == 0
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// The store cannot take writes now (disk full, read-only): callers answer 503.
    #[error("the store cannot accept writes: {0}")]
    Unavailable(String),
    #[error("the store is shut down")]
    Closed,
    #[error(
        "the database schema is at version {found}, this build expects {expected}; run `ferry migrate`"
    )]
    NeedsMigration { found: i64, expected: i64 },
    #[error(
        "the database schema is at version {found}, newer than this build ({expected}); upgrade Ferry"
    )]
    SchemaTooNew { found: i64, expected: i64 },
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
    #[error(
        "unsupported database URL {0:?}: use sqlite://PATH (postgres:// comes with the PostgreSQL store)"
    )]
    UnsupportedUrl(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The durable state of a hub. See the module docs for the invariants.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores events and their jobs durably, all or nothing. An event whose id exists
    /// already is a [`PublishOutcome::Duplicate`] and creates nothing. The jobs are due at
    /// `now` (the event's own `created_at` may be any time the publisher chose).
    async fn publish(
        &self,
        events: Vec<NewEvent>,
        now: Timestamp,
    ) -> StoreResult<Vec<PublishOutcome>>;

    /// Leases due `pending` jobs of one client.
    async fn claim(&self, request: ClaimRequest) -> StoreResult<ClaimBatch>;

    /// Records attempts and their consequences. Returns, per completion, whether it was
    /// accepted (`false`: the lease was no longer current, nothing was written).
    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<Vec<bool>>;

    /// Gives leased jobs back unattempted (shutdown): they are `pending` again and due now,
    /// and the claim's attempt is not counted. Fenced like `complete`.
    async fn release(&self, leases: Vec<Lease>, now: Timestamp) -> StoreResult<Vec<bool>>;

    /// Running jobs whose lease expired at or before `now`.
    async fn expired_leases(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<ExpiredLease>>;

    async fn event(&self, id: &str) -> StoreResult<Option<EventDetail>>;
    async fn job(&self, id: &str) -> StoreResult<Option<JobDetail>>;
    /// Jobs newest first.
    async fn list_jobs(
        &self,
        filter: JobFilter,
        limit: usize,
        after: Option<Cursor>,
    ) -> StoreResult<Page<JobRecord>>;

    /// Dead or cancelled → pending, due now, with a fresh retry window.
    /// [`StoreError::NotFound`] or [`StoreError::Conflict`] otherwise.
    async fn retry_job(&self, id: &str, now: Timestamp) -> StoreResult<JobRecord>;
    /// [`Store::retry_job`] for every dead or cancelled job the filter matches; the
    /// filter's state must be dead or cancelled. Returns how many were retried.
    async fn retry_jobs(&self, filter: JobFilter, now: Timestamp) -> StoreResult<u64>;
    /// Pending → cancelled.
    async fn cancel_job(
        &self,
        id: &str,
        reason: CancelReason,
        now: Timestamp,
    ) -> StoreResult<JobRecord>;

    /// Deletes up to `limit` expired jobs and events; call until the report is empty.
    async fn prune(&self, cutoffs: PruneCutoffs, limit: usize) -> StoreResult<PruneReport>;

    /// How many jobs are open (pending or running), per client.
    async fn open_jobs_by_client(&self) -> StoreResult<Vec<(String, u64)>>;

    /// Succeeds when the store can serve reads and writes.
    async fn ping(&self) -> StoreResult<()>;
}

/// A database URL fit for logs and messages: any user and password are masked.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Opens the store a URL names, applying migrations when `migrate` is set (otherwise a
/// schema that is behind is an error).
pub async fn open(url: &str, migrate: bool) -> StoreResult<std::sync::Arc<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store =
            sqlite::SqliteStore::open(std::path::Path::new(path), sqlite::Options { migrate })
                .await?;
        return Ok(std::sync::Arc::new(store));
    }
    Err(StoreError::UnsupportedUrl(redact_url(url)))
}

/// Applies migrations and reports the schema version reached.
pub async fn migrate(url: &str) -> StoreResult<i64> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return sqlite::migrate_file(std::path::Path::new(path)).await;
    }
    Err(StoreError::UnsupportedUrl(redact_url(url)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(
            super::redact_url("postgres://u:secret@db:5432/ferry"),
            "postgres://***@db:5432/ferry"
        );
        assert_eq!(
            super::redact_url("postgres://db/ferry?x=a@b"),
            "postgres://db/ferry?x=a@b"
        );
        assert_eq!(
            super::redact_url("sqlite://ferry-data/ferry.db"),
            "sqlite://ferry-data/ferry.db"
        );
    }
}
