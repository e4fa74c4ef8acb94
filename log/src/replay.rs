//! Replaying a log through the rules: what the monitor does with a whole
//! log, and the service with the entries it has not signed itself.
//!
//! Runs of consecutive result entries have their proofs checked together,
//! with one random-linear-combination check per run (at most
//! [`BATCH`] proofs), and are then applied one by one with
//! [`LogState::apply_verified`]: the verdicts are those of
//! [`LogState::apply`], entry by entry, and the first violation is reported
//! with its index.

use crate::entry::{Entry, EntryError};
use crate::rules::{verify_proofs, LogState, ProofClaim, Refusal};
use crate::tree::leaf_hash;

/// Most proofs checked in one combined check.
pub const BATCH: usize = 256;

/// The first entry of a log that breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// The entry is not a canonical log entry.
    #[error("entry {index}: {error}")]
    Malformed {
        /// Its index.
        index: u64,
        /// Why.
        error: EntryError,
    },
    /// The rules refuse the entry.
    #[error("entry {index} breaks the rules: {refusal} ({})", refusal.reason())]
    Refused {
        /// Its index.
        index: u64,
        /// Why.
        refusal: Refusal,
    },
}

impl Violation {
    /// The index of the entry.
    pub fn index(&self) -> u64 {
        match self {
            Violation::Malformed { index, .. } | Violation::Refused { index, .. } => *index,
        }
    }
}

/// Applies `entries` (canonical bytes, the log's entries from
/// `state.size()` on, in order) to `state`, verifying every proof.
/// `progress` is told how many entries were applied after each step. On a
/// violation, `state` holds every entry before it.
pub fn replay<B: AsRef<[u8]> + Sync>(
    state: &mut LogState,
    entries: &[B],
    mut progress: impl FnMut(u64),
) -> Result<(), Violation> {
    let start = state.size();
    let parsed = parse_all(entries);
    let mut done = 0usize;
    while done < parsed.len() {
        let index = start + done as u64;
        let entry = match &parsed[done] {
            Ok(entry) => entry,
            Err(error) => {
                return Err(Violation::Malformed {
                    index,
                    error: error.clone(),
                })
            }
        };
        if !matches!(entry, Entry::Result { .. }) {
            state
                .apply(entry)
                .map_err(|refusal| Violation::Refused { index, refusal })?;
            done += 1;
            progress(1);
            continue;
        }
        // A run of results: nothing in it changes keys, roots or
        // governance, so each one's key and inputs can be found before any
        // of them is applied.
        let run_end = (done..parsed.len())
            .take(BATCH)
            .find(|&i| !matches!(parsed[i], Ok(Entry::Result { .. })))
            .unwrap_or_else(|| (done + BATCH).min(parsed.len()));
        let run: Vec<&Entry> = parsed[done..run_end]
            .iter()
            .map(|p| p.as_ref().expect("a run holds parsed results"))
            .collect();
        let claims: Vec<_> = {
            let state = &*state;
            #[cfg(feature = "parallel")]
            {
                use rayon::prelude::*;
                run.par_iter().map(|e| state.claim_inputs(e)).collect()
            }
            #[cfg(not(feature = "parallel"))]
            run.iter().map(|e| state.claim_inputs(e)).collect()
        };
        let checkable: Vec<usize> = (0..run.len()).filter(|&i| claims[i].is_ok()).collect();
        let proof_claims: Vec<ProofClaim> = checkable
            .iter()
            .map(|&i| {
                let (key, inputs) = claims[i].as_ref().expect("filtered");
                let Entry::Result { proof, .. } = run[i] else {
                    unreachable!("a run holds results")
                };
                ProofClaim {
                    key,
                    public_inputs: inputs,
                    proof,
                }
            })
            .collect();
        let mut verdicts: Vec<Option<_>> = vec![None; run.len()];
        for (&i, verdict) in checkable.iter().zip(verify_proofs(&proof_claims)) {
            verdicts[i] = Some(verdict);
        }
        for (i, entry) in run.iter().enumerate() {
            let index = start + (done + i) as u64;
            let refused = |refusal| Violation::Refused { index, refusal };
            match verdicts[i].take() {
                // Judged again in order, so a statement repeated within the
                // run is caught.
                Some(Ok(verified)) => state
                    .apply_verified_leaf(
                        entry,
                        &verified,
                        Some(leaf_hash(entries[done + i].as_ref())),
                    )
                    .map_err(refused)?,
                Some(Err(refusal)) => {
                    // The rules judge before the proof: report what `apply`
                    // would.
                    state.check(entry).map_err(refused)?;
                    return Err(refused(refusal));
                }
                // Refused before its proof was looked at.
                None => state.apply(entry).map_err(refused)?,
            };
        }
        progress(run.len() as u64);
        done = run_end;
    }
    Ok(())
}

/// Applies entries pinned by a checkpoint that the caller itself signed
/// after applying them (the service, at start-up): every rule but the
/// pairing checks, which were done when the entries were first accepted.
pub fn replay_pinned<B: AsRef<[u8]> + Sync>(
    state: &mut LogState,
    entries: &[B],
) -> Result<(), Violation> {
    let start = state.size();
    for (i, parsed) in parse_all(entries).into_iter().enumerate() {
        let index = start + i as u64;
        let entry = parsed.map_err(|error| Violation::Malformed { index, error })?;
        state
            .apply_pinned(&entry)
            .map_err(|refusal| Violation::Refused { index, refusal })?;
    }
    Ok(())
}

fn parse_all<B: AsRef<[u8]> + Sync>(entries: &[B]) -> Vec<Result<Entry, EntryError>> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        entries
            .par_iter()
            .map(|b| Entry::from_bytes(b.as_ref()))
            .collect()
    }
    #[cfg(not(feature = "parallel"))]
    entries
        .iter()
        .map(|b| Entry::from_bytes(b.as_ref()))
        .collect()
}
