//! Criterion: registry tree build, on all cores against one core.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use zkgov_benches::{leaves, with_threads};
use zkgov_circuits::poseidon;
use zkgov_circuits::tree::{RegistryTree, TreeShape};
use zkgov_circuits::Fr;

fn tree_build(c: &mut Criterion) {
    let shape = TreeShape::new(4, 10).unwrap();
    let n = 1 << 14;
    let mut group = c.benchmark_group("tree_build_2^14_arity4_depth10");
    group.sample_size(10);
    for threads in [1, rayon::current_num_threads()] {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter_batched(
                || leaves(n),
                |leaves| {
                    with_threads(threads, || {
                        RegistryTree::from_leaves(shape, leaves).unwrap().root()
                    })
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn poseidon_widths(c: &mut Criterion) {
    let mut group = c.benchmark_group("poseidon");
    for inputs in [2usize, 4, 8, 16] {
        let values: Vec<Fr> = (1..=inputs as u64).map(Fr::from).collect();
        group.bench_function(format!("{inputs}_inputs"), |b| {
            b.iter(|| poseidon::hash(&values).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, tree_build, poseidon_widths);
criterion_main!(benches);
