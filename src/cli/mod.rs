//! The `ferry` command line (contract section 6). Each subcommand is a small function over
//! the library; this is the only place `anyhow` is used.

mod jobs;
mod output;
mod publish;
mod remote;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use remote::Remote;

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "A durable integration hub: publish events once, deliver them everywhere."
)]
pub struct Cli {
    /// The hub to talk to.
    #[arg(
        long,
        global = true,
        env = "FERRY_SERVER",
        default_value = "http://127.0.0.1:7077"
    )]
    pub server: String,
    /// API token, sent as `Authorization: Bearer`.
    #[arg(long, global = true, env = "FERRY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(StorageArgs),
    /// Validate a configuration file; prints every problem with its TOML path.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Publish one event, or a file of events with --batch.
    Publish(publish::PublishArgs),
    /// Look at events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// List, inspect, retry and cancel jobs.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Measure end-to-end throughput and latency (starts its own hub and destination
    /// unless --server is given explicitly).
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Configuration file (default: ./ferry.toml when present).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://…; overrides the file.
    #[arg(long, env = "FERRY_DATABASE_URL")]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address to listen on; overrides the file.
    #[arg(long, env = "FERRY_LISTEN")]
    pub listen: Option<String>,
    /// Do not apply migrations (fail if the schema is behind).
    #[arg(long)]
    pub no_migrate: bool,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Show an event and its deliveries.
    Show { id: String },
}

/// Whether `--server` was given on the command line or in the environment (bench uses it
/// to decide between its own hub and an existing one).
pub fn server_given(matches: &clap::ArgMatches) -> bool {
    matches!(
        matches.value_source("server"),
        Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
    )
}

pub async fn run(cli: Cli, server_given: bool) -> anyhow::Result<ExitCode> {
    let remote = || Remote::new(&cli.server, cli.token.clone());
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Migrate(args) => serve::migrate(args).await,
        Command::CheckConfig { config } => serve::check_config(config.as_deref()),
        Command::Publish(args) => publish::run(&remote(), args, cli.json).await,
        Command::Events(EventsCommand::Show { id }) => {
            jobs::show_event(&remote(), &id, cli.json).await
        }
        Command::Jobs(command) => jobs::run(&remote(), command, cli.json).await,
        Command::Bench(args) => {
            let server = server_given.then_some(cli.server.as_str());
            crate::bench::run(args, server, cli.token.clone(), cli.json).await
        }
    }
}
