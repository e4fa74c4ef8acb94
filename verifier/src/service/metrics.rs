//! Prometheus metrics, in the OpenMetrics text format, through
//! `prometheus-client`.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Bounds of the verification-time histogram, in seconds.
const VERIFY_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProofLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TileLabels {
    kind: &'static str,
    width: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WitnessLabels {
    witness: String,
    outcome: String,
}

/// The service's metrics, each registered once under its name.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    proofs: Family<ProofLabels, Counter>,
    log_size: Gauge<u64, AtomicU64>,
    verify_seconds: Histogram,
    shed: Counter,
    tiles: Family<TileLabels, Counter>,
    witness_requests: Family<WitnessLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let proofs = Family::<ProofLabels, Counter>::default();
        let log_size = Gauge::<u64, AtomicU64>::default();
        let verify_seconds = Histogram::new(VERIFY_BUCKETS);
        let shed = Counter::default();
        let tiles = Family::<TileLabels, Counter>::default();
        let witness_requests = Family::<WitnessLabels, Counter>::default();
        // Counters are named without `_total`, which the encoder adds.
        registry.register(
            "zkgov_http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "zkgov_proofs",
            "Submitted proofs by outcome",
            proofs.clone(),
        );
        registry.register(
            "zkgov_log_size",
            "Entries in the anchor log",
            log_size.clone(),
        );
        registry.register(
            "zkgov_verify_seconds",
            "Groth16 verification time per proof",
            verify_seconds.clone(),
        );
        registry.register(
            "zkgov_load_shed",
            "Requests refused because the service was at its concurrency limit",
            shed.clone(),
        );
        registry.register(
            "zkgov_tiles_served",
            "Log tiles served, by kind and width",
            tiles.clone(),
        );
        registry.register(
            "zkgov_witness_requests",
            "Requests to witnesses to cosign a checkpoint, by witness and outcome",
            witness_requests.clone(),
        );
        Metrics {
            registry,
            requests,
            proofs,
            log_size,
            verify_seconds,
            shed,
            tiles,
            witness_requests,
        }
    }
}

impl Metrics {
    /// Counts a finished request by method, route pattern and status.
    pub fn request(&self, method: &str, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
    }

    /// Counts a proof outcome: `accepted`, `existing`, or a refusal reason.
    pub fn proof(&self, outcome: &str) {
        self.proofs
            .get_or_create(&ProofLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Records the time to verify `proofs` proofs together: each of them
    /// took its share.
    pub fn verified(&self, proofs: usize, elapsed: Duration) {
        let per_proof = elapsed.as_secs_f64() / proofs.max(1) as f64;
        for _ in 0..proofs {
            self.verify_seconds.observe(per_proof);
        }
    }

    /// Counts a request refused by load shedding.
    pub fn shed(&self) {
        self.shed.inc();
    }

    /// Counts a tile served, by kind and whether it is full.
    pub fn tile(&self, kind: zkgov_log::tiles::TileKind, full: bool) {
        let kind = match kind {
            zkgov_log::tiles::TileKind::Hashes { .. } => "hashes",
            zkgov_log::tiles::TileKind::Entries => "entries",
        };
        let width = if full { "full" } else { "partial" };
        self.tiles.get_or_create(&TileLabels { kind, width }).inc();
    }

    /// Counts a request to a witness by its outcome: `cosigned`,
    /// `conflict`, `refused`, `bad_cosignature` or `unreachable`.
    pub fn witness(&self, witness: &str, outcome: &str) {
        self.witness_requests
            .get_or_create(&WitnessLabels {
                witness: witness.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The exposition text, with `log_size` as the log's size.
    pub fn render(&self, log_size: u64) -> String {
        self.log_size.set(log_size);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_openmetrics_with_escaped_labels() {
        let metrics = Metrics::default();
        metrics.request("GET", "/v1/keys/{key_id}", 200);
        metrics.witness("w \"one\"\n", "cosigned");
        metrics.verified(4, Duration::from_micros(3200));
        let text = metrics.render(7);
        for line in [
            "# TYPE zkgov_http_requests counter",
            "zkgov_http_requests_total{method=\"GET\",route=\"/v1/keys/{key_id}\",status=\"200\"} 1",
            "zkgov_witness_requests_total{witness=\"w \\\"one\\\"\\n\",outcome=\"cosigned\"} 1",
            "zkgov_log_size 7",
            "zkgov_verify_seconds_count 4",
            "zkgov_verify_seconds_bucket{le=\"0.001\"} 4",
            "zkgov_verify_seconds_bucket{le=\"0.0005\"} 0",
            "zkgov_load_shed_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
