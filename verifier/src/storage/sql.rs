//! What the SQLite and PostgreSQL backends share: the schema, the queries
//! that read the log and its indexes, and the mapping of their rows to
//! records, written once over [`Query`], which each backend implements for
//! its connections and transactions.
//!
//! What is left to each backend is what differs between the two databases:
//! connecting, the lock that serialises appends (`BEGIN IMMEDIATE` or an
//! advisory lock), and how an append writes its rows (one prepared
//! statement per row in SQLite, which runs in the process, against a few
//! array-parameter statements in PostgreSQL, where every statement is a
//! round trip).

use super::{
    DecisionRecord, IndexCounts, IndexRecord, KeyRecord, Result, ResultRecord, RootRecord,
    StorageError, Stored,
};
use zkgov_log::tree::{Hash, NodeId};

pub(super) mod casework;

/// The schema version this build writes and understands.
pub(super) const SCHEMA_VERSION: i64 = 2;

/// The SQL dialect of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dialect {
    /// SQLite, with `STRICT` tables.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// The log's tables and indexes (`entries`, `nodes`, `keys`, `roots`,
    /// `results` and `decisions`, under `schema_version`). Every statement
    /// is idempotent, so opening an existing store runs it harmlessly.
    /// `STRICT` tables make SQLite enforce the column types, as PostgreSQL
    /// does.
    pub(super) fn schema(self) -> String {
        let (int, bytes, length, strict, without_rowid) = match self {
            Dialect::Sqlite => ("INTEGER", "BLOB", "length", " STRICT", ", WITHOUT ROWID"),
            Dialect::Postgres => ("BIGINT", "BYTEA", "octet_length", "", ""),
        };
        format!(
            "
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY
){strict};
CREATE TABLE IF NOT EXISTS entries (
    idx {int} PRIMARY KEY CHECK (idx >= 0),
    entry {bytes} NOT NULL,
    leaf_hash {bytes} NOT NULL CHECK ({length}(leaf_hash) = 32)
){strict};
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx {int} NOT NULL CHECK (idx >= 0),
    hash {bytes} NOT NULL CHECK ({length}(hash) = 32),
    PRIMARY KEY (level, idx)
){strict}{without_rowid};
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY CHECK (key_id <> ''),
    entry_idx {int} NOT NULL UNIQUE REFERENCES entries (idx),
    registry TEXT NOT NULL CHECK (registry <> ''),
    policy_name TEXT NOT NULL,
    verifying_key TEXT NOT NULL,
    schema TEXT NOT NULL,
    policy TEXT NOT NULL,
    registered_at {int} NOT NULL
){strict};
CREATE TABLE IF NOT EXISTS roots (
    entry_idx {int} PRIMARY KEY REFERENCES entries (idx),
    department TEXT NOT NULL,
    registry TEXT NOT NULL CHECK (registry <> ''),
    root TEXT NOT NULL CHECK (root <> ''),
    anchored_at {int} NOT NULL
){strict};
CREATE INDEX IF NOT EXISTS roots_by_registry_root ON roots (registry, root, entry_idx);
CREATE TABLE IF NOT EXISTS results (
    entry_idx {int} PRIMARY KEY REFERENCES entries (idx),
    key_id TEXT NOT NULL CHECK (key_id <> ''),
    case_id TEXT NOT NULL CHECK (case_id <> ''),
    subject_tag TEXT NOT NULL CHECK (subject_tag <> ''),
    registry_root TEXT NOT NULL,
    department TEXT NOT NULL,
    accepted_at {int} NOT NULL,
    UNIQUE (key_id, case_id, subject_tag)
){strict};
CREATE INDEX IF NOT EXISTS results_by_case ON results (case_id, entry_idx);
CREATE TABLE IF NOT EXISTS decisions (
    entry_idx {int} PRIMARY KEY REFERENCES entries (idx),
    case_id TEXT NOT NULL CHECK (case_id <> ''),
    department TEXT NOT NULL,
    decision TEXT NOT NULL,
    decided_at {int} NOT NULL
){strict};
CREATE INDEX IF NOT EXISTS decisions_by_case ON decisions (case_id, entry_idx);
"
        )
    }

    /// `sql`, written with PostgreSQL's placeholders `$1`, `$2`, …, in this
    /// dialect. SQLite would read `$1` as a named parameter, numbered by its
    /// first use rather than by its digits, so it gets `?1`.
    pub(super) fn placeholders(self, sql: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Dialect::Sqlite => sql.replace('$', "?").into(),
            Dialect::Postgres => sql.into(),
        }
    }
}

/// A value bound to a placeholder.
#[derive(Clone, Copy, Debug)]
pub(super) enum Param<'a> {
    /// A `TEXT` value.
    Text(&'a str),
    /// A `BIGINT` value (SQLite's `INTEGER`).
    Int(i64),
}

/// The typed getters of a result row, by column.
pub(super) trait Row {
    /// An integer column (`INTEGER` or `BIGINT`).
    fn int(&self, column: usize) -> Result<i64>;

    /// An integer column that may be `NULL`.
    fn int_or_null(&self, column: usize) -> Result<Option<i64>>;

    /// A `TEXT` column.
    fn text(&self, column: usize) -> Result<String>;

    /// A `BLOB` (`BYTEA`) column.
    fn bytes(&self, column: usize) -> Result<Vec<u8>>;
}

/// A connection or transaction that runs the shared queries.
pub(super) trait Query {
    /// Runs statements that take no parameters and return no rows.
    fn batch(&mut self, sql: &str) -> Result<()>;

    /// Runs `sql`, written with `$1`, `$2`, … placeholders (see
    /// [`Dialect::placeholders`]), and says how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64>;

    /// Runs `sql`, written with `$1`, `$2`, … placeholders, and reads every
    /// row with `read`.
    fn rows<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        read: impl FnMut(&dyn Row) -> Result<T>,
    ) -> Result<Vec<T>>;

    /// Runs `sql` and reads its first row, if any.
    fn row<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        read: impl FnMut(&dyn Row) -> Result<T>,
    ) -> Result<Option<T>> {
        Ok(self.rows(sql, params, read)?.into_iter().next())
    }
}

/// Creates the tables if missing (the log's and the operational store's)
/// and checks the schema version, in the caller's transaction, which holds
/// the lock that keeps two processes opening a new store from racing.
pub(super) fn create_schema(tx: &mut impl Query, dialect: Dialect) -> Result<()> {
    tx.batch(&dialect.schema())?;
    tx.batch(&dialect.casework_schema())?;
    let version = tx
        .row("SELECT MAX(version) FROM schema_version", &[], |row| {
            row.int_or_null(0)
        })?
        .flatten();
    match version {
        None => tx.batch(&format!(
            "INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION})"
        )),
        Some(SCHEMA_VERSION) => Ok(()),
        Some(other) => Err(super::version_mismatch(other, SCHEMA_VERSION)),
    }
}

/// A stored index read back.
pub(super) fn from_sql_index(index: i64) -> Result<u64> {
    u64::try_from(index).map_err(|_| StorageError::Corrupt {
        what: format!("negative log index {index}"),
    })
}

/// The log size.
pub(super) fn size(conn: &mut impl Query) -> Result<u64> {
    let size = conn.row(
        "SELECT COALESCE(MAX(idx) + 1, 0) FROM entries",
        &[],
        |row| row.int(0),
    )?;
    from_sql_index(size.unwrap_or_default())
}

/// The log's size, and the entries other writers appended since `seen`,
/// for [`Storage::append_after`](super::Storage::append_after), read
/// inside the append's transaction. A log shorter than `seen` is
/// [`StorageError::Behind`]; without `seen`, there are none.
pub(super) fn appended_since(
    tx: &mut impl Query,
    seen: Option<u64>,
) -> Result<(u64, Vec<Vec<u8>>)> {
    let size = size(tx)?;
    let others = match seen {
        Some(seen) if seen > size => return Err(StorageError::Behind { seen, size }),
        Some(seen) if seen < size => read_range(tx, seen, size)?,
        _ => Vec::new(),
    };
    Ok((size, others))
}

/// The entries `start..end`. The caller chooses whether the two queries
/// share a snapshot; they need not, as the log only grows, so entries below
/// the size read first are there for the second.
pub(super) fn entries(conn: &mut impl Query, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
    let size = size(conn)?;
    if start > end || end > size {
        return Err(StorageError::OutOfRange { start, end, size });
    }
    if start == end {
        return Ok(Vec::new());
    }
    read_range(conn, start, end)
}

/// The entries `start..end`, which the caller knows are in the log (so
/// that both fit in i64), each checked to be at its index.
pub(super) fn read_range(conn: &mut impl Query, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
    let (lo, hi) = (start as i64, end as i64);
    let rows = conn.rows(
        "SELECT idx, entry FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
        &[Param::Int(lo), Param::Int(hi)],
        |row| Ok((row.int(0)?, row.bytes(1)?)),
    )?;
    let mut entries = Vec::with_capacity(rows.len());
    for (expected, (idx, entry)) in (lo..hi).zip(rows) {
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

/// The hash of the node `id` from its stored bytes, or `None` if it is not
/// stored.
pub(super) fn node_hash(id: &NodeId, stored: Option<Vec<u8>>) -> Result<Hash> {
    let hash = stored.ok_or_else(|| StorageError::Corrupt {
        what: format!("node at level {} index {} is missing", id.level, id.index),
    })?;
    hash.try_into().map_err(|_| StorageError::Corrupt {
        what: format!(
            "node at level {} index {} is not 32 bytes",
            id.level, id.index
        ),
    })
}

/// Columns of `keys` in the order [`key_row`] reads them.
pub(super) const KEY_COLUMNS: &str =
    "entry_idx, key_id, registry, policy_name, verifying_key, schema, policy, registered_at";

/// Reads a row of [`KEY_COLUMNS`].
fn key_row(row: &dyn Row) -> Result<Stored<KeyRecord>> {
    Ok(Stored {
        index: from_sql_index(row.int(0)?)?,
        record: KeyRecord {
            key_id: row.text(1)?,
            registry: row.text(2)?,
            policy_name: row.text(3)?,
            verifying_key: row.text(4)?,
            schema: row.text(5)?,
            policy: row.text(6)?,
            registered_at: row.int(7)?,
        },
    })
}

/// Columns of `roots` in the order [`root_row`] reads them.
pub(super) const ROOT_COLUMNS: &str = "entry_idx, department, registry, root, anchored_at";

/// Reads a row of [`ROOT_COLUMNS`].
fn root_row(row: &dyn Row) -> Result<Stored<RootRecord>> {
    Ok(Stored {
        index: from_sql_index(row.int(0)?)?,
        record: RootRecord {
            department: row.text(1)?,
            registry: row.text(2)?,
            root: row.text(3)?,
            anchored_at: row.int(4)?,
        },
    })
}

/// Columns of `results` in the order [`result_row`] reads them.
pub(super) const RESULT_COLUMNS: &str =
    "entry_idx, key_id, case_id, subject_tag, registry_root, department, accepted_at";

/// Reads a row of [`RESULT_COLUMNS`].
fn result_row(row: &dyn Row) -> Result<Stored<ResultRecord>> {
    Ok(Stored {
        index: from_sql_index(row.int(0)?)?,
        record: ResultRecord {
            key_id: row.text(1)?,
            case_id: row.text(2)?,
            subject_tag: row.text(3)?,
            registry_root: row.text(4)?,
            department: row.text(5)?,
            accepted_at: row.int(6)?,
        },
    })
}

/// Columns of `decisions` in the order [`decision_row`] reads them.
pub(super) const DECISION_COLUMNS: &str = "entry_idx, case_id, department, decision, decided_at";

/// Reads a row of [`DECISION_COLUMNS`].
fn decision_row(row: &dyn Row) -> Result<Stored<DecisionRecord>> {
    Ok(Stored {
        index: from_sql_index(row.int(0)?)?,
        record: DecisionRecord {
            case_id: row.text(1)?,
            department: row.text(2)?,
            decision: row.text(3)?,
            decided_at: row.int(4)?,
        },
    })
}

/// Empties the index tables, for [`Storage::rebuild_index`](super::Storage::rebuild_index).
pub(super) const CLEAR_INDEX: &str =
    "DELETE FROM keys; DELETE FROM roots; DELETE FROM results; DELETE FROM decisions;";

/// The key with this id.
pub(super) fn key(conn: &mut impl Query, key_id: &str) -> Result<Option<Stored<KeyRecord>>> {
    conn.row(
        &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = $1"),
        &[Param::Text(key_id)],
        key_row,
    )
}

/// Every registered key, in log order.
pub(super) fn keys(conn: &mut impl Query) -> Result<Vec<Stored<KeyRecord>>> {
    conn.rows(
        &format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY entry_idx"),
        &[],
        key_row,
    )
}

/// The latest anchoring of `root` for `registry`.
pub(super) fn root(
    conn: &mut impl Query,
    registry: &str,
    root: &str,
) -> Result<Option<Stored<RootRecord>>> {
    conn.row(
        &format!(
            "SELECT {ROOT_COLUMNS} FROM roots WHERE registry = $1 AND root = $2 \
             ORDER BY entry_idx DESC LIMIT 1"
        ),
        &[Param::Text(registry), Param::Text(root)],
        root_row,
    )
}

/// The result for the statement (key, case, subject tag).
pub(super) fn result(
    conn: &mut impl Query,
    key_id: &str,
    case_id: &str,
    subject_tag: &str,
) -> Result<Option<Stored<ResultRecord>>> {
    conn.row(
        &format!(
            "SELECT {RESULT_COLUMNS} FROM results \
             WHERE key_id = $1 AND case_id = $2 AND subject_tag = $3"
        ),
        &[
            Param::Text(key_id),
            Param::Text(case_id),
            Param::Text(subject_tag),
        ],
        result_row,
    )
}

/// Every result for a case, in log order.
pub(super) fn case_results(
    conn: &mut impl Query,
    case_id: &str,
) -> Result<Vec<Stored<ResultRecord>>> {
    conn.rows(
        &format!("SELECT {RESULT_COLUMNS} FROM results WHERE case_id = $1 ORDER BY entry_idx"),
        &[Param::Text(case_id)],
        result_row,
    )
}

/// Every decision on a case, in log order.
pub(super) fn case_decisions(
    conn: &mut impl Query,
    case_id: &str,
) -> Result<Vec<Stored<DecisionRecord>>> {
    conn.rows(
        &format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE case_id = $1 ORDER BY entry_idx"),
        &[Param::Text(case_id)],
        decision_row,
    )
}

/// The rows of the index tables, counted in one statement.
pub(super) fn index_counts(conn: &mut impl Query) -> Result<IndexCounts> {
    let counts = conn.row(
        "SELECT (SELECT COUNT(*) FROM keys), (SELECT COUNT(*) FROM roots), \
         (SELECT COUNT(*) FROM results), (SELECT COUNT(*) FROM decisions)",
        &[],
        |row| {
            let count = |i: usize| from_sql_index(row.int(i)?);
            Ok(IndexCounts {
                keys: count(0)?,
                roots: count(1)?,
                results: count(2)?,
                decisions: count(3)?,
            })
        },
    )?;
    Ok(counts.unwrap_or_default())
}

/// Every index row whose entry is in `start..end`, in log order.
pub(super) fn index_rows(
    conn: &mut impl Query,
    start: u64,
    end: u64,
) -> Result<Vec<Stored<IndexRecord>>> {
    let (Ok(lo), hi) = (i64::try_from(start), i64::try_from(end).unwrap_or(i64::MAX)) else {
        return Ok(Vec::new());
    };
    let params = [Param::Int(lo), Param::Int(hi)];
    let range = "WHERE entry_idx >= $1 AND entry_idx < $2";
    let mut rows: Vec<Stored<IndexRecord>> = Vec::new();
    rows.extend(conn.rows(
        &format!("SELECT {KEY_COLUMNS} FROM keys {range}"),
        &params,
        |row| Ok(key_row(row)?.map(IndexRecord::Key)),
    )?);
    rows.extend(conn.rows(
        &format!("SELECT {ROOT_COLUMNS} FROM roots {range}"),
        &params,
        |row| Ok(root_row(row)?.map(IndexRecord::Root)),
    )?);
    rows.extend(conn.rows(
        &format!("SELECT {RESULT_COLUMNS} FROM results {range}"),
        &params,
        |row| Ok(result_row(row)?.map(IndexRecord::Result)),
    )?);
    rows.extend(conn.rows(
        &format!("SELECT {DECISION_COLUMNS} FROM decisions {range}"),
        &params,
        |row| Ok(decision_row(row)?.map(IndexRecord::Decision)),
    )?);
    rows.sort_by_key(|r| r.index);
    Ok(rows)
}
