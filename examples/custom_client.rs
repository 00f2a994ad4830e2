//! A client written in Rust, registered with an embedded hub: the way to reach a system
//! that does not speak HTTP (SOAP, FTP, a message bus) without forking Ferry.
//!
//! It "uploads" each event as a file into a directory, then publishes one event through
//! the hub's HTTP API and waits until the file is there. Run it with
//!
//! ```text
//! cargo run --example custom_client
//! ```

use std::path::PathBuf;
use std::time::Duration;

use ferry::{Client, Config, Delivery, DeliveryResult, Hub};

/// Writes each delivery to `<dir>/<event id>.json`, the way an FTP drop would.
struct FileDrop {
    dir: PathBuf,
}

#[async_trait::async_trait]
impl Client for FileDrop {
    async fn deliver(&self, delivery: Delivery<'_>) -> DeliveryResult {
        let path = self.dir.join(format!("{}.json", delivery.event.id));
        match tokio::fs::write(&path, delivery.event.data.as_bytes()).await {
            // No HTTP status to show: report a plain success.
            Ok(()) => DeliveryResult::delivered(),
            // A full disk or a missing directory may heal: retried with backoff.
            Err(e) => DeliveryResult::transient(format!("writing {}: {e}", path.display())),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    let drop_dir = work.path().join("outbox");
    std::fs::create_dir_all(&drop_dir)?;

    // The file's settings apply to the custom client: concurrency, timeout, retries.
    let config = Config::parse(
        &format!(
            r#"
            [storage]
            url = "sqlite://{}"

            [clients.file-drop]
            kind = "custom"
            concurrency = 2
            timeout = "5s"
            retry = {{ backoff = "200ms", max_backoff = "5s" }}

            [subscriptions.orders-to-files]
            topics = ["order.created"]
            client = "file-drop"
            "#,
            work.path().join("ferry.db").display()
        ),
        "example",
    )?;
    let hub = Hub::builder(config)
        .client(
            "file-drop",
            FileDrop {
                dir: drop_dir.clone(),
            },
        )
        .build()
        .await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(hub.run(listener, async {
        let _ = stopped.await;
    }));
    println!("hub listening on http://{address}");

    // Publish through the real HTTP API, as the core system would.
    let body =
        r#"{"id": "order-1001", "topic": "order.created", "key": "1001", "data": {"total": 42}}"#;
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = format!(
        "POST /v1/events HTTP/1.1\r\nhost: ferry\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes()).await?;
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer).await?;
    println!(
        "publish answered: {}",
        answer.lines().next().unwrap_or_default()
    );

    let file = drop_dir.join("order-1001.json");
    for _ in 0..200 {
        if file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let content = std::fs::read_to_string(&file)?;
    println!(
        "delivered through the custom client: {} = {content}",
        file.display()
    );

    let _ = stop.send(());
    running.await??;
    Ok(())
}
