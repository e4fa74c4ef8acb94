//! Shared by the CLI's integration tests.
#![allow(dead_code)]

/// The verifier's Debian package installer and throwaway PostgreSQL server,
/// shared rather than copied.
#[path = "../../../verifier/tests/support/apt.rs"]
pub mod apt;
#[path = "../../../verifier/tests/support/postgres.rs"]
pub mod postgres;
pub mod serve;
pub mod tamper;
pub mod witness;
