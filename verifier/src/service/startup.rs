//! Start-up: the rules' state rebuilt from the log, the log checked against
//! the last checkpoint signed, governance brought in line with the config,
//! and the index tables checked against the log (or rebuilt from it).

use zkgov_log::encode_hash;
use zkgov_log::entry::Entry;
use zkgov_log::replay::{replay, replay_pinned, Violation};
use zkgov_log::rules::LogState;
use zkgov_log::tree::{leaf_hash, Frontier};

use super::config::{Config, IndexCheck};
use super::signed::SignedLog;
use crate::storage::{IndexRecord, NewEntry, Storage, StorageError, Stored};

/// Entries read from the store at a time.
const PAGE: u64 = 4096;

/// Why the log cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogStartError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database holds fewer entries than the service has signed.
    #[error("the database holds {database} log entries, but this service has signed a checkpoint of {signed}: it was restored from an old backup or is a lagging replica. Serving it would fork the log. Recover the missing entries with `zkgov log restore --from URL|FILE`, then start again")]
    Behind {
        /// Entries in the database.
        database: u64,
        /// The size signed.
        signed: u64,
    },
    /// A witness has cosigned more entries than the database holds.
    #[error("witness {witness} has cosigned a checkpoint of {witnessed} log entries, but the database holds {database}: it was restored from an old backup or is a lagging replica. Signing on it would fork the log. Recover the missing entries (`zkgov log restore --from URL|FILE`, with the data directory of an instance that signed them), then start again")]
    BehindWitness {
        /// The witness's name.
        witness: String,
        /// The size it cosigned.
        witnessed: u64,
        /// Entries in the database.
        database: u64,
    },
    /// The database's first entries are not the ones the service signed.
    #[error("the database's first {size} entries hash to {found}, but this service signed {signed} for them: the database was changed or replaced. It will not be served")]
    Forked {
        /// The signed size.
        size: u64,
        /// The root found, base64.
        found: String,
        /// The root signed, base64.
        signed: String,
    },
    /// An entry breaks the rules.
    #[error("the log in the database breaks the rules: {0}")]
    Violation(Violation),
    /// The index tables disagree with the log.
    #[error(
        "the index tables disagree with the log: {0}. Rebuild them with `zkgov serve --reindex`"
    )]
    IndexMismatch(String),
}

impl From<Violation> for LogStartError {
    fn from(violation: Violation) -> Self {
        LogStartError::Violation(violation)
    }
}

/// Rebuilds the rules' state from the store: the entries the service signed
/// before are checked against that checkpoint's root and applied without
/// re-verifying their proofs (they were verified when accepted, and the
/// signed root pins them); any entry beyond is replayed in full.
pub fn load_state(storage: &dyn Storage, signed: &SignedLog) -> Result<LogState, LogStartError> {
    let size = storage.size()?;
    let last = signed.last();
    let pinned = match &last {
        Some(checkpoint) if checkpoint.size > size => {
            return Err(LogStartError::Behind {
                database: size,
                signed: checkpoint.size,
            })
        }
        Some(checkpoint) => checkpoint.size,
        None => 0,
    };
    // One read of the signed prefix: its leaves rebuild the signed root,
    // and its entries go through the rules. The root is judged first: an
    // entry changed behind the service's back is reported as that, even if
    // it also breaks a rule.
    let mut state = LogState::new();
    let mut frontier = Frontier::new();
    let mut violation = None;
    let mut start = 0;
    while start < pinned {
        let end = (start + PAGE).min(pinned);
        let entries = storage.entries(start, end)?;
        for entry in &entries {
            frontier.push(leaf_hash(entry));
        }
        if violation.is_none() {
            violation = replay_pinned(&mut state, &entries).err();
        }
        start = end;
    }
    if let Some(checkpoint) = &last {
        if frontier.root() != checkpoint.root {
            return Err(LogStartError::Forked {
                size: checkpoint.size,
                found: encode_hash(&frontier.root()),
                signed: encode_hash(&checkpoint.root),
            });
        }
    }
    if let Some(violation) = violation {
        return Err(violation.into());
    }
    if size > pinned {
        tracing::info!(
            entries = size - pinned,
            "replaying log entries beyond the last signed checkpoint, proofs verified"
        );
    }
    while start < size {
        let end = (start + PAGE).min(size);
        replay(&mut state, &storage.entries(start, end)?, |_| {})?;
        start = end;
    }
    Ok(state)
}

/// The governance entry the config asks for, if the log's differs.
pub fn governance_change(config: &Config, state: &LogState) -> Option<Entry> {
    let entry = config.governance_entry(super::now());
    let Entry::Governance {
        departments,
        freshness_seconds,
        grace_seconds,
        origin,
        require_multi_party,
        ..
    } = &entry
    else {
        unreachable!("a governance entry")
    };
    let same = state.governance().is_some_and(|g| {
        g.entry_departments() == *departments
            && g.freshness_seconds == *freshness_seconds
            && g.grace_seconds == *grace_seconds
            && g.origin == *origin
            && g.require_multi_party == *require_multi_party
    });
    (!same).then_some(entry)
}

/// The index rows of the log's entries `start..end`.
fn expected_rows(
    storage: &dyn Storage,
    start: u64,
    end: u64,
) -> Result<Vec<Stored<IndexRecord>>, LogStartError> {
    let mut rows = Vec::new();
    let mut at = start;
    while at < end {
        let stop = (at + PAGE).min(end);
        for (offset, bytes) in storage.entries(at, stop)?.iter().enumerate() {
            let index = at + offset as u64;
            let entry =
                Entry::from_bytes(bytes).map_err(|error| Violation::Malformed { index, error })?;
            let record = IndexRecord::from(&entry);
            if record != IndexRecord::Unindexed {
                rows.push(Stored { index, record });
            }
        }
        at = stop;
    }
    Ok(rows)
}

/// Checks the index tables against the log: the row counts always, and
/// the rows of the last entries (or all of them) one by one. Rebuilds them
/// when asked, or when they are empty and the log is not.
pub fn check_index(
    storage: &dyn Storage,
    state: &LogState,
    check: IndexCheck,
) -> Result<(), LogStartError> {
    let size = state.size();
    let counts = state.counts();
    let found = storage.index_counts()?;
    let empty = found.keys + found.roots + found.results + found.decisions == 0;
    let log_rows = counts.keys + counts.roots + counts.results + counts.decisions;
    if check == IndexCheck::Rebuild || (empty && log_rows > 0) {
        tracing::info!(entries = size, "rebuilding the index tables from the log");
        let rows = expected_rows(storage, 0, size)?;
        storage.rebuild_index(&rows)?;
        return Ok(());
    }
    let from = match check {
        IndexCheck::Last(n) => size.saturating_sub(n),
        IndexCheck::All | IndexCheck::Rebuild => 0,
    };
    let counts_agree = (found.keys, found.roots, found.results, found.decisions)
        == (counts.keys, counts.roots, counts.results, counts.decisions);
    // Counts that disagree mean a row was added or removed somewhere: look
    // at every row to name the first.
    let from = if counts_agree { from } else { 0 };
    let expected = expected_rows(storage, from, size)?;
    let stored = storage.index_rows(from, u64::MAX)?;
    let mut expected_rows = expected.iter();
    let mut stored_rows = stored.iter();
    loop {
        match (expected_rows.next(), stored_rows.next()) {
            (None, None) => break,
            (Some(e), Some(s)) if e == s => continue,
            (e, s) => {
                let index = match (e, s) {
                    (Some(e), Some(s)) => e.index.min(s.index),
                    (Some(e), None) => e.index,
                    (None, Some(s)) => s.index,
                    (None, None) => unreachable!(),
                };
                return Err(LogStartError::IndexMismatch(format!(
                    "the first row that differs is at log entry {index} (the log's entry gives \
                     {}; the tables hold {})",
                    e.filter(|e| e.index == index)
                        .map_or("no row".to_string(), |e| format!("{:?}", e.record)),
                    s.filter(|s| s.index == index)
                        .map_or("no row".to_string(), |s| format!("{:?}", s.record)),
                )));
            }
        }
    }
    if !counts_agree {
        return Err(LogStartError::IndexMismatch(format!(
            "the tables hold {found:?} rows, the log {counts:?}"
        )));
    }
    Ok(())
}

/// Appends an entry at start-up, before the appender runs: under the
/// log's write lock, the state first catches up with what other instances
/// appended since it was loaded; then `decide` says, from the state, what
/// to append, if anything; the rules apply it, and the store commits it.
pub fn append_direct(
    storage: &dyn Storage,
    state: &mut LogState,
    mut decide: impl FnMut(&LogState) -> Option<Entry>,
) -> Result<(), LogStartError> {
    let mut judged = Ok(());
    storage.append_after(Some(state.size()), &mut |others| {
        if let Err(violation) = replay_pinned(state, others) {
            judged = Err(violation);
            return Vec::new();
        }
        let Some(entry) = decide(state) else {
            return Vec::new();
        };
        match state.apply(&entry) {
            Ok(_) => vec![NewEntry::from(&entry)],
            Err(refusal) => {
                judged = Err(Violation::Refused {
                    index: state.size(),
                    refusal,
                });
                Vec::new()
            }
        }
    })?;
    Ok(judged?)
}

/// What `zkgov log restore` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// Entries the database held before.
    pub database: u64,
    /// The size of the last checkpoint signed.
    pub signed: u64,
    /// Entries appended.
    pub appended: u64,
}

/// Why a restore failed; nothing was appended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The service could not open its database or signing key.
    #[error(transparent)]
    Start(#[from] super::StartError),
    /// The log in the database cannot be read.
    #[error(transparent)]
    Log(#[from] LogStartError),
    /// Nothing was ever signed, so there is nothing to restore against.
    #[error("this service has signed no checkpoint in {0}: there is nothing to restore against")]
    NothingSigned(String),
    /// The copy could not be read.
    #[error("cannot read entries {start}..{end} from the copy: {message}")]
    Source {
        /// First entry asked for.
        start: u64,
        /// One past the last.
        end: u64,
        /// Why.
        message: String,
    },
    /// The copy's entries do not rebuild the signed checkpoint.
    #[error("the database's {database} entries and the copy's {copied} do not hash to the root this service signed for {signed} entries: the copy is not this log")]
    Mismatch {
        /// Entries in the database.
        database: u64,
        /// Entries taken from the copy.
        copied: u64,
        /// The signed size.
        signed: u64,
    },
}

/// Where a restore reads the log from: the entries `[start, end)`, or why
/// it cannot give them.
pub type EntrySource<'a> = dyn FnMut(u64, u64) -> Result<Vec<Vec<u8>>, String> + 'a;

/// Appends the entries the database lacks, up to the last checkpoint this
/// service signed, taken from another copy of the log (`fetch(start, end)`
/// returns entries `start..end`). The database's entries and the copy's
/// together must hash to that checkpoint's root; only then is anything
/// appended.
pub fn restore(config: &Config, fetch: &mut EntrySource<'_>) -> Result<Restored, RestoreError> {
    let storage =
        crate::storage::open(&config.database).map_err(|source| super::StartError::Storage {
            url: crate::storage::redact_password(&config.database),
            source,
        })?;
    let signed = SignedLog::open(&config.data_dir, &config.origin)?;
    let last = signed
        .last()
        .ok_or_else(|| RestoreError::NothingSigned(config.data_dir.display().to_string()))?;
    let database = storage.size().map_err(LogStartError::from)?;
    if database >= last.size {
        return Ok(Restored {
            database,
            signed: last.size,
            appended: 0,
        });
    }
    let mut frontier = Frontier::new();
    let mut at = 0;
    while at < database {
        let end = (at + PAGE).min(database);
        for entry in storage.entries(at, end).map_err(LogStartError::from)? {
            frontier.push(leaf_hash(&entry));
        }
        at = end;
    }
    let mut copied_bytes: Vec<Vec<u8>> = Vec::new();
    while at < last.size {
        let end = (at + PAGE).min(last.size);
        let entries = fetch(at, end).map_err(|message| RestoreError::Source {
            start: at,
            end,
            message,
        })?;
        if entries.len() as u64 != end - at {
            return Err(RestoreError::Source {
                start: at,
                end,
                message: format!("{} entries came back", entries.len()),
            });
        }
        for bytes in entries {
            frontier.push(leaf_hash(&bytes));
            copied_bytes.push(bytes);
        }
        at = end;
    }
    if frontier.root() != last.root {
        return Err(RestoreError::Mismatch {
            database,
            copied: copied_bytes.len() as u64,
            signed: last.size,
        });
    }
    // The signed root pins the copy; the rules still apply, so a log that
    // breaks them is refused whole.
    let mut state = LogState::new();
    let mut at = 0;
    while at < database {
        let end = (at + PAGE).min(database);
        let entries = storage.entries(at, end).map_err(LogStartError::from)?;
        replay_pinned(&mut state, &entries).map_err(LogStartError::from)?;
        at = end;
    }
    replay_pinned(&mut state, &copied_bytes).map_err(LogStartError::from)?;
    let copied: Vec<NewEntry> = copied_bytes
        .iter()
        .map(|bytes| {
            Entry::from_bytes(bytes)
                .map(|entry| NewEntry::from(&entry))
                .expect("replayed entries parse")
        })
        .collect();
    for chunk in copied.chunks(1024) {
        storage.append(chunk).map_err(LogStartError::from)?;
    }
    Ok(Restored {
        database,
        signed: last.size,
        appended: copied.len() as u64,
    })
}
