//! Configuration: the TOML file of contract section 2, validated once into typed values.
//!
//! `parse` never stops at the first problem: unknown keys, bad values and dangling
//! references are all collected with their TOML paths (`subscriptions.s.client: unknown
//! client "x"`), which is what `ferry check-config` prints. A type mismatch is the one
//! problem that ends parsing early, since nothing after it can be read.

mod raw;
pub mod units;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_domain::{ClassifyRule, RetryPolicy, SignedDuration, Subscription};

pub use units::PerPeriod;

/// The hub's validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub retention: RetentionConfig,
    pub clients: BTreeMap<String, ClientConfig>,
    pub subscriptions: Vec<Subscription>,
    /// Whether `[auth]` configures any token or JWT issuer.
    pub auth_configured: bool,
    /// Settings this build checks but does not act on yet, as TOML paths with a note;
    /// `serve` prints each as a warning at start.
    pub not_yet_active: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body: usize,
    /// A delivery's lease is its client's timeout plus this margin.
    pub lease_margin: Duration,
    /// How long SIGTERM waits for deliveries in flight before releasing them.
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// `sqlite://PATH` (relative to the working directory) or `postgres://…`.
    pub url: String,
}

#[derive(Debug, Clone, Copy)]
pub struct RetentionConfig {
    pub succeeded: SignedDuration,
    pub dead: SignedDuration,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub name: String,
    pub kind: ClientKind,
    pub timeout: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub classify: Vec<ClassifyRule>,
}

#[derive(Debug, Clone)]
pub enum ClientKind {
    Http(HttpClientConfig),
    /// Implemented in Rust by the embedding program and registered with
    /// [`crate::HubBuilder::client`]; the file gives its delivery settings.
    Custom,
}

#[derive(Debug, Clone)]
pub struct HttpClientConfig {
    /// minijinja templates; see contract section 5 for their context.
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    /// `None`: the event envelope as JSON.
    pub body: Option<String>,
    pub signing_secret: Option<Secret>,
    pub auth: Option<OutboundAuth>,
}

/// Credentials for a destination, read from the environment at load.
#[derive(Debug, Clone)]
pub enum OutboundAuth {
    Bearer { token: Secret },
    Basic { username: String, password: Secret },
}

/// Secret bytes that never show in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7077";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://ferry-data/ferry.db";
pub const DEFAULT_CONFIG_FILE: &str = "ferry.toml";

/// One problem in a configuration, at a TOML path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found, in file order as far as it can be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub source_name: String,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{}: {n} problem{}",
            self.source_name,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Parses and validates a configuration text. `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigErrors> {
        validate::parse(text).map_err(|problems| ConfigErrors {
            source_name: source_name.to_owned(),
            problems,
        })
    }

    /// The configuration of a hub started without any file: defaults throughout.
    pub fn embedded_default() -> Config {
        // The empty document is valid by construction; a failure here is a bug in the
        // defaults, caught by the unit test below.
        Config::parse("", "defaults").expect("the empty configuration is valid")
    }

    /// Loads `path`, or `./ferry.toml` when no path is given and that file exists, or the
    /// defaults.
    pub fn load(path: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigErrors> {
        let chosen = match path {
            Some(p) => Some(p.to_owned()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let Some(file) = chosen else {
            return Ok((Config::embedded_default(), None));
        };
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| ConfigErrors {
            source_name: name.clone(),
            problems: vec![ConfigProblem {
                path: String::new(),
                message: format!("cannot read the file: {e}"),
            }],
        })?;
        Ok((Config::parse(&text, &name)?, Some(file)))
    }

    pub fn client(&self, name: &str) -> Option<&ClientConfig> {
        self.clients.get(name)
    }
}

#[cfg(test)]
mod tests;
