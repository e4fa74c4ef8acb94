//! The medical-licence scenario end to end, at a small scale: in `zkgov
//! demo` clinics apply through the API, three departments' workers prove
//! and issue licences, the procedure decides automatically, applicants
//! verify their licences and hear why they were refused, the licences back
//! a second procedure, and the log is replayed; a second run reuses the
//! cached keys and decides the same way. Then the demo's log is
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
            "--applications",
            "20",
            "--designations",
            "4",
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

/// The number after `label` on the line that starts with it.
fn count(out: &str, label: &str) -> u64 {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` line in\n{out}"))
}

/// The example case the summary names for `label`.
fn example(out: &str, label: &str) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split("(such as ").nth(1))
        .map(|rest| rest.trim_end_matches(')').to_string())
        .unwrap_or_else(|| panic!("no example case for `{label}` in\n{out}"))
}

/// How many refused applicants were told a reason containing `reason`.
fn told(out: &str, reason: &str) -> u64 {
    out.lines()
        .skip_while(|l| !l.contains("what refused applicants were told"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .filter(|l| l.contains(reason))
        .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn clinics_apply_and_the_procedure_decides_and_licences_back_a_second_procedure() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo(dir.path());
    // Applications cycle through the kinds: of 20, 12 approved and 2 of
    // each refusal.
    assert_eq!(count(&first, "approved"), 12, "{first}");
    for refusal in [
        "refused: premises too small",
        "refused: premises not zoned for medical use",
        "refused: business licence expired",
        "refused: applicant unknown to the registries",
    ] {
        assert_eq!(count(&first, refusal), 2, "{refusal} in\n{first}");
    }
    // Each refused applicant is told the one condition that failed, at
    // the department that owns it.
    assert_eq!(
        told(&first, "premises: not_satisfied: area_m2 >= $min_area"),
        2
    );
    assert_eq!(told(&first, "premises: not_satisfied: usage == $usage"), 2);
    assert_eq!(told(&first, "business: not_satisfied: expires > $today"), 2);
    // An unknown applicant hears it from whichever department answers
    // first.
    assert_eq!(told(&first, "subject_not_found"), 2, "{first}");
    assert!(
        first.contains("12 licences fetched and verified offline"),
        "{first}"
    );
    assert!(
        first.contains("4 licence holders designated; 1 without a licence refused"),
        "{first}"
    );
    assert!(
        first.contains("checkpoint signature valid, consistent with the first checkpoint"),
        "{first}"
    );
    assert!(
        first.contains("set up keys for valid-medical-licence"),
        "{first}"
    );
    // The health department issued the 12 licences and proved the 4
    // holders' licences for the insurance bureau.
    let health = first
        .lines()
        .find(|l| l.trim_start().starts_with("health-department "))
        .unwrap();
    assert!(
        health.contains("4 proofs") && health.contains("12 licences issued"),
        "{health}"
    );

    // Keys are cached; the verifier starts afresh; the outcome is the same.
    let second = demo(dir.path());
    assert!(!second.contains("set up keys"), "{second}");
    assert_eq!(count(&second, "approved"), 12);
    for rate in ["applications:", "total:"] {
        let value = second
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(rate))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.trim_end_matches(',').parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no `{rate}` figure in\n{second}"));
        assert!(value > 0.0, "{rate} {value}");
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
    let approved = example(out, "approved");
    let too_small = example(out, "refused: premises too small");
    let compared = compare(&server, &approved);
    assert_eq!(compared.status.code(), Some(0), "{compared:?}");
    let refused = compare(&server, &too_small);
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

    // An approved applicant's licence verifies offline and online; an
    // edited one does not.
    let document = data.join(format!("licences/{approved}.json"));
    let document = document.to_str().unwrap();
    let offline = zkgov(&["licence", "verify", document, "--log-key", &server.log_key]);
    assert_eq!(offline.status.code(), Some(0), "{offline:?}");
    let printed = String::from_utf8_lossy(&offline.stdout);
    assert!(printed.starts_with("VALID: licence YL-"), "{printed}");
    let online = zkgov(&[
        "licence",
        "verify",
        document,
        "--log-key",
        &server.log_key,
        "--online",
        "--server",
        &server.url,
    ]);
    assert_eq!(online.status.code(), Some(0), "{online:?}");
    assert!(
        String::from_utf8_lossy(&online.stdout).contains("in force: no later decision"),
        "{online:?}"
    );
    let text = std::fs::read_to_string(document).unwrap();
    let edited = data.join("edited.json");
    let expires = text
        .lines()
        .find(|l| l.contains("\"expires\""))
        .unwrap()
        .to_string();
    std::fs::write(
        &edited,
        text.replace(&expires, "      \"expires\": \"2099-01-01\","),
    )
    .unwrap();
    let forged = zkgov(&[
        "licence",
        "verify",
        edited.to_str().unwrap(),
        "--log-key",
        &server.log_key,
    ]);
    assert_eq!(forged.status.code(), Some(1), "{forged:?}");
    assert!(
        String::from_utf8_lossy(&forged.stdout).contains("INVALID: the document's fields"),
        "{forged:?}"
    );
    std::fs::write(&edited, "{}").unwrap();
    let malformed = zkgov(&[
        "licence",
        "verify",
        edited.to_str().unwrap(),
        "--log-key",
        &server.log_key,
    ]);
    assert_eq!(malformed.status.code(), Some(2), "{malformed:?}");
    server.stop();

    // Turn a refusal into an approval behind the service's back.
    support::tamper::edit_entry(
        &data.join("verifier/verifier.db"),
        &[&format!("\"{too_small}\""), "\"refused\""],
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
