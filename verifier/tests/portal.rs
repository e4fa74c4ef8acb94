//! The web portal over HTTP, as a browser without JavaScript uses it:
//! apply one question at a time, check the answers, get the case number
//! and access code, track the case under the session cookie, download the
//! licence, and read every kind of entry in the public explorer. The
//! pages' security headers, the cross-site form refusal, the languages and
//! the escaping of what departments write are checked on the way.

mod fixture;

use fixture::{Fixture, CLINIC_PROCEDURE, HEALTH, LAND};
use reqwest::blocking::{Client as Http, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zkgov_log::checkpoint::LogVerifier;
use zkgov_log::licence::LicenceDocument;
use zkgov_verifier::service::web::CONTENT_SECURITY_POLICY;
use zkgov_verifier::service::RunningService;

/// The clinic procedure, with markup in its title that must show as text.
fn procedure() -> String {
    CLINIC_PROCEDURE.replace("\"Clinic licence\"", "\"Clinic <b>licence</b> & more\"")
}

/// A browser without JavaScript: it keeps the session cookie it is given,
/// follows no redirect by itself, and says which language it prefers.
struct Browser {
    base: String,
    http: Http,
    cookies: Vec<String>,
    language: &'static str,
}

/// `application/x-www-form-urlencoded`.
fn form(fields: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Browser {
    fn new(service: &RunningService, language: &'static str) -> Browser {
        Browser {
            base: service.url(),
            http: Http::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
            language,
        }
    }

    fn keep_cookies(&mut self, response: &Response) {
        for value in response.headers().get_all("set-cookie") {
            let pair = value
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string();
            let name = pair.split('=').next().unwrap().to_string();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            self.cookies.push(pair);
        }
    }

    fn send(&mut self, request: reqwest::blocking::RequestBuilder) -> (u16, Response) {
        let mut request = request.header("accept-language", self.language);
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookies.join("; "));
        }
        let response = request.send().unwrap();
        self.keep_cookies(&response);
        (response.status().as_u16(), response)
    }

    fn get(&mut self, path: &str) -> (u16, String) {
        let request = self.http.get(format!("{}{path}", self.base));
        let (status, response) = self.send(request);
        (status, response.text().unwrap())
    }

    fn get_response(&mut self, path: &str) -> Response {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).1
    }

    fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(form(fields));
        self.send(request).1
    }
}

/// The text of the element with this id (its first text, unescaped of
/// nothing: ids used here hold plain text).
fn by_id<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find('<').unwrap();
    &html[start..end]
}

/// Undoes the escaping the templates apply, for comparing text.
fn unescape(html: &str) -> String {
    [
        ("&#60;", "<"),
        ("&lt;", "<"),
        ("&#62;", ">"),
        ("&gt;", ">"),
        ("&#34;", "\""),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&#38;", "&"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(html.to_string(), |text, (from, to)| text.replace(from, to))
}

fn start(fixture: &Fixture) -> (tempfile::TempDir, RunningService, fixture::Client) {
    fixture.service_with(&procedure(), "")
}

/// Applies through the pages and returns the case number and access code.
fn apply(browser: &mut Browser, credit_code: &str) -> (String, String) {
    let (status, page) = browser.get("/apply/clinic");
    assert_eq!(status, 200);
    assert!(page.contains("Unified social credit code"), "{page}");
    let check = browser.post(
        "/apply/clinic",
        &[("at", "0"), ("a.credit_code", credit_code)],
    );
    let check = check.text().unwrap();
    assert!(check.contains(credit_code), "{check}");
    let sent = browser.post(
        "/apply/clinic",
        &[("a.credit_code", credit_code), ("send", "1")],
    );
    assert_eq!(sent.status(), 200);
    let page = sent.text().unwrap();
    (
        by_id(&page, "case-number").to_string(),
        by_id(&page, "access-code").to_string(),
    )
}

#[test]
fn an_applicant_applies_one_question_at_a_time_and_tracks_a_refusal_in_both_languages() {
    let fixture = Fixture::new();
    let (_data, service, client) = start(&fixture);
    let mut browser = Browser::new(&service, "en-GB,en;q=0.9");

    // The home page, with the headers every page carries.
    let home = browser.get_response("/");
    assert_eq!(home.status(), 200);
    let headers = home.headers().clone();
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    let html = home.text().unwrap();
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    assert!(html.contains("Start an application"));

    // What departments write is escaped.
    let (_, list) = browser.get("/apply");
    assert!(!list.contains("<b>licence</b>"), "{list}");
    assert!(
        unescape(&list).contains("Clinic <b>licence</b> & more"),
        "{list}"
    );

    // Field-level errors, each on the question's own page.
    for (answer, message) in [
        ("", "Enter Unified social credit code"),
        (
            "1234567890123456789",
            "Unified social credit code must be at most 18 bytes",
        ),
    ] {
        let response = browser.post("/apply/clinic", &[("at", "0"), ("a.credit_code", answer)]);
        assert_eq!(response.status(), 200);
        let page = response.text().unwrap();
        assert!(page.contains(message), "{page}");
        assert!(page.contains("aria-invalid=\"true\""), "{page}");
        assert!(page.contains("There is a problem"), "{page}");
    }
    // A field the procedure does not ask for is a malformed form.
    let response = browser.post("/apply/clinic", &[("at", "0"), ("a.name", "x")]);
    assert_eq!(response.status(), 400);
    // Every form has a body limit.
    let big = "x".repeat(20 * 1024);
    let response = browser.post("/apply/clinic", &[("at", "0"), ("a.credit_code", &big)]);
    assert_eq!(response.status(), 413);
    // "Change" goes back to the question with the answer in place.
    let response = browser.post("/apply/clinic", &[("a.credit_code", "ID-3"), ("goto", "0")]);
    let page = response.text().unwrap();
    assert!(page.contains("value=\"ID-3\""), "{page}");

    // A form posted from another site is refused.
    let response = browser
        .http
        .post(format!("{}/apply/clinic", browser.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(form(&[("a.credit_code", "ID-3"), ("send", "1")]))
        .send()
        .unwrap();
    assert_eq!(response.status(), 403);

    // Sending gives the case number, the access code and the session.
    let sent = browser.post("/apply/clinic", &[("a.credit_code", "ID-3"), ("send", "1")]);
    assert_eq!(sent.status(), 200);
    assert_eq!(sent.headers()["cache-control"], "no-store");
    let cookie = sent.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("zkgov_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let page = sent.text().unwrap();
    let case_id = by_id(&page, "case-number").to_string();
    let code = by_id(&page, "access-code").to_string();
    assert!(case_id.starts_with("DJY-"), "{case_id}");
    assert_eq!(code.len(), 24, "{code}");
    assert!(page.contains("it is shown only this once"), "{page}");

    // A browser without the session is asked for the code; the code goes
    // in the form body and never in a URL.
    let mut other = Browser::new(&service, "zh-CN,zh;q=0.9");
    let response = other.get_response(&format!("/track/{case_id}"));
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("/track?case={case_id}")
    );
    let wrong = other.post(
        "/track",
        &[("case_id", &case_id), ("access_code", "0000-0000")],
    );
    assert_eq!(wrong.status(), 403);
    assert!(wrong.text().unwrap().contains("案件编号与查询码不匹配"));
    let right = other.post(
        "/track",
        &[("case_id", &case_id), ("access_code", &code.to_lowercase())],
    );
    assert_eq!(right.status(), 303);
    let location = right.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("/track/{case_id}"));
    assert!(!location.contains(&code));
    let (status, page) = other.get(&location);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<html lang=\"zh-CN\">"));
    assert!(page.contains("等待核验"), "{page}");
    assert!(page.contains("track.js"), "the page follows the events");
    assert!(
        page.contains("http-equiv=\"refresh\""),
        "and refreshes without JavaScript"
    );

    // The land registry finds the premises too small: the page names the
    // condition in words, with the case's params in place.
    client.answer_next(
        LAND,
        |_| json!({ "outcome": "not_satisfied", "conditions": ["area_m2 >= $min_area"] }),
    );
    let (_, page) = other.get(&location);
    assert!(page.contains("area_m2须不低于 120"), "{page}");
    assert!(page.contains("未获批准"), "{page}");
    assert!(
        !page.contains("http-equiv=\"refresh\""),
        "settled: nothing more to wait for"
    );
    let (_, page) = browser.get(&location);
    assert!(page.contains("area_m2 must be at least 120"), "{page}");
    assert!(page.contains("Refused"), "{page}");

    // The language switch keeps the choice and comes back to the page.
    let switch = browser.get_response(&format!("/lang?to=zh-CN&back=%2Ftrack%2F{case_id}"));
    assert_eq!(switch.status(), 303);
    assert_eq!(switch.headers()["location"], location.as_str());
    let (_, page) = browser.get(&location);
    assert!(page.contains("不符合要求"), "{page}");
    let away = browser.get_response("/lang?to=en&back=%2F%2Fevil.example");
    assert_eq!(away.headers()["location"], "/", "only a path on this site");
    service.shutdown().unwrap();
}

#[test]
fn a_licence_downloads_with_its_digest_and_every_entry_reads_in_the_explorer() {
    let fixture = Fixture::new();
    let (_data, service, client) = start(&fixture);
    let mut browser = Browser::new(&service, "en");
    let (case_id, code) = apply(&mut browser, "ID-1");

    // Proved, decided automatically, and issued by the health department.
    let work = client.answer_next(LAND, |work| fixture.work_proof(work, 0));
    let track = format!("/track/{case_id}");
    let (_, page) = browser.get(&track);
    assert!(
        page.contains("Verified") && page.contains("Approved"),
        "{page}"
    );
    assert!(page.contains("being entered in the registry"), "{page}");
    client.issue_next_licence();

    // The status page shows the licence, its digest and a QR code of the
    // verification link, which pins the log's key.
    let (_, page) = browser.get(&track);
    let digest = by_id(&page, "licence-digest").to_string();
    let link = unescape(by_id(&page, "verification-link"));
    assert!(page.contains("src=\"data:image/svg+xml;base64,"), "{page}");
    assert!(
        link.contains(&format!("/verify#digest={digest}&key=")),
        "{link}"
    );
    let download = browser.get_response(&format!("{track}/licence.json"));
    assert_eq!(download.status(), 200);
    assert!(download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"licence-YL-"));
    let bytes = download.bytes().unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), digest);
    let document: LicenceDocument = serde_json::from_slice(&bytes).unwrap();
    let log_key = LogVerifier::from_verifier_key(&service.verifier_key).unwrap();
    document.verify(&log_key).unwrap();
    // Another browser cannot download it.
    let mut stranger = Browser::new(&service, "en");
    let response = stranger.get_response(&format!("{track}/licence.json"));
    assert_eq!(response.status(), 303);

    // The explorer: the checkpoint, and every entry decoded by its type.
    let (status, index) = stranger.get("/log");
    assert_eq!(status, 200);
    let size: u64 = by_id(&index, "log-size").parse().unwrap();
    assert!(index.contains("— "), "the signed note: {index}");
    let mut kinds = std::collections::BTreeSet::new();
    for i in 0..size {
        let (status, page) = stranger.get(&format!("/log/entries/{i}"));
        assert_eq!(status, 200, "{page}");
        kinds.insert(by_id(&page, "entry-type").to_string());
        assert!(page.contains(&format!("/v1/log/inclusion?index={i}&amp;size={size}")));
        for secret in ["ID-1", code.as_str(), work["case_secret"].as_str().unwrap()] {
            assert!(!page.contains(secret), "entry {i} shows a secret");
        }
    }
    let expected = [
        "Governance",
        "Verifying key",
        "Procedure",
        "Registry root",
        "Case",
        "Proof result",
        "Decision",
    ];
    for kind in expected {
        assert!(kinds.contains(kind), "{kind} not among {kinds:?}");
    }
    let (_, key_entry) = stranger.get("/log/entries/1");
    assert!(
        unescape(&key_entry).contains("area_m2 >= $min_area"),
        "the policy text: {key_entry}"
    );
    // The key's provenance: its setup and its circuit.
    assert!(
        key_entry.contains("<dt>Setup</dt><dd>Single-party: insecure for production</dd>")
            && key_entry.contains("<dt>Circuit</dt><dd>arity 4, depth 2, R1CS digest "),
        "the provenance: {key_entry}"
    );
    let (_, governance) = stranger.get("/log/entries/0");
    assert!(
        governance.contains("<dt>Keys must come from a multi-party ceremony</dt><dd>No</dd>"),
        "{governance}"
    );

    // Search by case number, entry index and key id; a miss says so.
    let found = stranger.get_response(&format!("/log/search?q={case_id}"));
    assert_eq!(found.status(), 303);
    let case_page = found.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(case_page, format!("/log/cases/{case_id}"));
    let (_, page) = stranger.get(&case_page);
    assert!(page.contains("min_area = 120"), "decoded params: {page}");
    assert!(page.contains("Approved"), "{page}");
    let found = stranger.get_response("/log/search?q=2");
    assert_eq!(found.headers()["location"], "/log/entries/2");
    let keys: Value = stranger.get_response("/v1/keys").json().unwrap();
    let key_id = keys["keys"][0]["key_id"].as_str().unwrap().to_string();
    let found = stranger.get_response(&format!("/log/search?q={key_id}"));
    assert_eq!(
        found.headers()["location"],
        format!("/log/keys/{key_id}").as_str()
    );
    let (status, page) = stranger.get(&format!("/log/keys/{key_id}"));
    assert_eq!(status, 200);
    assert!(page.contains("medical-premises"), "{page}");
    let (status, page) = stranger.get("/log/search?q=nothing-like-it");
    assert_eq!(status, 404);
    assert!(page.contains("nothing-like-it"), "{page}");

    // Assets are embedded, hashed and revalidated; unknown pages and API
    // routes answer in their own kind.
    let css = stranger.get_response("/assets/style.css");
    assert_eq!(css.status(), 200);
    let etag = css.headers()["etag"].to_str().unwrap().to_string();
    let again = stranger
        .http
        .get(format!("{}/assets/style.css", stranger.base))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    let (status, page) = stranger.get("/no-such-page");
    assert_eq!(status, 404);
    assert!(page.contains("Page not found"));
    let (status, body) = client.get("/v1/no-such-route");
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (404, Some("not_found"))
    );
    service.shutdown().unwrap();
}

/// The value of the first hidden `csrf` field of a page.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

#[test]
fn a_clerk_signs_in_to_the_desk_and_approves_a_review_case_with_its_evidence_beside_it() {
    let fixture = Fixture::new();
    let review = CLINIC_PROCEDURE.replace("rule = \"automatic\"", "rule = \"review\"");
    let (_data, service, client) = fixture.service_with(&review, "");
    let (status, body) = client.post(
        "/v1/applications",
        None,
        &json!({ "procedure": "clinic", "inputs": { "credit_code": "ID-1" } }),
    );
    assert_eq!(status, 201, "{body}");
    let case_id = body["case_id"].as_str().unwrap().to_string();
    client.answer_next(LAND, |work| fixture.work_proof(work, 0));

    let mut clerk = Browser::new(&service, "en");
    let (_, page) = clerk.get("/desk");
    assert!(
        page.contains("type=\"password\""),
        "the sign-in form: {page}"
    );
    let wrong = clerk.post("/desk/sign-in", &[("token", "not-a-token")]);
    assert_eq!(wrong.status(), 403);
    assert!(wrong.text().unwrap().contains("not one the service knows"));
    let signed = clerk.post("/desk/sign-in", &[("token", HEALTH)]);
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["zkgov_desk=", "Path=/desk", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains(HEALTH),
        "the token itself is not the cookie"
    );

    // The case waits, with its evidence and decoded params beside it.
    let (status, page) = clerk.get("/desk");
    assert_eq!(status, 200);
    assert!(page.contains("Desk of health"), "{page}");
    assert!(page.contains(&case_id), "{page}");
    assert!(page.contains("min_area = 120"), "{page}");
    assert!(page.contains("Verified"), "{page}");
    let token = csrf(&page);
    let decision = format!("/desk/cases/{case_id}/decision");

    // A form without the session's CSRF token records nothing.
    let forged = clerk.post(&decision, &[("csrf", "0"), ("decision", "approved")]);
    assert_eq!(forged.status(), 403);
    let mut stranger = Browser::new(&service, "en");
    let outside = stranger.post(&decision, &[("csrf", &token), ("decision", "approved")]);
    assert_eq!(outside.status(), 303, "no session: back to the sign-in");
    let (_, status_body) = client.get_as(&format!("/v1/cases/{case_id}/status"), HEALTH);
    assert_eq!(status_body["status"], "open");

    // A refusal needs a reason: the rules say so on the desk.
    let response = clerk.post(&decision, &[("csrf", &token), ("decision", "refused")]);
    assert!(response
        .text()
        .unwrap()
        .contains("a refusal gives its reason"));
    let approved = clerk.post(&decision, &[("csrf", &token), ("decision", "approved")]);
    assert_eq!(approved.status(), 200);
    let page = approved.text().unwrap();
    assert!(
        page.contains(&format!("The decision on {case_id} is in the log.")),
        "{page}"
    );
    assert!(page.contains("No case waits for a decision."), "{page}");
    let (_, status_body) = client.get_as(&format!("/v1/cases/{case_id}/status"), HEALTH);
    assert_eq!(status_body["status"], "approved", "{status_body}");
    assert_eq!(status_body["decision"]["automatic"], false);
    // The approval asks the licence registry's department for its licence.
    let (_, leased) = client.get_as("/v1/work", HEALTH);
    let licence = &leased["work"][0];
    assert_eq!(licence["kind"], "licence", "{leased}");
    assert_eq!(licence["case_id"], case_id.as_str(), "{leased}");

    // Signing out ends the session.
    let out = clerk.post("/desk/sign-out", &[("csrf", &token)]);
    assert_eq!(out.status(), 303);
    let (_, page) = clerk.get("/desk");
    assert!(page.contains("type=\"password\""), "{page}");
    service.shutdown().unwrap();
}
