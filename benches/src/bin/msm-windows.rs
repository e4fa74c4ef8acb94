//! Window widths of the engine's fixed-base MSMs, measured: each MSM of
//! the reference key (A, B in G1, B in G2, and L with H as the engine fuses
//! them) with the scalars of real proofs, timed at every window width from 8 to 16 bits on one thread,
//! beside the width the engine picks (`msm::window_bits`).
//!
//! `cargo run --release -p zkgov-benches --bin msm-windows [-- CASES]`

use std::time::Instant;

use ark_bn254::Fr;
use ark_ec::short_weierstrass::{Affine, SWCurveConfig};
use ark_ff::PrimeField;
use zkgov_benches::workload::ReferenceWorkload;
use zkgov_prover::engine::msm::{window_bits, FixedBaseMsm};

type Ints = Vec<<Fr as PrimeField>::BigInt>;

/// Mean time, in ms, of the MSM of each scalar set, best of 3 passes.
fn time<P: SWCurveConfig<ScalarField = Fr>>(table: &FixedBaseMsm<P>, scalars: &[Ints]) -> f64 {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            for s in scalars {
                let _ = std::hint::black_box(table.msm(s));
            }
            started.elapsed().as_secs_f64() * 1e3 / scalars.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn sweep<P: SWCurveConfig<ScalarField = Fr>>(what: &str, bases: &[Affine<P>], scalars: &[Ints]) {
    let points = bases.iter().filter(|b| !b.infinity).count();
    let picked = window_bits::<P>(points);
    let mut row = format!("| {what} | {points} | {picked} |");
    let mut best = (f64::INFINITY, 0);
    let mut at_picked = 0.0;
    for c in 8..=16 {
        let table = FixedBaseMsm::with_window(bases, c);
        let ms = time(&table, scalars);
        if ms < best.0 {
            best = (ms, c);
        }
        if c == picked {
            at_picked = ms;
        }
        row += &format!(" {ms:.2} |");
    }
    println!("{row} {} | {:.2}× |", best.1, at_picked / best.0);
}

fn main() {
    let cases: usize = std::env::args()
        .nth(1)
        .map_or(8, |a| a.parse().expect("CASES is a number"));
    let workload = ReferenceWorkload::new(4096, cases, 7);
    let engine = workload.engine();
    let pk = engine.proving_key();
    let (mut full, mut l_h) = (Vec::new(), Vec::new());
    for (statement, witness) in &workload.cases {
        let assignment = engine.assign(statement, witness).expect("satisfied");
        let all: Vec<Fr> = [&assignment.instance[..], &assignment.witness[..]].concat();
        let ints: Ints = all.iter().map(|v| v.into_bigint()).collect();
        l_h.push(engine.tabled_key().l_h_scalars(&all, &ints).expect("maps"));
        full.push(ints);
    }
    println!("{cases} proofs' scalars, one thread, mean ms per MSM (best of 3 passes)");
    println!();
    println!("| MSM | bases | picked c | c=8 | c=9 | c=10 | c=11 | c=12 | c=13 | c=14 | c=15 | c=16 | best c | picked / best |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    sweep("A (G1)", &pk.a_query, &full);
    sweep("B (G1)", &pk.b_g1_query, &full);
    sweep("B (G2)", &pk.b_g2_query, &full);
    let l_and_h = [&pk.l_query[..], &pk.h_query[..]].concat();
    sweep("L and H, fused (G1)", &l_and_h, &l_h);
}
