//! Helpers shared by the verifier's integration tests.
#![allow(dead_code)]

pub mod apt;
pub mod browser;
pub mod postgres;
pub mod sqlite_vfs;
