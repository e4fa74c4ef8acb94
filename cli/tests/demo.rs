//! The medical-licence scenario end to end, at a small scale: `zkgov demo`
//! proves at two departments, submits to a real verifier on loopback,
//! compares, decides, issues licences and audits the log; a second run
//! reuses the cached keys and decides the same way.

use assert_cmd::Command;

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
}
