//! The typed entries of the anchor log.
//!
//! An entry's bytes are the canonical JSON (RFC 8785) of one [`Entry`]: the
//! object's keys sorted, no whitespace, strings escaped as ECMAScript does.
//! Every value is a string, an integer well below 2^53, an array or an
//! object, so the canonical form needs no number formatting beyond
//! integers. The leaf hash covers exactly these bytes, so anyone can
//! rebuild the log from its entries.
//!
//! ```
//! use zkgov_log::entry::Entry;
//!
//! let entry = Entry::Root {
//!     department: "land-registry".into(),
//!     registry: "real-estate".into(),
//!     root: "42".into(),
//!     time: "2026-11-24T10:00:00Z".into(),
//!     signature: None,
//! };
//! let bytes = entry.to_bytes();
//! assert_eq!(
//!     String::from_utf8(bytes.clone()).unwrap(),
//!     r#"{"department":"land-registry","registry":"real-estate","root":"42","time":"2026-11-24T10:00:00Z","type":"root"}"#
//! );
//! assert_eq!(Entry::from_bytes(&bytes).unwrap(), entry);
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zkgov_keys::digest::canonical_json;
pub use zkgov_keys::store::Provenance;

use crate::signature::{Endorsement, EntrySignature};

/// One entry of the anchor log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// Who takes part, and the parameters of the rules: the first entry of
    /// every log, and again whenever the operator changes any of it. Each
    /// governance entry replaces the whole of the previous one.
    Governance {
        /// The departments, sorted by name.
        departments: Vec<GovernedDepartment>,
        /// How long after anchoring a registry root proofs may use it, in
        /// seconds.
        freshness_seconds: u64,
        /// How long a registry root may still back proofs after its
        /// registry anchored a newer one, in seconds.
        grace_seconds: u64,
        /// The log's origin, which department signatures name. Logs begun
        /// before departments had keys have none until governance sets it;
        /// once set it never changes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<String>,
        /// Production mode: keys must come from a multi-party ceremony.
        /// While it is on, a single-party key is not logged and no result
        /// under one is accepted.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        require_multi_party: bool,
        /// The departments' signatures that authorise this change (the
        /// acceptance rules, `rules`, say who must sign what).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        endorsements: Vec<Endorsement>,
        /// When it took effect, RFC 3339 UTC.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Time))]
        time: String,
    },
    /// A verifying key registered for a policy over a registry.
    Key {
        /// The key id, lowercase hex.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::KeyId))]
        key_id: String,
        /// The registry the policy reads.
        registry: String,
        /// The policy's name.
        policy: String,
        /// The policy's canonical hash, lowercase hex.
        #[cfg_attr(feature = "utoipa", schema(pattern = "^[0-9a-f]{64}$"))]
        policy_hash: String,
        /// The verifying key, snarkjs JSON.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::SnarkjsVerifyingKey))]
        verifying_key: Value,
        /// The schema, TOML text.
        schema_toml: String,
        /// The policy, TOML text.
        policy_toml: String,
        /// Where the key came from: its circuit and, for the final key of
        /// a ceremony, the ceremony. Keys logged before provenance was
        /// recorded have none, and count as single-party.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provenance: Option<Provenance>,
        /// When it was registered, RFC 3339 UTC.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Time))]
        time: String,
    },
    /// A registry root anchored by the department that owns the registry.
    Root {
        /// The owning department.
        department: String,
        /// The registry.
        registry: String,
        /// The root, a canonical decimal field element.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::FieldElement))]
        root: String,
        /// When it was anchored, RFC 3339 UTC.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Time))]
        time: String,
        /// The department's signature, required once governance lists a
        /// key for it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<EntrySignature>,
    },
    /// A verified proof: its statement, and the proof itself so that anyone
    /// can check it again.
    Result {
        /// The key id.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::KeyId))]
        key_id: String,
        /// The case number; its `text` encoding is the `case_id` input.
        case_id: String,
        /// The subject tag, a canonical decimal field element.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::FieldElement))]
        subject_tag: String,
        /// The registry root, a canonical decimal field element.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::FieldElement))]
        registry_root: String,
        /// Every public input, in order, canonical decimal.
        #[cfg_attr(feature = "utoipa", schema(value_type = Vec<crate::openapi::FieldElement>))]
        public_inputs: Vec<String>,
        /// The proof, snarkjs JSON.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::SnarkjsProof))]
        proof: Value,
        /// The department that submitted it.
        department: String,
        /// When it was accepted, RFC 3339 UTC.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Time))]
        time: String,
    },
    /// A decision on a case, citing the entries it relied on: by the
    /// deciding department, or by the rules themselves for a procedure
    /// that decides automatically.
    Decision {
        /// The case number.
        case_id: String,
        /// The deciding department.
        department: String,
        /// `approved`, `refused`, or `revoked` (which amends an approval).
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::DecisionOutcome))]
        decision: String,
        /// The log indexes of the results (and, for a refusal, the unmet
        /// evidence) relied on.
        results: Vec<u64>,
        /// Free text, such as the reason for a refusal or an amendment.
        note: String,
        /// Whether the procedure's automatic rule made it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        automatic: bool,
        /// The case's previous decision, which this one replaces.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amends: Option<u64>,
        /// The licence an approval issues, if the procedure issues one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        licence: Option<Licence>,
        /// When it was recorded, RFC 3339 UTC.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Time))]
        time: String,
        /// The deciding department's signature, required once governance
        /// lists a key for it; automatic decisions have none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<EntrySignature>,
    },
    /// A procedure registered, or replaced, by its deciding department.
    Procedure {
        /// The procedure's name.
        name: String,
        /// The deciding department that registered it.
        department: String,
        /// The procedure, TOML text.
        procedure_toml: String,
        /// When it was registered, RFC 3339 UTC.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Time))]
        time: String,
    },
    /// A case created by an application: its number and procedure, never
    /// its secret or the applicant's inputs.
    Case {
        /// The case number.
        case_id: String,
        /// The procedure it follows.
        procedure: String,
        /// When it was created, RFC 3339 UTC; computed params (`today`)
        /// come from it.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Time))]
        time: String,
    },
    /// A department's answer that an item of evidence cannot be proved.
    Unmet {
        /// The case number.
        case_id: String,
        /// The item of the case's procedure.
        evidence: String,
        /// The department that owns the item's registry.
        department: String,
        /// `not_satisfied`, `subject_not_found`, `revoked` or
        /// `invalid_input`.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::UnmetReason))]
        reason: String,
        /// For `not_satisfied`, the conditions that failed.
        conditions: Vec<String>,
        /// When it was recorded, RFC 3339 UTC.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Time))]
        time: String,
        /// The department's signature, required once governance lists a
        /// key for it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<EntrySignature>,
    },
    /// The log hands its checkpoint signing over to a new key: see
    /// [`crate::handover`].
    LogKey {
        /// The verifier key that signed the log's checkpoints until now.
        previous: String,
        /// The verifier key that signs them from this entry on.
        key: String,
        /// The previous key's Ed25519 signature of the hand-over message,
        /// standard base64.
        signature: String,
        /// When the hand-over took place, RFC 3339 UTC.
        #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::Time))]
        time: String,
    },
}

/// The licence an approval issues, as its decision entry holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Licence {
    /// The licence number.
    pub number: String,
    /// The deciding department's registry the licence record goes into.
    pub registry: String,
    /// The holder's subject tag in the case: the holder proves it is the
    /// holder by opening it (subject and case secret).
    #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::FieldElement))]
    pub subject_tag: String,
    /// The licence record's fields other than its subject, by name.
    pub fields: std::collections::BTreeMap<String, String>,
}

/// A department as governance entries list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GovernedDepartment {
    /// Its name, as entries name it.
    pub name: String,
    /// The registries it owns, sorted: it alone anchors their roots and
    /// submits proofs about them.
    pub registries: Vec<String>,
    /// Whether it may record decisions on cases.
    pub decides: bool,
    /// Its public key, a verifier key named after it: once it has one, its
    /// roots, decisions and refusals must carry its signature, and changes
    /// to its listing its endorsement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Why bytes are not an entry.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryError {
    /// Not an entry object.
    #[error("not a log entry: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// A valid entry, but not in canonical form.
    #[error("the entry is not in canonical JSON form")]
    NotCanonical,
}

impl Entry {
    /// The entry's canonical JSON bytes, as the log stores and hashes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("entries serialize to JSON");
        canonical_json(&value).into_bytes()
    }

    /// Parses entry bytes, requiring the canonical form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Entry, EntryError> {
        let entry: Entry = serde_json::from_slice(bytes).map_err(|e| EntryError::Malformed {
            reason: e.to_string(),
        })?;
        if entry.to_bytes() != bytes {
            return Err(EntryError::NotCanonical);
        }
        Ok(entry)
    }

    /// The entry's type name, as in its `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Governance { .. } => "governance",
            Entry::Key { .. } => "key",
            Entry::Root { .. } => "root",
            Entry::Result { .. } => "result",
            Entry::Decision { .. } => "decision",
            Entry::Procedure { .. } => "procedure",
            Entry::Case { .. } => "case",
            Entry::Unmet { .. } => "unmet",
            Entry::LogKey { .. } => "log_key",
        }
    }

    /// The entry's time, as written.
    pub fn time(&self) -> &str {
        match self {
            Entry::Governance { time, .. }
            | Entry::Key { time, .. }
            | Entry::Root { time, .. }
            | Entry::Result { time, .. }
            | Entry::Decision { time, .. }
            | Entry::Procedure { time, .. }
            | Entry::Case { time, .. }
            | Entry::Unmet { time, .. }
            | Entry::LogKey { time, .. } => time,
        }
    }

    /// The department's signature the entry carries, for the kinds that
    /// carry one (roots, decisions and unmet evidence).
    pub fn signature(&self) -> Option<&EntrySignature> {
        match self {
            Entry::Root { signature, .. }
            | Entry::Decision { signature, .. }
            | Entry::Unmet { signature, .. } => signature.as_ref(),
            _ => None,
        }
    }

    /// Sets the department's signature of a root, a decision or unmet
    /// evidence; other kinds carry none and are left as they are.
    pub fn set_signature(&mut self, value: Option<EntrySignature>) {
        if let Entry::Root { signature, .. }
        | Entry::Decision { signature, .. }
        | Entry::Unmet { signature, .. } = self
        {
            *signature = value;
        }
    }

    /// Sets the entry's time to `unix_seconds`.
    pub fn set_time(&mut self, unix_seconds: i64) {
        let formatted = format_time(unix_seconds);
        match self {
            Entry::Governance { time, .. }
            | Entry::Key { time, .. }
            | Entry::Root { time, .. }
            | Entry::Result { time, .. }
            | Entry::Decision { time, .. }
            | Entry::Procedure { time, .. }
            | Entry::Case { time, .. }
            | Entry::Unmet { time, .. }
            | Entry::LogKey { time, .. } => *time = formatted,
        }
    }
}

/// Parses an entry's time: RFC 3339 UTC to the second, exactly as
/// [`format_time`] writes it, so each instant has one spelling.
pub fn parse_time(text: &str) -> Option<i64> {
    let parsed = DateTime::parse_from_rfc3339(text).ok()?.timestamp();
    (format_time(parsed) == text).then_some(parsed)
}

/// `unix_seconds` as an entry's RFC 3339 UTC time.
pub fn format_time(unix_seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix_seconds, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_seconds() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(parse_time("2026-11-18T11:06:40Z"), Some(1_795_000_000));
        assert_eq!(parse_time("2026-11-18T11:06:40+00:00"), None);
        assert_eq!(parse_time("2026-11-18T11:06:40.5Z"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn non_canonical_bytes_are_refused() {
        let entry = Entry::Decision {
            case_id: "C-1".into(),
            department: "health".into(),
            decision: "approved".into(),
            results: vec![3, 4],
            note: "line\nbreak \u{1f} \"quoted\" é".into(),
            automatic: false,
            amends: None,
            licence: None,
            time: format_time(0),
            signature: None,
        };
        let bytes = entry.to_bytes();
        assert_eq!(Entry::from_bytes(&bytes), Ok(entry));
        let spaced = String::from_utf8(bytes).unwrap().replacen(',', ", ", 1);
        assert_eq!(
            Entry::from_bytes(spaced.as_bytes()),
            Err(EntryError::NotCanonical)
        );
        assert!(matches!(
            Entry::from_bytes(br#"{"type":"unknown"}"#),
            Err(EntryError::Malformed { .. })
        ));
    }
}
