//! Request/reply: `POST /v1/events` with `Prefer: wait=N` (contract sections 4 and 7).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Destination, Reply, Response, TestHub};

async fn publish_waiting(hub: &TestHub, event: Value, wait: u32) -> (Response, Duration) {
    let started = Instant::now();
    let r = hub
        .post(
            "/v1/events",
            "application/json",
            serde_json::to_vec(&event).unwrap(),
            &[("prefer", &format!("wait={wait}"))],
        )
        .await;
    (r, started.elapsed())
}

/// The answer carries the same document as `GET /v1/events/{id}` (more fields allowed).
async fn assert_same_as_get(hub: &TestHub, answer: &Value) -> String {
    let id = answer["event"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no event.id in the answer: {answer}"))
        .to_owned();
    let doc = hub.get(&format!("/v1/events/{id}")).await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(
        answer["event"], doc["event"],
        "the event differs from GET's"
    );
    assert_eq!(
        answer["deliveries"], doc["deliveries"],
        "the deliveries differ from GET's"
    );
    id
}

#[tokio::test]
async fn waiting_answers_200_with_the_destinations_reply_once_delivered() {
    let dest = Destination::start().await;
    dest.always(
        Reply::status(201)
            .body(r#"{"crm_id": "C-42"}"#)
            .delay(Duration::from_millis(300)),
    );
    let hub = TestHub::start(&format!(
        r#"
        [clients.crm]
        url = "{}/crm"
        [subscriptions.to-crm]
        topics = ["customer.created"]
        client = "crm"
        "#,
        dest.base
    ))
    .await;
    let (r, _) = publish_waiting(
        &hub,
        json!({"topic": "customer.created", "key": "c1", "data": {"name": "Ada"}}),
        10,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(dest.requests().len(), 1, "answered before the delivery ran");
    let id = assert_same_as_get(&hub, &answer).await;
    assert_eq!(answer["event"]["topic"], "customer.created");
    assert_eq!(answer["event"]["key"], "c1");
    assert_eq!(answer["event"]["data"], json!({"name": "Ada"}));
    let deliveries = answer["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 1);
    let d = &deliveries[0];
    assert!(d["job_id"].is_string(), "{d}");
    assert_eq!(
        dest.requests()[0].header("webhook-id"),
        d["job_id"].as_str(),
        "job_id is the job that was delivered"
    );
    assert_eq!(d["subscription"], "to-crm");
    assert_eq!(d["client"], "crm");
    assert_eq!(d["state"], "succeeded");
    assert_eq!(d["attempts"], 1, "attempts is a count");
    assert!(
        d.get("next_attempt_at").is_some(),
        "next_attempt_at is always present: {d}"
    );
    let outcome = &d["last_outcome"];
    assert_eq!(outcome["class"], "success");
    assert_eq!(outcome["status"], 201);
    assert!(
        outcome.get("error").is_some_and(Value::is_null),
        "{outcome}"
    );
    assert!(outcome["at"].is_string(), "{outcome}");
    assert_eq!(d["response"]["status"], 201);
    assert_eq!(
        d["response"]["body"], r#"{"crm_id": "C-42"}"#,
        "the body as text"
    );
    assert_eq!(answer["event"]["id"], id.as_str());
}

#[tokio::test]
async fn the_answer_waits_through_retries() {
    let dest = Destination::start().await;
    dest.script([
        Reply::status(503),
        Reply::status(200).body("second time lucky"),
    ]);
    let hub = TestHub::start(&format!(
        r#"
        [clients.c]
        url = "{}/x"
        retry = {{ backoff = "200ms" }}
        [subscriptions.s]
        topics = ["t"]
        client = "c"
        "#,
        dest.base
    ))
    .await;
    let (r, _) = publish_waiting(&hub, json!({"topic": "t", "data": 1}), 10).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_same_as_get(&hub, &answer).await;
    let d = &answer["deliveries"][0];
    assert_eq!(d["state"], "succeeded", "{d}");
    assert_eq!(d["attempts"], 2, "{d}");
    assert_eq!(d["response"]["body"], "second time lucky", "{d}");
}

#[tokio::test]
async fn a_dead_delivery_is_terminal_too() {
    let dest = Destination::start().await;
    dest.always(Reply::status(401).body("who are you"));
    let hub = TestHub::start(&format!(
        r#"
        [clients.c]
        url = "{}/x"
        [subscriptions.s]
        topics = ["t"]
        client = "c"
        "#,
        dest.base
    ))
    .await;
    let (r, took) = publish_waiting(&hub, json!({"topic": "t", "data": 1}), 10).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let answer = r.json();
    assert_same_as_get(&hub, &answer).await;
    let d = &answer["deliveries"][0];
    assert_eq!(d["state"], "dead", "{d}");
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["last_outcome"]["class"], "unauthorized", "{d}");
    assert_eq!(d["response"]["status"], 401, "{d}");
    assert_eq!(d["response"]["body"], "who are you", "{d}");
}

#[tokio::test]
async fn when_the_wait_runs_out_it_answers_202_with_the_status_so_far() {
    let dest = Destination::start().await;
    dest.always(Reply::status(503).body("down"));
    let hub = TestHub::start(&format!(
        r#"
        [clients.c]
        url = "{}/x"
        retry = {{ backoff = "1h" }}
        [subscriptions.s]
        topics = ["t"]
        client = "c"
        "#,
        dest.base
    ))
    .await;
    let (r, took) = publish_waiting(&hub, json!({"topic": "t", "data": 1}), 1).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "wait=1 answered after {took:?}"
    );
    let answer = r.json();
    assert_same_as_get(&hub, &answer).await;
    let d = &answer["deliveries"][0];
    assert_eq!(d["state"], "pending", "{d}");
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["last_outcome"]["class"], "transient", "{d}");
    assert_eq!(d["last_outcome"]["status"], 503, "{d}");
    assert!(d["next_attempt_at"].is_string(), "{d}");
    assert_eq!(d["response"]["status"], 503, "{d}");
    assert_eq!(d["response"]["body"], "down", "{d}");
}

#[tokio::test]
async fn an_event_without_subscriptions_answers_200_at_once() {
    let dest = Destination::start().await;
    let hub = TestHub::start(&format!(
        r#"
        [clients.c]
        url = "{}/x"
        [subscriptions.s]
        topics = ["other"]
        client = "c"
        "#,
        dest.base
    ))
    .await;
    let (r, took) = publish_waiting(&hub, json!({"topic": "nobody.listens", "data": 1}), 10).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let answer = r.json();
    assert_eq!(answer["deliveries"], json!([]));
    assert_eq!(answer["event"]["topic"], "nobody.listens");
    assert_same_as_get(&hub, &answer).await;
    assert!(dest.requests().is_empty());
}

#[tokio::test]
async fn with_two_subscriptions_both_results_are_in_the_answer() {
    let (a, b) = (Destination::start().await, Destination::start().await);
    a.always(Reply::ok().body("from a"));
    b.always(
        Reply::status(202)
            .body("from b")
            .delay(Duration::from_millis(400)),
    );
    let hub = TestHub::start(&format!(
        r#"
        [clients.ca]
        url = "{}/a"
        [clients.cb]
        url = "{}/b"
        [subscriptions.sa]
        topics = ["t"]
        client = "ca"
        [subscriptions.sb]
        topics = ["t"]
        client = "cb"
        "#,
        a.base, b.base
    ))
    .await;
    let (r, _) = publish_waiting(&hub, json!({"topic": "t", "key": "k", "data": 2}), 10).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_same_as_get(&hub, &answer).await;
    let mut got: Vec<(String, String, u64, String)> = answer["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            (
                d["subscription"].as_str().unwrap_or("?").to_owned(),
                d["state"].as_str().unwrap_or("?").to_owned(),
                d["response"]["status"].as_u64().unwrap_or(0),
                d["response"]["body"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("sa".into(), "succeeded".into(), 200, "from a".into()),
            ("sb".into(), "succeeded".into(), 202, "from b".into()),
        ]
    );
}
