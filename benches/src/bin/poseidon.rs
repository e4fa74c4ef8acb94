//! Native Poseidon on one thread: the per-width compiled form that
//! `poseidon::hash` runs, against the two earlier forms in the same run —
//! the sparse (appendix-B) form over slices that `hash` ran before, and the
//! textbook form — with each form's time per hash printed beside its
//! multiplication count times the measured cost of one field multiplication.
//!
//! `cargo run --release -p zkgov-benches --bin poseidon [-- WIDTH…]` (default 3 5 9 17)
//!
//! The file uses nothing but `zkgov-circuits` (feature `test-utils`), so the
//! same source can be compiled against other `ark-ff` features (`asm`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ark_ff::Field;
use zkgov_circuits::poseidon::{self, baseline};
use zkgov_circuits::Fr;

const ROUNDS: usize = 5;

/// Best-of-`ROUNDS` nanoseconds per call of `step`, which is chained on
/// its own output so calls cannot overlap.
fn per_call(calls: usize, mut step: impl FnMut(Fr) -> Fr) -> f64 {
    let mut x = Fr::from(7u64);
    (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                x = step(black_box(x));
            }
            nanos(started.elapsed()) / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

fn main() {
    let widths: Vec<usize> = {
        let given: Vec<usize> = std::env::args()
            .skip(1)
            .map(|a| a.parse().expect("a width is a number"))
            .collect();
        if given.is_empty() {
            vec![3, 5, 9, 17]
        } else {
            given
        }
    };
    let y = Fr::from(0x1234_5678_9abc_def0u64).square().square();
    let mul = per_call(20_000_000, |x| x * y);
    let sq = per_call(20_000_000, |x| x.square());
    println!(
        "one field multiplication: {mul:.2} ns, one squaring: {sq:.2} ns (dependent chains, best of {ROUNDS})"
    );
    println!();
    println!("| width | form | µs per hash | multiplications | × {mul:.1} ns | per hash / estimate | speed-up vs sparse over slices | vs textbook |");
    println!("|---|---|---|---|---|---|---|---|");
    for width in widths {
        let calls = 200_000 / width;
        let inputs = width - 1;
        let hash_with = |permute: fn(&mut [Fr]), x: Fr| {
            let mut state = [x; 17];
            state[0] = Fr::from(0u64);
            permute(&mut state[..width]);
            state[0]
        };
        let fast = per_call(calls, |x| {
            let input = [x; 16];
            poseidon::hash(&input[..inputs]).expect("supported width")
        });
        let sparse = per_call(calls, |x| hash_with(baseline::permute_sparse, x));
        let textbook = per_call(calls, |x| hash_with(baseline::permute_textbook, x));
        let sparse_muls = baseline::sparse_multiplications(width);
        let textbook_muls = baseline::textbook_multiplications(width);
        for (form, time, muls) in [
            ("textbook", textbook, textbook_muls),
            ("sparse over slices (before)", sparse, sparse_muls),
            ("compiled per width (now)", fast, sparse_muls),
        ] {
            let estimate = muls as f64 * mul;
            println!(
                "| {width} | {form} | {:.2} | {muls} | {:.2} µs | {:.2} | {:.2}× | {:.2}× |",
                time / 1e3,
                estimate / 1e3,
                time / estimate,
                sparse / time,
                textbook / time,
            );
        }
    }
}
