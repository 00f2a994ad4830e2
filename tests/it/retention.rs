//! Retention (contract sections 2 and 7): succeeded jobs and their events are pruned after
//! `retention.succeeded`, dead letters after `retention.dead`; pruning runs at start;
//! pending jobs are never pruned.

use std::time::Duration;

use serde_json::json;

use crate::support::{Destination, PATIENCE, Reply, TestHub};

#[tokio::test]
async fn succeeded_jobs_and_their_events_are_pruned_at_start_dead_and_pending_stay() {
    let (ok, refuses, down) = (
        Destination::start().await,
        Destination::start().await,
        Destination::start().await,
    );
    refuses.always(Reply::status(401));
    down.always(Reply::status(503));
    let config = format!(
        r#"
        [retention]
        succeeded = "1s"
        dead = "30d"
        [clients.ok]
        url = "{}/ok"
        [clients.refuses]
        url = "{}/refuses"
        [clients.down]
        url = "{}/down"
        retry = {{ backoff = "1h" }}
        [subscriptions.s-ok]
        topics = ["to.ok", "to.both"]
        client = "ok"
        [subscriptions.s-refuses]
        topics = ["to.refuses"]
        client = "refuses"
        [subscriptions.s-down]
        topics = ["to.down", "to.both"]
        client = "down"
        "#,
        ok.base, refuses.base, down.base
    );
    let hub = TestHub::start(&config).await;
    let delivered = hub.publish(json!({"topic": "to.ok", "data": 1})).await;
    let dead = hub.publish(json!({"topic": "to.refuses", "data": 2})).await;
    let pending = hub.publish(json!({"topic": "to.down", "data": 3})).await;
    let job_of =
        |doc: &serde_json::Value| doc["deliveries"][0]["job_id"].as_str().unwrap().to_owned();
    let delivered_job = job_of(&hub.wait_deliveries(&delivered, "succeeded").await);
    let dead_job = job_of(&hub.wait_deliveries(&dead, "dead").await);
    let pending_job = job_of(
        &hub.wait_event(&pending, "a failed attempt", |d| {
            d["deliveries"][0]["last_outcome"]["class"] == "transient"
        })
        .await,
    );
    // One event, two jobs: one succeeds, one stays pending.
    let both = hub.publish(json!({"topic": "to.both", "data": 4})).await;
    hub.wait_event(&both, "one success and one failed attempt", |d| {
        let d = d["deliveries"].as_array().unwrap();
        d.len() == 2
            && d.iter().any(|d| d["state"] == "succeeded")
            && d.iter()
                .any(|d| d["state"] == "pending" && d["last_outcome"]["class"] == "transient")
    })
    .await;
    let (dir, stopped) = hub.stop().await;
    stopped.expect("the hub stops cleanly");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hub = TestHub::start_in(dir, &config).await;

    // Pruning at start runs beside the API: give it a moment.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let event = hub.get(&format!("/v1/events/{delivered}")).await.status;
        let job = hub.get(&format!("/v1/jobs/{delivered_job}")).await.status;
        if event == 404 && job == 404 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the succeeded job ({job}) and its event ({event}) were not pruned at start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let r = hub.get(&format!("/v1/jobs/{dead_job}")).await;
    assert_eq!(r.status, 200, "the dead letter was pruned: {}", r.text());
    assert_eq!(r.json()["state"], "dead");
    assert_eq!(hub.get(&format!("/v1/events/{dead}")).await.status, 200);

    let r = hub.get(&format!("/v1/jobs/{pending_job}")).await;
    assert_eq!(r.status, 200, "the pending job was pruned: {}", r.text());
    assert_eq!(r.json()["state"], "pending");
    assert_eq!(hub.get(&format!("/v1/events/{pending}")).await.status, 200);

    // A pending job keeps its event, even when the event's other job succeeded long ago.
    let r = hub.get(&format!("/v1/events/{both}")).await;
    assert_eq!(
        r.status,
        200,
        "the event of a pending job was pruned: {}",
        r.text()
    );
    let doc = r.json();
    assert!(
        doc["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["subscription"] == "s-down" && d["state"] == "pending"),
        "{doc}"
    );
    assert_eq!(ok.requests().len(), 2, "nothing was delivered again");
}

#[tokio::test]
async fn dead_letters_are_pruned_after_retention_dead() {
    let (ok, refuses) = (Destination::start().await, Destination::start().await);
    refuses.always(Reply::status(403));
    let config = format!(
        r#"
        [retention]
        succeeded = "30d"
        dead = "1s"
        [clients.ok]
        url = "{}/ok"
        [clients.refuses]
        url = "{}/refuses"
        [subscriptions.s-ok]
        topics = ["to.ok"]
        client = "ok"
        [subscriptions.s-refuses]
        topics = ["to.refuses"]
        client = "refuses"
        "#,
        ok.base, refuses.base
    );
    let hub = TestHub::start(&config).await;
    let delivered = hub.publish(json!({"topic": "to.ok", "data": 1})).await;
    let dead = hub.publish(json!({"topic": "to.refuses", "data": 2})).await;
    let job_of =
        |doc: &serde_json::Value| doc["deliveries"][0]["job_id"].as_str().unwrap().to_owned();
    let delivered_job = job_of(&hub.wait_deliveries(&delivered, "succeeded").await);
    let dead_job = job_of(&hub.wait_deliveries(&dead, "dead").await);
    let (dir, stopped) = hub.stop().await;
    stopped.expect("the hub stops cleanly");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hub = TestHub::start_in(dir, &config).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    // (Whether the dead letter's event goes with it or stays for `succeeded`, as events
    // without jobs do, the contract leaves open.)
    loop {
        let job = hub.get(&format!("/v1/jobs/{dead_job}")).await.status;
        if job == 404 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dead job ({job}) was not pruned at start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = hub.get(&format!("/v1/jobs/{delivered_job}")).await;
    assert_eq!(
        r.status,
        200,
        "a succeeded job was pruned early: {}",
        r.text()
    );
    assert_eq!(
        hub.get(&format!("/v1/events/{delivered}")).await.status,
        200
    );
}
