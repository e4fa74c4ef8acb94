//! The snarkjs JSON formats: round trips, real snarkjs output, verification,
//! and one test per refusal, each pinned to its exact variant and path.

mod support;

use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{One, PrimeField};
use ark_groth16::{Groth16, Proof, VerifyingKey};
use ark_snark::SNARK;
use ark_std::rand::{rngs::StdRng, SeedableRng};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::circuit::ProductAndSum;
use zkgov_keys::snarkjs::{self, SnarkjsError};

const SNARKJS_VK: &str = include_str!("data/snarkjs/multiplier_vk.json");
const SNARKJS_PROOF: &str = include_str!("data/snarkjs/multiplier_proof.json");
const SNARKJS_PUBLIC: &str = include_str!("data/snarkjs/multiplier_public.json");

/// BN254's base field modulus q and scalar field modulus r.
const Q: &str = "21888242871839275222246405745257275088696311157297823662689037894645226208583";
const R: &str = "21888242871839275222246405745257275088548364400416034343698204186575808495617";

/// A key, a proof for x = 3, y = 11, and its public inputs [33, 14].
fn arkworks_proof() -> (VerifyingKey<Bn254>, Proof<Bn254>, Vec<Fr>) {
    let mut rng = StdRng::seed_from_u64(1);
    let blank = ProductAndSum { x: None, y: None };
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(blank, &mut rng).unwrap();
    let (x, y) = (Fr::from(3u64), Fr::from(11u64));
    let proof = Groth16::<Bn254>::prove(
        &pk,
        ProductAndSum {
            x: Some(x),
            y: Some(y),
        },
        &mut rng,
    )
    .unwrap();
    (vk, proof, vec![x * y, x + y])
}

fn proof_json() -> Value {
    snarkjs::proof_to_json(&arkworks_proof().1)
}

fn vk_json() -> Value {
    snarkjs::verifying_key_to_json(&arkworks_proof().0)
}

fn parse_proof(v: &Value) -> Result<Proof<Bn254>, SnarkjsError> {
    snarkjs::proof_from_json(&v.to_string())
}

fn parse_vk(v: &Value) -> Result<VerifyingKey<Bn254>, SnarkjsError> {
    snarkjs::verifying_key_from_json(&v.to_string())
}

fn path_of(e: &SnarkjsError) -> &str {
    match e {
        SnarkjsError::Missing { path }
        | SnarkjsError::Malformed { path, .. }
        | SnarkjsError::NonCanonical { path, .. }
        | SnarkjsError::NotOnCurve { path }
        | SnarkjsError::NotInSubgroup { path }
        | SnarkjsError::Identity { path } => path,
        other => panic!("{other:?} has no path"),
    }
}

/// Asserts `result` is the error `variant` at `path`.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, SnarkjsError>, variant: &str, path: &str) {
    let e = result.expect_err("must be refused");
    let name = format!("{e:?}");
    assert!(
        name.starts_with(variant),
        "expected {variant} at {path}, got {e:?}"
    );
    assert_eq!(path_of(&e), path, "{e}");
}

/// A point on the G2 twist outside the prime-order subgroup (the twist's
/// cofactor is about 2^254, so almost every curve point qualifies).
fn g2_outside_subgroup() -> G2Affine {
    (1u64..)
        .filter_map(|i| {
            G2Affine::get_point_from_x_unchecked(Fq2::new(Fq::from(i), Fq::one()), false)
        })
        .find(|p| !p.is_in_correct_subgroup_assuming_on_curve())
        .unwrap()
}

fn g2_to_json(p: &G2Affine) -> Value {
    let (x, y) = p.xy().unwrap();
    json!([
        [x.c0.to_string(), x.c1.to_string()],
        [y.c0.to_string(), y.c1.to_string()],
        ["1", "0"]
    ])
}

// ---------------------------------------------------------------- round trips

#[test]
fn a_proof_round_trips() {
    let (_, proof, _) = arkworks_proof();
    assert_eq!(parse_proof(&snarkjs::proof_to_json(&proof)).unwrap(), proof);
}

#[test]
fn a_verifying_key_round_trips() {
    let (vk, _, _) = arkworks_proof();
    let json = snarkjs::verifying_key_to_json(&vk);
    assert_eq!(json["nPublic"], json!(2));
    assert_eq!(parse_vk(&json).unwrap(), vk);
}

#[test]
fn an_identity_ic_point_is_allowed_and_round_trips() {
    let (mut vk, proof, public) = arkworks_proof();
    vk.gamma_abc_g1[1] = G1Affine::identity();
    let json = snarkjs::verifying_key_to_json(&vk);
    assert_eq!(json["IC"][1], json!(["0", "1", "0"]));
    assert_eq!(parse_vk(&json).unwrap(), vk);
    assert!(!snarkjs::verify(&vk, &proof, &public).unwrap());
}

#[test]
fn the_snarkjs_layout_is_written() {
    let proof = proof_json();
    assert_eq!(proof["protocol"], "groth16");
    assert_eq!(proof["curve"], "bn128");
    assert_eq!(proof["pi_a"][2], "1");
    assert_eq!(proof["pi_b"][2], json!(["1", "0"]));
    assert_eq!(proof["pi_c"][2], "1");
    let keys: Vec<_> = vk_json().as_object().unwrap().keys().cloned().collect();
    let mut expected = [
        "protocol",
        "curve",
        "nPublic",
        "vk_alpha_1",
        "vk_beta_2",
        "vk_gamma_2",
        "vk_delta_2",
        "vk_alphabeta_12",
        "IC",
    ];
    expected.sort();
    assert_eq!(keys, expected);
}

proptest! {
    #[test]
    fn public_signals_round_trip(limbs in prop::collection::vec(any::<[u64; 4]>(), 0..8)) {
        let bytes = |l: &[u64; 4]| l.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>();
        let public: Vec<Fr> =
            limbs.iter().map(|l| Fr::from_le_bytes_mod_order(&bytes(l))).collect();
        let json = snarkjs::public_signals_to_json(&public).to_string();
        prop_assert_eq!(snarkjs::public_signals_from_json(&json).unwrap(), public);
    }
}

// ----------------------------------------------------------- snarkjs output

#[test]
fn a_snarkjs_proof_parses_and_verifies() {
    let vk = snarkjs::verifying_key_from_json(SNARKJS_VK).unwrap();
    let proof = snarkjs::proof_from_json(SNARKJS_PROOF).unwrap();
    let public = snarkjs::public_signals_from_json(SNARKJS_PUBLIC).unwrap();
    assert_eq!(public, [Fr::from(3u64.pow(8) * 11), Fr::from(11u64)]);
    assert!(snarkjs::verify(&vk, &proof, &public).unwrap());

    let changed = [public[0] + Fr::one(), public[1]];
    assert!(!snarkjs::verify(&vk, &proof, &changed).unwrap());
}

#[test]
fn our_export_matches_what_snarkjs_wrote() {
    // vk_alphabeta_12 included: the same e(alpha, beta), nested the same way.
    let written: Value = serde_json::from_str(SNARKJS_VK).unwrap();
    let vk = snarkjs::verifying_key_from_json(SNARKJS_VK).unwrap();
    assert_eq!(snarkjs::verifying_key_to_json(&vk), written);

    let written: Value = serde_json::from_str(SNARKJS_PROOF).unwrap();
    let proof = snarkjs::proof_from_json(SNARKJS_PROOF).unwrap();
    assert_eq!(snarkjs::proof_to_json(&proof), written);

    let written: Value = serde_json::from_str(SNARKJS_PUBLIC).unwrap();
    let public = snarkjs::public_signals_from_json(SNARKJS_PUBLIC).unwrap();
    assert_eq!(snarkjs::public_signals_to_json(&public), written);
}

// --------------------------------------------------------------- verification

#[test]
fn a_proof_verifies_and_a_changed_public_input_does_not() {
    let (vk, proof, public) = arkworks_proof();
    assert!(snarkjs::verify(&vk, &proof, &public).unwrap());
    for i in 0..public.len() {
        let mut changed = public.clone();
        changed[i] += Fr::one();
        assert!(
            !snarkjs::verify(&vk, &proof, &changed).unwrap(),
            "public[{i}] changed"
        );
    }
    let swapped = [public[1], public[0]];
    assert!(!snarkjs::verify(&vk, &proof, &swapped).unwrap());
}

#[test]
fn a_proof_through_json_verifies() {
    let (vk, proof, public) = arkworks_proof();
    let vk = parse_vk(&snarkjs::verifying_key_to_json(&vk)).unwrap();
    let proof = parse_proof(&snarkjs::proof_to_json(&proof)).unwrap();
    let public =
        snarkjs::public_signals_from_json(&snarkjs::public_signals_to_json(&public).to_string())
            .unwrap();
    assert!(snarkjs::verify(&vk, &proof, &public).unwrap());
}

#[test]
fn a_doubled_or_swapped_proof_does_not_verify() {
    let (vk, proof, public) = arkworks_proof();
    let doubled = Proof {
        a: (proof.a + proof.a).into_affine(),
        ..proof.clone()
    };
    assert!(!snarkjs::verify(&vk, &doubled, &public).unwrap());
    let swapped = Proof {
        a: proof.c,
        c: proof.a,
        ..proof
    };
    assert!(!snarkjs::verify(&vk, &swapped, &public).unwrap());
}

#[test]
fn the_wrong_number_of_public_inputs_is_refused() {
    let (vk, proof, public) = arkworks_proof();
    assert_eq!(
        snarkjs::verify(&vk, &proof, &public[..1]),
        Err(SnarkjsError::WrongPublicInputCount {
            expected: 2,
            found: 1
        })
    );
    let mut more = public.clone();
    more.push(Fr::one());
    assert_eq!(
        snarkjs::verify(&vk, &proof, &more),
        Err(SnarkjsError::WrongPublicInputCount {
            expected: 2,
            found: 3
        })
    );
    assert_eq!(
        snarkjs::verify(&vk, &proof, &[]).unwrap_err().to_string(),
        "the verifying key takes 2 public inputs, but 0 were given"
    );
}

// ------------------------------------------------------------------- refusals

#[test]
fn not_json_is_refused() {
    for text in ["", "{", "pi_a", "{\"pi_a\": [1,]}"] {
        assert!(
            matches!(
                snarkjs::proof_from_json(text),
                Err(SnarkjsError::Json { .. })
            ),
            "{text:?}"
        );
        assert!(
            matches!(
                snarkjs::verifying_key_from_json(text),
                Err(SnarkjsError::Json { .. })
            ),
            "{text:?}"
        );
        assert!(
            matches!(
                snarkjs::public_signals_from_json(text),
                Err(SnarkjsError::Json { .. })
            ),
            "{text:?}"
        );
    }
}

#[test]
fn a_document_of_the_wrong_type_is_refused() {
    assert_refused(snarkjs::proof_from_json("[]"), "Malformed", "proof");
    assert_refused(
        snarkjs::verifying_key_from_json("\"vk\""),
        "Malformed",
        "verification key",
    );
    assert_refused(
        snarkjs::public_signals_from_json("{}"),
        "Malformed",
        "public",
    );
}

#[test]
fn non_canonical_coordinates_are_refused() {
    let too_long = "1".repeat(200);
    for bad in [
        Q,
        "+1",
        "01",
        "00",
        "-1",
        "1e3",
        "",
        " 1",
        "1 ",
        "1.0",
        "0x1",
        "١",
        too_long.as_str(),
    ] {
        for path in [["pi_a", "0"], ["pi_c", "1"]] {
            let mut proof = proof_json();
            proof[path[0]][path[1].parse::<usize>().unwrap()] = json!(bad);
            assert_refused(
                parse_proof(&proof),
                "NonCanonical",
                &format!("{}[{}]", path[0], path[1]),
            );
        }
        let mut proof = proof_json();
        proof["pi_b"][1][0] = json!(bad);
        assert_refused(parse_proof(&proof), "NonCanonical", "pi_b[1][0]");

        let mut vk = vk_json();
        vk["IC"][2][1] = json!(bad);
        assert_refused(parse_vk(&vk), "NonCanonical", "IC[2][1]");
        let mut vk = vk_json();
        vk["vk_alphabeta_12"][1][2][0] = json!(bad);
        assert_refused(parse_vk(&vk), "NonCanonical", "vk_alphabeta_12[1][2][0]");
    }
}

#[test]
fn a_coordinate_that_is_not_a_string_is_refused() {
    for bad in [json!(1), json!(null), json!(["1"]), json!(1.5)] {
        let mut proof = proof_json();
        proof["pi_a"][0] = bad.clone();
        assert_refused(parse_proof(&proof), "Malformed", "pi_a[0]");
    }
}

#[test]
fn non_canonical_public_signals_are_refused() {
    let q_and_more = format!("{Q}0");
    for bad in [
        R,
        Q,
        q_and_more.as_str(),
        "+1",
        "01",
        "-1",
        "1e3",
        "",
        "0x1",
        "1.0",
    ] {
        let json = json!(["5", bad]).to_string();
        assert_refused(
            snarkjs::public_signals_from_json(&json),
            "NonCanonical",
            "public[1]",
        );
    }
    assert_refused(
        snarkjs::public_signals_from_json("[5]"),
        "Malformed",
        "public[0]",
    );
}

#[test]
fn r_minus_one_is_a_canonical_public_signal() {
    let r_minus_one =
        "21888242871839275222246405745257275088548364400416034343698204186575808495616";
    assert_eq!(
        snarkjs::public_signals_from_json(&json!([r_minus_one]).to_string()).unwrap(),
        [-Fr::one()]
    );
}

#[test]
fn points_not_on_the_curve_are_refused() {
    for key in ["pi_a", "pi_c"] {
        let mut proof = proof_json();
        proof[key] = json!(["1", "1", "1"]);
        assert_refused(parse_proof(&proof), "NotOnCurve", key);
    }
    let mut proof = proof_json();
    proof["pi_b"][0] = json!(["1", "0"]);
    assert_refused(parse_proof(&proof), "NotOnCurve", "pi_b");
    // (0, 0) is how some encodings write the identity; it is not a point.
    let mut proof = proof_json();
    proof["pi_a"] = json!(["0", "0", "1"]);
    assert_refused(parse_proof(&proof), "NotOnCurve", "pi_a");

    let mut vk = vk_json();
    vk["IC"][1][1] = json!("1");
    assert_refused(parse_vk(&vk), "NotOnCurve", "IC[1]");
    let mut vk = vk_json();
    vk["vk_alpha_1"] = json!(["1", "1", "1"]);
    assert_refused(parse_vk(&vk), "NotOnCurve", "vk_alpha_1");
    let mut vk = vk_json();
    vk["vk_gamma_2"][1] = json!(["1", "2"]);
    assert_refused(parse_vk(&vk), "NotOnCurve", "vk_gamma_2");
}

#[test]
fn the_message_names_the_point() {
    let mut proof = proof_json();
    proof["pi_a"] = json!(["1", "1", "1"]);
    assert_eq!(
        parse_proof(&proof).unwrap_err().to_string(),
        "pi_a: point not on curve"
    );
    assert_eq!(
        snarkjs::public_signals_from_json(r#"["1", "-5"]"#)
            .unwrap_err()
            .to_string(),
        r#"public[1]: "-5" is not a canonical field element (it has a sign)"#
    );
}

#[test]
fn g2_points_outside_the_subgroup_are_refused() {
    let outside = g2_to_json(&g2_outside_subgroup());

    let mut proof = proof_json();
    proof["pi_b"] = outside.clone();
    assert_refused(parse_proof(&proof), "NotInSubgroup", "pi_b");

    for key in ["vk_beta_2", "vk_gamma_2", "vk_delta_2"] {
        let mut vk = vk_json();
        vk[key] = outside.clone();
        vk.as_object_mut().unwrap().remove("vk_alphabeta_12");
        assert_refused(parse_vk(&vk), "NotInSubgroup", key);
    }
}

#[test]
fn g1_of_bn254_has_no_points_outside_the_subgroup() {
    // Cofactor 1: every point found from an x is in the subgroup, so there is
    // no G1 counterpart to the G2 subgroup test.
    for i in 1u64..20 {
        if let Some(p) = G1Affine::get_point_from_x_unchecked(Fq::from(i), false) {
            assert!(p.is_in_correct_subgroup_assuming_on_curve());
        }
    }
}

#[test]
fn identity_points_in_a_proof_are_refused() {
    for key in ["pi_a", "pi_c"] {
        let mut proof = proof_json();
        proof[key] = json!(["0", "1", "0"]);
        assert_refused(parse_proof(&proof), "Identity", key);
    }
    let mut proof = proof_json();
    proof["pi_b"] = json!([["0", "0"], ["1", "0"], ["0", "0"]]);
    assert_refused(parse_proof(&proof), "Identity", "pi_b");
    // Any z = 0 is the identity to snarkjs, whatever x and y say.
    let mut proof = proof_json();
    proof["pi_a"][2] = json!("0");
    assert_refused(parse_proof(&proof), "Identity", "pi_a");
    let proof = snarkjs::proof_to_json(&Proof::<Bn254> {
        a: G1Affine::identity(),
        b: G2Affine::identity(),
        c: G1Affine::identity(),
    });
    assert_refused(parse_proof(&proof), "Identity", "pi_a");
}

#[test]
fn identity_points_in_the_fixed_vk_points_are_refused() {
    let g1_identity = json!(["0", "1", "0"]);
    let g2_identity = json!([["0", "0"], ["1", "0"], ["0", "0"]]);
    for (key, identity) in [
        ("vk_alpha_1", &g1_identity),
        ("vk_beta_2", &g2_identity),
        ("vk_gamma_2", &g2_identity),
        ("vk_delta_2", &g2_identity),
    ] {
        let mut vk = vk_json();
        vk[key] = identity.clone();
        assert_refused(parse_vk(&vk), "Identity", key);
    }
}

#[test]
fn an_ic_identity_must_be_written_canonically() {
    let mut vk = vk_json();
    vk["IC"][1] = json!(["5", "1", "0"]);
    assert_refused(parse_vk(&vk), "Malformed", "IC[1]");
}

#[test]
fn a_projective_z_other_than_one_is_refused() {
    let mut proof = proof_json();
    proof["pi_a"][2] = json!("2");
    assert_refused(parse_proof(&proof), "Malformed", "pi_a[2]");
    let mut proof = proof_json();
    proof["pi_b"][2] = json!(["1", "1"]);
    assert_refused(parse_proof(&proof), "Malformed", "pi_b[2]");
    let mut vk = vk_json();
    vk["IC"][0][2] = json!("3");
    assert_refused(parse_vk(&vk), "Malformed", "IC[0][2]");
}

#[test]
fn points_of_the_wrong_shape_are_refused() {
    let mut proof = proof_json();
    proof["pi_a"].as_array_mut().unwrap().pop();
    assert_refused(parse_proof(&proof), "Malformed", "pi_a");
    let mut proof = proof_json();
    proof["pi_c"].as_array_mut().unwrap().push(json!("1"));
    assert_refused(parse_proof(&proof), "Malformed", "pi_c");
    let mut proof = proof_json();
    proof["pi_b"][1] = json!("5");
    assert_refused(parse_proof(&proof), "Malformed", "pi_b[1]");
    let mut proof = proof_json();
    proof["pi_b"][0] = json!(["1", "0", "0"]);
    assert_refused(parse_proof(&proof), "Malformed", "pi_b[0]");
    let mut proof = proof_json();
    proof["pi_a"] = json!({"x": "1"});
    assert_refused(parse_proof(&proof), "Malformed", "pi_a");
}

#[test]
fn a_wrong_protocol_or_curve_is_refused() {
    for (key, bad) in [
        ("protocol", json!("plonk")),
        ("protocol", json!("Groth16")),
        ("curve", json!("bls12381")),
        ("curve", json!(null)),
    ] {
        let mut proof = proof_json();
        proof[key] = bad.clone();
        assert_refused(parse_proof(&proof), "Malformed", key);
        let mut vk = vk_json();
        vk[key] = bad;
        assert_refused(parse_vk(&vk), "Malformed", key);
    }
}

#[test]
fn missing_proof_keys_are_refused() {
    for key in ["pi_a", "pi_b", "pi_c", "protocol", "curve"] {
        let mut proof = proof_json();
        proof.as_object_mut().unwrap().remove(key);
        assert_eq!(
            parse_proof(&proof),
            Err(SnarkjsError::Missing { path: key.into() })
        );
    }
}

#[test]
fn missing_verifying_key_keys_are_refused() {
    for key in [
        "protocol",
        "curve",
        "nPublic",
        "vk_alpha_1",
        "vk_beta_2",
        "vk_gamma_2",
        "vk_delta_2",
        "IC",
    ] {
        let mut vk = vk_json();
        vk.as_object_mut().unwrap().remove(key);
        assert_eq!(
            parse_vk(&vk),
            Err(SnarkjsError::Missing { path: key.into() })
        );
    }
}

#[test]
fn alphabeta_may_be_absent_but_not_wrong() {
    let (expected, _, _) = arkworks_proof();
    let mut vk = vk_json();
    vk.as_object_mut().unwrap().remove("vk_alphabeta_12");
    assert_eq!(parse_vk(&vk).unwrap(), expected);

    let mut vk = vk_json();
    let swapped = vk["vk_alphabeta_12"][0][0][0].clone();
    vk["vk_alphabeta_12"][0][0][0] = vk["vk_alphabeta_12"][0][0][1].clone();
    vk["vk_alphabeta_12"][0][0][1] = swapped;
    assert_refused(parse_vk(&vk), "Malformed", "vk_alphabeta_12");

    let mut vk = vk_json();
    vk["vk_alphabeta_12"][1].as_array_mut().unwrap().pop();
    assert_refused(parse_vk(&vk), "Malformed", "vk_alphabeta_12[1]");
}

#[test]
fn n_public_must_agree_with_ic() {
    for bad in [
        json!(1),
        json!(3),
        json!(-2),
        json!("2"),
        json!(2.5),
        json!(null),
    ] {
        let mut vk = vk_json();
        vk["nPublic"] = bad;
        assert_refused(parse_vk(&vk), "Malformed", "nPublic");
    }
}

#[test]
fn ic_must_be_a_non_empty_array() {
    for bad in [json!([]), json!("IC"), json!({})] {
        let mut vk = vk_json();
        vk["IC"] = bad;
        assert_refused(parse_vk(&vk), "Malformed", "IC");
    }
}

#[test]
fn unknown_keys_are_ignored() {
    let (vk, proof, _) = arkworks_proof();
    let mut json = snarkjs::proof_to_json(&proof);
    json["comment"] = json!("made by a test");
    assert_eq!(parse_proof(&json).unwrap(), proof);
    let mut json = snarkjs::verifying_key_to_json(&vk);
    json["vk_extra"] = json!([1, 2]);
    assert_eq!(parse_vk(&json).unwrap(), vk);
}

// ------------------------------------------------------------ no panics

/// Applies byte-level edits to `text` (kept valid UTF-8 by editing chars).
fn mutate(text: &str, edits: &[(usize, u8, char)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(position, kind, c) in edits {
        let i = position % (chars.len() + 1);
        match kind % 3 {
            0 if i < chars.len() => {
                chars.remove(i);
            }
            1 if i < chars.len() => chars[i] = c,
            _ => chars.insert(i, c),
        }
    }
    chars.into_iter().collect()
}

fn edit() -> impl Strategy<Value = (usize, u8, char)> {
    let c = prop_oneof![
        prop::sample::select(vec![
            '0', '1', '9', '"', ',', '[', ']', '{', '}', ':', '-', '+', 'e', '.', ' ', 'é'
        ]),
        any::<char>(),
    ];
    (any::<usize>(), any::<u8>(), c)
}

/// Replaces one leaf of `value`, chosen by `pick`, with `leaf`.
fn replace_leaf(value: &mut Value, pick: usize, leaf: Value) {
    match value {
        Value::Array(items) if !items.is_empty() => {
            let n = items.len();
            replace_leaf(&mut items[pick % n], pick / n, leaf)
        }
        Value::Object(map) if !map.is_empty() => {
            let n = map.len();
            let key = map.keys().nth(pick % n).unwrap().clone();
            replace_leaf(map.get_mut(&key).unwrap(), pick / n, leaf)
        }
        other => *other = leaf,
    }
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[0-9]{0,80}".prop_map(Value::from),
        "[-+]?[0-9a-z.]{0,10}".prop_map(Value::from),
        prop::sample::select(vec![Q, R, "0", "1"]).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!([])),
        Just(json!(["0", "1", "0"])),
        Just(json!({})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mutated_text_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
        let proof = mutate(SNARKJS_PROOF, &edits);
        let _ = snarkjs::proof_from_json(&proof);
        let _ = snarkjs::public_signals_from_json(&proof);
        let _ = snarkjs::verifying_key_from_json(&mutate(SNARKJS_VK, &edits));
        let _ = snarkjs::public_signals_from_json(&mutate(SNARKJS_PUBLIC, &edits));
    }

    #[test]
    fn mutated_values_never_panic(picks in prop::collection::vec((any::<usize>(), leaf()), 1..4)) {
        let mut proof: Value = serde_json::from_str(SNARKJS_PROOF).unwrap();
        let mut vk: Value = serde_json::from_str(SNARKJS_VK).unwrap();
        for (pick, leaf) in picks {
            replace_leaf(&mut proof, pick, leaf.clone());
            replace_leaf(&mut vk, pick, leaf);
        }
        if let Ok(proof) = parse_proof(&proof) {
            // Whatever parses is a well-formed proof; verifying it is safe.
            let vk = snarkjs::verifying_key_from_json(SNARKJS_VK).unwrap();
            let public = snarkjs::public_signals_from_json(SNARKJS_PUBLIC).unwrap();
            let _ = snarkjs::verify(&vk, &proof, &public);
        }
        let _ = parse_vk(&vk);
    }
}
