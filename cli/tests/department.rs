//! `zkgov department keygen`, signing with `--key` or
//! `ZKGOV_DEPARTMENT_KEY`, and `zkgov governance show|endorse`, run as an
//! operator and departments run them: real processes against a real
//! `zkgov serve`.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

mod support;
use support::serve::Server;
use support::zkgov;
use zkgov_verifier::test_utils::{ConfigFile, Department, HEALTH, LAND};

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes a department key; its verifier key.
fn keygen(department: &str, out: &Path) -> String {
    let output = zkgov()
        .args(["department", "keygen", "--department", department, "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn write_config(dir: &Path, land_key: &str, health_key: &str) {
    ConfigFile::new("data")
        .setting("origin", "departments.test/log")
        .department(
            Department::new("land-registry", LAND)
                .registries(&["real-estate"])
                .key(land_key),
        )
        .department(Department::new("health", HEALTH).decides().key(health_key))
        .write(dir.join("verifier.toml"));
}

fn publish(server: &Server, root: &str, key: Option<&Path>) -> Output {
    let mut cmd = zkgov();
    cmd.args([
        "root",
        "publish",
        "--registry",
        "real-estate",
        "--root",
        root,
    ])
    .args(["--server", &server.url])
    .env("ZKGOV_TOKEN", LAND);
    if let Some(key) = key {
        cmd.env("ZKGOV_DEPARTMENT_KEY", key);
    }
    cmd.output().unwrap()
}

#[test]
fn keys_are_written_for_their_owner_only_and_sign_the_departments_roots() {
    let dir = tempfile::tempdir().unwrap();
    let land_key = dir.path().join("land.key");
    let land = keygen("land-registry", &land_key);
    assert!(land.starts_with("land-registry+"), "{land}");
    assert_eq!(
        fs::metadata(&land_key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = zkgov()
        .args([
            "department",
            "keygen",
            "--department",
            "land-registry",
            "--out",
        ])
        .arg(&land_key)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("never overwritten"),
        "{}",
        text(&again)
    );
    let health_key = dir.path().join("health.key");
    let health = keygen("health", &health_key);

    write_config(dir.path(), &land, &health);
    let server = Server::start(
        &dir.path().join("verifier.toml"),
        &dir.path().join("serve.log"),
    );
    let unsigned = publish(&server, "42", None);
    assert!(!unsigned.status.success());
    assert!(
        text(&unsigned).contains("must carry its signature"),
        "{}",
        text(&unsigned)
    );
    let signed = publish(&server, "42", Some(&land_key));
    assert!(signed.status.success(), "{}", text(&signed));
    // Another department's key is refused by the service's rules.
    let other = publish(&server, "43", Some(&health_key));
    assert!(text(&other).contains("signature"), "{}", text(&other));
    assert!(!other.status.success());
    // A key others can read is refused before anything is sent.
    fs::set_permissions(&land_key, fs::Permissions::from_mode(0o644)).unwrap();
    let exposed = publish(&server, "43", Some(&land_key));
    assert_eq!(exposed.status.code(), Some(2), "{}", text(&exposed));
    assert!(text(&exposed).contains("chmod 600"), "{}", text(&exposed));
    fs::set_permissions(&land_key, fs::Permissions::from_mode(0o600)).unwrap();
    server.stop();

    // The operator rotates land-registry's key in the config; the change
    // waits until land-registry endorses it with its current key.
    let rotated_key = dir.path().join("land-2.key");
    let rotated = keygen("land-registry", &rotated_key);
    write_config(dir.path(), &rotated, &health);
    let server = Server::start(
        &dir.path().join("verifier.toml"),
        &dir.path().join("serve.log"),
    );
    let shown = zkgov()
        .args(["governance", "show", "--server", &server.url])
        .env("ZKGOV_TOKEN", HEALTH)
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", text(&shown));
    let shown = text(&shown);
    assert!(
        shown.contains(&format!(
            "+ land-registry: registries [real-estate], key {rotated}"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("it needs: changing department `land-registry`"),
        "{shown}"
    );
    assert!(!publish(&server, "44", Some(&rotated_key)).status.success());
    // With --json, the service's answer: the governance in force and the
    // change waiting; after the endorsement, no change waits.
    let governance_json = || -> serde_json::Value {
        let shown = zkgov()
            .args(["governance", "show", "--json", "--server", &server.url])
            .env("ZKGOV_TOKEN", HEALTH)
            .output()
            .unwrap();
        assert!(shown.status.success(), "{}", text(&shown));
        serde_json::from_slice(&shown.stdout).unwrap()
    };
    let waiting = governance_json();
    assert!(
        waiting["governance"]["departments"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{waiting}"
    );
    assert!(waiting["proposal"]["entry"].is_object(), "{waiting}");

    let endorsed = zkgov()
        .args(["governance", "endorse", "--server", &server.url, "--key"])
        .arg(&land_key)
        .env("ZKGOV_TOKEN", LAND)
        .output()
        .unwrap();
    assert!(endorsed.status.success(), "{}", text(&endorsed));
    assert!(
        text(&endorsed).contains("endorsed by land-registry; the change is in the log at entry 2"),
        "{}",
        text(&endorsed)
    );
    assert!(governance_json()["proposal"].is_null());
    let signed = publish(&server, "44", Some(&rotated_key));
    assert!(signed.status.success(), "{}", text(&signed));
    assert!(!publish(&server, "45", Some(&land_key)).status.success());
    server.stop();
}
