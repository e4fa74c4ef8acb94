//! What an auditor trusts about a log between runs, kept in a directory of
//! its own: the log's key (trusted on first use), the last checkpoint it
//! verified, and, for a monitor, the replay state at that checkpoint.
//!
//! Each log has one state file, `ORIGIN.json` (the origin with every
//! character outside `[A-Za-z0-9._-]` replaced by `_`), and a monitor's
//! replay state beside it, `ORIGIN.replay.json`. Files are written
//! atomically (a temporary file, fsynced, renamed, then the directory
//! fsynced), so a crash leaves the old state or the new, never half of one.
//! A state file is verified again each time it is loaded: its checkpoint
//! must carry a valid signature of its key, and a replay state must be at
//! exactly that checkpoint.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zkgov_keys::files::{write_atomically, FileError};

use crate::checkpoint::{Checkpoint, LogVerifier};
use crate::rules::{LogState, Snapshot};

/// What `zkgov log verify` trusts about one log, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedLog {
    /// The log's origin, which is also its key's name.
    pub origin: String,
    /// The log's verifier key, trusted since the first run or reached
    /// from it by hand-overs.
    pub log_key: String,
    /// The keys the log handed over from, oldest first: given as
    /// `--log-key`, they stand for `log_key`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_keys: Vec<String>,
    /// The signed note of the last checkpoint verified.
    pub checkpoint: String,
    /// When that checkpoint was verified, RFC 3339 UTC.
    pub verified_at: String,
    /// The server it came from, for the reader; it is not trusted.
    pub server: String,
}

/// A stored state, verified again on loading.
pub struct Trusted {
    /// The state as stored.
    pub stored: TrustedLog,
    /// Its key.
    pub verifier: LogVerifier,
    /// Its checkpoint, signature checked.
    pub checkpoint: Checkpoint,
}

/// Why a stored state cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold a valid state.
    #[error("the trusted state {path} is damaged: {what}; it was left as it is (restore it from a backup, or move it away to trust the log anew)")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// The state file of the log `origin` in `dir`.
pub fn state_file(dir: &Path, origin: &str) -> PathBuf {
    let name: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{name}.json"))
}

/// The replay state file beside a state file.
pub fn replay_file(state_file: &Path) -> PathBuf {
    state_file.with_extension("replay.json")
}

/// Loads and re-verifies the stored state of `origin` at `path`, if any.
pub fn load(path: &Path, origin: &str) -> Result<Option<Trusted>, TrustError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TrustError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let damaged = |what: String| TrustError::Damaged {
        path: path.to_path_buf(),
        what,
    };
    let stored: TrustedLog =
        serde_json::from_str(&text).map_err(|e| damaged(format!("not a state file: {e}")))?;
    if stored.origin != origin {
        return Err(damaged(format!(
            "it is the state of log `{}`, not `{origin}`",
            stored.origin
        )));
    }
    let verifier = LogVerifier::from_verifier_key(&stored.log_key)
        .map_err(|e| damaged(format!("log_key: {e}")))?;
    let checkpoint = verifier
        .verify(&stored.checkpoint, origin)
        .map_err(|e| damaged(format!("checkpoint: {e}")))?;
    Ok(Some(Trusted {
        stored,
        verifier,
        checkpoint,
    }))
}

/// Loads the replay state beside `path`, if there is one at exactly
/// `checkpoint`; a replay state at any other size or root is ignored (the
/// monitor then replays from the start).
pub fn load_replay(path: &Path, checkpoint: &Checkpoint) -> Result<Option<LogState>, TrustError> {
    let file = replay_file(path);
    let text = match std::fs::read(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(TrustError::Io { path: file, source }),
    };
    let damaged = |what: String| TrustError::Damaged {
        path: file.clone(),
        what,
    };
    let snapshot: Snapshot =
        serde_json::from_slice(&text).map_err(|e| damaged(format!("not a replay state: {e}")))?;
    if snapshot.size() != checkpoint.size {
        return Ok(None);
    }
    let state = LogState::from_snapshot(snapshot).map_err(|e| damaged(e.to_string()))?;
    Ok((state.root() == checkpoint.root).then_some(state))
}

/// Writes `state` to `path` atomically.
pub fn store(path: &Path, state: &TrustedLog) -> Result<(), TrustError> {
    let text = serde_json::to_string_pretty(state).expect("a state serializes") + "\n";
    Ok(write_atomically(path, text.as_bytes())?)
}

/// Writes the replay state beside `path` atomically.
pub fn store_replay(path: &Path, state: &LogState) -> Result<(), TrustError> {
    let text = serde_json::to_vec(&state.to_snapshot()).expect("a snapshot serializes");
    Ok(write_atomically(&replay_file(path), &text)?)
}

impl From<FileError> for TrustError {
    fn from(error: FileError) -> TrustError {
        match error {
            FileError::Io { path, source } => TrustError::Io { path, source },
            FileError::AlreadyExists { path } => TrustError::Io {
                path,
                source: std::io::ErrorKind::AlreadyExists.into(),
            },
        }
    }
}
