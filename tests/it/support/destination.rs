//! A real HTTP server playing the external API: it answers from a script (status, body,
//! headers, delay) and records every request it receives.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            body: String::new(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn ok() -> Reply {
        Reply::status(200)
    }

    pub fn body(mut self, body: impl Into<String>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// One request the destination received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("delivered body is not JSON ({e}): {:?}", self.body))
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    fallback: Option<Reply>,
    received: Vec<Recorded>,
}

/// Counters about the connections and requests the destination has seen.
#[derive(Default)]
struct Counters {
    /// TCP connections accepted so far.
    connections: AtomicUsize,
    /// Requests being answered right now (arrived, reply not yet sent).
    in_flight: AtomicUsize,
    /// The most requests that were ever being answered at once.
    max_in_flight: AtomicUsize,
}

/// One request being answered; leaving (even by cancellation) takes it off the count.
struct InFlight(Arc<Counters>);

impl InFlight {
    fn enter(counters: Arc<Counters>) -> InFlight {
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(counters)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone)]
pub struct Destination {
    pub base: String,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    counters: Arc<Counters>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Destination {
    /// Starts a destination that answers 200 unless scripted otherwise.
    pub async fn start() -> Destination {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind destination");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State::default()));
        let arrived = Arc::new(Notify::new());
        let counters = Arc::new(Counters::default());
        let (s, a, c) = (state.clone(), arrived.clone(), counters.clone());
        let task = tokio::spawn(async move {
            // Connections live in this set, so stopping the destination drops them all.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                while connections.try_join_next().is_some() {}
                c.connections.fetch_add(1, Ordering::SeqCst);
                let (s, a, c) = (s.clone(), a.clone(), c.clone());
                connections.spawn(async move {
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (s, a, c) = (s.clone(), a.clone(), c.clone());
                        async move {
                            // Counted until the reply is sent, or the request abandoned.
                            let in_flight = InFlight::enter(c.clone());
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let reply = {
                                let mut st = s.lock().unwrap();
                                st.received.push(Recorded {
                                    method: parts.method.to_string(),
                                    path: parts
                                        .uri
                                        .path_and_query()
                                        .map(|p| p.to_string())
                                        .unwrap_or_default(),
                                    headers: parts.headers,
                                    body,
                                    at: Instant::now(),
                                });
                                st.script
                                    .pop_front()
                                    .or_else(|| st.fallback.clone())
                                    .unwrap_or_else(Reply::ok)
                            };
                            a.notify_waiters();
                            if !reply.delay.is_zero() {
                                tokio::time::sleep(reply.delay).await;
                            }
                            drop(in_flight);
                            let mut response =
                                http::Response::new(Full::new(Bytes::from(reply.body)));
                            *response.status_mut() =
                                http::StatusCode::from_u16(reply.status).expect("status");
                            for (k, v) in reply.headers {
                                response.headers_mut().insert(
                                    http::HeaderName::from_bytes(k.as_bytes())
                                        .expect("header name"),
                                    http::HeaderValue::from_str(&v).expect("header value"),
                                );
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Destination {
            base,
            state,
            arrived,
            counters,
            task: Arc::new(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers the next requests with these replies, in order, then the fallback.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// What to answer once the script is used up (default 200).
    pub fn always(&self, reply: Reply) {
        self.state.lock().unwrap().fallback = Some(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` requests have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + super::PATIENCE;
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "the destination received {} requests, expected {n}",
                    self.requests().len()
                );
            }
        }
    }

    /// How many TCP connections the destination has accepted so far.
    pub fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// The most requests that were ever in flight at once (arrived, not yet answered).
    pub fn max_in_flight(&self) -> usize {
        self.counters.max_in_flight.load(Ordering::SeqCst)
    }

    /// Stops accepting connections (the API goes down).
    pub fn stop(&self) {
        self.task.abort();
    }
}
