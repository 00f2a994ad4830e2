//! From `RawConfig` to `Config`, collecting every problem with its TOML path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use ferry_domain::event::validate_component_name;
use ferry_domain::fanout::{AttributeFilter, TopicPattern};
use ferry_domain::{
    ClassifyRule, OutcomeClass, RetryPolicy, SignedDuration, StatusPattern, Subscription,
};

use super::raw::*;
use super::units::{parse_duration, parse_per_period, parse_size};
use super::*;

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Runs a check; on failure records the problem and yields `None`.
    fn check<T>(&mut self, path: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|m| self.add(path, m)).ok()
    }
}

pub fn parse(text: &str) -> Result<Config, Vec<ConfigProblem>> {
    let mut problems = Problems::default();
    let deserializer = toml::Deserializer::parse(text).map_err(|e| {
        vec![ConfigProblem {
            path: String::new(),
            message: format!("not valid TOML: {}", one_line(&e.to_string())),
        }]
    })?;
    let mut unknown = Vec::new();
    let mut note_unknown =
        |path: serde_ignored::Path<'_>| unknown.push(tidy_path(&path.to_string()));
    let ignored = serde_ignored::Deserializer::new(deserializer, &mut note_unknown);
    let raw: RawConfig = match serde_path_to_error::deserialize(ignored) {
        Ok(raw) => raw,
        Err(e) => {
            let path = tidy_path(&e.path().to_string());
            return Err(vec![ConfigProblem {
                path,
                message: e.into_inner().message().to_owned(),
            }]);
        }
    };
    for path in unknown {
        problems.add(path, "unknown key");
    }
    let config = validate(raw, &mut problems);
    if problems.0.is_empty() {
        Ok(config)
    } else {
        Err(problems.0)
    }
}

/// serde's paths mark `Option`s with `?` and the root with `.`; TOML paths have neither.
fn tidy_path(path: &str) -> String {
    path.split('.')
        .filter(|s| !s.is_empty() && *s != "?")
        .collect::<Vec<_>>()
        .join(".")
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Longer durations are surely typos, and would overflow time arithmetic somewhere.
const MAX_DURATION: SignedDuration = SignedDuration::from_hours(100 * 365 * 24);

fn duration_or(
    problems: &mut Problems,
    path: &str,
    value: Option<&str>,
    default: SignedDuration,
) -> SignedDuration {
    match value {
        None => default,
        Some(text) => match parse_duration(text) {
            Ok(d) if d > MAX_DURATION => {
                problems.add(path, "must be at most 100 years");
                default
            }
            Ok(d) if d.is_positive() => d,
            Ok(_) => {
                problems.add(path, "must be longer than zero");
                default
            }
            Err(e) => {
                problems.add(path, e);
                default
            }
        },
    }
}

fn std_duration(d: SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or_default()
}

fn env_secret(problems: &mut Problems, path: &str, var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        Ok(_) => {
            problems.add(path, format!("environment variable {var} is empty"));
            None
        }
        Err(_) => {
            problems.add(path, format!("environment variable {var} is not set"));
            None
        }
    }
}

fn validate(raw: RawConfig, problems: &mut Problems) -> Config {
    let server = validate_server(&raw.server, problems);
    let storage = StorageConfig {
        url: raw
            .storage
            .url
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
    };
    if !(storage.url.starts_with("sqlite://")
        || storage.url.starts_with("postgres://")
        || storage.url.starts_with("postgresql://"))
    {
        problems.add(
            "storage.url",
            format!(
                "{:?} is neither sqlite://PATH nor postgres://…",
                crate::store::redact_url(&storage.url)
            ),
        );
    } else if storage.url == "sqlite://" {
        problems.add("storage.url", "sqlite:// needs a file path");
    }
    let retention = RetentionConfig {
        succeeded: duration_or(
            problems,
            "retention.succeeded",
            raw.retention.succeeded.as_deref(),
            SignedDuration::from_hours(7 * 24),
        ),
        dead: duration_or(
            problems,
            "retention.dead",
            raw.retention.dead.as_deref(),
            SignedDuration::from_hours(30 * 24),
        ),
    };
    let mut not_yet_active = Vec::new();
    let auth_configured = validate_auth(&raw.auth, problems);
    validate_security(&raw.security, problems, &mut not_yet_active);
    let channels = validate_notify(&raw.notify, problems, &mut not_yet_active);

    let mut clients = BTreeMap::new();
    for (name, client) in &raw.clients {
        let path = format!("clients.{name}");
        if let Err(e) = validate_component_name("name", name) {
            problems.add(&path, format!("client name {}", e.message));
        }
        if let Some(config) = validate_client(
            name,
            client,
            &path,
            &channels,
            problems,
            &mut not_yet_active,
        ) {
            clients.insert(name.clone(), config);
        }
    }

    let mut subscriptions = Vec::new();
    for (name, sub) in &raw.subscriptions {
        let path = format!("subscriptions.{name}");
        if let Err(e) = validate_component_name("name", name) {
            problems.add(&path, format!("subscription name {}", e.message));
        }
        if let Some(s) = validate_subscription(
            name,
            sub,
            &path,
            &raw.clients,
            problems,
            &mut not_yet_active,
        ) {
            subscriptions.push(s);
        }
    }

    Config {
        server,
        storage,
        retention,
        clients,
        subscriptions,
        auth_configured,
        not_yet_active,
    }
}

fn validate_server(raw: &RawServer, problems: &mut Problems) -> ServerConfig {
    let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = problems
        .check(
            "server.listen",
            listen_text
                .parse::<SocketAddr>()
                .map_err(|_| format!("{listen_text:?} is not an address like \"127.0.0.1:7077\"")),
        )
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7077)));
    let max_body = match raw.max_body.as_deref() {
        None => 1 << 20,
        Some(text) => match parse_size(text) {
            Ok(n) if (1024..=(1 << 30)).contains(&n) => n as usize,
            Ok(_) => {
                problems.add("server.max_body", "must be between 1KiB and 1GiB");
                1 << 20
            }
            Err(e) => {
                problems.add("server.max_body", e);
                1 << 20
            }
        },
    };
    let lease_margin = duration_or(
        problems,
        "server.lease_margin",
        raw.lease_margin.as_deref(),
        SignedDuration::from_secs(30),
    );
    let shutdown_grace = duration_or(
        problems,
        "server.shutdown_grace",
        raw.shutdown_grace.as_deref(),
        SignedDuration::from_secs(10),
    );
    ServerConfig {
        listen,
        max_body,
        lease_margin: std_duration(lease_margin),
        shutdown_grace: std_duration(shutdown_grace),
    }
}

const SCOPES: [&str; 4] = ["publish", "read", "operate", "admin"];

fn validate_auth(raw: &RawAuth, problems: &mut Problems) -> bool {
    for (i, token) in raw.tokens.iter().enumerate() {
        let path = format!("auth.tokens.{i}");
        if token.name.as_deref().is_none_or(str::is_empty) {
            problems.add(format!("{path}.name"), "is required");
        }
        match (&token.token_env, &token.token_sha256) {
            (None, None) => problems.add(&path, "needs token_env or token_sha256"),
            (Some(_), Some(_)) => problems.add(&path, "give token_env or token_sha256, not both"),
            (Some(var), None) => {
                env_secret(problems, &format!("{path}.token_env"), var);
            }
            (None, Some(hex)) => {
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    problems.add(
                        format!("{path}.token_sha256"),
                        "must be 64 hexadecimal characters",
                    );
                }
            }
        }
        if token.scopes.is_empty() {
            problems.add(format!("{path}.scopes"), "must name at least one scope");
        }
        for (j, scope) in token.scopes.iter().enumerate() {
            if !SCOPES.contains(&scope.as_str()) {
                problems.add(
                    format!("{path}.scopes.{j}"),
                    format!("unknown scope {scope:?} (publish, read, operate, admin)"),
                );
            }
        }
    }
    if let Some(jwt) = &raw.jwt {
        match (&jwt.secret_env, &jwt.public_key_file) {
            (None, None) => problems.add("auth.jwt", "needs secret_env or public_key_file"),
            (Some(_), Some(_)) => {
                problems.add("auth.jwt", "give secret_env or public_key_file, not both")
            }
            _ => {}
        }
        if jwt.issuer.as_deref().is_some_and(str::is_empty) {
            problems.add(
                "auth.jwt.issuer",
                "must not be empty (leave it out to accept any issuer)",
            );
        }
    }
    !raw.tokens.is_empty() || raw.jwt.is_some()
}

fn validate_security(raw: &RawSecurity, problems: &mut Problems, not_yet_active: &mut Vec<String>) {
    if let Some(networks) = &raw.deny_networks {
        for (i, net) in networks.iter().enumerate() {
            if !is_cidr(net) {
                problems.add(
                    format!("security.deny_networks.{i}"),
                    format!("{net:?} is not a network like \"169.254.0.0/16\""),
                );
            }
        }
        not_yet_active.push(
            "security.deny_networks: the delivery network guard comes with the security work"
                .into(),
        );
    }
}

fn is_cidr(text: &str) -> bool {
    let Some((addr, bits)) = text.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

/// Checks `[notify]` and returns the names of its channels.
fn validate_notify(
    raw: &RawNotify,
    problems: &mut Problems,
    not_yet_active: &mut Vec<String>,
) -> Vec<String> {
    for (name, ch) in &raw.channels {
        let path = format!("notify.channels.{name}");
        match ch.kind.as_deref() {
            Some("email") => {
                if ch.smtp_url.is_none() {
                    problems.add(
                        format!("{path}.smtp_url"),
                        "is required for an email channel",
                    );
                }
                if ch.from.is_none() {
                    problems.add(format!("{path}.from"), "is required for an email channel");
                }
                if ch.to.as_ref().is_none_or(Vec::is_empty) {
                    problems.add(format!("{path}.to"), "needs at least one address");
                }
            }
            Some("webhook") => {
                if ch.url.is_none() {
                    problems.add(format!("{path}.url"), "is required for a webhook channel");
                }
            }
            Some(other) => problems.add(
                format!("{path}.kind"),
                format!("unknown channel kind {other:?} (email, webhook)"),
            ),
            None => problems.add(format!("{path}.kind"), "is required (email or webhook)"),
        }
    }
    let names: Vec<String> = raw.channels.keys().cloned().collect();
    check_levels(
        problems,
        "notify",
        raw.error.as_ref(),
        raw.warning.as_ref(),
        raw.notice.as_ref(),
        &names,
    );
    if !raw.channels.is_empty() {
        not_yet_active.push("notify: notifications come with the client-control work".into());
    }
    names
}

fn check_levels(
    problems: &mut Problems,
    path: &str,
    error: Option<&Vec<String>>,
    warning: Option<&Vec<String>>,
    notice: Option<&Vec<String>>,
    channels: &[String],
) {
    for (level, names) in [("error", error), ("warning", warning), ("notice", notice)] {
        for (i, name) in names.into_iter().flatten().enumerate() {
            if !channels.contains(name) {
                problems.add(
                    format!("{path}.{level}.{i}"),
                    format!("unknown channel {name:?}"),
                );
            }
        }
    }
}

fn validate_client(
    name: &str,
    raw: &RawClient,
    path: &str,
    channels: &[String],
    problems: &mut Problems,
    not_yet_active: &mut Vec<String>,
) -> Option<ClientConfig> {
    let before = problems.0.len();
    let kind = match raw.kind.as_deref().unwrap_or("http") {
        "http" => validate_http(raw, path, problems).map(ClientKind::Http),
        "custom" => {
            for (field, set) in [
                ("url", raw.url.is_some()),
                ("method", raw.method.is_some()),
                ("body", raw.body.is_some()),
                ("signing_secret_env", raw.signing_secret_env.is_some()),
                ("auth", raw.auth.is_some()),
            ] {
                if set {
                    problems.add(format!("{path}.{field}"), "only applies to http clients");
                }
            }
            if !raw.headers.is_empty() {
                problems.add(format!("{path}.headers"), "only applies to http clients");
            }
            Some(ClientKind::Custom)
        }
        other => {
            problems.add(
                format!("{path}.kind"),
                format!("unknown client kind {other:?} (http, custom)"),
            );
            None
        }
    };
    let timeout = duration_or(
        problems,
        &format!("{path}.timeout"),
        raw.timeout.as_deref(),
        SignedDuration::from_secs(10),
    );
    let concurrency = match raw.concurrency {
        None => 8,
        Some(n) if (1..=10_000).contains(&n) => n as usize,
        Some(_) => {
            problems.add(format!("{path}.concurrency"), "must be between 1 and 10000");
            8
        }
    };
    let retry = validate_retry(raw.retry.as_ref(), &format!("{path}.retry"), problems);
    let classify = raw
        .classify
        .iter()
        .enumerate()
        .filter_map(|(i, rule)| validate_rule(rule, &format!("{path}.classify.{i}"), problems))
        .collect();
    if let Some(rate) = &raw.rate
        && problems
            .check(&format!("{path}.rate"), parse_per_period(rate))
            .is_some()
    {
        not_yet_active.push(format!(
            "{path}.rate: rate limits come with the client-control work"
        ));
    }
    if let Some(budget) = &raw.budget
        && problems
            .check(&format!("{path}.budget"), parse_per_period(budget))
            .is_some()
    {
        not_yet_active.push(format!(
            "{path}.budget: attempt budgets come with the client-control work"
        ));
    }
    if let Some(outage) = &raw.outage {
        if let Some(n) = outage.after_failures
            && n < 1
        {
            problems.add(
                format!("{path}.outage.after_failures"),
                "must be at least 1",
            );
        }
        for (i, p) in outage.pauses.iter().flatten().enumerate() {
            duration_or(
                problems,
                &format!("{path}.outage.pauses.{i}"),
                Some(p),
                SignedDuration::ZERO,
            );
        }
        not_yet_active.push(format!(
            "{path}.outage: outage pauses come with the client-control work"
        ));
    }
    if let Some(levels) = &raw.notify {
        check_levels(
            problems,
            &format!("{path}.notify"),
            levels.error.as_ref(),
            levels.warning.as_ref(),
            levels.notice.as_ref(),
            channels,
        );
    }
    if let Some(resync) = &raw.resync {
        validate_resync(resync, &format!("{path}.resync"), problems);
        not_yet_active.push(format!(
            "{path}.resync: re-sync comes with the sync-semantics work"
        ));
    }
    if problems.0.len() > before {
        return None;
    }
    Some(ClientConfig {
        name: name.to_owned(),
        kind: kind?,
        timeout: std_duration(timeout),
        concurrency,
        retry,
        classify,
    })
}

fn check_template(problems: &mut Problems, path: &str, source: &str) {
    let mut env = minijinja::Environment::new();
    if let Err(e) = env.add_template_owned("check", source.to_owned()) {
        problems.add(
            path,
            format!("template does not compile: {}", one_line(&e.to_string())),
        );
    }
}

fn validate_http(raw: &RawClient, path: &str, problems: &mut Problems) -> Option<HttpClientConfig> {
    let url = match &raw.url {
        None => {
            problems.add(format!("{path}.url"), "is required for an http client");
            String::new()
        }
        Some(url) => {
            check_template(problems, &format!("{path}.url"), url);
            // The part before any template must already say where the request goes.
            let fixed = url.split("{{").next().unwrap_or_default();
            if !(fixed.starts_with("http://") || fixed.starts_with("https://")) {
                problems.add(format!("{path}.url"), "must start with http:// or https://");
            } else if !url.contains("{{") && url.parse::<http::Uri>().is_err() {
                problems.add(format!("{path}.url"), format!("{url:?} is not a valid URL"));
            }
            url.clone()
        }
    };
    let method = raw.method.clone().unwrap_or_else(|| "POST".to_owned());
    check_template(problems, &format!("{path}.method"), &method);
    if !method.contains("{{") && http::Method::from_bytes(method.as_bytes()).is_err() {
        problems.add(
            format!("{path}.method"),
            format!("{method:?} is not an HTTP method"),
        );
    }
    let mut headers = Vec::new();
    for (name, value) in &raw.headers {
        let hpath = format!("{path}.headers.{name}");
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            problems.add(&hpath, "is not a valid header name");
        }
        check_template(problems, &hpath, value);
        headers.push((name.to_ascii_lowercase(), value.clone()));
    }
    if let Some(body) = &raw.body {
        check_template(problems, &format!("{path}.body"), body);
    }
    let signing_secret = raw.signing_secret_env.as_ref().and_then(|var| {
        let spath = format!("{path}.signing_secret_env");
        let text = env_secret(problems, &spath, var)?;
        let b64 = text.strip_prefix("whsec_").unwrap_or(&text);
        match base64::engine::general_purpose::STANDARD.decode(b64) {
            Ok(bytes) if !bytes.is_empty() => Some(Secret(bytes)),
            _ => {
                problems.add(
                    &spath,
                    format!("the secret in {var} must be whsec_ followed by base64"),
                );
                None
            }
        }
    });
    let auth = raw
        .auth
        .as_ref()
        .and_then(|a| validate_outbound_auth(a, &format!("{path}.auth"), problems));
    Some(HttpClientConfig {
        url,
        method,
        headers,
        body: raw.body.clone(),
        signing_secret,
        auth,
    })
}

fn validate_outbound_auth(
    raw: &RawOutboundAuth,
    path: &str,
    problems: &mut Problems,
) -> Option<OutboundAuth> {
    let set: Vec<(&str, bool)> = vec![
        ("token_env", raw.token_env.is_some()),
        ("username", raw.username.is_some()),
        ("password_env", raw.password_env.is_some()),
        ("secret_env", raw.secret_env.is_some()),
        ("ttl", raw.ttl.is_some()),
        ("claims", raw.claims.is_some()),
        ("token_url", raw.token_url.is_some()),
        ("client_id", raw.client_id.is_some()),
        ("client_secret_env", raw.client_secret_env.is_some()),
        ("scope", raw.scope.is_some()),
    ];
    let (allowed, required): (&[&str], &[&str]) = match raw.kind.as_deref() {
        Some("bearer") => (&["token_env"], &["token_env"]),
        Some("basic") => (&["username", "password_env"], &["username", "password_env"]),
        Some("jwt") => (&["secret_env", "ttl", "claims"], &["secret_env"]),
        Some("oauth2") => (
            &["token_url", "client_id", "client_secret_env", "scope"],
            &["token_url", "client_id", "client_secret_env"],
        ),
        Some(other) => {
            problems.add(
                format!("{path}.kind"),
                format!("unknown auth kind {other:?} (bearer, basic, jwt, oauth2)"),
            );
            return None;
        }
        None => {
            problems.add(
                format!("{path}.kind"),
                "is required (bearer, basic, jwt, oauth2)",
            );
            return None;
        }
    };
    let kind = raw.kind.as_deref().unwrap_or_default();
    for (field, present) in &set {
        if *present && !allowed.contains(field) {
            problems.add(
                format!("{path}.{field}"),
                format!("does not apply to {kind} auth"),
            );
        }
        if !*present && required.contains(field) {
            problems.add(
                format!("{path}.{field}"),
                format!("is required for {kind} auth"),
            );
        }
    }
    if let Some(ttl) = &raw.ttl {
        duration_or(
            problems,
            &format!("{path}.ttl"),
            Some(ttl),
            SignedDuration::ZERO,
        );
    }
    match kind {
        "bearer" => {
            let token = env_secret(
                problems,
                &format!("{path}.token_env"),
                raw.token_env.as_deref()?,
            )?;
            Some(OutboundAuth::Bearer {
                token: Secret(token.into_bytes()),
            })
        }
        "basic" => {
            let password = env_secret(
                problems,
                &format!("{path}.password_env"),
                raw.password_env.as_deref()?,
            )?;
            Some(OutboundAuth::Basic {
                username: raw.username.clone()?,
                password: Secret(password.into_bytes()),
            })
        }
        _ => {
            problems.add(
                format!("{path}.kind"),
                format!("{kind} auth is not supported by this build yet (bearer and basic are)"),
            );
            None
        }
    }
}

fn validate_retry(raw: Option<&RawRetry>, path: &str, problems: &mut Problems) -> RetryPolicy {
    let d = RetryPolicy::DEFAULT;
    let Some(raw) = raw else { return d };
    let policy = RetryPolicy {
        backoff: duration_or(
            problems,
            &format!("{path}.backoff"),
            raw.backoff.as_deref(),
            d.backoff,
        ),
        max_backoff: duration_or(
            problems,
            &format!("{path}.max_backoff"),
            raw.max_backoff.as_deref(),
            d.max_backoff,
        ),
        transient_window: duration_or(
            problems,
            &format!("{path}.transient_window"),
            raw.transient_window.as_deref(),
            d.transient_window,
        ),
        permanent_window: duration_or(
            problems,
            &format!("{path}.permanent_window"),
            raw.permanent_window.as_deref(),
            d.permanent_window,
        ),
    };
    if policy.max_backoff < policy.backoff {
        problems.add(
            format!("{path}.max_backoff"),
            "must not be shorter than backoff",
        );
    }
    policy
}

fn validate_rule(
    raw: &RawClassifyRule,
    path: &str,
    problems: &mut Problems,
) -> Option<ClassifyRule> {
    let class = match raw.class.as_deref() {
        None => {
            problems.add(format!("{path}.class"), "is required");
            None
        }
        Some(c) => problems.check(
            &format!("{path}.class"),
            c.parse::<OutcomeClass>().map_err(|e| e.message),
        ),
    };
    let items: Vec<&RawStatusItem> = match &raw.status {
        None => Vec::new(),
        Some(RawStatus::One(item)) => vec![item],
        Some(RawStatus::Many(items)) => items.iter().collect(),
    };
    let mut status = Vec::new();
    for item in items {
        let text = match item {
            RawStatusItem::Code(n) => n.to_string(),
            RawStatusItem::Pattern(p) => p.clone(),
        };
        if let Some(p) = problems.check(&format!("{path}.status"), text.parse::<StatusPattern>()) {
            status.push(p);
        }
    }
    if raw.status.is_none() && raw.body.is_none() {
        problems.add(path, "needs status or body to match on");
    }
    if matches!(&raw.status, Some(RawStatus::Many(v)) if v.is_empty()) {
        problems.add(format!("{path}.status"), "must list at least one status");
    }
    Some(ClassifyRule {
        status,
        body_contains: raw.body.clone(),
        class: class?,
    })
}

fn validate_resync(raw: &RawResync, path: &str, problems: &mut Problems) {
    for (field, value) in [
        ("url", &raw.url),
        ("items", &raw.items),
        ("key", &raw.key),
        ("topic", &raw.topic),
    ] {
        if value.is_none() {
            problems.add(format!("{path}.{field}"), "is required");
        }
    }
    for (field, value) in [
        ("items", &raw.items),
        ("next", &raw.next),
        ("key", &raw.key),
    ] {
        if let Some(p) = value
            && !(p.is_empty() || p.starts_with('/'))
        {
            problems.add(
                format!("{path}.{field}"),
                format!("{p:?} is not a JSON pointer like \"/items\""),
            );
        }
    }
    if let Some(url) = &raw.url {
        check_template(problems, &format!("{path}.url"), url);
    }
    if let Some(auth) = &raw.auth {
        validate_outbound_auth(auth, &format!("{path}.auth"), problems);
    }
    if let Some(topic) = &raw.topic
        && let Err(e) = ferry_domain::event::validate_topic(topic)
    {
        problems.add(format!("{path}.topic"), e.message);
    }
}

fn validate_subscription(
    name: &str,
    raw: &RawSubscription,
    path: &str,
    clients: &BTreeMap<String, RawClient>,
    problems: &mut Problems,
    not_yet_active: &mut Vec<String>,
) -> Option<Subscription> {
    let before = problems.0.len();
    let topics = raw.topics.clone().unwrap_or_default();
    if topics.is_empty() {
        problems.add(format!("{path}.topics"), "must list at least one topic");
    }
    for (i, topic) in topics.iter().enumerate() {
        let exact = topic.strip_suffix('*').unwrap_or(topic);
        if !(exact.is_empty() || ferry_domain::event::validate_topic(exact).is_ok())
            || exact.contains('*')
        {
            problems.add(
                format!("{path}.topics.{i}"),
                format!("{topic:?} is not a topic or a prefix ending in *"),
            );
        }
    }
    let client = match &raw.client {
        None => {
            problems.add(format!("{path}.client"), "is required");
            String::new()
        }
        Some(c) if !clients.contains_key(c) => {
            problems.add(format!("{path}.client"), format!("unknown client {c:?}"));
            c.clone()
        }
        Some(c) => c.clone(),
    };
    if raw.ordered == Some(true) {
        not_yet_active.push(format!(
            "{path}.ordered: per-key ordering comes with the sync-semantics work"
        ));
    }
    if raw.coalesce == Some(true) {
        not_yet_active.push(format!(
            "{path}.coalesce: coalescing comes with the sync-semantics work"
        ));
    }
    if problems.0.len() > before {
        return None;
    }
    Some(Subscription {
        name: name.to_owned(),
        topics: topics.iter().map(|t| TopicPattern::parse(t)).collect(),
        client,
        filter: AttributeFilter {
            equals: raw
                .filter
                .as_ref()
                .map(|f| f.attributes.clone())
                .unwrap_or_default(),
        },
        ordered: raw.ordered.unwrap_or(false),
        coalesce: raw.coalesce.unwrap_or(false),
    })
}
