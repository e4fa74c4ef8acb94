//! `zkgov keys …` and `zkgov verify`, run as a user runs them.

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
use zkgov_keys::qap::CircomReduction;
use zkgov_keys::snarkjs;
use zkgov_keys::store::KeyDir;

mod support;
use support::zkgov;

const SCHEMA: &str = "../schemas/real-estate.toml";
const POLICY: &str = "../policies/medical-premises.toml";

fn setup(out: &Path) -> std::process::Output {
    zkgov()
        .args([
            "keys", "setup", "--schema", SCHEMA, "--policy", POLICY, "--depth", "3", "--out",
        ])
        .arg(out)
        .output()
        .unwrap()
}

/// A proof for the key in `dir`, made through the library, written as
/// snarkjs files `vk.json`, `proof.json` and `public.json` in `work`.
fn write_proof(dir: &Path, work: &Path) -> Vec<Fr> {
    let schema = Schema::from_toml(
        SCHEMA,
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA)).unwrap(),
    )
    .unwrap();
    let policy = Policy::from_toml(
        POLICY,
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(POLICY)).unwrap(),
        &schema,
    )
    .unwrap();
    let shape = TreeShape::new(4, 3).unwrap();
    let keys = KeyDir::open(dir).unwrap();
    keys.check_circuit(&schema, &policy, shape).unwrap();
    let record = schema
        .encode_record(
            &[
                "ID-9",
                "P-9",
                "500",
                "medical",
                "false",
                "2024-01-01",
                "2034-01-01",
            ],
            Fr::from(3u64),
        )
        .unwrap();
    let tree = RegistryTree::from_leaves(shape, vec![schema.leaf(&record)]).unwrap();
    let statement = Statement {
        registry_root: tree.root(),
        case_id: Statement::case_id("CASE-9"),
        subject_tag: SubjectTag::new(record.values[0], Fr::from(11u64)),
        params: policy
            .encode_params(&[
                ("min_area", "100"),
                ("usage", "medical"),
                ("today", "2026-11-23"),
            ])
            .unwrap(),
    };
    let witness = StatementWitness {
        path: tree.path(0).unwrap(),
        record,
        case_secret: Fr::from(11u64),
    };
    let circuit = StatementCircuit {
        schema: &schema,
        policy: &policy,
        shape,
        assignment: Some((&statement, &witness)),
    };
    let proof = Groth16::<Bn254, CircomReduction>::prove(
        &keys.proving_key().unwrap(),
        circuit,
        &mut StdRng::seed_from_u64(2),
    )
    .unwrap();
    std::fs::copy(dir.join("verification_key.json"), work.join("vk.json")).unwrap();
    std::fs::write(
        work.join("proof.json"),
        snarkjs::proof_to_json(&proof).to_string(),
    )
    .unwrap();
    let inputs = statement.public_inputs();
    std::fs::write(
        work.join("public.json"),
        snarkjs::public_signals_to_json(&inputs).to_string(),
    )
    .unwrap();
    inputs
}

fn verify(work: &Path) -> std::process::Output {
    zkgov()
        .arg("verify")
        .arg("--vk")
        .arg(work.join("vk.json"))
        .arg("--proof")
        .arg(work.join("proof.json"))
        .arg("--public")
        .arg(work.join("public.json"))
        .output()
        .unwrap()
}

#[test]
fn keys_setup_inspect_export_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let out = setup(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("key id  "))
        .unwrap()
        .to_string();
    assert_eq!(key_id.len(), 64);

    // A second setup into the same directory is refused and changes nothing.
    let before = std::fs::read(dir.join("metadata.json")).unwrap();
    let again = setup(&dir);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(dir.join("metadata.json")).unwrap(), before);

    let inspect = zkgov()
        .args(["keys", "inspect"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(inspect.status.success());
    assert!(
        text.contains(&key_id) && text.contains("single-party — insecure for production"),
        "{text}"
    );
    assert!(
        text.contains("registry_root, case_id, subject_tag, min_area, usage, today"),
        "{text}"
    );
    // With --json, the verified metadata as the directory holds it.
    let inspect = zkgov()
        .args(["keys", "inspect", "--json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(inspect.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(printed, stored);
    assert_eq!(printed["key_id"], key_id.as_str());

    let export = zkgov()
        .args(["keys", "export"])
        .arg(&dir)
        .args(["--format", "snarkjs"])
        .output()
        .unwrap();
    let vk: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(vk["protocol"], "groth16");
    assert_eq!(vk["curve"], "bn128");
    assert_eq!(vk["nPublic"], 6);
    assert_eq!(vk["IC"].as_array().unwrap().len(), 7);

    let sol = tmp.path().join("Verifier.sol");
    let export = zkgov()
        .args(["keys", "export"])
        .arg(&dir)
        .args(["--format", "solidity", "--out"])
        .arg(&sol)
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let contract = std::fs::read_to_string(&sol).unwrap();
    assert!(contract.contains("verifyProof") && contract.contains(&key_id));

    // verify: 0 valid, 1 invalid, 2 malformed.
    let work = tmp.path();
    let inputs = write_proof(&dir, work);
    let valid = verify(work);
    assert_eq!(
        valid.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&valid.stderr)
    );

    let mut changed = inputs.clone();
    changed[5] += Fr::from(1u64); // another day
    std::fs::write(
        work.join("public.json"),
        snarkjs::public_signals_to_json(&changed).to_string(),
    )
    .unwrap();
    assert_eq!(verify(work).status.code(), Some(1));

    let mut public: Vec<String> = inputs
        .iter()
        .map(zkgov_circuits::field::to_decimal)
        .collect();
    public[2] =
        "21888242871839275222246405745257275088548364400416034343698204186575808495617".into();
    std::fs::write(
        work.join("public.json"),
        serde_json::to_string(&public).unwrap(),
    )
    .unwrap();
    let malformed = verify(work);
    assert_eq!(malformed.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert!(
        stderr.contains("public.json") && stderr.contains("canonical"),
        "{stderr}"
    );

    public.truncate(5);
    public[2] = "1".into();
    std::fs::write(
        work.join("public.json"),
        serde_json::to_string(&public).unwrap(),
    )
    .unwrap();
    let short = verify(work);
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains('5'));

    // A damaged key directory is bad input, refused by name, as a missing
    // one is.
    std::fs::write(dir.join("policy.toml"), "tampered").unwrap();
    for command in [
        &["keys", "inspect"][..],
        &["keys", "export", "--format", "snarkjs"],
    ] {
        let refused = zkgov()
            .args(&command[..2])
            .arg(&dir)
            .args(&command[2..])
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "{command:?}");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("policy.toml"));
    }
    let missing = zkgov()
        .args(["keys", "inspect"])
        .arg(tmp.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn setup_json_prints_the_written_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let setup = zkgov()
        .args([
            "keys", "setup", "--schema", SCHEMA, "--policy", POLICY, "--depth", "2", "--json",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&setup.stdout).unwrap();
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(printed, stored);
    assert_eq!(printed["tree"]["depth"], 2);
}

/// `snarkjs r1cs …` in `dir`.
fn snarkjs_r1cs(args: &[&str], dir: &Path) -> std::process::Output {
    let mut all = vec!["r1cs"];
    all.extend_from_slice(args);
    support::node::run_node_bin("snarkjs", &all, dir)
}

#[test]
fn the_r1cs_export_is_the_circuit_as_snarkjs_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let setup = setup(&dir);
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let file = tmp.path().join("circuit.r1cs");
    let export = zkgov()
        .args(["keys", "export"])
        .arg(&dir)
        .args(["--format", "r1cs", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );

    // The circuit the key was made for, as the library derives it.
    let keys = KeyDir::open(&dir).unwrap();
    let schema = Schema::from_toml("schema.toml", &keys.schema_text).unwrap();
    let policy = Policy::from_toml("policy.toml", &keys.policy_text, &schema).unwrap();
    let matrices = keys
        .check_circuit(&schema, &policy, TreeShape::new(4, 3).unwrap())
        .unwrap();
    let wires = matrices.num_instance_variables + matrices.num_witness_variables;
    let publics = matrices.num_instance_variables - 1;

    let info = snarkjs_r1cs(&["info", "circuit.r1cs"], tmp.path());
    let printed = String::from_utf8_lossy(&info.stdout).into_owned();
    assert!(
        info.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&info.stderr)
    );
    for line in [
        "Curve: bn-128".to_string(),
        format!("# of Wires: {wires}"),
        format!("# of Constraints: {}", matrices.num_constraints),
        "# of Private Inputs: 0".to_string(),
        format!("# of Public Inputs: {publics}"),
        format!("# of Labels: {wires}"),
        "# of Outputs: 0".to_string(),
    ] {
        assert!(printed.contains(&line), "no `{line}` in:\n{printed}");
    }

    // Every term of every constraint, as snarkjs reads it back.
    let json = snarkjs_r1cs(
        &["export", "json", "circuit.r1cs", "circuit.json"],
        tmp.path(),
    );
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let read: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("circuit.json")).unwrap()).unwrap();
    let constraints = read["constraints"].as_array().unwrap();
    assert_eq!(constraints.len(), matrices.num_constraints);
    let expected = |row: &[(Fr, usize)]| -> serde_json::Map<String, serde_json::Value> {
        row.iter()
            .map(|(coefficient, wire)| (wire.to_string(), coefficient.to_string().into()))
            .collect()
    };
    for (i, constraint) in constraints.iter().enumerate() {
        for (k, matrix) in [&matrices.a, &matrices.b, &matrices.c]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                constraint[k].as_object().unwrap(),
                &expected(&matrix[i]),
                "constraint {i}, combination {k}"
            );
        }
    }
    assert_eq!(read["map"].as_array().unwrap().len(), wires);

    // A damaged file is refused by snarkjs, and a binary export needs a file.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] = b'x';
    std::fs::write(tmp.path().join("damaged.r1cs"), &bytes).unwrap();
    let refused = snarkjs_r1cs(&["info", "damaged.r1cs"], tmp.path());
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stdout).into_owned()
        + &String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("Invalid File format"), "{said}");
    let no_out = zkgov()
        .args(["keys", "export"])
        .arg(&dir)
        .args(["--format", "r1cs"])
        .output()
        .unwrap();
    assert_eq!(no_out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_out.stderr).contains("--out FILE"));
}
