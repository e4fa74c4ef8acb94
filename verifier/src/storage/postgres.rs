//! PostgreSQL storage: the log and the operational store in a database
//! server, which several zkgov processes may open at once.
//!
//! Several `zkgov serve` instances may share one database
//! (`shared_database = true`). Each holds the acceptance rules' state in
//! memory and appends through [`Storage::append_after`], which hands it,
//! under the append lock, the entries the others committed since it last
//! looked: it judges its own after them, so the log stays one chain.
//!
//! What it guarantees:
//!
//! - **Durability.** Every append commits with `synchronous_commit = on`
//!   (set for its transaction, whatever the database default), so
//!   [`Storage::append`] returns `Ok` only once the commit is flushed to the
//!   server's WAL. That holds only while the server runs with `fsync = on`;
//!   [`PostgresStorage::connect`] logs a warning if it does not.
//! - **Atomic appends.** An append is one transaction: the entries, their
//!   index rows and the new Merkle nodes commit together or not at all, and
//!   foreign keys tie every index row to its entry.
//! - **Concurrency.** Each append first takes a transaction-level advisory
//!   lock (`pg_advisory_xact_lock`) that every zkgov process uses for the
//!   same database, so appends from any number of connections and processes
//!   run one after another, each reading the size (and, with
//!   `append_after`, the entries) its predecessors committed: indexes have
//!   no gaps and no duplicates. Reads take no lock;
//!   the log only grows, so a read sees a consistent prefix of it.
//! - **Schema.** [`PostgresStorage::connect`] creates the tables if missing
//!   under another advisory lock, so services starting at the same moment
//!   against an empty database do not race.
//!
//! - **Encryption.** The URL's `sslmode` has libpq's meanings, over
//!   rustls: `disable` never encrypts; `prefer` (the default) encrypts when
//!   the server offers TLS; `require` refuses a server that does not; both
//!   take any certificate, so they stop eavesdroppers, not a server that
//!   impersonates another. `verify-full` also checks that the certificate
//!   chains to a root the system trusts and names the host.
//!
//! Each append costs a fixed number of round trips, whatever the batch
//! size: duplicates are looked up and rows written with array parameters
//! (`ANY`, `UNNEST`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use r2d2::{NopErrorHandler, Pool, PooledConnection};
use r2d2_postgres::postgres::{self, Client, Config, GenericClient, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    appended_since, plan_append, tree_error, Appended, DecisionRecord, IndexCounts, IndexRecord,
    KeyRecord, NewEntry, ResultRecord, RootRecord, StatementKey, Storage, StorageError, Stored,
};
use zkgov_log::tree::{self, Hash, NodeId, NodeReader};

mod casework;

type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The name errors carry.
const BACKEND: &str = "postgres";

/// The schema version this build writes and understands.
const SCHEMA_VERSION: i32 = 2;

/// The advisory lock that serialises appends ("zkgovlog" in ASCII).
const APPEND_LOCK: i64 = 0x7a6b_676f_766c_6f67;

/// The advisory lock that serialises schema creation ("zkgovsch").
const SCHEMA_LOCK: i64 = 0x7a6b_676f_7673_6368;

/// Connections kept by one store at most.
const POOL_SIZE: u32 = 8;

/// How long a call waits for a free connection.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Version 1 of the schema, the same tables as the SQLite backend's.
/// Every statement is idempotent.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS entries (
    idx BIGINT PRIMARY KEY CHECK (idx >= 0),
    entry BYTEA NOT NULL,
    leaf_hash BYTEA NOT NULL CHECK (octet_length(leaf_hash) = 32)
);
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx BIGINT NOT NULL CHECK (idx >= 0),
    hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY CHECK (key_id <> ''),
    entry_idx BIGINT NOT NULL UNIQUE REFERENCES entries (idx),
    registry TEXT NOT NULL CHECK (registry <> ''),
    policy_name TEXT NOT NULL,
    verifying_key TEXT NOT NULL,
    schema TEXT NOT NULL,
    policy TEXT NOT NULL,
    registered_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS roots (
    entry_idx BIGINT PRIMARY KEY REFERENCES entries (idx),
    department TEXT NOT NULL,
    registry TEXT NOT NULL CHECK (registry <> ''),
    root TEXT NOT NULL CHECK (root <> ''),
    anchored_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS roots_by_registry_root ON roots (registry, root, entry_idx);
CREATE TABLE IF NOT EXISTS results (
    entry_idx BIGINT PRIMARY KEY REFERENCES entries (idx),
    key_id TEXT NOT NULL CHECK (key_id <> ''),
    case_id TEXT NOT NULL CHECK (case_id <> ''),
    subject_tag TEXT NOT NULL CHECK (subject_tag <> ''),
    registry_root TEXT NOT NULL,
    department TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    UNIQUE (key_id, case_id, subject_tag)
);
CREATE INDEX IF NOT EXISTS results_by_case ON results (case_id, entry_idx);
CREATE TABLE IF NOT EXISTS decisions (
    entry_idx BIGINT PRIMARY KEY REFERENCES entries (idx),
    case_id TEXT NOT NULL CHECK (case_id <> ''),
    department TEXT NOT NULL,
    decision TEXT NOT NULL,
    decided_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_case ON decisions (case_id, entry_idx);
";

/// The anchor log and its indexes in a PostgreSQL database, over a pool of
/// connections; see the [module docs](self) for what it guarantees.
///
/// Calls block. The `postgres` client drives each connection on a runtime
/// of its own, so calling this from a thread that runs a tokio runtime
/// panics ("Cannot start a runtime from within a runtime"): async code must
/// call it through `tokio::task::spawn_blocking` or from a plain thread.
pub struct PostgresStorage {
    /// The connections.
    pool: Pool<PostgresConnectionManager<MakeRustlsConnect>>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

/// What a `postgres` error says, with the server's message and the causes
/// that the error's own `Display` leaves out.
fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut message = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            message.push_str(&format!(" ({detail})"));
        }
        return message;
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// Maps a `postgres` error to [`StorageError::Backend`].
fn db(error: postgres::Error) -> StorageError {
    StorageError::Backend {
        backend: BACKEND,
        message: describe(&error),
    }
}

/// Maps a pool error to [`StorageError::Backend`].
fn pool_error(error: r2d2::Error) -> StorageError {
    StorageError::Backend {
        backend: BACKEND,
        message: format!("no database connection: {error}"),
    }
}

/// `message` with every occurrence of `secret` replaced.
fn scrub(message: String, secret: Option<&[u8]>) -> String {
    match secret.and_then(|s| std::str::from_utf8(s).ok()) {
        Some(secret) if !secret.is_empty() => message.replace(secret, "***"),
        _ => message,
    }
}

/// The raw password of a URL's userinfo, if it has one.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

/// Where a configuration points, for error messages: never the password.
fn describe_target(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}, database `{}`, user `{}`",
        config.get_dbname().unwrap_or("(default)"),
        config.get_user().unwrap_or("(default)")
    )
}

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`
    /// or a key-value connection string), creating the schema if missing.
    /// `sslmode` is read as the [module docs](self) say (`verify-full` only
    /// in a URL). Error messages never include the password.
    pub fn connect(url: &str) -> Result<PostgresStorage> {
        let invalid = |message: String| StorageError::Backend {
            backend: BACKEND,
            message: scrub(
                format!("invalid database URL: {message}"),
                url_password(url).map(str::as_bytes),
            ),
        };
        let (parsed, verify_full) = take_verify_full(url).map_err(invalid)?;
        let config: Config = parsed.parse().map_err(|e| invalid(describe(&e)))?;
        let ssl_mode = match (verify_full, config.get_ssl_mode()) {
            (true, _) => "verify-full",
            (false, postgres::config::SslMode::Disable) => "disable",
            (false, postgres::config::SslMode::Require) => "require",
            (false, _) => "prefer",
        };
        let tls = tls_connector(verify_full).map_err(|message| StorageError::Backend {
            backend: BACKEND,
            message,
        })?;
        let password = config.get_password().map(<[u8]>::to_vec);
        let failed = |what: &str, e: postgres::Error| StorageError::Backend {
            backend: BACKEND,
            message: scrub(
                format!(
                    "{what} ({}, sslmode {ssl_mode}): {}",
                    describe_target(&config),
                    describe(&e)
                ),
                password.as_deref(),
            ),
        };
        let mut client = config
            .connect(tls.clone())
            .map_err(|e| failed("connecting", e))?;
        create_schema(&mut client).map_err(|e| match e {
            StorageError::Backend { message, .. } => StorageError::Backend {
                backend: BACKEND,
                message: scrub(
                    format!(
                        "creating the schema ({}): {message}",
                        describe_target(&config)
                    ),
                    password.as_deref(),
                ),
            },
            other => other,
        })?;
        if let Ok(row) = client.query_one("SHOW fsync", &[]) {
            if row.get::<_, String>(0) != "on" {
                tracing::warn!(
                    "the PostgreSQL server runs with fsync = off: committed appends can be lost \
                     in a crash"
                );
            }
        }
        drop(client);

        let pool = Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECTION_TIMEOUT)
            // Failures reach the caller as errors; r2d2's default handler
            // would also log them.
            .error_handler(Box::new(NopErrorHandler))
            .build(PostgresConnectionManager::new(config.clone(), tls))
            .map_err(|e| StorageError::Backend {
                backend: BACKEND,
                message: scrub(
                    format!("connecting ({}): {e}", describe_target(&config)),
                    password.as_deref(),
                ),
            })?;
        Ok(PostgresStorage { pool })
    }

    /// A pooled connection.
    fn client(&self) -> Result<PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>> {
        self.pool.get().map_err(pool_error)
    }
}

/// One client connection to the database at `url`, as
/// [`PostgresStorage::connect`] makes them (the same `sslmode` handling
/// over rustls), without creating any table: for reading a department's own
/// data. Also returns where it points (host, port, database, user), for
/// messages. Neither the errors nor the description include the password.
pub fn connect_client(url: &str) -> Result<(Client, String), String> {
    let secret = url_password(url).map(str::to_string);
    let scrubbed = |message: String| scrub(message, secret.as_deref().map(str::as_bytes));
    let (parsed, verify_full) =
        take_verify_full(url).map_err(|m| scrubbed(format!("invalid database URL: {m}")))?;
    let config: Config = parsed
        .parse()
        .map_err(|e| scrubbed(format!("invalid database URL: {}", describe(&e))))?;
    let ssl_mode = match (verify_full, config.get_ssl_mode()) {
        (true, _) => "verify-full",
        (false, postgres::config::SslMode::Disable) => "disable",
        (false, postgres::config::SslMode::Require) => "require",
        (false, _) => "prefer",
    };
    let target = format!("{}, sslmode {ssl_mode}", describe_target(&config));
    let tls = tls_connector(verify_full)?;
    let password = config.get_password().map(<[u8]>::to_vec);
    let client = config.connect(tls).map_err(|e| {
        scrub(
            scrubbed(format!("connecting ({target}): {}", describe(&e))),
            password.as_deref(),
        )
    })?;
    Ok((client, target))
}

/// What a `postgres` error says, for callers of [`connect_client`]: the
/// server's message and the causes `Display` leaves out.
pub fn describe_error(error: &postgres::Error) -> String {
    describe(error)
}

/// `url` with `sslmode=verify-full` replaced by `sslmode=require`, which is
/// what the `postgres` client understands (it checks no certificate
/// itself), and whether it was there: then the TLS connector checks the
/// certificate. `sslmode`s that libpq has and this store does not are
/// refused rather than read as something weaker.
fn take_verify_full(url: &str) -> Result<(String, bool), String> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let Some((base, query)) = url.split_once('?').filter(|_| is_url) else {
        return Ok((url.to_string(), false));
    };
    let mut verify_full = false;
    let mut params = Vec::new();
    for param in query.split('&') {
        match param.strip_prefix("sslmode=") {
            Some("verify-full") => {
                verify_full = true;
                params.push("sslmode=require");
            }
            Some(mode @ ("allow" | "verify-ca")) => {
                return Err(format!(
                    "sslmode={mode} is not supported; use disable, prefer, require or verify-full"
                ))
            }
            _ => params.push(param),
        }
    }
    Ok((format!("{base}?{}", params.join("&")), verify_full))
}

/// The TLS connector: checking certificates against the system's roots for
/// `verify-full`, taking any certificate otherwise (libpq's `prefer` and
/// `require`; `disable` never uses it).
fn tls_connector(verify_full: bool) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("setting up TLS: {e}"))?;
    let config = if verify_full {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
            return Err(format!(
                "sslmode=verify-full, but no trusted root certificate was found on this system \
                 (SSL_CERT_FILE, SSL_CERT_DIR or the system's store){}",
                if errors.is_empty() {
                    String::new()
                } else {
                    format!(": {}", errors.join("; "))
                }
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    Ok(MakeRustlsConnect::new(config))
}

/// Takes any certificate, as libpq's `require` does: the connection is
/// encrypted, but the server is not authenticated. The handshake's
/// signatures are still checked, against the certificate the server sent.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Creates the tables if missing and checks the schema version.
fn create_schema(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction().map_err(db)?;
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); {SCHEMA} {}",
        casework::SCHEMA
    ))
    .map_err(db)?;
    let version: Option<i32> = tx
        .query_one("SELECT MAX(version) FROM schema_version", &[])
        .map_err(db)?
        .get(0);
    match version {
        None => {
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .map_err(db)?;
        }
        Some(SCHEMA_VERSION) => {}
        Some(other) => {
            return Err(super::version_mismatch(
                i64::from(other),
                i64::from(SCHEMA_VERSION),
            ))
        }
    }
    tx.commit().map_err(db)
}

/// A stored index read back.
fn from_sql_index(index: i64) -> Result<u64> {
    u64::try_from(index).map_err(|_| StorageError::Corrupt {
        what: format!("negative log index {index}"),
    })
}

/// The log size.
fn size_in(client: &mut impl GenericClient) -> Result<u64> {
    let size: i64 = client
        .query_one("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries", &[])
        .map_err(db)?
        .get(0);
    from_sql_index(size)
}

/// The entries `start..end`. No snapshot is needed across the two
/// queries: the log only grows, so entries below the size read first are
/// there for the second.
fn entries_in(client: &mut impl GenericClient, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
    let size = size_in(client)?;
    if start > end || end > size {
        return Err(StorageError::OutOfRange { start, end, size });
    }
    if start == end {
        return Ok(Vec::new());
    }
    read_range(client, start, end)
}

/// The entries `start..end`, which the caller knows are in the log (so
/// that both fit in i64), each checked to be at its index.
fn read_range(client: &mut impl GenericClient, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
    let (lo, hi) = (start as i64, end as i64);
    let rows = client
        .query(
            "SELECT idx, entry FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            &[&lo, &hi],
        )
        .map_err(db)?;
    let mut entries = Vec::with_capacity(rows.len());
    for (expected, row) in (lo..hi).zip(&rows) {
        if row.get::<_, i64>(0) != expected {
            return Err(StorageError::Corrupt {
                what: format!("entry {expected} is missing"),
            });
        }
        entries.push(row.get(1));
    }
    if entries.len() as u64 != end - start {
        return Err(StorageError::Corrupt {
            what: format!("entry {} is missing", start + entries.len() as u64),
        });
    }
    Ok(entries)
}

/// Reads nodes in one query, in the order asked.
fn read_nodes_in(client: &mut impl GenericClient, ids: &[NodeId]) -> Result<Vec<Hash>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let levels: Vec<i32> = ids.iter().map(|id| i32::from(id.level)).collect();
    // An index beyond i64::MAX cannot be stored; -1 matches no row, so it
    // reads as missing.
    let indexes: Vec<i64> = ids
        .iter()
        .map(|id| i64::try_from(id.index).unwrap_or(-1))
        .collect();
    let rows = client
        .query(
            "SELECT n.hash FROM UNNEST($1::INTEGER[], $2::BIGINT[]) WITH ORDINALITY AS q (level, idx, ord) \
             LEFT JOIN nodes n ON n.level = q.level AND n.idx = q.idx ORDER BY q.ord",
            &[&levels, &indexes],
        )
        .map_err(db)?;
    if rows.len() != ids.len() {
        return Err(StorageError::Corrupt {
            what: format!("asked for {} nodes, read {}", ids.len(), rows.len()),
        });
    }
    ids.iter()
        .zip(rows)
        .map(|(id, row)| {
            let hash: Option<Vec<u8>> = row.get(0);
            let hash = hash.ok_or_else(|| StorageError::Corrupt {
                what: format!("node at level {} index {} is missing", id.level, id.index),
            })?;
            hash.try_into().map_err(|_| StorageError::Corrupt {
                what: format!(
                    "node at level {} index {} is not 32 bytes",
                    id.level, id.index
                ),
            })
        })
        .collect()
}

/// Reads nodes inside the append's transaction.
struct TxNodes<'a, 'b>(RefCell<&'a mut Transaction<'b>>);

impl NodeReader for TxNodes<'_, '_> {
    type Error = StorageError;

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>> {
        read_nodes_in(&mut **self.0.borrow_mut(), ids)
    }
}

/// The statements of `entries` already in the store, with their indexes,
/// looked up in two queries.
#[derive(Default)]
struct Existing {
    /// Keys by id.
    keys: HashMap<String, u64>,
    /// Results by (key id, case, subject tag).
    results: HashMap<(String, String, String), u64>,
}

impl Existing {
    /// Looks up every statement of `entries`.
    fn fetch(tx: &mut Transaction<'_>, entries: &[NewEntry]) -> Result<Existing> {
        let mut key_ids = Vec::new();
        let (mut r_keys, mut r_cases, mut r_tags) = (Vec::new(), Vec::new(), Vec::new());
        for entry in entries {
            match entry.record.statement_key() {
                Some(StatementKey::Key(key_id)) => key_ids.push(key_id),
                Some(StatementKey::Result(key_id, case_id, tag)) => {
                    r_keys.push(key_id);
                    r_cases.push(case_id);
                    r_tags.push(tag);
                }
                None => {}
            }
        }
        let mut existing = Existing::default();
        if !key_ids.is_empty() {
            for row in tx
                .query(
                    "SELECT key_id, entry_idx FROM keys WHERE key_id = ANY($1)",
                    &[&key_ids],
                )
                .map_err(db)?
            {
                existing
                    .keys
                    .insert(row.get(0), from_sql_index(row.get(1))?);
            }
        }
        if !r_keys.is_empty() {
            for row in tx
                .query(
                    "SELECT r.key_id, r.case_id, r.subject_tag, r.entry_idx FROM results r \
                     JOIN UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS s (key_id, case_id, subject_tag) \
                     ON r.key_id = s.key_id AND r.case_id = s.case_id \
                     AND r.subject_tag = s.subject_tag",
                    &[&r_keys, &r_cases, &r_tags],
                )
                .map_err(db)?
            {
                existing.results.insert(
                    (row.get(0), row.get(1), row.get(2)),
                    from_sql_index(row.get(3))?,
                );
            }
        }
        Ok(existing)
    }

    /// The index holding `statement`, if any.
    fn get(&self, statement: StatementKey<'_>) -> Option<u64> {
        match statement {
            StatementKey::Key(key_id) => self.keys.get(key_id).copied(),
            StatementKey::Result(key_id, case_id, tag) => self
                .results
                .get(&(key_id.to_string(), case_id.to_string(), tag.to_string()))
                .copied(),
        }
    }
}

/// Column arrays for the index rows of one append, one `UNNEST` insert per
/// table.
#[derive(Default)]
struct IndexRows<'a> {
    /// `keys` rows.
    keys: Vec<(i64, &'a KeyRecord)>,
    /// `roots` rows.
    roots: Vec<(i64, &'a RootRecord)>,
    /// `results` rows.
    results: Vec<(i64, &'a ResultRecord)>,
    /// `decisions` rows.
    decisions: Vec<(i64, &'a DecisionRecord)>,
}

impl<'a> IndexRows<'a> {
    /// Adds the index row of the entry at `idx`.
    fn push(&mut self, idx: i64, record: &'a IndexRecord) {
        match record {
            IndexRecord::Key(k) => self.keys.push((idx, k)),
            IndexRecord::Root(r) => self.roots.push((idx, r)),
            IndexRecord::Result(r) => self.results.push((idx, r)),
            IndexRecord::Decision(d) => self.decisions.push((idx, d)),
            IndexRecord::Unindexed => {}
        }
    }

    /// Inserts every row.
    fn insert(&self, tx: &mut Transaction<'_>) -> Result<()> {
        fn column<'r, T, U>(rows: &[(i64, &'r T)], f: impl Fn(&'r T) -> U) -> Vec<U> {
            rows.iter().map(|&(_, r)| f(r)).collect()
        }
        fn indexes<T>(rows: &[(i64, &T)]) -> Vec<i64> {
            rows.iter().map(|&(i, _)| i).collect()
        }
        if !self.keys.is_empty() {
            let k = &self.keys;
            tx.execute(
                "INSERT INTO keys (key_id, entry_idx, registry, policy_name, verifying_key, \
                 schema, policy, registered_at) \
                 SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], \
                 $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::BIGINT[])",
                &[
                    &column(k, |r| r.key_id.as_str()),
                    &indexes(k),
                    &column(k, |r| r.registry.as_str()),
                    &column(k, |r| r.policy_name.as_str()),
                    &column(k, |r| r.verifying_key.as_str()),
                    &column(k, |r| r.schema.as_str()),
                    &column(k, |r| r.policy.as_str()),
                    &column(k, |r| r.registered_at),
                ],
            )
            .map_err(db)?;
        }
        if !self.roots.is_empty() {
            let r = &self.roots;
            tx.execute(
                "INSERT INTO roots (entry_idx, department, registry, root, anchored_at) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                 $5::BIGINT[])",
                &[
                    &indexes(r),
                    &column(r, |r| r.department.as_str()),
                    &column(r, |r| r.registry.as_str()),
                    &column(r, |r| r.root.as_str()),
                    &column(r, |r| r.anchored_at),
                ],
            )
            .map_err(db)?;
        }
        if !self.results.is_empty() {
            let r = &self.results;
            tx.execute(
                "INSERT INTO results (entry_idx, key_id, case_id, subject_tag, registry_root, \
                 department, accepted_at) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                 $5::TEXT[], $6::TEXT[], $7::BIGINT[])",
                &[
                    &indexes(r),
                    &column(r, |r| r.key_id.as_str()),
                    &column(r, |r| r.case_id.as_str()),
                    &column(r, |r| r.subject_tag.as_str()),
                    &column(r, |r| r.registry_root.as_str()),
                    &column(r, |r| r.department.as_str()),
                    &column(r, |r| r.accepted_at),
                ],
            )
            .map_err(db)?;
        }
        if !self.decisions.is_empty() {
            let d = &self.decisions;
            tx.execute(
                "INSERT INTO decisions (entry_idx, case_id, department, decision, decided_at) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                 $5::BIGINT[])",
                &[
                    &indexes(d),
                    &column(d, |r| r.case_id.as_str()),
                    &column(d, |r| r.department.as_str()),
                    &column(d, |r| r.decision.as_str()),
                    &column(d, |r| r.decided_at),
                ],
            )
            .map_err(db)?;
        }
        Ok(())
    }
}

/// Columns of `keys` in the order [`key_row`] reads them.
const KEY_COLUMNS: &str =
    "entry_idx, key_id, registry, policy_name, verifying_key, schema, policy, registered_at";

/// Reads a row of [`KEY_COLUMNS`].
fn key_row(row: &postgres::Row) -> Result<Stored<KeyRecord>> {
    Ok(Stored {
        index: from_sql_index(row.get(0))?,
        record: KeyRecord {
            key_id: row.get(1),
            registry: row.get(2),
            policy_name: row.get(3),
            verifying_key: row.get(4),
            schema: row.get(5),
            policy: row.get(6),
            registered_at: row.get(7),
        },
    })
}

/// Columns of `roots` in the order [`root_row`] reads them.
const ROOT_COLUMNS: &str = "entry_idx, department, registry, root, anchored_at";

/// Reads a row of [`ROOT_COLUMNS`].
fn root_row(row: &postgres::Row) -> Result<Stored<RootRecord>> {
    Ok(Stored {
        index: from_sql_index(row.get(0))?,
        record: RootRecord {
            department: row.get(1),
            registry: row.get(2),
            root: row.get(3),
            anchored_at: row.get(4),
        },
    })
}

/// Columns of `results` in the order [`result_row`] reads them.
const RESULT_COLUMNS: &str =
    "entry_idx, key_id, case_id, subject_tag, registry_root, department, accepted_at";

/// Reads a row of [`RESULT_COLUMNS`].
fn result_row(row: &postgres::Row) -> Result<Stored<ResultRecord>> {
    Ok(Stored {
        index: from_sql_index(row.get(0))?,
        record: ResultRecord {
            key_id: row.get(1),
            case_id: row.get(2),
            subject_tag: row.get(3),
            registry_root: row.get(4),
            department: row.get(5),
            accepted_at: row.get(6),
        },
    })
}

/// Columns of `decisions` in the order [`decision_row`] reads them.
const DECISION_COLUMNS: &str = "entry_idx, case_id, department, decision, decided_at";

/// Reads a row of [`DECISION_COLUMNS`].
fn decision_row(row: &postgres::Row) -> Result<Stored<DecisionRecord>> {
    Ok(Stored {
        index: from_sql_index(row.get(0))?,
        record: DecisionRecord {
            case_id: row.get(1),
            department: row.get(2),
            decision: row.get(3),
            decided_at: row.get(4),
        },
    })
}

impl PostgresStorage {
    /// Runs a query and reads every row.
    fn query_all<T>(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        read: fn(&postgres::Row) -> Result<Stored<T>>,
    ) -> Result<Vec<Stored<T>>> {
        let rows = self.client()?.query(sql, params).map_err(db)?;
        rows.iter().map(read).collect()
    }

    /// Runs a query and reads its row, if any.
    fn query_one<T>(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        read: fn(&postgres::Row) -> Result<Stored<T>>,
    ) -> Result<Option<Stored<T>>> {
        let row = self.client()?.query_opt(sql, params).map_err(db)?;
        row.as_ref().map(read).transpose()
    }
}

impl Storage for PostgresStorage {
    fn append_after(
        &self,
        seen: Option<u64>,
        build: &mut dyn FnMut(&[Vec<u8>]) -> Vec<NewEntry>,
    ) -> Result<Vec<Appended>> {
        let mut client = self.client()?;
        // Dropping `tx` on any early return rolls everything back.
        let mut tx = client.transaction().map_err(db)?;
        // The lock is held until commit or rollback. Every statement after
        // it sees every append committed before it was granted.
        tx.batch_execute(&format!(
            "SET LOCAL synchronous_commit = on; SELECT pg_advisory_xact_lock({APPEND_LOCK});"
        ))
        .map_err(db)?;
        let size = size_in(&mut tx)?;
        let others = appended_since(seen, size, |start, end| read_range(&mut tx, start, end))?;
        let entries = build(&others);
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let existing = Existing::fetch(&mut tx, &entries)?;
        let plan = plan_append(size, &entries, |statement| Ok(existing.get(statement)))?;
        if plan.new.is_empty() {
            return Ok(plan.outcomes);
        }
        let first = i64::try_from(size).map_err(|_| StorageError::Corrupt {
            what: format!("log size {size} beyond any index"),
        })?;
        let mut indexes = Vec::with_capacity(plan.new.len());
        let mut bytes = Vec::with_capacity(plan.new.len());
        let mut leaves = Vec::with_capacity(plan.new.len());
        let mut index_rows = IndexRows::default();
        for (offset, entry) in plan.new.iter().enumerate() {
            let idx = first
                .checked_add(offset as i64)
                .ok_or_else(|| StorageError::Corrupt {
                    what: "the log is full".to_string(),
                })?;
            indexes.push(idx);
            bytes.push(entry.entry.as_slice());
            leaves.push(tree::leaf_hash(&entry.entry));
            index_rows.push(idx, &entry.record);
        }
        let leaf_bytes: Vec<&[u8]> = leaves.iter().map(|h| h.as_slice()).collect();
        tx.execute(
            "INSERT INTO entries (idx, entry, leaf_hash) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[])",
            &[&indexes, &bytes, &leaf_bytes],
        )
        .map_err(db)?;
        index_rows.insert(&mut tx)?;
        let nodes =
            tree::append(size, &leaves, &TxNodes(RefCell::new(&mut tx))).map_err(tree_error)?;
        let levels: Vec<i32> = nodes.iter().map(|(id, _)| i32::from(id.level)).collect();
        // Node indexes are at most the last leaf index, which fits.
        let node_indexes: Vec<i64> = nodes.iter().map(|(id, _)| id.index as i64).collect();
        let hashes: Vec<&[u8]> = nodes.iter().map(|(_, h)| h.as_slice()).collect();
        tx.execute(
            "INSERT INTO nodes (level, idx, hash) \
             SELECT * FROM UNNEST($1::INTEGER[], $2::BIGINT[], $3::BYTEA[])",
            &[&levels, &node_indexes, &hashes],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(plan.outcomes)
    }

    fn size(&self) -> Result<u64> {
        size_in(&mut *self.client()?)
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        entries_in(&mut *self.client()?, start, end)
    }

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        read_nodes_in(&mut *self.client()?, ids)
    }

    fn key(&self, key_id: &str) -> Result<Option<Stored<KeyRecord>>> {
        self.query_one(
            &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = $1"),
            &[&key_id],
            key_row,
        )
    }

    fn keys(&self) -> Result<Vec<Stored<KeyRecord>>> {
        self.query_all(
            &format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY entry_idx"),
            &[],
            key_row,
        )
    }

    fn root(&self, registry: &str, root: &str) -> Result<Option<Stored<RootRecord>>> {
        self.query_one(
            &format!(
                "SELECT {ROOT_COLUMNS} FROM roots WHERE registry = $1 AND root = $2 \
                 ORDER BY entry_idx DESC LIMIT 1"
            ),
            &[&registry, &root],
            root_row,
        )
    }

    fn result(
        &self,
        key_id: &str,
        case_id: &str,
        subject_tag: &str,
    ) -> Result<Option<Stored<ResultRecord>>> {
        self.query_one(
            &format!(
                "SELECT {RESULT_COLUMNS} FROM results \
                 WHERE key_id = $1 AND case_id = $2 AND subject_tag = $3"
            ),
            &[&key_id, &case_id, &subject_tag],
            result_row,
        )
    }

    fn case_results(&self, case_id: &str) -> Result<Vec<Stored<ResultRecord>>> {
        self.query_all(
            &format!("SELECT {RESULT_COLUMNS} FROM results WHERE case_id = $1 ORDER BY entry_idx"),
            &[&case_id],
            result_row,
        )
    }

    fn case_decisions(&self, case_id: &str) -> Result<Vec<Stored<DecisionRecord>>> {
        self.query_all(
            &format!(
                "SELECT {DECISION_COLUMNS} FROM decisions WHERE case_id = $1 ORDER BY entry_idx"
            ),
            &[&case_id],
            decision_row,
        )
    }

    fn index_counts(&self) -> Result<IndexCounts> {
        let row = self
            .client()?
            .query_one(
                "SELECT (SELECT COUNT(*) FROM keys), (SELECT COUNT(*) FROM roots), \
                 (SELECT COUNT(*) FROM results), (SELECT COUNT(*) FROM decisions)",
                &[],
            )
            .map_err(db)?;
        let count = |i: usize| from_sql_index(row.get(i));
        Ok(IndexCounts {
            keys: count(0)?,
            roots: count(1)?,
            results: count(2)?,
            decisions: count(3)?,
        })
    }

    fn index_rows(&self, start: u64, end: u64) -> Result<Vec<Stored<IndexRecord>>> {
        let (Ok(lo), hi) = (i64::try_from(start), i64::try_from(end).unwrap_or(i64::MAX)) else {
            return Ok(Vec::new());
        };
        let range = "WHERE entry_idx >= $1 AND entry_idx < $2";
        let mut rows: Vec<Stored<IndexRecord>> = Vec::new();
        rows.extend(super::as_records(
            self.query_all(
                &format!("SELECT {KEY_COLUMNS} FROM keys {range}"),
                &[&lo, &hi],
                key_row,
            )?,
            IndexRecord::Key,
        ));
        rows.extend(super::as_records(
            self.query_all(
                &format!("SELECT {ROOT_COLUMNS} FROM roots {range}"),
                &[&lo, &hi],
                root_row,
            )?,
            IndexRecord::Root,
        ));
        rows.extend(super::as_records(
            self.query_all(
                &format!("SELECT {RESULT_COLUMNS} FROM results {range}"),
                &[&lo, &hi],
                result_row,
            )?,
            IndexRecord::Result,
        ));
        rows.extend(super::as_records(
            self.query_all(
                &format!("SELECT {DECISION_COLUMNS} FROM decisions {range}"),
                &[&lo, &hi],
                decision_row,
            )?,
            IndexRecord::Decision,
        ));
        rows.sort_by_key(|r| r.index);
        Ok(rows)
    }

    fn rebuild_index(&self, rows: &[Stored<IndexRecord>]) -> Result<()> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db)?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({APPEND_LOCK}); \
             DELETE FROM keys; DELETE FROM roots; DELETE FROM results; DELETE FROM decisions;"
        ))
        .map_err(db)?;
        let mut index_rows = IndexRows::default();
        for row in rows {
            let idx = i64::try_from(row.index).map_err(|_| StorageError::Corrupt {
                what: format!("log index {} beyond i64", row.index),
            })?;
            index_rows.push(idx, &row.record);
        }
        index_rows.insert(&mut tx)?;
        tx.commit().map_err(db)
    }
}
