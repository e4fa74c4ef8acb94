//! The handlers of the `/v1` API.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_keys::digest::{key_id, policy_hash};
use zkgov_keys::snarkjs;
use zkgov_log::entry::{format_time, Entry};
use zkgov_log::receipt::Receipt;
use zkgov_log::rules::{check_case_id, LoggedKey, Refusal};
use zkgov_log::signature::EntrySignature;
use zkgov_log::{encode_hash, tree};

use super::appender::{AppendError, Committed, Draft, Outcome};
use super::applications::licence_work;
use super::auth::{AdminAuth, DepartmentAuth};
use super::batcher;
use super::error::ApiError;
use super::{now, AppState, OPENAPI};
use crate::proof_line::ProofLine;
use crate::storage::{tree_error, Nodes, StorageError};

/// A JSON request body parsed strictly ([`zkgov_log::json`]): UTF-8, an
/// object at the top, no key twice in any object; every refusal a
/// [`ApiError::MalformedRequest`] naming what is wrong.
pub(super) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        JsonBody::from_request(request, state)
            .await?
            .parse()
            .map(ApiJson)
    }
}

/// A JSON request body, read but not yet parsed, for a handler that
/// authorises by its path before it looks at the body.
pub(super) struct JsonBody(axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::MalformedRequest(
                "expected a request with `Content-Type: application/json`".into(),
            ));
        }
        match axum::body::Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(JsonBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::BodyTooLarge)
            }
            Err(rejection) => Err(ApiError::MalformedRequest(rejection.body_text())),
        }
    }
}

impl JsonBody {
    /// The body as a `T`, parsed strictly.
    pub(super) fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        zkgov_log::json::from_slice(&self.0).map_err(|e| ApiError::MalformedRequest(e.to_string()))
    }
}

/// Whether the request says its body is JSON: `application/json`, or a
/// `+json` type, with any parameters.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `axum::extract::Query`, with its rejections turned into [`ApiError`]s.
pub(super) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::MalformedRequest(rejection.body_text())),
        }
    }
}

/// `axum::extract::Path`, with its rejections turned into [`ApiError`]s:
/// a path parameter of the wrong type, or percent-encoding that is not
/// UTF-8, is a JSON `malformed_request` like any other.
pub(super) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::MalformedRequest(rejection.body_text())),
        }
    }
}

/// Runs blocking work (storage) off the executor.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
}

/// Runs CPU-heavy work (point validation, pairings) off the executor, at
/// most one task per core at a time. The task holds its permit until it
/// ends, so a request that times out does not free a core still in use.
async fn verifying<T: Send + 'static>(
    state: &Arc<AppState>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let permit = state
        .verifiers
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::ShuttingDown)?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("verification task failed: {e}")))
}

/// Applies and appends drafts through the appender; returns once the
/// accepted ones are durable under a signed checkpoint.
pub(super) async fn append(
    state: &Arc<AppState>,
    drafts: Vec<Draft>,
) -> Result<Committed, ApiError> {
    state.appender.append(drafts).await.map_err(|e| match e {
        AppendError::Stopped => ApiError::ShuttingDown,
        AppendError::Storage(detail) => ApiError::StorageUnavailable(detail),
    })
}

/// Receipts for entries, against the signed checkpoint that covers them.
async fn receipts(
    state: &Arc<AppState>,
    indexes: Vec<u64>,
    checkpoint: String,
    size: u64,
) -> Result<Vec<Receipt>, ApiError> {
    let state = state.clone();
    blocking(move || {
        let storage = &*state.storage;
        indexes
            .into_iter()
            .map(|index| {
                let entry = storage.entries(index, index + 1)?.pop().ok_or_else(|| {
                    StorageError::Corrupt {
                        what: format!("entry {index} missing"),
                    }
                })?;
                let proof =
                    tree::inclusion_proof(index, size, &Nodes(storage)).map_err(tree_error)?;
                Ok(Receipt {
                    index,
                    leaf_hash: Receipt::leaf_hash_of(&entry),
                    entry: String::from_utf8(entry).map_err(|_| StorageError::Corrupt {
                        what: format!("entry {index} is not UTF-8"),
                    })?,
                    checkpoint: checkpoint.clone(),
                    inclusion_proof: proof.iter().map(encode_hash).collect(),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()
            .map_err(ApiError::from)
    })
    .await
}

/// The log index of an outcome that has an entry, or the refusal.
pub(super) fn outcome_index(outcome: &Outcome) -> Result<u64, ApiError> {
    match outcome {
        Outcome::New(i) | Outcome::Existing(i) => Ok(*i),
        Outcome::Refused(refusal) => Err(ApiError::Refused(refusal.clone())),
    }
}

/// 201 with the receipt for a new entry, 200 for an existing one.
pub(super) fn receipt_response(outcome: &Outcome, receipt: Receipt) -> Response {
    let status = match outcome {
        Outcome::New(_) => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    (status, Json(receipt)).into_response()
}

/// Appends one draft and returns its outcome and receipt.
pub(super) async fn append_one(
    state: &Arc<AppState>,
    draft: Draft,
) -> Result<(Outcome, Receipt), ApiError> {
    let committed = append(state, vec![draft]).await?;
    let outcome = committed.outcomes[0].clone();
    let index = outcome_index(&outcome)?;
    let receipt = receipts(state, vec![index], committed.checkpoint, committed.size)
        .await?
        .remove(0);
    Ok((outcome, receipt))
}

/// `response`, marked never to be stored: it is for one applicant or
/// department only.
pub(super) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The receipt of an entry already logged, against the latest checkpoint.
pub(super) async fn existing_receipt(
    state: &Arc<AppState>,
    index: u64,
) -> Result<Receipt, ApiError> {
    let (checkpoint, size) = latest_checkpoint(state)?;
    Ok(receipts(state, vec![index], checkpoint, size)
        .await?
        .remove(0))
}

/// The latest signed checkpoint, with its witnesses' cosignatures once
/// they have been gathered.
pub(super) fn latest_checkpoint(state: &AppState) -> Result<(String, u64), ApiError> {
    let note = state
        .signed
        .note()
        .ok_or_else(|| ApiError::Internal("no checkpoint signed yet".into()))?;
    let size = state.signed.last().map_or(0, |c| c.size);
    Ok((state.cosigned.note_at(size).unwrap_or(note), size))
}

// ---------------------------------------------------------------- health

/// Answers from memory: a probe must not queue for a database connection
/// behind the requests it is meant to watch.
pub(super) async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"status": "ok", "log_size": *state.log_size.borrow()}))
}

pub(super) async fn get_metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        state.metrics.render(*state.log_size.borrow()),
    )
        .into_response()
}

pub(super) async fn get_openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

// ---------------------------------------------------------------- keys

/// A key registration: the verifying key and the policy it proves.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyRegistration {
    /// The registry the policy reads.
    pub registry: String,
    /// The verifying key, snarkjs JSON.
    pub verifying_key: Value,
    /// The schema, TOML text.
    pub schema: String,
    /// The policy, TOML text.
    pub policy: String,
}

/// Registers a key (or finds it registered): used by the route and at
/// start-up for configured key directories.
pub(super) async fn register_key(
    state: &Arc<AppState>,
    request: KeyRegistration,
) -> Result<(Outcome, Receipt), ApiError> {
    // Parsing validates points and checks `vk_alphabeta_12` (a pairing);
    // the canonical JSON recomputes it: CPU work.
    let text = request.verifying_key.to_string();
    let (vk, vk_json) = verifying(state, move || {
        let vk = snarkjs::verifying_key_from_json(&text)
            .map_err(|e| ApiError::MalformedRequest(format!("verifying_key: {e}")))?;
        let json = snarkjs::verifying_key_to_json(&vk);
        Ok::<_, ApiError>((vk, json))
    })
    .await??;
    let schema = Schema::from_toml("schema", &request.schema)
        .map_err(|e| ApiError::MalformedRequest(e.to_string()))?;
    let policy = Policy::from_toml("policy", &request.policy, &schema)
        .map_err(|e| ApiError::MalformedRequest(e.to_string()))?;
    let policy_hash = policy_hash(&schema, &policy);
    let entry = Entry::Key {
        key_id: key_id(&vk, &policy_hash).to_string(),
        registry: request.registry,
        policy: policy.name.clone(),
        policy_hash: policy_hash.to_string(),
        verifying_key: vk_json,
        schema_toml: request.schema,
        policy_toml: request.policy,
        time: format_time(now()),
    };
    append_one(
        state,
        Draft {
            entry,
            verified: None,
        },
    )
    .await
}

pub(super) async fn post_key(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
    ApiJson(request): ApiJson<KeyRegistration>,
) -> Result<Response, ApiError> {
    let (outcome, receipt) = register_key(&state, request).await?;
    Ok(receipt_response(&outcome, receipt))
}

fn key_summary(key: &LoggedKey) -> Value {
    json!({
        "key_id": key.key_id,
        "registry": key.registry,
        "policy": key.policy_name,
        "public_inputs": key.input_names,
        "log_index": key.index,
    })
}

pub(super) async fn list_keys(State(state): State<Arc<AppState>>) -> Json<Value> {
    let log = state.log();
    let mut list: Vec<&Arc<LoggedKey>> = log.keys().collect();
    list.sort_by_key(|k| k.index);
    Json(json!({"keys": list.iter().map(|k| key_summary(k)).collect::<Vec<_>>()}))
}

pub(super) async fn get_key(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let key = state
        .log()
        .key(&id)
        .cloned()
        .ok_or(ApiError::Refused(Refusal::UnknownKey(id)))?;
    let mut body = key_summary(&key);
    body["verifying_key"] = key.verifying_key.clone();
    body["schema"] = Value::String(key.schema_toml.clone());
    body["policy_toml"] = Value::String(key.policy_toml.clone());
    Ok(Json(body))
}

// ---------------------------------------------------------------- roots

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RootPublication {
    root: String,
    /// The department's signature, once governance lists its key.
    #[serde(default)]
    signature: Option<EntrySignature>,
}

pub(super) async fn post_root(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    ApiPath(registry): ApiPath<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    state.log().may_anchor_root(&department.name, &registry)?;
    let body: RootPublication = body.parse()?;
    let root = parse_field_element(&body.root)
        .map_err(|e| ApiError::NonCanonicalInput(format!("root: {e}")))?;
    let entry = Entry::Root {
        department: department.name,
        registry,
        root: to_decimal(&root),
        time: format_time(now()),
        signature: body.signature,
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

// ---------------------------------------------------------------- proofs

/// What a submission comes to before its proof is checked.
enum Checked {
    /// The statement is logged already, with the same inputs.
    Existing(u64),
    /// Every rule but the proof's validity holds: the draft and the
    /// batcher's job.
    Pending(Box<Entry>, batcher::Job),
}

/// The submission as a result entry, judged by the rules against the log
/// so far (every rule but the proof's own validity).
fn check_submission(
    state: &AppState,
    department: &str,
    submission: ProofLine,
) -> Result<Checked, ApiError> {
    check_case_id(&submission.case_id)?;
    let log = state.log();
    let entry = Entry::Result {
        key_id: submission.key_id,
        case_id: submission.case_id,
        subject_tag: submission.public_inputs.get(2).cloned().unwrap_or_default(),
        registry_root: submission
            .public_inputs
            .first()
            .cloned()
            .unwrap_or_default(),
        public_inputs: submission.public_inputs,
        proof: submission.proof,
        department: department.to_string(),
        // Judged against the log as it stands now, which may hold an
        // entry stamped after this request's clock was read.
        time: format_time(log.next_time(now())),
    };
    let (key, inputs) = match log.claim_inputs(&entry) {
        Ok(claim) => claim,
        Err(Refusal::AlreadyLogged { index }) => return Ok(Checked::Existing(index)),
        Err(refusal) => return Err(ApiError::Refused(refusal)),
    };
    let Entry::Result { proof, .. } = &entry else {
        unreachable!("a result entry")
    };
    let job = batcher::Job {
        department: department.to_string(),
        key,
        proof: proof.clone(),
        inputs,
    };
    Ok(Checked::Pending(Box::new(entry), job))
}

/// The draft of a checked submission, its proof canonical as verified.
fn result_draft(mut entry: Entry, verified: zkgov_log::rules::VerifiedProof) -> Draft {
    if let Entry::Result { proof, .. } = &mut entry {
        *proof = verified.proof.clone();
    }
    Draft {
        entry,
        verified: Some(verified),
    }
}

fn refused(state: &AppState, error: ApiError) -> ApiError {
    state.metrics.proof(error.reason());
    error
}

pub(super) async fn post_proof(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    ApiJson(submission): ApiJson<ProofLine>,
) -> Result<Response, ApiError> {
    let checked =
        check_submission(&state, &department.name, submission).map_err(|e| refused(&state, e))?;
    let (entry, job) = match checked {
        Checked::Existing(index) => {
            state.metrics.proof("existing");
            let receipt = existing_receipt(&state, index).await?;
            return Ok(receipt_response(&Outcome::Existing(index), receipt));
        }
        Checked::Pending(entry, job) => (*entry, job),
    };
    // Checked with whatever else arrives meanwhile.
    let (verdict, elapsed) = state.batcher.check(job).await?;
    state.metrics.verified(1, elapsed);
    let verified = verdict.map_err(|e| refused(&state, e))?;
    let (outcome, receipt) = append_one(&state, result_draft(entry, verified))
        .await
        .map_err(|e| refused(&state, e))?;
    state.metrics.proof(match outcome {
        Outcome::New(_) => "accepted",
        _ => "existing",
    });
    Ok(receipt_response(&outcome, receipt))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Batch {
    items: Vec<Value>,
}

#[derive(Serialize)]
struct BatchOutcome {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<Receipt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

/// Where one batch item stands.
pub(super) enum Item {
    Refused(ApiError),
    Existing(u64),
    Pending(Entry, batcher::Job),
    Verified(Draft),
    Done(Outcome),
}

/// Judges submissions under the rules, verifies the proofs still standing
/// in one random-linear-combination check, and appends the valid ones in
/// one group. Each item comes back `Existing`, `Done` or `Refused`, with
/// the signed checkpoint that covers them.
pub(super) async fn settle(
    state: &Arc<AppState>,
    department: &str,
    submissions: Vec<Result<ProofLine, ApiError>>,
) -> Result<(Vec<Item>, String, u64), ApiError> {
    let mut items: Vec<Item> = submissions
        .into_iter()
        .map(
            |submission| match submission.and_then(|s| check_submission(state, department, s)) {
                Ok(Checked::Existing(index)) => Item::Existing(index),
                Ok(Checked::Pending(entry, job)) => Item::Pending(*entry, job),
                Err(e) => Item::Refused(e),
            },
        )
        .collect();
    // Off the executor: parse every proof still standing, then one
    // random-linear-combination check over those that parsed.
    let mut jobs = Vec::new();
    let mut pending = Vec::new();
    for (i, item) in items.iter_mut().enumerate() {
        if let Item::Pending(_, job) = item {
            jobs.push(std::mem::replace(
                job,
                batcher::Job {
                    department: String::new(),
                    key: job.key.clone(),
                    proof: Value::Null,
                    inputs: Vec::new(),
                },
            ));
            pending.push(i);
        }
    }
    let count = jobs.len();
    let (verdicts, elapsed) = verifying(state, move || {
        let started = Instant::now();
        (batcher::check_all(&jobs), started.elapsed())
    })
    .await?;
    state.metrics.verified(count, elapsed);
    for (&i, verdict) in pending.iter().zip(verdicts) {
        let Item::Pending(entry, _) = std::mem::replace(&mut items[i], Item::Existing(0)) else {
            unreachable!("pending items")
        };
        items[i] = match verdict {
            Ok(verified) => Item::Verified(result_draft(entry, verified)),
            Err(e) => Item::Refused(e),
        };
    }

    let mut drafts = Vec::new();
    let mut drafted = Vec::new();
    for (i, item) in items.iter_mut().enumerate() {
        if let Item::Verified(_) = item {
            let Item::Verified(draft) = std::mem::replace(item, Item::Existing(0)) else {
                unreachable!("verified items")
            };
            drafts.push(draft);
            drafted.push(i);
        }
    }
    let (checkpoint, size) = if drafts.is_empty() {
        latest_checkpoint(state)?
    } else {
        let committed = append(state, drafts).await?;
        for (&i, outcome) in drafted.iter().zip(committed.outcomes) {
            items[i] = match outcome {
                Outcome::Refused(refusal) => Item::Refused(ApiError::Refused(refusal)),
                other => Item::Done(other),
            };
        }
        (committed.checkpoint, committed.size)
    };
    Ok((items, checkpoint, size))
}

pub(super) async fn post_batch(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    ApiJson(batch): ApiJson<Batch>,
) -> Result<Response, ApiError> {
    let limit = state.config.limits.max_batch_items;
    if batch.items.len() > limit {
        return Err(ApiError::MalformedRequest(format!(
            "a batch holds at most {limit} items; this one has {}",
            batch.items.len()
        )));
    }
    let submissions = batch
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value::<ProofLine>(item)
                .map_err(|e| ApiError::MalformedRequest(format!("items[{i}]: {e}")))
        })
        .collect();
    let (items, checkpoint, size) = settle(&state, &department.name, submissions).await?;
    let indexes: Vec<u64> = items
        .iter()
        .filter_map(|item| match item {
            Item::Existing(i) | Item::Done(Outcome::New(i) | Outcome::Existing(i)) => Some(*i),
            _ => None,
        })
        .collect();
    let mut receipts = receipts(&state, indexes, checkpoint, size)
        .await?
        .into_iter();
    let results: Vec<BatchOutcome> = items
        .into_iter()
        .map(|item| {
            let (status, error) = match item {
                Item::Done(Outcome::New(_)) => ("accepted", None),
                Item::Existing(_) | Item::Done(Outcome::Existing(_)) => ("existing", None),
                Item::Refused(e) => ("rejected", Some(e)),
                Item::Pending(..) | Item::Verified(_) | Item::Done(Outcome::Refused(_)) => {
                    unreachable!("every item is settled")
                }
            };
            match error {
                None => {
                    state.metrics.proof(status);
                    BatchOutcome {
                        status,
                        receipt: receipts.next(),
                        error: None,
                    }
                }
                Some(e) => {
                    state.metrics.proof(e.reason());
                    BatchOutcome {
                        status,
                        receipt: None,
                        error: Some(e.body()["error"].clone()),
                    }
                }
            }
        })
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}

// ---------------------------------------------------------------- cases

pub(super) async fn get_case(
    State(state): State<Arc<AppState>>,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    check_case_id(&case_id)?;
    let log = state.log();
    let results: Vec<Value> = log
        .case_results(&case_id)
        .iter()
        .map(|r| {
            let params = log
                .key(&r.key_id)
                .map(|k| k.decode_params(&r.public_inputs))
                .unwrap_or_default();
            json!({
                "index": r.index,
                "key_id": r.key_id,
                "subject_tag": r.subject_tag,
                "registry_root": r.registry_root,
                "params": params,
                "department": r.department,
                "time": format_time(r.time),
            })
        })
        .collect();
    let decisions: Vec<Value> = log
        .case_decisions(&case_id)
        .iter()
        .map(|d| {
            json!({
                "index": d.index,
                "department": d.department,
                "decision": d.decision,
                "results": d.results,
                "time": format_time(d.time),
            })
        })
        .collect();
    Ok(Json(json!({
        "case_id": case_id,
        "results": results,
        "decisions": decisions,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompareQuery {
    /// Comma-separated key ids.
    require: String,
    /// Comma-separated `NAME=VALUE` params the results must hold.
    #[serde(default)]
    expect: String,
}

/// Parses comma-separated `NAME=VALUE` pairs.
pub(super) fn parse_expectations(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| {
                    ApiError::MalformedRequest(format!(
                        "expect `{pair}`: give NAME=VALUE, such as today=2026-11-23"
                    ))
                })
        })
        .collect()
}

pub(super) async fn compare_case(
    State(state): State<Arc<AppState>>,
    ApiPath(case_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<CompareQuery>,
) -> Result<Json<Value>, ApiError> {
    check_case_id(&case_id)?;
    let required: Vec<String> = query
        .require
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let expect = parse_expectations(&query.expect)?;
    let comparison = state.log().compare(&case_id, &required, &expect)?;
    Ok(Json(
        serde_json::to_value(comparison).expect("a comparison serializes"),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionRequest {
    pub decision: String,
    #[serde(default)]
    pub results: Vec<u64>,
    #[serde(default)]
    pub note: String,
    /// The case's latest decision, which this one amends.
    #[serde(default)]
    pub amends: Option<u64>,
    /// The deciding department's signature, once governance lists its key.
    #[serde(default)]
    pub signature: Option<EntrySignature>,
}

pub(super) async fn post_decision(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    ApiPath(case_id): ApiPath<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    state.log().may_decide(&department.name)?;
    let request: DecisionRequest = body.parse()?;
    let (outcome, receipt) = decide(&state, &department.name, case_id, request).await?;
    Ok(receipt_response(&outcome, receipt))
}

/// Records a department's decision on a case, as the rules allow it.
pub(super) async fn decide(
    state: &Arc<AppState>,
    department: &str,
    case_id: String,
    request: DecisionRequest,
) -> Result<(Outcome, Receipt), ApiError> {
    let entry = Entry::Decision {
        case_id: case_id.clone(),
        department: department.to_string(),
        decision: request.decision,
        results: request.results,
        note: request.note,
        automatic: false,
        amends: request.amends,
        // An approval's licence depends on its time: the appender asks the
        // rules for it once it has stamped the entry.
        licence: None,
        time: format_time(now()),
        signature: request.signature,
    };
    let decided = append_one(
        state,
        Draft {
            entry,
            verified: None,
        },
    )
    .await?;
    // An approval that issues a licence asks the licence registry's
    // department to add it, as an automatic one does.
    let licences = licence_work(&state.log(), &[case_id]);
    if !licences.is_empty() {
        let storage = state.storage.clone();
        blocking(move || Ok(storage.add_work(&licences)?)).await?;
        state.casework_changed();
    }
    Ok(decided)
}

// ---------------------------------------------------------------- log

pub(super) async fn get_checkpoint(
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    let (note, _) = latest_checkpoint(&state)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

/// The log's origin, its verifier key, and the hand-overs that led to it:
/// what a client needs to check the checkpoints. A client trusts the key on
/// first use only; after that it follows the hand-overs
/// from the key it trusts (see [`zkgov_log::handover`]).
pub(super) async fn get_log_key(State(state): State<Arc<AppState>>) -> Json<Value> {
    let handovers: Vec<Value> = state
        .log()
        .handovers()
        .iter()
        .map(|(index, key)| json!({"index": index, "key": key}))
        .collect();
    Json(json!({
        "origin": state.config.origin,
        "verifier_key": state.signed.signer().verifier_key(),
        "handovers": handovers,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EntriesQuery {
    start: u64,
    end: Option<u64>,
}

pub(super) async fn get_entries(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<EntriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = state.config.limits.max_entries_per_page;
    let storage = state.storage.clone();
    let (start, entries) = blocking(move || {
        let size = storage.size()?;
        let end = query
            .end
            .unwrap_or(size)
            .min(query.start.saturating_add(page));
        if query.start > end || end > size {
            return Err(ApiError::MalformedRequest(format!(
                "entries {}..{end} are not in a log of {size} entries",
                query.start
            )));
        }
        Ok((query.start, storage.entries(query.start, end)?))
    })
    .await?;
    let entries: Vec<Value> = entries
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            json!({
                "index": start + i as u64,
                "entry": String::from_utf8_lossy(&bytes),
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InclusionQuery {
    index: u64,
    size: u64,
}

pub(super) async fn get_inclusion(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<InclusionQuery>,
) -> Result<Json<Value>, ApiError> {
    let storage = state.storage.clone();
    let proof = blocking(move || {
        let current = storage.size()?;
        if query.size > current || query.index >= query.size {
            return Err(ApiError::MalformedRequest(format!(
                "need index < size <= {current}; got index {} and size {}",
                query.index, query.size
            )));
        }
        tree::inclusion_proof(query.index, query.size, &Nodes(&*storage))
            .map_err(|e| ApiError::from(tree_error(e)))
    })
    .await?;
    Ok(Json(json!({
        "index": query.index,
        "size": query.size,
        "proof": proof.iter().map(encode_hash).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsistencyQuery {
    old: u64,
    new: u64,
}

pub(super) async fn get_consistency(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<Json<Value>, ApiError> {
    let storage = state.storage.clone();
    let proof = blocking(move || {
        let current = storage.size()?;
        if query.new > current || query.old > query.new {
            return Err(ApiError::MalformedRequest(format!(
                "need old <= new <= {current}; got old {} and new {}",
                query.old, query.new
            )));
        }
        tree::consistency_proof(query.old, query.new, &Nodes(&*storage))
            .map_err(|e| ApiError::from(tree_error(e)))
    })
    .await?;
    Ok(Json(json!({
        "old": query.old,
        "new": query.new,
        "proof": proof.iter().map(encode_hash).collect::<Vec<_>>(),
    })))
}
