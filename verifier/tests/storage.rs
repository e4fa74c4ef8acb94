//! The storage conformance suite.
//!
//! Every test below is a function of a [`Harness`] factory, instantiated by
//! [`conformance!`] once for SQLite (a file in a temporary directory) and
//! once for PostgreSQL (a fresh database on a real server that this test
//! process starts itself; see `support::postgres`). Both backends must
//! behave identically: same indexes, same Merkle nodes, same deduplication,
//! same errors.

mod fixture;
mod support;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Barrier};
use std::thread;

use zkgov_log::tree::{self, leaf_hash, Hash, MemoryTree, NodeId, NodeReader, EMPTY_ROOT};
use zkgov_verifier::storage::casework::{NewApplication, NewWork, QueueCounts, WorkKind};
use zkgov_verifier::storage::{
    self, Appended, DecisionRecord, IndexCounts, IndexRecord, KeyRecord, NewEntry, Nodes,
    ResultRecord, RootRecord, Storage, StorageError, Stored,
};

/// A store under test: where it lives, so that it can be opened, closed and
/// opened again, or opened twice like two service processes.
struct Harness {
    /// `sqlite` or `postgres`, as errors name it.
    backend: &'static str,
    /// What [`storage::open`] takes.
    url: String,
    /// Keeps an SQLite store's directory alive.
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    /// A new SQLite file.
    fn sqlite() -> Harness {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("log.db").display());
        Harness {
            backend: "sqlite",
            url,
            _dir: Some(dir),
        }
    }

    /// A new database on the test PostgreSQL server.
    fn postgres() -> Harness {
        Harness {
            backend: "postgres",
            url: support::postgres::fresh_database(),
            _dir: None,
        }
    }

    /// Opens the store (again).
    fn open(&self) -> Arc<dyn Storage> {
        storage::open(&self.url).unwrap_or_else(|e| panic!("opening {}: {e}", self.url))
    }
}

/// Instantiates each conformance test for both backends.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $test() {
                    super::$test(super::Harness::sqlite);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $test() {
                    super::$test(super::Harness::postgres);
                }
            )*
        }
    };
}

conformance!(
    empty_store,
    append_and_read_back,
    nodes_match_memory_tree,
    results_deduplicated_across_calls,
    results_deduplicated_within_call,
    keys_deduplicated,
    concurrent_duplicates_append_once,
    root_returns_latest_anchoring,
    case_queries_in_log_order_and_scoped,
    entries_out_of_range,
    reopen_keeps_everything,
    concurrent_appends,
    concurrent_appends_from_two_stores,
    concurrent_open_of_new_store,
    append_after_hands_each_writer_what_the_others_appended,
    append_after_refuses_a_log_that_went_back,
    failed_append_writes_nothing,
    index_rows_counts_and_rebuild,
    case_serials_are_never_reused,
    applications_and_sessions_round_trip,
    leases_expire_and_finished_work_stays_done,
    two_stores_never_lease_the_same_request,
    service_answers_503_while_storage_fails_and_recovers,
);

fn application(case_id: &str, departments: &[(&str, &str)]) -> NewApplication {
    NewApplication {
        case_id: case_id.into(),
        procedure: "clinic".into(),
        case_secret: "123456789".into(),
        inputs: [("credit_code".to_string(), "91310000MA1K".to_string())].into(),
        access_code_sha256: "ab".repeat(32),
        created: 1_000,
        work: departments
            .iter()
            .map(|(evidence, department)| NewWork {
                case_id: case_id.into(),
                kind: WorkKind::Evidence,
                evidence: evidence.to_string(),
                department: department.to_string(),
            })
            .collect(),
    }
}

/// Serials count from 1 per prefix and year, and a second store (another
/// process) continues where the first left off.
fn case_serials_are_never_reused(new: fn() -> Harness) {
    let harness = new();
    let store = harness.open();
    assert_eq!(store.next_case_serial("DJY", 2026).unwrap(), 1);
    assert_eq!(store.next_case_serial("DJY", 2026).unwrap(), 2);
    assert_eq!(store.next_case_serial("DJY", 2027).unwrap(), 1);
    assert_eq!(store.next_case_serial("STL", 2026).unwrap(), 1);
    let again = harness.open();
    assert_eq!(again.next_case_serial("DJY", 2026).unwrap(), 3);
}

fn applications_and_sessions_round_trip(new: fn() -> Harness) {
    let store = new().open();
    let app = application(
        "DJY-2026-000001",
        &[("premises", "land"), ("business", "market")],
    );
    store.create_application(&app).unwrap();
    let stored = store.application("DJY-2026-000001").unwrap().unwrap();
    assert_eq!(stored.case_secret, "123456789");
    assert_eq!(stored.inputs, app.inputs);
    assert_eq!(stored.created, 1_000);
    assert!(store.application("DJY-2026-000002").unwrap().is_none());
    // The same case twice is refused, and its work is not doubled.
    assert!(store.create_application(&app).is_err());
    assert_eq!(store.case_work("DJY-2026-000001").unwrap().len(), 2);
    // Adding existing work again changes nothing; a licence request is new.
    store
        .add_work(&[
            app.work[0].clone(),
            NewWork {
                case_id: "DJY-2026-000001".into(),
                kind: WorkKind::Licence,
                evidence: String::new(),
                department: "health".into(),
            },
        ])
        .unwrap();
    let work = store.case_work("DJY-2026-000001").unwrap();
    assert_eq!(work.len(), 3);
    assert_eq!(work[2].kind, WorkKind::Licence);

    store
        .create_session(&"cd".repeat(32), "DJY-2026-000001", 2_000)
        .unwrap();
    assert_eq!(
        store
            .session_case(&"cd".repeat(32), 1_999)
            .unwrap()
            .as_deref(),
        Some("DJY-2026-000001")
    );
    assert_eq!(
        store.session_case(&"cd".repeat(32), 2_000).unwrap(),
        None,
        "expired"
    );
    assert_eq!(store.session_case(&"ef".repeat(32), 1_000).unwrap(), None);
}

fn leases_expire_and_finished_work_stays_done(new: fn() -> Harness) {
    let store = new().open();
    for i in 1..=3 {
        store
            .create_application(&application(
                &format!("DJY-2026-00000{i}"),
                &[("premises", "land"), ("business", "market")],
            ))
            .unwrap();
    }
    let first = store.lease_work("land", 2, 100, 130).unwrap();
    let cases: Vec<&str> = first.iter().map(|l| l.work.case_id.as_str()).collect();
    assert_eq!(
        cases,
        ["DJY-2026-000001", "DJY-2026-000002"],
        "oldest first"
    );
    assert!(first.iter().all(|l| l.work.department == "land"));
    assert_eq!(first[0].application.case_secret, "123456789");
    assert_eq!(first[0].work.leased_until, Some(130));
    // While the lease runs, only the third is left.
    let second = store.lease_work("land", 10, 110, 140).unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].work.case_id, "DJY-2026-000003");
    assert_eq!(
        store.queue_counts("land", 110).unwrap(),
        QueueCounts {
            pending: 0,
            leased: 3,
            done: 0
        }
    );
    store.finish_work(&[(first[0].work.id, 42)]).unwrap();
    // Once the first lease expires, its unfinished request comes back.
    let third = store.lease_work("land", 10, 130, 160).unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].work.id, first[1].work.id);
    assert_eq!(third[0].work.leases, 2);
    let done = store.work(first[0].work.id).unwrap().unwrap();
    assert_eq!(done.done, Some(42));
    // Finishing again does not move it to another answer.
    store.finish_work(&[(first[0].work.id, 43)]).unwrap();
    assert_eq!(
        store.work(first[0].work.id).unwrap().unwrap().done,
        Some(42)
    );
    assert_eq!(store.open_work("land", 10).unwrap().len(), 2);
    assert_eq!(store.queue_counts("market", 0).unwrap().pending, 3);
}

/// Two stores, like workers' servers in two processes, lease from one
/// queue at once: every request is leased exactly once.
fn two_stores_never_lease_the_same_request(new: fn() -> Harness) {
    let harness = new();
    let setup = harness.open();
    let cases = 60;
    for i in 0..cases {
        setup
            .create_application(&application(
                &format!("DJY-2026-{i:06}"),
                &[("premises", "land")],
            ))
            .unwrap();
    }
    let stores = [harness.open(), harness.open()];
    let leased: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let store = stores[t % 2].clone();
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let batch = store.lease_work("land", 3, 100, 1_000).unwrap();
                        if batch.is_empty() {
                            return mine;
                        }
                        mine.extend(batch.iter().map(|l| l.work.id));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut unique = leased.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(leased.len(), cases, "each request leased once");
    assert_eq!(unique.len(), cases);
}

/// The index tables as the rules' start-up check reads them: counts, rows by
/// entry range in log order, and a rebuild that replaces every row in one
/// transaction (a governance entry has no row).
fn index_rows_counts_and_rebuild(new: fn() -> Harness) {
    let harness = new();
    let store = harness.open();
    let entries = vec![
        NewEntry {
            entry: br#"{"type":"governance"}"#.to_vec(),
            record: IndexRecord::Unindexed,
        },
        key("k1"),
        root("real-estate", "7", 1_764_000_000),
        result("k1", "C-1", "11", 0),
        decision("C-1", "approved"),
    ];
    store.append(&entries).unwrap();
    assert_eq!(
        store.index_counts().unwrap(),
        IndexCounts {
            keys: 1,
            roots: 1,
            results: 1,
            decisions: 1
        }
    );
    let rows = store.index_rows(0, 5).unwrap();
    let indexes: Vec<u64> = rows.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [1, 2, 3, 4]);
    assert_eq!(rows[2].record, entries[3].record);
    let tail = store.index_rows(3, u64::MAX).unwrap();
    assert_eq!(tail.iter().map(|r| r.index).collect::<Vec<_>>(), [3, 4]);

    // Rebuilt without the result row: the table loses it, the log keeps
    // its entry.
    let kept: Vec<Stored<IndexRecord>> = rows.into_iter().filter(|r| r.index != 3).collect();
    store.rebuild_index(&kept).unwrap();
    assert_eq!(store.index_counts().unwrap().results, 0);
    assert!(store.case_results("C-1").unwrap().is_empty());
    assert_eq!(store.size().unwrap(), 5);
    assert_eq!(store.index_rows(0, 5).unwrap(), kept);
}

// ───────────────────────────── entries ─────────────────────────────

/// A key entry.
fn key(key_id: &str) -> NewEntry {
    let record = KeyRecord {
        key_id: key_id.to_string(),
        registry: "real-estate".to_string(),
        policy_name: "medical-premises".to_string(),
        verifying_key: r#"{"protocol":"groth16","curve":"bn128","nPublic":6}"#.to_string(),
        schema: "name = \"real-estate\"\n".to_string(),
        policy: "name = \"medical-premises\"\n".to_string(),
        registered_at: 1_764_000_000,
    };
    NewEntry {
        entry: format!(r#"{{"key_id":"{key_id}","type":"key"}}"#).into_bytes(),
        record: IndexRecord::Key(record),
    }
}

/// A root entry.
fn root(registry: &str, root: &str, anchored_at: i64) -> NewEntry {
    let record = RootRecord {
        department: "land-registry".to_string(),
        registry: registry.to_string(),
        root: root.to_string(),
        anchored_at,
    };
    NewEntry {
        entry: format!(
            r#"{{"registry":"{registry}","root":"{root}","time":{anchored_at},"type":"root"}}"#
        )
        .into_bytes(),
        record: IndexRecord::Root(record),
    }
}

/// A result entry; `variant` changes the bytes and the non-statement
/// fields, not the statement (key, case, tag).
fn result(key_id: &str, case_id: &str, tag: &str, variant: i64) -> NewEntry {
    let record = ResultRecord {
        key_id: key_id.to_string(),
        case_id: case_id.to_string(),
        subject_tag: tag.to_string(),
        registry_root: format!("{}", 1000 + variant),
        department: "land-registry".to_string(),
        accepted_at: 1_764_000_000 + variant,
    };
    NewEntry {
        entry: format!(
            r#"{{"case":"{case_id}","key_id":"{key_id}","tag":"{tag}","type":"result","v":{variant}}}"#
        )
        .into_bytes(),
        record: IndexRecord::Result(record),
    }
}

/// A decision entry.
fn decision(case_id: &str, decision: &str) -> NewEntry {
    let record = DecisionRecord {
        case_id: case_id.to_string(),
        department: "health-commission".to_string(),
        decision: decision.to_string(),
        decided_at: 1_764_100_000,
    };
    NewEntry {
        entry: format!(r#"{{"case":"{case_id}","decision":"{decision}","type":"decision"}}"#)
            .into_bytes(),
        record: IndexRecord::Decision(record),
    }
}

/// A decision entry whose bytes are not UTF-8 and contain NUL, to check
/// that entries are stored as opaque bytes.
fn binary_decision(case_id: &str) -> NewEntry {
    let mut entry = decision(case_id, "approved");
    entry.entry = vec![0x00, 0xff, 0xfe, b'{', 0x00, 0x80, b'}', 0x00];
    entry
}

/// The record of an entry, typed.
fn key_record(entry: &NewEntry) -> KeyRecord {
    match &entry.record {
        IndexRecord::Key(k) => k.clone(),
        other => panic!("not a key: {other:?}"),
    }
}

/// The record of an entry, typed.
fn root_record(entry: &NewEntry) -> RootRecord {
    match &entry.record {
        IndexRecord::Root(r) => r.clone(),
        other => panic!("not a root: {other:?}"),
    }
}

/// The record of an entry, typed.
fn result_record(entry: &NewEntry) -> ResultRecord {
    match &entry.record {
        IndexRecord::Result(r) => r.clone(),
        other => panic!("not a result: {other:?}"),
    }
}

/// The record of an entry, typed.
fn decision_record(entry: &NewEntry) -> DecisionRecord {
    match &entry.record {
        IndexRecord::Decision(d) => d.clone(),
        other => panic!("not a decision: {other:?}"),
    }
}

/// `New(first)`, `New(first + 1)`, …
fn new_at(first: u64, count: u64) -> Vec<Appended> {
    (first..first + count).map(Appended::New).collect()
}

// ───────────────────────────── tree checks ─────────────────────────────

/// Every complete subtree of a log of `size` leaves.
fn complete_subtrees(size: u64) -> Vec<NodeId> {
    let mut ids = Vec::new();
    for level in 0..64u8 {
        let count = size >> level;
        if count == 0 {
            break;
        }
        ids.extend((0..count).map(|index| NodeId { level, index }));
    }
    ids
}

/// A memory tree over the store's own entries.
fn memory_tree_of(store: &dyn Storage) -> MemoryTree {
    let size = store.size().unwrap();
    let leaves: Vec<Hash> = store
        .entries(0, size)
        .unwrap()
        .iter()
        .map(|e| leaf_hash(e))
        .collect();
    let mut tree = MemoryTree::new();
    tree.append(&leaves);
    tree
}

/// The store's nodes are exactly the memory tree's, and its roots at every
/// size agree; with `proofs`, every inclusion and consistency proof too.
fn assert_tree_matches(store: &dyn Storage, mem: &MemoryTree, proofs: bool) {
    let size = mem.size();
    assert_eq!(store.size().unwrap(), size);
    let nodes = Nodes(store);
    let ids = complete_subtrees(size);
    assert_eq!(
        nodes.read_nodes(&ids).unwrap(),
        mem.read_nodes(&ids).unwrap(),
        "stored nodes of a log of {size}"
    );
    for n in 0..=size {
        assert_eq!(
            tree::root(n, &nodes).unwrap(),
            mem.root_at(n),
            "root at size {n}"
        );
    }
    if proofs {
        for n in 1..=size {
            for i in 0..n {
                assert_eq!(
                    tree::inclusion_proof(i, n, &nodes).unwrap(),
                    tree::inclusion_proof(i, n, mem).unwrap(),
                    "inclusion proof of {i} in {n}"
                );
            }
            for m in 0..=n {
                assert_eq!(
                    tree::consistency_proof(m, n, &nodes).unwrap(),
                    tree::consistency_proof(m, n, mem).unwrap(),
                    "consistency proof {m} → {n}"
                );
            }
        }
    }
}

/// The node is not stored, and the store says so with `Corrupt`.
fn assert_missing_node(store: &dyn Storage, id: NodeId) {
    match store.read_nodes(&[NodeId { level: 0, index: 0 }, id]) {
        Err(StorageError::Corrupt { what }) => assert!(
            what.contains(&format!("level {} index {}", id.level, id.index)),
            "{what}"
        ),
        other => panic!("reading missing node {id:?}: {other:?}"),
    }
}

// ───────────────────────────── tests ─────────────────────────────

/// A new store is empty and says so consistently.
fn empty_store(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    assert_eq!(store.size().unwrap(), 0);
    assert_eq!(tree::root(0, &Nodes(&*store)).unwrap(), EMPTY_ROOT);
    assert_eq!(store.entries(0, 0).unwrap(), Vec::<Vec<u8>>::new());
    assert!(matches!(
        store.entries(0, 1),
        Err(StorageError::OutOfRange {
            start: 0,
            end: 1,
            size: 0
        })
    ));
    assert_eq!(store.read_nodes(&[]).unwrap(), Vec::<Hash>::new());
    assert!(matches!(
        store.read_nodes(&[NodeId { level: 0, index: 0 }]),
        Err(StorageError::Corrupt { .. })
    ));
    assert_eq!(store.keys().unwrap(), vec![]);
    assert_eq!(store.key("k").unwrap(), None);
    assert_eq!(store.root("real-estate", "1").unwrap(), None);
    assert_eq!(store.result("k", "c", "t").unwrap(), None);
    assert_eq!(store.case_results("c").unwrap(), vec![]);
    assert_eq!(store.case_decisions("c").unwrap(), vec![]);
    // Appending nothing writes nothing.
    assert_eq!(store.append(&[]).unwrap(), vec![]);
    assert_eq!(store.size().unwrap(), 0);
}

/// Entries come back byte for byte at dense indexes, with their records.
fn append_and_read_back(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    let first = vec![
        key("k1"),
        root("real-estate", "111", 10),
        result("k1", "case-1", "tag-a", 0),
        binary_decision("case-1"),
        key("k2"),
    ];
    let second = vec![
        result("k2", "case-1", "tag-a", 0),
        decision("case-2", "refused"),
        root("business", "222", 20),
    ];
    assert_eq!(store.append(&first).unwrap(), new_at(0, 5));
    assert_eq!(store.append(&second).unwrap(), new_at(5, 3));
    assert_eq!(store.size().unwrap(), 8);

    let all: Vec<&NewEntry> = first.iter().chain(&second).collect();
    let bytes: Vec<Vec<u8>> = all.iter().map(|e| e.entry.clone()).collect();
    assert_eq!(store.entries(0, 8).unwrap(), bytes);
    assert_eq!(store.entries(2, 6).unwrap(), bytes[2..6].to_vec());
    assert_eq!(store.entries(7, 8).unwrap(), bytes[7..8].to_vec());
    assert_eq!(store.entries(8, 8).unwrap(), Vec::<Vec<u8>>::new());

    // The level-0 nodes are the leaf hashes of exactly these bytes.
    let leaves: Vec<NodeId> = (0..8).map(|index| NodeId { level: 0, index }).collect();
    let expected: Vec<Hash> = bytes.iter().map(|b| leaf_hash(b)).collect();
    assert_eq!(store.read_nodes(&leaves).unwrap(), expected);

    // Index rows point at their entries.
    assert_eq!(
        store.key("k2").unwrap(),
        Some(Stored {
            index: 4,
            record: key_record(&first[4])
        })
    );
    assert_eq!(
        store.keys().unwrap(),
        vec![
            Stored {
                index: 0,
                record: key_record(&first[0])
            },
            Stored {
                index: 4,
                record: key_record(&first[4])
            },
        ]
    );
    assert_eq!(
        store.root("business", "222").unwrap(),
        Some(Stored {
            index: 7,
            record: root_record(&second[2])
        })
    );
    assert_eq!(
        store.result("k1", "case-1", "tag-a").unwrap(),
        Some(Stored {
            index: 2,
            record: result_record(&first[2])
        })
    );
    assert_eq!(store.result("k1", "case-1", "tag-b").unwrap(), None);
    assert_eq!(
        store.case_decisions("case-2").unwrap(),
        vec![Stored {
            index: 6,
            record: decision_record(&second[1])
        }]
    );
}

/// The chunkings under which 40 leaves are appended.
fn chunkings() -> Vec<Vec<u64>> {
    let cut = |pattern: &[u64]| {
        let mut out = Vec::new();
        let mut total = 0;
        for &n in pattern.iter().cycle() {
            let n = n.min(40 - total);
            out.push(n);
            total += n;
            if total == 40 {
                return out;
            }
        }
        unreachable!()
    };
    vec![
        cut(&[1]),
        cut(&[40]),
        cut(&[3]),
        cut(&[7]),
        cut(&[1, 2, 4, 8, 16]),
        cut(&[5, 11, 1, 23]),
    ]
}

/// The stored nodes are the ones a memory tree computes, whatever the
/// chunking, at every size from 1 to 40; roots and proofs from the store
/// equal the memory tree's.
fn nodes_match_memory_tree(new: fn() -> Harness) {
    let chunkings = chunkings();
    let last = chunkings.len() - 1;
    for (number, chunking) in chunkings.into_iter().enumerate() {
        let h = new();
        let store = h.open();
        let mut mem = MemoryTree::new();
        let mut size = 0u64;
        for n in &chunking {
            let batch: Vec<NewEntry> = (size..size + n)
                .map(|i| decision(&format!("case-{i}"), "approved"))
                .collect();
            assert_eq!(store.append(&batch).unwrap(), new_at(size, *n));
            let leaves: Vec<Hash> = batch.iter().map(|e| leaf_hash(&e.entry)).collect();
            mem.append(&leaves);
            size += n;
            assert_eq!(store.size().unwrap(), size);
            assert_eq!(
                tree::root(size, &Nodes(&*store)).unwrap(),
                mem.root_at(size),
                "root at {size} after chunking {chunking:?}"
            );
        }
        // Equal nodes give equal proofs, so every proof (1,700 reads) is
        // compared for two chunkings only; nodes and roots for all.
        assert_tree_matches(&*store, &mem, number == 0 || number == last);
        // Nothing beyond the complete subtrees is stored.
        assert_missing_node(
            &*store,
            NodeId {
                level: 0,
                index: 40,
            },
        );
        assert_missing_node(&*store, NodeId { level: 3, index: 5 });
        assert_missing_node(&*store, NodeId { level: 6, index: 0 });
    }
}

/// A result with a known (key, case, tag) is not appended again, whatever
/// its bytes; a different tag or case is.
fn results_deduplicated_across_calls(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    let original = result("k1", "case-1", "tag-a", 0);
    assert_eq!(
        store.append(&[key("k1"), original.clone()]).unwrap(),
        new_at(0, 2)
    );
    let root_before = tree::root(2, &Nodes(&*store)).unwrap();

    // Same statement, different proof bytes: the existing entry.
    assert_eq!(
        store.append(&[result("k1", "case-1", "tag-a", 1)]).unwrap(),
        vec![Appended::Existing(1)]
    );
    assert_eq!(store.size().unwrap(), 2);
    assert_eq!(tree::root(2, &Nodes(&*store)).unwrap(), root_before);
    assert_missing_node(&*store, NodeId { level: 0, index: 2 });
    // The stored record is the first one.
    assert_eq!(
        store.result("k1", "case-1", "tag-a").unwrap(),
        Some(Stored {
            index: 1,
            record: result_record(&original)
        })
    );

    // A mix: duplicates interleaved with new statements.
    assert_eq!(
        store
            .append(&[
                result("k1", "case-1", "tag-b", 0),
                result("k1", "case-1", "tag-a", 2),
                result("k1", "case-2", "tag-a", 0),
                result("k2", "case-1", "tag-a", 0),
            ])
            .unwrap(),
        vec![
            Appended::New(2),
            Appended::Existing(1),
            Appended::New(3),
            Appended::New(4),
        ]
    );
    assert_eq!(store.size().unwrap(), 5);
    assert_eq!(store.case_results("case-1").unwrap().len(), 3);
    assert_tree_matches(&*store, &memory_tree_of(&*store), false);
}

/// Within one call, a repeated statement resolves to its first occurrence.
fn results_deduplicated_within_call(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    store.append(&[decision("case-0", "pending")]).unwrap();
    let outcome = store
        .append(&[
            result("k1", "case-1", "tag-a", 0),
            result("k1", "case-1", "tag-a", 1),
            result("k1", "case-1", "tag-b", 0),
            result("k1", "case-1", "tag-a", 2),
            result("k1", "case-1", "tag-b", 3),
        ])
        .unwrap();
    assert_eq!(
        outcome,
        vec![
            Appended::New(1),
            Appended::Existing(1),
            Appended::New(2),
            Appended::Existing(1),
            Appended::Existing(2),
        ]
    );
    assert_eq!(store.size().unwrap(), 3);
    let stored = store.case_results("case-1").unwrap();
    assert_eq!(
        stored.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(stored[0].record.accepted_at, 1_764_000_000);
    assert_eq!(
        store.entries(1, 3).unwrap(),
        vec![
            result("k1", "case-1", "tag-a", 0).entry,
            result("k1", "case-1", "tag-b", 0).entry
        ]
    );

    // A call of nothing but duplicates writes nothing.
    assert_eq!(
        store
            .append(&[
                result("k1", "case-1", "tag-b", 9),
                result("k1", "case-1", "tag-a", 9)
            ])
            .unwrap(),
        vec![Appended::Existing(2), Appended::Existing(1)]
    );
    assert_eq!(store.size().unwrap(), 3);
    assert_missing_node(&*store, NodeId { level: 0, index: 3 });
    assert_tree_matches(&*store, &memory_tree_of(&*store), false);
}

/// A key id is registered once; roots and decisions are never deduplicated.
fn keys_deduplicated(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    let mut changed = key("k1");
    changed.entry.extend_from_slice(b" ");
    assert_eq!(
        store.append(&[key("k1"), key("k2"), changed]).unwrap(),
        vec![Appended::New(0), Appended::New(1), Appended::Existing(0)]
    );
    assert_eq!(
        store.append(&[key("k2"), key("k3")]).unwrap(),
        vec![Appended::Existing(1), Appended::New(2)]
    );
    assert_eq!(
        store
            .keys()
            .unwrap()
            .iter()
            .map(|k| (k.index, k.record.key_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(0, "k1"), (1, "k2"), (2, "k3")]
    );
    assert_eq!(
        store.key("k1").unwrap().unwrap().record,
        key_record(&key("k1"))
    );
    // Equal roots and equal decisions are separate events.
    assert_eq!(
        store
            .append(&[
                root("real-estate", "1", 5),
                root("real-estate", "1", 5),
                decision("case-1", "approved"),
                decision("case-1", "approved"),
            ])
            .unwrap(),
        new_at(3, 4)
    );
    assert_eq!(store.size().unwrap(), 7);
}

/// Many threads appending the same statement at once: exactly one entry.
fn concurrent_duplicates_append_once(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let outcomes: Vec<Appended> = (0..threads)
        .map(|t| {
            let (store, barrier) = (store.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                store
                    .append(&[result("k1", "case-1", "tag-a", t as i64)])
                    .unwrap()[0]
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Appended::New(_)))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.iter().all(|o| o.index() == 0), "{outcomes:?}");
    assert_eq!(store.size().unwrap(), 1);
}

/// `root` answers the latest anchoring of a root, per registry.
fn root_returns_latest_anchoring(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    let entries = vec![
        root("real-estate", "111", 10),
        root("real-estate", "222", 20),
        root("business", "111", 30),
        decision("case-1", "approved"),
        root("real-estate", "111", 40),
        root("business", "333", 50),
    ];
    store.append(&entries).unwrap();
    assert_eq!(
        store.root("real-estate", "111").unwrap(),
        Some(Stored {
            index: 4,
            record: root_record(&entries[4])
        })
    );
    assert_eq!(store.root("real-estate", "222").unwrap().unwrap().index, 1);
    assert_eq!(store.root("business", "111").unwrap().unwrap().index, 2);
    assert_eq!(store.root("business", "222").unwrap(), None);
    assert_eq!(store.root("medical", "111").unwrap(), None);
    // A later anchoring in a later call wins too.
    store.append(&[root("business", "111", 60)]).unwrap();
    let latest = store.root("business", "111").unwrap().unwrap();
    assert_eq!((latest.index, latest.record.anchored_at), (6, 60));
}

/// Case queries return only that case, in log order.
fn case_queries_in_log_order_and_scoped(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    let entries = [
        result("k2", "case-1", "tag-z", 0),
        result("k1", "case-2", "tag-a", 0),
        decision("case-1", "pending"),
        result("k1", "case-1", "tag-a", 0),
        decision("case-2", "refused"),
        decision("case-1", "approved"),
        result("k3", "case-10", "tag-a", 0),
    ];
    store.append(&entries[..3]).unwrap();
    store.append(&entries[3..]).unwrap();
    assert_eq!(
        store.case_results("case-1").unwrap(),
        vec![
            Stored {
                index: 0,
                record: result_record(&entries[0])
            },
            Stored {
                index: 3,
                record: result_record(&entries[3])
            },
        ]
    );
    assert_eq!(
        store.case_decisions("case-1").unwrap(),
        vec![
            Stored {
                index: 2,
                record: decision_record(&entries[2])
            },
            Stored {
                index: 5,
                record: decision_record(&entries[5])
            },
        ]
    );
    assert_eq!(
        store
            .case_results("case-2")
            .unwrap()
            .iter()
            .map(|s| s.index)
            .collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(store.case_decisions("case-10").unwrap(), vec![]);
    assert_eq!(store.case_results("case-10").unwrap().len(), 1);
    assert_eq!(store.case_results("case-").unwrap(), vec![]);
    assert_eq!(store.case_results("case-3").unwrap(), vec![]);
}

/// Ranges beyond the end, or backwards, are `OutOfRange` with the size.
fn entries_out_of_range(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    store
        .append(&[decision("c", "a"), decision("c", "b"), decision("c", "c")])
        .unwrap();
    for (start, end) in [
        (0, 4),
        (3, 4),
        (4, 4),
        (2, 1),
        (5, 3),
        (0, u64::MAX),
        (u64::MAX, u64::MAX),
    ] {
        match store.entries(start, end) {
            Err(StorageError::OutOfRange {
                start: s,
                end: e,
                size: 3,
            }) if (s, e) == (start, end) => {}
            other => panic!("entries({start}, {end}): {other:?}"),
        }
    }
    assert_eq!(store.entries(3, 3).unwrap(), Vec::<Vec<u8>>::new());
    assert_eq!(store.entries(0, 3).unwrap().len(), 3);
}

/// Closing and opening the store again keeps entries, nodes and indexes,
/// and appends carry on where they stopped.
fn reopen_keeps_everything(new: fn() -> Harness) {
    let h = new();
    let entries = [
        key("k1"),
        root("real-estate", "111", 10),
        result("k1", "case-1", "tag-a", 0),
        binary_decision("case-1"),
        result("k1", "case-1", "tag-b", 0),
        root("real-estate", "111", 20),
        decision("case-1", "approved"),
    ];
    let before = {
        let store = h.open();
        store.append(&entries[..2]).unwrap();
        store.append(&entries[2..3]).unwrap();
        store.append(&entries[3..]).unwrap();
        // The store is dropped at the end of this block, closing its
        // connections.
        tree::root(7, &Nodes(&*store)).unwrap()
    };
    let store = h.open();
    assert_eq!(store.size().unwrap(), 7);
    assert_eq!(
        store.entries(0, 7).unwrap(),
        entries.iter().map(|e| e.entry.clone()).collect::<Vec<_>>()
    );
    assert_eq!(tree::root(7, &Nodes(&*store)).unwrap(), before);
    assert_eq!(store.keys().unwrap().len(), 1);
    assert_eq!(store.root("real-estate", "111").unwrap().unwrap().index, 5);
    assert_eq!(store.case_results("case-1").unwrap().len(), 2);
    assert_eq!(store.case_decisions("case-1").unwrap().len(), 2);
    // Deduplication still sees the old rows, and new entries follow them.
    assert_eq!(
        store
            .append(&[
                result("k1", "case-1", "tag-a", 5),
                key("k1"),
                decision("case-2", "refused"),
            ])
            .unwrap(),
        vec![
            Appended::Existing(2),
            Appended::Existing(0),
            Appended::New(7)
        ]
    );
    assert_tree_matches(&*store, &memory_tree_of(&*store), true);
}

/// Batch sizes the concurrent writers cycle through.
const BATCHES: [usize; 7] = [1, 1, 3, 1, 5, 2, 8];

/// Runs `per_thread` appends of distinct entries on each of `threads`
/// threads per store, all at once, and checks the log: exactly the entries
/// appended, each once, at the indexes reported, with no gaps, and nodes
/// that agree with a memory tree over the stored entries.
fn append_concurrently(stores: &[Arc<dyn Storage>], threads: usize, per_thread: usize) {
    let total = stores.len() * threads * per_thread;
    let barrier = Arc::new(Barrier::new(stores.len() * threads));
    let handles: Vec<_> = (0..stores.len() * threads)
        .map(|t| {
            let store = stores[t % stores.len()].clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                let mut appended = Vec::new();
                let mut done = 0;
                let mut batch_no = t;
                while done < per_thread {
                    let n = BATCHES[batch_no % BATCHES.len()].min(per_thread - done);
                    batch_no += 1;
                    let batch: Vec<NewEntry> = (done..done + n)
                        .map(|j| {
                            if j % 2 == 0 {
                                decision(&format!("case-{t}-{j}"), "approved")
                            } else {
                                result("k", &format!("case-{t}"), &format!("tag-{j}"), 0)
                            }
                        })
                        .collect();
                    let outcome = store.append(&batch).unwrap();
                    // One call's entries are consecutive.
                    let first = outcome[0].index();
                    assert_eq!(outcome, new_at(first, n as u64));
                    appended.extend(batch.into_iter().zip(first..).map(|(e, i)| (i, e.entry)));
                    done += n;
                }
                appended
            })
        })
        .collect();
    let appended: Vec<(u64, Vec<u8>)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();

    let store = &*stores[0];
    assert_eq!(store.size().unwrap(), total as u64);
    let indexes: BTreeSet<u64> = appended.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes.len(), total, "an index was handed out twice");
    assert_eq!(indexes, (0..total as u64).collect(), "gaps in the indexes");
    let stored = store.entries(0, total as u64).unwrap();
    for (index, bytes) in &appended {
        assert_eq!(&stored[*index as usize], bytes, "entry {index}");
    }
    assert_eq!(
        stored.iter().collect::<HashSet<_>>().len(),
        total,
        "an entry is stored twice"
    );
    for other in stores {
        assert_tree_matches(&**other, &memory_tree_of(store), false);
    }
}

/// 8 threads × 50 entries on one store.
fn concurrent_appends(new: fn() -> Harness) {
    let h = new();
    append_concurrently(&[h.open()], 8, 50);
}

/// Two stores on the same database, as two service processes, 4 threads
/// each × 50 entries.
fn concurrent_appends_from_two_stores(new: fn() -> Harness) {
    let h = new();
    append_concurrently(&[h.open(), h.open()], 4, 50);
}

/// Two stores on one database, as two service instances, 3 threads each:
/// every writer keeps its own copy of the log, which it brings up to date
/// only from what `append_after` hands it before its own entries. Each
/// copy is then exactly the log's prefix, and every writer's own entries
/// are where it was told.
fn append_after_hands_each_writer_what_the_others_appended(new: fn() -> Harness) {
    let h = new();
    let stores = [h.open(), h.open()];
    let writers = 6;
    let per_writer = 30;
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|t| {
            let store = stores[t % 2].clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                let mut copy: Vec<Vec<u8>> = Vec::new();
                let mut caught_up = 0;
                for j in 0..per_writer {
                    let n = BATCHES[(t + j) % BATCHES.len()];
                    let batch: Vec<NewEntry> = (0..n)
                        .map(|k| decision(&format!("case-{t}-{j}-{k}"), "approved"))
                        .collect();
                    let outcome = store
                        .append_after(Some(copy.len() as u64), &mut |others| {
                            caught_up += others.len();
                            copy.extend_from_slice(others);
                            batch.clone()
                        })
                        .unwrap();
                    assert_eq!(outcome, new_at(copy.len() as u64, n as u64));
                    copy.extend(batch.into_iter().map(|e| e.entry));
                }
                // Once every writer is done, a last catching up that
                // appends nothing writes nothing.
                barrier.wait();
                let nothing = store
                    .append_after(Some(copy.len() as u64), &mut |others| {
                        caught_up += others.len();
                        copy.extend_from_slice(others);
                        Vec::new()
                    })
                    .unwrap();
                assert!(nothing.is_empty());
                (copy, caught_up)
            })
        })
        .collect();
    let copies: Vec<(Vec<Vec<u8>>, usize)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let size = stores[0].size().unwrap();
    let log = stores[0].entries(0, size).unwrap();
    let expected: usize = (0..writers)
        .map(|t| {
            (0..per_writer)
                .map(|j| BATCHES[(t + j) % BATCHES.len()])
                .sum::<usize>()
        })
        .sum();
    assert_eq!(log.len(), expected);
    for (copy, caught_up) in &copies {
        assert_eq!(copy, &log, "a writer's copy differs from the log");
        assert!(*caught_up > 0, "a writer was handed no other's entries");
    }
    assert_tree_matches(&*stores[1], &memory_tree_of(&*stores[0]), false);
}

/// A writer that has seen more entries than the log holds is refused, and
/// its entries are not even built.
fn append_after_refuses_a_log_that_went_back(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    store.append(&[key("k1"), key("k2")]).unwrap();
    let mut built = false;
    let refused = store.append_after(Some(3), &mut |_| {
        built = true;
        vec![key("k3")]
    });
    assert!(
        matches!(refused, Err(StorageError::Behind { seen: 3, size: 2 })),
        "{refused:?}"
    );
    assert!(!built);
    assert_eq!(store.size().unwrap(), 2);
    // From what it has seen, a writer gets exactly the entries after.
    let mut handed = Vec::new();
    let appended = store
        .append_after(Some(1), &mut |others| {
            handed = others.to_vec();
            vec![key("k3")]
        })
        .unwrap();
    assert_eq!(appended, new_at(2, 1));
    assert_eq!(handed, vec![key("k2").entry]);
}

/// Several processes opening a new store at once all succeed: creating the
/// schema does not race.
fn concurrent_open_of_new_store(new: fn() -> Harness) {
    let h = Arc::new(new());
    let barrier = Arc::new(Barrier::new(4));
    let stores: Vec<Arc<dyn Storage>> = (0..4)
        .map(|_| {
            let (h, barrier) = (h.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                h.open()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect();
    stores[0].append(&[decision("case-1", "approved")]).unwrap();
    for store in &stores {
        assert_eq!(store.size().unwrap(), 1);
    }
}

/// An append that fails part-way writes nothing: no entry, no index row,
/// no node, and the next append takes the index it would have.
fn failed_append_writes_nothing(new: fn() -> Harness) {
    let h = new();
    let store = h.open();
    store
        .append(&[decision("case-1", "pending"), key("k1")])
        .unwrap();
    let root_before = tree::root(2, &Nodes(&*store)).unwrap();

    // The last entry breaks a constraint (an empty case id), after the
    // others were written inside the transaction.
    let bad = vec![
        decision("case-1", "approved"),
        key("k2"),
        root("real-estate", "5", 1),
        result("k2", "", "tag-a", 0),
    ];
    match store.append(&bad) {
        Err(StorageError::Backend { backend, message }) => {
            assert_eq!(backend, h.backend);
            assert!(message.contains("case_id"), "{message}");
        }
        other => panic!("append with an empty case id: {other:?}"),
    }
    assert_eq!(store.size().unwrap(), 2);
    assert_eq!(store.key("k2").unwrap(), None);
    assert_eq!(store.root("real-estate", "5").unwrap(), None);
    assert_eq!(store.case_decisions("case-1").unwrap().len(), 1);
    assert_eq!(store.result("k2", "", "tag-a").unwrap(), None);
    assert_missing_node(&*store, NodeId { level: 0, index: 2 });
    assert_missing_node(&*store, NodeId { level: 2, index: 0 });
    assert_eq!(tree::root(2, &Nodes(&*store)).unwrap(), root_before);
    assert!(matches!(
        store.entries(0, 3),
        Err(StorageError::OutOfRange { size: 2, .. })
    ));

    // The same entries without the bad one go where they would have gone.
    assert_eq!(store.append(&bad[..3]).unwrap(), new_at(2, 3));
    assert_tree_matches(&*store, &memory_tree_of(&*store), true);
}

// ───────────────────────────── per backend ─────────────────────────────

/// The PostgreSQL tests talk to a real server.
#[test]
fn postgres_server_is_real() {
    let url = support::postgres::fresh_database();
    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let version: String = client.query_one("SELECT version()", &[]).unwrap().get(0);
    assert!(version.starts_with("PostgreSQL "), "{version}");
    let fsync: String = client.query_one("SHOW fsync", &[]).unwrap().get(0);
    assert_eq!(fsync, "on");
    let server = support::postgres::server();
    eprintln!(
        "test server: PostgreSQL {} on 127.0.0.1:{} in {}: {version}",
        server.version(),
        server.port(),
        server.dir().display()
    );
    // The store's tables are there after connecting.
    drop(storage::postgres::PostgresStorage::connect(&url).unwrap());
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name IN ('schema_version', 'entries', 'nodes', 'keys', 'roots', \
             'results', 'decisions')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 7);
    let version: i32 = client
        .query_one("SELECT MAX(version) FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 2);
}

/// Connection errors never show the password.
#[test]
fn postgres_errors_hide_the_password() {
    let server = support::postgres::server();
    let port = server.port();
    for url in [
        format!("postgres://zkgov:s3cr3t-pw@127.0.0.1:{port}/no_such_database"),
        "postgres://zkgov:s3cr3t-pw@127.0.0.1:1/db".to_string(),
        "postgres://zkgov:s3cr3t-pw@127.0.0.1:notaport/db".to_string(),
    ] {
        match storage::open(&url) {
            Err(StorageError::Backend {
                backend: "postgres",
                message,
            }) => {
                assert!(!message.contains("s3cr3t"), "{message}");
                assert!(!message.is_empty());
            }
            Err(other) => panic!("{url}: {other:?}"),
            Ok(_) => panic!("{url}: connected"),
        }
    }
    match storage::open(&format!(
        "postgres://zkgov:s3cr3t-pw@127.0.0.1:{port}/no_such_database"
    )) {
        Err(e) => assert!(e.to_string().contains("no_such_database"), "{e}"),
        Ok(_) => unreachable!(),
    }
}

/// The SQLite file runs in WAL mode with the schema version recorded.
#[test]
fn sqlite_file_is_wal_with_schema_version() {
    use r2d2_sqlite::rusqlite::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let store = storage::sqlite::SqliteStorage::open(&path).unwrap();
    store.append(&[decision("case-1", "approved")]).unwrap();
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(version, 2);
}

/// A store in a directory that does not exist is a `Backend` error naming
/// the file.
#[test]
fn sqlite_open_in_missing_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("log.db");
    match storage::sqlite::SqliteStorage::open(&path) {
        Err(StorageError::Backend {
            backend: "sqlite",
            message,
        }) => assert!(message.contains("log.db"), "{message}"),
        other => panic!("{other:?}"),
    }
}

/// A future schema version is refused, not silently used.
#[test]
fn sqlite_refuses_a_newer_schema() {
    use r2d2_sqlite::rusqlite::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    drop(storage::sqlite::SqliteStorage::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute("INSERT INTO schema_version (version) VALUES (3)", [])
        .unwrap();
    match storage::sqlite::SqliteStorage::open(&path) {
        Err(StorageError::Backend { message, .. }) => {
            assert!(
                message.contains("storage format version 3, from a newer zkgov"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

/// A database of the previous storage format (before governance entries)
/// is refused with a clear message, not migrated.
#[test]
fn sqlite_refuses_an_older_format_without_migrating() {
    use r2d2_sqlite::rusqlite::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    drop(storage::sqlite::SqliteStorage::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute("UPDATE schema_version SET version = 1", [])
        .unwrap();
    match storage::sqlite::SqliteStorage::open(&path) {
        Err(StorageError::Backend { message, .. }) => assert!(
            message.contains("storage format version 1, from an earlier zkgov")
                && message.contains("does not migrate"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A service whose store fails commits, then reads, at the storage trait:
/// every failed request is 503 `storage_unavailable`, none has a receipt
/// or leaves an entry, and the service serves again once the faults clear,
/// with one consistent chain of checkpoints.
fn service_answers_503_while_storage_fails_and_recovers(harness: fn() -> Harness) {
    use fixture::{reason, Client, Fixture, LAND, REGISTRY};
    use serde_json::json;
    use zkgov_log::checkpoint::LogVerifier;
    use zkgov_log::receipt::Receipt;
    use zkgov_verifier::service::RunningService;
    use zkgov_verifier::storage::faults::{Faults, Faulty};

    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    let fixture = FIXTURE.get_or_init(Fixture::new);
    let store = harness();
    let data = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let service = RunningService::spawn_on(
        fixture.config(data.path(), Some(&store.url), ""),
        Faulty::wrap(store.open(), faults.clone()),
    )
    .unwrap();
    let client = Client::new(&service);
    let verifier = LogVerifier::from_verifier_key(&service.verifier_key).unwrap();
    let roots = format!("/v1/registries/{REGISTRY}/roots");
    let publish = || client.post(&roots, Some(LAND), &json!({"root": fixture.root()}));
    let size = || store.open().size().unwrap();
    let mut receipts = Vec::new();
    let mut checkpoints = Vec::new();
    let mut accept = |(status, body): (u16, serde_json::Value)| {
        assert_eq!(status, 201, "{body}");
        let receipt: Receipt = serde_json::from_value(body).unwrap();
        let (_, checkpoint) = receipt.verify(&verifier, &service.origin).unwrap();
        receipts.push(receipt.index);
        checkpoints.push(checkpoint);
    };
    accept(publish());
    let before = size();

    // A failed commit: 503, nothing written; the service goes on.
    faults.fail_next_commits(1);
    let (status, body) = publish();
    assert_eq!(
        (status, reason(&body)),
        (503, "storage_unavailable"),
        "{body}"
    );
    assert!(body.get("index").is_none(), "{body}");
    assert_eq!(size(), before);
    accept(publish());

    // A failed commit while reads fail too, so that the state cannot be
    // rebuilt: every request is 503 until the database answers again.
    faults.fail_reads(true);
    faults.fail_next_commits(1);
    let (status, body) = publish();
    assert_eq!(
        (status, reason(&body)),
        (503, "storage_unavailable"),
        "{body}"
    );
    for path in ["/v1/keys", "/v1/cases/CASE-F", "/v1/log/checkpoint"] {
        let (status, body) = client.get(path);
        assert_eq!(
            (status, reason(&body)),
            (503, "storage_unavailable"),
            "{path}: {body}"
        );
    }
    let (status, body) = publish();
    assert_eq!(
        (status, reason(&body)),
        (503, "storage_unavailable"),
        "{body}"
    );
    assert!(
        faults.injected() >= 3,
        "{} faults injected",
        faults.injected()
    );
    faults.clear();
    let injected = faults.injected();
    assert_eq!(size(), before + 1);

    // Recovered within a few seconds, without a restart.
    let cleared = std::time::Instant::now();
    while client.get("/v1/keys").0 != 200 {
        assert!(
            cleared.elapsed().as_secs() < 10,
            "the service did not recover"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    eprintln!(
        "{}: {injected} faults injected; serving again {} ms after they cleared",
        store.backend,
        cleared.elapsed().as_millis()
    );
    accept(publish());
    accept(client.post("/v1/proofs", Some(LAND), &fixture.proven("CASE-F", 0, 5)));
    // The failed entries took no index.
    assert_eq!(receipts, [before - 1, before, before + 1, before + 2]);
    assert_eq!(size(), before + 3);
    // Every receipt's checkpoint is consistent with the last one.
    let last = checkpoints.last().unwrap();
    for checkpoint in &checkpoints {
        let (status, answer) = client.get(&format!(
            "/v1/log/consistency?old={}&new={}",
            checkpoint.size, last.size
        ));
        assert_eq!(status, 200, "{answer}");
        let proof: Vec<_> = answer["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| zkgov_log::decode_hash(h.as_str().unwrap()).unwrap())
            .collect();
        zkgov_log::tree::verify_consistency(
            checkpoint.size,
            last.size,
            &checkpoint.root,
            &last.root,
            &proof,
        )
        .unwrap();
    }
    service.shutdown().unwrap();
}

/// An fsync that fails under SQLite, through a VFS that fails it (the
/// commit's WAL frames are written, their sync is not): the service
/// answers 503, returns no receipt, the entry takes no index, and the
/// service goes on. A crash in that moment, before the next commit, is
/// played by opening a copy of the files: the log there is the committed
/// one, or that and the entry whose sync failed, never anything else.
#[test]
fn sqlite_fsync_failure_is_a_503_that_takes_no_index() {
    use fixture::{reason, Client, Fixture, LAND, REGISTRY};
    use serde_json::json;
    use zkgov_verifier::service::RunningService;

    support::sqlite_vfs::install();
    let fixture = Fixture::new();
    let store = Harness::sqlite();
    let path = store._dir.as_ref().unwrap().path().join("log.db");
    let data = tempfile::tempdir().unwrap();
    let service = RunningService::spawn(fixture.config(data.path(), Some(&store.url), "")).unwrap();
    let client = Client::new(&service);
    let roots = format!("/v1/registries/{REGISTRY}/roots");
    let publish = || client.post(&roots, Some(LAND), &json!({"root": fixture.root()}));
    let (status, body) = publish();
    assert_eq!(status, 201, "{body}");
    let committed = store
        .open()
        .entries(0, body["index"].as_u64().unwrap() + 1)
        .unwrap();

    let failed_before = support::sqlite_vfs::failed();
    support::sqlite_vfs::fail_next_syncs(path.parent().unwrap(), 1);
    let (status, body) = publish();
    assert_eq!(
        (status, reason(&body)),
        (503, "storage_unavailable"),
        "{body}"
    );
    assert!(body.get("index").is_none(), "{body}");
    assert_eq!(support::sqlite_vfs::failed(), failed_before + 1);
    assert_eq!(store.open().size().unwrap(), committed.len() as u64);

    // A crash now: the files as they are, opened elsewhere.
    let copy = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal"] {
        std::fs::copy(
            format!("{}{suffix}", path.display()),
            copy.path().join(format!("log.db{suffix}")),
        )
        .unwrap();
    }
    let crashed = storage::open(copy.path().join("log.db").to_str().unwrap()).unwrap();
    let size = crashed.size().unwrap();
    let entries = crashed.entries(0, size).unwrap();
    assert_eq!(entries[..committed.len()], committed[..]);
    match size - committed.len() as u64 {
        0 => eprintln!("after a crash: the entry whose fsync failed is not in the log"),
        1 => {
            let entry: serde_json::Value =
                serde_json::from_slice(&entries[committed.len()]).unwrap();
            assert_eq!(entry["type"], "root", "{entry}");
            eprintln!(
                "after a crash: the entry whose fsync failed is in the log (its frames \
                 reached the WAL file), unsigned and without a receipt"
            );
        }
        more => panic!("{more} entries beyond the committed log after a crash"),
    }

    // The service goes on, and the failed entry took no index.
    let (status, body) = publish();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["index"].as_u64(), Some(committed.len() as u64));
    service.shutdown().unwrap();
}
