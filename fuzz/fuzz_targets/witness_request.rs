//! The witness's add-checkpoint request body (C2SP tlog-witness): parsing
//! never panics and what parses is written back byte for byte; the request,
//! with its checkpoint signed by a known log, is decided without panic
//! against a stored state taken from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use zkgov_log::checkpoint::{Checkpoint, LogSigner, LogVerifier};
use zkgov_log::witness::{decide, AddCheckpoint, WitnessedState};

fn log() -> &'static LogSigner {
    static LOG: OnceLock<LogSigner> = OnceLock::new();
    LOG.get_or_init(|| LogSigner::generate("fuzz.example/log"))
}

fuzz_target!(|body: &str| {
    let Ok(request) = AddCheckpoint::parse(body) else {
        return;
    };
    assert_eq!(request.body(), body);
    let Ok(checkpoint) = Checkpoint::parse_unverified(&request.note) else {
        return;
    };
    let log = log();
    let logs = BTreeMap::from([(
        checkpoint.origin.clone(),
        LogVerifier::from_verifier_key(&log.verifier_key()).unwrap(),
    )]);
    let signed = AddCheckpoint {
        note: log.sign(&checkpoint),
        ..request
    };
    let stored = WitnessedState {
        size: signed.old_size,
        root: signed.proof.first().copied().unwrap_or_default(),
    };
    if let Ok(cosigned) = decide(&logs, |_| Some(stored), &signed) {
        assert_eq!(cosigned, checkpoint);
    }
});
