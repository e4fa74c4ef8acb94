//! The zkgov verifier service: proof verification, the anchor log and its
//! storage.
//!
//! This crate holds no code yet.
#![deny(missing_docs, unsafe_code)]
