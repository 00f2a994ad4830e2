//! `ferry serve`, `ferry migrate`, `ferry check-config`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ferry::{Config, Hub};

use super::{ServeArgs, StorageArgs};

fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    match Config::load(path) {
        Ok((config, file)) => {
            match file {
                Some(f) => tracing::info!(file = %f.display(), "configuration loaded"),
                None => tracing::info!("no configuration file; using the defaults"),
            }
            Ok(config)
        }
        Err(errors) => bail!("{errors}"),
    }
}

fn with_storage_overrides(mut config: Config, args: &StorageArgs) -> Config {
    if let Some(url) = &args.database {
        config.storage.url = url.clone();
    }
    config
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = with_storage_overrides(load(args.storage.config.as_deref())?, &args.storage);
    if let Some(listen) = &args.listen {
        config.server.listen = listen.parse::<SocketAddr>().with_context(|| {
            format!("--listen / FERRY_LISTEN {listen:?} is not an address like 127.0.0.1:7077")
        })?;
    }
    for note in &config.not_yet_active {
        tracing::warn!("configured but not active in this version: {note}");
    }
    if config.auth_configured {
        bail!(
            "[auth] tokens and JWTs are not enforced by this version yet; refusing to start rather than \
             serve an API that looks protected but is not. Remove [auth] and listen on loopback."
        );
    }
    if !config.server.listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {} without [auth] tokens: an open API is allowed on loopback only",
            config.server.listen
        );
    }
    let hub = Hub::builder(config.clone())
        .migrate(!args.no_migrate)
        .build()
        .await?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(
        clients = config.clients.len(),
        subscriptions = config.subscriptions.len(),
        database = %ferry::store::redact_url(&config.storage.url),
        "ferry listening on http://{address}"
    );
    hub.run(listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

pub async fn migrate(args: StorageArgs) -> anyhow::Result<ExitCode> {
    let config = with_storage_overrides(load(args.config.as_deref())?, &args);
    let version = ferry::store::migrate(&config.storage.url).await?;
    println!(
        "{}: schema at version {version}",
        ferry::store::redact_url(&config.storage.url)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn check_config(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let shown = path.map_or_else(
        || ferry::config::DEFAULT_CONFIG_FILE.to_owned(),
        |p| p.display().to_string(),
    );
    if path.is_none() && !Path::new(ferry::config::DEFAULT_CONFIG_FILE).is_file() {
        eprintln!(
            "no --config given and no ./{} here; the defaults are valid",
            ferry::config::DEFAULT_CONFIG_FILE
        );
        return Ok(ExitCode::SUCCESS);
    }
    match Config::load(path) {
        Ok((config, _)) => {
            println!(
                "{shown}: ok ({} client{}, {} subscription{})",
                config.clients.len(),
                if config.clients.len() == 1 { "" } else { "s" },
                config.subscriptions.len(),
                if config.subscriptions.len() == 1 {
                    ""
                } else {
                    "s"
                },
            );
            for note in &config.not_yet_active {
                println!("  note: not active in this version: {note}");
            }
            if config.auth_configured {
                println!(
                    "  note: [auth] is not enforced by this version; `ferry serve` refuses to start with it"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprint!("{errors}");
            Ok(ExitCode::FAILURE)
        }
    }
}
