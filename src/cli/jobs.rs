//! `ferry events show`, `ferry jobs list|show|retry|cancel`.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use super::output::{self, cell};
use super::publish::print_deliveries;
use super::remote::{Remote, path_segment, query_value};

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        #[command(flatten)]
        filter: Filter,
        /// How many (1-1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue after a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one job with every attempt.
    Show { id: String },
    /// Retry one dead or cancelled job, or every job a filter matches (state defaults to dead).
    Retry {
        /// A job id; leave out to retry by filter.
        id: Option<String>,
        #[command(flatten)]
        filter: Filter,
    },
    /// Cancel a pending job.
    Cancel { id: String },
}

#[derive(Debug, Args)]
pub struct Filter {
    #[arg(long)]
    pub state: Option<String>,
    #[arg(long)]
    pub client: Option<String>,
    #[arg(long)]
    pub subscription: Option<String>,
    #[arg(long)]
    pub topic: Option<String>,
    #[arg(long)]
    pub key: Option<String>,
}

impl Filter {
    fn fields(&self) -> Vec<(&'static str, &String)> {
        [
            ("state", &self.state),
            ("client", &self.client),
            ("subscription", &self.subscription),
            ("topic", &self.topic),
            ("key", &self.key),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_ref().map(|v| (name, v)))
        .collect()
    }
}

pub async fn run(remote: &Remote, command: JobsCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        JobsCommand::List {
            filter,
            limit,
            cursor,
        } => list(remote, &filter, limit, cursor, json).await,
        JobsCommand::Show { id } => show(remote, &id, json).await,
        JobsCommand::Retry {
            id: Some(id),
            filter,
        } => {
            if !filter.fields().is_empty() {
                bail!("give a job id or a filter, not both");
            }
            let job = remote
                .post_json(
                    &format!("/v1/jobs/{}/retry", path_segment(&id)),
                    &Value::Null,
                )
                .await?;
            print_job_line(&job, "retried", json);
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::Retry { id: None, filter } => {
            if filter.fields().is_empty() {
                bail!("give a job id, or a filter such as --state dead --client C");
            }
            let body: Map<String, Value> = filter
                .fields()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v.clone())))
                .collect();
            let answer = remote
                .post_json("/v1/jobs/retry", &Value::Object(body))
                .await?;
            if json {
                output::print_json(&answer);
            } else {
                println!("retried {} job(s)", cell(&answer, "/retried"));
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::Cancel { id } => {
            let job = remote
                .post_json(
                    &format!("/v1/jobs/{}/cancel", path_segment(&id)),
                    &Value::Null,
                )
                .await?;
            print_job_line(&job, "cancelled", json);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_job_line(job: &Value, verb: &str, json: bool) {
    if json {
        output::print_json(job);
    } else {
        println!("{verb} {} (now {})", cell(job, "/id"), cell(job, "/state"));
    }
}

async fn list(
    remote: &Remote,
    filter: &Filter,
    limit: usize,
    cursor: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut query: Vec<String> = filter
        .fields()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", query_value(v)))
        .collect();
    query.push(format!("limit={limit}"));
    if let Some(c) = cursor {
        query.push(format!("cursor={}", query_value(&c)));
    }
    let page = remote.get(&format!("/v1/jobs?{}", query.join("&"))).await?;
    if json {
        output::print_json(&page);
        return Ok(ExitCode::SUCCESS);
    }
    let items = page
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        println!("no jobs match");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = output::table(&[
        "job",
        "state",
        "client",
        "subscription",
        "topic",
        "key",
        "attempts",
        "last outcome",
        "next attempt",
    ]);
    for j in &items {
        t.add_row(vec![
            cell(j, "/id"),
            cell(j, "/state"),
            cell(j, "/client"),
            cell(j, "/subscription"),
            cell(j, "/topic"),
            output::shorten(&cell(j, "/key"), 24),
            cell(j, "/attempts"),
            output::outcome(j, "/last_outcome"),
            cell(j, "/next_attempt_at"),
        ]);
    }
    println!("{t}");
    if let Some(next) = page.get("next_cursor").and_then(Value::as_str) {
        println!("more: --cursor {next}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(remote: &Remote, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let job = remote
        .get(&format!("/v1/jobs/{}", path_segment(id)))
        .await?;
    if json {
        output::print_json(&job);
        return Ok(ExitCode::SUCCESS);
    }
    for (label, pointer) in [
        ("job", "/id"),
        ("event", "/event_id"),
        ("subscription", "/subscription"),
        ("client", "/client"),
        ("topic", "/topic"),
        ("key", "/key"),
        ("state", "/state"),
        ("attempts", "/attempts"),
        ("next attempt", "/next_attempt_at"),
        ("dead because", "/dead_reason"),
        ("cancelled", "/cancel_reason"),
    ] {
        println!("{label:>13}: {}", cell(&job, pointer));
    }
    let history = job
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !history.is_empty() {
        let mut t = output::table(&["#", "at", "ms", "class", "status", "body / error"]);
        for a in &history {
            let detail = match a.get("error").and_then(Value::as_str) {
                Some(e) => e.to_owned(),
                None => cell(a, "/body"),
            };
            t.add_row(vec![
                cell(a, "/attempt"),
                cell(a, "/at"),
                cell(a, "/duration_ms"),
                cell(a, "/class"),
                cell(a, "/status"),
                output::shorten(&detail, 60),
            ]);
        }
        println!("{t}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn show_event(remote: &Remote, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let doc = remote
        .get(&format!("/v1/events/{}", path_segment(id)))
        .await?;
    if json {
        output::print_json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    for (label, pointer) in [
        ("event", "/event/id"),
        ("topic", "/event/topic"),
        ("key", "/event/key"),
        ("priority", "/event/priority"),
        ("created", "/event/created_at"),
    ] {
        println!("{label:>8}: {}", cell(&doc, pointer));
    }
    println!(
        "{:>8}: {}",
        "data",
        output::shorten(&cell(&doc, "/event/data"), 100)
    );
    print_deliveries(&doc);
    Ok(ExitCode::SUCCESS)
}
