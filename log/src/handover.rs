//! Rotation of the log's signing key: a `log_key` entry, signed by the old
//! key, hands checkpoint signing over to a new one, and clients follow the
//! chain of hand-overs from the key they trust.
//!
//! The old key signs the hand-over message
//!
//! ```text
//! zkgov-log-handover/v1
//! <previous verifier key>
//! <new verifier key>
//! ```
//!
//! (each line ending in a newline), and the signature goes into the entry,
//! standard base64. Both keys are named after the log's origin.
//!
//! A key signs checkpoints up to and including the one that first holds
//! the hand-over entry: a hand-over at index `h` ends the previous key's
//! span at size `h + 1` and starts the new key's there. A checkpoint of a
//! larger size under the old key is refused, so that a retired key, which
//! may have been lost, cannot sign a fork of the log's later history.
//!
//! ```
//! use zkgov_log::checkpoint::{Checkpoint, LogSigner, LogVerifier};
//! use zkgov_log::handover::{handover_entry, LogKeys};
//!
//! let old = LogSigner::generate("zkgov.example/log");
//! let new = LogSigner::generate("zkgov.example/log");
//! let entry = handover_entry(&old, &new.verifier_key(), "2026-12-02T10:00:00Z".into());
//! let trusted = LogVerifier::from_verifier_key(&old.verifier_key()).unwrap();
//! let mut keys = LogKeys::new(trusted);
//! keys.follow(7, &entry).unwrap();
//! let checkpoint = |size| Checkpoint {
//!     origin: "zkgov.example/log".into(),
//!     size,
//!     root: [1; 32],
//!     extensions: vec![],
//! };
//! assert!(keys.verify(&new.sign(&checkpoint(9)), "zkgov.example/log").is_ok());
//! assert!(keys.verify(&old.sign(&checkpoint(8)), "zkgov.example/log").is_ok());
//! assert!(keys.verify(&old.sign(&checkpoint(9)), "zkgov.example/log").is_err());
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::checkpoint::{Checkpoint, CheckpointError, LogSigner, LogVerifier};
use crate::entry::Entry;

/// The first line of the message a hand-over signs.
const CONTEXT: &str = "zkgov-log-handover/v1";

/// Why a hand-over, or a checkpoint under a chain of them, is refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandoverError {
    /// A key in the entry is malformed.
    #[error("the hand-over's {field} key is malformed: {source}")]
    MalformedKey {
        /// `previous` or `key`.
        field: &'static str,
        /// Why.
        source: CheckpointError,
    },
    /// A key is not named after the log.
    #[error("the hand-over's keys must be named `{origin}`, the log's origin; found `{found}`")]
    WrongName {
        /// The log's origin.
        origin: String,
        /// The name found.
        found: String,
    },
    /// The entry followed as a hand-over is of another type.
    #[error("entry {index} is a `{found}` entry, not a `log_key` hand-over")]
    NotAHandover {
        /// The entry's log index.
        index: u64,
        /// The entry's type.
        found: &'static str,
    },
    /// The new key is the previous one.
    #[error("the hand-over names the same key twice")]
    SameKey,
    /// The entry hands over from a key that is not the one in force.
    #[error("the hand-over is from key {found}, but the log's key is {expected}")]
    NotCurrent {
        /// The id of the key in force.
        expected: String,
        /// The id of the entry's previous key.
        found: String,
    },
    /// The previous key's signature does not verify.
    #[error("the hand-over is not signed by the previous key {key_id}")]
    BadSignature {
        /// The previous key's id.
        key_id: String,
    },
    /// A retired key signed a checkpoint past the end of its span.
    #[error("the checkpoint of {size} entries is signed by key {key_id}, which the log retired at size {until}")]
    Retired {
        /// The retired key's id.
        key_id: String,
        /// The checkpoint's size.
        size: u64,
        /// The last size the key may sign.
        until: u64,
    },
    /// The new key signed a checkpoint from before the hand-over.
    #[error("the checkpoint of {size} entries is signed by key {key_id}, which signs from size {from} on")]
    NotYetValid {
        /// The key's id.
        key_id: String,
        /// The checkpoint's size.
        size: u64,
        /// The first size the key may sign.
        from: u64,
    },
    /// The note carries no valid signature of any key in the chain.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// The message a hand-over from `previous` to `key` signs.
fn message(previous: &str, key: &str) -> String {
    format!("{CONTEXT}\n{previous}\n{key}\n")
}

/// The `log_key` entry by which `signer` hands the log over to the
/// verifier key `key`.
pub fn handover_entry(signer: &LogSigner, key: &str, time: String) -> Entry {
    let previous = signer.verifier_key();
    let signature = STANDARD.encode(signer.sign_message(message(&previous, key).as_bytes()));
    Entry::LogKey {
        previous,
        key: key.to_string(),
        signature,
        time,
    }
}

/// Checks a hand-over on its own: both keys well-formed and named
/// `origin` (where known), distinct, and the previous key's signature. The
/// new key's verifier on success.
pub fn check_handover(
    previous: &str,
    key: &str,
    signature: &str,
    origin: Option<&str>,
) -> Result<(LogVerifier, LogVerifier), HandoverError> {
    let parse = |field, text: &str| {
        LogVerifier::from_verifier_key(text)
            .map_err(|source| HandoverError::MalformedKey { field, source })
    };
    let old = parse("previous", previous)?;
    let new = parse("key", key)?;
    for (field, text, parsed) in [("previous", previous, &old), ("key", key, &new)] {
        if parsed.verifier_key() != text {
            return Err(HandoverError::MalformedKey {
                field,
                source: CheckpointError::MalformedKey {
                    reason: "not in canonical form",
                },
            });
        }
    }
    let origin = origin.unwrap_or(old.name());
    for name in [old.name(), new.name()] {
        if name != origin {
            return Err(HandoverError::WrongName {
                origin: origin.to_string(),
                found: name.to_string(),
            });
        }
    }
    if old.verifier_key() == new.verifier_key() {
        return Err(HandoverError::SameKey);
    }
    let signed = STANDARD
        .decode(signature)
        .is_ok_and(|bytes| old.verifies_message(message(previous, key).as_bytes(), &bytes));
    if !signed {
        return Err(HandoverError::BadSignature {
            key_id: old.key_id(),
        });
    }
    Ok((old, new))
}

/// One key of the chain and the checkpoint sizes it may sign.
#[derive(Clone, Debug)]
struct Span {
    verifier: LogVerifier,
    from: u64,
    until: Option<u64>,
}

/// The log's keys, from the one a client trusts through every hand-over it
/// has followed.
#[derive(Clone, Debug)]
pub struct LogKeys {
    spans: Vec<Span>,
}

impl LogKeys {
    /// The chain of one key, trusted for every size.
    pub fn new(trusted: LogVerifier) -> LogKeys {
        LogKeys {
            spans: vec![Span {
                verifier: trusted,
                from: 0,
                until: None,
            }],
        }
    }

    /// The key in force: the last one handed over to.
    pub fn current(&self) -> &LogVerifier {
        &self.spans.last().expect("a chain has a key").verifier
    }

    /// How many hand-overs were followed.
    pub fn handovers(&self) -> usize {
        self.spans.len() - 1
    }

    /// Follows the hand-over at log index `index`, which must be from the
    /// key in force.
    pub fn follow(&mut self, index: u64, entry: &Entry) -> Result<(), HandoverError> {
        let Entry::LogKey {
            previous,
            key,
            signature,
            ..
        } = entry
        else {
            return Err(HandoverError::NotAHandover {
                index,
                found: entry.kind(),
            });
        };
        let current = self.current();
        let (old, new) = check_handover(previous, key, signature, Some(current.name()))?;
        if old.verifier_key() != current.verifier_key() {
            return Err(HandoverError::NotCurrent {
                expected: current.key_id(),
                found: old.key_id(),
            });
        }
        let boundary = index + 1;
        self.spans.last_mut().expect("a chain has a key").until = Some(boundary);
        self.spans.push(Span {
            verifier: new,
            from: boundary,
            until: None,
        });
        Ok(())
    }

    /// Verifies a signed checkpoint under the chain: some key's signature,
    /// and a size within that key's span.
    pub fn verify(&self, note: &str, origin: &str) -> Result<Checkpoint, HandoverError> {
        self.find(note, origin).map(|(_, checkpoint)| checkpoint)
    }

    /// The key whose span holds checkpoints of `size` and that signed
    /// `note`, for formats that embed a checkpoint (receipts, licences).
    pub fn verifier_for(&self, note: &str, origin: &str) -> Result<&LogVerifier, HandoverError> {
        self.find(note, origin).map(|(verifier, _)| verifier)
    }

    /// The key of the chain that signed `note`, newest first, and the
    /// checkpoint, if its size lies within that key's span.
    fn find(&self, note: &str, origin: &str) -> Result<(&LogVerifier, Checkpoint), HandoverError> {
        let mut first_error = None;
        for span in self.spans.iter().rev() {
            match span.verifier.verify(note, origin) {
                Ok(checkpoint) => {
                    if checkpoint.size < span.from {
                        return Err(HandoverError::NotYetValid {
                            key_id: span.verifier.key_id(),
                            size: checkpoint.size,
                            from: span.from,
                        });
                    }
                    if let Some(until) = span.until.filter(|&until| checkpoint.size > until) {
                        return Err(HandoverError::Retired {
                            key_id: span.verifier.key_id(),
                            size: checkpoint.size,
                            until,
                        });
                    }
                    return Ok((&span.verifier, checkpoint));
                }
                Err(CheckpointError::UnknownKey) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(CheckpointError::UnknownKey).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "zkgov.example/log";

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: [size as u8; 32],
            extensions: vec![],
        }
    }

    fn chain(signers: &[&LogSigner], at: &[u64]) -> LogKeys {
        let mut keys =
            LogKeys::new(LogVerifier::from_verifier_key(&signers[0].verifier_key()).unwrap());
        for (pair, &index) in signers.windows(2).zip(at) {
            let entry = handover_entry(pair[0], &pair[1].verifier_key(), "t".into());
            keys.follow(index, &entry).unwrap();
        }
        keys
    }

    #[test]
    fn each_key_signs_only_its_span() {
        let (a, b, c) = (
            LogSigner::generate(ORIGIN),
            LogSigner::generate(ORIGIN),
            LogSigner::generate(ORIGIN),
        );
        let keys = chain(&[&a, &b, &c], &[4, 10]);
        assert_eq!(keys.handovers(), 2);
        assert_eq!(keys.current().verifier_key(), c.verifier_key());
        assert!(keys.verify(&a.sign(&checkpoint(5)), ORIGIN).is_ok());
        assert!(matches!(
            keys.verify(&a.sign(&checkpoint(6)), ORIGIN),
            Err(HandoverError::Retired { until: 5, .. })
        ));
        assert!(matches!(
            keys.verify(&b.sign(&checkpoint(4)), ORIGIN),
            Err(HandoverError::NotYetValid { from: 5, .. })
        ));
        assert!(keys.verify(&b.sign(&checkpoint(11)), ORIGIN).is_ok());
        assert!(keys.verify(&b.sign(&checkpoint(12)), ORIGIN).is_err());
        assert!(keys.verify(&c.sign(&checkpoint(12)), ORIGIN).is_ok());
        let stranger = LogSigner::generate(ORIGIN);
        assert!(matches!(
            keys.verify(&stranger.sign(&checkpoint(12)), ORIGIN),
            Err(HandoverError::Checkpoint(CheckpointError::UnknownKey))
        ));
        let note = b.sign(&checkpoint(8));
        assert_eq!(
            keys.verifier_for(&note, ORIGIN).unwrap().key_id(),
            b.key_id()
        );
    }

    #[test]
    fn a_handover_must_be_from_the_key_in_force_and_signed_by_it() {
        let (a, b, c) = (
            LogSigner::generate(ORIGIN),
            LogSigner::generate(ORIGIN),
            LogSigner::generate(ORIGIN),
        );
        let mut keys = LogKeys::new(LogVerifier::from_verifier_key(&a.verifier_key()).unwrap());
        // b hands over to c, but the client trusts a.
        let entry = handover_entry(&b, &c.verifier_key(), "t".into());
        assert!(matches!(
            keys.follow(3, &entry),
            Err(HandoverError::NotCurrent { .. })
        ));
        // An entry that claims to be from a, signed by b.
        let Entry::LogKey { key, signature, .. } = entry else {
            unreachable!()
        };
        let forged = Entry::LogKey {
            previous: a.verifier_key(),
            key,
            signature,
            time: "t".into(),
        };
        assert!(matches!(
            keys.follow(3, &forged),
            Err(HandoverError::BadSignature { .. })
        ));
        assert_eq!(keys.handovers(), 0);
        // A key of another name, and the same key twice.
        let other = LogSigner::generate("other.example/log");
        assert!(matches!(
            keys.follow(3, &handover_entry(&a, &other.verifier_key(), "t".into())),
            Err(HandoverError::WrongName { .. })
        ));
        assert_eq!(
            keys.follow(3, &handover_entry(&a, &a.verifier_key(), "t".into())),
            Err(HandoverError::SameKey)
        );
        // An entry of another type.
        let unmet = Entry::Unmet {
            case_id: "c".into(),
            evidence: "e".into(),
            department: "d".into(),
            reason: "revoked".into(),
            conditions: vec![],
            time: "t".into(),
            signature: None,
        };
        assert_eq!(
            keys.follow(3, &unmet),
            Err(HandoverError::NotAHandover {
                index: 3,
                found: "unmet"
            })
        );
        assert_eq!(keys.handovers(), 0);
    }
}
