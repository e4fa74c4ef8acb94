//! The operational store in SQLite: tables beside the log's, each change
//! one `BEGIN IMMEDIATE` transaction on the writer connection, so that
//! workers in other processes wait for the write lock rather than lease
//! the same request.

use std::sync::PoisonError;

use r2d2_sqlite::rusqlite::{params, Connection, TransactionBehavior};

use super::{db, to_sql_index, Conn, Result, SqliteStorage};
use crate::storage::casework::{
    Casework, Leased, NewApplication, NewWork, QueueCounts, StoredApplication, Work,
};
use crate::storage::sql::casework as sql;
use crate::storage::StorageError;

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
        self.change(|tx| {
            sql::insert_application(&mut Conn(tx), application)?;
            insert_work(tx, &application.work)
        })
    }

    fn application(&self, case_id: &str) -> Result<Option<StoredApplication>> {
        sql::application(&mut Conn(&*self.reader()?), case_id)
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
        // The immediate transaction holds the write lock: no other
        // process leases in between.
        self.change(|tx| sql::lease_work(&mut Conn(tx), "", department, limit, now, until))
    }

    fn work(&self, id: i64) -> Result<Option<Work>> {
        sql::work(&mut Conn(&*self.reader()?), id)
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
        sql::case_work(&mut Conn(&*self.reader()?), case_id)
    }

    fn queue_counts(&self, department: &str, now: i64) -> Result<QueueCounts> {
        sql::queue_counts(&mut Conn(&*self.reader()?), department, now)
    }

    fn open_work(&self, department: &str, limit: usize) -> Result<Vec<Work>> {
        sql::open_work(&mut Conn(&*self.reader()?), department, limit)
    }

    fn create_session(&self, token_sha256: &str, case_id: &str, expires: i64) -> Result<()> {
        self.change(|tx| sql::create_session(&mut Conn(tx), token_sha256, case_id, expires))
    }

    fn session_case(&self, token_sha256: &str, now: i64) -> Result<Option<String>> {
        sql::session_case(&mut Conn(&*self.reader()?), token_sha256, now)
    }
}
