//! The verifier service over real HTTP on loopback, with embedded SQLite:
//! the acceptance rules, authentication on every state-changing route,
//! deduplication (also of re-randomised proofs), batches, receipts and log
//! proofs checked on the client side, concurrency, and restarts.

mod fixture;
mod support;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_std::rand::{rngs::StdRng, SeedableRng};
use fixture::{reason, Client, Fixture, ADMIN, HEALTH, LAND, MARKET, REGISTRY};
use serde_json::{json, Value};
use zkgov_circuits::field::MODULUS_DECIMAL;
use zkgov_keys::snarkjs;
use zkgov_log::checkpoint::LogVerifier;
use zkgov_log::decode_hash;
use zkgov_log::entry::Entry;
use zkgov_log::receipt::Receipt;
use zkgov_log::tree::{leaf_hash, verify_consistency, MemoryTree};
use zkgov_verifier::service::{RunningService, StartError, ROUTES};

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::new)
}

struct Running {
    service: RunningService,
    client: Client,
    verifier: LogVerifier,
    _data: tempfile::TempDir,
}

fn start(extra: &str) -> Running {
    let data = tempfile::tempdir().unwrap();
    let config = fixture().config(data.path(), None, extra);
    let service = RunningService::spawn(config).unwrap();
    let client = Client::new(&service);
    let verifier = LogVerifier::from_verifier_key(&service.verifier_key).unwrap();
    Running {
        service,
        client,
        verifier,
        _data: data,
    }
}

impl Running {
    fn publish_root(&self) -> Receipt {
        let (status, body) = self.client.post(
            &format!("/v1/registries/{REGISTRY}/roots"),
            Some(LAND),
            &json!({"root": fixture().root()}),
        );
        assert_eq!(status, 201, "{body}");
        serde_json::from_value(body).unwrap()
    }

    fn check(&self, receipt: &Receipt) -> Entry {
        receipt
            .verify(&self.verifier, &self.service.origin)
            .unwrap()
            .0
    }

    fn size(&self) -> u64 {
        let (_, note) = self.client.get_text("/v1/log/checkpoint");
        self.verifier
            .verify(&note, &self.service.origin)
            .unwrap()
            .size
    }
}

#[test]
fn a_proof_is_verified_anchored_compared_and_decided() {
    let run = start("");
    // Entry 0 is the governance of the config; the key directory was
    // registered at start-up: entry 1.
    let (status, keys) = run.client.get("/v1/keys");
    assert_eq!(status, 200);
    assert_eq!(keys["keys"][0]["key_id"], fixture().key_id.as_str());
    assert_eq!(keys["keys"][0]["log_index"], 1);

    let root_receipt = run.publish_root();
    assert!(matches!(run.check(&root_receipt), Entry::Root { .. }));

    let submission = fixture().proven("CASE-1", 0, 11);
    let (status, body) = run.client.post("/v1/proofs", Some(LAND), &submission);
    assert_eq!(status, 201, "{body}");
    let receipt: Receipt = serde_json::from_value(body).unwrap();
    match run.check(&receipt) {
        Entry::Result {
            key_id, case_id, ..
        } => {
            assert_eq!(key_id, fixture().key_id);
            assert_eq!(case_id, "CASE-1");
        }
        other => panic!("expected a result entry, got {other:?}"),
    }

    let (status, case) = run.client.get("/v1/cases/CASE-1");
    assert_eq!(status, 200);
    assert_eq!(case["results"].as_array().unwrap().len(), 1);
    assert_eq!(case["results"][0]["params"]["min_area"], "120");

    let key = &fixture().key_id;
    let (_, compared) = run
        .client
        .get(&format!("/v1/cases/CASE-1/compare?require={key}"));
    assert_eq!(compared["complete"], true);
    assert_eq!(compared["tags_match"], true);
    assert_eq!(compared["cited"], json!([receipt.index]));
    assert_eq!(compared["results"][0]["index"], receipt.index);
    assert_eq!(compared["results"][0]["params"]["usage"], "medical");
    let other_key = "00".repeat(32);
    let (_, compared) = run.client.get(&format!(
        "/v1/cases/CASE-1/compare?require={key},{other_key}"
    ));
    assert_eq!(compared["complete"], false);
    assert_eq!(compared["missing"], json!([other_key]));
    assert_eq!(compared["tags_match"], false);
    // Comparison says nothing about the records: results carry only the
    // statement (key, tag, root, public params).
    let fields: BTreeSet<&str> = compared
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "case_id",
            "cited",
            "complete",
            "missing",
            "tags_match",
            "results"
        ])
    );

    let (status, body) = run.client.post(
        "/v1/cases/CASE-1/decisions",
        Some(HEALTH),
        &json!({"decision": "approved", "results": [receipt.index]}),
    );
    assert_eq!(status, 201, "{body}");
    let decision: Receipt = serde_json::from_value(body).unwrap();
    assert!(matches!(run.check(&decision), Entry::Decision { .. }));
    // A decision may only cite results of its own case.
    let (status, body) = run.client.post(
        "/v1/cases/CASE-2/decisions",
        Some(HEALTH),
        &json!({"decision": "approved", "results": [receipt.index]}),
    );
    assert_eq!((status, reason(&body)), (409, "conflict"));

    // The log: every entry, rebuilt on the client, gives the signed root;
    // and the old receipt's checkpoint is consistent with the new one.
    let (_, note) = run.client.get_text("/v1/log/checkpoint");
    let checkpoint = run.verifier.verify(&note, &run.service.origin).unwrap();
    assert_eq!(checkpoint.size, 5);
    let (_, entries) = run.client.get("/v1/log/entries?start=0");
    let mut tree = MemoryTree::new();
    for (i, e) in entries["entries"].as_array().unwrap().iter().enumerate() {
        assert_eq!(e["index"], i);
        tree.append(&[leaf_hash(e["entry"].as_str().unwrap().as_bytes())]);
    }
    assert_eq!(tree.root_at(5), checkpoint.root);
    let old = run
        .verifier
        .verify(&root_receipt.checkpoint, &run.service.origin)
        .unwrap();
    let (_, consistency) = run
        .client
        .get(&format!("/v1/log/consistency?old={}&new=5", old.size));
    let proof: Vec<_> = consistency["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| decode_hash(h.as_str().unwrap()).unwrap())
        .collect();
    verify_consistency(old.size, 5, &old.root, &checkpoint.root, &proof).unwrap();
    // Against another old root, or with a hash changed, it does not.
    assert!(verify_consistency(old.size, 5, &checkpoint.root, &checkpoint.root, &proof).is_err());
    let mut bent = proof.clone();
    bent[0][0] ^= 1;
    assert!(verify_consistency(old.size, 5, &old.root, &checkpoint.root, &bent).is_err());
    run.service.shutdown().unwrap();
}

#[test]
fn results_naming_two_applicants_do_not_match() {
    let run = start("");
    run.publish_root();
    let key = &fixture().key_id;
    let compare = || {
        run.client
            .get(&format!("/v1/cases/CASE-T/compare?require={key}"))
            .1
    };
    let (status, body) =
        run.client
            .post("/v1/proofs", Some(LAND), &fixture().proven("CASE-T", 0, 21));
    assert_eq!(status, 201, "{body}");
    assert_eq!(compare()["tags_match"], true);
    // Another record, another subject, in the same case: two tags.
    let (status, body) =
        run.client
            .post("/v1/proofs", Some(LAND), &fixture().proven("CASE-T", 1, 21));
    assert_eq!(status, 201, "{body}");
    let compared = compare();
    assert_eq!(compared["complete"], true);
    assert_eq!(compared["tags_match"], false);
    // Both results are listed, decoded, and neither is cited.
    assert_eq!(compared["cited"], json!([]));
    let listed = compared["results"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{compared}");
    assert_eq!(listed[0]["params"]["today"], "2026-11-23");
    assert_eq!(listed[0]["params"]["usage"], "medical");
    run.service.shutdown().unwrap();
}

#[test]
fn a_resubmitted_statement_returns_the_existing_receipt_even_rerandomised() {
    let run = start("");
    run.publish_root();
    let (proof, statement) = fixture().prove("CASE-7", 1, 5, 1);
    let submission = fixture().submission("CASE-7", &proof, &statement);
    let (status, first) = run.client.post("/v1/proofs", Some(LAND), &submission);
    assert_eq!(status, 201, "{first}");
    let size = run.size();

    let (status, again) = run.client.post("/v1/proofs", Some(LAND), &submission);
    assert_eq!(status, 200);
    assert_eq!(again["index"], first["index"]);

    let rerandomised = Groth16::<Bn254>::rerandomize_proof(
        &fixture().proving_key.vk,
        &proof,
        &mut StdRng::seed_from_u64(99),
    );
    assert_ne!(rerandomised, proof, "the proof bytes differ");
    let other = fixture().submission("CASE-7", &rerandomised, &statement);
    let (status, again) = run.client.post("/v1/proofs", Some(LAND), &other);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["index"], first["index"]);
    assert_eq!(run.size(), size, "no entry was added");

    // A fresh proof of a different statement is a new entry.
    let (status, _) = run
        .client
        .post("/v1/proofs", Some(LAND), &fixture().proven("CASE-8", 1, 5));
    assert_eq!(status, 201);
    assert_eq!(run.size(), size + 1);
    run.service.shutdown().unwrap();
}

fn with(mut value: Value, pointer: &str, replacement: Value) -> Value {
    *value.pointer_mut(pointer).unwrap() = replacement;
    value
}

#[test]
fn every_refusal_has_a_status_and_a_reason() {
    let run = start("");
    let good = fixture().proven("CASE-R", 0, 3);
    // Before the root is anchored.
    let (status, body) = run.client.post("/v1/proofs", Some(LAND), &good);
    assert_eq!((status, reason(&body)), (422, "root_not_anchored"));
    run.publish_root();

    let g1_off_curve = json!(["1", "3", "1"]);
    let g1_identity = json!(["0", "1", "0"]);
    let q = "21888242871839275222246405745257275088696311157297823662689037894645226208583";
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            with(good.clone(), "/key_id", json!("ab".repeat(32))),
            404,
            "unknown_key",
        ),
        (
            with(good.clone(), "/public_inputs", json!(["1", "2"])),
            400,
            "wrong_public_input_count",
        ),
        (
            with(good.clone(), "/public_inputs/3", json!(MODULUS_DECIMAL)),
            400,
            "non_canonical_input",
        ),
        (
            with(good.clone(), "/public_inputs/3", json!("+120")),
            400,
            "non_canonical_input",
        ),
        (
            with(good.clone(), "/public_inputs/3", json!("0120")),
            400,
            "non_canonical_input",
        ),
        (
            with(good.clone(), "/public_inputs/3", json!("-1")),
            400,
            "non_canonical_input",
        ),
        (
            with(good.clone(), "/case_id", json!("CASE-OTHER")),
            400,
            "case_id_mismatch",
        ),
        (
            with(good.clone(), "/proof/pi_a", g1_off_curve),
            400,
            "malformed_proof",
        ),
        (
            with(good.clone(), "/proof/pi_c", g1_identity),
            400,
            "malformed_proof",
        ),
        (
            with(good.clone(), "/proof/pi_a/0", json!(q)),
            400,
            "malformed_proof",
        ),
        (
            with(good.clone(), "/proof/protocol", json!("plonk")),
            400,
            "malformed_proof",
        ),
        // A changed param: well-formed, but the proof does not verify.
        (
            with(good.clone(), "/public_inputs/3", json!("119")),
            422,
            "invalid_proof",
        ),
        (
            with(good.clone(), "/public_inputs/0", json!("12345")),
            422,
            "root_not_anchored",
        ),
        (json!({"key_id": 1}), 400, "malformed_request"),
    ];
    for (body, expected_status, expected_reason) in cases {
        let (status, answer) = run.client.post("/v1/proofs", Some(LAND), &body);
        assert_eq!(
            (status, reason(&answer)),
            (expected_status, expected_reason),
            "for {body}"
        );
    }
    let (status, answer) = run
        .client
        .post_raw("/v1/proofs", Some(LAND), b"{not json".to_vec());
    assert_eq!((status, reason(&answer)), (400, "malformed_request"));
    // The service answers 413 as soon as the body passes the limit and may
    // close the connection while the client still sends, which the client
    // can see as a reset before it reads the answer: try a few times, on a
    // client of its own so that no closed connection is reused.
    let separate = Client::new(&run.service);
    let too_large = (0..5).find_map(|_| {
        separate
            .try_post_raw("/v1/proofs", Some(LAND), vec![b' '; 200 * 1024])
            .ok()
    });
    let (status, answer) = too_large.expect("an answer to an oversized body");
    assert_eq!((status, reason(&answer)), (413, "body_too_large"));
    // Roots are canonical field elements too.
    for root in [MODULUS_DECIMAL, "-5", "007", "1e3"] {
        let (status, answer) = run.client.post(
            &format!("/v1/registries/{REGISTRY}/roots"),
            Some(LAND),
            &json!({ "root": root }),
        );
        assert_eq!(
            (status, reason(&answer)),
            (400, "non_canonical_input"),
            "{root}"
        );
    }
    // The good proof still goes through after all that.
    let (status, _) = run.client.post("/v1/proofs", Some(LAND), &good);
    assert_eq!(status, 201);
    let (_, metrics) = run.client.get_text("/metrics");
    assert!(
        metrics.contains("zkgov_proofs_total{outcome=\"invalid_proof\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("zkgov_proofs_total{outcome=\"accepted\"} 1"));
    run.service.shutdown().unwrap();
}

/// Every route that takes a JSON body, with the token it needs.
const JSON_ROUTES: [(&str, Option<&str>); 11] = [
    ("/v1/keys", Some(ADMIN)),
    ("/v1/registries/real-estate/roots", Some(LAND)),
    ("/v1/proofs", Some(LAND)),
    ("/v1/proofs/batch", Some(LAND)),
    ("/v1/cases/CASE-J/decisions", Some(HEALTH)),
    ("/v1/procedures", Some(HEALTH)),
    ("/v1/applications", None),
    ("/v1/applications/CASE-J/session", None),
    ("/v1/work", Some(LAND)),
    ("/v1/work/1", Some(LAND)),
    ("/v1/governance/endorsements", Some(LAND)),
];

#[test]
fn request_bodies_are_parsed_strictly_on_every_route() {
    let run = start("");
    run.publish_root();
    let good = fixture().proven("CASE-J", 0, 21);

    // A second `pi_a` inside the proof: lenient parsing kept the last
    // (the good one) and accepted the proof.
    let bad_a = json!(["1", "2", "1"]);
    let mut placeholder = good.clone();
    placeholder["proof"] = json!("PROOF");
    let proof = serde_json::to_string(&good["proof"]).unwrap();
    let twice = format!("{{\"pi_a\":{bad_a},{}", &proof[1..]);
    let body = serde_json::to_string(&placeholder)
        .unwrap()
        .replace("\"PROOF\"", &twice);
    let (status, answer) = run.client.post_raw("/v1/proofs", Some(LAND), body.into());
    assert_eq!((status, reason(&answer)), (400, "malformed_request"));
    assert_eq!(
        answer["error"]["message"], "duplicate key \"pi_a\" in the body.proof",
        "{answer}"
    );

    // Invalid UTF-8 in a field that the submission ignores.
    let mut body =
        serde_json::to_vec(&with(good.clone(), "/status", json!("PLACEHOLDER"))).unwrap();
    let at = body.windows(11).position(|w| w == b"PLACEHOLDER").unwrap();
    body[at] = 0xff;
    let (status, answer) = run.client.post_raw("/v1/proofs", Some(LAND), body);
    assert_eq!(
        (status, reason(&answer)),
        (400, "malformed_request"),
        "{answer}"
    );

    // An array in place of the decision object: serde filled the struct
    // from it in order and recorded a decision.
    let decision = "/v1/cases/CASE-J/decisions";
    let array = br#"["approved", [2], "probe"]"#.to_vec();
    let (status, answer) = run.client.post_raw(decision, Some(HEALTH), array.clone());
    assert_eq!(
        (status, reason(&answer)),
        (400, "malformed_request"),
        "{answer}"
    );
    assert_eq!(answer["error"]["message"], "the body must be a JSON object");

    // Where the path names what is acted on, the department is checked
    // before the body is read: a wrong one hears 403 whatever it sent.
    let (status, answer) = run.client.post_raw(decision, Some(LAND), array);
    assert_eq!((status, reason(&answer)), (403, "forbidden"), "{answer}");
    let roots = format!("/v1/registries/{REGISTRY}/roots");
    let (status, answer) = run
        .client
        .post_raw(&roots, Some(MARKET), b"{not json".to_vec());
    assert_eq!((status, reason(&answer)), (403, "forbidden"), "{answer}");

    // A null signature: serde took it for an absent one and anchored the
    // root, though the document says a signature is an object.
    let (status, answer) = run.client.post_raw(
        &roots,
        Some(LAND),
        format!(r#"{{"root": "{}", "signature": null}}"#, fixture().root()).into_bytes(),
    );
    assert_eq!((status, reason(&answer)), (400, "malformed_request"));
    assert_eq!(
        answer["error"]["message"],
        "null at the body.signature: leave an optional field out instead"
    );

    // Every route refuses all four.
    for (route, token) in JSON_ROUTES {
        for body in [
            &br#"{"a": 1, "a": 2}"#[..],
            b"[]",
            b"{\"a\": \"\xff\"}",
            br#"{"a": [null]}"#,
        ] {
            let (status, answer) = run.client.post_raw(route, token, body.to_vec());
            assert_eq!(
                (status, reason(&answer)),
                (400, "malformed_request"),
                "{route} with {}: {answer}",
                String::from_utf8_lossy(body)
            );
        }
    }
    // Nothing of it reached the log: governance, key, root, then the
    // good proof.
    let (status, answer) = run.client.post("/v1/proofs", Some(LAND), &good);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["index"], 3, "{answer}");
    run.service.shutdown().unwrap();
}

#[test]
fn a_root_outside_the_freshness_window_is_refused() {
    let run = start("freshness_seconds = 1");
    run.publish_root();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (status, body) =
        run.client
            .post("/v1/proofs", Some(LAND), &fixture().proven("CASE-S", 0, 4));
    assert_eq!((status, reason(&body)), (422, "root_stale"), "{body}");
    // Publishing the root again makes it fresh.
    run.publish_root();
    let (status, _) = run
        .client
        .post("/v1/proofs", Some(LAND), &fixture().proven("CASE-S", 0, 4));
    assert_eq!(status, 201);
    run.service.shutdown().unwrap();
}

#[test]
fn every_state_changing_route_checks_its_token() {
    let run = start("");
    run.publish_root();
    let vk = snarkjs::verifying_key_to_json(&fixture().proving_key.vk);
    let routes: Vec<(&str, Value, &str)> = vec![
        (
            "/v1/registries/real-estate/roots",
            json!({"root": fixture().root()}),
            LAND,
        ),
        ("/v1/proofs", fixture().proven("CASE-A", 0, 8), LAND),
        (
            "/v1/proofs/batch",
            json!({"items": [fixture().proven("CASE-A", 1, 8)]}),
            LAND,
        ),
        (
            "/v1/cases/CASE-A/decisions",
            json!({"decision": "refused", "note": "missing licence"}),
            HEALTH,
        ),
        (
            "/v1/keys",
            json!({"registry": REGISTRY, "verifying_key": vk,
                   "schema": fixture::SCHEMA_TEXT, "policy": fixture::POLICY_TEXT}),
            ADMIN,
        ),
    ];
    for (path, body, owner) in &routes {
        let size = run.size();
        let (status, answer) = run.client.post(path, None, body);
        assert_eq!((status, reason(&answer)), (401, "missing_token"), "{path}");
        let (status, answer) = run.client.post(path, Some("not-a-token"), body);
        assert_eq!((status, reason(&answer)), (401, "invalid_token"), "{path}");
        // Another party's valid token.
        // For a decision, a department that does not decide cases.
        let other = match *owner {
            LAND => MARKET,
            ADMIN | HEALTH => LAND,
            _ => ADMIN,
        };
        let (status, answer) = run.client.post(path, Some(other), body);
        if path.ends_with("/batch") {
            // A batch is refused item by item.
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["results"][0]["error"]["reason"], "forbidden");
        } else {
            assert_eq!(
                (status, reason(&answer)),
                (403, "forbidden"),
                "{path} with another party's token"
            );
        }
        assert_eq!(run.size(), size, "{path}: refusals add nothing");
        // The owner's token works.
        let (status, answer) = run.client.post(path, Some(owner), body);
        assert!(status == 200 || status == 201, "{path}: {status} {answer}");
    }
    // The scheme name is case-insensitive; other schemes are not bearer tokens.
    let header = |value: String| {
        let response = run
            .client
            .http
            .post(format!(
                "{}/v1/registries/real-estate/roots",
                run.client.base
            ))
            .header("authorization", value)
            .json(&json!({"root": fixture().root()}))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap())
    };
    assert_eq!(header(format!("bearer {LAND}")).0, 201);
    assert_eq!(header(format!("BEARER  {LAND}")).0, 201);
    let (status, answer) = header(format!("Basic {LAND}"));
    assert_eq!((status, reason(&answer)), (401, "invalid_token"));
    let (status, answer) = header("Bearer".into());
    assert_eq!((status, reason(&answer)), (401, "missing_token"));
    // A department may not anchor another department's registry.
    let (status, answer) = run.client.post(
        "/v1/registries/licences/roots",
        Some(LAND),
        &json!({"root": "5"}),
    );
    assert_eq!((status, reason(&answer)), (403, "forbidden"));
    run.service.shutdown().unwrap();
}

#[test]
fn a_batch_locates_its_bad_items() {
    let run = start("");
    run.publish_root();
    let mut items: Vec<Value> = (0..12)
        .map(|i| fixture().proven(&format!("CASE-B{i}"), (i % 2) as usize, 100 + i))
        .collect();
    // Item 3: the param changed (does not verify); item 7: another item's
    // proof; item 9: a duplicate of item 0; item 10: malformed; item 11: a
    // point off the curve.
    items[3] = with(items[3].clone(), "/public_inputs/3", json!("121"));
    items[11] = with(items[11].clone(), "/proof/pi_a/0", json!("1"));
    items[7] = with(items[7].clone(), "/proof", items[6]["proof"].clone());
    items[9] = items[0].clone();
    items[10] = json!({"key_id": "x"});
    let (status, body) =
        run.client
            .post("/v1/proofs/batch", Some(LAND), &json!({ "items": items }));
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    for (i, result) in results.iter().enumerate() {
        let expected = match i {
            3 | 7 => "rejected",
            9 => "existing",
            10 | 11 => "rejected",
            _ => "accepted",
        };
        assert_eq!(result["status"], expected, "item {i}: {result}");
        if expected != "rejected" {
            let receipt: Receipt = serde_json::from_value(result["receipt"].clone()).unwrap();
            run.check(&receipt);
        }
    }
    assert_eq!(results[3]["error"]["reason"], "invalid_proof");
    assert_eq!(results[7]["error"]["reason"], "invalid_proof");
    assert_eq!(results[10]["error"]["reason"], "malformed_request");
    assert_eq!(results[11]["error"]["reason"], "malformed_proof");
    assert_eq!(
        results[9]["receipt"]["index"],
        results[0]["receipt"]["index"]
    );
    run.service.shutdown().unwrap();
}

#[test]
fn concurrent_submissions_leave_no_gaps_and_no_duplicates() {
    let run = start("");
    run.publish_root();
    let submissions: Vec<Value> = (0..24)
        .map(|i| fixture().proven(&format!("CASE-C{i}"), (i % 2) as usize, 200 + i))
        .collect();
    let receipts: Vec<Receipt> = std::thread::scope(|scope| {
        let handles: Vec<_> = submissions
            .chunks(3)
            .map(|chunk| {
                let client = &run.client;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|s| {
                            let (status, body) = client.post("/v1/proofs", Some(LAND), s);
                            assert_eq!(status, 201, "{body}");
                            serde_json::from_value::<Receipt>(body).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let indexes: BTreeSet<u64> = receipts.iter().map(|r| r.index).collect();
    assert_eq!(indexes.len(), 24, "every receipt has its own index");
    assert_eq!(indexes, (3..27).collect::<BTreeSet<u64>>(), "no gaps");
    assert_eq!(run.size(), 27);
    for receipt in &receipts {
        run.check(receipt);
    }
    run.service.shutdown().unwrap();
}

#[test]
fn concurrent_single_proofs_keep_their_own_verdicts() {
    // Proofs submitted one per request at the same moment are checked in
    // shared batches; a bad one must fail alone, for its own reason.
    let run = start("");
    run.publish_root();
    let submissions: Vec<(Value, u16, &str)> = (0..24u64)
        .map(|i| {
            let good = fixture().proven(&format!("CASE-V{i}"), (i % 2) as usize, 600 + i);
            match i % 6 {
                1 => (
                    with(good, "/public_inputs/3", json!("121")),
                    422,
                    "invalid_proof",
                ),
                4 => (
                    with(good, "/proof/pi_a/0", json!("1")),
                    400,
                    "malformed_proof",
                ),
                _ => (good, 201, ""),
            }
        })
        .collect();
    let start_line = std::sync::Barrier::new(submissions.len());
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = submissions
            .iter()
            .map(|(body, _, _)| {
                let (client, start_line) = (&run.client, &start_line);
                scope.spawn(move || {
                    start_line.wait();
                    client.post("/v1/proofs", Some(LAND), body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, ((_, status, why), (got, body))) in submissions.iter().zip(&answers).enumerate() {
        assert_eq!(got, status, "submission {i}: {body}");
        if *status == 201 {
            run.check(&serde_json::from_value::<Receipt>(body.clone()).unwrap());
        } else {
            assert_eq!(reason(body), *why, "submission {i}");
        }
    }
    assert_eq!(run.size(), 3 + 16, "the 16 good proofs, and nothing else");
    run.service.shutdown().unwrap();
}

#[test]
fn the_log_survives_a_restart_with_the_same_key() {
    let data = tempfile::tempdir().unwrap();
    let config = fixture().config(data.path(), None, "");
    let first = RunningService::spawn(config.clone()).unwrap();
    let client = Client::new(&first);
    let (status, receipt) = client.post(
        "/v1/registries/real-estate/roots",
        Some(LAND),
        &json!({"root": fixture().root()}),
    );
    assert_eq!(status, 201);
    let key = first.verifier_key.clone();
    first.shutdown().unwrap();

    let second = RunningService::spawn(config).unwrap();
    assert_eq!(second.verifier_key, key, "the signing key persists");
    let client = Client::new(&second);
    let receipt: Receipt = serde_json::from_value(receipt).unwrap();
    let verifier = LogVerifier::from_verifier_key(&key).unwrap();
    receipt.verify(&verifier, &second.origin).unwrap();
    // The metrics know the log's size before anything is appended.
    let (_, metrics) = client.get_text("/metrics");
    assert!(
        metrics.lines().any(|l| l == "zkgov_log_size 3"),
        "{metrics}"
    );
    // The key directory is not registered twice, and proofs still verify.
    let (_, keys) = client.get("/v1/keys");
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    let (status, body) = client.post("/v1/proofs", Some(LAND), &fixture().proven("CASE-P", 0, 9));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["index"], 3);
    second.shutdown().unwrap();
}

#[test]
fn shutdown_finishes_or_refuses_requests_and_writes_nothing_half() {
    let data = tempfile::tempdir().unwrap();
    let config = fixture().config(data.path(), None, "");
    let service = RunningService::spawn(config.clone()).unwrap();
    let client = Client::new(&service);
    let (status, _) = client.post(
        "/v1/registries/real-estate/roots",
        Some(LAND),
        &json!({"root": fixture().root()}),
    );
    assert_eq!(status, 201);
    let batches: Vec<Value> = (0..6)
        .map(|b| {
            json!({"items": (0..8)
                .map(|i| fixture().proven(&format!("CASE-G{b}-{i}"), 0, 300 + i))
                .collect::<Vec<_>>()})
        })
        .collect();
    let url = service.url();
    let answers: Vec<Option<(u16, Value)>> = std::thread::scope(|scope| {
        let senders: Vec<_> = batches
            .iter()
            .map(|batch| {
                let url = url.clone();
                scope.spawn(move || {
                    let http = reqwest::blocking::Client::new();
                    let response = http
                        .post(format!("{url}/v1/proofs/batch"))
                        .bearer_auth(LAND)
                        .json(batch)
                        .send()
                        .ok()?;
                    let status = response.status().as_u16();
                    Some((status, response.json::<Value>().ok()?))
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        service.shutdown().unwrap();
        senders.into_iter().map(|s| s.join().unwrap()).collect()
    });

    // Every receipt handed out names an entry that is in the log, intact.
    let service = RunningService::spawn(config).unwrap();
    let client = Client::new(&service);
    let verifier = LogVerifier::from_verifier_key(&service.verifier_key).unwrap();
    let (_, note) = client.get_text("/v1/log/checkpoint");
    let checkpoint = verifier.verify(&note, &service.origin).unwrap();
    let mut answered = 0;
    for (status, body) in answers.into_iter().flatten() {
        if status != 200 {
            assert_eq!(status, 503, "{body}");
            continue;
        }
        for result in body["results"].as_array().unwrap() {
            let receipt: Receipt = serde_json::from_value(result["receipt"].clone()).unwrap();
            receipt.verify(&verifier, &service.origin).unwrap();
            assert!(receipt.index < checkpoint.size);
            let (_, entries) = client.get(&format!(
                "/v1/log/entries?start={}&end={}",
                receipt.index,
                receipt.index + 1
            ));
            assert_eq!(entries["entries"][0]["entry"], receipt.entry.as_str());
            answered += 1;
        }
    }
    // Entries are whole batches or nothing: the log holds the governance,
    // the key, the root, and a multiple of 8 results.
    assert_eq!((checkpoint.size - 3) % 8, 0, "size {}", checkpoint.size);
    assert!(answered as u64 <= checkpoint.size - 3);
    service.shutdown().unwrap();
}

#[test]
fn load_beyond_the_concurrency_limit_is_shed() {
    let run = start("[limits]\nmax_in_flight = 1");
    run.publish_root();
    let batch = json!({"items": (0..32)
        .map(|i| fixture().proven(&format!("CASE-L{i}"), 0, 400 + i))
        .collect::<Vec<_>>()});
    // One batch holds the only slot while reads hammer the service; the
    // reads carry no body, so a shed answer always reaches the client (a
    // shed request with a body may see its connection reset instead).
    let done = std::sync::atomic::AtomicBool::new(false);
    let (batch_status, shed) = std::thread::scope(|scope| {
        let reads = scope.spawn(|| {
            let mut shed = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let (status, body) = run.client.get("/v1/keys");
                if status == 503 {
                    assert_eq!(reason(&body), "overloaded");
                    shed += 1;
                } else {
                    assert_eq!(status, 200, "{body}");
                }
            }
            shed
        });
        // The batch itself may be shed when a read holds the slot: retry.
        let status = (0..200)
            .find_map(|_| {
                let client = Client::new(&run.service);
                match client.try_post_raw(
                    "/v1/proofs/batch",
                    Some(LAND),
                    serde_json::to_vec(&batch).unwrap(),
                ) {
                    Ok((200, _)) => Some(200),
                    _ => None,
                }
            })
            .unwrap_or(0);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (status, reads.join().unwrap())
    });
    assert_eq!(batch_status, 200, "the batch got through");
    assert!(shed > 0, "reads were shed while the batch held the slot");
    let (_, metrics) = run.client.get_text("/metrics");
    let counted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("zkgov_load_shed_total "))
        .unwrap_or_else(|| panic!("no zkgov_load_shed_total in\n{metrics}"))
        .parse()
        .unwrap();
    assert!(counted >= shed, "{counted} counted, {shed} seen");
    run.service.shutdown().unwrap();
}

#[test]
fn a_request_slower_than_the_timeout_is_answered_408() {
    use std::io::{Read, Write};
    let run = start("[limits]\nrequest_timeout_seconds = 1");
    run.publish_root();
    let size = run.size();
    // A client that announces a body and stalls after its first byte.
    let mut stream = std::net::TcpStream::connect(run.service.addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /v1/proofs HTTP/1.1\r\nHost: zkgov\r\nAuthorization: Bearer {LAND}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the body of the answer is complete (the service closes
    // or the JSON ends).
    while !String::from_utf8_lossy(&answer).trim_end().ends_with('}') {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer: {e}"),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"reason\":\"timeout\""), "{answer}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(run.size(), size, "a timed-out request adds nothing");
    run.service.shutdown().unwrap();
}

/// Opens a connection that sends a request head and the first byte of a
/// 1000-byte body, then stalls: its handler waits for the body, holding a
/// slot of the concurrency limit until the request timeout.
fn stalled_submission(run: &Running) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(run.service.addr).unwrap();
    let head = format!(
        "POST /v1/proofs HTTP/1.1\r\nHost: zkgov\r\nAuthorization: Bearer {LAND}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// Polls `probe` every 20 ms until it holds, for at most a minute.
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !probe() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn health_metrics_and_the_openapi_document_are_shed_at_the_limit_too() {
    let run = start("[limits]\nmax_in_flight = 1\nrequest_timeout_seconds = 300");
    let stalled = stalled_submission(&run);
    eventually("the stalled submission never took the only slot", || {
        run.client.get("/v1/keys").0 == 503
    });
    for path in ["/healthz", "/metrics", "/v1/openapi.json"] {
        let (status, body) = run.client.get(path);
        assert_eq!((status, reason(&body)), (503, "overloaded"), "{path}");
    }
    // The submission ends with its connection, and frees the slot.
    drop(stalled);
    eventually("the probe was never answered again", || {
        run.client.get("/healthz").0 == 200
    });
    run.service.shutdown().unwrap();
}

#[test]
fn health_reports_the_log_size_as_entries_are_appended() {
    let run = start("");
    let log_size = || {
        let (status, health) = run.client.get("/healthz");
        assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
        health["log_size"].as_u64().unwrap()
    };
    // The governance entry and the key registered at start-up.
    assert_eq!(log_size(), 2);
    run.publish_root();
    run.publish_root();
    assert_eq!(log_size(), 4);
    let submission = fixture().proven("CASE-H", 0, 31);
    let (status, body) = run.client.post("/v1/proofs", Some(LAND), &submission);
    assert_eq!(status, 201, "{body}");
    assert_eq!(log_size(), 5);
    // A statement already anchored appends nothing.
    let (status, body) = run.client.post("/v1/proofs", Some(LAND), &submission);
    assert_eq!(status, 200, "{body}");
    assert_eq!(log_size(), 5);
    assert_eq!(log_size(), run.size());
    run.service.shutdown().unwrap();
}

/// Sends `GET path` on `stream` and reads one answer, head and body.
fn raw_get(stream: &mut std::net::TcpStream, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: zkgov\r\n\r\n").as_bytes())?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let l = l.to_ascii_lowercase();
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .expect("a content-length");
            if body.len() >= length {
                return Ok(text);
            }
        }
        match stream.read(&mut buf)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => answer.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads from a connection that the service should close without an
/// answer, and panics if it answers or stays open for `patience`.
fn expect_closed(stream: &mut std::net::TcpStream, patience: std::time::Duration) {
    use std::io::Read;
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut buf = [0u8; 1024];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(n) => panic!("answered: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) => panic!("still open after {patience:?}: {e}"),
    }
}

#[test]
fn a_connection_that_stalls_in_its_request_head_is_closed_after_the_header_read_timeout() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let run = start("[limits]\nheader_read_timeout_seconds = 2");
    for partial in [
        "",
        "GET /heal",
        "GET /healthz HTTP/1.1\r\nHost: zkgov\r\nAccept: appl",
    ] {
        let opened = Instant::now();
        let mut stream = std::net::TcpStream::connect(run.service.addr).unwrap();
        stream.write_all(partial.as_bytes()).unwrap();
        expect_closed(&mut stream, Duration::from_secs(30));
        let waited = opened.elapsed();
        assert!(
            waited >= Duration::from_millis(1900),
            "{partial:?}: closed after {waited:?}"
        );
    }
    // The deadline is for the whole head, not each read: a head sent in
    // pieces within it is answered, and so is the next one on the same
    // connection.
    let mut stream = std::net::TcpStream::connect(run.service.addr).unwrap();
    stream.write_all(b"GET /healthz HT").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(b"TP/1.1\r\nHost: zkgov\r\n\r\n").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut first = String::new();
    while !first.contains("\"log_size\"") {
        let mut buf = [0u8; 1024];
        let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
        assert!(n > 0, "closed before answering: {first}");
        first.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let second = raw_get(&mut stream, "/healthz").unwrap();
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    // Then it is idle, and idle is closed the same way.
    expect_closed(&mut stream, Duration::from_secs(30));
    run.service.shutdown().unwrap();
}

#[test]
fn connections_beyond_the_cap_wait_until_one_closes() {
    use std::io::{Read, Write};
    use std::time::Duration;
    let run = start("[limits]\nmax_connections = 2\nheader_read_timeout_seconds = 600");
    // Two keep-alive connections, answered once and then idle, hold both
    // slots.
    let mut held: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(run.service.addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let answer = raw_get(&mut stream, "/healthz").unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            stream
        })
        .collect();
    // A third connects (the kernel queues it) but is not served...
    let mut waiting = std::net::TcpStream::connect(run.service.addr).unwrap();
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: zkgov\r\n\r\n")
        .unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 1024];
    match waiting.read(&mut buf) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("served beyond the cap: {other:?}"),
    }
    // ...until one of the two closes; the request it sent meanwhile is
    // then answered.
    drop(held.pop());
    waiting
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = String::new();
    while !answer.contains("\"log_size\"") {
        let n = waiting.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering: {answer}");
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The connection that stayed open is still served.
    let again = raw_get(&mut held[0], "/healthz").unwrap();
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    drop((held, waiting));
    run.service.shutdown().unwrap();
}

#[test]
fn a_stalled_connection_at_the_cap_gives_way_after_the_header_read_timeout() {
    use std::io::Write;
    use std::time::Duration;
    let run = start("[limits]\nmax_connections = 1\nheader_read_timeout_seconds = 2");
    let mut stalled = std::net::TcpStream::connect(run.service.addr).unwrap();
    stalled.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    // A client that sends its request whole, behind it, is served once the
    // stalled one is cut off.
    let mut prompt = std::net::TcpStream::connect(run.service.addr).unwrap();
    prompt
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let answer = raw_get(&mut prompt, "/healthz").unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    expect_closed(&mut stalled, Duration::from_secs(1));
    drop(prompt);
    run.service.shutdown().unwrap();
}

#[test]
fn a_signing_key_readable_by_others_stops_start_up() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let config = fixture().config(data.path(), None, "");
    RunningService::spawn(config.clone())
        .unwrap()
        .shutdown()
        .unwrap();
    let key = data.path().join("log-signing.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "created for its owner only");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    match RunningService::spawn(config) {
        Err(StartError::SigningKey { message, .. }) => {
            assert!(message.contains("chmod 600"), "{message}")
        }
        Err(other) => panic!("expected a signing key error, got {other}"),
        Ok(_) => panic!("started with a signing key readable by others"),
    }
}

#[test]
fn a_bad_key_directory_stops_start_up() {
    let data = tempfile::tempdir().unwrap();
    let mut config = fixture().config(data.path(), None, "");
    config.keys[0].dir = data.path().join("no-such-keys");
    match RunningService::spawn(config) {
        Err(StartError::KeyDir { path, .. }) => assert!(path.ends_with("no-such-keys")),
        Err(other) => panic!("expected a key directory error, got {other}"),
        Ok(_) => panic!("started with a missing key directory"),
    }
}

#[test]
fn production_mode_refuses_a_single_party_key_directory_naming_it() {
    let data = tempfile::tempdir().unwrap();
    let mut config = fixture().config(data.path(), None, "");
    config.require_multi_party = true;
    match RunningService::spawn(config) {
        Err(StartError::KeyDir { message, .. }) => assert!(
            message.contains(&format!(
                "key {} (policy `medical-premises`) is single-party",
                fixture().key_id
            )),
            "{message}"
        ),
        Err(other) => panic!("expected a key directory error, got {other}"),
        Ok(_) => panic!("started in production mode with a single-party key"),
    }
}

#[test]
fn health_metrics_and_the_openapi_document_are_served() {
    let run = start("");
    let (status, health) = run.client.get("/healthz");
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, _) = run.client.get(&format!("/v1/keys/{}", fixture().key_id));
    assert_eq!(status, 200);
    let (status, metrics) = run.client.get_text("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("# TYPE zkgov_http_requests counter"));
    assert!(
        metrics.contains(
            "zkgov_http_requests_total{method=\"GET\",route=\"/v1/keys/{key_id}\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("zkgov_log_size 2"), "{metrics}");
    let (status, document) = run.client.get("/v1/openapi.json");
    assert_eq!(status, 200);
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if matches!(method.as_str(), "get" | "post" | "put" | "delete" | "patch") {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
    let (status, body) = run.client.get("/v1/nothing-here");
    assert_eq!((status, reason(&body)), (404, "not_found"));
    let (status, body) = run.client.get("/v1/proofs");
    assert_eq!((status, reason(&body)), (405, "method_not_allowed"));
    run.service.shutdown().unwrap();
}

#[test]
fn the_service_runs_on_postgresql_too() {
    let data = tempfile::tempdir().unwrap();
    let database = support::postgres::fresh_database();
    let config = fixture().config(data.path(), Some(&database), "");
    let service = RunningService::spawn(config.clone()).unwrap();
    let client = Client::new(&service);
    let verifier = LogVerifier::from_verifier_key(&service.verifier_key).unwrap();
    let (status, _) = client.post(
        "/v1/registries/real-estate/roots",
        Some(LAND),
        &json!({"root": fixture().root()}),
    );
    assert_eq!(status, 201);
    let submissions: Vec<Value> = (0..8)
        .map(|i| fixture().proven(&format!("CASE-PG{i}"), 1, 500 + i))
        .collect();
    let receipts: Vec<Receipt> = std::thread::scope(|scope| {
        let handles: Vec<_> = submissions
            .iter()
            .map(|s| {
                let client = &client;
                scope.spawn(move || {
                    let (status, body) = client.post("/v1/proofs", Some(LAND), s);
                    assert_eq!(status, 201, "{body}");
                    serde_json::from_value::<Receipt>(body).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let indexes: BTreeSet<u64> = receipts.iter().map(|r| r.index).collect();
    assert_eq!(indexes, (3..11).collect::<BTreeSet<u64>>());
    let (status, again) = client.post("/v1/proofs", Some(LAND), &submissions[0]);
    assert_eq!(status, 200);
    assert_eq!(again["index"], receipts[0].index);
    service.shutdown().unwrap();

    // A second service process on the same database sees the same log.
    let service = RunningService::spawn(config).unwrap();
    for receipt in &receipts {
        receipt.verify(&verifier, &service.origin).unwrap();
    }
    let (_, note) = Client::new(&service).get_text("/v1/log/checkpoint");
    assert_eq!(verifier.verify(&note, &service.origin).unwrap().size, 11);
    service.shutdown().unwrap();
}
