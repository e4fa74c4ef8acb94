//! The proof line: one proof as `zkgov prove` writes it (with
//! `"status": "proven"`), as `zkgov submit` sends it and as the service's
//! `POST /v1/proofs` reads it.
//!
//! ```json
//! {"case_id":"CASE-1","key_id":"…","registry_root":"…",
//!  "public_inputs":["…",…],"proof":{snarkjs proof}}
//! ```
//!
//! Every field is as the line carries it: the service validates the key,
//! the public inputs and the proof when it judges the line, and a line
//! that does not parse here is refused before anything is sent.

use ark_bn254::Bn254;
use ark_groth16::Proof;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::statement::Statement;
use zkgov_keys::snarkjs;

/// One proof of one statement, with what the service needs to judge it:
/// exactly a `proven` line of `zkgov prove`'s output. Other fields (such as
/// `status`) are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProofLine {
    /// The case number, 1 to 128 bytes without control characters; public
    /// input 1 must be its `text` encoding.
    pub case_id: String,
    /// The registered key the proof was made with.
    #[schema(value_type = zkgov_log::openapi::KeyId)]
    pub key_id: String,
    /// The registry root proved against, in decimal: public input 0,
    /// repeated for readers of the line. The service reads the root from
    /// the public inputs and ignores this copy, which a submission may
    /// leave out.
    #[serde(default)]
    pub registry_root: String,
    /// The public inputs in the key's order: `registry_root`, `case_id`,
    /// `subject_tag`, then the policy's params (`KeySummary.public_inputs`
    /// names them). Each is a canonical decimal field element below r; the
    /// count must equal the key's.
    #[schema(value_type = Vec<zkgov_log::openapi::FieldElement>, min_items = 3)]
    pub public_inputs: Vec<String>,
    /// The proof, in snarkjs's JSON.
    #[schema(value_type = zkgov_log::openapi::SnarkjsProof)]
    pub proof: Value,
}

impl ProofLine {
    /// The line of `proof` of `statement`, for case `case_id` under key
    /// `key_id`.
    pub fn new(key_id: &str, case_id: &str, statement: &Statement, proof: &Proof<Bn254>) -> Self {
        ProofLine {
            case_id: case_id.to_string(),
            key_id: key_id.to_string(),
            registry_root: to_decimal(&statement.registry_root),
            public_inputs: statement.public_inputs().iter().map(to_decimal).collect(),
            proof: snarkjs::proof_to_json(proof),
        }
    }
}
