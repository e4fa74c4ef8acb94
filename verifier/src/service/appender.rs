//! Group commit under the rules: one thread appends to the log on behalf of
//! every request, and it alone decides what goes in.
//!
//! Requests hand their draft entries to the appender and wait. The appender
//! takes whatever has queued up and opens one storage transaction under the
//! log's write lock ([`Storage::append_after`]). Holding the rules' state,
//! it first applies the entries that other instances on the same database
//! appended since it last looked (their proofs were checked by the
//! instance that accepted them), then each draft in turn with
//! [`LogState::apply`] (or [`LogState::apply_verified`], for a result whose
//! proof the batcher checked): an entry the rules refuse is answered with
//! the refusal and not written. The transaction appends every accepted
//! entry (one fsync); the appender signs a checkpoint of the new log, keeps
//! it fsynced beside the signing key, and only then answers: a receipt
//! always names a committed entry under a checkpoint that the service will
//! never contradict. No instance judges an entry against a state that
//! lacks another's, since nobody appends between the catching up and the
//! commit.
//!
//! While no request comes, the appender looks for other instances' entries
//! every [`FOLLOW_INTERVAL`] and catches up with them the same way, so that
//! reads, event streams and witnesses move on with the shared log.
//!
//! If the transaction fails, nothing was written; the state, which already
//! holds the group's entries, is rebuilt from the store. Until a rebuild
//! succeeds (it is retried before each group and every quarter second) the
//! state is marked stale, and the service answers every request 503.
//!
//! After each commit it publishes the log's new size on a watch channel,
//! which applicants' event streams wait on instead of polling the log.
//!
//! On shutdown the queue is drained: every request already handed over is
//! committed and answered before the thread exits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use zkgov_log::entry::Entry;
use zkgov_log::replay::replay_pinned;
use zkgov_log::rules::{LogState, Refusal, VerifiedProof};

use super::signed::SignedLog;
use crate::storage::{Appended, NewEntry, Storage};

/// Most entries committed in one transaction.
const MAX_GROUP: usize = 1024;

/// An entry to append, with its verified proof if it is a result.
pub struct Draft {
    /// The entry; its time is set when it is appended.
    pub entry: Entry,
    /// The proof's verification, for a result.
    pub verified: Option<VerifiedProof>,
}

/// What became of one draft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Appended at this index.
    New(u64),
    /// The same statement or key is logged at this index already.
    Existing(u64),
    /// The rules refused it.
    Refused(Refusal),
}

/// The drafts' outcomes and the signed checkpoint that covers them.
pub struct Committed {
    /// One outcome per draft, in order.
    pub outcomes: Vec<Outcome>,
    /// The signed note of a checkpoint that includes every new entry.
    pub checkpoint: String,
    /// That checkpoint's size.
    pub size: u64,
}

struct Pending {
    drafts: Vec<Draft>,
    reply: oneshot::Sender<Result<Committed, String>>,
}

/// The handle requests use to append.
#[derive(Clone)]
pub struct Appender {
    queue: mpsc::Sender<Pending>,
}

/// What went wrong appending.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The appender has stopped (the service is shutting down).
    #[error("the log appender has stopped")]
    Stopped,
    /// The storage transaction or the checkpoint failed; nothing was
    /// written.
    #[error("{0}")]
    Storage(String),
}

/// What the appender thread owns.
pub(super) struct Ledger {
    /// The store.
    pub storage: Arc<dyn Storage>,
    /// The rules' state, shared with the handlers for reading.
    pub state: Arc<RwLock<LogState>>,
    /// The signer and the last checkpoint signed.
    pub signed: Arc<SignedLog>,
    /// The log's size after every commit, for those who wait on it.
    pub size: watch::Sender<u64>,
    /// Set from a failed commit until the state is rebuilt from the store.
    pub stale: Arc<AtomicBool>,
}

impl Appender {
    /// Starts the appender thread. The thread exits, after draining its
    /// queue, once every [`Appender`] clone is dropped; join the returned
    /// handle to wait for that.
    pub(super) fn start(ledger: Ledger) -> (Appender, JoinHandle<()>) {
        let (queue, inbox) = mpsc::channel::<Pending>();
        let thread = std::thread::Builder::new()
            .name("zkgov-log-appender".into())
            .spawn(move || run(ledger, inbox))
            .expect("spawning the appender thread");
        (Appender { queue }, thread)
    }

    /// Applies and appends `drafts` in order and waits until the accepted
    /// ones are durably committed under a signed checkpoint.
    pub async fn append(&self, drafts: Vec<Draft>) -> Result<Committed, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { drafts, reply })
            .map_err(|_| AppendError::Stopped)?;
        answer
            .await
            .map_err(|_| AppendError::Stopped)?
            .map_err(AppendError::Storage)
    }

    /// Applies the entries that other instances appended to the store
    /// since the state last looked, and waits until it has; the log's size
    /// then.
    pub async fn catch_up(&self) -> Result<u64, AppendError> {
        Ok(self.append(Vec::new()).await?.size)
    }
}

/// How often a stale state is rebuilt again while no request comes.
const REBUILD_RETRY: Duration = Duration::from_millis(250);

/// How often, while no request comes, the appender looks for entries that
/// other instances appended to the same database: the bound on how stale a
/// read of this instance can be when several share one database.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

fn run(ledger: Ledger, inbox: mpsc::Receiver<Pending>) {
    loop {
        let stale = ledger.stale.load(Ordering::Acquire);
        let wait = if stale {
            REBUILD_RETRY
        } else {
            FOLLOW_INTERVAL
        };
        let first = match inbox.recv_timeout(wait) {
            Ok(next) => next,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if stale {
                    rebuild(
                        &ledger,
                        &mut ledger.state.write().unwrap_or_else(|p| p.into_inner()),
                    );
                } else {
                    follow(&ledger);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut group = vec![first];
        let mut count = group[0].drafts.len();
        while count < MAX_GROUP {
            match inbox.try_recv() {
                Ok(next) => {
                    count += next.drafts.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        commit(&ledger, group);
    }
}

/// Catches up with the entries other instances appended, if the store has
/// any beyond the state: one cheap size query when it has none.
fn follow(ledger: &Ledger) {
    let known = ledger
        .state
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .size();
    match ledger.storage.size() {
        Ok(size) if size == known => {}
        // A commit with no drafts reads them under the write lock, applies
        // them and signs the grown log; a store that went back fails it.
        Ok(_) => commit(ledger, Vec::new()),
        Err(e) => tracing::warn!(error = %e, "cannot look for other instances' entries"),
    }
}

/// Rebuilds the state from the store after a failed commit; the state
/// stays stale (and the service answers 503) until this succeeds.
fn rebuild(ledger: &Ledger, state: &mut LogState) -> bool {
    match super::startup::load_state(&*ledger.storage, &ledger.signed) {
        Ok(rebuilt) => {
            *state = rebuilt;
            ledger.stale.store(false, Ordering::Release);
            tracing::info!(size = state.size(), "log state rebuilt from the database");
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot rebuild the log state after a failed append");
            false
        }
    }
}

fn commit(ledger: &Ledger, group: Vec<Pending>) {
    let mut state = ledger.state.write().unwrap_or_else(|p| p.into_inner());
    if ledger.stale.load(Ordering::Acquire) && !rebuild(ledger, &mut state) {
        drop(state);
        for pending in group {
            let _ = pending.reply.send(Err(
                "the log state is not rebuilt yet after a failed commit".to_string(),
            ));
        }
        return;
    }
    let seen = state.size();
    let mut outcomes: Vec<Vec<Outcome>> = Vec::with_capacity(group.len());
    let mut caught_up = Ok(());
    let mut count = 0;
    // Under the log's write lock: the entries other instances appended
    // since `seen` first, then this group, judged after them.
    let appended = ledger.storage.append_after(Some(seen), &mut |others| {
        if let Err(violation) = replay_pinned(&mut state, others) {
            caught_up = Err(format!(
                "the entries another instance appended break the rules: {violation}"
            ));
            return Vec::new();
        }
        if !others.is_empty() {
            tracing::debug!(entries = others.len(), "caught up with other instances");
        }
        let new = judge(&mut state, &group, &mut outcomes);
        count = new.len();
        new
    });
    let written = appended
        .map_err(|e| e.to_string())
        .and_then(|appended| caught_up.map(|()| appended))
        .and_then(|appended| check_placed(&state, count, &appended))
        .and_then(|()| {
            ledger
                .signed
                .sign(&*ledger.storage, state.size(), state.root())
                .map_err(|e| e.to_string())
        });
    let failure = match written {
        Ok((checkpoint, size)) => {
            drop(state);
            ledger.size.send_replace(size);
            for (pending, outcomes) in group.into_iter().zip(outcomes) {
                let _ = pending.reply.send(Ok(Committed {
                    outcomes,
                    checkpoint: checkpoint.clone(),
                    size,
                }));
            }
            return;
        }
        Err(message) => message,
    };
    tracing::error!(message = %failure, entries = count, "log append failed");
    // The state holds entries that were not written: rebuild it, and until
    // that succeeds, answer nothing from it.
    ledger.stale.store(true, Ordering::Release);
    rebuild(ledger, &mut state);
    drop(state);
    for pending in group {
        let _ = pending.reply.send(Err(failure.clone()));
    }
}

/// Applies each draft of `group` to `state`, in order, with the decisions
/// they make due; pushes one list of outcomes per request onto `outcomes`,
/// and returns the accepted entries.
fn judge(
    state: &mut LogState,
    group: &[Pending],
    outcomes: &mut Vec<Vec<Outcome>>,
) -> Vec<NewEntry> {
    let mut new: Vec<NewEntry> = Vec::new();
    for pending in group {
        let mut mine = Vec::with_capacity(pending.drafts.len());
        for draft in &pending.drafts {
            let mut entry = draft.entry.clone();
            let time = state.next_time(super::now());
            entry.set_time(time);
            if let Entry::Decision {
                case_id,
                decision,
                licence: licence @ None,
                ..
            } = &mut entry
            {
                // An approval's licence depends on its time, so the rules
                // supply it once the time is known.
                if decision == "approved" {
                    *licence = state.licence_due(case_id, time);
                }
            }
            let applied = match &draft.verified {
                Some(verified) => state.apply_verified(&entry, verified),
                None => state.apply(&entry),
            };
            mine.push(match applied {
                Ok(applied) => {
                    new.push(NewEntry::from(&entry));
                    // An answer that settles a case of an automatic
                    // procedure is followed by the decision the rules
                    // compute, in the same commit.
                    if let Entry::Result { case_id, .. } | Entry::Unmet { case_id, .. } = &entry {
                        if let Some(decision) = state.due_decision(case_id) {
                            match state.apply(&decision) {
                                Ok(_) => new.push(NewEntry::from(&decision)),
                                Err(refusal) => tracing::error!(
                                    %case_id, %refusal,
                                    "the rules refused their own automatic decision"
                                ),
                            }
                        }
                    }
                    Outcome::New(applied.index)
                }
                Err(Refusal::AlreadyLogged { index }) => Outcome::Existing(index),
                Err(refusal) => Outcome::Refused(refusal),
            });
        }
        outcomes.push(mine);
    }
    new
}

/// Checks that the store put the last `count` entries of `state` where the
/// state has them.
fn check_placed(state: &LogState, count: usize, appended: &[Appended]) -> Result<(), String> {
    let first = state.size() - count as u64;
    for (offset, outcome) in appended.iter().enumerate() {
        if *outcome != Appended::New(first + offset as u64) {
            return Err(format!(
                "the store placed entry {} as {outcome:?}, where the rules' state has it new",
                first + offset as u64
            ));
        }
    }
    Ok(())
}
