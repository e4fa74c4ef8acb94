//! Department signatures in the rules: a department with a key in
//! governance is the only one who can anchor its roots, record its
//! decisions, refuse its evidence and change its own listing; a quorum of
//! the others recovers a lost key.

use zkgov_log::entry::{format_time, Entry, GovernedDepartment};
use zkgov_log::replay::replay;
use zkgov_log::rules::{LogState, Refusal};
use zkgov_log::signature::{DepartmentSigner, Endorsement, MAX_SIGNATURE_AGE_SECONDS};

const ORIGIN: &str = "zkgov.example/log";
const T0: i64 = 1_796_083_200;

struct City {
    health: DepartmentSigner,
    land: DepartmentSigner,
    market: DepartmentSigner,
}

impl City {
    fn new() -> City {
        City {
            health: DepartmentSigner::generate("health"),
            land: DepartmentSigner::generate("land-registry"),
            market: DepartmentSigner::generate("market-bureau"),
        }
    }

    fn departments(&self) -> Vec<GovernedDepartment> {
        vec![
            department("health", &[], true, Some(&self.health)),
            department("land-registry", &["real-estate"], false, Some(&self.land)),
            department(
                "market-bureau",
                &["business-licences"],
                false,
                Some(&self.market),
            ),
        ]
    }

    /// A log holding the first governance, with every department keyed.
    fn log(&self) -> LogState {
        let mut log = LogState::new();
        log.apply(&governance(self.departments(), 3600, T0))
            .expect("the first governance needs no endorsement");
        log
    }
}

fn department(
    name: &str,
    registries: &[&str],
    decides: bool,
    key: Option<&DepartmentSigner>,
) -> GovernedDepartment {
    GovernedDepartment {
        name: name.into(),
        registries: registries.iter().map(|r| r.to_string()).collect(),
        decides,
        key: key.map(DepartmentSigner::verifier_key),
    }
}

fn governance(departments: Vec<GovernedDepartment>, freshness: u64, time: i64) -> Entry {
    Entry::Governance {
        departments,
        freshness_seconds: freshness,
        grace_seconds: 900,
        origin: Some(ORIGIN.into()),
        require_multi_party: false,
        endorsements: vec![],
        time: format_time(time),
    }
}

/// `entry` endorsed by `signers`, for the log whose governance is at `replaces`.
fn endorsed(mut entry: Entry, replaces: u64, signers: &[&DepartmentSigner], time: i64) -> Entry {
    let signatures: Vec<Endorsement> = signers
        .iter()
        .map(|s| Endorsement {
            department: s.department().into(),
            signature: s.sign(&entry, ORIGIN, Some(replaces), time),
        })
        .collect();
    if let Entry::Governance { endorsements, .. } = &mut entry {
        *endorsements = signatures;
    }
    entry
}

fn root(root: u64, time: i64) -> Entry {
    Entry::Root {
        department: "land-registry".into(),
        registry: "real-estate".into(),
        root: root.to_string(),
        time: format_time(time),
        signature: None,
    }
}

fn signed(mut entry: Entry, signer: &DepartmentSigner, signed_at: i64) -> Entry {
    let signature = signer.sign(&entry, ORIGIN, None, signed_at);
    entry.set_signature(Some(signature));
    entry
}

fn refusal(decision: &str, time: i64) -> Entry {
    Entry::Decision {
        case_id: "C-2026-000001".into(),
        department: "health".into(),
        decision: decision.into(),
        results: vec![],
        note: "no evidence".into(),
        automatic: false,
        amends: None,
        licence: None,
        time: format_time(time),
        signature: None,
    }
}

#[test]
fn a_keyed_department_signs_its_roots_and_decisions() {
    let city = City::new();
    let mut log = city.log();
    let root_entry = signed(root(42, T0 + 10), &city.land, T0 + 5);
    log.apply(&root_entry).expect("a signed root");

    assert!(matches!(
        log.check(&root(43, T0 + 20)),
        Err(Refusal::Unsigned { department, kind: "root" }) if department == "land-registry"
    ));
    // The operator signing with a key of its own, or another department's.
    let forged = signed(
        root(43, T0 + 20),
        &DepartmentSigner::generate("land-registry"),
        T0 + 20,
    );
    assert!(matches!(
        log.check(&forged),
        Err(Refusal::BadSignature { .. })
    ));
    let by_other = signed(root(43, T0 + 20), &city.market, T0 + 20);
    assert!(matches!(
        log.check(&by_other),
        Err(Refusal::BadSignature { .. })
    ));
    // A signature over another root does not carry over.
    let mut moved = signed(root(43, T0 + 20), &city.land, T0 + 20);
    if let Entry::Root { root, .. } = &mut moved {
        *root = "44".into();
    }
    assert!(matches!(
        log.check(&moved),
        Err(Refusal::BadSignature { .. })
    ));
    // A signature held back and anchored later, to make an old root fresh again.
    let held = signed(
        root(42, T0 + 30 + MAX_SIGNATURE_AGE_SECONDS),
        &city.land,
        T0 + 29,
    );
    assert!(
        matches!(log.check(&held), Err(Refusal::BadSignature { problem, .. }) if problem.contains("sign it again"))
    );
    // Dated well after the log's clock.
    let ahead = signed(root(43, T0 + 30), &city.land, T0 + 30 + 61);
    assert!(matches!(
        log.check(&ahead),
        Err(Refusal::BadSignature { .. })
    ));

    assert!(matches!(
        log.check(&refusal("refused", T0 + 40)),
        Err(Refusal::Unsigned {
            kind: "decision",
            ..
        })
    ));
    log.apply(&signed(refusal("refused", T0 + 40), &city.health, T0 + 40))
        .expect("a signed decision");
}

#[test]
fn a_department_without_a_key_is_the_operators_word() {
    let city = City::new();
    let mut departments = city.departments();
    departments[1].key = None;
    let mut log = LogState::new();
    log.apply(&governance(departments, 3600, T0)).unwrap();
    log.apply(&root(42, T0 + 1))
        .expect("unsigned, as before keys");
    assert!(matches!(
        log.check(&signed(root(43, T0 + 2), &city.land, T0 + 2)),
        Err(Refusal::BadSignature { .. })
    ));
}

#[test]
fn governance_checks_keys_and_names_its_origin() {
    let city = City::new();
    let mut departments = city.departments();
    departments[0].key = Some(city.land.verifier_key());
    assert!(matches!(
        LogState::new().check(&governance(departments, 3600, T0)),
        Err(Refusal::InvalidGovernance(problem)) if problem.contains("bears its name")
    ));
    let mut unnamed = governance(city.departments(), 3600, T0);
    if let Entry::Governance { origin, .. } = &mut unnamed {
        *origin = None;
    }
    assert!(matches!(
        LogState::new().check(&unnamed),
        Err(Refusal::InvalidGovernance(_))
    ));
    let mut log = city.log();
    let mut moved = endorsed(governance(city.departments(), 3600, T0 + 1), 0, &[], T0);
    if let Entry::Governance { origin, .. } = &mut moved {
        *origin = Some("other.example/log".into());
    }
    assert!(matches!(
        log.apply(&moved),
        Err(Refusal::InvalidGovernance(_))
    ));
}

#[test]
fn only_a_department_changes_its_own_listing() {
    let city = City::new();
    let mut log = city.log();
    let rotated_land = DepartmentSigner::generate("land-registry");
    let mut departments = city.departments();
    departments[1].key = Some(rotated_land.verifier_key());
    let rotation = governance(departments.clone(), 3600, T0 + 10);

    // The operator alone, or the department's new key alone, cannot.
    assert!(matches!(
        log.check(&rotation),
        Err(Refusal::Unendorsed(problem)) if problem.contains("land-registry")
    ));
    assert!(matches!(
        log.check(&endorsed(rotation.clone(), 0, &[&rotated_land], T0 + 10)),
        Err(Refusal::BadSignature { .. })
    ));
    // Nor does one other department make a quorum of the two others.
    assert!(matches!(
        log.check(&endorsed(rotation.clone(), 0, &[&city.market], T0 + 10)),
        Err(Refusal::Unendorsed(_))
    ));
    // An endorsement for another predecessor does not carry over.
    assert!(matches!(
        log.check(&endorsed(rotation.clone(), 5, &[&city.land], T0 + 10)),
        Err(Refusal::BadSignature { .. })
    ));
    log.apply(&endorsed(rotation, 0, &[&city.land], T0 + 10))
        .expect("rotated by the current key");

    // Now the old key signs nothing, and the new one does.
    assert!(matches!(
        log.check(&signed(root(42, T0 + 20), &city.land, T0 + 20)),
        Err(Refusal::BadSignature { .. })
    ));
    log.apply(&signed(root(42, T0 + 20), &rotated_land, T0 + 20))
        .unwrap();

    // Moving a keyed department's registry to another needs its word too.
    let mut taken = departments.clone();
    taken[1].registries.clear();
    taken[2].registries.push("real-estate".into());
    taken[2].registries.sort();
    assert!(matches!(
        log.check(&endorsed(
            governance(taken, 3600, T0 + 30),
            1,
            &[&city.market],
            T0 + 30
        )),
        Err(Refusal::Unendorsed(problem)) if problem.contains("land-registry")
    ));
    // So do the rules' windows: a majority of keyed departments.
    let wider = governance(departments.clone(), 7200, T0 + 30);
    assert!(matches!(
        log.check(&endorsed(wider.clone(), 1, &[&city.market], T0 + 30)),
        Err(Refusal::Unendorsed(problem)) if problem.contains("freshness_seconds")
    ));
    log.apply(&endorsed(wider, 1, &[&city.market, &city.health], T0 + 30))
        .expect("two of three departments");

    // And production mode, on or off.
    let mut production = governance(departments.clone(), 7200, T0 + 40);
    if let Entry::Governance {
        require_multi_party,
        ..
    } = &mut production
    {
        *require_multi_party = true;
    }
    assert!(matches!(
        log.check(&endorsed(production.clone(), 3, &[&city.health], T0 + 40)),
        Err(Refusal::Unendorsed(problem)) if problem.contains("require_multi_party")
    ));
    log.apply(&endorsed(
        production,
        3,
        &[&rotated_land, &city.health],
        T0 + 40,
    ))
    .expect("two of three departments");
    assert!(log.governance().unwrap().require_multi_party);
    let off = governance(departments, 7200, T0 + 50);
    assert!(matches!(
        log.check(&endorsed(off.clone(), 4, &[&city.market], T0 + 50)),
        Err(Refusal::Unendorsed(problem)) if problem.contains("require_multi_party")
    ));
}

#[test]
fn a_quorum_of_the_others_recovers_a_lost_key() {
    let city = City::new();
    let mut log = city.log();
    let replacement = DepartmentSigner::generate("land-registry");
    let mut departments = city.departments();
    departments[1].key = Some(replacement.verifier_key());
    let recovery = governance(departments, 3600, T0 + 10);
    log.apply(&endorsed(
        recovery,
        0,
        &[&city.health, &city.market],
        T0 + 10,
    ))
    .expect("both other departments recover it");
    log.apply(&signed(root(42, T0 + 20), &replacement, T0 + 20))
        .unwrap();

    // The whole log replays: an auditor applies the same rules.
    let entries: Vec<Vec<u8>> = vec![
        governance(city.departments(), 3600, T0).to_bytes(),
        endorsed(
            governance(
                {
                    let mut d = city.departments();
                    d[1].key = Some(replacement.verifier_key());
                    d
                },
                3600,
                T0 + 10,
            ),
            0,
            &[&city.health, &city.market],
            T0 + 10,
        )
        .to_bytes(),
    ];
    let mut replayed = LogState::new();
    replay(&mut replayed, &entries, |_| {}).expect("a recovery replays");
}

#[test]
fn a_forged_root_in_a_log_fails_replay() {
    let city = City::new();
    let entries = vec![
        governance(city.departments(), 3600, T0).to_bytes(),
        signed(root(42, T0 + 1), &city.land, T0 + 1).to_bytes(),
        signed(
            root(43, T0 + 2),
            &DepartmentSigner::generate("land-registry"),
            T0 + 2,
        )
        .to_bytes(),
    ];
    let mut log = LogState::new();
    let violation = replay(&mut log, &entries, |_| {}).expect_err("a forged root");
    assert!(violation.to_string().contains("entry 2"), "{violation}");
    assert_eq!(log.size(), 2);
}

#[test]
fn the_log_key_hands_over_only_from_the_key_in_force() {
    use zkgov_log::checkpoint::LogSigner;
    use zkgov_log::handover::{handover_entry, HandoverError};

    let city = City::new();
    let mut log = city.log();
    let (k0, k1, k2) = (
        LogSigner::generate(ORIGIN),
        LogSigner::generate(ORIGIN),
        LogSigner::generate(ORIGIN),
    );
    let first = handover_entry(&k0, &k1.verifier_key(), format_time(T0 + 1));
    assert_eq!(log.apply(&first).unwrap().index, 1);
    assert_eq!(log.handovers(), &[(1, k1.verifier_key())]);
    assert_eq!(log.counts().handovers, 1);

    // From a key no longer in force (the operator kept the old key), and
    // from the key in force but with another key's signature.
    let stale = handover_entry(&k0, &k2.verifier_key(), format_time(T0 + 2));
    let refusal = log.check(&stale).unwrap_err();
    assert_eq!(refusal.reason(), "bad_handover");
    assert!(matches!(
        refusal,
        Refusal::BadHandover(HandoverError::NotCurrent { .. })
    ));
    let Entry::LogKey { signature, .. } = stale else {
        unreachable!()
    };
    let forged = Entry::LogKey {
        previous: k1.verifier_key(),
        key: k2.verifier_key(),
        signature,
        time: format_time(T0 + 2),
    };
    assert!(matches!(
        log.check(&forged),
        Err(Refusal::BadHandover(HandoverError::BadSignature { .. }))
    ));
    // Keys must be named after the log's origin.
    let elsewhere = LogSigner::generate("elsewhere.example/log");
    assert!(matches!(
        log.check(&handover_entry(
            &k1,
            &elsewhere.verifier_key(),
            format_time(T0 + 2)
        )),
        Err(Refusal::BadHandover(HandoverError::WrongName { .. }))
    ));
    let second = handover_entry(&k1, &k2.verifier_key(), format_time(T0 + 2));
    log.apply(&second).unwrap();

    // A replay, and a snapshot round trip, keep the chain.
    let entries = vec![
        governance(city.departments(), 3600, T0).to_bytes(),
        first.to_bytes(),
        second.to_bytes(),
    ];
    let mut replayed = LogState::new();
    replay(&mut replayed, &entries, |_| {}).unwrap();
    assert_eq!(replayed.handovers(), log.handovers());
    let restored = LogState::from_snapshot(replayed.to_snapshot()).unwrap();
    assert_eq!(restored.handovers(), log.handovers());
}
