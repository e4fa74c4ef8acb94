//! The scheduler driven one turn at a time, as the batcher thread drives
//! it, on real proofs of the reference policy over a depth-1 registry.

use std::sync::OnceLock;

use ark_groth16::Groth16;
use ark_snark::{CircuitSpecificSetupSNARK, SNARK};
use ark_std::rand::{rngs::StdRng, SeedableRng};
use tokio::sync::oneshot::error::TryRecvError;
use zkgov_circuits::circuit::{StatementCircuit, StatementWitness};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::statement::{Statement, SubjectTag};
use zkgov_circuits::tree::{RegistryTree, TreeShape};

use ark_bn254::Bn254;
use zkgov_keys::snarkjs;

use super::*;

const SCHEMA: &str = include_str!("../../../../schemas/real-estate.toml");
const POLICY: &str = include_str!("../../../../policies/medical-premises.toml");

const A: &str = "land-registry";
const B: &str = "market-bureau";
const C: &str = "health";

/// Small limits, so that a full queue takes a few proofs.
const LIMITS: Limits = Limits {
    max_batch: 4,
    max_queued: 8,
};

/// One valid proof and its key.
struct Proven {
    key: Arc<LoggedKey>,
    proof: Value,
    inputs: Vec<Fr>,
}

fn proven() -> &'static Proven {
    static PROVEN: OnceLock<Proven> = OnceLock::new();
    PROVEN.get_or_init(|| {
        let schema = Schema::from_toml("real-estate.toml", SCHEMA).unwrap();
        let policy = Policy::from_toml("medical-premises.toml", POLICY, &schema).unwrap();
        let shape = TreeShape::new(4, 1).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let (pk, vk) = Groth16::<Bn254>::setup(
            StatementCircuit::shape_only(&schema, &policy, shape),
            &mut rng,
        )
        .unwrap();
        let raw = [
            "ID-1",
            "P-1",
            "300",
            "medical",
            "false",
            "2020-01-01",
            "2035-01-01",
        ];
        let record = schema.encode_record(&raw, Fr::from(5000u64)).unwrap();
        let tree = RegistryTree::from_leaves(shape, vec![schema.leaf(&record)]).unwrap();
        let statement = Statement {
            registry_root: tree.root(),
            case_id: Statement::case_id("CASE-1"),
            subject_tag: SubjectTag::new(record.values[0], Fr::from(11u64)),
            params: policy
                .encode_params(&[
                    ("min_area", "120"),
                    ("usage", "medical"),
                    ("today", "2026-11-23"),
                ])
                .unwrap(),
        };
        let witness = StatementWitness {
            record,
            path: tree.path(0).unwrap(),
            case_secret: Fr::from(11u64),
        };
        let circuit = StatementCircuit {
            schema: &schema,
            policy: &policy,
            shape,
            assignment: Some((&statement, &witness)),
        };
        let proof = Groth16::<Bn254>::prove(&pk, circuit, &mut rng).unwrap();
        let hash = zkgov_keys::digest::policy_hash(&schema, &policy);
        let entry = zkgov_log::entry::Entry::Key {
            key_id: zkgov_keys::digest::key_id(&vk, &hash).to_string(),
            registry: "real-estate".into(),
            policy: policy.name.clone(),
            policy_hash: hash.to_string(),
            verifying_key: snarkjs::verifying_key_to_json(&vk),
            schema_toml: SCHEMA.into(),
            policy_toml: POLICY.into(),
            provenance: None,
            time: zkgov_log::entry::format_time(0),
        };
        let key = LoggedKey::from_logged_entry(1, &entry).unwrap();
        Proven {
            key: Arc::new(key),
            proof: snarkjs::proof_to_json(&proof),
            inputs: statement.public_inputs(),
        }
    })
}

/// A valid proof, submitted by `department`.
fn valid(department: &str) -> Job {
    let p = proven();
    Job {
        department: department.into(),
        key: p.key.clone(),
        proof: p.proof.clone(),
        inputs: p.inputs.clone(),
    }
}

/// The valid proof with its last public input changed: it parses, and
/// fails the pairing check.
fn invalid(department: &str) -> Job {
    let mut job = valid(department);
    *job.inputs.last_mut().unwrap() += Fr::from(1u64);
    job
}

fn verdict(answer: &mut oneshot::Receiver<Answer>) -> Verdict {
    answer.try_recv().expect("answered").0
}

/// The next turn, as the thread would take it, without waiting.
fn next_turn(shared: &Shared) -> Option<Turn> {
    // The guard is a temporary of this call only: `settle` locks again.
    shared.schedule().take()
}

fn waiting(shared: &Shared, department: &str) -> usize {
    shared.schedule().queues[department].waiting.len()
}

/// Brings `department`'s batch size up to the most, with clean batches.
fn warm_up(shared: &Shared, department: &str) {
    for size in [1, 2] {
        let answers: Vec<_> = (0..size)
            .map(|_| shared.submit(valid(department)).unwrap())
            .collect();
        let served = shared.settle(next_turn(shared).unwrap(), check_all);
        assert_eq!((served.proofs, served.invalid), (size, 0));
        for mut answer in answers {
            assert!(verdict(&mut answer).is_ok());
        }
    }
    let batch_size = shared.schedule().queues[department].batch_size;
    assert_eq!(batch_size, LIMITS.max_batch);
}

#[test]
fn while_a_floods_failing_proofs_b_is_accepted_in_the_next_turn_and_only_a_is_refused() {
    let shared = Arc::new(Shared::new(LIMITS));
    let _handle = Batcher::idle(shared.clone());
    // A has earned full batches with valid proofs, then floods invalid ones.
    warm_up(&shared, A);
    let mut a_answers: Vec<_> = (0..LIMITS.max_queued)
        .map(|_| shared.submit(invalid(A)).unwrap())
        .collect();
    assert!(matches!(
        shared.submit(invalid(A)),
        Err(ApiError::Overloaded)
    ));

    // A's turn starts; A refills its queue while it runs.
    let a_turn = next_turn(&shared).unwrap();
    assert_eq!((a_turn.department.as_str(), a_turn.batch.len()), (A, 4));
    a_answers.extend((0..4).map(|_| shared.submit(invalid(A)).unwrap()));
    assert_eq!(waiting(&shared, A), LIMITS.max_queued);
    assert!(matches!(
        shared.submit(invalid(A)),
        Err(ApiError::Overloaded)
    ));
    // B is not refused for A's full queue.
    let mut b_answer = shared.submit(valid(B)).unwrap();

    let served = shared.settle(a_turn, check_all);
    assert_eq!((served.proofs, served.invalid), (4, 4));
    // Four invalid of four: A's next batch holds one proof.
    assert_eq!(served.next_batch, 1);
    assert_eq!(b_answer.try_recv().unwrap_err(), TryRecvError::Empty);

    // The next turn is B's, ahead of A's full queue.
    let b_turn = next_turn(&shared).unwrap();
    assert_eq!(b_turn.department, B);
    let served = shared.settle(b_turn, check_all);
    assert_eq!((served.proofs, served.invalid), (1, 0));
    match verdict(&mut b_answer) {
        Ok(verified) => assert_eq!(verified.proof, proven().proof),
        Err(e) => panic!("B's valid proof was refused: {e}"),
    }
    assert_eq!(waiting(&shared, A), LIMITS.max_queued);

    // A's turns now cost one proof each, and every one of its proofs gets
    // its own verdict.
    while let Some(turn) = next_turn(&shared) {
        assert_eq!(turn.department, A);
        let served = shared.settle(turn, check_all);
        assert_eq!(
            (served.proofs, served.invalid, served.next_batch),
            (1, 1, 1)
        );
    }
    assert_eq!(a_answers.len(), 12);
    for answer in &mut a_answers {
        assert!(is_invalid(&verdict(answer)));
    }
}

#[test]
fn turns_go_round_robin_one_batch_each_over_departments_with_work() {
    let shared = Arc::new(Shared::new(LIMITS));
    let _handle = Batcher::idle(shared.clone());
    let mut answers = Vec::new();
    for (department, n) in [(A, 7), (B, 1), (C, 2)] {
        for _ in 0..n {
            answers.push(shared.submit(valid(department)).unwrap());
        }
    }
    let mut order = Vec::new();
    while let Some(turn) = next_turn(&shared) {
        let served = shared.settle(turn, check_all);
        order.push((served.department, served.proofs));
    }
    // Batches start at one proof and double while they are full and clean.
    let expected = [(A, 1), (B, 1), (C, 1), (A, 2), (C, 1), (A, 4)];
    let expected: Vec<_> = expected.iter().map(|&(d, n)| (d.to_string(), n)).collect();
    assert_eq!(order, expected);
    for answer in &mut answers {
        assert!(verdict(answer).is_ok());
    }
}

#[test]
fn a_turn_that_finds_no_one_waiting_gives_way_to_the_next_department() {
    let shared = Arc::new(Shared::new(LIMITS));
    let _handle = Batcher::idle(shared.clone());
    // A's requests all gave up waiting: they hold no place in its full
    // queue and are dropped unchecked.
    let abandoned: Vec<_> = (0..LIMITS.max_queued)
        .map(|_| shared.submit(valid(A)).unwrap())
        .collect();
    drop(abandoned);
    let _b = shared.submit(valid(B)).unwrap();
    let mut a = shared.submit(valid(A)).unwrap();
    assert_eq!(waiting(&shared, A), 1);

    let turn = next_turn(&shared).unwrap();
    assert_eq!((turn.department.as_str(), turn.batch.len()), (A, 1));
    shared.settle(turn, check_all);
    assert!(verdict(&mut a).is_ok());
    let turn = next_turn(&shared).unwrap();
    assert_eq!(turn.department, B);
    shared.settle(turn, check_all);

    // Abandoned before its turn came: A's turn is passed over.
    drop(shared.submit(valid(A)).unwrap());
    let mut c = shared.submit(valid(C)).unwrap();
    let turn = next_turn(&shared).unwrap();
    assert_eq!((turn.department.as_str(), turn.batch.len()), (C, 1));
    shared.settle(turn, check_all);
    assert!(verdict(&mut c).is_ok());
    assert!(next_turn(&shared).is_none());
    assert_eq!(waiting(&shared, A), 0);
}

fn panics(_: &[Job]) -> Vec<Verdict> {
    panic!("a bug in checking")
}

#[test]
fn a_panic_answers_its_batch_as_internal_and_the_next_turn_still_runs() {
    let shared = Arc::new(Shared::new(LIMITS));
    let _handle = Batcher::idle(shared.clone());
    warm_up(&shared, A);
    let mut answers: Vec<_> = (0..3).map(|_| shared.submit(valid(A)).unwrap()).collect();
    let served = shared.settle(next_turn(&shared).unwrap(), panics);
    assert_eq!((served.proofs, served.next_batch), (3, 1));
    for answer in &mut answers {
        assert!(matches!(verdict(answer), Err(ApiError::Internal(_))));
    }

    let mut answer = shared.submit(valid(A)).unwrap();
    shared.settle(next_turn(&shared).unwrap(), check_all);
    assert!(verdict(&mut answer).is_ok());
}

#[test]
fn once_every_handle_is_gone_the_thread_checks_everything_queued_and_exits() {
    let shared = Arc::new(Shared::new(LIMITS));
    let batcher = Batcher::idle(shared.clone());
    let clone = batcher.clone();
    let mut answers = Vec::new();
    for department in [A, B] {
        answers.push((true, shared.submit(valid(department)).unwrap()));
        answers.push((false, shared.submit(invalid(department)).unwrap()));
    }
    drop(batcher);
    assert!(!shared.schedule().closed, "a clone is still held");
    drop(clone);
    // Returns only once nothing is left.
    run(&shared, check_all);
    for (valid, answer) in &mut answers {
        let verdict = verdict(answer);
        assert_eq!(verdict.is_ok(), *valid, "{verdict:?}");
    }
    assert!(matches!(
        shared.submit(valid(A)),
        Err(ApiError::ShuttingDown)
    ));
}

#[test]
fn batch_sizes_shrink_to_about_one_invalid_proof_and_double_while_clean() {
    let max = 256;
    // Every proof invalid: one proof per batch.
    assert_eq!(next_batch_size(256, 256, Some(256), max), 1);
    assert_eq!(next_batch_size(1, 1, Some(1), max), 1);
    // One invalid proof in a full batch: half.
    assert_eq!(next_batch_size(256, 256, Some(1), max), 128);
    assert_eq!(next_batch_size(256, 256, Some(3), max), 64);
    // Sized by what the batch held, not by what it might have.
    assert_eq!(next_batch_size(256, 10, Some(1), max), 5);
    // Clean and full: double, up to the most.
    assert_eq!(next_batch_size(1, 1, Some(0), max), 2);
    assert_eq!(next_batch_size(128, 128, Some(0), max), 256);
    assert_eq!(next_batch_size(256, 256, Some(0), max), 256);
    // Clean but not full: unchanged.
    assert_eq!(next_batch_size(64, 3, Some(0), max), 64);
    // Checking panicked.
    assert_eq!(next_batch_size(256, 256, None, max), 1);
}
