//! Registries: records files in, verified roots out, atomic storage, and
//! roots that circomlibjs recomputes from the same records.

#[path = "../../keys/tests/support/mod.rs"]
mod support;

use std::fs;
use std::path::{Path, PathBuf};

use ark_ff::{BigInteger, PrimeField, Zero};
use proptest::prelude::*;
use rand::{CryptoRng, RngCore};
use zkgov_circuits::encoding::text_to_field;
use zkgov_circuits::field::{to_decimal, MODULUS_DECIMAL};
use zkgov_circuits::schema::Schema;
use zkgov_circuits::tree::{RegistryTree, TreeShape};
use zkgov_circuits::Fr;
use zkgov_prover::registry::{
    build, random_salt, BadRow, NewRecord, RecordFormat, RecordsFile, Registry, RegistryError, Room,
};

const SCHEMA_TEXT: &str = include_str!("../../schemas/real-estate.toml");

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn schema() -> Schema {
    Schema::from_toml("real-estate.toml", SCHEMA_TEXT).unwrap()
}

fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/real-estate.toml")
}

fn shape(arity: usize, depth: u32) -> TreeShape {
    TreeShape::new(arity, depth).unwrap()
}

/// Parses records given inline; `name` only sets the format and the messages.
fn parse(name: &str, text: &str, room: Room) -> Result<RecordsFile, RegistryError> {
    let format = RecordFormat::from_path(Path::new(name)).unwrap();
    RecordsFile::parse(&schema(), Path::new(name), text.as_bytes(), format, room)
}

fn bad_rows<T: std::fmt::Debug>(result: Result<T, RegistryError>) -> Vec<BadRow> {
    match result {
        Err(RegistryError::BadRows { rows, .. }) => rows,
        other => panic!("expected BadRows, got {other:?}"),
    }
}

fn row(row: u64, line: u64, field: Option<&str>, value: &str, reason: &str) -> BadRow {
    BadRow {
        row,
        line,
        field: field.map(str::to_string),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The leaves the registry must have: each live record's leaf, 0 for revoked.
fn expected_root(registry: &Registry) -> Fr {
    let leaves = (0..registry.len())
        .map(|i| {
            if registry.is_revoked(i) {
                Fr::zero()
            } else {
                registry.schema().leaf(&registry.record(i).unwrap())
            }
        })
        .collect();
    RegistryTree::from_leaves(registry.shape(), leaves)
        .unwrap()
        .root()
}

fn build_reference(dir: &Path, arity: usize, depth: u32) -> Registry {
    build(
        &schema_path(),
        &data("real-estate.csv"),
        None,
        shape(arity, depth),
        &dir.join("registry"),
    )
    .unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn csv_and_json_lines_give_the_same_records_and_roots() {
    let schema = schema();
    let room = Room::new(shape(4, 3), 0);
    let csv = RecordsFile::read(&schema, &data("real-estate.csv"), None, room).unwrap();
    let jsonl = RecordsFile::read(&schema, &data("real-estate.jsonl"), None, room).unwrap();
    assert_eq!(csv.format, RecordFormat::Csv);
    assert_eq!(jsonl.format, RecordFormat::JsonLines);
    assert_eq!(csv.len(), 8);
    let records =
        |f: &RecordsFile| -> Vec<_> { f.rows.iter().map(|r| r.record.record().clone()).collect() };
    assert_eq!(records(&csv), records(&jsonl));
    // Raw values are stored in the field's file format: JSON numbers and
    // booleans become their text.
    assert_eq!(csv.rows[2].record.raw()[4], "true");
    assert_eq!(jsonl.rows[2].record.raw()[4], "true");
    assert_eq!(jsonl.rows[3].record.raw()[4], "0");
    assert_eq!(csv.rows[6].record.raw()[1], "HZ 0007, Block \"B\"");
    assert_eq!(csv.rows[7].record.raw()[1], "南京-0005-0001");
    // Rows and lines: the CSV header is line 1.
    assert_eq!((csv.rows[0].row, csv.rows[0].line), (1, 2));
    assert_eq!((jsonl.rows[0].row, jsonl.rows[0].line), (1, 1));

    let tmp = tempfile::tempdir().unwrap();
    let a = Registry::create(
        &tmp.path().join("a"),
        SCHEMA_TEXT,
        shape(4, 3),
        csv.into_records(),
    )
    .unwrap();
    let b = Registry::create(
        &tmp.path().join("b"),
        SCHEMA_TEXT,
        shape(4, 3),
        jsonl.into_records(),
    )
    .unwrap();
    assert_eq!(a.root(), b.root());
    assert_eq!(a.root(), expected_root(&a));
}

/// The fixed-salt reference records have fixed roots; regenerate the golden
/// file with `ZKGOV_REGENERATE_REGISTRY_DATA=1` only when the format changes
/// on purpose (and rerun the circomlibjs test).
#[test]
fn golden_roots_of_the_reference_records() {
    let golden = data("real-estate.roots.json");
    let tmp = tempfile::tempdir().unwrap();
    let mut roots = serde_json::Map::new();
    for (arity, depth) in [(2, 5), (4, 3), (8, 2), (16, 2)] {
        let registry = build(
            &schema_path(),
            &data("real-estate.csv"),
            None,
            shape(arity, depth),
            &tmp.path().join(format!("r{arity}")),
        )
        .unwrap();
        roots.insert(
            format!("arity {arity}, depth {depth}"),
            to_decimal(&registry.root()).into(),
        );
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(roots)).unwrap() + "\n";
    if std::env::var_os("ZKGOV_REGENERATE_REGISTRY_DATA").is_some_and(|v| v == "1") {
        fs::write(&golden, &text).unwrap();
    }
    assert_eq!(fs::read_to_string(&golden).unwrap(), text);
}

#[test]
fn column_order_does_not_matter() {
    let text = fs::read_to_string(data("real-estate.csv")).unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let order = [7, 3, 0, 6, 1, 5, 2, 4];
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(order.iter().map(|&i| &header[i])).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        out.write_record(order.iter().map(|&i| &record[i])).unwrap();
    }
    let shuffled = String::from_utf8(out.into_inner().unwrap()).unwrap();
    assert!(shuffled.starts_with("salt,usage,subject,expires,parcel,issued,area_m2,encumbered\n"));

    let room = Room::new(shape(4, 3), 0);
    let a = parse("shuffled.csv", &shuffled, room).unwrap();
    let b = parse("ordered.csv", &text, room).unwrap();
    assert_eq!(a.into_records(), b.into_records());
}

#[test]
fn every_bad_row_is_listed_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("registry");
    let err = build(
        &schema_path(),
        &data("real-estate-bad.csv"),
        None,
        shape(4, 3),
        &out,
    )
    .unwrap_err();
    let RegistryError::BadRows { file, format, rows } = &err else {
        panic!("expected BadRows, got {err:?}");
    };
    assert_eq!(file, &data("real-estate-bad.csv"));
    assert_eq!(*format, RecordFormat::Csv);
    assert_eq!(
        rows,
        &[
            row(2, 3, Some("area_m2"), "-5", "value \"-5\" is negative"),
            row(3, 4, Some("usage"), "Medical", "unknown variant \"Medical\" (expected one of residential, commercial, medical, industrial)"),
            row(3, 4, Some("encumbered"), "maybe", "\"maybe\" is not a boolean (expected true, false, 1 or 0)"),
            row(3, 4, Some("issued"), "2022-02-30", "\"2022-02-30\" is not a valid date (YYYY-MM-DD)"),
            row(4, 5, None, "", "6 cells, but the header has 7 columns"),
            // The quoted parcel spans two lines, so the next row starts on line 8.
            row(5, 6, Some("area_m2"), "0120", "value \"0120\" has a leading zero"),
            row(7, 9, Some("parcel"), "SZ-\u{fffd}", "not valid UTF-8"),
        ]
    );
    let message = err.to_string();
    assert!(
        message.contains("7 bad rows (rows counted from 1 after the header)"),
        "{message}"
    );
    assert!(
        message.contains("\n  row 3 (line 4), field \"issued\", value \"2022-02-30\": "),
        "{message}"
    );
    assert!(!out.exists());
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn bad_json_lines_are_listed_by_line() {
    let lines = [
        // 1: good
        r#"{"subject":"a","parcel":"p","area_m2":1,"usage":"medical","encumbered":false,"issued":"2020-01-01","expires":"2030-01-01"}"#,
        // 2: a float, a number for an id, a boolean for a date, an unknown key
        r#"{"subject":7,"parcel":"p","area_m2":1.5,"usage":"medical","encumbered":false,"issued":true,"expires":"2030-01-01","owner":"x"}"#,
        // 3: missing keys, null
        r#"{"subject":"a","parcel":null,"area_m2":1,"usage":"medical"}"#,
        // 4: not JSON
        r#"subject,parcel"#,
        // 5: blank
        "",
        // 6: a key twice
        r#"{"subject":"a","subject":"b","parcel":"p","area_m2":1,"usage":"medical","encumbered":false,"issued":"2020-01-01","expires":"2030-01-01"}"#,
        // 7: a negative integer, a bad salt, a bool given as 2
        r#"{"subject":"a","parcel":"p","area_m2":-1,"usage":"medical","encumbered":2,"issued":"2020-01-01","expires":"2030-01-01","salt":"007"}"#,
        // 8: a salt that is not a string
        r#"{"subject":"a","parcel":"p","area_m2":1,"usage":"medical","encumbered":false,"issued":"2020-01-01","expires":"2030-01-01","salt":5}"#,
    ];
    let text = lines.join("\n") + "\n";
    let rows = bad_rows(parse("records.jsonl", &text, Room::unlimited()));
    let fields: Vec<(u64, Option<&str>)> =
        rows.iter().map(|r| (r.line, r.field.as_deref())).collect();
    assert_eq!(
        fields,
        [
            (2, Some("subject")),
            (2, Some("area_m2")),
            (2, Some("issued")),
            (2, Some("owner")),
            (3, Some("parcel")),
            (3, Some("encumbered")),
            (3, Some("issued")),
            (3, Some("expires")),
            (4, None),
            (5, None),
            (6, None),
            (7, Some("salt")),
            (7, Some("area_m2")),
            (7, Some("encumbered")),
            (8, Some("salt")),
        ]
    );
    assert!(rows.iter().all(|r| r.row == r.line));
    assert!(
        rows[0].reason.contains("write id values as strings"),
        "{}",
        rows[0].reason
    );
    assert!(
        rows[1].reason.contains("not an integer"),
        "{}",
        rows[1].reason
    );
    assert!(rows[1].reason.contains("\"12.50\""), "{}", rows[1].reason);
    assert!(rows[3].reason.contains("unknown key"), "{}", rows[3].reason);
    assert_eq!(rows[4].reason, "null is not a value; every field needs one");
    assert_eq!(rows[5].reason, "missing");
    assert!(
        rows[9].reason.starts_with("blank line"),
        "{}",
        rows[9].reason
    );
    assert!(
        rows[10].reason.contains("key \"subject\" appears twice"),
        "{}",
        rows[10].reason
    );
    assert!(
        rows[11].reason.contains("leading zero"),
        "{}",
        rows[11].reason
    );
    assert_eq!(rows[12].reason, "value \"-1\" is negative");
    let message = RegistryError::BadRows {
        file: "records.jsonl".into(),
        format: RecordFormat::JsonLines,
        rows: rows.clone(),
    }
    .to_string();
    assert!(
        message.contains("15 bad rows (by line):\n  line 2, field \"subject\", value \"7\": "),
        "{message}"
    );
}

#[test]
fn header_problems_name_the_columns() {
    let text = "subject,parcel,area,usage,usage,issued,expires,salt\n";
    let err = parse("r.csv", text, Room::unlimited()).unwrap_err();
    match &err {
        RegistryError::Columns {
            unknown,
            missing,
            duplicate,
            ..
        } => {
            assert_eq!(unknown, &["area"]);
            assert_eq!(missing, &["area_m2", "encumbered"]);
            assert_eq!(duplicate, &["usage"]);
        }
        other => panic!("expected Columns, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("unknown columns \"area\""), "{message}");
    assert!(
        message.contains("missing columns \"area_m2\", \"encumbered\""),
        "{message}"
    );

    let err = parse("r.csv", "", Room::unlimited()).unwrap_err();
    assert!(
        matches!(&err, RegistryError::Columns { missing, .. } if missing.len() == 7),
        "{err:?}"
    );

    // A byte-order mark before the first column name is not part of it.
    let text = "\u{feff}subject,parcel,area_m2,usage,encumbered,issued,expires\na,p,1,medical,false,2020-01-01,2030-01-01\n";
    assert_eq!(parse("r.csv", text, Room::unlimited()).unwrap().len(), 1);
}

#[test]
fn salts_must_be_canonical_field_elements() {
    let r_plus_1 = {
        let mut digits = MODULUS_DECIMAL.as_bytes().to_vec();
        *digits.last_mut().unwrap() += 1;
        String::from_utf8(digits).unwrap()
    };
    let mut text = String::from("subject,parcel,area_m2,usage,encumbered,issued,expires,salt\n");
    for salt in [
        "01",
        "-1",
        "+1",
        "",
        " 1",
        "0x10",
        MODULUS_DECIMAL,
        &r_plus_1,
        "12",
    ] {
        text.push_str(&format!(
            "a,p,1,medical,false,2020-01-01,2030-01-01,{salt}\n"
        ));
    }
    let rows = bad_rows(parse("r.csv", &text, Room::unlimited()));
    assert_eq!(
        rows.iter().map(|r| r.row).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    assert!(rows.iter().all(|r| r.field.as_deref() == Some("salt")));
    // A salt is a secret: even a malformed one is not quoted.
    assert!(rows.iter().all(|r| r.value.is_empty()), "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| !r.reason.contains("0x10") && !r.reason.contains(&r_plus_1[..20])),
        "{rows:?}"
    );
    assert!(
        rows[6]
            .reason
            .contains("not below the BN254 scalar modulus"),
        "{}",
        rows[6].reason
    );

    let good = parse(
        "r.csv",
        &text
            .lines()
            .take(1)
            .chain(text.lines().skip(9))
            .collect::<Vec<_>>()
            .join("\n"),
        Room::unlimited(),
    )
    .unwrap();
    assert_eq!(good.rows[0].record.record().salt, Fr::from(12u64));
}

/// An RNG that replays fixed 32-byte blocks.
struct Replay(Vec<[u8; 32]>);

impl RngCore for Replay {
    fn next_u32(&mut self) -> u32 {
        unimplemented!()
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert_eq!(dest.len(), 32);
        dest.copy_from_slice(&self.0.remove(0));
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Replay {}

fn le_bytes(x: &ark_ff::BigInt<4>) -> [u8; 32] {
    x.to_bytes_le().try_into().unwrap()
}

#[test]
fn random_salts_are_rejection_sampled_below_r() {
    let r = Fr::MODULUS;
    let mut r_minus_1 = r;
    r_minus_1.sub_with_borrow(&ark_ff::BigInt::from(1u64));
    // Top two bits are dropped, so 0xff… becomes 2^254 − 1 ≥ r and is
    // rejected, as is r itself; r − 1 is taken as it is, never reduced.
    let mut rng = Replay(vec![[0xff; 32], le_bytes(&r), le_bytes(&r_minus_1)]);
    assert_eq!(random_salt(&mut rng), -Fr::from(1u64));
    assert!(rng.0.is_empty());
    // The top bits of an acceptable draw are ignored, not carried.
    let mut high = le_bytes(&ark_ff::BigInt::from(5u64));
    high[31] = 0xc0;
    assert_eq!(random_salt(&mut Replay(vec![high])), Fr::from(5u64));

    let mut os = rand::rngs::OsRng;
    let salts: Vec<Fr> = (0..64).map(|_| random_salt(&mut os)).collect();
    let distinct: std::collections::HashSet<_> = salts.iter().map(to_decimal).collect();
    assert_eq!(distinct.len(), 64);
    // Uniform below r: the top bit (bit 253) is set in about 0.34 of draws
    // ((r − 2^253) / r); 64 draws with none set would be a broken sampler.
    assert!(salts.iter().any(|s| s.into_bigint().get_bit(253)));
}

#[test]
fn records_without_salts_get_fresh_random_salts() {
    let text = "subject,parcel,area_m2,usage,encumbered,issued,expires\na,p,1,medical,false,2020-01-01,2030-01-01\na,p,1,medical,false,2020-01-01,2030-01-01\n";
    let a = parse("r.csv", text, Room::unlimited())
        .unwrap()
        .into_records();
    let b = parse("r.csv", text, Room::unlimited())
        .unwrap()
        .into_records();
    let salts: std::collections::HashSet<_> = a
        .iter()
        .chain(&b)
        .map(|r| to_decimal(&r.record().salt))
        .collect();
    assert_eq!(salts.len(), 4);
    assert_eq!(a[0].record().values, a[1].record().values);
    assert_ne!(schema().leaf(a[0].record()), schema().leaf(a[1].record()));
}

#[test]
fn too_many_records_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("registry");
    // Eight records, capacity 2^2 = 4.
    let err = build(
        &schema_path(),
        &data("real-estate.csv"),
        None,
        shape(2, 2),
        &out,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::TooManyRecords {
                records: 8,
                capacity: 4,
                arity: 2,
                depth: 2
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("choose a larger depth or arity"));
    assert!(!out.exists());
    assert_eq!(entries(tmp.path()), Vec::<String>::new());

    // Exactly full is fine; one more through an update is refused.
    let mut registry = build(
        &schema_path(),
        &data("real-estate.csv"),
        None,
        shape(2, 3),
        &out,
    )
    .unwrap();
    let root = registry.root();
    let more =
        RecordsFile::read(&schema(), &data("real-estate.csv"), None, registry.room()).unwrap_err();
    assert!(
        matches!(
            more,
            RegistryError::TooManyRecords {
                records: 16,
                capacity: 8,
                ..
            }
        ),
        "{more:?}"
    );
    let one = parse("r.csv", "subject,parcel,area_m2,usage,encumbered,issued,expires\na,p,1,medical,false,2020-01-01,2030-01-01\n", Room::unlimited()).unwrap();
    let err = registry.add(one.into_records()).unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::TooManyRecords {
                records: 9,
                capacity: 8,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(registry.root(), root);
    assert_eq!(Registry::open(&out).unwrap().root(), root);
}

#[test]
fn an_existing_directory_is_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let err = build(
        &schema_path(),
        &data("real-estate.csv"),
        None,
        shape(4, 3),
        tmp.path(),
    )
    .unwrap_err();
    assert!(
        matches!(err, RegistryError::AlreadyExists { .. }),
        "{err:?}"
    );
}

#[test]
fn open_verifies_and_serves_records_and_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let built = build_reference(tmp.path(), 4, 3);
    let registry = Registry::open(&tmp.path().join("registry")).unwrap();
    assert_eq!(registry.root(), built.root());
    assert_eq!(registry.len(), 8);
    assert_eq!(registry.shape(), shape(4, 3));
    assert_eq!(registry.schema(), &schema());
    assert_eq!(
        to_decimal(&registry.root()),
        to_decimal(&expected_root(&registry))
    );

    let owner = text_to_field("110101199003071234");
    let parcels = registry.records_of(&owner);
    assert_eq!(
        parcels.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    for (index, record) in parcels {
        assert_eq!(record, registry.record(index).unwrap());
        let leaf = registry.schema().leaf(&record);
        assert_eq!(registry.leaf(index), Some(leaf));
        assert_eq!(
            registry.path(index).root(&registry.shape(), leaf),
            registry.root()
        );
        // The path opens to the root for its own leaf only.
        assert_ne!(
            registry
                .path(index)
                .root(&registry.shape(), leaf + Fr::from(1u64)),
            registry.root()
        );
    }
    assert_eq!(
        registry
            .records_of(&text_to_field("510104198511120021"))
            .len(),
        2
    );
    assert!(registry.records_of(&text_to_field("nobody")).is_empty());
    // The subject is the encoded id, not the raw text.
    assert!(registry
        .records_of(&Fr::from(110101199003071234u64))
        .is_empty());
    assert_eq!(registry.raw_values(6).unwrap()[1], "HZ 0007, Block \"B\"");
}

#[test]
#[should_panic(expected = "out of range")]
fn a_path_past_the_end_panics() {
    let tmp = tempfile::tempdir().unwrap();
    build_reference(tmp.path(), 4, 3).path(8);
}

const HEADER: &str = "subject,parcel,area_m2,usage,encumbered,issued,expires\n";

#[test]
fn updates_are_single_leaf_changes_that_survive_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let mut registry = build_reference(tmp.path(), 4, 3);
    let reopen = |expected: &Registry| {
        let again = Registry::open(&dir).unwrap();
        assert_eq!(again.root(), expected.root());
        assert_eq!(again.root(), expected_root(&again));
        again
    };

    // Add: appended at the next indices.
    let add = parse("add.jsonl", concat!(
        r#"{"subject":"440305197701015678","parcel":"SZ-0100-0002","area_m2":60,"usage":"commercial","encumbered":false,"issued":"2024-01-02","expires":"2074-01-01"}"#, "\n",
        r#"{"subject":"new-owner","parcel":"SZ-0100-0003","area_m2":70,"usage":"medical","encumbered":false,"issued":"2024-01-02","expires":"2074-01-01","salt":"99"}"#, "\n",
    ), registry.room()).unwrap();
    let before = registry.root();
    assert_eq!(registry.add(add.into_records()).unwrap(), 8..10);
    assert_ne!(registry.root(), before);
    assert_eq!(
        registry
            .records_of(&text_to_field("440305197701015678"))
            .len(),
        2
    );
    registry.commit().unwrap();
    let mut registry = reopen(&registry);
    assert_eq!(registry.record(9).unwrap().salt, Fr::from(99u64));

    // Modify by subject: the subject's one record, with a fresh salt.
    let old_salt = registry.record(9).unwrap().salt;
    let modify = parse(
        "m.csv",
        &format!("{HEADER}new-owner,SZ-0100-0003,75,medical,true,2024-01-02,2074-01-01\n"),
        Room::unlimited(),
    )
    .unwrap();
    assert_eq!(registry.modify_by_subject(modify).unwrap(), [9]);
    assert_eq!(registry.raw_values(9).unwrap()[2], "75");
    assert_ne!(registry.record(9).unwrap().salt, old_salt);
    registry.commit().unwrap();
    let mut registry = reopen(&registry);

    // Modify by index: parcel 1 changes hands.
    let sold = parse(
        "m.csv",
        &format!(
            "{HEADER}510104198511120021,BJ-0001-0002,450,medical,false,2019-07-15,2069-07-14\n"
        ),
        Room::unlimited(),
    )
    .unwrap();
    registry.modify(1, sold.into_records().remove(0)).unwrap();
    assert_eq!(
        registry
            .records_of(&text_to_field("110101199003071234"))
            .iter()
            .map(|(i, _)| *i)
            .collect::<Vec<_>>(),
        [0, 2]
    );
    assert_eq!(
        registry
            .records_of(&text_to_field("510104198511120021"))
            .iter()
            .map(|(i, _)| *i)
            .collect::<Vec<_>>(),
        [1, 3, 4]
    );
    registry.commit().unwrap();
    let mut registry = reopen(&registry);

    // Revoke by subject and by index: the leaf becomes 0, the record stays.
    assert_eq!(
        registry
            .revoke_subjects(&["new-owner".to_string()])
            .unwrap(),
        [9]
    );
    registry.revoke(3).unwrap();
    assert_eq!(registry.leaf(9), Some(Fr::zero()));
    assert!(registry.is_revoked(3) && registry.is_revoked(9) && !registry.is_revoked(4));
    assert_eq!(registry.revoked_count(), 2);
    assert!(registry.records_of(&text_to_field("new-owner")).is_empty());
    assert_eq!(
        registry
            .records_of(&text_to_field("510104198511120021"))
            .iter()
            .map(|(i, _)| *i)
            .collect::<Vec<_>>(),
        [1, 4]
    );
    assert_eq!(
        registry.path(9).root(&registry.shape(), Fr::zero()),
        registry.root()
    );
    registry.commit().unwrap();
    let mut registry = reopen(&registry);
    assert_eq!(registry.len(), 10);
    assert_eq!(registry.revoked_count(), 2);
    assert_eq!(registry.raw_values(9).unwrap()[1], "SZ-0100-0003");

    // Revoked records stay revoked.
    let again = parse(
        "m.csv",
        &format!("{HEADER}x,y,1,medical,false,2020-01-01,2030-01-01\n"),
        Room::unlimited(),
    )
    .unwrap();
    assert!(matches!(
        registry.modify(9, again.into_records().remove(0)),
        Err(RegistryError::Revoked { index: 9 })
    ));
    assert!(matches!(
        registry.revoke(3),
        Err(RegistryError::Revoked { index: 3 })
    ));
    assert!(matches!(
        registry.revoke(10),
        Err(RegistryError::NoSuchRecord { index: 10, len: 10 })
    ));

    // One database; the history holds each change, not a copy.
    assert_eq!(
        entries(&dir),
        ["registry.db", "registry.db-shm", "registry.db-wal"]
    );
    let history = registry.history().unwrap();
    assert_eq!(
        history.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>(),
        ["build", "update", "update", "update", "update"]
    );
    assert_eq!(history[1].detail, serde_json::json!({"added": [8, 10]}));
    assert_eq!(history[2].detail, serde_json::json!({"modified": [9]}));
    assert_eq!(history[4].detail, serde_json::json!({"revoked": [9, 3]}));
    assert_eq!(history[4].root, registry.root());
    assert_eq!((history[4].records, history[4].revoked), (10, 2));
    assert_eq!(registry.check().unwrap().root, registry.root());
}

#[test]
fn ambiguous_and_unknown_subjects_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = build_reference(tmp.path(), 4, 3);
    let root = registry.root();

    let text = format!(
        "{HEADER}110101199003071234,BJ-0001-0001,1,medical,false,2020-01-01,2030-01-01\nnobody,p,1,medical,false,2020-01-01,2030-01-01\n440305197701015678,SZ-0100-0001,96,residential,false,1998-06-30,2068-06-29\n440305197701015678,SZ-0100-0001,97,residential,false,1998-06-30,2068-06-29\n"
    );
    let err = registry
        .modify_by_subject(parse("m.csv", &text, Room::unlimited()).unwrap())
        .unwrap_err();
    let RegistryError::BadRows { rows, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [1, 2, 4]);
    assert!(rows.iter().all(|r| r.field.as_deref() == Some("subject")));
    assert_eq!(
        rows[0].reason,
        "the subject owns 3 live records (indices 0, 1, 2); modify one of them by its index"
    );
    assert_eq!(rows[1].reason, "no live record has this subject");
    assert_eq!(
        rows[2].reason,
        "record 5 is already modified by row 3 of this file"
    );
    assert_eq!(registry.root(), root);

    let subjects = [
        "110101199003071234",
        "nobody",
        "440305197701015678",
        "440305197701015678",
    ]
    .map(String::from);
    let err = registry.revoke_subjects(&subjects).unwrap_err();
    let RegistryError::BadSubjects { subjects: bad } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        bad.iter().map(|b| b.subject.as_str()).collect::<Vec<_>>(),
        ["110101199003071234", "nobody", "440305197701015678"]
    );
    assert_eq!(bad[2].reason, "given twice");
    assert!(err.to_string().starts_with("3 subjects cannot be revoked:\n  \"110101199003071234\": the subject owns 3 live records"), "{err}");
    assert_eq!(registry.root(), root);
    assert!(!registry.is_revoked(5));
}

#[test]
fn a_second_writer_gets_a_conflict() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    build_reference(tmp.path(), 4, 3);
    let mut a = Registry::open(&dir).unwrap();
    let mut b = Registry::open(&dir).unwrap();
    a.revoke(0).unwrap();
    a.commit().unwrap();
    b.revoke(1).unwrap();
    let err = b.commit().unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Conflict {
                opened: 1,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let now = Registry::open(&dir).unwrap();
    assert_eq!(now.root(), a.root());
    assert!(now.is_revoked(0) && !now.is_revoked(1));
}

#[test]
fn rows_are_numbered_across_validation_chunks() {
    let mut text = String::from(HEADER);
    for i in 0..20_000 {
        let area = if i == 12_345 {
            "x".to_string()
        } else {
            i.to_string()
        };
        text.push_str(&format!(
            "s{i},p{i},{area},medical,false,2020-01-01,2030-01-01\n"
        ));
    }
    let rows = bad_rows(parse("big.csv", &text, Room::unlimited()));
    assert_eq!(
        rows,
        [row(
            12_346,
            12_347,
            Some("area_m2"),
            "x",
            "value \"x\" is not an unsigned decimal integer"
        )]
    );
    let ok = parse(
        "big.csv",
        &text.replace(",x,", ",1,"),
        Room::new(shape(4, 8), 0),
    )
    .unwrap();
    assert_eq!(ok.len(), 20_000);
    assert_eq!(ok.rows[19_999].row, 20_000);
    assert_eq!(ok.rows[19_999].record.raw()[0], "s19999");
    // A tree too small: refused with the full count, without validating the rest.
    let err = parse("big.csv", &text, Room::new(shape(4, 7), 0)).unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::TooManyRecords {
                records: 20_000,
                capacity: 16_384,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn circomlibjs_computes_the_same_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registries = Vec::new();
    let mut rust_roots = Vec::new();
    let cases = [
        (2, 5, true),
        (4, 3, true),
        (4, 3, false),
        (8, 2, true),
        (16, 2, true),
        (4, 10, true),
        (4, 2, false),
    ];
    for (n, (arity, depth, changed)) in cases.into_iter().enumerate() {
        let dir = tmp.path().join(format!("r{n}"));
        let mut registry = if n == cases.len() - 1 {
            // An empty registry: the root is the zero chain's top.
            Registry::create(&dir, SCHEMA_TEXT, shape(arity, depth), Vec::new()).unwrap()
        } else {
            build(
                &schema_path(),
                &data("real-estate.csv"),
                None,
                shape(arity, depth),
                &dir,
            )
            .unwrap()
        };
        if changed {
            // Random salts, a modification and a revocation.
            let add = parse(
                "a.csv",
                &format!("{HEADER}z,q,7,medical,false,2020-01-01,2030-01-01\n"),
                registry.room(),
            )
            .unwrap();
            registry.add(add.into_records()).unwrap();
            registry.revoke(2).unwrap();
            let new = NewRecord::new(
                registry.schema(),
                [
                    "y",
                    "q2",
                    "8",
                    "industrial",
                    "true",
                    "2021-01-01",
                    "2031-01-01",
                ]
                .map(String::from)
                .to_vec(),
                None,
            )
            .unwrap();
            registry.modify(5, new).unwrap();
            registry.commit().unwrap();
            registry = Registry::open(&dir).unwrap();
        }
        let records: Vec<serde_json::Value> = (0..registry.len())
            .map(|i| {
                let record = registry.record(i).unwrap();
                serde_json::json!({
                    "values": record.values.iter().map(to_decimal).collect::<Vec<_>>(),
                    "salt": to_decimal(&record.salt),
                    "revoked": registry.is_revoked(i),
                })
            })
            .collect();
        registries.push(serde_json::json!({
            "arity": arity, "depth": depth, "subject": registry.schema().subject, "records": records,
        }));
        rust_roots.push(to_decimal(&registry.root()));
    }
    let input = tmp.path().join("registries.json");
    fs::write(
        &input,
        serde_json::json!({ "registries": registries }).to_string(),
    )
    .unwrap();
    let output = support::run_node_script(
        &data("registry_roots.js"),
        &[input.to_str().unwrap()],
        tmp.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let js: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let js_roots: Vec<String> = serde_json::from_value(js["roots"].clone()).unwrap();
    assert_eq!(js_roots, rust_roots);
    // Not vacuous: the roots differ from each other.
    let distinct: std::collections::HashSet<_> = rust_roots.iter().collect();
    assert_eq!(distinct.len(), rust_roots.len());
}

/// The records as one CSV text and one JSON Lines text.
fn as_csv_and_jsonl(rows: &[(String, u32, usize, bool, u32, String)]) -> (String, String) {
    let usages = ["residential", "commercial", "medical", "industrial"];
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        "subject",
        "parcel",
        "area_m2",
        "usage",
        "encumbered",
        "issued",
        "expires",
        "salt",
    ])
    .unwrap();
    let mut jsonl = String::new();
    for (i, (subject, area, usage, encumbered, days, salt)) in rows.iter().enumerate() {
        let date = date_from(*days);
        csv.write_record([
            subject.as_str(),
            &format!("p{i}"),
            &area.to_string(),
            usages[*usage],
            &encumbered.to_string(),
            &date,
            &date,
            salt,
        ])
        .unwrap();
        jsonl.push_str(&serde_json::json!({
            "subject": subject, "parcel": format!("p{i}"), "area_m2": area, "usage": usages[*usage],
            "encumbered": encumbered, "issued": date, "expires": date, "salt": salt,
        }).to_string());
        jsonl.push('\n');
    }
    (String::from_utf8(csv.into_inner().unwrap()).unwrap(), jsonl)
}

/// A valid `YYYY-MM-DD` from a small number (days 1 to 28 of a month).
fn date_from(n: u32) -> String {
    format!("{:04}-{:02}-{:02}", 1 + n % 9999, 1 + n % 12, 1 + n % 28)
}

fn any_salt() -> impl Strategy<Value = String> {
    any::<[u8; 32]>().prop_map(|b| to_decimal(&Fr::from_le_bytes_mod_order(&b)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any text (quotes, commas, newlines, non-ASCII), through CSV and
    /// through JSON Lines, gives the same records.
    #[test]
    fn csv_and_json_lines_agree(rows in prop::collection::vec(
        ("\\PC{1,12}|[\",\n ]{1,4}", any::<u32>(), 0usize..4, any::<bool>(), any::<u32>(), any_salt()),
        0..12,
    )) {
        let (csv, jsonl) = as_csv_and_jsonl(&rows);
        let a = parse("p.csv", &csv, Room::unlimited()).unwrap().into_records();
        let b = parse("p.jsonl", &jsonl, Room::unlimited()).unwrap().into_records();
        prop_assert_eq!(a.len(), rows.len());
        prop_assert_eq!(&a, &b);
        for (record, row) in a.iter().zip(&rows) {
            prop_assert_eq!(&record.raw()[0], &row.0);
            prop_assert_eq!(record.record().values[0], text_to_field(&row.0));
        }
    }
}

/// The reference scale: 2^20 records, arity 4, depth 10. Run with
/// `cargo test --release -p zkgov-prover --test registry -- --ignored --nocapture`.
#[test]
#[ignore = "builds a 2^20-record registry; run explicitly"]
fn a_full_reference_registry_builds_and_opens() {
    use std::io::Write;
    use std::time::Instant;
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("records.csv");
    let mut out = std::io::BufWriter::new(fs::File::create(&records).unwrap());
    out.write_all(HEADER.as_bytes()).unwrap();
    let usages = ["residential", "commercial", "medical", "industrial"];
    for i in 0..1u64 << 20 {
        writeln!(
            out,
            "{:018},P-{i:08},{},{},{},2015-03-01,2085-02-28",
            110101190000000000 + i / 3,
            20 + i % 5000,
            usages[(i % 4) as usize],
            i % 7 == 0
        )
        .unwrap();
    }
    out.into_inner().unwrap().sync_all().unwrap();

    let start = Instant::now();
    let file = RecordsFile::read(&schema(), &records, None, Room::new(shape(4, 10), 0)).unwrap();
    eprintln!("read and encode: {:.2?}", start.elapsed());
    let start = Instant::now();
    {
        use rayon::prelude::*;
        let schema = schema();
        let leaves: Vec<Fr> = file
            .rows
            .par_iter()
            .map(|r| schema.leaf(r.record.record()))
            .collect();
        eprintln!("leaves alone: {:.2?}", start.elapsed());
        let start = Instant::now();
        RegistryTree::from_leaves(shape(4, 10), leaves).unwrap();
        eprintln!("tree alone: {:.2?}", start.elapsed());
    }
    drop(file);
    let start = Instant::now();
    let built = build(
        &schema_path(),
        &records,
        None,
        shape(4, 10),
        &tmp.path().join("registry"),
    )
    .unwrap();
    eprintln!("build: {:.2?}", start.elapsed());
    let start = Instant::now();
    let mut registry = Registry::open(&tmp.path().join("registry")).unwrap();
    eprintln!("open:  {:.2?}", start.elapsed());
    assert_eq!(registry.root(), built.root());
    assert_eq!(registry.len(), 1 << 20);
    let start = Instant::now();
    registry.revoke(12345).unwrap();
    registry.commit().unwrap();
    eprintln!("revoke + commit: {:.2?}", start.elapsed());
}

const LICENCES: &str = r#"
    name = "licences"
    subject = "holder"
    [[field]]
    name = "holder"
    type = "id"
    [[field]]
    name = "scope"
    type = "uint16"
"#;

fn licences(unique: bool) -> (Schema, String) {
    let text = if unique {
        LICENCES.to_string()
    } else {
        LICENCES.replace(
            "subject = \"holder\"",
            "subject = \"holder\"\nunique_subject = false",
        )
    };
    (Schema::from_toml("licences.toml", &text).unwrap(), text)
}

fn licence_rows(schema: &Schema, csv: &str) -> Result<RecordsFile, RegistryError> {
    RecordsFile::parse(
        schema,
        Path::new("l.csv"),
        csv.as_bytes(),
        RecordFormat::Csv,
        Room::unlimited(),
    )
}

#[test]
fn a_second_live_record_for_a_subject_is_refused_unless_the_schema_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "holder,scope\nalice,1\nbob,2\nalice,3\n";
    let (unique, unique_text) = licences(true);
    let schema_file = dir.path().join("licences.toml");
    fs::write(&schema_file, &unique_text).unwrap();
    let records = dir.path().join("l.csv");
    fs::write(&records, csv).unwrap();
    let err = build(
        &schema_file,
        &records,
        None,
        shape(4, 2),
        &dir.path().join("u"),
    )
    .unwrap_err();
    let reason = "the subject is also that of row 1; the schema declares subjects unique (declare `unique_subject = false` to allow several live records per subject)";
    assert_eq!(
        bad_rows::<()>(Err(err)),
        [row(3, 4, Some("holder"), "alice", reason)]
    );
    assert!(!dir.path().join("u").exists());

    // Through the API, the same refusal names positions.
    let err = Registry::create(
        &dir.path().join("u"),
        &unique_text,
        shape(4, 2),
        licence_rows(&unique, csv).unwrap().into_records(),
    )
    .unwrap_err();
    match err {
        RegistryError::DuplicateSubjects { duplicates } => {
            assert_eq!(duplicates.len(), 1);
            assert_eq!(duplicates[0].position, 2);
            assert_eq!(duplicates[0].subject, "alice");
            assert_eq!(
                duplicates[0].owner,
                zkgov_prover::registry::SubjectOwner::Earlier(0)
            );
        }
        other => panic!("expected DuplicateSubjects, got {other:?}"),
    }

    // --add of a subject that owns a live record is refused, by row.
    let mut registry = Registry::create(
        &dir.path().join("u"),
        &unique_text,
        shape(4, 2),
        licence_rows(&unique, "holder,scope\nalice,1\nbob,2\n")
            .unwrap()
            .into_records(),
    )
    .unwrap();
    let again = licence_rows(&unique, "holder,scope\ncarol,1\nbob,5\n").unwrap();
    let reason = "the subject already owns live record 1; the schema declares subjects unique (declare `unique_subject = false` to allow several live records per subject)";
    assert_eq!(
        bad_rows(registry.add_rows(again)),
        [row(2, 3, Some("holder"), "bob", reason)]
    );
    assert_eq!(registry.len(), 2);
    // Once bob's record is revoked, bob may get a new one.
    registry.revoke(1).unwrap();
    let again = licence_rows(&unique, "holder,scope\nbob,5\n").unwrap();
    assert_eq!(registry.add_rows(again).unwrap(), 2..3);

    // A schema that declares subjects non-unique takes all three rows.
    let (several, several_text) = licences(false);
    fs::write(&schema_file, &several_text).unwrap();
    let built = build(
        &schema_file,
        &records,
        None,
        shape(4, 2),
        &dir.path().join("s"),
    )
    .unwrap();
    assert_eq!(built.records_of(&text_to_field("alice")).len(), 2);
    let mut built = Registry::open(&dir.path().join("s")).unwrap();
    let more = licence_rows(&several, "holder,scope\nbob,9\n").unwrap();
    assert_eq!(built.add_rows(more).unwrap(), 3..4);
}

#[test]
fn an_empty_subject_is_a_bad_row() {
    let (schema, _) = licences(false);
    let rows = bad_rows(licence_rows(&schema, "holder,scope\n,1\nbob,2\n"));
    assert_eq!(
        rows,
        [row(
            1,
            2,
            Some("holder"),
            "",
            "empty; every record needs its subject"
        )]
    );
    let jsonl = "{\"holder\":\"\",\"scope\":1}\n";
    let rows = bad_rows(RecordsFile::parse(
        &schema,
        Path::new("l.jsonl"),
        jsonl.as_bytes(),
        RecordFormat::JsonLines,
        Room::unlimited(),
    ));
    assert_eq!(
        rows,
        [row(
            1,
            1,
            Some("holder"),
            "",
            "empty; every record needs its subject"
        )]
    );
    // A non-empty subject of blanks is a subject, taken as written.
    assert!(licence_rows(&schema, "holder,scope\n ,1\n").is_ok());
}

#[test]
fn revoked_subjects_are_known_as_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (schema, text) = licences(true);
    let rows = licence_rows(&schema, "holder,scope\nalice,1\nbob,2\n").unwrap();
    let mut registry = Registry::create(
        &dir.path().join("r"),
        &text,
        shape(4, 2),
        rows.into_records(),
    )
    .unwrap();
    let bob = text_to_field("bob");
    assert!(!registry.has_revoked_records(&bob));
    registry.revoke(1).unwrap();
    registry.commit().unwrap();
    let registry = Registry::open(&dir.path().join("r")).unwrap();
    assert!(registry.has_revoked_records(&bob));
    assert!(registry.records_of(&bob).is_empty());
    assert!(!registry.has_revoked_records(&text_to_field("alice")));
    assert!(!registry.has_revoked_records(&text_to_field("carol")));
}

fn db_of(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("registry.db")).unwrap()
}

#[test]
fn registry_files_are_private_and_an_uncommitted_change_leaves_the_previous_state() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let built = build_reference(tmp.path(), 4, 3);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for name in entries(&dir) {
        assert_eq!(mode(&dir.join(&name)), 0o600, "{name}");
    }
    assert!(entries(&dir).contains(&"registry.db-wal".to_string()));

    // A writer that dies before its commit changes nothing.
    let mut registry = Registry::open(&dir).unwrap();
    registry.revoke(0).unwrap();
    assert_ne!(registry.root(), built.root());
    drop(registry);
    let registry = Registry::open(&dir).unwrap();
    assert_eq!(registry.root(), built.root());
    assert!(!registry.is_revoked(0));

    // A build interrupted before its rename leaves no registry at all.
    fs::create_dir(tmp.path().join(".other.partial-1")).unwrap();
    let err = Registry::open(&tmp.path().join("other")).unwrap_err();
    assert!(matches!(err, RegistryError::NotARegistry { .. }), "{err:?}");
    // And a bad records file leaves nothing, not even its staging directory.
    let out = tmp.path().join("bad");
    let err = build(
        &schema_path(),
        &data("real-estate-bad.csv"),
        None,
        shape(4, 3),
        &out,
    )
    .unwrap_err();
    assert!(matches!(err, RegistryError::BadRows { .. }), "{err:?}");
    assert!(!entries(tmp.path()).iter().any(|n| n.starts_with(".bad")));
    assert!(!out.exists());
}

#[test]
fn check_names_the_first_leaf_or_node_that_disagrees() {
    let checked = |edit: &dyn Fn(&rusqlite::Connection)| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("registry");
        drop(build_reference(tmp.path(), 4, 3));
        edit(&db_of(&dir));
        let registry = Registry::open(&dir).unwrap();
        match registry.check() {
            Err(RegistryError::CheckFailed { item, problem, .. }) => (item, problem),
            other => panic!("expected CheckFailed, got {other:?}"),
        }
    };
    // Untouched, it passes and gives the root.
    let tmp = tempfile::tempdir().unwrap();
    let built = build_reference(tmp.path(), 4, 3);
    let report = built.check().unwrap();
    assert_eq!(
        (report.records, report.revoked, report.root),
        (8, 0, built.root())
    );

    // A value of record 1 edited: its leaf no longer matches.
    let (item, problem) = checked(&|db| {
        db.execute(
            "UPDATE records SET raw = replace(raw, '\"450\"', '\"4500\"') WHERE idx = 1",
            [],
        )
        .unwrap();
    });
    assert_eq!(item, "leaf 1");
    assert!(problem.contains("its record hashes to"), "{problem}");
    // A salt edited.
    let (item, _) = checked(&|db| {
        db.execute(
            "UPDATE records SET salt = (SELECT salt FROM records WHERE idx = 0) WHERE idx = 5",
            [],
        )
        .unwrap();
    });
    assert_eq!(item, "leaf 5");
    // A node edited: named by height and index.
    let (item, problem) = checked(&|db| {
        db.execute(
            "UPDATE nodes SET hash = (SELECT leaf FROM records WHERE idx = 0) WHERE height = 2 AND idx = 0",
            [],
        )
        .unwrap();
    });
    assert_eq!(item, "node 0 at height 2");
    assert!(problem.contains("its children hash to"), "{problem}");
    // The stored root.
    let (item, _) = checked(&|db| {
        db.execute(
            "UPDATE registry SET root = (SELECT leaf FROM records WHERE idx = 0)",
            [],
        )
        .unwrap();
    });
    assert_eq!(item, "root");
    // A record removed, a revocation without its count.
    let (item, problem) = checked(&|db| {
        db.execute("DELETE FROM records WHERE idx = 7", []).unwrap();
    });
    assert_eq!(item, "record count");
    assert!(problem.contains("7 records stored"), "{problem}");
    let (item, _) = checked(&|db| {
        db.execute("UPDATE records SET revoked = 1 WHERE idx = 2", [])
            .unwrap();
    });
    assert_eq!(item, "leaf 2");
}

#[test]
fn open_refuses_damage_it_can_see_in_one_row_and_points_old_registries_to_migrate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    drop(build_reference(tmp.path(), 4, 3));

    // The schema changed under the records: its hash differs.
    db_of(&dir)
        .execute(
            "UPDATE registry SET schema_toml = replace(schema_toml, '\"residential\", \"commercial\"', '\"commercial\", \"residential\"')",
            [],
        )
        .unwrap();
    let err = Registry::open(&dir).unwrap_err();
    assert!(
        matches!(&err, RegistryError::Damaged { problem, .. } if problem.contains("hash")),
        "{err:?}"
    );

    // A database written by a newer version.
    let other = tmp.path().join("newer");
    let registry = build(
        &schema_path(),
        &data("real-estate.csv"),
        None,
        shape(4, 3),
        &other,
    )
    .unwrap();
    drop(registry);
    db_of(&other)
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = Registry::open(&other).unwrap_err();
    assert!(
        matches!(err, RegistryError::UnsupportedVersion { found: 99, .. }),
        "{err:?}"
    );

    // A registry of the directory format.
    let old = tmp.path().join("old");
    zkgov_prover::registry::legacy::build(
        &schema_path(),
        &data("real-estate.csv"),
        None,
        shape(4, 3),
        &old,
    )
    .unwrap();
    let err = Registry::open(&old).unwrap_err();
    assert!(
        matches!(err, RegistryError::NeedsMigration { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("zkgov registry migrate"), "{err}");
}

#[test]
fn migrate_converts_the_directory_format_with_the_same_root_and_records() {
    use zkgov_prover::registry::{legacy, migrate};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    let mut old = legacy::build(
        &schema_path(),
        &data("real-estate.csv"),
        None,
        shape(4, 3),
        &dir,
    )
    .unwrap();
    old.revoke(3).unwrap();
    old.commit().unwrap();

    let registry = migrate(&dir).unwrap();
    assert_eq!(registry.root(), old.root());
    assert_eq!((registry.len(), registry.revoked_count()), (8, 1));
    for i in 0..8 {
        assert_eq!(registry.record(i).unwrap(), *old.record(i).unwrap());
        assert_eq!(registry.is_revoked(i), old.is_revoked(i));
        assert_eq!(
            registry.raw_values(i).unwrap(),
            old.raw_values(i)
                .unwrap()
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
        );
    }
    registry.check().unwrap();
    // The old state files, which hold the salts, are gone.
    assert_eq!(
        entries(&dir),
        ["registry.db", "registry.db-shm", "registry.db-wal"]
    );
    let history = registry.history().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, "migrate");
    assert_eq!(history[0].detail, serde_json::json!({"state": 2}));
    drop(registry);
    assert_eq!(Registry::open(&dir).unwrap().root(), old.root());
    // Twice is refused.
    assert!(matches!(
        migrate(&dir),
        Err(RegistryError::AlreadyExists { .. })
    ));

    // A damaged old registry is refused, and left as it was.
    let bad = tmp.path().join("bad");
    legacy::build(
        &schema_path(),
        &data("real-estate.csv"),
        None,
        shape(4, 3),
        &bad,
    )
    .unwrap();
    let records = bad.join("state-1/records.jsonl");
    let text = fs::read_to_string(&records).unwrap();
    fs::write(
        &records,
        text.replacen("\"area_m2\":\"450\"", "\"area_m2\":\"4500\"", 1),
    )
    .unwrap();
    let err = migrate(&bad).unwrap_err();
    assert!(matches!(err, RegistryError::RootMismatch { .. }), "{err:?}");
    assert_eq!(entries(&bad), ["CURRENT", "lock", "state-1"]);
}

#[test]
fn a_second_writer_waits_then_gives_up_with_busy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    drop(build_reference(tmp.path(), 4, 3));
    let holder = db_of(&dir);
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut registry = Registry::open(&dir).unwrap();
    registry
        .set_busy_timeout(std::time::Duration::from_millis(300))
        .unwrap();
    registry.revoke(0).unwrap();
    let started = std::time::Instant::now();
    let err = registry.commit().unwrap_err();
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    assert!(
        matches!(err, RegistryError::Busy { waited, .. } if waited == std::time::Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.to_string().contains("wait until it finishes"), "{err}");
    // Once the other writer is done, the next writer commits.
    holder.execute_batch("ROLLBACK").unwrap();
    let mut registry = Registry::open(&dir).unwrap();
    registry.revoke(0).unwrap();
    registry.commit().unwrap();
    assert!(Registry::open(&dir).unwrap().is_revoked(0));
}

#[test]
fn a_batch_of_paths_equals_the_paths_one_by_one() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = build_reference(tmp.path(), 2, 4);
    registry.revoke(6).unwrap();
    let indices = [7, 0, 6, 3, 0];
    let batch = registry.paths(&indices);
    for (index, path) in indices.iter().zip(&batch) {
        assert_eq!(path, &registry.path(*index));
        let leaf = registry.leaf(*index).unwrap();
        assert_eq!(path.root(&registry.shape(), leaf), registry.root());
    }
    registry.commit().unwrap();
    let reopened = Registry::open(registry.dir()).unwrap();
    assert_eq!(reopened.paths(&indices), batch);
}

/// Rows of a query, given inline.
struct Table {
    columns: Vec<String>,
    rows: std::vec::IntoIter<Vec<zkgov_prover::registry::Cell>>,
}

impl zkgov_prover::registry::RecordsTable for Table {
    fn name(&self) -> &str {
        "query"
    }
    fn columns(&self) -> &[String] {
        &self.columns
    }
    fn next_row(&mut self) -> Option<Result<Vec<zkgov_prover::registry::Cell>, RegistryError>> {
        self.rows.next().map(Ok)
    }
}

fn table(columns: &[&str], rows: Vec<Vec<Result<&str, &str>>>) -> Table {
    Table {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows: rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|c| c.map(str::to_string).map_err(str::to_string))
                    .collect()
            })
            .collect::<Vec<_>>()
            .into_iter(),
    }
}

#[test]
fn a_query_maps_columns_by_name_and_lists_every_bad_row() {
    use zkgov_prover::registry::RecordsSource;
    let (schema, _) = licences(true);
    let mut rows = table(
        &["scope", "holder", "salt"],
        vec![
            vec![Ok("1"), Ok("alice"), Ok("7")],
            vec![Err("NULL; every field needs a value"), Ok("bob"), Ok("8")],
            vec![Ok("70000"), Ok("carol"), Ok("not a salt")],
        ],
    );
    let err = RecordsFile::from_source(&schema, RecordsSource::Table(&mut rows), Room::unlimited())
        .unwrap_err();
    let bad = bad_rows::<()>(Err(err));
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert_eq!(
        bad[0],
        row(2, 2, Some("scope"), "", "NULL; every field needs a value")
    );
    // A salt is not quoted, even a malformed one.
    assert_eq!((bad[1].row, bad[1].field.as_deref()), (3, Some("salt")));
    assert_eq!(bad[1].value, "");
    assert_eq!((bad[2].row, bad[2].field.as_deref()), (3, Some("scope")));
    assert_eq!(bad[2].value, "70000");

    let mut extra = table(&["holder", "scope", "note"], vec![]);
    match RecordsFile::from_source(&schema, RecordsSource::Table(&mut extra), Room::unlimited()) {
        Err(RegistryError::Columns {
            unknown, missing, ..
        }) => {
            assert_eq!(unknown, ["note"]);
            assert!(missing.is_empty());
        }
        other => panic!("expected Columns, got {other:?}"),
    }

    // The good rows give the same records as the same CSV.
    let mut good = table(
        &["scope", "holder", "salt"],
        vec![
            vec![Ok("1"), Ok("alice"), Ok("7")],
            vec![Ok("2"), Ok("bob"), Ok("8")],
        ],
    );
    let from_query =
        RecordsFile::from_source(&schema, RecordsSource::Table(&mut good), Room::unlimited())
            .unwrap();
    let from_csv = licence_rows(&schema, "holder,scope,salt\nalice,1,7\nbob,2,8\n").unwrap();
    assert_eq!(from_query.format, RecordFormat::Table);
    assert_eq!(from_query.into_records(), from_csv.into_records());
}

#[test]
fn sync_adds_modifies_and_revokes_by_subject_in_one_change() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let (schema, text) = licences(true);
    let start = licence_rows(&schema, "holder,scope\nalice,1\nbob,2\ncarol,3\n").unwrap();
    Registry::create(&out, &text, shape(4, 2), start.into_records()).unwrap();
    let mut registry = Registry::open(&out).unwrap();
    let before = registry.root();

    // The same raw values: no difference, whatever the salts.
    let same = licence_rows(&schema, "holder,scope\ncarol,3\nalice,1\nbob,2\n").unwrap();
    let report = registry.sync(same).unwrap();
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(registry.root(), before);

    // bob changes, carol goes, dave comes.
    let next = licence_rows(&schema, "holder,scope\nalice,1\nbob,5\ndave,4\n").unwrap();
    let report = registry.sync(next).unwrap();
    assert_eq!(report.added, 3..4);
    assert_eq!(report.modified, [1]);
    assert_eq!(report.revoked, [2]);
    registry.commit().unwrap();
    let history = registry.history().unwrap();
    assert_eq!(history.len(), 2, "one change");
    assert_eq!(history[1].detail["modified"], serde_json::json!([1]));
    assert_eq!(history[1].detail["revoked"], serde_json::json!([2]));
    assert_eq!(history[1].detail["added"], serde_json::json!([3, 4]));
    let registry = Registry::open(&out).unwrap();
    assert_eq!(registry.check().unwrap().root, registry.root());
    assert_eq!(registry.raw_values(1).unwrap(), ["bob", "5"]);
    assert!(registry.is_revoked(2));
    assert_eq!(registry.raw_values(3).unwrap(), ["dave", "4"]);
    assert_eq!(registry.root(), expected_root(&registry));

    // A subject given twice is a bad row, and nothing changes.
    let mut registry = Registry::open(&out).unwrap();
    let root = registry.root();
    let twice = licence_rows(&schema, "holder,scope\nalice,1\nalice,2\n").unwrap();
    let bad = bad_rows(registry.sync(twice));
    assert_eq!((bad.len(), bad[0].row), (1, 2));
    assert_eq!(registry.root(), root);

    // Several live records per subject: refused.
    let (several, several_text) = licences(false);
    let out2 = dir.path().join("s");
    let rows = licence_rows(&several, "holder,scope\nalice,1\n").unwrap();
    Registry::create(
        &out2,
        &several_text,
        shape(4, 2),
        rows.clone().into_records(),
    )
    .unwrap();
    let mut registry = Registry::open(&out2).unwrap();
    assert!(matches!(
        registry.sync(rows),
        Err(RegistryError::SyncNeedsUniqueSubjects { .. })
    ));
}
