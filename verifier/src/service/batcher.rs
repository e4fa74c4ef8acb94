//! Verification batching: single proofs that arrive at about the same time
//! are verified together, and every department gets its turn.
//!
//! A request that submits one proof hands it to the batcher and waits. The
//! batcher parses every proof of a batch with full point validation and
//! checks them all with one random-linear-combination check
//! ([`verify_proofs`]), which locates any bad proof by splitting. Alone, a
//! proof is verified by itself, as it would be without the batcher; under
//! load, many requests share one multi-Miller loop and one final
//! exponentiation, as many appends share one commit in the
//! [appender](super::appender). Each proof's verdict is its own: a bad proof
//! never fails another.
//!
//! Departments are kept apart, because a batch holding invalid proofs
//! costs far more than a clean one: every invalid proof is found by
//! splitting, and at the end checked alone.
//!
//! - **One queue per department**, bounded: when a department's queue is
//!   full, its next submission is refused at once as overloaded. Another
//!   department's submissions still queue.
//! - **Round robin**: one thread checks one batch at a time, taking turns
//!   over the departments that have proofs waiting, one batch per turn, so
//!   a proof waits for at most one batch of each other department with
//!   work, never for a department's whole queue.
//! - **A batch size per department** bounds what a turn can cost. A
//!   department's batches start at one proof and double after each clean
//!   batch that was full; after a batch that held `k` invalid proofs of
//!   `n`, the next holds at most `n / (k + 1)`, about one invalid proof, so
//!   a department that submits nothing but invalid proofs is soon checked
//!   one proof per turn, each as cheap as verifying it alone. A department
//!   whose proofs are valid soon batches up to [`MAX_BATCH`].
//!
//! A proof whose request has gone (timed out, or its client disconnected)
//! is dropped from its queue unchecked, and holds no place in a full queue.
//! A panic while checking answers that batch as an internal error and
//! leaves the thread running. Once every handle is dropped, the thread
//! checks everything still queued and exits.
//!
//! Parsing and checking run on the batcher's thread and the rayon pool,
//! never on the async executor.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ark_bn254::Fr;
use serde_json::Value;
use tokio::sync::oneshot;
use zkgov_log::rules::{verify_proofs, LoggedKey, ProofClaim, Refusal, VerifiedProof};

use super::error::ApiError;

#[cfg(test)]
mod tests;

/// Most proofs checked in one batch.
const MAX_BATCH: usize = 256;

/// Most proofs of one department waiting to be checked.
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

/// Whether a verdict is a proof that parsed and failed the pairing check.
fn is_invalid(verdict: &Verdict) -> bool {
    matches!(verdict, Err(ApiError::Refused(Refusal::InvalidProof)))
}

/// What a request waits for: the verdict, and its proof's share of the
/// batch's time.
type Answer = (Verdict, Duration);

/// A queued job and the request waiting for it.
struct Pending {
    job: Job,
    reply: oneshot::Sender<Answer>,
}

/// The batcher's bounds.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// Most proofs in one batch.
    max_batch: usize,
    /// Most proofs waiting in one department's queue.
    max_queued: usize,
}

impl Limits {
    const SERVICE: Limits = Limits {
        max_batch: MAX_BATCH,
        max_queued: MAX_QUEUED,
    };
}

/// One department's waiting proofs.
struct Queue {
    waiting: VecDeque<Pending>,
    /// Most proofs its next batch may hold.
    batch_size: usize,
    standing: Standing,
}

/// Where a department stands in the turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Nothing waiting.
    Idle,
    /// Proofs waiting, and its turn in line.
    Waiting,
    /// Its batch is being checked; if more proofs wait, it goes to the back
    /// of the line once that batch is done, behind whoever came meanwhile.
    Checking,
}

/// Every department's queue, and whose turn comes next.
struct Schedule {
    queues: HashMap<String, Queue>,
    /// The departments that stand [`Standing::Waiting`], in the order
    /// they will be served.
    turns: VecDeque<String>,
    /// Every handle is gone: check what is queued, then stop.
    closed: bool,
    /// The thread has stopped; nothing more will be checked.
    stopped: bool,
}

/// One department's batch, taken from its queue.
struct Turn {
    department: String,
    batch: Vec<Pending>,
}

impl Schedule {
    /// The next department's batch, if any has proofs waiting.
    fn take(&mut self) -> Option<Turn> {
        while let Some(department) = self.turns.pop_front() {
            let queue = self
                .queues
                .get_mut(&department)
                .expect("a department with a turn has a queue");
            let mut batch = Vec::new();
            while batch.len() < queue.batch_size {
                let Some(pending) = queue.waiting.pop_front() else {
                    break;
                };
                // Nobody waits for this one any more.
                if !pending.reply.is_closed() {
                    batch.push(pending);
                }
            }
            if batch.is_empty() {
                // Everyone in its queue had given up.
                queue.standing = Standing::Idle;
            } else {
                queue.standing = Standing::Checking;
                return Some(Turn { department, batch });
            }
        }
        None
    }
}

/// What one turn did, for logging and tests.
#[derive(Debug)]
struct Served {
    /// Whose batch it was.
    department: String,
    /// Proofs checked.
    proofs: usize,
    /// Proofs found invalid.
    invalid: usize,
    /// The department's batch size from now on.
    next_batch: usize,
}

/// What the handles and the thread share.
struct Shared {
    limits: Limits,
    schedule: Mutex<Schedule>,
    /// Signalled when a department gets a turn and when the last handle goes.
    work: Condvar,
}

impl Shared {
    fn new(limits: Limits) -> Shared {
        Shared {
            limits,
            schedule: Mutex::new(Schedule {
                queues: HashMap::new(),
                turns: VecDeque::new(),
                closed: false,
                stopped: false,
            }),
            work: Condvar::new(),
        }
    }

    /// The schedule, also after a panic elsewhere: it is only changed in
    /// steps that cannot panic halfway.
    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job` in its department's queue, or refuses it at once.
    fn submit(&self, job: Job) -> Result<oneshot::Receiver<Answer>, ApiError> {
        let (reply, answer) = oneshot::channel();
        let mut schedule = self.schedule();
        if schedule.stopped {
            return Err(ApiError::ShuttingDown);
        }
        let department = job.department.clone();
        let Schedule { queues, turns, .. } = &mut *schedule;
        let queue = queues.entry(department.clone()).or_insert_with(|| Queue {
            waiting: VecDeque::new(),
            batch_size: 1,
            standing: Standing::Idle,
        });
        if queue.waiting.len() >= self.limits.max_queued {
            // Requests that gave up waiting hold no place.
            queue.waiting.retain(|p| !p.reply.is_closed());
            if queue.waiting.len() >= self.limits.max_queued {
                return Err(ApiError::Overloaded);
            }
        }
        queue.waiting.push_back(Pending { job, reply });
        if queue.standing == Standing::Idle {
            queue.standing = Standing::Waiting;
            turns.push_back(department);
            self.work.notify_one();
        }
        Ok(answer)
    }

    /// Waits for the next turn; `None` once every handle is gone and
    /// nothing is left to check.
    fn next_turn(&self) -> Option<Turn> {
        let mut schedule = self.schedule();
        loop {
            if let Some(turn) = schedule.take() {
                return Some(turn);
            }
            if schedule.closed {
                return None;
            }
            schedule = self
                .work
                .wait(schedule)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Checks a turn's batch with `check`, answers every request, and sets
    /// the department's next batch size.
    fn settle(&self, turn: Turn, check: fn(&[Job]) -> Vec<Verdict>) -> Served {
        let Turn { department, batch } = turn;
        let (jobs, replies): (Vec<Job>, Vec<_>) =
            batch.into_iter().map(|p| (p.job, p.reply)).unzip();
        let started = Instant::now();
        // A panic must not stop the thread, or every later submission would
        // be refused.
        let checked = catch_unwind(AssertUnwindSafe(|| check(&jobs)));
        let share = started.elapsed() / jobs.len() as u32;
        let (verdicts, invalid) = match checked {
            Ok(verdicts) => {
                let invalid = verdicts.iter().filter(|v| is_invalid(v)).count();
                (verdicts, Some(invalid))
            }
            Err(_) => {
                tracing::error!(%department, proofs = jobs.len(), "proof verification panicked");
                let verdicts = jobs
                    .iter()
                    .map(|_| Err(ApiError::Internal("proof verification panicked".into())))
                    .collect();
                (verdicts, None)
            }
        };
        for (reply, verdict) in replies.into_iter().zip(verdicts) {
            // A request that gave up waiting has dropped its receiver.
            let _ = reply.send((verdict, share));
        }

        let mut schedule = self.schedule();
        let Schedule { queues, turns, .. } = &mut *schedule;
        let queue = queues
            .get_mut(&department)
            .expect("a department that had a turn has a queue");
        queue.batch_size =
            next_batch_size(queue.batch_size, jobs.len(), invalid, self.limits.max_batch);
        let next_batch = queue.batch_size;
        if queue.waiting.is_empty() {
            queue.standing = Standing::Idle;
        } else {
            queue.standing = Standing::Waiting;
            turns.push_back(department.clone());
        }
        Served {
            department,
            proofs: jobs.len(),
            invalid: invalid.unwrap_or(0),
            next_batch,
        }
    }

    /// Every handle is gone.
    fn close(&self) {
        self.schedule().closed = true;
        self.work.notify_all();
    }

    /// The thread has stopped: queued requests are answered as shutting
    /// down (their reply senders are dropped), and new ones refused.
    fn stop(&self) {
        let mut schedule = self.schedule();
        schedule.stopped = true;
        schedule.turns.clear();
        schedule.queues.clear();
    }
}

/// The batch size after a batch of `size` took `taken` proofs and found
/// `invalid` of them invalid (`None`: checking panicked).
///
/// Splitting costs little when a batch holds one invalid proof and a lot
/// when it holds many, so the next batch is sized to hold about one: at
/// most `taken / (invalid + 1)`, at least one proof. A clean batch that
/// was full doubles the size, up to `max`; a clean batch that was not full
/// says nothing about a larger one. After a panic the size drops to one
/// proof, so that a proof that makes checking panic takes as few others
/// with it as it can.
fn next_batch_size(size: usize, taken: usize, invalid: Option<usize>, max: usize) -> usize {
    match invalid {
        None => 1,
        Some(0) if taken >= size => (2 * size).min(max),
        Some(0) => size,
        Some(invalid) => (taken / (invalid + 1)).clamp(1, size),
    }
}

/// Closes the schedule when the last handle goes.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The handle requests use to have a proof checked.
#[derive(Clone)]
pub(super) struct Batcher {
    handle: Arc<Handle>,
}

impl Batcher {
    /// Starts the batcher thread. It exits, after checking everything
    /// queued, once every [`Batcher`] clone is dropped.
    pub fn start() -> Batcher {
        let shared = Arc::new(Shared::new(Limits::SERVICE));
        let batcher = Batcher::idle(shared.clone());
        std::thread::Builder::new()
            .name("zkgov-verify-batcher".into())
            .spawn(move || run(&shared, check_all))
            .expect("spawning the verification batcher thread");
        batcher
    }

    /// A handle on `shared`, with no thread yet.
    fn idle(shared: Arc<Shared>) -> Batcher {
        Batcher {
            handle: Arc::new(Handle { shared }),
        }
    }

    /// Checks `job`, batched with whatever else its department has queued;
    /// returns the verdict and this proof's share of the batch's time.
    pub async fn check(&self, job: Job) -> Result<(Verdict, Duration), ApiError> {
        let answer = self.handle.shared.submit(job)?;
        answer.await.map_err(|_| ApiError::ShuttingDown)
    }
}

/// The batcher thread: one turn after another, until every handle is gone
/// and every queue empty.
fn run(shared: &Shared, check: fn(&[Job]) -> Vec<Verdict>) {
    /// Marks the thread stopped however it ends, so that no request waits
    /// for a thread that is gone.
    struct Stopped<'a>(&'a Shared);
    impl Drop for Stopped<'_> {
        fn drop(&mut self) {
            self.0.stop();
        }
    }
    let _stopped = Stopped(shared);
    while let Some(turn) = shared.next_turn() {
        let served = shared.settle(turn, check);
        tracing::debug!(
            department = %served.department,
            proofs = served.proofs,
            invalid = served.invalid,
            batch_size = served.next_batch,
            "checked a batch"
        );
    }
}
