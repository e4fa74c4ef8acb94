//! The zkgov verifier: it checks Groth16 proofs that a department's
//! registry satisfies a policy, anchors every accepted result in an
//! append-only, tamper-evident log, and answers the departments that
//! compare those results.
//!
//! The log itself (tree maths, checkpoints, entries, receipts and the
//! acceptance rules) is the `zkgov-log` crate, which has no I/O.
//!
//! - [`storage`]: one storage trait, implemented for SQLite (embedded, the
//!   default) and PostgreSQL;
//! - [`service`]: the axum HTTP service behind `zkgov serve`;
//! - [`client`]: a blocking client of the service and the log audit behind
//!   `zkgov log verify`;
//! - [`tiled`]: the same audit and monitor over C2SP tiles, downloading
//!   only what is new since the trusted checkpoint.
//! - [`witness`]: the C2SP witness server behind `zkgov witness serve`.
//! - [`proof_line`]: one proof as `zkgov prove` writes it and the service
//!   reads it.
//! - `test_utils` (feature `test-utils`): the test tokens and service
//!   configuration files that every crate's tests share.
//!
#![deny(missing_docs, unsafe_code)]

pub mod client;
pub mod proof_line;
pub mod service;
pub mod storage;
#[cfg(feature = "test-utils")]
pub mod test_utils;
pub mod tiled;
pub mod witness;
