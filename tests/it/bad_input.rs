//! Bad input (contract sections 4 and 7): every malformed, oversized, mistyped or unknown
//! request gets a 4xx with `{"error": {"code", "message"}}`, never a 5xx, and a refused
//! request stores nothing.

use serde_json::{Value, json};

use crate::support::{Response, TestHub, client};

async fn hub() -> TestHub {
    TestHub::start(
        r#"
        [server]
        max_body = "2KiB"
        "#,
    )
    .await
}

/// The answer is `status` with a JSON error body whose code and message are non-empty.
#[track_caller]
fn assert_error(r: &Response, status: u16, what: &str) {
    assert_eq!(
        r.status,
        status,
        "{what}: answered {}: {}",
        r.status,
        r.text()
    );
    assert_error_body(r, what);
}

#[track_caller]
fn assert_error_body(r: &Response, what: &str) {
    assert!(
        r.header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json")),
        "{what}: the error is not served as JSON: {:?}",
        r.header("content-type")
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
        panic!(
            "{what}: the {} error body is not JSON ({e}): {}",
            r.status,
            r.text()
        )
    });
    let code = body["error"]["code"].as_str();
    let message = body["error"]["message"].as_str();
    assert!(
        code.is_some_and(|c| !c.is_empty()),
        "{what}: error.code is not a non-empty string: {body}"
    );
    assert!(
        message.is_some_and(|m| !m.is_empty()),
        "{what}: error.message is not a non-empty string: {body}"
    );
    let code = code.unwrap();
    assert!(
        code.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "{what}: error.code {code:?} is not snake_case"
    );
}

#[track_caller]
fn assert_4xx(r: &Response, what: &str) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: expected a 4xx, got {}: {}",
        r.status,
        r.text()
    );
    assert_error_body(r, what);
}

async fn request(hub: &TestHub, method: &str, path: &str) -> Response {
    client()
        .request(method, &hub.url(path), &[], Vec::new())
        .await
}

async fn assert_not_stored(hub: &TestHub, ids: &[&str], what: &str) {
    for id in ids {
        let r = hub.get(&format!("/v1/events/{id}")).await;
        assert_error(&r, 404, &format!("{what}: event {id} must not be stored"));
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let hub = hub().await;
    for body in [
        &br#"{"topic": "t""#[..],
        b"not json",
        b"{topic: 't'}",
        br#"{"topic": "t",}"#,
        br#"{"topic": "t"} trailing"#,
        b"\xff\xfe{}",
    ] {
        let r = hub
            .post("/v1/events", "application/json", body.to_vec(), &[])
            .await;
        assert_error(
            &r,
            400,
            &format!("body {:?}", String::from_utf8_lossy(body)),
        );
    }
    let r = hub
        .post("/v1/events/batch", "application/json", "[{\"topic\": ", &[])
        .await;
    assert_error(&r, 400, "a truncated batch");
    let r = hub
        .post(
            "/v1/events",
            "application/cloudevents+json",
            "{\"specversion\": ",
            &[],
        )
        .await;
    assert_error(&r, 400, "a truncated structured CloudEvent");
}

#[tokio::test]
async fn invalid_events_are_422_and_stored_nowhere() {
    let hub = hub().await;
    let too_long_topic = "t".repeat(201);
    let too_long_key = "k".repeat(513);
    let too_long_id = "i".repeat(201);
    // 257 two-byte characters: 514 bytes, under 512 characters.
    let too_long_key_in_bytes = "é".repeat(257);
    let cases: Vec<(&str, Value)> = vec![
        ("missing topic", json!({"key": "k"})),
        ("null topic", json!({"topic": null})),
        ("empty topic", json!({"topic": ""})),
        ("topic with a space", json!({"topic": "a b"})),
        ("topic with a slash", json!({"topic": "a/b"})),
        ("topic with a non-ASCII letter", json!({"topic": "café"})),
        (
            "topic over 200 characters",
            json!({"topic": too_long_topic}),
        ),
        ("topic of the wrong type", json!({"topic": 5})),
        ("key of the wrong type", json!({"topic": "t", "key": 5})),
        (
            "key over 512 bytes",
            json!({"topic": "t", "key": too_long_key}),
        ),
        (
            "key over 512 bytes but not characters",
            json!({"topic": "t", "key": too_long_key_in_bytes}),
        ),
        (
            "unknown priority",
            json!({"topic": "t", "priority": "urgent"}),
        ),
        (
            "upper-case priority",
            json!({"topic": "t", "priority": "HIGH"}),
        ),
        (
            "priority of the wrong type",
            json!({"topic": "t", "priority": 1}),
        ),
        (
            "attributes not an object",
            json!({"topic": "t", "attributes": "region=eu"}),
        ),
        (
            "attribute value a number",
            json!({"topic": "t", "attributes": {"n": 1}}),
        ),
        (
            "attribute value an object",
            json!({"topic": "t", "attributes": {"o": {"a": "b"}}}),
        ),
        (
            "attribute value null",
            json!({"topic": "t", "attributes": {"a": null}}),
        ),
        ("unknown field", json!({"topic": "t", "colour": "red"})),
        ("misspelt field", json!({"topic": "t", "atributes": {}})),
        ("empty id", json!({"topic": "t", "id": ""})),
        ("id with a space", json!({"topic": "t", "id": "has space"})),
        ("id with a slash", json!({"topic": "t", "id": "a/b"})),
        (
            "id over 200 characters",
            json!({"topic": "t", "id": too_long_id}),
        ),
        ("id of the wrong type", json!({"topic": "t", "id": 7})),
        ("an array", json!([{"topic": "t"}])),
        ("a string", json!("t")),
        ("null", Value::Null),
    ];
    for (what, body) in &cases {
        let r = hub.post_json("/v1/events", body).await;
        assert_error(&r, 422, what);
    }
    // Valid ids that were sent along with an invalid field were not stored.
    let r = hub
        .post_json(
            "/v1/events",
            &json!({"id": "refused-1", "topic": "t", "priority": "urgent"}),
        )
        .await;
    assert_error(&r, 422, "a bad priority with a good id");
    assert_not_stored(&hub, &["refused-1"], "a refused event").await;
    let r = hub.get("/v1/jobs").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["items"], json!([]));
}

#[tokio::test]
async fn the_limits_themselves_are_accepted() {
    let hub = hub().await;
    let topic = format!("{}A-z.0_9:", "t".repeat(192));
    assert_eq!(topic.len(), 200);
    let key = "k".repeat(512);
    let id = "i".repeat(200);
    let r = hub
        .post_json(
            "/v1/events",
            &json!({"id": id, "topic": topic, "key": key, "priority": "low"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    // 256 two-byte characters are exactly 512 bytes.
    let r = hub
        .post_json("/v1/events", &json!({"topic": "t", "key": "é".repeat(256)}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
}

#[tokio::test]
async fn a_body_over_max_body_is_413() {
    let hub = hub().await;
    let big = "x".repeat(4096);
    let r = hub
        .post_json(
            "/v1/events",
            &json!({"id": "too-big", "topic": "t", "data": big}),
        )
        .await;
    assert_error(&r, 413, "a 4 KiB event with max_body = 2KiB");
    let r = hub
        .post_json(
            "/v1/events/batch",
            &json!([{"id": "too-big-batch", "topic": "t", "data": big}]),
        )
        .await;
    assert_error(&r, 413, "a 4 KiB batch with max_body = 2KiB");
    let r = hub
        .post(
            "/v1/events/batch",
            "application/x-ndjson",
            format!("{{\"id\":\"too-big-nd\",\"topic\":\"t\",\"data\":\"{big}\"}}\n"),
            &[],
        )
        .await;
    assert_error(&r, 413, "a 4 KiB NDJSON batch with max_body = 2KiB");
    assert_not_stored(&hub, &["too-big", "too-big-batch", "too-big-nd"], "413").await;
    // Just under the limit is fine.
    let r = hub
        .post_json(
            "/v1/events",
            &json!({"topic": "t", "data": "x".repeat(1900)}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
}

#[tokio::test]
async fn a_batch_with_one_bad_event_is_refused_whole() {
    let hub = hub().await;
    let r = hub
        .post_json(
            "/v1/events/batch",
            &json!([
                {"id": "batch-a-1", "topic": "t"},
                {"id": "batch-a-2", "topic": "a b"},
                {"id": "batch-a-3", "topic": "t"},
            ]),
        )
        .await;
    assert_error(&r, 422, "a batch whose second event has a bad topic");
    assert_not_stored(&hub, &["batch-a-1", "batch-a-3"], "array batch").await;

    let r = hub
        .post_json(
            "/v1/events/batch",
            &json!([
                {"id": "batch-b-1", "topic": "t"},
                {"id": "batch-b-2", "topic": "t", "attributes": {"n": 1}},
            ]),
        )
        .await;
    assert_error(&r, 422, "a batch whose last event has a bad attribute");
    assert_not_stored(&hub, &["batch-b-1"], "array batch, bad last").await;

    let r = hub
        .post_json(
            "/v1/events/batch",
            &json!([{"id": "batch-c-1", "topic": "t"}, "not an event"]),
        )
        .await;
    assert_4xx(&r, "a batch with a string among the events");
    assert_not_stored(&hub, &["batch-c-1"], "array batch, a string").await;

    let r = hub
        .post(
            "/v1/events/batch",
            "application/x-ndjson",
            "{\"id\":\"batch-d-1\",\"topic\":\"t\"}\n{\"id\":\"batch-d-2\",\"topic\":\"t\",\"priority\":\"urgent\"}\n{\"id\":\"batch-d-3\",\"topic\":\"t\"}\n",
            &[],
        )
        .await;
    assert_error(&r, 422, "an NDJSON batch with a bad priority");
    assert_not_stored(&hub, &["batch-d-1", "batch-d-3"], "NDJSON batch").await;

    let r = hub
        .post(
            "/v1/events/batch",
            "application/ndjson",
            "{\"id\":\"batch-e-1\",\"topic\":\"t\"}\n{\"id\":\"batch-e-2\",\"topic\":\n",
            &[],
        )
        .await;
    assert_error(&r, 400, "an NDJSON batch with a malformed line");
    assert_not_stored(&hub, &["batch-e-1"], "NDJSON batch, malformed line").await;

    let r = hub.get("/v1/jobs").await;
    assert_eq!(r.json()["items"], json!([]));
}

#[tokio::test]
async fn an_empty_batch_is_refused() {
    let hub = hub().await;
    for (content_type, body) in [
        ("application/json", "[]"),
        ("application/json", ""),
        ("application/x-ndjson", ""),
        ("application/x-ndjson", "\n\n  \n"),
        ("application/ndjson", ""),
    ] {
        let r = hub.post("/v1/events/batch", content_type, body, &[]).await;
        assert_4xx(&r, &format!("an empty batch {body:?} as {content_type}"));
    }
    let r = hub
        .post_json("/v1/events/batch", &json!({"topic": "t"}))
        .await;
    assert_4xx(&r, "a batch that is one object, not an array");
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let hub = hub().await;
    for path in [
        "/nope",
        "/v1",
        "/v1/nope",
        "/v2/events",
        "/v1/events/missing-event",
        "/v1/jobs/job_missing",
    ] {
        let r = hub.get(path).await;
        assert_error(&r, 404, &format!("GET {path}"));
    }
    for (method, path) in [
        ("GET", "/v1/events"),
        ("PUT", "/v1/events"),
        ("DELETE", "/v1/events"),
        ("PUT", "/v1/events/batch"),
        ("DELETE", "/v1/events/some-id"),
        ("POST", "/v1/events/some-id"),
        ("POST", "/v1/jobs"),
        ("DELETE", "/v1/jobs/some-job"),
        ("GET", "/v1/jobs/some-job/retry"),
        ("GET", "/v1/jobs/some-job/cancel"),
        ("POST", "/healthz"),
    ] {
        let r = request(&hub, method, path).await;
        assert_error(&r, 405, &format!("{method} {path}"));
        // RFC 9110 §15.5.6: a 405 names the methods the resource does take.
        let allow = r.header("allow").unwrap_or_default().to_ascii_uppercase();
        assert!(
            !allow.is_empty() && !allow.contains(method),
            "{method} {path}: the 405 has no fitting Allow header: {:?}",
            r.header("allow")
        );
    }
}

#[tokio::test]
async fn bad_job_list_queries_are_4xx() {
    let hub = hub().await;
    let ok = hub.get("/v1/jobs?limit=5&state=dead").await;
    assert_eq!(ok.status, 200, "a good query: {}", ok.text());
    for query in [
        "limit=0",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "state=bogus",
        "state=DEAD",
        "cursor=not-a-cursor",
        "cursor=%00%ff",
        "colour=red",
        "limt=5",
    ] {
        let r = hub.get(&format!("/v1/jobs?{query}")).await;
        assert_4xx(&r, &format!("GET /v1/jobs?{query}"));
    }
}

#[tokio::test]
async fn a_bad_prefer_wait_is_refused() {
    let hub = hub().await;
    for prefer in ["wait=soon", "wait=-1", "wait=1.5s", "wait="] {
        let r = hub
            .post(
                "/v1/events",
                "application/json",
                serde_json::to_vec(&json!({"topic": "t"})).unwrap(),
                &[("prefer", prefer)],
            )
            .await;
        assert_4xx(&r, &format!("Prefer: {prefer}"));
    }
}

#[tokio::test]
async fn bad_bodies_to_the_job_operations_are_4xx() {
    let hub = hub().await;
    for (body, what) in [
        (&b"{\"state\": "[..], "truncated JSON"),
        (b"[]", "an array"),
        (b"{\"state\": \"bogus\"}", "an unknown state"),
        (b"{\"state\": 5}", "a state of the wrong type"),
        (b"{\"colour\": \"red\"}", "an unknown field"),
    ] {
        let r = hub
            .post("/v1/jobs/retry", "application/json", body.to_vec(), &[])
            .await;
        assert_4xx(&r, &format!("POST /v1/jobs/retry with {what}"));
    }
    for path in ["/v1/jobs/job_missing/retry", "/v1/jobs/job_missing/cancel"] {
        let r = hub.post(path, "application/json", "", &[]).await;
        assert_error(&r, 404, &format!("POST {path}"));
    }
}

#[tokio::test]
async fn bad_cloudevents_are_4xx() {
    let hub = hub().await;
    let structured = [
        json!({"type": "t", "source": "s", "id": "ce-x1"}),
        json!({"specversion": "1.0", "source": "s", "id": "ce-x2"}),
        json!({"specversion": "1.0", "type": "t", "source": "s"}),
        json!({"specversion": "1.0", "type": "a b", "source": "s", "id": "ce-x3"}),
        json!({"specversion": "1.0", "type": "t", "source": "s", "id": "ce-x4", "subject": "k".repeat(513)}),
        json!({"specversion": "1.0", "type": "t", "source": "s", "id": "ce-x5", "ext": {"a": 1}}),
        json!(["not", "an", "event"]),
    ];
    for ce in &structured {
        let r = hub
            .post(
                "/v1/events",
                "application/cloudevents+json",
                serde_json::to_vec(ce).unwrap(),
                &[],
            )
            .await;
        assert_4xx(&r, &format!("structured CloudEvent {ce}"));
    }
    let r = hub
        .post(
            "/v1/events",
            "application/json",
            "{}",
            &[("ce-specversion", "1.0"), ("ce-id", "ce-x6")],
        )
        .await;
    assert_4xx(&r, "a binary CloudEvent without ce-type");
    let r = hub
        .post(
            "/v1/events",
            "application/json",
            "{broken",
            &[
                ("ce-specversion", "1.0"),
                ("ce-type", "t"),
                ("ce-source", "s"),
                ("ce-id", "ce-x7"),
            ],
        )
        .await;
    assert_4xx(&r, "a binary CloudEvent whose JSON data is malformed");
    assert_not_stored(
        &hub,
        &[
            "ce-x1", "ce-x2", "ce-x3", "ce-x4", "ce-x5", "ce-x6", "ce-x7",
        ],
        "bad CloudEvents",
    )
    .await;
}

#[tokio::test]
async fn garbage_never_gets_a_5xx_and_the_hub_stays_up() {
    let hub = hub().await;
    let deep_array = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_data = format!(
        "{{\"topic\":\"t\",\"data\":{}{}}}",
        "[".repeat(300),
        "]".repeat(300)
    );
    let deep_open = "{\"a\":".repeat(400);
    let bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"null".to_vec(),
        b"true".to_vec(),
        b"0".to_vec(),
        b"-1e999".to_vec(),
        b"\"string\"".to_vec(),
        b"[]".to_vec(),
        b"{}".to_vec(),
        b"[{}]".to_vec(),
        b"[null, 1, \"x\"]".to_vec(),
        b"{\"topic\":\"t\",\"data\":\"\\ud800\"}".to_vec(),
        b"{\"topic\":\"t\\u0000\"}".to_vec(),
        b"{\"topic\":\"t\",\"topic\":\"u\"}".to_vec(),
        b"{\"topic\":\"t\",\"data\":1e999}".to_vec(),
        b"{\"topic\":[\"t\"]}".to_vec(),
        b"\x00\x01\x02\xff\xfe".to_vec(),
        b"\xef\xbb\xbf{\"topic\":\"t\"}".to_vec(),
        b"{\"topic\":\"\xff\xfe\"}".to_vec(),
        b"{\"topic\":\"t\"}\n{\"topic\":".to_vec(),
        b"\n\n\n".to_vec(),
        b"{{{{{{{{".to_vec(),
        b"]]]]".to_vec(),
        deep_array.into_bytes(),
        deep_data.into_bytes(),
        deep_open.into_bytes(),
        b"<xml>nope</xml>".to_vec(),
        b"topic=t&key=k".to_vec(),
        vec![b'x'; 3000],
    ];
    let content_types = [
        "application/json",
        "application/json; charset=latin1",
        "application/x-ndjson",
        "application/ndjson",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "text/plain",
        "application/octet-stream",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "garbage/;;;==",
        "",
    ];
    let ce_headers: [&[(&str, &str)]; 3] = [
        &[],
        &[("ce-specversion", "1.0")],
        &[
            ("ce-specversion", "1.0"),
            ("ce-type", "t"),
            ("ce-source", "s"),
            ("ce-id", "garbage-ce"),
        ],
    ];
    let paths = [
        "/v1/events",
        "/v1/events/batch",
        "/v1/jobs/retry",
        "/v1/jobs/job_x/retry",
        "/v1/jobs/job_x/cancel",
    ];
    let http = client();
    let mut tried = 0;
    for path in paths {
        for body in &bodies {
            for content_type in content_types {
                let extra: &[&[(&str, &str)]] = if path == "/v1/events" {
                    &ce_headers
                } else {
                    &ce_headers[..1]
                };
                for headers in extra {
                    let mut all: Vec<(&str, &str)> = headers.to_vec();
                    if !content_type.is_empty() {
                        all.push(("content-type", content_type));
                    }
                    let r = http
                        .try_request("POST", &hub.url(path), &all, body.clone())
                        .await
                        .unwrap_or_else(|e| {
                            panic!(
                                "POST {path} as {content_type:?} with {:?}: no answer ({e})",
                                String::from_utf8_lossy(&body[..body.len().min(60)])
                            )
                        });
                    let what = format!(
                        "POST {path} as {content_type:?} {headers:?} with {:?}",
                        String::from_utf8_lossy(&body[..body.len().min(60)])
                    );
                    assert!(
                        r.status < 500,
                        "{what}: answered {}: {}",
                        r.status,
                        r.text()
                    );
                    if r.status >= 400 {
                        assert_error_body(&r, &what);
                    }
                    tried += 1;
                }
            }
        }
    }
    assert!(tried > 500);
    let health = hub.get("/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text());
    let jobs = hub.get("/v1/jobs").await;
    assert_eq!(jobs.status, 200, "{}", jobs.text());
}

#[tokio::test]
async fn odd_ids_in_paths_are_4xx() {
    let hub = hub().await;
    let long = "x".repeat(5000);
    for path in [
        "/v1/events/%FF%FE".to_owned(),
        "/v1/events/%ZZ".to_owned(),
        "/v1/events/a%2Fb".to_owned(),
        format!("/v1/events/{long}"),
        "/v1/jobs/%FF".to_owned(),
        format!("/v1/jobs/{long}"),
        "/v1/jobs?state=%FF".to_owned(),
        "/v1/jobs?limit=%".to_owned(),
    ] {
        let r = hub.get(&path).await;
        assert_4xx(&r, &format!("GET {}", &path[..path.len().min(80)]));
    }
    let r = hub
        .post("/v1/jobs/%FF/cancel", "application/json", "", &[])
        .await;
    assert_4xx(&r, "POST /v1/jobs/%FF/cancel");
}

/// A chunked body carries no Content-Length: the limit must hold while it streams in.
#[tokio::test]
async fn a_chunked_body_over_max_body_is_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let hub = hub().await;
    let addr = hub.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let chunk = format!(
        "{{\"id\":\"chunked-big\",\"topic\":\"t\",\"data\":\"{}\"}}",
        "x".repeat(5000)
    );
    let request = format!(
        "POST /v1/events HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    // The hub may answer and close before it has read everything; that is fine.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "a 5 KiB chunked body with max_body = 2KiB: {answer}"
    );
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(body.contains("\"error\""), "{answer}");
    assert_not_stored(&hub, &["chunked-big"], "chunked 413").await;
}
