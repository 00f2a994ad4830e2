//! The configuration file as written: loose types (durations and sizes are strings,
//! required fields optional) so that `validate` can name every problem at once, with its
//! TOML path, instead of stopping at the first.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub storage: RawStorage,
    #[serde(default)]
    pub retention: RawRetention,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub security: RawSecurity,
    #[serde(default)]
    pub notify: RawNotify,
    #[serde(default)]
    pub clients: BTreeMap<String, RawClient>,
    #[serde(default)]
    pub subscriptions: BTreeMap<String, RawSubscription>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawServer {
    pub listen: Option<String>,
    pub max_body: Option<String>,
    /// Added to a client's timeout to make a delivery's lease.
    pub lease_margin: Option<String>,
    /// How long SIGTERM waits for deliveries in flight before releasing them.
    pub shutdown_grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawStorage {
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawRetention {
    pub succeeded: Option<String>,
    pub dead: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAuth {
    #[serde(default)]
    pub tokens: Vec<RawToken>,
    pub jwt: Option<RawJwt>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawToken {
    pub name: Option<String>,
    pub token_env: Option<String>,
    pub token_sha256: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawJwt {
    pub secret_env: Option<String>,
    pub public_key_file: Option<String>,
    pub issuer: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawSecurity {
    pub deny_networks: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawNotify {
    pub error: Option<Vec<String>>,
    pub warning: Option<Vec<String>>,
    pub notice: Option<Vec<String>>,
    #[serde(default)]
    pub channels: BTreeMap<String, RawChannel>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawNotifyLevels {
    pub error: Option<Vec<String>>,
    pub warning: Option<Vec<String>>,
    pub notice: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawChannel {
    pub kind: Option<String>,
    pub smtp_url: Option<String>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawClient {
    pub kind: Option<String>,
    pub url: Option<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub timeout: Option<String>,
    pub concurrency: Option<i64>,
    pub rate: Option<String>,
    pub signing_secret_env: Option<String>,
    pub auth: Option<RawOutboundAuth>,
    pub retry: Option<RawRetry>,
    #[serde(default)]
    pub classify: Vec<RawClassifyRule>,
    pub outage: Option<RawOutage>,
    pub budget: Option<String>,
    pub notify: Option<RawNotifyLevels>,
    pub resync: Option<RawResync>,
}

/// Every auth kind's fields in one flat table; `validate` checks which belong to `kind`.
#[derive(Debug, Default, Deserialize)]
pub struct RawOutboundAuth {
    pub kind: Option<String>,
    pub token_env: Option<String>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub secret_env: Option<String>,
    pub ttl: Option<String>,
    pub claims: Option<BTreeMap<String, toml::Value>>,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_env: Option<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawRetry {
    pub backoff: Option<String>,
    pub max_backoff: Option<String>,
    pub transient_window: Option<String>,
    pub permanent_window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawClassifyRule {
    pub status: Option<RawStatus>,
    pub body: Option<String>,
    pub class: Option<String>,
}

/// `status = 409`, `status = "4xx"` or `status = [409, "5xx"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawStatus {
    One(RawStatusItem),
    Many(Vec<RawStatusItem>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawStatusItem {
    Code(i64),
    Pattern(String),
}

#[derive(Debug, Default, Deserialize)]
pub struct RawOutage {
    pub after_failures: Option<i64>,
    pub pauses: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawResync {
    pub url: Option<String>,
    pub items: Option<String>,
    pub next: Option<String>,
    pub key: Option<String>,
    pub topic: Option<String>,
    pub auth: Option<RawOutboundAuth>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawSubscription {
    pub topics: Option<Vec<String>>,
    pub client: Option<String>,
    pub ordered: Option<bool>,
    pub coalesce: Option<bool>,
    pub filter: Option<RawFilter>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawFilter {
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}
