//! The operational store: what the service must keep and the log must not
//! hold.
//!
//! - each application's case secret, the applicant's inputs (the subject
//!   ids) and the hash of its access code;
//! - applicant sessions, by the hash of their token;
//! - the work queue: one request per item of evidence, addressed to the
//!   department that owns the item's registry, and one licence request
//!   per approval, addressed to the deciding department; each with its
//!   lease;
//! - the case counter of each procedure and year.
//!
//! It is not an index of the log: the log cannot rebuild it, and a replay
//! does not need it. It lives in the same database as the log, in tables
//! of its own. Every change is one transaction.

use std::collections::BTreeMap;

use super::Result;

/// What a work request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkKind {
    /// Prove an item of evidence, or report it unmet.
    Evidence,
    /// Add an approval's licence to the deciding department's registry.
    Licence,
}

impl WorkKind {
    /// Its name in the store and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Evidence => "evidence",
            WorkKind::Licence => "licence",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<WorkKind> {
        match text {
            "evidence" => Some(WorkKind::Evidence),
            "licence" => Some(WorkKind::Licence),
            _ => None,
        }
    }
}

/// A work request to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWork {
    /// The case.
    pub case_id: String,
    /// What it asks for.
    pub kind: WorkKind,
    /// The item of evidence; empty for a licence.
    pub evidence: String,
    /// The department whose queue it joins.
    pub department: String,
}

/// An application to record, with its work.
#[derive(Clone, PartialEq, Eq)]
pub struct NewApplication {
    /// The case number.
    pub case_id: String,
    /// The procedure.
    pub procedure: String,
    /// The case secret, canonical decimal.
    pub case_secret: String,
    /// The applicant's inputs, by name.
    pub inputs: BTreeMap<String, String>,
    /// SHA-256 of the access code, hex.
    pub access_code_sha256: String,
    /// When the case was created, Unix seconds.
    pub created: i64,
    /// One request per item of evidence.
    pub work: Vec<NewWork>,
}

impl std::fmt::Debug for NewApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApplication")
            .field("case_id", &self.case_id)
            .field("procedure", &self.procedure)
            .finish_non_exhaustive()
    }
}

/// An application as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredApplication {
    /// The case number.
    pub case_id: String,
    /// The procedure.
    pub procedure: String,
    /// The case secret, canonical decimal.
    pub case_secret: String,
    /// The applicant's inputs, by name.
    pub inputs: BTreeMap<String, String>,
    /// SHA-256 of the access code, hex.
    pub access_code_sha256: String,
    /// When the case was created, Unix seconds.
    pub created: i64,
}

impl std::fmt::Debug for StoredApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredApplication")
            .field("case_id", &self.case_id)
            .field("procedure", &self.procedure)
            .finish_non_exhaustive()
    }
}

/// A work request as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    /// Its id.
    pub id: i64,
    /// The case.
    pub case_id: String,
    /// What it asks for.
    pub kind: WorkKind,
    /// The item of evidence; empty for a licence.
    pub evidence: String,
    /// The department whose queue holds it.
    pub department: String,
    /// Until when it is leased, Unix seconds; a past time means it is back
    /// in the queue.
    pub leased_until: Option<i64>,
    /// How many times it was leased.
    pub leases: i64,
    /// The log index of the entry that answered it, once done.
    pub done: Option<u64>,
}

/// A leased work request, with what the department needs to do it.
#[derive(Clone, PartialEq, Eq)]
pub struct Leased {
    /// The request.
    pub work: Work,
    /// The case's application.
    pub application: StoredApplication,
}

impl std::fmt::Debug for Leased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leased")
            .field("work", &self.work)
            .finish_non_exhaustive()
    }
}

/// A department's queue, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Waiting to be leased.
    pub pending: u64,
    /// Leased, the lease still running.
    pub leased: u64,
    /// Done.
    pub done: u64,
}

/// The operational store (see the [module docs](self)).
pub trait Casework: Send + Sync {
    /// The next serial number of `prefix`'s cases in `year`, from 1,
    /// committed before it returns: a number is never handed out twice,
    /// even if the case is then never created.
    fn next_case_serial(&self, prefix: &str, year: i32) -> Result<u64>;

    /// Records an application and its work, in one transaction.
    fn create_application(&self, application: &NewApplication) -> Result<()>;

    /// The application of a case.
    fn application(&self, case_id: &str) -> Result<Option<StoredApplication>>;

    /// Adds work requests, skipping any that exist (same case, kind and
    /// item).
    fn add_work(&self, work: &[NewWork]) -> Result<()>;

    /// Leases up to `limit` of `department`'s requests that are neither
    /// done nor under a running lease, oldest first, until `until`, in one
    /// transaction: two callers never lease the same request at once.
    fn lease_work(
        &self,
        department: &str,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<Vec<Leased>>;

    /// A work request.
    fn work(&self, id: i64) -> Result<Option<Work>>;

    /// Marks requests done by the log entries that answered them.
    fn finish_work(&self, done: &[(i64, u64)]) -> Result<()>;

    /// A case's work requests, in id order.
    fn case_work(&self, case_id: &str) -> Result<Vec<Work>>;

    /// `department`'s queue, counted at `now`.
    fn queue_counts(&self, department: &str, now: i64) -> Result<QueueCounts>;

    /// `department`'s requests that are not done, oldest first, at most
    /// `limit`.
    fn open_work(&self, department: &str, limit: usize) -> Result<Vec<Work>>;

    /// Records an applicant session for a case until `expires`.
    fn create_session(&self, token_sha256: &str, case_id: &str, expires: i64) -> Result<()>;

    /// The case of a session that has not expired at `now`.
    fn session_case(&self, token_sha256: &str, now: i64) -> Result<Option<String>>;
}
