//! The lease sweeper: finds running jobs whose lease expired (their worker crashed or
//! stalled), records the lost attempt as transient, and wakes their lanes. It completes
//! them with the expired lease's own token, so if the stalled worker wakes up and
//! finishes first, exactly one of the two outcomes is written.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_domain::{ClassifyRule, RetryPolicy};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Deps;
use super::outcome::{self, Rules};
use crate::store::JobNext;

const BATCH: usize = 500;

pub struct Sweeper {
    pub deps: Deps,
    pub rules: HashMap<String, (RetryPolicy, Vec<ClassifyRule>)>,
    pub bells: HashMap<String, Arc<Notify>>,
    pub interval: Duration,
}

impl Sweeper {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let full = self.sweep_once().await;
            if full && !shutdown.is_cancelled() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// Returns whether a full batch was found (more may be waiting).
    async fn sweep_once(&self) -> bool {
        let now = self.deps.clock.now();
        let expired = match self.deps.store.expired_leases(now, BATCH).await {
            Ok(expired) => expired,
            Err(e) => {
                tracing::error!(error = %e, "looking for expired leases failed");
                return false;
            }
        };
        if expired.is_empty() {
            return false;
        }
        let default_rules = (RetryPolicy::DEFAULT, Vec::new());
        let completions = expired
            .iter()
            .map(|job| {
                let (retry, classify) = self.rules.get(&job.client).unwrap_or(&default_rules);
                outcome::lease_expired(&Rules { retry, classify }, job, now, fastrand::f64())
            })
            .collect::<Vec<_>>();
        let terminal: Vec<bool> = completions
            .iter()
            .map(|c| !matches!(c.next, JobNext::RetryAt(_)))
            .collect();
        match self.deps.store.complete(completions).await {
            Ok(accepted) => {
                for ((job, accepted), terminal) in expired.iter().zip(accepted).zip(terminal) {
                    if !accepted {
                        continue;
                    }
                    tracing::warn!(job = %job.job_id, client = %job.client, "lease expired; the attempt counts as transient");
                    if terminal {
                        self.deps.waiters.ring(&job.event_id);
                    }
                    if let Some(bell) = self.bells.get(&job.client) {
                        bell.notify_one();
                    }
                }
            }
            Err(e) => {
                // Not "more may be waiting": with the store failing, retrying at once
                // would only spin. The next sweep tries again.
                tracing::error!(error = %e, "recording expired leases failed");
                return false;
            }
        }
        expired.len() == BATCH
    }
}
