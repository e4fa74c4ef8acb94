//! Load generation against a service on loopback, for the benchmarks that
//! drive one: submission bodies of the reference workload, an HTTP client,
//! one submission timed, a closed-loop connection, and the report's
//! helpers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::statement::Statement;
use zkgov_circuits::Fr;
use zkgov_verifier::proof_line::ProofLine;
use zkgov_verifier::test_utils::{ConfigFile, Department};

use crate::workload::ReferenceWorkload;

/// The registry the reference key reads, in the one-department service.
pub const REGISTRY: &str = "real-estate";
/// The department that owns it.
pub const DEPARTMENT: &str = "land-registry";
/// Its bearer token (the service sees only its hash).
pub const TOKEN: &str = "bench-land-registry-token-0123456789";

/// Writes, into `data`, the config of a service with one department,
/// `DEPARTMENT`, that owns `REGISTRY`, read by the key directory `keys`,
/// followed by `extra` (such as a `[limits]` table); its path.
pub fn write_config(data: &Path, keys: &Path, extra: &str) -> PathBuf {
    ConfigFile::new(data)
        .department(Department::new(DEPARTMENT, TOKEN).registries(&[REGISTRY]))
        .key(keys, REGISTRY)
        .table(extra)
        .write(data.join("verifier.toml"))
}

/// What a submission was answered: (status, reason) → count. Status 0 is
/// a transport error.
pub type Outcomes = BTreeMap<(u16, String), usize>;

/// Proves `cases` reference cases under a fresh key (from `seed`) and
/// returns the workload and the submission bodies, as `zkgov prove` writes
/// its `proven` lines; with `tamper`, each body's subject tag is changed,
/// so that the proof passes every check before the pairing check and fails
/// that one.
pub fn reference_bodies(cases: usize, seed: u64, tamper: bool) -> (ReferenceWorkload, Vec<Bytes>) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let records = (cases as u64).max(4096);
    eprintln!("setting up a reference key and registry ({records} records) ...");
    let started = Instant::now();
    let workload = ReferenceWorkload::new(records, cases, seed);
    let engine = workload.engine();
    eprintln!("  done in {:.1} s", started.elapsed().as_secs_f64());
    let key_id = workload.keys.metadata.key_id.clone();
    eprintln!("proving {cases} cases on {cores} workers ...");
    let started = Instant::now();
    let mut bodies: Vec<Option<Bytes>> = vec![None; cases];
    let (mut done, step) = (0, (cases / 16).max(1));
    engine.prove_batch(
        workload
            .cases
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, (s, w))| (i, s, w)),
        cores,
        &AtomicBool::new(false),
        |i, statement, result| {
            let proof = result.expect("every reference case proves");
            let case = format!("CASE-2026-{i:06}");
            assert_eq!(Statement::case_id(&case), statement.case_id);
            let mut body = ProofLine::new(&key_id, &case, &statement, &proof);
            if tamper {
                // The subject tag: still a canonical field element, so the
                // proof is refused by the pairing check and nothing before.
                body.public_inputs[2] =
                    to_decimal(&(statement.public_inputs()[2] + Fr::from(1u64)));
            }
            bodies[i] = Some(Bytes::from(serde_json::to_vec(&body).expect("JSON")));
            done += 1;
            if done % step == 0 || done == cases {
                eprintln!("  {done}/{cases}");
            }
        },
    );
    eprintln!("  done in {:.1} s", started.elapsed().as_secs_f64());
    let bodies = bodies
        .into_iter()
        .map(|b| b.expect("every case answered"))
        .collect();
    (workload, bodies)
}

/// A keep-alive HTTP client that keeps up to `connections` idle ones.
pub fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("an HTTP client")
}

/// Anchors `root` for `registry` as the department of `token`.
pub async fn anchor(client: &reqwest::Client, base: &str, registry: &str, token: &str, root: &str) {
    let response = client
        .post(format!("{base}/v1/registries/{registry}/roots"))
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json")
        .body(json!({ "root": root }).to_string())
        .send()
        .await
        .expect("the service answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 201, "anchoring {registry}: {text}");
}

/// Sends `body` and waits for the whole answer: (status, reason, latency).
pub async fn submit(
    client: &reqwest::Client,
    url: &str,
    auth: &HeaderValue,
    body: Bytes,
) -> (u16, String, Duration) {
    let started = Instant::now();
    let sent = client
        .post(url)
        .header(AUTHORIZATION, auth.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(body)
        .send()
        .await;
    let (status, reason) = match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.bytes().await.unwrap_or_default();
            let reason = serde_json::from_slice::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["reason"].as_str().map(String::from))
                .unwrap_or_else(|| {
                    if status == 201 {
                        "accepted".into()
                    } else {
                        "?".into()
                    }
                });
            (status, reason)
        }
        Err(e) => (0, format!("transport error: {e}")),
    };
    (status, reason, started.elapsed())
}

/// One closed-loop connection: sends the next of `bodies` (round and
/// round) as soon as the last is answered, until `stop`.
pub async fn closed_loop(
    client: reqwest::Client,
    url: Arc<str>,
    auth: HeaderValue,
    bodies: Arc<Vec<Bytes>>,
    next: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Outcomes {
    let mut outcomes = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        let i = next.fetch_add(1, Ordering::Relaxed) % bodies.len();
        let (status, reason, _) = submit(&client, &url, &auth, bodies[i].clone()).await;
        *outcomes.entry((status, reason)).or_default() += 1;
    }
    outcomes
}

/// The value at `p` (0 to 1) of `sorted`, zero if it is empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `n × status reason, …`.
pub fn outcomes(map: &Outcomes) -> String {
    map.iter()
        .map(|((status, reason), n)| format!("{n} × {status} {reason}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first three fields of `/proc/loadavg`.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "n/a".into())
}
