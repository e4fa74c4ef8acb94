//! Builds a registry tree from 2^20 leaves (arity 4, depth 10, the reference
//! shape) on all cores, against the same build on one core in the same run.
//!
//! `cargo run --release -p zkgov-benches --bin tree-build [-- LOG2_LEAVES]`

use std::time::{Duration, Instant};

use zkgov_benches::{leaves, with_threads};
use zkgov_circuits::tree::{RegistryTree, TreeShape};

fn best_of(runs: usize, threads: usize, shape: TreeShape, n: u64) -> Duration {
    (0..runs)
        .map(|_| {
            let leaves = leaves(n);
            with_threads(threads, || {
                let started = Instant::now();
                let tree = RegistryTree::from_leaves(shape, leaves).expect("leaves fit");
                std::hint::black_box(tree.root());
                started.elapsed()
            })
        })
        .min()
        .expect("at least one run")
}

fn main() {
    let log2: u32 = std::env::args()
        .nth(1)
        .map_or(20, |a| a.parse().expect("LOG2_LEAVES is a number"));
    let shape = TreeShape::new(4, 10).expect("reference shape");
    let n = 1u64 << log2;
    let cores = rayon::current_num_threads();
    let hashes: u64 = (1..=shape.depth()).map(|h| n.div_ceil(4u64.pow(h))).sum();
    let parallel = best_of(3, cores, shape, n);
    let single = best_of(3, 1, shape, n);
    println!(
        "registry tree build: {n} leaves, arity 4, depth 10, {hashes} width-5 Poseidon hashes"
    );
    println!("| threads | time (best of 3) | hashes/s | speed-up vs 1 thread |");
    println!("|---|---|---|---|");
    for (threads, t) in [(1, single), (cores, parallel)] {
        println!(
            "| {threads} | {:.3} s | {:.0} | {:.2}× |",
            t.as_secs_f64(),
            hashes as f64 / t.as_secs_f64(),
            single.as_secs_f64() / t.as_secs_f64()
        );
    }
}
