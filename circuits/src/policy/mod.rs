//! Approval policies: conditions over a schema's fields, and their native
//! evaluation.
//!
//! A policy is a TOML file:
//!
//! ```toml
//! name = "medical-premises"
//! schema = "real-estate"
//! params = ["min_area", "usage", "today"]   # public inputs, in this order
//!
//! [rule]
//! all = [
//!   "area_m2 >= $min_area",
//!   "usage == $usage",
//!   "encumbered == false",
//!   "issued <= $today",
//!   "expires > $today",
//!   { any = ["zone in [a, b]", "area_m2 between 500 and 900"] },
//! ]
//! ```
//!
//! `[rule]` holds exactly one of `all` or `any`; their items are condition
//! strings or nested `{ all = […] }` / `{ any = […] }` tables. A condition is
//! `FIELD OP OPERAND` with `OP` one of `== != < <= > >=`, or
//! `FIELD in [A, B, …]`, `FIELD not_in [A, B, …]`, `FIELD between A and B`
//! (inclusive) or `FIELD has_bits MASK` (every bit of the constant `MASK` is
//! set; decimal, `0x…` or `0b…`). An operand is `$param` or a constant in the
//! field's own format (`2025-01-31`, `true`, `medical`, `12.50`), double-quoted
//! when it holds spaces, commas or brackets. A param takes the type of the
//! fields it is compared with.
//!
//! Ordered comparisons (`< <= > >= between`) apply to `uint`, `date` and
//! `decimal` fields; `has_bits` to `uint` fields. In the circuit every
//! operand of those is range-checked to its declared bit width.

use std::collections::HashSet;

pub mod constraints;

use ark_ff::{BigInteger, PrimeField};
use serde::Deserialize;

use crate::encoding::{EncodingError, FieldType};
use crate::schema::{is_identifier, Schema};
use crate::Fr;

/// The most operands an `in` / `not_in` set may hold.
pub const MAX_SET: usize = 16;

/// A policy file that cannot be used, with the file, the key and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file is not valid TOML or does not have the expected keys.
    #[error("{file}: {message}")]
    Syntax {
        /// The policy file.
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key holds a value that is not allowed.
    #[error("{file}: `{key}`: {problem}")]
    Invalid {
        /// The policy file.
        file: String,
        /// The offending key, e.g. `rule.all[2]`.
        key: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The policy names another schema than the one given.
    #[error("{file}: the policy is for schema {expected:?}, but schema {found:?} was given")]
    SchemaMismatch {
        /// The policy file.
        file: String,
        /// The schema the policy names.
        expected: String,
        /// The schema given.
        found: String,
    },
}

/// A public parameter value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A declared param has no value.
    #[error("missing value for param {name:?}")]
    Missing {
        /// The param's name.
        name: String,
    },
    /// A value was given for a param the policy does not declare.
    #[error("unknown param {name:?} (the policy's params are {expected})")]
    Unknown {
        /// The name given.
        name: String,
        /// The declared params, comma-separated.
        expected: String,
    },
    /// Two values were given for one param.
    #[error("param {name:?} is given twice")]
    Duplicate {
        /// The param's name.
        name: String,
    },
    /// The value does not encode under the param's type.
    #[error("param {0}")]
    Encoding(#[from] EncodingError),
}

/// A public parameter of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The param's name, without the `$`.
    pub name: String,
    /// The type of the fields it is compared with.
    pub ty: FieldType,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written in policies.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether the operator needs an order on its operands.
    pub fn is_ordered(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// The right-hand side of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// A constant, already encoded under the field's type.
    Const(Fr),
    /// The public param at this index of [`Policy::params`].
    Param(usize),
}

/// A condition over one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Every condition holds.
    All(Vec<Condition>),
    /// At least one condition holds.
    Any(Vec<Condition>),
    /// `field OP operand`.
    Compare {
        /// Index of the schema field.
        field: usize,
        /// The operator.
        op: CmpOp,
        /// The right-hand side.
        rhs: Operand,
    },
    /// `field in [...]`, or `field not_in [...]` when `negated`.
    Member {
        /// Index of the schema field.
        field: usize,
        /// The set.
        set: Vec<Operand>,
        /// `not_in` rather than `in`.
        negated: bool,
    },
    /// `low <= field <= high`.
    Between {
        /// Index of the schema field.
        field: usize,
        /// The inclusive lower bound.
        low: Operand,
        /// The inclusive upper bound.
        high: Operand,
    },
    /// Every bit of `mask` is set in the field.
    HasBits {
        /// Index of the schema field.
        field: usize,
        /// The constant mask.
        mask: u64,
    },
}

/// A value that a range check constrains: a field of the record or a param.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ranged {
    /// A schema field, by index.
    Field(usize),
    /// A public param, by index.
    Param(usize),
}

/// A validated policy, bound to its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The policy's name.
    pub name: String,
    /// The name of the schema it applies to.
    pub schema: String,
    /// The public params, in statement order.
    pub params: Vec<Param>,
    /// The rule: a record satisfies the policy when it holds.
    pub rule: Condition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    schema: String,
    #[serde(default)]
    params: Vec<String>,
    rule: toml::Table,
}

impl Policy {
    /// Parses and validates a policy against its schema; `file` names the
    /// source in errors.
    pub fn from_toml(file: &str, text: &str, schema: &Schema) -> Result<Self, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |key: &str, problem: String| PolicyError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            problem,
        };
        if raw.schema != schema.name {
            return Err(PolicyError::SchemaMismatch {
                file: file.to_string(),
                expected: raw.schema,
                found: schema.name.clone(),
            });
        }
        let mut names = HashSet::new();
        for (i, name) in raw.params.iter().enumerate() {
            if !is_identifier(name) {
                return Err(invalid(
                    &format!("params[{i}]"),
                    format!("{name:?} is not an identifier (use [a-z_][a-z0-9_]*)"),
                ));
            }
            if !names.insert(name.as_str()) {
                return Err(invalid(
                    &format!("params[{i}]"),
                    format!("param {name:?} is declared twice"),
                ));
            }
        }
        let mut builder = RuleBuilder {
            schema,
            param_names: &raw.params,
            param_types: vec![None; raw.params.len()],
        };
        let rule = builder
            .group(&raw.rule, "rule")
            .map_err(|(key, problem)| invalid(&key, problem))?;
        let mut params = Vec::with_capacity(raw.params.len());
        for (i, (name, ty)) in raw.params.iter().zip(builder.param_types).enumerate() {
            let ty = ty.ok_or_else(|| {
                invalid(
                    &format!("params[{i}]"),
                    format!("param {name:?} is not used by the rule"),
                )
            })?;
            params.push(Param {
                name: name.clone(),
                ty,
            });
        }
        Ok(Self {
            name: raw.name,
            schema: raw.schema,
            params,
            rule,
        })
    }

    /// The statement's public input names, in order.
    pub fn public_input_names(&self) -> Vec<String> {
        let mut names: Vec<String> = crate::statement::FIXED_INPUTS
            .iter()
            .map(|s| s.to_string())
            .collect();
        names.extend(self.params.iter().map(|p| p.name.clone()));
        names
    }

    /// Encodes param values given by name into statement order.
    pub fn encode_params(&self, given: &[(&str, &str)]) -> Result<Vec<Fr>, ParamError> {
        let mut values: Vec<Option<Fr>> = vec![None; self.params.len()];
        for (name, raw) in given {
            let index = self
                .params
                .iter()
                .position(|p| p.name == *name)
                .ok_or_else(|| ParamError::Unknown {
                    name: name.to_string(),
                    expected: self
                        .params
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            if values[index].is_some() {
                return Err(ParamError::Duplicate {
                    name: name.to_string(),
                });
            }
            values[index] = Some(self.params[index].ty.encode(name, raw)?);
        }
        values
            .into_iter()
            .zip(&self.params)
            .map(|(v, p)| {
                v.ok_or_else(|| ParamError::Missing {
                    name: p.name.clone(),
                })
            })
            .collect()
    }

    /// The values that the circuit range-checks, each with its bit width, in
    /// a fixed order.
    pub fn ranged_operands(&self, schema: &Schema) -> Vec<(Ranged, u32)> {
        let mut ranged = Vec::new();
        collect_ranged(&self.rule, schema, &mut ranged);
        ranged.sort();
        ranged.dedup();
        ranged
    }

    /// Evaluates the policy natively on `values` (schema order) with encoded
    /// `params`. The verdict is exactly whether the statement circuit can be
    /// satisfied: an operand outside its declared bit width fails the
    /// circuit's range check, so it makes the verdict false wherever it sits.
    pub fn evaluate(&self, schema: &Schema, values: &[Fr], params: &[Fr]) -> bool {
        self.out_of_range(schema, values, params).is_empty() && holds(&self.rule, values, params)
    }

    /// The range-checked operands whose values do not fit their widths.
    fn out_of_range(&self, schema: &Schema, values: &[Fr], params: &[Fr]) -> Vec<(Ranged, u32)> {
        self.ranged_operands(schema)
            .into_iter()
            .filter(|(r, bits)| {
                let v = match r {
                    Ranged::Field(i) => values[*i],
                    Ranged::Param(i) => params[*i],
                };
                to_u128(&v).is_none_or(|v| v >= 1u128 << bits)
            })
            .collect()
    }
}

impl Policy {
    /// The conditions of the top-level rule that `values` fail, each written
    /// as in policy files: why a record is refused. Empty when it satisfies
    /// the policy. An operand outside its declared width is reported too.
    pub fn failures(&self, schema: &Schema, values: &[Fr], params: &[Fr]) -> Vec<String> {
        let mut failures: Vec<String> = self
            .out_of_range(schema, values, params)
            .into_iter()
            .map(|(r, bits)| match r {
                Ranged::Field(i) => {
                    format!("{} does not fit in {bits} bits", schema.fields[i].name)
                }
                Ranged::Param(i) => format!("${} does not fit in {bits} bits", self.params[i].name),
            })
            .collect();
        if !failures.is_empty() {
            return failures;
        }
        let top = match &self.rule {
            Condition::All(items) => items.as_slice(),
            rule => std::slice::from_ref(rule),
        };
        failures.extend(
            top.iter()
                .filter(|c| !holds(c, values, params))
                .map(|c| self.describe(schema, c)),
        );
        failures
    }

    /// A condition written as in policy files, constants in their field's format.
    pub fn describe(&self, schema: &Schema, cond: &Condition) -> String {
        let operand = |field: usize, o: &Operand| match o {
            Operand::Param(i) => format!("${}", self.params[*i].name),
            Operand::Const(c) => schema.fields[field]
                .ty
                .decode(c)
                .unwrap_or_else(|| crate::field::to_decimal(c)),
        };
        let group = |name: &str, items: &[Condition]| {
            let items: Vec<String> = items.iter().map(|c| self.describe(schema, c)).collect();
            format!("{name}({})", items.join(", "))
        };
        match cond {
            Condition::All(items) => group("all", items),
            Condition::Any(items) => group("any", items),
            Condition::Compare { field, op, rhs } => {
                format!(
                    "{} {} {}",
                    schema.fields[*field].name,
                    op.symbol(),
                    operand(*field, rhs)
                )
            }
            Condition::Member {
                field,
                set,
                negated,
            } => {
                let set: Vec<String> = set.iter().map(|o| operand(*field, o)).collect();
                let op = if *negated { "not_in" } else { "in" };
                format!("{} {op} [{}]", schema.fields[*field].name, set.join(", "))
            }
            Condition::Between { field, low, high } => format!(
                "{} between {} and {}",
                schema.fields[*field].name,
                operand(*field, low),
                operand(*field, high)
            ),
            Condition::HasBits { field, mask } => {
                format!("{} has_bits {mask:#x}", schema.fields[*field].name)
            }
        }
    }
}

fn collect_ranged(cond: &Condition, schema: &Schema, out: &mut Vec<(Ranged, u32)>) {
    let bits = |field: usize| schema.fields[field].ty.bits();
    let operand = |field: usize, o: &Operand, out: &mut Vec<(Ranged, u32)>| {
        out.push((Ranged::Field(field), bits(field)));
        if let Operand::Param(p) = o {
            out.push((Ranged::Param(*p), bits(field)));
        }
    };
    match cond {
        Condition::All(items) | Condition::Any(items) => {
            items.iter().for_each(|c| collect_ranged(c, schema, out))
        }
        Condition::Compare { field, op, rhs } if op.is_ordered() => operand(*field, rhs, out),
        Condition::Between { field, low, high } => {
            operand(*field, low, out);
            operand(*field, high, out);
        }
        Condition::HasBits { field, .. } => out.push((Ranged::Field(*field), bits(*field))),
        Condition::Compare { .. } | Condition::Member { .. } => {}
    }
}

/// The integer value of `x` if it is below 2^128.
pub(crate) fn to_u128(x: &Fr) -> Option<u128> {
    let limbs = x.into_bigint().0;
    (limbs[2] == 0 && limbs[3] == 0).then(|| u128::from(limbs[0]) | (u128::from(limbs[1]) << 64))
}

fn holds(cond: &Condition, values: &[Fr], params: &[Fr]) -> bool {
    let value = |o: &Operand| match o {
        Operand::Const(c) => *c,
        Operand::Param(i) => params[*i],
    };
    // Ordered operands were range-checked by the caller, so they fit in u128.
    let int = |x: Fr| to_u128(&x).expect("range-checked operand");
    match cond {
        Condition::All(items) => items.iter().all(|c| holds(c, values, params)),
        Condition::Any(items) => items.iter().any(|c| holds(c, values, params)),
        Condition::Compare { field, op, rhs } => {
            let (a, b) = (values[*field], value(rhs));
            match op {
                CmpOp::Eq => a == b,
                CmpOp::Ne => a != b,
                CmpOp::Lt => int(a) < int(b),
                CmpOp::Le => int(a) <= int(b),
                CmpOp::Gt => int(a) > int(b),
                CmpOp::Ge => int(a) >= int(b),
            }
        }
        Condition::Member {
            field,
            set,
            negated,
        } => set.iter().any(|o| value(o) == values[*field]) != *negated,
        Condition::Between { field, low, high } => {
            let x = int(values[*field]);
            int(value(low)) <= x && x <= int(value(high))
        }
        Condition::HasBits { field, mask } => {
            int(values[*field]) & u128::from(*mask) == u128::from(*mask)
        }
    }
}

/// Builds the rule and infers each param's type from its uses.
struct RuleBuilder<'a> {
    schema: &'a Schema,
    param_names: &'a [String],
    param_types: Vec<Option<FieldType>>,
}

type Problem = (String, String);

impl RuleBuilder<'_> {
    /// A table with exactly one key, `all` or `any`, holding an array.
    fn group(&mut self, table: &toml::Table, key: &str) -> Result<Condition, Problem> {
        let mut entries = table.iter();
        let (name, items) = match (entries.next(), entries.next()) {
            (Some(entry), None) => entry,
            _ => {
                return Err((
                    key.to_string(),
                    "expected exactly one of `all = [...]` or `any = [...]`".into(),
                ))
            }
        };
        let key = format!("{key}.{name}");
        let items = match (name.as_str(), items) {
            ("all" | "any", toml::Value::Array(items)) => items,
            ("all" | "any", _) => return Err((key, "expected an array of conditions".into())),
            _ => return Err((key, "expected `all` or `any`".into())),
        };
        if items.is_empty() {
            return Err((key, "an empty group; list at least one condition".into()));
        }
        let conditions = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let key = format!("{key}[{i}]");
                match item {
                    toml::Value::String(s) => self.condition(s).map_err(|problem| (key, problem)),
                    toml::Value::Table(t) => self.group(t, &key),
                    _ => Err((key, "expected a condition string or an `{ all = [...] }` / `{ any = [...] }` table".into())),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if name == "all" {
            Condition::All(conditions)
        } else {
            Condition::Any(conditions)
        })
    }

    fn condition(&mut self, text: &str) -> Result<Condition, String> {
        let tokens = tokenize(text)?;
        let mut tokens = tokens.iter().peekable();
        let field_name = match tokens.next() {
            Some(Token::Word(w)) => w,
            _ => return Err(format!("{text:?}: a condition starts with a field name")),
        };
        let field = self.schema.field_index(field_name).ok_or_else(|| {
            format!(
                "{text:?}: unknown field {field_name:?} in schema {:?}",
                self.schema.name
            )
        })?;
        let ty = self.schema.fields[field].ty.clone();
        let op = match tokens.next() {
            Some(Token::Word(w)) => w.as_str(),
            _ => {
                return Err(format!(
                    "{text:?}: expected an operator after {field_name:?}"
                ))
            }
        };
        let ordered = |what: &str| {
            if ty.is_ordered() {
                Ok(())
            } else {
                Err(format!("{text:?}: `{what}` needs an ordered field (uint, date or decimal), and {field_name:?} is {}", ty.name()))
            }
        };
        let condition = match op {
            "==" | "!=" | "<" | "<=" | ">" | ">=" => {
                let op = match op {
                    "==" => CmpOp::Eq,
                    "!=" => CmpOp::Ne,
                    "<" => CmpOp::Lt,
                    "<=" => CmpOp::Le,
                    ">" => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                if op.is_ordered() {
                    ordered(op.symbol())?;
                }
                let rhs = self.operand(tokens.next(), field, text)?;
                Condition::Compare { field, op, rhs }
            }
            "in" | "not_in" => {
                if tokens.next() != Some(&Token::Open) {
                    return Err(format!("{text:?}: expected `[` after `{op}`"));
                }
                let mut set = Vec::new();
                loop {
                    set.push(self.operand(tokens.next(), field, text)?);
                    match tokens.next() {
                        Some(Token::Comma) => continue,
                        Some(Token::Close) => break,
                        _ => return Err(format!("{text:?}: expected `,` or `]` in the set")),
                    }
                }
                if set.len() > MAX_SET {
                    return Err(format!("{text:?}: a set holds at most {MAX_SET} values"));
                }
                Condition::Member {
                    field,
                    set,
                    negated: op == "not_in",
                }
            }
            "between" => {
                ordered("between")?;
                let low = self.operand(tokens.next(), field, text)?;
                if tokens.next() != Some(&Token::Word("and".into())) {
                    return Err(format!("{text:?}: expected `between LOW and HIGH`"));
                }
                let high = self.operand(tokens.next(), field, text)?;
                Condition::Between { field, low, high }
            }
            "has_bits" => {
                if !matches!(ty, FieldType::Uint { .. }) {
                    return Err(format!("{text:?}: `has_bits` needs a uint field, and {field_name:?} is {}", ty.name()));
                }
                let mask = match tokens.next() {
                    Some(Token::Word(w)) => parse_mask(w).ok_or_else(|| format!("{text:?}: {w:?} is not a mask (decimal, 0x… or 0b…)"))?,
                    Some(Token::Param(_)) => return Err(format!("{text:?}: `has_bits` takes a constant mask, not a param")),
                    _ => return Err(format!("{text:?}: expected a mask after `has_bits`")),
                };
                if mask == 0 || u128::from(mask) >= 1u128 << ty.bits() {
                    return Err(format!("{text:?}: the mask must be non-zero and fit in {} bits", ty.bits()));
                }
                Condition::HasBits { field, mask }
            }
            _ => return Err(format!("{text:?}: unknown operator {op:?} (expected == != < <= > >= in not_in between has_bits)")),
        };
        if let Some(extra) = tokens.next() {
            return Err(format!(
                "{text:?}: unexpected {} at the end",
                extra.describe()
            ));
        }
        Ok(condition)
    }

    fn operand(
        &mut self,
        token: Option<&Token>,
        field: usize,
        text: &str,
    ) -> Result<Operand, String> {
        let f = &self.schema.fields[field];
        match token {
            Some(Token::Param(name)) => {
                let index = self
                    .param_names
                    .iter()
                    .position(|p| p == name)
                    .ok_or_else(|| format!("{text:?}: ${name} is not declared in `params`"))?;
                match &self.param_types[index] {
                    Some(ty) if *ty != f.ty => {
                        return Err(format!(
                            "{text:?}: ${name} is compared with a {} field here and with a {} field elsewhere; use two params",
                            f.ty.name(),
                            ty.name()
                        ))
                    }
                    _ => self.param_types[index] = Some(f.ty.clone()),
                }
                Ok(Operand::Param(index))
            }
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => {
                f.ty.encode(&f.name, w)
                    .map(Operand::Const)
                    .map_err(|e| format!("{text:?}: {e}"))
            }
            _ => Err(format!("{text:?}: expected a constant or a $param")),
        }
    }
}

fn parse_mask(w: &str) -> Option<u64> {
    if let Some(hex) = w.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()
    } else if let Some(bin) = w.strip_prefix("0b") {
        u64::from_str_radix(bin, 2).ok()
    } else if w.chars().all(|c| c.is_ascii_digit()) {
        w.parse().ok()
    } else {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Param(String),
    Open,
    Close,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("{w:?}"),
            Token::Quoted(w) => format!("\"{w}\""),
            Token::Param(p) => format!("${p}"),
            Token::Open => "`[`".into(),
            Token::Close => "`]`".into(),
            Token::Comma => "`,`".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '[' | ']' | ',' => {
                chars.next();
                tokens.push(match c {
                    '[' => Token::Open,
                    ']' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => s.push(e),
                            _ => {
                                return Err(format!(
                                    "{text:?}: only \\\" and \\\\ are escapes in a quoted constant"
                                ))
                            }
                        },
                        Some(c) => s.push(c),
                        None => return Err(format!("{text:?}: unterminated quoted constant")),
                    }
                }
                tokens.push(Token::Quoted(s));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '[' | ']' | ',' | '"') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(match word.strip_prefix('$') {
                    Some(name) if is_identifier(name) => Token::Param(name.to_string()),
                    Some(_) => return Err(format!("{text:?}: {word:?} is not a param name")),
                    None => Token::Word(word),
                });
            }
        }
    }
    Ok(tokens)
}

/// Bits of `x` from the least significant, `n` of them.
pub(crate) fn low_bits(x: &Fr, n: u32) -> Vec<bool> {
    let bits = x.into_bigint().to_bits_le();
    bits.into_iter().take(n as usize).collect()
}
