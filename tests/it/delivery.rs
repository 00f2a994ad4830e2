//! The delivery request (contract section 5) and how its answer is classified (section 3):
//! templates, the headers every delivery carries, signatures, outbound auth, timeouts,
//! recorded bodies, connection reuse, concurrency and the outcome classes.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::support::{Destination, Reply, TestHub};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A config text with `DEST` (and `DEST2`) standing for destinations' base URLs, so that
/// template braces need no escaping.
fn config(text: &str, dests: &[&Destination]) -> String {
    let mut text = text.to_owned();
    // DEST2 first: DEST is a prefix of it.
    for (i, d) in dests.iter().enumerate().rev() {
        let name = if i == 0 {
            "DEST".to_owned()
        } else {
            format!("DEST{}", i + 1)
        };
        text = text.replace(&name, &d.base);
    }
    text
}

/// A hub with one client `c` (extra client settings in `client`) and one subscription to
/// topic `t`.
async fn one_client_hub(dest: &Destination, client: &str) -> TestHub {
    TestHub::start(&config(
        &format!(
            r#"
            [clients.c]
            url = "DEST/hook"
            {client}
            [subscriptions.s]
            topics = ["t"]
            client = "c"
            "#
        ),
        &[dest],
    ))
    .await
}

async fn job(hub: &TestHub, job_id: &str) -> Value {
    let r = hub.get(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!(r.status, 200, "GET /v1/jobs/{job_id}: {}", r.text());
    r.json()
}

/// Publishes to topic `t` and returns (event id, job id) once the job exists.
async fn publish_t(hub: &TestHub, data: Value) -> (String, String) {
    let id = hub
        .publish(json!({"topic": "t", "key": "k1", "data": data}))
        .await;
    let doc = hub
        .wait_event(&id, "a delivery", |d| {
            d["deliveries"].as_array().is_some_and(|d| d.len() == 1)
        })
        .await;
    let job_id = doc["deliveries"][0]["job_id"]
        .as_str()
        .expect("job_id")
        .to_owned();
    (id, job_id)
}

fn classes(job: &Value) -> Vec<String> {
    job["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|a| a["class"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn set_env(name: &str, value: &str) {
    // Each test uses its own variable names, so no other thread reads these.
    unsafe { std::env::set_var(name, value) };
}

// ---------------------------------------------------------------------------------------
// Templates and the request's shape.

#[tokio::test]
async fn url_method_headers_and_body_are_rendered_from_templates() {
    let dest = Destination::start().await;
    let hub = TestHub::start(&config(
        r#"
        [clients.c]
        url = "DEST/api/{{ event.topic }}/{{ event.key }}"
        method = "{{ event.attributes.verb }}"
        headers = { "x-event" = "{{ event.id }} {{ event.created_at }}", "x-topic" = "{{ event.topic }}", "x-attempt" = "{{ attempt }}", "x-client" = "{{ client }}", "x-fixed" = "ferry" }
        body = "{{ event.data | tojson }}"
        [subscriptions.s]
        topics = ["order.placed"]
        client = "c"
        "#,
        &[&dest],
    ))
    .await;
    let data = json!({"n": 1, "name": "Ada", "tags": ["a", "b"]});
    let id = hub
        .publish(json!({"topic": "order.placed", "key": "o-7", "data": data,
                        "attributes": {"verb": "PUT"}}))
        .await;
    let got = dest.wait_for(1).await;
    let r = &got[0];
    assert_eq!(r.path, "/api/order.placed/o-7");
    assert_eq!(r.method, "PUT");
    assert_eq!(r.header("x-topic"), Some("order.placed"));
    assert_eq!(r.header("x-attempt"), Some("1"));
    assert_eq!(r.header("x-client"), Some("c"));
    assert_eq!(r.header("x-fixed"), Some("ferry"));
    assert_eq!(r.json(), data, "the body is the event's data as JSON");
    let doc = hub.wait_deliveries(&id, "succeeded").await;
    let created_at = doc["event"]["created_at"].as_str().expect("created_at");
    assert_eq!(
        r.header("x-event"),
        Some(format!("{id} {created_at}").as_str())
    );
}

#[tokio::test]
async fn the_default_body_is_the_event_envelope() {
    let dest = Destination::start().await;
    let hub = one_client_hub(&dest, "").await;
    let id = hub
        .publish(json!({"topic": "t", "key": "k9", "data": {"x": [1, 2]},
                        "attributes": {"region": "eu"}, "priority": "high"}))
        .await;
    let got = dest.wait_for(1).await;
    assert_eq!(got[0].method, "POST", "the default method");
    let body = got[0].json();
    let stored = hub.get(&format!("/v1/events/{id}")).await.json()["event"].clone();
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
            body.get(field).is_some(),
            "the envelope lacks {field}: {body}"
        );
    }
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["topic"], "t");
    assert_eq!(body["key"], "k9");
    assert_eq!(body["data"], json!({"x": [1, 2]}));
    assert_eq!(body["attributes"], json!({"region": "eu"}));
    assert_eq!(body["priority"], "high");
    assert_eq!(body["created_at"], stored["created_at"]);
    assert!(body["created_at"].is_string());
}

// ---------------------------------------------------------------------------------------
// The delivery headers of section 5.

#[tokio::test]
async fn webhook_id_is_the_job_id_on_every_attempt_and_ferry_attempt_counts() {
    let dest = Destination::start().await;
    dest.script([Reply::status(503), Reply::status(503), Reply::ok()]);
    let hub = one_client_hub(
        &dest,
        r#"retry = { backoff = "100ms" }
        headers = { "x-attempt" = "{{ attempt }}" }"#,
    )
    .await;
    let (id, job_id) = publish_t(&hub, json!({"a": 1})).await;
    let done = hub.wait_deliveries(&id, "succeeded").await;
    assert_eq!(done["deliveries"][0]["attempts"], 3);
    let got = dest.requests();
    assert_eq!(got.len(), 3, "503, 503, 200: three attempts");
    let now = unix_now();
    for (n, r) in got.iter().enumerate() {
        assert_eq!(
            r.header("webhook-id"),
            Some(job_id.as_str()),
            "attempt {}: webhook-id is the job id, the same on every attempt",
            n + 1
        );
        assert_eq!(
            r.header("ferry-attempt"),
            Some((n + 1).to_string().as_str())
        );
        assert_eq!(
            r.header("x-attempt"),
            Some((n + 1).to_string().as_str()),
            "the template's attempt"
        );
        assert_eq!(r.header("ferry-event-id"), Some(id.as_str()));
        assert_eq!(r.header("ferry-topic"), Some("t"));
        let ts: i64 = r
            .header("webhook-timestamp")
            .expect("webhook-timestamp")
            .parse()
            .expect("webhook-timestamp is unix seconds");
        assert!(
            (now - ts).abs() <= 60,
            "webhook-timestamp {ts} is not close to now ({now})"
        );
    }
}

#[tokio::test]
async fn deliveries_are_signed_as_standard_webhooks() {
    let key = b"a signing key for the delivery tests \x00\x01\xff".to_vec();
    let var = "FERRY_IT_DELIVERY_SIGNING_SECRET";
    set_env(var, &format!("whsec_{}", B64.encode(&key)));
    let dest = Destination::start().await;
    dest.script([Reply::status(503), Reply::ok()]);
    let hub = one_client_hub(
        &dest,
        &format!("signing_secret_env = \"{var}\"\nretry = {{ backoff = \"100ms\" }}"),
    )
    .await;
    let (id, _) = publish_t(&hub, json!({"amount": 12.5, "note": "ünïcode"})).await;
    hub.wait_deliveries(&id, "succeeded").await;
    let got = dest.requests();
    assert_eq!(got.len(), 2);
    for r in &got {
        let msg_id = r.header("webhook-id").expect("webhook-id");
        let ts = r.header("webhook-timestamp").expect("webhook-timestamp");
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(format!("{msg_id}.{ts}.").as_bytes());
        mac.update(&r.body);
        let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
        let header = r.header("webhook-signature").expect("webhook-signature");
        assert!(
            header.split(' ').any(|s| s == expected),
            "webhook-signature {header:?}, expected {expected:?}"
        );
    }
}

#[tokio::test]
async fn bearer_and_basic_auth_headers_are_sent() {
    set_env("FERRY_IT_DELIVERY_BEARER", "tok-123.abc");
    set_env("FERRY_IT_DELIVERY_BASIC_PW", "p@ss:word");
    let (bearer, basic) = (Destination::start().await, Destination::start().await);
    let hub = TestHub::start(&config(
        r#"
        [clients.bearer]
        url = "DEST/b"
        auth = { kind = "bearer", token_env = "FERRY_IT_DELIVERY_BEARER" }
        [clients.basic]
        url = "DEST2/b"
        auth = { kind = "basic", username = "ferry-user", password_env = "FERRY_IT_DELIVERY_BASIC_PW" }
        [subscriptions.s1]
        topics = ["t"]
        client = "bearer"
        [subscriptions.s2]
        topics = ["t"]
        client = "basic"
        "#,
        &[&bearer, &basic],
    ))
    .await;
    let id = hub.publish(json!({"topic": "t", "data": 1})).await;
    hub.wait_deliveries(&id, "succeeded").await;
    assert_eq!(
        bearer.requests()[0].header("authorization"),
        Some("Bearer tok-123.abc")
    );
    let expected = format!("Basic {}", B64.encode("ferry-user:p@ss:word"));
    assert_eq!(
        basic.requests()[0].header("authorization"),
        Some(expected.as_str())
    );
}

// ---------------------------------------------------------------------------------------
// What is recorded of an attempt; the connection.

#[tokio::test]
async fn a_reply_slower_than_the_timeout_is_a_transient_timeout() {
    let dest = Destination::start().await;
    dest.script([Reply::ok().delay(Duration::from_secs(2)), Reply::ok()]);
    let hub = one_client_hub(
        &dest,
        r#"timeout = "300ms"
        retry = { backoff = "100ms" }"#,
    )
    .await;
    let (id, job_id) = publish_t(&hub, json!(null)).await;
    hub.wait_deliveries(&id, "succeeded").await;
    let job = job(&hub, &job_id).await;
    assert_eq!(job["attempts"], 2);
    let first = &job["history"][0];
    assert_eq!(first["class"], "transient", "{first}");
    let error = first["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        error.contains("timed out") || error.contains("timeout"),
        "the first attempt's error should say it timed out: {first}"
    );
    assert!(
        first["duration_ms"].as_u64().is_some_and(|d| d < 1900),
        "the attempt was cut at the timeout: {first}"
    );
}

#[tokio::test]
async fn the_first_64_kib_of_a_response_body_is_recorded() {
    let dest = Destination::start().await;
    let big: String = "0123456789abcdef".repeat(100 * 1024 / 16);
    dest.always(Reply::ok().body(big.clone()));
    let hub = one_client_hub(&dest, "").await;
    let (id, job_id) = publish_t(&hub, json!(1)).await;
    let doc = hub.wait_deliveries(&id, "succeeded").await;
    let body = doc["deliveries"][0]["response"]["body"]
        .as_str()
        .expect("response.body is text");
    assert_eq!(body.len(), 65536);
    assert_eq!(body, &big[..65536]);
    assert_eq!(doc["deliveries"][0]["response"]["status"], 200);
    let job = job(&hub, &job_id).await;
    let recorded = job["history"][0]["body"]
        .as_str()
        .expect("history body is text");
    assert_eq!(recorded.len(), 65536);
    assert_eq!(recorded, &big[..65536]);
}

#[tokio::test]
async fn deliveries_reuse_connections() {
    let dest = Destination::start().await;
    let hub = one_client_hub(&dest, "concurrency = 2").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            hub.publish(json!({"topic": "t", "key": format!("k{i}"), "data": i}))
                .await,
        );
    }
    for id in &ids {
        hub.wait_deliveries(id, "succeeded").await;
    }
    let (requests, connections) = (dest.requests().len(), dest.connections());
    assert_eq!(requests, 20);
    assert!(
        connections <= 5,
        "20 deliveries with concurrency 2 took {connections} TCP connections"
    );
}

// ---------------------------------------------------------------------------------------
// Concurrency.

async fn publish_batch(hub: &TestHub, n: usize) -> Vec<String> {
    let events: Vec<Value> = (0..n)
        .map(|i| json!({"topic": "t", "key": format!("key-{i}"), "data": i}))
        .collect();
    let r = hub.post_json("/v1/events/batch", &json!(events)).await;
    assert_eq!(r.status, 202, "batch: {}", r.text());
    r.json()["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn concurrency_one_never_overlaps_requests() {
    let dest = Destination::start().await;
    dest.always(Reply::ok().delay(Duration::from_millis(200)));
    let hub = one_client_hub(&dest, "concurrency = 1").await;
    let ids = publish_batch(&hub, 4).await;
    for id in &ids {
        hub.wait_deliveries(id, "succeeded").await;
    }
    assert_eq!(
        dest.max_in_flight(),
        1,
        "two requests were in flight at once"
    );
    let got = dest.requests();
    assert_eq!(got.len(), 4);
    for pair in got.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(190),
            "a request arrived {gap:?} after the previous one, which took 200 ms to answer"
        );
    }
}

#[tokio::test]
async fn concurrency_four_runs_up_to_four_at_once() {
    let dest = Destination::start().await;
    dest.always(Reply::ok().delay(Duration::from_millis(800)));
    let hub = one_client_hub(&dest, "concurrency = 4").await;
    let started = Instant::now();
    let ids = publish_batch(&hub, 8).await;
    for id in &ids {
        hub.wait_deliveries(id, "succeeded").await;
    }
    assert_eq!(
        dest.max_in_flight(),
        4,
        "8 slow jobs with concurrency 4 should run 4 at a time"
    );
    // Eight 800 ms deliveries one at a time would take 6.4 s.
    assert!(
        started.elapsed() < Duration::from_millis(6000),
        "took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Classification (contract section 3).

#[tokio::test]
async fn a_2xx_is_success_after_one_attempt() {
    let dest = Destination::start().await;
    dest.always(Reply::status(204));
    let hub = one_client_hub(&dest, "").await;
    let (id, job_id) = publish_t(&hub, json!(1)).await;
    hub.wait_deliveries(&id, "succeeded").await;
    let job = job(&hub, &job_id).await;
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["last_outcome"]["class"], "success");
    assert_eq!(job["last_outcome"]["status"], 204);
    assert_eq!(dest.requests().len(), 1);
}

#[tokio::test]
async fn a_503_then_200_succeeds_on_the_second_attempt() {
    let dest = Destination::start().await;
    dest.script([Reply::status(503).body("busy"), Reply::ok()]);
    let hub = one_client_hub(&dest, r#"retry = { backoff = "100ms" }"#).await;
    let (id, job_id) = publish_t(&hub, json!(1)).await;
    hub.wait_deliveries(&id, "succeeded").await;
    let job = job(&hub, &job_id).await;
    assert_eq!(job["attempts"], 2);
    assert_eq!(classes(&job), ["transient", "success"]);
    assert_eq!(job["history"][0]["status"], 503);
    assert_eq!(job["history"][0]["body"], "busy");
    // Every attempt is recorded with its time, duration, class, status, body and error.
    for attempt in job["history"].as_array().unwrap() {
        for field in ["at", "duration_ms", "class", "status", "body", "error"] {
            assert!(attempt.get(field).is_some(), "{field} missing: {attempt}");
        }
        assert!(attempt["at"].is_string() && attempt["duration_ms"].is_u64());
    }
    assert!(job["history"][1]["error"].is_null());
    assert!(
        job["next_attempt_at"].is_null(),
        "a succeeded job has no next attempt: {job}"
    );
    assert_eq!(dest.requests().len(), 2);
}

#[tokio::test]
async fn transient_retries_back_off_exponentially() {
    let dest = Destination::start().await;
    dest.script([
        Reply::status(500),
        Reply::status(502),
        Reply::status(503),
        Reply::status(504),
        Reply::ok(),
    ]);
    let hub = one_client_hub(&dest, r#"retry = { backoff = "100ms" }"#).await;
    let (id, job_id) = publish_t(&hub, json!(1)).await;
    hub.wait_deliveries(&id, "succeeded").await;
    let job = job(&hub, &job_id).await;
    assert_eq!(
        classes(&job),
        [
            "transient",
            "transient",
            "transient",
            "transient",
            "success"
        ]
    );
    let got = dest.requests();
    let gaps: Vec<Duration> = got.windows(2).map(|p| p[1].at - p[0].at).collect();
    // Nominally 100, 200, 400 and 800 ms, less some jitter.
    assert!(
        gaps[3] > gaps[0] && gaps[3] >= Duration::from_millis(300),
        "the retries did not back off: {gaps:?}"
    );
}

#[tokio::test]
async fn a_429_is_throttled_and_retry_after_is_honoured() {
    let dest = Destination::start().await;
    dest.script([Reply::status(429).header("retry-after", "1"), Reply::ok()]);
    // Retry-After wins over max_backoff (contract section 7).
    let hub = one_client_hub(
        &dest,
        r#"retry = { backoff = "100ms", max_backoff = "200ms" }"#,
    )
    .await;
    let (id, job_id) = publish_t(&hub, json!(1)).await;
    hub.wait_deliveries(&id, "succeeded").await;
    let got = dest.requests();
    assert_eq!(got.len(), 2);
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "Retry-After: 1 but the retry came {gap:?} later"
    );
    let job = job(&hub, &job_id).await;
    assert_eq!(classes(&job), ["throttled", "success"]);
    assert_eq!(job["history"][0]["status"], 429);
}

#[tokio::test]
async fn retry_after_may_be_an_http_date() {
    let dest = Destination::start().await;
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    dest.script([Reply::status(429).header("retry-after", &at), Reply::ok()]);
    let hub = one_client_hub(
        &dest,
        r#"retry = { backoff = "100ms", max_backoff = "200ms" }"#,
    )
    .await;
    let (id, _) = publish_t(&hub, json!(1)).await;
    hub.wait_deliveries(&id, "succeeded").await;
    let got = dest.requests();
    assert_eq!(got.len(), 2);
    // The date has whole seconds: the retry is due between 2 and 3 s later.
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(1500),
        "Retry-After: {at} (3 s ahead) but the retry came {gap:?} later"
    );
}

#[tokio::test]
async fn retry_after_never_carries_a_job_past_its_window() {
    let dest = Destination::start().await;
    dest.always(Reply::status(429).header("retry-after", "30"));
    let hub = one_client_hub(
        &dest,
        r#"retry = { backoff = "100ms", transient_window = "2s" }"#,
    )
    .await;
    let started = Instant::now();
    let (_, job_id) = publish_t(&hub, json!(1)).await;
    let job = hub.wait_job(&job_id, "dead").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "dead only after {:?}",
        started.elapsed()
    );
    assert!(classes(&job).iter().all(|c| c == "throttled"), "{job}");
    assert!(job["dead_reason"].is_string(), "{job}");
    let got = dest.requests();
    let span = got.last().unwrap().at - got[0].at;
    assert!(
        span <= Duration::from_millis(2100),
        "an attempt came {span:?} after the first, past the 2 s window"
    );
}

#[tokio::test]
async fn a_408_or_425_is_throttled_and_retried() {
    let dest = Destination::start().await;
    dest.script([Reply::status(408), Reply::status(425), Reply::ok()]);
    let hub = one_client_hub(
        &dest,
        r#"retry = { backoff = "100ms", permanent_window = "10ms" }"#,
    )
    .await;
    let (id, job_id) = publish_t(&hub, json!(1)).await;
    hub.wait_deliveries(&id, "succeeded").await;
    let job = job(&hub, &job_id).await;
    assert_eq!(classes(&job), ["throttled", "throttled", "success"]);
}

#[tokio::test]
async fn a_401_or_403_is_unauthorized_and_dead_after_one_attempt() {
    for status in [401, 403] {
        let dest = Destination::start().await;
        dest.always(Reply::status(status));
        let hub = one_client_hub(&dest, r#"retry = { backoff = "100ms" }"#).await;
        let (_, job_id) = publish_t(&hub, json!(1)).await;
        let job = hub.wait_job(&job_id, "dead").await;
        assert_eq!(job["attempts"], 1, "{status}: {job}");
        assert_eq!(job["last_outcome"]["class"], "unauthorized", "{status}");
        assert_eq!(job["last_outcome"]["status"], status);
        assert!(job["dead_reason"].is_string(), "{status}: {job}");
        assert!(
            job["next_attempt_at"].is_null(),
            "a dead job has no next attempt: {job}"
        );
        // Nothing retries in a loop.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(dest.requests().len(), 1, "{status} was retried");
    }
}

#[tokio::test]
async fn a_404_or_422_is_permanent_and_retried_only_within_the_permanent_window() {
    let (d404, d422) = (Destination::start().await, Destination::start().await);
    d404.always(Reply::status(404));
    d422.always(Reply::status(422).body("invalid"));
    let hub = TestHub::start(&config(
        r#"
        [clients.c404]
        url = "DEST/x"
        retry = { backoff = "100ms", permanent_window = "1s" }
        [clients.c422]
        url = "DEST2/x"
        retry = { backoff = "100ms", permanent_window = "1s" }
        [subscriptions.s1]
        topics = ["t"]
        client = "c404"
        [subscriptions.s2]
        topics = ["t"]
        client = "c422"
        "#,
        &[&d404, &d422],
    ))
    .await;
    let started = Instant::now();
    let id = hub.publish(json!({"topic": "t", "data": 1})).await;
    let doc = hub.wait_deliveries(&id, "dead").await;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "dead only after {:?} with a 1 s window",
        started.elapsed()
    );
    for d in doc["deliveries"].as_array().unwrap() {
        let job = job(&hub, d["job_id"].as_str().unwrap()).await;
        let n = job["attempts"].as_u64().unwrap();
        assert!(
            (2..=12).contains(&n),
            "{}: {n} attempts within a 1 s window with 100 ms backoff",
            job["client"]
        );
        assert!(classes(&job).iter().all(|c| c == "permanent"), "{job}");
        assert!(job["dead_reason"].is_string(), "{job}");
    }
    let (n404, n422) = (d404.requests().len(), d422.requests().len());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        (d404.requests().len(), d422.requests().len()),
        (n404, n422),
        "dead jobs were attempted again"
    );
}

#[tokio::test]
async fn transient_failures_past_the_transient_window_are_dead() {
    let dest = Destination::start().await;
    dest.always(Reply::status(503));
    let hub = one_client_hub(
        &dest,
        r#"retry = { backoff = "100ms", transient_window = "1s" }"#,
    )
    .await;
    let (_, job_id) = publish_t(&hub, json!(1)).await;
    let job = hub.wait_job(&job_id, "dead").await;
    let n = job["attempts"].as_u64().unwrap();
    assert!(n >= 2, "{n} attempts: {job}");
    assert!(classes(&job).iter().all(|c| c == "transient"), "{job}");
    assert!(job["dead_reason"].is_string(), "{job}");
    let first = job["history"][0]["at"].as_str().unwrap();
    let last = job["history"][n as usize - 1]["at"].as_str().unwrap();
    let span: jiff::Timestamp = last.parse().unwrap();
    let start: jiff::Timestamp = first.parse().unwrap();
    assert!(
        span.duration_since(start) <= jiff::SignedDuration::from_millis(1100),
        "an attempt came past the 1 s window: {first} .. {last}"
    );
}

#[tokio::test]
async fn client_classify_rules_come_before_the_defaults() {
    let dest = Destination::start().await;
    // By default a 409 or a 400 is permanent, dead at once with this tiny window.
    dest.script([
        Reply::status(409),
        Reply::ok(),
        Reply::status(400).body(r#"{"error": "duplicate order"}"#),
        Reply::status(400).body("bad request"),
    ]);
    let hub = one_client_hub(
        &dest,
        r#"concurrency = 1
        retry = { backoff = "100ms", permanent_window = "10ms" }
        classify = [ { status = [409], class = "transient" }, { status = "4xx", body = "duplicate", class = "success" } ]"#,
    )
    .await;
    // 409 → transient by rule: retried, then 200.
    let (a, job_a) = publish_t(&hub, json!("a")).await;
    hub.wait_deliveries(&a, "succeeded").await;
    assert_eq!(classes(&job(&hub, &job_a).await), ["transient", "success"]);
    // 400 with "duplicate" in the body → success by rule.
    let (b, job_b) = publish_t(&hub, json!("b")).await;
    hub.wait_deliveries(&b, "succeeded").await;
    let job_b = job(&hub, &job_b).await;
    assert_eq!(classes(&job_b), ["success"]);
    assert_eq!(job_b["last_outcome"]["status"], 400);
    // 400 without it → the default: permanent.
    let (_, job_c) = publish_t(&hub, json!("c")).await;
    let job_c = hub.wait_job(&job_c, "dead").await;
    assert_eq!(classes(&job_c), ["permanent"]);
}

#[tokio::test]
async fn an_unresolvable_host_is_transient() {
    let hub = TestHub::start(
        r#"
        [clients.c]
        url = "http://no-such-host.invalid/hook"
        timeout = "3s"
        retry = { backoff = "1h" }
        [subscriptions.s]
        topics = ["t"]
        client = "c"
        "#,
    )
    .await;
    let id = hub.publish(json!({"topic": "t", "data": 1})).await;
    let doc = hub
        .wait_event(&id, "a first attempt", |d| {
            d["deliveries"][0]["last_outcome"]["class"] == "transient"
        })
        .await;
    let d = &doc["deliveries"][0];
    assert_eq!(d["state"], "pending", "{d}");
    assert_eq!(d["last_outcome"]["class"], "transient", "{d}");
    assert!(
        d["last_outcome"]["error"]
            .as_str()
            .is_some_and(|e| !e.trim().is_empty()),
        "no error text: {d}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient_with_an_error_text() {
    // Port 1 (tcpmux) has no listener here; a port merely released could be taken by a
    // server another test starts meanwhile.
    let closed = 1;
    let hub = TestHub::start(&format!(
        r#"
        [clients.c]
        url = "http://127.0.0.1:{closed}/hook"
        retry = {{ backoff = "1h" }}
        [subscriptions.s]
        topics = ["t"]
        client = "c"
        "#
    ))
    .await;
    let id = hub.publish(json!({"topic": "t", "data": 1})).await;
    let doc = hub
        .wait_event(&id, "a first attempt", |d| {
            d["deliveries"][0]["last_outcome"]["class"] == "transient"
        })
        .await;
    let d = &doc["deliveries"][0];
    assert_eq!(d["state"], "pending", "{d}");
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["last_outcome"]["class"], "transient", "{d}");
    assert!(d["last_outcome"]["status"].is_null(), "{d}");
    assert!(
        d["last_outcome"]["error"]
            .as_str()
            .is_some_and(|e| !e.trim().is_empty()),
        "no error text: {d}"
    );
    assert!(d["next_attempt_at"].is_string(), "{d}");
    assert!(
        d["response"]["status"].is_null(),
        "no answer, no status: {d}"
    );
    assert!(d["response"]["body"].is_null(), "no answer, no body: {d}");
}

/// Values inserted into the URL are percent-encoded: a key cannot add path segments, a
/// query or a fragment, or change the host.
#[tokio::test]
async fn url_values_are_percent_encoded_so_a_key_cannot_steer_the_request() {
    let dest = Destination::start().await;
    let hub = TestHub::start(&config(
        r#"
        [clients.c]
        url = "DEST/crm/{{ event.topic }}/{{ event.key }}"
        [subscriptions.s]
        topics = ["t"]
        client = "c"
        "#,
        &[&dest],
    ))
    .await;
    for key in ["../../admin?delete=1#x", "Ada Lovelace", "é/ü"] {
        hub.publish(json!({"topic": "t", "key": key})).await;
    }
    let paths: Vec<String> = dest.wait_for(3).await.into_iter().map(|r| r.path).collect();
    for want in [
        "/crm/t/..%2F..%2Fadmin%3Fdelete%3D1%23x",
        "/crm/t/Ada%20Lovelace",
        "/crm/t/%C3%A9%2F%C3%BC",
    ] {
        assert!(
            paths.iter().any(|p| p == want),
            "{want} not among {paths:?}"
        );
    }
}

/// An event without a key never reaches `/crm/t/none`: the URL cannot be rendered, and
/// the attempt fails as permanent with a message that says why.
#[tokio::test]
async fn a_null_value_in_the_url_fails_the_attempt_instead_of_sending_none() {
    let dest = Destination::start().await;
    let hub = TestHub::start(&config(
        r#"
        [clients.c]
        url = "DEST/crm/{{ event.key }}"
        retry = { backoff = "50ms", permanent_window = "200ms" }
        [subscriptions.s]
        topics = ["t"]
        client = "c"
        "#,
        &[&dest],
    ))
    .await;
    let id = hub.publish(json!({"topic": "t", "data": 1})).await;
    let doc = hub.wait_deliveries(&id, "dead").await;
    let outcome = &doc["deliveries"][0]["last_outcome"];
    assert_eq!(outcome["class"], "permanent");
    assert!(
        outcome["error"]
            .as_str()
            .unwrap_or_default()
            .contains("null"),
        "{outcome}"
    );
    assert!(
        dest.requests().is_empty(),
        "nothing was sent: {:?}",
        dest.requests().iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}
