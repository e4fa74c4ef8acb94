//! Per-policy Groth16 keys for zkgov.
//!
//! Each policy, over one registry tree shape, compiles to one circuit, and
//! each circuit gets its own Groth16 keys on BN254. This crate sets them up,
//! stores them in a verified key directory, and speaks snarkjs's JSON so
//! that zkgov proofs verify with `snarkjs groth16 verify` and snarkjs proofs
//! verify in zkgov. It also exports a Solidity verifier contract.
//!
//! ```no_run
//! use zkgov_circuits::{policy::Policy, schema::Schema, tree::TreeShape};
//! use zkgov_keys::store::{setup, KeyDir};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let schema_text = std::fs::read_to_string("schemas/real-estate.toml")?;
//! let policy_text = std::fs::read_to_string("policies/medical-premises.toml")?;
//! let schema = Schema::from_toml("real-estate.toml", &schema_text)?;
//! let policy = Policy::from_toml("medical-premises.toml", &policy_text, &schema)?;
//! let shape = TreeShape::new(4, 10)?;
//! let keys = setup(&schema, &policy, shape, &schema_text, &policy_text, &mut rand::rngs::OsRng)?;
//! keys.write("keys/medical-premises".as_ref())?;
//!
//! let dir = KeyDir::open("keys/medical-premises".as_ref())?;
//! dir.check_circuit(&schema, &policy, shape)?; // refuses a key set up for anything else
//! let proving_key = dir.proving_key()?;
//! # Ok(()) }
//! ```
//!
//! - [`store`]: setup, key directories, verified loading.
//! - [`digest`]: policy hash, circuit digest, key id.
//! - [`files`]: durable, atomic writes of files and directories, which
//!   every crate that writes goes through.
//! - [`snarkjs`]: the snarkjs proof, verifying key and public-signal JSON,
//!   parsed with full validation, and offline verification.
//! - [`solidity`]: the Solidity Groth16 verifier export.
//! - [`qap`]: circom's R1CS-to-QAP reduction, which zkgov keys use, so
//!   that they have the layout of a snarkjs `.zkey`.
//! - [`r1cs`]: the circuit's R1CS as an iden3 `.r1cs` file, for circom's
//!   and snarkjs's tools.
//! - [`ptau`]: snarkjs's powers of tau file, the parts a circuit's key is
//!   made from.
//! - [`zkey`]: snarkjs's `.zkey` proving key, read with validation, and
//!   its phase-2 contributions checked as `snarkjs zkey verify` does.
#![deny(missing_docs, unsafe_code)]

mod binfile;
pub mod digest;
pub mod files;
pub mod ptau;
pub mod qap;
pub mod r1cs;
pub mod snarkjs;
pub mod solidity;
pub mod store;
pub mod zkey;
