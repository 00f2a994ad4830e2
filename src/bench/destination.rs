//! The bench's destination: a keep-alive HTTP server that answers 200 at once and notes
//! when each event first arrived.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub struct Arrivals {
    start: Instant,
    prefix: String,
    /// Nanoseconds after `start` (+1, so that 0 means "not yet") of each event's first delivery.
    first: Vec<AtomicU64>,
    pub delivered: AtomicUsize,
    pub repeats: AtomicUsize,
    pub all_arrived: Notify,
}

impl Arrivals {
    pub fn new(start: Instant, prefix: String, events: usize) -> Arrivals {
        Arrivals {
            start,
            prefix,
            first: (0..events).map(|_| AtomicU64::new(0)).collect(),
            delivered: AtomicUsize::new(0),
            repeats: AtomicUsize::new(0),
            all_arrived: Notify::new(),
        }
    }

    fn arrived(&self, event_id: &str) {
        let Some(n) = event_id
            .strip_prefix(self.prefix.as_str())
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return;
        };
        let Some(slot) = self.first.get(n) else {
            return;
        };
        let at = self.start.elapsed().as_nanos() as u64 + 1;
        if slot
            .compare_exchange(0, at, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            if self.delivered.fetch_add(1, Ordering::AcqRel) + 1 == self.first.len() {
                self.all_arrived.notify_one();
            }
        } else {
            self.repeats.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// When event `n` first arrived, in nanoseconds after the start.
    pub fn arrival(&self, n: usize) -> Option<u64> {
        self.first
            .get(n)
            .map(|a| a.load(Ordering::Acquire))
            .filter(|t| *t > 0)
            .map(|t| t - 1)
    }

    pub fn last_arrival(&self) -> Option<u64> {
        (0..self.first.len()).filter_map(|n| self.arrival(n)).max()
    }
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, arrivals: Arc<Arrivals>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let arrivals = arrivals.clone();
                async move {
                    let id = request
                        .headers()
                        .get("ferry-event-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    // Read the body as a real receiver would (and so the connection stays reusable).
                    let _ = request.into_body().collect().await;
                    if let Some(id) = id {
                        arrivals.arrived(&id);
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
