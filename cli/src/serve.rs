//! `zkgov serve` and `zkgov token new`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rand::RngCore;
use zkgov_verifier::service::config::{Config, IndexCheck, Overrides, TokenHash};
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
    /// Check every row of the index tables against the log at start-up (by default, the row
    /// counts and the rows of the last 1000 entries).
    #[arg(long, conflicts_with = "reindex")]
    check_index: bool,
    /// Rebuild the index tables from the log at start-up.
    #[arg(long)]
    reindex: bool,
}

#[derive(Args)]
pub(crate) struct RestoreArgs {
    /// Where to take the missing entries from: a zkgov service's URL (a replica, an auditor's
    /// mirror), or a file that `zkgov log export` wrote.
    #[arg(long, value_name = "URL|FILE")]
    from: String,
    /// The service's config file, as for `zkgov serve`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The database, as for `zkgov serve`.
    #[arg(long)]
    database: Option<String>,
    /// The directory holding the log signing key and the last signed checkpoint.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct RotateKeyArgs {
    /// The service's config file, as for `zkgov serve`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The directory holding the log signing key, as for `zkgov serve`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// The service's config, for a command that works on its files while it
/// is stopped: the file, ZKGOV_* variables, then these overrides.
fn offline_config(
    file: Option<&std::path::Path>,
    database: Option<String>,
    data_dir: Option<PathBuf>,
) -> Result<Config> {
    let overrides = Overrides {
        database,
        data_dir,
        ..Overrides::default()
    };
    Ok(Config::load(
        file,
        &|name| std::env::var(name).ok(),
        &overrides,
    )?)
}

/// `zkgov log rotate-key`.
pub(crate) fn rotate_key(args: &RotateKeyArgs) -> Result<std::process::ExitCode> {
    let config = offline_config(args.config.as_deref(), None, args.data_dir.clone())?;
    let key = zkgov_verifier::service::rotation::prepare(&config.data_dir, &config.origin)?;
    println!("next log public key: {key}");
    eprintln!(
        "wrote {} (mode 600). Restart `zkgov serve`: it appends a hand-over to this key, signed \
         by the current one, and signs with it from then on. Clients that trust the current key \
         follow the hand-over; witnesses and trust policies need the new key.",
        zkgov_verifier::service::rotation::next_key_path(&config.data_dir).display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// Reads an export: JSON Lines of `{"index": N, "entry": "…"}`.
fn read_export(path: &std::path::Path) -> Result<std::collections::BTreeMap<u64, Vec<u8>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut entries = std::collections::BTreeMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            crate::Malformed(format!("{}:{}: not JSON ({e})", path.display(), i + 1))
        })?;
        let (Some(index), Some(entry)) = (value["index"].as_u64(), value["entry"].as_str()) else {
            return Err(crate::Malformed(format!(
                "{}:{}: expected {{\"index\": N, \"entry\": \"…\"}}, as `zkgov log export` writes",
                path.display(),
                i + 1
            ))
            .into());
        };
        entries.insert(index, entry.as_bytes().to_vec());
    }
    Ok(entries)
}

/// `zkgov log restore`.
pub(crate) fn restore(args: &RestoreArgs) -> Result<std::process::ExitCode> {
    let config = offline_config(
        args.config.as_deref(),
        args.database.clone(),
        args.data_dir.clone(),
    )?;
    let mut fetch: Box<zkgov_verifier::service::startup::EntrySource> =
        if args.from.starts_with("http://") || args.from.starts_with("https://") {
            let client = zkgov_verifier::client::Client::new(&args.from, None);
            Box::new(move |start, end| {
                client
                    .entries(start, end)
                    .map(|entries| entries.into_iter().map(String::into_bytes).collect())
                    .map_err(|e| e.to_string())
            })
        } else {
            let entries = read_export(std::path::Path::new(&args.from))?;
            Box::new(move |start, end| {
                (start..end)
                    .map(|i| {
                        entries
                            .get(&i)
                            .cloned()
                            .ok_or_else(|| format!("the file has no entry {i}"))
                    })
                    .collect()
            })
        };
    let restored = zkgov_verifier::service::startup::restore(&config, &mut *fetch)?;
    if restored.appended == 0 {
        println!(
            "nothing to restore: the database holds {} entries, the last checkpoint signed {}",
            restored.database, restored.signed
        );
    } else {
        println!(
            "restored entries {}..{} from {}: the database now holds the {} entries of the last \
             signed checkpoint; `zkgov serve` can start",
            restored.database, restored.signed, args.from, restored.signed
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Logs to stderr at the level `ZKGOV_LOG` sets (default `info`), in
/// colour only when stderr is a terminal and `NO_COLOR` is unset: a log
/// written to a file or a pipe must not carry escape codes.
pub(crate) fn init_tracing() {
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZKGOV_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

pub(crate) fn serve(args: ServeArgs) -> Result<()> {
    init_tracing();
    let overrides = Overrides {
        listen: args.listen,
        database: args.database,
        data_dir: args.data_dir,
        index_check: if args.reindex {
            Some(IndexCheck::Rebuild)
        } else if args.check_index {
            Some(IndexCheck::All)
        } else {
            None
        },
    };
    let config = Config::load(
        args.config.as_deref(),
        &|name| std::env::var(name).ok(),
        &overrides,
    )?;
    // Everything that can be checked without creating anything is checked
    // first, and the port is bound, so that a failed start leaves no
    // signing key and no database behind.
    for source in &config.keys {
        zkgov_keys::store::KeyDir::open(&source.dir).with_context(|| {
            format!(
                "the key directory {} (for registry {}) in the config",
                source.dir.display(),
                source.registry
            )
        })?;
    }
    let listen = config.listen;
    let listener = std::net::TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .with_context(|| format!("cannot listen on {listen}"))?;
    let footprint = Footprint::before(&config);
    let service = match Service::open(config) {
        Ok(service) => service,
        Err(e) => {
            footprint.remove_what_is_new();
            return Err(e.into());
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // Handlers are in place before the service says it is ready, so a
        // signal sent right after start-up still shuts it down gracefully.
        let shutdown = shutdown_signal()?;
        let listener = tokio::net::TcpListener::from_std(listener)
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

/// What a start writes, as it was before it: the data directory, and an
/// SQLite database's files. A failed start removes only what it created.
struct Footprint {
    before: Vec<Before>,
}

enum Before {
    /// The directory or file did not exist: `top` is its highest missing
    /// ancestor (or itself), which the start would create.
    Missing { top: PathBuf },
    /// The data directory existed, holding these names.
    Present {
        dir: PathBuf,
        names: std::collections::HashSet<std::ffi::OsString>,
    },
    /// A file that existed, and stays.
    Kept,
}

impl Footprint {
    fn before(config: &Config) -> Footprint {
        let missing = |path: &std::path::Path| {
            let mut top = path.to_path_buf();
            while let Some(parent) = top.parent() {
                if parent.as_os_str().is_empty() || parent.exists() {
                    break;
                }
                top = parent.to_path_buf();
            }
            Before::Missing { top }
        };
        let mut before = vec![match std::fs::read_dir(&config.data_dir) {
            Ok(entries) => Before::Present {
                dir: config.data_dir.clone(),
                names: entries.flatten().map(|e| e.file_name()).collect(),
            },
            Err(_) => missing(&config.data_dir),
        }];
        let postgres = config.database.starts_with("postgres://")
            || config.database.starts_with("postgresql://");
        if !postgres {
            let db = config
                .database
                .strip_prefix("sqlite://")
                .unwrap_or(&config.database);
            // The database and the files SQLite keeps beside it.
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let path = PathBuf::from(format!("{db}{suffix}"));
                before.push(if path.exists() {
                    Before::Kept
                } else {
                    missing(&path)
                });
            }
        }
        Footprint { before }
    }

    /// Removes what appeared since [`Footprint::before`]; what cannot be
    /// removed is named, so that the operator can.
    fn remove_what_is_new(&self) {
        let remove = |path: &std::path::Path| {
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
            if let Err(e) = removed {
                if e.kind() != std::io::ErrorKind::NotFound {
                    eprintln!(
                        "warning: the failed start left {} behind: {e}",
                        path.display()
                    );
                }
            }
        };
        for before in &self.before {
            match before {
                Before::Missing { top } => remove(top),
                Before::Present { dir, names } => {
                    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                        if !names.contains(&entry.file_name()) {
                            remove(&entry.path());
                        }
                    }
                }
                Before::Kept => {}
            }
        }
    }
}

/// A future that completes on SIGINT or SIGTERM; the handlers are
/// installed when this returns, not when the future is first polled.
pub(crate) fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
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
