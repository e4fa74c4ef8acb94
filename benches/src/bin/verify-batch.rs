//! Batched against individual Groth16 verification on the reference
//! workload (`medical-premises` over `real-estate`, arity 4, depth 10).
//!
//! Makes 256 reference proofs with distinct case ids once, with the
//! engine's batch prover, then, in every round and for every batch size
//! (1, 8, 64, 256), times the same 256 proofs checked
//!
//! - individually: `verify` on each proof in turn, and
//! - in batches: `verify_batch` on consecutive chunks of that size,
//!
//! first all inside a one-thread rayon pool (a sequential loop against
//! batches one after another), then on all cores (individual checks
//! parallel across proofs against batches parallel across chunks and
//! inside each batch). The two alternate, so that both see the same load.
//!
//! `cargo run --release -p zkgov-benches --bin verify-batch [-- ROUNDS]`

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ark_bn254::Bn254;
use ark_ff::One;
use ark_groth16::Proof;
use rayon::prelude::*;
use zkgov_benches::workload::ReferenceWorkload;
use zkgov_benches::{median, with_threads};
use zkgov_circuits::Fr;
use zkgov_log::verify::{verify, verify_batch, Item, PreparedKey};

/// Records in the benchmark registry; the tree has the reference depth.
const RECORDS: u64 = 4096;
/// Proofs checked in every measurement.
const PROOFS: usize = 256;
/// Batch sizes compared with individual verification.
const BATCH_SIZES: [usize; 4] = [1, 8, 64, 256];

/// Seconds per proof as microseconds.
fn per_proof_us(elapsed: Duration, proofs: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / proofs as f64
}

/// Times `verify` on every item, in turn or in parallel across items; all
/// must be accepted.
fn individual(items: &[Item], parallel: bool) -> Duration {
    let started = Instant::now();
    let accepted = if parallel {
        items
            .par_iter()
            .filter(|item| verify(item) == Ok(true))
            .count()
    } else {
        items.iter().filter(|item| verify(item) == Ok(true)).count()
    };
    let elapsed = started.elapsed();
    assert_eq!(accepted, items.len(), "every proof verifies");
    elapsed
}

/// Times `verify_batch` on consecutive chunks of `size` items, in turn or
/// in parallel across chunks; returns the time and the accepted count.
fn batched(items: &[Item], size: usize, parallel: bool) -> (Duration, usize) {
    let accepted = |verdicts: Vec<_>| verdicts.into_iter().filter(|v| *v == Ok(true)).count();
    let started = Instant::now();
    let count = if parallel {
        items
            .par_chunks(size)
            .map(|chunk| accepted(verify_batch(chunk)))
            .sum()
    } else {
        items
            .chunks(size)
            .map(|chunk| accepted(verify_batch(chunk)))
            .sum()
    };
    (started.elapsed(), count)
}

/// Per-proof times of one setting, per batch size: (individual, batch) per round.
type Measured = Vec<Vec<(f64, f64)>>;

fn print_table(title: &str, measured: &Measured) {
    println!("{title}");
    println!();
    println!("| batch size | individual µs/proof, median (rounds) | batch µs/proof, median (rounds) | ratio individual/batch, median (rounds) |");
    println!("|---|---|---|---|");
    for (size, rounds) in BATCH_SIZES.iter().zip(measured) {
        let list = |values: Vec<f64>, digits: usize| {
            let each: Vec<String> = values.iter().map(|v| format!("{v:.digits$}")).collect();
            format!("{:.digits$} ({})", median(values), each.join(", "))
        };
        println!(
            "| {size} | {} | {} | {}× |",
            list(rounds.iter().map(|r| r.0).collect(), 0),
            list(rounds.iter().map(|r| r.1).collect(), 0),
            list(rounds.iter().map(|r| r.0 / r.1).collect(), 2),
        );
    }
    println!();
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(3, |a| a.parse().expect("ROUNDS is a number"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    eprintln!("setting up the reference workload ({RECORDS} records, {PROOFS} cases) ...");
    let started = Instant::now();
    let workload = ReferenceWorkload::new(RECORDS, PROOFS, 7);
    let engine = workload.engine();
    eprintln!("  done in {:.1} s", started.elapsed().as_secs_f64());

    eprintln!("proving {PROOFS} cases on {cores} workers ...");
    let started = Instant::now();
    let mut proved: Vec<(Proof<Bn254>, Vec<Fr>)> = Vec::with_capacity(PROOFS);
    engine.prove_batch(
        workload
            .cases
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, (s, w))| (i, s, w)),
        cores,
        &AtomicBool::new(false),
        |_, statement, result| {
            proved.push((result.expect("proves"), statement.public_inputs()));
            if proved.len().is_multiple_of(32) {
                eprintln!("  {}/{PROOFS}", proved.len());
            }
        },
    );
    eprintln!("  done in {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(proved.len(), PROOFS);
    let case_ids: HashSet<Fr> = proved.iter().map(|(_, inputs)| inputs[1]).collect();
    assert_eq!(case_ids.len(), PROOFS, "distinct case ids");

    let key = PreparedKey::new(workload.keys.verifying_key.clone());
    let items: Vec<Item> = proved
        .iter()
        .map(|(proof, public_inputs)| Item {
            key: &key,
            proof,
            public_inputs,
        })
        .collect();
    // A batch of 64 with one tampered public input: the cost of locating it.
    let tampered: Vec<Fr> = {
        let mut inputs = proved[37].1.clone();
        inputs[2] += Fr::one();
        inputs
    };
    let mut poisoned = items[..64].to_vec();
    poisoned[37].public_inputs = &tampered;

    println!(
        "reference workload: {} over {}, arity {}, depth {}; {} public inputs; {PROOFS} proofs with distinct case ids; {cores} cores",
        workload.policy.name,
        workload.schema.name,
        workload.shape.arity(),
        workload.shape.depth(),
        key.public_inputs(),
    );
    println!();

    // Warm up both paths.
    with_threads(1, || {
        individual(&items[..8], false);
        batched(&items[..8], 8, false);
    });

    let mut one_thread: Measured = vec![Vec::new(); BATCH_SIZES.len()];
    let mut all_cores: Measured = vec![Vec::new(); BATCH_SIZES.len()];
    let mut locating = Vec::new();
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds} ...");
        for (threads, measured) in [(1, &mut one_thread), (cores, &mut all_cores)] {
            let parallel = threads > 1;
            with_threads(threads, || {
                for (size, results) in BATCH_SIZES.iter().zip(measured.iter_mut()) {
                    let alone = individual(&items, parallel);
                    let (together, accepted) = batched(&items, *size, parallel);
                    assert_eq!(accepted, PROOFS, "every proof verifies in a batch");
                    results.push((per_proof_us(alone, PROOFS), per_proof_us(together, PROOFS)));
                }
            });
        }
        with_threads(1, || {
            let (elapsed, accepted) = batched(&poisoned, 64, false);
            assert_eq!(accepted, 63, "exactly the tampered proof is rejected");
            locating.push(per_proof_us(elapsed, 64));
        });
    }

    print_table(
        "one thread (rayon pool of 1): sequential `verify` loop against `verify_batch` on each chunk in turn",
        &one_thread,
    );
    print_table(
        &format!("all cores (rayon pool of {cores}): `verify` parallel across proofs against `verify_batch` parallel across chunks and inside each"),
        &all_cores,
    );
    let everywhere: Vec<f64> = all_cores.iter().flatten().map(|r| r.0).collect();
    let at_64 = median(all_cores[2].iter().map(|r| r.1).collect());
    println!(
        "raw throughput on {cores} cores: individual `verify` {:.0} proofs/s (median of {} runs); `verify_batch` of 64: {:.0} proofs/s",
        1e6 / median(everywhere.clone()),
        everywhere.len(),
        1e6 / at_64,
    );
    println!(
        "a batch of 64 holding one tampered proof, one thread: {:.0} µs/proof, median ({}); the bad proof located every time",
        median(locating.clone()),
        locating
            .iter()
            .map(|v| format!("{v:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
