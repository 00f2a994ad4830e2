//! The shortest path through the hub: publish, deliver, look.

use serde_json::json;

use crate::support::{Destination, TestHub};

#[tokio::test]
async fn an_event_is_stored_delivered_and_reported() {
    let dest = Destination::start().await;
    let hub = TestHub::start(&format!(
        r#"
        [clients.crm]
        url = "{}/crm/{{{{ event.topic }}}}/{{{{ event.key }}}}"
        [subscriptions.to-crm]
        topics = ["customer.updated"]
        client = "crm"
        "#,
        dest.base
    ))
    .await;
    let id = hub
        .publish(json!({"topic": "customer.updated", "key": "c1", "data": {"name": "Ada"}}))
        .await;
    let got = dest.wait_for(1).await;
    assert_eq!(got[0].path, "/crm/customer.updated/c1");
    assert_eq!(got[0].header("ferry-event-id"), Some(id.as_str()));
    assert_eq!(got[0].json()["data"], json!({"name": "Ada"}));
    let doc = hub.wait_deliveries(&id, "succeeded").await;
    assert_eq!(doc["deliveries"][0]["response"]["status"], 200);
    assert_eq!(doc["event"]["key"], "c1");
}
