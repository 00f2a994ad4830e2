//! The jobs API (contract sections 3, 4 and 7): listing with every filter and cursor
//! pagination, one job with its attempt history, cancel, retry and bulk retry.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Destination, PATIENCE, Reply, Response, TestHub, free_port};

/// Every field a job carries in every answer, null when unknown.
const JOB_FIELDS: [&str; 13] = [
    "id",
    "event_id",
    "subscription",
    "client",
    "topic",
    "key",
    "state",
    "priority",
    "attempts",
    "next_attempt_at",
    "last_outcome",
    "cancel_reason",
    "created_at",
];

const ATTEMPT_FIELDS: [&str; 6] = ["at", "duration_ms", "class", "status", "body", "error"];

#[track_caller]
fn assert_job_shape(job: &Value) {
    let object = job
        .as_object()
        .unwrap_or_else(|| panic!("a job is an object: {job}"));
    for field in JOB_FIELDS {
        assert!(object.contains_key(field), "job lacks {field:?}: {job}");
    }
    for field in ["id", "event_id", "subscription", "client", "topic", "state"] {
        assert!(
            job[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} is a non-empty string: {job}"
        );
    }
    assert!(
        ["pending", "running", "succeeded", "dead", "cancelled"]
            .contains(&job["state"].as_str().unwrap()),
        "{job}"
    );
    assert!(
        ["high", "normal", "low"].contains(&job["priority"].as_str().unwrap_or_default()),
        "{job}"
    );
    assert!(job["attempts"].is_u64(), "attempts is a count: {job}");
    assert!(job["key"].is_string() || job["key"].is_null(), "{job}");
    timestamp(&job["created_at"]);
    if !job["next_attempt_at"].is_null() {
        timestamp(&job["next_attempt_at"]);
    }
    let outcome = &job["last_outcome"];
    if !outcome.is_null() {
        let o = outcome
            .as_object()
            .unwrap_or_else(|| panic!("last_outcome is an object or null: {job}"));
        for field in ["class", "status", "error", "at"] {
            assert!(o.contains_key(field), "last_outcome lacks {field:?}: {job}");
        }
        assert_class(&outcome["class"]);
        timestamp(&outcome["at"]);
    }
    assert!(
        job["cancel_reason"].is_null() || job["cancel_reason"].is_string(),
        "{job}"
    );
}

#[track_caller]
fn assert_class(class: &Value) {
    assert!(
        [
            "success",
            "transient",
            "permanent",
            "unauthorized",
            "throttled"
        ]
        .contains(&class.as_str().unwrap_or_default()),
        "not an outcome class: {class}"
    );
}

#[track_caller]
fn timestamp(v: &Value) -> jiff::Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("a time is a string: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("{v} is not RFC 3339: {e}"))
}

#[track_caller]
fn assert_conflict(r: &Response, what: &str) {
    assert_eq!(r.status, 409, "{what}: {}", r.text());
    let body = r.json();
    assert_eq!(body["error"]["code"], "conflict", "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

/// One page of `GET /v1/jobs?{query}`.
async fn page(hub: &TestHub, query: &str) -> (Vec<Value>, Option<String>) {
    let r = hub.get(&format!("/v1/jobs?{query}")).await;
    assert_eq!(r.status, 200, "GET /v1/jobs?{query}: {}", r.text());
    let body = r.json();
    let object = body.as_object().expect("a list is an object");
    assert!(
        object.contains_key("items") && object.contains_key("next_cursor"),
        "{body}"
    );
    let items = body["items"].as_array().expect("items").clone();
    let next = match &body["next_cursor"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("next_cursor is a string or null: {other}"),
    };
    (items, next)
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|j| j["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn job(hub: &TestHub, id: &str) -> Value {
    let r = hub.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(r.status, 200, "GET /v1/jobs/{id}: {}", r.text());
    r.json()
}

/// Polls `GET /v1/jobs/{id}` until `done` holds.
async fn wait_job_until(
    hub: &TestHub,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let j = job(hub, id).await;
        if done(&j) {
            return j;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never became {what}: {j}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the job has been tried and now waits for a retry far in the future.
async fn wait_parked(hub: &TestHub, id: &str, attempts: u64) -> Value {
    wait_job_until(hub, id, "pending after an attempt", |j| {
        j["state"] == "pending" && j["attempts"].as_u64().unwrap_or(0) >= attempts
    })
    .await
}

/// The job ids of an event, by subscription.
async fn jobs_of(hub: &TestHub, event_id: &str) -> Vec<(String, String)> {
    let r = hub.get(&format!("/v1/events/{event_id}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            (
                d["subscription"].as_str().unwrap().to_owned(),
                d["job_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn only_job(hub: &TestHub, event_id: &str) -> String {
    let jobs = jobs_of(hub, event_id).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs[0].1.clone()
}

/// What the test knows about a job, to compute what each filter must answer.
#[derive(Debug, Clone)]
struct Known {
    id: String,
    event: usize,
    subscription: String,
    client: String,
    topic: String,
    key: Option<String>,
    state: String,
}

#[tokio::test]
async fn the_list_is_newest_first_and_every_filter_selects_exactly_its_jobs() {
    let ok = Destination::start().await;
    let down = Destination::start().await;
    down.always(Reply::status(503));
    let reject = Destination::start().await;
    reject.always(Reply::status(400));
    let slow = Destination::start().await;
    slow.always(Reply::ok().delay(Duration::from_secs(60)));
    let hub = TestHub::start(&format!(
        r#"
        [clients.a]
        url = "{ok}/a"
        [clients.b]
        url = "{ok}/b"
        [clients.hold]
        url = "{down}/hold"
        retry = {{ backoff = "1h" }}
        [clients.reject]
        url = "{reject}/reject"
        retry = {{ backoff = "100ms", permanent_window = "1ms" }}
        [clients.slow]
        url = "{slow}/slow"
        timeout = "120s"
        retry = {{ backoff = "1h" }}
        [subscriptions.sa]
        topics = ["t.one", "t.two"]
        client = "a"
        [subscriptions.sb]
        topics = ["t.one"]
        client = "b"
        [subscriptions.sh]
        topics = ["t.three"]
        client = "hold"
        [subscriptions.sr]
        topics = ["t.three"]
        client = "reject"
        [subscriptions.ss]
        topics = ["t.slow"]
        client = "slow"
        "#,
        ok = ok.base,
        down = down.base,
        reject = reject.base,
        slow = slow.base,
    ))
    .await;

    let published = [
        ("t.one", Some("k1")),
        ("t.two", Some("k2")),
        ("t.one", Some("k2")),
        ("t.three", Some("k1")),
        ("t.three", None),
        ("t.slow", Some("k3")),
    ];
    let mut known = Vec::new();
    for (n, (topic, key)) in published.iter().enumerate() {
        let event = hub
            .publish(json!({"topic": topic, "key": key, "data": {"n": n}}))
            .await;
        for (subscription, id) in jobs_of(&hub, &event).await {
            let (client, state) = match subscription.as_str() {
                "sa" => ("a", "succeeded"),
                "sb" => ("b", "succeeded"),
                "sh" => ("hold", "pending"),
                "sr" => ("reject", "dead"),
                "ss" => ("slow", "running"),
                other => panic!("unexpected subscription {other}"),
            };
            known.push(Known {
                id,
                event: n,
                subscription,
                client: client.into(),
                topic: topic.to_string(),
                key: key.map(str::to_owned),
                state: state.into(),
            });
        }
    }
    assert_eq!(known.len(), 10, "{known:?}");
    for k in &known {
        match k.state.as_str() {
            "pending" => {
                wait_parked(&hub, &k.id, 1).await;
            }
            state => {
                hub.wait_job(&k.id, state).await;
            }
        }
    }

    // The whole list: everything, newest first, every field present.
    let (all, next) = page(&hub, "").await;
    assert_eq!(next, None);
    assert_eq!(
        ids(&all).into_iter().collect::<BTreeSet<_>>(),
        known.iter().map(|k| k.id.clone()).collect::<BTreeSet<_>>()
    );
    let event_index = |id: &str| known.iter().find(|k| k.id == id).unwrap().event;
    let order: Vec<usize> = ids(&all).iter().map(|id| event_index(id)).collect();
    assert!(
        order.windows(2).all(|w| w[0] >= w[1]),
        "newest first: the jobs come in event order {order:?}"
    );
    let created: Vec<_> = all.iter().map(|j| timestamp(&j["created_at"])).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");
    for item in &all {
        assert_job_shape(item);
        let k = known.iter().find(|k| k.id == item["id"]).unwrap();
        assert_eq!(item["subscription"], k.subscription.as_str(), "{item}");
        assert_eq!(item["client"], k.client.as_str(), "{item}");
        assert_eq!(item["topic"], k.topic.as_str(), "{item}");
        assert_eq!(item["key"], json!(k.key), "{item}");
        assert_eq!(item["state"], k.state.as_str(), "{item}");
        assert_eq!(item["priority"], "normal", "{item}");
        assert_eq!(item["cancel_reason"], Value::Null, "{item}");
        match k.state.as_str() {
            "succeeded" => {
                assert_eq!(item["attempts"], 1, "{item}");
                assert_eq!(item["last_outcome"]["class"], "success", "{item}");
                assert_eq!(item["last_outcome"]["status"], 200, "{item}");
            }
            "pending" => {
                assert_eq!(item["last_outcome"]["class"], "transient", "{item}");
                assert_eq!(item["last_outcome"]["status"], 503, "{item}");
                let next = timestamp(&item["next_attempt_at"]);
                assert!(
                    next > jiff::Timestamp::now() + jiff::SignedDuration::from_mins(30),
                    "a 1h backoff puts the next attempt far ahead: {item}"
                );
            }
            "dead" => {
                assert_eq!(item["last_outcome"]["class"], "permanent", "{item}");
                assert_eq!(item["last_outcome"]["status"], 400, "{item}");
            }
            "running" => {
                assert_eq!(
                    item["last_outcome"],
                    Value::Null,
                    "no attempt has finished yet: {item}"
                );
            }
            _ => unreachable!(),
        }
    }

    // Each filter, alone and combined, selects exactly the matching jobs, still newest first.
    type Selects = Box<dyn Fn(&Known) -> bool>;
    let filters: Vec<(&str, Selects)> = vec![
        ("state=succeeded", Box::new(|k| k.state == "succeeded")),
        ("state=pending", Box::new(|k| k.state == "pending")),
        ("state=dead", Box::new(|k| k.state == "dead")),
        ("state=running", Box::new(|k| k.state == "running")),
        ("state=cancelled", Box::new(|_| false)),
        ("client=a", Box::new(|k| k.client == "a")),
        ("client=b", Box::new(|k| k.client == "b")),
        ("client=hold", Box::new(|k| k.client == "hold")),
        ("client=nobody", Box::new(|_| false)),
        ("subscription=sb", Box::new(|k| k.subscription == "sb")),
        ("subscription=sr", Box::new(|k| k.subscription == "sr")),
        ("topic=t.one", Box::new(|k| k.topic == "t.one")),
        ("topic=t.two", Box::new(|k| k.topic == "t.two")),
        ("topic=t.three", Box::new(|k| k.topic == "t.three")),
        ("key=k1", Box::new(|k| k.key.as_deref() == Some("k1"))),
        ("key=k2", Box::new(|k| k.key.as_deref() == Some("k2"))),
        (
            "topic=t.three&state=dead",
            Box::new(|k| k.topic == "t.three" && k.state == "dead"),
        ),
        (
            "client=a&key=k2",
            Box::new(|k| k.client == "a" && k.key.as_deref() == Some("k2")),
        ),
        (
            "subscription=sh&key=k1&state=pending",
            Box::new(|k| k.subscription == "sh" && k.key.as_deref() == Some("k1")),
        ),
        (
            "state=succeeded&client=b&subscription=sb&topic=t.one&key=k1",
            Box::new(|k| k.client == "b" && k.key.as_deref() == Some("k1")),
        ),
    ];
    for (query, keep) in &filters {
        let (items, next) = page(&hub, query).await;
        assert_eq!(next, None, "{query}");
        let expected: Vec<String> = ids(&all)
            .into_iter()
            .filter(|id| keep(known.iter().find(|k| &k.id == id).unwrap()))
            .collect();
        let got = ids(&items);
        assert_eq!(
            got.iter().collect::<BTreeSet<_>>(),
            expected.iter().collect::<BTreeSet<_>>(),
            "GET /v1/jobs?{query}"
        );
        let order: Vec<usize> = got.iter().map(|id| event_index(id)).collect();
        assert!(order.windows(2).all(|w| w[0] >= w[1]), "{query}: {order:?}");
    }
}

#[tokio::test]
async fn pages_follow_the_cursor_to_the_end_without_gaps_or_repeats() {
    let dest = Destination::start().await;
    let hub = TestHub::start(&format!(
        r#"
        [clients.a]
        url = "{base}/a"
        [clients.b]
        url = "{base}/b"
        [subscriptions.one]
        topics = ["t.page"]
        client = "a"
        [subscriptions.two]
        topics = ["t.page"]
        client = "b"
        "#,
        base = dest.base
    ))
    .await;
    for n in 0..11 {
        hub.publish(json!({"topic": "t.page", "key": format!("k{n}")}))
            .await;
    }
    let (all, next) = page(&hub, "limit=1000").await;
    assert_eq!(next, None);
    assert_eq!(all.len(), 22);
    let all = ids(&all);

    // Walk with several page sizes, with and without a filter.
    let one: Vec<String> = {
        let (items, _) = page(&hub, "subscription=one&limit=1000").await;
        ids(&items)
    };
    assert_eq!(one.len(), 11);
    for (filter, limit, expected) in [
        ("", 1, &all),
        ("", 5, &all),
        ("", 7, &all),
        ("", 22, &all),
        ("subscription=one&", 4, &one),
        ("subscription=one&", 11, &one),
    ] {
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let query = match &cursor {
                None => format!("{filter}limit={limit}"),
                Some(c) => format!("{filter}limit={limit}&cursor={c}"),
            };
            let (items, next) = page(&hub, &query).await;
            pages += 1;
            assert!(items.len() <= limit, "{query}: {} items", items.len());
            if next.is_some() {
                assert_eq!(items.len(), limit, "{query}: only the last page is short");
            }
            walked.extend(ids(&items));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
            assert!(pages <= 30, "the walk does not end");
        }
        assert_eq!(
            &walked, expected,
            "walking {filter}limit={limit} gives the whole list once, in order"
        );
        assert_eq!(
            pages,
            expected.len().div_ceil(limit),
            "{filter}limit={limit}: next_cursor is null on the last page"
        );
    }
}

#[tokio::test]
async fn a_walk_is_not_disturbed_by_jobs_created_while_it_runs() {
    let dest = Destination::start().await;
    let hub = TestHub::start(&format!(
        r#"
        [clients.a]
        url = "{base}/a"
        [subscriptions.one]
        topics = ["t.page"]
        client = "a"
        "#,
        base = dest.base
    ))
    .await;
    for _ in 0..6 {
        hub.publish(json!({"topic": "t.page"})).await;
    }
    let (before, _) = page(&hub, "limit=1000").await;
    let before = ids(&before);
    let (first, mut cursor) = page(&hub, "limit=2").await;
    let mut walked = ids(&first);
    for _ in 0..3 {
        hub.publish(json!({"topic": "t.page"})).await;
    }
    while let Some(c) = cursor {
        let (items, next) = page(&hub, &format!("limit=2&cursor={c}")).await;
        walked.extend(ids(&items));
        cursor = next;
    }
    assert_eq!(walked, before, "no repeats, nothing missing");
}

#[tokio::test]
async fn one_job_shows_every_attempt_in_its_history() {
    let flaky = Destination::start().await;
    flaky.script([
        Reply::status(503).body("down for maintenance"),
        Reply::status(200).body("ok"),
    ]);
    let big = Destination::start().await;
    big.always(Reply::ok().body("a".repeat(100 * 1024)));
    let hub = TestHub::start(&format!(
        r#"
        [clients.flaky]
        url = "{flaky}/x"
        retry = {{ backoff = "100ms" }}
        [clients.gone]
        url = "http://127.0.0.1:{port}/nothing-listens"
        retry = {{ backoff = "1h" }}
        [clients.big]
        url = "{big}/big"
        [subscriptions.to-flaky]
        topics = ["t.flaky"]
        client = "flaky"
        [subscriptions.to-gone]
        topics = ["t.gone"]
        client = "gone"
        [subscriptions.to-big]
        topics = ["t.big"]
        client = "big"
        "#,
        flaky = flaky.base,
        big = big.base,
        port = free_port(),
    ))
    .await;

    // A 503, then a 200: two attempts, in order, each with its answer.
    let event = hub
        .publish(json!({"topic": "t.flaky", "key": "k", "priority": "high"}))
        .await;
    let id = only_job(&hub, &event).await;
    let done = hub.wait_job(&id, "succeeded").await;
    assert_job_shape(&done);
    assert_eq!(done["id"], id.as_str());
    assert_eq!(done["event_id"], event.as_str());
    assert_eq!(done["priority"], "high", "the job has its event's priority");
    assert_eq!(done["attempts"], 2);
    let history = done["history"].as_array().expect("history is an array");
    assert_eq!(history.len(), 2, "{done}");
    for attempt in history {
        let object = attempt.as_object().expect("an attempt is an object");
        for field in ATTEMPT_FIELDS {
            assert!(
                object.contains_key(field),
                "attempt lacks {field:?}: {attempt}"
            );
        }
        assert!(attempt["duration_ms"].is_u64(), "{attempt}");
        assert_class(&attempt["class"]);
    }
    assert!(timestamp(&history[0]["at"]) <= timestamp(&history[1]["at"]));
    assert_eq!(history[0]["class"], "transient");
    assert_eq!(history[0]["status"], 503);
    assert_eq!(history[0]["body"], "down for maintenance");
    assert_eq!(history[1]["class"], "success");
    assert_eq!(history[1]["status"], 200);
    assert_eq!(history[1]["body"], "ok");
    assert_eq!(done["last_outcome"]["class"], "success");
    assert_eq!(done["last_outcome"]["status"], 200);

    // Nothing listening: no status, no body, an error text.
    let event = hub.publish(json!({"topic": "t.gone"})).await;
    let id = only_job(&hub, &event).await;
    let parked = wait_parked(&hub, &id, 1).await;
    assert_job_shape(&parked);
    assert_eq!(parked["key"], Value::Null);
    let attempt = &parked["history"][0];
    assert_eq!(attempt["class"], "transient", "{parked}");
    assert_eq!(attempt["status"], Value::Null, "{parked}");
    assert_eq!(attempt["body"], Value::Null, "{parked}");
    assert!(
        attempt["error"].as_str().is_some_and(|e| !e.is_empty()),
        "a connection error is described: {parked}"
    );
    assert_eq!(parked["last_outcome"]["status"], Value::Null);
    assert!(parked["last_outcome"]["error"].is_string(), "{parked}");

    // A long answer is kept to its first 64 KiB.
    let event = hub.publish(json!({"topic": "t.big"})).await;
    let id = only_job(&hub, &event).await;
    let done = hub.wait_job(&id, "succeeded").await;
    let body = done["history"][0]["body"].as_str().expect("body text");
    assert_eq!(body.len(), 64 * 1024, "the first 64 KiB of the answer");
}

#[tokio::test]
async fn unknown_jobs_are_404() {
    let hub = TestHub::start("").await;
    for (method, path) in [
        ("GET", "/v1/jobs/job_00000000000000000000000000000000"),
        ("GET", "/v1/jobs/no-such-job"),
        ("POST", "/v1/jobs/no-such-job/retry"),
        ("POST", "/v1/jobs/no-such-job/cancel"),
    ] {
        let r = crate::support::client()
            .request(method, &hub.url(path), &[], Vec::new())
            .await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
        assert!(
            r.json()["error"]["code"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{}",
            r.text()
        );
    }
}

/// Clients whose jobs end in each state: `ok` succeeds, `hold` answers 503 and waits an
/// hour before retrying (pending), `reject` answers 400 with a 1 ms window (dead), and
/// `slow` takes a minute to answer (running).
async fn three_clients() -> (TestHub, Destination, Destination, Destination) {
    let slow = Destination::start().await;
    slow.always(Reply::ok().delay(Duration::from_secs(60)));
    let ok = Destination::start().await;
    let down = Destination::start().await;
    down.always(Reply::status(503));
    let reject = Destination::start().await;
    reject.always(Reply::status(400).body("no such customer"));
    let hub = TestHub::start(&format!(
        r#"
        [clients.ok]
        url = "{ok}/ok"
        retry = {{ backoff = "100ms" }}
        [clients.hold]
        url = "{down}/hold"
        retry = {{ backoff = "1h" }}
        [clients.reject]
        url = "{reject}/reject"
        retry = {{ backoff = "100ms", permanent_window = "1ms" }}
        [clients.reject2]
        url = "{reject}/reject2"
        retry = {{ backoff = "100ms", permanent_window = "1ms" }}
        [clients.slow]
        url = "{slow}/slow"
        timeout = "120s"
        [subscriptions.to-slow]
        topics = ["t.slow"]
        client = "slow"
        [subscriptions.to-ok]
        topics = ["t.ok"]
        client = "ok"
        [subscriptions.to-hold]
        topics = ["t.hold"]
        client = "hold"
        [subscriptions.to-reject]
        topics = ["t.reject"]
        client = "reject"
        [subscriptions.to-reject2]
        topics = ["t.reject2"]
        client = "reject2"
        "#,
        ok = ok.base,
        down = down.base,
        reject = reject.base,
        slow = slow.base,
    ))
    .await;
    (hub, ok, down, reject)
}

#[tokio::test]
async fn cancelling_a_pending_job_makes_it_cancelled_by_the_operator() {
    let (hub, _ok, down, _reject) = three_clients().await;
    let event = hub.publish(json!({"topic": "t.hold", "key": "c1"})).await;
    let id = only_job(&hub, &event).await;
    wait_parked(&hub, &id, 1).await;

    let r = job_action(&hub, &id, "cancel").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_job_shape(&answer);
    assert_eq!(answer["id"], id.as_str());
    assert_eq!(answer["state"], "cancelled");
    assert_eq!(answer["cancel_reason"], "operator");

    let shown = job(&hub, &id).await;
    assert_eq!(shown["state"], "cancelled");
    assert_eq!(shown["cancel_reason"], "operator");
    assert_eq!(shown["attempts"], 1);
    let r = hub.get(&format!("/v1/events/{event}")).await;
    assert_eq!(r.json()["deliveries"][0]["state"], "cancelled");
    let (listed, _) = page(&hub, "state=cancelled").await;
    assert_eq!(ids(&listed), vec![id.clone()]);

    let again = job_action(&hub, &id, "cancel").await;
    assert_conflict(&again, "cancelling a cancelled job");
    assert_eq!(down.requests().len(), 1);
}

#[tokio::test]
async fn only_pending_jobs_can_be_cancelled() {
    let (hub, _ok, _down, _reject) = three_clients().await;
    let done = only_job(&hub, &hub.publish(json!({"topic": "t.ok"})).await).await;
    hub.wait_job(&done, "succeeded").await;
    let dead = only_job(&hub, &hub.publish(json!({"topic": "t.reject"})).await).await;
    hub.wait_job(&dead, "dead").await;
    let running = only_job(&hub, &hub.publish(json!({"topic": "t.slow"})).await).await;
    hub.wait_job(&running, "running").await;
    for (id, state) in [(&done, "succeeded"), (&dead, "dead"), (&running, "running")] {
        let r = job_action(&hub, id, "cancel").await;
        assert_conflict(&r, &format!("cancelling a {state} job"));
        assert_eq!(job(&hub, id).await["state"], state, "nothing changed");
    }
}

#[tokio::test]
async fn retrying_a_dead_job_gives_it_a_fresh_window_and_delivers_it() {
    let dest = Destination::start().await;
    dest.always(Reply::status(503));
    let hub = TestHub::start(&format!(
        r#"
        [clients.flaky]
        url = "{base}/flaky"
        retry = {{ backoff = "100ms", transient_window = "1s" }}
        [subscriptions.to-flaky]
        topics = ["t.flaky"]
        client = "flaky"
        "#,
        base = dest.base
    ))
    .await;
    let event = hub
        .publish(json!({"topic": "t.flaky", "key": "k", "data": {"v": 1}}))
        .await;
    let id = only_job(&hub, &event).await;
    let dead = hub.wait_job(&id, "dead").await;
    let tries = dead["attempts"].as_u64().expect("attempts");
    assert!(tries >= 2, "503s are retried within the window: {dead}");
    assert_eq!(dead["last_outcome"]["class"], "transient");

    // After the retry one more 503 comes, then a 200. Within a fresh window the 503 is
    // retried; with the old, spent window it would be dead again at once.
    dest.script([Reply::status(503)]);
    dest.always(Reply::ok());
    let r = job_action(&hub, &id, "retry").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_job_shape(&answer);
    assert_eq!(answer["id"], id.as_str());
    assert_eq!(answer["state"], "pending", "dead → pending: {answer}");
    if !answer["next_attempt_at"].is_null() {
        assert!(
            timestamp(&answer["next_attempt_at"])
                <= jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2),
            "a retried job is due now: {answer}"
        );
    }

    let done = hub.wait_job(&id, "succeeded").await;
    assert_eq!(done["attempts"].as_u64(), Some(tries + 2), "{done}");
    let history = done["history"].as_array().unwrap();
    assert_eq!(history.len() as u64, tries + 2);
    assert_eq!(history[history.len() - 2]["class"], "transient");
    assert_eq!(history[history.len() - 1]["class"], "success");
    let requests = dest.requests();
    assert_eq!(requests.len() as u64, tries + 2);
    assert_eq!(
        requests[0].header("webhook-id"),
        requests.last().unwrap().header("webhook-id"),
        "the same job keeps its webhook-id across the retry"
    );
    assert_eq!(requests.last().unwrap().json()["data"], json!({"v": 1}));
}

#[tokio::test]
async fn a_cancelled_job_can_be_retried_and_is_then_delivered() {
    let dest = Destination::start().await;
    dest.script([Reply::status(503)]);
    let hub = TestHub::start(&format!(
        r#"
        [clients.hold]
        url = "{base}/hold"
        retry = {{ backoff = "1h" }}
        [subscriptions.to-hold]
        topics = ["t.hold"]
        client = "hold"
        "#,
        base = dest.base
    ))
    .await;
    let event = hub.publish(json!({"topic": "t.hold"})).await;
    let id = only_job(&hub, &event).await;
    wait_parked(&hub, &id, 1).await;
    let r = job_action(&hub, &id, "cancel").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = job_action(&hub, &id, "retry").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(answer["state"], "pending", "cancelled → pending: {answer}");
    let done = hub.wait_job(&id, "succeeded").await;
    assert_eq!(done["attempts"], 2, "{done}");
    assert_eq!(dest.requests().len(), 2);
}

#[tokio::test]
async fn only_dead_or_cancelled_jobs_can_be_retried() {
    let (hub, _ok, _down, _reject) = three_clients().await;
    let done = only_job(&hub, &hub.publish(json!({"topic": "t.ok"})).await).await;
    hub.wait_job(&done, "succeeded").await;
    let pending = only_job(&hub, &hub.publish(json!({"topic": "t.hold"})).await).await;
    let before = wait_parked(&hub, &pending, 1).await;
    let running = only_job(&hub, &hub.publish(json!({"topic": "t.slow"})).await).await;
    hub.wait_job(&running, "running").await;
    for (id, state) in [
        (&done, "succeeded"),
        (&pending, "pending"),
        (&running, "running"),
    ] {
        let r = job_action(&hub, id, "retry").await;
        assert_conflict(&r, &format!("retrying a {state} job"));
        assert_eq!(job(&hub, id).await["state"], state, "nothing changed");
    }
    let after = job(&hub, &pending).await;
    assert_eq!(
        after["next_attempt_at"], before["next_attempt_at"],
        "a refused retry leaves the pending job's schedule alone"
    );
}

async fn bulk_retry(hub: &TestHub, filter: Value) -> u64 {
    let r = hub.post_json("/v1/jobs/retry", &filter).await;
    assert_eq!(r.status, 200, "POST /v1/jobs/retry {filter}: {}", r.text());
    let body = r.json();
    body["retried"]
        .as_u64()
        .unwrap_or_else(|| panic!("{{\"retried\": N}}: {body}"))
}

#[tokio::test]
async fn bulk_retry_takes_the_list_filter_and_defaults_to_dead_jobs() {
    let (hub, _ok, _down, reject) = three_clients().await;
    let mut dead_one = Vec::new();
    for key in ["k1", "k2", "k3"] {
        let event = hub.publish(json!({"topic": "t.reject", "key": key})).await;
        dead_one.push(only_job(&hub, &event).await);
    }
    let mut dead_two = Vec::new();
    for key in ["k1", "k2"] {
        let event = hub.publish(json!({"topic": "t.reject2", "key": key})).await;
        dead_two.push(only_job(&hub, &event).await);
    }
    let pending = only_job(&hub, &hub.publish(json!({"topic": "t.hold"})).await).await;
    let cancelled = only_job(&hub, &hub.publish(json!({"topic": "t.hold"})).await).await;
    let succeeded = only_job(&hub, &hub.publish(json!({"topic": "t.ok"})).await).await;
    for id in dead_one.iter().chain(&dead_two) {
        hub.wait_job(id, "dead").await;
    }
    wait_parked(&hub, &pending, 1).await;
    wait_parked(&hub, &cancelled, 1).await;
    let r = job_action(&hub, &cancelled, "cancel").await;
    assert_eq!(r.status, 200, "{}", r.text());
    hub.wait_job(&succeeded, "succeeded").await;

    // From now on the destination takes everything.
    reject.always(Reply::ok());

    assert_eq!(
        bulk_retry(&hub, json!({"subscription": "to-reject", "key": "k1"})).await,
        1
    );
    hub.wait_job(&dead_one[0], "succeeded").await;
    assert_eq!(bulk_retry(&hub, json!({"topic": "t.nothing"})).await, 0);
    assert_eq!(bulk_retry(&hub, json!({"client": "reject"})).await, 2);
    for id in &dead_one {
        hub.wait_job(id, "succeeded").await;
    }
    for id in &dead_two {
        assert_eq!(
            job(&hub, id).await["state"],
            "dead",
            "other clients' jobs stay dead"
        );
    }

    // No state given: only dead jobs are retried, not the cancelled or pending ones.
    assert_eq!(bulk_retry(&hub, json!({})).await, 2);
    for id in &dead_two {
        let done = hub.wait_job(id, "succeeded").await;
        assert_eq!(done["attempts"], 2, "{done}");
    }
    assert_eq!(job(&hub, &cancelled).await["state"], "cancelled");
    assert_eq!(job(&hub, &pending).await["attempts"], 1);
    assert_eq!(job(&hub, &succeeded).await["attempts"], 1);
    assert_eq!(
        bulk_retry(&hub, json!({})).await,
        0,
        "nothing is dead any more"
    );

    // Cancelled jobs are retried when asked for by state.
    assert_eq!(bulk_retry(&hub, json!({"state": "cancelled"})).await, 1);
    let retried = wait_parked(&hub, &cancelled, 2).await;
    assert_eq!(retried["cancel_reason"], Value::Null, "{retried}");
    assert_eq!(bulk_retry(&hub, json!({"state": "cancelled"})).await, 0);
}

#[tokio::test]
async fn a_job_never_tried_can_be_cancelled_and_shows_its_nulls() {
    let slow = Destination::start().await;
    slow.always(Reply::ok().delay(Duration::from_secs(60)));
    let hub = TestHub::start(&format!(
        r#"
        [clients.slow]
        url = "{base}/slow"
        timeout = "120s"
        concurrency = 1
        [subscriptions.to-slow]
        topics = ["t.slow"]
        client = "slow"
        "#,
        base = slow.base
    ))
    .await;
    let first = only_job(
        &hub,
        &hub.publish(json!({"topic": "t.slow", "key": "a"})).await,
    )
    .await;
    hub.wait_job(&first, "running").await;
    // The one delivery slot is taken: the second job waits, untried.
    let second = only_job(
        &hub,
        &hub.publish(json!({"topic": "t.slow", "key": "b"})).await,
    )
    .await;
    let waiting = job(&hub, &second).await;
    assert_job_shape(&waiting);
    assert_eq!(waiting["state"], "pending", "{waiting}");
    assert_eq!(waiting["attempts"], 0, "{waiting}");
    assert_eq!(waiting["last_outcome"], Value::Null, "{waiting}");
    assert_eq!(waiting["cancel_reason"], Value::Null, "{waiting}");
    assert_eq!(waiting["history"], json!([]), "{waiting}");

    let r = job_action(&hub, &second, "cancel").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "cancelled");
    assert_eq!(r.json()["cancel_reason"], "operator");
    assert_eq!(job(&hub, &second).await["attempts"], 0);
}

#[tokio::test]
async fn the_key_filter_matches_keys_with_reserved_characters() {
    let hub = TestHub::start(
        r#"
        [clients.a]
        url = "http://127.0.0.1:9/unused"
        retry = { backoff = "1h" }
        [subscriptions.s]
        topics = ["t"]
        client = "a"
        "#,
    )
    .await;
    let keys = [
        ("a b", "a%20b"),
        ("a+b", "a%2Bb"),
        ("x&y=z", "x%26y%3Dz"),
        ("c/1#2?", "c%2F1%232%3F"),
        ("é漢", "%C3%A9%E6%BC%A2"),
    ];
    let mut jobs = Vec::new();
    for (key, _) in keys {
        let event = hub.publish(json!({"topic": "t", "key": key})).await;
        jobs.push(only_job(&hub, &event).await);
    }
    for ((key, encoded), id) in keys.iter().zip(&jobs) {
        let (items, _) = page(&hub, &format!("key={encoded}")).await;
        assert_eq!(
            ids(&items),
            vec![id.clone()],
            "key={encoded} finds the job of {key:?}"
        );
        assert_eq!(items[0]["key"], *key);
    }
}

/// `POST /v1/jobs/{id}/{action}` with an empty body.
async fn job_action(hub: &TestHub, id: &str, action: &str) -> Response {
    hub.post(
        &format!("/v1/jobs/{id}/{action}"),
        "application/json",
        "",
        &[],
    )
    .await
}
