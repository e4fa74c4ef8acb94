//! circomlib Poseidon: official vectors, native/gadget parity and exact cost.

use std::str::FromStr;
use std::sync::OnceLock;

use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, fields::fp::FpVar, R1CSVar};
use ark_relations::r1cs::{ConstraintSystem, ConstraintSystemRef, SynthesisError};
use proptest::prelude::*;
use zkgov_circuits::poseidon::{self, constraints::hash_gadget, PoseidonError, MAX_INPUTS};
use zkgov_circuits::Fr;

/// circomlib's partial rounds for widths 2..=17, restated independently of the
/// crate so a wrong table there cannot hide behind itself.
const PARTIAL_ROUNDS: [usize; 16] = [
    56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68,
];

struct Case {
    inputs: Vec<Fr>,
    hash: Fr,
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/poseidon_circomlib.json"
        );
        let text = std::fs::read_to_string(path).expect("read poseidon vectors");
        let json: serde_json::Value = serde_json::from_str(&text).expect("parse poseidon vectors");
        let decimal = |v: &serde_json::Value| {
            let s = v.as_str().expect("decimal string");
            Fr::from_str(s).unwrap_or_else(|_| panic!("not a canonical field element: {s}"))
        };
        json["cases"]
            .as_array()
            .expect("cases array")
            .iter()
            .map(|case| Case {
                inputs: case["inputs"]
                    .as_array()
                    .expect("inputs array")
                    .iter()
                    .map(decimal)
                    .collect(),
                hash: decimal(&case["hash"]),
            })
            .collect()
    })
}

fn alloc_witnesses(cs: &ConstraintSystemRef<Fr>, values: &[Fr]) -> Vec<FpVar<Fr>> {
    values
        .iter()
        .map(|v| FpVar::new_witness(cs.clone(), || Ok(*v)).expect("allocate input"))
        .collect()
}

fn expected_constraints(inputs: usize) -> usize {
    let width = inputs + 1;
    3 * (8 * width + PARTIAL_ROUNDS[width - 2])
}

#[test]
fn vectors_cover_every_arity() {
    let mut seen = [false; MAX_INPUTS + 1];
    for case in cases() {
        seen[case.inputs.len()] = true;
    }
    assert_eq!(cases().len(), 48);
    assert!(seen[1..].iter().all(|s| *s), "some arity has no vector");
}

#[test]
fn native_matches_circomlib_vectors() {
    for (i, case) in cases().iter().enumerate() {
        let got = poseidon::hash(&case.inputs).expect("supported arity");
        assert_eq!(got, case.hash, "case {i} ({} inputs)", case.inputs.len());
    }
}

#[test]
fn native_rejects_perturbed_inputs() {
    for case in cases() {
        let mut inputs = case.inputs.clone();
        inputs[0] += Fr::from(1u64);
        assert_ne!(poseidon::hash(&inputs).unwrap(), case.hash);
    }
}

#[test]
fn native_depends_on_arity() {
    // [x] and [x, 0] use different widths, so they must not collide.
    let x = Fr::from(1u64);
    assert_ne!(
        poseidon::hash(&[x]).unwrap(),
        poseidon::hash(&[x, Fr::from(0u64)]).unwrap()
    );
}

#[test]
fn gadget_matches_circomlib_vectors() {
    for (i, case) in cases().iter().enumerate() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let inputs = alloc_witnesses(&cs, &case.inputs);
        let out = hash_gadget(&inputs).expect("synthesize");
        assert_eq!(out.value().unwrap(), case.hash, "case {i}");
        assert!(cs.is_satisfied().unwrap(), "case {i} unsatisfied");

        let expected = FpVar::new_input(cs.clone(), || Ok(case.hash)).unwrap();
        out.enforce_equal(&expected).unwrap();
        assert!(cs.is_satisfied().unwrap(), "case {i} digest mismatch");
    }
}

#[test]
fn gadget_rejects_a_wrong_digest() {
    for case in cases().iter().step_by(5) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let inputs = alloc_witnesses(&cs, &case.inputs);
        let out = hash_gadget(&inputs).unwrap();
        let wrong = FpVar::new_input(cs.clone(), || Ok(case.hash + Fr::from(1u64))).unwrap();
        out.enforce_equal(&wrong).unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }
}

#[test]
fn gadget_catches_a_tampered_witness() {
    let case = &cases()[6];
    let cs = ConstraintSystem::<Fr>::new_ref();
    let inputs = alloc_witnesses(&cs, &case.inputs);
    let first_sbox_witness = cs.num_witness_variables();
    let _digest = hash_gadget(&inputs).unwrap();
    assert!(cs.is_satisfied().unwrap());

    // Every kind of S-box witness (x^2, x^4, x^5) and the last one overall
    // must be pinned by some constraint.
    let last = cs.num_witness_variables() - 1;
    for index in [
        first_sbox_witness,
        first_sbox_witness + 1,
        first_sbox_witness + 2,
        last,
    ] {
        let inner = cs.borrow_mut();
        let mut inner = inner.unwrap();
        let original = inner.witness_assignment[index];
        inner.witness_assignment[index] += Fr::from(1u64);
        drop(inner);
        assert!(
            !cs.is_satisfied().unwrap(),
            "witness {index} is unconstrained"
        );
        cs.borrow_mut().unwrap().witness_assignment[index] = original;
        assert!(cs.is_satisfied().unwrap());
    }
}

#[test]
fn gadget_catches_a_tampered_input() {
    let case = &cases()[10];
    let cs = ConstraintSystem::<Fr>::new_ref();
    let inputs = alloc_witnesses(&cs, &case.inputs);
    let _digest = hash_gadget(&inputs).unwrap();
    // The inputs are the first witnesses allocated.
    cs.borrow_mut().unwrap().witness_assignment[0] += Fr::from(1u64);
    assert!(!cs.is_satisfied().unwrap());
}

#[test]
fn constraint_count_is_three_per_sbox() {
    for n in 1..=MAX_INPUTS {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let values: Vec<Fr> = (0..n as u64).map(Fr::from).collect();
        let inputs = alloc_witnesses(&cs, &values);
        let _digest = hash_gadget(&inputs).unwrap();
        assert_eq!(cs.num_constraints(), expected_constraints(n), "{n} inputs");
        assert_eq!(
            cs.num_witness_variables(),
            n + cs.num_constraints(),
            "one witness per constraint beyond the inputs"
        );
        let params = poseidon::params(n + 1).unwrap();
        assert_eq!(cs.num_constraints(), 3 * params.sbox_count());
    }
}

#[test]
fn constraint_count_literals() {
    let count = |n: usize| {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let inputs = alloc_witnesses(&cs, &vec![Fr::from(9u64); n]);
        let _digest = hash_gadget(&inputs).unwrap();
        cs.num_constraints()
    };
    assert_eq!(count(2), 243);
    assert_eq!(count(4), 300);
    assert_eq!(count(8), 405);
}

#[test]
fn arity_errors() {
    assert_eq!(poseidon::hash(&[]), Err(PoseidonError::Arity { inputs: 0 }));
    let seventeen = vec![Fr::from(1u64); MAX_INPUTS + 1];
    assert_eq!(
        poseidon::hash(&seventeen),
        Err(PoseidonError::Arity { inputs: 17 })
    );
    assert!(poseidon::hash(&seventeen[..MAX_INPUTS]).is_ok());

    let cs = ConstraintSystem::<Fr>::new_ref();
    let vars = alloc_witnesses(&cs, &seventeen);
    assert!(matches!(
        hash_gadget(&[]),
        Err(SynthesisError::Unsatisfiable)
    ));
    assert!(matches!(
        hash_gadget(&vars),
        Err(SynthesisError::Unsatisfiable)
    ));
    assert_eq!(cs.num_constraints(), 0, "a rejected call adds nothing");
    assert!(hash_gadget(&vars[..MAX_INPUTS]).is_ok());
}

#[test]
fn constant_inputs() {
    let case = &cases()[4];
    let constants: Vec<FpVar<Fr>> = case.inputs.iter().map(|v| FpVar::Constant(*v)).collect();
    let out = hash_gadget(&constants).unwrap();
    assert!(matches!(out, FpVar::Constant(v) if v == case.hash));

    // Mixed constants and witnesses: same digest, same cost as all-witness.
    let cs = ConstraintSystem::<Fr>::new_ref();
    let mut mixed = alloc_witnesses(&cs, &case.inputs);
    mixed[0] = FpVar::Constant(case.inputs[0]);
    let out = hash_gadget(&mixed).unwrap();
    assert_eq!(out.value().unwrap(), case.hash);
    assert!(cs.is_satisfied().unwrap());
    assert_eq!(
        cs.num_constraints(),
        expected_constraints(case.inputs.len())
    );

    let wrong = FpVar::Constant(case.hash - Fr::from(1u64));
    out.enforce_equal(&wrong).unwrap();
    assert!(!cs.is_satisfied().unwrap());
}

#[test]
fn chained_gadgets_compose() {
    // The output is a symbolic combination; feeding it onward must work.
    let cs = ConstraintSystem::<Fr>::new_ref();
    let leaves = alloc_witnesses(&cs, &[Fr::from(1u64), Fr::from(2u64)]);
    let inner = hash_gadget(&leaves).unwrap();
    let outer = hash_gadget(&[inner.clone(), leaves[0].clone()]).unwrap();
    let native_inner = poseidon::hash(&[Fr::from(1u64), Fr::from(2u64)]).unwrap();
    let native_outer = poseidon::hash(&[native_inner, Fr::from(1u64)]).unwrap();
    assert_eq!(outer.value().unwrap(), native_outer);
    assert!(cs.is_satisfied().unwrap());
    assert_eq!(cs.num_constraints(), 2 * 243);
}

fn arb_field() -> impl Strategy<Value = Fr> {
    any::<[u8; 32]>().prop_map(|bytes| ark_ff::PrimeField::from_le_bytes_mod_order(&bytes))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn gadget_equals_native(inputs in proptest::collection::vec(arb_field(), 1..=MAX_INPUTS)) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let vars = alloc_witnesses(&cs, &inputs);
        let out = hash_gadget(&vars).unwrap();
        prop_assert_eq!(out.value().unwrap(), poseidon::hash(&inputs).unwrap());
        prop_assert!(cs.is_satisfied().unwrap());
        prop_assert_eq!(cs.num_constraints(), expected_constraints(inputs.len()));
    }
}
