//! The witness's side of C2SP `tlog-witness`, with no I/O: the
//! `add-checkpoint` request body and the witness's decision on it.
//!
//! A request body is an old size line, the consistency proof lines and a
//! blank line, then the signed checkpoint:
//!
//! ```text
//! old 4
//! <base64 hash>
//! …
//!
//! zkgov.example/log
//! 6
//! <base64 root>
//!
//! — zkgov.example/log <signature>
//! ```
//!
//! The witness keeps, for each log it witnesses, the size and root of the
//! last checkpoint it cosigned. [`decide`] is a pure function of what it
//! is configured with, that state and the request; the server stores the
//! new state atomically (compare-and-swap on the old size) before it
//! answers with a cosignature. Specification: <https://c2sp.org/tlog-witness>.

use std::collections::BTreeMap;

use crate::checkpoint::{parse_note, parse_size, Checkpoint, CheckpointError, LogVerifier};
use crate::tree::{verify_consistency, Hash};
use crate::{decode_hash, encode_hash};

/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// The content type of a 409 answer's body, the witness's size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness holds.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint.
    pub note: String,
}

/// What the witness last cosigned for one log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WitnessedState {
    /// The checkpoint's size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

/// Why the witness refuses a request, with the status the spec gives.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WitnessRefusal {
    /// The body is not a well-formed request (400).
    #[error("malformed add-checkpoint request: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint's origin is not a log this witness witnesses (404).
    #[error("this witness does not witness log `{origin}`")]
    UnknownOrigin {
        /// The origin.
        origin: String,
    },
    /// No signature of the log's key verifies (403).
    #[error("the checkpoint has no valid signature by the key of log `{origin}`")]
    Untrusted {
        /// The origin.
        origin: String,
    },
    /// The old size exceeds the checkpoint's size (400).
    #[error("old size {old} exceeds the checkpoint's size {new}")]
    OldAfterNew {
        /// The old size.
        old: u64,
        /// The checkpoint's size.
        new: u64,
    },
    /// The old size is not the size the witness holds (409, with that size).
    #[error("the witness holds a checkpoint of size {size}, not {old}")]
    Conflict {
        /// The size the witness holds.
        size: u64,
        /// The old size of the request.
        old: u64,
    },
    /// A checkpoint of the size the witness holds, with another root (409):
    /// evidence of a split view.
    #[error("the witness holds another root at size {size}: the log forked")]
    Fork {
        /// The size.
        size: u64,
    },
    /// The consistency proof does not verify (422).
    #[error("the consistency proof from size {old} to {new} does not verify")]
    BadProof {
        /// The old size.
        old: u64,
        /// The checkpoint's size.
        new: u64,
    },
}

impl WitnessRefusal {
    /// The HTTP status the spec gives this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WitnessRefusal::Malformed { .. } | WitnessRefusal::OldAfterNew { .. } => 400,
            WitnessRefusal::Untrusted { .. } => 403,
            WitnessRefusal::UnknownOrigin { .. } => 404,
            WitnessRefusal::Conflict { .. } | WitnessRefusal::Fork { .. } => 409,
            WitnessRefusal::BadProof { .. } => 422,
        }
    }
}

fn malformed(reason: impl Into<String>) -> WitnessRefusal {
    WitnessRefusal::Malformed {
        reason: reason.into(),
    }
}

impl AddCheckpoint {
    /// The request body.
    pub fn body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&encode_hash(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.note);
        body
    }

    /// Parses a request body. The note is kept as it is: [`decide`] checks
    /// it.
    pub fn parse(body: &str) -> Result<AddCheckpoint, WitnessRefusal> {
        let (head, note) = body
            .split_once("\n\n")
            .ok_or_else(|| malformed("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old_size = lines
            .next()
            .and_then(|line| line.strip_prefix("old "))
            .and_then(|size| parse_size(size).ok())
            .ok_or_else(|| malformed("the first line is not `old <size>` in decimal"))?;
        let proof = lines
            .enumerate()
            .map(|(i, line)| {
                decode_hash(line).ok_or_else(|| {
                    malformed(format!(
                        "proof line {} is not base64 of a 32-byte hash",
                        i + 1
                    ))
                })
            })
            .collect::<Result<Vec<Hash>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(malformed(format!(
                "more than {MAX_PROOF_LINES} consistency proof lines"
            )));
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            note: note.to_string(),
        })
    }
}

/// The checkpoint in a signed note, read before its signatures are
/// checked: only to find which log's key must check them.
fn unverified_checkpoint(note: &str) -> Result<Checkpoint, CheckpointError> {
    let (body, _) = parse_note(note)?;
    Checkpoint::parse_body(body)
}

/// Decides a request: the checkpoint to cosign (and store as the new
/// state), or the refusal. `logs` maps each witnessed origin to its log's
/// key; `stored` is what the witness holds for the request's log (`None`
/// if it never cosigned one). Checks come in the spec's order: origin,
/// signature, old ≤ new, old = stored size, the proof, and at equal sizes
/// equal roots.
pub fn decide(
    logs: &BTreeMap<String, LogVerifier>,
    stored: impl FnOnce(&str) -> Option<WitnessedState>,
    request: &AddCheckpoint,
) -> Result<Checkpoint, WitnessRefusal> {
    let claimed = unverified_checkpoint(&request.note).map_err(|e| malformed(e.to_string()))?;
    let origin = claimed.origin;
    let log = logs
        .get(&origin)
        .ok_or_else(|| WitnessRefusal::UnknownOrigin {
            origin: origin.clone(),
        })?;
    let checkpoint = log.verify(&request.note, &origin).map_err(|e| match e {
        CheckpointError::UnknownKey | CheckpointError::BadSignature => WitnessRefusal::Untrusted {
            origin: origin.clone(),
        },
        other => malformed(other.to_string()),
    })?;
    if request.old_size > checkpoint.size {
        return Err(WitnessRefusal::OldAfterNew {
            old: request.old_size,
            new: checkpoint.size,
        });
    }
    let state = stored(&origin);
    let held = state.map_or(0, |s| s.size);
    if request.old_size != held {
        return Err(WitnessRefusal::Conflict {
            size: held,
            old: request.old_size,
        });
    }
    let Some(state) = state else {
        // Any log extends the empty one; the proof must then be empty.
        if !request.proof.is_empty() {
            return Err(WitnessRefusal::BadProof {
                old: 0,
                new: checkpoint.size,
            });
        }
        return Ok(checkpoint);
    };
    if state.size == checkpoint.size {
        if state.root != checkpoint.root {
            return Err(WitnessRefusal::Fork { size: state.size });
        }
        if !request.proof.is_empty() {
            return Err(WitnessRefusal::BadProof {
                old: state.size,
                new: checkpoint.size,
            });
        }
        return Ok(checkpoint);
    }
    verify_consistency(
        state.size,
        checkpoint.size,
        &state.root,
        &checkpoint.root,
        &request.proof,
    )
    .map_err(|_| WitnessRefusal::BadProof {
        old: state.size,
        new: checkpoint.size,
    })?;
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::LogSigner;
    use crate::tree::{consistency_proof, leaf_hash, MemoryTree};

    const ORIGIN: &str = "zkgov.example/log";

    struct Log {
        signer: LogSigner,
        tree: MemoryTree,
    }

    impl Log {
        fn new(size: u64, fork: &str) -> Log {
            let mut tree = MemoryTree::new();
            let leaves: Vec<_> = (0..size)
                .map(|i| leaf_hash(format!("{fork}{i}").as_bytes()))
                .collect();
            tree.append(&leaves);
            Log {
                signer: LogSigner::generate(ORIGIN),
                tree,
            }
        }

        fn note(&self, size: u64) -> String {
            self.signer.sign(&Checkpoint {
                origin: ORIGIN.into(),
                size,
                root: self.tree.root_at(size),
                extensions: vec![],
            })
        }

        fn state(&self, size: u64) -> WitnessedState {
            WitnessedState {
                size,
                root: self.tree.root_at(size),
            }
        }

        fn request(&self, old: u64, new: u64) -> AddCheckpoint {
            let proof = if old == 0 {
                vec![]
            } else {
                consistency_proof(old, new, &self.tree).unwrap()
            };
            AddCheckpoint {
                old_size: old,
                proof,
                note: self.note(new),
            }
        }

        fn logs(&self) -> BTreeMap<String, LogVerifier> {
            let verifier = LogVerifier::from_verifier_key(&self.signer.verifier_key()).unwrap();
            BTreeMap::from([(ORIGIN.to_string(), verifier)])
        }
    }

    #[test]
    fn the_specs_example_request_parses_and_formats_back() {
        let body = "old 20852014\n\
            PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
            jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
            5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
            /6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
            \n\
            example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
            \n\
            \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let request = AddCheckpoint::parse(body).unwrap();
        assert_eq!(request.old_size, 20852014);
        assert_eq!(request.proof.len(), 4);
        assert!(request
            .note
            .starts_with("example.com/behind-the-sofa\n20852163\n"));
        assert_eq!(request.body(), body);
        let checkpoint = unverified_checkpoint(&request.note).unwrap();
        assert_eq!(checkpoint.size, 20852163);
    }

    #[test]
    fn malformed_requests_are_400_without_panicking() {
        let log = Log::new(4, "a");
        let note = log.note(4);
        for body in [
            String::new(),
            format!("old 01\n\n{note}"),
            format!("old -1\n\n{note}"),
            format!("new 1\n\n{note}"),
            format!("old 1\nnot base64\n\n{note}"),
            format!("old 1\n{}\n\n{note}", "AAAA"),
            format!("old 1{note}"),
            format!("old 1\n{}\n{note}", "=".repeat(3)),
            format!(
                "old 1\n{}\n{note}",
                (0..64)
                    .map(|_| encode_hash(&[0; 32]) + "\n")
                    .collect::<String>()
            ),
        ] {
            let refused = AddCheckpoint::parse(&body)
                .and_then(|request| decide(&log.logs(), |_| None, &request));
            assert_eq!(refused.map_err(|e| e.status()), Err(400), "{body:?}");
        }
    }

    #[test]
    fn a_first_checkpoint_is_cosigned_from_zero() {
        let log = Log::new(5, "a");
        let checkpoint = decide(&log.logs(), |_| None, &log.request(0, 5)).unwrap();
        assert_eq!(checkpoint.size, 5);
        assert_eq!(checkpoint.root, log.tree.root_at(5));
    }

    #[test]
    fn a_consistent_extension_is_cosigned() {
        let log = Log::new(9, "a");
        for old in 1..9 {
            let state = log.state(old);
            let decided = decide(&log.logs(), |_| Some(state), &log.request(old, 9));
            assert_eq!(decided.map(|c| c.size), Ok(9), "from {old}");
        }
    }

    #[test]
    fn the_same_checkpoint_again_is_cosigned_again() {
        let log = Log::new(4, "a");
        let state = log.state(4);
        assert!(decide(&log.logs(), |_| Some(state), &log.request(4, 4)).is_ok());
    }

    #[test]
    fn an_unknown_origin_is_404() {
        let log = Log::new(4, "a");
        let other = LogSigner::generate("other.example/log");
        let note = other.sign(&Checkpoint {
            origin: "other.example/log".into(),
            size: 4,
            root: [0; 32],
            extensions: vec![],
        });
        let request = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            note,
        };
        assert_eq!(
            decide(&log.logs(), |_| None, &request),
            Err(WitnessRefusal::UnknownOrigin {
                origin: "other.example/log".into()
            })
        );
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_403() {
        let log = Log::new(4, "a");
        let impostor = Log::new(4, "a");
        let refused = decide(&log.logs(), |_| None, &impostor.request(0, 4)).unwrap_err();
        assert_eq!(refused.status(), 403);
        assert!(matches!(refused, WitnessRefusal::Untrusted { .. }));
    }

    #[test]
    fn old_after_new_is_400() {
        let log = Log::new(4, "a");
        let mut request = log.request(0, 3);
        request.old_size = 4;
        assert_eq!(
            decide(&log.logs(), |_| Some(log.state(4)), &request),
            Err(WitnessRefusal::OldAfterNew { old: 4, new: 3 })
        );
    }

    #[test]
    fn an_old_size_other_than_the_stored_one_is_409_with_that_size() {
        let log = Log::new(8, "a");
        let state = log.state(5);
        let refused = decide(&log.logs(), |_| Some(state), &log.request(3, 8));
        assert_eq!(refused, Err(WitnessRefusal::Conflict { size: 5, old: 3 }));
        assert_eq!(refused.unwrap_err().status(), 409);
        // A witness that holds nothing holds size 0.
        assert_eq!(
            decide(&log.logs(), |_| None, &log.request(3, 8)),
            Err(WitnessRefusal::Conflict { size: 0, old: 3 })
        );
        // A replayed, older request after the witness moved on.
        let state = log.state(8);
        assert_eq!(
            decide(&log.logs(), |_| Some(state), &log.request(3, 5)),
            Err(WitnessRefusal::Conflict { size: 8, old: 3 })
        );
    }

    #[test]
    fn a_bad_consistency_proof_is_422() {
        let log = Log::new(8, "a");
        let state = log.state(5);
        let mut request = log.request(5, 8);
        request.proof[0][0] ^= 1;
        assert_eq!(
            decide(&log.logs(), |_| Some(state), &request),
            Err(WitnessRefusal::BadProof { old: 5, new: 8 })
        );
        // A proof where none is due.
        let mut request = log.request(0, 8);
        request.proof.push([0; 32]);
        assert_eq!(
            decide(&log.logs(), |_| None, &request).map_err(|e| e.status()),
            Err(422)
        );
    }

    #[test]
    fn a_fork_is_refused_at_the_same_size_and_beyond() {
        let honest = Log::new(8, "a");
        let mut forked = Log::new(8, "b");
        forked.signer = LogSigner::from_private_key(&honest.signer.private_key()).unwrap();
        let logs = honest.logs();
        // The same size, another root.
        assert_eq!(
            decide(&logs, |_| Some(honest.state(5)), &forked.request(5, 5)),
            Err(WitnessRefusal::Fork { size: 5 })
        );
        // A larger size whose proof is from the fork's own tree.
        let request = forked.request(5, 8);
        assert_eq!(
            decide(&logs, |_| Some(honest.state(5)), &request),
            Err(WitnessRefusal::BadProof { old: 5, new: 8 })
        );
    }
}
