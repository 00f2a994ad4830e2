//! Publishing (contract sections 3, 4 and 7): `POST /v1/events` in Ferry's JSON and as
//! CloudEvents, idempotent publish, fan-out to the matching subscriptions, and
//! `POST /v1/events/batch` as a JSON array and as NDJSON.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{Destination, Response, TestHub, client};

/// Two subscriptions on `order.created`, one on `other.topic`, and one on
/// `customer.updated` that only takes events whose `region` attribute is `eu`.
async fn hub() -> (TestHub, Destination) {
    let dest = Destination::start().await;
    let hub = TestHub::start(&format!(
        r#"
        [clients.a]
        url = "{base}/a"
        retry = {{ backoff = "100ms" }}
        [clients.b]
        url = "{base}/b"
        retry = {{ backoff = "100ms" }}
        [subscriptions.orders-to-a]
        topics = ["order.created"]
        client = "a"
        [subscriptions.orders-to-b]
        topics = ["order.created"]
        client = "b"
        [subscriptions.other-to-a]
        topics = ["other.topic"]
        client = "a"
        [subscriptions.eu-customers]
        topics = ["customer.updated"]
        client = "b"
        filter = {{ attributes = {{ region = "eu" }} }}
        "#,
        base = dest.base
    ))
    .await;
    (hub, dest)
}

async fn event_doc(hub: &TestHub, id: &str) -> Value {
    let r = hub.get(&format!("/v1/events/{id}")).await;
    assert_eq!(r.status, 200, "GET /v1/events/{id}: {}", r.text());
    r.json()
}

fn subscriptions_of(doc: &Value) -> BTreeSet<String> {
    doc["deliveries"]
        .as_array()
        .unwrap_or_else(|| panic!("deliveries is not an array: {doc}"))
        .iter()
        .map(|d| d["subscription"].as_str().expect("subscription").to_owned())
        .collect()
}

fn job_ids_of(doc: &Value) -> BTreeSet<String> {
    doc["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| d["job_id"].as_str().expect("job_id").to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Follows a `status_url` whether it is given as a path or as an absolute URL.
async fn follow(hub: &TestHub, status_url: &str) -> Response {
    if status_url.starts_with("http://") || status_url.starts_with("https://") {
        client().get(status_url).await
    } else {
        assert!(
            status_url.starts_with('/'),
            "status_url {status_url:?} is neither a path nor a URL"
        );
        hub.get(status_url).await
    }
}

#[tokio::test]
async fn publishing_answers_202_with_an_assigned_id_and_a_status_url() {
    let (hub, _dest) = hub().await;
    let r = hub
        .post_json(
            "/v1/events",
            &json!({"topic": "nobody.listens", "key": "k1"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let body = r.json();
    let id = body["id"].as_str().expect("an id is assigned");
    assert!(!id.is_empty() && id.len() <= 200, "id {id:?}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c)),
        "assigned id {id:?} has characters outside [A-Za-z0-9._:-]"
    );
    assert_eq!(body["duplicate"], json!(false), "{body}");
    let status_url = body["status_url"].as_str().expect("status_url");
    let shown = follow(&hub, status_url).await;
    assert_eq!(shown.status, 200, "{status_url}: {}", shown.text());
    assert_eq!(shown.json()["event"]["id"], json!(id));
}

#[tokio::test]
async fn assigned_ids_are_unique_and_sort_in_publish_order() {
    let (hub, _dest) = hub().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            hub.publish(json!({"topic": "nobody.listens", "data": n}))
                .await,
        );
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "assigned ids are sortable by creation");
}

#[tokio::test]
async fn the_stored_event_has_every_field_with_data_exactly_as_sent() {
    let (hub, _dest) = hub().await;
    let data = json!({
        "name": "Ada Lovelace",
        "text": "quotes \" backslash \\ newline \n tab \t unicode é 漢字 🚀",
        "n": 1.5,
        "neg": -42,
        "big": 12345678901234567890u64,
        "flags": [true, false, null],
        "nested": {"a": [{"b": {"c": []}}], "empty": {}}
    });
    let before = jiff::Timestamp::now();
    let r = hub
        .post_json(
            "/v1/events",
            &json!({
                "id": "order-1:v2.x_y-z",
                "topic": "order.created",
                "key": "order-1",
                "data": data,
                "attributes": {"region": "eu", "source": "core"},
            }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["id"], "order-1:v2.x_y-z", "a given id is kept");
    let doc = event_doc(&hub, "order-1:v2.x_y-z").await;
    let event = &doc["event"];
    assert_eq!(event["id"], "order-1:v2.x_y-z");
    assert_eq!(event["topic"], "order.created");
    assert_eq!(event["key"], "order-1");
    assert_eq!(event["data"], data, "data comes back exactly as sent");
    assert_eq!(
        event["attributes"],
        json!({"region": "eu", "source": "core"})
    );
    assert_eq!(event["priority"], "normal", "priority defaults to normal");
    let created: jiff::Timestamp = event["created_at"]
        .as_str()
        .expect("created_at is a string")
        .parse()
        .expect("created_at is RFC 3339");
    let slack = jiff::SignedDuration::from_secs(5);
    assert!(
        created >= before - slack && created <= jiff::Timestamp::now() + slack,
        "created_at {created} is not about now"
    );
    assert!(doc["deliveries"].is_array());
}

#[tokio::test]
async fn a_minimal_event_shows_every_field_with_its_default() {
    let (hub, _dest) = hub().await;
    let id = hub
        .publish(json!({"topic": "nobody.listens", "priority": "high"}))
        .await;
    let doc = event_doc(&hub, &id).await;
    let event = doc["event"].as_object().expect("event object");
    for field in [
        "id",
        "topic",
        "key",
        "data",
        "attributes",
        "priority",
        "created_at",
    ] {
        assert!(event.contains_key(field), "event lacks {field}: {doc}");
    }
    assert_eq!(event["key"], Value::Null);
    assert_eq!(event["data"], Value::Null, "data defaults to null");
    assert!(
        event["attributes"] == json!({}) || event["attributes"].is_null(),
        "no attributes: {}",
        event["attributes"]
    );
    assert_eq!(event["priority"], "high");
}

#[tokio::test]
async fn publishing_an_existing_id_again_is_a_duplicate_that_creates_nothing() {
    let (hub, dest) = hub().await;
    let first = json!({"id": "evt-dup-1", "topic": "order.created", "key": "o1", "data": {"v": 1}});
    let r = hub.post_json("/v1/events", &first).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["duplicate"], json!(false));
    let doc = hub.wait_deliveries("evt-dup-1", "succeeded").await;
    let jobs = job_ids_of(&doc);
    assert_eq!(jobs.len(), 2);
    dest.wait_for(2).await;

    // The same id again, first with the same body, then with a different one on a topic
    // that has another subscription: nothing new is created either time.
    let other = json!({"id": "evt-dup-1", "topic": "other.topic", "key": "o2",
                       "data": {"v": 2}, "attributes": {"x": "y"}, "priority": "high"});
    for body in [&first, &other] {
        let r = hub.post_json("/v1/events", body).await;
        assert_eq!(r.status, 200, "a duplicate answers 200: {}", r.text());
        let answer = r.json();
        assert_eq!(answer["id"], "evt-dup-1");
        assert_eq!(answer["duplicate"], json!(true), "{answer}");
        assert!(answer["status_url"].is_string(), "{answer}");
    }
    let doc = event_doc(&hub, "evt-dup-1").await;
    assert_eq!(doc["event"]["topic"], "order.created");
    assert_eq!(doc["event"]["key"], "o1");
    assert_eq!(doc["event"]["data"], json!({"v": 1}));
    assert_eq!(doc["event"]["attributes"], json!({}));
    assert_eq!(doc["event"]["priority"], "normal");
    assert_eq!(job_ids_of(&doc), jobs, "no delivery was added");
    let listed = hub.get("/v1/jobs?limit=1000").await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(
        listed.json()["items"].as_array().map(Vec::len),
        Some(2),
        "no job was created by the duplicates"
    );
}

#[tokio::test]
async fn a_duplicate_inside_a_batch_creates_nothing_for_it() {
    let (hub, _dest) = hub().await;
    hub.publish(json!({"id": "b-existing", "topic": "order.created", "data": 1}))
        .await;
    let r = hub
        .post_json(
            "/v1/events/batch",
            &json!([
                {"id": "b-existing", "topic": "other.topic", "data": 2},
                {"id": "b-new", "topic": "order.created", "data": 3},
            ]),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["ids"], json!(["b-existing", "b-new"]));
    let existing = event_doc(&hub, "b-existing").await;
    assert_eq!(existing["event"]["topic"], "order.created");
    assert_eq!(existing["event"]["data"], json!(1));
    assert_eq!(
        subscriptions_of(&existing),
        set(&["orders-to-a", "orders-to-b"])
    );
    let new = event_doc(&hub, "b-new").await;
    assert_eq!(new["event"]["data"], json!(3));
    assert_eq!(subscriptions_of(&new).len(), 2);
}

#[tokio::test]
async fn an_event_fans_out_to_one_job_per_matching_subscription() {
    let (hub, dest) = hub().await;
    let id = hub
        .publish(json!({"topic": "order.created", "key": "o-7", "data": {"total": 3}}))
        .await;
    let doc = event_doc(&hub, &id).await;
    assert_eq!(
        subscriptions_of(&doc),
        set(&["orders-to-a", "orders-to-b"]),
        "one job for each subscription of the topic, none for the others: {doc}"
    );
    let deliveries = doc["deliveries"].as_array().unwrap();
    let clients: BTreeSet<_> = deliveries
        .iter()
        .map(|d| d["client"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(clients, set(&["a", "b"]));
    assert_eq!(job_ids_of(&doc).len(), 2, "distinct job ids");

    // Both deliveries are made, one to each client.
    hub.wait_deliveries(&id, "succeeded").await;
    let got = dest.wait_for(2).await;
    let paths: BTreeSet<_> = got.iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, set(&["/a", "/b"]));

    let other = hub.publish(json!({"topic": "other.topic"})).await;
    assert_eq!(
        subscriptions_of(&event_doc(&hub, &other).await),
        set(&["other-to-a"])
    );
}

#[tokio::test]
async fn an_attribute_filter_takes_only_the_events_that_match() {
    let (hub, _dest) = hub().await;
    let eu = hub
        .publish(json!({"topic": "customer.updated", "key": "c1",
                        "attributes": {"region": "eu", "tier": "gold"}}))
        .await;
    let us = hub
        .publish(json!({"topic": "customer.updated", "key": "c2",
                        "attributes": {"region": "us"}}))
        .await;
    let none = hub
        .publish(json!({"topic": "customer.updated", "key": "c3"}))
        .await;
    assert_eq!(
        subscriptions_of(&event_doc(&hub, &eu).await),
        set(&["eu-customers"])
    );
    for id in [&us, &none] {
        let doc = event_doc(&hub, id).await;
        assert_eq!(doc["deliveries"], json!([]), "filtered out: {doc}");
    }
}

#[tokio::test]
async fn an_event_without_subscriptions_is_stored_with_no_deliveries() {
    let (hub, dest) = hub().await;
    let id = hub
        .publish(json!({"topic": "nobody.listens", "key": "k", "data": [1, 2]}))
        .await;
    let doc = event_doc(&hub, &id).await;
    assert_eq!(doc["event"]["topic"], "nobody.listens");
    assert_eq!(doc["event"]["data"], json!([1, 2]));
    assert_eq!(doc["deliveries"], json!([]));
    assert!(dest.requests().is_empty());
}

#[tokio::test]
async fn a_structured_cloudevent_maps_type_subject_id_and_extensions() {
    let (hub, _dest) = hub().await;
    let ce = json!({
        "specversion": "1.0",
        "type": "order.created",
        "source": "/core/orders",
        "id": "ce-structured-1",
        "subject": "order-9",
        "region": "eu",
        "datacontenttype": "application/json",
        "data": {"total": 42, "lines": [{"sku": "A"}]}
    });
    let r = hub
        .post(
            "/v1/events",
            "application/cloudevents+json; charset=utf-8",
            serde_json::to_vec(&ce).unwrap(),
            &[],
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["id"], "ce-structured-1");
    let doc = event_doc(&hub, "ce-structured-1").await;
    let event = &doc["event"];
    assert_eq!(event["topic"], "order.created", "type → topic");
    assert_eq!(event["key"], "order-9", "subject → key");
    assert_eq!(event["data"], json!({"total": 42, "lines": [{"sku": "A"}]}));
    assert_eq!(
        event["attributes"]["region"], "eu",
        "extensions → attributes: {event}"
    );
    assert_eq!(subscriptions_of(&doc), set(&["orders-to-a", "orders-to-b"]));

    // The same CloudEvent id again is a duplicate.
    let again = hub
        .post(
            "/v1/events",
            "application/cloudevents+json",
            serde_json::to_vec(&ce).unwrap(),
            &[],
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["duplicate"], json!(true));
}

#[tokio::test]
async fn a_binary_cloudevent_is_read_from_ce_headers() {
    let (hub, _dest) = hub().await;
    let r = hub
        .post(
            "/v1/events",
            "application/json",
            br#"{"name": "Ada", "vip": true}"#.to_vec(),
            &[
                ("ce-specversion", "1.0"),
                ("ce-type", "customer.updated"),
                ("ce-source", "/core/customers"),
                ("ce-id", "ce-binary-1"),
                ("ce-subject", "cust-7"),
                ("ce-region", "eu"),
            ],
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["id"], "ce-binary-1");
    let doc = event_doc(&hub, "ce-binary-1").await;
    let event = &doc["event"];
    assert_eq!(event["topic"], "customer.updated");
    assert_eq!(event["key"], "cust-7");
    assert_eq!(event["data"], json!({"name": "Ada", "vip": true}));
    assert_eq!(event["attributes"]["region"], "eu", "{event}");
    assert_eq!(
        subscriptions_of(&doc),
        set(&["eu-customers"]),
        "the ce-region extension is an attribute the filter sees"
    );
}

fn assert_batch_stored(ids: &Value, expected_len: usize) -> Vec<String> {
    let ids: Vec<String> = ids
        .as_array()
        .unwrap_or_else(|| panic!("ids is not an array: {ids}"))
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), expected_len, "{ids:?}");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "distinct ids"
    );
    ids
}

#[tokio::test]
async fn a_json_array_batch_stores_every_event_and_answers_the_ids_in_order() {
    let (hub, _dest) = hub().await;
    let r = hub
        .post_json(
            "/v1/events/batch",
            &json!([
                {"topic": "order.created", "key": "k0", "data": {"n": 0}},
                {"id": "batch-given-1", "topic": "nobody.listens", "key": "k1", "data": {"n": 1}},
                {"topic": "other.topic", "key": "k2", "data": {"n": 2}, "priority": "low"},
            ]),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let ids = assert_batch_stored(&r.json()["ids"], 3);
    assert_eq!(ids[1], "batch-given-1");
    for (n, id) in ids.iter().enumerate() {
        let doc = event_doc(&hub, id).await;
        assert_eq!(doc["event"]["key"], format!("k{n}"), "ids are in order");
        assert_eq!(doc["event"]["data"], json!({"n": n}));
    }
    assert_eq!(event_doc(&hub, &ids[2]).await["event"]["priority"], "low");
    assert_eq!(
        subscriptions_of(&event_doc(&hub, &ids[0]).await),
        set(&["orders-to-a", "orders-to-b"]),
        "batched events fan out too"
    );
}

#[tokio::test]
async fn an_ndjson_batch_is_accepted_under_both_media_types() {
    let (hub, _dest) = hub().await;
    for (content_type, tag) in [
        ("application/x-ndjson", "x"),
        ("application/ndjson", "plain"),
    ] {
        let body = format!(
            "{{\"topic\":\"order.created\",\"key\":\"{tag}-0\",\"data\":{{\"n\":0}}}}\n\
             {{\"id\":\"nd-{tag}\",\"topic\":\"nobody.listens\",\"key\":\"{tag}-1\",\"data\":[1]}}\n\
             {{\"topic\":\"other.topic\",\"key\":\"{tag}-2\",\"data\":\"two\"}}\n"
        );
        let r = hub
            .post("/v1/events/batch", content_type, body.into_bytes(), &[])
            .await;
        assert_eq!(r.status, 202, "{content_type}: {}", r.text());
        let ids = assert_batch_stored(&r.json()["ids"], 3);
        assert_eq!(ids[1], format!("nd-{tag}"));
        let expected_data = [json!({"n": 0}), json!([1]), json!("two")];
        for (n, id) in ids.iter().enumerate() {
            let doc = event_doc(&hub, id).await;
            assert_eq!(doc["event"]["key"], format!("{tag}-{n}"));
            assert_eq!(doc["event"]["data"], expected_data[n]);
        }
    }
}

#[tokio::test]
async fn an_ndjson_batch_without_a_final_newline_keeps_its_last_event() {
    let (hub, _dest) = hub().await;
    let body = "{\"topic\":\"nobody.listens\",\"key\":\"a\"}\n{\"topic\":\"nobody.listens\",\"key\":\"b\"}";
    let r = hub
        .post("/v1/events/batch", "application/x-ndjson", body, &[])
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let ids = assert_batch_stored(&r.json()["ids"], 2);
    assert_eq!(event_doc(&hub, &ids[1]).await["event"]["key"], "b");
}

#[tokio::test]
async fn concurrent_publishes_of_one_id_create_it_exactly_once() {
    let (hub, _dest) = hub().await;
    let url = hub.url("/v1/events");
    let tasks: Vec<_> = (0..12)
        .map(|n| {
            let url = url.clone();
            tokio::spawn(async move {
                let body = json!({"id": "raced-1", "topic": "order.created", "data": {"n": n}});
                client()
                    .post(
                        &url,
                        "application/json",
                        serde_json::to_vec(&body).unwrap(),
                        &[],
                    )
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let r = task.await.expect("task");
        match r.status {
            202 => created += 1,
            200 => assert_eq!(r.json()["duplicate"], json!(true), "{}", r.text()),
            other => panic!("a racing publish answered {other}: {}", r.text()),
        }
    }
    assert_eq!(created, 1, "exactly one publish creates the event");
    let doc = event_doc(&hub, "raced-1").await;
    assert_eq!(subscriptions_of(&doc), set(&["orders-to-a", "orders-to-b"]));
    assert_eq!(job_ids_of(&doc).len(), 2, "one job per subscription, once");
}

#[tokio::test]
async fn one_id_twice_in_a_batch_never_creates_it_twice() {
    let (hub, _dest) = hub().await;
    let r = hub
        .post_json(
            "/v1/events/batch",
            &json!([
                {"id": "twice", "topic": "order.created", "data": "first"},
                {"id": "twice", "topic": "other.topic", "data": "second"},
            ]),
        )
        .await;
    assert!(r.status < 500, "{}: {}", r.status, r.text());
    if r.status == 202 {
        let doc = event_doc(&hub, "twice").await;
        assert_eq!(doc["event"]["data"], "first", "the first publish wins");
        assert_eq!(subscriptions_of(&doc), set(&["orders-to-a", "orders-to-b"]));
        assert_eq!(job_ids_of(&doc).len(), 2);
    } else {
        assert_eq!(
            hub.get("/v1/events/twice").await.status,
            404,
            "all or nothing"
        );
    }
}

#[tokio::test]
async fn an_ndjson_batch_with_crlf_line_ends_is_read() {
    let (hub, _dest) = hub().await;
    let body = "{\"topic\":\"nobody.listens\",\"key\":\"a\"}\r\n{\"topic\":\"nobody.listens\",\"key\":\"b\"}\r\n";
    let r = hub
        .post("/v1/events/batch", "application/x-ndjson", body, &[])
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let ids = assert_batch_stored(&r.json()["ids"], 2);
    assert_eq!(event_doc(&hub, &ids[0]).await["event"]["key"], "a");
    assert_eq!(event_doc(&hub, &ids[1]).await["event"]["key"], "b");
}
