//! The Store conformance suite: every backend must pass these, through the trait alone.
//! Time is passed explicitly, so leases and retention are exact without sleeping.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry::domain::{CancelReason, JobState, OutcomeClass, Priority, SignedDuration, Timestamp};
use ferry::store::{
    AttemptRecord, ClaimRequest, ClaimedJob, Completion, Cursor, JobFilter, JobNext, NewEvent,
    NewJob, PruneCutoffs, PublishOutcome, Store, StoreError, StoredEvent,
};

/// A fresh SQLite store in its own directory (kept alive by the returned guard).
async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("conformance.db").display());
    (ferry::store::open(&url, true).await.unwrap(), dir)
}

const T0: Timestamp = Timestamp::constant(1_800_000_000, 0);

fn at(secs: i64) -> Timestamp {
    T0.checked_add(SignedDuration::from_secs(secs)).unwrap()
}

fn event(
    id: &str,
    priority: Priority,
    created: Timestamp,
    jobs: &[(&str, &str, &str)],
) -> NewEvent {
    NewEvent {
        event: StoredEvent {
            id: id.to_owned(),
            topic: "customer.updated".to_owned(),
            key: Some(format!("key-{id}")),
            data: r#"{"n": 1}"#.to_owned(),
            attributes: BTreeMap::from([("region".to_owned(), "eu".to_owned())]),
            priority,
            created_at: created,
        },
        jobs: jobs
            .iter()
            .map(|(job, sub, client)| NewJob {
                id: job.to_string(),
                subscription: sub.to_string(),
                client: client.to_string(),
            })
            .collect(),
    }
}

fn claim(client: &str, limit: usize, now: Timestamp, lease_secs: i64) -> ClaimRequest {
    ClaimRequest {
        client: client.to_owned(),
        limit,
        now,
        lease_until: now
            .checked_add(SignedDuration::from_secs(lease_secs))
            .unwrap(),
    }
}

fn done(
    job: &ClaimedJob,
    class: OutcomeClass,
    status: Option<u16>,
    at: Timestamp,
    next: JobNext,
) -> Completion {
    Completion {
        lease: job.lease,
        attempt: AttemptRecord {
            number: job.attempt,
            at,
            duration_ms: 5,
            class,
            status,
            body: status.map(|s| format!("answer {s}").into_bytes()),
            error: None,
        },
        next,
    }
}

/// Publishes event `e1` with one job `j1` for client `crm` at time 0, and claims it.
async fn one_claimed(store: &Arc<dyn Store>, lease_secs: i64) -> ClaimedJob {
    store
        .publish(
            vec![event("e1", Priority::Normal, at(0), &[("j1", "s", "crm")])],
            T0,
        )
        .await
        .unwrap();
    store
        .claim(claim("crm", 1, at(0), lease_secs))
        .await
        .unwrap()
        .jobs
        .remove(0)
}

fn ids(page: &ferry::store::Page<ferry::store::JobRecord>) -> Vec<&str> {
    page.items.iter().map(|j| j.id.as_str()).collect()
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _dir) = super::sqlite().await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

conformance!(
    publishing_stores_the_event_and_its_jobs,
    publishing_an_existing_id_creates_nothing,
    a_batch_is_stored_whole_or_not_at_all,
    claims_take_higher_priority_first_then_oldest,
    claims_skip_jobs_not_yet_due_and_report_the_next,
    completions_are_fenced_by_the_lease_token,
    a_stalled_worker_cannot_overwrite_its_successor,
    released_jobs_are_pending_again_unattempted,
    operators_retry_dead_jobs_with_a_fresh_window,
    only_pending_jobs_can_be_cancelled,
    bulk_retry_follows_the_filter,
    listings_are_newest_first_filtered_and_paginated,
    retention_prunes_only_what_has_expired,
    jobs_are_due_at_publish_time_not_at_the_events_own_time,
    bulk_retry_covers_any_number_of_jobs,
);

async fn publishing_stores_the_event_and_its_jobs(store: Arc<dyn Store>) {
    let out = store
        .publish(
            vec![event(
                "e1",
                Priority::High,
                T0,
                &[("j1", "s1", "crm"), ("j2", "s2", "erp")],
            )],
            T0,
        )
        .await
        .unwrap();
    assert_eq!(out, [PublishOutcome::Created]);
    let detail = store.event("e1").await.unwrap().expect("stored");
    assert_eq!(detail.event.topic, "customer.updated");
    assert_eq!(
        detail.event.data, r#"{"n": 1}"#,
        "data is kept byte for byte"
    );
    assert_eq!(
        detail.event.attributes.get("region").map(String::as_str),
        Some("eu")
    );
    assert_eq!(detail.event.priority, Priority::High);
    assert_eq!(detail.event.created_at, T0);
    let jobs: Vec<_> = detail
        .deliveries
        .iter()
        .map(|d| (d.job.id.as_str(), d.job.client.as_str(), d.job.state))
        .collect();
    assert_eq!(
        jobs,
        [
            ("j1", "crm", JobState::Pending),
            ("j2", "erp", JobState::Pending)
        ]
    );
    assert!(
        detail
            .deliveries
            .iter()
            .all(|d| d.job.attempts == 0 && d.last_attempt.is_none())
    );
    assert!(store.event("nope").await.unwrap().is_none());
    assert_eq!(
        store.open_jobs_by_client().await.unwrap(),
        [("crm".to_owned(), 1), ("erp".to_owned(), 1)]
    );
    // An event no subscription matched is stored all the same.
    store
        .publish(vec![event("lonely", Priority::Normal, T0, &[])], T0)
        .await
        .unwrap();
    assert!(
        store
            .event("lonely")
            .await
            .unwrap()
            .unwrap()
            .deliveries
            .is_empty()
    );
}

async fn publishing_an_existing_id_creates_nothing(store: Arc<dyn Store>) {
    store
        .publish(
            vec![event("e1", Priority::Normal, T0, &[("j1", "s", "crm")])],
            T0,
        )
        .await
        .unwrap();
    let mut again = event("e1", Priority::Low, at(5), &[("j9", "s", "crm")]);
    again.event.topic = "other.topic".into();
    assert_eq!(
        store.publish(vec![again], T0).await.unwrap(),
        [PublishOutcome::Duplicate]
    );
    let detail = store.event("e1").await.unwrap().unwrap();
    assert_eq!(
        detail.event.topic, "customer.updated",
        "the first publish stands"
    );
    assert_eq!(detail.deliveries.len(), 1);
    assert!(store.job("j9").await.unwrap().is_none());
}

async fn a_batch_is_stored_whole_or_not_at_all(store: Arc<dyn Store>) {
    store
        .publish(
            vec![event("e0", Priority::Normal, T0, &[("taken", "s", "crm")])],
            T0,
        )
        .await
        .unwrap();
    // The second event reuses a job id, which the store must refuse; the first must not stay.
    let batch = vec![
        event("e1", Priority::Normal, T0, &[("j1", "s", "crm")]),
        event("e2", Priority::Normal, T0, &[("taken", "s", "crm")]),
    ];
    assert!(store.publish(batch, T0).await.is_err());
    assert!(store.event("e1").await.unwrap().is_none());
    assert!(store.job("j1").await.unwrap().is_none());
    // And the store still works afterwards.
    assert_eq!(
        store
            .publish(vec![event("e3", Priority::Normal, T0, &[])], T0)
            .await
            .unwrap(),
        [PublishOutcome::Created]
    );
}

async fn claims_take_higher_priority_first_then_oldest(store: Arc<dyn Store>) {
    store
        .publish(
            vec![
                event("low", Priority::Low, at(0), &[("j-low", "s", "crm")]),
                event("n1", Priority::Normal, at(1), &[("j-n1", "s", "crm")]),
                event("high", Priority::High, at(2), &[("j-high", "s", "crm")]),
                event("n2", Priority::Normal, at(3), &[("j-n2", "s", "crm")]),
                event("other", Priority::High, at(0), &[("j-other", "s", "erp")]),
            ],
            T0,
        )
        .await
        .unwrap();
    let batch = store.claim(claim("crm", 3, at(10), 30)).await.unwrap();
    let ids: Vec<_> = batch.jobs.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!(ids, ["j-high", "j-n1", "j-n2"]);
    let first = &batch.jobs[0];
    assert_eq!(
        (first.attempt, first.attempt_in_window, first.window_start),
        (1, 1, at(10))
    );
    assert_eq!(first.event.id, "high");
    assert_eq!(first.client, "crm");
    let job = store.job("j-high").await.unwrap().unwrap().job;
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.lease_expires_at, Some(at(40)));
    assert_eq!(job.attempts, 1);
    let rest = store.claim(claim("crm", 10, at(10), 30)).await.unwrap();
    assert_eq!(
        rest.jobs
            .iter()
            .map(|j| j.job_id.as_str())
            .collect::<Vec<_>>(),
        ["j-low"]
    );
    assert!(
        store
            .claim(claim("crm", 10, at(10), 30))
            .await
            .unwrap()
            .jobs
            .is_empty(),
        "running jobs are not claimed twice"
    );
}

async fn claims_skip_jobs_not_yet_due_and_report_the_next(store: Arc<dyn Store>) {
    let job = one_claimed(&store, 30).await;
    let accepted = store
        .complete(vec![done(
            &job,
            OutcomeClass::Transient,
            Some(503),
            at(0),
            JobNext::RetryAt(at(60)),
        )])
        .await
        .unwrap();
    assert_eq!(accepted, [true]);
    let early = store.claim(claim("crm", 1, at(59), 30)).await.unwrap();
    assert!(early.jobs.is_empty());
    assert_eq!(early.next_due, Some(at(60)));
    let due = store.claim(claim("crm", 1, at(60), 30)).await.unwrap();
    assert_eq!(due.jobs.len(), 1);
    assert_eq!(
        (
            due.jobs[0].attempt,
            due.jobs[0].attempt_in_window,
            due.jobs[0].window_start
        ),
        (2, 2, at(0))
    );
    assert_eq!(due.next_due, None);
}

async fn completions_are_fenced_by_the_lease_token(store: Arc<dyn Store>) {
    let job = one_claimed(&store, 30).await;
    let mut forged = done(
        &job,
        OutcomeClass::Success,
        Some(200),
        at(1),
        JobNext::Succeeded,
    );
    forged.lease.token = job.lease.token.wrapping_add(1);
    let real = done(
        &job,
        OutcomeClass::Success,
        Some(200),
        at(1),
        JobNext::Succeeded,
    );
    assert_eq!(
        store.complete(vec![forged, real.clone()]).await.unwrap(),
        [false, true]
    );
    assert_eq!(
        store.complete(vec![real]).await.unwrap(),
        [false],
        "a finished job takes no second outcome"
    );
    let detail = store.job("j1").await.unwrap().unwrap();
    assert_eq!(detail.job.state, JobState::Succeeded);
    assert_eq!(detail.history.len(), 1);
    assert_eq!(detail.history[0].body.as_deref(), Some(&b"answer 200"[..]));
    let last = detail.job.last_outcome.unwrap();
    assert_eq!(
        (last.class, last.status),
        (OutcomeClass::Success, Some(200))
    );
    assert!(detail.job.finished_at.is_some());
}

async fn a_stalled_worker_cannot_overwrite_its_successor(store: Arc<dyn Store>) {
    let stalled = one_claimed(&store, 10).await;
    assert!(
        store.expired_leases(at(9), 10).await.unwrap().is_empty(),
        "not expired yet"
    );
    let expired = store.expired_leases(at(10), 10).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].lease, stalled.lease);
    assert_eq!(
        (expired[0].attempt, expired[0].lease_expired_at),
        (1, at(10))
    );
    // The sweeper records the lost attempt with the expired lease's own token.
    let lost = Completion {
        lease: expired[0].lease,
        attempt: AttemptRecord {
            number: 1,
            at: at(10),
            duration_ms: 0,
            class: OutcomeClass::Transient,
            status: None,
            body: None,
            error: Some("lease expired".into()),
        },
        next: JobNext::RetryAt(at(11)),
    };
    assert_eq!(store.complete(vec![lost]).await.unwrap(), [true]);
    let successor = store
        .claim(claim("crm", 1, at(11), 10))
        .await
        .unwrap()
        .jobs
        .remove(0);
    assert_eq!(successor.attempt, 2);
    assert_ne!(successor.lease.token, stalled.lease.token);
    // The stalled worker wakes up and reports: refused.
    let late = done(
        &stalled,
        OutcomeClass::Permanent,
        Some(400),
        at(12),
        JobNext::Dead {
            reason: "late".into(),
        },
    );
    assert_eq!(store.complete(vec![late]).await.unwrap(), [false]);
    let ok = done(
        &successor,
        OutcomeClass::Success,
        Some(200),
        at(12),
        JobNext::Succeeded,
    );
    assert_eq!(store.complete(vec![ok]).await.unwrap(), [true]);
    let detail = store.job("j1").await.unwrap().unwrap();
    assert_eq!(detail.job.state, JobState::Succeeded);
    let classes: Vec<_> = detail.history.iter().map(|a| (a.number, a.class)).collect();
    assert_eq!(
        classes,
        [(1, OutcomeClass::Transient), (2, OutcomeClass::Success)]
    );
}

async fn released_jobs_are_pending_again_unattempted(store: Arc<dyn Store>) {
    let job = one_claimed(&store, 30).await;
    let mut wrong = job.lease;
    wrong.token = wrong.token.wrapping_add(1);
    assert_eq!(
        store.release(vec![wrong, job.lease], at(1)).await.unwrap(),
        [false, true]
    );
    let record = store.job("j1").await.unwrap().unwrap().job;
    assert_eq!(
        (record.state, record.attempts, record.next_attempt_at),
        (JobState::Pending, 0, Some(at(1)))
    );
    let again = store
        .claim(claim("crm", 1, at(1), 30))
        .await
        .unwrap()
        .jobs
        .remove(0);
    assert_eq!(
        (again.attempt, again.attempt_in_window, again.window_start),
        (1, 1, at(1)),
        "the window starts afresh"
    );
}

async fn operators_retry_dead_jobs_with_a_fresh_window(store: Arc<dyn Store>) {
    store
        .publish(
            vec![event("e1", Priority::Normal, at(0), &[("j1", "s", "crm")])],
            T0,
        )
        .await
        .unwrap();
    assert!(
        matches!(
            store.retry_job("j1", at(1)).await,
            Err(StoreError::Conflict(_))
        ),
        "pending is not retryable"
    );
    assert!(matches!(
        store.retry_job("missing", at(1)).await,
        Err(StoreError::NotFound)
    ));
    let job = store
        .claim(claim("crm", 1, at(0), 30))
        .await
        .unwrap()
        .jobs
        .remove(0);
    let dead = done(
        &job,
        OutcomeClass::Unauthorized,
        Some(401),
        at(1),
        JobNext::Dead {
            reason: "unauthorized".into(),
        },
    );
    store.complete(vec![dead]).await.unwrap();
    let record = store.job("j1").await.unwrap().unwrap().job;
    assert_eq!(
        (record.state, record.dead_reason.as_deref()),
        (JobState::Dead, Some("unauthorized"))
    );
    let retried = store.retry_job("j1", at(100)).await.unwrap();
    assert_eq!(
        (retried.state, retried.next_attempt_at, retried.dead_reason),
        (JobState::Pending, Some(at(100)), None)
    );
    let again = store
        .claim(claim("crm", 1, at(100), 30))
        .await
        .unwrap()
        .jobs
        .remove(0);
    assert_eq!(
        (again.attempt, again.attempt_in_window, again.window_start),
        (2, 1, at(100))
    );
}

async fn only_pending_jobs_can_be_cancelled(store: Arc<dyn Store>) {
    store
        .publish(
            vec![event(
                "e1",
                Priority::Normal,
                at(0),
                &[("j1", "s", "crm"), ("j2", "s2", "crm")],
            )],
            T0,
        )
        .await
        .unwrap();
    let cancelled = store
        .cancel_job("j1", CancelReason::Operator, at(1))
        .await
        .unwrap();
    assert_eq!(
        (cancelled.state, cancelled.cancel_reason),
        (JobState::Cancelled, Some(CancelReason::Operator))
    );
    assert!(matches!(
        store.cancel_job("j1", CancelReason::Operator, at(2)).await,
        Err(StoreError::Conflict(_))
    ));
    let running = store.claim(claim("crm", 5, at(2), 30)).await.unwrap();
    assert_eq!(running.jobs.len(), 1, "a cancelled job is never claimed");
    assert!(
        matches!(
            store.cancel_job("j2", CancelReason::Operator, at(2)).await,
            Err(StoreError::Conflict(_))
        ),
        "running"
    );
    assert!(matches!(
        store
            .cancel_job("nope", CancelReason::Operator, at(2))
            .await,
        Err(StoreError::NotFound)
    ));
    let reopened = store.retry_job("j1", at(3)).await.unwrap();
    assert_eq!(
        (reopened.state, reopened.cancel_reason),
        (JobState::Pending, None)
    );
}

async fn bulk_retry_follows_the_filter(store: Arc<dyn Store>) {
    let mut events = Vec::new();
    for i in 0..6 {
        let client = if i % 2 == 0 { "crm" } else { "erp" };
        events.push(event(
            &format!("e{i}"),
            Priority::Normal,
            at(0),
            &[(&format!("j{i}"), "s", client)],
        ));
    }
    store.publish(events, T0).await.unwrap();
    for client in ["crm", "erp"] {
        for job in store
            .claim(claim(client, 10, at(0), 30))
            .await
            .unwrap()
            .jobs
        {
            store
                .complete(vec![done(
                    &job,
                    OutcomeClass::Permanent,
                    Some(400),
                    at(1),
                    JobNext::Dead { reason: "x".into() },
                )])
                .await
                .unwrap();
        }
    }
    let crm = JobFilter {
        client: Some("crm".into()),
        ..JobFilter::default()
    };
    assert_eq!(
        store.retry_jobs(crm.clone(), at(2)).await.unwrap(),
        3,
        "the state defaults to dead"
    );
    assert_eq!(store.retry_jobs(crm, at(2)).await.unwrap(), 0);
    let pending = JobFilter {
        state: Some(JobState::Pending),
        ..JobFilter::default()
    };
    assert!(matches!(
        store.retry_jobs(pending, at(2)).await,
        Err(StoreError::Conflict(_))
    ));
    let dead = store
        .list_jobs(
            JobFilter {
                state: Some(JobState::Dead),
                ..JobFilter::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert!(dead.items.iter().all(|j| j.client == "erp") && dead.items.len() == 3);
}

async fn listings_are_newest_first_filtered_and_paginated(store: Arc<dyn Store>) {
    for i in 0..5 {
        store
            .publish(
                vec![event(
                    &format!("e{i}"),
                    Priority::Normal,
                    at(i),
                    &[(&format!("j{i}"), "s", if i == 2 { "erp" } else { "crm" })],
                )],
                T0,
            )
            .await
            .unwrap();
    }
    let first = store
        .list_jobs(JobFilter::default(), 2, None)
        .await
        .unwrap();
    assert_eq!(ids(&first), ["j4", "j3"]);
    let second = store
        .list_jobs(JobFilter::default(), 2, first.next)
        .await
        .unwrap();
    assert_eq!(ids(&second), ["j2", "j1"]);
    let third = store
        .list_jobs(JobFilter::default(), 2, second.next)
        .await
        .unwrap();
    assert_eq!(ids(&third), ["j0"]);
    assert_eq!(third.next, None);
    let crm = store
        .list_jobs(
            JobFilter {
                client: Some("crm".into()),
                key: Some("key-e3".into()),
                ..JobFilter::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(ids(&crm), ["j3"]);
    let none = store
        .list_jobs(
            JobFilter {
                topic: Some("no.such".into()),
                ..JobFilter::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next.is_none());
    let _ = Cursor(0);
}

async fn retention_prunes_only_what_has_expired(store: Arc<dyn Store>) {
    store
        .publish(
            vec![
                event("old-ok", Priority::Normal, at(0), &[("j-ok", "s", "crm")]),
                event(
                    "old-dead",
                    Priority::Normal,
                    at(0),
                    &[("j-dead", "s", "crm")],
                ),
                event(
                    "old-pending",
                    Priority::Normal,
                    at(0),
                    &[("j-pending", "s", "erp")],
                ),
                event("old-none", Priority::Normal, at(0), &[]),
                event("new-none", Priority::Normal, at(500), &[]),
            ],
            T0,
        )
        .await
        .unwrap();
    let jobs = store.claim(claim("crm", 2, at(1), 30)).await.unwrap().jobs;
    for job in &jobs {
        let next = if job.job_id == "j-ok" {
            JobNext::Succeeded
        } else {
            JobNext::Dead { reason: "x".into() }
        };
        let class = if job.job_id == "j-ok" {
            OutcomeClass::Success
        } else {
            OutcomeClass::Permanent
        };
        store
            .complete(vec![done(job, class, Some(200), at(2), next)])
            .await
            .unwrap();
    }
    // Succeeded retention has passed for everything before 100; dead retention has not.
    let cutoffs = PruneCutoffs {
        succeeded_before: at(100),
        dead_before: at(0),
    };
    let mut total = (0, 0);
    loop {
        let r = store.prune(cutoffs, 1).await.unwrap();
        if r.is_empty() {
            break;
        }
        total = (total.0 + r.jobs, total.1 + r.events);
    }
    assert_eq!(
        total,
        (1, 2),
        "one succeeded job; its event and the old event without jobs"
    );
    assert!(store.job("j-ok").await.unwrap().is_none());
    assert!(store.event("old-ok").await.unwrap().is_none());
    assert!(store.event("old-none").await.unwrap().is_none());
    assert!(
        store.event("new-none").await.unwrap().is_some(),
        "younger than retention"
    );
    assert!(
        store.job("j-dead").await.unwrap().is_some(),
        "dead letters have their own retention"
    );
    assert!(
        store.event("old-dead").await.unwrap().is_some(),
        "an event stays while a job refers to it"
    );
    assert!(
        store.job("j-pending").await.unwrap().is_some(),
        "open jobs are never pruned"
    );
    let later = PruneCutoffs {
        succeeded_before: at(100),
        dead_before: at(100),
    };
    assert_eq!(store.prune(later, 100).await.unwrap().jobs, 1);
    assert!(store.event("old-dead").await.unwrap().is_none());
}

/// Jobs are due when the event is published, whatever `created_at` the publisher gave it.
async fn jobs_are_due_at_publish_time_not_at_the_events_own_time(store: Arc<dyn Store>) {
    let future = at(3600);
    store
        .publish(
            vec![event("e1", Priority::Normal, future, &[("j1", "s", "crm")])],
            at(0),
        )
        .await
        .unwrap();
    let batch = store.claim(claim("crm", 1, at(0), 30)).await.unwrap();
    assert_eq!(batch.jobs.len(), 1);
    assert_eq!(batch.jobs[0].event.created_at, future);
}

async fn bulk_retry_covers_any_number_of_jobs(store: Arc<dyn Store>) {
    const N: usize = 2500; // more than any backend's internal chunk
    let events = (0..N)
        .map(|i| {
            event(
                &format!("e{i}"),
                Priority::Normal,
                at(0),
                &[(&format!("j{i}"), "s", "crm")],
            )
        })
        .collect();
    store.publish(events, T0).await.unwrap();
    let mut left = N;
    while left > 0 {
        let jobs = store
            .claim(claim("crm", 256, at(0), 30))
            .await
            .unwrap()
            .jobs;
        left -= jobs.len();
        let dead = jobs
            .iter()
            .map(|j| {
                done(
                    j,
                    OutcomeClass::Permanent,
                    Some(400),
                    at(1),
                    JobNext::Dead { reason: "x".into() },
                )
            })
            .collect();
        store.complete(dead).await.unwrap();
    }
    assert_eq!(
        store.retry_jobs(JobFilter::default(), at(2)).await.unwrap(),
        N as u64
    );
    let still_dead = JobFilter {
        state: Some(JobState::Dead),
        ..JobFilter::default()
    };
    assert!(
        store
            .list_jobs(still_dead, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
