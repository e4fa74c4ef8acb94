//! A store that fails on purpose, for the tests of what the service does
//! when its database does (feature `test-utils`).
//!
//! [`Faulty`] wraps any [`Storage`] and, while armed through its
//! [`Faults`], fails commits or reads at the storage trait with a
//! [`StorageError::Backend`], as a lost connection or a full disk would:
//! a failed commit writes nothing, as the trait promises.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use zkgov_log::tree::{Hash, NodeId};

use super::casework::{
    Casework, Leased, NewApplication, NewWork, QueueCounts, StoredApplication, Work,
};
use super::{
    Appended, DecisionRecord, IndexCounts, IndexRecord, KeyRecord, NewEntry, Result, ResultRecord,
    RootRecord, Storage, StorageError, Stored,
};

/// What to fail, shared between a test and its [`Faulty`] store.
#[derive(Debug, Default)]
pub struct Faults {
    commits: AtomicU64,
    reads: AtomicBool,
    injected: AtomicU64,
}

impl Faults {
    /// Fails the next `n` commits (appends and index rebuilds).
    pub fn fail_next_commits(&self, n: u64) {
        self.commits.store(n, Ordering::SeqCst);
    }

    /// Fails every read of the log while `on`.
    pub fn fail_reads(&self, on: bool) {
        self.reads.store(on, Ordering::SeqCst);
    }

    /// Clears every fault.
    pub fn clear(&self) {
        self.fail_next_commits(0);
        self.fail_reads(false);
    }

    /// How many calls have failed on purpose so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    fn commit(&self) -> Result<()> {
        let armed = self
            .commits
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        self.fail_if(armed, "commit")
    }

    fn read(&self) -> Result<()> {
        self.fail_if(self.reads.load(Ordering::SeqCst), "read")
    }

    fn fail_if(&self, armed: bool, what: &str) -> Result<()> {
        if !armed {
            return Ok(());
        }
        self.injected.fetch_add(1, Ordering::SeqCst);
        Err(StorageError::Backend {
            backend: "fault",
            message: format!("injected {what} failure"),
        })
    }
}

/// A store that fails as its [`Faults`] say, and otherwise is `inner`.
pub struct Faulty {
    inner: Arc<dyn Storage>,
    faults: Arc<Faults>,
}

impl Faulty {
    /// Wraps `inner`; nothing fails until `faults` is armed.
    pub fn wrap(inner: Arc<dyn Storage>, faults: Arc<Faults>) -> Arc<dyn Storage> {
        Arc::new(Faulty { inner, faults })
    }
}

impl Storage for Faulty {
    fn append_after(
        &self,
        seen: Option<u64>,
        build: &mut dyn FnMut(&[Vec<u8>]) -> Vec<NewEntry>,
    ) -> Result<Vec<Appended>> {
        self.faults.commit()?;
        self.inner.append_after(seen, build)
    }
    fn size(&self) -> Result<u64> {
        self.faults.read()?;
        self.inner.size()
    }
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        self.faults.read()?;
        self.inner.entries(start, end)
    }
    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>> {
        self.faults.read()?;
        self.inner.read_nodes(ids)
    }
    fn key(&self, key_id: &str) -> Result<Option<Stored<KeyRecord>>> {
        self.faults.read()?;
        self.inner.key(key_id)
    }
    fn keys(&self) -> Result<Vec<Stored<KeyRecord>>> {
        self.faults.read()?;
        self.inner.keys()
    }
    fn root(&self, registry: &str, root: &str) -> Result<Option<Stored<RootRecord>>> {
        self.faults.read()?;
        self.inner.root(registry, root)
    }
    fn result(
        &self,
        key_id: &str,
        case_id: &str,
        subject_tag: &str,
    ) -> Result<Option<Stored<ResultRecord>>> {
        self.faults.read()?;
        self.inner.result(key_id, case_id, subject_tag)
    }
    fn case_results(&self, case_id: &str) -> Result<Vec<Stored<ResultRecord>>> {
        self.faults.read()?;
        self.inner.case_results(case_id)
    }
    fn case_decisions(&self, case_id: &str) -> Result<Vec<Stored<DecisionRecord>>> {
        self.faults.read()?;
        self.inner.case_decisions(case_id)
    }
    fn index_counts(&self) -> Result<IndexCounts> {
        self.faults.read()?;
        self.inner.index_counts()
    }
    fn index_rows(&self, start: u64, end: u64) -> Result<Vec<Stored<IndexRecord>>> {
        self.faults.read()?;
        self.inner.index_rows(start, end)
    }
    fn rebuild_index(&self, rows: &[Stored<IndexRecord>]) -> Result<()> {
        self.faults.commit()?;
        self.inner.rebuild_index(rows)
    }
}

impl Casework for Faulty {
    fn next_case_serial(&self, prefix: &str, year: i32) -> Result<u64> {
        self.inner.next_case_serial(prefix, year)
    }
    fn create_application(&self, application: &NewApplication) -> Result<()> {
        self.inner.create_application(application)
    }
    fn application(&self, case_id: &str) -> Result<Option<StoredApplication>> {
        self.inner.application(case_id)
    }
    fn add_work(&self, work: &[NewWork]) -> Result<()> {
        self.inner.add_work(work)
    }
    fn lease_work(
        &self,
        department: &str,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<Vec<Leased>> {
        self.inner.lease_work(department, limit, now, until)
    }
    fn work(&self, id: i64) -> Result<Option<Work>> {
        self.inner.work(id)
    }
    fn finish_work(&self, done: &[(i64, u64)]) -> Result<()> {
        self.inner.finish_work(done)
    }
    fn case_work(&self, case_id: &str) -> Result<Vec<Work>> {
        self.inner.case_work(case_id)
    }
    fn queue_counts(&self, department: &str, now: i64) -> Result<QueueCounts> {
        self.inner.queue_counts(department, now)
    }
    fn open_work(&self, department: &str, limit: usize) -> Result<Vec<Work>> {
        self.inner.open_work(department, limit)
    }
    fn create_session(&self, token_sha256: &str, case_id: &str, expires: i64) -> Result<()> {
        self.inner.create_session(token_sha256, case_id, expires)
    }
    fn session_case(&self, token_sha256: &str, now: i64) -> Result<Option<String>> {
        self.inner.session_case(token_sha256, now)
    }
}
