//! The directory format of earlier versions, which `zkgov registry migrate`
//! reads: its commits are atomic and its damage is refused on open, so a
//! migration starts from a verified state.

use std::fs;
use std::path::{Path, PathBuf};

use zkgov_circuits::tree::TreeShape;
use zkgov_prover::registry::legacy::{build, DirectoryRegistry as Registry};
use zkgov_prover::registry::RegistryError;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/real-estate.toml")
}

fn build_reference(dir: &Path, arity: usize, depth: u32) -> Registry {
    build(
        &schema_path(),
        &data("real-estate.csv"),
        None,
        TreeShape::new(arity, depth).unwrap(),
        &dir.join("registry"),
    )
    .unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_interrupted_commit_leaves_the_previous_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let built = build_reference(tmp.path(), 4, 3);
    assert_eq!(entries(&dir), ["CURRENT", "lock", "state-1"]);

    // A writer that crashed while writing state 2, one that crashed after
    // renaming state 3 into place, and one that crashed before renaming
    // the new CURRENT.
    fs::create_dir(dir.join(".state-2.partial")).unwrap();
    fs::write(
        dir.join(".state-2.partial/records.jsonl"),
        "{\"fields\":{\"subj",
    )
    .unwrap();
    fs::create_dir(dir.join("state-3")).unwrap();
    fs::write(dir.join("state-3/records.jsonl"), "").unwrap();
    fs::write(dir.join(".CURRENT.partial"), "state-").unwrap();

    let mut registry = Registry::open(&dir).unwrap();
    assert_eq!(registry.root(), built.root());
    assert_eq!(registry.len(), 8);

    // The next commit goes past the debris and clears it.
    registry.revoke(0).unwrap();
    registry.commit().unwrap();
    assert_eq!(entries(&dir), ["CURRENT", "lock", "state-1", "state-4"]);
    assert_eq!(
        fs::read_to_string(dir.join("CURRENT")).unwrap(),
        "state-4\n"
    );
    assert_eq!(Registry::open(&dir).unwrap().root(), registry.root());

    // A build interrupted before its rename leaves no registry at all.
    fs::create_dir(tmp.path().join(".other.partial-1")).unwrap();
    let err = Registry::open(&tmp.path().join("other")).unwrap_err();
    assert!(matches!(err, RegistryError::NotARegistry { .. }), "{err:?}");
}

/// Edits a file of the current state (state 1) of a fresh reference registry
/// and returns the error that opening it gives.
fn open_after(edit: impl FnOnce(&Path)) -> RegistryError {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    build_reference(tmp.path(), 4, 3);
    edit(&dir);
    Registry::open(&dir).unwrap_err()
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn tampering_is_detected() {
    let records = |dir: &Path| dir.join("state-1/records.jsonl");
    let metadata = |dir: &Path| dir.join("state-1/metadata.json");

    // A value, a salt, a revoked flag: the recomputed root differs.
    let err =
        open_after(|d| replace_in(&records(d), "\"area_m2\":\"450\"", "\"area_m2\":\"4500\""));
    assert!(matches!(err, RegistryError::RootMismatch { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("the registry is damaged or was edited"),
        "{err}"
    );
    let err = open_after(|d| replace_in(&records(d), "\"salt\":\"2\"", "\"salt\":\"3\""));
    assert!(matches!(err, RegistryError::RootMismatch { .. }), "{err:?}");
    let err = open_after(|d| {
        replace_in(&records(d), "\"revoked\":false", "\"revoked\":true");
        replace_in(&metadata(d), "\"revoked\": 0", "\"revoked\": 1");
    });
    assert!(matches!(err, RegistryError::RootMismatch { .. }), "{err:?}");
    // Records swapped: the same leaves at other indices.
    let err = open_after(|d| {
        let text = fs::read_to_string(records(d)).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.swap(0, 1);
        fs::write(records(d), lines.join("\n") + "\n").unwrap();
    });
    assert!(matches!(err, RegistryError::RootMismatch { .. }), "{err:?}");
    // The stored root itself.
    let err = open_after(|d| {
        let text = fs::read_to_string(metadata(d)).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["root"] = "1".into();
        fs::write(metadata(d), value.to_string()).unwrap();
    });
    assert!(
        matches!(&err, RegistryError::RootMismatch { stored, .. } if stored == "1"),
        "{err:?}"
    );

    // A record removed, a line cut short, an invalid value, an unknown field.
    let err = open_after(|d| {
        let text = fs::read_to_string(records(d)).unwrap();
        let kept: Vec<&str> = text.lines().skip(1).collect();
        fs::write(records(d), kept.join("\n") + "\n").unwrap();
    });
    assert!(
        matches!(&err, RegistryError::Damaged { problem, .. } if problem.contains("7 records, but metadata.json records 8")),
        "{err:?}"
    );
    let err = open_after(|d| {
        let text = fs::read_to_string(records(d)).unwrap();
        fs::write(records(d), &text[..text.len() - 10]).unwrap();
    });
    assert!(
        matches!(err, RegistryError::Damaged { line: Some(8), .. }),
        "{err:?}"
    );
    let err = open_after(|d| {
        replace_in(
            &records(d),
            "\"usage\":\"medical\"",
            "\"usage\":\"hospital\"",
        )
    });
    assert!(
        matches!(err, RegistryError::Damaged { line: Some(2), .. }),
        "{err:?}"
    );
    let err = open_after(|d| {
        replace_in(
            &records(d),
            "\"revoked\":false",
            "\"revoked\":false,\"note\":1",
        )
    });
    assert!(
        matches!(err, RegistryError::Damaged { line: Some(1), .. }),
        "{err:?}"
    );

    // The schema changed under the records, the pointer or the version broken.
    let err = open_after(|d| {
        replace_in(
            &d.join("state-1/schema.toml"),
            "\"residential\", \"commercial\"",
            "\"commercial\", \"residential\"",
        )
    });
    assert!(
        matches!(&err, RegistryError::Damaged { problem, .. } if problem.contains("hash")),
        "{err:?}"
    );
    let err = open_after(|d| fs::write(d.join("CURRENT"), "state-01\n").unwrap());
    assert!(matches!(err, RegistryError::Damaged { .. }), "{err:?}");
    let err = open_after(|d| fs::write(d.join("CURRENT"), "state-2\n").unwrap());
    assert!(
        matches!(&err, RegistryError::Damaged { problem, .. } if problem.contains("missing")),
        "{err:?}"
    );
    let err = open_after(|d| fs::remove_file(d.join("CURRENT")).unwrap());
    assert!(matches!(err, RegistryError::NotARegistry { .. }), "{err:?}");
    let err = open_after(|d| {
        replace_in(
            &metadata(d),
            "\"format_version\": 1",
            "\"format_version\": 2",
        )
    });
    assert!(
        matches!(err, RegistryError::UnsupportedVersion { found: 2, .. }),
        "{err:?}"
    );
}
