//! Batch proving: parallel across proofs, results in input order, for one
//! key ([`Engine::prove_batch`]) or for several at once ([`prove_mixed`]).
//!
//! `threads` workers share one lazily pulled job iterator. Each worker runs
//! on its own one-thread rayon pool, so the prover's internal `rayon` calls
//! stay on that thread: a batch keeps every core busy with whole proofs, and
//! no pool is ever nested inside another.
//!
//! Results come back on a bounded channel and wait in a reorder buffer until
//! every earlier job is delivered. A worker may take job `n` only while
//! `n < delivered + window`, so at most `window` jobs and results exist at
//! once, whatever the batch size.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use ark_bn254::Bn254;
use ark_groth16::Proof;
use rand::rngs::{OsRng, StdRng};
use rand::SeedableRng;
use zkgov_circuits::circuit::StatementWitness;
use zkgov_circuits::statement::Statement;

use super::{Engine, EngineError};

/// Jobs in flight per worker: taken, being proved, or proved and waiting for
/// an earlier job. Enough to keep workers busy while one job runs long.
pub const REORDER_WINDOW_PER_THREAD: usize = 4;

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Jobs taken from the iterator, each delivered exactly once.
    pub taken: u64,
    /// Jobs delivered with a proof.
    pub proved: u64,
    /// Jobs delivered with an error.
    pub failed: u64,
    /// Whether the batch ended because the stop flag was set.
    pub stopped: bool,
}

/// A job: its tag, the engine that proves it, its statement and witness.
type Job<'e, T> = (T, &'e Engine, Statement, StatementWitness);

/// A finished job: its position in the batch, tag, statement and result.
type Done<T> = (u64, T, Statement, Result<Proof<Bn254>, EngineError>);

/// The shared intake: the iterator and the window bookkeeping.
struct Intake<I> {
    jobs: I,
    /// The next job's position.
    next: u64,
    /// Jobs delivered to the caller so far.
    delivered: u64,
    /// No more jobs will be taken: the iterator is exhausted, the stop flag
    /// was seen, or the caller went away.
    closed: bool,
    stopped: bool,
}

/// Closes the intake when the delivering side ends, even by a panic in the
/// caller's callback, so that no worker waits forever for window space.
struct CloseOnDrop<'a, I> {
    intake: &'a Mutex<Intake<I>>,
    space: &'a Condvar,
}

impl<I> Drop for CloseOnDrop<'_, I> {
    fn drop(&mut self) {
        if let Ok(mut intake) = self.intake.lock() {
            intake.closed = true;
        }
        self.space.notify_all();
    }
}

impl Engine {
    /// Proves a batch of this key's `(tag, statement, witness)` jobs: see
    /// [`prove_mixed`], whose jobs each name their engine.
    pub fn prove_batch<I, T, F>(
        &self,
        jobs: I,
        threads: usize,
        stop: &AtomicBool,
        on_result: F,
    ) -> BatchSummary
    where
        I: IntoIterator<Item = (T, Statement, StatementWitness)>,
        I::IntoIter: Send,
        T: Send,
        F: FnMut(T, Statement, Result<Proof<Bn254>, EngineError>),
    {
        let jobs = jobs
            .into_iter()
            .map(move |(tag, statement, witness)| (tag, self, statement, witness));
        prove_mixed(jobs, threads, stop, on_result)
    }
}

/// Proves a batch of `(tag, engine, statement, witness)` jobs on `threads`
/// workers, parallel across proofs, each job with its own engine (so one
/// batch serves the cases of several keys, each key's tables shared by
/// every worker), and calls `on_result(tag, statement, result)` on the
/// calling thread for every job, in input order, as soon as it and every
/// job before it are done.
///
/// Jobs are pulled from `jobs` one at a time, by the workers, only when
/// a worker is free and the reorder window has room, so a lazy iterator
/// (a case file being read) is never read ahead by more than the window.
///
/// When `stop` becomes true, no new job is taken; every job already
/// taken is still proved and delivered, in order. An interrupted batch
/// therefore ends with a whole prefix of the input delivered.
pub fn prove_mixed<'e, I, T, F>(
    jobs: I,
    threads: usize,
    stop: &AtomicBool,
    mut on_result: F,
) -> BatchSummary
where
    I: IntoIterator<Item = Job<'e, T>>,
    I::IntoIter: Send,
    T: Send,
    F: FnMut(T, Statement, Result<Proof<Bn254>, EngineError>),
{
    let threads = threads.max(1);
    let window = threads * REORDER_WINDOW_PER_THREAD;
    let intake = Mutex::new(Intake {
        jobs: jobs.into_iter(),
        next: 0,
        delivered: 0,
        closed: false,
        stopped: false,
    });
    let space = Condvar::new();
    let mut summary = BatchSummary::default();

    std::thread::scope(|scope| {
        let (sender, results) = mpsc::sync_channel::<Done<T>>(window);
        for worker in 0..threads {
            let sender = sender.clone();
            let (intake, space) = (&intake, &space);
            std::thread::Builder::new()
                .name(format!("zkgov-prover-{worker}"))
                .spawn_scoped(scope, move || {
                    work(intake, space, stop, window as u64, sender)
                })
                .expect("cannot spawn a prover thread");
        }
        drop(sender);

        let _close = CloseOnDrop {
            intake: &intake,
            space: &space,
        };
        // Slot i holds the result of job `delivered + i`.
        let mut pending: VecDeque<Option<(T, Statement, _)>> = VecDeque::new();
        let mut delivered = 0u64;
        for (position, tag, statement, result) in results {
            let slot = (position - delivered) as usize;
            if pending.len() <= slot {
                pending.resize_with(slot + 1, || None);
            }
            pending[slot] = Some((tag, statement, result));
            let before = delivered;
            while let Some((tag, statement, result)) = pending.front_mut().and_then(Option::take) {
                pending.pop_front();
                match &result {
                    Ok(_) => summary.proved += 1,
                    Err(_) => summary.failed += 1,
                }
                delivered += 1;
                on_result(tag, statement, result);
            }
            if delivered != before {
                if let Ok(mut intake) = intake.lock() {
                    intake.delivered = delivered;
                }
                space.notify_all();
            }
        }
        summary.taken = delivered;
        debug_assert!(pending.is_empty(), "every taken job is delivered");
    });
    summary.stopped = intake.lock().map(|i| i.stopped).unwrap_or(false);
    summary
}

/// One worker: takes jobs while the window has room and proves them, each
/// with its engine, on a one-thread rayon pool of its own.
fn work<'e, I, T>(
    intake: &Mutex<Intake<I>>,
    space: &Condvar,
    stop: &AtomicBool,
    window: u64,
    results: mpsc::SyncSender<Done<T>>,
) where
    I: Iterator<Item = Job<'e, T>> + Send,
    T: Send,
{
    let mut rng = StdRng::from_rng(OsRng).expect("the OS random source works");
    let mut run = || loop {
        let Some((position, (tag, engine, statement, witness))) = take(intake, space, stop, window)
        else {
            return;
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            engine.prove(&statement, &witness, &mut rng)
        }))
        .unwrap_or_else(|panic| Err(EngineError::Panicked(panic_message(&panic))));
        if results.send((position, tag, statement, result)).is_err() {
            return;
        }
    };
    // Without a pool of its own the worker still proves, on the global pool.
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
}

/// Takes the next job, waiting while the window is full. `None` once the
/// intake is closed.
fn take<'e, I, T>(
    intake: &Mutex<Intake<I>>,
    space: &Condvar,
    stop: &AtomicBool,
    window: u64,
) -> Option<(u64, Job<'e, T>)>
where
    I: Iterator<Item = Job<'e, T>>,
{
    let mut guard = intake.lock().ok()?;
    loop {
        if guard.closed {
            return None;
        }
        if stop.load(Ordering::SeqCst) {
            guard.closed = true;
            guard.stopped = true;
            space.notify_all();
            return None;
        }
        if guard.next < guard.delivered + window {
            break;
        }
        guard = space.wait(guard).ok()?;
    }
    match guard.jobs.next() {
        Some(job) => {
            let position = guard.next;
            guard.next += 1;
            Some((position, job))
        }
        None => {
            guard.closed = true;
            space.notify_all();
            None
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".into())
}
