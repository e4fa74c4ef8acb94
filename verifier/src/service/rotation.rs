//! Rotation of the log's signing key at start-up.
//!
//! `zkgov log rotate-key` puts a new key beside the current one, as
//! `log-signing.next.key`. At its next start the service hands over:
//!
//! 1. it appends a `log_key` entry, signed by the current key, naming the
//!    new one, and signs the checkpoint that holds it with the current key;
//! 2. it signs that same checkpoint with the new key and keeps it;
//! 3. it renames the new key over the current one.
//!
//! A crash between any two steps is finished at the next start: the log's
//! last hand-over names the key in `log-signing.next.key`, so steps 2 and 3
//! are done again, and [`SignedLog::open`] accepts a kept checkpoint signed
//! by the next key. Clients follow the hand-over from the key they trust
//! (see [`zkgov_log::handover`]).

use std::path::{Path, PathBuf};

use zkgov_log::checkpoint::LogSigner;
use zkgov_log::entry::format_time;
use zkgov_log::handover::handover_entry;
use zkgov_log::rules::LogState;

use super::signed::SignedLog;
use super::startup::append_direct;
use super::StartError;
use crate::storage::{Storage, StorageError};

/// The file of the key the log hands over to at the next start.
pub const NEXT_KEY_FILE: &str = "log-signing.next.key";

/// The next key's path in `data_dir`.
pub fn next_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(NEXT_KEY_FILE)
}

/// The next key, if one waits in `data_dir`.
pub(crate) fn load_next(data_dir: &Path, origin: &str) -> Result<Option<LogSigner>, StartError> {
    let path = next_key_path(data_dir);
    if !path.exists() {
        return Ok(None);
    }
    super::load_signer(&path, origin).map(Some)
}

/// Writes a new next key for the log of `origin` into `data_dir`, which
/// the service hands over to at its next start; its verifier key. Refuses
/// to replace a next key that waits already.
pub fn prepare(data_dir: &Path, origin: &str) -> Result<String, StartError> {
    let path = next_key_path(data_dir);
    let fail = |message: String| StartError::SigningKey {
        path: path.display().to_string(),
        message,
    };
    if !zkgov_log::checkpoint::is_valid_key_name(origin) {
        return Err(fail(format!("`{origin}` cannot name a key")));
    }
    if path.exists() {
        return Err(fail(
            "a next key waits already; start the service to hand over to it, or remove it".into(),
        ));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| fail(e.to_string()))?;
    let signer = LogSigner::generate(origin);
    super::write_private(&path, &signer.private_key()).map_err(|e| fail(e.to_string()))?;
    Ok(signer.verifier_key())
}

/// Hands the log over to the next key if one waits, or finishes a hand-over
/// that a crash interrupted; the signed log to serve with.
pub fn hand_over_if_asked(
    data_dir: &Path,
    storage: &dyn Storage,
    log: &mut LogState,
    signed: SignedLog,
) -> Result<SignedLog, StartError> {
    let origin = signed.signer().name().to_string();
    let current = signed.signer().verifier_key();
    let logged = log.handovers().last().map(|(_, key)| key.clone());
    let next = load_next(data_dir, &origin)?;
    let mismatch = |message: String| StartError::SigningKey {
        path: data_dir.join(super::SIGNING_KEY_FILE).display().to_string(),
        message,
    };
    let next = match (logged, next) {
        (Some(logged), Some(next)) if logged != current && logged == next.verifier_key() => {
            tracing::info!(key = %next.key_id(), "finishing an interrupted hand-over of the log's key");
            return finish(data_dir, storage, log, signed, next);
        }
        (Some(logged), _) if logged != current => {
            return Err(mismatch(format!(
                "the log's key was handed over to {logged}, but this data directory holds \
                 neither it as log-signing.key nor as {NEXT_KEY_FILE}"
            )))
        }
        (_, Some(next)) if next.verifier_key() != current => next,
        _ => return Ok(signed),
    };
    let time = log.next_time(super::now());
    let entry = handover_entry(signed.signer(), &next.verifier_key(), format_time(time));
    append_direct(storage, log, |_| Some(entry.clone()))?;
    tracing::info!(
        from = %signed.signer().key_id(),
        to = %next.key_id(),
        index = log.size() - 1,
        "handed the log's key over"
    );
    finish(data_dir, storage, log, signed, next)
}

/// Steps 1 (the old key's checkpoint), 2 and 3 of the hand-over, once the
/// log holds its entry.
fn finish(
    data_dir: &Path,
    storage: &dyn Storage,
    log: &LogState,
    signed: SignedLog,
    next: LogSigner,
) -> Result<SignedLog, StartError> {
    let corrupt = |e: super::signed::SignError| {
        StartError::from(super::startup::LogStartError::Storage(
            StorageError::Corrupt {
                what: e.to_string(),
            },
        ))
    };
    signed
        .sign(storage, log.size(), log.root())
        .map_err(corrupt)?;
    let signed = signed.hand_over(next).map_err(corrupt)?;
    let path = data_dir.join(super::SIGNING_KEY_FILE);
    std::fs::rename(next_key_path(data_dir), &path)
        .and_then(|()| std::fs::File::open(data_dir)?.sync_all())
        .map_err(|e| StartError::SigningKey {
            path: path.display().to_string(),
            message: format!("cannot install the next key: {e}"),
        })?;
    Ok(signed)
}
