//! The operational store's tables and the queries both backends run on
//! them alike. Each backend keeps how it writes a batch of work (a
//! statement per row, or one `UNNEST`), the lock a lease takes, and the
//! case counter: PostgreSQL binds its `INTEGER` year only from an `i32`,
//! which [`Param`] does not carry, and its upsert must name the table of
//! `last`.

use std::collections::BTreeMap;

use super::{from_sql_index, Dialect, Param, Query, Row};
use crate::storage::casework::{
    Leased, NewApplication, QueueCounts, StoredApplication, Work, WorkKind,
};
use crate::storage::{Result, StorageError};

impl Dialect {
    /// The operational tables; idempotent, run at every open.
    pub(in crate::storage) fn casework_schema(self) -> String {
        let (int, serial, strict) = match self {
            Dialect::Sqlite => ("INTEGER", "INTEGER", " STRICT"),
            Dialect::Postgres => ("BIGINT", "BIGSERIAL", ""),
        };
        format!(
            "
CREATE TABLE IF NOT EXISTS case_counters (
    prefix TEXT NOT NULL,
    year INTEGER NOT NULL,
    last {int} NOT NULL,
    PRIMARY KEY (prefix, year)
){strict};
CREATE TABLE IF NOT EXISTS applications (
    case_id TEXT PRIMARY KEY,
    procedure TEXT NOT NULL,
    case_secret TEXT NOT NULL,
    inputs TEXT NOT NULL,
    access_code_sha256 TEXT NOT NULL,
    created {int} NOT NULL
){strict};
CREATE TABLE IF NOT EXISTS work (
    id {serial} PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES applications (case_id),
    kind TEXT NOT NULL CHECK (kind IN ('evidence', 'licence')),
    evidence TEXT NOT NULL,
    department TEXT NOT NULL,
    leased_until {int},
    leases {int} NOT NULL DEFAULT 0,
    done_idx {int},
    UNIQUE (case_id, kind, evidence)
){strict};
CREATE INDEX IF NOT EXISTS work_open ON work (department, id) WHERE done_idx IS NULL;
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES applications (case_id),
    expires {int} NOT NULL
){strict};
"
        )
    }
}

/// Columns of `work` in the order [`work_row`] reads them.
const WORK_COLUMNS: &str =
    "id, case_id, kind, evidence, department, leased_until, leases, done_idx";

/// Reads a row of [`WORK_COLUMNS`].
fn work_row(row: &dyn Row) -> Result<Work> {
    let kind = row.text(2)?;
    Ok(Work {
        id: row.int(0)?,
        case_id: row.text(1)?,
        kind: WorkKind::parse(&kind).ok_or_else(|| StorageError::Corrupt {
            what: format!("work kind `{kind}`"),
        })?,
        evidence: row.text(3)?,
        department: row.text(4)?,
        leased_until: row.int_or_null(5)?,
        leases: row.int(6)?,
        done: row.int_or_null(7)?.map(from_sql_index).transpose()?,
    })
}

/// The stored inputs, a JSON object of strings.
fn parse_inputs(case_id: &str, text: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|e| StorageError::Corrupt {
        what: format!("the inputs of application {case_id}: {e}"),
    })
}

/// Records an application (its work is the caller's to insert, in the
/// same transaction).
pub(in crate::storage) fn insert_application(
    tx: &mut impl Query,
    application: &NewApplication,
) -> Result<()> {
    let inputs = serde_json::to_string(&application.inputs).expect("strings serialize");
    tx.execute(
        "INSERT INTO applications \
         (case_id, procedure, case_secret, inputs, access_code_sha256, created) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            Param::Text(&application.case_id),
            Param::Text(&application.procedure),
            Param::Text(&application.case_secret),
            Param::Text(&inputs),
            Param::Text(&application.access_code_sha256),
            Param::Int(application.created),
        ],
    )?;
    Ok(())
}

/// The application of a case.
pub(in crate::storage) fn application(
    conn: &mut impl Query,
    case_id: &str,
) -> Result<Option<StoredApplication>> {
    conn.row(
        "SELECT case_id, procedure, case_secret, inputs, access_code_sha256, created \
         FROM applications WHERE case_id = $1",
        &[Param::Text(case_id)],
        |row| {
            let case_id = row.text(0)?;
            Ok(StoredApplication {
                inputs: parse_inputs(&case_id, &row.text(3)?)?,
                case_id,
                procedure: row.text(1)?,
                case_secret: row.text(2)?,
                access_code_sha256: row.text(4)?,
                created: row.int(5)?,
            })
        },
    )
}

/// Leases `department`'s requests as [`Casework::lease_work`] says, in the
/// caller's transaction. `row_lock` is the clause, if any, with which the
/// claiming subquery locks the rows it picks.
///
/// [`Casework::lease_work`]: crate::storage::casework::Casework::lease_work
pub(in crate::storage) fn lease_work(
    tx: &mut impl Query,
    row_lock: &str,
    department: &str,
    limit: usize,
    now: i64,
    until: i64,
) -> Result<Vec<Leased>> {
    let rows = tx.rows(
        &format!(
            "UPDATE work SET leased_until = $3, leases = leases + 1 WHERE id IN ( \
             SELECT id FROM work WHERE department = $1 AND done_idx IS NULL \
             AND (leased_until IS NULL OR leased_until <= $2) ORDER BY id LIMIT $4{row_lock}) \
             RETURNING {WORK_COLUMNS}"
        ),
        &[
            Param::Text(department),
            Param::Int(now),
            Param::Int(until),
            Param::Int(limit as i64),
        ],
        work_row,
    )?;
    let mut leased = Vec::with_capacity(rows.len());
    for work in rows {
        let application = application(tx, &work.case_id)?.ok_or_else(|| StorageError::Corrupt {
            what: format!("work {} names a missing application", work.id),
        })?;
        leased.push(Leased { work, application });
    }
    leased.sort_by_key(|l| l.work.id);
    Ok(leased)
}

/// A work request.
pub(in crate::storage) fn work(conn: &mut impl Query, id: i64) -> Result<Option<Work>> {
    conn.row(
        &format!("SELECT {WORK_COLUMNS} FROM work WHERE id = $1"),
        &[Param::Int(id)],
        work_row,
    )
}

/// A case's work requests, in id order.
pub(in crate::storage) fn case_work(conn: &mut impl Query, case_id: &str) -> Result<Vec<Work>> {
    conn.rows(
        &format!("SELECT {WORK_COLUMNS} FROM work WHERE case_id = $1 ORDER BY id"),
        &[Param::Text(case_id)],
        work_row,
    )
}

/// `department`'s queue, counted at `now`.
pub(in crate::storage) fn queue_counts(
    conn: &mut impl Query,
    department: &str,
    now: i64,
) -> Result<QueueCounts> {
    let counts = conn.row(
        "SELECT \
         COUNT(*) FILTER (WHERE done_idx IS NULL AND (leased_until IS NULL OR leased_until <= $2)), \
         COUNT(*) FILTER (WHERE done_idx IS NULL AND leased_until > $2), \
         COUNT(*) FILTER (WHERE done_idx IS NOT NULL) \
         FROM work WHERE department = $1",
        &[Param::Text(department), Param::Int(now)],
        |row| {
            Ok(QueueCounts {
                pending: row.int(0)? as u64,
                leased: row.int(1)? as u64,
                done: row.int(2)? as u64,
            })
        },
    )?;
    Ok(counts.unwrap_or_default())
}

/// `department`'s requests that are not done, oldest first, at most
/// `limit`.
pub(in crate::storage) fn open_work(
    conn: &mut impl Query,
    department: &str,
    limit: usize,
) -> Result<Vec<Work>> {
    conn.rows(
        &format!(
            "SELECT {WORK_COLUMNS} FROM work WHERE department = $1 AND done_idx IS NULL \
             ORDER BY id LIMIT $2"
        ),
        &[Param::Text(department), Param::Int(limit as i64)],
        work_row,
    )
}

/// Records an applicant session for a case until `expires`.
pub(in crate::storage) fn create_session(
    conn: &mut impl Query,
    token_sha256: &str,
    case_id: &str,
    expires: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO sessions (token_sha256, case_id, expires) VALUES ($1, $2, $3)",
        &[
            Param::Text(token_sha256),
            Param::Text(case_id),
            Param::Int(expires),
        ],
    )?;
    Ok(())
}

/// The case of a session that has not expired at `now`.
pub(in crate::storage) fn session_case(
    conn: &mut impl Query,
    token_sha256: &str,
    now: i64,
) -> Result<Option<String>> {
    conn.row(
        "SELECT case_id FROM sessions WHERE token_sha256 = $1 AND expires > $2",
        &[Param::Text(token_sha256), Param::Int(now)],
        |row| row.text(0),
    )
}
