//! Single and batched Groth16 verification against small test circuits:
//! every good proof is accepted, every bad one is rejected and located, and
//! single verification agrees with arkworks.

use std::sync::OnceLock;

use ark_bn254::{Bn254, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{One, Zero};
use ark_groth16::{Groth16, Proof, ProvingKey};
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use ark_snark::SNARK;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zkgov_log::verify::{verify, verify_batch, Item, PreparedKey, VerifyError};

/// Knowledge of `w` whose powers `w^2 … w^(inputs+1)` are the public inputs.
#[derive(Clone)]
struct Powers {
    /// Number of public inputs.
    inputs: usize,
    /// The witness; `None` at setup.
    w: Option<Fr>,
}

impl Powers {
    fn public_inputs(inputs: usize, w: Fr) -> Vec<Fr> {
        let mut power = w;
        (0..inputs)
            .map(|_| {
                power *= w;
                power
            })
            .collect()
    }
}

impl ConstraintSynthesizer<Fr> for Powers {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let w = cs.new_witness_variable(|| self.w.ok_or(SynthesisError::AssignmentMissing))?;
        let mut previous = w;
        let mut power = self.w;
        for _ in 0..self.inputs {
            power = power.zip(self.w).map(|(p, w)| p * w);
            let next = cs.new_input_variable(|| power.ok_or(SynthesisError::AssignmentMissing))?;
            cs.enforce_constraint(lc!() + previous, lc!() + w, lc!() + next)?;
            previous = next;
        }
        Ok(())
    }
}

/// One test key: the proving key and the prepared verifying key.
struct TestKey {
    inputs: usize,
    pk: ProvingKey<Bn254>,
    prepared: PreparedKey,
}

impl TestKey {
    fn setup(inputs: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let (pk, vk) =
            Groth16::<Bn254>::circuit_specific_setup(Powers { inputs, w: None }, &mut rng)
                .expect("setup");
        Self {
            inputs,
            pk,
            prepared: PreparedKey::new(vk),
        }
    }

    /// A valid proof for witness `w`.
    fn prove(&self, w: u64) -> Case {
        let mut rng = StdRng::seed_from_u64(w);
        let circuit = Powers {
            inputs: self.inputs,
            w: Some(Fr::from(w)),
        };
        Case {
            w,
            proof: Groth16::<Bn254>::prove(&self.pk, circuit, &mut rng).expect("proves"),
            inputs: Powers::public_inputs(self.inputs, Fr::from(w)),
        }
    }

    /// Valid proofs for each witness in `witnesses`.
    fn proofs(&self, witnesses: std::ops::Range<u64>) -> Vec<Case> {
        witnesses.map(|w| self.prove(w)).collect()
    }
}

/// A proof with its public inputs, and the witness it was made from.
#[derive(Clone)]
struct Case {
    w: u64,
    proof: Proof<Bn254>,
    inputs: Vec<Fr>,
}

/// Keys shared by all tests: `a` and `a2` are two setups of the same
/// 4-input circuit, `b` is a 3-input circuit.
struct Keys {
    a: TestKey,
    a2: TestKey,
    b: TestKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        a: TestKey::setup(4, 1),
        a2: TestKey::setup(4, 2),
        b: TestKey::setup(3, 3),
    })
}

/// Items checking every case under `key`.
fn items<'a>(key: &'a PreparedKey, cases: &'a [Case]) -> Vec<Item<'a>> {
    cases
        .iter()
        .map(|case| Item {
            key,
            proof: &case.proof,
            public_inputs: &case.inputs,
        })
        .collect()
}

/// The verdicts `true` everywhere except at `bad`.
fn expected(len: usize, bad: &[usize]) -> Vec<Result<bool, VerifyError>> {
    (0..len).map(|i| Ok(!bad.contains(&i))).collect()
}

/// The ways a proof can be bad while its public-input count is right.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// A valid proof for other public inputs.
    OtherInputs,
    /// A valid proof under another setup of the same circuit.
    OtherKey,
    /// One public input changed.
    TamperedInput,
}

const FAULTS: [Fault; 3] = [Fault::OtherInputs, Fault::OtherKey, Fault::TamperedInput];

/// Makes `cases[i]` (under key `a`) bad in the way `fault` says.
fn spoil(cases: &mut [Case], i: usize, fault: Fault) {
    let keys = keys();
    let case = &mut cases[i];
    match fault {
        Fault::OtherInputs => case.proof = keys.a.prove(case.w + 1000).proof,
        Fault::OtherKey => case.proof = keys.a2.prove(case.w).proof,
        Fault::TamperedInput => case.inputs[2] += Fr::one(),
    }
}

#[test]
fn valid_batches_are_all_true_and_one_tampered_input_is_not() {
    let keys = keys();
    for size in [1, 2, 7, 64] {
        let mut proofs = keys.a.proofs(2..2 + size as u64);
        assert_eq!(
            verify_batch(&items(&keys.a.prepared, &proofs)),
            expected(size, &[]),
            "size {size}"
        );
        spoil(&mut proofs, size - 1, Fault::TamperedInput);
        assert_eq!(
            verify_batch(&items(&keys.a.prepared, &proofs)),
            expected(size, &[size - 1]),
            "size {size}"
        );
    }
}

#[test]
fn one_bad_proof_among_many_is_located_exactly() {
    let keys = keys();
    let good = keys.a.proofs(2..18);
    assert_eq!(
        verify_batch(&items(&keys.a.prepared, &good)),
        expected(16, &[])
    );
    for fault in FAULTS {
        for bad in [0, 5, 15] {
            let mut proofs = good.clone();
            spoil(&mut proofs, bad, fault);
            assert_eq!(
                verify_batch(&items(&keys.a.prepared, &proofs)),
                expected(16, &[bad]),
                "{fault:?} at {bad}"
            );
        }
    }
}

#[test]
fn several_bad_proofs_are_located() {
    let keys = keys();
    let mut proofs = keys.a.proofs(2..35);
    let bad = [0, 5, 6, 20, 32];
    for (&i, fault) in bad.iter().zip(FAULTS.iter().cycle()) {
        spoil(&mut proofs, i, *fault);
    }
    assert_eq!(
        verify_batch(&items(&keys.a.prepared, &proofs)),
        expected(33, &bad)
    );
}

#[test]
fn a_batch_of_bad_proofs_is_all_false() {
    let keys = keys();
    let mut proofs = keys.a.proofs(2..10);
    assert_eq!(
        verify_batch(&items(&keys.a.prepared, &proofs)),
        expected(8, &[])
    );
    for i in 0..8 {
        spoil(&mut proofs, i, FAULTS[i % 3]);
    }
    assert_eq!(
        verify_batch(&items(&keys.a.prepared, &proofs)),
        expected(8, &[0, 1, 2, 3, 4, 5, 6, 7])
    );
}

#[test]
fn faults_that_cancel_in_a_plain_sum_are_caught() {
    // Without random weights these pairs of faults would cancel out:
    // X_1 + X_2 is unchanged, and so is C_1 + C_2.
    let keys = keys();
    let mut proofs = keys.a.proofs(2..10);
    assert_eq!(
        verify_batch(&items(&keys.a.prepared, &proofs)),
        expected(8, &[])
    );
    proofs[1].inputs[2] += Fr::one();
    proofs[6].inputs[2] -= Fr::one();
    let c = proofs[3].proof.c;
    proofs[3].proof.c = proofs[4].proof.c;
    proofs[4].proof.c = c;
    assert_eq!(
        verify_batch(&items(&keys.a.prepared, &proofs)),
        expected(8, &[1, 3, 4, 6])
    );
}

#[test]
fn an_empty_batch_has_no_verdicts() {
    assert_eq!(verify_batch(&[]), Vec::new());
}

#[test]
fn mixed_keys_share_one_batch() {
    let keys = keys();
    let under_a = keys.a.proofs(2..12);
    let under_a2 = keys.a2.proofs(20..25);
    let mut under_b = keys.b.proofs(30..37);
    let mixed = |under_b: &[Case]| {
        let mut batch = Vec::new();
        for i in 0..10 {
            batch.extend(items(&keys.a.prepared, &under_a[i..i + 1]));
            batch.extend(items(
                &keys.a2.prepared,
                under_a2.get(i..i + 1).unwrap_or(&[]),
            ));
            batch.extend(items(
                &keys.b.prepared,
                under_b.get(i..i + 1).unwrap_or(&[]),
            ));
        }
        verify_batch(&batch)
    };
    assert_eq!(mixed(&under_b), expected(22, &[]));

    // The fourth proof under `b` is item 3·3 + 2 = 11 of the batch.
    under_b[3].inputs[1] += Fr::one();
    assert_eq!(mixed(&under_b), expected(22, &[11]));
}

#[test]
fn an_equal_key_behind_another_reference_is_accepted() {
    let keys = keys();
    let copy = PreparedKey::new(keys.a.prepared.verifying_key().clone());
    let mut proofs = keys.a.proofs(2..6);
    let mut batch = items(&keys.a.prepared, &proofs[..2]);
    batch.extend(items(&copy, &proofs[2..]));
    assert_eq!(verify_batch(&batch), expected(4, &[]));

    spoil(&mut proofs, 3, Fault::OtherKey);
    let mut batch = items(&keys.a.prepared, &proofs[..2]);
    batch.extend(items(&copy, &proofs[2..]));
    assert_eq!(verify_batch(&batch), expected(4, &[3]));
}

#[test]
fn a_wrong_public_input_count_is_an_error_for_that_item_only() {
    let keys = keys();
    let mut proofs = keys.a.proofs(2..10);
    proofs[2].inputs.pop();
    proofs[5].inputs.push(Fr::one());
    let wrong = |found| Err(VerifyError::WrongPublicInputCount { expected: 4, found });

    let verdicts = verify_batch(&items(&keys.a.prepared, &proofs));
    let mut want = expected(8, &[]);
    (want[2], want[5]) = (wrong(3), wrong(5));
    assert_eq!(verdicts, want);

    // A proof under `b` (3 inputs) offered under `a` is counted wrong too.
    let case = keys.b.prove(40);
    let item = Item {
        key: &keys.a.prepared,
        proof: &case.proof,
        public_inputs: &case.inputs,
    };
    assert_eq!(verify(&item), wrong(3));

    // A bad proof among them is still located.
    spoil(&mut proofs, 6, Fault::OtherInputs);
    want[6] = Ok(false);
    assert_eq!(verify_batch(&items(&keys.a.prepared, &proofs)), want);
}

#[test]
fn a_rerandomised_proof_verifies_singly_and_in_a_batch() {
    let keys = keys();
    let mut proofs = keys.a.proofs(2..10);
    let vk = keys.a.prepared.verifying_key();
    let fresh =
        Groth16::<Bn254>::rerandomize_proof(vk, &proofs[4].proof, &mut StdRng::seed_from_u64(9));
    assert_ne!(fresh, proofs[4].proof);
    proofs[4].proof = fresh;
    assert_eq!(verify(&items(&keys.a.prepared, &proofs)[4]), Ok(true));
    assert_eq!(
        verify_batch(&items(&keys.a.prepared, &proofs)),
        expected(8, &[])
    );

    proofs[4].inputs[0] += Fr::one();
    assert_eq!(verify(&items(&keys.a.prepared, &proofs)[4]), Ok(false));
    assert_eq!(
        verify_batch(&items(&keys.a.prepared, &proofs)),
        expected(8, &[4])
    );
}

#[test]
fn single_verify_agrees_with_arkworks() {
    let keys = keys();
    let good = keys.a.proofs(2..5);
    let pvk = ark_groth16::prepare_verifying_key(keys.a.prepared.verifying_key());
    let mut cases = vec![good.clone()];
    for fault in FAULTS {
        let mut proofs = good.clone();
        for i in 0..proofs.len() {
            spoil(&mut proofs, i, fault);
        }
        cases.push(proofs);
    }
    for (case, proofs) in cases.iter().enumerate() {
        for item in items(&keys.a.prepared, proofs) {
            let arkworks =
                Groth16::<Bn254>::verify_proof(&pvk, item.proof, item.public_inputs).unwrap();
            assert_eq!(verify(&item), Ok(arkworks), "case {case}");
            assert_eq!(arkworks, case == 0, "case {case}");
        }
    }
}

#[test]
fn batches_agree_with_single_verification() {
    let keys = keys();
    let mut rng = StdRng::seed_from_u64(5);
    for round in 0..4 {
        let mut proofs = keys.a.proofs(2..26);
        for i in 0..proofs.len() {
            if rng.gen_bool(0.2) {
                spoil(&mut proofs, i, FAULTS[rng.gen_range(0..3)]);
            }
        }
        let items = items(&keys.a.prepared, &proofs);
        let singles: Vec<_> = items.iter().map(verify).collect();
        assert!(singles.contains(&Ok(true)), "round {round}");
        assert_eq!(verify_batch(&items), singles, "round {round}");
    }
}

#[test]
fn degenerate_proofs_are_false_not_a_panic() {
    let keys = keys();
    let mut proofs = keys.a.proofs(2..6);
    let good = proofs[0].proof.clone();
    proofs[1].proof.a = G1Affine::zero();
    proofs[2].proof.b = G2Affine::zero();
    proofs[3].proof = Proof {
        a: G1Affine::zero(),
        b: G2Affine::zero(),
        c: G1Affine::zero(),
    };
    let items = items(&keys.a.prepared, &proofs);
    assert_eq!(verify(&items[0]), Ok(true));
    assert_eq!(good, proofs[0].proof);
    for item in &items[1..] {
        assert_eq!(verify(item), Ok(false));
    }
    assert_eq!(verify_batch(&items), expected(4, &[1, 2, 3]));
}

#[test]
fn a_key_without_ic_accepts_nothing() {
    let keys = keys();
    let mut vk = keys.a.prepared.verifying_key().clone();
    vk.gamma_abc_g1.clear();
    let broken = PreparedKey::new(vk);
    assert_eq!(broken.public_inputs(), 0);
    assert_eq!(keys.a.prepared.public_inputs(), 4);
    let case = keys.a.prove(2);
    let item = Item {
        key: &broken,
        proof: &case.proof,
        public_inputs: &[],
    };
    assert_eq!(verify(&item), Ok(false));
    assert_eq!(verify_batch(&[item, item]), vec![Ok(false), Ok(false)]);
}

#[test]
fn a_zero_witness_proof_is_checked_like_any_other() {
    // w = 0 makes every public input zero: X = IC_0 alone.
    let keys = keys();
    let proofs = vec![keys.a.prove(0), keys.a.prove(2)];
    assert!(proofs[0].inputs.iter().all(Zero::is_zero));
    assert_eq!(
        verify_batch(&items(&keys.a.prepared, &proofs)),
        expected(2, &[])
    );
    let mut spoiled = proofs.clone();
    spoiled[0].inputs[3] = Fr::one();
    assert_eq!(
        verify_batch(&items(&keys.a.prepared, &spoiled)),
        expected(2, &[0])
    );
}
