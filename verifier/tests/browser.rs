//! The portal in a real browser: Debian's headless Chromium, driven
//! through chromedriver. An applicant applies on a phone-sized window and
//! watches the status change live as the department proves; the same flow
//! runs with JavaScript off, in Chinese, with the language switch; axe-core
//! checks every page for serious or critical WCAG 2.2 AA violations; and
//! screenshots at 360 and 1280 px go to `target/portal-screenshots/`.

mod fixture;
mod support;

use fixture::{Fixture, CLINIC_PROCEDURE, HEALTH, LAND};
use serde_json::json;
use support::browser::{Browser, Options};

/// Checks the page with axe and saves its screenshot under `name`.
fn check(browser: &Browser, name: &str) {
    browser.assert_accessible(name);
    browser.screenshot(name);
}

#[test]
fn an_applicant_applies_on_a_phone_and_watches_the_case_live_until_the_licence() {
    let fixture = Fixture::new();
    let (_data, service, client) = fixture.service_with(CLINIC_PROCEDURE, "");
    let base = service.url();
    let browser = Browser::start(Options {
        javascript: true,
        width: 360,
        languages: "en-GB,en",
    });

    browser.goto(&format!("{base}/"));
    check(&browser, "home-360");
    browser.click_text("Start an application");
    check(&browser, "apply-360");
    browser.click_text("Clinic licence");
    assert_eq!(browser.text("h1"), "Unified social credit code");
    browser.click_text("Continue");
    assert!(browser
        .text(".error-message")
        .contains("Enter Unified social credit code"));
    check(&browser, "question-error-360");
    browser.fill("#answer", "ID-1");
    browser.click_text("Continue");
    assert!(browser.text("h1").starts_with("Check your answers"));
    check(&browser, "check-360");
    browser.click_text("Accept and send");
    let case_id = browser.text("#case-number");
    let code = browser.text("#access-code");
    assert!(case_id.starts_with("DJY-"), "{case_id}");
    assert!(!browser.url().contains(&code));
    check(&browser, "confirmation-360");

    // The status page follows the event stream.
    browser.click_text("Track your application");
    let track = format!("{base}/track/{case_id}");
    assert_eq!(browser.url(), track);
    browser.wait_for("the live note", |html| {
        html.contains("id=\"live-note\"") && !html.contains("id=\"live-note\" hidden")
    });
    assert_eq!(
        browser.attr("#case-state", "data-state").as_deref(),
        Some("open")
    );
    check(&browser, "status-pending-360");
    let weight = browser.script(
        "const nav = performance.getEntriesByType('navigation')[0];
         const paint = performance.getEntriesByName('first-contentful-paint')[0];
         const assets = performance.getEntriesByType('resource')
           .filter(r => r.name.includes('/assets/'))
           .reduce((n, r) => n + r.decodedBodySize, 0);
         return [nav.decodedBodySize, assets, paint ? paint.startTime : -1];",
    );
    eprintln!(
        "status page: {} bytes of HTML, {} bytes of assets, first contentful paint at {:.0} ms",
        weight[0],
        weight[1],
        weight[2].as_f64().unwrap_or(-1.0)
    );

    // The land registry proves the premises: the page changes by itself.
    client.answer_next(LAND, |work| fixture.work_proof(work, 0));
    browser.wait_for("the approval, live", |html| {
        html.contains("data-state=\"approved\"") && html.contains("data-updates=")
    });
    assert_eq!(browser.url(), track, "updated in place, not reloaded");

    // The health department issues the licence; the download appears.
    client.issue_next_licence();
    browser.wait_for("the licence", |html| {
        html.contains("id=\"licence-download\"")
    });
    check(&browser, "status-licensed-360");

    // The licence, checked in the browser from its verification link.
    let licence = browser.script_async(&format!(
        "const done = arguments[arguments.length - 1];
         fetch('/track/{case_id}/licence.json').then(r => r.text()).then(done);"
    ));
    let licence = licence.as_str().unwrap().to_string();
    let files = tempfile::tempdir().unwrap();
    let genuine = files.path().join("licence.json");
    std::fs::write(&genuine, &licence).unwrap();
    let link = browser.text("#verification-link");
    assert!(
        link.starts_with(&format!("{base}/verify#digest=")),
        "{link}"
    );
    browser.goto(&link);
    browser.upload("#licence-file", &genuine);
    browser.press("#verify button");
    let page = browser.wait_for("the verdict", |html| html.contains("data-valid="));
    assert!(page.contains("data-valid=\"true\""), "{page}");
    assert!(browser
        .text("#verdict")
        .contains(&case_id.replacen("DJY", "YL", 1)));
    check(&browser, "verify-valid-360");
    // An edited licence fails: against the link's digest, and field by
    // field against the log's approval when no digest is pinned.
    let edited = files.path().join("edited.json");
    std::fs::write(&edited, licence.replace("\"clinic\"", "\"hospital\"")).unwrap();
    browser.upload("#licence-file", &edited);
    browser.press("#verify button");
    browser.wait_for("the digest refusal", |html| {
        html.contains("data-valid=\"false\"")
    });
    assert!(browser.text("#verdict").contains("its digest differs"));
    let key = link.split("&key=").nth(1).unwrap().to_string();
    browser.goto(&format!("{base}/"));
    browser.goto(&format!("{base}/verify#key={key}"));
    browser.upload("#licence-file", &edited);
    browser.press("#verify button");
    browser.wait_for("the field refusal", |html| {
        html.contains("data-valid=\"false\"")
    });
    let verdict = browser.text("#verdict");
    assert!(
        verdict.contains("licence's fields is not the one the log's approval states"),
        "{verdict}"
    );
    check(&browser, "verify-edited-360");

    // The public explorer, every entry of the log, a case, a key, a miss.
    browser.goto(&format!("{base}/log"));
    check(&browser, "log-360");
    let size: u64 = browser.text("#log-size").parse().unwrap();
    for i in 0..size {
        browser.goto(&format!("{base}/log/entries/{i}"));
        let kind = browser.text("#entry-type");
        browser.assert_accessible(&format!("entry {i} ({kind})"));
    }
    browser.goto(&format!("{base}/log/cases/{case_id}"));
    check(&browser, "case-360");
    browser.goto(&format!("{base}/log/search?q=nothing"));
    browser.assert_accessible("search miss");
    browser.goto(&format!("{base}/no-such-page"));
    browser.assert_accessible("not found");
    browser.goto(&format!("{base}/track"));
    browser.fill("#case-id", &case_id);
    browser.fill("#access-code", "WRONG");
    browser.click_text("Show my application");
    assert!(browser.text(".error-summary").contains("do not match"));
    browser.assert_accessible("sign-in error");

    // The same pages at desktop width.
    let wide = Browser::start(Options {
        javascript: true,
        width: 1280,
        languages: "en-GB,en",
    });
    wide.goto(&format!("{base}/track?case={case_id}"));
    wide.fill("#access-code", &code);
    wide.click_text("Show my application");
    assert_eq!(wide.url(), track);
    check(&wide, "status-licensed-1280");
    wide.goto(&format!("{base}/log"));
    check(&wide, "log-1280");

    // The health department's desk approves a case of a review procedure.
    let review = CLINIC_PROCEDURE
        .replace("name = \"clinic\"", "name = \"clinic-review\"")
        .replace("rule = \"automatic\"", "rule = \"review\"")
        .replace("case_prefix = \"DJY\"", "case_prefix = \"DJR\"");
    let (status, body) = client.post(
        "/v1/procedures",
        Some(HEALTH),
        &json!({ "procedure": review }),
    );
    assert_eq!(status, 201, "{body}");
    let (_, applied) = client.post(
        "/v1/applications",
        None,
        &json!({ "procedure": "clinic-review", "inputs": { "credit_code": "ID-1" } }),
    );
    let review_case = applied["case_id"].as_str().unwrap().to_string();
    client.answer_next(LAND, |work| fixture.work_proof(work, 0));
    wide.goto(&format!("{base}/desk"));
    wide.assert_accessible("desk sign-in");
    wide.fill("#token", HEALTH);
    wide.click_text("Sign in");
    assert!(wide.text("main").contains(&review_case));
    check(&wide, "desk-1280");
    wide.click_text("Approve");
    assert!(wide.text("#desk-message").contains("is in the log"));
    let (_, view) = client.get_as(&format!("/v1/cases/{review_case}/status"), HEALTH);
    assert_eq!(view["status"], "approved", "{view}");
    drop(wide);
    drop(browser);
    service.shutdown().unwrap();
}

#[test]
fn without_javascript_in_chinese_an_applicant_applies_tracks_and_switches_language() {
    let fixture = Fixture::new();
    let (_data, service, client) = fixture.service_with(CLINIC_PROCEDURE, "");
    let base = service.url();
    let browser = Browser::start(Options {
        javascript: false,
        width: 1280,
        languages: "zh-CN,zh",
    });
    browser.goto(&format!("{base}/apply/clinic"));
    assert!(browser.source().contains("lang=\"zh-CN\""));
    browser.fill("#answer", "ID-2");
    browser.click_text("继续");
    assert_eq!(browser.text("h1"), "提交申请前，请核对您的回答");
    browser.click_text("确认并提交");
    let case_id = browser.text("#case-number");
    browser.screenshot("confirmation-zh-1280");
    browser.click_text("查询申请进度");
    assert!(browser.text("#status").contains("等待核验"));
    assert!(
        browser.attr("#live-note", "hidden").is_some(),
        "no script ran: the live note stays hidden"
    );

    // The department answers; the refresh link shows it.
    client.answer_next(
        LAND,
        |_| json!({ "outcome": "not_satisfied", "conditions": ["area_m2 >= $min_area"] }),
    );
    browser.click_text("刷新");
    let status = browser.text("#status");
    assert!(status.contains("未获批准"), "{status}");
    assert!(status.contains("area_m2须不低于 120"), "{status}");
    browser.screenshot("status-refused-zh-1280");

    // The switch changes the language and stays on the page.
    browser.click("#lang-switch");
    assert_eq!(browser.url(), format!("{base}/track/{case_id}"));
    let status = browser.text("#status");
    assert!(status.contains("Refused"), "{status}");
    assert!(status.contains("area_m2 must be at least 120"), "{status}");
    assert!(browser.source().contains("lang=\"en\""));
    drop(browser);
    service.shutdown().unwrap();
}
