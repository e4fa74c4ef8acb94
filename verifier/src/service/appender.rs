//! Group commit: one thread appends to the log on behalf of every request.
//!
//! Requests hand their entries to the appender and wait. The appender takes
//! whatever has queued up, appends it all in one storage transaction (one
//! fsync), and answers each request with where its entries went. Under load
//! this turns many small durable commits into few large ones; alone, a
//! request waits for exactly one commit, as it would without the appender.
//!
//! On shutdown the queue is drained: every request already handed over is
//! committed and answered before the thread exits.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::storage::{Appended, NewEntry, Storage};

/// Most entries committed in one transaction.
const MAX_GROUP: usize = 1024;

struct Pending {
    entries: Vec<NewEntry>,
    reply: oneshot::Sender<Result<Vec<Appended>, String>>,
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
    /// The storage transaction failed; nothing was written.
    #[error("{0}")]
    Storage(String),
}

impl Appender {
    /// Starts the appender thread over `storage`. The thread exits, after
    /// draining its queue, once every [`Appender`] clone is dropped; join
    /// the returned handle to wait for that.
    pub fn start(storage: Arc<dyn Storage>) -> (Appender, JoinHandle<()>) {
        let (queue, inbox) = mpsc::channel::<Pending>();
        let thread = std::thread::Builder::new()
            .name("zkgov-log-appender".into())
            .spawn(move || run(storage, inbox))
            .expect("spawning the appender thread");
        (Appender { queue }, thread)
    }

    /// Appends `entries` in order and waits until they are durably
    /// committed.
    pub async fn append(&self, entries: Vec<NewEntry>) -> Result<Vec<Appended>, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { entries, reply })
            .map_err(|_| AppendError::Stopped)?;
        answer
            .await
            .map_err(|_| AppendError::Stopped)?
            .map_err(AppendError::Storage)
    }
}

fn run(storage: Arc<dyn Storage>, inbox: mpsc::Receiver<Pending>) {
    while let Ok(first) = inbox.recv() {
        let mut group = vec![first];
        let mut count = group[0].entries.len();
        while count < MAX_GROUP {
            match inbox.try_recv() {
                Ok(next) => {
                    count += next.entries.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        commit(&*storage, group);
    }
}

fn commit(storage: &dyn Storage, group: Vec<Pending>) {
    let all: Vec<NewEntry> = group.iter().flat_map(|p| p.entries.clone()).collect();
    match storage.append(&all) {
        Ok(appended) => {
            let mut appended = appended.into_iter();
            for pending in group {
                let mine: Vec<Appended> = appended.by_ref().take(pending.entries.len()).collect();
                let _ = pending.reply.send(Ok(mine));
            }
        }
        // One request's entries must not fail another's: retry each alone.
        Err(_) if group.len() > 1 => {
            for pending in group {
                commit(storage, vec![pending]);
            }
        }
        Err(error) => {
            let message = error.to_string();
            tracing::error!(%message, entries = all.len(), "log append failed");
            for pending in group {
                let _ = pending.reply.send(Err(message.clone()));
            }
        }
    }
}
