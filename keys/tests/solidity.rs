//! The Solidity verifier export: the contract text, its compilation with the
//! pinned solc-js, and its verdicts on a local EVM (@ethereumjs/evm, Prague)
//! for a valid proof and for proofs and inputs that must not verify.

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ark_bn254::{Bn254, Fq, Fr, G1Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{BigInt, BigInteger, PrimeField};
use ark_groth16::{Groth16, Proof, ProvingKey};
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError, Variable};
use ark_snark::SNARK;
use ark_std::rand::{rngs::StdRng, SeedableRng};
use serde_json::{json, Value};
use zkgov_keys::digest::Digest32;
use zkgov_keys::solidity::{
    calldata, verifier_contract, verifier_contract_with, ContractOptions, SolidityError,
    VerifierArgs,
};

const CONTRACT: &str = "ZkgovTestVerifier";
/// The solc signature of `verifyProof` with three public signals.
const SIGNATURE: &str = "verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[3])";

/// Witnesses a, b; public inputs c = a·b, d = c·b, e = a + c.
#[derive(Clone)]
struct SmallCircuit {
    a: Option<Fr>,
    b: Option<Fr>,
}

impl SmallCircuit {
    fn public(a: Fr, b: Fr) -> Vec<Fr> {
        let c = a * b;
        vec![c, c * b, a + c]
    }
}

impl ConstraintSynthesizer<Fr> for SmallCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let values = self.a.zip(self.b).map(|(a, b)| SmallCircuit::public(a, b));
        let input = |i: usize| {
            values
                .as_ref()
                .map(|v| v[i])
                .ok_or(SynthesisError::AssignmentMissing)
        };
        let c = cs.new_input_variable(|| input(0))?;
        let d = cs.new_input_variable(|| input(1))?;
        let e = cs.new_input_variable(|| input(2))?;
        let a = cs.new_witness_variable(|| self.a.ok_or(SynthesisError::AssignmentMissing))?;
        let b = cs.new_witness_variable(|| self.b.ok_or(SynthesisError::AssignmentMissing))?;
        cs.enforce_constraint(lc!() + a, lc!() + b, lc!() + c)?;
        cs.enforce_constraint(lc!() + c, lc!() + b, lc!() + d)?;
        cs.enforce_constraint(lc!() + a + c, lc!() + Variable::One, lc!() + e)?;
        Ok(())
    }
}

struct Fixture {
    pk: ProvingKey<Bn254>,
    proof: Proof<Bn254>,
    public: Vec<Fr>,
    /// The contract source, as exported with a key id.
    source: String,
}

fn evm_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/evm")
}

fn key_id() -> Digest32 {
    Digest32::of(b"zkgov solidity export test key")
}

/// Sets up, proves and exports once for all tests.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(197);
        let (pk, vk) =
            Groth16::<Bn254>::circuit_specific_setup(SmallCircuit { a: None, b: None }, &mut rng)
                .unwrap();
        let (a, b) = (Fr::from(3u64), Fr::from(11u64));
        let proof = Groth16::<Bn254>::prove(
            &pk,
            SmallCircuit {
                a: Some(a),
                b: Some(b),
            },
            &mut rng,
        )
        .unwrap();
        let public = SmallCircuit::public(a, b);
        assert!(Groth16::<Bn254>::verify(&vk, &public, &proof).unwrap());
        let options = ContractOptions {
            key_id: Some(key_id()),
        };
        let source = verifier_contract_with(&vk, CONTRACT, &options).unwrap();
        Fixture {
            pk,
            proof,
            public,
            source,
        }
    })
}

/// What `compile.js` wrote for the fixture's contract: solc version,
/// bytecode, method identifiers and warnings. Compiled once for all tests.
fn compiled() -> &'static Value {
    static COMPILED: OnceLock<Value> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let sol = dir.path().join(format!("{CONTRACT}.sol"));
        std::fs::write(&sol, &fixture().source).unwrap();
        let out = dir.path().join("compiled.json");
        let script = evm_scripts().join("compile.js");
        let run = support::run_node_script(
            &script,
            &[sol.to_str().unwrap(), CONTRACT, out.to_str().unwrap()],
            dir.path(),
        );
        assert!(
            run.status.success(),
            "solc-js rejected the exported contract:\n{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
    })
}

#[test]
fn contract_compiles_with_solc_0_8_37() {
    let compiled = compiled();
    let version = compiled["solcVersion"].as_str().unwrap();
    assert!(
        version.starts_with("0.8.37+"),
        "expected the pinned solc 0.8.37, got {version}"
    );
    assert_eq!(
        compiled["warnings"],
        json!([]),
        "the exported contract should compile without warnings"
    );
    assert!(
        compiled["bytecode"].as_str().is_some_and(|b| b.len() > 2),
        "no bytecode"
    );
    // The selector tooling expects: the snarkjs signature.
    let selectors = compiled["methodIdentifiers"].as_object().unwrap();
    assert_eq!(
        selectors.keys().collect::<Vec<_>>(),
        [SIGNATURE],
        "the contract's only public function"
    );
}

/// What a call of `verifyProof` should do. Gas tells the ways of returning
/// false apart, so each negative case fails for its intended reason.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Returns true.
    Valid,
    /// Returns false from the range checks, before any precompile call.
    OutOfRange,
    /// Returns false because the pairing product is not one.
    WrongPairing,
    /// Returns false because the pairing precompile rejects a point, which
    /// keeps all the gas passed to it.
    RejectedPoint,
}

/// One call of `verifyProof` on the local EVM, and what it should do.
struct Case {
    name: &'static str,
    args: VerifierArgs,
    expect: Expect,
}

/// The gas limit of each call `run_verifier.js` makes.
const GAS_LIMIT: u64 = 10_000_000;

fn add(mut w: BigInt<4>, x: &BigInt<4>) -> BigInt<4> {
    assert!(!w.add_with_carry(x), "no overflow past 2^256");
    w
}

fn cases(f: &Fixture) -> Vec<Case> {
    let valid = VerifierArgs::new(&f.proof, &f.public);
    let with = |change: &dyn Fn(&mut VerifierArgs)| {
        let mut args = valid.clone();
        change(&mut args);
        args
    };
    let rerandomized =
        Groth16::<Bn254>::rerandomize_proof(&f.pk.vk, &f.proof, &mut StdRng::seed_from_u64(1));
    let moved_a = Proof {
        a: (f.proof.a + G1Affine::generator()).into_affine(),
        ..f.proof.clone()
    };
    let negated_a = Proof {
        a: -f.proof.a,
        ..f.proof.clone()
    };
    let one = BigInt::from(1u64);
    vec![
        Case {
            name: "valid proof",
            args: valid.clone(),
            expect: Expect::Valid,
        },
        Case {
            name: "rerandomized proof",
            args: VerifierArgs::new(&rerandomized, &f.public),
            expect: Expect::Valid,
        },
        Case {
            name: "changed public input",
            args: with(&|a| a.public[1] = add(a.public[1], &one)),
            expect: Expect::WrongPairing,
        },
        Case {
            name: "public input + r (same value mod r)",
            args: with(&|a| a.public[0] = add(a.public[0], &Fr::MODULUS)),
            expect: Expect::OutOfRange,
        },
        Case {
            name: "public input = r",
            args: with(&|a| a.public[2] = Fr::MODULUS),
            expect: Expect::OutOfRange,
        },
        Case {
            name: "A moved to another curve point",
            args: VerifierArgs::new(&moved_a, &f.public),
            expect: Expect::WrongPairing,
        },
        Case {
            name: "A negated",
            args: VerifierArgs::new(&negated_a, &f.public),
            expect: Expect::WrongPairing,
        },
        Case {
            name: "A off the curve",
            args: with(&|a| a.a[1] = add(a.a[1], &one)),
            expect: Expect::RejectedPoint,
        },
        Case {
            name: "C.x + q (same value mod q)",
            args: with(&|a| a.c[0] = add(a.c[0], &Fq::MODULUS)),
            expect: Expect::OutOfRange,
        },
        Case {
            name: "B.y.c1 + q (same value mod q)",
            args: with(&|a| a.b[1][0] = add(a.b[1][0], &Fq::MODULUS)),
            expect: Expect::OutOfRange,
        },
        Case {
            name: "B with c0 before c1",
            args: with(&|a| a.b.iter_mut().for_each(|x| x.swap(0, 1))),
            expect: Expect::RejectedPoint,
        },
        Case {
            name: "A and C swapped",
            args: with(&|a| std::mem::swap(&mut a.a, &mut a.c)),
            expect: Expect::WrongPairing,
        },
    ]
}

#[test]
fn contract_verifies_on_a_local_evm() {
    let f = fixture();
    let cases = cases(f);
    let compiled = compiled();
    let selector = compiled["methodIdentifiers"][SIGNATURE].as_str().unwrap();
    let input = json!({
        "bytecode": compiled["bytecode"],
        "selector": selector,
        "gasLimit": GAS_LIMIT,
        "cases": cases.iter().map(|c| json!({ "name": c.name, "calldata": c.args.to_string() })).collect::<Vec<_>>(),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.json");
    std::fs::write(&path, input.to_string()).unwrap();
    let run = support::run_node_script(
        &evm_scripts().join("run_verifier.js"),
        &[path.to_str().unwrap()],
        dir.path(),
    );
    assert!(
        run.status.success(),
        "run_verifier.js failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(results.len(), cases.len());

    let word = |b: bool| format!("0x{:064x}", u8::from(b));
    for (case, result) in cases.iter().zip(&results) {
        assert_eq!(result["name"], case.name);
        let gas = result["gasUsed"].as_u64().unwrap();
        eprintln!("{:<40} {:?}, {gas} gas", case.name, case.expect);
        assert_eq!(
            result["reverted"],
            Value::Null,
            "{}: verifyProof reverted instead of returning",
            case.name
        );
        let valid = case.expect == Expect::Valid;
        assert_eq!(
            result["returned"],
            word(valid),
            "{}: verifyProof returned the wrong verdict",
            case.name
        );
        let reason_holds = match case.expect {
            Expect::Valid | Expect::WrongPairing => (150_000..400_000).contains(&gas),
            Expect::OutOfRange => gas < 5_000,
            Expect::RejectedPoint => gas > GAS_LIMIT / 2,
        };
        assert!(
            reason_holds,
            "{}: {gas} gas does not fit {:?}",
            case.name, case.expect
        );
    }
}

#[test]
fn calldata_lays_out_b_with_c1_first() {
    let f = fixture();
    let args = VerifierArgs::new(&f.proof, &f.public);
    let (bx, by) = f.proof.b.xy().unwrap();
    assert_eq!(
        args.b,
        [
            [bx.c1.into_bigint(), bx.c0.into_bigint()],
            [by.c1.into_bigint(), by.c0.into_bigint()]
        ]
    );

    // The text form is the snarkjs soliditycalldata form, word for word the ABI encoding.
    let text = calldata(&f.proof, &f.public);
    assert_eq!(text, args.to_string());
    fn flatten(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
            Value::String(w) => out.extend(hex::decode(w.strip_prefix("0x").unwrap()).unwrap()),
            other => panic!("unexpected {other} in the calldata"),
        }
    }
    let mut flat = Vec::new();
    flatten(
        &serde_json::from_str(&format!("[{text}]")).unwrap(),
        &mut flat,
    );
    assert_eq!(flat, args.abi_encode());
    assert_eq!(flat.len(), 32 * (8 + f.public.len()));
}

#[test]
fn contract_embeds_every_ic_point_and_the_key_id() {
    let f = fixture();
    let source = &f.source;
    assert!(source.starts_with("// SPDX-License-Identifier: MIT\npragma solidity ^0.8."));
    assert!(source.contains(&format!("Generated by zkgov for key id {}", key_id())));
    assert!(source.contains("single-party setup"));
    assert!(source.contains(&format!("contract {CONTRACT} {{")));
    assert!(source.contains("uint[3] calldata _pubSignals"));
    // One IC point per public input, plus the constant term.
    let ic_constants = source.matches("uint256 private constant IC").count();
    assert_eq!(ic_constants, 2 * (f.public.len() + 1));
    for (i, p) in f.pk.vk.gamma_abc_g1.iter().enumerate() {
        let (x, y) = p.xy().unwrap();
        assert!(source.contains(&format!("IC{i}_X = {};", x.into_bigint())));
        assert!(source.contains(&format!("IC{i}_Y = {};", y.into_bigint())));
    }
    assert!(!source.contains("IC4_X"));

    let plain = verifier_contract(&f.pk.vk, CONTRACT).unwrap();
    assert!(plain.contains("Generated by zkgov for a verifying key exported without its key id"));
}

#[test]
fn bad_contract_names_are_rejected() {
    let vk = &fixture().pk.vk;
    for name in [
        "",
        "1Verifier",
        "my-verifier",
        "Verifier ",
        "Vérifier",
        "a.b",
        "Verifier\n}",
    ] {
        assert_eq!(
            verifier_contract(vk, name),
            Err(SolidityError::NotAnIdentifier {
                name: name.to_owned()
            }),
            "{name:?}"
        );
    }
    for name in [
        "contract",
        "function",
        "this",
        "uint",
        "uint256",
        "bytes32",
        "int8",
        "fixed128x18",
        "ether",
        "typeof",
        "_",
        "error",
        "msg",
        "keccak256",
    ] {
        assert_eq!(
            verifier_contract(vk, name),
            Err(SolidityError::ReservedWord {
                name: name.to_owned()
            }),
            "{name:?}"
        );
    }
    for name in [
        "verifyProof",
        "Q",
        "R",
        "ALPHA_X",
        "DELTA_Y0",
        "IC0_X",
        "IC12_Y",
    ] {
        assert_eq!(
            verifier_contract(vk, name),
            Err(SolidityError::ClashesWithMember {
                name: name.to_owned()
            }),
            "{name:?}"
        );
    }
    for name in [
        "Verifier",
        "_Verifier",
        "$Verifier",
        "MedicalPremisesVerifier2",
        "uint256x",
        "IC",
        "ICX_X",
    ] {
        assert!(
            verifier_contract(vk, name).is_ok(),
            "{name:?} is a fine contract name"
        );
    }
}

#[test]
fn a_key_without_public_inputs_is_refused() {
    let mut vk = fixture().pk.vk.clone();
    vk.gamma_abc_g1.truncate(1);
    assert_eq!(
        verifier_contract(&vk, CONTRACT),
        Err(SolidityError::NoPublicInputs)
    );
}
