//! The attacks of an operator with write access to the database, or a
//! department that bends the rules: each one fails against the log as the
//! state.

mod fixture;

use std::path::Path;
use std::sync::OnceLock;

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_snark::SNARK;
use ark_std::rand::{rngs::StdRng, SeedableRng};
use fixture::{reason, Client, Fixture, ADMIN, LAND, REGISTRY};
use serde_json::{json, Value};
use zkgov_circuits::circuit::{StatementCircuit, StatementWitness};
use zkgov_circuits::Fr;
use zkgov_keys::qap::CircomReduction;
use zkgov_log::entry::Entry;
use zkgov_log::replay::{replay, Violation};
use zkgov_log::rules::{LogState, Refusal};
use zkgov_verifier::service::config::{Config, IndexCheck};
use zkgov_verifier::service::startup::LogStartError;
use zkgov_verifier::service::{RunningService, StartError};
use zkgov_verifier::storage::{self, NewEntry};

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::new)
}

fn publish(client: &Client, root: &str) {
    let (status, body) = client.post(
        &format!("/v1/registries/{REGISTRY}/roots"),
        Some(LAND),
        &json!({ "root": root }),
    );
    assert_eq!(status, 201, "{body}");
}

fn database(dir: &Path) -> String {
    dir.join("verifier.db").display().to_string()
}

fn config(dir: &Path, extra: &str) -> Config {
    fixture().config(dir, Some(&database(dir)), extra)
}

fn start_error(config: Config) -> LogStartError {
    match RunningService::spawn(config) {
        Err(StartError::Log(e)) => e,
        Err(other) => panic!("expected a log error, got {other}"),
        Ok(service) => {
            service.shutdown().unwrap();
            panic!("the service started")
        }
    }
}

#[test]
fn a_results_row_inserted_behind_the_services_back_is_ignored_then_refused_at_start_up() {
    let data = tempfile::tempdir().unwrap();
    let service = RunningService::spawn(config(data.path(), "")).unwrap();
    let client = Client::new(&service);
    publish(&client, &fixture().root());
    let compare = format!("/v1/cases/FORGED-1/compare?require={}", fixture().key_id);
    assert_eq!(client.get(&compare).1["complete"], false);

    // A row claiming a result for the case, pointing at the root's entry.
    let conn = r2d2_sqlite::rusqlite::Connection::open(database(data.path())).unwrap();
    conn.execute(
        "INSERT INTO results (entry_idx, key_id, case_id, subject_tag, registry_root, \
         department, accepted_at) VALUES (2, ?1, 'FORGED-1', '7', ?2, 'land-registry', 0)",
        [&fixture().key_id, &fixture().root()],
    )
    .unwrap();
    drop(conn);
    // The service answers from the log, not from the table.
    let (status, body) = client.get(&compare);
    assert_eq!(status, 200);
    assert_eq!(body["complete"], false, "{body}");
    assert_eq!(body["results"], json!([]), "{body}");
    service.shutdown().unwrap();

    // At the next start the index disagrees with the log: refused, naming
    // the entry.
    match start_error(config(data.path(), "")) {
        LogStartError::IndexMismatch(message) => {
            assert!(message.contains("log entry 2"), "{message}")
        }
        other => panic!("expected an index mismatch, got {other}"),
    }
    // Rebuilt from the log, the forged row is gone.
    let mut rebuild = config(data.path(), "");
    rebuild.index_check = IndexCheck::Rebuild;
    let service = RunningService::spawn(rebuild).unwrap();
    service.shutdown().unwrap();
    let service = RunningService::spawn(config(data.path(), "")).unwrap();
    let store = storage::open(&database(data.path())).unwrap();
    assert!(store.case_results("FORGED-1").unwrap().is_empty());
    service.shutdown().unwrap();
}

#[test]
fn a_forged_result_entry_is_named_by_its_index() {
    let data = tempfile::tempdir().unwrap();
    let service = RunningService::spawn(config(data.path(), "")).unwrap();
    let client = Client::new(&service);
    publish(&client, &fixture().root());
    let (status, body) = client.post("/v1/proofs", Some(LAND), &fixture().proven("CASE-F", 0, 3));
    assert_eq!(status, 201, "{body}");
    service.shutdown().unwrap();

    // A result entry appended with its tree nodes, its proof taken from
    // another case.
    let store = storage::open(&database(data.path())).unwrap();
    let genuine = Entry::from_bytes(&store.entries(3, 4).unwrap()[0]).unwrap();
    let Entry::Result {
        key_id,
        subject_tag,
        registry_root,
        mut public_inputs,
        proof,
        department,
        time,
        ..
    } = genuine
    else {
        panic!("entry 3 is the result")
    };
    public_inputs[1] =
        zkgov_circuits::field::to_decimal(&zkgov_circuits::statement::Statement::case_id("CASE-X"));
    let forged = Entry::Result {
        key_id,
        case_id: "CASE-X".into(),
        subject_tag,
        registry_root,
        public_inputs,
        proof,
        department,
        time,
    };
    store.append(&[NewEntry::from(&forged)]).unwrap();
    let entries = store.entries(0, 5).unwrap();
    drop(store);

    // The monitor's replay names it.
    let mut state = LogState::new();
    let violation = replay(&mut state, &entries, |_| {}).unwrap_err();
    assert_eq!(
        violation,
        Violation::Refused {
            index: 4,
            refusal: Refusal::InvalidProof
        }
    );
    assert_eq!(state.size(), 4, "everything before it was applied");
    // The service will not serve it: it is beyond the last checkpoint it
    // signed, so it is replayed with its proof verified.
    match start_error(config(data.path(), "")) {
        LogStartError::Violation(v) => assert_eq!(v.index(), 4),
        other => panic!("expected a violation, got {other}"),
    }
}

#[test]
fn a_database_restored_from_an_old_backup_stops_start_up() {
    let data = tempfile::tempdir().unwrap();
    let service = RunningService::spawn(config(data.path(), "")).unwrap();
    publish(&Client::new(&service), &fixture().root());
    service.shutdown().unwrap();
    let backup = data.path().join("backup.db");
    std::fs::copy(database(data.path()), &backup).unwrap();

    let service = RunningService::spawn(config(data.path(), "")).unwrap();
    publish(&Client::new(&service), "12345");
    service.shutdown().unwrap();

    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database(data.path())));
    }
    std::fs::copy(&backup, database(data.path())).unwrap();
    match start_error(config(data.path(), "")) {
        LogStartError::Behind { database, signed } => assert_eq!((database, signed), (3, 4)),
        other => panic!("expected Behind, got {other}"),
    }
    // The message says what happened and what to do.
    let message = start_error(config(data.path(), "")).to_string();
    assert!(
        message.contains("3 log entries") && message.contains("zkgov log restore"),
        "{message}"
    );
}

#[test]
fn a_proof_against_a_superseded_root_is_refused_after_the_grace_period() {
    // Within the default grace period, the previous root still backs proofs.
    let data = tempfile::tempdir().unwrap();
    let service = RunningService::spawn(config(data.path(), "")).unwrap();
    let client = Client::new(&service);
    publish(&client, &fixture().root());
    publish(&client, "12345");
    let (status, body) = client.post("/v1/proofs", Some(LAND), &fixture().proven("CASE-G", 0, 5));
    assert_eq!(status, 201, "{body}");
    service.shutdown().unwrap();

    // With no grace, once a newer root is anchored the old one is done.
    let data = tempfile::tempdir().unwrap();
    let service = RunningService::spawn(config(data.path(), "grace_seconds = 0")).unwrap();
    let client = Client::new(&service);
    publish(&client, &fixture().root());
    publish(&client, "12345");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (status, body) = client.post("/v1/proofs", Some(LAND), &fixture().proven("CASE-G", 0, 5));
    assert_eq!((status, reason(&body)), (422, "root_superseded"), "{body}");
    // Anchoring the old root again makes it the latest.
    publish(&client, &fixture().root());
    let (status, body) = client.post("/v1/proofs", Some(LAND), &fixture().proven("CASE-G", 0, 5));
    assert_eq!(status, 201, "{body}");
    service.shutdown().unwrap();
}

fn registration(vk: Value, policy: &str) -> Value {
    json!({
        "registry": REGISTRY,
        "verifying_key": vk,
        "schema": fixture::SCHEMA_TEXT,
        "policy": policy,
    })
}

fn fixture_vk() -> Value {
    let dir = zkgov_keys::store::KeyDir::open(&fixture().key_dir).unwrap();
    zkgov_keys::snarkjs::verifying_key_to_json(&dir.verifying_key)
}

#[test]
fn a_key_with_an_identity_ic_point_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let service = RunningService::spawn(config(data.path(), "")).unwrap();
    let client = Client::new(&service);
    let mut vk = fixture_vk();
    // IC[2] binds case_id; as the identity, one proof would fit every case.
    vk["IC"][2] = json!(["0", "1", "0"]);
    vk.as_object_mut().unwrap().remove("vk_alphabeta_12");
    let renamed = fixture::POLICY_TEXT.replacen("medical-premises", "medical-premises-x", 1);
    let (status, body) = client.post("/v1/keys", Some(ADMIN), &registration(vk, &renamed));
    assert_eq!((status, reason(&body)), (400, "identity_point"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("IC[2]"));
    service.shutdown().unwrap();
}

#[test]
fn a_verifying_key_is_refused_under_another_policy() {
    let data = tempfile::tempdir().unwrap();
    let service = RunningService::spawn(config(data.path(), "")).unwrap();
    let client = Client::new(&service);
    // The same key, its policy's enum edited: it does not prove that policy.
    let edited = fixture::SCHEMA_TEXT.replacen("\"industrial\"", "\"industrial\", \"military\"", 1);
    assert_ne!(edited, fixture::SCHEMA_TEXT);
    let body = json!({
        "registry": REGISTRY,
        "verifying_key": fixture_vk(),
        "schema": edited,
        "policy": fixture::POLICY_TEXT,
    });
    let (status, body) = client.post("/v1/keys", Some(ADMIN), &body);
    assert_eq!((status, reason(&body)), (422, "key_reused"), "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&fixture().key_id));
    // The same key and policy for another department's registry.
    let mut elsewhere = registration(fixture_vk(), fixture::POLICY_TEXT);
    elsewhere["registry"] = json!("business");
    let (status, body) = client.post("/v1/keys", Some(ADMIN), &elsewhere);
    assert_eq!((status, reason(&body)), (422, "key_reused"), "{body}");
    // The same registration again is a repeat, not a reuse.
    let (status, body) = client.post(
        "/v1/keys",
        Some(ADMIN),
        &registration(fixture_vk(), fixture::POLICY_TEXT),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["index"], 1);
    service.shutdown().unwrap();
}

#[test]
fn a_resubmitted_statement_with_other_inputs_is_a_conflict() {
    let f = fixture();
    let data = tempfile::tempdir().unwrap();
    let service = RunningService::spawn(config(data.path(), "")).unwrap();
    let client = Client::new(&service);
    publish(&client, &f.root());
    let (status, first) = client.post("/v1/proofs", Some(LAND), &f.proven("CASE-K", 0, 6));
    assert_eq!(status, 201, "{first}");

    // The same key, case and tag, proved with another min_area.
    let statement = f.statement("CASE-K", 0, 6, "100");
    let witness = StatementWitness {
        record: f.records[0].clone(),
        path: f.tree.path(0).unwrap(),
        case_secret: Fr::from(6u64),
    };
    let circuit = StatementCircuit {
        schema: &f.schema,
        policy: &f.policy,
        shape: f.shape,
        assignment: Some((&statement, &witness)),
    };
    let proof = Groth16::<Bn254, CircomReduction>::prove(
        &f.proving_key,
        circuit,
        &mut StdRng::seed_from_u64(1),
    )
    .unwrap();
    let (status, body) = client.post(
        "/v1/proofs",
        Some(LAND),
        &f.submission("CASE-K", &proof, &statement),
    );
    assert_eq!(
        (status, reason(&body)),
        (409, "conflicting_statement"),
        "{body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("entry {}", first["index"])));
    service.shutdown().unwrap();
}
