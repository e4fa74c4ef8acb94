//! `zkgov registry …`, run as a user runs it.

use std::fs;
use std::path::Path;
use std::process::Output;

mod support;
use support::zkgov;

const SCHEMA: &str = "../schemas/real-estate.toml";
const RECORDS: &str = "../prover/tests/data/real-estate.csv";
const RECORDS_JSONL: &str = "../prover/tests/data/real-estate.jsonl";
const BAD_RECORDS: &str = "../prover/tests/data/real-estate-bad.csv";
const HEADER: &str = "subject,parcel,area_m2,usage,encumbered,issued,expires\n";

fn run(args: &[&str]) -> Output {
    zkgov().args(args).output().unwrap()
}

/// The root printed by a successful command.
fn root_of(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = String::from_utf8(output.stdout).unwrap();
    let root = out.strip_suffix('\n').expect("one line").to_string();
    assert!(
        !root.is_empty() && root.bytes().all(|b| b.is_ascii_digit()),
        "{out:?}"
    );
    root
}

/// Exit code 2, nothing on standard output; returns standard error.
fn malformed(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty());
    stderr
}

fn build(records: &str, depth: &str, out: &Path) -> Output {
    zkgov()
        .args([
            "registry",
            "build",
            "--schema",
            SCHEMA,
            "--records",
            records,
        ])
        .args(["--depth", depth, "--out"])
        .arg(out)
        .output()
        .unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn build_prints_the_root_that_root_and_circomlibjs_agree_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let output = build(RECORDS, "3", &dir);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let built = root_of(output);
    assert!(
        stderr.contains("8 records of schema \"real-estate\", arity 4, depth 3"),
        "{stderr}"
    );
    assert_eq!(root_of(run(&["registry", "root", path(&dir)])), built);

    // The same records as JSON Lines, and the golden root that the
    // circomlibjs test in zkgov-prover checks.
    let from_jsonl = root_of(build(RECORDS_JSONL, "3", &tmp.path().join("j")));
    assert_eq!(from_jsonl, built);
    let golden: serde_json::Value = serde_json::from_str(
        &fs::read_to_string("../prover/tests/data/real-estate.roots.json").unwrap(),
    )
    .unwrap();
    assert_eq!(golden["arity 4, depth 3"], built.as_str());

    // --format overrides the extension, which is otherwise required.
    let renamed = tmp.path().join("records.txt");
    fs::copy(RECORDS, &renamed).unwrap();
    let stderr = malformed(build(path(&renamed), "3", &tmp.path().join("t")));
    assert!(
        stderr.contains("cannot tell the records format"),
        "{stderr}"
    );
    let output = zkgov()
        .args([
            "registry",
            "build",
            "--schema",
            SCHEMA,
            "--records",
            path(&renamed),
        ])
        .args(["--format", "csv", "--arity", "4", "--depth", "3", "--out"])
        .arg(tmp.path().join("t"))
        .output()
        .unwrap();
    assert_eq!(root_of(output), built);
}

#[test]
fn build_lists_every_bad_row_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let stderr = malformed(build(BAD_RECORDS, "3", &dir));
    for expected in [
        "7 bad rows (rows counted from 1 after the header):",
        "row 2 (line 3), field \"area_m2\", value \"-5\": value \"-5\" is negative",
        "row 3 (line 4), field \"usage\", value \"Medical\": unknown variant",
        "row 3 (line 4), field \"encumbered\", value \"maybe\": ",
        "row 3 (line 4), field \"issued\", value \"2022-02-30\": ",
        "row 4 (line 5): 6 cells, but the header has 7 columns",
        "row 5 (line 6), field \"area_m2\", value \"0120\": value \"0120\" has a leading zero",
        "row 7 (line 9), field \"parcel\"",
        "nothing was written",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in\n{stderr}");
    }
    assert!(!dir.exists());
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn columns_capacity_and_shape_are_checked_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let file = tmp.path().join("cols.csv");
    fs::write(&file, "subject,parcel,area,usage,issued,expires,owner\n").unwrap();
    let stderr = malformed(build(path(&file), "3", &dir));
    assert!(
        stderr.contains("unknown columns \"area\", \"owner\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("missing columns \"area_m2\", \"encumbered\""),
        "{stderr}"
    );

    let stderr = malformed(build(RECORDS, "1", &dir));
    assert!(
        stderr.contains(
            "8 records do not fit in a registry tree of arity 4 and depth 1, which holds 4"
        ),
        "{stderr}"
    );

    let output = zkgov()
        .args([
            "registry",
            "build",
            "--schema",
            SCHEMA,
            "--records",
            RECORDS,
        ])
        .args(["--arity", "3", "--depth", "3", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(malformed(output).contains("arity 3"));
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);

    // An existing directory is never overwritten.
    let stderr = malformed(build(RECORDS, "3", tmp.path()));
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[test]
fn update_adds_modifies_and_revokes_and_prints_the_new_root() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let dir = path(&dir).to_string();
    let mut root = root_of(build(RECORDS, "3", Path::new(&dir)));
    let current = || root_of(run(&["registry", "root", &dir]));
    // Runs one update; its printed root is new and is what `root` prints.
    let step = |root: &mut String, args: &[&str]| {
        let mut all = vec!["registry", "update", dir.as_str()];
        all.extend_from_slice(args);
        let new = root_of(run(&all));
        assert_ne!(&new, root, "{args:?}");
        assert_eq!(new, current(), "{args:?}");
        *root = new;
    };

    let add = tmp.path().join("add.jsonl");
    fs::write(&add, concat!(
        r#"{"subject":"new-owner","parcel":"SZ-0100-0003","area_m2":70,"usage":"medical","encumbered":false,"issued":"2024-01-02","expires":"2074-01-01"}"#,
        "\n",
    ))
    .unwrap();
    step(&mut root, &["--add", path(&add)]);

    let modify = tmp.path().join("modify.csv");
    fs::write(
        &modify,
        format!("{HEADER}new-owner,SZ-0100-0003,75,medical,true,2024-01-02,2074-01-01\n"),
    )
    .unwrap();
    step(&mut root, &["--modify", path(&modify)]);

    // A subject with three parcels needs --index; then the parcel may change hands.
    fs::write(
        &modify,
        format!(
            "{HEADER}110101199003071234,BJ-0001-0002,450,medical,false,2019-07-15,2069-07-14\n"
        ),
    )
    .unwrap();
    let stderr = malformed(run(&[
        "registry",
        "update",
        &dir,
        "--modify",
        path(&modify),
    ]));
    assert!(
        stderr.contains("the subject owns 3 live records (indices 0, 1, 2)"),
        "{stderr}"
    );
    assert!(stderr.contains("the registry is unchanged"), "{stderr}");
    assert_eq!(current(), root);
    fs::write(
        &modify,
        format!("{HEADER}new-owner,BJ-0001-0002,450,medical,false,2019-07-15,2069-07-14\n"),
    )
    .unwrap();
    step(&mut root, &["--modify", path(&modify), "--index", "1"]);

    step(
        &mut root,
        &["--revoke", "440305197701015678", "330106196212240012"],
    );
    let stderr = malformed(run(&[
        "registry",
        "update",
        &dir,
        "--revoke",
        "new-owner",
        "nobody",
    ]));
    assert!(
        stderr.contains(
            "\"new-owner\": the subject owns 2 live records (indices 1, 8); revoke them by index"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"nobody\": no live record has this subject"),
        "{stderr}"
    );
    step(&mut root, &["--revoke-index", "1", "8"]);
    let stderr = malformed(run(&["registry", "update", &dir, "--revoke-index", "8"]));
    assert!(stderr.contains("record 8 is revoked"), "{stderr}");
    let stderr = malformed(run(&["registry", "update", &dir, "--revoke-index", "9"]));
    assert!(stderr.contains("record 9 does not exist"), "{stderr}");
    assert_eq!(current(), root);

    // Exactly one change per update.
    malformed(run(&["registry", "update", &dir]));
    malformed(run(&[
        "registry",
        "update",
        &dir,
        "--add",
        path(&add),
        "--revoke-index",
        "0",
    ]));
    malformed(run(&["registry", "update", &dir, "--index", "0"]));
}

#[test]
fn check_names_the_damage_and_exits_with_code_1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let root = root_of(build(RECORDS, "3", &dir));
    assert_eq!(root_of(run(&["registry", "check", path(&dir)])), root);
    rusqlite::Connection::open(dir.join("registry.db"))
        .unwrap()
        .execute(
            "UPDATE records SET raw = replace(raw, '\"120\"', '\"1200\"') WHERE idx = 0",
            [],
        )
        .unwrap();
    // Opening reads the root only; the check re-derives every leaf.
    assert_eq!(root_of(run(&["registry", "root", path(&dir)])), root);
    let output = run(&["registry", "check", path(&dir)]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("leaf 0: stored leaf"), "{stderr}");
    assert!(
        stderr.contains("the registry is damaged or was edited"),
        "{stderr}"
    );

    let stderr = malformed(run(&["registry", "root", path(tmp.path())]));
    assert!(
        stderr.contains("not a registry: it has no registry.db"),
        "{stderr}"
    );
}

#[test]
fn migrate_converts_a_directory_registry_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let shape = zkgov_circuits::tree::TreeShape::new(4, 3).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let old = zkgov_prover::registry::legacy::build(
        &manifest.join(SCHEMA),
        &manifest.join(RECORDS),
        None,
        shape,
        &dir,
    )
    .unwrap();
    let root = zkgov_circuits::field::to_decimal(&old.root());
    let stderr = malformed(run(&["registry", "root", path(&dir)]));
    assert!(stderr.contains("zkgov registry migrate"), "{stderr}");
    assert_eq!(root_of(run(&["registry", "migrate", path(&dir)])), root);
    assert_eq!(root_of(run(&["registry", "check", path(&dir)])), root);
    assert!(!dir.join("CURRENT").exists() && !dir.join("state-1").exists());
    // The migrated registry takes changes like a built one.
    let revoked = root_of(run(&[
        "registry",
        "update",
        path(&dir),
        "--revoke-index",
        "0",
    ]));
    assert_ne!(revoked, root);
    // Migrating again is refused, and changes nothing.
    malformed(run(&["registry", "migrate", path(&dir)]));
    assert_eq!(root_of(run(&["registry", "root", path(&dir)])), revoked);
}

#[test]
fn update_reports_a_count_and_the_indices_it_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let dir = path(&dir).to_string();
    root_of(build(RECORDS, "3", Path::new(&dir)));
    let stderr_of = |args: &[&str]| {
        let mut all = vec!["registry", "update", dir.as_str()];
        all.extend_from_slice(args);
        let output = run(&all);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        root_of(output);
        stderr
    };
    // The test records fill indices 0 to 7.
    let add = tmp.path().join("add.csv");
    fs::write(
        &add,
        format!(
            "{HEADER}a-1,P-1,70,medical,false,2024-01-02,2074-01-01\n\
             a-2,P-2,70,medical,false,2024-01-02,2074-01-01\n\
             a-3,P-3,70,medical,false,2024-01-02,2074-01-01\n"
        ),
    )
    .unwrap();
    let stderr = stderr_of(&["--add", path(&add)]);
    assert!(
        stderr.starts_with("added 3 records at indices 8 to 10;"),
        "{stderr}"
    );
    let stderr = stderr_of(&["--revoke", "a-1", "a-3"]);
    assert!(
        stderr.starts_with("revoked 2 records at indices 8, 10;"),
        "{stderr}"
    );
    let modify = tmp.path().join("modify.csv");
    fs::write(
        &modify,
        format!("{HEADER}a-2,P-2,75,medical,false,2024-01-02,2074-01-01\n"),
    )
    .unwrap();
    let stderr = stderr_of(&["--modify", path(&modify)]);
    assert!(
        stderr.starts_with("modified 1 record at index 9;"),
        "{stderr}"
    );
}

#[test]
fn json_prints_the_root_the_counts_and_the_indices_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let dir = path(&dir).to_string();
    let root = root_of(build(RECORDS, "3", Path::new(&dir)));
    let document = |args: &[&str]| -> serde_json::Value {
        let output = run(args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let shown = document(&["registry", "root", &dir, "--json"]);
    assert_eq!(shown["root"], root.as_str());
    assert_eq!(shown["records"], 8);
    assert_eq!(shown["revoked"], 0);
    assert!(shown["change"].is_null());

    let revoked = document(&[
        "registry",
        "update",
        &dir,
        "--revoke-index",
        "2",
        "5",
        "--json",
    ]);
    assert_ne!(revoked["root"], root.as_str());
    assert_eq!(revoked["revoked"], 2);
    assert_eq!(
        revoked["change"],
        serde_json::json!({"added": [], "modified": [], "revoked": [2, 5]})
    );
    // `check` agrees with the root the update printed.
    let checked = document(&["registry", "check", &dir, "--json"]);
    assert_eq!(checked["root"], revoked["root"]);
    assert_eq!(
        (checked["records"].as_u64(), checked["revoked"].as_u64()),
        (Some(8), Some(2))
    );
}

/// Copies the files of registry directory `from` into a new `to`.
fn copy_registry(from: &Path, to: &Path) {
    fs::create_dir(to).unwrap();
    for file in fs::read_dir(from).unwrap() {
        let file = file.unwrap();
        assert!(file.file_type().unwrap().is_file(), "{:?}", file.path());
        fs::copy(file.path(), to.join(file.file_name())).unwrap();
    }
}

#[test]
fn update_killed_mid_change_leaves_the_old_or_the_new_registry() {
    use rand::{Rng, SeedableRng};
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let old = root_of(build(RECORDS, "8", &base));
    let add = tmp.path().join("add.csv");
    // Salts given, so that every run of the change makes the same new root.
    let mut rows = format!("{},salt\n", HEADER.trim_end());
    for i in 0..20_000 {
        rows.push_str(&format!(
            "k-{i},P-{i},{},medical,false,2024-01-02,2074-01-01,{}\n",
            50 + i % 400,
            1_000_003 + i
        ));
    }
    fs::write(&add, rows).unwrap();
    let update = |dir: &Path| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("zkgov"));
        cmd.args(["registry", "update"])
            .arg(dir)
            .arg("--add")
            .arg(&add)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        cmd
    };
    // The new state: the same change run to its end, twice, so that the
    // kills are timed against a run with a warm page cache (the first is
    // slower, and kills timed against it alone came after the end).
    let mut runs = Vec::new();
    for attempt in 0..2 {
        let whole = tmp.path().join(format!("whole-{attempt}"));
        copy_registry(&base, &whole);
        let started = std::time::Instant::now();
        let root = root_of(update(&whole).output().unwrap());
        runs.push((started.elapsed(), root));
    }
    let new = runs[0].1.clone();
    assert_eq!(new, runs[1].1, "the same change made two roots");
    assert_ne!(old, new);
    let took = runs.iter().map(|(took, _)| *took).min().unwrap();

    let mut rng = rand::rngs::StdRng::seed_from_u64(20261204);
    let (mut killed, mut outcomes) = (0, [0, 0]);
    for round in 0..8 {
        let dir = tmp.path().join(format!("killed-{round}"));
        copy_registry(&base, &dir);
        let mut child = update(&dir).spawn().unwrap();
        std::thread::sleep(took.mul_f64(rng.gen_range(0.3..0.95)));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let root = root_of(run(&["registry", "root", path(&dir)]));
        assert!(
            root == old || root == new,
            "round {round}: the registry is neither the old nor the new state: {root}"
        );
        outcomes[usize::from(root == new)] += 1;
        let checked = run(&["registry", "check", path(&dir)]);
        assert!(
            checked.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    eprintln!(
        "an update of {:.2} s killed {killed} times mid-change: old state {}, new state {}",
        took.as_secs_f64(),
        outcomes[0],
        outcomes[1]
    );
    assert!(
        killed >= 4,
        "only {killed} of 8 kills came before the update ended"
    );
}
