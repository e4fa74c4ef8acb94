//! Shared by the CLI's integration tests.
#![allow(dead_code)]

/// The verifier's Debian package installer and throwaway PostgreSQL server,
/// shared rather than copied.
#[path = "../../../verifier/tests/support/apt.rs"]
pub mod apt;
/// The pinned npm peers (snarkjs, circom), installed on first use.
#[path = "../../../keys/tests/support/mod.rs"]
pub mod node;
#[path = "../../../verifier/tests/support/postgres.rs"]
pub mod postgres;
pub mod serve;
pub mod tamper;
pub mod witness;
