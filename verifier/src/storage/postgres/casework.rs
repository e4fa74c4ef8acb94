//! The operational store in PostgreSQL: tables beside the log's. A lease
//! claims its requests in one statement with `FOR UPDATE SKIP LOCKED`, so
//! workers on several machines share a queue without waiting on each
//! other's rows or leasing the same request.

use r2d2_postgres::postgres::{self, GenericClient};

use super::{db, from_sql_index, PostgresStorage, Result};
use crate::storage::casework::parse_inputs;
use crate::storage::casework::{
    Casework, Leased, NewApplication, NewWork, QueueCounts, StoredApplication, Work, WorkKind,
};
use crate::storage::StorageError;

/// The operational tables; idempotent, run at every open.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS case_counters (
    prefix TEXT NOT NULL,
    year INTEGER NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (prefix, year)
);
CREATE TABLE IF NOT EXISTS applications (
    case_id TEXT PRIMARY KEY,
    procedure TEXT NOT NULL,
    case_secret TEXT NOT NULL,
    inputs TEXT NOT NULL,
    access_code_sha256 TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS work (
    id BIGSERIAL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES applications (case_id),
    kind TEXT NOT NULL CHECK (kind IN ('evidence', 'licence')),
    evidence TEXT NOT NULL,
    department TEXT NOT NULL,
    leased_until BIGINT,
    leases BIGINT NOT NULL DEFAULT 0,
    done_idx BIGINT,
    UNIQUE (case_id, kind, evidence)
);
CREATE INDEX IF NOT EXISTS work_open ON work (department, id) WHERE done_idx IS NULL;
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES applications (case_id),
    expires BIGINT NOT NULL
);
";

const WORK_COLUMNS: &str =
    "id, case_id, kind, evidence, department, leased_until, leases, done_idx";

fn work_row(row: &postgres::Row) -> Result<Work> {
    let kind: String = row.get(2);
    let done: Option<i64> = row.get(7);
    Ok(Work {
        id: row.get(0),
        case_id: row.get(1),
        kind: WorkKind::parse(&kind).ok_or_else(|| StorageError::Corrupt {
            what: format!("work kind `{kind}`"),
        })?,
        evidence: row.get(3),
        department: row.get(4),
        leased_until: row.get(5),
        leases: row.get(6),
        done: done.map(from_sql_index).transpose()?,
    })
}

fn application_in(
    client: &mut impl GenericClient,
    case_id: &str,
) -> Result<Option<StoredApplication>> {
    let row = client
        .query_opt(
            "SELECT case_id, procedure, case_secret, inputs, access_code_sha256, created \
             FROM applications WHERE case_id = $1",
            &[&case_id],
        )
        .map_err(db)?;
    row.map(|r| {
        let case_id: String = r.get(0);
        let inputs: String = r.get(3);
        Ok(StoredApplication {
            inputs: parse_inputs(&case_id, &inputs)?,
            case_id,
            procedure: r.get(1),
            case_secret: r.get(2),
            access_code_sha256: r.get(4),
            created: r.get(5),
        })
    })
    .transpose()
}

fn insert_work(client: &mut impl GenericClient, work: &[NewWork]) -> Result<()> {
    if work.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&NewWork) -> &str| work.iter().map(f).collect::<Vec<&str>>();
    client
        .execute(
            "INSERT INTO work (case_id, kind, evidence, department) \
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) \
             ON CONFLICT (case_id, kind, evidence) DO NOTHING",
            &[
                &column(|w| &w.case_id),
                &column(|w| w.kind.as_str()),
                &column(|w| &w.evidence),
                &column(|w| &w.department),
            ],
        )
        .map_err(db)?;
    Ok(())
}

impl Casework for PostgresStorage {
    fn next_case_serial(&self, prefix: &str, year: i32) -> Result<u64> {
        let row = self
            .client()?
            .query_one(
                "INSERT INTO case_counters (prefix, year, last) VALUES ($1, $2, 1) \
                 ON CONFLICT (prefix, year) DO UPDATE SET last = case_counters.last + 1 \
                 RETURNING last",
                &[&prefix, &year],
            )
            .map_err(db)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn create_application(&self, application: &NewApplication) -> Result<()> {
        let inputs = serde_json::to_string(&application.inputs).expect("strings serialize");
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db)?;
        tx.execute(
            "INSERT INTO applications \
             (case_id, procedure, case_secret, inputs, access_code_sha256, created) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &application.case_id,
                &application.procedure,
                &application.case_secret,
                &inputs,
                &application.access_code_sha256,
                &application.created,
            ],
        )
        .map_err(db)?;
        insert_work(&mut tx, &application.work)?;
        tx.commit().map_err(db)
    }

    fn application(&self, case_id: &str) -> Result<Option<StoredApplication>> {
        application_in(&mut *self.client()?, case_id)
    }

    fn add_work(&self, work: &[NewWork]) -> Result<()> {
        insert_work(&mut *self.client()?, work)
    }

    fn lease_work(
        &self,
        department: &str,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<Vec<Leased>> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db)?;
        let rows = tx
            .query(
                &format!(
                    "UPDATE work SET leased_until = $3, leases = leases + 1 WHERE id IN ( \
                     SELECT id FROM work WHERE department = $1 AND done_idx IS NULL \
                     AND (leased_until IS NULL OR leased_until <= $2) ORDER BY id LIMIT $4 \
                     FOR UPDATE SKIP LOCKED) RETURNING {WORK_COLUMNS}"
                ),
                &[&department, &now, &until, &(limit as i64)],
            )
            .map_err(db)?;
        let mut leased = Vec::with_capacity(rows.len());
        for row in &rows {
            let work = work_row(row)?;
            let application =
                application_in(&mut tx, &work.case_id)?.ok_or_else(|| StorageError::Corrupt {
                    what: format!("work {} names a missing application", work.id),
                })?;
            leased.push(Leased { work, application });
        }
        tx.commit().map_err(db)?;
        leased.sort_by_key(|l| l.work.id);
        Ok(leased)
    }

    fn work(&self, id: i64) -> Result<Option<Work>> {
        self.client()?
            .query_opt(
                &format!("SELECT {WORK_COLUMNS} FROM work WHERE id = $1"),
                &[&id],
            )
            .map_err(db)?
            .as_ref()
            .map(work_row)
            .transpose()
    }

    fn finish_work(&self, done: &[(i64, u64)]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = done.iter().map(|(id, _)| *id).collect();
        let indexes: Vec<i64> = done.iter().map(|(_, i)| *i as i64).collect();
        self.client()?
            .execute(
                "UPDATE work SET done_idx = d.idx FROM UNNEST($1::BIGINT[], $2::BIGINT[]) \
                 AS d(id, idx) WHERE work.id = d.id AND work.done_idx IS NULL",
                &[&ids, &indexes],
            )
            .map_err(db)?;
        Ok(())
    }

    fn case_work(&self, case_id: &str) -> Result<Vec<Work>> {
        self.client()?
            .query(
                &format!("SELECT {WORK_COLUMNS} FROM work WHERE case_id = $1 ORDER BY id"),
                &[&case_id],
            )
            .map_err(db)?
            .iter()
            .map(work_row)
            .collect()
    }

    fn queue_counts(&self, department: &str, now: i64) -> Result<QueueCounts> {
        let row = self
            .client()?
            .query_one(
                "SELECT \
                 COUNT(*) FILTER (WHERE done_idx IS NULL AND (leased_until IS NULL OR leased_until <= $2)), \
                 COUNT(*) FILTER (WHERE done_idx IS NULL AND leased_until > $2), \
                 COUNT(*) FILTER (WHERE done_idx IS NOT NULL) \
                 FROM work WHERE department = $1",
                &[&department, &now],
            )
            .map_err(db)?;
        Ok(QueueCounts {
            pending: row.get::<_, i64>(0) as u64,
            leased: row.get::<_, i64>(1) as u64,
            done: row.get::<_, i64>(2) as u64,
        })
    }

    fn open_work(&self, department: &str, limit: usize) -> Result<Vec<Work>> {
        self.client()?
            .query(
                &format!(
                    "SELECT {WORK_COLUMNS} FROM work WHERE department = $1 AND done_idx IS NULL \
                     ORDER BY id LIMIT $2"
                ),
                &[&department, &(limit as i64)],
            )
            .map_err(db)?
            .iter()
            .map(work_row)
            .collect()
    }

    fn create_session(&self, token_sha256: &str, case_id: &str, expires: i64) -> Result<()> {
        self.client()?
            .execute(
                "INSERT INTO sessions (token_sha256, case_id, expires) VALUES ($1, $2, $3)",
                &[&token_sha256, &case_id, &expires],
            )
            .map_err(db)?;
        Ok(())
    }

    fn session_case(&self, token_sha256: &str, now: i64) -> Result<Option<String>> {
        Ok(self
            .client()?
            .query_opt(
                "SELECT case_id FROM sessions WHERE token_sha256 = $1 AND expires > $2",
                &[&token_sha256, &now],
            )
            .map_err(db)?
            .map(|r| r.get(0)))
    }
}
