//! Retention: succeeded (and cancelled) jobs and their events go after `retention.succeeded`,
//! dead letters after `retention.dead`. Runs at start and then every minute, in small
//! chunks so that it never holds the writer for long.

use std::sync::Arc;
use std::time::Duration;

use ferry_domain::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::RetentionConfig;
use crate::store::{PruneCutoffs, PruneReport, Store};

const EVERY: Duration = Duration::from_secs(60);
const CHUNK: usize = 1000;

pub async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    retention: RetentionConfig,
    stop: CancellationToken,
) {
    loop {
        prune_all(store.as_ref(), clock.as_ref(), retention, &stop).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// Prunes until nothing is left to prune, and reports the total.
pub async fn prune_all(
    store: &dyn Store,
    clock: &dyn Clock,
    retention: RetentionConfig,
    stop: &CancellationToken,
) -> PruneReport {
    let now = clock.now();
    let cutoffs = PruneCutoffs {
        // Should the subtraction ever fail, prune nothing rather than everything.
        succeeded_before: now
            .saturating_sub(retention.succeeded)
            .unwrap_or(Timestamp::MIN),
        dead_before: now.saturating_sub(retention.dead).unwrap_or(Timestamp::MIN),
    };
    let mut total = PruneReport::default();
    while !stop.is_cancelled() {
        match store.prune(cutoffs, CHUNK).await {
            Ok(report) if report.is_empty() => break,
            Ok(report) => {
                total.jobs += report.jobs;
                total.events += report.events;
            }
            Err(e) => {
                tracing::error!(error = %e, "retention pruning failed; trying again in a minute");
                break;
            }
        }
    }
    if !total.is_empty() {
        tracing::info!(
            jobs = total.jobs,
            events = total.events,
            "retention pruned expired jobs and events"
        );
    }
    total
}
