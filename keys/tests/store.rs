//! Key directories: setup, atomic writes, and every refusal on loading.

use std::path::Path;
use std::sync::OnceLock;

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
use zkgov_keys::qap::{CircomReduction, Reduction};
use zkgov_keys::store::{
    setup, KeyDir, KeyError, METADATA, POLICY, PROVING_KEY, SCHEMA, VERIFICATION_KEY_JSON,
    VERIFYING_KEY,
};

const SCHEMA_TEXT: &str = include_str!("../../schemas/real-estate.toml");
const POLICY_TEXT: &str = include_str!("../../policies/medical-premises.toml");

fn reference() -> (Schema, Policy) {
    let schema = Schema::from_toml("real-estate.toml", SCHEMA_TEXT).unwrap();
    let policy = Policy::from_toml("medical-premises.toml", POLICY_TEXT, &schema).unwrap();
    (schema, policy)
}

/// A small tree keeps setup fast; the reference depth runs in the interop tests.
fn shape() -> TreeShape {
    TreeShape::new(4, 2).unwrap()
}

/// One key directory, set up once and copied by each test that alters it.
fn pristine() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let (schema, policy) = reference();
        let dir = tempfile::tempdir().unwrap();
        let keys = setup(
            &schema,
            &policy,
            shape(),
            SCHEMA_TEXT,
            POLICY_TEXT,
            &mut StdRng::seed_from_u64(7),
        )
        .unwrap();
        keys.write(&dir.path().join("keys")).unwrap();
        dir
    })
    .path()
}

fn copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("keys");
    std::fs::create_dir(&to).unwrap();
    for entry in std::fs::read_dir(pristine().join("keys")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    (dir, to)
}

fn edit_metadata(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(METADATA);
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

#[test]
fn a_written_key_directory_opens_and_proves() {
    let (schema, policy) = reference();
    let dir = KeyDir::open(&pristine().join("keys")).unwrap();
    dir.check_circuit(&schema, &policy, shape()).unwrap();
    let m = &dir.metadata;
    assert_eq!(m.setup, "single-party — insecure for production");
    assert_eq!(
        m.public_inputs,
        [
            "registry_root",
            "case_id",
            "subject_tag",
            "min_area",
            "usage",
            "today"
        ]
    );
    assert_eq!(m.policy.name, "medical-premises");
    assert_eq!((m.tree.arity, m.tree.depth), (4, 2));
    assert_eq!(m.format_version, 2);
    assert_eq!(m.reduction, Reduction::Circom);
    assert_eq!(m.key_id.len(), 64);

    // The loaded proving key proves a statement that the verifying key accepts.
    let record = schema
        .encode_record(
            &[
                "ID-1",
                "P-1",
                "200",
                "medical",
                "false",
                "2020-01-01",
                "2030-01-01",
            ],
            Fr::from(5u64),
        )
        .unwrap();
    let tree =
        RegistryTree::from_leaves(shape(), vec![Fr::from(1u64), schema.leaf(&record)]).unwrap();
    let statement = Statement {
        registry_root: tree.root(),
        case_id: Statement::case_id("CASE-1"),
        subject_tag: SubjectTag::new(record.values[0], Fr::from(9u64)),
        params: policy
            .encode_params(&[
                ("min_area", "150"),
                ("usage", "medical"),
                ("today", "2026-11-23"),
            ])
            .unwrap(),
    };
    let witness = StatementWitness {
        path: tree.path(1).unwrap(),
        record,
        case_secret: Fr::from(9u64),
    };
    let circuit = StatementCircuit {
        schema: &schema,
        policy: &policy,
        shape: shape(),
        assignment: Some((&statement, &witness)),
    };
    let proof = Groth16::<Bn254, CircomReduction>::prove(
        &dir.proving_key().unwrap(),
        circuit,
        &mut StdRng::seed_from_u64(1),
    )
    .unwrap();
    let mut inputs = statement.public_inputs();
    assert!(Groth16::<Bn254>::verify(&dir.verifying_key, &inputs, &proof).unwrap());
    inputs[1] += Fr::from(1u64); // another case id
    assert!(!Groth16::<Bn254>::verify(&dir.verifying_key, &inputs, &proof).unwrap());
}

#[test]
fn setup_refuses_an_existing_destination_and_leaves_no_staging() {
    let (schema, policy) = reference();
    let keys = setup(
        &schema,
        &policy,
        shape(),
        SCHEMA_TEXT,
        POLICY_TEXT,
        &mut StdRng::seed_from_u64(8),
    )
    .unwrap();
    let (dir, existing) = copy();
    assert!(
        matches!(keys.write(&existing), Err(KeyError::AlreadyExists { path }) if path == existing)
    );
    let fresh = dir.path().join("fresh");
    keys.write(&fresh).unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "no staging directory is left behind: {names:?}"
    );
    // Each setup draws fresh randomness, so the key id differs.
    assert_ne!(
        KeyDir::open(&fresh).unwrap().metadata.key_id,
        KeyDir::open(&existing).unwrap().metadata.key_id
    );
}

#[test]
fn a_directory_without_metadata_is_not_a_key_directory() {
    let (_dir, keys) = copy();
    std::fs::remove_file(keys.join(METADATA)).unwrap();
    assert!(
        matches!(KeyDir::open(&keys), Err(KeyError::Io { path, .. }) if path == keys.join(METADATA))
    );
}

#[test]
fn every_changed_file_is_named() {
    for file in [
        PROVING_KEY,
        VERIFYING_KEY,
        VERIFICATION_KEY_JSON,
        SCHEMA,
        POLICY,
    ] {
        let (_dir, keys) = copy();
        let mut bytes = std::fs::read(keys.join(file)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(keys.join(file), bytes).unwrap();
        match KeyDir::open(&keys) {
            Err(KeyError::HashMismatch { path, .. }) => assert_eq!(path, keys.join(file)),
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn a_missing_file_is_named() {
    let (_dir, keys) = copy();
    std::fs::remove_file(keys.join(PROVING_KEY)).unwrap();
    assert!(
        matches!(KeyDir::open(&keys), Err(KeyError::Io { path, .. }) if path == keys.join(PROVING_KEY))
    );
}

#[test]
fn another_format_version_is_refused() {
    let (_dir, keys) = copy();
    edit_metadata(&keys, |m| m["format_version"] = 3.into());
    assert!(matches!(
        KeyDir::open(&keys),
        Err(KeyError::UnsupportedVersion {
            found: 3,
            supported: 2,
            ..
        })
    ));
}

#[test]
fn a_format_1_key_is_read_as_libsnarks_and_each_format_says_its_reduction_as_it_should() {
    let (_dir, keys) = copy();
    edit_metadata(&keys, |m| {
        m["format_version"] = 1.into();
        m.as_object_mut().unwrap().remove("reduction");
    });
    assert_eq!(
        KeyDir::open(&keys).unwrap().metadata.reduction,
        Reduction::Libsnark
    );
    edit_metadata(&keys, |m| m["reduction"] = "circom".into());
    let refused = KeyDir::open(&keys).unwrap_err().to_string();
    assert!(refused.contains("format 1 has no `reduction`"), "{refused}");
    edit_metadata(&keys, |m| {
        m["format_version"] = 2.into();
        m.as_object_mut().unwrap().remove("reduction");
    });
    let refused = KeyDir::open(&keys).unwrap_err().to_string();
    assert!(refused.contains("missing `reduction`"), "{refused}");
    edit_metadata(&keys, |m| m["reduction"] = "groth".into());
    let refused = KeyDir::open(&keys).unwrap_err().to_string();
    assert!(refused.contains("unknown variant `groth`"), "{refused}");
}

#[test]
fn a_key_id_that_does_not_match_the_content_is_refused() {
    let (_dir, keys) = copy();
    edit_metadata(&keys, |m| m["key_id"] = "00".repeat(32).into());
    assert!(matches!(
        KeyDir::open(&keys),
        Err(KeyError::KeyIdMismatch { .. })
    ));

    // Claiming another policy hash changes the key id it must have.
    let (_dir, keys) = copy();
    edit_metadata(&keys, |m| m["policy"]["hash"] = "ab".repeat(32).into());
    assert!(matches!(
        KeyDir::open(&keys),
        Err(KeyError::KeyIdMismatch { .. })
    ));
}

#[test]
fn malformed_metadata_is_refused() {
    let (_dir, keys) = copy();
    edit_metadata(&keys, |m| {
        m.as_object_mut().unwrap().remove("files");
    });
    assert!(
        matches!(KeyDir::open(&keys), Err(KeyError::Metadata { path, .. }) if path == keys.join(METADATA))
    );
    let (_dir, keys) = copy();
    std::fs::write(keys.join(METADATA), "{ not json").unwrap();
    assert!(matches!(
        KeyDir::open(&keys),
        Err(KeyError::Metadata { .. })
    ));
}

#[test]
fn a_key_is_never_used_for_another_policy_or_circuit() {
    let (schema, policy) = reference();
    let dir = KeyDir::open(&pristine().join("keys")).unwrap();

    let looser = POLICY_TEXT.replace("\"encumbered == false\",\n", "");
    let other = Policy::from_toml("looser.toml", &looser, &schema).unwrap();
    assert!(matches!(
        dir.check_circuit(&schema, &other, shape()),
        Err(KeyError::PolicyMismatch { key_policy, .. }) if key_policy == "medical-premises"
    ));

    // The same policy with comments and spacing changed is the same policy.
    let reformatted = format!("# a comment\n{}", POLICY_TEXT.replace("  \"", "    \""));
    let same = Policy::from_toml("same.toml", &reformatted, &schema).unwrap();
    dir.check_circuit(&schema, &same, shape()).unwrap();

    for other_shape in [TreeShape::new(4, 3).unwrap(), TreeShape::new(2, 4).unwrap()] {
        assert!(matches!(
            dir.check_circuit(&schema, &policy, other_shape),
            Err(KeyError::CircuitMismatch { .. })
        ));
    }
}
