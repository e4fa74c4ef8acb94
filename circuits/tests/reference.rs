//! The reference workload: `medical-premises` on `real-estate`, arity 4,
//! depth 10 (2^20 records).

use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem, SynthesisMode};
use zkgov_circuits::circuit::{first_unsatisfied, StatementCircuit, StatementWitness};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::{Record, Schema};
use zkgov_circuits::statement::{Statement, SubjectTag};
use zkgov_circuits::tree::{RegistryTree, TreeShape};
use zkgov_circuits::Fr;

const SCHEMA: &str = include_str!("../../schemas/real-estate.toml");
const POLICY: &str = include_str!("../../policies/medical-premises.toml");

fn reference() -> (Schema, Policy, TreeShape) {
    let schema = Schema::from_toml("real-estate.toml", SCHEMA).unwrap();
    let policy = Policy::from_toml("medical-premises.toml", POLICY, &schema).unwrap();
    (schema, policy, TreeShape::new(4, 10).unwrap())
}

/// A record that satisfies the reference policy with [`params`].
const GOOD: [&str; 7] = [
    "ID-1",
    "P-7",
    "150",
    "medical",
    "false",
    "2020-01-01",
    "2030-01-01",
];

fn params(policy: &Policy) -> Vec<Fr> {
    policy
        .encode_params(&[
            ("min_area", "150"),
            ("usage", "medical"),
            ("today", "2026-11-23"),
        ])
        .unwrap()
}

struct Case {
    statement: Statement,
    witness: StatementWitness,
}

/// A registry holding `record` at index 5 among other records, and a
/// statement about it.
fn case(schema: &Schema, policy: &Policy, shape: TreeShape, record: &[&str]) -> Case {
    let record = schema
        .encode_record(record, Fr::from(987654321u64))
        .unwrap();
    let mut leaves: Vec<Fr> = (0..9u64).map(|i| Fr::from(i + 1000)).collect();
    leaves[5] = schema.leaf(&record);
    let tree = RegistryTree::from_leaves(shape, leaves).unwrap();
    let case_secret = Fr::from(4242u64);
    Case {
        statement: Statement {
            registry_root: tree.root(),
            case_id: Statement::case_id("CASE-2026-0001"),
            subject_tag: SubjectTag::new(record.values[schema.subject], case_secret),
            params: params(policy),
        },
        witness: StatementWitness {
            path: tree.path(5).unwrap(),
            record,
            case_secret,
        },
    }
}

/// Whether the circuit is satisfied, checked twice: by full synthesis, and by
/// witness-only synthesis against matrices synthesized without values, as
/// the prover does. The two must agree.
fn satisfied(schema: &Schema, policy: &Policy, shape: TreeShape, case: &Case) -> bool {
    let circuit = StatementCircuit {
        schema,
        policy,
        shape,
        assignment: Some((&case.statement, &case.witness)),
    };
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: true,
    });
    circuit.generate_constraints(cs.clone()).unwrap();
    let full = cs.is_satisfied().unwrap();

    let matrices = StatementCircuit::shape_only(schema, policy, shape)
        .matrices()
        .unwrap();
    let assignment = circuit.assign().unwrap();
    assert_eq!(assignment.instance[1..], case.statement.public_inputs()[..]);
    let witness_only = first_unsatisfied(&matrices, &assignment).is_none();
    assert_eq!(
        full, witness_only,
        "full and witness-only synthesis disagree"
    );
    full
}

#[test]
fn reference_circuit_fits_a_2_12_domain() {
    let (schema, policy, shape) = reference();
    let size = StatementCircuit::size(&schema, &policy, shape).unwrap();
    assert_eq!(size.public_inputs, 6);
    let domain_rows = size.constraints + size.public_inputs + 1;
    assert!(
        domain_rows <= 4096,
        "{domain_rows} rows exceed a 2^12 domain"
    );
    assert_eq!(size.domain(), 4096);
    // leaf (width 9): 405, path: 10 × (300 + 6), root and tag equality: 2,
    // tag (width 3): 243, policy: area 3 × 33, dates 5 × 23, two equalities.
    assert_eq!(
        size.constraints,
        405 + 10 * 306 + 2 + 243 + 3 * 33 + 5 * 23 + 2
    );
    assert_eq!(size.constraints, 3926);
}

#[test]
fn public_inputs_are_named_in_statement_order() {
    let (_, policy, _) = reference();
    assert_eq!(
        policy.public_input_names(),
        [
            "registry_root",
            "case_id",
            "subject_tag",
            "min_area",
            "usage",
            "today"
        ]
    );
}

#[test]
fn a_satisfying_record_satisfies_the_circuit() {
    let (schema, policy, shape) = reference();
    let case = case(&schema, &policy, shape, &GOOD);
    assert!(policy.evaluate(&schema, &case.witness.record.values, &case.statement.params));
    assert!(satisfied(&schema, &policy, shape, &case));
}

#[test]
fn violating_any_one_condition_leaves_the_circuit_unsatisfied() {
    let (schema, policy, shape) = reference();
    // Each record differs from GOOD in exactly one condition, at its boundary.
    let violations: [(&str, [&str; 7]); 5] = [
        (
            "area_m2 >= $min_area",
            [
                "ID-1",
                "P-7",
                "149",
                "medical",
                "false",
                "2020-01-01",
                "2030-01-01",
            ],
        ),
        (
            "usage == $usage",
            [
                "ID-1",
                "P-7",
                "150",
                "commercial",
                "false",
                "2020-01-01",
                "2030-01-01",
            ],
        ),
        (
            "encumbered == false",
            [
                "ID-1",
                "P-7",
                "150",
                "medical",
                "true",
                "2020-01-01",
                "2030-01-01",
            ],
        ),
        (
            "issued <= $today",
            [
                "ID-1",
                "P-7",
                "150",
                "medical",
                "false",
                "2026-11-24",
                "2030-01-01",
            ],
        ),
        (
            "expires > $today",
            [
                "ID-1",
                "P-7",
                "150",
                "medical",
                "false",
                "2020-01-01",
                "2026-11-23",
            ],
        ),
    ];
    for (condition, record) in violations {
        let case = case(&schema, &policy, shape, &record);
        assert!(
            !policy.evaluate(&schema, &case.witness.record.values, &case.statement.params),
            "{condition}: native"
        );
        assert!(
            !satisfied(&schema, &policy, shape, &case),
            "{condition}: circuit"
        );
        let failures =
            policy.failures(&schema, &case.witness.record.values, &case.statement.params);
        assert_eq!(failures, [condition], "only {condition} fails");
    }
    // The boundaries on the satisfied side hold: issued == today, expires == today + 1.
    let edge = [
        "ID-1",
        "P-7",
        "150",
        "medical",
        "false",
        "2026-11-23",
        "2026-11-24",
    ];
    assert!(satisfied(
        &schema,
        &policy,
        shape,
        &case(&schema, &policy, shape, &edge)
    ));
}

#[test]
fn a_wrong_root_tag_path_bit_or_sibling_leaves_the_circuit_unsatisfied() {
    let (schema, policy, shape) = reference();
    let good = case(&schema, &policy, shape, &GOOD);
    let one = Fr::from(1u64);

    let mut wrong_root = case(&schema, &policy, shape, &GOOD);
    wrong_root.statement.registry_root += one;
    assert!(!satisfied(&schema, &policy, shape, &wrong_root), "root");

    let mut wrong_tag = case(&schema, &policy, shape, &GOOD);
    wrong_tag.statement.subject_tag =
        SubjectTag::new(good.witness.record.values[0], Fr::from(4243u64));
    assert!(!satisfied(&schema, &policy, shape, &wrong_tag), "tag");

    let mut wrong_secret = case(&schema, &policy, shape, &GOOD);
    wrong_secret.witness.case_secret += one;
    assert!(
        !satisfied(&schema, &policy, shape, &wrong_secret),
        "case secret"
    );

    let mut wrong_bit = case(&schema, &policy, shape, &GOOD);
    wrong_bit.witness.path.index ^= 1 << 2; // the second level's low position bit
    assert!(!satisfied(&schema, &policy, shape, &wrong_bit), "path bit");

    for level in [0, 1, 9] {
        let mut wrong_sibling = case(&schema, &policy, shape, &GOOD);
        wrong_sibling.witness.path.siblings[level][1] += one;
        assert!(
            !satisfied(&schema, &policy, shape, &wrong_sibling),
            "sibling at level {level}"
        );
    }

    let mut wrong_salt = case(&schema, &policy, shape, &GOOD);
    wrong_salt.witness.record = Record {
        salt: good.witness.record.salt + one,
        ..good.witness.record.clone()
    };
    assert!(!satisfied(&schema, &policy, shape, &wrong_salt), "salt");

    let mut wrong_param = case(&schema, &policy, shape, &GOOD);
    wrong_param.statement.params[0] = Fr::from(151u64);
    assert!(
        !satisfied(&schema, &policy, shape, &wrong_param),
        "min_area above the record's area"
    );
}

#[test]
fn an_out_of_range_param_cannot_satisfy_a_comparison() {
    // min_area = r - 1 would make `area - min_area` small if the param were not
    // range-checked: area 0 - (r - 1) = 1 mod r.
    let (schema, policy, shape) = reference();
    let mut case = case(
        &schema,
        &policy,
        shape,
        &[
            "ID-1",
            "P-7",
            "0",
            "medical",
            "false",
            "2020-01-01",
            "2030-01-01",
        ],
    );
    case.statement.params[0] = -Fr::from(1u64);
    assert!(!policy.evaluate(&schema, &case.witness.record.values, &case.statement.params));
    assert!(!satisfied(&schema, &policy, shape, &case));
}
