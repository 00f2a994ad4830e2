//! What the integration tests share: a real HTTP destination with scripted answers, a
//! hub started in-process on port 0 with a real SQLite file, the real `ferry` binary, and
//! a small HTTP client. Nothing here is a mock: every byte crosses a real socket.

#![allow(dead_code)]

pub mod destination;
pub mod http;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

pub use destination::{Destination, Recorded, Reply};
pub use http::{Response, client};

/// How long a test waits for something that should happen within milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A hub running in this process, with its own data directory.
pub struct TestHub {
    pub base: String,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ferry::HubError>>>,
}

impl TestHub {
    /// Starts a hub from a config text (without `[storage]`, which the hub gets here).
    pub async fn start(config: &str) -> TestHub {
        let dir = tempfile::tempdir().expect("temp dir");
        TestHub::start_in(dir, config).await
    }

    /// Starts a hub whose database lives in `dir` (to restart on the same data).
    pub async fn start_in(dir: tempfile::TempDir, config: &str) -> TestHub {
        let db = dir.path().join("ferry.db");
        let text = format!("[storage]\nurl = \"sqlite://{}\"\n{config}", db.display());
        let config =
            ferry::Config::parse(&text, "test").unwrap_or_else(|e| panic!("test config: {e}"));
        TestHub::start_with(dir, ferry::Hub::builder(config)).await
    }

    /// Starts a hub from a builder (for custom clients, clocks, stores).
    pub async fn start_with(dir: tempfile::TempDir, builder: ferry::HubBuilder) -> TestHub {
        let hub = builder.build().await.expect("hub builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(hub.run(listener, async move {
            let _ = stopped.await;
        }));
        TestHub {
            base,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("ferry.db")
    }

    pub async fn get(&self, path: &str) -> Response {
        client().get(&self.url(path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        client()
            .post(
                &self.url(path),
                "application/json",
                serde_json::to_vec(body).expect("json"),
                &[],
            )
            .await
    }

    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Response {
        client()
            .post(&self.url(path), content_type, body.into(), headers)
            .await
    }

    /// Publishes one event and returns its id (panics unless 202).
    pub async fn publish(&self, event: Value) -> String {
        let r = self.post_json("/v1/events", &event).await;
        assert_eq!(r.status, 202, "publish answered {}: {}", r.status, r.text());
        r.json()["id"].as_str().expect("id").to_owned()
    }

    /// Polls `GET /v1/events/{id}` until `done` holds for it (or panics after PATIENCE).
    pub async fn wait_event(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let r = self.get(&format!("/v1/events/{id}")).await;
            if r.status == 200 && done(&r.json()) {
                return r.json();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "event {id} never reached {what}; last answer {}: {}",
                    r.status,
                    r.text()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every delivery of the event is in `state`.
    pub async fn wait_deliveries(&self, id: &str, state: &str) -> Value {
        self.wait_event(id, state, |doc| {
            doc["deliveries"]
                .as_array()
                .is_some_and(|d| !d.is_empty() && d.iter().all(|d| d["state"] == state))
        })
        .await
    }

    /// Polls `GET /v1/jobs/{id}` until its state is `state`.
    pub async fn wait_job(&self, job_id: &str, state: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let r = self.get(&format!("/v1/jobs/{job_id}")).await;
            if r.status == 200 && r.json()["state"] == state {
                return r.json();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "job {job_id} never reached {state}; last answer {}: {}",
                    r.status,
                    r.text()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the hub as SIGTERM would and waits for it; returns its result.
    pub async fn stop(mut self) -> (tempfile::TempDir, Result<(), String>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("running");
        let result = match tokio::time::timeout(PATIENCE, task).await {
            Ok(Ok(r)) => r.map_err(|e| e.to_string()),
            Ok(Err(e)) => Err(format!("hub task panicked: {e}")),
            Err(_) => Err("hub did not stop in time".into()),
        };
        let dir = tempfile::tempdir().expect("temp dir");
        (std::mem::replace(&mut self.dir, dir), result)
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A free port on loopback (bound then released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The real `ferry` binary, built by cargo for these tests.
pub fn ferry_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

/// Runs the `ferry` binary to completion (for CLI commands).
pub fn ferry(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(ferry_bin());
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_TOKEN")
        .env_remove("FERRY_DATABASE_URL")
        .env_remove("FERRY_LISTEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run ferry")
}

/// `ferry serve` as a child process (for crash and signal tests).
pub struct ServeProcess {
    pub child: Child,
    pub base: String,
    pub port: u16,
}

impl ServeProcess {
    /// Starts `ferry serve --config CONFIG --listen 127.0.0.1:PORT` in `dir` and waits until
    /// `/healthz` answers. Logs go to `dir/serve-N.log`.
    pub async fn start(dir: &Path, config: &Path, extra_env: &[(&str, &str)]) -> ServeProcess {
        let port = free_port();
        let log_name = format!(
            "serve-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let log = std::fs::File::create(dir.join(log_name)).expect("log file");
        let mut cmd = Command::new(ferry_bin());
        cmd.args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .current_dir(dir)
            .env_remove("FERRY_DATABASE_URL")
            .env_remove("FERRY_LISTEN")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn ferry serve");
        let base = format!("http://127.0.0.1:{port}");
        let mut process = ServeProcess { child, base, port };
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = process.child.try_wait().expect("try_wait") {
                panic!(
                    "ferry serve exited early with {status}; see the logs in {}",
                    dir.display()
                );
            }
            if client()
                .try_get(&format!("{}/healthz", process.base))
                .await
                .is_some_and(|r| r.status == 200)
            {
                return process;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = process.child.kill();
                panic!(
                    "ferry serve did not become healthy; see the logs in {}",
                    dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// kill -9: no chance to clean up.
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status.
    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "ferry serve did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
