//! The proving engine against plain arkworks on the reference workload
//! (`medical-premises` over `real-estate`, arity 4, depth 10), in one run:
//!
//! - (a) plain arkworks: `Groth16::<Bn254, CircomReduction>::prove(&pk, circuit, rng)` for
//!   each case in turn, full synthesis included, with arkworks' own
//!   parallelism inside each proof;
//! - (b) `Engine::prove_batch` on as many workers as cores, one
//!   single-threaded proof per worker;
//! - (c) one `Engine::prove` against one plain `Groth16::prove`;
//!
//! then where an engine proof's time goes, each MSM beside its floor (the
//! group operations it makes, counted, times the cost of one, measured in
//! the same run), and memory.
//!
//! Each round runs (a) then (b) over the same cases; the rounds and the
//! single-proof runs alternate the two so that both see the same load.
//!
//! `cargo run --release -p zkgov-benches --bin prove-batch [-- CASES [ROUNDS]]`

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ark_bn254::Bn254;
use ark_ff::{One, UniformRand, Zero};
use ark_groth16::Groth16;
use ark_snark::SNARK;
use rand::rngs::StdRng;
use rand::SeedableRng;
use zkgov_benches::median;
use zkgov_benches::workload::ReferenceWorkload;
use zkgov_circuits::circuit::{CircuitSize, StatementCircuit};
use zkgov_circuits::Fr;
use zkgov_keys::qap::CircomReduction;
use zkgov_prover::engine::msm::{sum_batch_affine, MsmCount};
use zkgov_prover::engine::{MsmCounts, ProofTimings};

/// Records in the benchmark registry: enough for distinct, spread-out paths;
/// the tree has the reference depth whatever its fill.
const RECORDS: u64 = 4096;

fn status(field: &str) -> String {
    zkgov_benches::status_kb("self", field).map_or_else(|| "n/a".into(), |kb| format!("{kb} kB"))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: usize = args
        .next()
        .map_or(64, |a| a.parse().expect("CASES is a number"));
    let rounds: usize = args
        .next()
        .map_or(3, |a| a.parse().expect("ROUNDS is a number"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rss_start = status("VmRSS");

    let started = Instant::now();
    let workload = ReferenceWorkload::new(RECORDS, cases, 7);
    let setup_time = started.elapsed();
    let size = StatementCircuit::size(&workload.schema, &workload.policy, workload.shape)
        .expect("the reference circuit synthesizes");
    let started = Instant::now();
    let engine = workload.engine();
    let engine_time = started.elapsed();
    let pk = workload.keys.proving_key().expect("the proving key loads");
    let rss_ready = status("VmRSS");

    println!(
        "reference workload: {} over {}, arity {}, depth {}; {} constraints, {} public inputs, domain 2^{}",
        workload.policy.name,
        workload.schema.name,
        workload.shape.arity(),
        workload.shape.depth(),
        size.constraints,
        size.public_inputs,
        CircuitSize::domain(&size).trailing_zeros(),
    );
    println!(
        "{cases} cases over a registry of {RECORDS} records; {cores} cores; rayon pool of {} threads",
        rayon::current_num_threads()
    );
    println!(
        "setup (keys, registry, cases): {:.2} s; Engine::new: {}",
        setup_time.as_secs_f64(),
        ms(engine_time)
    );
    println!();

    let mut rng = StdRng::seed_from_u64(11);
    let plain = |rng: &mut StdRng, (statement, witness): &(_, _)| {
        let circuit = StatementCircuit {
            schema: &workload.schema,
            policy: &workload.policy,
            shape: workload.shape,
            assignment: Some((statement, witness)),
        };
        Groth16::<Bn254, CircomReduction>::prove(&pk, circuit, rng).expect("plain arkworks proves")
    };
    // Warm up both paths (page in the key, fill caches).
    std::hint::black_box(plain(&mut rng, &workload.cases[0]));
    let (statement, witness) = &workload.cases[0];
    std::hint::black_box(engine.prove(statement, witness, &mut rng).expect("proves"));

    println!("| round | (a) plain arkworks, sequential | (b) engine prove_batch, {cores} workers | (b)/(a) |");
    println!("|---|---|---|---|");
    let (mut total_plain, mut total_engine) = (0.0, 0.0);
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let started = Instant::now();
        for case in &workload.cases {
            std::hint::black_box(plain(&mut rng, case));
        }
        let plain_time = started.elapsed().as_secs_f64();

        let stop = AtomicBool::new(false);
        let mut proofs = Vec::with_capacity(cases);
        let started = Instant::now();
        let summary = engine.prove_batch(
            workload
                .cases
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, (s, w))| (i, s, w)),
            cores,
            &stop,
            |i, statement, result| proofs.push((i, statement, result.expect("proves"))),
        );
        let engine_time = started.elapsed().as_secs_f64();
        assert_eq!(summary.proved as usize, cases);
        assert!(
            proofs
                .iter()
                .enumerate()
                .all(|(i, (tag, s, p))| *tag == i && engine.verify(s, p)),
            "every batch proof verifies, in input order"
        );

        total_plain += plain_time;
        total_engine += engine_time;
        ratios.push(plain_time / engine_time);
        println!(
            "| {round} | {:.2} s, {:.2} proofs/s | {:.2} s, {:.2} proofs/s | {:.2}× |",
            plain_time,
            cases as f64 / plain_time,
            engine_time,
            cases as f64 / engine_time,
            plain_time / engine_time
        );
    }
    ratios.sort_by(f64::total_cmp);
    let proofs = (cases * rounds) as f64;
    println!(
        "| all rounds | {:.2} proofs/s | {:.2} proofs/s | {:.2}× (median round {:.2}×) |",
        proofs / total_plain,
        proofs / total_engine,
        total_plain / total_engine,
        ratios[ratios.len() / 2]
    );
    println!();

    // Alternate the two, so that both see the same load on a shared machine.
    let runs = 12;
    let (mut single_plain, mut single_engine) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let case = &workload.cases[i % cases];
        let started = Instant::now();
        std::hint::black_box(plain(&mut rng, case));
        single_plain.push(started.elapsed());
        let started = Instant::now();
        std::hint::black_box(engine.prove(&case.0, &case.1, &mut rng).expect("proves"));
        single_engine.push(started.elapsed());
    }
    let (single_plain, single_engine) = (median(single_plain), median(single_engine));
    println!("| (c) one proof, median of {runs} | latency | vs plain |");
    println!("|---|---|---|");
    println!(
        "| plain `Groth16::prove` ({} threads) | {} | 1.00× |",
        rayon::current_num_threads(),
        ms(single_plain)
    );
    println!(
        "| `Engine::prove` ({} threads) | {} | {:.2}× |",
        rayon::current_num_threads(),
        ms(single_engine),
        single_plain.as_secs_f64() / single_engine.as_secs_f64()
    );
    println!();

    let early_costs = OperationCosts::measure(&mut rng);

    // Where one engine proof's time goes, on one thread as in a batch worker.
    let samples = cases.min(16);
    let mut timings = ProofTimings::default();
    for (statement, witness) in &workload.cases[..samples] {
        let (proof, t) = engine
            .prove_timed(statement, witness, &mut rng)
            .expect("proves");
        assert!(engine.verify(statement, &proof));
        timings.add(&t);
    }
    // The stock arkworks prover on the same cached matrices and assignment,
    // on one thread too: what the MSM tables and the plain witness map buy.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let stock = pool.install(|| {
        let mut total = Duration::ZERO;
        for (statement, witness) in &workload.cases[..samples] {
            let assignment = engine.assign(statement, witness).expect("satisfied");
            let full = [&assignment.instance[..], &assignment.witness[..]].concat();
            let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
            let started = Instant::now();
            let proof =
                Groth16::<Bn254, CircomReduction>::create_proof_with_reduction_and_matrices(
                    engine.proving_key(),
                    r,
                    s,
                    engine.matrices(),
                    engine.matrices().num_instance_variables,
                    engine.matrices().num_constraints,
                    &full,
                )
                .expect("proves");
            total += started.elapsed();
            assert_eq!(
                proof,
                engine.prove_assigned(&assignment, r, s).expect("proves"),
                "the engine's prover makes arkworks' proof"
            );
        }
        total / samples as u32
    });
    let per = |d: Duration| d / samples as u32;
    let total = per(timings.total());
    println!("| engine proof on one thread, mean of {samples} | time | share |");
    println!("|---|---|---|");
    for (what, d) in [
        ("witness-only synthesis (`assign`)", timings.synthesis),
        (
            "rows of A, B and C, checked (`WitnessMap::evaluate_rows`)",
            timings.check,
        ),
        (
            "witness map (6 FFTs of 2^12, into the L and H scalars)",
            timings.witness_map,
        ),
        ("field elements to integers", timings.scalars),
        ("MSM A (G1)", timings.msm_a),
        ("MSM B (G1)", timings.msm_b_g1),
        ("MSM B (G2)", timings.msm_b_g2),
        ("MSM L and H, fused (G1)", timings.msm_l_h),
        ("randomization and assembly", timings.assembly),
    ] {
        println!(
            "| {what} | {} | {:.0}% |",
            ms(per(d)),
            100.0 * d.as_secs_f64() / timings.total().as_secs_f64()
        );
    }
    println!("| **total** | **{}** | 100% |", ms(total));
    println!(
        "| for comparison: arkworks `create_proof_with_reduction_and_matrices`, same matrices and assignment, one thread (prover only) | {} | |",
        ms(stock)
    );
    println!();

    // The floor under each MSM: its group operations, counted, times the
    // cost of one, measured here.
    let mut counts = Vec::with_capacity(samples);
    // Scalars that are 0 or 1 cost a bucket at most one addition, whatever
    // the window: how many the witness has bounds what a path of their
    // own could save.
    let (mut small, mut variables) = (0usize, 0usize);
    for (statement, witness) in &workload.cases[..samples] {
        let assignment = engine.assign(statement, witness).expect("satisfied");
        counts.push(engine.msm_counts(&assignment).expect("counts"));
        small += assignment
            .witness
            .iter()
            .filter(|v| v.is_zero() || v.is_one())
            .count();
        variables += assignment.witness.len();
    }
    println!(
        "witness variables that are 0 or 1: {:.1}% ({small} of {variables} over {samples} proofs)",
        100.0 * small as f64 / variables as f64
    );
    // Measured before the stage timings and again now; the cheaper of each
    // pair, so that a moment of another process's load does not raise the
    // floor.
    let costs = early_costs.min(&OperationCosts::measure(&mut rng));
    println!(
        "one operation, best of 2 × 9: batch-affine addition G1 {:.0} ns, G2 {:.0} ns; projective addition G1 {:.0} ns, G2 {:.0} ns",
        costs.affine_g1 * 1e9,
        costs.affine_g2 * 1e9,
        costs.projective_g1 * 1e9,
        costs.projective_g2 * 1e9
    );
    println!();
    println!("| MSM, mean of {samples} proofs | batch-affine additions | projective additions | floor | measured | measured / floor |");
    println!("|---|---|---|---|---|---|");
    let row = |what: &str, count: fn(&MsmCounts) -> MsmCount, measured: Duration, g2: bool| {
        let mean = |f: fn(&MsmCount) -> u64| {
            counts.iter().map(|c| f(&count(c))).sum::<u64>() as f64 / samples as f64
        };
        let (affine, projective) = (
            mean(|c| c.affine_additions),
            mean(|c| c.projective_additions),
        );
        let (a, p) = if g2 {
            (costs.affine_g2, costs.projective_g2)
        } else {
            (costs.affine_g1, costs.projective_g1)
        };
        let floor = affine * a + projective * p;
        let measured = per(measured).as_secs_f64();
        println!(
            "| {what} | {affine:.0} | {projective:.0} | {:.2} ms | {:.2} ms | {:.2}× |",
            floor * 1e3,
            measured * 1e3,
            measured / floor
        );
    };
    row("A (G1)", |c| c.a, timings.msm_a, false);
    row("B (G1)", |c| c.b_g1, timings.msm_b_g1, false);
    row("B (G2)", |c| c.b_g2, timings.msm_b_g2, true);
    row("L and H (G1)", |c| c.l_h, timings.msm_l_h, false);
    println!();
    println!("| memory | |");
    println!("|---|---|");
    println!(
        "| engine tables (MSM windows, distinct rows, transforms) | {:.1} MB |",
        engine.table_bytes() as f64 / 1e6
    );
    println!("| RSS at start | {rss_start} |");
    println!("| RSS with keys, registry, cases and engine ready | {rss_ready} |");
    println!("| RSS at end | {} |", status("VmRSS"));
    println!("| peak RSS (VmHWM) | {} |", status("VmHWM"));
}

/// The measured cost, in seconds, of one group operation of each kind.
struct OperationCosts {
    affine_g1: f64,
    affine_g2: f64,
    projective_g1: f64,
    projective_g2: f64,
}

impl OperationCosts {
    /// The cheaper of each cost.
    fn min(&self, other: &OperationCosts) -> OperationCosts {
        OperationCosts {
            affine_g1: self.affine_g1.min(other.affine_g1),
            affine_g2: self.affine_g2.min(other.affine_g2),
            projective_g1: self.projective_g1.min(other.projective_g1),
            projective_g2: self.projective_g2.min(other.projective_g2),
        }
    }

    /// Best of 9: batch-affine additions by the MSM's own pairwise rounds
    /// over random points (4,096 in G1, 1,024 in G2), and projective
    /// additions of random points (the MSM's final running sums).
    fn measure(rng: &mut StdRng) -> OperationCosts {
        use ark_bn254::{G1Projective, G2Projective};
        use ark_ec::CurveGroup;
        fn best(mut run: impl FnMut() -> f64) -> f64 {
            (0..9).map(|_| run()).fold(f64::INFINITY, f64::min)
        }
        fn affine<P: ark_ec::short_weierstrass::SWCurveConfig>(
            points: &[ark_ec::short_weierstrass::Affine<P>],
        ) -> f64 {
            best(|| {
                let started = Instant::now();
                let (sum, additions) = sum_batch_affine(points);
                let _ = std::hint::black_box(sum);
                started.elapsed().as_secs_f64() / additions as f64
            })
        }
        fn projective<G: CurveGroup>(points: &[G]) -> f64 {
            best(|| {
                let started = Instant::now();
                let mut total = G::zero();
                for p in points {
                    total += p;
                }
                std::hint::black_box(total);
                started.elapsed().as_secs_f64() / points.len() as f64
            })
        }
        let g1: Vec<G1Projective> = (0..4096).map(|_| G1Projective::rand(rng)).collect();
        let g2: Vec<G2Projective> = (0..1024).map(|_| G2Projective::rand(rng)).collect();
        OperationCosts {
            affine_g1: affine(&G1Projective::normalize_batch(&g1)),
            affine_g2: affine(&G2Projective::normalize_batch(&g2)),
            projective_g1: projective(&g1),
            projective_g2: projective(&g2),
        }
    }
}
