//! Peak memory of `prove_batch` against the batch's size: the reference
//! workload (arity 4, depth 10) proved on as many workers as cores, for a
//! batch of 64 cases and one of 4,096, each in a process of its own so that
//! each peak (VmHWM) is its own. The cases come from a lazy iterator, as a
//! case file's rows do, so the batch machinery's bounded reorder window is
//! all that could grow.
//!
//! `cargo run --release -p zkgov-benches --bin batch-memory [-- SMALL LARGE]`

use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use zkgov_benches::workload::ReferenceWorkload;
use zkgov_circuits::statement::Statement;

/// Distinct cases held in memory; the batch cycles through them, each job
/// with a case number of its own.
const DISTINCT: usize = 64;

fn peak_kb() -> u64 {
    zkgov_benches::status_kb("self", "VmHWM").expect("/proc/self/status has VmHWM")
}

/// Proves `cases` jobs and prints `ready_kb peak_kb seconds`.
fn child(cases: usize) {
    let workload = ReferenceWorkload::new(4096, DISTINCT, 7);
    let engine = workload.engine();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ready = peak_kb();
    let jobs = (0..cases).map(|i| {
        let (mut statement, witness) = workload.cases[i % DISTINCT].clone();
        statement.case_id = Statement::case_id(&format!("CASE-2026-{i:06}"));
        (i, statement, witness)
    });
    let started = Instant::now();
    let mut proved = 0;
    engine.prove_batch(
        jobs,
        cores,
        &AtomicBool::new(false),
        |i, statement, result| {
            let proof = result.expect("proves");
            if i % DISTINCT == 0 {
                assert!(engine.verify(&statement, &proof), "job {i} verifies");
            }
            proved += 1;
        },
    );
    assert_eq!(proved, cases);
    println!(
        "{ready} {} {:.1}",
        peak_kb(),
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(args[1].parse().expect("a case count"));
    }
    let sizes: Vec<usize> = match args.len() {
        0 => vec![64, 4096],
        _ => args
            .iter()
            .map(|a| a.parse().expect("a case count"))
            .collect(),
    };
    let me = std::env::current_exe().expect("the bench's own path");
    println!("| batch | proofs/s | peak RSS, engine ready | peak RSS, after the batch |");
    println!("|---|---|---|---|");
    let mut peaks = Vec::new();
    for cases in sizes {
        let out = Command::new(&me)
            .args(["--child", &cases.to_string()])
            .output()
            .expect("the child runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        let fields: Vec<f64> = text
            .split_whitespace()
            .map(|f| f.parse().expect("a number"))
            .collect();
        let (ready, peak, seconds) = (fields[0], fields[1], fields[2]);
        println!(
            "| {cases} | {:.2} | {:.1} MB | {:.1} MB |",
            cases as f64 / seconds,
            ready / 1e3,
            peak / 1e3
        );
        peaks.push((cases, peak));
    }
    if let [(small, a), .., (large, b)] = peaks[..] {
        println!();
        println!(
            "peak RSS at {large} cases is {:.3}× that at {small} (target: within 10%)",
            b / a
        );
    }
}
