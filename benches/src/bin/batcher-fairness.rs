//! How much one department's flood of invalid proofs delays another
//! department's checks, through a real service over loopback HTTP, on the
//! reference workload (`medical-premises` over `real-estate`, arity 4,
//! depth 10).
//!
//! Two departments, each with its own registry and its own reference key:
//!
//! - B submits valid proofs with distinct case ids to `POST /v1/proofs` at
//!   a steady rate (open loop: request i is sent at `i / rate` seconds,
//!   whatever the answers to earlier ones), every one of which the service
//!   should accept (201);
//! - A floods `POST /v1/proofs` from C keep-alive connections, each sending
//!   its next proof as soon as the last is answered. A's proofs are valid
//!   proofs with one public input (the subject tag) changed: they pass
//!   every check before the pairing check and fail that one, so each costs
//!   the service the splitting that locates it.
//!
//! One service, two phases of S seconds each, in the same run: B alone,
//! then B while A floods (A starts one second before B's second phase, so
//! that B meets a flood already under way). It reports the latency of B's
//! accepted proofs (from sending to the last byte of the answer) per
//! phase, the ratio flood/alone, how many of B's proofs were not accepted
//! (should be 0), what A got back, and how late B's sender was against its
//! schedule (the load generators share the cores with the service). This
//! is a benchmark, not a test: it prints numbers and asserts no timing.
//!
//! The batcher keeps the departments apart, but the service's concurrency
//! limit (`limits.max_in_flight`, 256 by default) is shared by all of them:
//! with C above it, the HTTP layer sheds B's requests as well as A's,
//! before they reach the batcher.
//!
//! `cargo run --release -p zkgov-benches --bin batcher-fairness [-- [--rate R] [--seconds S] [--flood-connections C]]`

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderValue;
use zkgov_benches::load::{
    anchor, client, closed_loop, loadavg, ms, outcomes, percentile, reference_bodies, submit,
    Outcomes,
};
use zkgov_circuits::field::to_decimal;
use zkgov_verifier::service::config::Config;
use zkgov_verifier::service::RunningService;
use zkgov_verifier::test_utils::{ConfigFile, Department};

/// The department that floods invalid proofs.
const FLOODER: &str = "dept-a";
/// The department that submits valid proofs at a steady rate.
const STEADY: &str = "dept-b";
const FLOODER_TOKEN: &str = "bench-dept-a-token-0123456789";
const STEADY_TOKEN: &str = "bench-dept-b-token-0123456789";
const FLOODER_REGISTRY: &str = "registry-a";
const STEADY_REGISTRY: &str = "registry-b";
/// Distinct proofs A cycles through (invalid proofs are never logged, so
/// A may send each many times).
const FLOOD_PROOFS: usize = 32;

struct Options {
    rate: usize,
    seconds: usize,
    flood_connections: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: batcher-fairness [--rate R (10 proofs/s)] [--seconds S (20, per phase)] [--flood-connections C (64)]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let mut o = Options {
        rate: 10,
        seconds: 20,
        flood_connections: 64,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--rate" => &mut o.rate,
            "--seconds" => &mut o.seconds,
            "--flood-connections" | "-c" => &mut o.flood_connections,
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

// ------------------------------------------------------------------ service

fn service_config(data: &Path, flooder_keys: &Path, steady_keys: &Path) -> Config {
    ConfigFile::new(data)
        .department(Department::new(FLOODER, FLOODER_TOKEN).registries(&[FLOODER_REGISTRY]))
        .department(Department::new(STEADY, STEADY_TOKEN).registries(&[STEADY_REGISTRY]))
        .key(flooder_keys, FLOODER_REGISTRY)
        .key(steady_keys, STEADY_REGISTRY)
        .load(data.join("verifier.toml"))
}

// ------------------------------------------------------------------ load

/// What B's phase measured.
#[derive(Default)]
struct Steady {
    /// Requests sent.
    sent: usize,
    /// The latency of each accepted proof (a refusal can be quicker than
    /// a check, so refusals are counted, not timed).
    latencies: Vec<Duration>,
    /// How late each request left against its schedule.
    lateness: Vec<Duration>,
    /// (status, reason) → count.
    outcomes: Outcomes,
}

impl Steady {
    fn accepted(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|((status, _), _)| *status == 201)
            .map(|(_, n)| n)
            .sum()
    }

    fn refused(&self) -> usize {
        self.sent - self.accepted()
    }
}

/// B's open-loop schedule: `bodies[i]` is sent at `i / rate` seconds.
async fn steady(
    client: reqwest::Client,
    url: Arc<str>,
    auth: HeaderValue,
    bodies: Vec<Bytes>,
    rate: usize,
) -> Steady {
    let start = tokio::time::Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due).await;
        let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
        requests.spawn(async move {
            let late = due.elapsed();
            let answer = submit(&client, &url, &auth, body).await;
            (late, answer)
        });
    }
    let mut result = Steady::default();
    while let Some(done) = requests.join_next().await {
        let (late, (status, reason, latency)) = done.expect("a request task");
        result.sent += 1;
        result.lateness.push(late);
        if status == 201 {
            result.latencies.push(latency);
        }
        *result.outcomes.entry((status, reason)).or_default() += 1;
    }
    result
}

/// What A's flood got back.
#[derive(Default)]
struct Flood {
    outcomes: Outcomes,
    elapsed: Duration,
}

fn main() {
    let o = options();
    let per_phase = o.rate * o.seconds;
    let (steady_workload, steady_bodies) = reference_bodies(2 * per_phase, 7, false);
    let (flooder_workload, flood_bodies) = reference_bodies(FLOOD_PROOFS, 11, true);

    let data = tempfile::tempdir().expect("a temporary data directory");
    let config = service_config(
        data.path(),
        &flooder_workload.keys.path,
        &steady_workload.keys.path,
    );
    let service = RunningService::spawn(config).expect("the service starts");
    let base = service.url();

    // B and A each have their own load generator thread.
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .expect("a load generator runtime")
    };
    let steady_runtime = runtime("steady-load");
    let flood_runtime = runtime("flood-load");
    let steady_client = client(64);
    let flood_client = client(o.flood_connections);

    steady_runtime.block_on(async {
        anchor(
            &steady_client,
            &base,
            STEADY_REGISTRY,
            STEADY_TOKEN,
            &to_decimal(&steady_workload.root),
        )
        .await;
        anchor(
            &steady_client,
            &base,
            FLOODER_REGISTRY,
            FLOODER_TOKEN,
            &to_decimal(&flooder_workload.root),
        )
        .await;
    });

    let url: Arc<str> = format!("{base}/v1/proofs").into();
    let steady_auth = HeaderValue::from_str(&format!("Bearer {STEADY_TOKEN}")).expect("a header");
    let flood_auth = HeaderValue::from_str(&format!("Bearer {FLOODER_TOKEN}")).expect("a header");
    let mut steady_bodies = steady_bodies;
    let second_half = steady_bodies.split_off(per_phase);
    let load_before = loadavg();

    eprintln!(
        "phase 1: B alone, {} proofs/s for {} s ...",
        o.rate, o.seconds
    );
    let alone = steady_runtime.block_on(steady(
        steady_client.clone(),
        url.clone(),
        steady_auth.clone(),
        steady_bodies,
        o.rate,
    ));

    eprintln!(
        "phase 2: B at {} proofs/s for {} s while A floods from {} connections ...",
        o.rate, o.seconds, o.flood_connections
    );
    let stop = Arc::new(AtomicBool::new(false));
    let flood_bodies = Arc::new(flood_bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let flood_started = Instant::now();
    let connections: Vec<_> = (0..o.flood_connections)
        .map(|_| {
            flood_runtime.spawn(closed_loop(
                flood_client.clone(),
                url.clone(),
                flood_auth.clone(),
                flood_bodies.clone(),
                next.clone(),
                stop.clone(),
            ))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let flooded = steady_runtime.block_on(steady(
        steady_client.clone(),
        url.clone(),
        steady_auth.clone(),
        second_half,
        o.rate,
    ));
    stop.store(true, Ordering::Relaxed);
    let mut flood = Flood::default();
    flood_runtime.block_on(async {
        for connection in connections {
            for (outcome, n) in connection.await.expect("a flood connection") {
                *flood.outcomes.entry(outcome).or_default() += n;
            }
        }
    });
    flood.elapsed = flood_started.elapsed();
    let metrics = steady_runtime.block_on(async {
        match steady_client.get(format!("{base}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    });
    drop(steady_runtime);
    drop(flood_runtime);
    service.shutdown().expect("the service shuts down");

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "reference workload: {} over {}, arity {}, depth {}; {cores} cores; one service on loopback, embedded SQLite",
        steady_workload.policy.name,
        steady_workload.schema.name,
        steady_workload.shape.arity(),
        steady_workload.shape.depth(),
    );
    println!(
        "B: {} valid proofs/s, open loop, {} s per phase; A: {} connections, closed loop, {} distinct invalid proofs (subject tag changed)",
        o.rate, o.seconds, o.flood_connections, FLOOD_PROOFS
    );
    println!();
    println!("| B's requests | sent | accepted | not accepted | p50 (accepted) | p90 | p99 | max | sender late, p99 / max |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (name, phase) in [("alone", &alone), ("while A floods", &flooded)] {
        let mut sorted = phase.latencies.clone();
        sorted.sort();
        let mut late = phase.lateness.clone();
        late.sort();
        println!(
            "| {name} | {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} / {:.1} ms |",
            phase.sent,
            phase.accepted(),
            phase.refused(),
            ms(percentile(&sorted, 0.5)),
            ms(percentile(&sorted, 0.9)),
            ms(percentile(&sorted, 0.99)),
            ms(percentile(&sorted, 1.0)),
            ms(percentile(&late, 0.99)),
            ms(percentile(&late, 1.0)),
        );
        rows.push(sorted);
    }
    println!(
        "| ratio flood/alone | | | | {:.2} | {:.2} | {:.2} | {:.2} | |",
        ms(percentile(&rows[1], 0.5)) / ms(percentile(&rows[0], 0.5)),
        ms(percentile(&rows[1], 0.9)) / ms(percentile(&rows[0], 0.9)),
        ms(percentile(&rows[1], 0.99)) / ms(percentile(&rows[0], 0.99)),
        ms(percentile(&rows[1], 1.0)) / ms(percentile(&rows[0], 1.0)),
    );
    println!();
    println!("B's answers alone: {}", outcomes(&alone.outcomes));
    println!(
        "B's answers while A floods: {}",
        outcomes(&flooded.outcomes)
    );
    let answered: usize = flood.outcomes.values().sum();
    println!(
        "A's answers ({answered} in {:.1} s, {:.0}/s): {}",
        flood.elapsed.as_secs_f64(),
        answered as f64 / flood.elapsed.as_secs_f64(),
        outcomes(&flood.outcomes)
    );
    let shed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("zkgov_load_shed_total "))
        .unwrap_or("n/a");
    println!("service metrics: zkgov_load_shed_total {shed}");
    println!(
        "load average (1, 5, 15 min) before the phases: {load_before}; after: {}",
        loadavg()
    );
    let refused = alone.refused() + flooded.refused();
    if refused > 0 {
        println!("!!!!!!!! WARNING: {refused} of B's valid proofs were not accepted !!!!!!!!");
    }
}
