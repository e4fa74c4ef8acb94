//! Procedures: what a kind of application requires, and how it is decided.
//!
//! A procedure is a TOML file that the deciding department registers in the
//! log (a `procedure` entry). It names:
//! - the deciding department and the decision rule: `automatic` (the rules
//!   approve once every item of evidence is verified for one subject, and
//!   refuse once any item is reported unmet) or `review` (a person decides,
//!   under the same checks);
//! - what the applicant supplies (`[[applicant]]`, such as the clinic's
//!   unified social credit code);
//! - the evidence (`[[evidence]]`): each item a policy over a registry, for
//!   one of the applicant's inputs, with its params either fixed or computed
//!   when the case is created (`today`, the case's date, UTC);
//! - optionally the licence an approval issues (`[licence]`): the registry
//!   of the deciding department it goes into, its number's prefix, how long
//!   it is valid, and the licence record's fields.
//!
//! ```
//! use zkgov_log::procedure::{DecisionRule, ParamSource, Procedure};
//!
//! let procedure = Procedure::from_toml(r#"
//!     name = "stall-permit"
//!     title = "Market stall permit"
//!     decides = "markets"
//!     rule = "automatic"
//!     case_prefix = "STL"
//!
//!     [[applicant]]
//!     name = "credit_code"
//!     label = "Unified social credit code"
//!
//!     [[evidence]]
//!     name = "business"
//!     policy = "active-business"
//!     registry = "business-licences"
//!     subject = "credit_code"
//!     params = { today = { computed = "today" }, min_capital = "1000.00" }
//! "#).unwrap();
//! assert_eq!(procedure.rule, DecisionRule::Automatic);
//! assert_eq!(procedure.evidence[0].params["today"], ParamSource::Today);
//! assert_eq!(procedure.evidence[0].params["min_capital"], ParamSource::Fixed("1000.00".into()));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, Utc};
use serde::{Deserialize, Serialize};

/// How a procedure's cases are decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionRule {
    /// The rules decide as soon as the evidence settles it.
    Automatic,
    /// A person of the deciding department decides.
    Review,
}

/// One input the applicant supplies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplicantInput {
    /// Its name, as evidence items refer to it.
    pub name: String,
    /// What the form calls it.
    pub label: String,
    /// The longest value accepted, in bytes (default 64).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
}

fn default_max_bytes() -> usize {
    64
}

/// Where one param of an evidence item comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamSource {
    /// A fixed value, in the param type's file format (`120`, `medical`,
    /// `500000.00`, `2026-12-01`).
    Fixed(String),
    /// The date the case was created, UTC.
    Today,
}

/// One item of evidence a procedure requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// Its name within the procedure.
    pub name: String,
    /// What the applicant is shown.
    pub title: String,
    /// The policy to prove.
    pub policy: String,
    /// The registry it reads.
    pub registry: String,
    /// The applicant input that is the record's subject.
    pub subject: String,
    /// Every param of the policy, by name.
    pub params: BTreeMap<String, ParamSource>,
}

/// The licence an approval issues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceSpec {
    /// The deciding department's registry that holds licences.
    pub registry: String,
    /// The licence number's prefix: `YL` makes case `DJY-2026-000123`'s
    /// licence `YL-2026-000123`.
    pub number_prefix: String,
    /// How many days a licence is valid from its issue.
    pub valid_days: u32,
    /// The licence record's fields other than its subject: fixed values,
    /// or `$number`, `$issued` and `$expires`.
    pub fields: BTreeMap<String, String>,
}

/// A procedure, parsed and checked on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Procedure {
    /// Its name, unique in the log.
    pub name: String,
    /// Its title, for people.
    pub title: String,
    /// The deciding department.
    pub decides: String,
    /// How cases are decided.
    pub rule: DecisionRule,
    /// The case numbers' prefix: `DJY` gives `DJY-2026-000123`.
    pub case_prefix: String,
    /// What the applicant supplies.
    pub applicant: Vec<ApplicantInput>,
    /// The evidence required, in order.
    pub evidence: Vec<EvidenceItem>,
    /// The licence an approval issues, if any.
    pub licence: Option<LicenceSpec>,
}

/// Why a procedure file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProcedureError {
    /// Not valid TOML, or not the procedure's shape.
    #[error("procedure: {0}")]
    Syntax(String),
    /// A value that breaks a rule of procedures.
    #[error("procedure `{procedure}`: {field}: {problem}")]
    Invalid {
        /// The procedure's name.
        procedure: String,
        /// The field in error.
        field: String,
        /// What is wrong, and how to fix it.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcedure {
    name: String,
    #[serde(default)]
    title: Option<String>,
    decides: String,
    rule: DecisionRule,
    case_prefix: String,
    #[serde(default)]
    applicant: Vec<ApplicantInput>,
    #[serde(default)]
    evidence: Vec<RawEvidence>,
    #[serde(default)]
    licence: Option<RawLicence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvidence {
    name: String,
    #[serde(default)]
    title: Option<String>,
    policy: String,
    registry: String,
    subject: String,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLicence {
    registry: String,
    number_prefix: String,
    valid_days: u32,
    #[serde(default)]
    fields: BTreeMap<String, toml::Value>,
}

/// The placeholders a licence field may take.
pub const LICENCE_PLACEHOLDERS: [&str; 3] = ["$number", "$issued", "$expires"];

/// Most evidence items in one procedure.
pub const MAX_EVIDENCE: usize = 16;

impl Procedure {
    /// Parses and checks a procedure file.
    pub fn from_toml(text: &str) -> Result<Procedure, ProcedureError> {
        let raw: RawProcedure =
            toml::from_str(text).map_err(|e| ProcedureError::Syntax(e.to_string()))?;
        let invalid = |field: &str, problem: String| ProcedureError::Invalid {
            procedure: raw.name.clone(),
            field: field.to_string(),
            problem,
        };
        if !is_name(&raw.name) {
            return Err(invalid(
                "name",
                "use lowercase letters, digits and `-`, 1 to 64 of them".into(),
            ));
        }
        if raw.decides.is_empty() {
            return Err(invalid("decides", "name the deciding department".into()));
        }
        if !(2..=8).contains(&raw.case_prefix.len())
            || !raw.case_prefix.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(invalid(
                "case_prefix",
                format!(
                    "`{}` must be 2 to 8 uppercase letters, such as `DJY`",
                    raw.case_prefix
                ),
            ));
        }
        let mut inputs = BTreeSet::new();
        for (i, input) in raw.applicant.iter().enumerate() {
            if !is_name(&input.name) {
                return Err(invalid(
                    &format!("applicant[{i}].name"),
                    "use lowercase letters, digits, `-` and `_`".into(),
                ));
            }
            if !(1..=128).contains(&input.max_bytes) {
                return Err(invalid(
                    &format!("applicant[{i}].max_bytes"),
                    "must be 1 to 128".into(),
                ));
            }
            if !inputs.insert(input.name.as_str()) {
                return Err(invalid(
                    &format!("applicant[{i}].name"),
                    format!("`{}` is listed twice", input.name),
                ));
            }
        }
        if raw.evidence.is_empty() || raw.evidence.len() > MAX_EVIDENCE {
            return Err(invalid(
                "evidence",
                format!("a procedure requires 1 to {MAX_EVIDENCE} items of evidence"),
            ));
        }
        let mut names = BTreeSet::new();
        let mut evidence = Vec::new();
        for (i, item) in raw.evidence.iter().enumerate() {
            let at = |field: &str| format!("evidence[{i}].{field}");
            if !is_name(&item.name) || !names.insert(item.name.as_str()) {
                return Err(invalid(
                    &at("name"),
                    format!("`{}` must be a unique lowercase name", item.name),
                ));
            }
            if !inputs.contains(item.subject.as_str()) {
                return Err(invalid(
                    &at("subject"),
                    format!(
                        "`{}` is not one of the applicant's inputs ({})",
                        item.subject,
                        inputs.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            let mut params = BTreeMap::new();
            for (name, value) in &item.params {
                let source = param_source(value).map_err(|problem| {
                    invalid(&at(&format!("params.{name}")), problem.to_string())
                })?;
                params.insert(name.clone(), source);
            }
            evidence.push(EvidenceItem {
                name: item.name.clone(),
                title: item.title.clone().unwrap_or_else(|| item.name.clone()),
                policy: item.policy.clone(),
                registry: item.registry.clone(),
                subject: item.subject.clone(),
                params,
            });
        }
        let licence = match &raw.licence {
            None => None,
            Some(licence) => {
                if !(1..=8).contains(&licence.number_prefix.len())
                    || !licence
                        .number_prefix
                        .bytes()
                        .all(|b| b.is_ascii_uppercase())
                {
                    return Err(invalid(
                        "licence.number_prefix",
                        "must be 1 to 8 uppercase letters".into(),
                    ));
                }
                if licence.valid_days == 0 || licence.valid_days > 36_600 {
                    return Err(invalid(
                        "licence.valid_days",
                        "must be 1 to 36600 days".into(),
                    ));
                }
                let mut fields = BTreeMap::new();
                for (name, value) in &licence.fields {
                    let text = match value {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(n) => n.to_string(),
                        toml::Value::Boolean(b) => b.to_string(),
                        _ => {
                            return Err(invalid(
                                &format!("licence.fields.{name}"),
                                "must be a string, an integer or a boolean".into(),
                            ))
                        }
                    };
                    if text.starts_with('$') && !LICENCE_PLACEHOLDERS.contains(&text.as_str()) {
                        return Err(invalid(
                            &format!("licence.fields.{name}"),
                            format!("`{text}` is not one of {}", LICENCE_PLACEHOLDERS.join(", ")),
                        ));
                    }
                    fields.insert(name.clone(), text);
                }
                if !fields.values().any(|v| v == "$number") {
                    return Err(invalid(
                        "licence.fields",
                        "one field must hold the licence number: `$number`".into(),
                    ));
                }
                Some(LicenceSpec {
                    registry: licence.registry.clone(),
                    number_prefix: licence.number_prefix.clone(),
                    valid_days: licence.valid_days,
                    fields,
                })
            }
        };
        Ok(Procedure {
            title: raw.title.clone().unwrap_or_else(|| raw.name.clone()),
            name: raw.name,
            decides: raw.decides,
            rule: raw.rule,
            case_prefix: raw.case_prefix,
            applicant: raw.applicant,
            evidence,
            licence,
        })
    }

    /// The item of evidence named `name`.
    pub fn item(&self, name: &str) -> Option<&EvidenceItem> {
        self.evidence.iter().find(|e| e.name == name)
    }

    /// Whether `case_id` has this procedure's form: `PREFIX-YYYY-NNNNNN`.
    pub fn is_case_number(&self, case_id: &str) -> bool {
        case_serial(case_id).is_some_and(|(prefix, _)| prefix == self.case_prefix)
    }

    /// The case number of the `serial`-th case of `year`.
    pub fn case_number(&self, year: i32, serial: u64) -> String {
        format!("{}-{year:04}-{serial:06}", self.case_prefix)
    }

    /// The params of `item` for a case created at `created` (Unix seconds),
    /// as raw values in each param type's file format.
    pub fn params(&self, item: &EvidenceItem, created: i64) -> BTreeMap<String, String> {
        item.params
            .iter()
            .map(|(name, source)| {
                let value = match source {
                    ParamSource::Fixed(value) => value.clone(),
                    ParamSource::Today => date_of(created),
                };
                (name.clone(), value)
            })
            .collect()
    }

    /// The licence an approval at `decided` (Unix seconds) issues for case
    /// `case_id`: its number and every field but the subject.
    pub fn licence_fields(
        &self,
        case_id: &str,
        decided: i64,
    ) -> Option<(String, BTreeMap<String, String>)> {
        let spec = self.licence.as_ref()?;
        let (_, serial) = case_serial(case_id)?;
        let number = format!("{}-{serial}", spec.number_prefix);
        let issued = date_of(decided);
        let expires = DateTime::<Utc>::from_timestamp(decided, 0)?
            .checked_add_days(Days::new(u64::from(spec.valid_days)))?
            .format("%Y-%m-%d")
            .to_string();
        let fields = spec
            .fields
            .iter()
            .map(|(name, value)| {
                let value = match value.as_str() {
                    "$number" => number.clone(),
                    "$issued" => issued.clone(),
                    "$expires" => expires.clone(),
                    fixed => fixed.to_string(),
                };
                (name.clone(), value)
            })
            .collect();
        Some((number, fields))
    }
}

/// A case number's prefix and its `YYYY-NNNNNN` serial.
fn case_serial(case_id: &str) -> Option<(&str, &str)> {
    let (prefix, serial) = case_id.split_once('-')?;
    let (year, number) = serial.split_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (digits(year, 4) && digits(number, 6)).then_some((prefix, serial))
}

/// The UTC date of `unix_seconds`, `YYYY-MM-DD`.
pub fn date_of(unix_seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix_seconds, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn param_source(value: &toml::Value) -> Result<ParamSource, &'static str> {
    match value {
        toml::Value::String(s) => Ok(ParamSource::Fixed(s.clone())),
        toml::Value::Integer(n) => Ok(ParamSource::Fixed(n.to_string())),
        toml::Value::Boolean(b) => Ok(ParamSource::Fixed(b.to_string())),
        toml::Value::Table(table) => match (table.len(), table.get("computed")) {
            (1, Some(toml::Value::String(s))) if s == "today" => Ok(ParamSource::Today),
            _ => Err("a computed param is `{ computed = \"today\" }`"),
        },
        _ => Err("a param is a string, an integer, a boolean or `{ computed = \"today\" }`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEDICAL: &str = include_str!("../../procedures/medical-institution-licence.toml");

    #[test]
    fn the_shipped_procedure_parses() {
        let p = Procedure::from_toml(MEDICAL).unwrap();
        assert_eq!(p.rule, DecisionRule::Automatic);
        assert_eq!(p.evidence.len(), 2);
        assert!(p.is_case_number("DJY-2026-000123"));
        assert!(!p.is_case_number("DJY-2026-123"));
        assert!(!p.is_case_number("XYZ-2026-000123"));
        assert_eq!(p.case_number(2026, 123), "DJY-2026-000123");
        // 2026-12-01T10:00:00Z
        let created = 1_796_119_200;
        let params = p.params(&p.evidence[0], created);
        assert_eq!(params["today"], "2026-12-01");
        assert_eq!(params["min_area"], "120");
        let (number, fields) = p.licence_fields("DJY-2026-000123", created).unwrap();
        assert_eq!(number, "YL-2026-000123");
        assert_eq!(fields["licence"], number);
        assert_eq!(fields["issued"], "2026-12-01");
        assert_eq!(fields["expires"], "2031-11-30");
    }

    #[test]
    fn bad_procedures_name_the_field() {
        let cases = [
            (
                MEDICAL.replace("case_prefix = \"DJY\"", "case_prefix = \"dj\""),
                "case_prefix",
            ),
            (
                MEDICAL.replace("subject = \"credit_code\"", "subject = \"nobody\""),
                "evidence[0].subject",
            ),
            (
                MEDICAL.replace("{ computed = \"today\" }", "{ computed = \"tomorrow\" }"),
                "evidence[0].params.today",
            ),
            (
                MEDICAL.replace("\"$number\"", "\"$serial\""),
                "licence.fields.licence",
            ),
            (
                MEDICAL.replace("valid_days = 1825", "valid_days = 0"),
                "licence.valid_days",
            ),
        ];
        for (text, field) in cases {
            match Procedure::from_toml(&text) {
                Err(ProcedureError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(matches!(
            Procedure::from_toml("name = 3"),
            Err(ProcedureError::Syntax(_))
        ));
    }
}
