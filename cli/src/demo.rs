//! `zkgov demo`: the reference workload on a deterministic synthetic
//! real-estate registry.
//!
//! It builds the registry tree, then for each case evaluates the
//! `medical-premises` policy natively and, for every approved case, builds
//! the full statement witness and checks that the reference circuit is
//! satisfied by it, and that a refused case's record cannot satisfy it.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, ensure, Result};
use ark_ff::PrimeField;
use ark_relations::r1cs::ConstraintMatrices;
use clap::Args;
use zkgov_circuits::circuit::{first_unsatisfied, StatementCircuit, StatementWitness};
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::{Record, Schema};
use zkgov_circuits::statement::{Statement, SubjectTag};
use zkgov_circuits::tree::{RegistryTree, TreeShape};
use zkgov_circuits::Fr;

/// The reference schema and policy, shipped in the repository.
const SCHEMA: &str = include_str!("../../schemas/real-estate.toml");
const POLICY: &str = include_str!("../../policies/medical-premises.toml");

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Records in the synthetic registry.
    #[arg(long, default_value_t = 10_000)]
    records: u64,
    /// Cases to decide.
    #[arg(long, default_value_t = 200)]
    cases: u64,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

/// splitmix64: a small deterministic generator, so that every run builds the
/// same registry. Not for secrets.
struct Synthetic(u64);

impl Synthetic {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A field element below 2^192, well inside the field.
    fn field(&mut self) -> Fr {
        let mut bytes = [0u8; 24];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        Fr::from_le_bytes_mod_order(&bytes)
    }
}

const USAGES: [&str; 4] = ["residential", "commercial", "medical", "industrial"];
const TODAY: &str = "2026-11-23";

fn synthetic_record(schema: &Schema, rng: &mut Synthetic, i: u64) -> Result<Record> {
    let subject = format!("ID{:08}", i);
    let parcel = format!("PARCEL-{:06}", i);
    let area = (40 + rng.below(960)).to_string();
    let usage = USAGES[rng.below(4) as usize];
    let encumbered = if rng.below(10) == 0 { "true" } else { "false" };
    let issued_year = 2000 + rng.below(26);
    let issued = format!(
        "{issued_year}-{:02}-{:02}",
        1 + rng.below(12),
        1 + rng.below(28)
    );
    let expires = format!(
        "{}-{:02}-{:02}",
        issued_year + 5 + rng.below(30),
        1 + rng.below(12),
        1 + rng.below(28)
    );
    let raw = [
        subject.as_str(),
        &parcel,
        &area,
        usage,
        encumbered,
        &issued,
        &expires,
    ];
    Ok(schema.encode_record(&raw, rng.field())?)
}

pub(crate) fn run(args: &DemoArgs) -> Result<()> {
    let schema = Schema::from_toml("schemas/real-estate.toml", SCHEMA)?;
    let policy = Policy::from_toml("policies/medical-premises.toml", POLICY, &schema)?;
    let shape = TreeShape::new(4, 10)?;
    ensure!(
        u128::from(args.records) <= shape.capacity(),
        "--records {} exceeds the registry capacity {}",
        args.records,
        shape.capacity()
    );
    ensure!(args.records > 0, "--records must be at least 1");

    let size = StatementCircuit::size(&schema, &policy, shape)?;
    let matrices = StatementCircuit::shape_only(&schema, &policy, shape).matrices()?;
    println!(
        "policy {} on {}: {} constraints, domain {}, public inputs {}",
        policy.name,
        schema.name,
        size.constraints,
        size.domain(),
        policy.public_input_names().join(", ")
    );

    let started = Instant::now();
    let mut rng = Synthetic(args.seed);
    let records = (0..args.records)
        .map(|i| synthetic_record(&schema, &mut rng, i))
        .collect::<Result<Vec<_>>>()?;
    let leaves = records.iter().map(|r| schema.leaf(r)).collect();
    let tree = RegistryTree::from_leaves(shape, leaves)?;
    println!(
        "registry: {} records, arity {}, depth {}, root {} ({:.2?})",
        args.records,
        shape.arity(),
        shape.depth(),
        to_decimal(&tree.root()),
        started.elapsed()
    );

    let params =
        policy.encode_params(&[("min_area", "120"), ("usage", "medical"), ("today", TODAY)])?;
    let started = Instant::now();
    let (mut approved, mut unknown) = (0u64, 0u64);
    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    for case in 0..args.cases {
        let case_number = format!("CASE-{case:05}");
        // One case in twenty names an applicant with no record.
        let index = rng.below(args.records + args.records / 19 + 1);
        let Some(record) = records.get(index as usize) else {
            unknown += 1;
            continue;
        };
        let case_secret = rng.field();
        let statement = Statement {
            registry_root: tree.root(),
            case_id: Statement::case_id(&case_number),
            subject_tag: SubjectTag::new(record.values[schema.subject], case_secret),
            params: params.clone(),
        };
        let witness = StatementWitness {
            record: record.clone(),
            path: tree.path(index)?,
            case_secret,
        };
        let verdict = policy.evaluate(&schema, &record.values, &params);
        let circuit = StatementCircuit {
            schema: &schema,
            policy: &policy,
            shape,
            assignment: Some((&statement, &witness)),
        };
        let satisfied = satisfied(&matrices, circuit)?;
        if verdict != satisfied {
            bail!("{case_number}: the native verdict ({verdict}) and the circuit ({satisfied}) disagree");
        }
        if verdict {
            approved += 1;
        } else {
            // Grouped by the first condition the record fails.
            let failures = policy.failures(&schema, &record.values, &params);
            *refused.entry(failures[0].clone()).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();
    let found = args.cases - unknown;
    println!(
        "cases: {} decided in {:.2?}; {found} statement witnesses checked against the circuit ({:.0} per second)",
        args.cases,
        elapsed,
        found as f64 / elapsed.as_secs_f64()
    );
    println!("  approved (circuit satisfied)        {approved:>5}");
    for (reason, count) in &refused {
        println!("  refused: not {reason:<22} {count:>5}");
    }
    println!("  refused: subject not found          {unknown:>5}");
    Ok(())
}

fn satisfied(matrices: &ConstraintMatrices<Fr>, circuit: StatementCircuit<'_>) -> Result<bool> {
    Ok(first_unsatisfied(matrices, &circuit.assign()?).is_none())
}
