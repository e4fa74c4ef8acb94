//! `zkgov log verify` over C2SP tiles, run as an auditor runs it against a
//! real `zkgov serve`: a second `--full` run fetches only the tiles and
//! entry bundles that grew (counted by the service's `/metrics`), and an
//! entry edited in the database behind the service's back fails the audit
//! and leaves the trusted state alone.

use std::fs;
use std::path::Path;
use std::process::Output;

use zkgov_log::tiles::{bundles_for, tiles_for_growth};
use zkgov_verifier::client::Client;

mod support;
use support::serve::Server;
use support::{stderr, stdout, zkgov};

const TOKEN: &str = "land-token-0123456789";

fn start(dir: &Path) -> Server {
    let config = support::serve::land_registry_config(dir, TOKEN);
    Server::start(&config, &dir.join("serve.log"))
}

/// Publishes the roots `first..first + count`, four at a time; returns the
/// log's size after them.
fn publish(server: &Server, first: u64, count: u64) -> u64 {
    std::thread::scope(|scope| {
        for lane in 0..4 {
            scope.spawn(move || {
                let client = Client::new(&server.url, Some(TOKEN.into()));
                for root in (first + lane..first + count).step_by(4) {
                    client
                        .publish_root("real-estate", &root.to_string())
                        .unwrap();
                }
            });
        }
    });
    let note = Client::new(&server.url, None).checkpoint().unwrap();
    note.lines().nth(1).unwrap().parse().unwrap()
}

fn tiles_served(server: &Server) -> u64 {
    let metrics = Client::new(&server.url, None)
        .get_bytes("/metrics")
        .unwrap();
    String::from_utf8(metrics)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("zkgov_tiles_served_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

fn verify_full(server: &Server, state: &Path, extra: &[&str]) -> Output {
    zkgov()
        .args([
            "log",
            "verify",
            "--full",
            "--server",
            &server.url,
            "--state",
        ])
        .arg(state)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn an_incremental_full_verify_fetches_only_new_tiles_and_catches_an_edited_entry() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let state = dir.path().join("state");
    let old = publish(&server, 1000, 300);

    let first = verify_full(&server, &state, &["--log-key", &server.log_key]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).starts_with(&format!("log OK: {old} entries")),
        "{}",
        stdout(&first)
    );
    assert_eq!(
        tiles_served(&server),
        (tiles_for_growth(0, old).len() + bundles_for(0, old).len()) as u64
    );

    let new = publish(&server, 2000, 40);
    let before = tiles_served(&server);
    let second = verify_full(&server, &state, &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).contains(&format!("({} new this run, from entry {old};", new - old)),
        "{}",
        stdout(&second)
    );
    // The grown right edge of levels 0 and 1, and the one bundle of the new entries.
    let grown = (tiles_for_growth(old, new).len() + bundles_for(old, new).len()) as u64;
    assert_eq!(grown, 3);
    assert_eq!(tiles_served(&server) - before, grown);

    // An insider edits one of the next new entries in the database; the
    // stored tree still matches the signed root, the entry does not.
    publish(&server, 3000, 40);
    let trusted = fs::read(state.join("zkgov.test_log.json")).unwrap();
    support::tamper::edit_entry(
        &dir.path().join("data/verifier.db"),
        &["\"root\":\"3017\""],
        "\"root\":\"3017\"",
        "\"root\":\"3018\"",
    );
    let failed = verify_full(&server, &state, &[]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).starts_with(
            "LOG VERIFICATION FAILED: the log's entries do not match its signed checkpoint: entry"
        ) && stderr(&failed).contains("is not the entry the signed tree holds"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(
        fs::read(state.join("zkgov.test_log.json")).unwrap(),
        trusted
    );
    server.stop();
}
