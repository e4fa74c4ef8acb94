//! The witness server behind `zkgov witness serve`: C2SP `tlog-witness`
//! over HTTP, with its state in SQLite.
//!
//! It answers one route, `POST /add-checkpoint`. The decision is
//! [`zkgov_log::witness::decide`]; this module reads the witness's state of
//! the log, applies the decision and stores the new size and root in one
//! `IMMEDIATE` transaction (so two requests cannot both move the state from
//! the same size, and a restarted witness resumes where it stopped), and
//! only once the transaction is committed answers with the cosignature.
//!
//! The config file (TOML):
//!
//! ```toml
//! listen = "127.0.0.1:7380"
//! key_file = "witness.key"        # from `zkgov witness keygen`, mode 600
//! database = "witness.db"         # SQLite, created on first start
//!
//! [[log]]
//! origin = "zkgov.example/log"
//! key = "zkgov.example/log+1234abcd+AU…"   # the log's verifier key
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use r2d2_sqlite::rusqlite::{self, params, Connection, OptionalExtension, TransactionBehavior};
use serde::Deserialize;
use zkgov_log::checkpoint::LogVerifier;
use zkgov_log::cosignature::Cosigner;
use zkgov_log::witness::{
    decide, AddCheckpoint, WitnessRefusal, WitnessedState, SIZE_CONTENT_TYPE,
};

use crate::service::config::Limits;

/// The largest request body accepted: 63 proof lines and a note with many
/// signatures fit well within it.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The default listen address.
const DEFAULT_LISTEN: &str = "127.0.0.1:7380";

/// The witness's configuration, validated.
#[derive(Debug)]
pub struct WitnessConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The file of the witness's private key.
    pub key_file: PathBuf,
    /// The SQLite file of the witness's state.
    pub database: PathBuf,
    /// The logs witnessed: origin and the log's verifier key.
    pub logs: BTreeMap<String, LogVerifier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    key_file: PathBuf,
    database: PathBuf,
    #[serde(default, rename = "log")]
    logs: Vec<FileLog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    origin: String,
    key: String,
}

/// Why the witness cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessStartError {
    /// The config file is unreadable or invalid.
    #[error("{path}: {problem}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The key file is unreadable, open to others or not a witness key.
    #[error("witness key {path}: {problem}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The database could not be opened.
    #[error("witness database {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
}

impl WitnessConfig {
    /// Reads and validates the config file; relative paths are resolved
    /// against its directory.
    pub fn load(path: &Path) -> Result<WitnessConfig, WitnessStartError> {
        let problem = |problem: String| WitnessStartError::Config {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
        let file: File = toml::from_str(&text).map_err(|e| problem(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        let listen = file.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen.parse().map_err(|_| {
            problem(format!(
                "listen: `{listen}` is not an address such as {DEFAULT_LISTEN}"
            ))
        })?;
        if file.logs.is_empty() {
            return Err(problem(
                "no [[log]] is configured: add one with the origin and verifier key of each log \
                 this witness cosigns"
                    .into(),
            ));
        }
        let mut logs = BTreeMap::new();
        for (i, log) in file.logs.into_iter().enumerate() {
            let at = |what: String| problem(format!("log {} (`{}`): {what}", i + 1, log.origin));
            let verifier = LogVerifier::from_verifier_key(&log.key)
                .map_err(|e| at(format!("key: {e}; give the log's verifier key")))?;
            if verifier.name() != log.origin {
                return Err(at(format!(
                    "the key is named `{}`, but a log's key is named after its origin",
                    verifier.name()
                )));
            }
            if logs.insert(log.origin.clone(), verifier).is_some() {
                return Err(at("this origin is configured twice".into()));
            }
        }
        Ok(WitnessConfig {
            listen,
            key_file: base.join(file.key_file),
            database: base.join(file.database),
            logs,
        })
    }
}

/// The witness, opened and ready to serve.
pub struct Witness {
    cosigner: Cosigner,
    logs: BTreeMap<String, LogVerifier>,
    state: Mutex<Connection>,
}

impl Witness {
    /// Reads the key and opens (creating if need be) the database.
    pub fn open(config: WitnessConfig) -> Result<Witness, WitnessStartError> {
        let key_error = |problem: String| WitnessStartError::Key {
            path: config.key_file.clone(),
            problem,
        };
        let text = crate::service::read_private_file(&config.key_file).map_err(key_error)?;
        let cosigner = Cosigner::from_private_key(&text).map_err(|e| {
            key_error(format!(
                "{e}; make one with `zkgov witness keygen --out FILE --name NAME`"
            ))
        })?;
        let database = |source| WitnessStartError::Database {
            path: config.database.clone(),
            source,
        };
        let conn = Connection::open(&config.database).map_err(database)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(database)?;
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS witnessed (
                 origin TEXT PRIMARY KEY,
                 size INTEGER NOT NULL CHECK (size >= 0),
                 root BLOB NOT NULL CHECK (length(root) = 32)
             );
             PRAGMA user_version = 1;",
        )
        .map_err(database)?;
        Ok(Witness {
            cosigner,
            logs: config.logs,
            state: Mutex::new(conn),
        })
    }

    /// The witness's verifier key.
    pub fn verifier_key(&self) -> String {
        self.cosigner.verifier_key()
    }

    /// The router: `POST /add-checkpoint`.
    pub fn router(self) -> Router {
        Router::new()
            .route("/add-checkpoint", post(add_checkpoint))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::new(self))
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        crate::service::connections::serve(listener, self.router(), &Limits::default(), shutdown)
            .await
    }

    /// Decides `request` and, if it is accepted, stores the new state; in
    /// one transaction. Returns the cosignature line.
    fn add_checkpoint(&self, body: &str) -> Result<String, Refused> {
        let request = AddCheckpoint::parse(body)?;
        let mut conn = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Refused::internal)?;
        let mut read_error = None;
        let decided = decide(
            &self.logs,
            |origin| match load(&tx, origin) {
                Ok(state) => state,
                Err(e) => {
                    read_error = Some(e);
                    None
                }
            },
            &request,
        );
        if let Some(e) = read_error {
            return Err(Refused::internal(e));
        }
        let checkpoint = decided?;
        let size = i64::try_from(checkpoint.size)
            .map_err(|_| Refused::internal("a tree size beyond 2^63"))?;
        tx.execute(
            "INSERT INTO witnessed (origin, size, root) VALUES (?1, ?2, ?3)
             ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root",
            params![checkpoint.origin, size, checkpoint.root.as_slice()],
        )
        .map_err(Refused::internal)?;
        tx.commit().map_err(Refused::internal)?;
        drop(conn);
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let line = self
            .cosigner
            .cosign(&request.note, now)
            .map_err(Refused::internal)?;
        tracing::info!(origin = %checkpoint.origin, size = checkpoint.size, "cosigned");
        Ok(line)
    }
}

/// The stored state of `origin`.
fn load(conn: &Connection, origin: &str) -> rusqlite::Result<Option<WitnessedState>> {
    let row: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT size, root FROM witnessed WHERE origin = ?1",
            [origin],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(size, root)| {
        Some(WitnessedState {
            size: u64::try_from(size).ok()?,
            root: root.try_into().ok()?,
        })
    }))
}

/// A refusal, or a failure of the witness itself.
enum Refused {
    Refusal(WitnessRefusal),
    Internal(String),
}

impl Refused {
    fn internal(e: impl std::fmt::Display) -> Refused {
        Refused::Internal(e.to_string())
    }
}

impl From<WitnessRefusal> for Refused {
    fn from(refusal: WitnessRefusal) -> Refused {
        Refused::Refusal(refusal)
    }
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let Ok(body) = String::from_utf8(body.to_vec()) else {
        return (StatusCode::BAD_REQUEST, "the body is not UTF-8\n").into_response();
    };
    let decided = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await;
    match decided {
        Ok(Ok(line)) => (StatusCode::OK, line).into_response(),
        Ok(Err(Refused::Refusal(refusal))) => refusal_response(&refusal),
        Ok(Err(Refused::Internal(message))) => {
            tracing::error!(%message, "add-checkpoint failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "add-checkpoint task failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

fn refusal_response(refusal: &WitnessRefusal) -> Response {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match refusal {
        WitnessRefusal::Conflict { size, .. } | WitnessRefusal::Fork { size } => {
            if matches!(refusal, WitnessRefusal::Fork { .. }) {
                tracing::warn!(%refusal, "refused a checkpoint that contradicts one cosigned");
            }
            (
                status,
                [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                format!("{size}\n"),
            )
                .into_response()
        }
        _ => {
            if matches!(refusal, WitnessRefusal::BadProof { .. }) {
                tracing::warn!(%refusal, "refused a checkpoint whose proof fails");
            }
            (status, format!("{refusal}\n")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkgov_log::checkpoint::{Checkpoint, LogSigner};
    use zkgov_log::tree::{leaf_hash, MemoryTree};

    const ORIGIN: &str = "zkgov.example/log";

    fn site(log: &LogSigner) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let key = Cosigner::generate("w.example").private_key();
        zkgov_keys::files::write_atomically(&dir.path().join("w.key"), key.as_bytes()).unwrap();
        let config = dir.path().join("witness.toml");
        std::fs::write(
            &config,
            format!(
                "key_file = \"w.key\"\ndatabase = \"w.db\"\n[[log]]\norigin = \"{ORIGIN}\"\nkey = \"{}\"\n",
                log.verifier_key()
            ),
        )
        .unwrap();
        (dir, config)
    }

    fn request(log: &LogSigner, tree: &MemoryTree, old: u64, size: u64) -> String {
        AddCheckpoint {
            old_size: old,
            proof: if old == 0 {
                vec![]
            } else {
                zkgov_log::tree::consistency_proof(old, size, tree).unwrap()
            },
            note: log.sign(&Checkpoint {
                origin: ORIGIN.into(),
                size,
                root: tree.root_at(size),
                extensions: vec![],
            }),
        }
        .body()
    }

    #[test]
    fn of_concurrent_requests_from_one_size_exactly_one_moves_the_state() {
        let log = LogSigner::generate(ORIGIN);
        let (_dir, config) = site(&log);
        let witness = Arc::new(Witness::open(WitnessConfig::load(&config).unwrap()).unwrap());
        let mut tree = MemoryTree::new();
        let leaves: Vec<_> = (0..8u8).map(|i| leaf_hash(&[i])).collect();
        tree.append(&leaves);
        let threads: Vec<_> = (1..=8)
            .map(|size| {
                let (witness, body) = (witness.clone(), request(&log, &tree, 0, size));
                std::thread::spawn(move || witness.add_checkpoint(&body).is_ok())
            })
            .collect();
        let accepted = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(accepted, 1);
        // And the state it stored survives the witness.
        drop(witness);
        let witness = Witness::open(WitnessConfig::load(&config).unwrap()).unwrap();
        let conn = witness.state.lock().unwrap();
        let held = load(&conn, ORIGIN).unwrap().unwrap();
        assert_eq!(held.root, tree.root_at(held.size));
    }

    #[test]
    fn a_bad_config_or_key_stops_the_witness_with_the_reason() {
        let log = LogSigner::generate(ORIGIN);
        let (dir, config) = site(&log);
        let text = std::fs::read_to_string(&config).unwrap();
        let problem = |text: String| {
            std::fs::write(&config, text).unwrap();
            WitnessConfig::load(&config).unwrap_err().to_string()
        };
        assert!(problem(text.replace("[[log]]", "[[logs]]")).contains("unknown field"));
        assert!(problem(text.replace(
            &format!("origin = \"{ORIGIN}\""),
            "origin = \"other.example/log\""
        ))
        .contains("named after"));
        assert!(
            problem(text.clone() + &text[text.find("[[log]]").unwrap()..])
                .contains("configured twice")
        );
        assert!(
            problem(text.replace("w.key\"\n", "w.key\"\nlisten = \"nowhere\"\n"))
                .contains("listen")
        );
        std::fs::write(&config, &text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = dir.path().join("w.key");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            let error = Witness::open(WitnessConfig::load(&config).unwrap())
                .err()
                .unwrap()
                .to_string();
            assert!(error.contains("chmod 600"), "{error}");
            // A log key is not a witness key.
            zkgov_keys::files::write_atomically(&key, log.private_key().as_bytes()).unwrap();
            let error = Witness::open(WitnessConfig::load(&config).unwrap())
                .err()
                .unwrap()
                .to_string();
            assert!(error.contains("witness keygen"), "{error}");
        }
    }
}
