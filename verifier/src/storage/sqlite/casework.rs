//! The operational store in SQLite: tables beside the log's, each change
//! one `BEGIN IMMEDIATE` transaction on the writer connection, so that
//! workers in other processes wait for the write lock rather than lease
//! the same request.

use std::sync::PoisonError;

use r2d2_sqlite::rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::{db, to_sql_index, Result, SqliteStorage};
use crate::storage::casework::{
    parse_inputs, Casework, Leased, NewApplication, NewWork, QueueCounts, StoredApplication, Work,
    WorkKind,
};
use crate::storage::sql::from_sql_index;
use crate::storage::StorageError;

/// The operational tables; idempotent, run at every open.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS case_counters (
    prefix TEXT NOT NULL,
    year INTEGER NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
) STRICT;
CREATE TABLE IF NOT EXISTS applications (
    case_id TEXT PRIMARY KEY,
    procedure TEXT NOT NULL,
    case_secret TEXT NOT NULL,
    inputs TEXT NOT NULL,
    access_code_sha256 TEXT NOT NULL,
    created INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES applications (case_id),
    kind TEXT NOT NULL CHECK (kind IN ('evidence', 'licence')),
    evidence TEXT NOT NULL,
    department TEXT NOT NULL,
    leased_until INTEGER,
    leases INTEGER NOT NULL DEFAULT 0,
    done_idx INTEGER,
    UNIQUE (case_id, kind, evidence)
) STRICT;
CREATE INDEX IF NOT EXISTS work_open ON work (department, id) WHERE done_idx IS NULL;
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES applications (case_id),
    expires INTEGER NOT NULL
) STRICT;
";

const WORK_COLUMNS: &str =
    "id, case_id, kind, evidence, department, leased_until, leases, done_idx";

fn work_row(row: &Row) -> r2d2_sqlite::rusqlite::Result<(Work, Option<i64>)> {
    let kind: String = row.get(2)?;
    let done: Option<i64> = row.get(7)?;
    Ok((
        Work {
            id: row.get(0)?,
            case_id: row.get(1)?,
            kind: WorkKind::parse(&kind).unwrap_or(WorkKind::Evidence),
            evidence: row.get(3)?,
            department: row.get(4)?,
            leased_until: row.get(5)?,
            leases: row.get(6)?,
            done: None,
        },
        done,
    ))
}

fn finish_row(raw: (Work, Option<i64>)) -> Result<Work> {
    let (mut work, done) = raw;
    work.done = done.map(from_sql_index).transpose()?;
    Ok(work)
}

fn application_in(conn: &Connection, case_id: &str) -> Result<Option<StoredApplication>> {
    let row: Option<(String, String, String, String, String, i64)> = conn
        .prepare_cached(
            "SELECT case_id, procedure, case_secret, inputs, access_code_sha256, created \
             FROM applications WHERE case_id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([case_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()
        })
        .map_err(db)?;
    row.map(
        |(case_id, procedure, case_secret, inputs, access_code_sha256, created)| {
            Ok(StoredApplication {
                inputs: parse_inputs(&case_id, &inputs)?,
                case_id,
                procedure,
                case_secret,
                access_code_sha256,
                created,
            })
        },
    )
    .transpose()
}

fn insert_work(conn: &Connection, work: &[NewWork]) -> Result<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO work (case_id, kind, evidence, department) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (case_id, kind, evidence) DO NOTHING",
        )
        .map_err(db)?;
    for w in work {
        stmt.execute(params![
            w.case_id,
            w.kind.as_str(),
            w.evidence,
            w.department
        ])
        .map_err(db)?;
    }
    Ok(())
}

impl SqliteStorage {
    /// Runs `change` in one immediate transaction on the writer.
    fn change<T>(&self, change: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let value = change(&tx)?;
        tx.commit().map_err(db)?;
        Ok(value)
    }
}

impl Casework for SqliteStorage {
    fn next_case_serial(&self, prefix: &str, year: i32) -> Result<u64> {
        self.change(|tx| {
            let last: i64 = tx
                .query_row(
                    "INSERT INTO case_counters (prefix, year, last) VALUES (?1, ?2, 1) \
                     ON CONFLICT (prefix, year) DO UPDATE SET last = last + 1 RETURNING last",
                    params![prefix, year],
                    |r| r.get(0),
                )
                .map_err(db)?;
            Ok(last as u64)
        })
    }

    fn create_application(&self, application: &NewApplication) -> Result<()> {
        let inputs = serde_json::to_string(&application.inputs).expect("strings serialize");
        self.change(|tx| {
            tx.execute(
                "INSERT INTO applications \
                 (case_id, procedure, case_secret, inputs, access_code_sha256, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    application.case_id,
                    application.procedure,
                    application.case_secret,
                    inputs,
                    application.access_code_sha256,
                    application.created
                ],
            )
            .map_err(db)?;
            insert_work(tx, &application.work)
        })
    }

    fn application(&self, case_id: &str) -> Result<Option<StoredApplication>> {
        application_in(&*self.reader()?, case_id)
    }

    fn add_work(&self, work: &[NewWork]) -> Result<()> {
        if work.is_empty() {
            return Ok(());
        }
        self.change(|tx| insert_work(tx, work))
    }

    fn lease_work(
        &self,
        department: &str,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<Vec<Leased>> {
        self.change(|tx| {
            let rows = tx
                .prepare_cached(&format!(
                    "UPDATE work SET leased_until = ?3, leases = leases + 1 WHERE id IN ( \
                     SELECT id FROM work WHERE department = ?1 AND done_idx IS NULL \
                     AND (leased_until IS NULL OR leased_until <= ?2) ORDER BY id LIMIT ?4) \
                     RETURNING {WORK_COLUMNS}"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map(params![department, now, until, limit as i64], work_row)?
                        .collect::<std::result::Result<Vec<_>, _>>()
                })
                .map_err(db)?;
            let mut leased = Vec::with_capacity(rows.len());
            for raw in rows {
                let work = finish_row(raw)?;
                let application =
                    application_in(tx, &work.case_id)?.ok_or_else(|| StorageError::Corrupt {
                        what: format!("work {} names a missing application", work.id),
                    })?;
                leased.push(Leased { work, application });
            }
            leased.sort_by_key(|l| l.work.id);
            Ok(leased)
        })
    }

    fn work(&self, id: i64) -> Result<Option<Work>> {
        let conn = self.reader()?;
        conn.prepare_cached(&format!("SELECT {WORK_COLUMNS} FROM work WHERE id = ?1"))
            .and_then(|mut stmt| stmt.query_row([id], work_row).optional())
            .map_err(db)?
            .map(finish_row)
            .transpose()
    }

    fn finish_work(&self, done: &[(i64, u64)]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        self.change(|tx| {
            let mut stmt = tx
                .prepare_cached("UPDATE work SET done_idx = ?2 WHERE id = ?1 AND done_idx IS NULL")
                .map_err(db)?;
            for (id, index) in done {
                let index = to_sql_index(*index).ok_or_else(|| StorageError::Corrupt {
                    what: format!("log index {index} is beyond i64"),
                })?;
                stmt.execute(params![id, index]).map_err(db)?;
            }
            Ok(())
        })
    }

    fn case_work(&self, case_id: &str) -> Result<Vec<Work>> {
        let conn = self.reader()?;
        let rows = conn
            .prepare_cached(&format!(
                "SELECT {WORK_COLUMNS} FROM work WHERE case_id = ?1 ORDER BY id"
            ))
            .and_then(|mut stmt| {
                stmt.query_map([case_id], work_row)?
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .map_err(db)?;
        rows.into_iter().map(finish_row).collect()
    }

    fn queue_counts(&self, department: &str, now: i64) -> Result<QueueCounts> {
        let conn = self.reader()?;
        let (pending, leased, done): (i64, i64, i64) = conn
            .query_row(
                "SELECT \
                 COALESCE(SUM(done_idx IS NULL AND (leased_until IS NULL OR leased_until <= ?2)), 0), \
                 COALESCE(SUM(done_idx IS NULL AND leased_until > ?2), 0), \
                 COALESCE(SUM(done_idx IS NOT NULL), 0) \
                 FROM work WHERE department = ?1",
                params![department, now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(db)?;
        Ok(QueueCounts {
            pending: pending as u64,
            leased: leased as u64,
            done: done as u64,
        })
    }

    fn open_work(&self, department: &str, limit: usize) -> Result<Vec<Work>> {
        let conn = self.reader()?;
        let rows = conn
            .prepare_cached(&format!(
                "SELECT {WORK_COLUMNS} FROM work WHERE department = ?1 AND done_idx IS NULL \
                 ORDER BY id LIMIT ?2"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(params![department, limit as i64], work_row)?
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .map_err(db)?;
        rows.into_iter().map(finish_row).collect()
    }

    fn create_session(&self, token_sha256: &str, case_id: &str, expires: i64) -> Result<()> {
        self.change(|tx| {
            tx.execute(
                "INSERT INTO sessions (token_sha256, case_id, expires) VALUES (?1, ?2, ?3)",
                params![token_sha256, case_id, expires],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn session_case(&self, token_sha256: &str, now: i64) -> Result<Option<String>> {
        let conn = self.reader()?;
        conn.query_row(
            "SELECT case_id FROM sessions WHERE token_sha256 = ?1 AND expires > ?2",
            params![token_sha256, now],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)
    }
}
