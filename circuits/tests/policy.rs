//! Schema and policy files, and the agreement of the native evaluator with
//! the policy gadget.

use ark_r1cs_std::{alloc::AllocVar, fields::fp::FpVar};
use ark_relations::r1cs::ConstraintSystem;
use proptest::prelude::*;
use zkgov_circuits::encoding::FieldType;
use zkgov_circuits::policy::{constraints::enforce_policy, ParamError, Policy, PolicyError};
use zkgov_circuits::schema::{Schema, SchemaError};
use zkgov_circuits::Fr;

const SCHEMA: &str = r#"
name = "sample"
subject = "who"

[[field]]
name = "who"
type = "id"

[[field]]
name = "small"
type = "uint8"

[[field]]
name = "wide"
type = "uint64"

[[field]]
name = "day"
type = "date"

[[field]]
name = "flag"
type = "bool"

[[field]]
name = "kind"
type = "enum"
variants = ["x", "y", "z"]

[[field]]
name = "money"
type = "decimal"
scale = 2
bits = 40
"#;

fn schema() -> Schema {
    Schema::from_toml("sample.toml", SCHEMA).unwrap()
}

fn policy(text: &str) -> Result<Policy, PolicyError> {
    Policy::from_toml("p.toml", text, &schema())
}

fn invalid(text: &str) -> (String, String) {
    match policy(text) {
        Err(PolicyError::Invalid { file, key, problem }) => {
            assert_eq!(file, "p.toml");
            (key, problem)
        }
        other => panic!("expected an invalid-policy error, got {other:?}"),
    }
}

fn rule(params: &str, items: &str) -> String {
    format!("name = \"t\"\nschema = \"sample\"\nparams = [{params}]\n[rule]\nall = [{items}]\n")
}

#[test]
fn reference_files_parse() {
    for (schema, policy) in [
        (
            "../schemas/real-estate.toml",
            "../policies/medical-premises.toml",
        ),
        (
            "../schemas/business-licence.toml",
            "../policies/active-medical-business.toml",
        ),
    ] {
        let schema_text = std::fs::read_to_string(schema).unwrap();
        let schema = Schema::from_toml(schema, &schema_text).unwrap();
        let policy_text = std::fs::read_to_string(policy).unwrap();
        Policy::from_toml(policy, &policy_text, &schema).unwrap();
    }
}

#[test]
fn schema_errors_name_the_file_and_key() {
    let bad_type = SCHEMA.replace("type = \"uint8\"", "type = \"uint65\"");
    match Schema::from_toml("s.toml", &bad_type) {
        Err(SchemaError::Invalid { file, key, .. }) => {
            assert_eq!(file, "s.toml");
            assert_eq!(key, "field[1].type");
        }
        other => panic!("{other:?}"),
    }
    let unknown = SCHEMA.replace("type = \"date\"", "type = \"datetime\"");
    let err = Schema::from_toml("s.toml", &unknown)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s.toml") && err.contains("field[3].type") && err.contains("datetime"),
        "{err}"
    );

    let subject = SCHEMA.replace("subject = \"who\"", "subject = \"small\"");
    assert!(
        matches!(Schema::from_toml("s.toml", &subject), Err(SchemaError::Invalid { key, .. }) if key == "subject")
    );
    let missing = SCHEMA.replace("subject = \"who\"", "subject = \"nobody\"");
    assert!(
        matches!(Schema::from_toml("s.toml", &missing), Err(SchemaError::Invalid { key, .. }) if key == "subject")
    );
    let duplicate = SCHEMA.replace("name = \"wide\"", "name = \"small\"");
    assert!(
        matches!(Schema::from_toml("s.toml", &duplicate), Err(SchemaError::Invalid { key, .. }) if key == "field[2].name")
    );
    let salt = SCHEMA.replace("name = \"wide\"", "name = \"salt\"");
    assert!(
        matches!(Schema::from_toml("s.toml", &salt), Err(SchemaError::Invalid { key, .. }) if key == "field[2].name")
    );
    let stray = SCHEMA.replace("type = \"bool\"", "type = \"bool\"\nvariants = [\"a\"]");
    assert!(
        matches!(Schema::from_toml("s.toml", &stray), Err(SchemaError::Invalid { key, .. }) if key == "field[4].variants")
    );
    let no_scale = SCHEMA.replace("scale = 2\n", "");
    assert!(
        matches!(Schema::from_toml("s.toml", &no_scale), Err(SchemaError::Invalid { key, .. }) if key == "field[6].scale")
    );
    assert!(matches!(
        Schema::from_toml("s.toml", "name = 3"),
        Err(SchemaError::Syntax { .. })
    ));

    let mut wide =
        String::from("name = \"w\"\nsubject = \"s\"\n[[field]]\nname = \"s\"\ntype = \"id\"\n");
    for i in 0..15 {
        wide += &format!("[[field]]\nname = \"f{i}\"\ntype = \"bool\"\n");
    }
    assert!(
        matches!(Schema::from_toml("s.toml", &wide), Err(SchemaError::Invalid { key, .. }) if key == "field")
    );
}

#[test]
fn policy_errors_name_the_key_and_the_problem() {
    let (key, problem) = invalid(&rule("", "\"ghost == 1\""));
    assert_eq!(key, "rule.all[0]");
    assert!(problem.contains("unknown field \"ghost\""), "{problem}");

    let (key, problem) = invalid(&rule("", "\"small >= 1\", \"kind < y\""));
    assert_eq!(key, "rule.all[1]");
    assert!(problem.contains("ordered"), "{problem}");

    let (key, problem) = invalid(&rule("", "\"small >= 256\""));
    assert_eq!(key, "rule.all[0]");
    assert!(problem.contains("256"), "{problem}");

    let (key, problem) = invalid(&rule("", "\"small >= $p\""));
    assert_eq!(key, "rule.all[0]");
    assert!(problem.contains("$p is not declared"), "{problem}");

    let (key, problem) = invalid(&rule("\"p\", \"q\"", "\"small >= $p\""));
    assert_eq!(key, "params[1]");
    assert!(problem.contains("not used"), "{problem}");

    let (key, _) = invalid(&rule("\"p\"", "\"small >= $p\", \"day <= $p\""));
    assert_eq!(key, "rule.all[1]");

    let (key, _) = invalid(&rule("", "{ any = [\"flag == true\", \"small ~ 3\"] }"));
    assert_eq!(key, "rule.all[0].any[1]");

    let (key, _) = invalid(&rule("", "\"flag has_bits 1\""));
    assert_eq!(key, "rule.all[0]");
    let (key, _) = invalid(&rule("", "\"small has_bits 0x100\""));
    assert_eq!(key, "rule.all[0]");
    let (key, _) = invalid(&rule("", "\"small in [1, 2\""));
    assert_eq!(key, "rule.all[0]");
    let (key, _) = invalid(&rule("", "\"small between 1 2\""));
    assert_eq!(key, "rule.all[0]");
    let (key, _) = invalid(&rule("", "\"money == 1.005\""));
    assert_eq!(key, "rule.all[0]");
    let (key, _) = invalid(&rule("", "\"day > 2025-02-30\""));
    assert_eq!(key, "rule.all[0]");
    let (key, _) = invalid(&rule("", ""));
    assert_eq!(key, "rule.all");

    let other = rule("", "\"flag == true\"").replace("schema = \"sample\"", "schema = \"other\"");
    assert!(
        matches!(policy(&other), Err(PolicyError::SchemaMismatch { expected, .. }) if expected == "other")
    );
    assert!(matches!(
        policy("name = \"x\""),
        Err(PolicyError::Syntax { .. })
    ));
}

#[test]
fn params_take_the_type_of_their_field_and_encode_strictly() {
    let p = policy(&rule("\"cut\", \"k\"", "\"day < $cut\", \"kind == $k\"")).unwrap();
    assert_eq!(p.params[0].ty, FieldType::Date);
    assert_eq!(p.params[1].ty.name(), "enum");
    let values = p
        .encode_params(&[("k", "z"), ("cut", "0001-01-02")])
        .unwrap();
    assert_eq!(values, vec![Fr::from(2u64), Fr::from(2u64)]);
    assert!(
        matches!(p.encode_params(&[("cut", "2025-01-01")]), Err(ParamError::Missing { name }) if name == "k")
    );
    assert!(matches!(
        p.encode_params(&[("cut", "2025-01-01"), ("k", "x"), ("zz", "1")]),
        Err(ParamError::Unknown { name, .. }) if name == "zz"
    ));
    assert!(matches!(
        p.encode_params(&[("cut", "2025-01-01"), ("cut", "2025-01-02"), ("k", "x")]),
        Err(ParamError::Duplicate { .. })
    ));
    assert!(matches!(
        p.encode_params(&[("cut", "2025-02-30"), ("k", "x")]),
        Err(ParamError::Encoding(_))
    ));
}

// ---- native evaluator against the gadget ----

/// Each field's index, whether it is ordered, and its width.
const FIELDS: [(&str, usize); 6] = [
    ("small", 1),
    ("wide", 2),
    ("day", 3),
    ("flag", 4),
    ("kind", 5),
    ("money", 6),
];

fn width(schema: &Schema, field: usize) -> u32 {
    schema.fields[field].ty.bits()
}

/// A value of a field chosen near the boundaries: 0, 1, the top of its
/// range, one past it, or next to a shared anchor.
fn value(field_bits: u32, pick: u8, anchor: u64) -> u128 {
    let max = (1u128 << field_bits) - 1;
    let anchor = u128::from(anchor) & max;
    match pick % 8 {
        0 => 0,
        1 => 1.min(max),
        2 => max,
        3 => max - 1,
        4 => anchor,
        5 => (anchor + 1).min(max),
        6 => anchor.saturating_sub(1),
        // Rarely, a value past the declared width, which the range checks reject.
        _ if pick % 31 == 7 => max + 1,
        _ => anchor,
    }
}

/// A value that the field's text format can express, for constants.
fn constant_text(schema: &Schema, field: usize, v: u128) -> String {
    let ty = &schema.fields[field].ty;
    let v = match ty {
        FieldType::Date => v.clamp(1, 3_652_059),
        FieldType::Enum { variants } => v % variants.len() as u128,
        _ => v.min((1u128 << ty.bits()) - 1),
    };
    ty.decode(&Fr::from(v)).expect("decodable type")
}

#[derive(Debug, Clone)]
struct Leaf {
    field: usize,
    op: u8,
    picks: [u8; 3],
    use_param: [bool; 2],
    mask: u64,
}

fn leaf_strategy() -> impl Strategy<Value = Leaf> {
    (
        0..FIELDS.len(),
        any::<u8>(),
        any::<[u8; 3]>(),
        any::<[bool; 2]>(),
        1..u64::MAX,
    )
        .prop_map(|(f, op, picks, use_param, mask)| Leaf {
            field: FIELDS[f].1,
            op,
            picks,
            use_param,
            mask,
        })
}

#[derive(Debug, Clone)]
enum Tree {
    Leaf(Leaf),
    Group(bool, Vec<Tree>),
}

fn tree_strategy() -> impl Strategy<Value = Tree> {
    let leaf = leaf_strategy().prop_map(Tree::Leaf);
    leaf.prop_recursive(2, 12, 4, |inner| {
        (any::<bool>(), prop::collection::vec(inner, 1..4))
            .prop_map(|(all, items)| Tree::Group(all, items))
    })
}

struct Rendered {
    params: Vec<String>,
    param_values: Vec<Fr>,
}

fn render(schema: &Schema, tree: &Tree, anchor: u64, out: &mut Rendered) -> String {
    match tree {
        Tree::Group(all, items) => {
            let items: Vec<String> = items
                .iter()
                .map(|t| render(schema, t, anchor, out))
                .collect();
            format!(
                "{{ {} = [{}] }}",
                if *all { "all" } else { "any" },
                items.join(", ")
            )
        }
        Tree::Leaf(leaf) => {
            let f = leaf.field;
            let name = &schema.fields[f].name;
            let ty = &schema.fields[f].ty;
            let bits = width(schema, f);
            let operand = |i: usize, out: &mut Rendered| {
                let v = value(bits, leaf.picks[i], anchor);
                if leaf.use_param[i.min(1)] {
                    let p = format!("p{}", out.params.len());
                    out.params.push(p.clone());
                    out.param_values.push(Fr::from(v));
                    format!("${p}")
                } else {
                    format!("\"{}\"", constant_text(schema, f, v))
                }
            };
            let ordered = ty.is_ordered();
            match leaf.op % 10 {
                0 | 1 => format!(
                    "'{name} {} {}'",
                    ["==", "!="][leaf.op as usize % 2],
                    operand(0, out)
                ),
                2..=5 if ordered => {
                    format!(
                        "'{name} {} {}'",
                        ["<", "<=", ">", ">="][leaf.op as usize % 4],
                        operand(0, out)
                    )
                }
                6 if ordered => format!(
                    "'{name} between {} and {}'",
                    operand(0, out),
                    operand(1, out)
                ),
                7 if matches!(ty, FieldType::Uint { .. }) => {
                    format!(
                        "'{name} has_bits {}'",
                        leaf.mask & ((1u128 << bits) - 1) as u64 | 1
                    )
                }
                op => {
                    let set: Vec<String> =
                        (0..=(op as usize % 3)).map(|i| operand(i, out)).collect();
                    let negated = if leaf.op % 2 == 0 { "in" } else { "not_in" };
                    format!("'{name} {negated} [{}]'", set.join(", "))
                }
            }
        }
    }
}

fn gadget_satisfied(schema: &Schema, policy: &Policy, values: &[Fr], params: &[Fr]) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let values: Vec<FpVar<Fr>> = values
        .iter()
        .map(|v| FpVar::new_witness(cs.clone(), || Ok(*v)).unwrap())
        .collect();
    let params: Vec<FpVar<Fr>> = params
        .iter()
        .map(|v| FpVar::new_input(cs.clone(), || Ok(*v)).unwrap())
        .collect();
    enforce_policy(schema, policy, &values, &params).unwrap();
    cs.is_satisfied().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// The native verdict is exactly the gadget's satisfiability, over random
    /// policies and records with boundary values.
    #[test]
    fn native_verdict_equals_circuit_satisfiability(
        tree in tree_strategy(),
        top_all in any::<bool>(),
        picks in any::<[u8; 7]>(),
        anchor in any::<u64>(),
    ) {
        let schema = schema();
        let mut rendered = Rendered { params: vec![], param_values: vec![] };
        let item = render(&schema, &tree, anchor, &mut rendered);
        let params: Vec<String> = rendered.params.iter().map(|p| format!("\"{p}\"")).collect();
        let mut text = rule(&params.join(", "), &item);
        if !top_all {
            text = text.replace("all = [", "any = [");
        }
        let policy = Policy::from_toml("p.toml", &text, &schema).unwrap();
        let mut values = vec![Fr::from(77u64)];
        for (i, field) in schema.fields.iter().enumerate().skip(1) {
            let v = match &field.ty {
                FieldType::Bool => u128::from(picks[i] % 2),
                FieldType::Enum { variants } => u128::from(picks[i]) % (variants.len() as u128 + 1),
                ty => value(ty.bits(), picks[i], anchor),
            };
            values.push(Fr::from(v));
        }
        let native = policy.evaluate(&schema, &values, &rendered.param_values);
        let circuit = gadget_satisfied(&schema, &policy, &values, &rendered.param_values);
        prop_assert_eq!(native, circuit, "policy:\n{}\nvalues {:?}", text, values);
    }
}

#[test]
fn the_boolean_forms_under_any_agree_at_boundaries() {
    // Each comparison evaluated to a bit (under `any`) and enforced (under
    // `all`), at its boundary and one step either side.
    let schema = schema();
    for op in ["<", "<=", ">", ">=", "==", "!="] {
        for group in ["all", "any"] {
            let text = rule("", &format!("\"small {op} 100\""))
                .replace("all = [", &format!("{group} = ["));
            let policy = Policy::from_toml("p.toml", &text, &schema).unwrap();
            for v in [0u64, 99, 100, 101, 255] {
                let values = [77, v, 0, 1, 0, 0, 0].map(Fr::from);
                let expected = match op {
                    "<" => v < 100,
                    "<=" => v <= 100,
                    ">" => v > 100,
                    ">=" => v >= 100,
                    "==" => v == 100,
                    _ => v != 100,
                };
                assert_eq!(policy.evaluate(&schema, &values, &[]), expected, "{op} {v}");
                assert_eq!(
                    gadget_satisfied(&schema, &policy, &values, &[]),
                    expected,
                    "{group} {op} {v}"
                );
            }
        }
    }
}
