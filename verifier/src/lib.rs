//! The zkgov verifier: it checks Groth16 proofs that a department's
//! registry satisfies a policy, anchors every accepted result in an
//! append-only, tamper-evident log, and answers the departments that
//! compare those results.
//!
//! - [`verify`]: single and random-linear-combination batch verification;
//! - [`log`]: the anchor log — RFC 6962 Merkle mathematics with no I/O,
//!   C2SP signed-note checkpoints, typed RFC 8785 entries, and receipts;
//! - [`storage`]: one storage trait, implemented for SQLite (embedded, the
//!   default) and PostgreSQL;
//! - [`service`]: the axum HTTP service behind `zkgov serve`;
//! - [`client`]: a blocking client of the service and the log audit behind
//!   `zkgov log verify`.
//!
//! A receipt can be checked offline with nothing but the log's public key:
//!
//! ```
//! use zkgov_verifier::log::checkpoint::{Checkpoint, LogSigner, LogVerifier};
//! use zkgov_verifier::log::tree::{inclusion_proof, leaf_hash, verify_inclusion, MemoryTree};
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

pub mod client;
pub mod log;
pub mod service;
pub mod storage;
pub mod verify;
