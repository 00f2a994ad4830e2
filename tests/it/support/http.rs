//! A small HTTP client for tests (hyper-util, the same stack the hub uses).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("answer {} is not JSON ({e}): {}", self.status, self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct TestClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

pub fn client() -> TestClient {
    TestClient {
        inner: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl TestClient {
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        self.try_request(method, url, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    pub async fn try_request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, String> {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = self
            .inner
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, url: &str) -> Response {
        self.request("GET", url, &[], Vec::new()).await
    }

    pub async fn try_get(&self, url: &str) -> Option<Response> {
        self.try_request("GET", url, &[], Vec::new()).await.ok()
    }

    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut all = vec![("content-type", content_type)];
        all.extend_from_slice(headers);
        self.request("POST", url, &all, body).await
    }
}
