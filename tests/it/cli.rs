//! The `ferry` command line (contract sections 1, 6 and 7), run as the real binary against
//! a real hub: publish (one event, a file, a batch), events show, jobs list and retry,
//! global options, failures, check-config, migrate, bench and the embedding example.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{self, Destination, Reply, TestHub, free_port};

/// What a finished `ferry` command printed.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Everything it printed, for "the message says ..." checks.
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }
}

/// Runs `ferry ARGS` to completion off the async runtime (the hub under test lives on it).
async fn ferry_in(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Out {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cwd = cwd.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        support::ferry(&args, &cwd, &env)
    })
    .await
    .expect("ferry ran");
    Out {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `ferry --server HUB ARGS`.
async fn ferry_at(hub: &TestHub, args: &[&str]) -> Out {
    let mut all = vec!["--server", hub.base.as_str()];
    all.extend_from_slice(args);
    ferry_in(&all, hub.dir.path(), &[]).await
}

/// The id a command printed: the first word of its output that names a stored event.
async fn printed_event_id(hub: &TestHub, out: &Out) -> String {
    for word in out
        .stdout
        .split(|c: char| !(c.is_ascii_alphanumeric() || "._:-".contains(c)))
        .filter(|w| !w.is_empty())
    {
        if hub.get(&format!("/v1/events/{word}")).await.status == 200 {
            return word.to_owned();
        }
    }
    panic!("no event id in the output: {out:?}");
}

/// Every job of a topic, through every page of `GET /v1/jobs`.
async fn all_jobs(hub: &TestHub, topic: &str) -> Vec<Value> {
    let mut jobs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/jobs?topic={topic}&limit=1000");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = hub.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        jobs.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return jobs,
        }
    }
}

fn one_client_config(url: &str, topics: &str) -> String {
    format!(
        r#"
        [clients.crm]
        url = "{url}"
        retry = {{ backoff = "100ms", max_backoff = "500ms" }}
        [subscriptions.to-crm]
        topics = {topics}
        client = "crm"
        "#
    )
}

#[tokio::test]
async fn publish_prints_the_id_and_stores_key_data_and_attributes() {
    let dest = Destination::start().await;
    let hub = TestHub::start(&one_client_config(
        &dest.url("/crm"),
        r#"["customer.updated"]"#,
    ))
    .await;
    let out = ferry_at(
        &hub,
        &[
            "publish",
            "customer.updated",
            "--key",
            "c1",
            "--data",
            r#"{"name": "Ada", "tags": [1, 2]}"#,
            "--attr",
            "region=eu",
            "--attr",
            "tier=gold",
        ],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    let id = printed_event_id(&hub, &out).await;
    let doc = hub.wait_deliveries(&id, "succeeded").await;
    let event = &doc["event"];
    assert_eq!(event["topic"], "customer.updated");
    assert_eq!(event["key"], "c1");
    assert_eq!(event["data"], json!({"name": "Ada", "tags": [1, 2]}));
    assert_eq!(event["attributes"], json!({"region": "eu", "tier": "gold"}));
    assert_eq!(event["priority"], "normal");
    let got = dest.wait_for(1).await;
    assert_eq!(got[0].header("ferry-event-id"), Some(id.as_str()));
    assert_eq!(
        got[0].json()["data"],
        json!({"name": "Ada", "tags": [1, 2]})
    );
}

#[tokio::test]
async fn publish_reads_data_from_a_file_and_prints_json_with_json() {
    let hub = TestHub::start("").await;
    let file = hub.dir.path().join("order.json");
    std::fs::write(
        &file,
        r#"{"order": 1001, "lines": [{"sku": "A", "qty": 2}]}"#,
    )
    .unwrap();
    let data = format!("@{}", file.display());
    let out = ferry_at(
        &hub,
        &["publish", "order.created", "--key", "1001", "--data", &data],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    let id = printed_event_id(&hub, &out).await;
    let doc = hub.get(&format!("/v1/events/{id}")).await.json();
    assert_eq!(
        doc["event"]["data"],
        json!({"order": 1001, "lines": [{"sku": "A", "qty": 2}]})
    );
    assert_eq!(doc["event"]["key"], "1001");

    // --json: the hub's answer, {"id", "status_url"}.
    let out = ferry_at(
        &hub,
        &["--json", "publish", "order.created", "--data", &data],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    let answer = out.json();
    let id = answer["id"].as_str().expect("id");
    assert!(answer["status_url"].is_string(), "{answer}");
    assert_eq!(hub.get(&format!("/v1/events/{id}")).await.status, 200);

    // A missing file or data that is not JSON: a non-zero exit, nothing published.
    let out = ferry_at(
        &hub,
        &[
            "publish",
            "order.created",
            "--data",
            "@/nonexistent/file.json",
        ],
    )
    .await;
    assert!(!out.ok(), "{out:?}");
    assert!(!out.stderr.trim().is_empty(), "{out:?}");
    let out = ferry_at(&hub, &["publish", "order.created", "--data", "{not json"]).await;
    assert!(!out.ok(), "{out:?}");
    assert!(!out.stderr.trim().is_empty(), "{out:?}");
    // The hub refuses the event (422): a non-zero exit with the hub's reason.
    let out = ferry_at(&hub, &["publish", "not a topic!", "--data", "1"]).await;
    assert!(!out.ok(), "{out:?}");
    assert!(out.stderr.contains("topic"), "{out:?}");
}

#[tokio::test]
async fn publish_wait_shows_the_deliveries_result() {
    let dest = Destination::start().await;
    dest.always(Reply::status(201).body("crm-accepted"));
    let hub = TestHub::start(&one_client_config(
        &dest.url("/crm"),
        r#"["customer.created"]"#,
    ))
    .await;
    let out = ferry_at(
        &hub,
        &[
            "publish",
            "customer.created",
            "--key",
            "c9",
            "--data",
            "{}",
            "--wait",
            "5s",
        ],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains("succeeded"), "{out:?}");
    assert!(out.stdout.contains("crm-accepted"), "{out:?}");
    assert!(out.stdout.contains("to-crm"), "{out:?}");

    let out = ferry_at(
        &hub,
        &[
            "publish",
            "customer.created",
            "--key",
            "c10",
            "--data",
            "{}",
            "--wait",
            "5s",
            "--json",
        ],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    let doc = out.json();
    let d = &doc["deliveries"][0];
    assert_eq!(d["state"], "succeeded", "{doc}");
    assert_eq!(d["subscription"], "to-crm");
    assert_eq!(d["response"]["status"], 201);
    assert_eq!(d["response"]["body"], "crm-accepted");
    assert_eq!(d["last_outcome"]["class"], "success");
    assert_eq!(doc["event"]["key"], "c10");
}

/// A destination that answers nothing for a minute, with one delivery at a time: the jobs
/// of a bulk load stay pending, so counting them is cheap and certain.
async fn parked_hub(topic: &str) -> (TestHub, Destination) {
    let dest = Destination::start().await;
    dest.always(Reply::ok().delay(Duration::from_secs(60)));
    let hub = TestHub::start(&format!(
        r#"
        [clients.crm]
        url = "{}"
        timeout = "120s"
        concurrency = 1
        [subscriptions.to-crm]
        topics = ["{topic}"]
        client = "crm"
        "#,
        dest.url("/parked")
    ))
    .await;
    (hub, dest)
}

fn ndjson(topic: &str, lines: usize, bad: Option<usize>) -> String {
    let mut text = String::new();
    for n in 1..=lines {
        if Some(n) == bad {
            text.push_str(r#"{"topic": "not a valid topic!", "data": 1}"#);
        } else {
            text.push_str(
                &json!({"id": format!("line-{n}"), "topic": topic, "key": format!("k{n}"), "data": {"n": n}})
                    .to_string(),
            );
        }
        text.push('\n');
    }
    text
}

/// The line numbers whose events are stored (ids are `line-N`).
async fn stored_lines(hub: &TestHub, topic: &str) -> BTreeSet<usize> {
    let jobs = all_jobs(hub, topic).await;
    let lines: BTreeSet<usize> = jobs
        .iter()
        .map(|j| {
            j["event_id"]
                .as_str()
                .and_then(|id| id.strip_prefix("line-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected job {j}"))
        })
        .collect();
    assert_eq!(lines.len(), jobs.len(), "one job per event");
    lines
}

#[tokio::test]
async fn publish_batch_stores_every_line_of_a_large_file() {
    let (hub, _dest) = parked_hub("bulk.loaded").await;
    let file = hub.dir.path().join("events.ndjson");
    std::fs::write(&file, ndjson("bulk.loaded", 2500, None)).unwrap();
    let out = ferry_at(&hub, &["publish", "--batch", file.to_str().unwrap()]).await;
    assert!(out.ok(), "{out:?}");
    let lines = stored_lines(&hub, "bulk.loaded").await;
    assert_eq!(lines, (1..=2500).collect::<BTreeSet<_>>());
    for n in [1, 1000, 1001, 2500] {
        let doc = hub.get(&format!("/v1/events/line-{n}")).await.json();
        assert_eq!(doc["event"]["data"], json!({"n": n}));
        assert_eq!(doc["event"]["key"], format!("k{n}"));
    }
}

#[tokio::test]
async fn publish_batch_with_a_bad_line_fails_and_names_the_refused_lines() {
    let (hub, _dest) = parked_hub("bulk.bad").await;
    let file = hub.dir.path().join("events.ndjson");
    std::fs::write(&file, ndjson("bulk.bad", 2500, Some(1700))).unwrap();
    let out = ferry_at(&hub, &["publish", "--batch", file.to_str().unwrap()]).await;
    assert!(!out.ok(), "a refused line must fail the command: {out:?}");
    let lines = stored_lines(&hub, "bulk.bad").await;
    assert!(!lines.contains(&1700));
    // The batches before the bad line are stored, in file order.
    let first_missing = (1..=2500).find(|n| !lines.contains(n)).unwrap();
    assert!(
        first_missing > 1,
        "the batches before the bad line were not stored"
    );
    assert!(first_missing <= 1700);
    // Lines after the refused batch may or may not be sent; none of the refused batch is.
    let message = out.all();
    assert!(
        message.contains(&first_missing.to_string()) || message.contains("1700"),
        "the message names neither the first refused line ({first_missing}) nor the bad line: {out:?}"
    );
}

#[tokio::test]
async fn events_show_prints_a_table_or_the_contracts_document() {
    let dest = Destination::start().await;
    dest.always(Reply::ok().body("thanks"));
    let hub = TestHub::start(&one_client_config(
        &dest.url("/crm"),
        r#"["customer.updated"]"#,
    ))
    .await;
    let id = hub
        .publish(json!({"topic": "customer.updated", "key": "c42", "data": {"name": "Grace"}}))
        .await;
    let doc = hub.wait_deliveries(&id, "succeeded").await;
    let job_id = doc["deliveries"][0]["job_id"].as_str().unwrap();

    let out = ferry_at(&hub, &["events", "show", &id]).await;
    assert!(out.ok(), "{out:?}");
    for expected in [
        id.as_str(),
        "customer.updated",
        "c42",
        job_id,
        "to-crm",
        "succeeded",
    ] {
        assert!(out.stdout.contains(expected), "no {expected:?} in {out:?}");
    }

    let out = ferry_at(&hub, &["events", "show", &id, "--json"]).await;
    assert!(out.ok(), "{out:?}");
    let printed = out.json();
    let api = hub.get(&format!("/v1/events/{id}")).await.json();
    assert_eq!(printed, api, "--json prints GET /v1/events/{{id}}");
    for field in [
        "id",
        "topic",
        "key",
        "data",
        "attributes",
        "priority",
        "created_at",
    ] {
        assert!(
            printed["event"].get(field).is_some(),
            "event.{field} missing: {printed}"
        );
    }
    for field in [
        "job_id",
        "subscription",
        "client",
        "state",
        "attempts",
        "next_attempt_at",
        "last_outcome",
        "response",
    ] {
        assert!(
            printed["deliveries"][0].get(field).is_some(),
            "deliveries[0].{field} missing: {printed}"
        );
    }
    assert_eq!(printed["deliveries"][0]["attempts"], 1);
    assert_eq!(printed["deliveries"][0]["response"]["body"], "thanks");

    let out = ferry_at(&hub, &["events", "show", "no-such-event"]).await;
    assert!(!out.ok(), "{out:?}");
    let message = out.stderr.to_lowercase();
    assert!(
        message.contains("not found") || message.contains("404"),
        "{out:?}"
    );
}

/// Two clients: crm answers 200; erp answers 422 (permanent) and its jobs go dead fast.
/// 3 customer.updated events go to crm only; 2 order.created events go to both.
struct TwoClients {
    hub: TestHub,
    erp: Destination,
    _crm: Destination,
    crm_jobs: Vec<String>,
    erp_jobs: Vec<String>,
}

async fn two_clients() -> TwoClients {
    let crm = Destination::start().await;
    let erp = Destination::start().await;
    erp.always(Reply::status(422).body("no such customer"));
    let hub = TestHub::start(&format!(
        r#"
        [clients.crm]
        url = "{}"
        retry = {{ backoff = "50ms", max_backoff = "100ms" }}
        [clients.erp]
        url = "{}"
        retry = {{ backoff = "50ms", max_backoff = "100ms", permanent_window = "200ms" }}
        [subscriptions.to-crm]
        topics = ["customer.updated", "order.created"]
        client = "crm"
        [subscriptions.to-erp]
        topics = ["order.created"]
        client = "erp"
        "#,
        crm.url("/crm"),
        erp.url("/erp")
    ))
    .await;
    let mut events = Vec::new();
    for n in 0..3 {
        events.push(
            hub.publish(json!({"topic": "customer.updated", "key": format!("c{n}")}))
                .await,
        );
    }
    for n in 0..2 {
        events.push(
            hub.publish(json!({"topic": "order.created", "key": format!("o{n}")}))
                .await,
        );
    }
    let (mut crm_jobs, mut erp_jobs) = (Vec::new(), Vec::new());
    for id in &events {
        let doc = hub
            .wait_event(id, "terminal", |doc| {
                doc["deliveries"].as_array().is_some_and(|d| {
                    d.iter()
                        .all(|d| d["state"] == "succeeded" || d["state"] == "dead")
                })
            })
            .await;
        for d in doc["deliveries"].as_array().unwrap() {
            let job = d["job_id"].as_str().unwrap().to_owned();
            match d["client"].as_str() {
                Some("crm") => {
                    assert_eq!(d["state"], "succeeded", "{doc}");
                    crm_jobs.push(job)
                }
                Some("erp") => {
                    assert_eq!(d["state"], "dead", "{doc}");
                    erp_jobs.push(job)
                }
                other => panic!("unexpected client {other:?}"),
            }
        }
    }
    assert_eq!((crm_jobs.len(), erp_jobs.len()), (5, 2));
    TwoClients {
        hub,
        erp,
        _crm: crm,
        crm_jobs,
        erp_jobs,
    }
}

fn ids_of(page: &Value) -> BTreeSet<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {page}"))
        .iter()
        .map(|j| j["id"].as_str().expect("job id").to_owned())
        .collect()
}

#[tokio::test]
async fn jobs_list_filters_by_state_client_topic_and_limit() {
    let t = two_clients().await;
    let hub = &t.hub;
    let all: BTreeSet<String> = t.crm_jobs.iter().chain(&t.erp_jobs).cloned().collect();
    let erp: BTreeSet<String> = t.erp_jobs.iter().cloned().collect();
    let crm: BTreeSet<String> = t.crm_jobs.iter().cloned().collect();

    let out = ferry_at(hub, &["jobs", "list", "--json"]).await;
    assert!(out.ok(), "{out:?}");
    let page = out.json();
    assert_eq!(ids_of(&page), all);
    assert!(page.get("next_cursor").is_some(), "{page}");

    let out = ferry_at(hub, &["jobs", "list", "--state", "dead", "--json"]).await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(ids_of(&out.json()), erp);
    for j in out.json()["items"].as_array().unwrap() {
        assert_eq!(j["state"], "dead");
        assert_eq!(j["client"], "erp");
    }

    let out = ferry_at(hub, &["jobs", "list", "--client", "crm", "--json"]).await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(ids_of(&out.json()), crm);

    let out = ferry_at(hub, &["jobs", "list", "--topic", "order.created", "--json"]).await;
    assert!(out.ok(), "{out:?}");
    let page = out.json();
    assert_eq!(ids_of(&page).len(), 4);
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["topic"] == "order.created")
    );

    let out = ferry_at(
        hub,
        &[
            "jobs",
            "list",
            "--client",
            "crm",
            "--topic",
            "order.created",
            "--state",
            "succeeded",
            "--json",
        ],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(ids_of(&out.json()).len(), 2);

    let out = ferry_at(hub, &["jobs", "list", "--limit", "2", "--json"]).await;
    assert!(out.ok(), "{out:?}");
    let page = out.json();
    assert_eq!(ids_of(&page).len(), 2, "{page}");
    assert!(page["next_cursor"].is_string(), "more jobs remain: {page}");

    // The default is a human-readable table naming each job.
    let out = ferry_at(hub, &["jobs", "list", "--state", "dead", "--client", "erp"]).await;
    assert!(out.ok(), "{out:?}");
    assert!(
        serde_json::from_str::<Value>(&out.stdout).is_err(),
        "tables by default: {out:?}"
    );
    for id in &erp {
        assert!(out.stdout.contains(id.as_str()), "no {id} in {out:?}");
    }
    for id in &crm {
        assert!(
            !out.stdout.contains(id.as_str()),
            "{id} is not dead: {out:?}"
        );
    }
    assert!(out.stdout.contains("dead"), "{out:?}");
}

#[tokio::test]
async fn jobs_retry_one_job_and_by_filter() {
    let t = two_clients().await;
    let hub = &t.hub;
    // The API heals; dead jobs retried now succeed.
    t.erp.always(Reply::ok());

    let first = &t.erp_jobs[0];
    let out = ferry_at(hub, &["jobs", "retry", first]).await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains(first.as_str()), "{out:?}");
    hub.wait_job(first, "succeeded").await;

    let out = ferry_at(
        hub,
        &[
            "jobs", "retry", "--state", "dead", "--client", "erp", "--json",
        ],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.json(), json!({"retried": 1}));
    hub.wait_job(&t.erp_jobs[1], "succeeded").await;

    // Nothing dead is left: the table form says how many (none).
    let out = ferry_at(
        hub,
        &["jobs", "retry", "--state", "dead", "--client", "erp"],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains('0'), "{out:?}");

    // A job that is not dead or cancelled: 409 conflict, a non-zero exit.
    let out = ferry_at(hub, &["jobs", "retry", &t.crm_jobs[0]]).await;
    assert!(!out.ok(), "{out:?}");
    let message = out.stderr.to_lowercase();
    assert!(
        message.contains("conflict") || message.contains("409"),
        "{out:?}"
    );
    // A filter the hub refuses: a non-zero exit.
    let out = ferry_at(hub, &["jobs", "list", "--state", "sleeping"]).await;
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("sleeping") || out.stderr.contains("state"),
        "{out:?}"
    );
    // An unknown job: 404, a non-zero exit, a message that says so.
    let out = ferry_at(hub, &["jobs", "retry", "job_does_not_exist"]).await;
    assert!(!out.ok(), "{out:?}");
    let message = out.stderr.to_lowercase();
    assert!(
        message.contains("not found") || message.contains("404"),
        "{out:?}"
    );
}

#[tokio::test]
async fn global_options_are_accepted_before_or_after_the_subcommand() {
    let hub = TestHub::start("").await;
    hub.publish(json!({"topic": "a.b"})).await;
    let server = hub.base.as_str();
    for args in [
        vec!["--json", "jobs", "list", "--server", server],
        vec!["jobs", "list", "--json", "--server", server],
        vec!["--server", server, "--json", "jobs", "list"],
        vec!["jobs", "--json", "list", "--server", server],
        vec!["jobs", "list", "--server", server, "--json"],
    ] {
        let out = ferry_in(&args, hub.dir.path(), &[]).await;
        assert!(out.ok(), "{args:?}: {out:?}");
        let page = out.json();
        assert!(page["items"].is_array(), "{args:?}: {page}");
    }
    // --token too (the open hub ignores it).
    let out = ferry_in(
        &[
            "jobs", "list", "--token", "t0k", "--server", server, "--json",
        ],
        hub.dir.path(),
        &[],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    let out = ferry_in(
        &[
            "--token", "t0k", "--server", server, "jobs", "list", "--json",
        ],
        hub.dir.path(),
        &[],
    )
    .await;
    assert!(out.ok(), "{out:?}");
}

#[tokio::test]
async fn an_unreachable_hub_is_a_clear_failure() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    for args in [
        vec!["--server", server.as_str(), "jobs", "list"],
        vec!["--server", server.as_str(), "publish", "a.b", "--data", "1"],
        vec!["--server", server.as_str(), "events", "show", "x"],
    ] {
        let out = ferry_in(&args, dir.path(), &[]).await;
        assert!(!out.ok(), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(&port.to_string()),
            "the message names the hub it could not reach: {out:?}"
        );
    }
}

/// The full example of contract section 2, verbatim.
const CONTRACT_EXAMPLE: &str = r#"
[server]
listen = "127.0.0.1:7077"
max_body = "1MiB"

[storage]
url = "sqlite://ferry-data/ferry.db"

[retention]
succeeded = "7d"        # succeeded jobs and their events are pruned after this
dead = "30d"

[[auth.tokens]]          # no tokens at all: open API, allowed on loopback only
name = "core-app"
token_env = "FERRY_CORE_TOKEN"   # or token_sha256 = "hex"
scopes = ["publish", "read"]     # publish | read | operate | admin

[auth.jwt]                       # bearer JWTs minted by the core system
secret_env = "FERRY_JWT_SECRET"  # HS256; or public_key_file = "core.pem" (RS256/ES256)
issuer = "core"                  # optional; checked when set; exp always checked
# scopes come from the space-separated "scope" claim; the token's "sub" names the caller

[security]
deny_networks = ["169.254.0.0/16"]   # the default: deliveries never reach cloud metadata addresses

[notify]
error = ["ops-mail", "chat"]     # channel names per level: error | warning | notice
warning = ["chat"]

[notify.channels.ops-mail]
kind = "email"
smtp_url = "smtp://127.0.0.1:2525"
from = "ferry@example.com"
to = ["ops@example.com"]

[notify.channels.chat]
kind = "webhook"                 # posts {"text": "...", "level": "...", ...}
url = "http://127.0.0.1:9000/hooks/chat"

[clients.crm]
kind = "http"
url = "http://127.0.0.1:9000/crm/{{ event.topic }}/{{ event.key }}"  # minijinja-style template
method = "POST"                  # templated too
headers = { "x-source" = "ferry" }
body = "{{ event.data | tojson }}"   # default: the event envelope as JSON
timeout = "10s"
concurrency = 8                  # deliveries in flight at once
rate = "50/s"                    # N/s, N/min or N/h
signing_secret_env = "CRM_WHSEC"     # Standard Webhooks signature headers
auth = { kind = "bearer", token_env = "CRM_TOKEN" }
#   { kind = "basic", username = "u", password_env = "P" }
#   { kind = "jwt", secret_env = "S", ttl = "5m", claims = { sub = "ferry", scope = "sync" } }
#       HS256, minted fresh for every attempt (iat, exp = iat + ttl), so a long pause never
#       leaves a queued delivery holding an expired token
#   { kind = "oauth2", token_url = "...", client_id = "...", client_secret_env = "S", scope = "..." }
#       client-credentials grant; the token is cached until it expires; a 401 refreshes it once
#       before the attempt counts as unauthorized
retry = { backoff = "1s", max_backoff = "1h", transient_window = "7d", permanent_window = "5m" }
classify = [ { status = [409], class = "transient" }, { status = "4xx", body = "duplicate", class = "permanent" } ]
outage = { after_failures = 5, pauses = ["1m", "5m", "30m", "2h"] }
budget = "10000/h"               # attempts; past it the client pauses with a warning
notify = { error = ["ops-mail"] }    # per-client override of [notify]

[clients.crm.resync]             # the re-sync / bulk-load source, a paginated listing
url = "http://127.0.0.1:9100/customers?cursor={{ cursor }}"
items = "/items"                 # JSON pointer to the array of records
next = "/next_cursor"            # JSON pointer to the next cursor; absent/null = last page
key = "/id"                      # JSON pointer to each record's key
topic = "customer.updated"       # records are delivered as events of this topic
# auth = { ... }                 # the same kinds as a client's, for the core system's listing

[subscriptions.customers-to-crm]
topics = ["customer.created", "customer.updated"]
client = "crm"
ordered = true                   # one delivery at a time per key, in publish order
coalesce = false                 # true: a newer pending event for a key supersedes older pending ones
filter = { attributes = { region = "eu" } }
"#;

/// Every variable the example names.
const EXAMPLE_ENV: [(&str, &str); 6] = [
    ("CRM_WHSEC", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ("CRM_TOKEN", "crm-token"),
    ("FERRY_CORE_TOKEN", "core-token"),
    ("FERRY_JWT_SECRET", "jwt-secret"),
    ("P", "basic-password"),
    ("S", "another-secret"),
];

async fn check_config(text: &str, env: &[(&str, &str)]) -> Out {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ferry.toml");
    std::fs::write(&file, text).unwrap();
    ferry_in(
        &["check-config", "--config", file.to_str().unwrap()],
        dir.path(),
        env,
    )
    .await
}

#[tokio::test]
async fn check_config_accepts_the_contracts_full_example() {
    let out = check_config(CONTRACT_EXAMPLE, &EXAMPLE_ENV).await;
    assert!(out.ok(), "the contract's own example is refused: {out:?}");
    assert!(!out.all().trim().is_empty(), "{out:?}");

    // The same file in ./ferry.toml is read without --config.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ferry.toml"), CONTRACT_EXAMPLE).unwrap();
    let out = ferry_in(&["check-config"], dir.path(), &EXAMPLE_ENV).await;
    assert!(out.ok(), "{out:?}");

    // Without the secrets it names: a problem per missing variable, at its TOML path.
    let out = check_config(CONTRACT_EXAMPLE, &[]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    for path in ["clients.crm.signing_secret_env", "clients.crm.auth"] {
        assert!(out.all().contains(path), "no {path} in {out:?}");
    }
}

#[tokio::test]
async fn check_config_on_the_other_client_auth_kinds_accepts_or_names_the_path() {
    for (kind, auth) in [
        (
            "jwt",
            r#"auth = { kind = "jwt", secret_env = "S", ttl = "5m", claims = { sub = "ferry", scope = "sync" } }"#,
        ),
        (
            "oauth2",
            r#"auth = { kind = "oauth2", token_url = "http://127.0.0.1:9000/token", client_id = "ferry", client_secret_env = "S", scope = "sync" }"#,
        ),
        (
            "basic",
            r#"auth = { kind = "basic", username = "u", password_env = "P" }"#,
        ),
    ] {
        let text = CONTRACT_EXAMPLE.replace(
            r#"auth = { kind = "bearer", token_env = "CRM_TOKEN" }"#,
            auth,
        );
        assert_ne!(text, CONTRACT_EXAMPLE);
        let out = check_config(&text, &EXAMPLE_ENV).await;
        if kind == "basic" {
            assert!(out.ok(), "{kind}: {out:?}");
        } else if !out.ok() {
            // This build may refuse the kind, but must say where and why, and exit 1.
            println!(
                "note: check-config refuses {kind} client auth: {}",
                out.all()
            );
            assert_eq!(out.code, Some(1), "{kind}: {out:?}");
            assert!(out.all().contains("clients.crm.auth"), "{kind}: {out:?}");
            assert!(out.all().contains(kind), "{kind}: {out:?}");
        }
    }
}

#[tokio::test]
async fn check_config_prints_every_problem_with_its_toml_path() {
    let text = r#"
        [server]
        listen = "not an address"
        colour = "blue"

        [clients.crm]
        url = "http://127.0.0.1:9000/crm"
        timeout = "soon"
        concurrency = 0
        signing_secret_env = "FERRY_TEST_UNSET_SECRET"

        [subscriptions.s]
        topics = ["customer.updated"]
        client = "x"

        [subscriptions.t]
        topics = ["order.created"]
        client = "crm"
        colour = "red"
    "#;
    let out = check_config(text, &[]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let message = out.all();
    assert!(
        message.contains(r#"subscriptions.s.client: unknown client "x""#),
        "{out:?}"
    );
    for path in [
        "server.listen",
        "server.colour",
        "clients.crm.timeout",
        "clients.crm.concurrency",
        "clients.crm.signing_secret_env",
        "subscriptions.t.colour",
    ] {
        assert!(message.contains(path), "no problem at {path}: {out:?}");
    }
}

#[tokio::test]
async fn check_config_treats_unknown_keys_as_errors() {
    for (text, path) in [
        ("[server]\nlistn = \"127.0.0.1:7077\"\n", "server.listn"),
        (
            "[storage]\nurl = \"sqlite://x.db\"\npool = 4\n",
            "storage.pool",
        ),
        ("[telemetry]\nenabled = true\n", "telemetry"),
        (
            "[clients.crm]\nurl = \"http://127.0.0.1:9/\"\nretries = 3\n",
            "clients.crm.retries",
        ),
    ] {
        let out = check_config(text, &[]).await;
        assert_eq!(out.code, Some(1), "{text}: {out:?}");
        assert!(out.all().contains(path), "{text}: {out:?}");
    }
    // Not TOML at all: exit 1 with a message.
    let out = check_config("[server\nlisten = ", &[]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(!out.all().trim().is_empty());
    // And a valid file passes.
    let out = check_config("[server]\nlisten = \"127.0.0.1:7077\"\n", &[]).await;
    assert!(out.ok(), "{out:?}");
}

fn table_count(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |row| row.get(0),
    )
    .expect("query")
}

#[tokio::test]
async fn migrate_creates_the_schema_where_the_url_says() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("migrated.db");
    let url = format!("sqlite://{}", db.display());
    let out = ferry_in(&["migrate", "--database", &url], dir.path(), &[]).await;
    assert!(out.ok(), "{out:?}");
    assert!(db.is_file());
    assert!(table_count(&db) > 0, "no tables in {}", db.display());
    // The schema is current: the store opens without migrating.
    ferry::store::open(&url, false)
        .await
        .expect("the migrated schema is what this build expects");
    // Running it again is harmless.
    let out = ferry_in(&["migrate", "--database", &url], dir.path(), &[]).await;
    assert!(out.ok(), "{out:?}");

    // A relative sqlite:// path is relative to the working directory.
    let out = ferry_in(
        &["migrate", "--database", "sqlite://relative.db"],
        dir.path(),
        &[],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(dir.path().join("relative.db").is_file());
}

#[tokio::test]
async fn migrate_reads_the_config_file_and_ferry_database_url_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferry.toml");
    std::fs::write(&config, "[storage]\nurl = \"sqlite://from-file.db\"\n").unwrap();
    let config = config.to_str().unwrap();

    let out = ferry_in(
        &["migrate", "--config", config],
        dir.path(),
        &[("FERRY_DATABASE_URL", "sqlite://from-env.db")],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(dir.path().join("from-env.db").is_file(), "{out:?}");
    assert!(
        !dir.path().join("from-file.db").exists(),
        "FERRY_DATABASE_URL overrides the file: {out:?}"
    );
    assert!(table_count(&dir.path().join("from-env.db")) > 0);

    // Without the variable the file's URL is used; --database overrides it too.
    let out = ferry_in(&["migrate", "--config", config], dir.path(), &[]).await;
    assert!(out.ok(), "{out:?}");
    assert!(dir.path().join("from-file.db").is_file(), "{out:?}");
    let out = ferry_in(
        &[
            "migrate",
            "--config",
            config,
            "--database",
            "sqlite://from-flag.db",
        ],
        dir.path(),
        &[],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(dir.path().join("from-flag.db").is_file(), "{out:?}");
    // ./ferry.toml is read when --config is not given.
    std::fs::write(
        dir.path().join("ferry.toml"),
        "[storage]\nurl = \"sqlite://implicit.db\"\n",
    )
    .unwrap();
    let out = ferry_in(&["migrate"], dir.path(), &[]).await;
    assert!(out.ok(), "{out:?}");
    assert!(dir.path().join("implicit.db").is_file(), "{out:?}");
}

#[tokio::test]
async fn bench_prints_a_json_report_of_every_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferry_in(
        &["bench", "--events", "300", "--concurrency", "8", "--json"],
        dir.path(),
        &[],
    )
    .await;
    assert!(out.ok(), "{out:?}");
    let report = out.json();
    assert_eq!(report["events"], 300, "{report}");
    assert_eq!(report["concurrency"], 8, "{report}");
    assert_eq!(report["delivered"], 300, "{report}");
    let number = |field: &str| {
        report[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} is not a number: {report}"))
    };
    for field in ["publish_per_s", "delivery_per_s"] {
        assert!(number(field) > 0.0, "{field}: {report}");
    }
    let (p50, p99, max) = (number("p50_ms"), number("p99_ms"), number("max_ms"));
    assert!(
        0.0 <= p50 && p50 <= p99 && p99 <= max,
        "latencies out of order: {report}"
    );
}

fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // <target>/debug/deps/it-xxxx → <target>/debug/examples/custom_client
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    profile_dir
        .join("examples")
        .join(format!("custom_client{}", std::env::consts::EXE_SUFFIX))
}

#[tokio::test]
async fn the_custom_client_example_delivers_through_an_embedded_hub() {
    let example = example_binary();
    assert!(
        example.is_file(),
        "{} is missing; `cargo test` builds the examples",
        example.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&example)
            .current_dir(dir.path())
            .output()
            .expect("run the example")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}: {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("delivered through the custom client"),
        "{stdout}"
    );
}
