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
use r2d2_sqlite::rusqlite::types::ToSqlOutput;
use r2d2_sqlite::rusqlite::{
    self, params, Connection, OptionalExtension, ToSql, TransactionBehavior,
};
use r2d2_sqlite::SqliteConnectionManager;

use super::sql::{
    self, Dialect, Param, Query, DECISION_COLUMNS, KEY_COLUMNS, RESULT_COLUMNS, ROOT_COLUMNS,
};
use super::{
    plan_append, tree_error, Appended, DecisionRecord, IndexCounts, IndexRecord, KeyRecord,
    NewEntry, ResultRecord, RootRecord, StatementKey, Storage, StorageError, Stored,
};
use zkgov_log::tree::{self, Hash, NodeId, NodeReader};

mod casework;

type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The name errors carry.
const BACKEND: &str = "sqlite";

/// How long a writer waits for another process's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Read connections kept open.
const READERS: u32 = 4;

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
    sql::create_schema(&mut Conn(&tx), Dialect::Sqlite)?;
    tx.commit().map_err(db)
}

/// A log index as SQLite stores it. Indexes beyond `i64::MAX` cannot
/// exist, so callers treat this failure as "not there".
fn to_sql_index(index: u64) -> Option<i64> {
    i64::try_from(index).ok()
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
            // An index beyond i64 cannot be stored: it reads as missing.
            let hash: Option<Vec<u8>> = match to_sql_index(id.index) {
                Some(index) => stmt
                    .query_row(params![id.level, index], |row| row.get(0))
                    .optional()
                    .map_err(db)?,
                None => None,
            };
            sql::node_hash(id, hash)
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
    index.map(sql::from_sql_index).transpose()
}

/// Writes the index row of the entry at `idx`.
fn insert_record(conn: &Connection, idx: i64, record: &IndexRecord) -> rusqlite::Result<usize> {
    match record {
        IndexRecord::Key(k) => conn
            .prepare_cached(&format!(
                "INSERT INTO keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?
            .execute(params![
                idx,
                k.key_id,
                k.registry,
                k.policy_name,
                k.verifying_key,
                k.schema,
                k.policy,
                k.registered_at
            ]),
        IndexRecord::Root(r) => conn
            .prepare_cached(&format!(
                "INSERT INTO roots ({ROOT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"
            ))?
            .execute(params![
                idx,
                r.department,
                r.registry,
                r.root,
                r.anchored_at
            ]),
        IndexRecord::Result(r) => conn
            .prepare_cached(&format!(
                "INSERT INTO results ({RESULT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?
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
            .prepare_cached(&format!(
                "INSERT INTO decisions ({DECISION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"
            ))?
            .execute(params![
                idx,
                d.case_id,
                d.department,
                d.decision,
                d.decided_at
            ]),
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Text(text) => text.to_sql(),
            Param::Int(int) => int.to_sql(),
        }
    }
}

impl sql::Row for rusqlite::Row<'_> {
    fn int(&self, column: usize) -> Result<i64> {
        self.get(column).map_err(db)
    }

    fn int_or_null(&self, column: usize) -> Result<Option<i64>> {
        self.get(column).map_err(db)
    }

    fn text(&self, column: usize) -> Result<String> {
        self.get(column).map_err(db)
    }

    fn bytes(&self, column: usize) -> Result<Vec<u8>> {
        self.get(column).map_err(db)
    }
}

/// A connection, or a transaction's, for the shared queries: rusqlite
/// lends a transaction's connection only shared, which is all its
/// statements need.
pub(super) struct Conn<'a>(pub(super) &'a Connection);

impl Query for Conn<'_> {
    fn batch(&mut self, sql: &str) -> Result<()> {
        self.0.execute_batch(sql).map_err(db)
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let changed = self
            .0
            .prepare_cached(&Dialect::Sqlite.placeholders(sql))
            .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(params)))
            .map_err(db)?;
        Ok(changed as u64)
    }

    fn rows<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        mut read: impl FnMut(&dyn sql::Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self
            .0
            .prepare_cached(&Dialect::Sqlite.placeholders(sql))
            .map_err(db)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params)).map_err(db)?;
        let mut read_rows = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            read_rows.push(read(row)?);
        }
        Ok(read_rows)
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
        let (size, others) = sql::appended_since(&mut Conn(&tx), seen)?;
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
        sql::size(&mut Conn(&*self.reader()?))
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        let mut conn = self.reader()?;
        // One read transaction, so the size checked is the size read.
        let tx = conn.transaction().map_err(db)?;
        sql::entries(&mut Conn(&tx), start, end)
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
        sql::key(&mut Conn(&*self.reader()?), key_id)
    }

    fn keys(&self) -> Result<Vec<Stored<KeyRecord>>> {
        sql::keys(&mut Conn(&*self.reader()?))
    }

    fn root(&self, registry: &str, root: &str) -> Result<Option<Stored<RootRecord>>> {
        sql::root(&mut Conn(&*self.reader()?), registry, root)
    }

    fn result(
        &self,
        key_id: &str,
        case_id: &str,
        subject_tag: &str,
    ) -> Result<Option<Stored<ResultRecord>>> {
        sql::result(&mut Conn(&*self.reader()?), key_id, case_id, subject_tag)
    }

    fn case_results(&self, case_id: &str) -> Result<Vec<Stored<ResultRecord>>> {
        sql::case_results(&mut Conn(&*self.reader()?), case_id)
    }

    fn case_decisions(&self, case_id: &str) -> Result<Vec<Stored<DecisionRecord>>> {
        sql::case_decisions(&mut Conn(&*self.reader()?), case_id)
    }

    fn index_counts(&self) -> Result<IndexCounts> {
        sql::index_counts(&mut Conn(&*self.reader()?))
    }

    fn index_rows(&self, start: u64, end: u64) -> Result<Vec<Stored<IndexRecord>>> {
        sql::index_rows(&mut Conn(&*self.reader()?), start, end)
    }

    fn rebuild_index(&self, rows: &[Stored<IndexRecord>]) -> Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        tx.execute_batch(sql::CLEAR_INDEX).map_err(db)?;
        for row in rows {
            let idx = to_sql_index(row.index).ok_or_else(|| db("log index beyond i64"))?;
            insert_record(&tx, idx, &row.record).map_err(db)?;
        }
        tx.commit().map_err(db)
    }
}
