//! Verification batching: single proofs that arrive at about the same time
//! are verified together.
//!
//! A request that submits one proof hands it to the batcher and waits. The
//! batcher takes whatever has queued up, parses every proof with full point
//! validation, and checks them all with one random-linear-combination
//! check ([`verify_batch`]), which locates any bad proof by splitting. Alone,
//! a proof is verified by itself, as it would be without the batcher; under
//! load, many requests share one multi-Miller loop and one final
//! exponentiation, as many appends share one commit in the
//! [appender](super::appender). Each proof's verdict is its own: a bad proof
//! never fails another. Batches never mix departments, so a department that
//! submits bad proofs, whose batches must be split to find them, slows only
//! its own checks.
//!
//! The queue is bounded: when it is full, a submission is refused at once
//! as overloaded. A proof whose request has gone (timed out, or its client
//! disconnected) is dropped from the queue unchecked.
//!
//! Parsing and checking run on the batcher's thread and the rayon pool,
//! never on the async executor.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ark_bn254::Fr;
use serde_json::Value;
use tokio::sync::oneshot;
use zkgov_log::rules::{verify_proofs, LoggedKey, ProofClaim, VerifiedProof};

use super::error::ApiError;

/// Most proofs checked in one batch.
const MAX_BATCH: usize = 256;

/// Most proofs waiting to be checked.
const MAX_QUEUED: usize = 4 * MAX_BATCH;

/// One proof to check.
pub(super) struct Job {
    /// The department that submitted it.
    pub department: String,
    /// The registered key it claims to be under.
    pub key: Arc<LoggedKey>,
    /// The proof as submitted (snarkjs JSON), not yet parsed.
    pub proof: Value,
    /// Its public inputs, already canonical, in the key's count.
    pub inputs: Vec<Fr>,
}

/// What checking says of one job: the proof's verification, whose
/// canonical proof JSON goes into the log entry, or the refusal.
pub(super) type Verdict = Result<VerifiedProof, ApiError>;

/// Parses every job's proof with full validation and checks those that
/// parse with one combined check, by the rules' [`verify_proofs`]; one
/// verdict per job, in order.
pub(super) fn check_all(jobs: &[Job]) -> Vec<Verdict> {
    let claims: Vec<ProofClaim> = jobs
        .iter()
        .map(|job| ProofClaim {
            key: &job.key,
            public_inputs: &job.inputs,
            proof: &job.proof,
        })
        .collect();
    verify_proofs(&claims)
        .into_iter()
        .map(|verdict| verdict.map_err(ApiError::Refused))
        .collect()
}

struct Pending {
    job: Job,
    reply: oneshot::Sender<(Verdict, Duration)>,
}

/// The handle requests use to have a proof checked.
#[derive(Clone)]
pub(super) struct Batcher {
    queue: mpsc::SyncSender<Pending>,
}

impl Batcher {
    /// Starts the batcher thread. It exits, after checking everything
    /// queued, once every [`Batcher`] clone is dropped.
    pub fn start() -> Batcher {
        let (queue, inbox) = mpsc::sync_channel::<Pending>(MAX_QUEUED);
        std::thread::Builder::new()
            .name("zkgov-verify-batcher".into())
            .spawn(move || run(inbox))
            .expect("spawning the verification batcher thread");
        Batcher { queue }
    }

    /// Checks `job`, batched with whatever else is queued; returns the
    /// verdict and this proof's share of the batch's time.
    pub async fn check(&self, job: Job) -> Result<(Verdict, Duration), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Pending { job, reply })
            .map_err(|e| match e {
                mpsc::TrySendError::Full(_) => ApiError::Overloaded,
                mpsc::TrySendError::Disconnected(_) => ApiError::ShuttingDown,
            })?;
        answer.await.map_err(|_| ApiError::ShuttingDown)
    }
}

fn run(inbox: mpsc::Receiver<Pending>) {
    while let Ok(first) = inbox.recv() {
        let mut group = vec![first];
        while group.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut by_department: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
        for pending in group {
            // Nobody waits for this one any more.
            if pending.reply.is_closed() {
                continue;
            }
            by_department
                .entry(pending.job.department.clone())
                .or_default()
                .push(pending);
        }
        for batch in by_department.into_values() {
            check_and_reply(batch);
        }
    }
}

fn check_and_reply(batch: Vec<Pending>) {
    let (jobs, replies): (Vec<Job>, Vec<_>) = batch.into_iter().map(|p| (p.job, p.reply)).unzip();
    let started = Instant::now();
    // A panic must not stop the thread, or every later submission would
    // be refused.
    let verdicts = catch_unwind(AssertUnwindSafe(|| check_all(&jobs))).unwrap_or_else(|_| {
        tracing::error!(proofs = jobs.len(), "proof verification panicked");
        jobs.iter()
            .map(|_| Err(ApiError::Internal("proof verification panicked".into())))
            .collect()
    });
    let share = started.elapsed() / jobs.len() as u32;
    for (reply, verdict) in replies.into_iter().zip(verdicts) {
        // A request that gave up waiting has dropped its receiver.
        let _ = reply.send((verdict, share));
    }
}
