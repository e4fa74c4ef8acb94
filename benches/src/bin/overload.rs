//! The verifier service held at several times its capacity, then at
//! normal load, on the reference workload (`medical-premises` over
//! `real-estate`, arity 4, depth 10), in one run:
//!
//! 1. **Capacity.** C keep-alive connections, closed loop (each sends its
//!    next submission as soon as the last is answered), for 10 s: the
//!    answers per second are the capacity.
//! 2. **Overload.** Open loop (request i is sent when it is due, whatever
//!    the answers to earlier ones) at F × capacity for S seconds.
//! 3. **Normal load.** Open loop at half the capacity for 15 s, at once.
//!
//! Every submission is a valid proof with its subject tag changed, cycled
//! from a pool: it passes every check before the pairing check and fails
//! that one (422 `invalid_proof`), so each costs the service a full check
//! and the log does not grow, however long the run. The service runs in a
//! child process (this program, started again with `--serve`), on its
//! default limits and embedded SQLite, so that its memory is its own:
//! resident memory is sampled every 50 ms from `/proc/PID/status`.
//!
//! It reports the share of 503s under overload and their latency against
//! the request timeout, the other answers' latency, the service's resident
//! memory per phase and its peak, and how soon after the overload the
//! throughput is back: the first second from which on every second
//! answers at least 90 % of the normal load's requests, none of them 503.
//! This is a benchmark, not a test: it prints numbers and asserts no
//! timing.
//!
//! `cargo run --release -p zkgov-benches --bin overload [-- [--seconds S (60)] [--factor F (4)] [--connections C (16)]]`

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderValue;
use zkgov_benches::load::{
    anchor, client, closed_loop, loadavg, ms, outcomes, percentile, reference_bodies, submit,
    write_config, Outcomes, REGISTRY, TOKEN,
};
use zkgov_benches::status_kb;
use zkgov_circuits::field::to_decimal;
use zkgov_verifier::service::config::{Config, Limits, Overrides};
use zkgov_verifier::service::RunningService;

/// Distinct invalid proofs the load cycles through.
const PROOFS: usize = 64;
/// How long the capacity is measured.
const CAPACITY_SECONDS: u64 = 10;
/// How long the normal load after the overload lasts.
const NORMAL_SECONDS: u64 = 15;
/// The share of the normal load's requests a second must answer for the
/// throughput to count as back.
const RECOVERED: f64 = 0.9;

struct Options {
    seconds: u64,
    factor: u64,
    connections: usize,
}

fn usage() -> ! {
    eprintln!("usage: overload [--seconds S (60)] [--factor F (4)] [--connections C (16)]");
    std::process::exit(2)
}

fn options() -> Options {
    let mut o = Options {
        seconds: 60,
        factor: 4,
        connections: 16,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&v| v > 0)
            .unwrap_or_else(|| usage());
        match flag.as_str() {
            "--seconds" => o.seconds = value,
            "--factor" => o.factor = value,
            "--connections" | "-c" => o.connections = value as usize,
            _ => usage(),
        }
    }
    o
}

// ------------------------------------------------------------------ service

/// The child: serves `config` until standard input closes, having printed
/// its URL.
fn serve(config: &str) {
    let config = Config::load(Some(Path::new(config)), &|_| None, &Overrides::default())
        .expect("a valid service config");
    let service = RunningService::spawn(config).expect("the service starts");
    println!("{}", service.url());
    std::io::stdout().flush().expect("write the URL");
    std::io::copy(&mut std::io::stdin(), &mut std::io::sink()).ok();
    service.shutdown().expect("the service shuts down");
}

/// Samples the child's resident memory every 50 ms until `stop`.
fn sample_memory(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<(Instant, u64)>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Some(kb) = status_kb(pid, "VmRSS") {
                samples.push((Instant::now(), kb));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        samples
    })
}

/// The largest sample in `[from, to)`, in MB.
fn peak_mb(samples: &[(Instant, u64)], from: Instant, to: Instant) -> f64 {
    samples
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, kb)| *kb)
        .max()
        .unwrap_or(0) as f64
        / 1024.0
}

// ------------------------------------------------------------------ load

/// One answer of the open loop.
struct Answer {
    /// When it was due, from the start of the loop.
    due: Duration,
    /// When its answer was in, from the start of the loop.
    done: Duration,
    status: u16,
    reason: String,
    latency: Duration,
}

/// Sends `bodies` (round and round) at `rate` per second for `seconds`,
/// then at `normal` per second for `NORMAL_SECONDS`, each when it is due;
/// returns every answer.
async fn open_loop(
    client: reqwest::Client,
    url: Arc<str>,
    auth: HeaderValue,
    bodies: Arc<Vec<Bytes>>,
    (rate, seconds): (f64, u64),
    normal: f64,
) -> Vec<Answer> {
    let overload = (rate * seconds as f64) as usize;
    let total = overload + (normal * NORMAL_SECONDS as f64) as usize;
    let start = tokio::time::Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = if i < overload {
            Duration::from_secs_f64(i as f64 / rate)
        } else {
            Duration::from_secs(seconds) + Duration::from_secs_f64((i - overload) as f64 / normal)
        };
        tokio::time::sleep_until(start + due).await;
        let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
        let body = bodies[i % bodies.len()].clone();
        requests.spawn(async move {
            let (status, reason, latency) = submit(&client, &url, &auth, body).await;
            Answer {
                due,
                done: start.elapsed(),
                status,
                reason,
                latency,
            }
        });
    }
    let mut answers = Vec::with_capacity(total);
    while let Some(done) = requests.join_next().await {
        answers.push(done.expect("a request task"));
    }
    answers
}

/// Seconds after the overload until the throughput is back: the start of
/// the first whole second from which on every whole second answers at
/// least `RECOVERED` of the normal load's rate, counting only requests due
/// after the overload, and none of those due from then on got a 503.
fn recovery(answers: &[Answer], overload_end: Duration, normal: f64) -> Option<u64> {
    let after: Vec<&Answer> = answers.iter().filter(|a| a.due >= overload_end).collect();
    let good = |second: u64| {
        let (from, to) = (
            overload_end + Duration::from_secs(second),
            overload_end + Duration::from_secs(second + 1),
        );
        let answered = after
            .iter()
            .filter(|a| a.status != 503 && a.status != 0 && a.done >= from && a.done < to)
            .count();
        let shed = after
            .iter()
            .any(|a| (a.status == 503 || a.status == 0) && a.due >= from && a.due < to);
        answered as f64 >= RECOVERED * normal && !shed
    };
    // The last whole second of the normal load.
    let last = NORMAL_SECONDS - 1;
    (0..=last).find(|&k| (k..=last).all(good))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--serve" {
        return serve(&args[2]);
    }
    let o = options();
    let (workload, bodies) = reference_bodies(PROOFS, 13, true);
    let bodies = Arc::new(bodies);
    let data = tempfile::tempdir().expect("a temporary data directory");
    let config = write_config(data.path(), &workload.keys.path, "");
    let timeout = Limits::default().request_timeout;

    let mut child = Command::new(std::env::current_exe().expect("this program"))
        .arg("--serve")
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the service");
    let pid = child.id();
    let mut base = String::new();
    BufReader::new(child.stdout.take().expect("its standard output"))
        .read_line(&mut base)
        .expect("the service's URL");
    let base = base.trim().to_string();
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = sample_memory(pid, stop_sampling.clone());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load")
        .enable_all()
        .build()
        .expect("a load generator runtime");
    let http = client(1024);
    let url: Arc<str> = format!("{base}/v1/proofs").into();
    let auth = HeaderValue::from_str(&format!("Bearer {TOKEN}")).expect("a header");
    runtime.block_on(anchor(
        &http,
        &base,
        REGISTRY,
        TOKEN,
        &to_decimal(&workload.root),
    ));
    let load_before = loadavg();
    std::thread::sleep(Duration::from_millis(200));
    let idle = status_kb(pid, "VmRSS").unwrap_or(0) as f64 / 1024.0;

    eprintln!(
        "capacity: {} connections, closed loop, {CAPACITY_SECONDS} s ...",
        o.connections
    );
    let capacity_started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let connections: Vec<_> = (0..o.connections)
        .map(|_| {
            runtime.spawn(closed_loop(
                http.clone(),
                url.clone(),
                auth.clone(),
                bodies.clone(),
                next.clone(),
                stop.clone(),
            ))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(CAPACITY_SECONDS));
    stop.store(true, Ordering::Relaxed);
    let mut measured = Outcomes::new();
    runtime.block_on(async {
        for connection in connections {
            for (outcome, n) in connection.await.expect("a connection") {
                *measured.entry(outcome).or_default() += n;
            }
        }
    });
    let capacity_elapsed = capacity_started.elapsed();
    let answered: usize = measured.values().sum();
    let capacity = answered as f64 / capacity_elapsed.as_secs_f64();
    let (rate, normal) = (capacity * o.factor as f64, capacity / 2.0);

    eprintln!(
        "overload: {rate:.0}/s ({}× capacity) for {} s, then {normal:.0}/s for {NORMAL_SECONDS} s ...",
        o.factor, o.seconds
    );
    let loop_started = Instant::now();
    let answers = runtime.block_on(open_loop(
        http.clone(),
        url.clone(),
        auth.clone(),
        bodies.clone(),
        (rate, o.seconds),
        normal,
    ));
    let loop_ended = Instant::now();
    drop(runtime);
    drop(child.stdin.take());
    let hwm = status_kb(pid, "VmHWM").unwrap_or(0) as f64 / 1024.0;
    child.wait().expect("the service exits");
    stop_sampling.store(true, Ordering::Relaxed);
    let samples = sampler.join().expect("the sampler");

    let overload_end = Duration::from_secs(o.seconds);
    let (during, after): (Vec<&Answer>, Vec<&Answer>) =
        answers.iter().partition(|a| a.due < overload_end);
    let tally = |answers: &[&Answer]| {
        let mut map = Outcomes::new();
        for a in answers {
            *map.entry((a.status, a.reason.clone())).or_default() += 1;
        }
        map
    };
    let latencies = |answers: &[&Answer], shed: bool| {
        let mut l: Vec<Duration> = answers
            .iter()
            .filter(|a| (a.status == 503) == shed)
            .map(|a| a.latency)
            .collect();
        l.sort();
        l
    };
    let shed = latencies(&during, true);
    let served = latencies(&during, false);
    let served_after = latencies(&after, false);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "reference workload: {} over {}, arity {}, depth {}; {cores} cores; the service in its own process on loopback, embedded SQLite, default limits",
        workload.policy.name,
        workload.schema.name,
        workload.shape.arity(),
        workload.shape.depth(),
    );
    println!(
        "load: {PROOFS} distinct invalid proofs (subject tag changed), each a full check; the load generator shares the cores"
    );
    println!();
    println!(
        "capacity: {capacity:.1} answers/s ({answered} in {:.1} s from {} connections): {}",
        capacity_elapsed.as_secs_f64(),
        o.connections,
        outcomes(&measured)
    );
    println!(
        "overload: {rate:.1} requests/s ({}× capacity) for {} s: {} sent; {}",
        o.factor,
        o.seconds,
        during.len(),
        outcomes(&tally(&during))
    );
    println!(
        "  503s: {:.1} % of requests; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; request timeout {} s (p99 / timeout = {:.4})",
        100.0 * shed.len() as f64 / during.len().max(1) as f64,
        ms(percentile(&shed, 0.5)),
        ms(percentile(&shed, 0.99)),
        ms(percentile(&shed, 1.0)),
        timeout.as_secs(),
        percentile(&shed, 0.99).as_secs_f64() / timeout.as_secs_f64(),
    );
    println!(
        "  the others: {} answers, {:.1}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        served.len(),
        served.len() as f64 / o.seconds as f64,
        ms(percentile(&served, 0.5)),
        ms(percentile(&served, 0.99)),
        ms(percentile(&served, 1.0)),
    );
    println!(
        "normal load: {normal:.1} requests/s for {NORMAL_SECONDS} s: {} sent; {}; latency p50 {:.1} ms, p99 {:.1} ms",
        after.len(),
        outcomes(&tally(&after)),
        ms(percentile(&served_after, 0.5)),
        ms(percentile(&served_after, 0.99)),
    );
    match recovery(&answers, overload_end, normal) {
        Some(k) => println!(
            "throughput back {k} s after the overload (every later second answered ≥ {:.0} % of the normal load, no 503)",
            RECOVERED * 100.0
        ),
        None => println!(
            "!!!!!!!! throughput not back within the {NORMAL_SECONDS} s of normal load !!!!!!!!"
        ),
    }
    let overload_to = loop_started + overload_end;
    println!(
        "service resident memory: idle {idle:.1} MB; peak during the capacity phase {:.1} MB, the overload {:.1} MB, the normal load {:.1} MB; VmHWM {hwm:.1} MB",
        peak_mb(&samples, capacity_started, loop_started),
        peak_mb(&samples, loop_started, overload_to),
        peak_mb(&samples, overload_to, loop_ended),
    );
    let limits = Limits::default();
    println!(
        "  its limits: {} requests in flight, {} connections, {} KiB per body",
        limits.max_in_flight,
        limits.max_connections,
        limits.max_body_bytes / 1024
    );
    println!(
        "load average (1, 5, 15 min) before: {load_before}; after: {}",
        loadavg()
    );
}
