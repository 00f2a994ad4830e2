//! One client's lane: claim, deliver, complete.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_domain::Timestamp;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::outcome::{self, Rules};
use super::{Deps, LaneSettings};
use crate::client::{Client, Delivery, DeliveryResult};
use crate::store::{ClaimRequest, ClaimedJob, JobNext, Lease};

/// Claims are batched, but no batch is bigger than this.
const MAX_CLAIM: usize = 256;
/// Even without a wake-up a lane looks for work this often (a missed bell is not fatal).
const IDLE_RECHECK: Duration = Duration::from_secs(30);
/// After a store error a lane waits this long before claiming again.
const STORE_ERROR_PAUSE: Duration = Duration::from_secs(1);

pub struct Lane {
    settings: Arc<LaneSettings>,
    client: Arc<dyn Client>,
    deps: Deps,
    bell: Arc<Notify>,
    grace: Duration,
}

/// What a finished delivery tells its lane.
struct Finished {
    retry_at: Option<Timestamp>,
}

impl Lane {
    pub fn new(
        settings: LaneSettings,
        client: Arc<dyn Client>,
        deps: Deps,
        bell: Arc<Notify>,
        grace: Duration,
    ) -> Lane {
        Lane {
            settings: Arc::new(settings),
            client,
            deps,
            bell,
            grace,
        }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut in_flight: JoinSet<Finished> = JoinSet::new();
        let mut leases: HashMap<tokio::task::Id, Lease> = HashMap::new();
        // Whether a claim might find work: true at start, after a wake-up, after a full
        // batch, and when the earliest retry falls due.
        let mut maybe_work = true;
        let mut next_due: Option<Timestamp> = None;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            // Reap every delivery that has ended, so one claim fills all the free slots.
            while let Some(done) = in_flight.try_join_next_with_id() {
                self.reaped(done, &mut leases, &mut next_due);
            }
            let free = self.settings.concurrency.saturating_sub(in_flight.len());
            if maybe_work && free > 0 {
                let asked = free.min(MAX_CLAIM);
                let now = self.deps.clock.now();
                let lease_until = now
                    .saturating_add(self.settings.lease)
                    .unwrap_or(Timestamp::MAX);
                let request = ClaimRequest {
                    client: self.settings.client.clone(),
                    limit: asked,
                    now,
                    lease_until,
                };
                match self.deps.store.claim(request).await {
                    Ok(batch) => {
                        maybe_work = batch.jobs.len() == asked;
                        next_due = batch.next_due;
                        for job in batch.jobs {
                            let lease = job.lease;
                            let handle = in_flight.spawn(deliver(
                                self.settings.clone(),
                                self.client.clone(),
                                self.deps.clone(),
                                job,
                            ));
                            leases.insert(handle.id(), lease);
                        }
                    }
                    Err(e) => {
                        tracing::error!(client = %self.settings.client, error = %e, "claiming jobs failed; retrying shortly");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(STORE_ERROR_PAUSE) => {}
                        }
                        continue;
                    }
                }
            }
            let wait_for_due = if maybe_work {
                IDLE_RECHECK
            } else {
                self.until(next_due)
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(done) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                    self.reaped(done, &mut leases, &mut next_due);
                }
                _ = self.bell.notified() => maybe_work = true,
                _ = tokio::time::sleep(wait_for_due) => maybe_work = true,
            }
        }
        self.drain(in_flight, leases).await;
    }

    fn reaped(
        &self,
        done: Result<(tokio::task::Id, Finished), tokio::task::JoinError>,
        leases: &mut HashMap<tokio::task::Id, Lease>,
        next_due: &mut Option<Timestamp>,
    ) {
        match done {
            Ok((id, finished)) => {
                leases.remove(&id);
                if let Some(at) = finished.retry_at {
                    *next_due = Some(next_due.map_or(at, |due| due.min(at)));
                }
            }
            Err(e) => {
                leases.remove(&e.id());
                tracing::error!(client = %self.settings.client, error = %e, "a delivery task failed");
            }
        }
    }

    /// How long until the earliest known due time, bounded by the idle re-check.
    fn until(&self, due: Option<Timestamp>) -> Duration {
        let Some(due) = due else { return IDLE_RECHECK };
        let now = self.deps.clock.now();
        let wait = now.duration_until(due);
        Duration::try_from(wait)
            .unwrap_or(Duration::ZERO)
            .min(IDLE_RECHECK)
    }

    /// Shutdown: deliveries in flight get the grace period to finish and record their
    /// outcome; whatever is still on the wire after it is released, unattempted.
    async fn drain(
        &self,
        mut in_flight: JoinSet<Finished>,
        mut leases: HashMap<tokio::task::Id, Lease>,
    ) {
        let now = tokio::time::Instant::now();
        let deadline = now
            .checked_add(self.grace)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        while !in_flight.is_empty() {
            match tokio::time::timeout_at(deadline, in_flight.join_next_with_id()).await {
                Ok(Some(Ok((id, _)))) => {
                    leases.remove(&id);
                }
                Ok(Some(Err(e))) => {
                    leases.remove(&e.id());
                }
                Ok(None) => break,
                Err(_) => {
                    in_flight.abort_all();
                    while in_flight.join_next().await.is_some() {}
                    break;
                }
            }
        }
        if leases.is_empty() {
            return;
        }
        let leases: Vec<Lease> = leases.into_values().collect();
        let count = leases.len();
        match self.deps.store.release(leases, self.deps.clock.now()).await {
            Ok(_) => {
                tracing::info!(client = %self.settings.client, count, "released deliveries still in flight at shutdown")
            }
            Err(e) => {
                tracing::error!(client = %self.settings.client, error = %e, "releasing deliveries failed; their leases will expire")
            }
        }
    }
}

async fn deliver(
    settings: Arc<LaneSettings>,
    client: Arc<dyn Client>,
    deps: Deps,
    job: ClaimedJob,
) -> Finished {
    let started = deps.clock.now();
    let clock = Instant::now();
    let delivery = Delivery {
        job_id: &job.job_id,
        attempt: job.attempt,
        subscription: &job.subscription,
        client: &settings.client,
        event: &job.event,
    };
    // The HTTP client enforces its own timeout; this one also bounds clients written by
    // users, so that no delivery can outlive its lease.
    let result = tokio::time::timeout(settings.timeout, client.deliver(delivery))
        .await
        .unwrap_or_else(|_| {
            DeliveryResult::transient(format!(
                "timed out after {}",
                humantime::format_duration(settings.timeout)
            ))
        });
    let took = clock.elapsed();
    let rules = Rules {
        retry: &settings.retry,
        classify: &settings.classify,
    };
    let completion = outcome::completion(
        &rules,
        (&job).into(),
        result,
        started,
        took,
        deps.clock.now(),
        fastrand::f64(),
    );
    let retry_at = match completion.next {
        JobNext::RetryAt(at) => Some(at),
        _ => None,
    };
    let terminal = retry_at.is_none();
    match deps.store.complete(vec![completion]).await {
        Ok(accepted) if accepted.first() == Some(&true) => {
            if terminal {
                deps.waiters.ring(&job.event.id);
            }
        }
        Ok(_) => tracing::warn!(
            job = %job.job_id,
            "the lease was taken over before this delivery ended; its outcome was not recorded"
        ),
        Err(e) => tracing::error!(
            job = %job.job_id,
            error = %e,
            "recording a delivery failed; the job is retried when its lease expires"
        ),
    }
    Finished { retry_at }
}
