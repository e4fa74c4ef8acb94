//! Criterion: the proving engine against plain arkworks on the reference
//! workload (`medical-premises`, arity 4, depth 10): a batch of 8 proofs
//! per iteration, and one proof.

use std::sync::atomic::AtomicBool;

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_snark::SNARK;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::SeedableRng;
use zkgov_benches::workload::ReferenceWorkload;
use zkgov_circuits::circuit::StatementCircuit;
use zkgov_keys::qap::CircomReduction;

const BATCH: usize = 8;

fn prove(c: &mut Criterion) {
    let workload = ReferenceWorkload::new(1024, BATCH, 7);
    let engine = workload.engine();
    let pk = workload.keys.proving_key().expect("the proving key loads");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rng = StdRng::seed_from_u64(1);
    let plain = |rng: &mut StdRng, (statement, witness): &(_, _)| {
        let circuit = StatementCircuit {
            schema: &workload.schema,
            policy: &workload.policy,
            shape: workload.shape,
            assignment: Some((statement, witness)),
        };
        Groth16::<Bn254, CircomReduction>::prove(&pk, circuit, rng).expect("plain arkworks proves")
    };

    let mut group = c.benchmark_group(format!("prove_{BATCH}_reference"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("plain_arkworks_sequential", |b| {
        b.iter(|| {
            for case in &workload.cases {
                std::hint::black_box(plain(&mut rng, case));
            }
        })
    });
    group.bench_function(format!("engine_prove_batch_{cores}_workers"), |b| {
        let stop = AtomicBool::new(false);
        b.iter(|| {
            let jobs = workload
                .cases
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, (s, w))| (i, s, w));
            engine.prove_batch(jobs, cores, &stop, |_, _, result| {
                std::hint::black_box(result.expect("proves"));
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("prove_1_reference");
    group.sample_size(10);
    let case = &workload.cases[0];
    group.bench_function("plain_arkworks", |b| b.iter(|| plain(&mut rng, case)));
    group.bench_function("engine_prove", |b| {
        b.iter(|| engine.prove(&case.0, &case.1, &mut rng).expect("proves"))
    });
    group.finish();
}

criterion_group!(benches, prove);
criterion_main!(benches);
