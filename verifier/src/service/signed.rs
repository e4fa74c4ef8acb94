//! The log's signing key and the last checkpoint it signed, kept together
//! in the data directory: the service never signs a tree that is not a
//! consistent extension of what it signed before.
//!
//! `log-signing.key` holds the Ed25519 key (mode 0600). `log-checkpoint`
//! holds the signed note of the last checkpoint, replaced atomically and
//! fsynced before any receipt under it is returned. At start-up the
//! database must hold at least that many entries, hashing to that root: a
//! database restored from an old backup, or a lagging replica, stops the
//! service instead of making it sign a fork.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use zkgov_log::checkpoint::{Checkpoint, CheckpointError, LogSigner, LogVerifier};
use zkgov_log::encode_hash;
use zkgov_log::tree::{self, Hash};

use super::StartError;
use crate::storage::{tree_error, Nodes, Storage, StorageError};

/// The file of the last signed checkpoint, in the data directory.
pub const CHECKPOINT_FILE: &str = "log-checkpoint";

/// The signer, and the last checkpoint it signed.
pub struct SignedLog {
    signer: LogSigner,
    path: PathBuf,
    last: Mutex<Option<(Checkpoint, String)>>,
}

/// Why a checkpoint was not signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// Signing would contradict the last checkpoint.
    #[error("refusing to sign a log of {size} entries with root {root}: it does not extend the last checkpoint signed, of {last_size} entries with root {last_root}")]
    Fork {
        /// The size asked for.
        size: u64,
        /// The root asked for, base64.
        root: String,
        /// The last size signed.
        last_size: u64,
        /// The last root signed, base64.
        last_root: String,
    },
    /// The store's tree does not have the root of the entries.
    #[error("the store's Merkle tree of {size} entries does not hash to the root of its entries")]
    TreeMismatch {
        /// The size.
        size: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The checkpoint file could not be written.
    #[error("cannot keep the signed checkpoint: {0}")]
    Io(String),
}

impl SignedLog {
    /// Loads (or, on first start, creates) the signing key in `data_dir`,
    /// and the last checkpoint signed, checking its signature.
    pub fn open(data_dir: &Path, origin: &str) -> Result<SignedLog, StartError> {
        let signer = super::load_or_create_signer(data_dir, origin)?;
        let path = data_dir.join(CHECKPOINT_FILE);
        let fail = |message: String| StartError::SigningKey {
            path: path.display().to_string(),
            message,
        };
        let last = match std::fs::read_to_string(&path) {
            Ok(note) => {
                // A hand-over interrupted after its checkpoint was signed by
                // the next key, before that key was installed.
                let next = super::rotation::load_next(data_dir, origin)?;
                let mut checkpoint = Err(CheckpointError::UnknownKey);
                for key in std::iter::once(&signer).chain(next.as_ref()) {
                    let verifier = LogVerifier::from_verifier_key(&key.verifier_key())
                        .map_err(|e: CheckpointError| fail(e.to_string()))?;
                    checkpoint = verifier.verify(&note, origin);
                    if checkpoint.is_ok() {
                        break;
                    }
                }
                let checkpoint = checkpoint.map_err(|e| {
                    fail(format!(
                        "the last signed checkpoint does not verify under the log's key: {e}"
                    ))
                })?;
                Some((checkpoint, note))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(fail(e.to_string())),
        };
        Ok(SignedLog {
            signer,
            path,
            last: Mutex::new(last),
        })
    }

    /// The same log signed by `next` from now on: the last checkpoint,
    /// signed by `next` too, is kept in place of the old key's.
    pub fn hand_over(self, next: LogSigner) -> Result<SignedLog, SignError> {
        let last = self.last.into_inner().unwrap_or_else(|p| p.into_inner());
        let last = match last {
            Some((checkpoint, _)) => {
                let note = next.sign(&checkpoint);
                zkgov_keys::files::write_atomically(&self.path, note.as_bytes())
                    .map_err(|e| SignError::Io(e.to_string()))?;
                Some((checkpoint, note))
            }
            None => None,
        };
        Ok(SignedLog {
            signer: next,
            path: self.path,
            last: Mutex::new(last),
        })
    }

    /// The signer.
    pub fn signer(&self) -> &LogSigner {
        &self.signer
    }

    /// The last checkpoint signed.
    pub fn last(&self) -> Option<Checkpoint> {
        self.lock().as_ref().map(|(c, _)| c.clone())
    }

    /// The signed note of the last checkpoint.
    pub fn note(&self) -> Option<String> {
        self.lock().as_ref().map(|(_, n)| n.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Checkpoint, String)>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signs the log of `size` entries whose entries hash to `root` (the
    /// rules' state computes it), after checking that the store's tree, from
    /// which inclusion and consistency proofs are served, has that root and
    /// still has the last signed root at the last signed size. Keeps the new
    /// checkpoint, fsynced, before returning its note.
    pub fn sign(
        &self,
        storage: &dyn Storage,
        size: u64,
        root: Hash,
    ) -> Result<(String, u64), SignError> {
        let mut last = self.lock();
        if let Some((checkpoint, note)) = last.as_ref() {
            if checkpoint.size == size && checkpoint.root == root {
                return Ok((note.clone(), size));
            }
            let earlier = if checkpoint.size <= size {
                tree::root(checkpoint.size, &Nodes(storage)).ok()
            } else {
                None
            };
            if earlier != Some(checkpoint.root) {
                return Err(SignError::Fork {
                    size,
                    root: encode_hash(&root),
                    last_size: checkpoint.size,
                    last_root: encode_hash(&checkpoint.root),
                });
            }
        }
        let stored =
            tree::root(size, &Nodes(storage)).map_err(|e| SignError::Storage(tree_error(e)))?;
        if stored != root {
            return Err(SignError::TreeMismatch { size });
        }
        let checkpoint = Checkpoint {
            origin: self.signer.name().to_string(),
            size,
            root,
            extensions: Vec::new(),
        };
        let note = self.signer.sign(&checkpoint);
        zkgov_keys::files::write_atomically(&self.path, note.as_bytes())
            .map_err(|e| SignError::Io(e.to_string()))?;
        *last = Some((checkpoint, note.clone()));
        Ok((note, size))
    }
}
