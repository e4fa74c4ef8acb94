//! The log as C2SP `tlog-tiles` over real HTTP on loopback, on SQLite and
//! on PostgreSQL: every tile is exactly what `zkgov_log::tiles` computes
//! from the log's entries, full tiles are immutable, nothing past the
//! latest checkpoint is served; and the tiled monitor downloads only what
//! grew since its trusted checkpoint, yet catches an entry changed behind
//! the service's back.

mod fixture;
mod support;

use std::sync::OnceLock;

use fixture::{reason, Client as TestClient, Fixture, LAND, REGISTRY};
use serde_json::json;
use zkgov_log::checkpoint::{Checkpoint, LogVerifier};
use zkgov_log::rules::LogState;
use zkgov_log::tiles::{bundles_for, encode_bundle, hash_tile, tiles_for_growth, Tile};
use zkgov_log::tree::{leaf_hash, Hash, MemoryTree};
use zkgov_verifier::client::{AuditError, Client, MonitorError};
use zkgov_verifier::service::tiles::{IMMUTABLE, PARTIAL};
use zkgov_verifier::service::RunningService;
use zkgov_verifier::tiled;

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::new)
}

struct Running {
    service: RunningService,
    test: TestClient,
    verifier: LogVerifier,
    data: tempfile::TempDir,
}

fn start(database: Option<&str>) -> Running {
    let data = tempfile::tempdir().unwrap();
    let config = fixture().config(data.path(), database, "");
    let service = RunningService::spawn(config).unwrap();
    Running {
        test: TestClient::new(&service),
        verifier: LogVerifier::from_verifier_key(&service.verifier_key).unwrap(),
        service,
        data,
    }
}

impl Running {
    /// Appends `count` root announcements, four at a time.
    fn grow(&self, count: u64) {
        let start = self.checkpoint().size;
        std::thread::scope(|scope| {
            for lane in 0..4 {
                scope.spawn(move || {
                    for i in (lane..count).step_by(4) {
                        let (status, body) = self.test.post(
                            &format!("/v1/registries/{REGISTRY}/roots"),
                            Some(LAND),
                            &json!({"root": (1_000 + start + i).to_string()}),
                        );
                        assert_eq!(status, 201, "{body}");
                    }
                });
            }
        });
    }

    fn checkpoint(&self) -> Checkpoint {
        let (_, note) = self.test.get_text("/v1/log/checkpoint");
        self.verifier.verify(&note, &self.service.origin).unwrap()
    }

    fn client(&self) -> Client {
        Client::new(&self.service.url(), None)
    }

    /// `GET /v1/log/<path>`: status, `Cache-Control`, body.
    fn get(&self, path: &str) -> (u16, String, Vec<u8>) {
        let response = self
            .test
            .http
            .get(format!("{}/v1/log/{path}", self.test.base))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, cache, response.bytes().unwrap().to_vec())
    }

    /// Tiles served so far, from `/metrics`.
    fn tiles_served(&self) -> u64 {
        let (_, metrics) = self.test.get_text("/metrics");
        metrics
            .lines()
            .filter(|l| l.starts_with("zkgov_tiles_served_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    }
}

/// The log's entries and their tree, from the old paged route.
fn entries_and_tree(run: &Running, size: u64) -> (Vec<String>, MemoryTree) {
    let entries = run.client().entries(0, size).unwrap();
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e.as_bytes())).collect();
    let mut tree = MemoryTree::new();
    tree.append(&leaves);
    (entries, tree)
}

fn tiles_are_the_logs_own(database: Option<&str>) {
    let run = start(database);
    // Two full tiles of entries and a partial one.
    run.grow(520);
    let checkpoint = run.checkpoint();
    let size = checkpoint.size;
    assert!(size > 512 && size < 768, "{size}");
    let (entries, tree) = entries_and_tree(&run, size);
    assert_eq!(tree.root_at(size), checkpoint.root);

    let tiles = tiles_for_growth(0, size);
    let bundles = bundles_for(0, size);
    assert_eq!(tiles.len() + bundles.len(), 4 + 3);
    for tile in &tiles {
        let (status, cache, bytes) = run.get(&tile.path());
        assert_eq!(status, 200, "{}", tile.path());
        assert_eq!(bytes, hash_tile(tile, &tree).unwrap(), "{}", tile.path());
        assert_eq!(cache, if tile.is_full() { IMMUTABLE } else { PARTIAL });
    }
    for bundle in &bundles {
        let (status, cache, bytes) = run.get(&bundle.path());
        assert_eq!(status, 200, "{}", bundle.path());
        let range = bundle.entry_range();
        let expected = encode_bundle(&entries[range.start as usize..range.end as usize]).unwrap();
        assert_eq!(bytes, expected, "{}", bundle.path());
        assert_eq!(cache, if bundle.is_full() { IMMUTABLE } else { PARTIAL });
    }
    assert_eq!(run.tiles_served(), 7);

    // A narrower partial tile, as a client of an older checkpoint asks.
    let edge = Tile::hashes(0, 2).with_width(3);
    let (status, _, bytes) = run.get(&edge.path());
    assert_eq!(status, 200);
    assert_eq!(bytes, hash_tile(&edge, &tree).unwrap());

    // Nothing past the checkpoint, and no other spelling of a tile.
    let width = (size - 512) as u16;
    for path in [
        "tile/0/002".to_string(),
        Tile::hashes(0, 2).with_width(width + 1).path(),
        "tile/0/003.p/1".into(),
        "tile/entries/002".into(),
        "tile/1/000".into(),
        "tile/2/000.p/1".into(),
        "tile/0/x000/002.p/3".into(),
        "tile/0/2.p/3".into(),
        "tile/0/002.p/0".into(),
        "tile/0/002.p/256".into(),
        "tile/entries/002.p/03".into(),
        "tile/64/000".into(),
        "tile/".into(),
    ] {
        let (status, cache, body) = run.get(&path);
        assert_eq!(status, 404, "{path}");
        assert_ne!(cache, IMMUTABLE, "{path}");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(reason(&body), "not_found", "{path}");
    }
    run.service.shutdown().unwrap();
}

#[test]
fn tiles_are_the_logs_own_on_sqlite() {
    tiles_are_the_logs_own(None);
}

#[test]
fn tiles_are_the_logs_own_on_postgresql() {
    tiles_are_the_logs_own(Some(&support::postgres::fresh_database()));
}

#[test]
fn an_incremental_tiled_monitor_fetches_only_what_grew_and_catches_an_edited_entry() {
    let run = start(None);
    run.grow(300);
    let nothing = |_, _| {};
    let origin = run.service.origin.clone();
    let first = tiled::monitor(
        &run.client(),
        &run.verifier,
        &origin,
        None,
        LogState::new(),
        nothing,
    )
    .unwrap();
    let old = first.checkpoint.size;
    let snapshot = first.state.to_snapshot();
    let replayed_to_old = || LogState::from_snapshot(snapshot.clone()).unwrap();
    assert_eq!(first.replayed, old);

    run.grow(100);
    let new = run.checkpoint().size;
    let served = run.tiles_served();
    let client = run.client();
    let second = tiled::monitor(
        &client,
        &run.verifier,
        &origin,
        Some(&first.checkpoint),
        replayed_to_old(),
        nothing,
    )
    .unwrap();
    assert_eq!((second.checkpoint.size, second.replayed), (new, new - old));
    // Only the tiles that grew, and the bundles of the new entries.
    let expected = tiles_for_growth(old, new).len() + bundles_for(old, new).len();
    assert_eq!(run.tiles_served() - served, expected as u64);
    // The grown edge of levels 0 and 1, and one bundle.
    assert_eq!(expected, 3);
    // Far less than the old audit's download of every entry.
    let full = run.client();
    zkgov_verifier::client::audit(&full, &run.verifier, &origin, Some(&first.checkpoint), &[])
        .unwrap();
    assert!(
        client.bytes_received() * 2 < full.bytes_received(),
        "tiled {} bytes, full {} bytes",
        client.bytes_received(),
        full.bytes_received()
    );

    // The non-full tiled audit agrees, from the same trusted checkpoint.
    let audited = tiled::audit(
        &run.client(),
        &run.verifier,
        &origin,
        Some(&first.checkpoint),
        &[],
    )
    .unwrap();
    assert_eq!(audited.checkpoint, second.checkpoint);

    // A new entry changed in the database, its leaf and tree left alone.
    let database = run.data.path().join("verifier.db");
    let db = r2d2_sqlite::rusqlite::Connection::open(database).unwrap();
    let edited = old + 5;
    let changed = db
        .execute(
            "UPDATE entries SET entry = CAST(replace(CAST(entry AS TEXT), '\"root\":\"1', \
             '\"root\":\"2') AS BLOB) WHERE idx = ?1",
            [edited as i64],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let failed = tiled::monitor(
        &run.client(),
        &run.verifier,
        &origin,
        Some(&first.checkpoint),
        replayed_to_old(),
        nothing,
    )
    .err()
    .unwrap();
    match failed {
        MonitorError::Audit(AuditError::EntriesMismatch { detail }) => assert!(
            detail.starts_with(&format!("entry {edited} served in tile/entries/001")),
            "{detail}"
        ),
        other => panic!("{other}"),
    }
    // The log itself still checks out from tiles: only the entry was edited.
    tiled::audit(
        &run.client(),
        &run.verifier,
        &origin,
        Some(&first.checkpoint),
        &[],
    )
    .unwrap();
    run.service.shutdown().unwrap();
}
