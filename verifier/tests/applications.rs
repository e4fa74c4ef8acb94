//! Applications end to end against a running service: a procedure, an
//! applicant's intake and session, a department's work queue answered with
//! a real proof or an unmet answer, the automatic decision, and the
//! licence request it queues.

mod fixture;

use fixture::{reason, Client, Fixture, HEALTH, LAND, MARKET};
use serde_json::{json, Value};
use zkgov_circuits::field::parse_field_element;
use zkgov_log::checkpoint::LogVerifier;
use zkgov_log::licence::LicenceDocument;
use zkgov_verifier::service::RunningService;

use fixture::CLINIC_PROCEDURE as PROCEDURE;

fn start(fixture: &Fixture, extra: &str) -> (tempfile::TempDir, RunningService, Client) {
    fixture.service_with(PROCEDURE, extra)
}

fn apply(client: &Client, code: &str) -> (String, String) {
    let (status, body) = client.post(
        "/v1/applications",
        None,
        &json!({ "procedure": "clinic", "inputs": { "credit_code": code } }),
    );
    assert_eq!(status, 201, "{body}");
    (
        body["case_id"].as_str().unwrap().to_string(),
        body["access_code"].as_str().unwrap().to_string(),
    )
}

fn session(client: &Client, case_id: &str, code: &str) -> String {
    let (status, body) = client.post(
        &format!("/v1/applications/{case_id}/session"),
        None,
        &json!({ "access_code": code }),
    );
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

#[test]
fn an_application_is_proved_decided_and_licensed_without_its_secret_in_the_log() {
    let fixture = Fixture::new();
    let (_data, service, client) = start(&fixture, "");

    // Registering a procedure is the deciding department's alone.
    let (status, body) = client.post(
        "/v1/procedures",
        Some(LAND),
        &json!({ "procedure": PROCEDURE.replace("Clinic licence", "Other") }),
    );
    assert_eq!((status, reason(&body)), (403, "forbidden"), "{body}");

    // Bad input is refused and names the field.
    for (inputs, field) in [
        (json!({}), "credit_code"),
        (json!({ "credit_code": "ID-1", "name": "x" }), "name"),
        (
            json!({ "credit_code": "1234567890123456789" }),
            "credit_code",
        ),
        (json!({ "credit_code": " ID-1" }), "credit_code"),
    ] {
        let (status, body) = client.post(
            "/v1/applications",
            None,
            &json!({ "procedure": "clinic", "inputs": inputs }),
        );
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{body}"
        );
    }
    let (status, _) = client.post(
        "/v1/applications",
        None,
        &json!({ "procedure": "bakery", "inputs": {} }),
    );
    assert_eq!(status, 404);

    let (case_id, code) = apply(&client, "ID-1");
    assert!(
        case_id.starts_with("DJY-20") && case_id.ends_with("-000001"),
        "{case_id}"
    );

    // The access code opens a session; a wrong one does not.
    let (status, _) = client.post(
        &format!("/v1/applications/{case_id}/session"),
        None,
        &json!({ "access_code": "WRONG-CODE" }),
    );
    assert_eq!(status, 403);
    let (status, _) = client.get(&format!("/v1/applications/{case_id}"));
    assert_eq!(status, 401, "the status needs a session");
    let token = session(&client, &case_id, &code);
    let (status, view) = client.get_as(&format!("/v1/applications/{case_id}"), &token);
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["evidence"][0]["status"], "pending");
    assert_eq!(view["evidence"][0]["params"]["usage"], "medical");
    assert_eq!(view["status"], "open");

    // Only the owning department's queue holds the request.
    let (_, other) = client.get_as("/v1/work", MARKET);
    assert_eq!(other["work"].as_array().unwrap().len(), 0);
    let (status, leased) = client.get_as("/v1/work?limit=10&lease_seconds=60", LAND);
    assert_eq!(status, 200, "{leased}");
    let work = leased["work"][0].clone();
    assert_eq!(work["subject"], "ID-1");
    assert_eq!(work["params"]["min_area"], "120");
    let secret = work["case_secret"].as_str().unwrap().to_string();
    assert!(
        parse_field_element(&secret).unwrap() > ark_bn254::Fr::from(u128::MAX),
        "a 254-bit secret"
    );
    let (_, again) = client.get_as("/v1/work", LAND);
    assert_eq!(again["work"].as_array().unwrap().len(), 0, "leased once");
    let (_, view) = client.get_as(&format!("/v1/applications/{case_id}"), &token);
    assert_eq!(view["evidence"][0]["status"], "in_progress");

    // The proof completes it, and the automatic rule decides.
    let id = work["id"].as_i64().unwrap();
    let (status, body) = client.post(
        &format!("/v1/work/{id}"),
        Some(LAND),
        &fixture.work_proof(&work, 0),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "accepted");
    let (status, body) = client.post(
        &format!("/v1/work/{id}"),
        Some(LAND),
        &fixture.work_proof(&work, 0),
    );
    assert_eq!((status, body["status"].as_str()), (200, Some("existing")));
    let (_, view) = client.get_as(&format!("/v1/applications/{case_id}"), &token);
    assert_eq!(view["evidence"][0]["status"], "verified", "{view}");
    assert_eq!(view["status"], "approved");
    assert_eq!(view["decision"]["automatic"], true);
    let number = case_id.replacen("DJY", "YL", 1);
    assert_eq!(view["licence"]["number"], number);
    assert_eq!(view["licence"]["issued"], false);

    // The approval queues the licence for the deciding department.
    let (_, leased) = client.get_as("/v1/work", HEALTH);
    let licence = leased["work"][0].clone();
    assert_eq!(licence["kind"], "licence", "{leased}");
    assert_eq!(licence["subject"], "ID-1");
    assert_eq!(licence["licence"]["number"], number);
    let id = licence["id"].as_i64().unwrap();
    // The licence document waits for the licence to be in the registry.
    let (status, body) = client.get_as(&format!("/v1/applications/{case_id}/licence"), &token);
    assert_eq!((status, reason(&body)), (409, "conflict"), "{body}");
    // A root that is not the licence registry's is refused.
    let (status, _) = client.post(
        &format!("/v1/work/{id}"),
        Some(HEALTH),
        &json!({ "outcome": "issued", "root_index": 1 }),
    );
    assert_eq!(status, 409);
    let (status, root) = client.post(
        "/v1/registries/licences/roots",
        Some(HEALTH),
        &json!({ "root": "12345" }),
    );
    assert_eq!(status, 201, "{root}");
    let (status, body) = client.post(
        &format!("/v1/work/{id}"),
        Some(HEALTH),
        &json!({ "outcome": "issued", "root_index": root["index"] }),
    );
    assert_eq!(status, 200, "{body}");
    let (_, view) = client.get_as(&format!("/v1/applications/{case_id}"), &token);
    assert_eq!(view["licence"]["issued"], true);

    // The applicant's licence document verifies offline with the log's key.
    let (status, body) = client.get_as(&format!("/v1/applications/{case_id}/licence"), &token);
    assert_eq!(status, 200, "{body}");
    let document: LicenceDocument = serde_json::from_value(body).unwrap();
    let log_key = LogVerifier::from_verifier_key(&service.verifier_key).unwrap();
    let verified = document.verify(&log_key).unwrap();
    assert_eq!(document.number, number);
    assert_eq!(document.holder.subject, "ID-1");
    assert_eq!(document.holder.case_secret, secret);
    assert_eq!(verified.index, view["decision"]["index"].as_u64().unwrap());
    assert!(verified.automatic);
    // Only its own applicant's session reads it.
    let (other_case, other_code) = apply(&client, "ID-2");
    let other = session(&client, &other_case, &other_code);
    let (status, _) = client.get_as(&format!("/v1/applications/{case_id}/licence"), &other);
    assert_eq!(status, 403);
    let (status, _) = client.get(&format!("/v1/applications/{case_id}/licence"));
    assert_eq!(status, 401);

    // A person may not decide again, except by an amendment with a reason.
    let decision = view["decision"]["index"].as_u64().unwrap();
    let (status, body) = client.post(
        &format!("/v1/cases/{case_id}/decisions"),
        Some(HEALTH),
        &json!({ "decision": "refused", "note": "again" }),
    );
    assert_eq!((status, reason(&body)), (409, "already_decided"), "{body}");
    let (status, body) = client.post(
        &format!("/v1/cases/{case_id}/decisions"),
        Some(HEALTH),
        &json!({ "decision": "revoked", "note": "premises sold", "amends": decision }),
    );
    assert_eq!(status, 201, "{body}");
    // A revoked licence is no longer handed out.
    let (status, body) = client.get_as(&format!("/v1/applications/{case_id}/licence"), &token);
    assert_eq!((status, reason(&body)), (409, "conflict"), "{body}");

    // The log holds the case but neither its secret nor the subject id.
    let (_, entries) = client.get_text("/v1/log/entries?start=0");
    assert!(entries.contains(&case_id));
    assert!(!entries.contains(&secret), "the case secret is not logged");
    assert!(!entries.contains("ID-1"), "the subject id is not logged");
    assert!(!entries.contains(&code), "the access code is not logged");

    // Departments list the cases.
    let (status, list) = client.get_as("/v1/cases?procedure=clinic&status=revoked", HEALTH);
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["cases"][0]["case_id"], case_id);
    let (status, _) = client.get("/v1/cases");
    assert_eq!(status, 401);
    service.shutdown().unwrap();
}

#[test]
fn an_unmet_item_refuses_the_case_with_its_condition_and_intake_is_rate_limited() {
    let fixture = Fixture::new();
    let (_data, service, client) = start(&fixture, "[limits]\napplications_per_minute = 3\n");
    let (case_id, code) = apply(&client, "ID-3");
    let (_, leased) = client.get_as("/v1/work", LAND);
    let id = leased["work"][0]["id"].as_i64().unwrap();
    let (status, body) = client.post(
        &format!("/v1/work/{id}"),
        Some(LAND),
        &json!({ "outcome": "not_satisfied" }),
    );
    assert_eq!(
        (status, reason(&body)),
        (400, "malformed_request"),
        "{body}"
    );
    let (status, body) = client.post(
        &format!("/v1/work/{id}"),
        Some(MARKET),
        &json!({ "outcome": "revoked" }),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = client.post(
        "/v1/work",
        Some(LAND),
        &json!({ "items": [
            { "id": id, "outcome": "not_satisfied", "conditions": ["area_m2 >= $min_area"] },
            { "id": 999, "outcome": "revoked" },
        ]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], "accepted");
    assert_eq!(body["results"][1]["status"], "rejected");
    let token = session(&client, &case_id, &code);
    let (_, view) = client.get_as(&format!("/v1/applications/{case_id}"), &token);
    assert_eq!(view["evidence"][0]["status"], "not_satisfied");
    assert_eq!(view["evidence"][0]["conditions"][0], "area_m2 >= $min_area");
    assert_eq!(view["status"], "refused");
    assert!(view["decision"]["note"]
        .as_str()
        .unwrap()
        .contains("area_m2"));
    assert_eq!(view["licence"], Value::Null);
    // Two calls so far from this address (an application and a session);
    // the third passes and the fourth is refused.
    apply(&client, "ID-2");
    let (status, body) = client.post(
        "/v1/applications",
        None,
        &json!({ "procedure": "clinic", "inputs": { "credit_code": "ID-2" } }),
    );
    assert_eq!((status, reason(&body)), (429, "too_many_requests"));
    service.shutdown().unwrap();
}

#[test]
fn a_decided_case_closes_the_requests_it_no_longer_needs() {
    let fixture = Fixture::new();
    let (_data, service, client) = start(&fixture, "");
    // Two items over the same registry: large premises, and larger ones.
    let two = PROCEDURE
        .replace("name = \"clinic\"", "name = \"hospital\"")
        .replace("case_prefix = \"DJY\"", "case_prefix = \"YY\"")
        + r#"
[[evidence]]
name = "wards"
policy = "medical-premises"
registry = "real-estate"
subject = "credit_code"
params = { min_area = 800, usage = "medical", today = { computed = "today" } }
"#;
    let (status, body) = client.post("/v1/procedures", Some(HEALTH), &json!({ "procedure": two }));
    assert_eq!(status, 201, "{body}");
    let (status, body) = client.post(
        "/v1/applications",
        None,
        &json!({ "procedure": "hospital", "inputs": { "credit_code": "ID-4" } }),
    );
    assert_eq!(status, 201, "{body}");
    let case_id = body["case_id"].as_str().unwrap().to_string();
    let token = session(&client, &case_id, body["access_code"].as_str().unwrap());
    let (_, queue) = client.get_as("/v1/work/queue", LAND);
    assert_eq!(queue["pending"], 2, "{queue}");

    // One item unmet refuses the case, and the other request is closed.
    let (_, leased) = client.get_as("/v1/work?limit=1", LAND);
    let id = leased["work"][0]["id"].as_i64().unwrap();
    let (status, body) = client.post(
        &format!("/v1/work/{id}"),
        Some(LAND),
        &json!({ "outcome": "subject_not_found" }),
    );
    assert_eq!(status, 200, "{body}");
    let (_, view) = client.get_as(&format!("/v1/applications/{case_id}"), &token);
    assert_eq!(view["status"], "refused", "{view}");
    let statuses: Vec<&str> = view["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"subject_not_found") && statuses.contains(&"not_needed"),
        "{view}"
    );
    let (_, queue) = client.get_as("/v1/work/queue", LAND);
    assert_eq!(
        (queue["pending"].as_u64(), queue["leased"].as_u64()),
        (Some(0), Some(0)),
        "{queue}"
    );
    let (_, leased) = client.get_as("/v1/work", LAND);
    assert_eq!(leased["work"].as_array().unwrap().len(), 0, "{leased}");
    service.shutdown().unwrap();
}

/// One server-sent event: its name, id and data.
#[derive(Debug)]
struct ServerEvent {
    event: String,
    id: Option<String>,
    data: String,
}

/// An open event stream, read line by line over its HTTP connection.
struct EventReader {
    lines: std::io::BufReader<reqwest::blocking::Response>,
    /// Keep-alive comments seen.
    comments: usize,
}

impl EventReader {
    /// Opens `path` with the session in the `zkgov_session` cookie, as a
    /// browser's `EventSource` does; it cannot set an `Authorization`
    /// header.
    fn open(client: &Client, path: &str, session: &str) -> EventReader {
        let response = client
            .http
            .get(format!("{}{path}", client.base))
            .header("cookie", format!("zkgov_session={session}"))
            .header("accept", "text/event-stream")
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let header = |name: &str| response.headers()[name].to_str().unwrap().to_string();
        assert_eq!(header("content-type"), "text/event-stream");
        assert_eq!(header("cache-control"), "no-store");
        EventReader {
            lines: std::io::BufReader::new(response),
            comments: 0,
        }
    }

    /// The next event, or `None` once the stream has ended.
    fn next(&mut self) -> Option<ServerEvent> {
        use std::io::BufRead;
        let (mut event, mut id, mut data) = (String::from("message"), None, Vec::new());
        let mut any = false;
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line).unwrap() == 0 {
                assert!(!any, "the stream ended inside an event");
                return None;
            }
            let line = line.trim_end_matches('\n');
            if line.is_empty() {
                if any {
                    return Some(ServerEvent {
                        event,
                        id,
                        data: data.join("\n"),
                    });
                }
                continue;
            }
            if line.starts_with(':') {
                self.comments += 1;
                continue;
            }
            any = true;
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_string();
            match field {
                "event" => event = value,
                "id" => id = Some(value),
                "data" => data.push(value),
                "retry" => {}
                other => panic!("an unknown field `{other}` in {line:?}"),
            }
        }
    }

    /// The next event, which must be a status; its id and JSON.
    fn status(&mut self) -> (u64, Value) {
        let event = self.next().expect("a status event");
        assert_eq!(event.event, "status", "{event:?}");
        let id = event.id.as_deref().expect("an id").parse().unwrap();
        (id, serde_json::from_str(&event.data).unwrap())
    }
}

/// The log's size, from its signed checkpoint.
fn log_size(client: &Client) -> u64 {
    let (_, note) = client.get_text("/v1/log/checkpoint");
    note.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_status_streams_as_events_under_the_session_cookie_until_the_licence_is_issued() {
    let fixture = Fixture::new();
    let (_data, service, client) = start(&fixture, "[limits]\nmax_event_streams = 2\n");
    let (case_id, code) = apply(&client, "ID-1");
    let token = session(&client, &case_id, &code);
    let (other_case, other_code) = apply(&client, "ID-2");
    let other = session(&client, &other_case, &other_code);
    let path = format!("/v1/applications/{case_id}/events");

    // A session is needed, and only the case's own.
    let (status, body) = client.get(&path);
    assert_eq!((status, reason(&body)), (401, "missing_token"), "{body}");
    let (status, body) = client.get_as(&path, "not-a-session");
    assert_eq!((status, reason(&body)), (401, "invalid_token"), "{body}");
    let (status, body) = client.get_as(&path, &other);
    assert_eq!((status, reason(&body)), (403, "forbidden"), "{body}");
    let cookie = client
        .http
        .get(format!("{}{path}", client.base))
        .header("cookie", format!("zkgov_session={other}"))
        .send()
        .unwrap();
    assert_eq!(cookie.status(), 403);

    // The current status at once, the JSON of the status route, with the
    // log's size as its id.
    let mut events = EventReader::open(&client, &path, &token);
    let (first_id, first) = events.status();
    let (_, view) = client.get_as(&format!("/v1/applications/{case_id}"), &token);
    assert_eq!(first, view);
    assert_eq!(first["evidence"][0]["status"], "pending");
    assert_eq!(first_id, log_size(&client));

    // Streams are capped: the second is let in, the third is not.
    let mut others = EventReader::open(
        &client,
        &format!("/v1/applications/{other_case}/events"),
        &other,
    );
    assert_eq!(others.status().1["case_id"], other_case.as_str());
    let (status, body) = client.get_as(&path, &token);
    assert_eq!((status, reason(&body)), (503, "overloaded"), "{body}");

    // A lease changes the queue, not the log: in progress, the same id.
    let (_, leased) = client.get_as("/v1/work?limit=1&lease_seconds=60", LAND);
    let work = leased["work"][0].clone();
    assert_eq!(work["case_id"], case_id.as_str(), "{leased}");
    let (id, status) = events.status();
    assert_eq!(status["evidence"][0]["status"], "in_progress", "{status}");
    assert_eq!(id, first_id);

    // The proof: verified, and the automatic approval in the same commit.
    let work_id = work["id"].as_i64().unwrap();
    let (code, body) = client.post(
        &format!("/v1/work/{work_id}"),
        Some(LAND),
        &fixture.work_proof(&work, 0),
    );
    assert_eq!(code, 200, "{body}");
    let (id, status) = events.status();
    assert_eq!(status["evidence"][0]["status"], "verified", "{status}");
    assert_eq!(status["status"], "approved");
    assert_eq!(status["licence"]["issued"], false);
    assert_eq!(id, log_size(&client));
    assert!(id > first_id);

    // The licence issued, the stream says so and ends.
    let (_, leased) = client.get_as("/v1/work", HEALTH);
    let licence = leased["work"][0]["id"].as_i64().unwrap();
    let (code, root) = client.post(
        "/v1/registries/licences/roots",
        Some(HEALTH),
        &json!({ "root": "12345" }),
    );
    assert_eq!(code, 201, "{root}");
    let (code, body) = client.post(
        &format!("/v1/work/{licence}"),
        Some(HEALTH),
        &json!({ "outcome": "issued", "root_index": root["index"] }),
    );
    assert_eq!(code, 200, "{body}");
    let (_, status) = events.status();
    assert_eq!(status["licence"]["issued"], true, "{status}");
    let end = events.next().expect("an end event");
    assert_eq!(end.event, "end", "{end:?}");
    assert!(events.next().is_none(), "the stream ends after `end`");

    // Its place is free again; a settled case's stream says all at once.
    let mut settled = EventReader::open(&client, &path, &token);
    assert_eq!(settled.status().1["licence"]["issued"], true);
    assert_eq!(settled.next().map(|e| e.event).as_deref(), Some("end"));
    assert!(settled.next().is_none());

    // An open stream does not hold the shutdown up: it ends, without
    // `end`, so that a browser reconnects to the next service.
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(service.shutdown().is_ok()));
    let stopped = stopped.recv_timeout(std::time::Duration::from_secs(10));
    assert_eq!(stopped, Ok(true), "the service stops with a stream open");
    assert!(others.next().is_none(), "no `end` at shutdown");
}
