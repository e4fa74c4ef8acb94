//! The generated OpenAPI document against the service: it lists exactly
//! the routes the service answers, and a real response of each route is
//! valid under the schema the document gives for that route and status.

mod fixture;

use std::collections::BTreeSet;

use fixture::{Client, Fixture, ADMIN, CLINIC_PROCEDURE, HEALTH, LAND};
use serde_json::{json, Value};
use zkgov_keys::store::KeyDir;
use zkgov_verifier::service::{openapi_document, ROUTES};

fn document() -> Value {
    serde_json::from_str(openapi_document()).unwrap()
}

/// A response as a client saw it.
struct Sample {
    method: &'static str,
    /// The route's pattern, as the document names it.
    route: &'static str,
    status: u16,
    content_type: String,
    body: String,
}

/// A client that keeps every response it gets, by route.
struct Recorder {
    client: Client,
    samples: Vec<Sample>,
}

impl Recorder {
    fn send(
        &mut self,
        method: &'static str,
        route: &'static str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Value {
        let url = format!("{}{path}", self.client.base);
        let mut request = match method {
            "GET" => self.client.http.get(url),
            _ => self.client.http.post(url),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = response.text().unwrap();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        self.samples.push(Sample {
            method,
            route,
            status,
            content_type,
            body,
        });
        json
    }

    fn get(&mut self, route: &'static str, path: &str, token: Option<&str>) -> Value {
        self.send("GET", route, path, token, None)
    }

    fn post(
        &mut self,
        route: &'static str,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Value {
        self.send("POST", route, path, token, Some(body))
    }
}

/// The documented responses of a route, by status.
fn responses<'d>(document: &'d Value, method: &str, route: &str) -> &'d Value {
    &document["paths"][route][method.to_lowercase()]["responses"]
}

/// A response component's reference followed.
fn resolve<'d>(document: &'d Value, response: &'d Value) -> &'d Value {
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &document["components"]["responses"][name]
        }
        None => response,
    }
}

/// A validator for `schema`, with the document's components beside it so
/// that its `#/components/schemas/...` references resolve.
fn validator(document: &Value, schema: &Value) -> jsonschema::Validator {
    let mut schema = schema.clone();
    schema["components"] = document["components"].clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{e}: {schema}"))
}

/// Checks a response against the document: its status is documented for
/// its route, its content type is the documented one, and its body is valid
/// under the documented schema.
fn check(document: &Value, sample: &Sample) -> Result<(), String> {
    let what = format!("{} {} {}", sample.method, sample.route, sample.status);
    let response = &responses(document, sample.method, sample.route)[sample.status.to_string()];
    if response.is_null() {
        return Err(format!("{what}: the status is not documented"));
    }
    let content = &resolve(document, response)["content"];
    let essence = sample.content_type.split(';').next().unwrap().trim();
    let Some((documented, media)) = content
        .as_object()
        .unwrap()
        .iter()
        .find(|(t, _)| t.split(';').next().unwrap().trim() == essence)
    else {
        return Err(format!(
            "{what}: content type {} is not documented",
            sample.content_type
        ));
    };
    let body = if documented == "application/json" {
        serde_json::from_str(&sample.body).map_err(|e| format!("{what}: {e}"))?
    } else if documented == "application/octet-stream" {
        return Ok(());
    } else {
        Value::String(sample.body.clone())
    };
    let validator = validator(document, &media["schema"]);
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: {}\n{body}", errors.join("; ")))
    }
}

#[test]
fn the_document_lists_every_route_the_service_answers_and_no_other() {
    let document = document();
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
    // Every reference in it names something it holds.
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let reference = reference.split('"').next().unwrap();
        let pointer = reference.strip_prefix('#').unwrap();
        assert!(document.pointer(pointer).is_some(), "{reference}");
    }
}

#[test]
fn a_response_of_every_route_is_valid_under_its_schema() {
    let fixture = Fixture::new();
    let (_data, service, client) = fixture.service_with(CLINIC_PROCEDURE, "");
    let mut run = Recorder {
        client,
        samples: Vec::new(),
    };
    let key_id = fixture.key_id.clone();

    run.get("/healthz", "/healthz", None);
    run.get("/metrics", "/metrics", None);
    run.get("/v1/openapi.json", "/v1/openapi.json", None);
    run.get("/v1/keys", "/v1/keys", None);
    run.get("/v1/keys/{key_id}", &format!("/v1/keys/{key_id}"), None);
    run.get(
        "/v1/keys/{key_id}",
        &format!("/v1/keys/{}", "00".repeat(32)),
        None,
    );
    let dir = KeyDir::open(&fixture.key_dir).unwrap();
    let registration = json!({
        "registry": "real-estate",
        "verifying_key": zkgov_keys::snarkjs::verifying_key_to_json(&dir.verifying_key),
        "schema": dir.schema_text,
        "policy": dir.policy_text,
    });
    run.post("/v1/keys", "/v1/keys", Some(ADMIN), &registration);
    run.post("/v1/keys", "/v1/keys", Some(LAND), &registration);
    let roots = "/v1/registries/{registry}/roots";
    run.post(
        roots,
        "/v1/registries/real-estate/roots",
        Some(LAND),
        &json!({"root": fixture.root()}),
    );
    run.post(
        roots,
        "/v1/registries/real-estate/roots",
        Some(LAND),
        &json!({"root": "x"}),
    );

    let receipt = run.post(
        "/v1/proofs",
        "/v1/proofs",
        Some(LAND),
        &fixture.proven("CASE-1", 0, 11),
    );
    run.post(
        "/v1/proofs",
        "/v1/proofs",
        None,
        &fixture.proven("CASE-1", 0, 11),
    );
    let batch =
        json!({"items": [fixture.proven("CASE-2", 1, 12), fixture.proven("CASE-1", 0, 11), 7]});
    run.post("/v1/proofs/batch", "/v1/proofs/batch", Some(LAND), &batch);
    run.get("/v1/cases/{case_id}", "/v1/cases/CASE-1", None);
    let compare = "/v1/cases/{case_id}/compare";
    run.get(
        compare,
        &format!("/v1/cases/CASE-1/compare?require={key_id}"),
        None,
    );
    run.get(compare, "/v1/cases/CASE-1/compare?require=,", None);
    let decisions = "/v1/cases/{case_id}/decisions";
    let decision = json!({"decision": "approved", "results": [receipt["index"]]});
    run.post(
        decisions,
        "/v1/cases/CASE-1/decisions",
        Some(HEALTH),
        &decision,
    );
    run.post(
        decisions,
        "/v1/cases/CASE-2/decisions",
        Some(HEALTH),
        &decision,
    );

    // An application, proved, decided and licensed.
    run.get("/v1/procedures", "/v1/procedures", None);
    let procedure = json!({"procedure": CLINIC_PROCEDURE});
    run.post("/v1/procedures", "/v1/procedures", Some(HEALTH), &procedure);
    let form = json!({"procedure": "clinic", "inputs": {"credit_code": "ID-1"}});
    let applied = run.post("/v1/applications", "/v1/applications", None, &form);
    let case_id = applied["case_id"].as_str().unwrap().to_string();
    let session = "/v1/applications/{case_id}/session";
    let code = json!({"access_code": applied["access_code"]});
    let opened = run.post(
        session,
        &format!("/v1/applications/{case_id}/session"),
        None,
        &code,
    );
    run.post(
        session,
        &format!("/v1/applications/{case_id}/session"),
        None,
        &json!({"access_code": "X"}),
    );
    let token = opened["token"].as_str().unwrap().to_string();
    let application = "/v1/applications/{case_id}";
    run.get(
        application,
        &format!("/v1/applications/{case_id}"),
        Some(&token),
    );
    run.get(application, &format!("/v1/applications/{case_id}"), None);
    run.get("/v1/cases", "/v1/cases", Some(HEALTH));
    run.get("/v1/cases", "/v1/cases?page=0", Some(HEALTH));
    let status = "/v1/cases/{case_id}/status";
    run.get(status, &format!("/v1/cases/{case_id}/status"), Some(HEALTH));
    run.get("/v1/work/queue", "/v1/work/queue", Some(LAND));
    let leased = run.get("/v1/work", "/v1/work?limit=10", Some(LAND));
    run.get("/v1/work", "/v1/work?limit=0", Some(LAND));
    let work = leased["work"][0].clone();
    let id = work["id"].as_i64().unwrap();
    let mut answer = fixture.work_proof(&work, 0);
    answer["id"] = json!(id);
    let items = json!({"items": [answer, {"id": 999, "outcome": "proof"}]});
    run.post("/v1/work", "/v1/work", Some(LAND), &items);
    let one = "/v1/work/{id}";
    run.post(
        one,
        &format!("/v1/work/{id}"),
        Some(LAND),
        &fixture.work_proof(&work, 0),
    );
    run.post(
        one,
        "/v1/work/999",
        Some(LAND),
        &json!({"outcome": "proof"}),
    );
    let licence = "/v1/applications/{case_id}/licence";
    run.get(
        licence,
        &format!("/v1/applications/{case_id}/licence"),
        Some(&token),
    );
    run.client.issue_next_licence();
    run.get(
        licence,
        &format!("/v1/applications/{case_id}/licence"),
        Some(&token),
    );
    let events = "/v1/applications/{case_id}/events";
    run.get(
        events,
        &format!("/v1/applications/{case_id}/events"),
        Some(&token),
    );
    run.get(events, &format!("/v1/applications/{case_id}/events"), None);

    run.get("/v1/governance", "/v1/governance", None);
    let signature = json!({"signature": {"key_id": "00000000", "signed_at": "2026-11-24T10:00:00Z", "signature": "AA=="}});
    let endorsements = "/v1/governance/endorsements";
    run.post(endorsements, endorsements, Some(LAND), &signature);

    run.get("/v1/log/key", "/v1/log/key", None);
    run.get("/v1/log/checkpoint", "/v1/log/checkpoint", None);
    run.get("/v1/log/entries", "/v1/log/entries?start=0", None);
    run.get("/v1/log/entries", "/v1/log/entries?start=999", None);
    run.get(
        "/v1/log/inclusion",
        "/v1/log/inclusion?index=1&size=3",
        None,
    );
    run.get(
        "/v1/log/consistency",
        "/v1/log/consistency?old=1&new=3",
        None,
    );
    let size = run.client.get("/healthz").1["log_size"].as_u64().unwrap();
    let tile = "/v1/log/tile/{path}";
    run.get(tile, &format!("/v1/log/tile/entries/000.p/{size}"), None);
    run.get(tile, "/v1/log/tile/entries/999", None);

    let document = document();
    let sampled = |ok: bool| -> BTreeSet<(&str, &str)> {
        run.samples
            .iter()
            .filter(|s| !ok || (200..300).contains(&s.status))
            .map(|s| (s.method, s.route))
            .collect()
    };
    let mut every: BTreeSet<(&str, &str)> = ROUTES.iter().copied().collect();
    assert_eq!(sampled(false), every, "a response of every route");
    // An endorsement needs a proposal, which needs departments with keys:
    // that route answers here with its 404 only.
    every.remove(&("POST", "/v1/governance/endorsements"));
    assert_eq!(
        sampled(true),
        every,
        "a successful response of every other route"
    );
    let failures: Vec<String> = run
        .samples
        .iter()
        .filter_map(|s| check(&document, s).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    service.shutdown().unwrap();
}

#[test]
fn a_body_that_breaks_its_schema_is_caught() {
    let document = document();
    let sample = |route: &'static str, status: u16, body: Value| Sample {
        method: "GET",
        route,
        status,
        content_type: "application/json".into(),
        body: body.to_string(),
    };
    assert_eq!(
        check(
            &document,
            &sample("/healthz", 200, json!({"status": "ok", "log_size": 3}))
        ),
        Ok(())
    );
    for wrong in [
        json!({"status": "ok"}),
        json!({"status": "fine", "log_size": 3}),
        json!({"status": "ok", "log_size": -1}),
    ] {
        let result = check(&document, &sample("/healthz", 200, wrong.clone()));
        assert!(result.is_err(), "{wrong} passed");
    }
    let keys = json!({"keys": [{"key_id": "ab", "registry": "r", "policy": "p",
        "public_inputs": [], "log_index": 1}]});
    let result = check(&document, &sample("/v1/keys", 200, keys));
    assert!(
        result.unwrap_err().contains("key_id"),
        "the key id's pattern"
    );
    let error = json!({"error": {"reason": "no_such_reason", "message": "m"}});
    assert!(check(&document, &sample("/v1/keys/{key_id}", 404, error)).is_err());
    let result = check(&document, &sample("/healthz", 418, json!({})));
    assert!(result.unwrap_err().contains("not documented"));
}
