//! `ferry publish`: one event, or a whole NDJSON file in batches with a progress bar.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use http::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::output::{self, cell};
use super::remote::Remote;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The event's topic (not with --batch).
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    pub topic: Option<String>,
    /// The entity the event is about.
    #[arg(long)]
    pub key: Option<String>,
    /// The event's data: JSON, `@file.json`, or `-` for standard input.
    #[arg(long)]
    pub data: Option<String>,
    /// An attribute, `name=value`; repeatable.
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    pub attrs: Vec<String>,
    /// high, normal or low.
    #[arg(long)]
    pub priority: Option<String>,
    /// The event's id (publishing an id that exists creates nothing).
    #[arg(long)]
    pub id: Option<String>,
    /// Wait up to this long for the deliveries' results (request/reply), e.g. `30s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub wait: Option<Duration>,
    /// Publish every line of an NDJSON file, in batches.
    #[arg(long, value_name = "FILE.ndjson", conflicts_with_all = ["key", "data", "attrs", "priority", "id", "wait"])]
    pub batch: Option<PathBuf>,
    /// Events per batch request (with --batch).
    #[arg(long, default_value_t = 1000, requires = "batch")]
    pub batch_size: usize,
}

pub async fn run(remote: &Remote, args: PublishArgs, json: bool) -> anyhow::Result<ExitCode> {
    match &args.batch {
        Some(file) => publish_file(remote, file, args.batch_size, json).await,
        None => publish_one(remote, args, json).await,
    }
}

fn read_data(data: &str) -> anyhow::Result<Value> {
    let text = if data == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading --data from standard input")?;
        s
    } else if let Some(path) = data.strip_prefix('@') {
        std::fs::read_to_string(path).with_context(|| format!("reading --data file {path}"))?
    } else {
        data.to_owned()
    };
    serde_json::from_str(&text).context("--data is not valid JSON")
}

async fn publish_one(remote: &Remote, args: PublishArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut attributes = BTreeMap::new();
    for pair in &args.attrs {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--attr {pair:?} is not NAME=VALUE"))?;
        attributes.insert(name.to_owned(), value.to_owned());
    }
    let mut event = json!({ "topic": args.topic, "attributes": attributes });
    if let Some(key) = &args.key {
        event["key"] = json!(key);
    }
    if let Some(data) = &args.data {
        event["data"] = read_data(data)?;
    }
    if let Some(p) = &args.priority {
        event["priority"] = json!(p);
    }
    if let Some(id) = &args.id {
        event["id"] = json!(id);
    }
    let mut headers = Vec::new();
    if let Some(wait) = args.wait {
        headers.push(("prefer", format!("wait={}", wait.as_secs().max(1))));
    }
    let body = Bytes::from(serde_json::to_vec(&event)?);
    let answer = remote
        .send(
            Method::POST,
            "/v1/events",
            Some(("application/json", body)),
            &headers,
        )
        .await?;
    let status = answer.status;
    let body = remote.expect_ok(answer)?;
    if json {
        output::print_json(&body);
        return Ok(ExitCode::SUCCESS);
    }
    let id = cell(&body, "/id");
    if body.get("duplicate").and_then(Value::as_bool) == Some(true) {
        println!("{id} existed already; nothing new was published");
    } else {
        println!("published {id}");
    }
    if args.wait.is_some() {
        print_deliveries(&body);
        if status == http::StatusCode::ACCEPTED {
            println!("(still in progress when the wait ended; see `ferry events show {id}`)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_deliveries(document: &Value) {
    let deliveries = document
        .get("deliveries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if deliveries.is_empty() {
        println!("no subscription matched: the event is stored, nothing is delivered");
        return;
    }
    let mut t = output::table(&[
        "job",
        "subscription",
        "client",
        "state",
        "attempts",
        "last outcome",
        "response",
    ]);
    for d in &deliveries {
        t.add_row(vec![
            cell(d, "/job_id"),
            cell(d, "/subscription"),
            cell(d, "/client"),
            cell(d, "/state"),
            cell(d, "/attempts"),
            output::outcome(d, "/last_outcome"),
            output::shorten(&cell(d, "/response/body"), 60),
        ]);
    }
    println!("{t}");
}

/// Sends the file in batches, in order, each all-or-nothing. Stops at the first batch
/// the hub refuses, saying which lines were published.
async fn publish_file(
    remote: &Remote,
    file: &PathBuf,
    batch_size: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    if lines.is_empty() {
        bail!("{} has no events", file.display());
    }
    // Batches also stay under the hub's default body limit (1 MiB).
    const MAX_BATCH_BYTES: usize = 900 * 1024;
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(lines.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let (mut published, mut duplicates) = (0usize, 0u64);
    let mut rest = &lines[..];
    while !rest.is_empty() {
        let mut size = 0;
        let mut take = 0;
        while take < rest.len()
            && take < batch_size.max(1)
            && (take == 0 || size + rest[take].1.len() < MAX_BATCH_BYTES)
        {
            size += rest[take].1.len() + 1;
            take += 1;
        }
        let (batch, after) = rest.split_at(take);
        let body: String = batch.iter().flat_map(|(_, l)| [*l, "\n"]).collect();
        let answer = remote
            .send(
                Method::POST,
                "/v1/events/batch",
                Some(("application/x-ndjson", Bytes::from(body))),
                &[],
            )
            .await?;
        if let Err(e) = remote.expect_ok(answer).map(|b| {
            duplicates += b.get("duplicates").and_then(Value::as_u64).unwrap_or(0);
        }) {
            bar.abandon();
            let (first, last) = (batch[0].0, batch[batch.len() - 1].0);
            eprintln!(
                "the batch of lines {first}-{last} was refused (nothing of it was stored): {e}"
            );
            eprintln!("{published} events before line {first} were published");
            return Ok(ExitCode::FAILURE);
        }
        published += batch.len();
        bar.inc(batch.len() as u64);
        rest = after;
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let rate = published as f64 / secs.max(1e-9);
    if json {
        output::print_json(
            &json!({ "published": published, "duplicates": duplicates, "seconds": secs, "per_s": rate }),
        );
    } else {
        println!(
            "published {published} events ({duplicates} existed already) in {secs:.2}s, {rate:.0}/s"
        );
    }
    Ok(ExitCode::SUCCESS)
}
