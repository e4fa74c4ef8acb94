//! Department signatures on log entries: what makes a registry root, a
//! decision or a refused evidence request the department's word rather
//! than the operator's.
//!
//! A department's key is an Ed25519 key in the form checkpoints use (see
//! [`crate::checkpoint`]), named after the department:
//! `health+1a2b3c4d+AQ…` for the verifier key that governance lists.
//!
//! A signature covers the message
//!
//! ```text
//! zkgov-signed-entry/v1
//! <the log's origin>
//! <signed_at, RFC 3339 UTC>
//! <the entry's canonical JSON without `time`, `signature`, `licence` and `endorsements`>
//! ```
//!
//! each line ending in a newline. A governance entry's JSON also gets
//! `"replaces": <the log index of the governance it replaces>` (none for the
//! first), so an endorsement of one change cannot be replayed for another.
//! The time an entry is logged, and the licence an approval issues, are the
//! log's to set and the rules' to check; they are left out.
//!
//! ```
//! use zkgov_log::entry::Entry;
//! use zkgov_log::signature::{DepartmentKey, DepartmentSigner};
//!
//! let signer = DepartmentSigner::generate("land-registry");
//! let mut entry = Entry::Root {
//!     department: "land-registry".into(),
//!     registry: "real-estate".into(),
//!     root: "42".into(),
//!     time: "2026-11-24T10:00:05Z".into(),
//!     signature: None,
//! };
//! let signature = signer.sign(&entry, "zkgov.example/log", None, 1_795_428_000);
//! let key = DepartmentKey::from_verifier_key(&signer.verifier_key()).unwrap();
//! assert!(key.verify(&entry, "zkgov.example/log", None, &signature).is_ok());
//! assert!(key.verify(&entry, "other.example/log", None, &signature).is_err());
//! if let Entry::Root { root, .. } = &mut entry {
//!     *root = "43".into();
//! }
//! assert!(key.verify(&entry, "zkgov.example/log", None, &signature).is_err());
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::canonical_json;
use crate::checkpoint::{CheckpointError, LogSigner, LogVerifier};
use crate::entry::{format_time, Entry};

/// The first line of every signed message.
pub const SIGNED_ENTRY_CONTEXT: &str = "zkgov-signed-entry/v1";

/// How long before it is logged a root, a decision or a refusal may have
/// been signed, in seconds: the operator cannot hold a signed root back
/// and anchor it again later to make an old registry state fresh.
pub const MAX_SIGNATURE_AGE_SECONDS: i64 = 300;

/// How far a signature's time may run ahead of the log's clock, in seconds.
pub const MAX_SIGNATURE_SKEW_SECONDS: i64 = 60;

/// A department's signature on an entry, as the entry carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntrySignature {
    /// The signing key's id, 8 lowercase hex digits as in its verifier key.
    #[cfg_attr(feature = "utoipa", schema(pattern = "^[0-9a-f]{8}$"))]
    pub key_id: String,
    /// When it was signed, RFC 3339 UTC to the second.
    #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Time))]
    pub signed_at: String,
    /// The Ed25519 signature of the signed message, standard base64.
    #[cfg_attr(feature = "utoipa", schema(content_encoding = "base64"))]
    pub signature: String,
}

/// A department's signature on a governance entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Endorsement {
    /// The department.
    pub department: String,
    /// Its signature, by the key governance lists for it before the entry.
    pub signature: EntrySignature,
}

/// Why a signature does not check out.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature is by another key.
    #[error("signed by key {found}, not by the department's key {expected}")]
    OtherKey {
        /// The key id governance lists.
        expected: String,
        /// The key id of the signature.
        found: String,
    },
    /// The signature's time is not RFC 3339 UTC to the second.
    #[error("signed_at `{0}` is not RFC 3339 UTC to the second")]
    MalformedTime(String),
    /// The signature does not verify over this entry.
    #[error("the signature does not verify over this entry")]
    Invalid,
}

/// The message a department signs for `entry` in the log `origin`.
/// `replaces` is, for a governance entry, the index of the governance it
/// replaces; it is ignored for other entries.
pub fn signed_message(
    entry: &Entry,
    origin: &str,
    signed_at: &str,
    replaces: Option<u64>,
) -> Vec<u8> {
    let mut body = serde_json::to_value(entry).expect("entries serialize to JSON");
    let object = body.as_object_mut().expect("an entry is a JSON object");
    for field in ["time", "signature", "licence", "endorsements"] {
        object.remove(field);
    }
    if let (Entry::Governance { .. }, Some(index)) = (entry, replaces) {
        object.insert("replaces".into(), index.into());
    }
    format!(
        "{SIGNED_ENTRY_CONTEXT}\n{origin}\n{signed_at}\n{}\n",
        canonical_json(&body)
    )
    .into_bytes()
}

/// A department's signing key. Its `Debug` shows the name and key id only.
#[derive(Debug)]
pub struct DepartmentSigner(LogSigner);

impl DepartmentSigner {
    /// A new key for the department `name`.
    ///
    /// # Panics
    ///
    /// If `name` cannot name a key (see
    /// [`crate::checkpoint::is_valid_key_name`]); department names can.
    pub fn generate(name: &str) -> DepartmentSigner {
        DepartmentSigner(LogSigner::generate(name))
    }

    /// Reads a `PRIVATE+KEY+…` string, as [`Self::private_key`] writes it.
    pub fn from_private_key(text: &str) -> Result<DepartmentSigner, CheckpointError> {
        LogSigner::from_private_key(text).map(DepartmentSigner)
    }

    /// The private key string; keep it secret.
    pub fn private_key(&self) -> String {
        self.0.private_key()
    }

    /// The verifier key string that governance lists.
    pub fn verifier_key(&self) -> String {
        self.0.verifier_key()
    }

    /// The department, which is the key's name.
    pub fn department(&self) -> &str {
        self.0.name()
    }

    /// Signs `entry` for the log `origin` at `unix_seconds`.
    pub fn sign(
        &self,
        entry: &Entry,
        origin: &str,
        replaces: Option<u64>,
        unix_seconds: i64,
    ) -> EntrySignature {
        let signed_at = format_time(unix_seconds);
        let message = signed_message(entry, origin, &signed_at, replaces);
        EntrySignature {
            key_id: self.0.key_id(),
            signed_at,
            signature: STANDARD.encode(self.0.sign_message(&message)),
        }
    }
}

/// A department's public key, as governance lists it.
#[derive(Clone, Debug)]
pub struct DepartmentKey(LogVerifier);

impl DepartmentKey {
    /// Reads a verifier key string `<department>+<key id>+<base64 key>`.
    pub fn from_verifier_key(text: &str) -> Result<DepartmentKey, CheckpointError> {
        LogVerifier::from_verifier_key(text).map(DepartmentKey)
    }

    /// The department the key is named after.
    pub fn department(&self) -> &str {
        self.0.name()
    }

    /// The key id, 8 lowercase hex digits.
    pub fn key_id(&self) -> String {
        self.0.key_id()
    }

    /// Checks `signature` over `entry` in the log `origin`; the time window
    /// is the rules' to check.
    pub fn verify(
        &self,
        entry: &Entry,
        origin: &str,
        replaces: Option<u64>,
        signature: &EntrySignature,
    ) -> Result<(), SignatureError> {
        if signature.key_id != self.key_id() {
            return Err(SignatureError::OtherKey {
                expected: self.key_id(),
                found: signature.key_id.clone(),
            });
        }
        if crate::entry::parse_time(&signature.signed_at).is_none() {
            return Err(SignatureError::MalformedTime(signature.signed_at.clone()));
        }
        let message = signed_message(entry, origin, &signature.signed_at, replaces);
        let bytes = STANDARD
            .decode(&signature.signature)
            .map_err(|_| SignatureError::Invalid)?;
        if self.0.verifies_message(&message, &bytes) {
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }
}
