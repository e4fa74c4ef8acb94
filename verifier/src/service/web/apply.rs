//! Applying: choose a procedure, answer its questions one at a time,
//! check the answers, send, and get the case number and access code.
//!
//! The answers so far travel in the form's hidden fields from page to
//! page, so nothing is kept on the server before the application is sent,
//! and the pages work without JavaScript. Each answer is checked by the
//! same rule as the API's intake ([`check_input`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::Response;
use axum::{Extension, Form};

use super::super::applications::{
    apply, check_input, create_session, ApplicationForm, ClientAddr, InputProblem,
};
use super::super::error::ApiError;
use super::super::AppState;
use super::text::{fill, Text};
use super::{failure, form_error, no_cache, render, Ctx};
use zkgov_log::rules::LoggedProcedure;

#[derive(Template)]
#[template(path = "apply_choose.html")]
struct Choose<'a> {
    ctx: &'a Ctx,
    /// Name and title of each procedure.
    procedures: Vec<(String, String)>,
}

/// `GET /apply`: the procedures one can apply for.
pub(super) async fn choose(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    let procedures = state
        .log()
        .procedures()
        .map(|p| (p.procedure.name.clone(), p.procedure.title.clone()))
        .collect();
    no_cache(render(
        &ctx,
        &Choose {
            ctx: &ctx,
            procedures,
        },
    ))
}

#[derive(Template)]
#[template(path = "apply_question.html")]
struct Question<'a> {
    ctx: &'a Ctx,
    procedure: &'a str,
    title: &'a str,
    /// "Question 1 of 2".
    step: String,
    /// The input asked.
    input: &'a str,
    label: &'a str,
    value: &'a str,
    error: Option<String>,
    /// Which question this is.
    at: usize,
    /// The other answers, carried on.
    kept: Vec<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "apply_check.html")]
struct Check<'a> {
    ctx: &'a Ctx,
    procedure: &'a str,
    title: &'a str,
    /// Each question's number, label and answer.
    answers: Vec<(usize, &'a str, &'a str)>,
    /// The evidence items' titles.
    evidence: Vec<&'a str>,
    kept: Vec<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "apply_confirm.html")]
struct Confirm<'a> {
    ctx: &'a Ctx,
    case_id: &'a str,
    access_code: &'a str,
}

fn procedure(state: &AppState, name: &str) -> Result<Arc<LoggedProcedure>, ApiError> {
    state
        .log()
        .procedure(name)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no procedure `{name}`")))
}

/// The message for a refused answer, in the page's language.
fn problem_message(t: &Text, label: &str, problem: &InputProblem) -> String {
    match problem {
        InputProblem::Missing => fill(t.err_missing, &[label]),
        InputProblem::Blank => fill(t.err_blank, &[label]),
        InputProblem::TooLong { max_bytes } => {
            fill(t.err_too_long, &[label, &max_bytes.to_string()])
        }
        InputProblem::Form(detail) => fill(t.err_form, &[label, detail]),
    }
}

/// Renders question `at`, with the others' answers kept.
fn question(
    ctx: &Ctx,
    logged: &LoggedProcedure,
    answers: &BTreeMap<String, String>,
    at: usize,
    error: Option<String>,
) -> Response {
    let procedure = &logged.procedure;
    let input = &procedure.applicant[at];
    let page = Question {
        ctx,
        procedure: &procedure.name,
        title: &procedure.title,
        step: fill(
            ctx.t.question_of,
            &[
                &(at + 1).to_string(),
                &procedure.applicant.len().to_string(),
            ],
        ),
        input: &input.name,
        label: &input.label,
        value: answers.get(&input.name).map_or("", String::as_str),
        error,
        at,
        kept: answers
            .iter()
            .filter(|(name, _)| **name != input.name)
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect(),
    };
    render(ctx, &page)
}

/// `GET /apply/{procedure}`: its first question.
pub(super) async fn start(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Response {
    match procedure(&state, &name) {
        Ok(logged) if !logged.procedure.applicant.is_empty() => {
            question(&ctx, &logged, &BTreeMap::new(), 0, None)
        }
        Ok(logged) => check(&ctx, &logged, &BTreeMap::new()),
        Err(e) => failure(&ctx, e),
    }
}

fn check(ctx: &Ctx, logged: &LoggedProcedure, answers: &BTreeMap<String, String>) -> Response {
    let procedure = &logged.procedure;
    let page = Check {
        ctx,
        procedure: &procedure.name,
        title: &procedure.title,
        answers: procedure
            .applicant
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let value = answers.get(&input.name).map_or("", String::as_str);
                (i, input.label.as_str(), value)
            })
            .collect(),
        evidence: procedure
            .evidence
            .iter()
            .map(|i| i.title.as_str())
            .collect(),
        kept: answers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect(),
    };
    render(ctx, &page)
}

/// What a question page posts.
struct Posted {
    /// The answers, by input name (trimmed).
    answers: BTreeMap<String, String>,
    /// The question answered.
    at: Option<usize>,
    /// The question to change, from "check your answers".
    goto: Option<usize>,
    /// Whether the applicant sends the application.
    send: bool,
}

/// Reads the posted fields: answers to the procedure's inputs only, each
/// once, and the step. Anything else is a malformed form.
fn posted(logged: &LoggedProcedure, fields: Vec<(String, String)>) -> Result<Posted, ApiError> {
    let inputs = &logged.procedure.applicant;
    let index = |value: &str| -> Result<usize, ApiError> {
        value
            .parse::<usize>()
            .ok()
            .filter(|i| *i < inputs.len())
            .ok_or_else(|| ApiError::MalformedRequest(format!("no question `{value}`")))
    };
    let mut out = Posted {
        answers: BTreeMap::new(),
        at: None,
        goto: None,
        send: false,
    };
    for (name, value) in fields {
        match name.as_str() {
            "at" => out.at = Some(index(&value)?),
            "goto" => out.goto = Some(index(&value)?),
            "send" => out.send = true,
            _ => {
                let input = name
                    .strip_prefix("a.")
                    .filter(|n| inputs.iter().any(|i| i.name == *n))
                    .ok_or_else(|| ApiError::MalformedRequest(format!("field `{name}`")))?;
                let previous = out
                    .answers
                    .insert(input.to_string(), value.trim().to_string());
                if previous.is_some() {
                    return Err(ApiError::MalformedRequest(format!("`{name}` twice")));
                }
            }
        }
    }
    Ok(out)
}

/// `POST /apply/{procedure}`: an answer, a change, or the application
/// sent.
pub(super) async fn answer(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    addr: Option<Extension<ClientAddr>>,
    Path(name): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let fields = match form {
        Ok(Form(fields)) => fields,
        Err(rejection) => return failure(&ctx, form_error(rejection)),
    };
    let logged = match procedure(&state, &name) {
        Ok(logged) => logged,
        Err(e) => return failure(&ctx, e),
    };
    let posted = match posted(&logged, fields) {
        Ok(posted) => posted,
        Err(e) => return failure(&ctx, e),
    };
    let inputs = &logged.procedure.applicant;
    if let Some(at) = posted.goto {
        return question(&ctx, &logged, &posted.answers, at, None);
    }
    // The first question with a refused answer: up to the one answered,
    // or all of them when sending.
    let upto = match (posted.send, posted.at) {
        (true, _) => inputs.len(),
        (false, Some(at)) => at + 1,
        (false, None) => 0,
    };
    for (i, input) in inputs.iter().enumerate().take(upto) {
        let value = posted.answers.get(&input.name).map(String::as_str);
        let checked = check_input(&state.log(), &logged, input, value);
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(problem)) => {
                let message = problem_message(ctx.t, &input.label, &problem);
                return question(&ctx, &logged, &posted.answers, i, Some(message));
            }
            Err(e) => return failure(&ctx, e),
        }
    }
    if !posted.send {
        return match upto {
            next if next < inputs.len() => question(&ctx, &logged, &posted.answers, next, None),
            _ => check(&ctx, &logged, &posted.answers),
        };
    }
    let form = ApplicationForm {
        procedure: logged.procedure.name.clone(),
        inputs: posted.answers,
    };
    let addr = addr.map(|a| a.0);
    let applied = match apply(&state, addr, form).await {
        Ok(applied) => applied,
        Err(e) => return failure(&ctx, e),
    };
    // The applicant is signed in to the new case at once: the link to its
    // status works without typing the code.
    let session = create_session(&state, &applied.case_id, ctx.secure).await;
    let mut response = render(
        &ctx,
        &Confirm {
            ctx: &ctx,
            case_id: &applied.case_id,
            access_code: &applied.access_code,
        },
    );
    match session {
        Ok(session) => {
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session.cookie);
        }
        Err(e) => tracing::warn!(error = %e, "no session for a new application"),
    }
    response
}
