//! Receipts: what the service returns once an entry is durably in the log,
//! and their verification on the client side.
//!
//! A receipt carries the entry's exact bytes, its index, a signed
//! checkpoint that covers it and the inclusion proof against that
//! checkpoint, so a holder can check it offline with nothing but the log's
//! verifier key.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointError, LogVerifier};
use crate::entry::{Entry, EntryError};
use crate::tree::{leaf_hash, verify_inclusion, ProofError};
use crate::{decode_hash, encode_hash};

/// Proof that an entry is in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The entry's index in the log.
    pub index: u64,
    /// The entry, canonical JSON text.
    #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::EntryText))]
    pub entry: String,
    /// The entry's leaf hash, base64.
    #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Base64Hash))]
    pub leaf_hash: String,
    /// A signed checkpoint of a log that contains the entry.
    #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::SignedNote))]
    pub checkpoint: String,
    /// The inclusion proof against that checkpoint, base64 hashes.
    #[cfg_attr(feature = "utoipa", schema(value_type = Vec<crate::openapi::Base64Hash>))]
    pub inclusion_proof: Vec<String>,
}

/// Why a receipt does not check out.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The entry is not a canonical log entry.
    #[error("receipt entry: {0}")]
    Entry(#[from] EntryError),
    /// The leaf hash is not the hash of the entry.
    #[error("the receipt's leaf hash is not the hash of its entry")]
    LeafHashMismatch,
    /// A hash is not base64 of 32 bytes.
    #[error("receipt field `{field}` is not a base64 SHA-256 hash")]
    MalformedHash {
        /// The field.
        field: String,
    },
    /// The checkpoint is not signed by the log's key.
    #[error("receipt checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint is signed by a key of the log outside its span.
    #[error("receipt checkpoint: {0}")]
    Handover(crate::handover::HandoverError),
    /// The inclusion proof fails.
    #[error("receipt inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
}

impl Receipt {
    /// Checks the receipt: the entry is canonical, the leaf hash is its
    /// hash, the checkpoint is signed by `verifier` for `origin`, and the
    /// inclusion proof leads to the checkpoint's root. Returns the entry and
    /// the checkpoint.
    pub fn verify(
        &self,
        verifier: &LogVerifier,
        origin: &str,
    ) -> Result<(Entry, Checkpoint), ReceiptError> {
        let entry = Entry::from_bytes(self.entry.as_bytes())?;
        let leaf = leaf_hash(self.entry.as_bytes());
        let claimed = decode_hash(&self.leaf_hash).ok_or_else(|| ReceiptError::MalformedHash {
            field: "leaf_hash".into(),
        })?;
        if claimed != leaf {
            return Err(ReceiptError::LeafHashMismatch);
        }
        let checkpoint = verifier.verify(&self.checkpoint, origin)?;
        let proof = self
            .inclusion_proof
            .iter()
            .enumerate()
            .map(|(i, h)| {
                decode_hash(h).ok_or_else(|| ReceiptError::MalformedHash {
                    field: format!("inclusion_proof[{i}]"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        verify_inclusion(&leaf, self.index, checkpoint.size, &proof, &checkpoint.root)?;
        Ok((entry, checkpoint))
    }

    /// The leaf hash of the entry, base64, as a receipt states it.
    pub fn leaf_hash_of(entry: &[u8]) -> String {
        encode_hash(&leaf_hash(entry))
    }
}
