//! The zkgov verifier service: proof verification, the anchor log and its
//! storage, and the HTTP API.
#![deny(missing_docs, unsafe_code)]

pub mod client;
pub mod log;
pub mod storage;
pub mod verify;
pub mod service;
