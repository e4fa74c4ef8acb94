//! Witnesses, as departments run them: `zkgov witness keygen` and
//! `zkgov witness serve` processes on loopback, a real `zkgov serve` that
//! gathers their cosignatures, and `zkgov log verify --policy` as a client
//! checks them. A split view is played by a test double of the log that
//! signs two trees of the same size.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use zkgov_log::checkpoint::{Checkpoint, LogSigner};
use zkgov_log::policy::Policy;
use zkgov_log::tree::{consistency_proof, leaf_hash, MemoryTree};
use zkgov_log::witness::AddCheckpoint;
use zkgov_verifier::test_utils::{ConfigFile, Department, LAND, ORIGIN};

mod support;
use support::serve::Server;
use support::witness::WitnessSite;
use support::zkgov;

const REGISTRY: &str = "real-estate";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One HTTP/1.1 request on a fresh connection: status, content type, body.
fn http(url: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// Waits up to ten seconds for `ready` to return something.
fn eventually<T>(what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A verifier service's directory, with its log key made beforehand so
/// that the witnesses can be told it.
struct ServiceSite {
    dir: PathBuf,
}

impl ServiceSite {
    fn new(root: &Path, log: &LogSigner, witnesses: &[(&WitnessSite, &Server)]) -> ServiceSite {
        let dir = root.join("service");
        zkgov_keys::files::write_atomically(
            &dir.join("data/log-signing.key"),
            (log.private_key() + "\n").as_bytes(),
        )
        .unwrap();
        let mut config = ConfigFile::new("data")
            .setting("origin", ORIGIN)
            .department(
                Department::new("land-registry", LAND)
                    .registries(&[REGISTRY])
                    .decides(),
            )
            .text();
        for (site, server) in witnesses {
            config += &site.service_config(server);
        }
        fs::write(dir.join("verifier.toml"), config).unwrap();
        ServiceSite { dir }
    }

    fn start(&self) -> Server {
        Server::start(&self.dir.join("verifier.toml"), &self.dir.join("serve.log"))
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }
}

impl Server {
    /// Anchors a registry root: one new log entry.
    fn publish(&self, root: u64) {
        let output = zkgov()
            .args([
                "root",
                "publish",
                "--registry",
                REGISTRY,
                "--server",
                &self.url,
            ])
            .args(["--token", LAND, "--root", &root.to_string()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    fn checkpoint(&self) -> String {
        let (status, _, body) = http(&self.url, "GET", "/v1/log/checkpoint", "");
        assert_eq!(status, 200);
        body
    }

    fn metrics(&self) -> String {
        http(&self.url, "GET", "/metrics", "").2
    }

    /// Waits for the checkpoint of `size` cosigned by each of `by`.
    fn cosigned(&self, size: u64, by: &[&WitnessSite]) -> String {
        eventually(&format!("a checkpoint of size {size} cosigned"), || {
            let note = self.checkpoint();
            let at_size = note.lines().nth(1) == Some(&size.to_string());
            (at_size && by.iter().all(|w| w.verifier().verify(&note).is_ok())).then_some(note)
        })
    }
}

fn metric(metrics: &str, witness: &str, outcome: &str) -> u64 {
    let prefix =
        format!("zkgov_witness_requests_total{{witness=\"{witness}\",outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.parse().unwrap())
}

fn policy_file(dir: &Path, name: &str, log: &LogSigner, body: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, format!("log {}\n{body}", log.verifier_key())).unwrap();
    path
}

fn log_verify(service: &Server, state: &Path, policy: &Path) -> Output {
    zkgov()
        .args(["log", "verify", "--server", &service.url, "--state"])
        .arg(state)
        .arg("--policy")
        .arg(policy)
        .output()
        .unwrap()
}

#[test]
fn the_service_gathers_cosignatures_and_clients_require_their_quorum() {
    let root = tempfile::tempdir().unwrap();
    let log = LogSigner::generate(ORIGIN);
    let w1 = WitnessSite::new(root.path(), "witness.health.test/w1", &[&log]);
    let w2 = WitnessSite::new(root.path(), "witness.land.test/w2", &[&log]);
    let w3 = WitnessSite::new(root.path(), "witness.unused.test/w3", &[&log]);
    let (s1, s2) = (w1.start(), w2.start());
    let site = ServiceSite::new(root.path(), &log, &[(&w1, &s1), (&w2, &s2)]);
    let service = site.start();

    // The governance entry at start-up, then one root: both witnesses
    // cosign the checkpoint of each.
    service.publish(5);
    let note = service.cosigned(2, &[&w1, &w2]);
    assert!(note.contains(&format!("\n\u{2014} {} ", w1.name)));

    let witnesses = format!(
        "witness W1 {}\nwitness W2 {}\nwitness W3 {}\n",
        w1.key, w2.key, w3.key
    );
    let both = policy_file(
        root.path(),
        "both",
        &log,
        &format!("{witnesses}group g all W1 W2\nquorum g\n"),
    );
    let any = policy_file(
        root.path(),
        "any",
        &log,
        &format!("{witnesses}group g any W1 W2\nquorum g\n"),
    );
    let with_w3 = policy_file(
        root.path(),
        "with-w3",
        &log,
        &format!("{witnesses}group g all W1 W3\nquorum g\n"),
    );
    let state = root.path().join("state");
    let verified = log_verify(&service, &state, &both);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    // The cosignatures were made just now: an hour's age admits them.
    let fresh = zkgov()
        .args(["log", "verify", "--server", &service.url, "--state"])
        .arg(&state)
        .arg("--policy")
        .arg(&both)
        .args(["--max-cosignature-age", "3600"])
        .output()
        .unwrap();
    assert!(fresh.status.success(), "{}", text(&fresh.stderr));
    let refused = log_verify(&service, &state, &with_w3);
    assert_eq!(refused.status.code(), Some(1));
    let message = text(&refused.stderr);
    assert!(
        message.contains("lacks its witness quorum") && message.contains("from W3"),
        "{message}"
    );

    // A witness that is down does not block appends; the checkpoint is
    // served with the other's cosignature, and the outage shows.
    s2.stop();
    service.publish(6);
    let note = service.cosigned(3, &[&w1]);
    assert!(w2.verifier().verify(&note).is_err());
    let metrics = eventually("w2's outage in the metrics", || {
        let metrics = service.metrics();
        (metric(&metrics, &w2.name, "unreachable") > 0).then_some(metrics)
    });
    assert!(metric(&metrics, &w1.name, "cosigned") >= 2, "{metrics}");
    assert!(site
        .log()
        .contains("the witness did not cosign the checkpoint"));
    assert!(site.log().contains(&w2.name));
    let refused = log_verify(&service, &state, &both);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("from W2"));
    let verified = log_verify(&service, &state, &any);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    // The monitor's replay holds the policy too.
    let full = zkgov()
        .args([
            "log",
            "verify",
            "--full",
            "--server",
            &service.url,
            "--state",
        ])
        .arg(&state)
        .arg("--policy")
        .arg(&both)
        .output()
        .unwrap();
    assert_eq!(full.status.code(), Some(1), "{}", text(&full.stderr));
    assert!(text(&full.stderr).contains("from W2"));

    // A restarted witness keeps its state: a replay of an old checkpoint
    // is answered with the size it holds.
    let s2 = w2.start();
    let replay = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: note.clone(),
    };
    let (status, content_type, body) = http(&s2.url, "POST", "/add-checkpoint", &replay.body());
    assert_eq!((status, content_type.as_str()), (409, "text/x.tlog.size"));
    assert_eq!(body, "2\n");

    // The service restarts too, and so forgets what each witness holds: it
    // asks from 0, is told the size (409), and catches the witness up with
    // a consistency proof from it. The witness that was down catches up
    // from 2 to 3 the same way.
    service.stop();
    let s2_url = s2.url.clone();
    drop(s2);
    let s2 = w2.start();
    assert_eq!(s2.url, s2_url, "the witness must come back on its port");
    let service = site.start();
    let note = service.cosigned(3, &[&w1, &w2]);
    let metrics = service.metrics();
    for w in [&w1, &w2] {
        assert!(metric(&metrics, &w.name, "conflict") >= 1, "{metrics}");
        assert!(metric(&metrics, &w.name, "cosigned") >= 1, "{metrics}");
    }
    Policy::parse(&fs::read_to_string(&both).unwrap())
        .unwrap()
        .verify(&note)
        .unwrap();
    service.publish(7);
    service.cosigned(4, &[&w1, &w2]);
    drop(s1);
}

/// A test double of a log that holds two trees of the same size and signs
/// both with its one key.
struct SplitLog {
    signer: LogSigner,
    views: [MemoryTree; 2],
}

impl SplitLog {
    fn new(origin: &str, size: u64) -> SplitLog {
        let view = |fork: &str| {
            let mut tree = MemoryTree::new();
            let leaves: Vec<_> = (0..size)
                .map(|i| leaf_hash(format!("{fork} {i}").as_bytes()))
                .collect();
            tree.append(&leaves);
            tree
        };
        SplitLog {
            signer: LogSigner::generate(origin),
            views: [view("honest"), view("forged")],
        }
    }

    fn note(&self, view: usize, size: u64) -> String {
        self.signer.sign(&Checkpoint {
            origin: self.signer.name().to_string(),
            size,
            root: self.views[view].root_at(size),
            extensions: vec![],
        })
    }

    fn request(&self, view: usize, old: u64, size: u64) -> String {
        AddCheckpoint {
            old_size: old,
            proof: if old == 0 {
                vec![]
            } else {
                consistency_proof(old, size, &self.views[view]).unwrap()
            },
            note: self.note(view, size),
        }
        .body()
    }
}

/// Posts `body` to a witness; on 200 returns the note with the cosignature.
fn add(witness: &Server, note: &str, body: &str) -> Result<String, (u16, String)> {
    let (status, _, answer) = http(&witness.url, "POST", "/add-checkpoint", body);
    if status == 200 {
        Ok(note.to_string() + &answer)
    } else {
        Err((status, answer))
    }
}

#[test]
fn a_split_view_gets_at_most_one_quorum_and_the_other_view_is_detected() {
    let root = tempfile::tempdir().unwrap();
    let shown_to_all = SplitLog::new("split.test/all", 6);
    let shown_apart = SplitLog::new("split.test/apart", 6);
    let logs = [&shown_to_all.signer, &shown_apart.signer];
    let w1 = WitnessSite::new(root.path(), "w1.test", &logs);
    let w2 = WitnessSite::new(root.path(), "w2.test", &logs);
    let (s1, s2) = (w1.start(), w2.start());
    let policy = |log: &SplitLog, group: &str| {
        Policy::parse(&format!(
            "log {}\nwitness W1 {}\nwitness W2 {}\ngroup g {group} W1 W2\nquorum g\n",
            log.signer.verifier_key(),
            w1.key,
            w2.key
        ))
        .unwrap()
    };

    // The log shows the honest view to both witnesses first, at size 4 and
    // then 6: both cosign it.
    let log = &shown_to_all;
    let mut honest = log.note(0, 6);
    for witness in [&s1, &s2] {
        add(witness, &log.note(0, 4), &log.request(0, 0, 4)).unwrap();
        honest = add(witness, &honest, &log.request(0, 4, 6)).unwrap();
    }
    // The forged view of the same size is refused by both, whatever old
    // size it claims (409, with the size they hold).
    let forged = log.note(1, 6);
    for witness in [&s1, &s2] {
        for old in [6, 4, 0] {
            assert_eq!(
                add(witness, &forged, &log.request(1, old, 6)),
                Err((409, "6\n".into())),
                "from {old}"
            );
        }
    }
    for group in ["all", "any"] {
        assert!(policy(log, group).verify(&honest).is_ok(), "{group}");
        assert!(policy(log, group).verify(&forged).is_err(), "{group}");
    }

    // Shown apart, the honest view to w1 and the forged one to w2, each
    // view gets one cosignature: a 2-of-2 quorum refuses both, while a
    // 1-of-2 quorum is fooled by either ...
    let log = &shown_apart;
    let honest = add(&s1, &log.note(0, 6), &log.request(0, 0, 6)).unwrap();
    let forged = add(&s2, &log.note(1, 6), &log.request(1, 0, 6)).unwrap();
    assert!(policy(log, "all").verify(&honest).is_err());
    assert!(policy(log, "all").verify(&forged).is_err());
    assert!(policy(log, "any").verify(&forged).is_ok());
    // ... until the holder of the forged view asks the other witness: it
    // answers with the size it holds, and then refuses the forged root at
    // that size. The refusal is the evidence of the split.
    let request = AddCheckpoint::parse(&log.request(1, 0, 6)).unwrap();
    let (status, _, held) = http(&s1.url, "POST", "/add-checkpoint", &request.body());
    assert_eq!((status, held.as_str()), (409, "6\n"));
    let retry = AddCheckpoint {
        old_size: 6,
        proof: vec![],
        note: forged.clone(),
    };
    assert_eq!(add(&s1, &forged, &retry.body()), Err((409, "6\n".into())));
    drop(s2);

    // The spec's other answers, over HTTP.
    let unknown = SplitLog::new("unknown.test/log", 2);
    let (status, _, _) = http(
        &s1.url,
        "POST",
        "/add-checkpoint",
        &unknown.request(0, 0, 2),
    );
    assert_eq!(status, 404);
    let impostor = SplitLog::new("split.test/all", 6);
    let (status, _, _) = http(
        &s1.url,
        "POST",
        "/add-checkpoint",
        &impostor.request(0, 0, 6),
    );
    assert_eq!(status, 403);
    let mut old_after_new = AddCheckpoint::parse(&shown_to_all.request(0, 0, 4)).unwrap();
    old_after_new.old_size = 5;
    let (status, _, _) = http(&s1.url, "POST", "/add-checkpoint", &old_after_new.body());
    assert_eq!(status, 400);
    let mut bad_proof = AddCheckpoint::parse(&shown_to_all.request(0, 4, 6)).unwrap();
    bad_proof.old_size = 6;
    bad_proof.proof = vec![[7; 32]];
    let (status, _, _) = http(&s1.url, "POST", "/add-checkpoint", &bad_proof.body());
    assert_eq!(status, 422);
    let (status, _, _) = http(&s1.url, "POST", "/add-checkpoint", "old 0\n");
    assert_eq!(status, 400);
}

#[test]
fn a_witness_out_of_reach_at_start_up_is_logged_and_does_not_stop_it() {
    let root = tempfile::tempdir().unwrap();
    let log = LogSigner::generate(ORIGIN);
    let w1 = WitnessSite::new(root.path(), "witness.down.test/w1", &[&log]);
    let s1 = w1.start();
    let site = ServiceSite::new(root.path(), &log, &[(&w1, &s1)]);
    s1.stop();
    let service = site.start();
    service.publish(5);
    let logged = site.log();
    assert!(
        logged.contains("cannot learn the size the witness has cosigned")
            && logged.contains(&w1.name),
        "{logged}"
    );
}
