//! Department signatures over real HTTP: the service takes a keyed
//! department's roots and decisions only with its signature, and a change
//! of its key waits, with the log's governance in force, until the
//! department (or a quorum of the others) endorses it.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use zkgov_log::entry::Entry;
use zkgov_log::replay::replay;
use zkgov_log::rules::LogState;
use zkgov_log::signature::DepartmentSigner;
use zkgov_verifier::client::{Client, ClientError};
use zkgov_verifier::service::config::Config;
use zkgov_verifier::service::RunningService;
use zkgov_verifier::test_utils::{ConfigFile, Department, HEALTH, LAND, MARKET};

struct Keys {
    land: Arc<DepartmentSigner>,
    market: Arc<DepartmentSigner>,
    health: Arc<DepartmentSigner>,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            land: Arc::new(DepartmentSigner::generate("land-registry")),
            market: Arc::new(DepartmentSigner::generate("market-bureau")),
            health: Arc::new(DepartmentSigner::generate("health")),
        }
    }
}

/// A config of three keyed departments (land-registry's key is `land`).
fn config(data: &Path, keys: &Keys, land: &DepartmentSigner) -> Config {
    ConfigFile::new(data)
        .setting("origin", "signatures.test/log")
        .department(
            Department::new("land-registry", LAND)
                .registries(&["real-estate"])
                .key(land.verifier_key()),
        )
        .department(
            Department::new("market-bureau", MARKET)
                .registries(&["business"])
                .key(keys.market.verifier_key()),
        )
        .department(
            Department::new("health", HEALTH)
                .decides()
                .key(keys.health.verifier_key()),
        )
        .load(data.join("verifier.toml"))
}

fn client(service: &RunningService, token: &str, signer: Option<&Arc<DepartmentSigner>>) -> Client {
    let client = Client::new(&service.url(), Some(token.into()));
    match signer {
        Some(signer) => client.with_signer(signer.clone()),
        None => client,
    }
}

/// The status and reason of a refused request.
fn refused<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Refused { status, reason, .. }) => (status, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Replays the service's whole log through the rules, as an auditor does.
fn replay_all(service: &RunningService) -> LogState {
    let public = Client::new(&service.url(), None);
    let size: u64 = public
        .checkpoint()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let entries = public.entries(0, size).unwrap();
    let mut state = LogState::new();
    replay(&mut state, &entries, |_| {}).expect("the log replays");
    state
}

#[test]
fn a_keyed_department_is_the_only_one_who_speaks_for_it() {
    let data = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    let service = RunningService::spawn(config(data.path(), &keys, &keys.land)).unwrap();

    let unsigned = client(&service, LAND, None);
    assert_eq!(
        refused(unsigned.publish_root("real-estate", "42")),
        (403, "unsigned".into())
    );
    let impostor = Arc::new(DepartmentSigner::generate("land-registry"));
    assert_eq!(
        refused(client(&service, LAND, Some(&impostor)).publish_root("real-estate", "42")),
        (403, "bad_signature".into())
    );
    // Another department's key, with land-registry's token.
    assert_eq!(
        refused(client(&service, LAND, Some(&keys.market)).publish_root("real-estate", "42")),
        (403, "bad_signature".into())
    );
    let receipt = client(&service, LAND, Some(&keys.land))
        .publish_root("real-estate", "42")
        .unwrap();
    assert_eq!(receipt.index, 1);

    let health = client(&service, HEALTH, None);
    assert_eq!(
        refused(health.decide("C-2026-000001", "refused", &[], "no evidence")),
        (403, "unsigned".into())
    );
    client(&service, HEALTH, Some(&keys.health))
        .decide("C-2026-000001", "refused", &[], "no evidence")
        .unwrap();

    let state = replay_all(&service);
    assert_eq!(state.size(), 3);
    let logged = Client::new(&service.url(), None).entries(1, 2).unwrap();
    let root = Entry::from_bytes(logged[0].as_bytes()).unwrap();
    assert!(root.signature().is_some(), "{root:?}");
    service.shutdown().unwrap();
}

fn proposal(service: &RunningService) -> Value {
    Client::new(&service.url(), None).governance().unwrap()["proposal"].clone()
}

#[test]
fn a_key_rotation_waits_for_the_departments_endorsement() {
    let data = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    let service = RunningService::spawn(config(data.path(), &keys, &keys.land)).unwrap();
    client(&service, LAND, Some(&keys.land))
        .publish_root("real-estate", "42")
        .unwrap();
    service.shutdown().unwrap();

    // The operator configures a new key for land-registry and restarts:
    // the log's governance stays in force until land-registry agrees.
    let rotated = Arc::new(DepartmentSigner::generate("land-registry"));
    let service = RunningService::spawn(config(data.path(), &keys, &rotated)).unwrap();
    let waiting = proposal(&service);
    assert!(
        waiting["needed"]
            .as_str()
            .unwrap()
            .contains("land-registry"),
        "{waiting}"
    );
    assert_eq!(waiting["replaces"], 0);
    // Entries are stamped to the second: the root below is logged after the
    // proposal's time, as it would be while departments take days to endorse.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        refused(client(&service, LAND, Some(&rotated)).publish_root("real-estate", "43")),
        (403, "bad_signature".into())
    );
    client(&service, LAND, Some(&keys.land))
        .publish_root("real-estate", "43")
        .expect("the key in force still signs");

    let entry: Entry = serde_json::from_value(waiting["entry"].clone()).unwrap();
    // The new key cannot endorse its own installation.
    assert_eq!(
        refused(client(&service, LAND, Some(&rotated)).endorse_governance(&entry, Some(0))),
        (403, "bad_signature".into())
    );
    // One other department is not a recovery quorum of the two others.
    let answer = client(&service, MARKET, Some(&keys.market))
        .endorse_governance(&entry, Some(0))
        .unwrap();
    assert_eq!(answer["status"], "pending", "{answer}");
    assert!(!proposal(&service).is_null());
    // land-registry's current key endorses: the rotation is logged.
    let receipt = client(&service, LAND, Some(&keys.land))
        .endorse_governance(&entry, Some(0))
        .unwrap();
    assert_eq!(receipt["index"], 3, "{receipt}");
    assert!(proposal(&service).is_null());

    assert_eq!(
        refused(client(&service, LAND, Some(&keys.land)).publish_root("real-estate", "44")),
        (403, "bad_signature".into())
    );
    client(&service, LAND, Some(&rotated))
        .publish_root("real-estate", "44")
        .unwrap();
    let state = replay_all(&service);
    let governance = state.governance().unwrap();
    assert_eq!(governance.index, 3);
    assert_eq!(
        governance.departments["land-registry"].key.as_deref(),
        Some(rotated.verifier_key().as_str())
    );
    service.shutdown().unwrap();

    // Restarted on the same config, nothing waits.
    let service = RunningService::spawn(config(data.path(), &keys, &rotated)).unwrap();
    assert!(proposal(&service).is_null());
    service.shutdown().unwrap();
}

#[test]
fn the_other_departments_recover_a_lost_key() {
    let data = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    RunningService::spawn(config(data.path(), &keys, &keys.land))
        .unwrap()
        .shutdown()
        .unwrap();
    let replacement = Arc::new(DepartmentSigner::generate("land-registry"));
    let service = RunningService::spawn(config(data.path(), &keys, &replacement)).unwrap();
    let entry: Entry = serde_json::from_value(proposal(&service)["entry"].clone()).unwrap();
    for (token, key) in [(MARKET, &keys.market), (HEALTH, &keys.health)] {
        client(&service, token, Some(key))
            .endorse_governance(&entry, Some(0))
            .unwrap();
    }
    assert!(proposal(&service).is_null());
    client(&service, LAND, Some(&replacement))
        .publish_root("real-estate", "42")
        .unwrap();
    assert_eq!(replay_all(&service).size(), 3);
    service.shutdown().unwrap();
}
