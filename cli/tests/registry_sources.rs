//! `zkgov registry build|update|sync` reading records from where they live:
//! a query on a real PostgreSQL server or an SQLite database, compared
//! with the same records given as CSV.

mod support;
use support::{stderr, zkgov};

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Output;

/// Unique subjects, and a field of every type a query converts.
const SCHEMA: &str = r#"
name = "shop-licence"
subject = "subject"

[[field]]
name = "subject"
type = "id"

[[field]]
name = "name"
type = "text"

[[field]]
name = "status"
type = "enum"
variants = ["active", "suspended"]

[[field]]
name = "scope"
type = "uint16"

[[field]]
name = "capital"
type = "decimal"
scale = 2
bits = 48

[[field]]
name = "open"
type = "bool"

[[field]]
name = "expires"
type = "date"
"#;

const COLUMNS: &str = "subject, name, status, scope, capital, open, expires";

/// The password put in the URLs: the test server trusts local connections,
/// so it is accepted and ignored, and must never be printed.
const PASSWORD: &str = "pw-never-printed-4711";

fn run(args: &[&str]) -> Output {
    zkgov().args(args).output().unwrap()
}

/// The root printed by a successful command.
fn root_of(output: Output) -> String {
    assert!(output.status.success(), "{}", stderr(&output));
    let out = String::from_utf8(output.stdout).unwrap();
    let root = out.strip_suffix('\n').expect("one line").to_string();
    assert!(
        !root.is_empty() && root.bytes().all(|b| b.is_ascii_digit()),
        "{out:?}"
    );
    root
}

/// Exit code 2, nothing on standard output; returns standard error.
fn malformed(output: Output) -> String {
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(output.stdout.is_empty());
    message
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn build(schema: &Path, records: &str, query: Option<&str>, out: &Path) -> Output {
    let mut cmd = zkgov();
    cmd.args([
        "registry",
        "build",
        "--schema",
        p(schema),
        "--records",
        records,
    ]);
    if let Some(query) = query {
        cmd.args(["--query", query]);
    }
    cmd.args(["--depth", "4", "--out", p(out)])
        .output()
        .unwrap()
}

fn sync(dir: &Path, records: &str, query: Option<&str>) -> Output {
    let mut cmd = zkgov();
    cmd.args(["registry", "sync", p(dir), "--records", records]);
    if let Some(query) = query {
        cmd.args(["--query", query]);
    }
    cmd.output().unwrap()
}

/// One good record: subject, name, status, scope, capital, open, expires.
type Row = (
    String,
    String,
    &'static str,
    i32,
    &'static str,
    bool,
    String,
);

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            (
                format!("91{i:06}"),
                format!("Shop \"{i}\", Street {}", i % 7),
                if i % 3 == 0 { "suspended" } else { "active" },
                (i * 37 % 65_536) as i32,
                ["0.00", "12.50", "1000000.05", "7.10"][i % 4],
                i % 2 == 0,
                format!("20{:02}-{:02}-{:02}", 30 + i % 60, 1 + i % 12, 1 + i % 28),
            )
        })
        .collect()
}

/// The CSV a department would export for `rows`, with `salts` when given.
fn csv(rows: &[Row], salts: bool) -> String {
    let mut out = String::from(COLUMNS.replace(' ', "").as_str());
    out.push_str(if salts { ",salt\n" } else { "\n" });
    for (i, (subject, name, status, scope, capital, open, expires)) in rows.iter().enumerate() {
        let name = format!("\"{}\"", name.replace('"', "\"\""));
        out.push_str(&format!(
            "{subject},{name},{status},{scope},{capital},{open},{expires}"
        ));
        if salts {
            out.push_str(&format!(",{}", 1000 + i));
        }
        out.push('\n');
    }
    out
}

fn write_schema(dir: &Path) -> std::path::PathBuf {
    let schema = dir.join("shop-licence.toml");
    fs::write(&schema, SCHEMA).unwrap();
    schema
}

/// The live records of a registry as raw values by subject, and its
/// revoked count, read from its database.
fn live_records(dir: &Path) -> (BTreeMap<String, Vec<String>>, usize) {
    let conn = rusqlite::Connection::open(dir.join("registry.db")).unwrap();
    let mut stmt = conn.prepare("SELECT raw, revoked FROM records").unwrap();
    let mut live = BTreeMap::new();
    let mut revoked = 0;
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))
        .unwrap()
    {
        let (raw, is_revoked) = row.unwrap();
        let raw: Vec<String> = serde_json::from_str(&raw).unwrap();
        if is_revoked {
            revoked += 1;
        } else {
            assert!(live.insert(raw[0].clone(), raw).is_none());
        }
    }
    (live, revoked)
}

fn changes(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("registry.db")).unwrap();
    conn.query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
        .unwrap()
}

/// The test server's URL for a fresh database, with a password in it.
fn postgres_database() -> (String, postgres::Client) {
    let url = support::postgres::fresh_database();
    let admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let user = support::postgres::USER;
    let with_password = url.replacen(&format!("://{user}@"), &format!("://{user}:{PASSWORD}@"), 1);
    assert_ne!(with_password, url);
    (with_password, admin)
}

fn create_postgres_table(db: &mut postgres::Client, rows: &[Row]) {
    db.batch_execute(
        "CREATE TABLE shops (
            id SERIAL PRIMARY KEY,
            holder VARCHAR(20) NOT NULL,
            name TEXT NOT NULL,
            status TEXT,
            scope INTEGER,
            capital NUMERIC(14, 2),
            open BOOLEAN,
            expires DATE,
            salt TEXT,
            note TEXT,
            bad BOOLEAN NOT NULL DEFAULT false
        )",
    )
    .unwrap();
    for (i, row) in rows.iter().enumerate() {
        insert_postgres(db, row, &(1000 + i).to_string());
    }
}

fn insert_postgres(db: &mut postgres::Client, row: &Row, salt: &str) {
    let (subject, name, status, scope, capital, open, expires) = row;
    db.execute(
        "INSERT INTO shops (holder, name, status, scope, capital, open, expires, salt)
         VALUES ($1, $2, $3, $4, $5::text::numeric, $6, $7::text::date, $8)",
        &[subject, name, status, scope, capital, open, expires, &salt],
    )
    .unwrap();
}

const QUERY: &str = "SELECT holder AS subject, name, status, scope, capital, open, expires FROM shops WHERE NOT bad ORDER BY id";

#[test]
fn build_from_postgresql_lists_bad_rows_then_gives_the_csv_root() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = write_schema(tmp.path());
    let (url, mut db) = postgres_database();
    let good = rows(40);
    create_postgres_table(&mut db, &good);
    // Bad rows, among good ones: rows 41 to 45 of the unfiltered query.
    db.batch_execute(
        "INSERT INTO shops (holder, name, status, scope, capital, open, expires, bad) VALUES
            ('92000001', 'null status', NULL, 1, 1.00, true, '2040-01-01', true),
            ('92000002', 'scope too wide', 'active', 70000, 1.00, true, '2040-01-01', true),
            ('92000003', 'fine', 'active', 1, 1.00, true, '2040-01-01', true),
            ('92000004', 'unknown status', 'closed', -1, 1.00, NULL, '2040-01-01', true),
            ('', 'no subject', 'active', 1, 1.00, true, '2040-01-01', true)",
    )
    .unwrap();
    let all = "SELECT holder AS subject, name, status, scope, capital, open, expires FROM shops ORDER BY id";
    let out = tmp.path().join("registry");
    let message = malformed(build(&schema, &url, Some(all), &out));
    for expected in [
        "6 bad rows (rows of the result counted from 1):",
        "row 41, field \"status\", value \"\": NULL; every field needs a value",
        "row 42, field \"scope\", value \"70000\"",
        "row 44, field \"status\", value \"closed\": unknown variant",
        "row 44, field \"scope\", value \"-1\"",
        "row 44, field \"open\", value \"\": NULL",
        "row 45, field \"subject\", value \"\": empty",
        "nothing was written",
    ] {
        assert!(message.contains(expected), "{expected:?} not in\n{message}");
    }
    assert!(!message.contains("row 43"), "{message}");
    assert!(!message.contains(PASSWORD), "{message}");
    assert!(message.contains(":***@"), "{message}");
    assert!(!out.exists());
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);

    // Columns map to fields by name: an extra, a missing or a float column is refused.
    let extra = format!("SELECT {COLUMNS}, note FROM (SELECT holder AS subject, * FROM shops) s");
    let message = malformed(build(&schema, &url, Some(&extra), &out));
    assert!(message.contains("unknown columns \"note\""), "{message}");
    let missing = "SELECT holder AS subject, name, status, scope, capital, open FROM shops";
    let message = malformed(build(&schema, &url, Some(missing), &out));
    assert!(message.contains("missing columns \"expires\""), "{message}");
    let float = "SELECT holder AS subject, name, status, scope, capital::float8 AS capital, open, expires FROM shops WHERE NOT bad";
    let message = malformed(build(&schema, &url, Some(float), &out));
    assert!(message.contains("40 bad rows"), "{message}");
    assert!(message.contains("a float8 value; use numeric"), "{message}");
    assert!(!out.exists());

    // A query the server refuses: exit 1, the server's reason, no password.
    let output = build(&schema, &url, Some("SELECT * FROM no_such_table"), &out);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("no_such_table"), "{message}");
    assert!(message.contains("does not exist"), "{message}");
    assert!(!message.contains(PASSWORD), "{message}");
    assert!(!out.exists());

    // The good rows, with their salts, give the root of the same records as CSV.
    let with_salts = "SELECT holder AS subject, name, status, scope, capital, open, expires, salt FROM shops WHERE NOT bad ORDER BY id";
    let output = build(&schema, &url, Some(with_salts), &out);
    let message = stderr(&output);
    let from_postgres = root_of(output);
    assert!(message.contains("40 records"), "{message}");
    assert!(!message.contains(PASSWORD), "{message}");
    let csv_file = tmp.path().join("shops.csv");
    fs::write(&csv_file, csv(&good, true)).unwrap();
    let from_csv = root_of(build(
        &schema,
        p(&csv_file),
        None,
        &tmp.path().join("from-csv"),
    ));
    assert_eq!(from_postgres, from_csv);
    assert_eq!(
        live_records(&out).0,
        live_records(&tmp.path().join("from-csv")).0
    );
    assert_eq!(root_of(run(&["registry", "check", p(&out)])), from_postgres);
}

#[test]
fn build_and_update_from_sqlite_give_the_csv_root() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = write_schema(tmp.path());
    let good = rows(30);
    let db_path = tmp.path().join("shops.db");
    let db = rusqlite::Connection::open(&db_path).unwrap();
    db.execute_batch(
        // `capital` has no type, so that SQLite keeps a REAL as a REAL.
        "CREATE TABLE shops (subject TEXT, name TEXT, status TEXT, scope INTEGER,
            capital, open INTEGER, expires TEXT, salt TEXT, bad INTEGER DEFAULT 0)",
    )
    .unwrap();
    for (i, (subject, name, status, scope, capital, open, expires)) in good.iter().enumerate() {
        db.execute(
            "INSERT INTO shops VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
            rusqlite::params![
                subject,
                name,
                status,
                scope,
                capital,
                i32::from(*open),
                expires,
                (1000 + i).to_string()
            ],
        )
        .unwrap();
    }
    db.execute_batch(
        "INSERT INTO shops VALUES ('93000001', 'real capital', 'active', 1, 12.5, 1, '2040-01-01', '1', 1);
         INSERT INTO shops VALUES ('93000002', NULL, 'active', 1, '1.00', 1, '2040-01-01', '2', 1);
         INSERT INTO shops VALUES ('93000003', 'bad salt', 'active', 1, '1.00', 1, '2040-01-01', 'x9', 1);",
    )
    .unwrap();
    let url = format!("sqlite://{}", p(&db_path));
    let out = tmp.path().join("registry");
    let message = malformed(build(
        &schema,
        &url,
        Some("SELECT * FROM shops ORDER BY rowid"),
        &out,
    ));
    assert!(message.contains("unknown columns \"bad\""), "{message}");
    let all = format!("SELECT {COLUMNS}, salt FROM shops ORDER BY rowid");
    let message = malformed(build(&schema, &url, Some(&all), &out));
    for expected in [
        "3 bad rows",
        "row 31, field \"capital\", value \"\": the floating-point value 12.5",
        "row 32, field \"name\", value \"\": NULL",
        "row 33, field \"salt\", value \"\": ",
    ] {
        assert!(message.contains(expected), "{expected:?} not in\n{message}");
    }
    assert!(!message.contains("x9"), "a salt is never shown: {message}");
    assert!(!out.exists());

    // A missing database file is an error, and is not created.
    let missing = tmp.path().join("no-such.db");
    let output = build(
        &schema,
        &format!("sqlite://{}", p(&missing)),
        Some("SELECT 1"),
        &out,
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!missing.exists());

    // The first 20 good rows by build, the other 10 by update --add.
    let first =
        format!("SELECT {COLUMNS}, salt FROM shops WHERE NOT bad AND rowid <= 20 ORDER BY rowid");
    root_of(build(&schema, &url, Some(&first), &out));
    let rest =
        format!("SELECT {COLUMNS}, salt FROM shops WHERE NOT bad AND rowid > 20 ORDER BY rowid");
    let output = run(&[
        "registry",
        "update",
        p(&out),
        "--add",
        &url,
        "--query",
        &rest,
    ]);
    assert!(
        stderr(&output).contains("added 10 records"),
        "{}",
        stderr(&output)
    );
    let from_sqlite = root_of(output);
    let csv_file = tmp.path().join("shops.csv");
    fs::write(&csv_file, csv(&good, true)).unwrap();
    let from_csv = root_of(build(
        &schema,
        p(&csv_file),
        None,
        &tmp.path().join("from-csv"),
    ));
    assert_eq!(from_sqlite, from_csv);

    // update --modify from a query: the row replaces its subject's record.
    db.execute(
        "UPDATE shops SET scope = 77 WHERE subject = ?1",
        [&good[3].0],
    )
    .unwrap();
    let changed = format!(
        "SELECT {COLUMNS} FROM shops WHERE subject = '{}'",
        good[3].0
    );
    let output = run(&[
        "registry",
        "update",
        p(&out),
        "--modify",
        &url,
        "--query",
        &changed,
    ]);
    assert!(
        stderr(&output).contains("modified 1 record at index 3"),
        "{}",
        stderr(&output)
    );
    assert_ne!(root_of(output), from_csv);
    assert_eq!(live_records(&out).0[&good[3].0][3], "77");

    // A query without a database, and a database without a query, are refused.
    let message = malformed(build(&schema, p(&csv_file), Some("SELECT 1"), &out));
    assert!(
        message.contains("--query reads from a database"),
        "{message}"
    );
    let message = malformed(build(&schema, &url, None, &out));
    assert!(message.contains("needs --query"), "{message}");
}

#[test]
fn sync_applies_the_source_in_one_change_and_then_finds_no_difference() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = write_schema(tmp.path());
    let (url, mut db) = postgres_database();
    let mut source = rows(50);
    create_postgres_table(&mut db, &source);
    let dir = tmp.path().join("registry");
    root_of(build(&schema, &url, Some(QUERY), &dir));
    assert_eq!(changes(&dir), 1);

    // Unchanged source: nothing to do, and nothing is written.
    let before = root_of(run(&["registry", "root", p(&dir)]));
    let output = sync(&dir, &url, Some(QUERY));
    assert!(
        stderr(&output).contains("no difference"),
        "{}",
        stderr(&output)
    );
    assert_eq!(root_of(output), before);
    assert_eq!(changes(&dir), 1);

    // One row changes, one goes, one comes.
    db.execute(
        "UPDATE shops SET scope = 9 WHERE holder = $1",
        &[&source[7].0],
    )
    .unwrap();
    source[7].3 = 9;
    db.execute("DELETE FROM shops WHERE holder = $1", &[&source[20].0])
        .unwrap();
    source.remove(20);
    let newcomer: Row = (
        "94000001".into(),
        "Newcomer".into(),
        "active",
        3,
        "99.99",
        true,
        "2044-04-04".into(),
    );
    insert_postgres(&mut db, &newcomer, "5");
    source.push(newcomer);

    // A bad row in the source: the sync is refused and changes nothing.
    db.batch_execute(
        "INSERT INTO shops (holder, name, status, scope, capital, open, expires, bad)
         VALUES ('95000001', 'x', 'active', NULL, 1, true, '2040-01-01', true)",
    )
    .unwrap();
    let everything = "SELECT holder AS subject, name, status, scope, capital, open, expires FROM shops ORDER BY id";
    let message = malformed(sync(&dir, &url, Some(everything)));
    assert!(
        message.contains("field \"scope\", value \"\": NULL"),
        "{message}"
    );
    assert!(message.contains("the registry is unchanged"), "{message}");
    assert!(!message.contains(PASSWORD), "{message}");
    assert_eq!(root_of(run(&["registry", "root", p(&dir)])), before);
    assert_eq!(changes(&dir), 1);

    let output = sync(&dir, &url, Some(QUERY));
    let message = stderr(&output);
    let synced = root_of(output);
    assert_ne!(synced, before);
    assert!(
        message.contains("in one change: added 1, modified 1, revoked 1"),
        "{message}"
    );
    assert!(
        message.contains("now holds 51 records, 1 revoked"),
        "{message}"
    );
    assert!(!message.contains(PASSWORD), "{message}");
    assert_eq!(changes(&dir), 2, "one commit");
    assert_eq!(root_of(run(&["registry", "check", p(&dir)])), synced);

    // The live records are those of a registry built from the new source.
    let direct = tmp.path().join("direct");
    root_of(build(&schema, &url, Some(QUERY), &direct));
    let (live, revoked) = live_records(&dir);
    assert_eq!(revoked, 1);
    assert_eq!(live.len(), 50);
    assert_eq!(live, live_records(&direct).0);
    assert_eq!(live[&source[7].0][3], "9");
    assert!(!live.contains_key(&rows(50)[20].0));
    assert_eq!(live["94000001"][1], "Newcomer");

    // Again: no difference, from the query and from the same records as CSV.
    let output = sync(&dir, &url, Some(QUERY));
    assert!(
        stderr(&output).contains("no difference"),
        "{}",
        stderr(&output)
    );
    assert_eq!(root_of(output), synced);
    let csv_file = tmp.path().join("source.csv");
    fs::write(&csv_file, csv(&source, false)).unwrap();
    let output = sync(&dir, p(&csv_file), None);
    assert!(
        stderr(&output).contains("no difference"),
        "{}",
        stderr(&output)
    );
    assert_eq!(root_of(output), synced);
    assert_eq!(changes(&dir), 2);

    // A CSV source with one change syncs as well.
    source[0].2 = "active";
    source[0].1 = "Renamed".into();
    fs::write(&csv_file, csv(&source, false)).unwrap();
    let output = sync(&dir, p(&csv_file), None);
    assert!(
        stderr(&output).contains("added 0, modified 1, revoked 0"),
        "{}",
        stderr(&output)
    );
    root_of(output);
    assert_eq!(live_records(&dir).0[&source[0].0][1], "Renamed");
    assert_eq!(changes(&dir), 3);
}

#[test]
fn sync_refuses_a_schema_with_several_records_per_subject() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let records = "../prover/tests/data/real-estate.csv";
    root_of(run(&[
        "registry",
        "build",
        "--schema",
        "../schemas/real-estate.toml",
        "--records",
        records,
        "--depth",
        "3",
        "--out",
        p(&dir),
    ]));
    let message = malformed(sync(&dir, records, None));
    assert!(message.contains("unique_subject = false"), "{message}");
    assert!(message.contains("the registry is unchanged"), "{message}");
    assert_eq!(changes(&dir), 1);
}

#[test]
fn a_query_reads_over_tls_with_the_urls_sslmode() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = write_schema(tmp.path());
    let user = support::postgres::USER;
    let url = support::postgres::tls_server().fresh_database().replacen(
        &format!("://{user}@"),
        &format!("://{user}:{PASSWORD}@"),
        1,
    );
    // No table: the rows are the query's own.
    let query = "SELECT * FROM (VALUES
        ('91000001', 'Shop A', 'active', 1, 12.50::numeric(14,2), true, DATE '2040-01-01', '11'),
        ('91000002', 'Shop B', 'suspended', 65535, 0.05::numeric(14,2), false, DATE '1999-12-31', '12')
    ) AS t(subject, name, status, scope, capital, open, expires, salt)";
    let out = tmp.path().join("registry");
    let from_tls = root_of(build(
        &schema,
        &format!("{url}?sslmode=require"),
        Some(query),
        &out,
    ));
    let csv_file = tmp.path().join("shops.csv");
    fs::write(
        &csv_file,
        "subject,name,status,scope,capital,open,expires,salt\n\
         91000001,Shop A,active,1,12.50,true,2040-01-01,11\n\
         91000002,Shop B,suspended,65535,0.05,false,1999-12-31,12\n",
    )
    .unwrap();
    let from_csv = root_of(build(
        &schema,
        p(&csv_file),
        None,
        &tmp.path().join("from-csv"),
    ));
    assert_eq!(from_tls, from_csv);

    // The TLS-only server refuses a connection without TLS; the password stays hidden.
    let output = build(
        &schema,
        &format!("{url}?sslmode=disable"),
        Some(query),
        &tmp.path().join("plain"),
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("sslmode disable"), "{message}");
    assert!(
        message.contains("no pg_hba.conf entry") || message.contains("FATAL"),
        "{message}"
    );
    assert!(!message.contains(PASSWORD), "{message}");
    assert!(!tmp.path().join("plain").exists());
}
