//! The acceptance rules as a pure state machine: each rule accepts what it
//! should, and refuses what it should for the right reason, with times
//! given explicitly.

use std::sync::OnceLock;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, ProvingKey, VerifyingKey};
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError, Variable};
use ark_snark::SNARK;
use rand::rngs::StdRng;
use rand::SeedableRng;
use zkgov_circuits::circuit::StatementCircuit;
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::statement::Statement;
use zkgov_circuits::tree::TreeShape;
use zkgov_keys::digest::{circuit_digest, key_id, policy_hash};
use zkgov_keys::snarkjs;
use zkgov_keys::store::{Ceremony, ContributionInfo, Provenance, TreeInfo};
use zkgov_log::entry::{format_time, Entry, GovernedDepartment};
use zkgov_log::replay::{replay, Violation};
use zkgov_log::rules::{LogState, Refusal};

const SCHEMA: &str = include_str!("../../schemas/real-estate.toml");
const POLICY: &str = include_str!("../../policies/medical-premises.toml");
const T0: i64 = 1_796_083_200;

/// Six public inputs, each in one constraint `x · 1 = x`.
struct Echo(Vec<Fr>);

impl ConstraintSynthesizer<Fr> for Echo {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        for x in self.0 {
            let v = cs.new_input_variable(|| Ok(x))?;
            cs.enforce_constraint(lc!() + v, lc!() + Variable::One, lc!() + v)?;
        }
        Ok(())
    }
}

struct Keys {
    pk: ProvingKey<Bn254>,
    vk: VerifyingKey<Bn254>,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(
            Echo(vec![Fr::from(0u64); 6]),
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
        Keys { pk, vk }
    })
}

fn governance(time: i64, grace: u64) -> Entry {
    Entry::Governance {
        departments: vec![
            GovernedDepartment {
                name: "health".into(),
                registries: vec!["medical-licences".into()],
                decides: true,
                key: None,
            },
            GovernedDepartment {
                name: "land-registry".into(),
                registries: vec!["real-estate".into()],
                decides: false,
                key: None,
            },
        ],
        freshness_seconds: 3600,
        grace_seconds: grace,
        time: format_time(time),
        endorsements: vec![],
        origin: None,
        require_multi_party: false,
    }
}

fn key_entry(vk: &VerifyingKey<Bn254>, policy_text: &str, time: i64) -> Entry {
    let schema = Schema::from_toml("s", SCHEMA).unwrap();
    let policy = Policy::from_toml("p", policy_text, &schema).unwrap();
    let hash = policy_hash(&schema, &policy);
    Entry::Key {
        key_id: key_id(vk, &hash).to_string(),
        registry: "real-estate".into(),
        policy: policy.name.clone(),
        policy_hash: hash.to_string(),
        verifying_key: snarkjs::verifying_key_to_json(vk),
        schema_toml: SCHEMA.into(),
        policy_toml: policy_text.into(),
        provenance: None,
        time: format_time(time),
    }
}

fn key_id_of(entry: &Entry) -> String {
    match entry {
        Entry::Key { key_id, .. } => key_id.clone(),
        _ => unreachable!(),
    }
}

fn root(department: &str, root: u64, time: i64) -> Entry {
    Entry::Root {
        department: department.into(),
        registry: "real-estate".into(),
        root: root.to_string(),
        time: format_time(time),
        signature: None,
    }
}

fn result(key: &str, case: &str, tag: u64, root: u64, min_area: u64, time: i64) -> Entry {
    result_on(key, case, tag, root, min_area, "2026-11-23", time)
}

fn result_on(
    key: &str,
    case: &str,
    tag: u64,
    root: u64,
    min_area: u64,
    today: &str,
    time: i64,
) -> Entry {
    let schema = Schema::from_toml("s", SCHEMA).unwrap();
    let policy = Policy::from_toml("p", POLICY, &schema).unwrap();
    let mut inputs = vec![Fr::from(root), Statement::case_id(case), Fr::from(tag)];
    inputs.extend(
        policy
            .encode_params(&[
                ("min_area", &min_area.to_string()),
                ("usage", "medical"),
                ("today", today),
            ])
            .unwrap(),
    );
    let proof = Groth16::<Bn254>::prove(
        &keys().pk,
        Echo(inputs.clone()),
        &mut StdRng::seed_from_u64(tag ^ min_area),
    )
    .unwrap();
    let decimals: Vec<String> = inputs.iter().map(to_decimal).collect();
    Entry::Result {
        key_id: key.into(),
        case_id: case.into(),
        subject_tag: decimals[2].clone(),
        registry_root: decimals[0].clone(),
        public_inputs: decimals,
        proof: snarkjs::proof_to_json(&proof),
        department: "land-registry".into(),
        time: format_time(time),
    }
}

/// A state with governance (grace `grace`), the key and root 7 at T0.
fn started(grace: u64) -> (LogState, String) {
    let mut state = LogState::new();
    state.apply(&governance(T0, grace)).unwrap();
    let key = key_entry(&keys().vk, POLICY, T0);
    state.apply(&key).unwrap();
    state.apply(&root("land-registry", 7, T0)).unwrap();
    (state, key_id_of(&key))
}

#[test]
fn the_first_entry_must_be_governance() {
    let mut state = LogState::new();
    assert_eq!(
        state.apply(&root("land-registry", 7, T0)),
        Err(Refusal::NoGovernance { kind: "root" })
    );
    assert_eq!(state.size(), 0, "a refused entry changes nothing");
    state.apply(&governance(T0, 900)).unwrap();
    assert_eq!(state.size(), 1);
}

#[test]
fn times_never_go_back() {
    let (mut state, _) = started(900);
    assert!(matches!(
        state.apply(&root("land-registry", 8, T0 - 1)),
        Err(Refusal::TimeWentBack { .. })
    ));
    state.apply(&root("land-registry", 8, T0)).unwrap();
    // A request whose clock was read before the last entry was stamped
    // takes the last entry's time, and is accepted.
    assert_eq!(state.next_time(T0 - 1), T0);
    assert_eq!(state.next_time(T0 + 5), T0 + 5);
    state
        .apply(&root("land-registry", 9, state.next_time(T0 - 1)))
        .unwrap();
    assert_eq!(LogState::new().next_time(T0 - 1), T0 - 1);
}

#[test]
fn only_the_owner_anchors_a_registry_root() {
    let (mut state, _) = started(900);
    assert_eq!(
        state.apply(&root("health", 8, T0)),
        Err(Refusal::NotOwner {
            registry: "real-estate".into(),
            owner: "land-registry".into(),
            department: "health".into(),
        })
    );
}

#[test]
fn a_valid_result_is_accepted_and_a_wrong_one_refused_for_its_reason() {
    let (mut state, key) = started(900);
    state
        .apply(&result(&key, "C-1", 11, 7, 120, T0 + 5))
        .unwrap();
    // The same statement again, with the same inputs: already logged.
    assert_eq!(
        state.apply(&result(&key, "C-1", 11, 7, 120, T0 + 5)),
        Err(Refusal::AlreadyLogged { index: 3 })
    );
    // The same statement with another param: a conflict.
    assert_eq!(
        state.apply(&result(&key, "C-1", 11, 7, 100, T0 + 5)),
        Err(Refusal::ConflictingStatement { index: 3 })
    );
    // A root never anchored.
    assert!(matches!(
        state.apply(&result(&key, "C-2", 12, 9, 120, T0 + 5)),
        Err(Refusal::RootNotAnchored { .. })
    ));
    // A root anchored over an hour (the window) before.
    assert!(matches!(
        state.apply(&result(&key, "C-3", 13, 7, 120, T0 + 3601)),
        Err(Refusal::RootStale {
            age_seconds: 3601,
            ..
        })
    ));
    // A proof moved to another case does not verify.
    let Entry::Result { proof, .. } = result(&key, "C-4", 14, 7, 120, T0 + 3601) else {
        unreachable!()
    };
    let Entry::Result {
        key_id,
        case_id,
        subject_tag,
        registry_root,
        public_inputs,
        department,
        ..
    } = result(&key, "C-5", 14, 7, 120, T0 + 10)
    else {
        unreachable!()
    };
    let moved = Entry::Result {
        key_id,
        case_id,
        subject_tag,
        registry_root,
        public_inputs,
        proof,
        department,
        time: format_time(T0 + 10),
    };
    assert_eq!(state.apply(&moved), Err(Refusal::InvalidProof));
    assert_eq!(state.counts().results, 1);
}

#[test]
fn a_superseded_root_backs_proofs_only_within_the_grace_period() {
    let (mut state, key) = started(60);
    state.apply(&root("land-registry", 8, T0 + 100)).unwrap();
    // 60 s after the newer root: still within grace.
    state
        .apply(&result(&key, "C-1", 1, 7, 120, T0 + 160))
        .unwrap();
    // 61 s after: refused, naming the root that superseded it.
    assert_eq!(
        state.apply(&result(&key, "C-2", 2, 7, 120, T0 + 161)),
        Err(Refusal::RootSuperseded {
            registry: "real-estate".into(),
            root: "7".into(),
            by_index: 3,
            superseded_seconds: 61,
            grace_seconds: 60,
        })
    );
    // The latest root is fine.
    state
        .apply(&result(&key, "C-2", 2, 8, 120, T0 + 161))
        .unwrap();
}

#[test]
fn keys_with_an_identity_point_or_a_reused_verifying_key_are_refused() {
    let (mut state, _) = started(900);
    let mut vk = keys().vk.clone();
    vk.gamma_abc_g1[2] = ark_bn254::G1Affine::identity();
    let other = POLICY.replacen("medical-premises", "medical-premises-2", 1);
    assert_eq!(
        state.apply(&key_entry(&vk, &other, T0)),
        Err(Refusal::IdentityPoint {
            point: "IC[2]".into()
        })
    );
    // The same verifying key under another policy.
    assert!(matches!(
        state.apply(&key_entry(&keys().vk, &other, T0)),
        Err(Refusal::KeyReused { .. })
    ));
    // A key entry whose id is not its key's.
    let mut forged = key_entry(&keys().vk, &other, T0);
    if let Entry::Key { key_id, .. } = &mut forged {
        *key_id = "00".repeat(32);
    }
    assert!(matches!(
        state.apply(&forged),
        Err(Refusal::KeyIdMismatch { .. })
    ));
}

#[test]
fn decisions_come_from_deciders_and_cite_their_own_case() {
    let (mut state, key) = started(900);
    state.apply(&result(&key, "C-1", 1, 7, 120, T0)).unwrap();
    state.apply(&result(&key, "C-2", 2, 7, 120, T0)).unwrap();
    let decision = |department: &str, results: Vec<u64>| Entry::Decision {
        case_id: "C-1".into(),
        department: department.into(),
        decision: "approved".into(),
        results,
        note: String::new(),
        automatic: false,
        amends: None,
        licence: None,
        time: format_time(T0),
        signature: None,
    };
    assert_eq!(
        state.apply(&decision("land-registry", vec![3])),
        Err(Refusal::NotDecider("land-registry".into()))
    );
    assert_eq!(
        state.apply(&decision("health", vec![4])),
        Err(Refusal::CitesOtherCase {
            index: 4,
            case_id: "C-1".into()
        })
    );
    state.apply(&decision("health", vec![3])).unwrap();
    assert_eq!(state.case_decisions("C-1").len(), 1);
}

#[test]
fn compare_decodes_params_and_counts_only_expected_values() {
    let (mut state, key) = started(900);
    state.apply(&result(&key, "C-1", 1, 7, 120, T0)).unwrap();
    state.apply(&result(&key, "C-1", 2, 7, 100, T0)).unwrap();
    let required = vec![key.clone()];
    let plain = state.compare("C-1", &required, &[]).unwrap();
    assert!(plain.complete && !plain.tags_match, "two applicants");
    assert_eq!(plain.results[0].params["today"], "2026-11-23");
    assert_eq!(plain.results[0].params["usage"], "medical");
    let expect = vec![("min_area".to_string(), "120".to_string())];
    let strict = state.compare("C-1", &required, &expect).unwrap();
    assert!(strict.complete && strict.tags_match);
    assert_eq!(strict.cited, vec![3]);
    assert!(!strict.results[1].counts);
    assert_eq!(
        strict.results[1].why.as_deref(),
        Some("min_area is 100, not 120")
    );
    let typo = vec![("min_areaa".to_string(), "120".to_string())];
    assert!(matches!(
        state.compare("C-1", &required, &typo),
        Err(Refusal::Malformed { .. })
    ));
}

#[test]
fn a_replay_in_batches_gives_the_verdicts_of_applying_one_by_one() {
    let (_, key) = started(900);
    let mut entries: Vec<Vec<u8>> = vec![
        governance(T0, 900).to_bytes(),
        key_entry(&keys().vk, POLICY, T0).to_bytes(),
        root("land-registry", 7, T0).to_bytes(),
    ];
    for i in 0..20 {
        entries.push(result(&key, &format!("C-{i}"), i, 7, 120, T0).to_bytes());
    }
    // A statement repeated inside one batch is caught in order.
    entries.push(result(&key, "C-3", 3, 7, 120, T0).to_bytes());
    let mut batched = LogState::new();
    assert_eq!(
        replay(&mut batched, &entries, |_| {}),
        Err(Violation::Refused {
            index: 23,
            refusal: Refusal::AlreadyLogged { index: 6 }
        })
    );
    let mut single = LogState::new();
    for bytes in &entries[..23] {
        single.apply(&Entry::from_bytes(bytes).unwrap()).unwrap();
    }
    assert_eq!(batched.root(), single.root());
    assert_eq!(batched.counts(), single.counts());

    // A snapshot restores the same state, which goes on the same way.
    let json = serde_json::to_vec(&batched.to_snapshot()).unwrap();
    let mut restored = LogState::from_snapshot(serde_json::from_slice(&json).unwrap()).unwrap();
    assert_eq!(restored.root(), batched.root());
    let next = root("land-registry", 8, T0 + 1);
    assert_eq!(restored.apply(&next), batched.apply(&next));
    assert_eq!(restored.root(), batched.root());
}

// ---------------------------------------------------------------- applications

/// A one-item procedure over the test key: premises of at least 120 m²,
/// zoned medical, registered today.
fn procedure_toml(rule: &str) -> String {
    format!(
        r#"
name = "clinic"
decides = "health"
rule = "{rule}"
case_prefix = "DJY"

[[applicant]]
name = "credit_code"
label = "Unified social credit code"

[[evidence]]
name = "premises"
policy = "medical-premises"
registry = "real-estate"
subject = "credit_code"
params = {{ min_area = 120, usage = "medical", today = {{ computed = "today" }} }}

[licence]
registry = "medical-licences"
number_prefix = "YL"
valid_days = 365
fields = {{ licence = "$number", kind = "clinic", issued = "$issued", expires = "$expires" }}
"#
    )
}

fn procedure(department: &str, text: &str, time: i64) -> Entry {
    Entry::Procedure {
        name: "clinic".into(),
        department: department.into(),
        procedure_toml: text.into(),
        time: format_time(time),
    }
}

fn case(case_id: &str, time: i64) -> Entry {
    Entry::Case {
        case_id: case_id.into(),
        procedure: "clinic".into(),
        time: format_time(time),
    }
}

fn unmet(case_id: &str, reason: &str, conditions: &[&str], time: i64) -> Entry {
    Entry::Unmet {
        case_id: case_id.into(),
        evidence: "premises".into(),
        department: "land-registry".into(),
        reason: reason.into(),
        conditions: conditions.iter().map(|c| c.to_string()).collect(),
        time: format_time(time),
        signature: None,
    }
}

fn person_decision(case_id: &str, decision: &str, results: Vec<u64>, note: &str) -> Entry {
    Entry::Decision {
        case_id: case_id.into(),
        department: "health".into(),
        decision: decision.into(),
        results,
        note: note.into(),
        automatic: false,
        amends: None,
        licence: None,
        time: format_time(T0),
        signature: None,
    }
}

/// The started state with procedure `clinic` under `rule` (entry 3) and
/// case DJY-2026-000001 (entry 4), both at T0 (2026-12-01).
fn with_case(rule: &str) -> (LogState, String) {
    let (mut state, key) = started(900);
    state
        .apply(&procedure("health", &procedure_toml(rule), T0))
        .unwrap();
    state.apply(&case("DJY-2026-000001", T0)).unwrap();
    (state, key)
}

#[test]
fn a_procedure_needs_its_decider_its_keys_and_exactly_its_policys_params() {
    let mut state = LogState::new();
    state.apply(&governance(T0, 900)).unwrap();
    let text = procedure_toml("automatic");
    // No key for the policy yet.
    assert!(matches!(
        state.apply(&procedure("health", &text, T0)),
        Err(Refusal::InvalidProcedure(p)) if p.contains("register it first")
    ));
    state.apply(&key_entry(&keys().vk, POLICY, T0)).unwrap();
    assert_eq!(
        state.apply(&procedure("land-registry", &text, T0)),
        Err(Refusal::NotDecider("land-registry".into()))
    );
    let missing = text.replace("usage = \"medical\", ", "");
    assert!(matches!(
        state.apply(&procedure("health", &missing, T0)),
        Err(Refusal::InvalidProcedure(p)) if p.contains("`usage`")
    ));
    let bad_value = text.replace("usage = \"medical\"", "usage = \"spa\"");
    assert!(matches!(
        state.apply(&procedure("health", &bad_value, T0)),
        Err(Refusal::InvalidProcedure(p)) if p.contains("spa")
    ));
    let foreign_licence = text.replace(
        "registry = \"medical-licences\"",
        "registry = \"real-estate\"",
    );
    assert!(matches!(
        state.apply(&procedure("health", &foreign_licence, T0)),
        Err(Refusal::InvalidProcedure(p)) if p.contains("licence registry")
    ));
    state.apply(&procedure("health", &text, T0)).unwrap();
    assert_eq!(state.procedure("clinic").unwrap().index, 2);
}

#[test]
fn case_numbers_follow_the_procedure_and_are_never_reused() {
    let (mut state, key) = with_case("automatic");
    assert_eq!(
        state.apply(&case("DJY-2026-000001", T0)),
        Err(Refusal::CaseExists {
            case_id: "DJY-2026-000001".into(),
            index: 4
        })
    );
    assert!(matches!(
        state.apply(&case("XYZ-2026-000002", T0)),
        Err(Refusal::Malformed { field, .. }) if field == "case_id"
    ));
    assert!(matches!(
        state.apply(&Entry::Case {
            case_id: "DJY-2026-000002".into(),
            procedure: "bakery".into(),
            time: format_time(T0),
        }),
        Err(Refusal::UnknownProcedure(p)) if p == "bakery"
    ));
    // A number that ad hoc results used is taken too.
    state
        .apply(&result(&key, "DJY-2026-000009", 1, 7, 120, T0))
        .unwrap();
    assert!(matches!(
        state.apply(&case("DJY-2026-000009", T0)),
        Err(Refusal::CaseExists { .. })
    ));
}

#[test]
fn an_automatic_procedure_approves_once_its_evidence_is_verified() {
    let (mut state, key) = with_case("automatic");
    let id = "DJY-2026-000001";
    assert_eq!(state.due_decision(id), None, "nothing is answered yet");
    // Other params than the procedure's are not the evidence asked for.
    assert!(matches!(
        state.apply(&result_on(&key, id, 5, 7, 100, "2026-12-01", T0)),
        Err(Refusal::NotRequested { problem, .. }) if problem.contains("premises")
    ));
    // Nor is yesterday's date.
    assert!(matches!(
        state.apply(&result_on(&key, id, 5, 7, 120, "2026-11-30", T0)),
        Err(Refusal::NotRequested { .. })
    ));
    state
        .apply(&result_on(&key, id, 5, 7, 120, "2026-12-01", T0))
        .unwrap();
    // A second answer for another subject is refused: one item, one answer.
    assert_eq!(
        state.apply(&result_on(&key, id, 6, 7, 120, "2026-12-01", T0)),
        Err(Refusal::AlreadyAnswered {
            evidence: "premises".into(),
            index: 5
        })
    );
    // A person cannot decide an automatic procedure's case.
    assert!(matches!(
        state.apply(&person_decision(id, "approved", vec![5], "")),
        Err(Refusal::DecisionRule { problem, .. }) if problem.contains("automatically")
    ));
    let due = state.due_decision(id).expect("the case is settled");
    let Entry::Decision {
        decision,
        results,
        automatic,
        licence,
        ..
    } = &due
    else {
        panic!("{due:?}")
    };
    assert_eq!(
        (decision.as_str(), results.as_slice(), *automatic),
        ("approved", &[5][..], true)
    );
    let licence = licence.as_ref().expect("the procedure issues a licence");
    assert_eq!(licence.number, "YL-2026-000001");
    assert_eq!(licence.subject_tag, "5");
    assert_eq!(licence.fields["issued"], "2026-12-01");
    assert_eq!(licence.fields["expires"], "2027-12-01");
    // A forged automatic decision (refusing, or with another licence) fails.
    let mut forged = due.clone();
    if let Entry::Decision {
        decision, licence, ..
    } = &mut forged
    {
        *decision = "refused".into();
        *licence = None;
    }
    assert!(matches!(
        state.apply(&forged),
        Err(Refusal::DecisionRule { problem, .. }) if problem.contains("gives `approved`")
    ));
    state.apply(&due).unwrap();
    assert_eq!(state.due_decision(id), None, "decided once");
    // Evidence after the decision is too late.
    assert!(matches!(
        state.apply(&unmet(id, "revoked", &[], T0)),
        Err(Refusal::AlreadyDecided { index: 6, .. })
    ));
    // A second decision must amend the first, with a reason.
    assert_eq!(
        state.apply(&person_decision(id, "revoked", vec![], "premises sold")),
        Err(Refusal::AlreadyDecided {
            case_id: id.into(),
            index: 6
        })
    );
    let mut amendment = person_decision(id, "revoked", vec![], "");
    if let Entry::Decision { amends, .. } = &mut amendment {
        *amends = Some(6);
    }
    assert!(matches!(
        state.apply(&amendment),
        Err(Refusal::DecisionRule { problem, .. }) if problem.contains("reason")
    ));
    if let Entry::Decision { note, .. } = &mut amendment {
        *note = "premises sold".into();
    }
    state.apply(&amendment).unwrap();
    assert_eq!(state.application(id).unwrap().decisions, vec![6, 7]);
}

#[test]
fn an_unmet_item_refuses_the_case_and_says_which_condition_failed() {
    let (mut state, _) = with_case("automatic");
    let id = "DJY-2026-000001";
    assert!(matches!(
        state.apply(&unmet(id, "not_satisfied", &[], T0)),
        Err(Refusal::Malformed { field, .. }) if field == "conditions"
    ));
    assert!(matches!(
        state.apply(&unmet(id, "lost", &[], T0)),
        Err(Refusal::Malformed { field, .. }) if field == "reason"
    ));
    let mut foreign = unmet(id, "revoked", &[], T0);
    if let Entry::Unmet { department, .. } = &mut foreign {
        *department = "health".into();
    }
    assert!(matches!(
        state.apply(&foreign),
        Err(Refusal::NotOwner { .. })
    ));
    assert!(matches!(
        state.apply(&unmet("C-1", "revoked", &[], T0)),
        Err(Refusal::NotRequested { .. })
    ));
    state
        .apply(&unmet(id, "not_satisfied", &["area_m2 >= $min_area"], T0))
        .unwrap();
    let due = state.due_decision(id).unwrap();
    let Entry::Decision {
        decision,
        results,
        note,
        licence,
        ..
    } = &due
    else {
        panic!()
    };
    assert_eq!(decision, "refused");
    assert_eq!(results, &vec![5]);
    assert_eq!(note, "premises: not_satisfied (area_m2 >= $min_area)");
    assert_eq!(licence, &None);
    state.apply(&due).unwrap();
}

#[test]
fn a_review_approval_cites_the_complete_evidence_and_carries_its_licence() {
    let (mut state, key) = with_case("review");
    let id = "DJY-2026-000001";
    assert!(matches!(
        state.apply(&person_decision(id, "approved", vec![], "")),
        Err(Refusal::DecisionRule { problem, .. }) if problem.contains("`premises` is not")
    ));
    state
        .apply(&result_on(&key, id, 5, 7, 120, "2026-12-01", T0))
        .unwrap();
    assert_eq!(state.due_decision(id), None, "a person decides");
    assert!(matches!(
        state.apply(&person_decision(id, "approved", vec![5], "")),
        Err(Refusal::DecisionRule { problem, .. }) if problem.contains("licence")
    ));
    assert!(matches!(
        state.apply(&person_decision(id, "refused", vec![], " ")),
        Err(Refusal::DecisionRule { problem, .. }) if problem.contains("reason")
    ));
    let mut approval = person_decision(id, "approved", vec![5], "");
    if let Entry::Decision { licence, .. } = &mut approval {
        *licence = state.licence_due(id, T0);
    }
    state.apply(&approval).unwrap();
}

#[test]
fn an_ad_hoc_case_is_approved_only_with_results_and_only_once() {
    let (mut state, key) = started(900);
    assert!(matches!(
        state.apply(&person_decision("C-1", "approved", vec![], "")),
        Err(Refusal::DecisionRule { problem, .. }) if problem.contains("cites")
    ));
    state.apply(&result(&key, "C-1", 1, 7, 120, T0)).unwrap();
    state
        .apply(&person_decision("C-1", "approved", vec![3], ""))
        .unwrap();
    assert_eq!(
        state.apply(&person_decision(
            "C-1",
            "refused",
            vec![],
            "changed my mind"
        )),
        Err(Refusal::AlreadyDecided {
            case_id: "C-1".into(),
            index: 4
        })
    );
}

#[test]
fn a_replay_confirms_automatic_decisions_and_a_snapshot_keeps_applications() {
    let (mut state, key) = with_case("automatic");
    let id = "DJY-2026-000001";
    let mut entries = vec![
        governance(T0, 900),
        key_entry(&keys().vk, POLICY, T0),
        root("land-registry", 7, T0),
        procedure("health", &procedure_toml("automatic"), T0),
        case(id, T0),
    ];
    let answer = result_on(&key, id, 5, 7, 120, "2026-12-01", T0);
    state.apply(&answer).unwrap();
    let due = state.due_decision(id).unwrap();
    entries.push(answer);
    entries.push(due.clone());
    let bytes: Vec<Vec<u8>> = entries.iter().map(Entry::to_bytes).collect();
    let mut replayed = LogState::new();
    replay(&mut replayed, &bytes, |_| {}).unwrap();
    assert_eq!(replayed.application(id).unwrap().decisions, vec![6]);

    let mut tampered = entries.clone();
    if let Some(Entry::Decision {
        licence: Some(l), ..
    }) = tampered.last_mut()
    {
        l.number = "YL-2026-999999".into();
    }
    let bytes: Vec<Vec<u8>> = tampered.iter().map(Entry::to_bytes).collect();
    assert!(matches!(
        replay(&mut LogState::new(), &bytes, |_| {}),
        Err(Violation::Refused {
            index: 6,
            refusal: Refusal::DecisionRule { .. }
        })
    ));

    let restored = LogState::from_snapshot(replayed.to_snapshot()).unwrap();
    assert_eq!(restored.application(id), replayed.application(id));
    assert_eq!(restored.procedure("clinic"), replayed.procedure("clinic"));
    assert_eq!(restored.counts(), replayed.counts());
}

/// The provenance of a key for `POLICY` over a depth-2, arity-4 tree:
/// the circuit digest synthesized, and the ceremony given.
fn provenance(ceremony: Option<Ceremony>) -> Provenance {
    let schema = Schema::from_toml("s", SCHEMA).unwrap();
    let policy = Policy::from_toml("p", POLICY, &schema).unwrap();
    let shape = TreeShape::new(4, 2).unwrap();
    let matrices = StatementCircuit::shape_only(&schema, &policy, shape)
        .matrices()
        .unwrap();
    Provenance {
        tree: TreeInfo { arity: 4, depth: 2 },
        circuit_digest: circuit_digest(&matrices).to_string(),
        ceremony,
    }
}

/// A ceremony of `contributions` named contributions, checked against a
/// ptau if `ptau`.
fn ceremony(ptau: bool, contributions: usize) -> Ceremony {
    Ceremony {
        zkey_blake2b: "a1".repeat(64),
        ptau_blake2b: ptau.then(|| "b2".repeat(64)),
        circuit_hash: "c3".repeat(64),
        contributions: (0..contributions)
            .map(|i| ContributionInfo {
                name: Some(format!("department {i}")),
                hash: format!("{i:02x}").repeat(64),
                beacon: i == 1,
            })
            .collect(),
    }
}

/// A key entry for another verifying key than `keys()`'s, for a policy
/// named `name`, with `provenance`.
fn other_key(seed: u64, name: &str, provenance: Option<Provenance>, time: i64) -> Entry {
    let (_, vk) = Groth16::<Bn254>::circuit_specific_setup(
        Echo(vec![Fr::from(0u64); 6]),
        &mut StdRng::seed_from_u64(seed),
    )
    .unwrap();
    let mut entry = key_entry(&vk, &POLICY.replacen("medical-premises", name, 1), time);
    if let Entry::Key { provenance: p, .. } = &mut entry {
        *p = provenance;
    }
    entry
}

fn production(on: bool, time: i64) -> Entry {
    let mut entry = governance(time, 900);
    if let Entry::Governance {
        require_multi_party,
        ..
    } = &mut entry
    {
        *require_multi_party = on;
    }
    entry
}

#[test]
fn production_mode_refuses_single_party_keys_and_their_results() {
    let (mut state, single) = started(900);
    state
        .apply(&result(&single, "C-1", 1, 7, 120, T0 + 1))
        .unwrap();
    state.apply(&production(true, T0 + 2)).unwrap();

    // A result under the single-party key logged before: refused, naming it.
    let under_single = result(&single, "C-2", 2, 7, 120, T0 + 3);
    assert_eq!(
        state.apply(&under_single),
        Err(Refusal::SingleParty {
            key_id: single.clone(),
            policy: "medical-premises".into(),
        })
    );
    // Keys without a provenance, from a single-party setup, from a
    // ceremony not checked against a ptau, or with no contribution: each
    // refused, naming the key.
    for (i, stated) in [
        None,
        Some(provenance(None)),
        Some(provenance(Some(ceremony(false, 3)))),
        Some(provenance(Some(ceremony(true, 0)))),
    ]
    .into_iter()
    .enumerate()
    {
        let entry = other_key(10 + i as u64, "second", stated, T0 + 3);
        let refused = state.apply(&entry);
        assert_eq!(
            refused,
            Err(Refusal::SingleParty {
                key_id: key_id_of(&entry),
                policy: "second".into(),
            }),
            "case {i}"
        );
        assert!(refused
            .unwrap_err()
            .to_string()
            .contains(&key_id_of(&entry)));
    }
    // A key from a ceremony checked against its ptau is logged.
    let multi = other_key(
        20,
        "second",
        Some(provenance(Some(ceremony(true, 3)))),
        T0 + 3,
    );
    state.apply(&multi).unwrap();
    assert!(state.key(&key_id_of(&multi)).unwrap().is_multi_party());
    assert!(!state.key(&single).unwrap().is_multi_party());

    // Production mode off again: the single-party key serves once more.
    state.apply(&production(false, T0 + 4)).unwrap();
    state
        .apply(&result(&single, "C-2", 2, 7, 120, T0 + 5))
        .unwrap();

    // A replay applies the setting: the same log with the result logged
    // while production mode was on breaks the rules at that entry.
    let entries = [
        governance(T0, 900),
        key_entry(&keys().vk, POLICY, T0),
        root("land-registry", 7, T0),
        production(true, T0 + 2),
        under_single,
    ];
    let bytes: Vec<Vec<u8>> = entries.iter().map(Entry::to_bytes).collect();
    assert_eq!(
        replay(&mut LogState::new(), &bytes, |_| {}),
        Err(Violation::Refused {
            index: 4,
            refusal: Refusal::SingleParty {
                key_id: single,
                policy: "medical-premises".into(),
            },
        })
    );
    // The setting survives a snapshot.
    let restored = LogState::from_snapshot(state.to_snapshot()).unwrap();
    assert_eq!(restored.governance(), state.governance());
    assert!(restored.key(&key_id_of(&multi)).unwrap().is_multi_party());
}

#[test]
fn a_stated_provenance_must_be_well_formed() {
    let (mut state, _) = started(900);
    let mut refused = |stated: Provenance| {
        let entry = other_key(30, "second", Some(stated), T0);
        match state.apply(&entry) {
            Err(Refusal::Malformed { field, problem }) if field == "provenance" => problem,
            other => panic!("{other:?}"),
        }
    };
    let mut unsupported = provenance(None);
    unsupported.tree.arity = 3;
    assert!(refused(unsupported).contains("arity"));
    let mut overflowing = provenance(None);
    overflowing.tree.depth = u32::MAX;
    assert!(refused(overflowing).contains("depth"));
    let mut digest = provenance(None);
    digest.circuit_digest = "0".repeat(63);
    assert!(refused(digest).contains("circuit_digest is not 64 lowercase hex digits"));
    let mut hash = provenance(Some(ceremony(true, 2)));
    hash.ceremony.as_mut().unwrap().zkey_blake2b = "A1".repeat(64);
    assert!(refused(hash).contains("zkey_blake2b is not 128 lowercase hex digits"));
    let mut name = provenance(Some(ceremony(true, 2)));
    name.ceremony.as_mut().unwrap().contributions[1].name = Some("line\nbreak".into());
    assert!(refused(name).contains("contribution 2"));

    // The rules never synthesize a circuit (a replay must not depend on
    // the circuits' code, nor pay for it): a digest of another circuit is
    // logged, and the audit, which synthesizes, finds it out.
    let schema = Schema::from_toml("s", SCHEMA).unwrap();
    let policy = Policy::from_toml("p", POLICY, &schema).unwrap();
    let mut deeper = provenance(Some(ceremony(true, 2)));
    deeper.tree.depth = 3;
    let problem = deeper.circuit(&schema, &policy).unwrap_err();
    assert!(
        problem.contains("is not that of the policy's circuit at arity 4, depth 3"),
        "{problem}"
    );
    assert!(provenance(None).circuit(&schema, &policy).is_ok());
    let entry = other_key(30, "second", Some(deeper), T0);
    state.apply(&entry).unwrap();
    // The entry keeps its provenance byte for byte.
    let logged = state.key(&key_id_of(&entry)).unwrap().entry();
    assert_eq!(logged.to_bytes(), entry.to_bytes());
    assert_eq!(Entry::from_bytes(&entry.to_bytes()).unwrap(), entry);
}

#[test]
fn a_key_logged_single_party_stays_so_under_production_mode() {
    let (mut state, single) = started(900);
    state.apply(&production(true, T0 + 1)).unwrap();
    // The same key again, now with a ceremony: its entry is the one logged,
    // so it is refused, not answered as already logged.
    let mut again = key_entry(&keys().vk, POLICY, T0 + 2);
    if let Entry::Key { provenance: p, .. } = &mut again {
        *p = Some(provenance(Some(ceremony(true, 3))));
    }
    assert_eq!(
        state.apply(&again),
        Err(Refusal::SingleParty {
            key_id: single,
            policy: "medical-premises".into(),
        })
    );
    // Without production mode it is a repeat.
    state.apply(&production(false, T0 + 3)).unwrap();
    again.set_time(T0 + 4);
    assert_eq!(
        state.apply(&again),
        Err(Refusal::AlreadyLogged { index: 1 })
    );
}
