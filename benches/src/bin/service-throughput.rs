//! The verifier service's throughput for proof submission, against the raw
//! verification throughput of the same machine, measured in the same run,
//! on the reference workload (`medical-premises` over `real-estate`, arity
//! 4, depth 10).
//!
//! Makes N reference proofs with distinct case ids once (the engine's batch
//! prover), as the JSON bodies `zkgov prove` writes, then, alternating, in
//! every round:
//!
//! - raw: the same N bodies, each parsed as the service parses it (JSON,
//!   `proof_from_json` with every point validated, `parse_field_element` on
//!   each public input, the case id checked) and checked with `verify`, in
//!   parallel across proofs on all cores (rayon);
//! - service: a fresh service (`RunningService`, a fresh data directory,
//!   embedded SQLite, the reference key directory registered at start-up),
//!   the registry root anchored by its owning department, then a load
//!   generator on loopback that POSTs all N bodies to `/v1/proofs` over C
//!   concurrent keep-alive connections; proofs/s from the first request to
//!   the last response. Every answer must be 201 — any other status makes
//!   the number invalid, and the run says so loudly. The service checks
//!   single proofs that arrive together in shared batches (its
//!   verification batcher), so under this load it can pass the raw rate,
//!   which checks each proof alone.
//!
//! It also reports, per service round, where the process's CPU time went by
//! thread (from `/proc/self/task/*/schedstat`, Linux only): the load
//! generator, the service's runtime (async workers and blocking pool:
//! HTTP, JSON, SQLite reads and receipts), the verification batcher and
//! the rayon pool it uses (point validation and verification, listed under
//! the process's own name), the log appender (SQLite writes and fsync),
//! against the raw CPU time per
//! proof, and their quotient: the throughput ratio the two would show if
//! both got the same share of the cores. On a machine shared with other
//! work the wall-clock ratio depends on that share, and the service, which
//! runs more threads than the raw pool, tends to get more of it. This is a
//! benchmark, not a test: it prints numbers and asserts no timing.
//!
//! `cargo run --release -p zkgov-benches --bin service-throughput [-- [--proofs N] [--concurrency C] [--rounds R] [--client-threads T]]`

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rayon::prelude::*;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{json, Value};
use zkgov_benches::load::{reference_bodies, write_config, REGISTRY, TOKEN};
use zkgov_benches::median;
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::statement::Statement;
use zkgov_circuits::Fr;
use zkgov_keys::snarkjs;
use zkgov_log::verify::{verify, Item, PreparedKey};
use zkgov_verifier::service::config::{Config, Overrides};
use zkgov_verifier::service::RunningService;

/// Name of the load generator's threads, to tell its CPU time apart.
const LOADGEN_THREAD: &str = "loadgen";
/// Name of the raw measurement's rayon threads.
const RAW_THREAD: &str = "raw-verify";

struct Options {
    proofs: usize,
    concurrency: usize,
    rounds: usize,
    client_threads: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: service-throughput [--proofs N (512)] [--concurrency C (32)] [--rounds R (3)] [--client-threads T (1)]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let mut o = Options {
        proofs: 512,
        concurrency: 32,
        rounds: 3,
        client_threads: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--proofs" | "-n" => &mut o.proofs,
            "--concurrency" | "-c" => &mut o.concurrency,
            "--rounds" | "-r" => &mut o.rounds,
            "--client-threads" => &mut o.client_threads,
            _ => usage(),
        };
        *slot = args
            .next()
            .and_then(|v| v.parse().ok())
            .filter(|&v: &usize| v > 0)
            .unwrap_or_else(|| usage());
    }
    o
}

fn best(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::MIN, f64::max)
}

// ------------------------------------------------------------------ raw

/// A submission, as the service reads it.
#[derive(Deserialize)]
struct Submission {
    key_id: String,
    case_id: String,
    public_inputs: Vec<String>,
    proof: Value,
}

/// What the service does to a body before and including the pairing check,
/// minus HTTP, storage and the log.
fn raw_check(body: &[u8], key: &PreparedKey, key_id: &str) -> bool {
    let Ok(s) = serde_json::from_slice::<Submission>(body) else {
        return false;
    };
    if s.key_id != key_id || s.public_inputs.len() != key.public_inputs() {
        return false;
    }
    let Ok(inputs) = s
        .public_inputs
        .iter()
        .map(|t| parse_field_element(t))
        .collect::<Result<Vec<Fr>, _>>()
    else {
        return false;
    };
    if inputs[1] != Statement::case_id(&s.case_id) {
        return false;
    }
    let Ok(proof) = snarkjs::proof_from_json(&s.proof.to_string()) else {
        return false;
    };
    verify(&Item {
        key,
        proof: &proof,
        public_inputs: &inputs,
    }) == Ok(true)
}

struct RawRound {
    elapsed: Duration,
    accepted: usize,
    cpu: Duration,
}

fn raw_round(
    pool: &rayon::ThreadPool,
    bodies: &[Bytes],
    key: &PreparedKey,
    key_id: &str,
) -> RawRound {
    let before = thread_cpu();
    let started = Instant::now();
    let accepted = pool.install(|| {
        bodies
            .par_iter()
            .filter(|b| raw_check(b, key, key_id))
            .count()
    });
    let elapsed = started.elapsed();
    let cpu = cpu_by_group(&before, &thread_cpu())
        .remove(RAW_THREAD)
        .unwrap_or_default();
    RawRound {
        elapsed,
        accepted,
        cpu,
    }
}

// ------------------------------------------------------------------ service

fn service_config(data: &Path, key_dir: &Path, concurrency: usize) -> Config {
    let limits = format!(
        "\n[limits]\nmax_in_flight = {}\n",
        (2 * concurrency).max(256)
    );
    let path = write_config(data, key_dir, &limits);
    Config::load(Some(&path), &|_| None, &Overrides::default()).expect("a valid service config")
}

#[derive(Default)]
struct Load {
    elapsed: Duration,
    statuses: BTreeMap<u16, usize>,
    latencies: Vec<Duration>,
    refusal: Option<String>,
    metrics: String,
}

struct ServiceRound {
    load: Load,
    cpu: BTreeMap<String, Duration>,
    startup: Duration,
    shutdown: Duration,
}

/// One connection's worth of the load: takes the next body until none is
/// left.
async fn worker(
    client: reqwest::Client,
    url: Arc<str>,
    auth: HeaderValue,
    bodies: Arc<Vec<Bytes>>,
    next: Arc<AtomicUsize>,
) -> Load {
    let mut load = Load::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = bodies.get(i) else {
            return load;
        };
        let started = Instant::now();
        let sent = client
            .post(&*url)
            .header(AUTHORIZATION, auth.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body.clone())
            .send()
            .await;
        let status = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.bytes().await;
                if status != 201 && load.refusal.is_none() {
                    load.refusal = Some(match text {
                        Ok(t) => String::from_utf8_lossy(&t).chars().take(300).collect(),
                        Err(e) => format!("reading the body: {e}"),
                    });
                }
                status
            }
            Err(e) => {
                if load.refusal.is_none() {
                    load.refusal = Some(format!("transport error: {e}"));
                }
                0
            }
        };
        load.latencies.push(started.elapsed());
        *load.statuses.entry(status).or_default() += 1;
    }
}

async fn post_json(client: &reqwest::Client, url: String, body: Value) -> (u16, String) {
    let response = client
        .post(url)
        .bearer_auth(TOKEN)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the service answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn service_round(
    runtime: &tokio::runtime::Runtime,
    key_dir: &Path,
    root: &str,
    bodies: &Arc<Vec<Bytes>>,
    concurrency: usize,
) -> ServiceRound {
    let data = tempfile::tempdir().expect("a temporary data directory");
    let config = service_config(data.path(), key_dir, concurrency);
    let started = Instant::now();
    let service = RunningService::spawn(config).expect("the service starts");
    let startup = started.elapsed();
    let base = service.url();

    let mut cpu = BTreeMap::new();
    let load = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(concurrency)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(600))
            .build()
            .expect("an HTTP client");
        let (status, body) = post_json(
            &client,
            format!("{base}/v1/registries/{REGISTRY}/roots"),
            json!({ "root": root }),
        )
        .await;
        assert_eq!(status, 201, "anchoring the registry root: {body}");

        // Open the C keep-alive connections before the clock starts.
        let mut warm = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (client, url) = (client.clone(), format!("{base}/healthz"));
            warm.spawn(async move {
                let r = client.get(url).send().await.expect("healthz answers");
                r.bytes().await.ok();
            });
        }
        while warm.join_next().await.is_some() {}

        let url: Arc<str> = format!("{base}/v1/proofs").into();
        let auth = HeaderValue::from_str(&format!("Bearer {TOKEN}")).expect("a header value");
        let next = Arc::new(AtomicUsize::new(0));
        let before = thread_cpu();
        let started = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            workers.spawn(worker(
                client.clone(),
                url.clone(),
                auth.clone(),
                bodies.clone(),
                next.clone(),
            ));
        }
        let mut total = Load::default();
        while let Some(done) = workers.join_next().await {
            let load = done.expect("a load task");
            for (status, n) in load.statuses {
                *total.statuses.entry(status).or_default() += n;
            }
            total.latencies.extend(load.latencies);
            total.refusal = total.refusal.or(load.refusal);
        }
        total.elapsed = started.elapsed();
        cpu = cpu_by_group(&before, &thread_cpu());
        total.metrics = match client.get(format!("{base}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        total
    });
    let started = Instant::now();
    service.shutdown().expect("the service shuts down");
    let shutdown = started.elapsed();
    ServiceRound {
        load,
        cpu,
        startup,
        shutdown,
    }
}

/// A metric's value from the exposition text (first sample of that name).
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, value) = l.rsplit_once(' ')?;
        (key == name).then(|| value.parse().ok())?
    })
}

// ------------------------------------------------------------------ CPU

/// On-CPU time of every live thread of this process: tid → (name, time),
/// from `/proc/self/task/*/schedstat` (empty where that is unavailable).
fn thread_cpu() -> HashMap<u64, (String, Duration)> {
    let mut threads = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let Some(ns) = std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        else {
            continue;
        };
        threads.insert(tid, (name.trim().to_string(), Duration::from_nanos(ns)));
    }
    threads
}

/// The CPU time spent between two snapshots, by thread group.
fn cpu_by_group(
    before: &HashMap<u64, (String, Duration)>,
    after: &HashMap<u64, (String, Duration)>,
) -> BTreeMap<String, Duration> {
    let mut groups = BTreeMap::new();
    for (tid, (name, time)) in after {
        let start = before.get(tid).map_or(Duration::ZERO, |b| b.1);
        let group = if name.starts_with(RAW_THREAD) {
            RAW_THREAD
        } else if name.starts_with(LOADGEN_THREAD) {
            LOADGEN_THREAD
        } else if name.starts_with("tokio-r") {
            "service runtime"
        } else if name.starts_with("zkgov-log-appen") {
            "service appender"
        } else if name.starts_with("zkgov-verifier") {
            "service main"
        } else {
            name.as_str()
        };
        *groups.entry(group.to_string()).or_default() += time.saturating_sub(start);
    }
    groups
}

// ------------------------------------------------------------------ main

/// The first three fields of `/proc/loadavg`.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "n/a".into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let o = options();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (workload, bodies) = reference_bodies(o.proofs, 7, false);
    let root = to_decimal(&workload.root);
    let key = PreparedKey::new(workload.keys.verifying_key.clone());
    let key_id = workload.keys.metadata.key_id.clone();
    let key_dir = workload.keys.path.clone();
    let bodies = Arc::new(bodies);
    let body_bytes: usize = bodies.iter().map(Bytes::len).sum();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cores)
        .thread_name(|i| format!("{RAW_THREAD}-{i}"))
        .build()
        .expect("a rayon pool");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.client_threads)
        .thread_name(LOADGEN_THREAD)
        .enable_all()
        .build()
        .expect("the load generator's runtime");

    // Warm up the raw path (page in, caches).
    raw_round(&pool, &bodies[..bodies.len().min(2 * cores)], &key, &key_id);

    println!(
        "reference workload: {} over {}, arity {}, depth {}; {} public inputs; N = {} proofs with distinct case ids ({:.0} bytes/body)",
        workload.policy.name,
        workload.schema.name,
        workload.shape.arity(),
        workload.shape.depth(),
        key.public_inputs(),
        o.proofs,
        body_bytes as f64 / o.proofs as f64,
    );
    println!(
        "{cores} cores; load generator: C = {} keep-alive connections on loopback, {} client thread(s); {} rounds, raw then service in each",
        o.concurrency, o.client_threads, o.rounds
    );
    println!();

    let n = o.proofs as f64;
    let mut raw_rates = Vec::new();
    let mut service_rates = Vec::new();
    let mut ratios = Vec::new();
    let mut invalid_rounds = 0;
    let mut cpu_ratios = Vec::new();
    let mut utilisation = Vec::new();
    let load_before = loadavg();
    for round in 1..=o.rounds {
        eprintln!("round {round}/{}: raw ...", o.rounds);
        let raw = raw_round(&pool, &bodies, &key, &key_id);
        eprintln!("round {round}/{}: service ...", o.rounds);
        let service = service_round(&runtime, &key_dir, &root, &bodies, o.concurrency);

        let raw_rate = n / raw.elapsed.as_secs_f64();
        let load = &service.load;
        let service_rate = n / load.elapsed.as_secs_f64();
        let created = load.statuses.get(&201).copied().unwrap_or(0);
        let other: usize = load
            .statuses
            .iter()
            .filter(|(s, _)| **s != 201)
            .map(|(_, n)| n)
            .sum();
        raw_rates.push(raw_rate);
        service_rates.push(service_rate);
        ratios.push(service_rate / raw_rate);

        let mut latencies = load.latencies.clone();
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let m = &load.metrics;
        let verify_avg = match (
            metric(m, "zkgov_verify_seconds_sum"),
            metric(m, "zkgov_verify_seconds_count"),
        ) {
            (Some(sum), Some(count)) if count > 0.0 => format!("{:.0}", sum / count * 1e6),
            _ => "n/a".into(),
        };
        let log_size = metric(m, "zkgov_log_size").map_or("n/a".into(), |v| format!("{v}"));

        println!("round {round}");
        println!();
        println!("| measure | value |");
        println!("|---|---|");
        println!(
            "| raw: parse + validate + `verify`, rayon on {cores} cores | {raw_rate:.0} proofs/s ({:.1} ms for {}; {} accepted) |",
            ms(raw.elapsed),
            o.proofs,
            raw.accepted
        );
        println!(
            "| service: POST /v1/proofs, C = {} | {service_rate:.0} proofs/s ({:.1} ms for {}; {created} × 201, {other} other) |",
            o.concurrency,
            ms(load.elapsed),
            o.proofs
        );
        println!("| ratio service/raw | {:.2} |", service_rate / raw_rate);
        println!(
            "| request latency p50 / p90 / p99 / max | {:.1} / {:.1} / {:.1} / {:.1} ms |",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.9)),
            ms(percentile(&latencies, 0.99)),
            ms(percentile(&latencies, 1.0)),
        );
        println!(
            "| service metrics: zkgov_verify_seconds sum/count (incl. waiting for a verifier permit) | {verify_avg} µs/proof |"
        );
        println!("| service metrics: zkgov_log_size at the end | {log_size} |");
        println!(
            "| service start-up / shutdown | {:.0} / {:.0} ms |",
            ms(service.startup),
            ms(service.shutdown)
        );
        if !service.cpu.is_empty() {
            let us = |d: Duration| d.as_secs_f64() * 1e6 / n;
            let total: Duration = service.cpu.values().sum();
            println!(
                "| CPU per proof, raw (its rayon threads) | {:.0} µs ({:.0}% of {cores} cores) |",
                us(raw.cpu),
                100.0 * raw.cpu.as_secs_f64() / (raw.elapsed.as_secs_f64() * cores as f64)
            );
            println!(
                "| CPU per proof, service round, all threads | {:.0} µs ({:.0}% of {cores} cores) |",
                us(total),
                100.0 * total.as_secs_f64() / (load.elapsed.as_secs_f64() * cores as f64)
            );
            for (group, time) in &service.cpu {
                if us(*time) < 0.5 {
                    continue;
                }
                println!("| … {group} | {:.0} µs |", us(*time));
            }
            if !raw.cpu.is_zero() && !total.is_zero() {
                let ratio = raw.cpu.as_secs_f64() / total.as_secs_f64();
                cpu_ratios.push(ratio);
                println!(
                    "| CPU-time ratio raw/service per proof (the throughput ratio if both got the same CPU share) | {ratio:.2} |"
                );
            }
            utilisation.push((
                raw.cpu.as_secs_f64() / (raw.elapsed.as_secs_f64() * cores as f64),
                total.as_secs_f64() / (load.elapsed.as_secs_f64() * cores as f64),
            ));
        }
        println!();
        if other > 0 {
            invalid_rounds += 1;
            println!("!!!!!!!! WARNING: round {round}: {other} of {} responses were not 201 ({:?}; 0 = transport error); THIS ROUND'S SERVICE NUMBER IS INVALID !!!!!!!!", o.proofs, load.statuses);
            if let Some(r) = &load.refusal {
                println!("!!!!!!!! first refusal: {r}");
            }
            println!();
        }
    }

    println!("summary");
    println!();
    println!("| | best of {} | median | rounds |", o.rounds);
    println!("|---|---|---|---|");
    let list = |v: &[f64], digits: usize| {
        v.iter()
            .map(|x| format!("{x:.digits$}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "| raw proofs/s | {:.0} | {:.0} | {} |",
        best(&raw_rates),
        median(raw_rates.clone()),
        list(&raw_rates, 0)
    );
    println!(
        "| service proofs/s | {:.0} | {:.0} | {} |",
        best(&service_rates),
        median(service_rates.clone()),
        list(&service_rates, 0)
    );
    println!(
        "| ratio service/raw | {:.2} (best/best) | {:.2} (per round) | {} |",
        best(&service_rates) / best(&raw_rates),
        median(ratios.clone()),
        list(&ratios, 2)
    );
    if !cpu_ratios.is_empty() {
        println!(
            "| CPU-time ratio raw/service per proof | {:.2} | {:.2} | {} |",
            best(&cpu_ratios),
            median(cpu_ratios.clone()),
            list(&cpu_ratios, 2)
        );
    }
    println!();
    println!(
        "notes: {cores} cores; N = {}; C = {}; load generator on {} thread(s) in this process, sharing the cores with the service; target ratio ≥ 0.6",
        o.proofs, o.concurrency, o.client_threads
    );
    println!(
        "load average (1, 5, 15 min) before the rounds: {load_before}; after: {}",
        loadavg()
    );
    if let Some(&(raw, service)) = utilisation
        .iter()
        .find(|(raw, service)| raw.min(*service) < 0.85)
    {
        println!(
            "note: the cores were not ours alone (e.g. raw got {:.0}% and the service round {:.0}% of {cores} cores in one round): \
             other processes took a share, and how much each side got depends on how many threads it runs; \
             the CPU-time ratio above does not depend on that share",
            100.0 * raw,
            100.0 * service
        );
    }
    if invalid_rounds > 0 {
        println!(
            "!!!!!!!! WARNING: {invalid_rounds} round(s) had non-201 responses: the service numbers are INVALID !!!!!!!!"
        );
    }
}
