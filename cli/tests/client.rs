//! `zkgov submit`, `root publish`, `case compare` and `log verify`, run as
//! departments and auditors run them: real processes against a real
//! `zkgov serve`, over a workload the CLI itself built.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zkgov_log::checkpoint::LogSigner;
// The log's origin (`zkgov.test/log`) has a `/` the state file's name must
// sanitise. The land registry owns `real-estate`; the health department owns
// no registry the key reads; the admin token registers keys.
use zkgov_verifier::test_utils::{ConfigFile, Department, ADMIN, HEALTH, LAND, ORIGIN};

mod support;
use support::serve::Server;
use support::{ok, stderr, stdout, zkgov};

const SCHEMA: &str = "../schemas/real-estate.toml";
const POLICY: &str = "../policies/medical-premises.toml";
const RECORDS: &str = "../prover/tests/data/real-estate.csv";

/// The registry's name in the service.
const REGISTRY: &str = "real-estate";

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A registry, keys at depth 3, and `zkgov prove` output for five cases:
/// C-1, C-2 and C-5 proven, C-3 not satisfied, C-4 subject not found.
/// Built once per test run; every test starts its own service on it.
struct Workload {
    _dir: tempfile::TempDir,
    registry: PathBuf,
    keys: PathBuf,
    key_id: String,
    root: String,
    proofs: PathBuf,
}

fn workload() -> &'static Workload {
    static WORKLOAD: OnceLock<Workload> = OnceLock::new();
    WORKLOAD.get_or_init(|| {
        // A static is never dropped, so each run leaves its workload behind
        // (under 1 MB); earlier runs' are removed once a day old.
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for old in fs::read_dir(tmp).into_iter().flatten().flatten() {
            let stale = old
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 24 * 3600));
            if stale
                && old
                    .file_name()
                    .to_string_lossy()
                    .starts_with("client-workload-")
            {
                let _ = fs::remove_dir_all(old.path());
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("client-workload-")
            .tempdir_in(tmp)
            .unwrap();
        let registry = dir.path().join("registry");
        let keys = dir.path().join("keys");
        let built = ok(zkgov()
            .args([
                "registry",
                "build",
                "--schema",
                SCHEMA,
                "--records",
                RECORDS,
            ])
            .args(["--depth", "3", "--out"])
            .arg(&registry)
            .output()
            .unwrap());
        let root = stdout(&built).trim().to_string();
        let key_id = setup_keys(&keys);
        let cases = dir.path().join("cases.csv");
        fs::write(
            &cases,
            "case_id,subject,case_secret\n\
             C-1,110101199003071234,17364605483691509955259406812973901988435554935154002607551147150191611203790\n\
             C-2,510104198511120021,19883554582286717875957031475140737443318057294099978209505151346674562353866\n\
             C-3,440305197701015678,16029307868107801808320238569847946817026616091075295710478512259877529834887\n\
             C-4,999999999999999999,15030128266371978255760571620486674338866390125681459108743713860464074707534\n\
             C-5,330106196212240012,21025934349040435887469184812029797392036543717134527266299410743150144678186\n",
        )
        .unwrap();
        let proofs = dir.path().join("proofs.jsonl");
        ok(zkgov()
            .arg("prove")
            .arg(&registry)
            .arg("--keys")
            .arg(&keys)
            .arg("--cases")
            .arg(&cases)
            .args(["--param", "min_area=400", "--param", "usage=medical"])
            .args(["--param", "today=2026-11-23", "--out"])
            .arg(&proofs)
            .output()
            .unwrap());
        let statuses: Vec<Value> = json_lines(&fs::read_to_string(&proofs).unwrap())
            .iter()
            .map(|l| l["status"].clone())
            .collect();
        assert_eq!(
            statuses,
            [
                "proven",
                "proven",
                "not_satisfied",
                "subject_not_found",
                "proven"
            ]
        );
        Workload {
            _dir: dir,
            registry,
            keys,
            key_id,
            root,
            proofs,
        }
    })
}

/// A key directory for the test policy at depth 3, at `out`; its key id.
fn setup_keys(out: &Path) -> String {
    ok(zkgov()
        .args(["keys", "setup", "--schema", SCHEMA, "--policy", POLICY])
        .args(["--depth", "3", "--out"])
        .arg(out)
        .output()
        .unwrap());
    let metadata: Value =
        serde_json::from_str(&fs::read_to_string(out.join("metadata.json")).unwrap()).unwrap();
    metadata["key_id"].as_str().unwrap().to_string()
}

/// A service's directory: its config, data directory (signing key and,
/// by default, SQLite database) and its log on standard error.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(workload: &Workload) -> Site {
        Site::on_database(workload, None)
    }

    /// A site whose service keeps its log and operational store in
    /// `database` (a URL), or in SQLite in its data directory.
    fn on_database(workload: &Workload, database: Option<&str>) -> Site {
        let database = database.map_or(String::new(), |url| format!("database = \"{url}\"\n"));
        let keys = format!(
            "\n[[key]]\ndir = \"{}\"\nregistry = \"{REGISTRY}\"\n",
            workload.keys.display()
        );
        Site::configured(&database, &keys)
    }

    /// One of several instances that serve the log of `log`'s key from the
    /// PostgreSQL database `url`, with `tables` (witnesses, say) in its
    /// config; it registers no key directory.
    fn instance(url: &str, log: &LogSigner, tables: &str) -> Site {
        let site = Site::configured(
            &format!("database = \"{url}\"\nshared_database = true\n"),
            tables,
        );
        zkgov_keys::files::write_atomically(
            &site.path("data/log-signing.key"),
            (log.private_key() + "\n").as_bytes(),
        )
        .unwrap();
        site
    }

    /// A site whose config has `top` among its first settings and `tables`
    /// after its departments.
    fn configured(top: &str, tables: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        ConfigFile::new("data")
            .raw(top)
            .setting("origin", ORIGIN)
            .admin(ADMIN)
            .department(Department::new("land-registry", LAND).registries(&[REGISTRY]))
            .department(
                Department::new("health", HEALTH)
                    .registries(&["licences"])
                    .decides(),
            )
            .table(tables)
            .write(dir.path().join("verifier.toml"));
        Site { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn database(&self) -> PathBuf {
        self.path("data/verifier.db")
    }

    /// Starts `zkgov serve` on this site's config, on a free port.
    fn start(&self) -> Server {
        Server::start(&self.path("verifier.toml"), &self.path("serve.log"))
    }

    /// Runs `zkgov serve`, which must refuse to start; its standard error.
    fn serve_refused(&self) -> String {
        let output = zkgov()
            .args(["serve", "--config"])
            .arg(self.path("verifier.toml"))
            .output()
            .unwrap();
        assert_ne!(output.status.code(), Some(0), "zkgov serve started");
        stderr(&output)
    }

    /// Removes the database, as if a new one replaced it.
    fn fresh_database(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", self.database().display()));
            if path.exists() {
                fs::remove_file(path).unwrap();
            }
        }
    }
}

impl Server {
    fn publish(&self, token: &str, source: &[&str]) -> Output {
        zkgov()
            .args([
                "root",
                "publish",
                "--registry",
                REGISTRY,
                "--server",
                &self.url,
            ])
            .args(["--token", token])
            .args(source)
            .output()
            .unwrap()
    }

    fn publish_registry(&self) -> Output {
        self.publish_registry_as(LAND)
    }

    fn publish_registry_as(&self, token: &str) -> Output {
        let registry = workload().registry.display().to_string();
        self.publish(token, &[&registry])
    }

    fn submit(&self, file: &Path, token: &str, extra: &[&str]) -> Output {
        zkgov()
            .arg("submit")
            .arg(file)
            .args(["--server", &self.url, "--token", token])
            .args(extra)
            .output()
            .unwrap()
    }

    fn decide(&self, token: &str, args: &[&str]) -> Output {
        zkgov()
            .args(["case", "decide", "--server", &self.url, "--token", token])
            .args(args)
            .output()
            .unwrap()
    }

    fn compare(&self, case: &str, keys: &[&str]) -> Output {
        let mut cmd = zkgov();
        cmd.args(["case", "compare", case, "--server", &self.url]);
        for key in keys {
            cmd.args(["--require", key]);
        }
        cmd.output().unwrap()
    }

    /// `zkgov log verify` against this server, with `state` as the state directory.
    fn verify(&self, state: &Path, extra: &[&str]) -> Output {
        verify_at(&self.url, state, extra)
    }
}

fn verify_at(url: &str, state: &Path, extra: &[&str]) -> Output {
    zkgov()
        .args(["log", "verify", "--server", url, "--state"])
        .arg(state)
        .args(extra)
        .output()
        .unwrap()
}

/// Checks that `zkgov log verify` failed loudly, with `message` first.
fn assert_audit_fails(output: &Output, message: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    assert!(stderr(output).starts_with(message), "{}", stderr(output));
}

/// The state file `log verify` keeps for the test log.
fn state_file(state: &Path) -> PathBuf {
    state.join("zkgov.test_log.json")
}

/// A well-formed verifier key named `name` that no log signs with: the
/// Ed25519 base point as the public key.
fn stranger_key(name: &str) -> String {
    let mut typed = vec![0x01];
    typed.push(0x58);
    typed.extend([0x66; 31]);
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update(&typed);
    let id = hex::encode(&hasher.finalize()[..4]);
    let b64 = base64_encode(&typed);
    format!("{name}+{id}+{b64}")
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn submit_anchors_proven_lines_and_compare_checks_the_case() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();

    let published = ok(server.publish_registry());
    let receipt: Value = serde_json::from_str(stdout(&published).trim()).unwrap();
    assert!(receipt["entry"].as_str().unwrap().contains(&workload.root));
    assert!(receipt["index"].as_u64().is_some());

    // Batches of two: three proven lines take two requests.
    let out = site.path("submitted.jsonl");
    let submitted = ok(server.submit(
        &workload.proofs,
        LAND,
        &["--batch", "2", "--out", out.to_str().unwrap()],
    ));
    assert!(stdout(&submitted).is_empty(), "--out takes the lines");
    let summary = stderr(&submitted);
    assert!(
        summary.contains("3 of 3 proofs submitted: 3 accepted, 0 existing, 0 rejected")
            && summary.contains("2 lines skipped (not_satisfied 1, subject_not_found 1)"),
        "{summary}"
    );
    let first = json_lines(&fs::read_to_string(&out).unwrap());
    let cases: Vec<&str> = first
        .iter()
        .map(|l| l["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(cases, ["C-1", "C-2", "C-5"]);
    for line in &first {
        assert_eq!(line["status"], "accepted", "{line}");
        assert!(line.get("error").is_none());
        assert!(line["receipt"]["entry"]
            .as_str()
            .unwrap()
            .contains(line["case_id"].as_str().unwrap()));
    }

    // The same statements again: the log already holds them.
    let again = ok(server.submit(&workload.proofs, LAND, &[]));
    let second = json_lines(&stdout(&again));
    assert_eq!(second.len(), 3);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(b["status"], "existing", "{b}");
        assert_eq!(a["receipt"]["index"], b["receipt"]["index"]);
    }
    assert!(stderr(&again).contains("0 accepted, 3 existing"));

    // A proven case is complete under its key.
    let compared = server.compare("C-1", &[&workload.key_id]);
    assert_eq!(compared.status.code(), Some(0), "{}", stderr(&compared));
    let comparison: Value = serde_json::from_str(stdout(&compared).trim()).unwrap();
    assert_eq!(comparison["complete"], true);
    assert_eq!(comparison["tags_match"], true);
    assert_eq!(comparison["case_id"], "C-1");
    assert_eq!(comparison["results"].as_array().unwrap().len(), 1);

    // A second key without a result leaves it incomplete, and says which.
    let other = "ab".repeat(32);
    let compared = server.compare("C-1", &[&workload.key_id, &other]);
    assert_eq!(compared.status.code(), Some(1));
    let comparison: Value = serde_json::from_str(stdout(&compared).trim()).unwrap();
    assert_eq!(comparison["complete"], false);
    assert_eq!(comparison["missing"], json!([other]));
    assert!(stderr(&compared).contains(&other), "{}", stderr(&compared));

    // A case that was not proven has no result.
    let compared = server.compare("C-3", &[&workload.key_id]);
    assert_eq!(compared.status.code(), Some(1));
    assert!(stderr(&compared).contains(&workload.key_id));

    // The deciding department records its decision, citing the result.
    let result = first[0]["receipt"]["index"].as_u64().unwrap().to_string();
    let decided = ok(server.decide(
        HEALTH,
        &["C-1", "--decision", "approved", "--result", &result],
    ));
    let receipt: Value = serde_json::from_str(stdout(&decided).trim()).unwrap();
    let entry: Value = serde_json::from_str(receipt["entry"].as_str().unwrap()).unwrap();
    assert_eq!(entry["type"], "decision", "{entry}");
    assert_eq!(entry["decision"], "approved");
    assert_eq!(entry["results"], json!([result.parse::<u64>().unwrap()]));
    // Not the land registry, which does not decide; not citing another
    // case's result; not an unknown decision.
    let refused = server.decide(LAND, &["C-1", "--decision", "approved"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("forbidden"),
        "{}",
        stderr(&refused)
    );
    let stray = server.decide(
        HEALTH,
        &["C-3", "--decision", "approved", "--result", &result],
    );
    assert_eq!(stray.status.code(), Some(1), "{}", stderr(&stray));
    assert!(stderr(&stray).contains("conflict"), "{}", stderr(&stray));
    let unknown = server.decide(HEALTH, &["C-1", "--decision", "maybe"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));

    // A root given in decimal anchors as well; a non-canonical one is refused.
    let published = ok(server.publish(LAND, &["--root", "12345"]));
    assert!(stdout(&published).contains("12345"));
    let bad = server.publish(LAND, &["--root", "+12345"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let bad = server.publish(LAND, &["/nonexistent/registry"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let bad = server.publish(LAND, &["--root", "12345", "/nonexistent/registry"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn the_spellings_of_earlier_versions_still_work_and_warn() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    let registry = workload.registry.display().to_string();
    // `root publish --registry DIR --name NAME`: the directory and the name.
    let old = ok(zkgov()
        .args([
            "root",
            "publish",
            "--registry",
            &registry,
            "--name",
            REGISTRY,
        ])
        .args(["--server", &server.url, "--token", LAND])
        .output()
        .unwrap());
    let receipt: Value = serde_json::from_str(&stdout(&old)).unwrap();
    assert_eq!(receipt["index"], 2);
    assert!(
        stderr(&old)
            .contains("warning: `zkgov root publish --registry DIR --name NAME` is deprecated")
            && stderr(&old).contains("zkgov root publish DIR --registry NAME"),
        "{}",
        stderr(&old)
    );
    // The current spelling does not warn.
    let current = ok(server.publish_registry());
    assert!(
        !stderr(&current).contains("deprecated"),
        "{}",
        stderr(&current)
    );
    // `prove --registry DIR`.
    let out = site.path("old.jsonl");
    let old = ok(zkgov()
        .args(["prove", "--registry", &registry, "--keys"])
        .arg(&workload.keys)
        .arg("--cases")
        .arg(workload.registry.with_file_name("cases.csv"))
        .args(["--param", "min_area=400", "--param", "usage=medical"])
        .args(["--param", "today=2026-11-23", "--out"])
        .arg(&out)
        .output()
        .unwrap());
    assert!(
        stderr(&old).contains("warning: `zkgov prove --registry DIR` is deprecated"),
        "{}",
        stderr(&old)
    );
    assert_eq!(fs::read_to_string(&out).unwrap().lines().count(), 5);
    // The old spelling and the new one together are refused.
    let both = zkgov()
        .args(["prove", &registry, "--registry", &registry])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn keys_register_needs_the_admin_token_and_registers_once() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    // A second key for the same policy, from another setup.
    let keys = site.path("second-keys");
    let key_id = setup_keys(&keys);
    let register = |token: Option<&str>| {
        let mut cmd = zkgov();
        cmd.args(["keys", "register"])
            .arg(&keys)
            .args(["--registry", REGISTRY, "--server", &server.url])
            .env_remove("ZKGOV_TOKEN");
        if let Some(token) = token {
            cmd.args(["--token", token]);
        }
        cmd.output().unwrap()
    };

    let missing = register(None);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    // A client is told where a token comes from, not how a service makes one.
    assert!(
        stderr(&missing).contains("no token")
            && stderr(&missing).contains("ask the service operator for a token")
            && !stderr(&missing).contains("token new"),
        "{}",
        stderr(&missing)
    );
    let department = register(Some(LAND));
    assert_eq!(department.status.code(), Some(1), "{}", stderr(&department));
    assert!(
        stderr(&department).contains("forbidden"),
        "{}",
        stderr(&department)
    );

    let registered = ok(register(Some(ADMIN)));
    let receipt: Value = serde_json::from_str(stdout(&registered).trim()).unwrap();
    let entry: Value = serde_json::from_str(receipt["entry"].as_str().unwrap()).unwrap();
    assert_eq!(entry["type"], "key");
    assert_eq!(entry["key_id"], key_id.as_str());
    assert_eq!(entry["registry"], REGISTRY);
    assert_ne!(entry["key_id"].as_str().unwrap(), workload.key_id);
    // Again: the log already holds it.
    let again: Value = serde_json::from_str(stdout(&ok(register(Some(ADMIN)))).trim()).unwrap();
    assert_eq!(again["index"], receipt["index"]);

    // For another registry: the service keeps the first, and says so.
    let elsewhere = zkgov()
        .args(["keys", "register"])
        .arg(&keys)
        .args(["--registry", "licences", "--server", &server.url])
        .args(["--token", ADMIN])
        .output()
        .unwrap();
    assert_eq!(elsewhere.status.code(), Some(1), "{}", stderr(&elsewhere));
    assert!(
        stderr(&elsewhere).contains(&format!("is already registered for registry {REGISTRY}"))
            && stderr(&elsewhere).contains("it was not registered for licences"),
        "{}",
        stderr(&elsewhere)
    );
    assert!(stdout(&elsewhere).is_empty(), "no receipt is printed");
}

#[test]
fn root_publish_refuses_a_registry_of_another_schema_under_the_name() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    let schema = site.path("fire.toml");
    fs::write(
        &schema,
        "name = \"fire-certificates\"\nsubject = \"subject\"\n\n\
         [[field]]\nname = \"subject\"\ntype = \"id\"\n\n\
         [[field]]\nname = \"grade\"\ntype = \"uint8\"\n",
    )
    .unwrap();
    let records = site.path("fire.csv");
    fs::write(&records, "subject,grade\nF-1,4\nF-2,5\n").unwrap();
    let fire = site.path("fire-registry");
    ok(zkgov()
        .args(["registry", "build", "--schema"])
        .arg(&schema)
        .arg("--records")
        .arg(&records)
        .args(["--depth", "2", "--out"])
        .arg(&fire)
        .output()
        .unwrap());
    let refused = server.publish(LAND, &[fire.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("has schema \"fire-certificates\"")
            && stderr(&refused).contains(&format!("the service's registry {REGISTRY}"))
            && stderr(&refused).contains("\"real-estate\""),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("Nothing was anchored"));
    // The registry the name belongs to is anchored as before.
    ok(server.publish_registry());
}

#[test]
fn log_key_prints_the_key_serve_printed_and_server_comes_from_zkgov_server() {
    let site = Site::new(workload());
    let server = site.start();
    let printed = ok(zkgov()
        .args(["log", "key"])
        .env("ZKGOV_SERVER", &server.url)
        .output()
        .unwrap());
    assert_eq!(stdout(&printed), format!("{}\n", server.log_key));
    let json = ok(zkgov()
        .args(["log", "key", "--json", "--server", &server.url])
        .env("ZKGOV_SERVER", "http://127.0.0.1:1")
        .output()
        .unwrap());
    let body: Value = serde_json::from_str(stdout(&json).trim()).unwrap();
    assert_eq!(
        body,
        json!({"origin": ORIGIN, "verifier_key": server.log_key})
    );
    // The key it prints is the one `log verify` then trusts.
    let state = site.path("state");
    ok(zkgov()
        .args(["log", "verify", "--state"])
        .arg(&state)
        .args(["--log-key", stdout(&printed).trim()])
        .env("ZKGOV_SERVER", &server.url)
        .output()
        .unwrap());
}

#[test]
fn the_service_log_written_to_a_file_has_no_colour_codes() {
    let site = Site::new(workload());
    let server = site.start();
    server.stop();
    let log = fs::read_to_string(site.path("serve.log")).unwrap();
    assert!(log.contains("recording the configured governance"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log file: {log:?}"
    );
}

/// What is in `dir`, recursively, as sorted relative paths.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = path.strip_prefix(dir).unwrap().display().to_string();
        if path.is_dir() {
            found.extend(tree(&path).into_iter().map(|p| format!("{name}/{p}")));
        }
        found.push(name);
    }
    found.sort();
    found
}

#[test]
fn a_failed_start_leaves_no_signing_key_and_no_database() {
    let workload = workload();
    // The port is in use.
    let site = Site::new(workload);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = fs::read_to_string(site.path("verifier.toml"))
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    fs::write(site.path("verifier.toml"), config).unwrap();
    let before = tree(site.dir.path());
    let message = site.serve_refused();
    assert!(
        message.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{message}"
    );
    assert_eq!(tree(site.dir.path()), before, "{message}");
    assert!(!site.path("data").exists());

    // A key directory that does not exist.
    let site = Site::new(workload);
    let config = fs::read_to_string(site.path("verifier.toml"))
        .unwrap()
        .replace(&workload.keys.display().to_string(), "no-such-keys");
    fs::write(site.path("verifier.toml"), config).unwrap();
    let before = tree(site.dir.path());
    let message = site.serve_refused();
    assert!(message.contains("no-such-keys"), "{message}");
    assert_eq!(message.matches("os error 2").count(), 1, "{message}");
    assert_eq!(tree(site.dir.path()), before, "{message}");

    // A data directory that exists keeps what it held, and gains nothing.
    fs::create_dir(site.path("data")).unwrap();
    fs::write(site.path("data/notes.txt"), "the operator's").unwrap();
    site.serve_refused();
    assert_eq!(tree(&site.path("data")), ["notes.txt"]);

    // A database that cannot be created fails inside the start, after the
    // data directory and the signing key would have been made.
    let site = Site::new(workload);
    let config = fs::read_to_string(site.path("verifier.toml"))
        .unwrap()
        .replace(
            "data_dir = \"data\"\n",
            "data_dir = \"data\"\ndatabase = \"sqlite:///proc/zkgov-none/verifier.db\"\n",
        );
    fs::write(site.path("verifier.toml"), config).unwrap();
    let before = tree(site.dir.path());
    let message = site.serve_refused();
    assert!(message.contains("/proc/zkgov-none"), "{message}");
    assert_eq!(tree(site.dir.path()), before, "{message}");
    drop(taken);
}

#[test]
fn serve_stops_cleanly_on_sigterm_right_after_it_is_ready() {
    let site = Site::new(workload());
    for _ in 0..3 {
        // `stop` sends SIGTERM and checks that the process exits with 0.
        site.start().stop();
    }
    let log = fs::read_to_string(site.path("serve.log")).unwrap();
    assert_eq!(log.matches("shutting down").count(), 3, "{log}");
    assert_eq!(log.matches("zkgov verifier stopped").count(), 3, "{log}");
}

#[test]
fn submit_refuses_a_malformed_file_before_sending_anything() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    ok(server.publish_registry());

    // A good proven line first, then a line that is not JSON.
    let proofs = fs::read_to_string(&workload.proofs).unwrap();
    let bad = site.path("bad.jsonl");
    fs::write(
        &bad,
        format!(
            "{}\n\n{{\"status\": \"proven\", \n",
            proofs.lines().next().unwrap()
        ),
    )
    .unwrap();
    let refused = server.submit(&bad, LAND, &[]);
    assert_eq!(refused.status.code(), Some(2));
    let message = stderr(&refused);
    assert!(
        message.contains(&format!("{}:3:", bad.display())) && message.contains("not JSON"),
        "{message}"
    );
    assert!(stdout(&refused).is_empty());

    // JSON that is not prove output is refused too.
    fs::write(&bad, "{\"case_id\": \"C-1\"}\n").unwrap();
    let refused = server.submit(&bad, LAND, &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains(":1:"), "{}", stderr(&refused));

    // Nothing reached the service: every proof is new now.
    let submitted = ok(server.submit(&workload.proofs, LAND, &[]));
    assert!(json_lines(&stdout(&submitted))
        .iter()
        .all(|l| l["status"] == "accepted"));
}

#[test]
fn submit_reports_rejected_proofs_and_refused_tokens() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();

    // The root is not anchored yet: every proof is rejected, with its reason.
    let rejected = server.submit(&workload.proofs, LAND, &[]);
    assert_eq!(rejected.status.code(), Some(1), "{}", stderr(&rejected));
    let lines = json_lines(&stdout(&rejected));
    assert_eq!(lines.len(), 3);
    for line in &lines {
        assert_eq!(line["status"], "rejected");
        assert_eq!(line["error"]["reason"], "root_not_anchored", "{line}");
        assert!(line.get("receipt").is_none());
    }
    let summary = stderr(&rejected);
    assert!(
        summary.contains("3 rejected (root_not_anchored 3)") && summary.contains("2 lines skipped"),
        "{summary}"
    );

    // A token the service does not know stops the run, with the reason.
    let refused = server.submit(&workload.proofs, "not-a-token", &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("invalid_token"),
        "{}",
        stderr(&refused)
    );
    assert!(stdout(&refused).is_empty());

    // Another department may not anchor the land registry's roots.
    let forbidden = server.publish_registry_as(HEALTH);
    assert_eq!(forbidden.status.code(), Some(1));
    assert!(
        stderr(&forbidden).contains("forbidden"),
        "{}",
        stderr(&forbidden)
    );

    // No token at all is an input error.
    let missing = zkgov()
        .arg("submit")
        .arg(&workload.proofs)
        .args(["--server", &server.url])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("ZKGOV_TOKEN"));

    // The token may come from the environment instead.
    ok(server.publish_registry());
    let submitted = ok(zkgov()
        .arg("submit")
        .arg(&workload.proofs)
        .args(["--server", &server.url])
        .env("ZKGOV_TOKEN", LAND)
        .output()
        .unwrap());
    assert!(stderr(&submitted).contains("3 accepted"));
}

#[test]
fn log_verify_trusts_the_first_key_and_checks_every_later_checkpoint() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    let state = site.path("state");

    // The first run needs the key.
    let first = server.verify(&state, &[]);
    assert_eq!(first.status.code(), Some(2));
    assert!(stderr(&first).contains("--log-key"), "{}", stderr(&first));
    assert!(!state_file(&state).exists());

    let published = ok(server.publish_registry());
    let root_receipt = site.path("root-receipt.json");
    fs::write(&root_receipt, stdout(&published)).unwrap();

    // The service registered its key at start-up and anchored one root.
    let first = ok(server.verify(&state, &["--log-key", &server.log_key]));
    assert!(
        stdout(&first).starts_with("log OK: 3 entries, checkpoint verified, first run"),
        "{}",
        stdout(&first)
    );
    let stored: Value =
        serde_json::from_str(&fs::read_to_string(state_file(&state)).unwrap()).unwrap();
    assert_eq!(stored["origin"], ORIGIN);
    assert_eq!(stored["log_key"], server.log_key.as_str());
    assert!(stored["checkpoint"]
        .as_str()
        .unwrap()
        .starts_with("zkgov.test/log\n3\n"));
    let stored_on = stored["verified_at"].as_str().unwrap().to_string();

    // More entries; the stored key is used, the log must extend the stored checkpoint.
    let submitted = site.path("submitted.jsonl");
    ok(server.submit(
        &workload.proofs,
        LAND,
        &["--out", submitted.to_str().unwrap()],
    ));
    let second = ok(server.verify(
        &state,
        &[
            "--receipt",
            submitted.to_str().unwrap(),
            root_receipt.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        stdout(&second).trim(),
        format!(
            "log OK: 6 entries, checkpoint verified, consistent with the checkpoint of size 3 \
             stored on {stored_on}, 4 receipts included"
        )
    );
    let stored = fs::read_to_string(state_file(&state)).unwrap();
    assert!(stored.contains("zkgov.test/log\\n6\\n"), "{stored}");

    // The same key given again is fine. With --json, the verdict as a document.
    let again = ok(server.verify(&state, &["--log-key", &server.log_key, "--json"]));
    let verdict: Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(
        verdict,
        json!({
            "verified": true,
            "origin": ORIGIN,
            "size": 6,
            "previous": {"size": 6, "verified_at": verdict["previous"]["verified_at"]},
            "receipts": 0,
            "log_key": server.log_key,
            "replay": null,
        })
    );
    assert!(verdict["previous"]["verified_at"].is_string());

    // Another key for the same log is refused loudly, and changes nothing.
    let before = fs::read(state_file(&state)).unwrap();
    let wrong = server.verify(&state, &["--log-key", &stranger_key(ORIGIN)]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).starts_with("REFUSED:"), "{}", stderr(&wrong));
    assert_eq!(fs::read(state_file(&state)).unwrap(), before);

    // A wrong key on a first run fails the signature and stores nothing.
    let fresh = site.path("fresh-state");
    let wrong = server.verify(&fresh, &["--log-key", &stranger_key(ORIGIN)]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).starts_with("LOG VERIFICATION FAILED: the checkpoint is not signed"),
        "{}",
        stderr(&wrong)
    );
    assert!(!state_file(&fresh).exists());

    // A malformed receipt file is an input error.
    let junk = site.path("junk.json");
    fs::write(&junk, "{\"index\": 1}\n").unwrap();
    let bad = server.verify(&state, &["--receipt", junk.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert_eq!(fs::read(state_file(&state)).unwrap(), before);
}

#[test]
fn an_entry_edited_behind_the_services_back_stops_the_service() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    let state = site.path("state");
    ok(server.publish_registry());
    ok(server.submit(&workload.proofs, LAND, &[]));
    ok(server.verify(&state, &["--log-key", &server.log_key]));
    let trusted = fs::read(state_file(&state)).unwrap();
    server.stop();

    // Change one result's case number in the database, leaving the tree alone.
    support::tamper::edit_entry(&site.database(), &["\"C-2\""], "\"C-2\"", "\"C-9\"");

    // The service itself refuses to serve it: its entries no longer hash to
    // the checkpoint it signed.
    let refused = site.serve_refused();
    assert!(
        refused.contains("the database's first 6 entries hash to")
            && refused.contains("the database was changed or replaced"),
        "{refused}"
    );
    // Without that checkpoint, the entry is replayed with its proof, and
    // breaks the rules.
    fs::remove_file(site.path("data/log-checkpoint")).unwrap();
    let refused = site.serve_refused();
    assert!(refused.contains("breaks the rules"), "{refused}");
    assert_eq!(fs::read(state_file(&state)).unwrap(), trusted);
}

#[test]
fn a_rewritten_log_fails_against_the_stored_checkpoint() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    let state = site.path("state");
    ok(server.publish_registry());
    let submitted = site.path("submitted.jsonl");
    ok(server.submit(
        &workload.proofs,
        LAND,
        &["--out", submitted.to_str().unwrap()],
    ));
    let first = ok(server.verify(&state, &["--log-key", &server.log_key]));
    assert!(stdout(&first).starts_with("log OK: 6 entries"));
    let trusted = fs::read(state_file(&state)).unwrap();
    let log_key = server.log_key.clone();
    server.stop();

    // A fresh database, the same signing key: the service will not sign a
    // log that does not extend its last checkpoint...
    site.fresh_database();
    let refused = site.serve_refused();
    assert!(
        refused.contains("holds 0 log entries, but this service has signed a checkpoint of 6"),
        "{refused}"
    );
    // ...unless an insider also removes that checkpoint. Auditors still see it.
    fs::remove_file(site.path("data/log-checkpoint")).unwrap();
    let server = site.start();
    ok(server.publish(LAND, &["--root", "12345"]));

    // A log of 3 entries that once signed 6.
    let failed = server.verify(&state, &[]);
    assert_audit_fails(
        &failed,
        "LOG VERIFICATION FAILED: the log was rewritten: it has 3 entries, but it signed a \
             checkpoint of 6 before",
    );
    assert_eq!(fs::read(state_file(&state)).unwrap(), trusted);

    // Grown past the old size, it is still not an extension of it.
    ok(server.publish_registry());
    ok(server.submit(&workload.proofs, LAND, &[]));
    let failed = server.verify(&state, &[]);
    assert_audit_fails(
        &failed,
        "LOG VERIFICATION FAILED: the log was rewritten: checkpoint 7 is not consistent with \
             the trusted checkpoint 6",
    );
    assert_eq!(fs::read(state_file(&state)).unwrap(), trusted);

    // An auditor with no stored checkpoint, but with receipts signed by the
    // old log, finds the rewrite too: their checkpoint is no prefix of it.
    let fresh = site.path("fresh-state");
    let failed = server.verify(
        &fresh,
        &[
            "--log-key",
            &log_key,
            "--receipt",
            submitted.to_str().unwrap(),
        ],
    );
    assert_audit_fails(
        &failed,
        "LOG VERIFICATION FAILED: the log was rewritten: checkpoint 7 is not consistent with \
             the trusted checkpoint 6",
    );
    assert!(!state_file(&fresh).exists());
}

#[test]
fn receipts_that_do_not_check_out_fail_the_audit() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    let state = site.path("state");
    let published = ok(server.publish_registry());
    let receipt: Value = serde_json::from_str(&stdout(&published)).unwrap();
    let log_key = server.log_key.clone();
    ok(server.verify(&state, &["--log-key", &log_key]));
    let trusted = fs::read(state_file(&state)).unwrap();

    // Another log, with its own signing key and the same name.
    let elsewhere = Site::new(workload);
    let other = elsewhere.start();
    let foreign: Value = serde_json::from_str(&stdout(&ok(other.publish_registry()))).unwrap();

    let mut moved = receipt.clone();
    moved["index"] = json!(0);
    let mut edited = receipt.clone();
    let text = edited["entry"]
        .as_str()
        .unwrap()
        .replace("real-estate", "real-estatf");
    edited["entry"] = json!(text);
    let cases = [
        ("foreign", foreign, "receipt for entry 2: "),
        ("moved", moved, "receipt for entry 0: "),
        ("edited", edited, "receipt for entry 2: "),
    ];
    for (name, bad, expected) in cases {
        let file = site.path(&format!("{name}.json"));
        fs::write(&file, bad.to_string()).unwrap();
        let failed = server.verify(&state, &["--receipt", file.to_str().unwrap()]);
        assert_eq!(failed.status.code(), Some(1), "{name}: {}", stderr(&failed));
        let message = stderr(&failed);
        assert!(
            message.starts_with(&format!("LOG VERIFICATION FAILED: {expected}")),
            "{name}: {message}"
        );
        assert!(!stdout(&failed).contains("log OK"), "{name}");
        assert_eq!(fs::read(state_file(&state)).unwrap(), trusted, "{name}");
        // With --json, the same verdict on standard output.
        let failed = server.verify(&state, &["--receipt", file.to_str().unwrap(), "--json"]);
        assert_eq!(failed.status.code(), Some(1), "{name}");
        let verdict: Value = serde_json::from_str(&stdout(&failed)).unwrap();
        assert_eq!(verdict["verified"], false, "{name}");
        assert_eq!(verdict["origin"], ORIGIN, "{name}");
        assert!(
            verdict["reason"].as_str().unwrap().starts_with(expected),
            "{name}: {verdict}"
        );
    }
    // The genuine receipt passes.
    let genuine = site.path("genuine.json");
    fs::write(&genuine, receipt.to_string()).unwrap();
    ok(server.verify(&state, &["--receipt", genuine.to_str().unwrap()]));
}

#[test]
fn an_unreachable_service_is_a_failure_but_not_a_verdict() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let state = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let failed = verify_at(&url, state.path(), &["--log-key", &stranger_key(ORIGIN)]);
    assert_eq!(failed.status.code(), Some(3), "{}", stderr(&failed));
    let message = stderr(&failed);
    assert!(
        message.contains(&format!("cannot reach the service at {url}"))
            && message.contains("connection refused")
            && !message.contains("error sending request")
            && !message.contains("LOG VERIFICATION FAILED"),
        "{message}"
    );
    // Every client command says the same, with the same exit code.
    let failed = zkgov()
        .args(["case", "compare", "C-1", "--require", "k", "--server", &url])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(3), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("connection refused"),
        "{}",
        stderr(&failed)
    );
    assert!(!state_file(state.path()).exists());

    // Without a key and without state, nothing is asked at all.
    let failed = verify_at(&url, state.path(), &[]);
    assert_eq!(failed.status.code(), Some(2), "{}", stderr(&failed));
    assert!(stderr(&failed).contains("--log-key"));

    let failed = zkgov()
        .args(["log", "verify", "--server", "localhost:1"])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(2));
}

#[test]
fn log_verify_full_replays_every_entry_then_only_the_new_ones() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    let state = site.path("state");
    ok(server.publish_registry());
    ok(server.submit(&workload.proofs, LAND, &[]));

    // Governance, key, root and three results: all replayed, proofs verified.
    let first = ok(server.verify(&state, &["--log-key", &server.log_key, "--full"]));
    assert!(
        stdout(&first).starts_with(
            "log OK: 6 entries, checkpoint verified, every entry replayed through the rules \
             (6 new this run, from entry 0; 3 results"
        ),
        "{}",
        stdout(&first)
    );
    assert!(state.join("zkgov.test_log.replay.json").exists());

    // One more entry: only it is fetched and replayed.
    ok(server.publish(LAND, &["--root", "12345"]));
    let second = ok(server.verify(&state, &["--full"]));
    assert!(
        stdout(&second).contains("(1 new this run, from entry 6; 3 results"),
        "{}",
        stdout(&second)
    );
    // With --json, what the replay covered, as counts.
    let third = ok(server.verify(&state, &["--full", "--json"]));
    let verdict: Value = serde_json::from_str(&stdout(&third)).unwrap();
    assert_eq!(
        (verdict["verified"].as_bool(), verdict["size"].as_u64()),
        (Some(true), Some(7))
    );
    assert_eq!(verdict["replay"]["new"], 0);
    assert_eq!(verdict["replay"]["from"], 7);
    assert_eq!(verdict["replay"]["counts"]["results"], 3);
    assert_eq!(verdict["replay"]["counts"]["roots"], 2);

    // A rewritten log (a new database, the old checkpoint removed by an
    // insider) fails the full audit too, which keeps its state.
    server.stop();
    site.fresh_database();
    fs::remove_file(site.path("data/log-checkpoint")).unwrap();
    let server = site.start();
    let before = fs::read(state_file(&state)).unwrap();
    let output = server.verify(&state, &["--full"]);
    assert_audit_fails(&output, "LOG VERIFICATION FAILED: the log was rewritten");
    assert_eq!(fs::read(state_file(&state)).unwrap(), before);
}

#[test]
fn compare_verify_checks_the_entries_and_the_expected_params() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    let state = site.path("state");
    ok(server.publish_registry());
    ok(server.submit(&workload.proofs, LAND, &[]));
    let compare = |extra: &[&str]| {
        zkgov()
            .args(["case", "compare", "C-1", "--server", &server.url])
            .args(["--require", &workload.key_id, "--verify", "--state"])
            .arg(&state)
            .args(["--log-key", &server.log_key])
            .args(extra)
            .output()
            .unwrap()
    };
    let held = compare(&["--expect", "today=2026-11-23", "--expect", "usage=medical"]);
    assert_eq!(held.status.code(), Some(0), "{}", stderr(&held));
    assert!(stderr(&held).contains("checked against the log's checkpoint of 6 entries"));
    let comparison: Value = serde_json::from_str(stdout(&held).trim()).unwrap();
    assert_eq!(comparison["results"][0]["params"]["today"], "2026-11-23");
    assert_eq!(comparison["results"][0]["params"]["min_area"], "400");
    assert_eq!(comparison["cited"].as_array().unwrap().len(), 1);

    // Another required value: the result does not count, and says why.
    let differs = compare(&["--expect", "min_area=500"]);
    assert_eq!(differs.status.code(), Some(1), "{}", stderr(&differs));
    assert!(
        stderr(&differs).contains("does not count: min_area is 400, not 500"),
        "{}",
        stderr(&differs)
    );
    // The service's own compare gives the same answer.
    let plain = zkgov()
        .args(["case", "compare", "C-1", "--server", &server.url])
        .args(["--require", &workload.key_id, "--expect", "min_area=500"])
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(1));
    assert_eq!(stdout(&plain), stdout(&differs));
    // A param no policy has is a mistake in the request.
    let typo = compare(&["--expect", "min_aera=400"]);
    assert_eq!(typo.status.code(), Some(2), "{}", stderr(&typo));
}

#[test]
fn log_restore_brings_back_a_database_restored_from_an_old_backup() {
    let workload = workload();
    let site = Site::new(workload);
    let server = site.start();
    ok(server.publish_registry());
    server.stop();
    let backup = site.path("backup.db");
    fs::copy(site.database(), &backup).unwrap();

    let server = site.start();
    ok(server.submit(&workload.proofs, LAND, &[]));
    let export = site.path("export.jsonl");
    ok(zkgov()
        .args(["log", "export", "--server", &server.url, "--out"])
        .arg(&export)
        .output()
        .unwrap());
    server.stop();

    // The old backup comes back: the service refuses to start on it.
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", site.database().display()));
    }
    fs::copy(&backup, site.database()).unwrap();
    let refused = zkgov()
        .args(["serve", "--config"])
        .arg(site.path("verifier.toml"))
        .output()
        .unwrap();
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        stderr(&refused)
            .contains("holds 3 log entries, but this service has signed a checkpoint of 6"),
        "{}",
        stderr(&refused)
    );

    // An export of another log is refused, and nothing is appended.
    let foreign = site.path("foreign.jsonl");
    let mut lines: Vec<String> = fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[4] = lines[4].replace("C-2", "C-7");
    fs::write(&foreign, lines.join("\n")).unwrap();
    let restore = |from: &Path| {
        zkgov()
            .args(["log", "restore", "--config"])
            .arg(site.path("verifier.toml"))
            .arg("--from")
            .arg(from)
            .output()
            .unwrap()
    };
    let wrong = restore(&foreign);
    assert_ne!(wrong.status.code(), Some(0));
    assert!(
        stderr(&wrong).contains("the copy is not this log"),
        "{}",
        stderr(&wrong)
    );

    // The genuine copy restores it, and the service starts on it.
    let restored = ok(restore(&export));
    assert!(
        stdout(&restored).contains("restored entries 3..6"),
        "{}",
        stdout(&restored)
    );
    let server = site.start();
    let state = site.path("state");
    ok(server.verify(&state, &["--log-key", &server.log_key, "--full"]));
    server.stop();
}

/// The shipped procedure's shape over the test registry: one item, decided
/// automatically, issuing a licence into `licences`.
const CLINIC: &str = r#"
name = "clinic"
decides = "health"
rule = "automatic"
case_prefix = "DJY"

[[applicant]]
name = "credit_code"
label = "Registration number"

[[evidence]]
name = "premises"
policy = "medical-premises"
registry = "real-estate"
subject = "credit_code"
params = { min_area = 400, usage = "medical", today = { computed = "today" } }

[licence]
registry = "licences"
number_prefix = "YL"
valid_days = 365
fields = { licence = "$number", kind = "clinic", issued = "$issued", expires = "$expires" }
"#;

/// The last line a worker prints: its counts.
fn worker_counts(output: &Output) -> (u64, u64, u64, u64) {
    let text = stderr(output);
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains(" proven, "))
        .unwrap_or_else(|| panic!("no summary line:\n{text}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(4)
        .map(|s| s.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2], numbers[3])
}

#[test]
fn two_workers_share_a_queue_take_over_a_dead_lease_and_licences_are_issued() {
    let workload = workload();
    two_workers_share_a_queue(&Site::new(workload));
}

#[test]
fn two_workers_share_a_queue_on_postgresql_with_skip_locked_leases() {
    let workload = workload();
    let url = support::postgres::fresh_database();
    let name = url.rsplit('/').next().unwrap().to_string();
    // Every statement the service runs on this database goes to the
    // server's log, so the test can see which lease query ran.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("ALTER DATABASE {name} SET log_statement = 'all'"))
        .unwrap();
    two_workers_share_a_queue(&Site::on_database(workload, Some(&url)));

    // The store is PostgreSQL's: five evidence requests and three licences
    // done, and the two the dead worker held were leased again.
    let rows = admin
        .query(
            "SELECT kind, leases, done_idx IS NOT NULL FROM work ORDER BY id",
            &[],
        )
        .unwrap();
    let work: Vec<(String, i64, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let evidence: Vec<i64> = work
        .iter()
        .filter(|(kind, _, _)| kind == "evidence")
        .map(|(_, leases, _)| *leases)
        .collect();
    assert_eq!(evidence.len(), 5, "{work:?}");
    assert_eq!(
        evidence.iter().filter(|l| **l == 2).count(),
        2,
        "the dead worker's two requests were taken over: {work:?}"
    );
    assert!(evidence.iter().all(|l| (1..=2).contains(l)), "{work:?}");
    assert_eq!(work.iter().filter(|(k, _, _)| k == "licence").count(), 3);
    assert!(work.iter().all(|(_, _, done)| *done), "{work:?}");
    // Each lease was claimed by the one-statement `SKIP LOCKED` query.
    let log = fs::read_to_string(support::postgres::server().dir().join("server.log")).unwrap();
    let leases = log
        .lines()
        .filter(|l| {
            l.contains("UPDATE work SET leased_until") && l.contains("FOR UPDATE SKIP LOCKED")
        })
        .count();
    // One for the dead worker's two, at least one per request after it
    // (the workers lease one at a time), and the licences'.
    assert!(leases >= 7, "{leases} lease statements in the server's log");
}

/// The clinic procedure registered by the health department on `server`.
fn register_clinic(site: &Site, server: &Server) {
    let procedure = site.path("clinic.toml");
    fs::write(&procedure, CLINIC).unwrap();
    ok(zkgov()
        .args(["procedure", "register"])
        .arg(&procedure)
        .args(["--server", &server.url, "--token", HEALTH])
        .output()
        .unwrap());
}

/// Three applicants whose premises qualify, one whose do not, one unknown
/// to the registry.
const APPLICANTS: [&str; 5] = [
    "110101199003071234",
    "510104198511120021",
    "440305197701015678",
    "999999999999999999",
    "330106196212240012",
];

/// `zkgov apply` to the clinic procedure as `subject`: the case number and
/// its access code.
fn apply_for_clinic(server: &Server, subject: &str) -> (String, String) {
    let applied = ok(zkgov()
        .args(["apply", "--server", &server.url, "--procedure", "clinic"])
        .args(["--input", &format!("credit_code={subject}")])
        .output()
        .unwrap());
    let body: Value = serde_json::from_str(stdout(&applied).trim()).unwrap();
    assert!(body["access_code"].as_str().is_some_and(|c| c.len() == 24));
    (
        body["case_id"].as_str().unwrap().to_string(),
        body["access_code"].as_str().unwrap().to_string(),
    )
}

/// A land registry `zkgov worker --once` on one thread, its standard error
/// piped: it leases `batch` requests at a time for `lease_seconds`.
fn spawn_land_worker(server: &Server, batch: u32, lease_seconds: u32) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("zkgov"))
        .arg("worker")
        .arg(&workload().registry)
        .args(["--server", &server.url, "--token", LAND, "--keys"])
        .arg(&workload().keys)
        .args(["--batch", &batch.to_string()])
        .args(["--lease-seconds", &lease_seconds.to_string()])
        .args(["--threads", "1", "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Five applications answered by two workers of one department sharing
/// its queue, two of them after a dead worker's lease ran out; the
/// approvals' licences issued by the deciding department's worker.
fn two_workers_share_a_queue(site: &Site) {
    let server = site.start();
    ok(server.publish_registry());
    register_clinic(site, &server);
    let (cases, codes): (Vec<String>, Vec<String>) = APPLICANTS
        .iter()
        .map(|subject| apply_for_clinic(&server, subject))
        .unzip();
    // A worker that leases two requests and dies: they come back when the
    // lease expires, and a live worker takes them.
    let dead = zkgov_verifier::client::Client::new(&server.url, Some(LAND.to_string()));
    assert_eq!(dead.lease_work(2, 2).unwrap().len(), 2);

    let worker = || spawn_land_worker(&server, 1, 300);
    let (a, b) = (worker(), worker());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        stderr(&a),
        stderr(&b)
    );
    let (pa, ua, _, ra) = worker_counts(&a);
    let (pb, ub, _, rb) = worker_counts(&b);
    assert_eq!((pa + pb, ua + ub), (3, 2), "each request answered once");
    assert_eq!(
        (ra, rb),
        (0, 0),
        "no answer rejected:\n{}{}",
        stderr(&a),
        stderr(&b)
    );

    // The health department issues the three licences into its registry.
    let licences = site.path("licences");
    let seed = site.path("licences.csv");
    fs::write(
        &seed,
        "subject,licence,kind,issued,expires\nOTHER-1,YL-2025-000001,clinic,2025-01-01,2030-01-01\n",
    )
    .unwrap();
    ok(zkgov()
        .args([
            "registry",
            "build",
            "--schema",
            "../schemas/medical-licence.toml",
        ])
        .arg("--records")
        .arg(&seed)
        .args(["--depth", "3", "--out"])
        .arg(&licences)
        .output()
        .unwrap());
    let issued = ok(zkgov()
        .args([
            "worker",
            "--server",
            &server.url,
            "--token",
            HEALTH,
            "--once",
        ])
        .arg("--licences")
        .arg(&licences)
        .output()
        .unwrap());
    assert_eq!(worker_counts(&issued).2, 3, "{}", stderr(&issued));
    let root = stdout(&ok(zkgov()
        .args(["registry", "root"])
        .arg(&licences)
        .output()
        .unwrap()));
    assert!(!root.trim().is_empty());

    let listed = ok(zkgov()
        .args([
            "case",
            "list",
            "--json",
            "--server",
            &server.url,
            "--token",
            HEALTH,
        ])
        .output()
        .unwrap());
    let listed: Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let statuses: Vec<&str> = listed["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "approved").count(), 3);
    assert_eq!(statuses.iter().filter(|s| **s == "refused").count(), 2);
    let show = |case: &str| {
        let output = zkgov()
            .args(["case", "show", case, "--server", &server.url])
            .args(["--token", HEALTH])
            .output()
            .unwrap();
        stdout(&ok(output))
    };
    let shown = show(&cases[2]);
    assert!(
        shown.contains("not satisfied") && shown.contains("area_m2"),
        "{shown}"
    );
    assert!(shown.contains("decision: refused"), "{shown}");
    let shown = show(&cases[0]);
    assert!(
        shown.contains("licence: YL-") && shown.contains(", issued"),
        "{shown}"
    );
    let queue = stdout(&ok(zkgov()
        .args(["work", "list", "--server", &server.url, "--token", LAND])
        .output()
        .unwrap()));
    assert!(queue.contains("0 pending, 0 leased, 5 done"), "{queue}");

    // The applicant fetches its licence with its access code, given on
    // standard input, and it verifies offline, readable by its owner only.
    let document = site.path("licence.json");
    let fetched = zkgov()
        .args([
            "licence",
            "fetch",
            &cases[0],
            "--server",
            &server.url,
            "--out",
        ])
        .arg(&document)
        .write_stdin(format!("{}\n", codes[0]))
        .output()
        .unwrap();
    ok(fetched);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&document).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = fs::read_to_string(&document).unwrap();
    assert!(text.contains(APPLICANTS[0]), "{text}");
    let licence_verify = |path: &Path, extra: &[&str]| {
        zkgov()
            .args(["licence", "verify"])
            .args(extra)
            .arg(path)
            .args([
                "--log-key",
                &server.log_key,
                "--online",
                "--server",
                &server.url,
            ])
            .output()
            .unwrap()
    };
    let verified = ok(licence_verify(&document, &[]));
    assert!(
        stdout(&verified).contains("in force"),
        "{}",
        stdout(&verified)
    );
    // The same answer as one JSON document, and an edited licence's.
    let licence_json = |path: &Path| licence_verify(path, &["--json"]);
    let report: serde_json::Value =
        serde_json::from_slice(&ok(licence_json(&document)).stdout).unwrap();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["in_force"], true, "{report}");
    assert_eq!(report["licence"]["holder"], APPLICANTS[0], "{report}");
    assert_eq!(report["amended_by"], serde_json::Value::Null, "{report}");
    assert!(report["log_size"].as_u64().unwrap() >= report["checkpoint"]["size"].as_u64().unwrap());
    let edited = site.path("edited.json");
    fs::write(&edited, text.replacen(APPLICANTS[0], "SOMEONE-ELSE", 1)).unwrap();
    let refused = licence_json(&edited);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let report: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(
        (report["valid"].as_bool(), report["in_force"].as_bool()),
        (Some(false), Some(false))
    );
    assert!(
        report["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{report}"
    );
    // A wrong access code fetches nothing and writes nothing.
    let other = site.path("other.json");
    let refused = zkgov()
        .args([
            "licence",
            "fetch",
            &cases[1],
            "--server",
            &server.url,
            "--out",
        ])
        .arg(&other)
        .env("ZKGOV_ACCESS_CODE", &codes[0])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(!other.exists());
    // A refused case has no licence to fetch.
    let none = zkgov()
        .args([
            "licence",
            "fetch",
            &cases[2],
            "--server",
            &server.url,
            "--out",
        ])
        .arg(&other)
        .env("ZKGOV_ACCESS_CODE", &codes[2])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1), "{none:?}");
    assert!(
        stderr(&none).contains("issues no licence"),
        "{}",
        stderr(&none)
    );
    server.stop();
}

/// SIGKILLs `zkgov worker` while it holds leases, round after round, with
/// ten new applications queued before each round; each worker takes over
/// what the killed ones held once their leases run out, and a last one,
/// left running, finishes the queue. Every request is answered once: one
/// result or unmet entry per case, one decision, the queue all done, and
/// the log replays.
#[test]
fn worker_killed_mid_lease_gives_its_requests_back_and_each_is_anchored_once() {
    use rand::{Rng, SeedableRng};
    use std::time::{Duration, Instant};
    const KILLS: usize = 8;
    let site = Site::new(workload());
    // Ninety applications from one address within the minute.
    let mut config = fs::OpenOptions::new()
        .append(true)
        .open(site.path("verifier.toml"))
        .unwrap();
    std::io::Write::write_all(&mut config, b"\n[limits]\napplications_per_minute = 1000\n")
        .unwrap();
    let server = site.start();
    ok(server.publish_registry());
    register_clinic(&site, &server);
    let land = zkgov_verifier::client::Client::new(&server.url, Some(LAND.to_string()));
    // Whether any of `cases` is leased and not done.
    let leased = |cases: &[String]| {
        let queue = land.get("/v1/work/queue").unwrap();
        queue["open"].as_array().unwrap().iter().any(|w| {
            !w["leased_until"].is_null() && cases.iter().any(|c| w["case_id"] == c.as_str())
        })
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261206);
    let mut cases: Vec<String> = Vec::new();
    // From a worker's first lease to its exit, measured on the first round,
    // which is not killed; the kills fall anywhere in it.
    let mut window = Duration::ZERO;
    let (mut kills, mut mid_lease) = (0, 0);
    for round in 0..=KILLS {
        let new: Vec<String> = APPLICANTS
            .iter()
            .chain(&APPLICANTS)
            .map(|subject| apply_for_clinic(&server, subject).0)
            .collect();
        cases.extend(new.iter().cloned());
        let mut worker = spawn_land_worker(&server, 10, 2);
        let deadline = Instant::now() + Duration::from_secs(60);
        let finished = loop {
            if leased(&new) {
                break false;
            }
            if worker.try_wait().unwrap().is_some() {
                // It leased, proved and submitted between two looks.
                break true;
            }
            assert!(Instant::now() < deadline, "round {round}: nothing leased");
            std::thread::sleep(Duration::from_millis(2));
        };
        if round == 0 {
            let started = Instant::now();
            let output = worker.wait_with_output().unwrap();
            assert!(output.status.success(), "{}", stderr(&output));
            assert_eq!(worker_counts(&output), (6, 4, 0, 0), "{}", stderr(&output));
            window = started.elapsed();
            continue;
        }
        if finished {
            continue;
        }
        std::thread::sleep(window.mul_f64(rng.gen_range(0.0..1.0)));
        worker.kill().unwrap();
        worker.wait().unwrap();
        kills += 1;
        if leased(&new) {
            mid_lease += 1;
        }
    }
    let last = spawn_land_worker(&server, 10, 2)
        .wait_with_output()
        .unwrap();
    assert!(last.status.success(), "{}", stderr(&last));
    assert_eq!(
        worker_counts(&last).3,
        0,
        "no answer rejected: {}",
        stderr(&last)
    );

    let queue = land.get("/v1/work/queue").unwrap();
    let requests = 10 * (KILLS as u64 + 1);
    assert_eq!(
        (&queue["pending"], &queue["leased"], &queue["done"]),
        (&json!(0), &json!(0), &json!(requests)),
        "{queue}"
    );
    // Each kill that found leases held made at least one more lease.
    let database = rusqlite::Connection::open(site.database()).unwrap();
    let releases: i64 = database
        .query_row(
            "SELECT SUM(leases - 1) FROM work WHERE kind = 'evidence'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(
        mid_lease >= 1 && releases >= mid_lease,
        "{mid_lease} kills held leases, {releases} leases taken again"
    );
    // One answer and one decision per case, six results and four unmet
    // answers per ten applications.
    let mut answers = std::collections::HashMap::<String, (u32, u32)>::new();
    let mut results = 0;
    for entry in all_entries(&server.url) {
        let entry: Value = serde_json::from_str(&entry).unwrap();
        let Some(case) = entry["case_id"].as_str() else {
            continue;
        };
        let counts = answers.entry(case.to_string()).or_default();
        match entry["type"].as_str().unwrap() {
            "result" => {
                results += 1;
                counts.0 += 1;
            }
            "unmet" => counts.0 += 1,
            "decision" => counts.1 += 1,
            _ => {}
        }
    }
    assert_eq!(results, 6 * (KILLS + 1));
    for case in &cases {
        assert_eq!(
            answers.get(case),
            Some(&(1, 1)),
            "{case}: (answers, decisions)"
        );
    }
    ok(server.verify(
        &site.path("monitor"),
        &["--log-key", &server.log_key, "--full"],
    ));
    eprintln!(
        "{kills} worker kills, {mid_lease} holding leases; {releases} leases taken again; \
         {requests} requests answered once each"
    );
}

/// `n` proven lines of `zkgov prove`, each its own statement (case C-K
/// about C-1's subject), proved once per test run.
fn many_proven(n: usize) -> &'static [Value] {
    static LINES: OnceLock<Vec<Value>> = OnceLock::new();
    LINES.get_or_init(|| {
        let workload = workload();
        let dir = workload.proofs.parent().unwrap();
        let cases = dir.join("many-cases.csv");
        let mut text = String::from("case_id,subject,case_secret\n");
        for k in 0..n {
            // About 1.6 × 10^59: canonical, above 2^128 and below r.
            let secret = format!("1606938044258990275541962092341162602522202993782792835{k:05}");
            text.push_str(&format!("CRASH-{k},110101199003071234,{secret}\n"));
        }
        fs::write(&cases, text).unwrap();
        let out = dir.join("many-proofs.jsonl");
        ok(zkgov()
            .arg("prove")
            .arg(&workload.registry)
            .arg("--keys")
            .arg(&workload.keys)
            .arg("--cases")
            .arg(&cases)
            .args(["--param", "min_area=400", "--param", "usage=medical"])
            .args(["--param", "today=2026-11-23", "--out"])
            .arg(&out)
            .output()
            .unwrap());
        let lines = json_lines(&fs::read_to_string(&out).unwrap());
        assert!(lines.iter().all(|l| l["status"] == "proven"));
        lines
    })
}

/// Posts `body` to `path` of the service at `url` as the land registry,
/// and keeps the receipt it answers in `acked`; `None` if the service did
/// not answer (it was killed).
fn post_and_keep(
    http: &reqwest::blocking::Client,
    url: &str,
    path: &str,
    body: &Value,
    acked: &std::sync::Mutex<Vec<Value>>,
) -> Option<()> {
    let response = http
        .post(format!("{url}{path}"))
        .bearer_auth(LAND)
        .json(body)
        .send()
        .ok()?;
    let status = response.status().as_u16();
    let text = response.text().ok()?;
    assert!(matches!(status, 200 | 201), "{status} {text}");
    acked
        .lock()
        .unwrap()
        .push(serde_json::from_str(&text).unwrap());
    Some(())
}

const ROOTS: &str = "/v1/registries/real-estate/roots";

/// One client of the crash test, until `url` stops answering: with
/// `lines`, it submits their statements in random order, again and again
/// (a statement already logged is answered with its existing receipt);
/// without, it anchors the workload's root.
fn submit_until_killed(
    url: &str,
    lines: Option<&[Value]>,
    seed: u64,
    acked: &std::sync::Mutex<Vec<Value>>,
) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let http = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let root = json!({"root": workload().root});
    loop {
        let posted = match lines {
            Some(lines) => {
                let line = &lines[rng.gen_range(0..lines.len())];
                post_and_keep(&http, url, "/v1/proofs", line, acked)
            }
            None => post_and_keep(&http, url, ROOTS, &root, acked),
        };
        if posted.is_none() {
            return;
        }
    }
}

/// The log's entries, read page by page.
fn all_entries(url: &str) -> Vec<String> {
    let mut entries = Vec::new();
    loop {
        let page: Value =
            reqwest::blocking::get(format!("{url}/v1/log/entries?start={}", entries.len()))
                .unwrap()
                .json()
                .unwrap();
        let Some(page) = page["entries"].as_array().filter(|p| !p.is_empty()) else {
            return entries;
        };
        entries.extend(
            page.iter()
                .map(|e| e["entry"].as_str().unwrap().to_string()),
        );
    }
}

/// Checks that every acknowledged receipt's entry is in `entries` at its
/// index with identical bytes, and that no statement (key, case, subject
/// tag) is logged twice; the number of statements logged.
fn check_one_chain(entries: &[String], acked: &[Value], when: &str) -> usize {
    for receipt in acked {
        let index = receipt["index"].as_u64().unwrap() as usize;
        assert_eq!(
            entries.get(index).map(String::as_str),
            receipt["entry"].as_str(),
            "{when}: the acknowledged entry {index} is not in the log as it was"
        );
    }
    let mut statements = std::collections::HashSet::new();
    for entry in entries {
        let entry: Value = serde_json::from_str(entry).unwrap();
        if entry["type"] == "result" {
            let statement = (
                entry["key_id"].clone(),
                entry["case_id"].clone(),
                entry["subject_tag"].clone(),
            );
            assert!(
                statements.insert(statement),
                "{when}: a statement twice: {entry}"
            );
        }
    }
    statements.len()
}

/// SIGKILLs `zkgov serve` on `site` at random moments, `kills` times,
/// while three clients submit; after every restart on the same database,
/// checks that every acknowledged receipt is in the log at its index with
/// identical bytes, that no statement is logged twice, and (with `zkgov log
/// verify`, which keeps the checkpoint it trusts) that the new checkpoint
/// extends every earlier one and holds every receipt; at the end, that the
/// log replays (`--full`). Returns the receipts acknowledged.
fn kill_serve_mid_write(site: &Site, kills: usize) -> usize {
    use rand::{Rng, SeedableRng};
    let lines = many_proven(40);
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261204);
    let acked = std::sync::Mutex::new(Vec::<Value>::new());
    let state = site.path("monitor");
    let receipts = site.path("acknowledged.jsonl");
    let mut log_key = String::new();
    for round in 0..=kills {
        let server = site.start();
        if log_key.is_empty() {
            log_key = server.log_key.clone();
        }
        assert_eq!(server.log_key, log_key, "the log key changed");
        let http = reqwest::blocking::Client::new();
        if round == 0 {
            // The root the proofs are against, before any of them.
            let root = json!({"root": workload().root});
            post_and_keep(&http, &server.url, ROOTS, &root, &acked).unwrap();
        }
        if round == kills {
            // Every statement, once more, to the service left running.
            for line in lines {
                post_and_keep(&http, &server.url, "/v1/proofs", line, &acked).unwrap();
            }
        }
        let entries = all_entries(&server.url);
        let statements =
            check_one_chain(&entries, &acked.lock().unwrap(), &format!("round {round}"));
        let text: String = acked
            .lock()
            .unwrap()
            .iter()
            .map(|r| format!("{r}\n"))
            .collect();
        fs::write(&receipts, text).unwrap();
        let mut args = vec!["--log-key", &log_key];
        if !acked.lock().unwrap().is_empty() {
            args.extend(["--receipt", receipts.to_str().unwrap()]);
        }
        if round == kills {
            args.push("--full");
            ok(server.verify(&state, &args));
            assert_eq!(statements, lines.len(), "every statement logged once");
            break;
        }
        ok(server.verify(&state, &args));
        let pause = std::time::Duration::from_millis(rng.gen_range(20..400));
        let seed = rng.gen::<u64>();
        let url = server.url.clone();
        std::thread::scope(|scope| {
            let (acked, url) = (&acked, url.as_str());
            scope.spawn(move || submit_until_killed(url, Some(lines), seed, acked));
            scope.spawn(move || submit_until_killed(url, Some(lines), seed ^ 1, acked));
            scope.spawn(move || submit_until_killed(url, None, seed ^ 2, acked));
            std::thread::sleep(pause);
            // Dropping the server SIGKILLs it.
            drop(server);
        });
    }
    let acknowledged = acked.lock().unwrap().len();
    acknowledged
}

#[test]
fn serve_killed_mid_write_loses_no_acknowledged_receipt_on_sqlite() {
    let site = Site::new(workload());
    let acknowledged = kill_serve_mid_write(&site, 20);
    eprintln!("sqlite: 20 kills survived, {acknowledged} receipts acknowledged, none lost");
    assert!(
        acknowledged > 20,
        "only {acknowledged} receipts acknowledged"
    );
}

#[test]
fn serve_killed_mid_write_loses_no_acknowledged_receipt_on_postgres() {
    let url = support::postgres::fresh_database();
    let site = Site::on_database(workload(), Some(&url));
    let acknowledged = kill_serve_mid_write(&site, 20);
    eprintln!("postgres: 20 kills survived, {acknowledged} receipts acknowledged, none lost");
    assert!(
        acknowledged > 20,
        "only {acknowledged} receipts acknowledged"
    );
}

/// Posts `body` to `path` on `url` with `token`; the status and the body.
fn post_json(url: &str, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// The status of `GET path` on `url`.
fn get_status(url: &str, path: &str) -> u16 {
    reqwest::blocking::get(format!("{url}{path}"))
        .unwrap()
        .status()
        .as_u16()
}

/// Copies or replaces a database on the test server: `CREATE DATABASE to
/// TEMPLATE from`, after dropping `to` if `replace`. Nothing may be
/// connected to either.
fn copy_database(from: &str, to: &str, replace: bool) {
    let mut admin = postgres::Client::connect(
        &support::postgres::server().url("postgres"),
        postgres::NoTls,
    )
    .unwrap();
    if replace {
        admin.batch_execute(&format!("DROP DATABASE {to}")).unwrap();
    }
    admin
        .batch_execute(&format!("CREATE DATABASE {to} TEMPLATE {from}"))
        .unwrap();
}

/// Three `zkgov serve` processes with one log key, one config and one
/// PostgreSQL database, each with its own data directory, and clients that
/// spread their requests over all three. Then the database is restored
/// from an old backup under them.
#[test]
fn three_instances_share_one_postgresql_log_and_refuse_a_restore_that_went_back() {
    let workload = workload();
    let url = support::postgres::fresh_database();
    let name = url.rsplit('/').next().unwrap().to_string();
    let root = tempfile::tempdir().unwrap();
    let log = LogSigner::generate(ORIGIN);
    let witness = support::witness::WitnessSite::new(root.path(), "witness.test/w1", &[&log]);
    let witness_server = witness.start();
    let tables = witness.service_config(&witness_server);
    let sites: Vec<Site> = (0..3)
        .map(|_| Site::instance(&url, &log, &tables))
        .collect();
    let start_all = |sites: &[Site]| sites.iter().map(Site::start).collect::<Vec<_>>();

    // A key registered through one instance is known to the others at
    // once; a root anchored through a second backs proofs sent to a third.
    let servers = start_all(&sites);
    let dir = &workload.keys;
    let registration = json!({
        "registry": REGISTRY,
        "verifying_key": serde_json::from_str::<Value>(
            &fs::read_to_string(dir.join("verification_key.json")).unwrap()
        ).unwrap(),
        "schema": fs::read_to_string(dir.join("schema.toml")).unwrap(),
        "policy": fs::read_to_string(dir.join("policy.toml")).unwrap(),
    });
    let (status, body) = post_json(&servers[0].url, "/v1/keys", ADMIN, &registration);
    assert_eq!(status, 201, "{body}");
    for server in &servers[1..] {
        let path = format!("/v1/keys/{}", workload.key_id);
        assert_eq!(get_status(&server.url, &path), 200);
    }
    let root_body = json!({"root": workload.root});
    let (status, body) = post_json(&servers[1].url, ROOTS, LAND, &root_body);
    assert_eq!(status, 201, "{body}");
    let lines = many_proven(40);
    let (status, body) = post_json(&servers[2].url, "/v1/proofs", LAND, &lines[0]);
    assert_eq!(status, 201, "{body}");
    for server in servers {
        server.stop();
    }
    // The backup, taken with every instance stopped.
    let backup = format!("{name}_backup");
    copy_database(&name, &backup, false);
    let backup_size = 4; // governance, key, root, result

    // Three clients, each on its own instance, submit the same statements
    // in different orders, and anchor roots.
    let servers = start_all(&sites);
    let acked = std::sync::Mutex::new(Vec::<Value>::new());
    std::thread::scope(|scope| {
        for (i, server) in servers.iter().enumerate() {
            let (acked, url, root_body) = (&acked, server.url.as_str(), &root_body);
            scope.spawn(move || {
                use rand::seq::SliceRandom;
                use rand::SeedableRng;
                let http = reqwest::blocking::Client::new();
                let mut order: Vec<&Value> = lines.iter().collect();
                order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(i as u64));
                for (k, line) in order.into_iter().enumerate() {
                    post_and_keep(&http, url, "/v1/proofs", line, acked).unwrap();
                    if k % 8 == i {
                        post_and_keep(&http, url, ROOTS, root_body, acked).unwrap();
                    }
                }
            });
        }
    });
    let acked = acked.into_inner().unwrap();
    // Unasked, within the follow interval (250 ms) and a little, every
    // instance has caught up with the others' entries: health reports the
    // log's size without reading the database.
    let last = acked
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .max()
        .unwrap();
    let started = std::time::Instant::now();
    for server in &servers {
        loop {
            let health: Value = reqwest::blocking::get(format!("{}/healthz", server.url))
                .unwrap()
                .json()
                .unwrap();
            if health["log_size"].as_u64() == Some(last + 1) {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "{} still reports {health} after {:?}",
                server.url,
                started.elapsed()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    eprintln!(
        "{} receipts from 3 instances; every instance caught up within {:?}",
        acked.len(),
        started.elapsed()
    );

    // One chain: every instance serves the same entries, each statement
    // once, every receipt at its index with its bytes.
    let entries = all_entries(&servers[0].url);
    for server in &servers[1..] {
        assert_eq!(all_entries(&server.url), entries, "{}", server.url);
    }
    assert_eq!(
        check_one_chain(&entries, &acked, "three instances"),
        lines.len()
    );
    // Each instance's checkpoint is consistent with the others' and holds
    // every receipt, whichever instance gave it.
    let receipts = root.path().join("receipts.jsonl");
    let text: String = acked.iter().map(|r| format!("{r}\n")).collect();
    fs::write(&receipts, text).unwrap();
    let state = root.path().join("monitor");
    let log_key = log.verifier_key();
    for server in &servers {
        let args = [
            "--log-key",
            &log_key,
            "--receipt",
            receipts.to_str().unwrap(),
        ];
        ok(server.verify(&state, &args));
    }
    ok(servers[1].verify(&state, &["--log-key", &log_key, "--full"]));
    // The witness has cosigned the whole log, through one instance or
    // another.
    let size = entries.len() as u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !servers.iter().any(|server| {
        let note = reqwest::blocking::get(format!("{}/v1/log/checkpoint", server.url))
            .unwrap()
            .text()
            .unwrap();
        note.lines().nth(1) == Some(&size.to_string()) && witness.verifier().verify(&note).is_ok()
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "no cosigned checkpoint of {size}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let export = root.path().join("export.jsonl");
    ok(zkgov()
        .args(["log", "export", "--server", &servers[2].url, "--out"])
        .arg(&export)
        .output()
        .unwrap());
    for server in servers {
        server.stop();
    }

    // The old backup comes back. Each instance that signed beyond it
    // refuses to start; so does a new instance, with a new data directory,
    // because the witness has cosigned more than the database holds.
    copy_database(&backup, &name, true);
    for site in &sites {
        let refused = site.serve_refused();
        assert!(
            refused.contains(&format!(
                "holds {backup_size} log entries, but this service has signed a checkpoint of"
            )),
            "{refused}"
        );
    }
    let fresh = Site::instance(&url, &log, &tables);
    let refused = fresh.serve_refused();
    assert!(
        refused.contains(&format!(
            "has cosigned a checkpoint of {size} log entries, but the database holds {backup_size}"
        )),
        "{refused}"
    );
    // The export restores it, through the instance that signed the most;
    // then all four start, on one log.
    let restores: Vec<String> = sites
        .iter()
        .map(|site| {
            stdout(&ok(zkgov()
                .args(["log", "restore", "--config"])
                .arg(site.path("verifier.toml"))
                .arg("--from")
                .arg(&export)
                .output()
                .unwrap()))
        })
        .collect();
    assert!(
        restores
            .iter()
            .any(|r| r.contains(&format!("restored entries {backup_size}.."))),
        "{restores:?}"
    );
    let mut servers = start_all(&sites);
    servers.push(fresh.start());
    for server in &servers {
        assert_eq!(all_entries(&server.url).len() as u64, size);
    }
    ok(servers[3].verify(&state, &["--log-key", &log_key, "--full"]));
}
