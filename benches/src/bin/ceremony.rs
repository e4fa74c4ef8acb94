//! A phase-2 ceremony for the reference circuit (`medical-premises` over
//! `real-estate`, arity 4, depth 10), each step by zkgov and by snarkjs
//! 0.7.6, alternating, in one run: the initial key from a power-12 ptau,
//! a contribution, a beacon, the whole ceremony's verification, and the
//! import into a key directory. zkgov's initial key must be snarkjs's,
//! byte for byte, and each tool verifies the other's final key.
//!
//! The ptau (snarkjs: `powersoftau new`, one contribution, `prepare
//! phase2`) takes minutes, and is kept beside the binary for later runs.
//!
//! `cargo run --release -p zkgov-benches --bin ceremony [-- ROUNDS]`

#[path = "../../../keys/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zkgov_benches::median;
use zkgov_circuits::circuit::StatementCircuit;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::tree::TreeShape;
use zkgov_keys::ptau::Ptau;
use zkgov_keys::store::Source;
use zkgov_keys::zkey::{beacon_rng, contribution_rng, Kind, Zkey};

const BEACON: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8];

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed())
}

fn snarkjs(args: &[&str], dir: &Path) -> Duration {
    timed(|| support::snarkjs(args, dir)).1
}

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse().expect("ROUNDS is a count"))
        .unwrap_or(2);
    let cache = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir);
    println!(
        "making (or reusing) a power-12 ptau with snarkjs in {} …",
        cache.display()
    );
    let (ptau_path, took) = timed(|| support::ptau(&cache, 12));
    println!("ptau ready in {:.1} s", took.as_secs_f64());
    let ptau_bytes = std::fs::read(&ptau_path).expect("the ptau");
    let ptau_file = ptau_path.display().to_string();

    let schema_text = std::fs::read_to_string(manifest("schemas/real-estate.toml")).unwrap();
    let policy_text = std::fs::read_to_string(manifest("policies/medical-premises.toml")).unwrap();
    let schema = Schema::from_toml("real-estate.toml", &schema_text).unwrap();
    let policy = Policy::from_toml("medical-premises.toml", &policy_text, &schema).unwrap();
    let shape = TreeShape::new(4, 10).unwrap();
    let matrices = StatementCircuit::shape_only(&schema, &policy, shape)
        .matrices()
        .unwrap();
    let source = Source {
        schema: &schema,
        policy: &policy,
        shape,
        schema_text: &schema_text,
        policy_text: &policy_text,
    };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(
        dir.join("circuit.r1cs"),
        zkgov_keys::r1cs::to_bytes(&matrices).unwrap(),
    )
    .unwrap();
    println!(
        "reference circuit: {} constraints, {} wires, domain 2^{}; {} rounds, each tool in turn",
        matrices.num_constraints,
        matrices.num_instance_variables + matrices.num_witness_variables,
        (matrices.num_constraints + matrices.num_instance_variables)
            .next_power_of_two()
            .trailing_zeros(),
        rounds
    );

    let steps = ["new", "contribute", "beacon", "verify", "import (verified)"];
    let mut ours: Vec<Vec<Duration>> = vec![Vec::new(); steps.len()];
    let mut theirs: Vec<Vec<Duration>> = vec![Vec::new(); steps.len()];
    for round in 0..rounds {
        // snarkjs.
        theirs[0].push(snarkjs(
            &["groth16", "setup", "circuit.r1cs", &ptau_file, "s0.zkey"],
            dir,
        ));
        theirs[1].push(snarkjs(
            &[
                "zkey",
                "contribute",
                "s0.zkey",
                "s1.zkey",
                "--name=s",
                "-e=bench",
            ],
            dir,
        ));
        theirs[2].push(snarkjs(
            &[
                "zkey",
                "beacon",
                "s1.zkey",
                "s2.zkey",
                "0102030405060708",
                "10",
            ],
            dir,
        ));
        // zkgov, on the same files.
        let (initial, took) = timed(|| {
            let ptau = Ptau::parse(&ptau_bytes).unwrap();
            Zkey::initial(&matrices, &ptau).unwrap().to_initial_bytes()
        });
        ours[0].push(took);
        assert!(
            initial == std::fs::read(dir.join("s0.zkey")).unwrap(),
            "zkgov's initial key is not snarkjs's"
        );
        let (one, took) = timed(|| {
            let zkey = Zkey::parse(&initial).unwrap();
            zkey.check_contributions().unwrap();
            zkey.contribute(&mut contribution_rng(""), Kind::Contribution, Some("z"))
                .to_bytes()
        });
        ours[1].push(took);
        let (last, took) = timed(|| {
            let zkey = Zkey::parse(&one).unwrap();
            zkey.check_contributions().unwrap();
            let kind = Kind::Beacon {
                iterations_exp: 10,
                hash: BEACON.to_vec(),
            };
            zkey.contribute(&mut beacon_rng(BEACON, 10), kind, None)
                .to_bytes()
        });
        ours[2].push(took);
        std::fs::write(dir.join("z2.zkey"), &last).unwrap();
        // Each verifies the other's final key.
        theirs[3].push(snarkjs(
            &["zkey", "verify", "circuit.r1cs", &ptau_file, "z2.zkey"],
            dir,
        ));
        let theirs_final = std::fs::read(dir.join("s2.zkey")).unwrap();
        ours[3].push(
            timed(|| {
                let ptau = Ptau::parse(&ptau_bytes).unwrap();
                Zkey::parse(&theirs_final)
                    .unwrap()
                    .check_ceremony(&matrices, &ptau)
                    .unwrap()
            })
            .1,
        );
        // snarkjs has no import into a key directory.
        ours[4].push(timed(|| source.import(&theirs_final, Some(&ptau_bytes)).unwrap()).1);
        println!("round {} done", round + 1);
    }

    println!();
    println!("| step, median of {rounds} | zkgov | snarkjs | snarkjs / zkgov |");
    println!("|---|---|---|---|");
    for (i, step) in steps.iter().enumerate() {
        let z = median(ours[i].clone()).as_secs_f64();
        if theirs[i].is_empty() {
            println!("| {step} | {z:.2} s | — | — |");
        } else {
            let s = median(theirs[i].clone()).as_secs_f64();
            println!("| {step} | {z:.2} s | {s:.2} s | {:.2}× |", s / z);
        }
    }
    println!("zkgov's initial key was snarkjs's byte for byte; each tool verified the other's final key.");
}
