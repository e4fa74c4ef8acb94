//! A department's batch over two keys, in one run: (a) one `prove_batch`
//! per key, one after the other, as a worker proved before mixed batches,
//! against (b) one `prove_mixed` batch of both keys' cases interleaved, on
//! as many workers as cores. Both keys are for the reference workload
//! (arity 4, depth 10), set up apart, each with its own registry; each
//! engine holds its key's tables once, and the table memory is printed per
//! key.
//!
//! Rounds alternate (a) and (b) over the same cases. With few cases per key
//! (the default, 5), (a) leaves cores idle at the end of each key's share;
//! with many, the two should agree.
//!
//! `cargo run --release -p zkgov-benches --bin mixed-batch [-- CASES_PER_KEY [ROUNDS]]`

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use zkgov_benches::median;
use zkgov_benches::workload::ReferenceWorkload;
use zkgov_prover::engine::{prove_mixed, Engine};

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: usize = args
        .next()
        .map_or(5, |a| a.parse().expect("CASES_PER_KEY is a number"));
    let rounds: usize = args
        .next()
        .map_or(3, |a| a.parse().expect("ROUNDS is a number"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let workloads = [
        ReferenceWorkload::new(1024, cases, 7),
        ReferenceWorkload::new(1024, cases, 8),
    ];
    let engines: Vec<Engine> = workloads.iter().map(|w| w.engine()).collect();
    println!("| key | policy | tables |");
    println!("|---|---|---|");
    for engine in &engines {
        println!(
            "| {} | {} | {:.1} MB |",
            &engine.key_id()[..16],
            engine.policy().name,
            engine.table_bytes() as f64 / 1e6
        );
    }
    println!();

    let total = 2 * cases;
    let stop = AtomicBool::new(false);
    println!(
        "| round | (a) a batch per key, {cores} workers | (b) one mixed batch, {cores} workers | (a)/(b) |"
    );
    println!("|---|---|---|---|");
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let started = Instant::now();
        for (engine, workload) in engines.iter().zip(&workloads) {
            let jobs = workload.cases.iter().cloned().map(|(s, w)| ((), s, w));
            let summary = engine.prove_batch(jobs, cores, &stop, |_, statement, result| {
                assert!(engine.verify(&statement, &result.expect("proves")))
            });
            assert_eq!(summary.proved as usize, cases);
        }
        let apart = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let jobs = (0..total).map(|i| {
            let key = i % 2;
            let (statement, witness) = workloads[key].cases[i / 2].clone();
            (key, &engines[key], statement, witness)
        });
        let summary = prove_mixed(jobs, cores, &stop, |key, statement, result| {
            assert!(engines[key].verify(&statement, &result.expect("proves")))
        });
        assert_eq!(summary.proved as usize, total);
        let mixed = started.elapsed().as_secs_f64();
        ratios.push(apart / mixed);
        println!(
            "| {round} | {apart:.2} s, {:.2} proofs/s | {mixed:.2} s, {:.2} proofs/s | {:.2}× |",
            total as f64 / apart,
            total as f64 / mixed,
            apart / mixed
        );
    }
    println!();
    println!(
        "{total} cases over 2 keys: the mixed batch is {:.2}× the per-key batches (median of {rounds} rounds)",
        median(ratios)
    );
}
