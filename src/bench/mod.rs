//! `ferry bench`: end-to-end throughput and latency, measured over real HTTP.
//!
//! By default it starts everything in this process: a destination server, a hub with a
//! fresh SQLite file (power-loss durable, as in production) whose one subscription
//! delivers to that destination, and `--concurrency` publishers, each on its own
//! keep-alive connection. Every event's latency runs from just before its publish
//! request is sent to its first arrival at the destination.

mod destination;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use destination::Arrivals;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events to publish.
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    /// Publishing connections, each sending one event at a time.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Bytes of data per event.
    #[arg(long, default_value_t = 256)]
    pub payload: usize,
    /// Publish at this many events per second instead of as fast as possible (for latency
    /// at a given load).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Deliveries in flight at once to the destination (the bench client's concurrency).
    #[arg(long, default_value_t = 64)]
    pub delivery_concurrency: usize,
    /// With --server: where the bench's destination listens; the hub must deliver topic
    /// `ferry.bench` there.
    #[arg(long, default_value = "127.0.0.1:7078")]
    pub destination: String,
    /// Give up waiting for deliveries after this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "120s")]
    pub timeout: Duration,
}

const TOPIC: &str = "ferry.bench";

pub async fn run(
    args: BenchArgs,
    server: Option<&str>,
    token: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if args.events == 0 || args.concurrency == 0 {
        bail!("--events and --concurrency must be at least 1");
    }
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("--rate must be above zero");
    }
    let start = Instant::now();
    let run_id = jiff::Timestamp::now().as_millisecond();
    let prefix = format!("bench-{run_id}-");
    let arrivals = Arc::new(Arrivals::new(start, prefix.clone(), args.events));

    let destination_addr = if server.is_some() {
        args.destination.clone()
    } else {
        "127.0.0.1:0".to_owned()
    };
    let destination = TcpListener::bind(&destination_addr)
        .await
        .with_context(|| format!("binding the destination on {destination_addr}"))?;
    let destination_port = destination.local_addr()?.port();
    let destination_task = tokio::spawn(destination::serve(destination, arrivals.clone()));

    let mut own_hub = None;
    let target = match server {
        Some(url) => parse_server(url)?,
        None => {
            let (addr, hub) = start_hub(destination_port, args.delivery_concurrency).await?;
            own_hub = Some(hub);
            addr
        }
    };

    let send_times = publish_all(&args, &target, token.as_deref(), &prefix, start).await?;
    let published_at = start.elapsed();

    let wait = tokio::time::timeout(args.timeout, arrivals.all_arrived.notified());
    if arrivals
        .delivered
        .load(std::sync::atomic::Ordering::Acquire)
        < args.events
        && wait.await.is_err()
    {
        eprintln!(
            "gave up waiting for deliveries after {}",
            humantime::format_duration(args.timeout)
        );
    }
    let report = Report::new(&args, &arrivals, &send_times, published_at);
    destination_task.abort();
    if let Some((stop, task, _dir)) = own_hub {
        let _ = stop.send(());
        let _ = task.await;
    }
    report.print(json);
    Ok(if report.delivered == args.events {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A running in-process hub: its stop signal, its task, and its data directory.
type OwnHub = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    tempfile::TempDir,
);

async fn start_hub(
    destination_port: u16,
    delivery_concurrency: usize,
) -> anyhow::Result<(String, OwnHub)> {
    let dir = tempfile::tempdir().context("creating a directory for the bench database")?;
    let db = dir.path().join("bench.db");
    let text = format!(
        r#"
        [storage]
        url = "sqlite://{}"
        [clients.bench]
        url = "http://127.0.0.1:{destination_port}/deliver"
        concurrency = {delivery_concurrency}
        timeout = "10s"
        [subscriptions.bench]
        topics = ["{TOPIC}"]
        client = "bench"
        "#,
        db.display()
    );
    let config = ferry::Config::parse(&text, "bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    let hub = ferry::Hub::builder(config).build().await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        if let Err(e) = hub
            .run(listener, async {
                let _ = stopped.await;
            })
            .await
        {
            eprintln!("the bench hub failed: {e}");
        }
    });
    Ok((addr, (stop, task, dir)))
}

fn parse_server(url: &str) -> anyhow::Result<String> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("--server {url:?} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!("bench talks plain http to the hub; --server {url:?} is not http://");
    }
    let host = uri.host().context("--server has no host")?;
    Ok(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
}

/// Publishes every event; returns when each was sent, in nanoseconds after `start`.
async fn publish_all(
    args: &BenchArgs,
    target: &str,
    token: Option<&str>,
    prefix: &str,
    start: Instant,
) -> anyhow::Result<Vec<u64>> {
    let data = "x".repeat(args.payload);
    let mut tasks = Vec::with_capacity(args.concurrency);
    for worker in 0..args.concurrency {
        let stream = TcpStream::connect(target)
            .await
            .with_context(|| format!("connecting to the hub at {target}"))?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let (events, concurrency, rate) = (args.events, args.concurrency, args.rate);
        let (prefix, data, token) = (prefix.to_owned(), data.clone(), token.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut n = worker;
            while n < events {
                if let Some(rate) = rate {
                    tokio::time::sleep_until((start + Duration::from_secs_f64(n as f64 / rate)).into()).await;
                }
                let body = json!({ "id": format!("{prefix}{n}"), "topic": TOPIC, "key": format!("k{n}"), "data": { "n": n, "pad": data } });
                let mut request = Request::post("/v1/events")
                    .header("host", "ferry")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(serde_json::to_vec(&body)?)))?;
                if let Some(t) = &token {
                    request.headers_mut().insert("authorization", format!("Bearer {t}").parse()?);
                }
                let sent_at = start.elapsed().as_nanos() as u64;
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let answer = response.into_body().collect().await?.to_bytes();
                if !status.is_success() {
                    bail!("publishing failed with {status}: {}", String::from_utf8_lossy(&answer));
                }
                sent.push((n, sent_at));
                n += concurrency;
            }
            Ok::<_, anyhow::Error>(sent)
        }));
    }
    let mut send_times = vec![0u64; args.events];
    for task in tasks {
        for (n, at) in task.await.context("a publisher failed")?? {
            send_times[n] = at;
        }
    }
    Ok(send_times)
}

struct Report {
    events: usize,
    concurrency: usize,
    payload: usize,
    rate: Option<f64>,
    delivered: usize,
    repeats: usize,
    publish_per_s: f64,
    delivery_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Report {
    fn new(args: &BenchArgs, arrivals: &Arrivals, sent: &[u64], published_at: Duration) -> Report {
        let first_send = sent.iter().copied().min().unwrap_or(0);
        let publish_secs = (published_at.as_nanos() as u64).saturating_sub(first_send) as f64 / 1e9;
        let mut latencies: Vec<u64> = (0..args.events)
            .filter_map(|n| arrivals.arrival(n).map(|a| a.saturating_sub(sent[n])))
            .collect();
        latencies.sort_unstable();
        let pct = |p: f64| {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[i] as f64 / 1e6
        };
        let delivered = latencies.len();
        let delivery_secs = arrivals
            .last_arrival()
            .unwrap_or(0)
            .saturating_sub(first_send) as f64
            / 1e9;
        Report {
            events: args.events,
            concurrency: args.concurrency,
            payload: args.payload,
            rate: args.rate,
            delivered,
            repeats: arrivals.repeats.load(std::sync::atomic::Ordering::Relaxed),
            publish_per_s: args.events as f64 / publish_secs.max(1e-9),
            delivery_per_s: delivered as f64 / delivery_secs.max(1e-9),
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            max_ms: pct(1.0),
        }
    }

    fn print(&self, json: bool) {
        if json {
            let doc = json!({
                "events": self.events,
                "concurrency": self.concurrency,
                "payload": self.payload,
                "rate": self.rate,
                "delivered": self.delivered,
                "repeats": self.repeats,
                "publish_per_s": self.publish_per_s.round(),
                "delivery_per_s": self.delivery_per_s.round(),
                "p50_ms": (self.p50_ms * 1000.0).round() / 1000.0,
                "p99_ms": (self.p99_ms * 1000.0).round() / 1000.0,
                "max_ms": (self.max_ms * 1000.0).round() / 1000.0,
            });
            println!("{doc}");
            return;
        }
        let rate = self.rate.map_or_else(
            || "as fast as possible".to_owned(),
            |r| format!("{r} events/s"),
        );
        println!(
            "events        {} ({} delivered{})",
            self.events,
            self.delivered,
            if self.repeats > 0 {
                format!(", {} repeats", self.repeats)
            } else {
                String::new()
            }
        );
        println!(
            "concurrency   {} publishing connections, {}",
            self.concurrency, rate
        );
        println!("payload       {} bytes", self.payload);
        println!("publish       {:.0} events/s", self.publish_per_s);
        println!("delivery      {:.0} deliveries/s", self.delivery_per_s);
        println!(
            "latency       p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            self.p50_ms, self.p99_ms, self.max_ms
        );
    }
}
