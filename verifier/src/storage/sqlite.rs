//! SQLite storage: the embedded default backend, one database file.
//!
//! What it guarantees:
//!
//! - **Durability.** The database runs in WAL journal mode with
//!   `synchronous = FULL`, so the WAL is fsynced at every commit: once
//!   [`Storage::append`] returns `Ok`, the entries survive a crash or a power
//!   loss.
//! - **Atomic appends.** An append is one transaction: the entries, their
//!   index rows and the new Merkle nodes commit together or not at all, and
//!   foreign keys tie every index row to its entry.
//! - **Concurrency.** Appends in one process queue on a single writer
//!   connection. Each append opens its transaction with `BEGIN IMMEDIATE`,
//!   which takes SQLite's write lock before the log size is read, so writers
//!   in other processes wait (up to the busy timeout) instead of racing for
//!   the same index. Reads use a small pool of read-only connections; WAL
//!   gives each read transaction a snapshot, so readers never block writers
//!   and never see half an append.
//!
//! The file must live on a local file system: WAL needs shared memory
//! between the processes that open it, which network file systems do not
//! provide.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::rusqlite::{
    self, params, Connection, OptionalExtension, Row, TransactionBehavior,
};
use r2d2_sqlite::SqliteConnectionManager;

use super::{
    appended_since, plan_append, tree_error, Appended, DecisionRecord, IndexCounts, IndexRecord,
    KeyRecord, NewEntry, ResultRecord, RootRecord, StatementKey, Storage, StorageError, Stored,
};
use zkgov_log::tree::{self, Hash, NodeId, NodeReader};

mod casework;

type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The name errors carry.
const BACKEND: &str = "sqlite";

/// The schema version this build writes and understands.
const SCHEMA_VERSION: i64 = 2;

/// How long a writer waits for another process's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Read connections kept open.
const READERS: u32 = 4;

/// Version 1 of the schema. Every statement is idempotent, so opening an
/// existing store runs it harmlessly. `STRICT` tables make SQLite enforce
/// the column types, as PostgreSQL does.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY
) STRICT;
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY CHECK (idx >= 0),
    entry BLOB NOT NULL,
    leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)
) STRICT;
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx INTEGER NOT NULL CHECK (idx >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY CHECK (key_id <> ''),
    entry_idx INTEGER NOT NULL UNIQUE REFERENCES entries (idx),
    registry TEXT NOT NULL CHECK (registry <> ''),
    policy_name TEXT NOT NULL,
    verifying_key TEXT NOT NULL,
    schema TEXT NOT NULL,
    policy TEXT NOT NULL,
    registered_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS roots (
    entry_idx INTEGER PRIMARY KEY REFERENCES entries (idx),
    department TEXT NOT NULL,
    registry TEXT NOT NULL CHECK (registry <> ''),
    root TEXT NOT NULL CHECK (root <> ''),
    anchored_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS roots_by_registry_root ON roots (registry, root, entry_idx);
CREATE TABLE IF NOT EXISTS results (
    entry_idx INTEGER PRIMARY KEY REFERENCES entries (idx),
    key_id TEXT NOT NULL CHECK (key_id <> ''),
    case_id TEXT NOT NULL CHECK (case_id <> ''),
    subject_tag TEXT NOT NULL CHECK (subject_tag <> ''),
    registry_root TEXT NOT NULL,
    department TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    UNIQUE (key_id, case_id, subject_tag)
) STRICT;
CREATE INDEX IF NOT EXISTS results_by_case ON results (case_id, entry_idx);
CREATE TABLE IF NOT EXISTS decisions (
    entry_idx INTEGER PRIMARY KEY REFERENCES entries (idx),
    case_id TEXT NOT NULL CHECK (case_id <> ''),
    department TEXT NOT NULL,
    decision TEXT NOT NULL,
    decided_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS decisions_by_case ON decisions (case_id, entry_idx);
";

/// The anchor log and its indexes in an SQLite file. Calls block; see the
/// [module docs](self) for what it guarantees.
pub struct SqliteStorage {
    /// The one connection that writes, so appends in this process queue here
    /// rather than spin on SQLite's busy handler.
    writer: Mutex<Connection>,
    /// Read-only connections.
    readers: Pool<SqliteConnectionManager>,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").finish_non_exhaustive()
    }
}

/// Maps any SQLite or pool error to [`StorageError::Backend`].
fn db(error: impl std::fmt::Display) -> StorageError {
    StorageError::Backend {
        backend: BACKEND,
        message: error.to_string(),
    }
}

/// Sets what every connection needs; `synchronous` and `foreign_keys` are
/// per connection in SQLite, not stored in the file.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
}

impl SqliteStorage {
    /// Opens the store in the file at `path`, creating the file and the
    /// schema if they are missing.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStorage> {
        let path = path.as_ref();
        let opening = |e: rusqlite::Error| db(format!("opening {}: {e}", path.display()));
        let mut writer = Connection::open(path).map_err(opening)?;
        configure(&writer).map_err(opening)?;
        // The file holds case secrets (the operational tables): its owner
        // alone may read it, and so the WAL and shared-memory files, which
        // SQLite creates with the main file's mode.
        owner_only(path)?;
        // The journal mode is a property of the file; it cannot change
        // inside a transaction, so it is set before the schema.
        let mode = set_wal(&writer).map_err(opening)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(db(format!(
                "{}: cannot use WAL journal mode (got `{mode}`); the store needs a file on a \
                 local file system",
                path.display()
            )));
        }
        create_schema(&mut writer).map_err(|e| match e {
            StorageError::Backend { message, .. } => db(format!(
                "creating the schema in {}: {message}",
                path.display()
            )),
            other => other,
        })?;

        let manager = SqliteConnectionManager::file(path).with_init(|conn| {
            configure(conn)?;
            conn.execute_batch("PRAGMA query_only = ON;")
        });
        let readers = Pool::builder()
            .max_size(READERS)
            .min_idle(Some(1))
            .connection_timeout(BUSY_TIMEOUT)
            .build(manager)
            .map_err(|e| db(format!("opening {}: {e}", path.display())))?;
        Ok(SqliteStorage {
            writer: Mutex::new(writer),
            readers,
        })
    }

    /// A pooled read-only connection.
    fn reader(&self) -> Result<PooledConnection<SqliteConnectionManager>> {
        self.readers.get().map_err(db)
    }
}

/// Puts the file in WAL mode, and says the mode it is in. Switching a new
/// file's journal needs an exclusive lock, and when several processes open
/// a new file at once their switches can deadlock, which SQLite answers
/// with `SQLITE_BUSY` at once, without calling the busy handler: so this
/// retries, up to the busy timeout.
fn set_wal(conn: &Connection) -> rusqlite::Result<String> {
    let started = std::time::Instant::now();
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            answer => return answer,
        }
    }
}

/// Makes the database file readable by its owner only.
fn owner_only(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            db(format!(
                "{}: cannot make it private (mode 600): {e}",
                path.display()
            ))
        })?;
    }
    Ok(())
}

/// Creates the tables if missing and checks the schema version, under the
/// write lock so two processes opening a new file do not race.
fn create_schema(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    tx.execute_batch(SCHEMA).map_err(db)?;
    tx.execute_batch(casework::SCHEMA).map_err(db)?;
    let version: Option<i64> = tx
        .query_row("SELECT MAX(version) FROM schema_version", [], |row| {
            row.get(0)
        })
        .map_err(db)?;
    match version {
        None => {
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [SCHEMA_VERSION],
            )
            .map_err(db)?;
        }
        Some(SCHEMA_VERSION) => {}
        Some(other) => return Err(super::version_mismatch(other as i64, SCHEMA_VERSION as i64)),
    }
    tx.commit().map_err(db)
}

/// A log index as SQLite stores it. Indexes beyond `i64::MAX` cannot
/// exist, so callers treat this failure as "not there".
fn to_sql_index(index: u64) -> Option<i64> {
    i64::try_from(index).ok()
}

/// A stored index read back.
fn from_sql_index(index: i64) -> Result<u64> {
    u64::try_from(index).map_err(|_| StorageError::Corrupt {
        what: format!("negative log index {index}"),
    })
}

/// The log size as seen by `conn`'s current transaction.
fn size_in(conn: &Connection) -> Result<u64> {
    let size: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(db)?;
    from_sql_index(size)
}

/// The entries `start..end` as seen by `conn`'s current transaction.
fn entries_in(tx: &Connection, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
    let size = size_in(tx)?;
    if start > end || end > size {
        return Err(StorageError::OutOfRange { start, end, size });
    }
    if start == end {
        return Ok(Vec::new());
    }
    read_range(tx, start, end)
}

/// The entries `start..end`, which the caller knows are in the log (so
/// that both fit in i64), each checked to be at its index.
fn read_range(tx: &Connection, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
    let (lo, hi) = (start as i64, end as i64);
    let mut stmt = tx
        .prepare_cached("SELECT idx, entry FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")
        .map_err(db)?;
    let rows = stmt
        .query_map([lo, hi], |row| Ok((row.get::<_, i64>(0)?, row.get(1)?)))
        .map_err(db)?;
    let mut entries = Vec::with_capacity((end - start) as usize);
    for (expected, row) in (lo..hi).zip(rows) {
        let (idx, entry) = row.map_err(db)?;
        if idx != expected {
            return Err(StorageError::Corrupt {
                what: format!("entry {expected} is missing"),
            });
        }
        entries.push(entry);
    }
    if entries.len() as u64 != end - start {
        return Err(StorageError::Corrupt {
            what: format!("entry {} is missing", start + entries.len() as u64),
        });
    }
    Ok(entries)
}

/// Reads nodes with one prepared statement, inside the caller's
/// transaction so that all of them come from one snapshot. SQLite runs in
/// this process, so a lookup per node costs no round trip.
fn read_nodes_in(conn: &Connection, ids: &[NodeId]) -> Result<Vec<Hash>> {
    let mut stmt = conn
        .prepare_cached("SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2")
        .map_err(db)?;
    ids.iter()
        .map(|id| {
            let missing = || StorageError::Corrupt {
                what: format!("node at level {} index {} is missing", id.level, id.index),
            };
            let Some(index) = to_sql_index(id.index) else {
                return Err(missing());
            };
            let hash: Option<Vec<u8>> = stmt
                .query_row(params![id.level, index], |row| row.get(0))
                .optional()
                .map_err(db)?;
            let hash = hash.ok_or_else(missing)?;
            hash.try_into().map_err(|_| StorageError::Corrupt {
                what: format!(
                    "node at level {} index {} is not 32 bytes",
                    id.level, id.index
                ),
            })
        })
        .collect()
}

/// Reads nodes inside an open transaction.
struct ConnNodes<'a>(&'a Connection);

impl NodeReader for ConnNodes<'_> {
    type Error = StorageError;

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>> {
        read_nodes_in(self.0, ids)
    }
}

/// The index of an entry already holding `statement`, if any.
fn existing_in(conn: &Connection, statement: StatementKey<'_>) -> Result<Option<u64>> {
    let index: Option<i64> = match statement {
        StatementKey::Key(key_id) => conn
            .prepare_cached("SELECT entry_idx FROM keys WHERE key_id = ?1")
            .and_then(|mut stmt| stmt.query_row([key_id], |row| row.get(0)).optional()),
        StatementKey::Result(key_id, case_id, subject_tag) => conn
            .prepare_cached(
                "SELECT entry_idx FROM results \
                 WHERE key_id = ?1 AND case_id = ?2 AND subject_tag = ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_row([key_id, case_id, subject_tag], |row| row.get(0))
                    .optional()
            }),
    }
    .map_err(db)?;
    index.map(from_sql_index).transpose()
}

/// Writes the index row of the entry at `idx`.
fn insert_record(conn: &Connection, idx: i64, record: &IndexRecord) -> rusqlite::Result<usize> {
    match record {
        IndexRecord::Key(k) => conn
            .prepare_cached(
                "INSERT INTO keys (key_id, entry_idx, registry, policy_name, verifying_key, \
                 schema, policy, registered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                k.key_id,
                idx,
                k.registry,
                k.policy_name,
                k.verifying_key,
                k.schema,
                k.policy,
                k.registered_at
            ]),
        IndexRecord::Root(r) => conn
            .prepare_cached(
                "INSERT INTO roots (entry_idx, department, registry, root, anchored_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                idx,
                r.department,
                r.registry,
                r.root,
                r.anchored_at
            ]),
        IndexRecord::Result(r) => conn
            .prepare_cached(
                "INSERT INTO results (entry_idx, key_id, case_id, subject_tag, registry_root, \
                 department, accepted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                idx,
                r.key_id,
                r.case_id,
                r.subject_tag,
                r.registry_root,
                r.department,
                r.accepted_at
            ]),
        IndexRecord::Unindexed => Ok(0),
        IndexRecord::Decision(d) => conn
            .prepare_cached(
                "INSERT INTO decisions (entry_idx, case_id, department, decision, decided_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                idx,
                d.case_id,
                d.department,
                d.decision,
                d.decided_at
            ]),
    }
}

/// Columns of `keys` in the order [`key_row`] reads them.
const KEY_COLUMNS: &str =
    "entry_idx, key_id, registry, policy_name, verifying_key, schema, policy, registered_at";

/// Reads a row of [`KEY_COLUMNS`].
fn key_row(row: &Row<'_>) -> rusqlite::Result<(i64, KeyRecord)> {
    Ok((
        row.get(0)?,
        KeyRecord {
            key_id: row.get(1)?,
            registry: row.get(2)?,
            policy_name: row.get(3)?,
            verifying_key: row.get(4)?,
            schema: row.get(5)?,
            policy: row.get(6)?,
            registered_at: row.get(7)?,
        },
    ))
}

/// Columns of `roots` in the order [`root_row`] reads them.
const ROOT_COLUMNS: &str = "entry_idx, department, registry, root, anchored_at";

/// Reads a row of [`ROOT_COLUMNS`].
fn root_row(row: &Row<'_>) -> rusqlite::Result<(i64, RootRecord)> {
    Ok((
        row.get(0)?,
        RootRecord {
            department: row.get(1)?,
            registry: row.get(2)?,
            root: row.get(3)?,
            anchored_at: row.get(4)?,
        },
    ))
}

/// Columns of `results` in the order [`result_row`] reads them.
const RESULT_COLUMNS: &str =
    "entry_idx, key_id, case_id, subject_tag, registry_root, department, accepted_at";

/// Reads a row of [`RESULT_COLUMNS`].
fn result_row(row: &Row<'_>) -> rusqlite::Result<(i64, ResultRecord)> {
    Ok((
        row.get(0)?,
        ResultRecord {
            key_id: row.get(1)?,
            case_id: row.get(2)?,
            subject_tag: row.get(3)?,
            registry_root: row.get(4)?,
            department: row.get(5)?,
            accepted_at: row.get(6)?,
        },
    ))
}

/// Columns of `decisions` in the order [`decision_row`] reads them.
const DECISION_COLUMNS: &str = "entry_idx, case_id, department, decision, decided_at";

/// Reads a row of [`DECISION_COLUMNS`].
fn decision_row(row: &Row<'_>) -> rusqlite::Result<(i64, DecisionRecord)> {
    Ok((
        row.get(0)?,
        DecisionRecord {
            case_id: row.get(1)?,
            department: row.get(2)?,
            decision: row.get(3)?,
            decided_at: row.get(4)?,
        },
    ))
}

/// Pairs a record with its index.
fn stored<T>((index, record): (i64, T)) -> Result<Stored<T>> {
    Ok(Stored {
        index: from_sql_index(index)?,
        record,
    })
}

impl SqliteStorage {
    /// Runs a query on a read connection and collects its rows.
    fn query_all<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        read: fn(&Row<'_>) -> rusqlite::Result<(i64, T)>,
    ) -> Result<Vec<Stored<T>>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(sql).map_err(db)?;
        let rows = stmt
            .query_map(params, read)
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        rows.into_iter().map(stored).collect()
    }

    /// Runs a query on a read connection and reads its first row, if any.
    fn query_one<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        read: fn(&Row<'_>) -> rusqlite::Result<(i64, T)>,
    ) -> Result<Option<Stored<T>>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(sql).map_err(db)?;
        let row = stmt.query_row(params, read).optional().map_err(db)?;
        row.map(stored).transpose()
    }
}

impl Storage for SqliteStorage {
    fn append_after(
        &self,
        seen: Option<u64>,
        build: &mut dyn FnMut(&[Vec<u8>]) -> Vec<NewEntry>,
    ) -> Result<Vec<Appended>> {
        // A panic mid-append dropped its transaction, which rolled back, so
        // the connection behind a poisoned lock is clean.
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        // Dropping `tx` on any early return rolls everything back.
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let size = size_in(&tx)?;
        let others = appended_since(seen, size, |start, end| read_range(&tx, start, end))?;
        let entries = build(&others);
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let plan = plan_append(size, &entries, |statement| existing_in(&tx, statement))?;
        if plan.new.is_empty() {
            return Ok(plan.outcomes);
        }
        let mut leaves = Vec::with_capacity(plan.new.len());
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO entries (idx, entry, leaf_hash) VALUES (?1, ?2, ?3)")
                .map_err(db)?;
            for (offset, entry) in plan.new.iter().enumerate() {
                let idx = to_sql_index(size + offset as u64).ok_or_else(|| {
                    db(format!(
                        "the log is full at {} entries",
                        size + offset as u64
                    ))
                })?;
                let leaf = tree::leaf_hash(&entry.entry);
                insert
                    .execute(params![idx, entry.entry, leaf.as_slice()])
                    .map_err(db)?;
                insert_record(&tx, idx, &entry.record).map_err(db)?;
                leaves.push(leaf);
            }
        }
        let nodes = tree::append(size, &leaves, &ConnNodes(&tx)).map_err(tree_error)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
                .map_err(db)?;
            for (id, hash) in &nodes {
                // `id.index` ≤ the leaf index, already checked above.
                insert
                    .execute(params![id.level, id.index as i64, hash.as_slice()])
                    .map_err(db)?;
            }
        }
        tx.commit().map_err(db)?;
        Ok(plan.outcomes)
    }

    fn size(&self) -> Result<u64> {
        size_in(&*self.reader()?)
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        let mut conn = self.reader()?;
        // One read transaction, so the size checked is the size read.
        let tx = conn.transaction().map_err(db)?;
        entries_in(&tx, start, end)
    }

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.reader()?;
        let tx = conn.transaction().map_err(db)?;
        read_nodes_in(&tx, ids)
    }

    fn key(&self, key_id: &str) -> Result<Option<Stored<KeyRecord>>> {
        self.query_one(
            &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = ?1"),
            [key_id],
            key_row,
        )
    }

    fn keys(&self) -> Result<Vec<Stored<KeyRecord>>> {
        self.query_all(
            &format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY entry_idx"),
            [],
            key_row,
        )
    }

    fn root(&self, registry: &str, root: &str) -> Result<Option<Stored<RootRecord>>> {
        self.query_one(
            &format!(
                "SELECT {ROOT_COLUMNS} FROM roots WHERE registry = ?1 AND root = ?2 \
                 ORDER BY entry_idx DESC LIMIT 1"
            ),
            [registry, root],
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
                 WHERE key_id = ?1 AND case_id = ?2 AND subject_tag = ?3"
            ),
            [key_id, case_id, subject_tag],
            result_row,
        )
    }

    fn case_results(&self, case_id: &str) -> Result<Vec<Stored<ResultRecord>>> {
        self.query_all(
            &format!("SELECT {RESULT_COLUMNS} FROM results WHERE case_id = ?1 ORDER BY entry_idx"),
            [case_id],
            result_row,
        )
    }

    fn case_decisions(&self, case_id: &str) -> Result<Vec<Stored<DecisionRecord>>> {
        self.query_all(
            &format!(
                "SELECT {DECISION_COLUMNS} FROM decisions WHERE case_id = ?1 ORDER BY entry_idx"
            ),
            [case_id],
            decision_row,
        )
    }

    fn index_counts(&self) -> Result<IndexCounts> {
        let conn = self.reader()?;
        let count = |table: &str| -> Result<u64> {
            let n: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .map_err(db)?;
            from_sql_index(n)
        };
        Ok(IndexCounts {
            keys: count("keys")?,
            roots: count("roots")?,
            results: count("results")?,
            decisions: count("decisions")?,
        })
    }

    fn index_rows(&self, start: u64, end: u64) -> Result<Vec<Stored<IndexRecord>>> {
        let (Some(lo), Some(hi)) = (to_sql_index(start), to_sql_index(end.min(i64::MAX as u64)))
        else {
            return Ok(Vec::new());
        };
        let range = "WHERE entry_idx >= ?1 AND entry_idx < ?2";
        let mut rows: Vec<Stored<IndexRecord>> = Vec::new();
        rows.extend(super::as_records(
            self.query_all(
                &format!("SELECT {KEY_COLUMNS} FROM keys {range}"),
                [lo, hi],
                key_row,
            )?,
            IndexRecord::Key,
        ));
        rows.extend(super::as_records(
            self.query_all(
                &format!("SELECT {ROOT_COLUMNS} FROM roots {range}"),
                [lo, hi],
                root_row,
            )?,
            IndexRecord::Root,
        ));
        rows.extend(super::as_records(
            self.query_all(
                &format!("SELECT {RESULT_COLUMNS} FROM results {range}"),
                [lo, hi],
                result_row,
            )?,
            IndexRecord::Result,
        ));
        rows.extend(super::as_records(
            self.query_all(
                &format!("SELECT {DECISION_COLUMNS} FROM decisions {range}"),
                [lo, hi],
                decision_row,
            )?,
            IndexRecord::Decision,
        ));
        rows.sort_by_key(|r| r.index);
        Ok(rows)
    }

    fn rebuild_index(&self, rows: &[Stored<IndexRecord>]) -> Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        tx.execute_batch(
            "DELETE FROM keys; DELETE FROM roots; DELETE FROM results; DELETE FROM decisions;",
        )
        .map_err(db)?;
        for row in rows {
            let idx = to_sql_index(row.index).ok_or_else(|| db("log index beyond i64"))?;
            insert_record(&tx, idx, &row.record).map_err(db)?;
        }
        tx.commit().map_err(db)
    }
}
