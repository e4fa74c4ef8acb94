//! The anchor log: an append-only RFC 6962 Merkle tree of canonical JSON
//! entries, with C2SP signed-note checkpoints.
//!
//! - [`tree`]: the Merkle mathematics, with no I/O;
//! - [`checkpoint`]: signing and verifying checkpoints;
//! - [`entry`]: the typed entries;
//! - [`receipt`]: receipts and their client-side verification.
//!
//! Hashes travel as standard base64, as in checkpoints.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

pub mod checkpoint;
pub mod entry;
pub mod receipt;
pub mod tree;

/// A hash as standard base64.
pub fn encode_hash(hash: &tree::Hash) -> String {
    STANDARD.encode(hash)
}

/// Parses standard base64 of exactly 32 bytes.
pub fn decode_hash(text: &str) -> Option<tree::Hash> {
    STANDARD.decode(text).ok()?.try_into().ok()
}
