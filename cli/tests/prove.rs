//! `zkgov prove`, run as a department operator runs it: a registry, keys,
//! a cases file, and JSON Lines out.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod support;
use support::{ok, stderr, zkgov};

const SCHEMA: &str = "../schemas/real-estate.toml";
const POLICY: &str = "../policies/medical-premises.toml";
const RECORDS: &str = "../prover/tests/data/real-estate.csv";

/// A run whose output holds `invalid_input` lines: exit 1, its other
/// lines written.
fn with_bad_rows(output: Output) -> Output {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid_input line"));
    output
}

/// A registry of the test records and a key for the reference policy, both
/// over arity 4, depth 3.
fn department(dir: &Path) -> (PathBuf, PathBuf) {
    let registry = dir.join("registry");
    let keys = dir.join("keys");
    ok(zkgov()
        .args([
            "registry",
            "build",
            "--schema",
            SCHEMA,
            "--records",
            RECORDS,
            "--depth",
            "3",
            "--out",
        ])
        .arg(&registry)
        .output()
        .unwrap());
    ok(zkgov()
        .args([
            "keys", "setup", "--schema", SCHEMA, "--policy", POLICY, "--depth", "3", "--out",
        ])
        .arg(&keys)
        .output()
        .unwrap());
    (registry, keys)
}

/// A case secret as the service draws them: 254 bits, below r.
const SECRET: &str =
    "15598781100539677495126583688636388527443987417419434871712227182114589863243";

fn cases(dir: &Path) -> PathBuf {
    let path = dir.join("cases.csv");
    fs::write(
        &path,
        format!(
            "case_id,subject,case_secret\n\
             C-1,110101199003071234,{SECRET}\n\
             C-2,510104198511120021,{SECRET}\n\
             C-3,999999999999999999,{SECRET}\n\
             C-4,110101199003071234,-5\n\
             C-5,510104198511120021,{SECRET}\n"
        ),
    )
    .unwrap();
    path
}

const PARAMS: [&str; 3] = ["min_area=400", "usage=medical", "today=2026-11-23"];

fn prove(registry: &Path, keys: &Path, cases: &Path, out: &Path, extra: &[&str]) -> Output {
    prove_with(registry, keys, cases, out, &PARAMS, extra)
}

fn prove_with(
    registry: &Path,
    keys: &Path,
    cases: &Path,
    out: &Path,
    params: &[&str],
    extra: &[&str],
) -> Output {
    let mut cmd = zkgov();
    cmd.arg("prove")
        .arg(registry)
        .arg("--keys")
        .arg(keys)
        .arg("--cases")
        .arg(cases);
    for param in params {
        cmd.args(["--param", param]);
    }
    cmd.arg("--out").arg(out).args(extra).output().unwrap()
}

fn lines(out: &Path) -> Vec<Value> {
    fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn statuses(out: &Path) -> Vec<(String, String)> {
    statuses_of(&fs::read_to_string(out).unwrap())
}

#[test]
fn a_batch_is_proven_in_input_order_and_each_proof_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    let cases = cases(tmp.path());
    let out = tmp.path().join("proofs.jsonl");
    with_bad_rows(prove(&registry, &keys, &cases, &out, &["--threads", "2"]));

    let expected = [
        ("C-1", "proven"),
        ("C-2", "proven"),
        ("C-3", "subject_not_found"),
        ("C-4", "invalid_input"),
        ("C-5", "proven"),
    ];
    let got = statuses(&out);
    assert_eq!(got, expected.map(|(c, s)| (c.to_string(), s.to_string())));

    let root = String::from_utf8(
        ok(zkgov()
            .args(["registry", "root"])
            .arg(&registry)
            .output()
            .unwrap())
        .stdout,
    )
    .unwrap();
    let key_id = fs::read_to_string(keys.join("metadata.json")).unwrap();
    for line in lines(&out).iter().filter(|l| l["status"] == "proven") {
        assert_eq!(line["registry_root"], root.trim());
        assert_eq!(line["public_inputs"][0], root.trim());
        assert!(key_id.contains(line["key_id"].as_str().unwrap()));
        // Every proven line verifies offline with `zkgov verify`.
        fs::write(tmp.path().join("proof.json"), line["proof"].to_string()).unwrap();
        fs::write(
            tmp.path().join("public.json"),
            line["public_inputs"].to_string(),
        )
        .unwrap();
        let verify = zkgov()
            .arg("verify")
            .arg("--vk")
            .arg(keys.join("verification_key.json"))
            .arg("--proof")
            .arg(tmp.path().join("proof.json"))
            .arg("--public")
            .arg(tmp.path().join("public.json"))
            .output()
            .unwrap();
        assert_eq!(verify.status.code(), Some(0), "{line}");
    }
    // `zkgov verify` reads a prove line itself, under the key directory's
    // key id.
    let verify_line = |case: &str, stdin: Option<String>| {
        let mut command = zkgov();
        command.args(["verify", "--keys"]).arg(&keys).arg("--line");
        match &stdin {
            Some(_) => command.arg("-"),
            None => command.arg(&out).args(["--case", case]),
        };
        command
            .write_stdin(stdin.unwrap_or_default())
            .output()
            .unwrap()
    };
    let valid = verify_line("C-5", None);
    assert_eq!(valid.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&valid.stdout).trim(), "valid");
    let json = zkgov()
        .args(["verify", "--json", "--keys"])
        .arg(&keys)
        .arg("--line")
        .arg(&out)
        .args(["--case", "C-1"])
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(0));
    let printed: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(printed, serde_json::json!({ "valid": true }));
    let none = verify_line("C-3", None);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("is `subject_not_found`"));
    let mut edited = lines(&out)[0].clone();
    edited["public_inputs"][3] = Value::from("7");
    let invalid = verify_line("", Some(edited.to_string()));
    assert_eq!(invalid.status.code(), Some(1), "{invalid:?}");
    assert_eq!(String::from_utf8_lossy(&invalid.stdout).trim(), "invalid");
    // The same applicant in the same case gets one tag; cases C-2 and C-5 share a secret and subject.
    let all = lines(&out);
    assert_eq!(all[1]["public_inputs"][2], all[4]["public_inputs"][2]);
    assert_ne!(all[1]["public_inputs"][1], all[4]["public_inputs"][1]);
    assert!(all[3]["reason"].as_str().unwrap().contains("case_secret"));

    // A stricter param leaves a subject with no qualifying record.
    let strict = tmp.path().join("strict.jsonl");
    let output = prove_with(
        &registry,
        &keys,
        &cases,
        &strict,
        &["min_area=5000", "usage=medical", "today=2026-11-23"],
        &[],
    );
    with_bad_rows(output);
    let strict = lines(&strict);
    assert_eq!(strict[0]["status"], "not_satisfied");
    assert!(
        strict[0]["reason"]
            .as_str()
            .unwrap()
            .contains("area_m2 >= $min_area"),
        "{}",
        strict[0]
    );
}

#[test]
fn resume_skips_done_cases_and_drops_a_partial_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    let cases = cases(tmp.path());
    let out = tmp.path().join("proofs.jsonl");
    with_bad_rows(prove(&registry, &keys, &cases, &out, &[]));
    let full = fs::read_to_string(&out).unwrap();

    // Without --resume an existing output is refused, and left alone.
    let refused = prove(&registry, &keys, &cases, &out, &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(fs::read_to_string(&out).unwrap(), full);

    // A crash left two whole lines and half of the third.
    let cut: usize = full
        .split_inclusive('\n')
        .take(2)
        .map(str::len)
        .sum::<usize>()
        + 10;
    fs::write(&out, &full[..cut]).unwrap();
    with_bad_rows(prove(&registry, &keys, &cases, &out, &["--resume"]));
    assert_eq!(statuses(&out), statuses_of(&full));

    // Resuming a finished file adds nothing.
    with_bad_rows(prove(&registry, &keys, &cases, &out, &["--resume"]));
    assert_eq!(lines(&out).len(), 5);
}

fn statuses_of(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| {
            (
                l["case_id"].as_str().unwrap().to_string(),
                l["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn shards_partition_the_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    let cases = cases(tmp.path());
    let mut seen = Vec::new();
    for shard in ["0/2", "1/2"] {
        let out = tmp.path().join(format!("shard-{}.jsonl", &shard[..1]));
        let run = prove(
            &registry,
            &keys,
            &cases,
            &out,
            &["--shard", shard, "--no-self-check"],
        );
        // Rows 1 and 3 are C-2 and C-4, a bad row.
        if shard == "1/2" {
            with_bad_rows(run);
        } else {
            ok(run);
        }
        seen.extend(statuses(&out).into_iter().map(|(c, _)| c));
    }
    seen.sort();
    assert_eq!(seen, ["C-1", "C-2", "C-3", "C-4", "C-5"]);
    let bad = prove(
        &registry,
        &keys,
        &cases,
        &tmp.path().join("x.jsonl"),
        &["--shard", "2/2"],
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_key_for_another_shape_or_a_bad_param_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, _) = department(tmp.path());
    let keys4 = tmp.path().join("keys4");
    ok(zkgov()
        .args([
            "keys", "setup", "--schema", SCHEMA, "--policy", POLICY, "--depth", "4", "--out",
        ])
        .arg(&keys4)
        .output()
        .unwrap());
    let cases = cases(tmp.path());
    let out = tmp.path().join("p.jsonl");
    let refused = prove(&registry, &keys4, &cases, &out, &[]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("depth"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let keys = tmp.path().join("keys");
    let params = ["min_area=-1", "usage=medical", "today=2026-11-23"];
    let bad = prove_with(
        &registry,
        &keys,
        &cases,
        &tmp.path().join("q.jsonl"),
        &params,
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("min_area"));
}

#[test]
fn ctrl_c_leaves_whole_lines_and_resume_completes_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    let path = tmp.path().join("many.csv");
    let mut text = String::from("case_id,subject,case_secret\n");
    for i in 0..120 {
        // 73 digits: above 2^128, below r, one secret per case.
        text += &format!("M-{i},510104198511120021,{}{i:03}\n", &SECRET[..70]);
    }
    fs::write(&path, text).unwrap();
    let out = tmp.path().join("many.jsonl");
    let bin = assert_cmd::cargo::cargo_bin("zkgov");
    let mut child = std::process::Command::new(bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("prove")
        .arg(&registry)
        .arg("--keys")
        .arg(&keys)
        .arg("--cases")
        .arg(&path)
        .args([
            "--param",
            "min_area=400",
            "--param",
            "usage=medical",
            "--param",
            "today=2026-11-23",
            "--out",
        ])
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once some proofs are out.
    let started = std::time::Instant::now();
    while fs::read_to_string(&out).map_or(0, |t| t.lines().count()) < 3 {
        assert!(started.elapsed().as_secs() < 120, "no proofs written");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(
        exit.code(),
        Some(130),
        "an interrupted batch exits with 130"
    );

    let partial = fs::read_to_string(&out).unwrap();
    assert!(partial.ends_with('\n'), "the output ends with a whole line");
    let written = statuses_of(&partial);
    assert!(
        written.len() < 120,
        "the batch stopped early ({} lines)",
        written.len()
    );
    for (i, (case, status)) in written.iter().enumerate() {
        assert_eq!(
            (case.as_str(), status.as_str()),
            (format!("M-{i}").as_str(), "proven")
        );
    }

    ok(prove(
        &registry,
        &keys,
        &path,
        &out,
        &["--resume", "--no-self-check"],
    ));
    let all = statuses(&out);
    assert_eq!(all.len(), 120);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, (case, status))| *case == format!("M-{i}") && status == "proven"));
}

#[test]
fn a_revoked_record_is_reported_as_revoked_not_as_an_unknown_subject() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    ok(zkgov()
        .args(["registry", "update"])
        .arg(&registry)
        .args(["--revoke", "440305197701015678"])
        .output()
        .unwrap());
    let cases = tmp.path().join("cases.csv");
    fs::write(
        &cases,
        format!(
            "case_id,subject,case_secret\n\
             R-1,440305197701015678,{SECRET}\n\
             R-2,999999999999999999,{SECRET}\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("proofs.jsonl");
    let output = ok(prove(&registry, &keys, &cases, &out, &[]));
    assert_eq!(
        statuses(&out),
        [
            ("R-1".to_string(), "revoked".to_string()),
            ("R-2".to_string(), "subject_not_found".to_string())
        ]
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("1 subject not found, 1 revoked"),
        "{stderr}"
    );
}

#[test]
fn a_case_secret_below_2_128_is_a_bad_row_and_the_other_rows_are_proven() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    let cases = tmp.path().join("cases.csv");
    // 2^128 - 1, then 2^128.
    let below = "340282366920938463463374607431768211455";
    let least = "340282366920938463463374607431768211456";
    fs::write(
        &cases,
        format!(
            "case_id,subject,case_secret\n\
             W-1,110101199003071234,12345\n\
             W-2,110101199003071234,{SECRET}\n\
             W-3,510104198511120021,{below}\n\
             W-4,510104198511120021,{least}\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("proofs.jsonl");
    let output = with_bad_rows(prove(&registry, &keys, &cases, &out, &[]));
    assert_eq!(
        statuses(&out),
        [
            ("W-1", "invalid_input"),
            ("W-2", "proven"),
            ("W-3", "invalid_input"),
            ("W-4", "proven"),
        ]
        .map(|(c, s)| (c.to_string(), s.to_string()))
    );
    let all = lines(&out);
    for (line, secret) in [(&all[0], "12345"), (&all[2], below)] {
        let reason = line["reason"].as_str().unwrap();
        assert!(reason.starts_with("case_secret: below 2^128"), "{reason}");
        assert!(
            !reason.contains(secret),
            "the reason repeats the secret: {reason}"
        );
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("2 proven, "), "{stderr}");
    assert!(stderr.contains("2 invalid input"), "{stderr}");
}

#[test]
fn cases_across_several_path_batches_keep_their_order_and_their_paths() {
    // 600 cases: the path reads go in batches of 256, and the few cases
    // to prove sit on both sides of each boundary.
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    let provable = [0usize, 255, 256, 257, 511, 512, 599];
    let mut text = String::from("case_id,subject,case_secret\n");
    for i in 0..600 {
        // Two records, alternating, so that a path given to the wrong
        // case fails its proof.
        let subject = if let Some(k) = provable.iter().position(|&p| p == i) {
            ["110101199003071234", "510104198511120021"][k % 2].to_string()
        } else {
            format!("UNKNOWN-{i:04}")
        };
        text.push_str(&format!("B-{i:04},{subject},{SECRET}\n"));
    }
    let cases = tmp.path().join("many.csv");
    fs::write(&cases, text).unwrap();
    let out = tmp.path().join("many.jsonl");
    ok(prove(&registry, &keys, &cases, &out, &[]));
    let statuses = statuses(&out);
    assert_eq!(statuses.len(), 600);
    for (i, (case_id, status)) in statuses.iter().enumerate() {
        assert_eq!(case_id, &format!("B-{i:04}"), "input order");
        let expected = if provable.contains(&i) {
            "proven"
        } else {
            "subject_not_found"
        };
        assert_eq!(status, expected, "{case_id}");
    }
    // Each proof passed the prover's self-check, so its witness held the
    // record's own path to this root.
    let root = String::from_utf8(
        ok(zkgov()
            .args(["registry", "root"])
            .arg(&registry)
            .output()
            .unwrap())
        .stdout,
    )
    .unwrap();
    for line in lines(&out).iter().filter(|l| l["status"] == "proven") {
        assert_eq!(line["registry_root"], root.trim(), "{line}");
    }
}

#[test]
fn resume_refuses_another_runs_output_and_names_what_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    let cases = cases(tmp.path());
    let out = tmp.path().join("proofs.jsonl");
    // C-4 is a bad row: the first run exits 1, its other lines written.
    let first = prove(&registry, &keys, &cases, &out, &[]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let record: Value = serde_json::from_str(
        &fs::read_to_string(tmp.path().join("proofs.jsonl.run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["params"][0]["name"], "min_area");
    assert_eq!(record["params"][0]["value"], "400");
    assert_eq!(record["shard"], Value::Null);
    let full = fs::read_to_string(&out).unwrap();
    let cut: usize = full.split_inclusive('\n').take(2).map(str::len).sum();
    fs::write(&out, &full[..cut]).unwrap();
    let partial = fs::read_to_string(&out).unwrap();

    // Other params.
    let params = ["min_area=500", "usage=medical", "today=2026-11-23"];
    let refused = prove_with(&registry, &keys, &cases, &out, &params, &["--resume"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--param min_area is 500 now, but was 400"),
        "{}",
        stderr(&refused)
    );
    // Another cases file.
    let other_cases = tmp.path().join("other.csv");
    fs::write(
        &other_cases,
        format!("case_id,subject,case_secret\nD-1,110101199003071234,{SECRET}\n"),
    )
    .unwrap();
    let refused = prove(&registry, &keys, &other_cases, &out, &["--resume"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("the cases file's SHA-256 is"),
        "{}",
        stderr(&refused)
    );
    // Other keys for the same policy, and another shard.
    let other_keys = tmp.path().join("other-keys");
    ok(zkgov()
        .args([
            "keys", "setup", "--schema", SCHEMA, "--policy", POLICY, "--depth", "3", "--out",
        ])
        .arg(&other_keys)
        .output()
        .unwrap());
    let refused = prove(&registry, &other_keys, &cases, &out, &["--resume"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("the key id is"),
        "{}",
        stderr(&refused)
    );
    let refused = prove(
        &registry,
        &keys,
        &cases,
        &out,
        &["--resume", "--shard", "0/2"],
    );
    assert!(
        stderr(&refused).contains("--shard is 0/2 now, but was none"),
        "{}",
        stderr(&refused)
    );
    // Another registry: the same records, updated.
    ok(zkgov()
        .args(["registry", "update"])
        .arg(&registry)
        .args(["--revoke", "440305197701015678"])
        .output()
        .unwrap());
    let refused = prove(&registry, &keys, &cases, &out, &["--resume"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("the registry root is"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        partial,
        "nothing was appended"
    );

    // Without its run record, an output cannot be resumed at all.
    fs::remove_file(tmp.path().join("proofs.jsonl.run.json")).unwrap();
    let refused = prove(&registry, &keys, &cases, &out, &["--resume"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("is missing"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn resume_says_how_many_cases_it_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    let cases = cases(tmp.path());
    let out = tmp.path().join("proofs.jsonl");
    prove(&registry, &keys, &cases, &out, &[]);
    let full = fs::read_to_string(&out).unwrap();
    let cut: usize = full.split_inclusive('\n').take(2).map(str::len).sum();
    fs::write(&out, &full[..cut]).unwrap();
    let resumed = prove(&registry, &keys, &cases, &out, &["--resume"]);
    assert!(
        stderr(&resumed).contains("skipping 2 of 5 cases, already in it"),
        "{}",
        stderr(&resumed)
    );
    assert!(
        stderr(&resumed).contains("2 skipped (already in the output)"),
        "{}",
        stderr(&resumed)
    );
    assert_eq!(statuses(&out), statuses_of(&full));
}

#[test]
fn a_batch_of_only_invalid_input_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    let cases = tmp.path().join("bad.csv");
    fs::write(
        &cases,
        "case_id,subject,case_secret\nB-1,110101199003071234,-5\nB-2,510104198511120021,7\n",
    )
    .unwrap();
    let out = tmp.path().join("proofs.jsonl");
    let failed = prove(&registry, &keys, &cases, &out, &[]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("holds 2 invalid_input lines"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(
        statuses(&out)
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>(),
        ["invalid_input", "invalid_input"]
    );
    // Resuming a finished output still reports its bad lines.
    let again = prove(&registry, &keys, &cases, &out, &["--resume"]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
}

#[test]
fn the_summary_times_the_whole_command_and_names_its_rates() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, keys) = department(tmp.path());
    let cases = cases(tmp.path());
    let out = tmp.path().join("proofs.jsonl");
    let started = std::time::Instant::now();
    let run = prove(&registry, &keys, &cases, &out, &[]);
    let wall = started.elapsed().as_secs_f64();
    let text = stderr(&run);
    assert!(text.starts_with("opening the registry"), "{text}");
    let summary = text
        .lines()
        .find(|l| l.contains(" proven, "))
        .unwrap_or_else(|| panic!("no summary: {text}"));
    assert!(
        summary.contains("cases/s") && summary.contains("proofs/s"),
        "{summary}"
    );
    let seconds: f64 = summary
        .split(" in ")
        .nth(1)
        .and_then(|t| t.split(" s ").next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no time in {summary}"));
    // The process's start-up and exit are outside the timer, nothing else.
    assert!(
        seconds <= wall + 0.05,
        "{seconds} s reported, {wall:.2} s wall"
    );
    assert!(
        seconds >= wall * 0.5 - 0.1,
        "{seconds} s reported, {wall:.2} s wall"
    );
}
