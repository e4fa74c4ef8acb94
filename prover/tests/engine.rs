//! The proving engine: proofs that verify (in zkgov and through snarkjs's
//! JSON), the same proof as arkworks for the same randomness, no proof for
//! an unsatisfied witness, batches delivered in input order with a bounded
//! read-ahead, a clean stop, and keys for another policy refused.
//!
//! Most tests use a small tree (arity 4, depth 3) so that they run fast;
//! one runs the reference shape (arity 4, depth 10).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use ark_bn254::Bn254;
use ark_groth16::r1cs_to_qap::LibsnarkReduction;
use ark_groth16::{Groth16, Proof};
use ark_snark::SNARK;
use ark_std::rand::{rngs::StdRng, SeedableRng};
use zkgov_circuits::circuit::{StatementCircuit, StatementWitness};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::{Record, Schema};
use zkgov_circuits::statement::{Statement, SubjectTag};
use zkgov_circuits::tree::{RegistryTree, TreeShape};
use zkgov_circuits::Fr;
use zkgov_keys::qap::{CircomReduction, Reduction};
use zkgov_keys::snarkjs;
use zkgov_keys::store::{setup, KeyDir, KeyError};
use zkgov_prover::engine::prover::{create_proof, TabledKey};
use zkgov_prover::engine::{Engine, EngineError, REORDER_WINDOW_PER_THREAD};

const SCHEMA: &str = include_str!("../../schemas/real-estate.toml");
const POLICY: &str = include_str!("../../policies/medical-premises.toml");

/// An engine over a small registry: records 0..8 satisfy the policy, 8 is
/// too small (80 m²), 9 is encumbered.
struct Fixture {
    engine: Engine,
    keys: KeyDir,
    records: Vec<Record>,
    tree: RegistryTree,
    params: Vec<Fr>,
}

fn reference() -> (Schema, Policy) {
    let schema = Schema::from_toml("real-estate.toml", SCHEMA).unwrap();
    let policy = Policy::from_toml("medical-premises.toml", POLICY, &schema).unwrap();
    (schema, policy)
}

/// Sets up keys for `shape` in a temporary directory and opens them. The
/// directory is removed on return: an opened `KeyDir` holds its files.
fn keys_for(schema: &Schema, policy: &Policy, policy_text: &str, shape: TreeShape) -> KeyDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    setup(
        schema,
        policy,
        shape,
        SCHEMA,
        policy_text,
        &mut StdRng::seed_from_u64(1),
    )
    .unwrap()
    .write(&dir)
    .unwrap();
    KeyDir::open(&dir).unwrap()
}

fn build(shape: TreeShape) -> Fixture {
    let (schema, policy) = reference();
    let keys = keys_for(&schema, &policy, POLICY, shape);
    let records: Vec<Record> = (0..10u64)
        .map(|i| {
            let (subject, parcel) = (format!("ID-{i}"), format!("P-{i}"));
            let area = if i == 8 { "80" } else { "150" };
            let encumbered = if i == 9 { "true" } else { "false" };
            let raw = [
                subject.as_str(),
                parcel.as_str(),
                area,
                "medical",
                encumbered,
                "2020-01-01",
                "2030-01-01",
            ];
            schema.encode_record(&raw, Fr::from(1000 + i)).unwrap()
        })
        .collect();
    let tree =
        RegistryTree::from_leaves(shape, records.iter().map(|r| schema.leaf(r)).collect()).unwrap();
    let params = policy
        .encode_params(&[
            ("min_area", "120"),
            ("usage", "medical"),
            ("today", "2026-11-23"),
        ])
        .unwrap();
    let engine = Engine::new(&keys, schema, policy).unwrap();
    Fixture {
        engine,
        keys,
        records,
        tree,
        params,
    }
}

fn small() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| build(TreeShape::new(4, 3).unwrap()))
}

impl Fixture {
    /// The statement and witness of case `case` about record `index`.
    fn case(&self, index: u64, case: u64) -> (Statement, StatementWitness) {
        let record = self.records[index as usize].clone();
        let case_secret = Fr::from(77 + case);
        let statement = Statement {
            registry_root: self.tree.root(),
            case_id: Statement::case_id(&format!("CASE-{case}")),
            subject_tag: SubjectTag::new(record.values[0], case_secret),
            params: self.params.clone(),
        };
        let witness = StatementWitness {
            record,
            path: self.tree.path(index).unwrap(),
            case_secret,
        };
        (statement, witness)
    }
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(5)
}

#[test]
fn a_proof_verifies_in_the_engine_and_through_snarkjs_json() {
    let f = small();
    let (statement, witness) = f.case(3, 1);
    let proof = f.engine.prove(&statement, &witness, &mut rng()).unwrap();
    assert!(f.engine.verify(&statement, &proof));

    let vk_json = snarkjs::verifying_key_to_json(&f.keys.verifying_key).to_string();
    let vk = snarkjs::verifying_key_from_json(&vk_json).unwrap();
    let proof_json = snarkjs::proof_to_json(&proof).to_string();
    let parsed = snarkjs::proof_from_json(&proof_json).unwrap();
    assert_eq!(parsed, proof);
    let public = snarkjs::public_signals_from_json(
        &snarkjs::public_signals_to_json(&statement.public_inputs()).to_string(),
    )
    .unwrap();
    assert!(snarkjs::verify(&vk, &parsed, &public).unwrap());
}

#[test]
fn a_changed_public_input_fails() {
    let f = small();
    let (statement, witness) = f.case(2, 2);
    let proof = f.engine.prove(&statement, &witness, &mut rng()).unwrap();
    assert!(f.engine.verify(&statement, &proof));
    let vk = &f.keys.verifying_key;
    for i in 0..statement.public_inputs().len() {
        let mut changed = statement.clone();
        match i {
            0 => changed.registry_root += Fr::from(1u64),
            1 => changed.case_id += Fr::from(1u64),
            2 => changed.subject_tag.0 += Fr::from(1u64),
            _ => changed.params[i - 3] += Fr::from(1u64),
        }
        assert!(!f.engine.verify(&changed, &proof), "input {i} changed");
        assert!(
            !snarkjs::verify(vk, &proof, &changed.public_inputs()).unwrap(),
            "input {i} changed"
        );
    }
    // A statement with a param missing is refused, not a panic.
    let mut short = statement.clone();
    short.params.pop();
    assert!(!f.engine.verify(&short, &proof));
}

#[test]
fn the_engine_makes_the_proof_arkworks_makes_for_the_same_randomness() {
    let f = small();
    let (statement, witness) = f.case(5, 3);
    let assignment = f.engine.assign(&statement, &witness).unwrap();
    let full = [&assignment.instance[..], &assignment.witness[..]].concat();
    let m = f.engine.matrices();
    for (r, s) in [
        (Fr::from(7u64), Fr::from(11u64)),
        (Fr::from(0u64), Fr::from(3u64)),
    ] {
        let ours = f.engine.prove_assigned(&assignment, r, s).unwrap();
        let cached = Groth16::<Bn254, CircomReduction>::create_proof_with_reduction_and_matrices(
            f.engine.proving_key(),
            r,
            s,
            m,
            m.num_instance_variables,
            m.num_constraints,
            &full,
        )
        .unwrap();
        let synthesized = Groth16::<Bn254, CircomReduction>::create_proof_with_reduction(
            StatementCircuit {
                schema: f.engine.schema(),
                policy: f.engine.policy(),
                shape: f.engine.shape(),
                assignment: Some((&statement, &witness)),
            },
            f.engine.proving_key(),
            r,
            s,
        )
        .unwrap();
        assert_eq!(ours, cached);
        assert_eq!(ours, synthesized);
    }
    // A key of format 1, for libsnark's reduction, proves as arkworks'
    // default prover does with it.
    let circuit =
        StatementCircuit::shape_only(f.engine.schema(), f.engine.policy(), f.engine.shape());
    let (libsnark_key, _) =
        Groth16::<Bn254>::circuit_specific_setup(circuit, &mut StdRng::seed_from_u64(3)).unwrap();
    let tabled = TabledKey::new(libsnark_key.clone(), Reduction::Libsnark, m).unwrap();
    let (r, s) = (Fr::from(7u64), Fr::from(11u64));
    let ours = create_proof(&tabled, r, s, &full, None).unwrap();
    let theirs = Groth16::<Bn254, LibsnarkReduction>::create_proof_with_reduction_and_matrices(
        &libsnark_key,
        r,
        s,
        m,
        m.num_instance_variables,
        m.num_constraints,
        &full,
    )
    .unwrap();
    assert_eq!(ours, theirs);
    // Under the other reduction's witness map the proof would differ.
    let mismatched = TabledKey::new(libsnark_key, Reduction::Circom, m).unwrap();
    assert_ne!(
        create_proof(&mismatched, r, s, &full, None).unwrap(),
        theirs
    );
    // A tampered assignment is refused, not proved.
    let mut tampered = assignment.clone();
    tampered.witness[0] += Fr::from(1u64);
    assert!(matches!(
        f.engine
            .prove_assigned(&tampered, Fr::from(7u64), Fr::from(11u64)),
        Err(EngineError::Unsatisfied { .. })
    ));
    // So is one of another shape: a value too many, or one moved from the
    // witness to the inputs, satisfies no constraint.
    let mut longer = assignment.clone();
    longer.witness.push(Fr::from(0u64));
    let mut moved = assignment.clone();
    moved.instance.push(moved.witness.remove(0));
    for wrong in [longer, moved] {
        assert!(matches!(
            f.engine.prove_assigned(&wrong, Fr::from(7u64), Fr::from(11u64)),
            Err(EngineError::Unsatisfied { constraint: 0, ref reasons }) if reasons.is_empty()
        ));
        assert!(matches!(
            f.engine.msm_counts(&wrong),
            Err(EngineError::Unsatisfied { constraint: 0, .. })
        ));
    }

    // The timed path makes a valid proof too.
    let (proof, timings) = f
        .engine
        .prove_timed(&statement, &witness, &mut rng())
        .unwrap();
    assert!(f.engine.verify(&statement, &proof));
    assert!(timings.total() >= timings.msm_l_h);
}

fn unsatisfied(result: Result<Proof<Bn254>, EngineError>) -> Vec<String> {
    match result {
        Err(EngineError::Unsatisfied { reasons, .. }) => reasons,
        other => panic!("expected Unsatisfied, got {other:?}"),
    }
}

#[test]
fn an_unsatisfied_witness_is_an_error_and_never_a_proof() {
    let f = small();
    let e = &f.engine;

    // The record fails the policy: too small, or encumbered.
    let (statement, witness) = f.case(8, 4);
    assert_eq!(
        unsatisfied(e.prove(&statement, &witness, &mut rng())),
        ["area_m2 >= $min_area"]
    );
    let (statement, witness) = f.case(9, 4);
    assert_eq!(
        unsatisfied(e.prove(&statement, &witness, &mut rng())),
        ["encumbered == false"]
    );

    // A good record with another record's path.
    let (statement, mut witness) = f.case(1, 5);
    witness.path = f.tree.path(2).unwrap();
    assert_eq!(
        unsatisfied(e.prove(&statement, &witness, &mut rng())),
        ["the record's path does not lead to the registry root"]
    );

    // A good record under a wrong case secret.
    let (statement, mut witness) = f.case(1, 5);
    witness.case_secret += Fr::from(1u64);
    assert_eq!(
        unsatisfied(e.prove(&statement, &witness, &mut rng())),
        ["the subject tag is not the subject's tag under the case secret"]
    );

    // A public param the record fails: `today` after the expiry.
    let (mut statement, witness) = f.case(1, 6);
    statement.params = e
        .policy()
        .encode_params(&[
            ("min_area", "120"),
            ("usage", "medical"),
            ("today", "2031-01-01"),
        ])
        .unwrap();
    assert_eq!(
        unsatisfied(e.prove(&statement, &witness, &mut rng())),
        ["expires > $today"]
    );

    // Malformed inputs are typed errors before any synthesis.
    let (mut statement, witness) = f.case(1, 7);
    statement.params.push(Fr::from(1u64));
    assert!(matches!(
        e.prove(&statement, &witness, &mut rng()),
        Err(EngineError::ParamCount {
            expected: 3,
            found: 4,
            ..
        })
    ));
    let (statement, mut witness) = f.case(1, 7);
    witness.path.siblings.pop();
    assert!(matches!(
        e.prove(&statement, &witness, &mut rng()),
        Err(EngineError::PathShape {
            depth: 3,
            levels: 2,
            ..
        })
    ));
}

/// Jobs `0..n`: job `i` is about record `i % 10` (records 8 and 9 fail the
/// policy), counting how many jobs the engine has pulled.
fn counted_jobs<'a>(
    f: &'static Fixture,
    n: u64,
    pulled: &'a AtomicUsize,
) -> impl Iterator<Item = (u64, Statement, StatementWitness)> + Send + 'a {
    (0..n).map(move |i| {
        pulled.fetch_add(1, Ordering::SeqCst);
        let (statement, witness) = f.case(i % 10, 100 + i);
        (i, statement, witness)
    })
}

#[test]
fn a_batch_delivers_every_result_in_input_order() {
    let f = small();
    let threads = 3;
    let window = threads * REORDER_WINDOW_PER_THREAD;
    let n = 2 * window as u64 + 5;
    let pulled = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut delivered = Vec::new();
    let summary = f.engine.prove_batch(
        counted_jobs(f, n, &pulled),
        threads,
        &stop,
        |tag, statement, result| {
            // Read-ahead is bounded by the window, whatever the batch size.
            assert!(pulled.load(Ordering::SeqCst) <= tag as usize + 1 + window);
            let (expected, _) = f.case(tag % 10, 100 + tag);
            assert_eq!(statement, expected, "the job's own statement comes back");
            match (tag % 10, result) {
                (8 | 9, Err(EngineError::Unsatisfied { .. })) => {}
                (_, Ok(proof)) => assert!(f.engine.verify(&statement, &proof)),
                (_, other) => panic!("job {tag}: {other:?}"),
            }
            delivered.push(tag);
        },
    );
    assert_eq!(delivered, (0..n).collect::<Vec<_>>());
    let failed = (0..n).filter(|i| i % 10 >= 8).count() as u64;
    assert_eq!(summary.taken, n);
    assert_eq!(summary.failed, failed);
    assert_eq!(summary.proved, n - failed);
    assert!(!summary.stopped);
}

#[test]
fn stopping_delivers_every_taken_job_and_takes_no_more() {
    let f = small();
    let n = 40;
    let pulled = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut delivered = Vec::new();
    let summary = f
        .engine
        .prove_batch(counted_jobs(f, n, &pulled), 2, &stop, |tag, _, _| {
            if tag == 2 {
                stop.store(true, Ordering::SeqCst);
            }
            delivered.push(tag);
        });
    let taken = pulled.load(Ordering::SeqCst) as u64;
    assert!(summary.stopped);
    assert!(taken < n, "the stop ended the batch early");
    assert!(taken >= 3);
    assert_eq!(summary.taken, taken);
    assert_eq!(delivered, (0..taken).collect::<Vec<_>>());

    // A flag already set takes nothing.
    let pulled = AtomicUsize::new(0);
    let stop = AtomicBool::new(true);
    let summary = f
        .engine
        .prove_batch(counted_jobs(f, n, &pulled), 2, &stop, |_, _, _| {
            panic!("nothing was taken")
        });
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    assert_eq!(summary.taken, 0);
    assert!(summary.stopped);
}

#[test]
fn one_batch_proves_the_cases_of_several_keys_in_input_order() {
    let f = small();
    // A second key, for a stricter policy over the same registry.
    let (schema, _) = reference();
    let stricter = POLICY.replace("area_m2 >= $min_area", "area_m2 > $min_area");
    let policy = Policy::from_toml("stricter.toml", &stricter, &schema).unwrap();
    let keys = keys_for(&schema, &policy, &stricter, TreeShape::new(4, 3).unwrap());
    let other = Engine::new(&keys, schema, policy).unwrap();
    assert_ne!(other.key_id(), f.engine.key_id());

    let engines = [&f.engine, &other];
    let n = 3 * REORDER_WINDOW_PER_THREAD as u64;
    let jobs = (0..n).map(|i| {
        let (statement, witness) = f.case(i % 10, 300 + i);
        (i, engines[(i % 3 == 0) as usize], statement, witness)
    });
    let mut delivered = Vec::new();
    let summary = zkgov_prover::engine::prove_mixed(
        jobs,
        2,
        &AtomicBool::new(false),
        |tag, statement, result| {
            let (mine, theirs) = match tag % 3 {
                0 => (&other, &f.engine),
                _ => (&f.engine, &other),
            };
            match (tag % 10, result) {
                (8 | 9, Err(EngineError::Unsatisfied { .. })) => {}
                (_, Ok(proof)) => {
                    // Proved under the job's own key, and only under it.
                    assert!(mine.verify(&statement, &proof), "job {tag}");
                    assert!(!theirs.verify(&statement, &proof), "job {tag}");
                }
                (_, other) => panic!("job {tag}: {other:?}"),
            }
            delivered.push(tag);
        },
    );
    assert_eq!(delivered, (0..n).collect::<Vec<_>>());
    let failed = (0..n).filter(|i| i % 10 >= 8).count() as u64;
    assert_eq!((summary.proved, summary.failed), (n - failed, failed));
}

#[test]
fn an_empty_batch_and_a_single_thread_work() {
    let f = small();
    let stop = AtomicBool::new(false);
    let summary = f.engine.prove_batch(
        std::iter::empty::<(u64, Statement, StatementWitness)>(),
        4,
        &stop,
        |_, _, _| panic!("no jobs"),
    );
    assert_eq!(summary.taken, 0);
    let pulled = AtomicUsize::new(0);
    let mut delivered = Vec::new();
    f.engine
        .prove_batch(counted_jobs(f, 3, &pulled), 0, &stop, |tag, _, r| {
            assert!(r.is_ok());
            delivered.push(tag);
        });
    assert_eq!(delivered, [0, 1, 2]);
}

#[test]
fn the_engine_refuses_a_key_set_up_for_another_policy() {
    let (schema, policy) = reference();
    let shape = TreeShape::new(4, 2).unwrap();
    let keys = keys_for(&schema, &policy, POLICY, shape);

    let other_text = POLICY.replace("area_m2 >= $min_area", "area_m2 > $min_area");
    let other = Policy::from_toml("medical-premises.toml", &other_text, &schema).unwrap();
    match Engine::new(&keys, schema.clone(), other) {
        Err(EngineError::Key(KeyError::PolicyMismatch { .. })) => {}
        other => panic!("expected a policy mismatch, got {other:?}"),
    }
    // The right policy is accepted.
    Engine::new(&keys, schema, policy).unwrap();
}

#[test]
fn a_reference_shape_proof_verifies() {
    let f = build(TreeShape::new(4, 10).unwrap());
    assert_eq!(f.engine.shape().depth(), 10);
    let (statement, witness) = f.case(7, 9);
    let proof = f.engine.prove(&statement, &witness, &mut rng()).unwrap();
    assert!(f.engine.verify(&statement, &proof));
    let vk = snarkjs::verifying_key_from_json(
        &snarkjs::verifying_key_to_json(&f.keys.verifying_key).to_string(),
    )
    .unwrap();
    let proof = snarkjs::proof_from_json(&snarkjs::proof_to_json(&proof).to_string()).unwrap();
    assert!(snarkjs::verify(&vk, &proof, &statement.public_inputs()).unwrap());
    let (statement, witness) = f.case(8, 9);
    unsatisfied(f.engine.prove(&statement, &witness, &mut rng()));
}
