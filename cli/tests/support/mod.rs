//! Shared by the CLI's integration tests.
#![allow(dead_code)]

/// The verifier's Debian package installer and throwaway PostgreSQL server,
/// shared rather than copied.
#[path = "../../../verifier/tests/support/apt.rs"]
pub mod apt;
/// The pinned npm peers (snarkjs, circom), installed on first use.
#[path = "../../../keys/tests/support/mod.rs"]
pub mod node;
#[path = "../../../verifier/tests/support/postgres.rs"]
pub mod postgres;
pub mod serve;
pub mod tamper;
pub mod witness;

use std::process::Output;

/// `zkgov`, run from the crate's directory, with none of the `ZKGOV_*`
/// variables of the environment the tests run in: a test sets what it
/// means to.
pub fn zkgov() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("zkgov").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ZKGOV_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// `zkgov`, run in `dir`.
pub fn zkgov_in(dir: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = zkgov();
    cmd.current_dir(dir);
    cmd
}

/// Proves case `C-1`, whose subject's premises in the test registry
/// (`prover/tests/data/real-estate.csv`) are medical and over 400 m², with
/// the key directory `keys` against the registry directory `registry`, both
/// in `dir`, and writes the line to `proofs.jsonl` there.
pub fn prove_one_case(dir: &std::path::Path, keys: &str, registry: &str) {
    std::fs::write(
        dir.join("cases.csv"),
        "case_id,subject,case_secret\n\
         C-1,110101199003071234,17364605483691509955259406812973901988435554935154002607551147150191611203790\n",
    )
    .unwrap();
    ok(zkgov_in(dir)
        .args(["prove", registry, "--keys", keys, "--cases", "cases.csv"])
        .args(["--param", "min_area=400", "--param", "usage=medical"])
        .args(["--param", "today=2026-11-23", "--out", "proofs.jsonl"])
        .output()
        .unwrap());
}

/// `output`, which must be of a successful run.
pub fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "exit {:?}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A run's standard output.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A run's standard error.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
