//! The incremental audit over C2SP tiles against today's full download,
//! on a real service (`RunningService`, embedded SQLite, loopback HTTP).
//!
//! Builds a log of N entries (default 100,000: root announcements POSTed
//! by their department, the smallest entries a log holds), audits it once
//! with the tiled monitor (`zkgov log verify --full`) to get a trusted
//! checkpoint and replay state, appends M more (default 1,000), then
//! measures, each with a fresh client, the bytes of response bodies and
//! the wall time of:
//!
//! - tiled `log verify --full`: the tiles that grew and the entry bundles
//!   of the new entries, checked against the signed root, the new entries
//!   replayed through the rules;
//! - tiled `log verify`: the tiles that grew, and consistency from them;
//! - the full download: every entry from `/v1/log/entries`, the tree
//!   rebuilt and its root checked (`zkgov_verifier::client::audit`, what
//!   `log verify` did before tiles).
//!
//! It also prints the mean time the service takes to answer one full hash
//! tile of the grown log, over loopback.
//!
//! Results with their proofs are about ten times larger than root
//! announcements, so on a log of results the full download is larger and
//! the ratio higher. This is a benchmark, not a test: it prints numbers and
//! asserts only that every audit passes.
//!
//! `cargo run --release -p zkgov-benches --bin tile-audit [-- ENTRIES NEW]`

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use zkgov_log::checkpoint::LogVerifier;
use zkgov_log::rules::LogState;
use zkgov_log::tiles::{Tile, TileSource};
use zkgov_verifier::client::{self, Client};
use zkgov_verifier::service::config::Config;
use zkgov_verifier::service::RunningService;
use zkgov_verifier::test_utils::{ConfigFile, Department};
use zkgov_verifier::tiled;

const DEPARTMENT: &str = "land-registry";
const REGISTRY: &str = "real-estate";
const TOKEN: &str = "land-token-0123456789";
const LANES: u64 = 16;

fn service_config(data: &Path) -> Config {
    ConfigFile::new(data)
        .department(Department::new(DEPARTMENT, TOKEN).registries(&[REGISTRY]))
        .table("[limits]\nmax_in_flight = 256\n")
        .load(data.join("verifier.toml"))
}

/// POSTs `count` root announcements over `LANES` connections.
fn grow(url: &str, first: u64, count: u64) {
    std::thread::scope(|scope| {
        for lane in 0..LANES {
            scope.spawn(move || {
                let http = reqwest::blocking::Client::new();
                for i in (lane..count).step_by(LANES as usize) {
                    let response = http
                        .post(format!("{url}/v1/registries/{REGISTRY}/roots"))
                        .bearer_auth(TOKEN)
                        .json(&json!({"root": (first + i + 1).to_string()}))
                        .send()
                        .expect("the service answers");
                    assert_eq!(response.status().as_u16(), 201, "{:?}", response.text());
                }
            });
        }
    });
}

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .map(|a| a.replace('_', "").parse().expect("a number"))
        .unwrap_or(default)
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let entries = arg(1, 100_000);
    let new = arg(2, 1_000);
    let data = tempfile::tempdir().expect("a data directory");
    let service = RunningService::spawn(service_config(data.path())).expect("the service starts");
    let url = service.url();
    let verifier = LogVerifier::from_verifier_key(&service.verifier_key).expect("the log key");
    let origin = service.origin.clone();

    let started = Instant::now();
    let base = Client::new(&url, None).checkpoint().expect("a checkpoint");
    let base = verifier.verify(&base, &origin).expect("signed").size;
    grow(&url, 0, entries.saturating_sub(base));
    println!(
        "built a log of {entries} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let first_client = Client::new(&url, None);
    let started = Instant::now();
    let first = tiled::monitor(
        &first_client,
        &verifier,
        &origin,
        None,
        LogState::new(),
        |_, _| {},
    )
    .expect("the first audit passes");
    println!(
        "first tiled `log verify --full` of {} entries: {} in {}",
        first.checkpoint.size,
        kib(first_client.bytes_received()),
        ms(started.elapsed())
    );

    grow(&url, entries, new);
    let trusted = first.checkpoint.clone();

    let full_client = Client::new(&url, None);
    let started = Instant::now();
    let full = client::audit(&full_client, &verifier, &origin, Some(&trusted), &[])
        .expect("the full audit passes");
    let full_time = started.elapsed();
    let full_bytes = full_client.bytes_received();

    let tiled_client = Client::new(&url, None);
    let started = Instant::now();
    let monitored = tiled::monitor(
        &tiled_client,
        &verifier,
        &origin,
        Some(&trusted),
        first.state,
        |_, _| {},
    )
    .expect("the incremental tiled audit passes");
    let tiled_time = started.elapsed();
    let tiled_bytes = tiled_client.bytes_received();
    assert_eq!(monitored.checkpoint, full.checkpoint);

    let light_client = Client::new(&url, None);
    let started = Instant::now();
    tiled::audit(&light_client, &verifier, &origin, Some(&trusted), &[])
        .expect("the tiled consistency audit passes");
    let light_time = started.elapsed();
    let light_bytes = light_client.bytes_received();

    // One tile's service time, on the grown log: full level-0 tiles spread
    // over it, each read from the stored nodes.
    let tiles_client = Client::new(&url, None);
    let full_tiles = monitored.checkpoint.size / 256;
    let samples = 50.min(full_tiles);
    let started = Instant::now();
    for i in 0..samples {
        let tile = Tile::hashes(0, i * full_tiles / samples);
        let bytes = TileSource::fetch(&tiles_client, &tile).expect("a full tile");
        assert_eq!(bytes.len(), 8192);
    }
    let per_tile = started.elapsed() / samples.max(1) as u32;
    println!(
        "a full hash tile served in {} (mean of {samples} over loopback)",
        ms(per_tile)
    );

    println!(
        "\n{} new entries on a log of {} (now {}):",
        monitored.replayed, trusted.size, monitored.checkpoint.size
    );
    println!("| audit | downloaded | time |");
    println!("|---|---:|---:|");
    println!(
        "| full download (every entry, tree rebuilt) | {} | {} |",
        kib(full_bytes),
        ms(full_time)
    );
    println!(
        "| tiled `log verify --full` (new tiles and bundles, replayed) | {} | {} |",
        kib(tiled_bytes),
        ms(tiled_time)
    );
    println!(
        "| tiled `log verify` (new tiles, consistency) | {} | {} |",
        kib(light_bytes),
        ms(light_time)
    );
    println!(
        "\nfull / tiled --full: {:.0}x fewer bytes, {:.1}x less time; full / tiled: {:.0}x fewer bytes, {:.1}x less time",
        full_bytes as f64 / tiled_bytes as f64,
        full_time.as_secs_f64() / tiled_time.as_secs_f64(),
        full_bytes as f64 / light_bytes as f64,
        full_time.as_secs_f64() / light_time.as_secs_f64(),
    );
    service.shutdown().expect("the service stops");
}
