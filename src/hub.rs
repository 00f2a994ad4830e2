//! The hub: a store, a dispatcher with a lane per client, retention, and the HTTP API,
//! assembled from a [`Config`] and run until a shutdown signal.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ferry::Config::parse(r#"
//!     [clients.ftp]
//!     kind = "custom"
//!     [subscriptions.orders-to-ftp]
//!     topics = ["order.created"]
//!     client = "ftp"
//! "#, "inline")?;
//! # struct Ftp;
//! # #[async_trait::async_trait]
//! # impl ferry::Client for Ftp {
//! #     async fn deliver(&self, _: ferry::Delivery<'_>) -> ferry::DeliveryResult { ferry::DeliveryResult::delivered() }
//! # }
//! let hub = ferry::Hub::builder(config).client("ftp", Ftp).build().await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! hub.run(listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use ferry_domain::fanout::matching;
use ferry_domain::{Priority, Subscription, Timestamp};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::client::http::{HttpClient, HttpClientError};
use crate::clock::{Clock, SystemClock};
use crate::config::{ClientConfig, ClientKind, Config};
use crate::dispatch::waiters::EventWaiters;
use crate::dispatch::{Deps, Dispatcher, LaneSettings};
use crate::store::{self, NewEvent, NewJob, PublishOutcome, Store, StoreError, StoredEvent};
use crate::{api, ids, retention};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    HttpClient(#[from] HttpClientError),
    #[error(
        "client {0:?} is configured with kind = \"custom\" but no implementation was registered for it"
    )]
    MissingClient(String),
    #[error(
        "subscription {subscription:?} names client {client:?}, which is neither configured nor registered"
    )]
    UnknownClient {
        subscription: String,
        client: String,
    },
    #[error("serving HTTP failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Builds a [`Hub`]: the configuration, plus what only code can supply.
pub struct HubBuilder {
    config: Config,
    custom_clients: HashMap<String, Arc<dyn Client>>,
    extra_subscriptions: Vec<Subscription>,
    store: Option<Arc<dyn Store>>,
    clock: Arc<dyn Clock>,
    migrate: bool,
}

impl HubBuilder {
    /// Registers a client implemented in Rust under `name`. Its delivery settings come
    /// from `[clients.NAME]` (`kind = "custom"`) when the file has one, else the defaults.
    pub fn client(mut self, name: impl Into<String>, client: impl Client) -> Self {
        self.custom_clients.insert(name.into(), Arc::new(client));
        self
    }

    /// Adds a subscription besides the file's.
    pub fn subscription(mut self, subscription: Subscription) -> Self {
        self.extra_subscriptions.push(subscription);
        self
    }

    /// Uses this store instead of opening `storage.url`.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether to apply pending migrations when opening the store (default: yes).
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    pub async fn build(self) -> Result<Hub, HubError> {
        let HubBuilder {
            mut config,
            mut custom_clients,
            extra_subscriptions,
            store,
            clock,
            migrate,
        } = self;
        for name in custom_clients.keys() {
            config
                .clients
                .entry(name.clone())
                .or_insert_with(|| default_custom_client(name));
        }
        let mut clients = Vec::new();
        for (name, settings) in &config.clients {
            let implementation: Arc<dyn Client> =
                match (&settings.kind, custom_clients.remove(name)) {
                    (_, Some(custom)) => custom,
                    (ClientKind::Http(_), None) => Arc::new(HttpClient::from_config(settings)?),
                    (ClientKind::Custom, None) => {
                        return Err(HubError::MissingClient(name.clone()));
                    }
                };
            clients.push((
                lane_settings(settings, config.server.lease_margin),
                implementation,
            ));
        }
        config.subscriptions.extend(extra_subscriptions);
        for s in &config.subscriptions {
            if !config.clients.contains_key(&s.client) {
                return Err(HubError::UnknownClient {
                    subscription: s.name.clone(),
                    client: s.client.clone(),
                });
            }
        }
        let store = match store {
            Some(store) => store,
            None => store::open(&config.storage.url, migrate).await?,
        };
        Ok(Hub {
            config,
            store,
            clock,
            clients,
        })
    }
}

fn default_custom_client(name: &str) -> ClientConfig {
    ClientConfig {
        name: name.to_owned(),
        kind: ClientKind::Custom,
        timeout: std::time::Duration::from_secs(10),
        concurrency: 8,
        retry: ferry_domain::RetryPolicy::DEFAULT,
        classify: Vec::new(),
    }
}

fn lane_settings(client: &ClientConfig, lease_margin: std::time::Duration) -> LaneSettings {
    LaneSettings {
        client: client.name.clone(),
        concurrency: client.concurrency,
        timeout: client.timeout,
        lease: client.timeout + lease_margin,
        retry: client.retry,
        classify: client.classify.clone(),
    }
}

/// A hub ready to run.
pub struct Hub {
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    clients: Vec<(LaneSettings, Arc<dyn Client>)>,
}

/// An event as a publisher gives it, validated; the hub assigns what is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRequest {
    pub id: Option<String>,
    pub topic: String,
    pub key: Option<String>,
    /// JSON text.
    pub data: String,
    pub attributes: BTreeMap<String, String>,
    pub priority: Priority,
    /// When the fact happened; now when not given.
    pub created_at: Option<Timestamp>,
}

/// What the running parts of a hub share (the API's state).
pub(crate) struct Core {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub waiters: Arc<EventWaiters>,
    pub subscriptions: Vec<Subscription>,
    pub dispatcher: Dispatcher,
    /// Fires when the hub starts shutting down (request/reply waits end early).
    pub stopping: CancellationToken,
}

impl Core {
    /// Gives the event its id and time and makes one job per matching subscription.
    pub fn fan_out(&self, request: PublishRequest, now: Timestamp) -> NewEvent {
        let jobs = matching(&self.subscriptions, &request.topic, &request.attributes)
            .map(|s| NewJob {
                id: ids::new_job_id(),
                subscription: s.name.clone(),
                client: s.client.clone(),
            })
            .collect();
        let event = StoredEvent {
            id: request.id.unwrap_or_else(ids::new_event_id),
            topic: request.topic,
            key: request.key,
            data: request.data,
            attributes: request.attributes,
            priority: request.priority,
            created_at: request.created_at.unwrap_or(now),
        };
        NewEvent { event, jobs }
    }

    /// Stores events durably (all or nothing) and wakes the lanes that have new work.
    ///
    /// Runs as its own task: if the publisher hangs up meanwhile, the write still
    /// completes and the lanes are still woken (rather than finding the jobs on their slow
    /// re-check).
    pub async fn publish(
        self: &Arc<Self>,
        events: Vec<NewEvent>,
        now: Timestamp,
    ) -> Result<Vec<PublishOutcome>, StoreError> {
        let core = self.clone();
        let publishing = tokio::spawn(async move {
            let clients: Vec<HashSet<String>> = events
                .iter()
                .map(|e| e.jobs.iter().map(|j| j.client.clone()).collect())
                .collect();
            let outcomes = core.store.publish(events, now).await?;
            let mut woken = HashSet::new();
            for (outcome, clients) in outcomes.iter().zip(clients) {
                if *outcome == PublishOutcome::Created {
                    for client in clients {
                        if woken.insert(client.clone()) {
                            core.dispatcher.wake(&client);
                        }
                    }
                }
            }
            Ok(outcomes)
        });
        publishing
            .await
            .map_err(|e| StoreError::Database(format!("the publish task failed: {e}")))?
    }
}

impl Hub {
    pub fn builder(config: Config) -> HubBuilder {
        HubBuilder {
            config,
            custom_clients: HashMap::new(),
            extra_subscriptions: Vec::new(),
            store: None,
            clock: Arc::new(SystemClock),
            migrate: true,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves the API on `listener` and delivers until `shutdown` completes; then stops
    /// taking requests and claims, lets deliveries in flight finish (or releases them
    /// after `server.shutdown_grace`), and returns.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), HubError> {
        let Hub {
            config,
            store,
            clock,
            clients,
        } = self;
        let stop = CancellationToken::new();
        let waiters = Arc::new(EventWaiters::default());
        let deps = Deps {
            store: store.clone(),
            clock: clock.clone(),
            waiters: waiters.clone(),
        };
        let dispatcher = Dispatcher::start(
            deps,
            clients,
            config.server.lease_margin,
            config.server.shutdown_grace,
            stop.child_token(),
        );
        let core = Arc::new(Core {
            store: store.clone(),
            clock: clock.clone(),
            waiters,
            subscriptions: config.subscriptions.clone(),
            dispatcher,
            stopping: stop.clone(),
        });
        let retention = tokio::spawn(retention::run(
            store.clone(),
            clock.clone(),
            config.retention,
            stop.child_token(),
        ));

        tokio::spawn(warn_about_orphans(
            store.clone(),
            config.clients.keys().cloned().collect(),
        ));
        let router = api::router(core.clone(), config.server.max_body);
        let stop_serving = stop.clone();
        let serving = axum::serve(listener, router).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!(
                "shutting down: no new requests or claims; finishing deliveries in flight"
            );
            stop_serving.cancel();
        });
        // Graceful shutdown waits for every connection to close; a client that never
        // finishes its request must not keep the hub up, so the wait is bounded.
        let grace = config.server.shutdown_grace;
        let served = tokio::select! {
            served = serving => served,
            _ = async {
                stop.cancelled().await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("connections still open after the shutdown grace period were dropped");
                Ok(())
            }
        };
        // The API may have ended on an error rather than the signal: stop the rest too.
        stop.cancel();
        core.dispatcher.stopped().await;
        if let Err(e) = retention.await {
            tracing::error!(error = %e, "the retention task failed");
        }
        tracing::info!("stopped");
        served.map_err(HubError::Serve)
    }
}

/// Jobs whose client is no longer configured wait until it is configured again; say so at
/// start rather than let them sit unnoticed.
async fn warn_about_orphans(store: Arc<dyn Store>, clients: HashSet<String>) {
    match store.open_jobs_by_client().await {
        Ok(open) => {
            for (client, jobs) in open.into_iter().filter(|(c, _)| !clients.contains(c)) {
                tracing::warn!(
                    client = %client,
                    jobs,
                    "open jobs belong to a client that is not configured; they wait until it is configured again"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not count open jobs per client"),
    }
}
