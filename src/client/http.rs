//! The HTTP client: renders the request from the client's templates, sends it on a
//! pooled keep-alive connection, and reports the status, the first 64 KiB of the body and
//! any `Retry-After`.
//!
//! Built on hyper-util's pooled client rather than reqwest: on the delivery hot path
//! reqwest's pool takes most of the CPU at tens of thousands of requests per second
//! (measured, see DEPENDENCIES.md), and nothing reqwest adds (cookies, redirects,
//! decompression) is wanted here. Redirects in particular are never followed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine;
use bytes::{Bytes, BytesMut};
use ferry_domain::SignedDuration;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use super::template::{Part, Place, Templates};
use super::{Client, Delivery, DeliveryResult, MAX_RECORDED_BODY, signing};
use crate::config::{ClientConfig, ClientKind, HttpClientConfig, OutboundAuth};
use crate::envelope;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Past the recorded part, a body is still read (and dropped) up to this size so that its
/// connection can be reused; a larger body costs a new connection instead.
const MAX_DRAINED_BODY: usize = 1 << 20;

const USER_AGENT_VALUE: &str = concat!("ferry/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("client {0} is not an http client")]
    NotHttp(String),
    #[error("client {client}: template {name} does not compile: {source}")]
    Template {
        client: String,
        name: String,
        source: minijinja::Error,
    },
    #[error("client {client}: header {name:?} is not a valid header name")]
    HeaderName { client: String, name: String },
    #[error("client {client}: the credentials are not a valid header value")]
    AuthValue { client: String },
    #[error("TLS roots could not be loaded: {0}")]
    Tls(String),
}

pub struct HttpClient {
    name: String,
    templates: Templates,
    url: Part,
    method: Part,
    headers: Vec<(HeaderName, Part)>,
    body: Option<Part>,
    signing_secret: Option<Vec<u8>>,
    authorization: Option<HeaderValue>,
    needs_context: bool,
    pool: PooledClient<Connector, Full<Bytes>>,
}

impl HttpClient {
    pub fn from_config(config: &ClientConfig) -> Result<HttpClient, HttpClientError> {
        let ClientKind::Http(http) = &config.kind else {
            return Err(HttpClientError::NotHttp(config.name.clone()));
        };
        Self::new(&config.name, http, config.timeout, config.concurrency)
    }

    pub fn new(
        name: &str,
        config: &HttpClientConfig,
        timeout: Duration,
        concurrency: usize,
    ) -> Result<HttpClient, HttpClientError> {
        let mut templates = Templates::new();
        let mut add = |place: Place, part: String, source: &str| {
            templates
                .add(place, part.clone(), source)
                .map_err(|source| HttpClientError::Template {
                    client: name.to_owned(),
                    name: part,
                    source,
                })
        };
        let url = add(Place::Url, "url".into(), &config.url)?;
        let method = add(Place::Text, "method".into(), &config.method)?;
        let mut headers = Vec::with_capacity(config.headers.len());
        for (header, value) in &config.headers {
            let header_name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                HttpClientError::HeaderName {
                    client: name.to_owned(),
                    name: header.clone(),
                }
            })?;
            headers.push((
                header_name,
                add(Place::Text, format!("headers.{header}"), value)?,
            ));
        }
        let body = config
            .body
            .as_deref()
            .map(|b| add(Place::Body, "body".into(), b))
            .transpose()?;
        let authorization = config
            .auth
            .as_ref()
            .map(|auth| {
                let value = match auth {
                    OutboundAuth::Bearer { token } => {
                        format!("Bearer {}", String::from_utf8_lossy(&token.0))
                    }
                    OutboundAuth::Basic { username, password } => {
                        let pair = format!("{username}:{}", String::from_utf8_lossy(&password.0));
                        format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(pair)
                        )
                    }
                };
                let mut value =
                    HeaderValue::from_str(&value).map_err(|_| HttpClientError::AuthValue {
                        client: name.to_owned(),
                    })?;
                value.set_sensitive(true);
                Ok(value)
            })
            .transpose()?;
        let needs_context = url.is_template()
            || method.is_template()
            || headers.iter().any(|(_, p)| p.is_template())
            || body.as_ref().is_some_and(Part::is_template);
        Ok(HttpClient {
            name: name.to_owned(),
            templates,
            url,
            method,
            headers,
            body,
            signing_secret: config.signing_secret.as_ref().map(|s| s.0.clone()),
            authorization,
            needs_context,
            pool: pooled_client(timeout, concurrency)?,
        })
    }

    fn build(&self, delivery: &Delivery<'_>) -> Result<Request<Full<Bytes>>, String> {
        let ctx = if self.needs_context {
            template_context(delivery)?
        } else {
            minijinja::Value::UNDEFINED
        };
        let url = self.templates.render(&self.url, &ctx)?;
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|e| format!("the URL {url:?} is not valid: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!("the URL {url:?} is not http or https"));
        }
        let method_text = self.templates.render(&self.method, &ctx)?;
        let method = Method::from_bytes(method_text.trim().as_bytes())
            .map_err(|_| format!("{method_text:?} is not an HTTP method"))?;
        let body: Bytes = match &self.body {
            Some(part) => self.templates.render(part, &ctx)?.into(),
            None => envelope::to_json(delivery.event).into(),
        };

        let mut headers = HeaderMap::with_capacity(self.headers.len() + 9);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        for (name, part) in &self.headers {
            let value = self.templates.render(part, &ctx)?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("header {name} renders to an invalid value"))?;
            headers.insert(name.clone(), value);
        }
        if let Some(auth) = &self.authorization {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        let timestamp = jiff::Timestamp::now().as_second();
        let header = |v: &str| {
            HeaderValue::from_str(v).map_err(|_| format!("{v:?} cannot be sent in a header"))
        };
        headers.insert("webhook-id", header(delivery.job_id)?);
        headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
        if let Some(secret) = &self.signing_secret {
            let signature = signing::sign(secret, delivery.job_id, timestamp, &body);
            headers.insert("webhook-signature", header(&signature)?);
        }
        headers.insert("ferry-event-id", header(&delivery.event.id)?);
        headers.insert("ferry-topic", header(&delivery.event.topic)?);
        headers.insert("ferry-attempt", HeaderValue::from(delivery.attempt));

        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> DeliveryResult {
        let response = match self.pool.request(request).await {
            Ok(r) => r,
            Err(e) => return DeliveryResult::transient(error_chain(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let mut body = response.into_body();
        let mut kept = BytesMut::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let data = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers
                },
                // The status arrived; a body cut short still leaves the answer usable.
                Err(_) => break,
            };
            seen += data.len();
            let room = MAX_RECORDED_BODY.saturating_sub(kept.len());
            kept.extend_from_slice(&data[..room.min(data.len())]);
            if seen > MAX_DRAINED_BODY {
                break;
            }
        }
        DeliveryResult::Response {
            status,
            body: kept.freeze(),
            retry_after,
        }
    }
}

#[async_trait::async_trait]
impl Client for HttpClient {
    async fn deliver(&self, delivery: Delivery<'_>) -> DeliveryResult {
        let request = match self.build(&delivery) {
            Ok(r) => r,
            // A template or URL that cannot be rendered will not render on a retry either,
            // but the configuration may be fixed meanwhile: permanent, not unauthorized.
            Err(error) => return DeliveryResult::permanent(error),
        };
        // The lane bounds the whole delivery by the client's timeout (the pool uses it
        // to bound connecting too).
        self.send(request).await
    }
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn pooled_client(
    timeout: Duration,
    concurrency: usize,
) -> Result<PooledClient<Connector, Full<Bytes>>, HttpClientError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(PooledClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(concurrency.max(1))
        .build(connector))
}

#[derive(Serialize)]
struct EventContext<'a> {
    id: &'a str,
    topic: &'a str,
    key: Option<&'a str>,
    data: serde_json::Value,
    attributes: &'a BTreeMap<String, String>,
    priority: &'static str,
    created_at: String,
}

/// What templates see. `event.data` is the parsed JSON, so numbers beyond 64-bit integers
/// reach templates as doubles; the default body passes the data on byte for byte.
fn template_context(delivery: &Delivery<'_>) -> Result<minijinja::Value, String> {
    let event = delivery.event;
    // Ingest only stores data that parses; should stored data ever not, the attempt fails
    // rather than sending `null` in its place.
    let data: serde_json::Value = serde_json::from_str(&event.data)
        .map_err(|e| format!("the event's data cannot be read as JSON for the templates: {e}"))?;
    Ok(minijinja::context! {
        event => minijinja::Value::from(minijinja::value::Serde(EventContext {
            id: &event.id,
            topic: &event.topic,
            key: event.key.as_deref(),
            data,
            attributes: &event.attributes,
            priority: event.priority.as_str(),
            created_at: event.created_at.to_string(),
        })),
        attempt => delivery.attempt,
        client => delivery.client,
        subscription => delivery.subscription,
    })
}

/// `Retry-After` is either seconds or an HTTP date.
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<SignedDuration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(SignedDuration::from_secs(secs.min(i64::MAX as u64) as i64));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    let wait = at.duration_since(now).unwrap_or_default();
    SignedDuration::try_from(wait).ok()
}

/// "connection refused" is buried a few `source()`s deep in hyper's errors.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("120"), now),
            Some(SignedDuration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&HeaderValue::from_str(&later).unwrap(), now),
            Some(SignedDuration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&HeaderValue::from_str(&past).unwrap(), now),
            Some(SignedDuration::ZERO)
        );
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("soon"), now),
            None
        );
    }
}
