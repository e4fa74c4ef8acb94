//! The rules of applications: procedures, cases, the answers to their
//! evidence, and decisions under a procedure's rule.
//!
//! - **procedure**: it parses; its department decides and registers it;
//!   every item of evidence names a registry with an owner and a policy
//!   with a logged key over that registry, and gives exactly the policy's
//!   params, each fixed value encoding under the param's type; the licence
//!   registry, if any, belongs to the deciding department; no other
//!   procedure uses its case prefix.
//! - **case**: the procedure is registered, the number has its form
//!   (`PREFIX-YYYY-NNNNNN`) and no entry has used it before.
//! - **result** of an application's case: it proves one item of the
//!   procedure's evidence (the key's policy and registry) with exactly the
//!   item's params, computed ones taken at the case's creation; the item
//!   is not answered yet; the case is not decided; and its subject tag is
//!   that of the case's other results for the same applicant input.
//! - **unmet**: the case is an application's; the item exists and the
//!   department owns its registry; the item is not answered yet and the
//!   case is not decided; the reason is known, and only `not_satisfied`
//!   lists conditions.
//! - **decision**: a case is decided once; a later decision amends the
//!   latest one and says why. For an application's case the procedure's
//!   department decides; an `automatic` procedure's decision is exactly
//!   what [`LogState::due_decision`] computes from the answers, and a
//!   person may only amend it; an approval cites every item's result and
//!   carries the licence the procedure issues. An approval of any other
//!   case cites at least one result.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::statement::FIXED_INPUTS;

use super::{
    check_case_id, malformed, Governance, LogState, LoggedDecision, LoggedKey, Refusal,
    MAX_NOTE_BYTES,
};
use crate::entry::{format_time, Entry, Licence};
use crate::procedure::{DecisionRule, Procedure};

/// The reasons an item of evidence can be unmet.
pub const UNMET_REASONS: [&str; 4] = [
    "not_satisfied",
    "subject_not_found",
    "revoked",
    "invalid_input",
];

/// Most conditions an unmet entry lists, and the longest one, in bytes.
pub const MAX_CONDITIONS: usize = 32;
const MAX_CONDITION_BYTES: usize = 256;

/// A procedure as registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedProcedure {
    /// Its log index.
    pub index: u64,
    /// The department that registered it.
    pub department: String,
    /// The procedure.
    pub procedure: Procedure,
    /// The TOML text, as logged.
    pub procedure_toml: String,
    /// The policy hash each item of evidence requires, in item order: that
    /// of the key logged for the item when the procedure was registered.
    pub policy_hashes: Vec<String>,
    /// When it was registered, Unix seconds.
    pub time: i64,
}

/// How an item of evidence was answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// A verified result.
    Verified {
        /// The result's log index.
        index: u64,
        /// Its subject tag.
        subject_tag: String,
    },
    /// The department reported it unmet.
    Unmet {
        /// The unmet entry's log index.
        index: u64,
        /// Why.
        reason: String,
        /// For `not_satisfied`, the failed conditions.
        conditions: Vec<String>,
    },
}

impl Answer {
    /// The answering entry's log index.
    pub fn index(&self) -> u64 {
        match self {
            Answer::Verified { index, .. } | Answer::Unmet { index, .. } => *index,
        }
    }
}

/// A case created by an application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// The case entry's log index.
    pub index: u64,
    /// The case number.
    pub case_id: String,
    /// The log index of the procedure version it follows.
    pub procedure: u64,
    /// When it was created, Unix seconds.
    pub time: i64,
    /// The answers, by item of evidence.
    pub answers: BTreeMap<String, Answer>,
    /// Its decisions' log indexes, in order.
    pub decisions: Vec<u64>,
}

/// The decision a case's answers call for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueDecision {
    /// `approved` or `refused`.
    pub decision: &'static str,
    /// The entries it cites, in item order.
    pub results: Vec<u64>,
    /// Why, for people.
    pub note: String,
}

impl LogState {
    /// The procedure registered as `name`, in its latest version.
    pub fn procedure(&self, name: &str) -> Option<&Arc<LoggedProcedure>> {
        self.procedures
            .get(name)
            .and_then(|i| self.procedure_versions.get(i))
    }

    /// Every procedure, in its latest version, by name.
    pub fn procedures(&self) -> impl Iterator<Item = &Arc<LoggedProcedure>> {
        self.procedures
            .values()
            .filter_map(|i| self.procedure_versions.get(i))
    }

    /// The procedure version at a log index.
    pub fn procedure_at(&self, index: u64) -> Option<&Arc<LoggedProcedure>> {
        self.procedure_versions.get(&index)
    }

    /// The application behind a case, if an application created it.
    pub fn application(&self, case_id: &str) -> Option<&Application> {
        self.applications.get(case_id)
    }

    /// Every application, in no particular order.
    pub fn applications(&self) -> impl Iterator<Item = &Application> {
        self.applications.values()
    }

    /// Where an application's case stands: `open` until decided, then its
    /// latest decision (`approved`, `refused` or `revoked`).
    pub fn case_status(&self, application: &Application) -> &str {
        self.latest_decision(application)
            .map_or("open", |d| d.decision.as_str())
    }

    /// An application's latest decision.
    pub fn latest_decision(&self, application: &Application) -> Option<&LoggedDecision> {
        application
            .decisions
            .last()
            .and_then(|i| self.decisions.get(i))
    }

    /// The newest key of `policy` over `registry`.
    pub fn latest_key(&self, policy: &str, registry: &str) -> Option<&Arc<LoggedKey>> {
        self.keys
            .values()
            .filter(|k| k.policy_name == policy && k.registry == registry)
            .max_by_key(|k| k.index)
    }

    /// The newest key that proves item `evidence` of this procedure version:
    /// its policy over its registry, with the policy hash the procedure
    /// recorded, so that the rules accept its results.
    pub fn evidence_key(
        &self,
        procedure: &LoggedProcedure,
        evidence: &str,
    ) -> Option<&Arc<LoggedKey>> {
        let position = procedure
            .procedure
            .evidence
            .iter()
            .position(|item| item.name == evidence)?;
        let item = &procedure.procedure.evidence[position];
        self.keys
            .values()
            .filter(|k| {
                k.policy_name == item.policy
                    && k.registry == item.registry
                    && k.policy_hash == procedure.policy_hashes[position]
            })
            .max_by_key(|k| k.index)
    }

    /// The unmet entry at a log index, as its answer.
    pub fn unmet(&self, index: u64) -> Option<&LoggedUnmet> {
        self.unmet.get(&index)
    }

    /// The decision that a case's answers call for under its procedure, or
    /// `None` while they do not settle it: refused once any item is unmet,
    /// approved once every item is verified.
    pub fn due(&self, application: &Application) -> Option<DueDecision> {
        let procedure = &self
            .procedure_versions
            .get(&application.procedure)?
            .procedure;
        let answers: Vec<(&str, Option<&Answer>)> = procedure
            .evidence
            .iter()
            .map(|item| (item.name.as_str(), application.answers.get(&item.name)))
            .collect();
        let unmet: Vec<(&str, &Answer)> = answers
            .iter()
            .filter_map(|(name, a)| match a {
                Some(answer @ Answer::Unmet { .. }) => Some((*name, *answer)),
                _ => None,
            })
            .collect();
        if !unmet.is_empty() {
            let reasons: Vec<String> = unmet
                .iter()
                .map(|(name, answer)| match answer {
                    Answer::Unmet {
                        reason, conditions, ..
                    } if conditions.is_empty() => format!("{name}: {reason}"),
                    Answer::Unmet {
                        reason, conditions, ..
                    } => format!("{name}: {reason} ({})", conditions.join(", ")),
                    Answer::Verified { .. } => unreachable!("unmet answers"),
                })
                .collect();
            return Some(DueDecision {
                decision: "refused",
                results: unmet.iter().map(|(_, a)| a.index()).collect(),
                note: truncate(reasons.join("; "), MAX_NOTE_BYTES),
            });
        }
        let verified: Option<Vec<u64>> =
            answers.iter().map(|(_, a)| a.map(Answer::index)).collect();
        verified.map(|results| DueDecision {
            decision: "approved",
            results,
            note: "every item of evidence verified".into(),
        })
    }

    /// The automatic decision that is due on `case_id` now: for a case of an
    /// `automatic` procedure, not yet decided, whose answers settle it. The
    /// service appends it right after the answer that settled the case, at
    /// that answer's time.
    pub fn due_decision(&self, case_id: &str) -> Option<Entry> {
        let application = self.applications.get(case_id)?;
        let logged = self.procedure_versions.get(&application.procedure)?;
        if logged.procedure.rule != DecisionRule::Automatic || !application.decisions.is_empty() {
            return None;
        }
        let due = self.due(application)?;
        let time = self.last_time?;
        let licence = match due.decision {
            "approved" => self.licence_for(application, &logged.procedure, time),
            _ => None,
        };
        Some(Entry::Decision {
            case_id: case_id.to_string(),
            department: logged.procedure.decides.clone(),
            decision: due.decision.to_string(),
            results: due.results,
            note: due.note,
            automatic: true,
            amends: None,
            licence,
            time: format_time(time),
            signature: None,
        })
    }

    /// The licence that an approval of `case_id` at `time` (Unix seconds)
    /// must carry, for a case whose procedure issues one and whose every
    /// item is verified.
    pub fn licence_due(&self, case_id: &str, time: i64) -> Option<Licence> {
        let application = self.applications.get(case_id)?;
        let procedure = &self
            .procedure_versions
            .get(&application.procedure)?
            .procedure;
        self.licence_for(application, procedure, time)
    }

    /// The licence an approval of `application` at `time` issues: the
    /// holder is the subject of the procedure's first item of evidence.
    fn licence_for(
        &self,
        application: &Application,
        procedure: &Procedure,
        time: i64,
    ) -> Option<Licence> {
        let spec = procedure.licence.as_ref()?;
        let first = &procedure.evidence.first()?.name;
        let Some(Answer::Verified { subject_tag, .. }) = application.answers.get(first) else {
            return None;
        };
        let (number, fields) = procedure.licence_fields(&application.case_id, time)?;
        Some(Licence {
            number,
            registry: spec.registry.clone(),
            subject_tag: subject_tag.clone(),
            fields,
        })
    }

    pub(super) fn judge_procedure(
        &self,
        index: u64,
        time: i64,
        governance: &Governance,
        entry: &Entry,
    ) -> Result<LoggedProcedure, Refusal> {
        let Entry::Procedure {
            name,
            department,
            procedure_toml,
            ..
        } = entry
        else {
            unreachable!("called for procedure entries")
        };
        let invalid = |problem: String| Refusal::InvalidProcedure(problem);
        let procedure = Procedure::from_toml(procedure_toml).map_err(|e| invalid(e.to_string()))?;
        if procedure.name != *name {
            return Err(malformed(
                "name",
                format!(
                    "the procedure TOML is named `{}`, not `{name}`",
                    procedure.name
                ),
            ));
        }
        let deciding = super::check_decider(governance, department)?;
        if procedure.decides != *department {
            return Err(invalid(format!(
                "`{name}` is decided by `{}`, which alone may register it",
                procedure.decides
            )));
        }
        if let Some(other) = self
            .procedures()
            .find(|p| p.procedure.name != *name && p.procedure.case_prefix == procedure.case_prefix)
        {
            return Err(invalid(format!(
                "case prefix `{}` is procedure `{}`'s already",
                procedure.case_prefix, other.procedure.name
            )));
        }
        let mut policy_hashes = Vec::new();
        for item in &procedure.evidence {
            let at = |problem: String| invalid(format!("evidence `{}`: {problem}", item.name));
            if governance.owner_of(&item.registry).is_none() {
                return Err(Refusal::UnknownRegistry(item.registry.clone()));
            }
            let key = self
                .latest_key(&item.policy, &item.registry)
                .ok_or_else(|| {
                    at(format!(
                        "no key of policy `{}` over `{}` is registered; register it first",
                        item.policy, item.registry
                    ))
                })?;
            let wanted: Vec<&String> = key.param_names().iter().collect();
            let given: Vec<&String> = item.params.keys().collect();
            let mut sorted = wanted.clone();
            sorted.sort();
            if sorted != given {
                return Err(at(format!(
                    "the policy's params are {}; the procedure gives {}",
                    names(&wanted),
                    names(&given)
                )));
            }
            for (name, ty) in key.param_names().iter().zip(&key.param_types) {
                if let crate::procedure::ParamSource::Fixed(value) = &item.params[name] {
                    ty.encode(name, value).map_err(|e| at(e.to_string()))?;
                } else if ty.name() != "date" {
                    return Err(at(format!(
                        "param `{name}` is a {}, so it cannot be today's date",
                        ty.name()
                    )));
                }
            }
            policy_hashes.push(key.policy_hash.clone());
        }
        if let Some(licence) = &procedure.licence {
            if !deciding.registries.contains(&licence.registry) {
                return Err(invalid(format!(
                    "the licence registry `{}` is not `{department}`'s",
                    licence.registry
                )));
            }
        }
        Ok(LoggedProcedure {
            index,
            department: department.clone(),
            procedure,
            procedure_toml: procedure_toml.clone(),
            policy_hashes,
            time,
        })
    }

    pub(super) fn judge_case(
        &self,
        index: u64,
        time: i64,
        case_id: &str,
        procedure: &str,
    ) -> Result<Application, Refusal> {
        check_case_id(case_id)?;
        let logged = self
            .procedure(procedure)
            .ok_or_else(|| Refusal::UnknownProcedure(procedure.to_string()))?;
        if !logged.procedure.is_case_number(case_id) {
            return Err(malformed(
                "case_id",
                format!(
                    "`{case_id}` is not a case number of `{procedure}`, such as {}",
                    logged.procedure.case_number(2026, 123)
                ),
            ));
        }
        if let Some(&first) = self.case(case_id).first() {
            return Err(Refusal::CaseExists {
                case_id: case_id.to_string(),
                index: first,
            });
        }
        Ok(Application {
            index,
            case_id: case_id.to_string(),
            procedure: logged.index,
            time,
            answers: BTreeMap::new(),
            decisions: Vec::new(),
        })
    }

    /// The item of evidence that a result of an application's case
    /// answers; `None` for a case no application created.
    pub(super) fn judge_answer(
        &self,
        key: &LoggedKey,
        case_id: &str,
        public_inputs: &[String],
        subject_tag: &str,
    ) -> Result<Option<String>, Refusal> {
        let Some(application) = self.applications.get(case_id) else {
            return Ok(None);
        };
        self.check_open(application)?;
        let procedure = &self.procedure_versions[&application.procedure];
        let not_requested = |problem: String| Refusal::NotRequested {
            case_id: case_id.to_string(),
            problem,
        };
        let candidates: Vec<_> = procedure
            .procedure
            .evidence
            .iter()
            .zip(&procedure.policy_hashes)
            .filter(|(item, hash)| item.registry == key.registry && **hash == key.policy_hash)
            .map(|(item, _)| item)
            .collect();
        if candidates.is_empty() {
            return Err(not_requested(format!(
                "procedure `{}` asks for no proof of policy `{}` over `{}`",
                procedure.procedure.name, key.policy_name, key.registry
            )));
        }
        let given = &public_inputs[FIXED_INPUTS.len()..];
        let item = candidates
            .iter()
            .find(|item| {
                let params = procedure.procedure.params(item, application.time);
                key.param_names()
                    .iter()
                    .zip(&key.param_types)
                    .zip(given)
                    .all(|((name, ty), value)| {
                        params
                            .get(name)
                            .and_then(|raw| ty.encode(name, raw).ok())
                            .is_some_and(|x| to_decimal(&x) == *value)
                    })
            })
            .ok_or_else(|| {
                let item = candidates[0];
                not_requested(format!(
                    "evidence `{}` requires the params {:?}, not {:?}",
                    item.name,
                    procedure.procedure.params(item, application.time),
                    key.decode_params(public_inputs)
                ))
            })?;
        self.check_unanswered(application, &item.name)?;
        for other in &procedure.procedure.evidence {
            if other.subject != item.subject {
                continue;
            }
            if let Some(Answer::Verified {
                index,
                subject_tag: tag,
            }) = application.answers.get(&other.name)
            {
                if tag != subject_tag {
                    return Err(Refusal::SubjectMismatch {
                        evidence: item.name.clone(),
                        index: *index,
                    });
                }
            }
        }
        Ok(Some(item.name.clone()))
    }

    pub(super) fn judge_unmet(
        &self,
        index: u64,
        governance: &Governance,
        entry: &Entry,
    ) -> Result<LoggedUnmet, Refusal> {
        let Entry::Unmet {
            case_id,
            evidence,
            department,
            reason,
            conditions,
            ..
        } = entry
        else {
            unreachable!("called for unmet entries")
        };
        check_case_id(case_id)?;
        let not_requested = |problem: String| Refusal::NotRequested {
            case_id: case_id.clone(),
            problem,
        };
        let application = self
            .applications
            .get(case_id)
            .ok_or_else(|| not_requested("no application created this case".into()))?;
        let procedure = &self.procedure_versions[&application.procedure].procedure;
        let item = procedure.item(evidence).ok_or_else(|| {
            not_requested(format!(
                "procedure `{}` has no evidence `{evidence}`",
                procedure.name
            ))
        })?;
        super::check_owner(governance, &item.registry, department)?;
        self.check_open(application)?;
        self.check_unanswered(application, evidence)?;
        if !UNMET_REASONS.contains(&reason.as_str()) {
            return Err(malformed(
                "reason",
                format!(
                    "must be one of {}, not `{reason}`",
                    UNMET_REASONS.join(", ")
                ),
            ));
        }
        let listed = reason == "not_satisfied";
        if listed == conditions.is_empty()
            || conditions.len() > MAX_CONDITIONS
            || conditions
                .iter()
                .any(|c| c.is_empty() || c.len() > MAX_CONDITION_BYTES)
        {
            return Err(malformed(
                "conditions",
                format!(
                    "`not_satisfied` lists 1 to {MAX_CONDITIONS} failed conditions of at most \
                     {MAX_CONDITION_BYTES} bytes; other reasons list none"
                ),
            ));
        }
        Ok(LoggedUnmet {
            index,
            case_id: case_id.clone(),
            evidence: evidence.clone(),
            department: department.clone(),
            reason: reason.clone(),
            conditions: conditions.clone(),
        })
    }

    /// The rules a decision obeys beyond who may decide: once per case
    /// unless it amends, and the case's procedure's rule.
    pub(super) fn judge_decision_rule(&self, entry: &Entry, time: i64) -> Result<(), Refusal> {
        let Entry::Decision {
            case_id,
            department,
            decision,
            results,
            note,
            automatic,
            amends,
            licence,
            ..
        } = entry
        else {
            unreachable!("called for decision entries")
        };
        let rule = |problem: String| Refusal::DecisionRule {
            case_id: case_id.clone(),
            problem,
        };
        let prior = self
            .case_decisions(case_id)
            .last()
            .map(|d| (d.index, d.decision.clone()));
        match (prior.as_ref(), amends) {
            (Some((last, _)), amends) if *amends != Some(*last) => {
                return Err(Refusal::AlreadyDecided {
                    case_id: case_id.clone(),
                    index: *last,
                })
            }
            (Some(_), _) if note.trim().is_empty() || *automatic => {
                return Err(rule(
                    "an amendment is a person's, and gives its reason in `note`".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(malformed("amends", "the case has no decision to amend"))
            }
            _ => {}
        }
        if decision == "revoked" && prior.as_ref().is_none_or(|(_, d)| d != "approved") {
            return Err(rule("only an approval can be revoked".into()));
        }
        let Some(application) = self.applications.get(case_id) else {
            if *automatic || licence.is_some() {
                return Err(rule(
                    "only an application's case is decided automatically or issues a licence"
                        .into(),
                ));
            }
            if decision == "approved" && results.is_empty() {
                return Err(rule("an approval cites the results it relied on".into()));
            }
            return Ok(());
        };
        let logged = &self.procedure_versions[&application.procedure];
        let procedure = &logged.procedure;
        if *department != procedure.decides {
            return Err(rule(format!(
                "procedure `{}` is decided by `{}`",
                procedure.name, procedure.decides
            )));
        }
        if *automatic {
            if procedure.rule != DecisionRule::Automatic {
                return Err(rule(format!(
                    "procedure `{}` is decided by review, not automatically",
                    procedure.name
                )));
            }
            let due = self
                .due(application)
                .ok_or_else(|| rule("the evidence does not settle the case yet".into()))?;
            let expected_licence = match due.decision {
                "approved" => self.licence_for(application, procedure, time),
                _ => None,
            };
            if due.decision != decision
                || due.results != *results
                || due.note != *note
                || expected_licence != *licence
            {
                return Err(rule(format!(
                    "the automatic rule gives `{}` citing {:?} ({})",
                    due.decision, due.results, due.note
                )));
            }
            return Ok(());
        }
        if procedure.rule == DecisionRule::Automatic && amends.is_none() {
            return Err(rule(format!(
                "procedure `{}` decides automatically; a person may only amend its decision",
                procedure.name
            )));
        }
        match decision.as_str() {
            "approved" => {
                let mut complete: Vec<u64> = Vec::new();
                for item in &procedure.evidence {
                    match application.answers.get(&item.name) {
                        Some(Answer::Verified { index, .. }) => complete.push(*index),
                        _ => {
                            return Err(rule(format!(
                                "an approval needs every item verified; `{}` is not",
                                item.name
                            )))
                        }
                    }
                }
                let mut cited = results.clone();
                cited.sort_unstable();
                complete.sort_unstable();
                if cited != complete {
                    return Err(rule(format!(
                        "an approval cites exactly the results {complete:?}"
                    )));
                }
                if self.licence_for(application, procedure, time) != *licence {
                    return Err(rule(
                        "the licence is not the one the procedure issues for this approval".into(),
                    ));
                }
            }
            _ => {
                if note.trim().is_empty() {
                    return Err(rule("a refusal gives its reason in `note`".into()));
                }
                if licence.is_some() {
                    return Err(rule("only an approval issues a licence".into()));
                }
            }
        }
        Ok(())
    }

    fn check_open(&self, application: &Application) -> Result<(), Refusal> {
        match application.decisions.last() {
            Some(&index) => Err(Refusal::AlreadyDecided {
                case_id: application.case_id.clone(),
                index,
            }),
            None => Ok(()),
        }
    }

    fn check_unanswered(&self, application: &Application, evidence: &str) -> Result<(), Refusal> {
        match application.answers.get(evidence) {
            Some(answer) => Err(Refusal::AlreadyAnswered {
                evidence: evidence.to_string(),
                index: answer.index(),
            }),
            None => Ok(()),
        }
    }
}

/// An unmet entry, as the rules keep it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedUnmet {
    /// Its log index.
    pub index: u64,
    /// The case.
    pub case_id: String,
    /// The item of evidence.
    pub evidence: String,
    /// The reporting department.
    pub department: String,
    /// Why it is unmet.
    pub reason: String,
    /// For `not_satisfied`, the failed conditions.
    pub conditions: Vec<String>,
}

fn names(list: &[&String]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    list.iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
