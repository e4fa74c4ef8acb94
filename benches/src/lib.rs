//! Benchmarks of zkgov.
//!
//! Every benchmark measures its baseline in the same run and prints the
//! ratio, because the machines it runs on are shared and noisy.
//!
//! - `cargo run --release -p zkgov-benches --bin tree-build`: builds a
//!   2^20-leaf registry tree (arity 4, depth 10) on all cores and on one.
//! - `cargo run --release -p zkgov-benches --bin prove-batch`: the proving
//!   engine's batch throughput and single-proof latency against plain
//!   arkworks `Groth16::prove` on the reference workload.
//! - `cargo run --release -p zkgov-benches --bin batcher-fairness`: one
//!   department's proof latency through the service, alone and while
//!   another department floods it with invalid proofs.
//! - `cargo run --release -p zkgov-benches --bin log-replay`: a full replay
//!   of a 10,000-result log through the acceptance rules against batch
//!   verification of its proofs alone, and an incremental run.
//! - `cargo run --release -p zkgov-benches --bin poseidon`: native Poseidon
//!   per width, the compiled form against the earlier sparse and textbook
//!   forms, beside multiplication count × the cost of one multiplication.
//! - `cargo run --release -p zkgov-benches --bin registry-scale [-- --records N]`:
//!   the database registry against the earlier directory format, operation
//!   by operation (build, open, update, prove start-up, disk), in one run.
//! - `cargo run --release -p zkgov-benches --bin peers`: the engine and
//!   plain arkworks against snarkjs on the reference statement (in circom
//!   over a binary tree), one proof and a batch, with the constraint counts
//!   of both circuits and a plot of proofs/s by workers and batch size.
//! - `cargo run --release -p zkgov-benches --bin overload`: the service at
//!   four times its measured capacity for a minute, then at half of it:
//!   the share and latency of its 503s, its peak memory, how soon its
//!   throughput is back.
//! - `cargo bench -p zkgov-benches`: the criterion versions.
#![deny(missing_docs, unsafe_code)]

use zkgov_circuits::Fr;

pub mod load;
pub mod workload;

/// Deterministic distinct leaves, so runs are comparable.
pub fn leaves(n: u64) -> Vec<Fr> {
    (0..n)
        .map(|i| Fr::from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1))
        .collect()
}

/// Runs `f` on a rayon pool of `threads` threads.
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(f)
}

/// A field of `/proc/PID/status` in kB, such as `VmRSS` or `VmHWM`, for
/// `pid` a process id or `self`.
pub fn status_kb(pid: impl std::fmt::Display, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')?
            .trim()
            .strip_suffix(" kB")?
            .parse()
            .ok()
    })
}

/// The median of `values`: the middle one, the upper of the two middle
/// ones for an even count. Timings are never NaN.
pub fn median<T: PartialOrd + Copy>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("comparable timings"));
    values[values.len() / 2]
}
