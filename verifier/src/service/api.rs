//! The handlers of the `/v1` API.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::statement::{Statement, FIXED_INPUTS};
use zkgov_circuits::Fr;
use zkgov_keys::digest::{key_id, policy_hash};
use zkgov_keys::snarkjs;

use super::auth::{AdminAuth, DepartmentAuth};
use super::batcher;
use super::error::ApiError;
use super::{load_key, now, tree_error, AppState, LoadedKey, OPENAPI};
use crate::log::entry::{format_time, Entry};
use crate::log::receipt::Receipt;
use crate::log::{encode_hash, tree};
use crate::storage::{
    Appended, DecisionRecord, KeyRecord, NewEntry, Nodes, Record, ResultRecord, RootRecord,
    StorageError,
};

/// `axum::Json`, with its rejections turned into [`ApiError`]s.
pub(super) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
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

fn json_rejection(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::BodyTooLarge
    } else {
        ApiError::MalformedRequest(rejection.body_text())
    }
}

/// Runs blocking work (storage) off the executor.
async fn blocking<T: Send + 'static>(
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

/// Appends through the group-commit appender; returns once durable.
async fn append(state: &Arc<AppState>, entries: Vec<NewEntry>) -> Result<Vec<Appended>, ApiError> {
    use super::appender::AppendError;
    let appended = state.appender.append(entries).await.map_err(|e| match e {
        AppendError::Stopped => ApiError::ShuttingDown,
        other => ApiError::Internal(other.to_string()),
    })?;
    if let Some(last) = appended.iter().map(|a| a.index()).max() {
        state.metrics.log_size(last + 1);
    }
    Ok(appended)
}

/// Receipts for entries, against one signed checkpoint of the current log.
async fn receipts(state: &Arc<AppState>, indexes: Vec<u64>) -> Result<Vec<Receipt>, ApiError> {
    let state = state.clone();
    blocking(move || {
        let storage = &*state.storage;
        let size = storage.size()?;
        let checkpoint = state.checkpoint(size)?;
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

/// 201 with the receipt for a new entry, 200 for an existing one.
fn receipt_response(appended: Appended, receipt: Receipt) -> Response {
    let status = match appended {
        Appended::New(_) => StatusCode::CREATED,
        Appended::Existing(_) => StatusCode::OK,
    };
    (status, Json(receipt)).into_response()
}

async fn append_one(
    state: &Arc<AppState>,
    entry: NewEntry,
) -> Result<(Appended, Receipt), ApiError> {
    let appended = append(state, vec![entry]).await?[0];
    let receipt = receipts(state, vec![appended.index()]).await?.remove(0);
    Ok((appended, receipt))
}

// ---------------------------------------------------------------- health

/// Answers from memory: a probe must not queue for a database connection
/// behind the requests it is meant to watch.
pub(super) async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"status": "ok", "log_size": state.metrics.current_log_size()}))
}

pub(super) async fn get_metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
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
) -> Result<(Appended, Receipt), ApiError> {
    if state.config.owner_of(&request.registry).is_none() {
        return Err(ApiError::UnknownRegistry(request.registry));
    }
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
    let expected = policy.public_input_names().len();
    let found = vk.gamma_abc_g1.len() - 1;
    if expected != found {
        return Err(ApiError::MalformedRequest(format!(
            "the policy has {expected} public inputs, but the verifying key takes {found}"
        )));
    }
    let policy_hash = policy_hash(&schema, &policy);
    let key_id = key_id(&vk, &policy_hash).to_string();
    let time = now();
    let entry = Entry::Key {
        key_id: key_id.clone(),
        registry: request.registry.clone(),
        policy: policy.name.clone(),
        policy_hash: policy_hash.to_string(),
        verifying_key: vk_json.clone(),
        schema_toml: request.schema.clone(),
        policy_toml: request.policy.clone(),
        time: format_time(time),
    };
    let record = KeyRecord {
        key_id: key_id.clone(),
        registry: request.registry,
        policy_name: policy.name.clone(),
        verifying_key: vk_json.to_string(),
        schema: request.schema,
        policy: request.policy,
        registered_at: time,
    };
    let (appended, receipt) = append_one(
        state,
        NewEntry {
            entry: entry.to_bytes(),
            record: Record::Key(record),
        },
    )
    .await?;
    if state.key(&key_id).is_none() {
        let storage = state.storage.clone();
        let id = key_id.clone();
        let stored = blocking(move || {
            storage
                .key(&id)?
                .ok_or_else(|| ApiError::Internal(format!("key {id} missing after append")))
        })
        .await?;
        state.insert_key(load_key(stored).map_err(ApiError::Internal)?);
    }
    Ok((appended, receipt))
}

pub(super) async fn post_key(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
    ApiJson(request): ApiJson<KeyRegistration>,
) -> Result<Response, ApiError> {
    let (appended, receipt) = register_key(&state, request).await?;
    Ok(receipt_response(appended, receipt))
}

fn key_summary(key: &LoadedKey) -> Value {
    let record = &key.stored.record;
    json!({
        "key_id": record.key_id,
        "registry": record.registry,
        "policy": record.policy_name,
        "public_inputs": key.input_names,
        "log_index": key.stored.index,
    })
}

pub(super) async fn list_keys(State(state): State<Arc<AppState>>) -> Json<Value> {
    let keys = state.keys.read().expect("keys lock");
    let mut list: Vec<&Arc<LoadedKey>> = keys.values().collect();
    list.sort_by_key(|k| k.stored.index);
    Json(json!({"keys": list.iter().map(|k| key_summary(k)).collect::<Vec<_>>()}))
}

pub(super) async fn get_key(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = state.key(&id).ok_or(ApiError::UnknownKey(id))?;
    let mut body = key_summary(&key);
    let record = &key.stored.record;
    body["verifying_key"] = serde_json::from_str(&record.verifying_key).unwrap_or(Value::Null);
    body["schema"] = Value::String(record.schema.clone());
    body["policy_toml"] = Value::String(record.policy.clone());
    Ok(Json(body))
}

// ---------------------------------------------------------------- roots

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RootPublication {
    root: String,
}

pub(super) async fn post_root(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    Path(registry): Path<String>,
    ApiJson(body): ApiJson<RootPublication>,
) -> Result<Response, ApiError> {
    match state.config.owner_of(&registry) {
        None => return Err(ApiError::UnknownRegistry(registry)),
        Some(owner) if owner.name != department.name => {
            return Err(ApiError::Forbidden(format!(
                "registry `{registry}` belongs to `{}`, not `{}`",
                owner.name, department.name
            )))
        }
        Some(_) => {}
    }
    let root = parse_field_element(&body.root)
        .map_err(|e| ApiError::NonCanonicalInput(format!("root: {e}")))?;
    let time = now();
    let entry = Entry::Root {
        department: department.name.clone(),
        registry: registry.clone(),
        root: to_decimal(&root),
        time: format_time(time),
    };
    let record = Record::Root(RootRecord {
        department: department.name,
        registry,
        root: to_decimal(&root),
        anchored_at: time,
    });
    let (appended, receipt) = append_one(
        &state,
        NewEntry {
            entry: entry.to_bytes(),
            record,
        },
    )
    .await?;
    Ok(receipt_response(appended, receipt))
}

// ---------------------------------------------------------------- proofs

/// One proof submission: exactly a `proven` line of `zkgov prove`'s output
/// (other fields, such as `status`, are ignored).
#[derive(Deserialize)]
pub(super) struct Submission {
    key_id: String,
    case_id: String,
    public_inputs: Vec<String>,
    proof: Value,
}

/// A submission that passed every check that needs no storage and no
/// curve arithmetic; its proof is parsed, with point validation, off the
/// executor together with its verification.
struct Checked {
    key: Arc<LoadedKey>,
    department: String,
    case_id: String,
    inputs: Vec<Fr>,
    proof: Value,
}

impl Checked {
    /// The proof to parse and verify, for the batcher.
    fn job(&self) -> batcher::Job {
        batcher::Job {
            department: self.department.clone(),
            key: self.key.clone(),
            proof: self.proof.clone(),
            inputs: self.inputs.clone(),
        }
    }
}

fn check_submission(
    state: &AppState,
    department: &str,
    submission: Submission,
) -> Result<Checked, ApiError> {
    check_case_id(&submission.case_id)?;
    let key = state
        .key(&submission.key_id)
        .ok_or_else(|| ApiError::UnknownKey(submission.key_id.clone()))?;
    let registry = &key.stored.record.registry;
    match state.config.owner_of(registry) {
        Some(owner) if owner.name == department => {}
        Some(owner) => {
            return Err(ApiError::Forbidden(format!(
                "key {} proves facts of registry `{registry}`, which belongs to `{}`, not `{department}`",
                submission.key_id, owner.name
            )))
        }
        None => return Err(ApiError::UnknownRegistry(registry.clone())),
    }
    let expected = key.prepared.public_inputs();
    if submission.public_inputs.len() != expected {
        return Err(ApiError::WrongPublicInputCount {
            expected,
            found: submission.public_inputs.len(),
        });
    }
    let inputs = submission
        .public_inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            parse_field_element(text)
                .map_err(|e| ApiError::NonCanonicalInput(format!("public_inputs[{i}]: {e}")))
        })
        .collect::<Result<Vec<Fr>, _>>()?;
    if inputs[1] != Statement::case_id(&submission.case_id) {
        return Err(ApiError::CaseMismatch(submission.case_id));
    }
    Ok(Checked {
        key,
        department: department.to_string(),
        case_id: submission.case_id,
        inputs,
        proof: submission.proof,
    })
}

/// Checks that each submission's registry root was anchored by its
/// registry's owner within the freshness window.
async fn check_roots(
    state: &Arc<AppState>,
    checked: &[&Checked],
) -> Result<Vec<Result<(), ApiError>>, ApiError> {
    let wanted: Vec<(String, String, String)> = checked
        .iter()
        .map(|c| {
            let registry = c.key.stored.record.registry.clone();
            let owner = state
                .config
                .owner_of(&registry)
                .map(|d| d.name.clone())
                .unwrap_or_default();
            (registry, to_decimal(&c.inputs[0]), owner)
        })
        .collect();
    let storage = state.storage.clone();
    let window = state.config.freshness;
    blocking(move || {
        let time = now();
        let mut cache: BTreeMap<(String, String), Result<(), ApiError>> = BTreeMap::new();
        let mut verdicts = Vec::new();
        for (registry, root, owner) in wanted {
            let key = (registry.clone(), root.clone());
            if !cache.contains_key(&key) {
                let verdict = match storage.root(&registry, &root)? {
                    Some(stored) if stored.record.department == owner => {
                        let age = time - stored.record.anchored_at;
                        if age > window.as_secs() as i64 {
                            Err(ApiError::RootStale {
                                registry,
                                root,
                                age_seconds: age,
                                window_seconds: window.as_secs(),
                            })
                        } else {
                            Ok(())
                        }
                    }
                    _ => Err(ApiError::RootNotAnchored { registry, root }),
                };
                cache.insert(key.clone(), verdict);
            }
            verdicts.push(match &cache[&key] {
                Ok(()) => Ok(()),
                Err(e) => Err(clone_refusal(e)),
            });
        }
        Ok(verdicts)
    })
    .await
}

fn clone_refusal(e: &ApiError) -> ApiError {
    match e {
        ApiError::RootStale {
            registry,
            root,
            age_seconds,
            window_seconds,
        } => ApiError::RootStale {
            registry: registry.clone(),
            root: root.clone(),
            age_seconds: *age_seconds,
            window_seconds: *window_seconds,
        },
        ApiError::RootNotAnchored { registry, root } => ApiError::RootNotAnchored {
            registry: registry.clone(),
            root: root.clone(),
        },
        other => ApiError::Internal(other.to_string()),
    }
}

fn result_entry(checked: &Checked, proof_json: Value, time: i64) -> NewEntry {
    let record = &checked.key.stored.record;
    let entry = Entry::Result {
        key_id: record.key_id.clone(),
        case_id: checked.case_id.clone(),
        subject_tag: to_decimal(&checked.inputs[2]),
        registry_root: to_decimal(&checked.inputs[0]),
        public_inputs: checked.inputs.iter().map(to_decimal).collect(),
        proof: proof_json,
        department: checked.department.clone(),
        time: format_time(time),
    };
    NewEntry {
        entry: entry.to_bytes(),
        record: Record::Result(ResultRecord {
            key_id: record.key_id.clone(),
            case_id: checked.case_id.clone(),
            subject_tag: to_decimal(&checked.inputs[2]),
            registry_root: to_decimal(&checked.inputs[0]),
            department: checked.department.clone(),
            accepted_at: time,
        }),
    }
}

/// Case numbers are 1 to 128 bytes without control characters, so every
/// store keeps them exactly.
fn check_case_id(case_id: &str) -> Result<(), ApiError> {
    if case_id.is_empty() || case_id.len() > 128 || case_id.chars().any(char::is_control) {
        return Err(ApiError::MalformedRequest(
            "a case id is 1 to 128 bytes without control characters".into(),
        ));
    }
    Ok(())
}

fn refused(state: &AppState, error: ApiError) -> ApiError {
    state.metrics.proof(error.reason());
    error
}

pub(super) async fn post_proof(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    ApiJson(submission): ApiJson<Submission>,
) -> Result<Response, ApiError> {
    let checked =
        check_submission(&state, &department.name, submission).map_err(|e| refused(&state, e))?;
    if let Err(e) = check_roots(&state, &[&checked]).await?.remove(0) {
        return Err(refused(&state, e));
    }
    // Checked with whatever else arrives meanwhile.
    let (verdict, elapsed) = state.batcher.check(checked.job()).await?;
    state.metrics.verified(1, elapsed);
    let proof_json = verdict.map_err(|e| refused(&state, e))?;
    let (appended, receipt) = append_one(&state, result_entry(&checked, proof_json, now())).await?;
    state.metrics.proof(match appended {
        Appended::New(_) => "accepted",
        Appended::Existing(_) => "existing",
    });
    Ok(receipt_response(appended, receipt))
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
    // Per item: Ok(checked) or the refusal.
    let mut outcomes: Vec<Result<Checked, ApiError>> = batch
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value::<Submission>(item)
                .map_err(|e| ApiError::MalformedRequest(format!("items[{i}]: {e}")))
                .and_then(|s| check_submission(&state, &department.name, s))
        })
        .collect();

    let pending: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i].is_ok())
        .collect();
    let roots = {
        let checked: Vec<&Checked> = pending
            .iter()
            .map(|&i| outcomes[i].as_ref().expect("filtered"))
            .collect();
        check_roots(&state, &checked).await?
    };
    for (&i, verdict) in pending.iter().zip(roots) {
        if let Err(e) = verdict {
            outcomes[i] = Err(e);
        }
    }

    // Off the executor: parse every proof still standing, then one
    // random-linear-combination check over those that parsed.
    let standing: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i].is_ok())
        .collect();
    let jobs: Vec<batcher::Job> = standing
        .iter()
        .map(|&i| outcomes[i].as_ref().expect("filtered").job())
        .collect();
    let (verdicts, elapsed) = verifying(&state, move || {
        let started = Instant::now();
        (batcher::check_all(&jobs), started.elapsed())
    })
    .await?;
    state.metrics.verified(standing.len(), elapsed);
    // The canonical proof JSON of each accepted item, for its log entry.
    let mut proofs: Vec<Option<Value>> = vec![None; outcomes.len()];
    for (&i, verdict) in standing.iter().zip(verdicts) {
        match verdict {
            Ok(proof_json) => proofs[i] = Some(proof_json),
            Err(e) => outcomes[i] = Err(e),
        }
    }

    let accepted: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i].is_ok())
        .collect();
    let time = now();
    let entries: Vec<NewEntry> = accepted
        .iter()
        .map(|&i| {
            let proof_json = proofs[i].take().expect("accepted items have a proof");
            result_entry(outcomes[i].as_ref().expect("filtered"), proof_json, time)
        })
        .collect();
    let appended = append(&state, entries).await?;
    let mut receipts = receipts(&state, appended.iter().map(|a| a.index()).collect())
        .await?
        .into_iter();
    let mut appended = appended.into_iter();
    let mut results = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        results.push(match outcome {
            Ok(_) => {
                let status = match appended.next().expect("one per accepted item") {
                    Appended::New(_) => "accepted",
                    Appended::Existing(_) => "existing",
                };
                state.metrics.proof(status);
                BatchOutcome {
                    status,
                    receipt: receipts.next(),
                    error: None,
                }
            }
            Err(e) => {
                state.metrics.proof(e.reason());
                BatchOutcome {
                    status: "rejected",
                    receipt: None,
                    error: Some(e.body()["error"].clone()),
                }
            }
        });
    }
    Ok(Json(json!({ "results": results })).into_response())
}

// ---------------------------------------------------------------- cases

pub(super) async fn get_case(
    State(state): State<Arc<AppState>>,
    Path(case_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_case_id(&case_id)?;
    let storage = state.storage.clone();
    let case = case_id.clone();
    let (results, decisions, entries) = blocking(move || {
        let results = storage.case_results(&case)?;
        let decisions = storage.case_decisions(&case)?;
        let entries = results
            .iter()
            .map(|r| Ok(storage.entries(r.index, r.index + 1)?.remove(0)))
            .collect::<Result<Vec<Vec<u8>>, StorageError>>()?;
        Ok((results, decisions, entries))
    })
    .await?;
    let results: Vec<Value> = results
        .iter()
        .zip(entries)
        .map(|(stored, bytes)| {
            let r = &stored.record;
            let mut params = serde_json::Map::new();
            if let (Ok(Entry::Result { public_inputs, .. }), Some(key)) =
                (Entry::from_bytes(&bytes), state.key(&r.key_id))
            {
                for (name, value) in key
                    .input_names
                    .iter()
                    .zip(&public_inputs)
                    .skip(FIXED_INPUTS.len())
                {
                    params.insert(name.clone(), Value::String(value.clone()));
                }
            }
            json!({
                "index": stored.index,
                "key_id": r.key_id,
                "subject_tag": r.subject_tag,
                "registry_root": r.registry_root,
                "params": params,
                "department": r.department,
                "time": format_time(r.accepted_at),
            })
        })
        .collect();
    let decisions: Vec<Value> = decisions
        .iter()
        .map(|stored| {
            let d: &DecisionRecord = &stored.record;
            json!({
                "index": stored.index,
                "department": d.department,
                "decision": d.decision,
                "time": format_time(d.decided_at),
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
}

pub(super) async fn compare_case(
    State(state): State<Arc<AppState>>,
    Path(case_id): Path<String>,
    ApiQuery(query): ApiQuery<CompareQuery>,
) -> Result<Json<Value>, ApiError> {
    check_case_id(&case_id)?;
    let required: BTreeSet<String> = query
        .require
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if required.is_empty() {
        return Err(ApiError::MalformedRequest(
            "`require` must name at least one key id".into(),
        ));
    }
    let storage = state.storage.clone();
    let case = case_id.clone();
    let results = blocking(move || Ok(storage.case_results(&case)?)).await?;
    // The first result of each required key, and every tag the required
    // keys' results carry: a case whose results name two applicants does
    // not match, even if one applicant alone would cover every key.
    let mut first: BTreeMap<&str, u64> = BTreeMap::new();
    let mut tags: BTreeSet<&str> = BTreeSet::new();
    for stored in &results {
        let r = &stored.record;
        if required.contains(&r.key_id) {
            first.entry(&r.key_id).or_insert(stored.index);
            tags.insert(&r.subject_tag);
        }
    }
    let missing: Vec<&String> = required
        .iter()
        .filter(|k| !first.contains_key(k.as_str()))
        .collect();
    let complete = missing.is_empty();
    let tags_match = complete && tags.len() == 1;
    let cited: Vec<u64> = if tags_match {
        first.values().copied().collect()
    } else {
        Vec::new()
    };
    Ok(Json(json!({
        "case_id": case_id,
        "complete": complete,
        "missing": missing,
        "tags_match": tags_match,
        "results": cited,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionRequest {
    decision: String,
    #[serde(default)]
    results: Vec<u64>,
    #[serde(default)]
    note: String,
}

pub(super) async fn post_decision(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    Path(case_id): Path<String>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Response, ApiError> {
    check_case_id(&case_id)?;
    if !department.decides {
        return Err(ApiError::Forbidden(format!(
            "department `{}` is not configured to decide cases (`decides = true`)",
            department.name
        )));
    }
    if !matches!(request.decision.as_str(), "approved" | "refused") {
        return Err(ApiError::MalformedRequest(format!(
            "decision must be `approved` or `refused`, not `{}`",
            request.decision
        )));
    }
    if request.note.len() > 1024 {
        return Err(ApiError::MalformedRequest(
            "note must be at most 1024 bytes".into(),
        ));
    }
    let storage = state.storage.clone();
    let case = case_id.clone();
    let results = blocking(move || Ok(storage.case_results(&case)?)).await?;
    let of_case: BTreeSet<u64> = results.iter().map(|r| r.index).collect();
    if let Some(stray) = request.results.iter().find(|i| !of_case.contains(i)) {
        return Err(ApiError::Conflict(format!(
            "log entry {stray} is not a result of case `{case_id}`"
        )));
    }
    let time = now();
    let entry = Entry::Decision {
        case_id: case_id.clone(),
        department: department.name.clone(),
        decision: request.decision.clone(),
        results: request.results,
        note: request.note,
        time: format_time(time),
    };
    let record = Record::Decision(DecisionRecord {
        case_id,
        department: department.name,
        decision: request.decision,
        decided_at: time,
    });
    let (appended, receipt) = append_one(
        &state,
        NewEntry {
            entry: entry.to_bytes(),
            record,
        },
    )
    .await?;
    Ok(receipt_response(appended, receipt))
}

// ---------------------------------------------------------------- log

pub(super) async fn get_checkpoint(
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    let state2 = state.clone();
    let note = blocking(move || {
        let size = state2.storage.size()?;
        Ok(state2.checkpoint(size)?)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
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
