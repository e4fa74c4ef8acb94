//! Registry schemas: the typed fields of a department's records.
//!
//! A schema is a TOML file:
//!
//! ```toml
//! name = "real-estate"
//! subject = "subject"          # the field that identifies the applicant
//!
//! [[field]]
//! name = "subject"
//! type = "id"
//!
//! [[field]]
//! name = "area_m2"
//! type = "uint32"              # uint1 … uint64
//!
//! [[field]]
//! name = "usage"
//! type = "enum"
//! variants = ["residential", "commercial", "medical", "industrial"]
//! ```
//!
//! Types: `uintN` (1 ≤ N ≤ 64), `date`, `bool`, `enum` (with `variants`),
//! `text`, `id`, `decimal` (with `scale` and optional `bits`, default 64).
//! A record's leaf is `Poseidon([subject, other fields in schema order…, salt])`,
//! so a schema has at most 14 fields besides its subject.

use std::collections::HashSet;

use serde::Deserialize;

use crate::encoding::{EncodingError, FieldType};
use crate::{poseidon, Fr};

/// The most fields a schema may have besides its subject: the leaf hash takes
/// the subject, these fields and the salt, and Poseidon takes at most 16 inputs.
pub const MAX_FIELDS_BESIDES_SUBJECT: usize = poseidon::MAX_INPUTS - 2;

/// The column name reserved for a record's salt.
pub const SALT: &str = "salt";

/// A schema file that cannot be used, with the file, the key and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The file is not valid TOML or does not have the expected keys.
    #[error("{file}: {message}")]
    Syntax {
        /// The schema file.
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key holds a value that is not allowed.
    #[error("{file}: `{key}`: {problem}")]
    Invalid {
        /// The schema file.
        file: String,
        /// The offending key, e.g. `field[2].type`.
        key: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

/// One typed field of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name, also its CSV column header.
    pub name: String,
    /// How the field's values are encoded.
    pub ty: FieldType,
}

/// A validated schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The schema's name, which policies refer to.
    pub name: String,
    /// The fields in schema order.
    pub fields: Vec<Field>,
    /// The index in `fields` of the subject field.
    pub subject: usize,
    /// Whether a subject owns at most one live record (the default). A
    /// registry of several parcels or licences per holder declares
    /// `unique_subject = false`; the leaf and the circuit do not depend on it.
    pub unique_subject: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    name: String,
    subject: String,
    unique_subject: Option<bool>,
    #[serde(rename = "field")]
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    variants: Option<Vec<String>>,
    scale: Option<u32>,
    bits: Option<u32>,
}

/// Whether `name` is a lowercase identifier: `[a-z_][a-z0-9_]*`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

impl Schema {
    /// Parses and validates a schema; `file` names the source in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<Self, SchemaError> {
        let raw: RawSchema = toml::from_str(text).map_err(|e| SchemaError::Syntax {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |key: String, problem: String| SchemaError::Invalid {
            file: file.to_string(),
            key,
            problem,
        };
        if !is_identifier(&raw.name.replace('-', "_")) {
            return Err(invalid(
                "name".into(),
                format!(
                    "{:?} is not a name (use lowercase letters, digits, '-' and '_')",
                    raw.name
                ),
            ));
        }
        let mut fields = Vec::with_capacity(raw.fields.len());
        let mut seen = HashSet::new();
        for (i, f) in raw.fields.into_iter().enumerate() {
            let key = |k: &str| format!("field[{i}].{k}");
            if !is_identifier(&f.name) {
                return Err(invalid(
                    key("name"),
                    format!("{:?} is not an identifier (use [a-z_][a-z0-9_]*)", f.name),
                ));
            }
            if f.name == SALT {
                return Err(invalid(
                    key("name"),
                    "`salt` is reserved for the record's salt".into(),
                ));
            }
            if !seen.insert(f.name.clone()) {
                return Err(invalid(
                    key("name"),
                    format!("field {:?} is declared twice", f.name),
                ));
            }
            let ty = field_type(&f).map_err(|(k, problem)| invalid(key(k), problem))?;
            fields.push(Field { name: f.name, ty });
        }
        if fields.is_empty() {
            return Err(invalid(
                "field".into(),
                "a schema needs at least its subject field".into(),
            ));
        }
        let subject = fields
            .iter()
            .position(|f| f.name == raw.subject)
            .ok_or_else(|| {
                invalid(
                    "subject".into(),
                    format!("{:?} is not one of the declared fields", raw.subject),
                )
            })?;
        if !matches!(fields[subject].ty, FieldType::Id | FieldType::Text) {
            return Err(invalid(
                "subject".into(),
                format!(
                    "the subject field {:?} must have type `id` or `text`",
                    raw.subject
                ),
            ));
        }
        if fields.len() - 1 > MAX_FIELDS_BESIDES_SUBJECT {
            return Err(invalid(
                "field".into(),
                format!(
                    "{} fields besides the subject; a leaf holds at most {MAX_FIELDS_BESIDES_SUBJECT} (Poseidon takes 16 inputs with the subject and the salt)",
                    fields.len() - 1
                ),
            ));
        }
        Ok(Self {
            name: raw.name,
            fields,
            subject,
            unique_subject: raw.unique_subject.unwrap_or(true),
        })
    }

    /// The index of the field called `name`.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The number of Poseidon inputs of a leaf: the fields and the salt.
    pub fn leaf_inputs(&self) -> usize {
        self.fields.len() + 1
    }

    /// Encodes one record's raw values, given in schema order.
    pub fn encode_record(&self, raw: &[&str], salt: Fr) -> Result<Record, RecordError> {
        if raw.len() != self.fields.len() {
            return Err(RecordError::FieldCount {
                expected: self.fields.len(),
                found: raw.len(),
            });
        }
        let values = self
            .fields
            .iter()
            .zip(raw)
            .map(|(field, value)| field.ty.encode(&field.name, value))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Record { values, salt })
    }

    /// The leaf inputs of `record` in the normative order (docs/formats.md): subject, the other fields
    /// in schema order, salt.
    pub fn leaf_preimage(&self, record: &Record) -> Vec<Fr> {
        let mut inputs = Vec::with_capacity(self.leaf_inputs());
        inputs.push(record.values[self.subject]);
        inputs.extend(
            record
                .values
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.subject)
                .map(|(_, v)| *v),
        );
        inputs.push(record.salt);
        inputs
    }

    /// The record's leaf: `Poseidon([subject, f1, …, fk, salt])`.
    pub fn leaf(&self, record: &Record) -> Fr {
        poseidon::hash(&self.leaf_preimage(record))
            .expect("a validated schema has at most 16 leaf inputs")
    }
}

/// The type of a raw field entry, or the key and the problem.
fn field_type(f: &RawField) -> Result<FieldType, (&'static str, String)> {
    let ty = f.ty.as_str();
    let unexpected = |key: &'static str, present: bool| {
        if present {
            Err((key, format!("`{key}` does not apply to type {ty:?}")))
        } else {
            Ok(())
        }
    };
    let parsed = match ty {
        "date" | "bool" | "text" | "id" | "enum" | "decimal" => {
            if ty != "enum" {
                unexpected("variants", f.variants.is_some())?;
            }
            if ty != "decimal" {
                unexpected("scale", f.scale.is_some())?;
                unexpected("bits", f.bits.is_some())?;
            }
            match ty {
                "date" => FieldType::Date,
                "bool" => FieldType::Bool,
                "text" => FieldType::Text,
                "id" => FieldType::Id,
                "enum" => FieldType::Enum {
                    variants: f.variants.clone().ok_or((
                        "variants",
                        "an enum needs `variants = [\"a\", \"b\", …]`".to_string(),
                    ))?,
                },
                _ => FieldType::Decimal {
                    scale: f.scale.ok_or((
                        "scale",
                        "a decimal needs `scale`, the number of decimal places".to_string(),
                    ))?,
                    bits: f.bits.unwrap_or(64),
                },
            }
        }
        _ => {
            let bits = ty
                .strip_prefix("uint")
                .filter(|b| !b.is_empty() && !b.starts_with('0') && b.chars().all(|c| c.is_ascii_digit()))
                .and_then(|b| b.parse::<u32>().ok())
                .ok_or((
                    "type",
                    format!("unknown type {ty:?} (expected uint1…uint64, date, bool, enum, text, id or decimal)"),
                ))?;
            unexpected("variants", f.variants.is_some())?;
            unexpected("scale", f.scale.is_some())?;
            unexpected("bits", f.bits.is_some())?;
            FieldType::Uint { bits }
        }
    };
    parsed
        .validate()
        .map_err(|problem| ("type", problem.to_string()))?;
    Ok(parsed)
}

/// One record encoded as field elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The field values in schema order.
    pub values: Vec<Fr>,
    /// The random salt that hides the record inside its leaf.
    pub salt: Fr,
}

/// A record that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record has the wrong number of values.
    #[error("expected {expected} values, found {found}")]
    FieldCount {
        /// The schema's field count.
        expected: usize,
        /// The values given.
        found: usize,
    },
    /// A value does not encode under its field's type.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
}
