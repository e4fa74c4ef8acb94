//! The acceptance rules: a pure state machine over log entries.
//!
//! [`LogState::apply`] takes the next entry of a log and either accepts it,
//! updating the state, or refuses it with a [`Refusal`] and leaves the state
//! as it was. Nothing here does I/O. The service accepts a submission only
//! if `apply` accepts the entry it is about to append, and the monitor
//! (`zkgov log verify --full`) replays a whole log through the same
//! function: whatever the service accepted, anyone can check it accepted
//! rightly, from the log alone.
//!
//! The rules, by entry type:
//! - every entry: a governance entry comes first; times never go back;
//! - **governance**: department names are unique and non-empty, each
//!   registry has at most one owner, and the windows fit in `i64` seconds;
//!   once departments have keys, the parameters (windows, production mode)
//!   change only with a majority of their endorsements;
//! - **key**: the schema and policy parse, the key id recomputes from the
//!   logged verifying key and policy, the key has one `IC` point per public
//!   input plus one and no identity point in `IC`, α, β, γ or δ, its registry
//!   has an owner, and the same verifying key is not already logged under
//!   another key id (another policy, schema or registry); a provenance, if
//!   stated, is well formed (a supported tree shape, hashes in hex; its
//!   circuit digest is checked by `zkgov ceremony audit`, which synthesizes
//!   the circuit, never by a replay); and under production mode
//!   (`require_multi_party`) the key is multi-party;
//! - **root**: the department owns the registry, and the root is a canonical
//!   field element;
//! - **result**: the key is logged; the department owns the key's registry;
//!   the case number is well formed and `case_id` is its encoding; every
//!   public input is canonical and `subject_tag` and `registry_root` repeat
//!   them; the statement (key, case, tag) is new; the root was anchored by
//!   the registry's owner, within the freshness window at the result's
//!   time, and is either the registry's latest root or was superseded no
//!   longer than the grace period ago; under production mode the key is
//!   multi-party; and the proof verifies under the key;
//! - **decision**: the department may decide, the decision is `approved` or
//!   `refused`, the note is at most 1024 bytes, and every result it cites is
//!   a result of the same case.
//!
//! Proofs can be verified many at a time, with one random-linear-combination
//! check ([`verify_proofs`]); [`LogState::apply_verified`] then applies an
//! entry whose proof was verified that way, with the same verdicts as
//! [`LogState::apply`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_ec::AffineRepr;
use ark_groth16::{Proof, VerifyingKey};
use ark_serialize::CanonicalSerialize;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use zkgov_circuits::encoding::FieldType;
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::statement::{Statement, FIXED_INPUTS};
use zkgov_keys::digest::{key_id, policy_hash};
use zkgov_keys::snarkjs;

use crate::checkpoint::LogVerifier;
use crate::entry::{parse_time, Entry, GovernedDepartment, Licence, Provenance};
use crate::handover::{check_handover, HandoverError};
use crate::signature::{
    DepartmentKey, Endorsement, EntrySignature, MAX_SIGNATURE_AGE_SECONDS,
    MAX_SIGNATURE_SKEW_SECONDS,
};
use crate::tree::{leaf_hash, Frontier, Hash};
use crate::verify::{verify_batch, Item, PreparedKey};

mod applications;

pub use applications::{
    Answer, Application, DueDecision, LoggedProcedure, LoggedUnmet, MAX_CONDITIONS, UNMET_REASONS,
};

/// The longest note a decision may carry, in bytes.
pub const MAX_NOTE_BYTES: usize = 1024;

/// The default grace period of a superseded registry root: 15 minutes.
pub const DEFAULT_GRACE_SECONDS: u64 = 15 * 60;

/// Why an entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The log does not start with a governance entry.
    #[error("the first entry of a log must be a governance entry, not a `{kind}` entry")]
    NoGovernance {
        /// The type of the entry found.
        kind: &'static str,
    },
    /// A governance entry contradicts itself.
    #[error("governance: {0}")]
    InvalidGovernance(String),
    /// The entry's time is not RFC 3339 UTC to the second.
    #[error("time `{0}` is not RFC 3339 UTC to the second, such as 2026-11-24T10:00:00Z")]
    MalformedTime(String),
    /// The entry is dated before the entry before it.
    #[error("time {time} is before the previous entry's {previous}")]
    TimeWentBack {
        /// The entry's time.
        time: String,
        /// The previous entry's time.
        previous: String,
    },
    /// No department has this name.
    #[error("no department is named `{0}`")]
    UnknownDepartment(String),
    /// No department owns this registry.
    #[error("no department owns a registry named `{0}`")]
    UnknownRegistry(String),
    /// The department acts for a registry it does not own.
    #[error("registry `{registry}` belongs to `{owner}`, not `{department}`")]
    NotOwner {
        /// The registry.
        registry: String,
        /// Its owner.
        owner: String,
        /// The department that acted.
        department: String,
    },
    /// The department may not decide cases.
    #[error("department `{0}` may not decide cases (`decides = true`)")]
    NotDecider(String),
    /// A value is not what its field requires.
    #[error("{field}: {problem}")]
    Malformed {
        /// The field, such as `public_inputs[3]`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A value that must be a canonical field element is not one.
    #[error("{field}: {problem}")]
    NonCanonical {
        /// The field, such as `public_inputs[3]`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The verifying key, the schema or the policy does not parse.
    #[error("{0}")]
    MalformedKey(String),
    /// The key id is not the one the key and policy give.
    #[error("key id {claimed} is not the id of this verifying key and policy ({computed})")]
    KeyIdMismatch {
        /// The id in the entry.
        claimed: String,
        /// The id they give.
        computed: String,
    },
    /// A point of the verifying key is the identity, which leaves a public
    /// input unbound (or the whole key void).
    #[error("verifying key point {point} is the identity")]
    IdentityPoint {
        /// The point, such as `IC[2]`.
        point: String,
    },
    /// The verifying key takes another number of public inputs than the
    /// policy declares.
    #[error("the policy has {policy} public inputs, but the verifying key takes {key}")]
    KeyShape {
        /// Inputs the policy declares.
        policy: usize,
        /// Inputs the key takes.
        key: usize,
    },
    /// The verifying key is already logged under another key id.
    #[error("this verifying key is already logged as key {existing}, for another policy or registry; a key proves one policy")]
    KeyReused {
        /// The key id it is logged under.
        existing: String,
    },
    /// No key with this id is logged.
    #[error("no key {0} is registered")]
    UnknownKey(String),
    /// The public-input count differs from the key's.
    #[error("the key takes {expected} public inputs, but {found} were given")]
    WrongPublicInputCount {
        /// What the key takes.
        expected: usize,
        /// What was given.
        found: usize,
    },
    /// The case number does not match the `case_id` public input.
    #[error("public input 1 is not the case_id encoding of `{0}`")]
    CaseMismatch(String),
    /// The root was never anchored by the registry's owner.
    #[error("registry root {root} has not been anchored for `{registry}`")]
    RootNotAnchored {
        /// The registry.
        registry: String,
        /// The root.
        root: String,
    },
    /// The root was anchored longer ago than the freshness window.
    #[error("registry root {root} of `{registry}` was anchored {age_seconds} s ago, beyond the {window_seconds} s freshness window; publish it again")]
    RootStale {
        /// The registry.
        registry: String,
        /// The root.
        root: String,
        /// Seconds since it was anchored.
        age_seconds: i64,
        /// The window.
        window_seconds: u64,
    },
    /// A newer root of the registry was anchored longer ago than the grace
    /// period: records revoked since may not back proofs.
    #[error("registry root {root} of `{registry}` was superseded {superseded_seconds} s ago by the root at log entry {by_index}, beyond the {grace_seconds} s grace period; prove against the latest root")]
    RootSuperseded {
        /// The registry.
        registry: String,
        /// The root.
        root: String,
        /// The log index of the root that superseded it.
        by_index: u64,
        /// Seconds since then.
        superseded_seconds: i64,
        /// The grace period.
        grace_seconds: u64,
    },
    /// The proof is not a valid, canonical snarkjs Groth16 proof.
    #[error("{0}")]
    MalformedProof(String),
    /// The proof does not verify.
    #[error("the proof does not verify for these public inputs under this key")]
    InvalidProof,
    /// The statement is logged already, with other public inputs.
    #[error("the statement (key, case, subject tag) is logged at entry {index} with other public inputs; a statement is proved once")]
    ConflictingStatement {
        /// Where it is logged.
        index: u64,
    },
    /// The same statement, or the same key, is logged already.
    #[error("already logged at entry {index}")]
    AlreadyLogged {
        /// Where.
        index: u64,
    },
    /// A decision cites an entry that is not a result of its case.
    #[error("log entry {index} is not a result of case `{case_id}`")]
    CitesOtherCase {
        /// The entry cited.
        index: u64,
        /// The decision's case.
        case_id: String,
    },
    /// A procedure that does not parse, or does not fit the log.
    #[error("procedure: {0}")]
    InvalidProcedure(String),
    /// No procedure of this name is registered.
    #[error("no procedure `{0}` is registered")]
    UnknownProcedure(String),
    /// The case number is taken.
    #[error("case `{case_id}` already exists (log entry {index}); case numbers are never reused")]
    CaseExists {
        /// The case.
        case_id: String,
        /// Its first entry.
        index: u64,
    },
    /// An answer to evidence that the case does not ask for.
    #[error("case `{case_id}`: {problem}")]
    NotRequested {
        /// The case.
        case_id: String,
        /// What does not fit.
        problem: String,
    },
    /// The item of evidence is answered already.
    #[error("evidence `{evidence}` of this case is answered already, at log entry {index}")]
    AlreadyAnswered {
        /// The item.
        evidence: String,
        /// The answer.
        index: u64,
    },
    /// A result about another subject than the case's other results for
    /// the same applicant input.
    #[error("evidence `{evidence}`: the subject tag differs from the result at log entry {index} for the same applicant")]
    SubjectMismatch {
        /// The item.
        evidence: String,
        /// The result it disagrees with.
        index: u64,
    },
    /// The case is decided; evidence comes too late, and a new decision
    /// must amend the last one.
    #[error("case `{case_id}` is decided at log entry {index}; a new decision must amend it (`amends`, with a reason in `note`)")]
    AlreadyDecided {
        /// The case.
        case_id: String,
        /// Its latest decision.
        index: u64,
    },
    /// A root, decision or refusal without the signature its department's
    /// key requires.
    #[error("department `{department}` has a key in governance, so its `{kind}` entries must carry its signature (sign with --key or ZKGOV_DEPARTMENT_KEY)")]
    Unsigned {
        /// The department.
        department: String,
        /// The entry's type.
        kind: &'static str,
    },
    /// A department's signature or endorsement that does not check out.
    #[error("the signature of department `{department}`: {problem}")]
    BadSignature {
        /// The department.
        department: String,
        /// What is wrong.
        problem: String,
    },
    /// A governance change without the endorsements it needs.
    #[error("governance change not endorsed: {0}")]
    Unendorsed(String),
    /// A hand-over of the log's key that does not check out.
    #[error("log key hand-over: {0}")]
    BadHandover(HandoverError),
    /// Under production mode (`require_multi_party`), a key that does not
    /// come from a multi-party ceremony.
    #[error("key {key_id} (policy `{policy}`) is single-party: governance requires keys from a multi-party ceremony (require_multi_party), whose entry names the final .zkey, the powers of tau and the contributions; import the ceremony's key with `zkgov keys import --zkey … --ptau …` and register it")]
    SingleParty {
        /// The key id.
        key_id: String,
        /// The key's policy.
        policy: String,
    },
    /// A decision that the case's procedure does not allow.
    #[error("case `{case_id}`: {problem}")]
    DecisionRule {
        /// The case.
        case_id: String,
        /// What the rule requires.
        problem: String,
    },
}

impl Refusal {
    /// A stable, machine-readable name for the refusal, as the API reports it.
    pub fn reason(&self) -> &'static str {
        use Refusal::*;
        match self {
            NoGovernance { .. } => "no_governance",
            InvalidGovernance(_) => "invalid_governance",
            MalformedTime(_) => "malformed_time",
            TimeWentBack { .. } => "time_went_back",
            UnknownDepartment(_) => "unknown_department",
            UnknownRegistry(_) => "unknown_registry",
            NotOwner { .. } | NotDecider(_) => "forbidden",
            Malformed { .. } => "malformed_request",
            NonCanonical { .. } => "non_canonical_input",
            MalformedKey(_) => "malformed_key",
            KeyIdMismatch { .. } => "key_id_mismatch",
            IdentityPoint { .. } => "identity_point",
            KeyShape { .. } => "key_shape",
            KeyReused { .. } => "key_reused",
            UnknownKey(_) => "unknown_key",
            WrongPublicInputCount { .. } => "wrong_public_input_count",
            CaseMismatch(_) => "case_id_mismatch",
            RootNotAnchored { .. } => "root_not_anchored",
            RootStale { .. } => "root_stale",
            RootSuperseded { .. } => "root_superseded",
            MalformedProof(_) => "malformed_proof",
            InvalidProof => "invalid_proof",
            ConflictingStatement { .. } => "conflicting_statement",
            AlreadyLogged { .. } => "already_logged",
            CitesOtherCase { .. } => "conflict",
            InvalidProcedure(_) => "invalid_procedure",
            UnknownProcedure(_) => "unknown_procedure",
            CaseExists { .. } => "case_exists",
            NotRequested { .. } => "not_requested",
            AlreadyAnswered { .. } => "already_answered",
            SubjectMismatch { .. } => "subject_mismatch",
            AlreadyDecided { .. } => "already_decided",
            DecisionRule { .. } => "decision_rule",
            Unsigned { .. } => "unsigned",
            BadSignature { .. } => "bad_signature",
            Unendorsed(_) => "unendorsed",
            BadHandover(_) => "bad_handover",
            SingleParty { .. } => "single_party_key",
        }
    }
}

fn malformed(field: impl Into<String>, problem: impl Into<String>) -> Refusal {
    Refusal::Malformed {
        field: field.into(),
        problem: problem.into(),
    }
}

/// A department under the current governance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    /// Its name.
    pub name: String,
    /// The registries it owns.
    pub registries: BTreeSet<String>,
    /// Whether it may decide cases.
    pub decides: bool,
    /// Its verifier key, once it has one.
    #[serde(default)]
    pub key: Option<String>,
}

/// The governance in force: who takes part, and the rules' windows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Governance {
    /// The log index of the governance entry.
    pub index: u64,
    /// The departments, by name.
    pub departments: BTreeMap<String, Department>,
    /// The freshness window of registry roots, in seconds.
    pub freshness_seconds: u64,
    /// The grace period of a superseded root, in seconds.
    pub grace_seconds: u64,
    /// The log's origin, once governance names it.
    #[serde(default)]
    pub origin: Option<String>,
    /// Production mode: only multi-party keys are logged and used.
    #[serde(default)]
    pub require_multi_party: bool,
}

impl Governance {
    /// The department that owns `registry`.
    pub fn owner_of(&self, registry: &str) -> Option<&Department> {
        self.departments
            .values()
            .find(|d| d.registries.contains(registry))
    }

    /// The departments as a governance entry lists them.
    pub fn entry_departments(&self) -> Vec<GovernedDepartment> {
        self.departments
            .values()
            .map(|d| GovernedDepartment {
                name: d.name.clone(),
                registries: d.registries.iter().cloned().collect(),
                decides: d.decides,
                key: d.key.clone(),
            })
            .collect()
    }
}

/// A verifying key as the log holds it, prepared for verification.
#[derive(Debug)]
pub struct LoggedKey {
    /// Its log index.
    pub index: u64,
    /// The key id, lowercase hex.
    pub key_id: String,
    /// The registry the policy reads.
    pub registry: String,
    /// The policy's name.
    pub policy_name: String,
    /// The verifying key, snarkjs JSON as logged.
    pub verifying_key: Value,
    /// The schema, TOML text.
    pub schema_toml: String,
    /// The policy, TOML text.
    pub policy_toml: String,
    /// The policy's canonical hash, lowercase hex.
    pub policy_hash: String,
    /// When it was logged, Unix seconds.
    pub time: i64,
    /// The public inputs' names, in order.
    pub input_names: Vec<String>,
    /// The params' types, in statement order (after the fixed inputs).
    pub param_types: Vec<FieldType>,
    /// Where the key came from, as its entry states it (checked against
    /// the policy's circuit), if it does.
    pub provenance: Option<Provenance>,
    /// The prepared key.
    pub prepared: PreparedKey,
}

impl LoggedKey {
    /// Checks a key entry on its own (everything but the rules that need
    /// the rest of the log) and prepares the key; `index` is where it is
    /// logged.
    pub fn from_logged_entry(index: u64, entry: &Entry) -> Result<LoggedKey, Refusal> {
        if !matches!(entry, Entry::Key { .. }) {
            return Err(malformed("type", "not a key entry"));
        }
        Ok(LoggedKey::from_entry(index, entry)?.0)
    }

    /// Checks a key entry's content and prepares the key; `index` is where
    /// it is (or will be) logged.
    fn from_entry(index: u64, entry: &Entry) -> Result<(LoggedKey, Hash), Refusal> {
        let Entry::Key {
            key_id: claimed,
            registry,
            policy,
            policy_hash: claimed_hash,
            verifying_key,
            schema_toml,
            policy_toml,
            provenance,
            time,
        } = entry
        else {
            unreachable!("called for key entries")
        };
        let time = parse_time(time).ok_or_else(|| Refusal::MalformedTime(time.clone()))?;
        let vk = snarkjs::verifying_key_from_json(&verifying_key.to_string())
            .map_err(|e| Refusal::MalformedKey(format!("verifying_key: {e}")))?;
        if snarkjs::verifying_key_to_json(&vk) != *verifying_key {
            return Err(Refusal::MalformedKey(
                "verifying_key is not in canonical snarkjs form".into(),
            ));
        }
        check_no_identity(&vk)?;
        let schema = Schema::from_toml("schema", schema_toml)
            .map_err(|e| Refusal::MalformedKey(e.to_string()))?;
        let parsed = Policy::from_toml("policy", policy_toml, &schema)
            .map_err(|e| Refusal::MalformedKey(e.to_string()))?;
        if parsed.name != *policy {
            return Err(malformed(
                "policy",
                format!("the policy TOML is named `{}`, not `{policy}`", parsed.name),
            ));
        }
        let input_names = parsed.public_input_names();
        let found = vk.gamma_abc_g1.len() - 1;
        if input_names.len() != found {
            return Err(Refusal::KeyShape {
                policy: input_names.len(),
                key: found,
            });
        }
        let hash = policy_hash(&schema, &parsed);
        if hash.to_string() != *claimed_hash {
            return Err(malformed(
                "policy_hash",
                format!("is not the policy's canonical hash ({hash})"),
            ));
        }
        if let Some(provenance) = provenance {
            provenance
                .check()
                .map_err(|problem| malformed("provenance", problem))?;
        }
        let computed = key_id(&vk, &hash).to_string();
        if computed != *claimed {
            return Err(Refusal::KeyIdMismatch {
                claimed: claimed.clone(),
                computed,
            });
        }
        let mut bytes = Vec::new();
        vk.serialize_compressed(&mut bytes)
            .expect("serializing into a Vec cannot fail");
        let vk_digest: Hash = Sha256::digest(&bytes).into();
        Ok((
            LoggedKey {
                index,
                key_id: claimed.clone(),
                registry: registry.clone(),
                policy_name: policy.clone(),
                verifying_key: verifying_key.clone(),
                schema_toml: schema_toml.clone(),
                policy_toml: policy_toml.clone(),
                policy_hash: claimed_hash.clone(),
                time,
                input_names,
                param_types: parsed.params.iter().map(|p| p.ty.clone()).collect(),
                provenance: provenance.clone(),
                prepared: PreparedKey::new(vk),
            },
            vk_digest,
        ))
    }

    /// The key's log entry.
    pub fn entry(&self) -> Entry {
        Entry::Key {
            key_id: self.key_id.clone(),
            registry: self.registry.clone(),
            policy: self.policy_name.clone(),
            policy_hash: self.policy_hash.clone(),
            verifying_key: self.verifying_key.clone(),
            schema_toml: self.schema_toml.clone(),
            policy_toml: self.policy_toml.clone(),
            provenance: self.provenance.clone(),
            time: crate::entry::format_time(self.time),
        }
    }

    /// Whether the key comes from a multi-party ceremony: its entry names
    /// the final `.zkey`, the powers of tau it was checked against, and at
    /// least one contribution ([`Provenance::is_multi_party`]).
    pub fn is_multi_party(&self) -> bool {
        self.provenance
            .as_ref()
            .is_some_and(Provenance::is_multi_party)
    }

    /// Under production mode, refuses the key if it is single-party.
    fn check_production(&self, governance: &Governance) -> Result<(), Refusal> {
        if governance.require_multi_party && !self.is_multi_party() {
            return Err(Refusal::SingleParty {
                key_id: self.key_id.clone(),
                policy: self.policy_name.clone(),
            });
        }
        Ok(())
    }

    /// The names of the params (the inputs after the fixed ones).
    pub fn param_names(&self) -> &[String] {
        &self.input_names[FIXED_INPUTS.len()..]
    }

    /// The params of `public_inputs` (canonical decimals), decoded by type:
    /// dates as dates, enums by variant name; a value that does not decode
    /// (a hash, or an out-of-range value) stays a decimal.
    pub fn decode_params(&self, public_inputs: &[String]) -> BTreeMap<String, String> {
        self.param_names()
            .iter()
            .zip(&self.param_types)
            .zip(public_inputs.iter().skip(FIXED_INPUTS.len()))
            .map(|((name, ty), value)| {
                let decoded = parse_field_element(value)
                    .ok()
                    .and_then(|x| ty.decode(&x))
                    .unwrap_or_else(|| value.clone());
                (name.clone(), decoded)
            })
            .collect()
    }
}

fn check_no_identity(vk: &VerifyingKey<Bn254>) -> Result<(), Refusal> {
    let identity = |point: &str| Refusal::IdentityPoint {
        point: point.to_string(),
    };
    if vk.alpha_g1.is_zero() {
        return Err(identity("vk_alpha_1"));
    }
    for (name, point) in [
        ("vk_beta_2", &vk.beta_g2),
        ("vk_gamma_2", &vk.gamma_g2),
        ("vk_delta_2", &vk.delta_g2),
    ] {
        if point.is_zero() {
            return Err(identity(name));
        }
    }
    if let Some(i) = vk.gamma_abc_g1.iter().position(|p| p.is_zero()) {
        return Err(identity(&format!("IC[{i}]")));
    }
    Ok(())
}

/// A registry root as anchored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchoredRoot {
    /// Its log index.
    pub index: u64,
    /// The root, canonical decimal.
    pub root: String,
    /// The anchoring department.
    pub department: String,
    /// When, Unix seconds.
    pub time: i64,
}

/// An accepted result, without its proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedResult {
    /// Its log index.
    pub index: u64,
    /// The key id.
    pub key_id: String,
    /// The case number.
    pub case_id: String,
    /// The subject tag, canonical decimal.
    pub subject_tag: String,
    /// The registry root, canonical decimal.
    pub registry_root: String,
    /// Every public input, canonical decimal.
    pub public_inputs: Vec<String>,
    /// The submitting department.
    pub department: String,
    /// When, Unix seconds.
    pub time: i64,
}

/// A recorded decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedDecision {
    /// Its log index.
    pub index: u64,
    /// The case number.
    pub case_id: String,
    /// The deciding department.
    pub department: String,
    /// `approved`, `refused` or `revoked`.
    pub decision: String,
    /// The entries cited.
    pub results: Vec<u64>,
    /// Its note.
    #[serde(default)]
    pub note: String,
    /// Whether the procedure's automatic rule made it.
    #[serde(default)]
    pub automatic: bool,
    /// The decision it amends.
    #[serde(default)]
    pub amends: Option<u64>,
    /// The licence it issues.
    #[serde(default)]
    pub licence: Option<Licence>,
    /// When, Unix seconds.
    pub time: i64,
}

/// What was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The entry's log index.
    pub index: u64,
    /// The log's size after it.
    pub size: u64,
}

/// A proof that [`verify_proofs`] found valid, bound to the key, public
/// inputs and canonical proof it checked: [`LogState::apply_verified`]
/// takes it for exactly that result and no other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The proof in canonical snarkjs JSON, as the result entry holds it.
    pub proof: Value,
    digest: Hash,
}

fn statement_digest(key_id: &str, public_inputs: &[String], proof: &Value) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(b"zkgov-verified-proof-v1");
    for part in [
        key_id.to_string(),
        public_inputs.join(","),
        proof.to_string(),
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// One proof to verify.
pub struct ProofClaim<'a> {
    /// The key it claims to be under.
    pub key: &'a LoggedKey,
    /// Its public inputs, canonical.
    pub public_inputs: &'a [Fr],
    /// The proof, snarkjs JSON as submitted or logged.
    pub proof: &'a Value,
}

/// Parses every claim's proof with full validation (canonical coordinates,
/// on the curve, in the subgroup, not the identity) and checks those that
/// parse with one random-linear-combination check; one verdict per claim,
/// in order, each its own.
pub fn verify_proofs(claims: &[ProofClaim]) -> Vec<Result<VerifiedProof, Refusal>> {
    #[cfg(feature = "parallel")]
    use rayon::prelude::*;
    let parse = |claim: &ProofClaim| {
        snarkjs::proof_from_json(&claim.proof.to_string())
            .map_err(|e| Refusal::MalformedProof(e.to_string()))
    };
    #[cfg(feature = "parallel")]
    let parsed: Vec<Result<Proof<Bn254>, Refusal>> = claims.par_iter().map(parse).collect();
    #[cfg(not(feature = "parallel"))]
    let parsed: Vec<Result<Proof<Bn254>, Refusal>> = claims.iter().map(parse).collect();

    let mut verdicts: Vec<Option<Result<VerifiedProof, Refusal>>> = vec![None; claims.len()];
    let mut items = Vec::new();
    let mut positions = Vec::new();
    for (i, (claim, proof)) in claims.iter().zip(&parsed).enumerate() {
        match proof {
            Err(e) => verdicts[i] = Some(Err(e.clone())),
            Ok(_) if claim.public_inputs.len() != claim.key.prepared.public_inputs() => {
                verdicts[i] = Some(Err(Refusal::WrongPublicInputCount {
                    expected: claim.key.prepared.public_inputs(),
                    found: claim.public_inputs.len(),
                }))
            }
            Ok(proof) => {
                items.push(Item {
                    key: &claim.key.prepared,
                    proof,
                    public_inputs: claim.public_inputs,
                });
                positions.push(i);
            }
        }
    }
    for (i, outcome) in positions.into_iter().zip(verify_batch(&items)) {
        let claim = &claims[i];
        verdicts[i] = Some(match outcome {
            Ok(true) => {
                let proof = snarkjs::proof_to_json(parsed[i].as_ref().expect("parsed"));
                let inputs: Vec<String> = claim.public_inputs.iter().map(to_decimal).collect();
                Ok(VerifiedProof {
                    digest: statement_digest(&claim.key.key_id, &inputs, &proof),
                    proof,
                })
            }
            Ok(false) => Err(Refusal::InvalidProof),
            Err(e) => Err(malformed("public_inputs", e.to_string())),
        });
    }
    verdicts
        .into_iter()
        .map(|v| v.expect("a verdict per claim"))
        .collect()
}

/// Case numbers are 1 to 128 bytes without control characters, so every
/// store keeps them exactly.
pub fn check_case_id(case_id: &str) -> Result<(), Refusal> {
    if case_id.is_empty() || case_id.len() > 128 || case_id.chars().any(char::is_control) {
        return Err(malformed(
            "case_id",
            "a case id is 1 to 128 bytes without control characters",
        ));
    }
    Ok(())
}

/// Parses a canonical decimal field element; `field` names it in errors.
pub fn canonical(field: &str, text: &str) -> Result<Fr, Refusal> {
    parse_field_element(text).map_err(|e| Refusal::NonCanonical {
        field: field.to_string(),
        problem: e.to_string(),
    })
}

/// The statement a result is deduplicated on: (key id, case, subject tag).
type StatementKey = (String, String, String);

/// How many entries of each kind the log holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Governance entries.
    pub governance: u64,
    /// Key entries.
    pub keys: u64,
    /// Root entries.
    pub roots: u64,
    /// Result entries.
    pub results: u64,
    /// Decision entries.
    pub decisions: u64,
    /// Procedure entries.
    #[serde(default)]
    pub procedures: u64,
    /// Case entries.
    #[serde(default)]
    pub cases: u64,
    /// Unmet entries.
    #[serde(default)]
    pub unmet: u64,
    /// Hand-overs of the log's key.
    #[serde(default)]
    pub handovers: u64,
}

/// The state of a log after some prefix of its entries: everything the
/// rules need to judge the next one.
#[derive(Debug, Default)]
pub struct LogState {
    frontier: Frontier,
    last_time: Option<i64>,
    governance: Option<Governance>,
    keys: BTreeMap<String, Arc<LoggedKey>>,
    key_by_vk: HashMap<Hash, String>,
    roots: HashMap<String, Vec<AnchoredRoot>>,
    statements: HashMap<StatementKey, u64>,
    results: HashMap<u64, LoggedResult>,
    decisions: HashMap<u64, LoggedDecision>,
    cases: HashMap<String, Vec<u64>>,
    procedures: BTreeMap<String, u64>,
    procedure_versions: BTreeMap<u64, Arc<LoggedProcedure>>,
    applications: HashMap<String, Application>,
    unmet: HashMap<u64, LoggedUnmet>,
    handovers: Vec<(u64, String)>,
    counts: Counts,
}

impl LogState {
    /// The state of the empty log.
    pub fn new() -> LogState {
        LogState::default()
    }

    /// The number of entries applied.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The log's Merkle tree root after the entries applied.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The right edge of the log's tree.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The governance in force, once the first entry is applied.
    pub fn governance(&self) -> Option<&Governance> {
        self.governance.as_ref()
    }

    /// Whether `department` may anchor roots of `registry`: the part of
    /// the root rule that the request's path alone decides, so that a
    /// service can refuse before it reads the body.
    pub fn may_anchor_root(&self, department: &str, registry: &str) -> Result<(), Refusal> {
        let governance = self
            .governance
            .as_ref()
            .ok_or(Refusal::NoGovernance { kind: "root" })?;
        check_owner(governance, registry, department)
    }

    /// Whether `department` may decide cases: the part of the decision
    /// rule that the caller alone decides, so that a service can refuse
    /// before it reads the body.
    pub fn may_decide(&self, department: &str) -> Result<(), Refusal> {
        let governance = self
            .governance
            .as_ref()
            .ok_or(Refusal::NoGovernance { kind: "decision" })?;
        check_decider(governance, department).map(|_| ())
    }

    /// The time of the last entry, Unix seconds.
    pub fn last_time(&self) -> Option<i64> {
        self.last_time
    }

    /// The time the next entry takes when stamped at `now`: `now`, or the
    /// last entry's time if that is later, since times never go back.
    /// Requests stamped out of order (across a second's boundary, or
    /// against a clock that stepped back) are stamped so.
    pub fn next_time(&self, now: i64) -> i64 {
        self.last_time.map_or(now, |last| last.max(now))
    }

    /// How many entries of each kind were applied.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The key with this id.
    pub fn key(&self, key_id: &str) -> Option<&Arc<LoggedKey>> {
        self.keys.get(key_id)
    }

    /// Every key, by id.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<LoggedKey>> {
        self.keys.values()
    }

    /// Every anchoring of `registry`'s roots, in log order.
    pub fn roots(&self, registry: &str) -> &[AnchoredRoot] {
        self.roots.get(registry).map_or(&[], Vec::as_slice)
    }

    /// The result at a log index.
    pub fn result(&self, index: u64) -> Option<&LoggedResult> {
        self.results.get(&index)
    }

    /// The decision at a log index.
    pub fn decision(&self, index: u64) -> Option<&LoggedDecision> {
        self.decisions.get(&index)
    }

    /// The log indexes of a case's entries (its creation, results, unmet
    /// evidence and decisions), in log order.
    pub fn case(&self, case_id: &str) -> &[u64] {
        self.cases.get(case_id).map_or(&[], Vec::as_slice)
    }

    /// The hand-overs of the log's key, in log order: each entry's index
    /// and the verifier key it hands over to (see [`crate::handover`]).
    pub fn handovers(&self) -> &[(u64, String)] {
        &self.handovers
    }

    /// A case's results, in log order.
    pub fn case_results(&self, case_id: &str) -> Vec<&LoggedResult> {
        self.case(case_id)
            .iter()
            .filter_map(|i| self.results.get(i))
            .collect()
    }

    /// A case's decisions, in log order.
    pub fn case_decisions(&self, case_id: &str) -> Vec<&LoggedDecision> {
        self.case(case_id)
            .iter()
            .filter_map(|i| self.decisions.get(i))
            .collect()
    }

    /// Every rule but the proof's own validity: whether `entry` would be
    /// accepted next, given a valid proof. The service asks this before it
    /// spends a pairing on a submission.
    pub fn check(&self, entry: &Entry) -> Result<(), Refusal> {
        self.judge(entry).map(drop)
    }

    /// Applies `entry` as the log's next entry, verifying its proof if it is
    /// a result.
    pub fn apply(&mut self, entry: &Entry) -> Result<Applied, Refusal> {
        let change = self.judge(entry)?;
        if let Change::Result { key, inputs, .. } = &change {
            let Entry::Result { proof, .. } = entry else {
                unreachable!("a result change comes from a result entry")
            };
            let verified = verify_proofs(&[ProofClaim {
                key,
                public_inputs: inputs,
                proof,
            }])
            .remove(0)?;
            if verified.proof != *proof {
                return Err(Refusal::MalformedProof(
                    "the proof is not in canonical snarkjs form".into(),
                ));
            }
        }
        Ok(self.commit(entry, change))
    }

    /// Applies a result entry whose proof [`verify_proofs`] found valid (or
    /// any other entry, for which `verified` is ignored).
    pub fn apply_verified(
        &mut self,
        entry: &Entry,
        verified: &VerifiedProof,
    ) -> Result<Applied, Refusal> {
        self.apply_verified_leaf(entry, verified, None)
    }

    /// [`LogState::apply_verified`], given the leaf hash of the entry's
    /// bytes when the caller has them (a replay parsed them with
    /// [`Entry::from_bytes`], which makes sure they are the canonical ones).
    pub(crate) fn apply_verified_leaf(
        &mut self,
        entry: &Entry,
        verified: &VerifiedProof,
        leaf: Option<Hash>,
    ) -> Result<Applied, Refusal> {
        let change = self.judge(entry)?;
        if let Entry::Result {
            key_id,
            public_inputs,
            proof,
            ..
        } = entry
        {
            if verified.digest != statement_digest(key_id, public_inputs, proof) {
                return Err(Refusal::MalformedProof(
                    "the proof verified is not this result's proof (or not canonical)".into(),
                ));
            }
        }
        Ok(self.commit_leaf(entry, change, leaf))
    }

    /// The claim to verify for a result entry that passes every other rule.
    pub fn claim_inputs(&self, entry: &Entry) -> Result<(Arc<LoggedKey>, Vec<Fr>), Refusal> {
        match self.judge(entry)? {
            Change::Result { key, inputs, .. } => Ok((key, inputs)),
            _ => Err(malformed("type", "not a result entry")),
        }
    }

    fn judge(&self, entry: &Entry) -> Result<Change, Refusal> {
        let time = parse_time(entry.time())
            .ok_or_else(|| Refusal::MalformedTime(entry.time().to_string()))?;
        if let Some(previous) = self.last_time {
            if time < previous {
                return Err(Refusal::TimeWentBack {
                    time: entry.time().to_string(),
                    previous: crate::entry::format_time(previous),
                });
            }
        }
        let index = self.size();
        let governance = match (&self.governance, entry) {
            (_, Entry::Governance { .. }) => None,
            (None, other) => return Err(Refusal::NoGovernance { kind: other.kind() }),
            (Some(g), _) => Some(g),
        };
        match entry {
            Entry::Governance {
                departments,
                freshness_seconds,
                grace_seconds,
                origin,
                require_multi_party,
                endorsements,
                ..
            } => judge_governance(
                index,
                time,
                entry,
                GovernanceDraft {
                    departments,
                    freshness_seconds: *freshness_seconds,
                    grace_seconds: *grace_seconds,
                    origin,
                    require_multi_party: *require_multi_party,
                    endorsements,
                },
                self.governance.as_ref(),
            )
            .map(Change::Governance),
            Entry::Key {
                key_id, registry, ..
            } => {
                let governance = governance.expect("checked above");
                if let Some(existing) = self.keys.get(key_id) {
                    // A key logged single-party stays so: its entry is
                    // never replaced, so production mode refuses it even
                    // when it comes again with a provenance.
                    existing.check_production(governance)?;
                    // The key id covers the key and the policy, not the
                    // registry: the same key for another registry is a
                    // reuse, not a repeat.
                    return Err(if existing.registry == *registry {
                        Refusal::AlreadyLogged {
                            index: existing.index,
                        }
                    } else {
                        Refusal::KeyReused {
                            existing: existing.key_id.clone(),
                        }
                    });
                }
                if governance.owner_of(registry).is_none() {
                    return Err(Refusal::UnknownRegistry(registry.clone()));
                }
                let (key, vk_digest) = LoggedKey::from_entry(index, entry)?;
                key.check_production(governance)?;
                if let Some(existing) = self.key_by_vk.get(&vk_digest) {
                    return Err(Refusal::KeyReused {
                        existing: existing.clone(),
                    });
                }
                Ok(Change::Key(Box::new(key), vk_digest))
            }
            Entry::Root {
                department,
                registry,
                root,
                ..
            } => {
                let governance = governance.expect("checked above");
                check_owner(governance, registry, department)?;
                let parsed = canonical("root", root)?;
                check_department_signature(governance, department, entry, time)?;
                debug_assert_eq!(to_decimal(&parsed), *root);
                Ok(Change::Root(AnchoredRoot {
                    index,
                    root: root.clone(),
                    department: department.clone(),
                    time,
                }))
            }
            Entry::Result {
                key_id,
                case_id,
                subject_tag,
                registry_root,
                public_inputs,
                department,
                ..
            } => {
                let governance = governance.expect("checked above");
                check_case_id(case_id)?;
                let key = self
                    .keys
                    .get(key_id)
                    .ok_or_else(|| Refusal::UnknownKey(key_id.clone()))?;
                check_owner(governance, &key.registry, department)?;
                key.check_production(governance)?;
                let inputs = check_statement(key, entry)?;
                let statement = (key_id.clone(), case_id.clone(), subject_tag.clone());
                if let Some(&existing) = self.statements.get(&statement) {
                    let logged = &self.results[&existing];
                    return Err(if logged.public_inputs == *public_inputs {
                        Refusal::AlreadyLogged { index: existing }
                    } else {
                        Refusal::ConflictingStatement { index: existing }
                    });
                }
                self.check_root(governance, &key.registry, registry_root, time)?;
                let evidence = self.judge_answer(key, case_id, public_inputs, subject_tag)?;
                Ok(Change::Result {
                    key: key.clone(),
                    inputs,
                    evidence,
                    result: LoggedResult {
                        index,
                        key_id: key_id.clone(),
                        case_id: case_id.clone(),
                        subject_tag: subject_tag.clone(),
                        registry_root: registry_root.clone(),
                        public_inputs: public_inputs.clone(),
                        department: department.clone(),
                        time,
                    },
                })
            }
            Entry::Decision {
                case_id,
                department,
                decision,
                results,
                note,
                automatic,
                amends,
                licence,
                ..
            } => {
                let governance = governance.expect("checked above");
                check_case_id(case_id)?;
                check_decider(governance, department)?;
                if !matches!(decision.as_str(), "approved" | "refused" | "revoked") {
                    return Err(malformed(
                        "decision",
                        format!("must be `approved`, `refused` or `revoked`, not `{decision}`"),
                    ));
                }
                if note.len() > MAX_NOTE_BYTES {
                    return Err(malformed(
                        "note",
                        format!("must be at most {MAX_NOTE_BYTES} bytes"),
                    ));
                }
                let of_case = |i: &u64| match (self.results.get(i), self.unmet.get(i)) {
                    (Some(r), _) => r.case_id == *case_id,
                    (_, Some(u)) => u.case_id == *case_id,
                    _ => false,
                };
                if let Some(&stray) = results.iter().find(|i| !of_case(i)) {
                    return Err(Refusal::CitesOtherCase {
                        index: stray,
                        case_id: case_id.clone(),
                    });
                }
                if *automatic {
                    if entry.signature().is_some() {
                        return Err(Refusal::BadSignature {
                            department: department.clone(),
                            problem: "an automatic decision is the rules' and carries no signature"
                                .into(),
                        });
                    }
                } else {
                    check_department_signature(governance, department, entry, time)?;
                }
                self.judge_decision_rule(entry, time)?;
                Ok(Change::Decision(LoggedDecision {
                    index,
                    case_id: case_id.clone(),
                    department: department.clone(),
                    decision: decision.clone(),
                    results: results.clone(),
                    note: note.clone(),
                    automatic: *automatic,
                    amends: *amends,
                    licence: licence.clone(),
                    time,
                }))
            }
            Entry::Procedure { .. } => {
                let governance = governance.expect("checked above");
                self.judge_procedure(index, time, governance, entry)
                    .map(Change::Procedure)
            }
            Entry::Case {
                case_id, procedure, ..
            } => self
                .judge_case(index, time, case_id, procedure)
                .map(Change::Case),
            Entry::Unmet { department, .. } => {
                let governance = governance.expect("checked above");
                let unmet = self.judge_unmet(index, governance, entry)?;
                check_department_signature(governance, department, entry, time)?;
                Ok(Change::Unmet(unmet))
            }
            Entry::LogKey {
                previous,
                key,
                signature,
                ..
            } => {
                let governance = governance.expect("checked above");
                check_handover(previous, key, signature, governance.origin.as_deref())
                    .map_err(Refusal::BadHandover)?;
                if let Some((_, current)) = self.handovers.last() {
                    if current != previous {
                        return Err(Refusal::BadHandover(HandoverError::NotCurrent {
                            expected: key_id_of(current),
                            found: key_id_of(previous),
                        }));
                    }
                }
                Ok(Change::Handover(key.clone()))
            }
        }
    }

    /// Whether `root` may back a proof of `registry` at `time`: anchored by
    /// the owner, fresh, and the latest or superseded within the grace
    /// period.
    fn check_root(
        &self,
        governance: &Governance,
        registry: &str,
        root: &str,
        time: i64,
    ) -> Result<(), Refusal> {
        let history = self.roots(registry);
        let owner = governance.owner_of(registry).map(|d| d.name.as_str());
        // The latest anchoring of this root by the current owner.
        let Some(position) = history
            .iter()
            .rposition(|r| r.root == root && Some(r.department.as_str()) == owner)
        else {
            return Err(Refusal::RootNotAnchored {
                registry: registry.to_string(),
                root: root.to_string(),
            });
        };
        let anchored = &history[position];
        let age = time - anchored.time;
        if age > governance.freshness_seconds as i64 {
            return Err(Refusal::RootStale {
                registry: registry.to_string(),
                root: root.to_string(),
                age_seconds: age,
                window_seconds: governance.freshness_seconds,
            });
        }
        if let Some(newer) = history[position + 1..]
            .iter()
            .find(|r| r.root != root && Some(r.department.as_str()) == owner)
        {
            let since = time - newer.time;
            if since > governance.grace_seconds as i64 {
                return Err(Refusal::RootSuperseded {
                    registry: registry.to_string(),
                    root: root.to_string(),
                    by_index: newer.index,
                    superseded_seconds: since,
                    grace_seconds: governance.grace_seconds,
                });
            }
        }
        Ok(())
    }

    fn commit(&mut self, entry: &Entry, change: Change) -> Applied {
        self.commit_leaf(entry, change, None)
    }

    fn commit_leaf(&mut self, entry: &Entry, change: Change, leaf: Option<Hash>) -> Applied {
        let index = self.size();
        self.frontier
            .push(leaf.unwrap_or_else(|| leaf_hash(&entry.to_bytes())));
        self.last_time = parse_time(entry.time());
        match change {
            Change::Governance(governance) => {
                self.governance = Some(governance);
                self.counts.governance += 1;
            }
            Change::Key(key, vk_digest) => {
                self.key_by_vk.insert(vk_digest, key.key_id.clone());
                self.keys.insert(key.key_id.clone(), Arc::new(*key));
                self.counts.keys += 1;
            }
            Change::Root(root) => {
                let Entry::Root { registry, .. } = entry else {
                    unreachable!("a root change comes from a root entry")
                };
                self.roots.entry(registry.clone()).or_default().push(root);
                self.counts.roots += 1;
            }
            Change::Result {
                result, evidence, ..
            } => {
                if let Some(evidence) = evidence {
                    if let Some(application) = self.applications.get_mut(&result.case_id) {
                        application.answers.insert(
                            evidence,
                            Answer::Verified {
                                index,
                                subject_tag: result.subject_tag.clone(),
                            },
                        );
                    }
                }
                self.statements.insert(
                    (
                        result.key_id.clone(),
                        result.case_id.clone(),
                        result.subject_tag.clone(),
                    ),
                    index,
                );
                self.cases
                    .entry(result.case_id.clone())
                    .or_default()
                    .push(index);
                self.results.insert(index, result);
                self.counts.results += 1;
            }
            Change::Decision(decision) => {
                self.cases
                    .entry(decision.case_id.clone())
                    .or_default()
                    .push(index);
                if let Some(application) = self.applications.get_mut(&decision.case_id) {
                    application.decisions.push(index);
                }
                self.decisions.insert(index, decision);
                self.counts.decisions += 1;
            }
            Change::Procedure(procedure) => {
                self.procedures
                    .insert(procedure.procedure.name.clone(), index);
                self.procedure_versions.insert(index, Arc::new(procedure));
                self.counts.procedures += 1;
            }
            Change::Case(application) => {
                self.cases
                    .entry(application.case_id.clone())
                    .or_default()
                    .push(index);
                self.applications
                    .insert(application.case_id.clone(), application);
                self.counts.cases += 1;
            }
            Change::Unmet(unmet) => {
                self.cases
                    .entry(unmet.case_id.clone())
                    .or_default()
                    .push(index);
                if let Some(application) = self.applications.get_mut(&unmet.case_id) {
                    application.answers.insert(
                        unmet.evidence.clone(),
                        Answer::Unmet {
                            index,
                            reason: unmet.reason.clone(),
                            conditions: unmet.conditions.clone(),
                        },
                    );
                }
                self.unmet.insert(index, unmet);
                self.counts.unmet += 1;
            }
            Change::Handover(key) => {
                self.handovers.push((index, key));
                self.counts.handovers += 1;
            }
        }
        Applied {
            index,
            size: self.size(),
        }
    }
}

/// The rules a result obeys by itself, given its key: a well-formed case
/// number whose encoding is `case_id`, the key's number of public inputs,
/// every input canonical, and `registry_root` and `subject_tag` repeating
/// inputs 0 and 2. Returns the inputs. (The rules that need the rest of the
/// log, and the proof, come on top.)
pub fn check_statement(key: &LoggedKey, entry: &Entry) -> Result<Vec<Fr>, Refusal> {
    let Entry::Result {
        key_id,
        case_id,
        subject_tag,
        registry_root,
        public_inputs,
        ..
    } = entry
    else {
        return Err(malformed("type", "not a result entry"));
    };
    if *key_id != key.key_id {
        return Err(Refusal::UnknownKey(key_id.clone()));
    }
    check_case_id(case_id)?;
    let expected = key.prepared.public_inputs();
    if public_inputs.len() != expected {
        return Err(Refusal::WrongPublicInputCount {
            expected,
            found: public_inputs.len(),
        });
    }
    let inputs = public_inputs
        .iter()
        .enumerate()
        .map(|(i, text)| canonical(&format!("public_inputs[{i}]"), text))
        .collect::<Result<Vec<Fr>, _>>()?;
    if inputs[1] != Statement::case_id(case_id) {
        return Err(Refusal::CaseMismatch(case_id.clone()));
    }
    if *registry_root != public_inputs[0] {
        return Err(malformed("registry_root", "is not public input 0"));
    }
    if *subject_tag != public_inputs[2] {
        return Err(malformed("subject_tag", "is not public input 2"));
    }
    Ok(inputs)
}

/// What an accepted entry changes.
enum Change {
    Governance(Governance),
    Key(Box<LoggedKey>, Hash),
    Root(AnchoredRoot),
    Result {
        key: Arc<LoggedKey>,
        inputs: Vec<Fr>,
        result: LoggedResult,
        /// The item of evidence it answers, for an application's case.
        evidence: Option<String>,
    },
    Decision(LoggedDecision),
    Procedure(LoggedProcedure),
    Case(Application),
    Unmet(LoggedUnmet),
    Handover(String),
}

/// The key id of a verifier key the rules accepted before.
fn key_id_of(verifier_key: &str) -> String {
    LogVerifier::from_verifier_key(verifier_key)
        .map(|v| v.key_id())
        .unwrap_or_else(|_| verifier_key.to_string())
}

/// The department, if it may decide cases.
fn check_decider<'g>(
    governance: &'g Governance,
    department: &str,
) -> Result<&'g Department, Refusal> {
    let deciding = governance
        .departments
        .get(department)
        .ok_or_else(|| Refusal::UnknownDepartment(department.to_string()))?;
    if !deciding.decides {
        return Err(Refusal::NotDecider(department.to_string()));
    }
    Ok(deciding)
}

/// That `department` owns `registry`.
fn check_owner(governance: &Governance, registry: &str, department: &str) -> Result<(), Refusal> {
    match governance.owner_of(registry) {
        None => Err(Refusal::UnknownRegistry(registry.to_string())),
        Some(owner) if owner.name != department => Err(Refusal::NotOwner {
            registry: registry.to_string(),
            owner: owner.name.clone(),
            department: department.to_string(),
        }),
        Some(_) => Ok(()),
    }
}

/// The fields of a governance entry, borrowed.
struct GovernanceDraft<'a> {
    departments: &'a [GovernedDepartment],
    freshness_seconds: u64,
    grace_seconds: u64,
    origin: &'a Option<String>,
    require_multi_party: bool,
    endorsements: &'a [Endorsement],
}

fn judge_governance(
    index: u64,
    time: i64,
    entry: &Entry,
    draft: GovernanceDraft,
    previous: Option<&Governance>,
) -> Result<Governance, Refusal> {
    let invalid = |problem: String| Refusal::InvalidGovernance(problem);
    for (name, value) in [
        ("freshness_seconds", draft.freshness_seconds),
        ("grace_seconds", draft.grace_seconds),
    ] {
        if value > i64::MAX as u64 {
            return Err(invalid(format!("{name} {value} exceeds i64::MAX seconds")));
        }
    }
    let mut by_name = BTreeMap::new();
    let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
    for d in draft.departments {
        if d.name.is_empty() {
            return Err(invalid("a department has an empty name".into()));
        }
        let registries: BTreeSet<String> = d.registries.iter().cloned().collect();
        if registries.len() != d.registries.len() || registries.iter().any(String::is_empty) {
            return Err(invalid(format!(
                "department `{}` lists an empty or repeated registry",
                d.name
            )));
        }
        for registry in &d.registries {
            if let Some(other) = owners.insert(registry, &d.name) {
                return Err(invalid(format!(
                    "registry `{registry}` is owned by both `{other}` and `{}`",
                    d.name
                )));
            }
        }
        if let Some(key) = &d.key {
            let parsed = DepartmentKey::from_verifier_key(key)
                .map_err(|e| invalid(format!("department `{}`: key: {e}", d.name)))?;
            if parsed.department() != d.name {
                return Err(invalid(format!(
                    "department `{}`: its key is named `{}`; a department's key bears its name",
                    d.name,
                    parsed.department()
                )));
            }
        }
        let department = Department {
            name: d.name.clone(),
            registries,
            decides: d.decides,
            key: d.key.clone(),
        };
        if by_name.insert(d.name.clone(), department).is_some() {
            return Err(invalid(format!("department `{}` is listed twice", d.name)));
        }
    }
    if let Some(previous) = previous.and_then(|g| g.origin.as_ref()) {
        if draft.origin.as_ref() != Some(previous) {
            return Err(invalid(format!(
                "the log's origin is `{previous}` and never changes"
            )));
        }
    }
    if draft.origin.is_none() && by_name.values().any(|d| d.key.is_some()) {
        return Err(invalid(
            "departments have keys, so governance must name the log's origin, which their signatures name"
                .into(),
        ));
    }
    let governance = Governance {
        index,
        departments: by_name,
        freshness_seconds: draft.freshness_seconds,
        grace_seconds: draft.grace_seconds,
        origin: draft.origin.clone(),
        require_multi_party: draft.require_multi_party,
    };
    let signed = check_endorsements(time, entry, &draft, previous)?;
    if let Some(previous) = previous {
        authorise_governance(previous, &governance, &signed)?;
    }
    Ok(governance)
}

/// The departments whose key under `previous` validly endorses `entry`.
/// Every endorsement must verify: a log holds no signature that does not.
fn check_endorsements(
    time: i64,
    entry: &Entry,
    draft: &GovernanceDraft,
    previous: Option<&Governance>,
) -> Result<BTreeSet<String>, Refusal> {
    let mut signed = BTreeSet::new();
    for endorsement in draft.endorsements {
        let name = &endorsement.department;
        let key = previous
            .and_then(|g| g.departments.get(name))
            .and_then(|d| d.key.as_deref())
            .ok_or_else(|| Refusal::BadSignature {
                department: name.clone(),
                problem: "it has no key in the governance in force, so it cannot endorse".into(),
            })?;
        let origin = draft.origin.as_deref().unwrap_or_default();
        check_signed(
            key,
            name,
            entry,
            origin,
            previous.map(|g| g.index),
            &endorsement.signature,
            time,
            None,
        )?;
        if !signed.insert(name.clone()) {
            return Err(Refusal::BadSignature {
                department: name.clone(),
                problem: "it endorses the entry twice".into(),
            });
        }
    }
    Ok(signed)
}

/// Whether the departments in `signed` may change `previous` into `next`.
///
/// A department with a key is changed (its registries, its right to decide,
/// its key, or its removal) only with its own endorsement, or, if it has
/// lost its key, with a recovery quorum: a strict majority of the other
/// departments with keys. Once any department has a key, the rules'
/// parameters (the windows and production mode) change only with a strict
/// majority of the departments with keys.
fn authorise_governance(
    previous: &Governance,
    next: &Governance,
    signed: &BTreeSet<String>,
) -> Result<(), Refusal> {
    let keyed: BTreeSet<&String> = previous
        .departments
        .values()
        .filter(|d| d.key.is_some())
        .map(|d| &d.name)
        .collect();
    let majority = |of: &BTreeSet<&String>| {
        let count = of.iter().filter(|name| signed.contains(**name)).count();
        count > of.len() / 2 && count > 0
    };
    for (name, before) in &previous.departments {
        if before.key.is_none() || next.departments.get(name) == Some(before) {
            continue;
        }
        let mut others = keyed.clone();
        others.remove(name);
        if !signed.contains(name) && !majority(&others) {
            let others: Vec<&str> = others.iter().map(|s| s.as_str()).collect();
            return Err(Refusal::Unendorsed(format!(
                "changing department `{name}` needs its endorsement, or a recovery quorum of more than half of the other departments with keys ({})",
                if others.is_empty() { "there are none".to_string() } else { others.join(", ") }
            )));
        }
    }
    let parameters_changed = previous.freshness_seconds != next.freshness_seconds
        || previous.grace_seconds != next.grace_seconds
        || previous.require_multi_party != next.require_multi_party;
    if parameters_changed && !keyed.is_empty() && !majority(&keyed) {
        let keyed: Vec<&str> = keyed.iter().map(|s| s.as_str()).collect();
        return Err(Refusal::Unendorsed(format!(
            "changing freshness_seconds, grace_seconds or require_multi_party needs the endorsement of more than half of the departments with keys ({})",
            keyed.join(", ")
        )));
    }
    Ok(())
}

/// Checks a department's signature over `entry` by the verifier key `key`,
/// signed no later than [`MAX_SIGNATURE_SKEW_SECONDS`] after `time` and,
/// if `max_age` is given, no earlier than `max_age` seconds before it.
#[allow(clippy::too_many_arguments)]
fn check_signed(
    key: &str,
    department: &str,
    entry: &Entry,
    origin: &str,
    replaces: Option<u64>,
    signature: &EntrySignature,
    time: i64,
    max_age: Option<i64>,
) -> Result<(), Refusal> {
    let bad = |problem: String| Refusal::BadSignature {
        department: department.to_string(),
        problem,
    };
    let key = DepartmentKey::from_verifier_key(key).map_err(|e| bad(e.to_string()))?;
    key.verify(entry, origin, replaces, signature)
        .map_err(|e| bad(e.to_string()))?;
    let signed_at = parse_time(&signature.signed_at).expect("verify checks signed_at");
    if signed_at > time + MAX_SIGNATURE_SKEW_SECONDS {
        return Err(bad(format!(
            "signed at {}, more than {MAX_SIGNATURE_SKEW_SECONDS} s after the entry's time",
            signature.signed_at
        )));
    }
    if let Some(max_age) = max_age {
        if time - signed_at > max_age {
            return Err(bad(format!(
                "signed at {}, more than {max_age} s before the entry's time; sign it again",
                signature.signed_at
            )));
        }
    }
    Ok(())
}

/// Checks the signature `entry` carries for `department` under
/// `governance`: required, and valid within the signature window, once the
/// department has a key; absent while it has none.
pub fn check_department_signature(
    governance: &Governance,
    department: &str,
    entry: &Entry,
    time: i64,
) -> Result<(), Refusal> {
    let key = governance
        .departments
        .get(department)
        .and_then(|d| d.key.as_deref());
    match (key, entry.signature()) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(Refusal::BadSignature {
            department: department.to_string(),
            problem: "it has no key in governance, so its entries carry no signature".into(),
        }),
        (Some(_), None) => Err(Refusal::Unsigned {
            department: department.to_string(),
            kind: entry.kind(),
        }),
        (Some(key), Some(signature)) => check_signed(
            key,
            department,
            entry,
            governance.origin.as_deref().unwrap_or_default(),
            None,
            signature,
            time,
            Some(MAX_SIGNATURE_AGE_SECONDS),
        ),
    }
}

impl LogState {
    /// Applies `entry` with every rule but the pairing check of its proof.
    ///
    /// Only for entries whose proofs were verified when they were first
    /// accepted and that are pinned since by a checkpoint the caller signed
    /// or verified: the service replays its own signed log with this at
    /// start-up. Everyone else uses [`LogState::apply`].
    pub fn apply_pinned(&mut self, entry: &Entry) -> Result<Applied, Refusal> {
        let change = self.judge(entry)?;
        Ok(self.commit(entry, change))
    }

    /// The state as a snapshot that [`LogState::from_snapshot`] restores.
    pub fn to_snapshot(&self) -> Snapshot {
        let mut results: Vec<LoggedResult> = self.results.values().cloned().collect();
        results.sort_by_key(|r| r.index);
        let mut decisions: Vec<LoggedDecision> = self.decisions.values().cloned().collect();
        decisions.sort_by_key(|d| d.index);
        let mut keys: Vec<(u64, Entry)> =
            self.keys.values().map(|k| (k.index, k.entry())).collect();
        keys.sort_by_key(|(index, _)| *index);
        let mut applications: Vec<Application> = self.applications.values().cloned().collect();
        applications.sort_by_key(|a| a.index);
        let mut unmet: Vec<LoggedUnmet> = self.unmet.values().cloned().collect();
        unmet.sort_by_key(|u| u.index);
        Snapshot {
            format: SNAPSHOT_FORMAT.to_string(),
            procedures: self
                .procedure_versions
                .values()
                .map(|p| (**p).clone())
                .collect(),
            applications,
            unmet,
            frontier: self.frontier.clone(),
            last_time: self.last_time,
            governance: self.governance.clone(),
            keys,
            roots: self
                .roots
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            results,
            decisions,
            handovers: self.handovers.clone(),
            counts: self.counts,
        }
    }

    /// Restores a state from a snapshot, re-checking each key it holds.
    pub fn from_snapshot(snapshot: Snapshot) -> Result<LogState, Refusal> {
        let damaged = |what: &str| Refusal::Malformed {
            field: "snapshot".into(),
            problem: what.to_string(),
        };
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(damaged("not a zkgov-log-state-v2 snapshot"));
        }
        if !snapshot.frontier.is_well_formed() {
            return Err(damaged("the frontier does not fit its size"));
        }
        let mut state = LogState {
            frontier: snapshot.frontier,
            last_time: snapshot.last_time,
            governance: snapshot.governance,
            roots: snapshot.roots.into_iter().collect(),
            handovers: snapshot.handovers,
            counts: snapshot.counts,
            ..LogState::default()
        };
        for (index, entry) in &snapshot.keys {
            if !matches!(entry, Entry::Key { .. }) {
                return Err(damaged("a key that is not a key entry"));
            }
            let (key, vk_digest) = LoggedKey::from_entry(*index, entry)?;
            state.key_by_vk.insert(vk_digest, key.key_id.clone());
            state.keys.insert(key.key_id.clone(), Arc::new(key));
        }
        let mut case_entries: Vec<(u64, String)> = Vec::new();
        for result in snapshot.results {
            state.statements.insert(
                (
                    result.key_id.clone(),
                    result.case_id.clone(),
                    result.subject_tag.clone(),
                ),
                result.index,
            );
            case_entries.push((result.index, result.case_id.clone()));
            state.results.insert(result.index, result);
        }
        for decision in snapshot.decisions {
            case_entries.push((decision.index, decision.case_id.clone()));
            state.decisions.insert(decision.index, decision);
        }
        for procedure in snapshot.procedures {
            state
                .procedures
                .insert(procedure.procedure.name.clone(), procedure.index);
            state
                .procedure_versions
                .insert(procedure.index, Arc::new(procedure));
        }
        for application in snapshot.applications {
            if !state
                .procedure_versions
                .contains_key(&application.procedure)
            {
                return Err(damaged("an application of an unknown procedure"));
            }
            case_entries.push((application.index, application.case_id.clone()));
            state
                .applications
                .insert(application.case_id.clone(), application);
        }
        for unmet in snapshot.unmet {
            case_entries.push((unmet.index, unmet.case_id.clone()));
            state.unmet.insert(unmet.index, unmet);
        }
        case_entries.sort();
        for (index, case_id) in case_entries {
            state.cases.entry(case_id).or_default().push(index);
        }
        Ok(state)
    }
}

const SNAPSHOT_FORMAT: &str = "zkgov-log-state-v2";

/// A [`LogState`] as data, for a monitor to keep between runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    format: String,
    frontier: Frontier,
    last_time: Option<i64>,
    governance: Option<Governance>,
    keys: Vec<(u64, Entry)>,
    roots: BTreeMap<String, Vec<AnchoredRoot>>,
    results: Vec<LoggedResult>,
    decisions: Vec<LoggedDecision>,
    procedures: Vec<LoggedProcedure>,
    applications: Vec<Application>,
    unmet: Vec<LoggedUnmet>,
    #[serde(default)]
    handovers: Vec<(u64, String)>,
    counts: Counts,
}

impl Snapshot {
    /// The log size the snapshot is at.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }
}

// ---------------------------------------------------------------- compare

/// One result of a case, as [`compare`] weighs it.
#[derive(Clone, Copy, Debug)]
pub struct CaseResult<'a> {
    /// Its log index.
    pub index: u64,
    /// Its key.
    pub key: &'a LoggedKey,
    /// Its subject tag.
    pub subject_tag: &'a str,
    /// Its public inputs, canonical decimal.
    pub public_inputs: &'a [String],
}

/// One result in a [`Comparison`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ComparedResult {
    /// Its log index.
    pub index: u64,
    /// Its key id.
    #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::KeyId))]
    pub key_id: String,
    /// The key's policy.
    pub policy: String,
    /// Its subject tag.
    #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::FieldElement))]
    pub subject_tag: String,
    /// The registry root it used.
    #[cfg_attr(feature = "utoipa", schema(value_type = crate::openapi::FieldElement))]
    pub registry_root: String,
    /// Its params, decoded by type.
    pub params: BTreeMap<String, String>,
    /// Whether it counts towards the comparison.
    pub counts: bool,
    /// Why it does not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// Whether a case holds what the deciding department requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Comparison {
    /// The case number.
    pub case_id: String,
    /// Whether every required key has a result that counts.
    pub complete: bool,
    /// The required keys without one.
    pub missing: Vec<String>,
    /// Whether the results that count all carry one subject tag.
    pub tags_match: bool,
    /// Every result of the case under a required key, in log order.
    pub results: Vec<ComparedResult>,
    /// When complete and matching: the first counting result of each
    /// required key, which a decision cites.
    pub cited: Vec<u64>,
}

/// Compares a case's results against the required keys and the expected
/// param values (`NAME=VALUE`, encoded by each policy's param type): the
/// one rule that both the service's compare and `zkgov case compare
/// --verify` apply.
///
/// A result counts when its key is required and every expected param that
/// its policy has holds the expected value. The case is complete when each
/// required key has a counting result, and matches when the counting
/// results all carry one subject tag: a case whose results name two
/// applicants does not match, even if one of them alone would cover every
/// key.
pub fn compare(
    case_id: &str,
    required: &[String],
    expect: &[(String, String)],
    results: &[CaseResult],
) -> Result<Comparison, Refusal> {
    let required: BTreeSet<&str> = required.iter().map(String::as_str).collect();
    if required.is_empty() {
        return Err(malformed("require", "name at least one key id"));
    }
    let mut compared = Vec::new();
    let mut first: BTreeMap<&str, u64> = BTreeMap::new();
    let mut tags: BTreeSet<&str> = BTreeSet::new();
    for result in results {
        let key = result.key;
        if !required.contains(key.key_id.as_str()) {
            continue;
        }
        let mut why = Vec::new();
        for (name, raw) in expect {
            let Some(position) = key.param_names().iter().position(|n| n == name) else {
                continue;
            };
            let ty = &key.param_types[position];
            let wanted = ty
                .encode(name, raw)
                .map_err(|e| malformed(format!("expect {name}"), e.to_string()))?;
            let value = &result.public_inputs[FIXED_INPUTS.len() + position];
            if to_decimal(&wanted) != *value {
                let shown = parse_field_element(value)
                    .ok()
                    .and_then(|x| ty.decode(&x))
                    .unwrap_or_else(|| value.clone());
                why.push(format!("{name} is {shown}, not {raw}"));
            }
        }
        let counts = why.is_empty();
        if counts {
            first.entry(&key.key_id).or_insert(result.index);
            tags.insert(result.subject_tag);
        }
        compared.push(ComparedResult {
            index: result.index,
            key_id: key.key_id.clone(),
            policy: key.policy_name.clone(),
            subject_tag: result.subject_tag.to_string(),
            registry_root: result.public_inputs[0].clone(),
            params: key.decode_params(result.public_inputs),
            counts,
            why: (!counts).then(|| why.join("; ")),
        });
    }
    // An expectation that no required key's policy has is a mistake, not a
    // condition that always holds.
    let known: BTreeSet<&str> = results
        .iter()
        .filter(|r| required.contains(r.key.key_id.as_str()))
        .flat_map(|r| r.key.param_names().iter().map(String::as_str))
        .collect();
    if let Some((name, _)) = expect
        .iter()
        .find(|(name, _)| !known.contains(name.as_str()))
    {
        if !known.is_empty() {
            return Err(malformed(
                format!("expect {name}"),
                "no required key's policy has this param",
            ));
        }
    }
    let missing: Vec<String> = required
        .iter()
        .filter(|k| !first.contains_key(*k))
        .map(|k| k.to_string())
        .collect();
    let complete = missing.is_empty();
    let tags_match = complete && tags.len() == 1;
    Ok(Comparison {
        case_id: case_id.to_string(),
        complete,
        missing,
        tags_match,
        results: compared,
        cited: if tags_match {
            first.values().copied().collect()
        } else {
            Vec::new()
        },
    })
}

impl LogState {
    /// [`compare`] over the case's results in this state.
    pub fn compare(
        &self,
        case_id: &str,
        required: &[String],
        expect: &[(String, String)],
    ) -> Result<Comparison, Refusal> {
        let results = self.case_results(case_id);
        let views: Vec<CaseResult> = results
            .iter()
            .filter_map(|r| {
                Some(CaseResult {
                    index: r.index,
                    key: self.keys.get(&r.key_id)?,
                    subject_tag: &r.subject_tag,
                    public_inputs: &r.public_inputs,
                })
            })
            .collect();
        compare(case_id, required, expect, &views)
    }
}
