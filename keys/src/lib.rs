//! Per-policy Groth16 keys for zkgov.
//!
//! This crate will own Groth16 setup, key files, key ids and the snarkjs and
//! Solidity exports. It holds no code yet.
#![deny(missing_docs, unsafe_code)]
