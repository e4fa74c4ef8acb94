//! Department registries and the batch proving engine of zkgov.
//!
//! - [`registry`]: a department's registry: records validated against its
//!   schema, salted, committed in a registry tree, stored atomically.
//! - [`engine`]: the proving engine: R1CS matrices synthesized once per key,
//!   witness-only synthesis per proof, proofs in parallel across a batch.
#![deny(missing_docs, unsafe_code)]

pub mod engine;
pub mod registry;
