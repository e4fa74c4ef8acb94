//! The reference workload (see the README's benchmarks) as benchmarks use
//! it: keys for `medical-premises` over `real-estate` at arity 4, depth 10,
//! a registry of synthetic records, and satisfying cases with distinct
//! subjects and case secrets.

use rand::rngs::StdRng;
use rand::SeedableRng;
use zkgov_circuits::circuit::StatementWitness;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::statement::{Statement, SubjectTag};
use zkgov_circuits::tree::{RegistryTree, TreeShape};
use zkgov_circuits::Fr;
use zkgov_keys::store::{setup, KeyDir};
use zkgov_prover::engine::Engine;

use ark_ff::UniformRand;

/// The reference schema file.
pub const SCHEMA: &str = include_str!("../../schemas/real-estate.toml");
/// The reference policy file.
pub const POLICY: &str = include_str!("../../policies/medical-premises.toml");

/// Keys, registry and cases of the reference workload.
pub struct ReferenceWorkload {
    /// The `real-estate` schema.
    pub schema: Schema,
    /// The `medical-premises` policy.
    pub policy: Policy,
    /// Arity 4, depth 10.
    pub shape: TreeShape,
    /// The opened key directory.
    pub keys: KeyDir,
    /// The registry root every case is proved against.
    pub root: Fr,
    /// The records' leaves, in insertion order.
    pub leaves: Vec<Fr>,
    /// Satisfying cases, one per subject, each with its own case secret.
    pub cases: Vec<(Statement, StatementWitness)>,
    /// Keeps the key directory alive.
    _dir: tempfile::TempDir,
}

impl ReferenceWorkload {
    /// The proving engine for the workload's keys.
    pub fn engine(&self) -> Engine {
        Engine::new(&self.keys, self.schema.clone(), self.policy.clone())
            .expect("the engine builds")
    }

    /// Sets up keys in a temporary directory (deterministic from `seed`),
    /// builds a registry of `records` records and makes `cases` satisfying
    /// cases over records spread across the tree.
    pub fn new(records: u64, cases: usize, seed: u64) -> Self {
        assert!(cases as u64 <= records, "one record per case at least");
        let schema = Schema::from_toml("real-estate.toml", SCHEMA).expect("reference schema");
        let policy =
            Policy::from_toml("medical-premises.toml", POLICY, &schema).expect("reference policy");
        let shape = TreeShape::new(4, 10).expect("reference shape");
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().expect("a temporary directory");
        setup(&schema, &policy, shape, SCHEMA, POLICY, &mut rng)
            .expect("setup")
            .write(&dir.path().join("keys"))
            .expect("write the keys");
        let keys = KeyDir::open(&dir.path().join("keys")).expect("open the keys");

        let encoded: Vec<_> = (0..records)
            .map(|i| {
                let subject = format!("ID-{i:08}");
                let parcel = format!("P-{i:08}");
                let area = (120 + i % 900).to_string();
                let raw = [
                    subject.as_str(),
                    parcel.as_str(),
                    area.as_str(),
                    "medical",
                    "false",
                    "2020-01-01",
                    "2030-01-01",
                ];
                schema
                    .encode_record(&raw, Fr::rand(&mut rng))
                    .expect("a valid record")
            })
            .collect();
        let leaves: Vec<Fr> = encoded.iter().map(|r| schema.leaf(r)).collect();
        let tree = RegistryTree::from_leaves(shape, leaves.clone()).expect("the records fit");
        let params = policy
            .encode_params(&[
                ("min_area", "120"),
                ("usage", "medical"),
                ("today", "2026-11-23"),
            ])
            .expect("valid params");
        let stride = records / cases.max(1) as u64;
        let cases = (0..cases as u64)
            .map(|c| {
                let index = c * stride;
                let record = encoded[index as usize].clone();
                let case_secret = Fr::rand(&mut rng);
                let statement = Statement {
                    registry_root: tree.root(),
                    case_id: Statement::case_id(&format!("CASE-2026-{c:06}")),
                    subject_tag: SubjectTag::new(record.values[schema.subject], case_secret),
                    params: params.clone(),
                };
                let witness = StatementWitness {
                    path: tree.path(index).expect("the record is in the tree"),
                    record,
                    case_secret,
                };
                (statement, witness)
            })
            .collect();
        Self {
            root: tree.root(),
            leaves,
            schema,
            policy,
            shape,
            keys,
            cases,
            _dir: dir,
        }
    }
}
