//! Applications: procedures, intake, applicant sessions and status, and
//! the departments' work queues.
//!
//! The service draws every case secret from the operating system's CSPRNG
//! and hands it only to the departments that the case's procedure names,
//! through `GET /v1/work` under their tokens. It never logs it, never
//! publishes it and never puts it in a URL. The log holds the case's
//! creation, the answers and the decision; the operational store
//! ([`crate::storage::casework`]) holds the secret, the applicant's inputs
//! and the access code's hash.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use ark_ff::UniformRand;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Datelike;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};
use zkgov_circuits::field::to_decimal;
use zkgov_circuits::schema::Schema;
use zkgov_log::entry::{format_time, Entry, Licence};
use zkgov_log::openapi::{FieldElement, Time};
use zkgov_log::procedure::{ApplicantInput, DecisionRule, Procedure};
use zkgov_log::receipt::Receipt;
use zkgov_log::rules::{Answer, Application, LogState, LoggedProcedure};
use zkgov_log::signature::EntrySignature;

use super::api::{
    append, append_one, blocking, no_store, receipt_response, settle, ApiJson, ApiPath, ApiQuery,
    Item, JsonBody,
};
use super::appender::{Draft, Outcome};
use super::auth::{
    check_session_case, over_tls, secret_digest, ApplicantAuth, DepartmentAuth, SESSION_COOKIE,
};
use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::openapi::{
    ApplicationPath, NoApplication, OtherCase, Timeout, TooLarge, TooLargeBatch, Unauthorized,
    Unavailable,
};
use super::{now, AppState};
use crate::proof_line::ProofLine;
use crate::storage::casework::{Leased, NewApplication, NewWork, Work, WorkKind};

/// The client's address, as the accept loop saw it.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// How long an applicant session lasts: a day.
pub const SESSION_SECONDS: i64 = 24 * 3600;

/// The longest lease a worker may ask for, and the default.
pub const MAX_LEASE_SECONDS: i64 = 3600;
const DEFAULT_LEASE_SECONDS: i64 = 300;

/// Most requests one lease hands out.
pub const MAX_LEASE_ITEMS: usize = 1024;

/// Per-address limits on intake and access-code exchange, counted per
/// minute.
pub(super) struct RateLimit {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

impl RateLimit {
    pub(super) fn new(per_minute: u32) -> RateLimit {
        RateLimit {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn admit(&self, addr: Option<ClientAddr>) -> Result<(), ApiError> {
        let ip = addr.map_or(IpAddr::from([0, 0, 0, 0]), |a| a.0.ip());
        let minute = now() / 60;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let window = windows.entry(ip).or_insert((minute, 0));
        if window.0 != minute {
            *window = (minute, 0);
        }
        if window.1 >= self.per_minute {
            return Err(ApiError::TooManyRequests);
        }
        window.1 += 1;
        Ok(())
    }
}

// ---------------------------------------------------------------- procedures

/// A procedure to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ProcedureRegistration {
    /// The procedure, TOML text.
    procedure: String,
}

/// Register or replace a procedure (deciding department)
///
/// Appends a `procedure` entry if the rules accept it: the procedure parses
/// (400 `malformed_request`), the department is its decider (403 `forbidden`),
/// and every item of evidence names a registered key with exactly its policy's
/// params (400 `invalid_procedure`). The same text again answers 200 with the
/// existing entry's receipt.
#[utoipa::path(
    post,
    path = "/v1/procedures",
    operation_id = "registerProcedure",
    tag = "applications",
    security(("department" = [])),
    request_body = ProcedureRegistration,
    responses(
        (
            status = 200,
            description = "Already registered with this text.",
            body = Receipt,
        ),
        (
            status = 201,
            description = "Registered; the body is its receipt.",
            body = Receipt,
        ),
        (
            status = 400,
            description = "`malformed_request` or `invalid_procedure`.",
            body = ErrorBody,
        ),
        (status = 401, response = Unauthorized),
        (
            status = 403,
            description = "`forbidden`: the department does not decide this procedure.",
            body = ErrorBody,
        ),
        (status = 408, response = Timeout),
        (status = 413, response = TooLarge),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn post_procedure(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    body: JsonBody,
) -> Result<Response, ApiError> {
    state.log().may_decide(&department.name)?;
    let body: ProcedureRegistration = body.parse()?;
    let parsed = Procedure::from_toml(&body.procedure)
        .map_err(|e| ApiError::MalformedRequest(e.to_string()))?;
    let unchanged = state
        .log()
        .procedure(&parsed.name)
        .filter(|existing| existing.procedure_toml == body.procedure)
        .map(|existing| existing.index);
    if let Some(index) = unchanged {
        let receipt = super::api::existing_receipt(&state, index).await?;
        return Ok(receipt_response(&Outcome::Existing(index), receipt));
    }
    let entry = Entry::Procedure {
        name: parsed.name,
        department: department.name,
        procedure_toml: body.procedure,
        time: format_time(now()),
    };
    let (outcome, receipt) = append_one(
        &state,
        Draft {
            entry,
            verified: None,
        },
    )
    .await?;
    Ok(receipt_response(&outcome, receipt))
}

/// List the registered procedures
///
/// Every procedure in its latest version, with what its form asks (`applicant`)
/// and the evidence it requires.
#[utoipa::path(
    get,
    path = "/v1/procedures",
    operation_id = "listProcedures",
    tag = "applications",
    responses(
        (
            status = 200,
            description = "The procedures.",
            body = ProcedureList,
        ),
        (status = 408, response = Timeout),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn list_procedures(State(state): State<Arc<AppState>>) -> Json<ProcedureList> {
    let log = state.log();
    let procedures = log
        .procedures()
        .map(|p| {
            let procedure = &p.procedure;
            ProcedureSummary {
                name: procedure.name.clone(),
                title: procedure.title.clone(),
                decides: procedure.decides.clone(),
                rule: procedure.rule,
                index: p.index,
                applicant: procedure.applicant.clone(),
                evidence: procedure
                    .evidence
                    .iter()
                    .map(|item| EvidenceSummary {
                        name: item.name.clone(),
                        title: item.title.clone(),
                        policy: item.policy.clone(),
                        registry: item.registry.clone(),
                    })
                    .collect(),
                procedure_toml: p.procedure_toml.clone(),
            }
        })
        .collect();
    Json(ProcedureList { procedures })
}

/// Every registered procedure.
#[derive(Serialize, ToSchema)]
pub(super) struct ProcedureList {
    procedures: Vec<ProcedureSummary>,
}

/// A procedure, with what its form asks.
#[derive(Serialize, ToSchema)]
pub(super) struct ProcedureSummary {
    /// Its name, unique in the log.
    name: String,
    /// Its title, for people.
    title: String,
    /// The deciding department.
    decides: String,
    /// How cases are decided.
    rule: DecisionRule,
    /// The log index of its entry.
    index: u64,
    /// What the applicant supplies.
    applicant: Vec<ApplicantInput>,
    /// The evidence required, in order.
    evidence: Vec<EvidenceSummary>,
    /// The procedure, TOML text.
    procedure_toml: String,
}

/// An item of evidence a procedure requires.
#[derive(Serialize, ToSchema)]
pub(super) struct EvidenceSummary {
    name: String,
    title: String,
    /// The policy that proves it.
    policy: String,
    /// The registry the policy reads.
    registry: String,
}

// ---------------------------------------------------------------- intake

/// An application: the procedure, and the applicant's answers.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ApplicationForm {
    /// The procedure's name.
    pub procedure: String,
    /// An answer to each of the procedure's applicant inputs, by name.
    pub inputs: BTreeMap<String, String>,
}

/// Why an applicant's answer to one input is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum InputProblem {
    /// No answer.
    Missing,
    /// Empty, or with spaces around it.
    Blank,
    /// Longer than the input allows, or with control characters.
    TooLong {
        /// The input's limit.
        max_bytes: usize,
    },
    /// Not encodable as the subject of a registry that reads it.
    Form(String),
}

impl InputProblem {
    /// The message the API gives, naming the input by its label.
    fn message(&self, label: &str) -> String {
        match self {
            InputProblem::Missing => format!("{label} is required"),
            InputProblem::Blank => {
                format!("{label} must be given, without surrounding spaces")
            }
            InputProblem::TooLong { max_bytes } => {
                format!("{label} is at most {max_bytes} bytes, without control characters")
            }
            InputProblem::Form(problem) => format!("{label}: {problem}"),
        }
    }
}

/// Checks one answer: non-empty, within its length, without control
/// characters, and encodable as the subject of every registry that reads
/// it.
pub(super) fn check_input(
    log: &LogState,
    logged: &LoggedProcedure,
    input: &ApplicantInput,
    value: Option<&str>,
) -> Result<Result<(), InputProblem>, ApiError> {
    let Some(value) = value else {
        return Ok(Err(InputProblem::Missing));
    };
    if value.trim().is_empty() || value.trim() != value {
        return Ok(Err(InputProblem::Blank));
    }
    if value.len() > input.max_bytes || value.chars().any(char::is_control) {
        return Ok(Err(InputProblem::TooLong {
            max_bytes: input.max_bytes,
        }));
    }
    let procedure = &logged.procedure;
    for item in procedure
        .evidence
        .iter()
        .filter(|i| i.subject == input.name)
    {
        let key = log
            .evidence_key(logged, &item.name)
            .ok_or_else(|| ApiError::Internal(format!("no key for {}", item.name)))?;
        let schema = Schema::from_toml("schema", &key.schema_toml)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let subject = &schema.fields[schema.subject];
        if let Err(e) = subject.ty.encode(&subject.name, value) {
            return Ok(Err(InputProblem::Form(e.to_string())));
        }
    }
    Ok(Ok(()))
}

/// Checks the applicant's inputs against the procedure: exactly its
/// inputs, each as [`check_input`] wants it.
fn check_inputs(
    log: &LogState,
    logged: &LoggedProcedure,
    inputs: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let procedure = &logged.procedure;
    let bad = |name: &str, problem: String| {
        ApiError::MalformedRequest(format!("inputs.{name}: {problem}"))
    };
    for name in inputs.keys() {
        if !procedure.applicant.iter().any(|a| a.name == *name) {
            return Err(bad(
                name,
                format!("`{}` does not ask for it", procedure.name),
            ));
        }
    }
    for input in &procedure.applicant {
        let value = inputs.get(&input.name).map(String::as_str);
        if let Err(problem) = check_input(log, logged, input, value)? {
            return Err(bad(&input.name, problem.message(&input.label)));
        }
    }
    Ok(())
}

/// An access code: 100 bits from the CSPRNG, as five groups of four
/// characters of Crockford's base 32.
fn access_code() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b % 32)] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// An application received: what the applicant is told.
pub(super) struct Applied {
    /// The case number.
    pub case_id: String,
    /// The access code, shown once.
    pub access_code: String,
    /// The procedure's name.
    pub procedure: String,
    /// The case entry's log index.
    pub index: u64,
    /// When the case was created.
    pub created: i64,
}

/// Receives an application: checks the inputs, logs the case, draws its
/// secret and access code and queues its work. Rate-limited per client
/// address.
pub(super) async fn apply(
    state: &Arc<AppState>,
    addr: Option<ClientAddr>,
    form: ApplicationForm,
) -> Result<Applied, ApiError> {
    state.intake_limit.admit(addr)?;
    let procedure = {
        let log = state.log();
        let logged = log
            .procedure(&form.procedure)
            .ok_or_else(|| ApiError::NotFound(format!("no procedure `{}`", form.procedure)))?
            .clone();
        check_inputs(&log, &logged, &form.inputs)?;
        logged
    };
    let year = chrono::Utc::now().year();
    let prefix = procedure.procedure.case_prefix.clone();
    let serial = {
        let storage = state.storage.clone();
        blocking(move || Ok(storage.next_case_serial(&prefix, year)?)).await?
    };
    let case_id = procedure.procedure.case_number(year, serial);
    let committed = append(
        state,
        vec![Draft {
            entry: Entry::Case {
                case_id: case_id.clone(),
                procedure: procedure.procedure.name.clone(),
                time: format_time(now()),
            },
            verified: None,
        }],
    )
    .await?;
    let index = super::api::outcome_index(&committed.outcomes[0])?;
    let created = state
        .log()
        .application(&case_id)
        .map(|a| a.time)
        .ok_or_else(|| ApiError::Internal(format!("case {case_id} is not in the state")))?;
    let code = access_code();
    let secret = to_decimal(&ark_bn254::Fr::rand(&mut rand::rngs::OsRng));
    let work = {
        let log = state.log();
        let governance = log
            .governance()
            .ok_or_else(|| ApiError::Internal("no governance".into()))?;
        procedure
            .procedure
            .evidence
            .iter()
            .map(|item| {
                let owner = governance
                    .owner_of(&item.registry)
                    .map(|d| d.name.clone())
                    .ok_or_else(|| ApiError::Internal(format!("no owner of {}", item.registry)))?;
                Ok(NewWork {
                    case_id: case_id.clone(),
                    kind: WorkKind::Evidence,
                    evidence: item.name.clone(),
                    department: owner,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?
    };
    let application = NewApplication {
        case_id: case_id.clone(),
        procedure: procedure.procedure.name.clone(),
        case_secret: secret,
        inputs: form.inputs,
        access_code_sha256: secret_digest(&code),
        created,
        work,
    };
    let storage = state.storage.clone();
    blocking(move || Ok(storage.create_application(&application)?)).await?;
    tracing::info!(%case_id, "application received");
    Ok(Applied {
        case_id,
        access_code: code,
        procedure: procedure.procedure.name.clone(),
        index,
        created,
    })
}

/// Apply under a procedure (no token)
///
/// Validates the inputs against the procedure, creates the case (a `case` entry
/// with a number such as `DJY-2026-000123`, never reused), draws a 254-bit case
/// secret from the OS CSPRNG, and queues one evidence request per item at the
/// department that owns its registry. The access code is returned once and
/// stored only hashed. Rate-limited per client address
/// (`limits.applications_per_minute`, default 30; 429 `too_many_requests`).
/// Body limit: `limits.max_body_bytes`.
#[utoipa::path(
    post,
    path = "/v1/applications",
    operation_id = "apply",
    tag = "applications",
    request_body(content = ApplicationForm, example = json!({"procedure": "medical-institution-licence", "inputs": {"credit_code": "91310000MA1K4XYZ2B"}})),
    responses(
        (
            status = 201,
            description = "The case, its access code (shown once) and its log index.",
            body = ApplicationReceived,
        ),
        (
            status = 400,
            description = "`malformed_request`: an input is missing, unknown, too long, or not \
             valid for a registry's subject.",
            body = ErrorBody,
        ),
        (
            status = 404,
            description = "`not_found`: no such procedure.",
            body = ErrorBody,
        ),
        (status = 408, response = Timeout),
        (status = 413, response = TooLarge),
        (
            status = 429,
            description = "`too_many_requests`.",
            body = ErrorBody,
        ),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn post_application(
    State(state): State<Arc<AppState>>,
    addr: Option<Extension<ClientAddr>>,
    ApiJson(form): ApiJson<ApplicationForm>,
) -> Result<Response, ApiError> {
    let applied = apply(&state, addr.map(|a| a.0), form).await?;
    let received = ApplicationReceived {
        case_id: applied.case_id,
        access_code: applied.access_code,
        procedure: applied.procedure,
        index: applied.index,
        created: format_time(applied.created),
    };
    Ok((StatusCode::CREATED, Json(received)).into_response())
}

/// An application received.
#[derive(Serialize, ToSchema)]
pub(super) struct ApplicationReceived {
    /// The case number.
    case_id: String,
    /// The access code, shown once: it opens an applicant session.
    access_code: String,
    /// The procedure's name.
    procedure: String,
    /// The case entry's log index.
    index: u64,
    /// When the case was created.
    #[schema(value_type = Time)]
    created: String,
}

/// An access code to exchange for a session.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AccessCode {
    /// The code the application gave.
    access_code: String,
}

/// An applicant session.
#[derive(Serialize, ToSchema)]
pub(super) struct SessionOpened {
    /// The bearer token, also set as the `zkgov_session` cookie.
    token: String,
    /// The case it reads.
    case_id: String,
    /// When it expires.
    #[schema(value_type = Time)]
    expires: String,
}

/// An applicant session: its token, and the `Set-Cookie` value that holds
/// it.
pub(super) struct Session {
    /// The bearer token.
    pub token: String,
    /// When it expires.
    pub expires: i64,
    /// The `zkgov_session` cookie: `HttpOnly`, `SameSite=Strict`, and
    /// `Secure` when the request came over TLS.
    pub cookie: HeaderValue,
}

/// Exchanges a case's access code for an applicant session. Rate-limited
/// per client address, as intake is.
pub(super) async fn open_session(
    state: &Arc<AppState>,
    addr: Option<ClientAddr>,
    case_id: &str,
    access_code: &str,
    secure: bool,
) -> Result<Session, ApiError> {
    state.intake_limit.admit(addr)?;
    let storage = state.storage.clone();
    let lookup = case_id.to_string();
    let application = blocking(move || Ok(storage.application(&lookup)?)).await?;
    let presented = secret_digest(access_code.trim());
    let matches = application
        .as_ref()
        .is_some_and(|a| bool::from(a.access_code_sha256.as_bytes().ct_eq(presented.as_bytes())));
    if !matches {
        return Err(ApiError::Forbidden(
            "the case number and access code do not match".into(),
        ));
    }
    create_session(state, case_id, secure).await
}

/// Starts an applicant session for a case whose access code has just been
/// shown or checked.
pub(super) async fn create_session(
    state: &Arc<AppState>,
    case_id: &str,
    secure: bool,
) -> Result<Session, ApiError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let expires = now() + SESSION_SECONDS;
    let storage = state.storage.clone();
    let (digest, case) = (secret_digest(&token), case_id.to_string());
    blocking(move || Ok(storage.create_session(&digest, &case, expires)?)).await?;
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={SESSION_SECONDS}; HttpOnly; SameSite=Strict{secure}"
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Session {
        token,
        expires,
        cookie,
    })
}

/// Exchange an access code for an applicant session
///
/// Returns a session token (a day) and sets it as the `zkgov_session` cookie,
/// `HttpOnly; SameSite=Strict`, so that the access code never travels again,
/// nor in any URL. Rate-limited like intake.
#[utoipa::path(
    post,
    path = "/v1/applications/{case_id}/session",
    operation_id = "openSession",
    tag = "applications",
    params(ApplicationPath),
    request_body = AccessCode,
    responses(
        (
            status = 201,
            description = "The session.",
            body = SessionOpened,
        ),
        (
            status = 400,
            description = "`malformed_request`.",
            body = ErrorBody,
        ),
        (
            status = 403,
            description = "`forbidden`: the case number and access code do not match.",
            body = ErrorBody,
        ),
        (status = 408, response = Timeout),
        (status = 413, response = TooLarge),
        (
            status = 429,
            description = "`too_many_requests`.",
            body = ErrorBody,
        ),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn post_session(
    State(state): State<Arc<AppState>>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    ApiPath(case_id): ApiPath<String>,
    ApiJson(body): ApiJson<AccessCode>,
) -> Result<Response, ApiError> {
    let secure = over_tls(&headers);
    let addr = addr.map(|a| a.0);
    let session = open_session(&state, addr, &case_id, &body.access_code, secure).await?;
    let opened = SessionOpened {
        token: session.token,
        case_id,
        expires: format_time(session.expires),
    };
    let mut response = (StatusCode::CREATED, Json(opened)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session.cookie);
    Ok(no_store(response))
}

// ---------------------------------------------------------------- status

/// A case's status as its applicant and departments see it: each item of
/// evidence, the decision and the licence. Params are shown decoded.
pub(super) fn case_status(
    log: &LogState,
    application: &Application,
    work: &[Work],
    at: i64,
) -> CaseStatus {
    let Some(logged) = log.procedure_at(application.procedure) else {
        return CaseStatus {
            case_id: application.case_id.clone(),
            detail: None,
        };
    };
    let procedure = &logged.procedure;
    let decision = log.latest_decision(application);
    let evidence = procedure
        .evidence
        .iter()
        .map(|item| {
            let leased = work.iter().any(|w| {
                w.kind == WorkKind::Evidence
                    && w.evidence == item.name
                    && w.done.is_none()
                    && w.leased_until.is_some_and(|until| until > at)
            });
            let (status, conditions, entry) = match application.answers.get(&item.name) {
                Some(Answer::Verified { index, .. }) => ("verified", vec![], Some(*index)),
                Some(Answer::Unmet {
                    index,
                    reason,
                    conditions,
                }) => (reason.as_str(), conditions.clone(), Some(*index)),
                // Decided without it: nobody is asked for it any more.
                None if decision.is_some() => ("not_needed", vec![], None),
                None if leased => ("in_progress", vec![], None),
                None => ("pending", vec![], None),
            };
            EvidenceStatus {
                name: item.name.clone(),
                title: item.title.clone(),
                registry: item.registry.clone(),
                status: status.to_string(),
                conditions,
                params: procedure.params(item, application.time),
                entry,
            }
        })
        .collect();
    let licence_work = work.iter().find(|w| w.kind == WorkKind::Licence);
    CaseStatus {
        case_id: application.case_id.clone(),
        detail: Some(CaseDetail {
            procedure: procedure.name.clone(),
            title: procedure.title.clone(),
            created: format_time(application.time),
            status: log.case_status(application).to_string(),
            evidence,
            decision: decision.map(|d| DecisionSummary {
                index: d.index,
                decision: d.decision.clone(),
                automatic: d.automatic,
                note: d.note.clone(),
                time: format_time(d.time),
            }),
            licence: decision
                .and_then(|d| d.licence.as_ref())
                .map(|l| LicenceStatus {
                    number: l.number.clone(),
                    registry: l.registry.clone(),
                    fields: l.fields.clone(),
                    issued: licence_work.is_some_and(|w| w.done.is_some()),
                }),
        }),
    }
}

/// An application's case: each item of evidence with its params decoded,
/// the latest decision and the licence.
#[derive(Serialize, ToSchema)]
pub(super) struct CaseStatus {
    /// The case number.
    pub case_id: String,
    /// The rest, which a case whose procedure is not in the log lacks.
    #[serde(flatten)]
    pub detail: Option<CaseDetail>,
}

/// What a case's status says beyond its number.
#[derive(Serialize, ToSchema)]
pub(super) struct CaseDetail {
    /// The procedure's name.
    pub procedure: String,
    /// The procedure's title.
    pub title: String,
    /// When the case was created.
    #[schema(value_type = Time)]
    pub created: String,
    /// `open`, `approved`, `refused` or `revoked`.
    #[schema(pattern = "^(open|approved|refused|revoked)$")]
    pub status: String,
    /// Each item of evidence, in the procedure's order.
    pub evidence: Vec<EvidenceStatus>,
    /// The latest decision.
    pub decision: Option<DecisionSummary>,
    /// The licence the decision issues.
    pub licence: Option<LicenceStatus>,
}

/// Where an item of evidence stands.
#[derive(Serialize, ToSchema)]
pub(super) struct EvidenceStatus {
    pub name: String,
    pub title: String,
    /// The registry that holds it.
    pub registry: String,
    /// `pending`, `in_progress`, `verified`, `not_satisfied` (with its
    /// conditions), `subject_not_found`, `revoked`, `invalid_input`, or
    /// `not_needed` once the case is decided without it.
    pub status: String,
    /// For `not_satisfied`, the conditions that failed.
    pub conditions: Vec<String>,
    /// Its params, decoded.
    pub params: BTreeMap<String, String>,
    /// The log index of its answer, once answered.
    pub entry: Option<u64>,
}

/// A case's latest decision.
#[derive(Serialize, ToSchema)]
pub(super) struct DecisionSummary {
    /// The decision's log index.
    pub index: u64,
    /// `approved`, `refused` or `revoked`.
    pub decision: String,
    /// Whether the procedure's automatic rule made it.
    pub automatic: bool,
    /// Free text, such as the reason for a refusal.
    pub note: String,
    /// When it was recorded.
    #[schema(value_type = Time)]
    pub time: String,
}

/// The licence an approval issues, and whether it is in its registry yet.
#[derive(Serialize, ToSchema)]
pub(super) struct LicenceStatus {
    /// The licence number.
    pub number: String,
    /// The registry the licence record goes into.
    pub registry: String,
    /// The licence record's fields other than its subject.
    pub fields: BTreeMap<String, String>,
    /// Whether the deciding department has entered it in the registry.
    pub issued: bool,
}

pub(super) async fn status_of(
    state: &Arc<AppState>,
    case_id: &str,
) -> Result<CaseStatus, ApiError> {
    let storage = state.storage.clone();
    let case = case_id.to_string();
    let work = blocking(move || Ok(storage.case_work(&case)?)).await?;
    let log = state.log();
    let application = log
        .application(case_id)
        .ok_or_else(|| ApiError::NotFound(format!("no application `{case_id}`")))?;
    Ok(case_status(&log, application, &work, now()))
}

/// The applicant's view of its case
#[utoipa::path(
    get,
    path = "/v1/applications/{case_id}",
    operation_id = "applicationStatus",
    tag = "applications",
    security(("applicant" = [])),
    params(ApplicationPath),
    responses(
        (
            status = 200,
            description = "The status.",
            body = CaseStatus,
        ),
        (status = 401, response = Unauthorized),
        (status = 403, response = OtherCase),
        (status = 404, response = NoApplication),
        (status = 408, response = Timeout),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn get_application(
    State(state): State<Arc<AppState>>,
    ApplicantAuth(session_case): ApplicantAuth,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    check_session_case(&session_case, &case_id)?;
    let status = status_of(&state, &case_id).await?;
    Ok(no_store(Json(status).into_response()))
}

/// Which cases to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CaseListQuery {
    /// Only the cases of this procedure.
    #[serde(default)]
    procedure: Option<String>,
    /// Only the cases in this state: `open`, `approved`, `refused` or
    /// `revoked`.
    #[serde(default)]
    #[param(pattern = "^(open|approved|refused|revoked)$")]
    status: Option<String>,
    /// The page, from 1.
    #[serde(default)]
    #[param(minimum = 1)]
    page: Option<usize>,
}

/// A page of cases, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct CaseList {
    cases: Vec<CaseSummary>,
    /// This page's number, from 1.
    page: usize,
    /// Cases per page.
    per_page: usize,
    /// The cases that match, on every page.
    total: usize,
}

/// A case, in brief.
#[derive(Serialize, ToSchema)]
pub(super) struct CaseSummary {
    case_id: String,
    /// Its procedure's name.
    procedure: Option<String>,
    /// When it was created.
    #[schema(value_type = Time)]
    created: String,
    /// `open`, `approved`, `refused` or `revoked`.
    status: String,
    /// How many items of evidence are answered.
    answered: usize,
    /// How many its procedure requires.
    required: usize,
}

/// Cases per page of `GET /v1/cases`.
pub const CASES_PER_PAGE: usize = 100;

/// List applications' cases (department)
///
/// Newest first, 100 per page, filtered by procedure and by status (`open`,
/// `approved`, `refused`, `revoked`).
#[utoipa::path(
    get,
    path = "/v1/cases",
    operation_id = "listCases",
    tag = "applications",
    security(("department" = [])),
    params(
        CaseListQuery,
    ),
    responses(
        (
            status = 200,
            description = "A page of cases.",
            body = CaseList,
        ),
        (
            status = 400,
            description = "`malformed_request`: an unknown status.",
            body = ErrorBody,
        ),
        (status = 401, response = Unauthorized),
        (status = 408, response = Timeout),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn list_cases(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(_): DepartmentAuth,
    ApiQuery(query): ApiQuery<CaseListQuery>,
) -> Result<Json<CaseList>, ApiError> {
    if let Some(status) = &query.status {
        if !["open", "approved", "refused", "revoked"].contains(&status.as_str()) {
            return Err(ApiError::MalformedRequest(format!(
                "status: `{status}` is not one of open, approved, refused, revoked"
            )));
        }
    }
    let page = match query.page {
        None => 1,
        Some(0) => {
            return Err(ApiError::MalformedRequest(
                "page: pages count from 1".into(),
            ))
        }
        Some(page) => page,
    };
    let log = state.log();
    let mut cases: Vec<&Application> = log
        .applications()
        .filter(|a| {
            query.procedure.as_ref().is_none_or(|p| {
                log.procedure_at(a.procedure)
                    .is_some_and(|l| l.procedure.name == *p)
            })
        })
        .filter(|a| {
            query
                .status
                .as_ref()
                .is_none_or(|s| log.case_status(a) == s)
        })
        .collect();
    cases.sort_by_key(|a| std::cmp::Reverse(a.index));
    let total = cases.len();
    let listed = cases
        .iter()
        .skip((page - 1).saturating_mul(CASES_PER_PAGE))
        .take(CASES_PER_PAGE)
        .map(|a| CaseSummary {
            case_id: a.case_id.clone(),
            procedure: log
                .procedure_at(a.procedure)
                .map(|p| p.procedure.name.clone()),
            created: format_time(a.time),
            status: log.case_status(a).to_string(),
            answered: a.answers.len(),
            required: log
                .procedure_at(a.procedure)
                .map_or(0, |p| p.procedure.evidence.len()),
        })
        .collect();
    Ok(Json(CaseList {
        cases: listed,
        page,
        per_page: CASES_PER_PAGE,
        total,
    }))
}

/// An application's case as departments see it (department)
#[utoipa::path(
    get,
    path = "/v1/cases/{case_id}/status",
    operation_id = "caseStatus",
    tag = "applications",
    security(("department" = [])),
    params(ApplicationPath),
    responses(
        (
            status = 200,
            description = "The status.",
            body = CaseStatus,
        ),
        (status = 401, response = Unauthorized),
        (status = 404, response = NoApplication),
        (status = 408, response = Timeout),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn get_case_status(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(_): DepartmentAuth,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Json<CaseStatus>, ApiError> {
    status_of(&state, &case_id).await.map(Json)
}

// ---------------------------------------------------------------- work

/// How much work to lease, and for how long.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct LeaseQuery {
    /// Most requests to lease; 64 if absent.
    #[serde(default)]
    #[param(minimum = 1, maximum = 1024)]
    limit: Option<usize>,
    /// How long the lease lasts, in seconds; 300 if absent.
    #[serde(default)]
    #[param(minimum = 1, maximum = 3600)]
    lease_seconds: Option<i64>,
}

/// The requests leased.
#[derive(Serialize, ToSchema)]
pub(super) struct WorkLease {
    work: Vec<LeasedRequest>,
}

/// One leased request as the worker receives it, by its kind.
#[derive(Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum LeasedRequest {
    /// Prove an item of evidence, or answer that it cannot be proved.
    Evidence {
        /// The request's id, for `POST /v1/work/{id}`.
        id: i64,
        case_id: String,
        /// The item of the case's procedure.
        evidence: String,
        /// The applicant's input the item is about.
        subject: Option<String>,
        /// The case secret, for the subject tag.
        #[schema(value_type = FieldElement)]
        case_secret: String,
        /// The key to prove with.
        key_id: Option<String>,
        /// The policy to prove.
        policy: Option<String>,
        /// The registry the policy reads.
        registry: Option<String>,
        /// The policy's params, as the procedure fixes or computes them.
        params: Option<BTreeMap<String, String>>,
        /// When the lease runs out.
        #[schema(value_type = Option<Time>)]
        leased_until: Option<String>,
    },
    /// Enter an approved licence in its registry.
    Licence {
        /// The request's id, for `POST /v1/work/{id}`.
        id: i64,
        case_id: String,
        /// The holder, as the registries know it.
        subject: Option<String>,
        /// The log index of the approval.
        decision: Option<u64>,
        /// The licence the approval issues.
        licence: Option<Licence>,
        /// When the lease runs out.
        #[schema(value_type = Option<Time>)]
        leased_until: Option<String>,
    },
    /// A request whose case or procedure is not in the log.
    Unknown {
        /// The request's id.
        id: i64,
        case_id: String,
    },
}

/// One leased request as the worker receives it.
fn leased_request(log: &LogState, leased: &Leased) -> LeasedRequest {
    let work = &leased.work;
    let application = &leased.application;
    let logged = log
        .application(&work.case_id)
        .and_then(|a| log.procedure_at(a.procedure));
    let Some(logged) = logged else {
        return LeasedRequest::Unknown {
            id: work.id,
            case_id: work.case_id.clone(),
        };
    };
    let procedure = &logged.procedure;
    match work.kind {
        WorkKind::Evidence => {
            let item = procedure.item(&work.evidence);
            let key = log.evidence_key(logged, &work.evidence);
            LeasedRequest::Evidence {
                id: work.id,
                case_id: work.case_id.clone(),
                evidence: work.evidence.clone(),
                subject: item.and_then(|i| application.inputs.get(&i.subject).cloned()),
                case_secret: application.case_secret.clone(),
                key_id: key.map(|k| k.key_id.clone()),
                policy: item.map(|i| i.policy.clone()),
                registry: item.map(|i| i.registry.clone()),
                params: item.map(|i| procedure.params(i, application.created)),
                leased_until: work.leased_until.map(format_time),
            }
        }
        WorkKind::Licence => {
            let decision = log
                .application(&work.case_id)
                .and_then(|a| log.latest_decision(a));
            let holder = procedure
                .evidence
                .first()
                .and_then(|i| application.inputs.get(&i.subject));
            LeasedRequest::Licence {
                id: work.id,
                case_id: work.case_id.clone(),
                subject: holder.cloned(),
                decision: decision.map(|d| d.index),
                licence: decision.and_then(|d| d.licence.clone()),
                leased_until: work.leased_until.map(format_time),
            }
        }
    }
}

/// Lease the department's pending requests (department)
///
/// Leases up to `limit` (default 64, at most 1024) requests that are neither
/// done nor under a running lease, oldest first, for `lease_seconds` (default
/// 300, at most 3600), in one transaction (`FOR UPDATE SKIP LOCKED` on
/// PostgreSQL): workers sharing a queue never lease the same request at once,
/// and a lease that expires returns its request to the queue. An evidence
/// request carries the case, the subject, the case secret, the key, the policy,
/// the registry and the params; a licence request the licence and its holder.
#[utoipa::path(
    get,
    path = "/v1/work",
    operation_id = "leaseWork",
    tag = "applications",
    security(("department" = [])),
    params(
        LeaseQuery,
    ),
    responses(
        (
            status = 200,
            description = "The leased requests, `Cache-Control: no-store`.",
            body = WorkLease,
        ),
        (
            status = 400,
            description = "`malformed_request`.",
            body = ErrorBody,
        ),
        (status = 401, response = Unauthorized),
        (status = 408, response = Timeout),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn get_work(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    ApiQuery(query): ApiQuery<LeaseQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(64);
    if !(1..=MAX_LEASE_ITEMS).contains(&limit) {
        return Err(ApiError::MalformedRequest(format!(
            "limit: must be 1 to {MAX_LEASE_ITEMS}"
        )));
    }
    let lease = query.lease_seconds.unwrap_or(DEFAULT_LEASE_SECONDS);
    if !(1..=MAX_LEASE_SECONDS).contains(&lease) {
        return Err(ApiError::MalformedRequest(format!(
            "lease_seconds: must be 1 to {MAX_LEASE_SECONDS}"
        )));
    }
    let storage = state.storage.clone();
    let name = department.name.clone();
    let at = now();
    let leased = blocking(move || Ok(storage.lease_work(&name, limit, at, at + lease)?)).await?;
    if !leased.is_empty() {
        state.casework_changed();
    }
    let log = state.log();
    let work = leased.iter().map(|l| leased_request(&log, l)).collect();
    Ok(no_store(Json(WorkLease { work }).into_response()))
}

/// The department's queue, counted (department)
///
/// Pending, leased and done requests, and up to 100 open ones, without secrets.
#[utoipa::path(
    get,
    path = "/v1/work/queue",
    operation_id = "workQueue",
    tag = "applications",
    security(("department" = [])),
    responses(
        (
            status = 200,
            description = "The queue.",
            body = Queue,
        ),
        (status = 401, response = Unauthorized),
        (status = 408, response = Timeout),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn get_queue(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
) -> Result<Json<Queue>, ApiError> {
    let storage = state.storage.clone();
    let name = department.name.clone();
    let at = now();
    let (counts, open) = blocking(move || {
        Ok((
            storage.queue_counts(&name, at)?,
            storage.open_work(&name, 100)?,
        ))
    })
    .await?;
    let open = open
        .iter()
        .map(|w| OpenRequest {
            id: w.id,
            case_id: w.case_id.clone(),
            kind: w.kind.as_str().to_string(),
            evidence: w.evidence.clone(),
            leased_until: w.leased_until.filter(|u| *u > at).map(format_time),
            leases: w.leases,
        })
        .collect();
    Ok(Json(Queue {
        department: department.name,
        pending: counts.pending,
        leased: counts.leased,
        done: counts.done,
        open,
    }))
}

/// A department's queue, counted, with its open requests.
#[derive(Serialize, ToSchema)]
pub(super) struct Queue {
    /// The department.
    department: String,
    /// Requests waiting for a lease.
    pending: u64,
    /// Requests under a lease.
    leased: u64,
    /// Requests answered.
    done: u64,
    /// The oldest open requests, at most 100.
    open: Vec<OpenRequest>,
}

/// An open request, without its secrets.
#[derive(Serialize, ToSchema)]
pub(super) struct OpenRequest {
    id: i64,
    case_id: String,
    /// `evidence` or `licence`.
    kind: String,
    /// The item of evidence; empty for a licence.
    evidence: String,
    /// When its lease runs out, while it is leased.
    #[schema(value_type = Option<Time>)]
    leased_until: Option<String>,
    /// How many times it was leased.
    leases: i64,
}

/// A completed request: a proof, an unmet answer, or an issued licence.
///
/// The fields are only as strict as the body's parsing: a batch judges
/// each item on its own, so what an item holds is checked there.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Completion {
    /// The request's id: in a batch, required; in the path's route, the
    /// path's.
    #[serde(default)]
    #[schema(nullable = false)]
    id: Option<i64>,
    /// For evidence, `proof`, or why it cannot be proved:
    /// `not_satisfied`, `subject_not_found`, `revoked` or
    /// `invalid_input`; for a licence, `issued`.
    outcome: String,
    /// With a proof: the key it was made with.
    #[serde(default)]
    #[schema(nullable = false)]
    key_id: Option<String>,
    /// With a proof: its public inputs, canonical decimal.
    #[serde(default)]
    #[schema(nullable = false)]
    public_inputs: Option<Vec<String>>,
    /// With a proof: the proof, snarkjs JSON.
    #[serde(default)]
    #[schema(value_type = Value)]
    proof: Option<Value>,
    /// With `not_satisfied`: the conditions that failed.
    #[serde(default)]
    conditions: Vec<String>,
    /// With `issued`: the log index of the licence registry's root that
    /// holds the licence, anchored after the approval.
    #[serde(default)]
    #[schema(nullable = false)]
    root_index: Option<u64>,
    /// The department's signature of an unmet answer (an `EntrySignature`),
    /// once governance lists its key.
    #[serde(default)]
    #[schema(value_type = Object)]
    signature: Option<EntrySignature>,
}

/// Several completed requests.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Completions {
    /// At most `limits.max_batch_items` (default 1024) of them.
    items: Vec<Completion>,
}

/// What became of completed requests, in their order.
#[derive(Serialize, ToSchema)]
pub(super) struct WorkResults {
    results: Vec<WorkOutcome>,
}

/// What became of one completed request.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(super) enum WorkOutcome {
    /// The answer is in the log, or the licence in its registry.
    Accepted {
        /// The request.
        id: i64,
        /// The log index of the answer (or of the licence's root).
        index: u64,
    },
    /// The request was answered before.
    Existing {
        /// The request.
        id: i64,
        /// The log index of its answer.
        index: u64,
    },
    /// Refused; in a batch only (the route of one request answers with
    /// the refusal's status and body).
    Rejected {
        /// Why.
        error: ErrorDetail,
        /// The status the refusal has.
        http_status: u16,
    },
}

/// Complete one request (department)
///
/// As one item of `POST /v1/work`; a rejection answers with its status. An
/// unmet answer (`not_satisfied`, `subject_not_found`, `revoked`,
/// `invalid_input`) carries the department's `signature` (an EntrySignature
/// over the `unmet` entry it appends) once governance lists its key; without it
/// the item is rejected with `unsigned`.
#[utoipa::path(
    post,
    path = "/v1/work/{id}",
    operation_id = "completeWork",
    tag = "applications",
    security(("department" = [])),
    params(
        (
            "id" = i64,
            Path,
        ),
    ),
    request_body = Completion,
    responses(
        (
            status = 200,
            description = "`accepted` or `existing`, with the answering entry's index.",
            body = WorkOutcome,
        ),
        (
            status = 400,
            description = "`malformed_request`.",
            body = ErrorBody,
        ),
        (status = 401, response = Unauthorized),
        (
            status = 403,
            description = "`forbidden`: the request is another department's.",
            body = ErrorBody,
        ),
        (
            status = 404,
            description = "`not_found`.",
            body = ErrorBody,
        ),
        (status = 408, response = Timeout),
        (
            status = 409,
            description = "`already_answered`, `already_decided` or `conflict`.",
            body = ErrorBody,
        ),
        (status = 413, response = TooLargeBatch),
        (
            status = 422,
            description = "`not_requested`, `subject_mismatch`, `invalid_proof`, \
             `single_party_key` or a root refusal.",
            body = ErrorBody,
        ),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn post_work(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(mut completion): ApiJson<Completion>,
) -> Result<Response, ApiError> {
    completion.id = Some(id);
    let mut results = complete(&state, &department.name, vec![completion]).await?;
    match results.remove(0) {
        WorkOutcome::Rejected { error, http_status } => Ok((
            StatusCode::from_u16(http_status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(ErrorBody { error }),
        )
            .into_response()),
        done => Ok(Json(done).into_response()),
    }
}

/// Complete many requests (department)
///
/// Each item names its request (`id`) and its outcome: `proof` (with `key_id`,
/// `public_inputs`, `proof`; verified in one batch), `not_satisfied` (with the
/// failed `conditions`), `subject_not_found`, `revoked`, `invalid_input`, or
/// for a licence `issued` (with `root_index`, the root of the licence registry
/// anchored after the approval). Each result is `accepted`, `existing` or
/// `rejected` with its error. An unmet answer (`not_satisfied`,
/// `subject_not_found`, `revoked`, `invalid_input`) carries the department's
/// `signature` (an EntrySignature over the `unmet` entry it appends) once
/// governance lists its key; without it the item is rejected with `unsigned`.
#[utoipa::path(
    post,
    path = "/v1/work",
    operation_id = "completeWorkBatch",
    tag = "applications",
    security(("department" = [])),
    request_body = Completions,
    responses(
        (
            status = 200,
            description = "One result per item.",
            body = WorkResults,
        ),
        (
            status = 400,
            description = "`malformed_request`.",
            body = ErrorBody,
        ),
        (status = 401, response = Unauthorized),
        (status = 408, response = Timeout),
        (status = 413, response = TooLargeBatch),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn post_work_batch(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    ApiJson(batch): ApiJson<Completions>,
) -> Result<Json<WorkResults>, ApiError> {
    let limit = state.config.limits.max_batch_items;
    if batch.items.len() > limit {
        return Err(ApiError::MalformedRequest(format!(
            "a batch holds at most {limit} items; this one has {}",
            batch.items.len()
        )));
    }
    let results = complete(&state, &department.name, batch.items).await?;
    Ok(Json(WorkResults { results }))
}

fn rejected(error: &ApiError) -> WorkOutcome {
    WorkOutcome::Rejected {
        error: error.detail(),
        http_status: error.status().as_u16(),
    }
}

/// Completes requests of `department`: proofs go through the rules and
/// one batch verification, unmet answers through the rules, and issued
/// licences are checked against the log's roots. Requests answered are
/// marked done; approvals queue their licence.
async fn complete(
    state: &Arc<AppState>,
    department: &str,
    completions: Vec<Completion>,
) -> Result<Vec<WorkOutcome>, ApiError> {
    let ids: Vec<Option<i64>> = completions.iter().map(|c| c.id).collect();
    let storage = state.storage.clone();
    let works = blocking(move || {
        ids.iter()
            .map(|id| match id {
                Some(id) => Ok(storage.work(*id)?),
                None => Ok(None),
            })
            .collect::<Result<Vec<Option<Work>>, ApiError>>()
    })
    .await?;

    let mut results: Vec<Option<WorkOutcome>> = std::iter::repeat_with(|| None)
        .take(completions.len())
        .collect();
    let mut proofs: Vec<(usize, Work, Result<ProofLine, ApiError>)> = Vec::new();
    let mut drafts: Vec<(usize, Work, Draft)> = Vec::new();
    let mut done: Vec<(i64, u64, usize)> = Vec::new();
    let mut touched: Vec<String> = Vec::new();
    for (i, (completion, work)) in completions.into_iter().zip(works).enumerate() {
        let work = match (completion.id, work) {
            (None, _) => {
                results[i] = Some(rejected(&ApiError::MalformedRequest(
                    "each item names its request: `id`".into(),
                )));
                continue;
            }
            (Some(id), None) => {
                results[i] = Some(rejected(&ApiError::NotFound(format!(
                    "no work request {id}"
                ))));
                continue;
            }
            (Some(_), Some(work)) => work,
        };
        if work.department != department {
            results[i] = Some(rejected(&ApiError::Forbidden(format!(
                "work request {} is for `{}`",
                work.id, work.department
            ))));
            continue;
        }
        if let Some(index) = work.done {
            results[i] = Some(WorkOutcome::Existing { id: work.id, index });
            continue;
        }
        touched.push(work.case_id.clone());
        match (work.kind, completion.outcome.as_str()) {
            (WorkKind::Evidence, "proof") => {
                let submission = match (
                    completion.key_id,
                    completion.public_inputs,
                    completion.proof,
                ) {
                    (Some(key_id), Some(public_inputs), Some(proof)) => Ok(ProofLine {
                        key_id,
                        case_id: work.case_id.clone(),
                        registry_root: String::new(),
                        public_inputs,
                        proof,
                    }),
                    _ => Err(ApiError::MalformedRequest(
                        "a proof gives `key_id`, `public_inputs` and `proof`".into(),
                    )),
                };
                proofs.push((i, work, submission));
            }
            (WorkKind::Evidence, reason) => {
                let entry = Entry::Unmet {
                    case_id: work.case_id.clone(),
                    evidence: work.evidence.clone(),
                    department: department.to_string(),
                    reason: reason.to_string(),
                    conditions: completion.conditions,
                    time: format_time(now()),
                    signature: completion.signature,
                };
                drafts.push((
                    i,
                    work,
                    Draft {
                        entry,
                        verified: None,
                    },
                ));
            }
            (WorkKind::Licence, "issued") => {
                let checked = check_issued(state, &work, department, completion.root_index);
                match checked {
                    Ok(index) => {
                        done.push((work.id, index, i));
                        results[i] = Some(WorkOutcome::Accepted { id: work.id, index });
                    }
                    Err(e) => results[i] = Some(rejected(&e)),
                }
            }
            (WorkKind::Licence, other) => {
                results[i] = Some(rejected(&ApiError::MalformedRequest(format!(
                    "a licence request is completed with `issued`, not `{other}`"
                ))));
            }
        }
    }

    let mut cases: Vec<String> = Vec::new();
    if !proofs.is_empty() {
        let (slots, submissions): (Vec<(usize, Work)>, Vec<_>) =
            proofs.into_iter().map(|(i, w, s)| ((i, w), s)).unzip();
        let (items, _, _) = settle(state, department, submissions).await?;
        for ((i, work), item) in slots.into_iter().zip(items) {
            results[i] = Some(match item {
                Item::Existing(index)
                | Item::Done(Outcome::New(index) | Outcome::Existing(index)) => {
                    done.push((work.id, index, i));
                    cases.push(work.case_id.clone());
                    WorkOutcome::Accepted { id: work.id, index }
                }
                Item::Refused(e) => rejected(&e),
                _ => rejected(&ApiError::Internal("an unsettled item".into())),
            });
        }
    }
    if !drafts.is_empty() {
        let (slots, drafts): (Vec<(usize, Work)>, Vec<Draft>) =
            drafts.into_iter().map(|(i, w, d)| ((i, w), d)).unzip();
        let committed = append(state, drafts).await?;
        for ((i, work), outcome) in slots.into_iter().zip(committed.outcomes) {
            results[i] = Some(match outcome {
                Outcome::New(index) | Outcome::Existing(index) => {
                    done.push((work.id, index, i));
                    cases.push(work.case_id.clone());
                    WorkOutcome::Accepted { id: work.id, index }
                }
                Outcome::Refused(refusal) => rejected(&ApiError::Refused(refusal)),
            });
        }
    }
    let finished: Vec<(i64, u64)> = done.iter().map(|(id, index, _)| (*id, *index)).collect();
    let (licences, decided) = {
        let log = state.log();
        (licence_work(&log, &cases), decided_cases(&log, touched))
    };
    let storage = state.storage.clone();
    blocking(move || {
        // The requests that follow go in before the answered ones are
        // done, so that the queue is never empty while a licence is due,
        // and a crash between the two leaves the answer to be given again
        // rather than the licence unasked for.
        storage.add_work(&licences)?;
        storage.finish_work(&finished)?;
        // A decided case asks for no more evidence: its open requests are
        // done, by the decision.
        for (case_id, index) in decided {
            let moot: Vec<(i64, u64)> = storage
                .case_work(&case_id)?
                .iter()
                .filter(|w| w.kind == WorkKind::Evidence && w.done.is_none())
                .map(|w| (w.id, index))
                .collect();
            storage.finish_work(&moot)?;
        }
        Ok(())
    })
    .await?;
    state.casework_changed();
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| rejected(&ApiError::Internal("no outcome".into()))))
        .collect())
}

/// The decided cases among `cases`, each once, with its decision's index.
fn decided_cases(log: &LogState, mut cases: Vec<String>) -> Vec<(String, u64)> {
    cases.sort();
    cases.dedup();
    cases
        .into_iter()
        .filter_map(|case_id| {
            let index = log
                .application(&case_id)
                .and_then(|a| log.latest_decision(a))?
                .index;
            Some((case_id, index))
        })
        .collect()
}

/// The licence requests that approvals of `cases` call for.
pub(super) fn licence_work(log: &LogState, cases: &[String]) -> Vec<NewWork> {
    let mut work: Vec<NewWork> = Vec::new();
    for case_id in cases {
        let Some(application) = log.application(case_id) else {
            continue;
        };
        let Some(decision) = log.latest_decision(application) else {
            continue;
        };
        if decision.decision == "approved"
            && decision.licence.is_some()
            && !work.iter().any(|w| w.case_id == *case_id)
        {
            work.push(NewWork {
                case_id: case_id.clone(),
                kind: WorkKind::Licence,
                evidence: String::new(),
                department: decision.department.clone(),
            });
        }
    }
    work
}

/// An issued licence names the root, anchored by the deciding department
/// for the licence registry after the approval, that holds it.
fn check_issued(
    state: &AppState,
    work: &Work,
    department: &str,
    root_index: Option<u64>,
) -> Result<u64, ApiError> {
    let root_index = root_index.ok_or_else(|| {
        ApiError::MalformedRequest("an issued licence names its registry root: `root_index`".into())
    })?;
    let log = state.log();
    let decision = log
        .application(&work.case_id)
        .and_then(|a| log.latest_decision(a))
        .ok_or_else(|| ApiError::Conflict(format!("case {} is not decided", work.case_id)))?;
    let licence = decision.licence.as_ref().ok_or_else(|| {
        ApiError::Conflict(format!(
            "case {}'s decision issues no licence",
            work.case_id
        ))
    })?;
    let anchored = log
        .roots(&licence.registry)
        .iter()
        .any(|r| r.index == root_index && r.department == department && r.index > decision.index);
    if !anchored {
        return Err(ApiError::Conflict(format!(
            "log entry {root_index} is not a root of `{}` anchored by `{department}` after the \
             approval at entry {}",
            licence.registry, decision.index
        )));
    }
    Ok(root_index)
}
