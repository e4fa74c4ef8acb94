//! Shared by the CLI's integration tests.
#![allow(dead_code)]

/// The verifier's throwaway PostgreSQL server, shared rather than copied.
#[path = "../../../verifier/tests/support/postgres.rs"]
pub mod postgres;
pub mod serve;
pub mod tamper;
