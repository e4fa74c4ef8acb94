//! A zkgov proof of the reference policy (arity 4, depth 10), checked by the
//! real snarkjs and by the exported Solidity verifier on a local EVM: it
//! verifies, and with one public input changed it does not.

mod support;

use std::path::Path;

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_snark::SNARK;
use ark_std::rand::{rngs::StdRng, SeedableRng};
use zkgov_circuits::circuit::{StatementCircuit, StatementWitness};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::statement::{Statement, SubjectTag};
use zkgov_circuits::tree::{RegistryTree, TreeShape};
use zkgov_circuits::Fr;
use zkgov_keys::digest::Digest32;
use zkgov_keys::qap::CircomReduction;
use zkgov_keys::snarkjs;
use zkgov_keys::solidity::{calldata, verifier_contract_with, ContractOptions};
use zkgov_keys::store::{setup, KeyDir};

const SCHEMA_TEXT: &str = include_str!("../../schemas/real-estate.toml");
const POLICY_TEXT: &str = include_str!("../../policies/medical-premises.toml");

fn write_json(path: &Path, value: &serde_json::Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

fn snarkjs_verify(dir: &Path) -> std::process::Output {
    support::run_node_bin(
        "snarkjs",
        &["groth16", "verify", "vk.json", "public.json", "proof.json"],
        dir,
    )
}

#[test]
fn a_reference_proof_verifies_with_snarkjs() {
    let schema = Schema::from_toml("real-estate.toml", SCHEMA_TEXT).unwrap();
    let policy = Policy::from_toml("medical-premises.toml", POLICY_TEXT, &schema).unwrap();
    let shape = TreeShape::new(4, 10).unwrap();
    let tmp = tempfile::tempdir().unwrap();

    let keys = setup(
        &schema,
        &policy,
        shape,
        SCHEMA_TEXT,
        POLICY_TEXT,
        &mut StdRng::seed_from_u64(3),
    )
    .unwrap();
    keys.write(&tmp.path().join("keys")).unwrap();
    let dir = KeyDir::open(&tmp.path().join("keys")).unwrap();
    dir.check_circuit(&schema, &policy, shape).unwrap();

    let records = [
        [
            "ID-1",
            "P-1",
            "90",
            "medical",
            "false",
            "2020-01-01",
            "2030-01-01",
        ],
        [
            "ID-2",
            "P-2",
            "300",
            "medical",
            "false",
            "2021-05-04",
            "2031-05-04",
        ],
    ];
    let records: Vec<_> = records
        .iter()
        .enumerate()
        .map(|(i, r)| schema.encode_record(r, Fr::from(1000 + i as u64)).unwrap())
        .collect();
    let tree =
        RegistryTree::from_leaves(shape, records.iter().map(|r| schema.leaf(r)).collect()).unwrap();
    let case_secret = Fr::from(77u64);
    let statement = Statement {
        registry_root: tree.root(),
        case_id: Statement::case_id("CASE-2026-000042"),
        subject_tag: SubjectTag::new(records[1].values[0], case_secret),
        params: policy
            .encode_params(&[
                ("min_area", "120"),
                ("usage", "medical"),
                ("today", "2026-11-23"),
            ])
            .unwrap(),
    };
    let witness = StatementWitness {
        record: records[1].clone(),
        path: tree.path(1).unwrap(),
        case_secret,
    };
    let circuit = StatementCircuit {
        schema: &schema,
        policy: &policy,
        shape,
        assignment: Some((&statement, &witness)),
    };
    let proof = Groth16::<Bn254, CircomReduction>::prove(
        &dir.proving_key().unwrap(),
        circuit,
        &mut StdRng::seed_from_u64(4),
    )
    .unwrap();

    let work = tmp.path();
    let vk_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.join("keys/verification_key.json")).unwrap(),
    )
    .unwrap();
    write_json(&work.join("vk.json"), &vk_json);
    write_json(&work.join("proof.json"), &snarkjs::proof_to_json(&proof));
    let inputs = statement.public_inputs();
    write_json(
        &work.join("public.json"),
        &snarkjs::public_signals_to_json(&inputs),
    );

    let out = snarkjs_verify(work);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "snarkjs refused a valid proof: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same proof for a neighbouring case number is refused.
    let mut changed = inputs.clone();
    changed[1] += Fr::from(1u64);
    write_json(
        &work.join("public.json"),
        &snarkjs::public_signals_to_json(&changed),
    );
    let out = snarkjs_verify(work);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && !stdout.contains("OK!"),
        "snarkjs accepted a changed public input: {stdout}"
    );

    // zkgov itself agrees on both, through the same JSON.
    let vk = snarkjs::verifying_key_from_json(&vk_json.to_string()).unwrap();
    assert!(snarkjs::verify(&vk, &proof, &inputs).unwrap());
    assert!(!snarkjs::verify(&vk, &proof, &changed).unwrap());

    // On chain: the exported Solidity verifier, compiled with solc and run on
    // a local EVM, accepts the proof and refuses it for the changed input.
    let options = ContractOptions {
        key_id: Digest32::from_hex(&dir.metadata.key_id),
    };
    let source =
        verifier_contract_with(&dir.verifying_key, "MedicalPremisesVerifier", &options).unwrap();
    std::fs::write(work.join("Verifier.sol"), source).unwrap();
    let evm = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/evm");
    let compiled = work.join("compiled.json");
    let run = support::run_node_script(
        &evm.join("compile.js"),
        &[
            work.join("Verifier.sol").to_str().unwrap(),
            "MedicalPremisesVerifier",
            compiled.to_str().unwrap(),
        ],
        work,
    );
    assert!(
        run.status.success(),
        "solc: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let compiled: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&compiled).unwrap()).unwrap();
    let cases = serde_json::json!({
        "bytecode": compiled["bytecode"],
        "selector": compiled["methodIdentifiers"]["verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[6])"],
        "gasLimit": 10_000_000,
        "cases": [
            { "name": "valid", "calldata": calldata(&proof, &inputs) },
            { "name": "changed case id", "calldata": calldata(&proof, &changed) },
        ],
    });
    write_json(&work.join("cases.json"), &cases);
    let run = support::run_node_script(
        &evm.join("run_verifier.js"),
        &[work.join("cases.json").to_str().unwrap()],
        work,
    );
    assert!(
        run.status.success(),
        "EVM: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let results: Vec<serde_json::Value> = serde_json::from_slice(&run.stdout).unwrap();
    let word = |b: u8| format!("0x{b:064x}");
    assert_eq!(results[0]["returned"], word(1), "{results:?}");
    assert_eq!(results[1]["returned"], word(0), "{results:?}");
    assert!(
        results.iter().all(|r| r["reverted"].is_null()),
        "{results:?}"
    );
    eprintln!("verifyProof on a local EVM: {} gas", results[0]["gasUsed"]);
}
