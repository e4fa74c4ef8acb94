//! Schemathesis drives every route of `/v1/openapi.json` against a real
//! `zkgov serve`, with the admin and a department token: no 5xx, every
//! response as the document says (status, content type, headers, body),
//! and nothing accepted that the document calls invalid.
//!
//! Schemathesis comes from PyPI, pinned with everything it needs in
//! `tests/data/schemathesis-requirements.txt`, and is installed into a
//! virtual environment under the target directory on first use (Debian's
//! `python3-venv` too, if it is missing). Its `positive_data_acceptance`
//! check is left out: a request can be well-formed by the document and
//! still be refused by the log's state (a size beyond the log, a proof
//! that does not verify), which no schema can express.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::serve::Server;
use support::{ok, prove_one_case, zkgov_in};
use zkgov_verifier::service::config::TokenHash;
use zkgov_verifier::test_utils::{ConfigFile, Department, ADMIN, LAND, ORIGIN};

const REQUIREMENTS: &str = include_str!("data/schemathesis-requirements.txt");
/// Test cases per operation, and the seed, so that a failure reproduces.
const EXAMPLES: &str = "40";
const SEED: &str = "20261204";

/// Whether `python3 -m venv` works here.
fn venv_works() -> bool {
    let probe = tempfile::tempdir().unwrap();
    Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(probe.path().join("probe"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The `st` program of a virtual environment holding the pinned
/// requirements, made once per set of requirements. The environment counts
/// as made only once its requirements file is written, after pip succeeded,
/// so that a failed install is made again rather than used.
fn schemathesis() -> PathBuf {
    let digest = &TokenHash::of(REQUIREMENTS).to_hex()[..12];
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("schemathesis-{digest}"));
    let installed = venv.join("requirements.txt");
    if installed.exists() {
        return venv.join("bin/st");
    }
    support::apt::install(&["python3", "python3-venv"], venv_works).unwrap();
    let _ = fs::remove_dir_all(&venv);
    support::apt::run(Command::new("python3").args(["-m", "venv"]).arg(&venv)).unwrap();
    let pending = venv.join("requirements.pending");
    fs::write(&pending, REQUIREMENTS).unwrap();
    support::apt::run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&pending),
    )
    .unwrap();
    fs::rename(&pending, &installed).unwrap();
    venv.join("bin/st")
}

#[test]
fn every_route_answers_as_the_openapi_document_says() {
    let st = schemathesis();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let schema = manifest.join("../schemas/real-estate.toml");
    ok(zkgov_in(dir)
        .args(["keys", "setup", "--schema"])
        .arg(&schema)
        .arg("--policy")
        .arg(manifest.join("../policies/medical-premises.toml"))
        .args(["--depth", "3", "--out", "keys"])
        .output()
        .unwrap());
    ok(zkgov_in(dir)
        .args(["registry", "build", "--schema"])
        .arg(&schema)
        .arg("--records")
        .arg(manifest.join("../prover/tests/data/real-estate.csv"))
        .args(["--depth", "3", "--out", "registry"])
        .output()
        .unwrap());
    ConfigFile::new("data")
        .setting("origin", ORIGIN)
        .admin(ADMIN)
        .department(
            Department::new("land-registry", LAND)
                .registries(&["real-estate", "licences"])
                .decides(),
        )
        .key("keys", "real-estate")
        .write(dir.join("verifier.toml"));
    let server = Server::start(&dir.join("verifier.toml"), &dir.join("serve.log"));
    // A root and one anchored statement, so that the case routes answer
    // with real entries as well as with refusals.
    ok(zkgov_in(dir)
        .args(["root", "publish", "registry", "--registry", "real-estate"])
        .args(["--server", &server.url, "--token", LAND])
        .output()
        .unwrap());
    prove_one_case(dir, "keys", "registry");
    ok(zkgov_in(dir)
        .args([
            "submit",
            "proofs.jsonl",
            "--server",
            &server.url,
            "--token",
            LAND,
        ])
        .output()
        .unwrap());

    // Tokens reach schemathesis through its environment, never a file.
    fs::write(
        dir.join("schemathesis.toml"),
        r#"[auth.openapi.admin]
bearer = "${ZKGOV_TEST_ADMIN}"

[auth.openapi.department]
bearer = "${ZKGOV_TEST_DEPARTMENT}"

[[operations]]
include-path-regex = "^/v1/cases/\\{case_id\\}"
parameters = { case_id = "C-1" }
"#,
    )
    .unwrap();
    let output = Command::new(&st)
        .current_dir(dir)
        .args(["--no-color", "--config-file", "schemathesis.toml", "run"])
        .arg(format!("{}/v1/openapi.json", server.url))
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", EXAMPLES, "--seed", SEED, "--workers", "1"])
        .args(["--request-timeout", "10"])
        .env("ZKGOV_TEST_ADMIN", ADMIN)
        .env("ZKGOV_TEST_DEPARTMENT", LAND)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    // The counts line, such as `1990 generated, 1 found 1 unique failure`.
    let counts = report
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or("no counts line");
    eprintln!("schemathesis: {}", counts.trim());
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(counts.contains(" generated, "), "{report}");
    server.stop();
}
