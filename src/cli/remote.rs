//! The CLI's connection to a running hub's HTTP API.

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct Remote {
    base: String,
    token: Option<String>,
    http: PooledClient<Connector, Full<Bytes>>,
}

/// An answer from the hub: its status and JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Remote {
    pub fn new(server: &str, token: Option<String>) -> Remote {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Remote {
            base: server.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
            http: PooledClient::builder(TokioExecutor::new()).build(connector),
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.expect_ok(self.send(Method::GET, path, None, &[]).await?)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let bytes = Bytes::from(serde_json::to_vec(body)?);
        self.expect_ok(
            self.send(Method::POST, path, Some(("application/json", bytes)), &[])
                .await?,
        )
    }

    /// Sends a request; answers with whatever status the hub gave (see [`expect_ok`]).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
        headers: &[(&str, String)],
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let mut builder = Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let (content_type, bytes) = body.unwrap_or(("application/json", Bytes::new()));
        let request = builder
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(bytes))
            .with_context(|| format!("{url:?} is not a valid address"))?;
        let response = self.http.request(request).await.map_err(|e| {
            anyhow!(
                "cannot reach the hub at {}: {} (is `ferry serve` running? see --server)",
                self.base,
                root_cause(&e)
            )
        })?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .context("reading the hub's answer")?
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).with_context(|| {
                format!("the hub answered {status} with a body that is not JSON")
            })?
        };
        Ok(Answer { status, body })
    }

    /// A 2xx answer's body, or the hub's error as an error.
    pub fn expect_ok(&self, answer: Answer) -> anyhow::Result<Value> {
        if answer.status.is_success() {
            return Ok(answer.body);
        }
        let code = answer
            .body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("error");
        let message = answer
            .body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        bail!("{code}: {message} (HTTP {})", answer.status.as_u16())
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Percent-encodes a query value.
pub fn query_value(text: &str) -> String {
    serde_urlencoded::to_string([("v", text)])
        .map(|s| s[2..].to_owned())
        .unwrap_or_default()
}

/// Percent-encodes one path segment (everything but RFC 3986's unreserved characters).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
