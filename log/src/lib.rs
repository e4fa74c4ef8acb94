//! The zkgov anchor log, with no database, no HTTP and no server: what a
//! monitor, a witness or an auditor's tool needs to check a log on its own.
//!
//! The log is an append-only RFC 6962 Merkle tree of canonical JSON
//! entries, with C2SP signed-note checkpoints. It is the state of zkgov:
//! every acceptance rule is a function of the entries before, in
//! [`rules`], which the verifier service applies before it appends and
//! anyone can replay.
//!
//! - [`tree`]: the Merkle mathematics, with no I/O;
//! - [`checkpoint`]: signing and verifying checkpoints;
//! - [`cosignature`]: witness cosignatures of checkpoints (C2SP `tlog-cosignature`);
//! - [`entry`]: the typed entries;
//! - [`handover`]: rotation of the log's key, and following it from a trusted key;
//! - [`procedure`]: procedures, what an application requires and how it is decided;
//! - [`policy`]: a client's trust policy: log keys, witnesses and the quorum of cosignatures;
//! - [`receipt`]: receipts and their client-side verification;
//! - [`licence`]: licence documents, as holders keep them, verified offline;
//! - `openapi` (feature `utoipa`): schemas of the log's JSON for an OpenAPI document;
//! - [`verify`]: Groth16 verification, single and in random-linear-combination batches;
//! - [`rules`]: the acceptance rules, a pure state machine over entries;
//! - [`replay`]: replaying a log through the rules, with proofs checked in batches;
//! - [`signature`]: department signatures on entries;
//! - [`tiles`]: C2SP `tlog-tiles`: tile paths, entry bundles, and checking fetched tiles against a signed root;
//! - [`witness`]: the witness's `add-checkpoint` request and its decision (C2SP `tlog-witness`);
//! - [`trust`]: what an auditor keeps between runs (trusted key, checkpoint, replay state).
//!
//! Hashes travel as standard base64, as in checkpoints. Canonical JSON
//! (RFC 8785) is [`canonical_json`], which lives in `zkgov-keys` because key
//! ids and policy hashes need it too.
//!
//! A receipt can be checked offline with nothing but the log's public key:
//!
//! ```
//! use zkgov_log::checkpoint::{Checkpoint, LogSigner, LogVerifier};
//! use zkgov_log::tree::{inclusion_proof, leaf_hash, verify_inclusion, MemoryTree};
//!
//! let signer = LogSigner::generate("example.gov/log");
//! let mut log = MemoryTree::new();
//! let entries: Vec<_> = (0..5).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect();
//! log.append(&entries);
//! let note = signer.sign(&Checkpoint {
//!     origin: "example.gov/log".into(),
//!     size: 5,
//!     root: log.root_at(5),
//!     extensions: vec![],
//! });
//!
//! let verifier = LogVerifier::from_verifier_key(&signer.verifier_key()).unwrap();
//! let checkpoint = verifier.verify(&note, "example.gov/log").unwrap();
//! let proof = inclusion_proof(3, 5, &log).unwrap();
//! assert!(verify_inclusion(&entries[3], 3, checkpoint.size, &proof, &checkpoint.root).is_ok());
//! assert!(verify_inclusion(&entries[2], 3, checkpoint.size, &proof, &checkpoint.root).is_err());
//! ```
#![deny(missing_docs, unsafe_code)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

pub mod checkpoint;
pub mod cosignature;
pub mod entry;
pub mod handover;
pub mod json;
pub mod licence;
#[cfg(feature = "utoipa")]
pub mod openapi;
pub mod policy;
pub mod procedure;
pub mod receipt;
pub mod replay;
pub mod rules;
pub mod signature;
pub mod tiles;
pub mod tree;
pub mod trust;
pub mod verify;
pub mod witness;

pub use zkgov_keys::digest::canonical_json;

/// A hash as standard base64.
pub fn encode_hash(hash: &tree::Hash) -> String {
    STANDARD.encode(hash)
}

/// Parses standard base64 of exactly 32 bytes.
pub fn decode_hash(text: &str) -> Option<tree::Hash> {
    STANDARD.decode(text).ok()?.try_into().ok()
}
