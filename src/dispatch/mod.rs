//! The dispatcher: one lane per client. A lane claims due jobs of its client in batches
//! (as many as it has free concurrency for), delivers each through the client, and
//! writes each outcome fenced by the claim's lease token.
//!
//! Lanes sleep until something can be done: a publish or an operator's retry wakes the
//! lanes of the clients concerned, a delivery ending frees a slot, and the earliest
//! retry time sets a timer. There is no polling loop; a slow timer (30 s) only guards
//! against a missed wake-up.
//!
//! The decisions a lane makes per client (is there a free slot?) and per job (what does
//! this outcome mean?) are where pause, rate limits and per-key ordering plug in.

mod lane;
pub mod outcome;
mod sweeper;
pub mod waiters;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_domain::{ClassifyRule, RetryPolicy};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::clock::Clock;
use crate::store::Store;
use waiters::EventWaiters;

/// How one client's lane behaves.
#[derive(Debug, Clone)]
pub struct LaneSettings {
    pub client: String,
    pub concurrency: usize,
    pub timeout: Duration,
    /// A claim's lease: the client's timeout plus the margin.
    pub lease: Duration,
    pub retry: RetryPolicy,
    pub classify: Vec<ClassifyRule>,
}

/// What lanes and the sweeper share with the rest of the hub.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub waiters: Arc<EventWaiters>,
}

pub struct Dispatcher {
    bells: HashMap<String, Arc<Notify>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Dispatcher {
    /// Starts a lane per client and the lease sweeper. They stop when `shutdown` fires:
    /// no new claims, deliveries in flight get `grace` to finish, the rest are released.
    pub fn start(
        deps: Deps,
        clients: Vec<(LaneSettings, Arc<dyn Client>)>,
        lease_margin: Duration,
        grace: Duration,
        shutdown: CancellationToken,
    ) -> Dispatcher {
        let mut bells = HashMap::new();
        let mut tasks = Vec::new();
        let mut rules = HashMap::new();
        for (settings, client) in clients {
            let bell = Arc::new(Notify::new());
            bells.insert(settings.client.clone(), bell.clone());
            rules.insert(
                settings.client.clone(),
                (settings.retry, settings.classify.clone()),
            );
            let lane = lane::Lane::new(settings, client, deps.clone(), bell, grace);
            tasks.push(tokio::spawn(lane.run(shutdown.clone())));
        }
        let sweeper = sweeper::Sweeper {
            deps,
            rules,
            bells: bells.clone(),
            interval: sweep_interval(lease_margin),
        };
        tasks.push(tokio::spawn(sweeper.run(shutdown)));
        Dispatcher {
            bells,
            tasks: Mutex::new(tasks),
        }
    }

    /// New or reopened work for a client.
    pub fn wake(&self, client: &str) {
        if let Some(bell) = self.bells.get(client) {
            bell.notify_one();
        }
    }

    pub fn wake_all(&self) {
        self.bells.values().for_each(|bell| bell.notify_one());
    }

    /// Waits until every lane has finished or released its deliveries.
    pub async fn stopped(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a dispatcher task failed");
            }
        }
    }
}

/// Expired leases are looked for often enough that a crashed worker's jobs come back
/// within about half a margin of their expiry.
fn sweep_interval(lease_margin: Duration) -> Duration {
    (lease_margin / 2).clamp(Duration::from_millis(200), Duration::from_secs(15))
}
