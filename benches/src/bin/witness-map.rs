//! The engine's satisfiability check and witness map against the ones
//! they replaced, on the reference workload's assignments, one thread (as
//! a batch worker runs them):
//!
//! - (a) `first_unsatisfied` over the matrices, then
//!   `CircomReduction::witness_map_from_matrices` (arkworks'
//!   `EvaluationDomain` transforms and row evaluation), then the scalars
//!   of the L and H MSM built from its values;
//! - (b) `TabledKey::l_h_scalars`: the rows, each distinct linear
//!   combination once, checked as they are evaluated, and the same
//!   scalars from transforms planned once per key, in buffers the thread
//!   keeps.
//!
//! Both give the same scalars, checked before timing. Rounds alternate
//! (a) and (b), so that both see the same load.
//!
//! `cargo run --release -p zkgov-benches --bin witness-map [-- CASES [ROUNDS]]`

use std::time::Instant;

use ark_bn254::Fr;
use ark_ff::PrimeField;
use ark_groth16::r1cs_to_qap::R1CSToQAP;
use ark_poly::GeneralEvaluationDomain;
use ark_relations::r1cs::ConstraintMatrices;
use zkgov_benches::median;
use zkgov_benches::workload::ReferenceWorkload;
use zkgov_circuits::circuit::{first_unsatisfied, Assignment};
use zkgov_keys::qap::CircomReduction;
use zkgov_prover::engine::TabledKey;

type Int = <Fr as PrimeField>::BigInt;
type Ints = Vec<Int>;
/// An assignment, whole and as integers.
type Case = (Assignment, Vec<Fr>, Ints);
/// One way to check an assignment and build the L and H scalars.
type Map<'a> = dyn Fn(&Case) -> Ints + Sync + 'a;

/// The L and H scalars as the engine built them before: the check, the
/// arkworks-style witness map, then the fused vector.
fn before(
    key: &TabledKey,
    matrices: &ConstraintMatrices<Fr>,
    (assignment, full, ints): &Case,
) -> Ints {
    assert!(first_unsatisfied(matrices, assignment).is_none());
    let inputs = matrices.num_instance_variables;
    let h = CircomReduction::witness_map_from_matrices::<Fr, GeneralEvaluationDomain<Fr>>(
        matrices,
        inputs,
        matrices.num_constraints,
        full,
    )
    .expect("maps");
    let (l_len, h_len) = (key.key.l_query.len(), key.key.h_query.len());
    let zero = <Fr as PrimeField>::BigInt::default();
    let mut scalars = Vec::with_capacity(l_len + h_len);
    scalars.extend(ints[inputs..].iter().take(l_len));
    scalars.resize(l_len, zero);
    scalars.extend(h.iter().take(h_len).map(|v| v.into_bigint()));
    scalars.resize(l_len + h_len, zero);
    scalars
}

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: usize = args
        .next()
        .map_or(16, |a| a.parse().expect("CASES is a number"));
    let rounds: usize = args
        .next()
        .map_or(5, |a| a.parse().expect("ROUNDS is a number"));
    let workload = ReferenceWorkload::new(4096, cases, 7);
    let engine = workload.engine();
    let (key, matrices) = (engine.tabled_key(), engine.matrices());
    let assignments: Vec<Case> = workload
        .cases
        .iter()
        .map(|(statement, witness)| {
            let a = engine.assign(statement, witness).expect("satisfied");
            let full: Vec<Fr> = [&a.instance[..], &a.witness[..]].concat();
            let ints = full.iter().map(|v| v.into_bigint()).collect();
            (a, full, ints)
        })
        .collect();
    let after = |(_, full, ints): &Case| key.l_h_scalars(full, ints).expect("satisfied");
    for case in &assignments {
        assert_eq!(
            before(key, matrices, case),
            after(case),
            "the two maps agree"
        );
    }

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool of one thread");
    let per_map = |f: &Map| {
        pool.install(|| {
            let started = Instant::now();
            for case in &assignments {
                std::hint::black_box(f(case));
            }
            started.elapsed().as_secs_f64() * 1e3 / assignments.len() as f64
        })
    };
    println!(
        "check and witness map of the reference key ({} constraints, domain 2^{}), {cases} assignments, one thread, {rounds} rounds",
        matrices.num_constraints,
        key.key.h_query.len().trailing_zeros()
    );
    println!();
    println!(
        "| round | (a) check, then arkworks-style map | (b) checked rows, planned map | (a)/(b) |"
    );
    println!("|---|---|---|---|");
    let (mut a_ms, mut b_ms, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let a = per_map(&|case| before(key, matrices, case));
        let b = per_map(&after);
        println!("| {round} | {a:.2} ms | {b:.2} ms | {:.2}× |", a / b);
        a_ms.push(a);
        b_ms.push(b);
        ratios.push(a / b);
    }
    println!(
        "| median | {:.2} ms | {:.2} ms | {:.2}× |",
        median(a_ms),
        median(b_ms),
        median(ratios)
    );
}
