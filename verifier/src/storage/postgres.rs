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
use r2d2_postgres::postgres::types::{ToSql, Type};
use r2d2_postgres::postgres::{self, Client, Config, GenericClient, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::sql::{
    self, from_sql_index, Dialect, Param, Query, DECISION_COLUMNS, KEY_COLUMNS, RESULT_COLUMNS,
    ROOT_COLUMNS,
};
use super::{
    plan_append, tree_error, Appended, DecisionRecord, IndexCounts, IndexRecord, KeyRecord,
    NewEntry, ResultRecord, RootRecord, StatementKey, Storage, StorageError, Stored,
};
use zkgov_log::tree::{self, Hash, NodeId, NodeReader};

mod casework;

type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The name errors carry.
const BACKEND: &str = "postgres";

/// The advisory lock that serialises appends ("zkgovlog" in ASCII).
const APPEND_LOCK: i64 = 0x7a6b_676f_766c_6f67;

/// The advisory lock that serialises schema creation ("zkgovsch").
const SCHEMA_LOCK: i64 = 0x7a6b_676f_7673_6368;

/// Connections kept by one store at most.
const POOL_SIZE: u32 = 8;

/// How long a call waits for a free connection.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Creates the tables if missing and checks the schema version, under
/// the schema lock.
fn create_schema(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction().map_err(db)?;
    tx.batch_execute(&format!("SELECT pg_advisory_xact_lock({SCHEMA_LOCK});"))
        .map_err(db)?;
    sql::create_schema(&mut tx, Dialect::Postgres)?;
    tx.commit().map_err(db)
}

impl sql::Row for postgres::Row {
    fn int(&self, column: usize) -> Result<i64> {
        self.int_or_null(column)?
            .ok_or_else(|| StorageError::Corrupt {
                what: format!("column {column} is NULL"),
            })
    }

    /// `INTEGER` columns are read as well as `BIGINT` ones.
    fn int_or_null(&self, column: usize) -> Result<Option<i64>> {
        if self.columns()[column].type_() == &Type::INT4 {
            let int: Option<i32> = self.try_get(column).map_err(db)?;
            Ok(int.map(i64::from))
        } else {
            self.try_get(column).map_err(db)
        }
    }

    fn text(&self, column: usize) -> Result<String> {
        self.try_get(column).map_err(db)
    }

    fn bytes(&self, column: usize) -> Result<Vec<u8>> {
        self.try_get(column).map_err(db)
    }
}

/// The parameters as the `postgres` client takes them.
fn to_sql<'a>(params: &'a [Param<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|param| match param {
            Param::Text(text) => text as &(dyn ToSql + Sync),
            Param::Int(int) => int,
        })
        .collect()
}

/// A client or a transaction.
impl<C: GenericClient> Query for C {
    fn batch(&mut self, sql: &str) -> Result<()> {
        self.batch_execute(sql).map_err(db)
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        GenericClient::execute(self, sql, &to_sql(params)).map_err(db)
    }

    fn rows<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        read: impl FnMut(&dyn sql::Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = self.query(sql, &to_sql(params)).map_err(db)?;
        rows.iter()
            .map(|row| row as &dyn sql::Row)
            .map(read)
            .collect()
    }
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
        .map(|(id, row)| sql::node_hash(id, row.try_get(0).map_err(db)?))
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
                &format!(
                    "INSERT INTO keys ({KEY_COLUMNS}) \
                     SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                     $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::BIGINT[])"
                ),
                &[
                    &indexes(k),
                    &column(k, |r| r.key_id.as_str()),
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
                &format!(
                    "INSERT INTO roots ({ROOT_COLUMNS}) \
                     SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                     $5::BIGINT[])"
                ),
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
                &format!(
                    "INSERT INTO results ({RESULT_COLUMNS}) \
                     SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                     $5::TEXT[], $6::TEXT[], $7::BIGINT[])"
                ),
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
                &format!(
                    "INSERT INTO decisions ({DECISION_COLUMNS}) \
                     SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                     $5::BIGINT[])"
                ),
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
        let (size, others) = sql::appended_since(&mut tx, seen)?;
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
        sql::size(&mut *self.client()?)
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        sql::entries(&mut *self.client()?, start, end)
    }

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        read_nodes_in(&mut *self.client()?, ids)
    }

    fn key(&self, key_id: &str) -> Result<Option<Stored<KeyRecord>>> {
        sql::key(&mut *self.client()?, key_id)
    }

    fn keys(&self) -> Result<Vec<Stored<KeyRecord>>> {
        sql::keys(&mut *self.client()?)
    }

    fn root(&self, registry: &str, root: &str) -> Result<Option<Stored<RootRecord>>> {
        sql::root(&mut *self.client()?, registry, root)
    }

    fn result(
        &self,
        key_id: &str,
        case_id: &str,
        subject_tag: &str,
    ) -> Result<Option<Stored<ResultRecord>>> {
        sql::result(&mut *self.client()?, key_id, case_id, subject_tag)
    }

    fn case_results(&self, case_id: &str) -> Result<Vec<Stored<ResultRecord>>> {
        sql::case_results(&mut *self.client()?, case_id)
    }

    fn case_decisions(&self, case_id: &str) -> Result<Vec<Stored<DecisionRecord>>> {
        sql::case_decisions(&mut *self.client()?, case_id)
    }

    fn index_counts(&self) -> Result<IndexCounts> {
        sql::index_counts(&mut *self.client()?)
    }

    fn index_rows(&self, start: u64, end: u64) -> Result<Vec<Stored<IndexRecord>>> {
        sql::index_rows(&mut *self.client()?, start, end)
    }

    fn rebuild_index(&self, rows: &[Stored<IndexRecord>]) -> Result<()> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db)?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({APPEND_LOCK}); {}",
            sql::CLEAR_INDEX
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
