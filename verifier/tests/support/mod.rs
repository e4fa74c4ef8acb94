//! Helpers shared by the verifier's integration tests.
#![allow(dead_code)]

pub mod postgres;
