//! zkgov circuits: everything that defines *what* a zkgov proof says.
//!
//! A department's registry is a Poseidon Merkle tree whose leaves commit to
//! typed records. A policy is a set of conditions over a record's fields.
//! This crate turns a schema and a policy into one R1CS circuit whose public
//! inputs are the [`Statement`](statement::Statement):
//! `registry_root, case_id, subject_tag, params…`.
//!
//! It does no I/O: callers hand it file contents and records.
//!
//! - [`field`]: canonical decimal encoding of BN254 scalars (never reduced mod r).
//! - [`encoding`]: how each schema field type becomes a field element.
//! - [`poseidon`]: circomlib-compatible Poseidon, native and as a gadget.
//! - [`tree`]: the registry tree (arity 2, 4, 8 or 16), native and path gadget.
//! - [`schema`] and [`policy`]: the TOML formats and the native evaluator.
//! - [`circuit`]: the statement circuit compiled from a policy.
#![deny(missing_docs, unsafe_code)]

pub mod circuit;
pub mod encoding;
pub mod field;
pub mod policy;
pub mod poseidon;
pub mod schema;
pub mod statement;
pub mod tree;

/// The BN254 scalar field, the field of every value in zkgov.
pub use ark_bn254::Fr;
