//! `zkgov serve` and `zkgov token new`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rand::RngCore;
use zkgov_verifier::service::config::{Config, Overrides, TokenHash};
use zkgov_verifier::service::Service;

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The config file (TOML). Settings not given there come from ZKGOV_* variables or defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// The database: a file path or sqlite://PATH (default: zkgov-data/verifier.db), or postgres://USER@HOST/DB.
    #[arg(long)]
    database: Option<String>,
    /// The directory holding the log signing key (default: zkgov-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub(crate) fn serve(args: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZKGOV_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let overrides = Overrides {
        listen: args.listen,
        database: args.database,
        data_dir: args.data_dir,
    };
    let config = Config::load(
        args.config.as_deref(),
        &|name| std::env::var(name).ok(),
        &overrides,
    )?;
    let listen = config.listen;
    let service = Service::open(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // Handlers are in place before the service says it is ready, so a
        // signal sent right after start-up still shuts it down gracefully.
        let shutdown = shutdown_signal()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!(
            "zkgov verifier listening on http://{}",
            listener.local_addr()?
        );
        println!("log origin: {}", service.origin());
        println!("log public key: {}", service.verifier_key());
        service.serve(listener, shutdown).await?;
        eprintln!("zkgov verifier stopped");
        Ok(())
    })
}

/// A future that completes on SIGINT or SIGTERM; the handlers are
/// installed when this returns, not when the future is first polled.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("shutting down: finishing requests in flight");
    })
}

/// Prints a new random bearer token and the hash the config stores.
pub(crate) fn new_token() -> Result<()> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    println!("token:  {token}");
    println!("sha256: {}", TokenHash::of(&token).to_hex());
    eprintln!("Give the token to its holder; put only the sha256 in the service's config.");
    Ok(())
}
