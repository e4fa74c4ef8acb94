//! Prometheus metrics, in the text exposition format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Bounds of the verification-time histogram, in seconds.
const VERIFY_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1.0];

/// The service's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    proofs: Mutex<BTreeMap<String, u64>>,
    verify_buckets: [AtomicU64; VERIFY_BUCKETS.len()],
    verify_count: AtomicU64,
    verify_micros: AtomicU64,
    shed: AtomicU64,
    tiles: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    witness_requests: Mutex<BTreeMap<(String, String), u64>>,
}

impl Metrics {
    /// Counts a finished request by method, route pattern and status.
    pub fn request(&self, method: &str, route: &str, status: u16) {
        let mut requests = self.requests.lock().expect("metrics lock");
        *requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
    }

    /// Counts a proof outcome: `accepted`, `existing`, or a refusal reason.
    pub fn proof(&self, outcome: &str) {
        *self
            .proofs
            .lock()
            .expect("metrics lock")
            .entry(outcome.to_string())
            .or_default() += 1;
    }

    /// Records the time to verify `proofs` proofs together.
    pub fn verified(&self, proofs: usize, elapsed: Duration) {
        let per_proof = elapsed.as_secs_f64() / proofs.max(1) as f64;
        for (bound, bucket) in VERIFY_BUCKETS.iter().zip(&self.verify_buckets) {
            if per_proof <= *bound {
                bucket.fetch_add(proofs as u64, Ordering::Relaxed);
            }
        }
        self.verify_count
            .fetch_add(proofs as u64, Ordering::Relaxed);
        self.verify_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts a request refused by load shedding.
    pub fn shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a tile served, by kind and whether it is full.
    pub fn tile(&self, kind: zkgov_log::tiles::TileKind, full: bool) {
        let kind = match kind {
            zkgov_log::tiles::TileKind::Hashes { .. } => "hashes",
            zkgov_log::tiles::TileKind::Entries => "entries",
        };
        let width = if full { "full" } else { "partial" };
        *self
            .tiles
            .lock()
            .expect("metrics lock")
            .entry((kind, width))
            .or_default() += 1;
    }

    /// Counts a request to a witness by its outcome: `cosigned`,
    /// `conflict`, `refused`, `bad_cosignature` or `unreachable`.
    pub fn witness(&self, witness: &str, outcome: &str) {
        *self
            .witness_requests
            .lock()
            .expect("metrics lock")
            .entry((witness.to_string(), outcome.to_string()))
            .or_default() += 1;
    }

    /// The exposition text, with `log_size` as the log's size.
    pub fn render(&self, log_size: u64) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP zkgov_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE zkgov_http_requests_total counter\n");
        for ((method, route, status), n) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "zkgov_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP zkgov_proofs_total Submitted proofs by outcome.\n");
        out.push_str("# TYPE zkgov_proofs_total counter\n");
        for (outcome, n) in self.proofs.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "zkgov_proofs_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP zkgov_log_size Entries in the anchor log.\n");
        out.push_str("# TYPE zkgov_log_size gauge\n");
        let _ = writeln!(out, "zkgov_log_size {log_size}");
        out.push_str("# HELP zkgov_verify_seconds Groth16 verification time per proof.\n");
        out.push_str("# TYPE zkgov_verify_seconds histogram\n");
        for (bound, bucket) in VERIFY_BUCKETS.iter().zip(&self.verify_buckets) {
            let _ = writeln!(
                out,
                "zkgov_verify_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.verify_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "zkgov_verify_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "zkgov_verify_seconds_sum {}",
            self.verify_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "zkgov_verify_seconds_count {count}");
        out.push_str("# HELP zkgov_load_shed_total Requests refused because the service was at its concurrency limit.\n");
        out.push_str("# TYPE zkgov_load_shed_total counter\n");
        let _ = writeln!(
            out,
            "zkgov_load_shed_total {}",
            self.shed.load(Ordering::Relaxed)
        );
        out.push_str("# HELP zkgov_tiles_served_total Log tiles served, by kind and width.\n");
        out.push_str("# TYPE zkgov_tiles_served_total counter\n");
        for ((kind, width), n) in self.tiles.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "zkgov_tiles_served_total{{kind=\"{kind}\",width=\"{width}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP zkgov_witness_requests_total Requests to witnesses to cosign a checkpoint, by witness and outcome.\n",
        );
        out.push_str("# TYPE zkgov_witness_requests_total counter\n");
        for ((witness, outcome), n) in self.witness_requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "zkgov_witness_requests_total{{witness=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(witness)
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
