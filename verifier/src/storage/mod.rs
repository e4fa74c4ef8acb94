//! Durable storage of the anchor log and of the indexes over it.
//!
//! One [`Storage`] trait, implemented for SQLite ([`sqlite`], the embedded
//! default) and PostgreSQL ([`postgres`]). Both pass the same conformance
//! suite (`verifier/tests/storage.rs`).
//!
//! The log's entries are the source of truth. Each entry carries a typed
//! [`IndexRecord`] that the store indexes beside it (keys, roots, results,
//! decisions), written in the same transaction, so an index never points at
//! an entry that is not there. [`Storage::append`] is atomic and safe to call
//! from many threads and processes at once: indexes have no gaps and no
//! duplicates.
//!
//! Both backends share one logical schema (`entries`, `nodes`, and the
//! index tables `keys`, `roots`, `results` and `decisions`) recorded under a
//! `schema_version` table, so that later versions can migrate it.

use std::collections::HashMap;
use std::sync::Arc;

use zkgov_log::entry::{parse_time, Entry};
use zkgov_log::tree::{Hash, NodeId, NodeReader, TreeError};

pub mod casework;
#[cfg(feature = "test-utils")]
pub mod faults;
pub mod postgres;
mod sql;
pub mod sqlite;

/// A registered verifying key and the policy it proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key id, lowercase hex.
    pub key_id: String,
    /// The registry whose records the policy reads; its owning department
    /// anchors the roots that proofs under this key must use.
    pub registry: String,
    /// The policy's name.
    pub policy_name: String,
    /// The verifying key in snarkjs JSON.
    pub verifying_key: String,
    /// The schema, TOML text.
    pub schema: String,
    /// The policy, TOML text.
    pub policy: String,
    /// Unix seconds at registration.
    pub registered_at: i64,
}

/// A registry root that its owning department anchored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootRecord {
    /// The department that anchored it.
    pub department: String,
    /// The registry's name.
    pub registry: String,
    /// The root, a canonical decimal field element.
    pub root: String,
    /// Unix seconds at anchoring.
    pub anchored_at: i64,
}

/// A verified proof's statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRecord {
    /// The key id it was verified under.
    pub key_id: String,
    /// The case number, as given (its `text` encoding is the `case_id` input).
    pub case_id: String,
    /// The subject tag, a canonical decimal field element.
    pub subject_tag: String,
    /// The registry root the proof used.
    pub registry_root: String,
    /// The department that submitted it.
    pub department: String,
    /// Unix seconds at acceptance.
    pub accepted_at: i64,
}

/// A department's decision on a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionRecord {
    /// The case number.
    pub case_id: String,
    /// The deciding department.
    pub department: String,
    /// The decision, such as `approved` or `refused`.
    pub decision: String,
    /// Unix seconds at recording.
    pub decided_at: i64,
}

/// What an entry records, indexed beside its canonical JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexRecord {
    /// An entry that the rules' state holds and no table indexes:
    /// governance, procedures, cases, unmet evidence and hand-overs of the
    /// log's key.
    Unindexed,
    /// A registered key.
    Key(KeyRecord),
    /// An anchored registry root.
    Root(RootRecord),
    /// An accepted proof.
    Result(ResultRecord),
    /// A decision.
    Decision(DecisionRecord),
}

/// An entry to append: its exact bytes (canonical JSON) and its record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// The entry's bytes; the leaf hash is computed over exactly these.
    pub entry: Vec<u8>,
    /// The record the store indexes.
    pub record: IndexRecord,
}

impl From<&Entry> for IndexRecord {
    /// The index record of an entry. Times are the entry's, in Unix
    /// seconds (the rules have checked that they parse).
    fn from(entry: &Entry) -> IndexRecord {
        let time = parse_time(entry.time()).unwrap_or_default();
        match entry {
            Entry::Governance { .. }
            | Entry::Procedure { .. }
            | Entry::Case { .. }
            | Entry::Unmet { .. }
            | Entry::LogKey { .. } => IndexRecord::Unindexed,
            Entry::Key {
                key_id,
                registry,
                policy,
                verifying_key,
                schema_toml,
                policy_toml,
                ..
            } => IndexRecord::Key(KeyRecord {
                key_id: key_id.clone(),
                registry: registry.clone(),
                policy_name: policy.clone(),
                verifying_key: verifying_key.to_string(),
                schema: schema_toml.clone(),
                policy: policy_toml.clone(),
                registered_at: time,
            }),
            Entry::Root {
                department,
                registry,
                root,
                ..
            } => IndexRecord::Root(RootRecord {
                department: department.clone(),
                registry: registry.clone(),
                root: root.clone(),
                anchored_at: time,
            }),
            Entry::Result {
                key_id,
                case_id,
                subject_tag,
                registry_root,
                department,
                ..
            } => IndexRecord::Result(ResultRecord {
                key_id: key_id.clone(),
                case_id: case_id.clone(),
                subject_tag: subject_tag.clone(),
                registry_root: registry_root.clone(),
                department: department.clone(),
                accepted_at: time,
            }),
            Entry::Decision {
                case_id,
                department,
                decision,
                ..
            } => IndexRecord::Decision(DecisionRecord {
                case_id: case_id.clone(),
                department: department.clone(),
                decision: decision.clone(),
                decided_at: time,
            }),
        }
    }
}

impl From<&Entry> for NewEntry {
    fn from(entry: &Entry) -> NewEntry {
        NewEntry {
            entry: entry.to_bytes(),
            record: IndexRecord::from(entry),
        }
    }
}

/// How many rows each index table holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexCounts {
    /// Rows of `keys`.
    pub keys: u64,
    /// Rows of `roots`.
    pub roots: u64,
    /// Rows of `results`.
    pub results: u64,
    /// Rows of `decisions`.
    pub decisions: u64,
}

/// A stored record and the log index of its entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored<T> {
    /// The entry's index in the log.
    pub index: u64,
    /// The record.
    pub record: T,
}

/// The outcome of appending one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Appended at this index.
    New(u64),
    /// Not appended: an equal statement (a key with the same id, or a result
    /// with the same key, case and subject tag) is already at this index,
    /// possibly earlier in the same call.
    Existing(u64),
}

impl Appended {
    /// The entry's index, new or existing.
    pub fn index(self) -> u64 {
        match self {
            Appended::New(i) | Appended::Existing(i) => i,
        }
    }
}

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database URL is not one this build understands.
    #[error("unsupported database URL `{url}`: use a file path, sqlite://PATH or postgres://…")]
    UnsupportedUrl {
        /// The URL given (with any password removed).
        url: String,
    },
    /// The database reported an error.
    #[error("{backend}: {message}")]
    Backend {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// What it said.
        message: String,
    },
    /// A range of entries beyond the log's end.
    #[error("entries {start}..{end} are not in a log of {size} entries")]
    OutOfRange {
        /// First index asked for.
        start: u64,
        /// One past the last index asked for.
        end: u64,
        /// The log size.
        size: u64,
    },
    /// The log holds fewer entries than a writer has seen in it.
    #[error("the database holds {size} log entries, fewer than the {seen} this service has seen: it went back (was it restored from a backup?)")]
    Behind {
        /// Entries the writer has seen.
        seen: u64,
        /// Entries in the database.
        size: u64,
    },
    /// The stored data contradicts itself (a missing node, a bad hash).
    #[error("the log store is inconsistent: {what}")]
    Corrupt {
        /// What is wrong.
        what: String,
    },
}

/// The result type of storage calls.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Durable storage for the anchor log and its indexes. Calls block; the
/// service runs them off the async executor.
pub trait Storage: casework::Casework + Send + Sync + 'static {
    /// Appends entries in one transaction, in order, and returns where each
    /// went. Results and keys are deduplicated (see [`Appended`]). When this
    /// returns `Ok`, the transaction is durably committed; when it returns
    /// `Err`, nothing was written. Appending no entries, or only
    /// duplicates, writes nothing. The store rejects a record whose
    /// identifiers (key id, registry, root, case, subject tag) are empty.
    fn append(&self, entries: &[NewEntry]) -> Result<Vec<Appended>> {
        self.append_after(None, &mut |_| entries.to_vec())
    }

    /// Appends what `build` returns, as [`Storage::append`] does, under the
    /// log's write lock, after every entry committed so far, by this
    /// process or any other.
    ///
    /// With `seen` (the log size the caller has judged so far), `build` is
    /// called once, inside the transaction, with the entries from index
    /// `seen` to the log's end: those that other writers appended since.
    /// The caller judges its own entries after them, and nobody can append
    /// in between. A log shorter than `seen` is [`StorageError::Behind`]:
    /// the database went back. Without `seen`, `build` gets no entries.
    fn append_after(
        &self,
        seen: Option<u64>,
        build: &mut dyn FnMut(&[Vec<u8>]) -> Vec<NewEntry>,
    ) -> Result<Vec<Appended>>;

    /// The number of entries in the log.
    fn size(&self) -> Result<u64>;

    /// The entries `start..end`, in order, as their exact bytes.
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>>;

    /// The stored hashes of complete subtrees, in the order asked. A node
    /// that is not stored is [`StorageError::Corrupt`].
    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>>;

    /// The key with this id.
    fn key(&self, key_id: &str) -> Result<Option<Stored<KeyRecord>>>;

    /// Every registered key, in log order.
    fn keys(&self) -> Result<Vec<Stored<KeyRecord>>>;

    /// The latest anchoring of `root` for `registry`.
    fn root(&self, registry: &str, root: &str) -> Result<Option<Stored<RootRecord>>>;

    /// The result for the statement (key, case, subject tag).
    fn result(
        &self,
        key_id: &str,
        case_id: &str,
        subject_tag: &str,
    ) -> Result<Option<Stored<ResultRecord>>>;

    /// Every result for a case, in log order.
    fn case_results(&self, case_id: &str) -> Result<Vec<Stored<ResultRecord>>>;

    /// Every decision on a case, in log order.
    fn case_decisions(&self, case_id: &str) -> Result<Vec<Stored<DecisionRecord>>>;

    /// The rows of the index tables.
    fn index_counts(&self) -> Result<IndexCounts>;

    /// Every index row whose entry is in `start..end`, in log order.
    fn index_rows(&self, start: u64, end: u64) -> Result<Vec<Stored<IndexRecord>>>;

    /// Replaces every index row by `rows` (records of the log's entries), in
    /// one transaction.
    fn rebuild_index(&self, rows: &[Stored<IndexRecord>]) -> Result<()>;
}

/// Opens (creating if needed) the store a URL names: `postgres://…` or
/// `postgresql://…` for PostgreSQL, and `sqlite://PATH` or a plain path for
/// an SQLite file.
pub fn open(url: &str) -> Result<Arc<dyn Storage>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStorage::connect(url)?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Arc::new(sqlite::SqliteStorage::open(path)?))
    } else if url.contains("://") {
        Err(StorageError::UnsupportedUrl {
            url: redact_password(url),
        })
    } else {
        Ok(Arc::new(sqlite::SqliteStorage::open(url)?))
    }
}

/// `url` with the password of its userinfo, and any `password=` query
/// parameter, replaced by `***`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}=***")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod redaction_tests {
    use super::redact_password;

    #[test]
    fn passwords_in_userinfo_and_query_are_redacted() {
        assert_eq!(
            redact_password("postgres://zk:secret@db/zkgov"),
            "postgres://zk:***@db/zkgov"
        );
        assert_eq!(
            redact_password("postgres://zk@db/zkgov?sslmode=require&password=secret"),
            "postgres://zk@db/zkgov?sslmode=require&password=***"
        );
        assert_eq!(
            redact_password("postgres://db/zkgov?PASSWORD=secret"),
            "postgres://db/zkgov?PASSWORD=***"
        );
        assert_eq!(redact_password("sqlite://data/v.db"), "sqlite://data/v.db");
        assert_eq!(redact_password("data/v.db"), "data/v.db");
    }
}

/// What an entry is deduplicated on, if anything: the identity of its
/// statement (not the proof's public inputs, `zkgov_circuits::statement`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum StatementKey<'a> {
    /// A key, by its id.
    Key(&'a str),
    /// A result, by (key id, case, subject tag).
    Result(&'a str, &'a str, &'a str),
}

impl IndexRecord {
    /// The key this record is deduplicated on: keys and results have one,
    /// roots and decisions do not.
    pub(crate) fn statement_key(&self) -> Option<StatementKey<'_>> {
        match self {
            IndexRecord::Key(k) => Some(StatementKey::Key(&k.key_id)),
            IndexRecord::Result(r) => {
                Some(StatementKey::Result(&r.key_id, &r.case_id, &r.subject_tag))
            }
            IndexRecord::Root(_) | IndexRecord::Decision(_) | IndexRecord::Unindexed => None,
        }
    }
}

/// Where the entries of one append go, duplicates resolved.
pub(crate) struct AppendPlan<'a> {
    /// The outcome of each entry, in the order given.
    pub outcomes: Vec<Appended>,
    /// The entries to write, in order; the first goes at the old size.
    pub new: Vec<&'a NewEntry>,
}

/// Resolves duplicates for an append to a log of `size` entries.
/// `existing` looks a statement up in the store (inside the append's
/// transaction); statements repeated within `entries` resolve to their
/// first occurrence, so both backends deduplicate identically.
pub(crate) fn plan_append<'a>(
    size: u64,
    entries: &'a [NewEntry],
    mut existing: impl FnMut(StatementKey<'_>) -> Result<Option<u64>>,
) -> Result<AppendPlan<'a>> {
    let mut outcomes = Vec::with_capacity(entries.len());
    let mut new = Vec::with_capacity(entries.len());
    let mut seen: HashMap<StatementKey<'a>, u64> = HashMap::new();
    for entry in entries {
        if let Some(statement) = entry.record.statement_key() {
            if let Some(&index) = seen.get(&statement) {
                outcomes.push(Appended::Existing(index));
                continue;
            }
            if let Some(index) = existing(statement)? {
                seen.insert(statement, index);
                outcomes.push(Appended::Existing(index));
                continue;
            }
            seen.insert(statement, size + new.len() as u64);
        }
        outcomes.push(Appended::New(size + new.len() as u64));
        new.push(entry);
    }
    Ok(AppendPlan { outcomes, new })
}

impl<T> Stored<T> {
    /// The same index with its record mapped, such as a typed row to an
    /// [`IndexRecord`].
    pub(crate) fn map<U>(self, record: impl FnOnce(T) -> U) -> Stored<U> {
        Stored {
            index: self.index,
            record: record(self.record),
        }
    }
}

/// The error for a database of another storage format version.
pub(crate) fn version_mismatch(found: i64, expected: i64) -> StorageError {
    StorageError::Backend {
        backend: "storage",
        message: if found < expected {
            format!(
                "the database has storage format version {found}, from an earlier zkgov; this \
                 build writes version {expected} (governance is in the log) and does not migrate \
                 older databases: start with a new database"
            )
        } else {
            format!(
                "the database has storage format version {found}, from a newer zkgov; this build \
                 understands version {expected}"
            )
        },
    }
}

/// Lets the log's tree functions read a store's nodes.
pub struct Nodes<'a>(pub &'a dyn Storage);

impl NodeReader for Nodes<'_> {
    type Error = StorageError;

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>> {
        self.0.read_nodes(ids)
    }
}

/// A tree error as a storage error: a read error is passed on, any other
/// means the stored nodes contradict the tree's arithmetic.
pub(crate) fn tree_error(error: TreeError<StorageError>) -> StorageError {
    match error {
        TreeError::Read(e) => e,
        other => StorageError::Corrupt {
            what: other.to_string(),
        },
    }
}
