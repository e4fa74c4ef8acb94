//! `zkgov log verify` and its `--full` monitor over C2SP `tlog-tiles`: the
//! same verdicts as [`client::audit`](crate::client::audit) and
//! [`client::monitor`](crate::client::monitor), but an auditor downloads
//! only the tiles and entry bundles that grew since its trusted
//! checkpoint (about 32 bytes of hashes per new entry, and the new
//! entries), instead of every entry of the log.
//!
//! Every tile is checked against the signed root before anything in it is
//! used (see [`zkgov_log::tiles`]); the consistency of the trusted
//! checkpoint is its root recomputed from those tiles. The trusted state
//! needs nothing but the checkpoint: the tiles that held its right edge
//! are fetched again at their new width.

use zkgov_log::checkpoint::{Checkpoint, LogVerifier};
use zkgov_log::handover::LogKeys;
use zkgov_log::receipt::Receipt;
use zkgov_log::rules::LogState;
use zkgov_log::tiles::{fetch_tiles, Tile, TileError, TileSource, VerifiedTiles};
use zkgov_log::tree::{verify_consistency, ProofError};

use crate::client::{
    current_checkpoint, replay_to, verify_receipt, Audit, AuditError, Client, ClientError,
    MonitorError, Monitored,
};

impl TileSource for Client {
    type Error = ClientError;

    fn fetch(&self, tile: &Tile) -> Result<Vec<u8>, ClientError> {
        self.get_bytes(&format!("/v1/log/{}", tile.path()))
    }
}

fn audit_error(error: TileError<ClientError>) -> AuditError {
    match error {
        TileError::Fetch { source, .. } => AuditError::Client(source),
        TileError::Inconsistent { old, new } => AuditError::Inconsistent {
            size: new,
            trusted: old,
            source: ProofError::RootMismatch,
        },
        other => AuditError::EntriesMismatch {
            detail: other.to_string(),
        },
    }
}

/// The current checkpoint, its signature verified, and the tiles that grew
/// since `trusted` (from entry `from` on, at most the trusted size), checked
/// against it; the trusted checkpoint must be a prefix of the log they hold.
pub fn current_tiles(
    client: &Client,
    verifier: &LogVerifier,
    origin: &str,
    trusted: Option<&Checkpoint>,
    from: u64,
) -> Result<(String, Checkpoint, VerifiedTiles, LogKeys), AuditError> {
    let (note, checkpoint, keys) = current_checkpoint(client, verifier, origin, None)?;
    if let Some(trusted) = trusted {
        if trusted.size > checkpoint.size {
            return Err(AuditError::Shrunk {
                size: checkpoint.size,
                trusted: trusted.size,
            });
        }
    }
    let tiles = fetch_tiles(
        client,
        from,
        trusted.map(|t| (t.size, &t.root)),
        checkpoint.size,
        &checkpoint.root,
    )
    .map_err(audit_error)?;
    Ok((note, checkpoint, tiles, keys))
}

/// Audits the log at `client` from tiles: the checkpoint's signature, its
/// consistency with `trusted`, and every receipt, which must verify and
/// whose checkpoint must be a prefix of the current one.
pub fn audit(
    client: &Client,
    verifier: &LogVerifier,
    origin: &str,
    trusted: Option<&Checkpoint>,
    receipts: &[Receipt],
) -> Result<Audit, AuditError> {
    let from = trusted.map_or(0, |t| t.size);
    let (note, checkpoint, tiles, keys) = current_tiles(client, verifier, origin, trusted, from)?;
    for receipt in receipts {
        let (_, signed) = verify_receipt(&keys, receipt, origin)?;
        check_prefix(client, &signed, &checkpoint, &tiles)?;
    }
    Ok(Audit {
        checkpoint,
        log_key: keys.current().clone(),
        note,
        entries: tiles.size(),
        receipts: receipts.len(),
    })
}

/// Checks that `signed` (a verified checkpoint of the same log) is a
/// prefix of `current`: from the tiles when they hold its right edge, else
/// by a consistency proof.
fn check_prefix(
    client: &Client,
    signed: &Checkpoint,
    current: &Checkpoint,
    tiles: &VerifiedTiles,
) -> Result<(), AuditError> {
    let inconsistent = |source| AuditError::Inconsistent {
        size: current.size,
        trusted: signed.size,
        source,
    };
    if signed.size > current.size {
        return Err(inconsistent(ProofError::RootMismatch));
    }
    match tiles.root_at(signed.size) {
        Some(root) if root == signed.root => Ok(()),
        Some(_) => Err(inconsistent(ProofError::RootMismatch)),
        None => {
            let proof = client.consistency(signed.size, current.size)?;
            verify_consistency(
                signed.size,
                current.size,
                &signed.root,
                &current.root,
                &proof,
            )
            .map_err(inconsistent)
        }
    }
}

/// Monitors the log at `client` from tiles: as
/// [`client::monitor`](crate::client::monitor), with the entries after
/// `state` taken from entry bundles checked against the signed tiles.
pub fn monitor(
    client: &Client,
    verifier: &LogVerifier,
    origin: &str,
    trusted: Option<&Checkpoint>,
    mut state: LogState,
    progress: impl FnMut(u64, u64),
) -> Result<Monitored, MonitorError> {
    let from = state.size();
    let (note, checkpoint, tiles, keys) = current_tiles(client, verifier, origin, trusted, from)?;
    let replayed = replay_to(
        &mut state,
        &checkpoint,
        |start, end| tiles.fetch_entries(client, start..end).map_err(audit_error),
        progress,
    )?;
    Ok(Monitored {
        checkpoint,
        log_key: keys.current().clone(),
        note,
        state,
        replayed,
    })
}
