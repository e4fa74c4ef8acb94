//! Department registries and the batch proving engine of zkgov.
//!
//! This crate will own registry build and update and the parallel prover.
//! It holds no code yet.
#![deny(missing_docs, unsafe_code)]
