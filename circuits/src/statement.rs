//! The statement a proof is about: its public inputs, in the order of docs/formats.md, "Statement".

use crate::encoding::text_to_field;
use crate::{poseidon, Fr};

/// The public inputs that every statement starts with, before the policy's params.
pub const FIXED_INPUTS: [&str; 3] = ["registry_root", "case_id", "subject_tag"];

/// The subject tag `Poseidon([subject, case_secret])`: the same applicant in
/// the same case gives the same tag at every department, and tags from
/// different cases cannot be linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectTag(pub Fr);

impl SubjectTag {
    /// The tag of the encoded `subject` under `case_secret`.
    pub fn new(subject: Fr, case_secret: Fr) -> Self {
        Self(
            poseidon::hash(&[subject, case_secret])
                .expect("two inputs are within Poseidon's arity"),
        )
    }
}

/// The public side of a proof: `registry_root, case_id, subject_tag, params…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The root of the registry the record is in.
    pub registry_root: Fr,
    /// The case number, `text`-encoded.
    pub case_id: Fr,
    /// The applicant's tag for this case.
    pub subject_tag: SubjectTag,
    /// The policy's params, in the order the policy declares them.
    pub params: Vec<Fr>,
}

impl Statement {
    /// The case id of a case number: its `text` encoding.
    pub fn case_id(case_number: &str) -> Fr {
        text_to_field(case_number)
    }

    /// The public inputs in order.
    pub fn public_inputs(&self) -> Vec<Fr> {
        let mut inputs = vec![self.registry_root, self.case_id, self.subject_tag.0];
        inputs.extend_from_slice(&self.params);
        inputs
    }
}
