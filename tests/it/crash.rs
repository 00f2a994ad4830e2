//! The durability promise (contract 3 and 7), against the real `ferry serve` binary: a
//! process killed at any moment loses no acknowledged event; jobs that were running come
//! back after their lease expires, under the same `webhook-id`; SIGTERM finishes or
//! releases what is in flight and exits 0; and with no configuration at all the hub runs
//! on its embedded defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::support::{Destination, Reply, ServeProcess, client, ferry_bin, free_port};

/// Generous: the machine is small and shared, and these tests wait for leases to expire.
const SLOW_PATIENCE: Duration = Duration::from_secs(60);

/// One request a [`Sink`] received.
#[derive(Debug, Clone)]
struct Arrival {
    event_id: Option<String>,
    webhook_id: Option<String>,
}

/// A destination serving on a listener the test bound beforehand, so that the client's
/// URL can name its port before anything answers there. It answers 200 to everything.
struct Sink {
    received: Arc<Mutex<Vec<Arrival>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    fn serve(listener: std::net::TcpListener) -> Sink {
        listener.set_nonblocking(true).expect("non-blocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let received = Arc::new(Mutex::new(Vec::new()));
        let r = received.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                while connections.try_join_next().is_some() {}
                let r = r.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let r = r.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            // Only a request that arrived whole counts.
                            if body.collect().await.is_ok() {
                                let header = |name: &str| {
                                    parts
                                        .headers
                                        .get(name)
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_owned)
                                };
                                r.lock().unwrap().push(Arrival {
                                    event_id: header("ferry-event-id"),
                                    webhook_id: header("webhook-id"),
                                });
                            }
                            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("ok"))))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Sink { received, task }
    }

    fn event_ids(&self) -> BTreeSet<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|a| a.event_id.clone())
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let db = dir.join("ferry.db");
    let text = format!("[storage]\nurl = \"sqlite://{}\"\n{body}", db.display());
    let path = dir.join("ferry.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn get_json(url: &str) -> (u16, Value) {
    let r = client().get(url).await;
    let body = if r.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    };
    (r.status, body)
}

/// Polls `GET /v1/events/{id}` until every delivery is in `state`.
async fn wait_event_state(hub: &ServeProcess, id: &str, state: &str, patience: Duration) -> Value {
    let deadline = Instant::now() + patience;
    loop {
        let (status, doc) = get_json(&hub.url(&format!("/v1/events/{id}"))).await;
        if status == 200
            && doc["deliveries"]
                .as_array()
                .is_some_and(|d| !d.is_empty() && d.iter().all(|d| d["state"] == state))
        {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "event {id} never reached {state}; last answer {status}: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn publish(hub: &ServeProcess, event: Value) -> String {
    let r = client()
        .post(
            &hub.url("/v1/events"),
            "application/json",
            serde_json::to_vec(&event).unwrap(),
            &[],
        )
        .await;
    assert_eq!(r.status, 202, "publish answered {}: {}", r.status, r.text());
    r.json()["id"].as_str().expect("id").to_owned()
}

/// kill -9 while events are being published and their deliveries fail: after a restart on
/// the same data, every event that was acknowledged (202) arrives at the destination and
/// is recorded as delivered, with exactly one job for its one subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_while_publishing_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    // The destination's port is held from the start, but nothing accepts there until after
    // the crash: every attempt of the first process hangs until the client's timeout.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dest_port = held.local_addr().unwrap().port();
    let config = write_config(
        dir.path(),
        &format!(
            r#"
            [server]
            lease_margin = "1s"
            [clients.crm]
            url = "http://127.0.0.1:{dest_port}/hook/{{{{ event.key }}}}"
            timeout = "1s"
            concurrency = 16
            retry = {{ backoff = "100ms", max_backoff = "500ms" }}
            [subscriptions.to-crm]
            topics = ["customer.updated"]
            client = "crm"
            "#
        ),
    );
    let mut hub = ServeProcess::start(dir.path(), &config, &[]).await;

    // 8 publishers, 25 events each, recording only what the hub acknowledged.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut publishers = Vec::new();
    for p in 0..8 {
        let (acked, answered, refused) = (acked.clone(), answered.clone(), refused.clone());
        let url = hub.url("/v1/events");
        publishers.push(tokio::spawn(async move {
            for i in 0..25 {
                let event = json!({
                    "topic": "customer.updated",
                    "key": format!("c{p}-{i}"),
                    "data": {"publisher": p, "n": i},
                });
                let r = client()
                    .try_request(
                        "POST",
                        &url,
                        &[("content-type", "application/json")],
                        serde_json::to_vec(&event).unwrap(),
                    )
                    .await;
                match r {
                    Ok(r) if r.status == 202 => {
                        let id = r.json()["id"].as_str().expect("id").to_owned();
                        acked.lock().unwrap().push(id);
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => {
                        refused
                            .lock()
                            .unwrap()
                            .push(format!("{}: {}", r.status, r.text()));
                    }
                    // The process is gone: nothing more can be acknowledged.
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + SLOW_PATIENCE;
    while answered.load(Ordering::SeqCst) < 100 {
        assert!(
            Instant::now() < deadline,
            "the hub acknowledged only {} events",
            answered.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    hub.kill9();
    for p in publishers {
        p.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(
        refused.lock().unwrap().is_empty(),
        "publishes answered with something else than 202: {:?}",
        refused.lock().unwrap()
    );
    assert!(acked.len() >= 100, "only {} acknowledged", acked.len());
    let acked_set: BTreeSet<String> = acked.iter().cloned().collect();
    assert_eq!(acked_set.len(), acked.len(), "ids are unique");

    // The destination comes up; the hub restarts on the same data directory.
    let sink = Sink::serve(held);
    let hub = ServeProcess::start(dir.path(), &config, &[]).await;
    let deadline = Instant::now() + SLOW_PATIENCE;
    loop {
        let arrived = sink.event_ids();
        let missing: Vec<&String> = acked_set.difference(&arrived).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged events never arrived, e.g. {:?}; logs in {}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(5)],
            dir.path().display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in &acked {
        let doc = wait_event_state(&hub, id, "succeeded", SLOW_PATIENCE).await;
        let deliveries = doc["deliveries"].as_array().unwrap();
        assert_eq!(
            deliveries.len(),
            1,
            "one job per (event, subscription): {doc}"
        );
        assert_eq!(deliveries[0]["subscription"], "to-crm");
        assert_eq!(deliveries[0]["response"]["status"], 200, "{doc}");
        assert_eq!(doc["event"]["id"], id.as_str());
        assert_eq!(doc["event"]["topic"], "customer.updated");
        let job_id = deliveries[0]["job_id"].as_str().expect("job_id");
        let webhook_ids: BTreeSet<Option<String>> = sink
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.event_id.as_deref() == Some(id.as_str()))
            .map(|a| a.webhook_id.clone())
            .collect();
        assert_eq!(
            webhook_ids,
            BTreeSet::from([Some(job_id.to_owned())]),
            "every attempt of event {id} carries its job id as webhook-id"
        );
    }
    println!(
        "{} events acknowledged before kill -9, all delivered after the restart",
        acked.len()
    );
}

/// kill -9 while batches are being published: every acknowledged batch is stored whole,
/// with a job for each event; a batch that was not acknowledged is stored whole or not at
/// all (a batch is all or nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_batch_publishes_keeps_batches_whole() {
    let dir = tempfile::tempdir().unwrap();
    // One delivery at a time to a destination that takes a minute: jobs stay pending.
    let dest = Destination::start().await;
    dest.always(Reply::ok().delay(Duration::from_secs(60)));
    let config = write_config(
        dir.path(),
        &format!(
            r#"
            [server]
            lease_margin = "1s"
            [clients.crm]
            url = "{}/hook"
            timeout = "120s"
            concurrency = 1
            [subscriptions.to-crm]
            topics = ["bulk.loaded"]
            client = "crm"
            "#,
            dest.base
        ),
    );
    let mut hub = ServeProcess::start(dir.path(), &config, &[]).await;
    const PUBLISHERS: usize = 4;
    const BATCHES: usize = 10;
    const SIZE: usize = 40;
    let acked = Arc::new(Mutex::new(BTreeSet::<(usize, usize)>::new()));
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let acked = acked.clone();
        let url = hub.url("/v1/events/batch");
        publishers.push(tokio::spawn(async move {
            for b in 0..BATCHES {
                let body: String = (0..SIZE)
                    .map(|i| {
                        json!({"id": format!("p{p}-b{b}-e{i}"), "topic": "bulk.loaded", "key": format!("k{i}"), "data": i})
                            .to_string()
                            + "\n"
                    })
                    .collect();
                match client()
                    .try_request(
                        "POST",
                        &url,
                        &[("content-type", "application/x-ndjson")],
                        body.into_bytes(),
                    )
                    .await
                {
                    Ok(r) => {
                        assert_eq!(r.status, 202, "batch answered {}: {}", r.status, r.text());
                        assert_eq!(r.json()["ids"].as_array().map(Vec::len), Some(SIZE));
                        acked.lock().unwrap().insert((p, b));
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + SLOW_PATIENCE;
    while acked.lock().unwrap().len() < 10 {
        assert!(Instant::now() < deadline, "too few batches acknowledged");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    hub.kill9();
    for p in publishers {
        p.await.expect("publisher");
    }
    let acked = acked.lock().unwrap().clone();

    let hub = ServeProcess::start(dir.path(), &config, &[]).await;
    let mut whole_unacked = 0;
    for p in 0..PUBLISHERS {
        for b in 0..BATCHES {
            let mut stored = 0;
            for i in 0..SIZE {
                let (status, doc) = get_json(&hub.url(&format!("/v1/events/p{p}-b{b}-e{i}"))).await;
                match status {
                    200 => {
                        stored += 1;
                        assert_eq!(
                            doc["deliveries"].as_array().map(Vec::len),
                            Some(1),
                            "a stored event has its job: {doc}"
                        );
                        assert_eq!(doc["event"]["data"], json!(i));
                    }
                    404 => {}
                    other => panic!("GET answered {other}: {doc}"),
                }
            }
            if acked.contains(&(p, b)) {
                assert_eq!(stored, SIZE, "acknowledged batch p{p}-b{b} is not whole");
            } else {
                assert!(
                    stored == 0 || stored == SIZE,
                    "batch p{p}-b{b} is half stored ({stored} of {SIZE})"
                );
                if stored == SIZE {
                    whole_unacked += 1;
                }
            }
        }
    }
    println!(
        "{} batches acknowledged before kill -9, all whole; {whole_unacked} unacknowledged ones stored whole",
        acked.len()
    );
}

/// kill -9 while deliveries are on the wire: after the restart, the jobs that were running
/// come back once their lease (timeout + margin) expires and are delivered again under the
/// same `webhook-id`; the lost attempt is in the history as `transient`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_deliveries_redelivers_after_the_lease_with_the_same_webhook_id() {
    let dir = tempfile::tempdir().unwrap();
    let dest = Destination::start().await;
    dest.always(Reply::ok().delay(Duration::from_secs(2)));
    let config = write_config(
        dir.path(),
        &format!(
            r#"
            [server]
            lease_margin = "1s"
            [clients.crm]
            url = "{}/hook"
            timeout = "5s"
            concurrency = 4
            retry = {{ backoff = "100ms", max_backoff = "500ms" }}
            [subscriptions.to-crm]
            topics = ["order.created"]
            client = "crm"
            "#,
            dest.base
        ),
    );
    let mut hub = ServeProcess::start(dir.path(), &config, &[]).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            publish(
                &hub,
                json!({"topic": "order.created", "key": format!("o{n}"), "data": {"n": n}}),
            )
            .await,
        );
    }
    // All three are on the wire (each reply takes 2 s): kill the hub now.
    dest.wait_for(3).await;
    hub.kill9();
    let killed_at = Instant::now();
    let first: BTreeMap<String, crate::support::Recorded> = dest
        .requests()
        .into_iter()
        .map(|r| (r.header("ferry-event-id").unwrap_or_default().to_owned(), r))
        .collect();
    for id in &ids {
        assert!(first.contains_key(id), "event {id} was not on the wire");
    }

    let hub = ServeProcess::start(dir.path(), &config, &[]).await;
    for id in &ids {
        let doc = wait_event_state(&hub, id, "succeeded", SLOW_PATIENCE).await;
        let job_id = doc["deliveries"][0]["job_id"].as_str().unwrap().to_owned();
        let tries: Vec<_> = dest
            .requests()
            .into_iter()
            .filter(|r| r.header("ferry-event-id") == Some(id.as_str()))
            .collect();
        assert!(
            tries.len() >= 2,
            "event {id} was delivered {} time(s); expected the lost attempt and a new one",
            tries.len()
        );
        for t in &tries {
            assert_eq!(
                t.header("webhook-id"),
                Some(job_id.as_str()),
                "every attempt carries the job id as webhook-id"
            );
        }
        assert_eq!(tries[0].header("ferry-attempt"), Some("1"));
        let later: u32 = tries[1]
            .header("ferry-attempt")
            .and_then(|a| a.parse().ok())
            .expect("ferry-attempt is a number");
        assert!(
            later >= 2,
            "the re-delivery counts the lost attempt (ferry-attempt {later})"
        );
        // Taken up again only after the lease (5 s timeout + 1 s margin) expired.
        let gap = tries[1].at.duration_since(tries[0].at);
        assert!(
            gap >= Duration::from_secs(4),
            "re-delivered {gap:?} after the first attempt, before the lease expired"
        );
        assert!(tries[1].at > killed_at);

        let (status, job) = get_json(&hub.url(&format!("/v1/jobs/{job_id}"))).await;
        assert_eq!(status, 200, "{job}");
        assert_eq!(job["state"], "succeeded");
        let history = job["history"].as_array().expect("history");
        assert!(history.len() >= 2, "{job}");
        assert_eq!(
            history[0]["class"], "transient",
            "the lost attempt counts as transient: {job}"
        );
        assert_eq!(history.last().unwrap()["class"], "success", "{job}");
        assert_eq!(job["attempts"], json!(history.len()), "{job}");
    }
}

/// SIGTERM with a delivery in flight: `ferry serve` exits 0, and the delivery is finished
/// (succeeded) or released (pending), never left running until its lease expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_exits_0_and_finishes_or_releases_deliveries_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let dest = Destination::start().await;
    dest.always(Reply::ok().delay(Duration::from_secs(1)));
    // A long lease (60 s timeout): a job left running would stay stuck far longer than
    // this test waits.
    let config = write_config(
        dir.path(),
        &format!(
            r#"
            [server]
            lease_margin = "1s"
            [clients.crm]
            url = "{}/hook"
            timeout = "60s"
            retry = {{ backoff = "100ms", max_backoff = "500ms" }}
            [subscriptions.to-crm]
            topics = ["order.created"]
            client = "crm"
            "#,
            dest.base
        ),
    );
    let mut hub = ServeProcess::start(dir.path(), &config, &[]).await;
    let id = publish(
        &hub,
        json!({"topic": "order.created", "key": "o1", "data": {"n": 1}}),
    )
    .await;
    dest.wait_for(1).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = hub.sigterm();
        drop(hub);
        status
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0), "ferry serve exited with {status}");

    // Straight from the store, before anything can claim it again.
    {
        let url = format!("sqlite://{}", dir.path().join("ferry.db").display());
        let store = ferry::store::open(&url, false).await.expect("open store");
        let detail = store.event(&id).await.unwrap().expect("event stored");
        assert_eq!(detail.deliveries.len(), 1);
        let state = detail.deliveries[0].job.state.as_str();
        assert!(
            state == "succeeded" || state == "pending",
            "after SIGTERM the delivery in flight is {state}, not finished or released"
        );
    }

    dest.always(Reply::ok());
    let hub = ServeProcess::start(dir.path(), &config, &[]).await;
    let doc = wait_event_state(&hub, &id, "succeeded", Duration::from_secs(15)).await;
    let job_id = doc["deliveries"][0]["job_id"].as_str().unwrap();
    let (_, job) = get_json(&hub.url(&format!("/v1/jobs/{job_id}"))).await;
    let history = job["history"].as_array().expect("history");
    assert!(
        history.iter().all(|a| a["class"] == "success"),
        "no attempt was lost to an expired lease: {job}"
    );
}

/// `ferry serve` as a child with exactly these arguments and variables (no FERRY_* from
/// the test's environment); killed when dropped.
struct Serve {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Serve {
    fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let log = dir.join(format!(
            "serve-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let mut cmd = Command::new(ferry_bin());
        cmd.arg("serve")
            .args(args)
            .current_dir(dir)
            .env_remove("FERRY_DATABASE_URL")
            .env_remove("FERRY_LISTEN")
            .env_remove("FERRY_SERVER")
            .env_remove("FERRY_TOKEN")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn ferry serve");
        Serve { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/healthz` answers at `addr`; `Err(log)` if the process exits first.
    async fn healthy(&mut self, addr: &str) -> Result<(), String> {
        let deadline = Instant::now() + SLOW_PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {status}: {}", self.log()));
            }
            if client()
                .try_get(&format!("http://{addr}/healthz"))
                .await
                .is_some_and(|r| r.status == 200)
            {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "ferry serve never answered on {addr}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit status.
    async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + SLOW_PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ferry serve` with no file, no flags and no FERRY_* variables: the embedded default,
/// a SQLite file under ./ferry-data/ and the API on 127.0.0.1:7077.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_any_configuration_uses_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    if std::net::TcpListener::bind("127.0.0.1:7077").is_err() {
        println!(
            "note: 127.0.0.1:7077 is taken on this machine; skipping the default-listen check"
        );
        return;
    }
    let mut serve = Serve::spawn(dir.path(), &[], &[]);
    if let Err(log) = serve.healthy("127.0.0.1:7077").await {
        if log.contains("7077") && !log.contains("listening") {
            println!("note: 127.0.0.1:7077 was taken meanwhile; skipping the check: {log}");
            return;
        }
        panic!("ferry serve {log}");
    }
    assert!(
        dir.path().join("ferry-data").join("ferry.db").is_file(),
        "no ./ferry-data/ferry.db in {}",
        dir.path().display()
    );
    // It is this process that answers: the API stores what is published.
    let r = client()
        .post(
            "http://127.0.0.1:7077/v1/events",
            "application/json",
            br#"{"topic": "default.check", "id": "default-check-1"}"#.to_vec(),
            &[],
        )
        .await;
    assert!(r.status == 202 || r.status == 200, "{}", r.text());
    let (status, doc) = get_json("http://127.0.0.1:7077/v1/events/default-check-1").await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["event"]["topic"], "default.check");
    let status = serve.terminate().await;
    assert_eq!(status.code(), Some(0), "{}", serve.log());
}

/// Without --config, ./ferry.toml is read; FERRY_LISTEN and FERRY_DATABASE_URL override
/// it; --no-migrate serves a database that `ferry migrate` prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_ferry_toml_and_the_environment_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let (file_port, env_port) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("ferry.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{file_port}\"\n[storage]\nurl = \"sqlite://from-file.db\"\n"
        ),
    )
    .unwrap();

    let env_listen = format!("127.0.0.1:{env_port}");
    let mut serve = Serve::spawn(
        dir.path(),
        &[],
        &[
            ("FERRY_LISTEN", env_listen.as_str()),
            ("FERRY_DATABASE_URL", "sqlite://from-env.db"),
        ],
    );
    serve
        .healthy(&env_listen)
        .await
        .unwrap_or_else(|log| panic!("ferry serve {log}"));
    assert!(dir.path().join("from-env.db").is_file());
    assert!(!dir.path().join("from-file.db").exists());
    assert!(
        client()
            .try_get(&format!("http://127.0.0.1:{file_port}/healthz"))
            .await
            .is_none(),
        "FERRY_LISTEN overrides server.listen"
    );
    assert_eq!(serve.terminate().await.code(), Some(0));
    drop(serve);

    // The file alone.
    let file_listen = format!("127.0.0.1:{file_port}");
    let mut serve = Serve::spawn(dir.path(), &[], &[]);
    serve
        .healthy(&file_listen)
        .await
        .unwrap_or_else(|log| panic!("ferry serve {log}"));
    assert!(dir.path().join("from-file.db").is_file());
    assert_eq!(serve.terminate().await.code(), Some(0));
    drop(serve);

    // A database prepared by `ferry migrate` is served with --no-migrate.
    let migrated = dir.path().join("migrated.db");
    let url = format!("sqlite://{}", migrated.display());
    let out = crate::support::ferry(&["migrate", "--database", &url], dir.path(), &[]);
    assert!(out.status.success(), "{out:?}");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut serve = Serve::spawn(
        dir.path(),
        &["--no-migrate", "--database", &url, "--listen", &listen],
        &[],
    );
    serve
        .healthy(&listen)
        .await
        .unwrap_or_else(|log| panic!("ferry serve --no-migrate {log}"));
    assert_eq!(serve.terminate().await.code(), Some(0));
}

/// A client that sends half a request and then goes quiet must not keep `ferry serve`
/// up after SIGTERM: connections still open after the grace period are dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_is_not_held_up_by_a_half_sent_request() {
    use tokio::io::AsyncWriteExt;

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[server]\nshutdown_grace = \"1s\"\n");
    let mut hub = ServeProcess::start(dir.path(), &config, &[]).await;
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", hub.port))
        .await
        .unwrap();
    stalled
        .write_all(b"POST /v1/events HTTP/1.1\r\nhost: ferry\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"topic\":")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || hub.sigterm())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    drop(stalled);
}
