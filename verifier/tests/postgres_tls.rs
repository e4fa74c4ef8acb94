//! PostgreSQL over TLS: the database URL's `sslmode`, with libpq's
//! meanings, against two real servers that this test process starts (see
//! `support::postgres`): one that takes TCP connections only over TLS, with
//! a certificate from an authority made for the test, and one without TLS.

mod support;

use std::process::Command;

use support::postgres::{server, tls_server};
use zkgov_verifier::storage::{
    self, Appended, DecisionRecord, IndexRecord, NewEntry, StorageError,
};

/// A decision entry for `case_id`.
fn decision(case_id: &str) -> NewEntry {
    NewEntry {
        entry: format!(r#"{{"case":"{case_id}","decision":"approved","type":"decision"}}"#)
            .into_bytes(),
        record: IndexRecord::Decision(DecisionRecord {
            case_id: case_id.to_string(),
            department: "health".to_string(),
            decision: "approved".to_string(),
            decided_at: 1_764_100_000,
        }),
    }
}

/// Appends to a fresh database at `url` and reads the entry back, through
/// the store that wrote it and through a second one.
fn round_trip(url: &str) {
    let store = storage::open(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let entry = decision("CASE-TLS");
    assert_eq!(
        store.append(std::slice::from_ref(&entry)).unwrap(),
        [Appended::New(0)]
    );
    assert_eq!(store.size().unwrap(), 1);
    assert_eq!(store.entries(0, 1).unwrap(), [entry.entry]);
    let again = storage::open(url).unwrap_or_else(|e| panic!("{url}, again: {e}"));
    let decisions = again.case_decisions("CASE-TLS").unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].index, 0);
}

/// The message of a connection that `storage::open` refused.
fn refusal(url: &str) -> String {
    match storage::open(url) {
        Err(StorageError::Backend {
            backend: "postgres",
            message,
        }) => message,
        Err(other) => panic!("{url}: expected a postgres error, got {other:?}"),
        Ok(_) => panic!("{url}: connected"),
    }
}

/// `db_7` from `postgres://…/db_7`.
fn database_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

#[test]
fn sslmode_require_encrypts_and_the_store_works() {
    // The server refuses TCP without TLS (below), so a store that works
    // went over TLS; its certificate is trusted by nobody, and `require`
    // takes it as libpq does.
    round_trip(&format!(
        "{}?sslmode=require",
        tls_server().fresh_database()
    ));
}

#[test]
fn without_sslmode_or_with_prefer_tls_is_used_when_the_server_offers_it() {
    round_trip(&tls_server().fresh_database());
    round_trip(&format!("{}?sslmode=prefer", tls_server().fresh_database()));
}

#[test]
fn the_tls_server_refuses_connections_without_tls() {
    let database = tls_server().fresh_database();
    let message = refusal(&format!("{database}?sslmode=disable"));
    let name = database_of(&database);
    assert_eq!(
        message,
        format!(
            "connecting (127.0.0.1:{}, database `{name}`, user `zkgov`, sslmode disable): FATAL \
             28000: pg_hba.conf rejects connection for host \"127.0.0.1\", user \"zkgov\", \
             database \"{name}\", no encryption",
            tls_server().port(),
        )
    );
}

#[test]
fn sslmode_require_is_refused_by_a_server_without_tls() {
    let database = server().fresh_database();
    let message = refusal(&format!("{database}?sslmode=require"));
    assert_eq!(
        message,
        format!(
            "connecting (127.0.0.1:{}, database `{}`, user `zkgov`, sslmode require): error \
             performing TLS handshake: server does not support TLS",
            server().port(),
            database_of(&database)
        )
    );
}

#[test]
fn without_tls_disable_prefer_and_no_sslmode_keep_working() {
    round_trip(&server().fresh_database());
    round_trip(&format!("{}?sslmode=prefer", server().fresh_database()));
    round_trip(&format!("{}?sslmode=disable", server().fresh_database()));
}

#[test]
fn sslmode_verify_full_refuses_a_certificate_the_system_does_not_trust() {
    let database = tls_server().fresh_database();
    let message = refusal(&format!("{database}?sslmode=verify-full"));
    assert_eq!(
        message,
        format!(
            "connecting (127.0.0.1:{}, database `{}`, user `zkgov`, sslmode verify-full): error \
             performing TLS handshake: invalid peer certificate: UnknownIssuer",
            tls_server().port(),
            database_of(&database)
        )
    );
}

/// Set for the child process of the next test: the URL to connect to.
const CHILD_URL: &str = "ZKGOV_TEST_VERIFY_FULL_URL";

#[test]
fn sslmode_verify_full_accepts_a_certificate_from_an_authority_the_system_trusts() {
    let server = tls_server();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem().unwrap()).unwrap();
    let url = format!("{}?sslmode=verify-full", server.fresh_database());
    // The system's roots are what SSL_CERT_FILE names, when it is set; a
    // test may set it only for a process of its own, so a child of this
    // test binary connects.
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "verify_full_child", "--nocapture"])
        .env("SSL_CERT_FILE", &ca)
        .env_remove("SSL_CERT_DIR")
        .env(CHILD_URL, &url)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("test result: ok. 1 passed"), "{text}");
}

/// The child's half of the test above; run without its variable, it
/// does nothing.
#[test]
fn verify_full_child() {
    if let Ok(url) = std::env::var(CHILD_URL) {
        round_trip(&url);
    }
}

#[test]
fn sslmodes_that_would_weaken_or_change_the_check_are_refused() {
    for mode in ["allow", "verify-ca"] {
        let url = format!("postgres://zkgov@127.0.0.1:1/db?connect_timeout=1&sslmode={mode}");
        assert_eq!(
            refusal(&url),
            format!(
                "invalid database URL: sslmode={mode} is not supported; use disable, prefer, \
                 require or verify-full"
            )
        );
    }
}

#[test]
fn tls_refusals_hide_the_password() {
    let port = server().port();
    for url in [
        format!("postgres://zkgov:s3cr3t-pw@127.0.0.1:{port}/db?sslmode=require"),
        format!("postgres://zkgov:s3cr3t-pw@127.0.0.1:{port}/db?sslmode=verify-ca"),
        "postgres://zkgov:s3cr3t-pw@127.0.0.1:notaport/db?sslmode=verify-full".to_string(),
    ] {
        let message = refusal(&url);
        assert!(!message.contains("s3cr3t"), "{message}");
        assert!(!message.is_empty());
    }
}
