//! Licence documents: what an applicant holds once its licence is issued,
//! and their verification, offline, with nothing but the log's public key.
//!
//! A document carries the licence as the decision entry states it, the
//! holder's opening of the subject tag it names, and the decision entry
//! itself as a [`Receipt`]: its exact bytes, its index, a signed
//! checkpoint and the inclusion proof. Whoever checks it learns that the
//! log holds an approval of the case carrying exactly this licence, and,
//! from the opening, that the holder is the subject whose results the
//! approval relied on. Nothing else is trusted: every readable field is
//! compared with the entry, so an edited document fails.
//!
//! The holder's opening is the subject's id and the case secret. They are
//! the applicant's own; handing the document to someone shows them which
//! subject holds the licence, which is what a licence is for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zkgov_circuits::encoding::text_to_field;
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::statement::SubjectTag;

use crate::checkpoint::Checkpoint;
use crate::checkpoint::LogVerifier;
use crate::entry::{Entry, Licence};
use crate::receipt::{Receipt, ReceiptError};

/// The `format` of a licence document.
pub const FORMAT: &str = "zkgov-licence-v1";

/// A licence as its holder keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LicenceDocument {
    /// Always [`FORMAT`].
    pub format: String,
    /// The log's origin, as its checkpoints name it.
    pub origin: String,
    /// The case the licence was decided in.
    pub case_id: String,
    /// The licence number.
    pub number: String,
    /// The registry the licence record is in.
    pub registry: String,
    /// The licence record's fields other than its subject.
    pub fields: BTreeMap<String, String>,
    /// The holder's opening of the licence's subject tag.
    pub holder: Holder,
    /// The approval that issued the licence, with its proof of inclusion.
    pub decision: Receipt,
}

/// Who holds a licence, and the opening that shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Holder {
    /// The holder's id, as the registries know it.
    pub subject: String,
    /// The case secret, canonical decimal.
    #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::FieldElement))]
    pub case_secret: String,
}

impl std::fmt::Debug for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holder")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What a verified document established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedLicence {
    /// The decision's index in the log.
    pub index: u64,
    /// The checkpoint it is included in, signature checked.
    pub checkpoint: Checkpoint,
    /// The deciding department.
    pub department: String,
    /// Whether the procedure's automatic rule decided.
    pub automatic: bool,
    /// When it was decided, RFC 3339 UTC.
    pub decided: String,
    /// The licence, as the entry states it.
    pub licence: Licence,
}

impl VerifiedLicence {
    /// The licence's expiry date if it has one (an `expires` field) and it
    /// is not after `today` (both `YYYY-MM-DD`): a licence is in force
    /// while `expires > today`, as the policies write it.
    pub fn expired(&self, today: &str) -> Option<&str> {
        let expires = self.licence.fields.get("expires")?;
        // ISO 8601 dates compare as text.
        (expires.as_str() <= today).then_some(expires.as_str())
    }
}

/// Why a licence document does not check out.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LicenceError {
    /// Not a document of this format.
    #[error("not a licence document: format {found:?}, expected {FORMAT:?}")]
    Format {
        /// The format it names.
        found: String,
    },
    /// The decision's receipt fails.
    #[error("the decision: {0}")]
    Receipt(#[from] ReceiptError),
    /// The entry is not a decision.
    #[error("entry {index} of the log is not a decision")]
    NotADecision {
        /// Its index.
        index: u64,
    },
    /// The decision is not an approval that issues a licence.
    #[error("entry {index} decides `{decision}` and issues no licence")]
    NoLicence {
        /// Its index.
        index: u64,
        /// What it decides.
        decision: String,
    },
    /// A field of the document differs from the entry.
    #[error("the document's {field} is not the one the log's decision states")]
    Mismatch {
        /// The field.
        field: String,
    },
    /// The case secret is not a canonical field element.
    #[error("holder.case_secret: {0}")]
    Secret(String),
    /// The opening does not open the licence's subject tag.
    #[error("the holder's subject and case secret do not open the licence's subject tag")]
    NotTheHolder,
}

impl LicenceDocument {
    /// Assembles a holder's document from the receipt of the approval that
    /// issued `licence`.
    pub fn new(
        origin: &str,
        case_id: &str,
        licence: &Licence,
        holder: Holder,
        decision: Receipt,
    ) -> Self {
        LicenceDocument {
            format: FORMAT.into(),
            origin: origin.into(),
            case_id: case_id.into(),
            number: licence.number.clone(),
            registry: licence.registry.clone(),
            fields: licence.fields.clone(),
            holder,
            decision,
        }
    }

    /// Checks the document: the receipt against `verifier` (the checkpoint
    /// signed for the document's origin, the entry included in it), the
    /// entry an approval carrying exactly the document's licence for its
    /// case, and the holder's opening of its subject tag.
    pub fn verify(&self, verifier: &LogVerifier) -> Result<VerifiedLicence, LicenceError> {
        if self.format != FORMAT {
            return Err(LicenceError::Format {
                found: self.format.clone(),
            });
        }
        let (entry, checkpoint) = self.decision.verify(verifier, &self.origin)?;
        let index = self.decision.index;
        let Entry::Decision {
            case_id,
            department,
            decision,
            automatic,
            licence,
            time,
            ..
        } = entry
        else {
            return Err(LicenceError::NotADecision { index });
        };
        let licence = match licence {
            Some(licence) if decision == "approved" => licence,
            _ => return Err(LicenceError::NoLicence { index, decision }),
        };
        let mismatch = |field: &str| LicenceError::Mismatch {
            field: field.into(),
        };
        if case_id != self.case_id {
            return Err(mismatch("case_id"));
        }
        if licence.number != self.number {
            return Err(mismatch("number"));
        }
        if licence.registry != self.registry {
            return Err(mismatch("registry"));
        }
        if licence.fields != self.fields {
            return Err(mismatch("fields"));
        }
        let secret = parse_field_element(&self.holder.case_secret)
            .map_err(|e| LicenceError::Secret(e.to_string()))?;
        let tag = SubjectTag::new(text_to_field(&self.holder.subject), secret);
        if to_decimal(&tag.0) != licence.subject_tag {
            return Err(LicenceError::NotTheHolder);
        }
        Ok(VerifiedLicence {
            index,
            checkpoint,
            department,
            automatic,
            decided: time,
            licence,
        })
    }
}

/// A licence's standing, from the decisions the log holds on its case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// No later decision replaces the approval.
    InForce,
    /// A later decision replaces it (directly, or through a chain of
    /// amendments); the last of the chain.
    Amended {
        /// The replacing decision's index.
        index: u64,
        /// What it decides: `revoked`, `refused`, or `approved` again
        /// (which may carry another licence).
        decision: String,
        /// Its reason.
        note: String,
        /// When, RFC 3339 UTC.
        time: String,
    },
}

/// The standing of the approval at `index`, given the case's later
/// decisions as `(index, entry)` in log order. Only decisions that amend
/// the approval, or an amendment of it, count.
pub fn standing(index: u64, later: &[(u64, Entry)]) -> Standing {
    let mut current = index;
    let mut standing = Standing::InForce;
    for (at, entry) in later {
        if let Entry::Decision {
            decision,
            note,
            amends: Some(amended),
            time,
            ..
        } = entry
        {
            if *amended == current && *at > current {
                current = *at;
                standing = Standing::Amended {
                    index: *at,
                    decision: decision.clone(),
                    note: note.clone(),
                    time: time.clone(),
                };
            }
        }
    }
    standing
}
