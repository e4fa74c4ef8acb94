//! The monitor's replay of a log through the acceptance rules, against
//! random-linear-combination batch verification of the same proofs alone.
//!
//! Builds a log of a governance entry, a key, a root and 10,000 results,
//! then times in each round:
//!
//! - `verify_batch` over the 10,000 proofs, already parsed, in batches of
//!   256 (the pairing work alone);
//! - `verify_proofs` over the same proofs as JSON, in batches of 256:
//!   parsing with full point validation plus the same batch check (what any
//!   verifier of untrusted proofs must do);
//! - a full replay: `replay` of the 10,003 entries from the empty state,
//!   every rule applied and every proof verified;
//! - an incremental run: the replay state of the 10,003 entries loaded from
//!   its JSON snapshot, 100 new results replayed, and the snapshot written
//!   back, as `zkgov log verify --full` does between two runs (the network
//!   fetch of the 100 entries is not included).
//!
//! Verification costs the same for every circuit with the same number of
//! public inputs (three pairings' worth per proof, and an MSM over the
//! inputs), so the proofs come from a small circuit with the reference
//! statement's six public inputs, registered under the reference policy:
//! 10,100 reference proofs would take about twenty minutes to make on two
//! cores, these take seconds.
//!
//! `cargo run --release -p zkgov-benches --bin log-replay [-- ROUNDS]`

use std::time::{Duration, Instant};

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, Proof, ProvingKey};
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError, Variable};
use ark_snark::SNARK;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde_json::Value;
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::statement::Statement;
use zkgov_keys::digest::{key_id, policy_hash};
use zkgov_keys::snarkjs;
use zkgov_log::entry::{format_time, Entry, GovernedDepartment};
use zkgov_log::replay::replay;
use zkgov_log::rules::{verify_proofs, LogState, ProofClaim, Snapshot};
use zkgov_log::verify::{verify_batch, Item, PreparedKey};

const SCHEMA: &str = include_str!("../../../schemas/real-estate.toml");
const POLICY: &str = include_str!("../../../policies/medical-premises.toml");
const RESULTS: usize = 10_000;
const NEW: usize = 100;
const BATCH: usize = 256;

/// Every public input appears in one constraint, `x · 1 = x`, so that no
/// `IC` point is the identity.
#[derive(Clone)]
struct Echo {
    inputs: Vec<Fr>,
}

impl ConstraintSynthesizer<Fr> for Echo {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        for x in self.inputs {
            let v = cs.new_input_variable(|| Ok(x))?;
            cs.enforce_constraint(lc!() + v, lc!() + Variable::One, lc!() + v)?;
        }
        Ok(())
    }
}

struct Workload {
    entries: Vec<Vec<u8>>,
    new_entries: Vec<Vec<u8>>,
    prepared: PreparedKey,
    proofs: Vec<(Proof<Bn254>, Vec<Fr>)>,
}

fn result_entry(
    pk: &ProvingKey<Bn254>,
    key: &str,
    params: &[Fr],
    i: usize,
    time: &str,
) -> (Entry, Proof<Bn254>, Vec<Fr>) {
    let mut rng = StdRng::seed_from_u64(i as u64);
    let case = format!("BENCH-{i:06}");
    let mut inputs = vec![
        Fr::from(12345u64),
        Statement::case_id(&case),
        rng.gen::<Fr>(),
    ];
    inputs.extend_from_slice(params);
    let proof = Groth16::<Bn254>::prove(
        pk,
        Echo {
            inputs: inputs.clone(),
        },
        &mut rng,
    )
    .expect("a proof");
    let decimals: Vec<String> = inputs.iter().map(to_decimal).collect();
    let entry = Entry::Result {
        key_id: key.to_string(),
        case_id: case,
        subject_tag: decimals[2].clone(),
        registry_root: decimals[0].clone(),
        public_inputs: decimals,
        proof: snarkjs::proof_to_json(&proof),
        department: "land-registry".into(),
        time: time.to_string(),
    };
    (entry, proof, inputs)
}

fn workload() -> Workload {
    let schema = Schema::from_toml("real-estate.toml", SCHEMA).unwrap();
    let policy = Policy::from_toml("medical-premises.toml", POLICY, &schema).unwrap();
    let params = policy
        .encode_params(&[
            ("min_area", "120"),
            ("usage", "medical"),
            ("today", "2026-11-23"),
        ])
        .unwrap();
    let inputs = policy.public_input_names().len();
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(
        Echo {
            inputs: vec![Fr::from(0u64); inputs],
        },
        &mut StdRng::seed_from_u64(7),
    )
    .unwrap();
    let hash = policy_hash(&schema, &policy);
    let key = key_id(&vk, &hash).to_string();
    let time = format_time(1_796_083_200);
    let mut entries = [
        Entry::Governance {
            departments: vec![GovernedDepartment {
                name: "land-registry".into(),
                registries: vec!["real-estate".into()],
                decides: false,
                key: None,
            }],
            freshness_seconds: 604_800,
            grace_seconds: 900,
            time: time.clone(),
            endorsements: vec![],
            origin: None,
            require_multi_party: false,
        },
        Entry::Key {
            key_id: key.clone(),
            registry: "real-estate".into(),
            policy: policy.name.clone(),
            policy_hash: hash.to_string(),
            verifying_key: snarkjs::verifying_key_to_json(&vk),
            schema_toml: SCHEMA.into(),
            policy_toml: POLICY.into(),
            provenance: None,
            time: time.clone(),
        },
        Entry::Root {
            department: "land-registry".into(),
            registry: "real-estate".into(),
            root: "12345".into(),
            time: time.clone(),
            signature: None,
        },
    ]
    .iter()
    .map(Entry::to_bytes)
    .collect::<Vec<_>>();
    let made: Vec<(Entry, Proof<Bn254>, Vec<Fr>)> = (0..RESULTS + NEW)
        .into_par_iter()
        .map(|i| result_entry(&pk, &key, &params, i, &time))
        .collect();
    let mut proofs = Vec::new();
    let mut new_entries = Vec::new();
    for (i, (entry, proof, inputs)) in made.into_iter().enumerate() {
        if i < RESULTS {
            entries.push(entry.to_bytes());
            proofs.push((proof, inputs));
        } else {
            new_entries.push(entry.to_bytes());
        }
    }
    Workload {
        entries,
        new_entries,
        prepared: PreparedKey::new(vk),
        proofs,
    }
}

fn batch_alone(w: &Workload) -> Duration {
    let started = Instant::now();
    for chunk in w.proofs.chunks(BATCH) {
        let items: Vec<Item> = chunk
            .iter()
            .map(|(proof, inputs)| Item {
                key: &w.prepared,
                proof,
                public_inputs: inputs,
            })
            .collect();
        assert!(verify_batch(&items).iter().all(|v| *v == Ok(true)));
    }
    started.elapsed()
}

fn parse_and_batch(w: &Workload, state: &LogState, jsons: &[Value]) -> Duration {
    let key = state.keys().next().expect("the key").clone();
    let started = Instant::now();
    for (chunk, proofs) in w.proofs.chunks(BATCH).zip(jsons.chunks(BATCH)) {
        let claims: Vec<ProofClaim> = chunk
            .iter()
            .zip(proofs)
            .map(|((_, inputs), proof)| ProofClaim {
                key: &key,
                public_inputs: inputs,
                proof,
            })
            .collect();
        assert!(verify_proofs(&claims).iter().all(Result::is_ok));
    }
    started.elapsed()
}

fn full_replay(w: &Workload) -> (Duration, LogState) {
    let started = Instant::now();
    let mut state = LogState::new();
    replay(&mut state, &w.entries, |_| {}).expect("the log keeps the rules");
    (started.elapsed(), state)
}

fn incremental(w: &Workload, snapshot: &[u8]) -> (Duration, usize) {
    let started = Instant::now();
    let loaded: Snapshot = serde_json::from_slice(snapshot).unwrap();
    let mut state = LogState::from_snapshot(loaded).unwrap();
    replay(&mut state, &w.new_entries, |_| {}).expect("the new entries keep the rules");
    let written = serde_json::to_vec(&state.to_snapshot()).unwrap();
    (started.elapsed(), written.len())
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROUNDS is a number"))
        .unwrap_or(3);
    let made = Instant::now();
    let w = workload();
    println!(
        "log of {} entries ({RESULTS} results), {NEW} more results for the incremental run, made in {:.1} s; {} threads",
        w.entries.len(),
        made.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    let jsons: Vec<Value> = w
        .proofs
        .iter()
        .map(|(p, _)| snarkjs::proof_to_json(p))
        .collect();
    let (_, state) = full_replay(&w);
    let snapshot = serde_json::to_vec(&state.to_snapshot()).unwrap();
    println!(
        "replay state snapshot: {:.1} MB",
        snapshot.len() as f64 / 1e6
    );
    println!();
    println!("| round | batch verify alone | parse + batch verify | full replay | replay / batch alone | replay / parse + batch | incremental, {NEW} new |");
    println!("|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    let mut ratios_parse = Vec::new();
    let mut increments = Vec::new();
    for round in 1..=rounds {
        let alone = batch_alone(&w);
        let parsed = parse_and_batch(&w, &state, &jsons);
        let (replayed, _) = full_replay(&w);
        let (increment, _) = incremental(&w, &snapshot);
        let ratio = replayed.as_secs_f64() / alone.as_secs_f64();
        let ratio_parse = replayed.as_secs_f64() / parsed.as_secs_f64();
        println!(
            "| {round} | {:.2} s | {:.2} s | {:.2} s | {ratio:.2}× | {ratio_parse:.2}× | {:.0} ms |",
            alone.as_secs_f64(),
            parsed.as_secs_f64(),
            replayed.as_secs_f64(),
            increment.as_secs_f64() * 1e3
        );
        ratios.push(ratio);
        ratios_parse.push(ratio_parse);
        increments.push(increment.as_secs_f64());
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!();
    println!(
        "median: full replay {:.2}× batch verification alone (target ≤ 1.5×), {:.2}× parse + batch verification; incremental run over {NEW} new entries {:.0} ms (target ≤ 500 ms)",
        median(ratios),
        median(ratios_parse),
        median(increments) * 1e3
    );
}
