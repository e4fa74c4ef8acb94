//! The medical-licence scenario end to end, at a small scale: `zkgov demo`
//! proves at two departments, submits to a real verifier on loopback,
//! compares, decides, issues licences and audits the log; a second run
//! reuses the cached keys and decides the same way. Then the demo's log is
//! served again by `zkgov serve`, checked with the client commands, and
//! tampered with behind the service's back.

use std::path::Path;

use assert_cmd::Command;

mod support;
use support::serve::Server;

fn demo(data_dir: &std::path::Path) -> String {
    let output = Command::cargo_bin("zkgov")
        .unwrap()
        // A relative data directory, as a user gives it.
        .current_dir(data_dir)
        .args([
            "demo",
            "--records",
            "400",
            "--cases",
            "20",
            "--data-dir",
            "demo-data",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn count(out: &str, label: &str) -> u64 {
    out.lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` line in\n{out}"))
}

#[test]
fn the_medical_licence_case_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo(dir.path());
    // Cases cycle through the kinds: of 20, 12 approved and 2 of each refusal.
    assert_eq!(count(&first, "approved"), 12, "{first}");
    for refusal in [
        "refused: premises too small",
        "refused: premises not zoned for medical use",
        "refused: business licence expired",
        "refused: applicant unknown to the registries",
    ] {
        assert_eq!(count(&first, refusal), 2, "{refusal} in\n{first}");
    }
    // Each refusal is traced to the right condition at the right department.
    assert_eq!(
        count(&first, "land-registry: not satisfied: area_m2 >= $min_area"),
        2
    );
    assert_eq!(
        count(&first, "land-registry: not satisfied: usage == $usage"),
        2
    );
    assert_eq!(
        count(&first, "market-bureau: not satisfied: expires > $today"),
        2
    );
    assert_eq!(count(&first, "land-registry: subject not found"), 2);
    assert!(first.contains("12 licences issued"), "{first}");
    assert!(
        first.contains("signature valid; consistent with the first checkpoint"),
        "{first}"
    );
    assert!(
        first.contains("set up keys for medical-premises"),
        "{first}"
    );

    // Keys are cached; the verifier starts afresh; the outcome is the same.
    let second = demo(dir.path());
    assert!(!second.contains("set up keys"), "{second}");
    assert_eq!(count(&second, "approved"), 12);
    let log_line = |out: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with("log:"))
            .map(str::to_string)
    };
    assert!(log_line(&first).is_some_and(|l| l.ends_with("entries, audited")));
    assert_eq!(log_line(&first), log_line(&second));
    for rate in ["proving:", "verification:"] {
        let line = second
            .lines()
            .find(|l| l.trim_start().starts_with(rate))
            .unwrap_or_else(|| panic!("no `{rate}` line in\n{second}"));
        let value: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(value > 0.0, "{line}");
    }

    audit_the_demo_log(&dir.path().join("demo-data"), &second);
}

/// The key id the demo printed for `policy`.
fn key_id(out: &str, policy: &str) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with(policy) && l.contains(" key "))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no key id for {policy} in\n{out}"))
        .to_string()
}

fn zkgov(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("zkgov")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

/// The demo leaves its verifier's config and database behind: serve them
/// again, compare cases and audit (and replay) with the client commands,
/// then change a decision in the database, which the service then refuses
/// to serve.
fn audit_the_demo_log(data: &Path, out: &str) {
    let config = data.join("verifier.toml");
    let log = data.join("serve.log");
    let keys = [
        key_id(out, "medical-premises"),
        key_id(out, "active-medical-business"),
    ];
    let state = data.join("auditor");
    let state = state.to_str().unwrap();
    let compare = |server: &Server, case: &str| {
        zkgov(&[
            "case",
            "compare",
            case,
            "--server",
            &server.url,
            "--require",
            &keys[0],
            "--require",
            &keys[1],
        ])
    };

    let server = Server::start(&config, &log);
    // Case 0 was approved; case 3's premises were too small.
    let approved = compare(&server, "DJY-2026-000000");
    assert_eq!(approved.status.code(), Some(0), "{approved:?}");
    let refused = compare(&server, "DJY-2026-000003");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let audited = zkgov(&[
        "log",
        "verify",
        "--server",
        &server.url,
        "--log-key",
        &server.log_key,
        "--state",
        state,
    ]);
    assert_eq!(audited.status.code(), Some(0), "{audited:?}");
    let replayed = zkgov(&[
        "log",
        "verify",
        "--server",
        &server.url,
        "--state",
        state,
        "--full",
    ]);
    assert_eq!(replayed.status.code(), Some(0), "{replayed:?}");
    assert!(
        String::from_utf8_lossy(&replayed.stdout)
            .contains("every entry replayed through the rules"),
        "{replayed:?}"
    );
    server.stop();

    // Turn case 3's refusal into an approval behind the service's back.
    support::tamper::edit_entry(
        &data.join("verifier/verifier.db"),
        &["\"DJY-2026-000003\"", "\"refused\""],
        "\"refused\"",
        "\"approved\"",
    );

    // The service refuses to serve it: its entries no longer hash to the
    // checkpoint it signed.
    let refused = zkgov(&["serve", "--config", config.to_str().unwrap()]);
    assert_ne!(refused.status.code(), Some(0), "{refused:?}");
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("the database was changed or replaced"),
        "{message}"
    );
}
