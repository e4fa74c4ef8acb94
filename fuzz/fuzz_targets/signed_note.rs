//! Signed notes and checkpoints: parsing never panics; a checkpoint body
//! that parses is written back byte for byte; a checkpoint this log signs
//! verifies as itself; a note a witness cosigns verifies with its timestamp;
//! and a published note verifies under its published key only unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use zkgov_log::checkpoint::{Checkpoint, LogSigner, LogVerifier};
use zkgov_log::cosignature::{CosignatureVerifier, Cosigner};

const SUMDB_KEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_ORIGIN: &str = "go.sum database tree";

struct Keys {
    sumdb: LogVerifier,
    log: LogSigner,
    log_verifier: LogVerifier,
    witness: Cosigner,
    witness_verifier: CosignatureVerifier,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let log = LogSigner::generate("fuzz.example/log");
        let witness = Cosigner::generate("witness.example");
        Keys {
            sumdb: LogVerifier::from_verifier_key(SUMDB_KEY).expect("the sumdb key reads"),
            log_verifier: LogVerifier::from_verifier_key(&log.verifier_key()).unwrap(),
            witness_verifier: CosignatureVerifier::from_verifier_key(&witness.verifier_key())
                .unwrap(),
            log,
            witness,
        }
    })
}

fuzz_target!(|note: &str| {
    let keys = keys();
    if let Ok(checkpoint) = Checkpoint::parse_body(note) {
        assert_eq!(checkpoint.body(), note);
        let signed = keys.log.sign(&checkpoint);
        let origin = checkpoint.origin.clone();
        assert_eq!(
            keys.log_verifier.verify(&signed, &origin).ok(),
            Some(checkpoint)
        );
    }
    let _ = keys.sumdb.verify(note, SUMDB_ORIGIN);
    let _ = keys.witness_verifier.verify(note);
    if let Ok(checkpoint) = Checkpoint::parse_unverified(note) {
        if let Ok(line) = keys.witness.cosign(note, 1_700_000_000) {
            let cosigned = format!("{note}{line}");
            assert_eq!(
                keys.witness_verifier.verify(&cosigned).ok(),
                Some(1_700_000_000)
            );
            assert_eq!(
                Checkpoint::parse_unverified(&cosigned).ok(),
                Some(checkpoint)
            );
        }
    }
});
