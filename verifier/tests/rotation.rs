//! A hand-over of the log's key that a crash interrupts is finished at the
//! next start, once: after the old key signed the checkpoint of the
//! hand-over entry, and after the new key signed it too, before the new key
//! was installed.

mod fixture;

use std::path::Path;

use fixture::Fixture;
use zkgov_log::handover::handover_entry;
use zkgov_log::rules::LogState;
use zkgov_verifier::service::config::Config;
use zkgov_verifier::service::signed::SignedLog;
use zkgov_verifier::service::{rotation, startup, Service};

fn config(dir: &Path) -> Config {
    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    let database = dir.join("verifier.db").display().to_string();
    FIXTURE
        .get_or_init(Fixture::new)
        .config(dir, Some(&database), "")
}

/// Step 1 of a hand-over to the next key in `config`'s data directory,
/// then (if `step_two`) step 2, as if the service then died.
fn interrupted_hand_over(config: &Config, step_two: bool) -> String {
    let storage = zkgov_verifier::storage::open(&config.database).unwrap();
    let signed = SignedLog::open(&config.data_dir, &config.origin).unwrap();
    let mut log: LogState = startup::load_state(&*storage, &signed).unwrap();
    let next = rotation::prepare(&config.data_dir, &config.origin).unwrap();
    let entry = handover_entry(
        signed.signer(),
        &next,
        zkgov_log::entry::format_time(log.last_time().unwrap() + 1),
    );
    startup::append_direct(&*storage, &mut log, |_| Some(entry.clone())).unwrap();
    signed.sign(&*storage, log.size(), log.root()).unwrap();
    if step_two {
        let next_signer = zkgov_log::checkpoint::LogSigner::from_private_key(
            &std::fs::read_to_string(rotation::next_key_path(&config.data_dir)).unwrap(),
        )
        .unwrap();
        signed.hand_over(next_signer).unwrap();
    }
    next
}

#[test]
fn an_interrupted_hand_over_is_finished_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let k0 = Service::open(config.clone()).unwrap().verifier_key();

    for step_two in [false, true] {
        let next = interrupted_hand_over(&config, step_two);
        let service = Service::open(config.clone()).unwrap();
        assert_eq!(service.verifier_key(), next, "step two: {step_two}");
        assert_ne!(service.verifier_key(), k0);
        assert!(!rotation::next_key_path(&config.data_dir).exists());
        drop(service);
    }
    // Two hand-overs, each logged once, and the log replays under the rules.
    let storage = zkgov_verifier::storage::open(&config.database).unwrap();
    let signed = SignedLog::open(&config.data_dir, &config.origin).unwrap();
    let log = startup::load_state(&*storage, &signed).unwrap();
    assert_eq!(log.handovers().len(), 2);
    assert_eq!(log.counts().handovers, 2);
    assert_eq!(signed.last().unwrap().size, log.size());
}
