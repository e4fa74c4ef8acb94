//! The operational store in PostgreSQL: tables beside the log's. A lease
//! claims its requests in one statement with `FOR UPDATE SKIP LOCKED`, so
//! workers on several machines share a queue without waiting on each
//! other's rows or leasing the same request.

use r2d2_postgres::postgres::GenericClient;

use super::{db, PostgresStorage, Result};
use crate::storage::casework::{
    Casework, Leased, NewApplication, NewWork, QueueCounts, StoredApplication, Work,
};
use crate::storage::sql::casework as sql;

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
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db)?;
        sql::insert_application(&mut tx, application)?;
        insert_work(&mut tx, &application.work)?;
        tx.commit().map_err(db)
    }

    fn application(&self, case_id: &str) -> Result<Option<StoredApplication>> {
        sql::application(&mut *self.client()?, case_id)
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
        let leased = sql::lease_work(
            &mut tx,
            " FOR UPDATE SKIP LOCKED",
            department,
            limit,
            now,
            until,
        )?;
        tx.commit().map_err(db)?;
        Ok(leased)
    }

    fn work(&self, id: i64) -> Result<Option<Work>> {
        sql::work(&mut *self.client()?, id)
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
        sql::case_work(&mut *self.client()?, case_id)
    }

    fn queue_counts(&self, department: &str, now: i64) -> Result<QueueCounts> {
        sql::queue_counts(&mut *self.client()?, department, now)
    }

    fn open_work(&self, department: &str, limit: usize) -> Result<Vec<Work>> {
        sql::open_work(&mut *self.client()?, department, limit)
    }

    fn create_session(&self, token_sha256: &str, case_id: &str, expires: i64) -> Result<()> {
        sql::create_session(&mut *self.client()?, token_sha256, case_id, expires)
    }

    fn session_case(&self, token_sha256: &str, now: i64) -> Result<Option<String>> {
        sql::session_case(&mut *self.client()?, token_sha256, now)
    }
}
