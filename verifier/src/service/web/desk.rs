//! The department desk: a department's clerk signs in with its token and
//! sees its queue, its recent answers, and the cases of its `review`
//! procedures that wait for a decision, with the evidence and its decoded
//! params side by side; approve and refuse record the decision in the log,
//! under the same rules as `POST /v1/cases/{case}/decisions`.
//!
//! A desk session is a random token in an `HttpOnly`, `SameSite=Strict`
//! cookie scoped to `/desk` (`Secure` behind TLS); the service keeps only
//! its SHA-256, in memory, so a restart signs clerks out. Every form
//! carries the session's CSRF token, compared in constant time, on top of
//! the portal's cross-site check. A department whose key governance lists
//! signs its decisions with that key, which never reaches the service: its
//! clerks decide with `zkgov case decide --key`, and the desk says so.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use rand::RngCore;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use zkgov_log::rules::{Answer, LogState};

use super::super::api::{decide, DecisionRequest};
use super::super::auth::secret_digest;
use super::super::config::{Department, TokenHash};
use super::super::error::ApiError;
use super::super::{now, AppState};
use super::text::{fill, Text};
use super::{failure, form_error, path_segment, render, Ctx};
use zkgov_log::procedure::DecisionRule;

/// The desk session cookie.
const DESK_COOKIE: &str = "zkgov_desk";

/// How long a desk session lasts: a working day.
const DESK_SECONDS: i64 = 10 * 3600;

/// Most desk sessions kept at once; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

struct DeskSession {
    department: String,
    csrf: String,
    expires: i64,
}

/// The open desk sessions, by the SHA-256 of their token.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, DeskSession>>);

impl Sessions {
    fn open(&self, department: &str) -> (String, String) {
        let random = || {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            hex::encode(bytes)
        };
        let (token, csrf) = (random(), random());
        let mut sessions = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let at = now();
        sessions.retain(|_, s| s.expires > at);
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            secret_digest(&token),
            DeskSession {
                department: department.to_string(),
                csrf: csrf.clone(),
                expires: at + DESK_SECONDS,
            },
        );
        (token, csrf)
    }

    /// The department and CSRF token of the request's session.
    fn find(&self, headers: &HeaderMap) -> Option<(String, String)> {
        let token = desk_token(headers)?;
        let sessions = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let session = sessions.get(&secret_digest(&token))?;
        (session.expires > now()).then(|| (session.department.clone(), session.csrf.clone()))
    }

    fn close(&self, headers: &HeaderMap) {
        if let Some(token) = desk_token(headers) {
            let mut sessions = self.0.lock().unwrap_or_else(|p| p.into_inner());
            sessions.remove(&secret_digest(&token));
        }
    }
}

/// The desk session token the request's cookie carries.
fn desk_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == DESK_COOKIE)
        .map(|(_, token)| token.to_string())
}

#[derive(Template)]
#[template(path = "desk_sign_in.html")]
struct SignIn<'a> {
    ctx: &'a Ctx,
    error: Option<&'a str>,
}

/// One item of evidence of a case waiting for a decision.
struct Evidence {
    title: String,
    state: &'static str,
    class: &'static str,
    params: String,
    entry: Option<u64>,
}

struct Waiting {
    case_id: String,
    href: String,
    procedure: String,
    created: String,
    evidence: Vec<Evidence>,
    /// Whether every item is verified, so that an approval is possible.
    approvable: bool,
}

struct Answered {
    case_id: String,
    evidence: String,
    state: &'static str,
    entry: u64,
}

#[derive(Template)]
#[template(path = "desk.html")]
struct Desk<'a> {
    ctx: &'a Ctx,
    heading: String,
    csrf: &'a str,
    pending: u64,
    leased: u64,
    done: u64,
    /// The department signs its decisions: the desk cannot.
    signs: bool,
    waiting: Vec<Waiting>,
    answered: Vec<Answered>,
    message: Option<String>,
}

fn state_label(t: &Text, answer: Option<&Answer>) -> (&'static str, &'static str) {
    match answer {
        Some(Answer::Verified { .. }) => ("verified", t.item_verified),
        Some(Answer::Unmet { reason, .. }) => (
            "unmet",
            match reason.as_str() {
                "not_satisfied" => t.item_not_satisfied,
                "subject_not_found" => t.item_subject_not_found,
                "revoked" => t.item_revoked,
                "invalid_input" => t.item_invalid_input,
                _ => t.item_other,
            },
        ),
        None => ("pending", t.item_pending),
    }
}

fn answer_index(answer: &Answer) -> u64 {
    match answer {
        Answer::Verified { index, .. } | Answer::Unmet { index, .. } => *index,
    }
}

/// The cases of this department's review procedures that wait for it, and
/// the newest answers from its registries, newest first.
fn casework(t: &Text, log: &LogState, department: &str) -> (Vec<Waiting>, Vec<Answered>) {
    let mut applications: Vec<_> = log.applications().collect();
    applications.sort_by_key(|a| std::cmp::Reverse(a.index));
    let owner = |registry: &str| {
        log.governance()
            .and_then(|g| g.owner_of(registry))
            .map(|d| d.name.clone())
    };
    let mut waiting = Vec::new();
    let mut answered = Vec::new();
    for application in applications.iter().take(1000) {
        let Some(logged) = log.procedure_at(application.procedure) else {
            continue;
        };
        let procedure = &logged.procedure;
        for item in &procedure.evidence {
            if let Some(answer) = application.answers.get(&item.name) {
                if answered.len() < 20 && owner(&item.registry).as_deref() == Some(department) {
                    answered.push(Answered {
                        case_id: application.case_id.clone(),
                        evidence: item.title.clone(),
                        state: state_label(t, Some(answer)).1,
                        entry: answer_index(answer),
                    });
                }
            }
        }
        let review = procedure.rule == DecisionRule::Review && procedure.decides == department;
        if !review || log.case_status(application) != "open" || waiting.len() >= 50 {
            continue;
        }
        let evidence: Vec<Evidence> = procedure
            .evidence
            .iter()
            .map(|item| {
                let answer = application.answers.get(&item.name);
                let (class, state) = state_label(t, answer);
                Evidence {
                    title: item.title.clone(),
                    state,
                    class,
                    params: procedure
                        .params(item, application.time)
                        .iter()
                        .map(|(k, v)| format!("{k} = {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    entry: answer.map(answer_index),
                }
            })
            .collect();
        waiting.push(Waiting {
            href: format!(
                "/desk/cases/{}/decision",
                path_segment(&application.case_id)
            ),
            case_id: application.case_id.clone(),
            procedure: procedure.title.clone(),
            created: zkgov_log::entry::format_time(application.time),
            approvable: evidence.iter().all(|e| e.class == "verified"),
            evidence,
        });
    }
    (waiting, answered)
}

fn department<'a>(state: &'a AppState, name: &str) -> Option<&'a Department> {
    state.config.departments.iter().find(|d| d.name == name)
}

async fn desk_page(
    state: &Arc<AppState>,
    ctx: &Ctx,
    name: &str,
    csrf: &str,
    message: Option<String>,
) -> Response {
    let storage = state.storage.clone();
    let (lookup, at) = (name.to_string(), now());
    let counts =
        match super::super::api::blocking(move || Ok(storage.queue_counts(&lookup, at)?)).await {
            Ok(counts) => counts,
            Err(e) => return failure(ctx, e),
        };
    let (waiting, answered) = casework(ctx.t, &state.log(), name);
    let signs = department(state, name).is_some_and(|d| d.key.is_some());
    let page = Desk {
        ctx,
        heading: fill(ctx.t.desk_title, &[name]),
        csrf,
        pending: counts.pending,
        leased: counts.leased,
        done: counts.done,
        signs,
        waiting,
        answered,
        message,
    };
    render(ctx, &page)
}

/// `GET /desk`: the department's desk, or its sign-in form.
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Response {
    match state.desks.find(&headers) {
        Some((name, csrf)) => desk_page(&state, &ctx, &name, &csrf, None).await,
        None => render(
            &ctx,
            &SignIn {
                ctx: &ctx,
                error: None,
            },
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenForm {
    token: String,
}

/// `POST /desk/sign-in`: checks the department's token, compared with
/// every configured hash as the API does, and opens a desk session.
pub(super) async fn sign_in(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => return failure(&ctx, form_error(rejection)),
    };
    let presented = TokenHash::of(form.token.trim());
    let mut found = None;
    for department in &state.config.departments {
        if department.token.matches(&presented) && found.is_none() {
            found = Some(department.name.clone());
        }
    }
    let Some(name) = found else {
        let page = SignIn {
            ctx: &ctx,
            error: Some(ctx.t.desk_bad_token),
        };
        return (StatusCode::FORBIDDEN, render(&ctx, &page)).into_response();
    };
    let (token, _) = state.desks.open(&name);
    let secure = if ctx.secure { "; Secure" } else { "" };
    let cookie = format!(
        "{DESK_COOKIE}={token}; Path=/desk; Max-Age={DESK_SECONDS}; HttpOnly; SameSite=Strict{secure}"
    );
    let mut response = Redirect::to("/desk").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Whether a posted CSRF token is the session's.
fn csrf_ok(expected: &str, presented: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignOutForm {
    csrf: String,
}

/// `POST /desk/sign-out`: ends the session.
pub(super) async fn sign_out(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    headers: HeaderMap,
    form: Result<Form<SignOutForm>, FormRejection>,
) -> Response {
    let valid = match (state.desks.find(&headers), form) {
        (Some((_, csrf)), Ok(Form(form))) => csrf_ok(&csrf, &form.csrf),
        _ => false,
    };
    if !valid {
        return failure(&ctx, ApiError::Forbidden("not signed in".into()));
    }
    state.desks.close(&headers);
    let mut response = Redirect::to("/desk").into_response();
    let cookie = format!("{DESK_COOKIE}=; Path=/desk; Max-Age=0; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionForm {
    csrf: String,
    decision: String,
    #[serde(default)]
    note: String,
}

/// `POST /desk/cases/{case}/decision`: approves (citing every verified
/// result) or refuses (with the clerk's reason) a case of a review
/// procedure.
pub(super) async fn decide_case(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Response {
    let Some((name, csrf)) = state.desks.find(&headers) else {
        return Redirect::to("/desk").into_response();
    };
    let form = match form {
        Ok(Form(form)) if csrf_ok(&csrf, &form.csrf) => form,
        Ok(_) => return failure(&ctx, ApiError::Forbidden("the form is stale".into())),
        Err(rejection) => return failure(&ctx, form_error(rejection)),
    };
    if !["approved", "refused"].contains(&form.decision.as_str()) || form.note.len() > 1000 {
        return failure(&ctx, ApiError::MalformedRequest("the decision".into()));
    }
    let results = {
        let log = state.log();
        let Some(application) = log.application(&case_id) else {
            return failure(&ctx, ApiError::NotFound(format!("no case {case_id}")));
        };
        application
            .answers
            .values()
            .filter_map(|a| match a {
                Answer::Verified { index, .. } if form.decision == "approved" => Some(*index),
                Answer::Unmet { index, .. } if form.decision == "refused" => Some(*index),
                _ => None,
            })
            .collect()
    };
    let request = DecisionRequest {
        decision: form.decision,
        results,
        note: form.note.trim().to_string(),
        amends: None,
        signature: None,
    };
    let message = match decide(&state, &name, case_id.clone(), request).await {
        Ok(_) => fill(ctx.t.desk_recorded, &[&case_id]),
        Err(ApiError::Refused(refusal)) => fill(ctx.t.desk_refused, &[&refusal.to_string()]),
        Err(e) => return failure(&ctx, e),
    };
    desk_page(&state, &ctx, &name, &csrf, Some(message)).await
}
