//! Tracking a case: the access code is exchanged for the applicant
//! session cookie (in a form body, never a URL), and the status page shows
//! each item of evidence, the decision and the licence. With JavaScript it
//! follows the case's event stream (`assets/track.js`).

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::super::applications::{open_session, status_of, ClientAddr};
use super::super::auth::{check_session_case, ApplicantAuth};
use super::super::error::ApiError;
use super::super::licence::licence_document;
use super::super::AppState;
use super::text::{fill, Text};
use super::{failure, form_error, path_segment, render, Ctx};

#[derive(Template)]
#[template(path = "track_sign_in.html")]
struct SignIn<'a> {
    ctx: &'a Ctx,
    case_id: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub(super) struct Prefill {
    #[serde(default)]
    case: String,
}

/// `GET /track`: the case number and access code form. A case number (not
/// secret) may be filled in from `?case=`.
pub(super) async fn sign_in_page(
    ctx: Ctx,
    query: Result<Query<Prefill>, QueryRejection>,
) -> Response {
    let case = query.map(|q| q.0.case).unwrap_or_default();
    let case = if case.len() <= 64 {
        case
    } else {
        String::new()
    };
    render(
        &ctx,
        &SignIn {
            ctx: &ctx,
            case_id: &case,
            error: None,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInForm {
    case_id: String,
    access_code: String,
}

/// `POST /track`: checks the access code and sets the session cookie, then
/// goes to the status page.
pub(super) async fn sign_in(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    addr: Option<Extension<ClientAddr>>,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => return failure(&ctx, form_error(rejection)),
    };
    let case_id = form.case_id.trim().to_ascii_uppercase();
    let code = form.access_code.trim().to_ascii_uppercase();
    let opened = open_session(&state, addr.map(|a| a.0), &case_id, &code, ctx.secure).await;
    match opened {
        Ok(session) => {
            let mut response =
                Redirect::to(&format!("/track/{}", path_segment(&case_id))).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session.cookie);
            response
        }
        Err(ApiError::Forbidden(_)) => {
            let page = SignIn {
                ctx: &ctx,
                case_id: &case_id,
                error: Some(ctx.t.track_mismatch),
            };
            (StatusCode::FORBIDDEN, render(&ctx, &page)).into_response()
        }
        Err(e) => failure(&ctx, e),
    }
}

/// One item of evidence as the page shows it.
struct Item {
    title: String,
    /// The CSS class of its state.
    class: &'static str,
    label: &'static str,
    /// The failed conditions, in words.
    conditions: Vec<String>,
}

struct Decision {
    class: &'static str,
    label: &'static str,
    automatic: bool,
    note: String,
    time: String,
}

struct Licence {
    number: String,
    issued: bool,
    digest: String,
    link: String,
    /// The QR code, as a `data:` URI of an SVG image.
    qr: String,
}

#[derive(Template)]
#[template(path = "track_status.html")]
struct Status<'a> {
    ctx: &'a Ctx,
    case_id: &'a str,
    heading: String,
    title: String,
    created: String,
    class: &'static str,
    label: &'static str,
    items: Vec<Item>,
    decision: Option<Decision>,
    licence: Option<Licence>,
    settled: bool,
}

/// A case's state in words.
fn case_label(t: &Text, status: &str) -> (&'static str, &'static str) {
    match status {
        "approved" => ("approved", t.case_approved),
        "refused" => ("refused", t.case_refused),
        "revoked" => ("revoked", t.case_revoked),
        _ => ("open", t.case_open),
    }
}

/// An item's state in words.
fn item_label(t: &Text, status: &str) -> (&'static str, &'static str) {
    match status {
        "verified" => ("verified", t.item_verified),
        "pending" => ("pending", t.item_pending),
        "in_progress" => ("in_progress", t.item_in_progress),
        "not_needed" => ("not_needed", t.item_not_needed),
        "not_satisfied" => ("unmet", t.item_not_satisfied),
        "subject_not_found" => ("unmet", t.item_subject_not_found),
        "revoked" => ("unmet", t.item_revoked),
        "invalid_input" => ("unmet", t.item_invalid_input),
        _ => ("unmet", t.item_other),
    }
}

/// A policy condition, such as `area_m2 >= $min_area`, in words, with the
/// case's params in place: "area_m2 must be at least 120". A condition of
/// another shape is shown as written.
pub(super) fn plain_condition(t: &Text, condition: &str, params: &Value) -> String {
    let words: Vec<&str> = condition.split_whitespace().collect();
    let [field, op, value] = words[..] else {
        return condition.to_string();
    };
    let value = match value.strip_prefix('$') {
        Some(param) => match &params[param] {
            Value::String(s) => s.clone(),
            Value::Null => value.to_string(),
            other => other.to_string(),
        },
        None => value.to_string(),
    };
    let template = match op {
        ">=" => t.cond_ge,
        ">" => t.cond_gt,
        "<=" => t.cond_le,
        "<" => t.cond_lt,
        "==" => t.cond_eq,
        "!=" => t.cond_ne,
        _ => return condition.to_string(),
    };
    fill(template, &[field, &value])
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// The verification link a licence's QR code carries: the verification
/// page with the licence's digest and the log's key pinned, in the
/// fragment, which a browser does not send to the server.
fn verification_link(headers: &HeaderMap, secure: bool, digest: &str, key: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if secure { "https" } else { "http" };
    format!(
        "{scheme}://{host}/verify#digest={digest}&key={}",
        path_segment(key)
    )
}

/// An SVG QR code of `text`, as a `data:` URI.
fn qr_code(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// Whether the request's session reads `case_id`; otherwise the page asks
/// for the access code.
fn signed_in(auth: &Result<ApplicantAuth, ApiError>, case_id: &str) -> bool {
    auth.as_ref()
        .is_ok_and(|ApplicantAuth(session)| check_session_case(session, case_id).is_ok())
}

fn ask_for_code(case_id: &str) -> Response {
    Redirect::to(&format!("/track?case={}", path_segment(case_id))).into_response()
}

/// `GET /track/{case}`: the case's status, under its session.
pub(super) async fn status(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    headers: HeaderMap,
    auth: Result<ApplicantAuth, ApiError>,
    Path(case_id): Path<String>,
) -> Response {
    if !signed_in(&auth, &case_id) {
        return ask_for_code(&case_id);
    }
    let status = match status_of(&state, &case_id).await.and_then(|status| {
        serde_json::to_value(status)
            .map_err(|e| ApiError::Internal(format!("a case's status: {e}")))
    }) {
        Ok(status) => status,
        Err(e) => return failure(&ctx, e),
    };
    let t = ctx.t;
    let items = status["evidence"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let (class, label) = item_label(t, item["status"].as_str().unwrap_or_default());
            let conditions = item["conditions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .map(|c| plain_condition(t, c, &item["params"]))
                .collect();
            Item {
                title: text(&item["title"]),
                class,
                label,
                conditions,
            }
        })
        .collect();
    let decision = status["decision"].as_object().map(|d| {
        let (class, label) = case_label(t, d["decision"].as_str().unwrap_or_default());
        Decision {
            class,
            label,
            automatic: d["automatic"] == true,
            note: text(&d["note"]),
            time: text(&d["time"]),
        }
    });
    let mut licence = None;
    if let Some(l) = status["licence"].as_object() {
        let issued = l["issued"] == true;
        let (mut digest, mut link, mut qr) = Default::default();
        if issued {
            match licence_document(&state, &case_id).await {
                Ok(document) => {
                    let bytes = serde_json::to_vec(&document).unwrap_or_default();
                    digest = hex::encode(Sha256::digest(&bytes));
                    let key = state.signed.signer().verifier_key();
                    link = verification_link(&headers, ctx.secure, &digest, &key);
                    qr = qr_code(&link).unwrap_or_default();
                }
                Err(e) => return failure(&ctx, e),
            }
        }
        licence = Some(Licence {
            number: text(&l["number"]),
            issued,
            digest,
            link,
            qr,
        });
    }
    let (class, label) = case_label(t, status["status"].as_str().unwrap_or_default());
    let settled = class != "open" && licence.as_ref().is_none_or(|l| l.issued);
    let page = Status {
        ctx: &ctx,
        case_id: &case_id,
        heading: fill(t.status_title, &[&case_id]),
        title: text(&status["title"]),
        created: text(&status["created"]),
        class,
        label,
        items,
        decision,
        licence,
        settled,
    };
    render(&ctx, &page)
}

/// `GET /track/{case}/licence.json`: the licence document, as a download.
pub(super) async fn licence(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    auth: Result<ApplicantAuth, ApiError>,
    Path(case_id): Path<String>,
) -> Response {
    if !signed_in(&auth, &case_id) {
        return ask_for_code(&case_id);
    }
    let document = match licence_document(&state, &case_id).await {
        Ok(document) => document,
        Err(e) => return failure(&ctx, e),
    };
    let bytes = serde_json::to_vec(&document).unwrap_or_default();
    let name = format!(
        "attachment; filename=\"licence-{}.json\"",
        path_segment(&document.number)
    );
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::super::text::{EN, ZH};
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_read_as_words_with_the_params_in_place() {
        let params = json!({"min_area": "120", "usage": "medical"});
        assert_eq!(
            plain_condition(&EN, "area_m2 >= $min_area", &params),
            "area_m2 must be at least 120"
        );
        assert_eq!(
            plain_condition(&ZH, "usage == $usage", &params),
            "usage须为 medical"
        );
        assert_eq!(
            plain_condition(&EN, "encumbered == false", &params),
            "encumbered must be false"
        );
        assert_eq!(plain_condition(&EN, "a in b c", &params), "a in b c");
        assert_eq!(plain_condition(&EN, "x ~ 3", &params), "x ~ 3");
    }
}
