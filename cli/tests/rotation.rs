//! Rotation of the log's key, against a real `zkgov serve`: `zkgov log
//! rotate-key` prepares a key, the restarted service hands over to it with
//! an entry the old key signs, and an auditor who trusts the old key
//! follows the hand-over, in an incremental and a full audit.

use std::fs;
use std::path::Path;
use std::process::Output;

use zkgov_verifier::client::Client;

mod support;
use support::serve::Server;
use support::{stderr, zkgov};

const TOKEN: &str = "land-token-0123456789";

fn publish(server: &Server, roots: std::ops::Range<u64>) {
    let client = Client::new(&server.url, Some(TOKEN.into()));
    for root in roots {
        client
            .publish_root("real-estate", &root.to_string())
            .unwrap();
    }
}

fn verify(server: &Server, state: &Path, extra: &[&str]) -> Output {
    zkgov()
        .args(["log", "verify", "--server", &server.url, "--state"])
        .arg(state)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn an_auditor_follows_the_hand_over_from_the_key_it_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let config = support::serve::land_registry_config(dir.path(), TOKEN);
    let log = dir.path().join("serve.log");
    let (incremental, full) = (dir.path().join("state"), dir.path().join("full"));

    let server = Server::start(&config, &log);
    let k0 = server.log_key.clone();
    publish(&server, 1..6);
    let first = verify(&server, &incremental, &["--log-key", &k0]);
    assert!(first.status.success(), "{}", stderr(&first));
    let first = verify(&server, &full, &["--full", "--log-key", &k0]);
    assert!(first.status.success(), "{}", stderr(&first));
    server.stop();

    let rotate = || {
        zkgov()
            .args(["log", "rotate-key", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let prepared = rotate();
    assert!(prepared.status.success(), "{}", stderr(&prepared));
    let k1 = String::from_utf8(prepared.stdout)
        .unwrap()
        .strip_prefix("next log public key: ")
        .expect("the next key is printed")
        .trim()
        .to_string();
    assert_ne!(k1, k0);
    // One next key at a time.
    let again = rotate();
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("a next key waits already"),
        "{}",
        stderr(&again)
    );

    let server = Server::start(&config, &log);
    assert_eq!(server.log_key, k1, "the service signs with the new key");
    let listed = Client::new(&server.url, None).log_key().unwrap();
    assert_eq!(listed["verifier_key"], k1.as_str());
    // Governance, five roots, then the hand-over.
    assert_eq!(
        listed["handovers"],
        serde_json::json!([{"index": 6, "key": k1}])
    );
    assert!(!dir.path().join("data/log-signing.next.key").exists());
    publish(&server, 6..9);

    // The incremental audit, from the stored state of the old key.
    let followed = verify(&server, &incremental, &[]);
    assert!(followed.status.success(), "{}", stderr(&followed));
    assert!(
        stderr(&followed).contains(&format!("trusted from now on: {k1}")),
        "{}",
        stderr(&followed)
    );
    let stored: serde_json::Value =
        serde_json::from_slice(&fs::read(incremental.join("zkgov.test_log.json")).unwrap())
            .unwrap();
    assert_eq!(stored["log_key"], k1.as_str());
    assert_eq!(stored["retired_keys"], serde_json::json!([k0]));
    // The old key, given again as a script does, stands for the new one.
    let scripted = verify(&server, &incremental, &["--log-key", &k0]);
    assert!(scripted.status.success(), "{}", stderr(&scripted));
    assert!(!stderr(&scripted).contains("handed its key over"));

    // The full audit replays the hand-over through the rules.
    let replayed = verify(&server, &full, &["--full"]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    assert!(
        String::from_utf8_lossy(&replayed.stdout).starts_with("log OK: 10 entries"),
        "{}",
        String::from_utf8_lossy(&replayed.stdout)
    );

    // A first run that trusts the old key follows from scratch; one that
    // trusts a stranger's key is refused.
    let fresh = verify(&server, &dir.path().join("fresh"), &["--log-key", &k0]);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    let stranger = zkgov_log::checkpoint::LogSigner::generate("zkgov.test/log").verifier_key();
    let refused = verify(
        &server,
        &dir.path().join("stranger"),
        &["--log-key", &stranger],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("LOG VERIFICATION FAILED"),
        "{}",
        stderr(&refused)
    );
    server.stop();
}
