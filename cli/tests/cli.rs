//! The `zkgov` binary, run as a user runs it.

use assert_cmd::Command;

fn zkgov() -> Command {
    let mut cmd = Command::cargo_bin("zkgov").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn hash_poseidon_prints_circomlibs_hash() {
    let out = stdout(zkgov().args(["hash", "poseidon", "1", "2"]));
    assert_eq!(
        out,
        "7853200120776062878684798364095072458815029376092732009249414926327459813530\n"
    );
    let out = stdout(zkgov().args(["hash", "poseidon", "1"]));
    assert_eq!(
        out,
        "18586133768512220936620570745912940619677854269274689475585506675881198879027\n"
    );
}

#[test]
fn hash_poseidon_refuses_non_canonical_input_with_exit_code_2() {
    let r = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
    for bad in ["01", "+1", "-1", "0x10", r, " 1", ""] {
        let output = zkgov()
            .args(["hash", "poseidon", "5", bad])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "input {bad:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("input 2"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
    let seventeen: Vec<String> = (1..=17).map(|i| i.to_string()).collect();
    let output = zkgov()
        .args(["hash", "poseidon"])
        .args(&seventeen)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn policy_inspect_prints_size_domain_and_public_inputs_in_order() {
    let out = stdout(zkgov().args([
        "policy",
        "inspect",
        "--schema",
        "../schemas/real-estate.toml",
        "--policy",
        "../policies/medical-premises.toml",
        "--depth",
        "10",
    ]));
    assert!(out.contains("constraints    3926\n"), "{out}");
    assert!(out.contains("domain         4096 "), "{out}");
    let names: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("public inputs"))
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
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
fn policy_inspect_names_the_bad_file_and_key() {
    let dir = std::env::temp_dir().join(format!("zkgov-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad-policy.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nschema = \"real-estate\"\nparams = []\n[rule]\nall = [\"area_m2 >= big\"]\n",
    )
    .unwrap();
    let output = zkgov()
        .args([
            "policy",
            "inspect",
            "--schema",
            "../schemas/real-estate.toml",
            "--policy",
        ])
        .arg(&bad)
        .args(["--depth", "4"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad-policy.toml")
            && stderr.contains("rule.all[0]")
            && stderr.contains("big"),
        "{stderr}"
    );

    let output = zkgov()
        .args([
            "policy",
            "inspect",
            "--schema",
            "../schemas/real-estate.toml",
        ])
        .args([
            "--policy",
            "../policies/medical-premises.toml",
            "--arity",
            "3",
            "--depth",
            "4",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("arity 3"));
    std::fs::remove_dir_all(dir).unwrap();
}
