//! The handlers of the `/v1` API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use zkgov_circuits::field::{parse_field_element, to_decimal};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_keys::digest::{key_id, policy_hash};
use zkgov_keys::snarkjs;
use zkgov_log::entry::{format_time, Entry, Provenance};
use zkgov_log::openapi::{
    Base64Hash, EntryText, FieldElement, KeyId, SignedNote, SnarkjsVerifyingKey, Time,
};
use zkgov_log::receipt::Receipt;
use zkgov_log::rules::{check_case_id, Comparison, LoggedKey, Refusal};
use zkgov_log::signature::EntrySignature;
use zkgov_log::{encode_hash, tree};

use super::appender::{AppendError, Committed, Draft, Outcome};
use super::applications::licence_work;
use super::auth::{AdminAuth, DepartmentAuth};
use super::batcher;
use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::openapi::{
    CasePath, Internal, Overloaded, Timeout, TimeoutAppend, TooLarge, TooLargeBatch, Unauthorized,
    UnavailableAppend,
};
use super::{now, AppState};
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

/// Health check
///
/// The service's log size as this process knows it, from memory: the probe
/// never waits for a database connection. Subject to the concurrency limit and
/// the timeout like every route, so a service that sheds requests reports it.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "service",
    responses(
        (
            status = 200,
            description = "The service is healthy.",
            body = Health,
            example = json!({"status": "ok", "log_size": 42}),
        ),
        (status = 408, response = Timeout),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn healthz(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health {
        status: HealthStatus::Ok,
        log_size: *state.log_size.borrow(),
    })
}

/// The service's health.
#[derive(Serialize, ToSchema)]
pub(super) struct Health {
    /// Always `ok`.
    status: HealthStatus,
    /// The number of entries in the log, as this process knows it: read at
    /// start-up and raised by each of its appends.
    log_size: u64,
}

/// A healthy service's status.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum HealthStatus {
    /// It answers.
    Ok,
}

/// Prometheus metrics
///
/// Request counts by method, route pattern and status; proof outcomes
/// (`accepted`, `existing`, or the refusal reason); the log size; the per-proof
/// verification-time histogram; and requests shed at the concurrency limit.
/// Subject to the concurrency limit and the timeout like every route.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "service",
    responses(
        (
            status = 200,
            description = "The metrics in the OpenMetrics text format, version 1.0.0 \
             (`Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8`), \
             which Prometheus scrapes; counters end in `_total` and the text in `# EOF`.",
            body = String,
            content_type = "application/openmetrics-text",
        ),
        (status = 408, response = Timeout),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn get_metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        state.metrics.render(*state.log_size.borrow()),
    )
        .into_response()
}

/// This OpenAPI document
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "getOpenApi",
    tag = "service",
    responses(
        (
            status = 200,
            description = "The OpenAPI 3.1 document of the API.",
            body = Object,
        ),
        (status = 408, response = Timeout),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn get_openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
        .into_response()
}

// ---------------------------------------------------------------- keys

/// A verifying key and the policy it proves. The key's public-input count
/// must equal the policy's (400 `key_shape`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyRegistration {
    /// The registry the policy reads; a department must own it (422
    /// `unknown_registry`).
    pub registry: String,
    /// The verifying key, snarkjs JSON.
    #[schema(value_type = SnarkjsVerifyingKey)]
    pub verifying_key: Value,
    /// The registry schema, TOML text.
    pub schema: String,
    /// The policy, TOML text.
    pub policy: String,
    /// Where the key came from, as its key directory's metadata records it:
    /// the circuit's tree shape and digest, and the ceremony for a key from
    /// one. Without it the key counts as single-party, which production
    /// mode (`require_multi_party`) refuses (422 `single_party_key`).
    #[serde(default)]
    pub provenance: Option<Provenance>,
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
        provenance: request.provenance,
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

/// Register a verifying key and its policy (admin)
///
/// Builds a `key` entry from the request (the verifying key parsed with every
/// point validated, the schema and policy parsed, the key id derived from the
/// verifying key and the policy's canonical hash) and appends it if the log's
/// rules accept it; see *Acceptance rules for keys*. A key id already logged is
/// not appended again: the answer is 200 with the existing entry's receipt,
/// whatever registry the request names. Body limit:
/// `limits.max_batch_body_bytes`, default 8 MiB.
#[utoipa::path(
    post,
    path = "/v1/keys",
    operation_id = "registerKey",
    tag = "keys",
    security(("admin" = [])),
    request_body = KeyRegistration,
    responses(
        (
            status = 200,
            description = "A key with this id was already in the log; nothing was appended, \
             and the body is the receipt of the existing entry against the last checkpoint \
             signed.",
            body = Receipt,
        ),
        (
            status = 201,
            description = "The key was appended to the log and durably committed; the body is \
             its receipt.",
            body = Receipt,
        ),
        (
            status = 400,
            description = "The request or the key is malformed. Possible `reason` values: \
             `malformed_request`: the body is not a strict JSON object (see *Request bodies*), \
             or the `Content-Type` is not `application/json`, a required field is missing, a \
             field has the wrong type, or an unknown field is present; `malformed_request`: \
             `verifying_key` is not a valid snarkjs Groth16 BN254 verifying key (the message \
             names the JSON path; an identity `vk_alpha_1`, `vk_beta_2`, `vk_gamma_2` or \
             `vk_delta_2` is refused here), or the schema or policy TOML does not parse or \
             validate; `identity_point`: a point of the verifying key is the identity, such as \
             `IC[2]` (the message names it), which would leave a public input unbound; \
             `key_shape`: the policy's public-input count differs from the key's (its `IC` \
             points less one); `malformed_key`: the rules cannot parse the entry's verifying \
             key, schema or policy, or the key is not in canonical snarkjs form; \
             `key_id_mismatch`: the key id does not recompute from the verifying key and \
             policy; `malformed_request`: the `provenance` is malformed (an unsupported tree \
             shape, a hash not in lowercase hex, a contribution name too long or with a \
             control character).",
            body = ErrorBody,
            example = json!({"error": {"reason": "identity_point", "message": "verifying key point IC[2] is the identity"}}),
        ),
        (status = 401, response = Unauthorized),
        (
            status = 403,
            description = "A department token was presented; only the admin token may register \
             keys. Possible `reason` values: `forbidden`: only the admin token may register \
             keys.",
            body = ErrorBody,
            example = json!({"error": {"reason": "forbidden", "message": "only the admin token may register keys"}}),
        ),
        (status = 408, response = TimeoutAppend),
        (status = 413, response = TooLargeBatch),
        (
            status = 422,
            description = "The key cannot be logged. Possible `reason` values: \
             `unknown_registry`: no department owns a registry with this name; `key_reused`: \
             this verifying key is already logged, under another key id (another policy or \
             schema) or for another registry; a key proves one policy over one registry; \
             `single_party_key`: governance requires multi-party keys (`require_multi_party`), \
             and the provenance names no ceremony checked against a powers of tau with at \
             least one contribution (the message names the key).",
            body = ErrorBody,
            example = json!({"error": {"reason": "key_reused", "message": "this verifying key is already logged as key 3f1c…, for another policy or registry; a key proves one policy"}}),
        ),
        (status = 500, response = Internal),
        (status = 503, response = UnavailableAppend),
    ),
)]
pub(super) async fn post_key(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
    ApiJson(request): ApiJson<KeyRegistration>,
) -> Result<Response, ApiError> {
    let (outcome, receipt) = register_key(&state, request).await?;
    Ok(receipt_response(&outcome, receipt))
}

/// A registered key.
#[derive(Serialize, ToSchema)]
pub(super) struct KeySummary {
    #[schema(value_type = KeyId)]
    key_id: String,
    /// The registry the policy reads.
    registry: String,
    /// The policy's name.
    policy: String,
    /// The names of the public inputs, in order: `registry_root`,
    /// `case_id`, `subject_tag`, then the policy's params.
    public_inputs: Vec<String>,
    /// The log index of the key's entry.
    log_index: u64,
}

impl KeySummary {
    fn of(key: &LoggedKey) -> KeySummary {
        KeySummary {
            key_id: key.key_id.clone(),
            registry: key.registry.clone(),
            policy: key.policy_name.clone(),
            public_inputs: key.input_names.clone(),
            log_index: key.index,
        }
    }
}

/// Every registered key.
#[derive(Serialize, ToSchema)]
pub(super) struct KeyList {
    /// Every registered key, in log order.
    keys: Vec<KeySummary>,
}

/// A key's summary, with its verifying key, schema and policy.
#[derive(Serialize, ToSchema)]
pub(super) struct KeyDetail {
    #[serde(flatten)]
    summary: KeySummary,
    /// The verifying key, snarkjs JSON.
    #[schema(value_type = SnarkjsVerifyingKey)]
    verifying_key: Value,
    /// The schema, TOML text.
    schema: String,
    /// The policy, TOML text.
    policy_toml: String,
}

/// List the registered verifying keys
#[utoipa::path(
    get,
    path = "/v1/keys",
    operation_id = "listKeys",
    tag = "keys",
    responses(
        (
            status = 200,
            description = "Every registered key, in log order.",
            body = KeyList,
        ),
        (status = 408, response = Timeout),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn list_keys(State(state): State<Arc<AppState>>) -> Json<KeyList> {
    let log = state.log();
    let mut list: Vec<&Arc<LoggedKey>> = log.keys().collect();
    list.sort_by_key(|k| k.index);
    Json(KeyList {
        keys: list.iter().map(|k| KeySummary::of(k)).collect(),
    })
}

/// Get a registered key, with its verifying key, schema and policy
#[utoipa::path(
    get,
    path = "/v1/keys/{key_id}",
    operation_id = "getKey",
    tag = "keys",
    params(
        (
            "key_id" = String,
            Path,
            description = "The key id, 64 lowercase hex digits.",
        ),
    ),
    responses(
        (
            status = 200,
            description = "The key.",
            body = KeyDetail,
        ),
        (
            status = 404,
            description = "No such key. Possible `reason` values: `unknown_key`: no key with \
             this id is registered.",
            body = ErrorBody,
            example = json!({"error": {"reason": "unknown_key", "message": "no key 00ff… is registered"}}),
        ),
        (status = 408, response = Timeout),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn get_key(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<KeyDetail>, ApiError> {
    let key = state
        .log()
        .key(&id)
        .cloned()
        .ok_or(ApiError::Refused(Refusal::UnknownKey(id)))?;
    Ok(Json(KeyDetail {
        summary: KeySummary::of(&key),
        verifying_key: key.verifying_key.clone(),
        schema: key.schema_toml.clone(),
        policy_toml: key.policy_toml.clone(),
    }))
}

// ---------------------------------------------------------------- roots

/// A registry root to anchor.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RootPublication {
    /// The registry's Merkle root, canonical decimal below r.
    #[schema(value_type = FieldElement)]
    root: String,
    /// The department's signature of the entry this request appends;
    /// required once governance lists its key (403 `unsigned`,
    /// `bad_signature`).
    #[serde(default)]
    #[schema(nullable = false)]
    signature: Option<EntrySignature>,
}

/// Anchor a registry root (owning department)
///
/// Appends a `root` entry, the registry's current Merkle root, if the rules
/// accept it: the submitting department owns the registry, and the root is a
/// canonical field element. Proofs against this root are accepted for
/// `freshness_seconds` (default 7 days) from now; once the registry anchors a
/// different root, they are accepted for at most `grace_seconds` (default 900)
/// more. Roots are not deduplicated: publishing the same root again appends a
/// new entry, which restarts its freshness window and makes it the registry's
/// latest root again. Body limit: `limits.max_body_bytes`, default 64 KiB.
#[utoipa::path(
    post,
    path = "/v1/registries/{registry}/roots",
    operation_id = "publishRoot",
    tag = "roots",
    security(("department" = [])),
    params(
        (
            "registry" = String,
            Path,
            description = "The registry's name.",
            example = "real-estate",
        ),
    ),
    request_body(content = RootPublication, example = json!({"root": "42"})),
    responses(
        (
            status = 201,
            description = "The root was appended to the log and durably committed; the body is \
             its receipt.",
            body = Receipt,
        ),
        (
            status = 400,
            description = "The request is malformed. Possible `reason` values: \
             `malformed_request`: the body is not a strict JSON object (see *Request bodies*), \
             or the `Content-Type` is not `application/json`, a required field is missing, a \
             field has the wrong type, or an unknown field is present; `non_canonical_input`: \
             `root` is not a canonical decimal field element below r.",
            body = ErrorBody,
        ),
        (status = 401, response = Unauthorized),
        (
            status = 403,
            description = "The token is valid but does not allow this action. Possible \
             `reason` values: `forbidden`: the admin token was presented; it cannot act for a \
             department; `forbidden`: the registry belongs to another department. `unsigned`: \
             the department has a key in governance and the request carries no `signature`; \
             `bad_signature`: the signature is by another key, does not verify over this \
             entry, or is dated outside the window.",
            body = ErrorBody,
            example = json!({"error": {"reason": "forbidden", "message": "the admin token cannot act for a department"}}),
        ),
        (status = 408, response = TimeoutAppend),
        (status = 413, response = TooLarge),
        (
            status = 422,
            description = "The registry is not known. Possible `reason` values: \
             `unknown_registry`: no department owns a registry with this name.",
            body = ErrorBody,
        ),
        (status = 500, response = Internal),
        (status = 503, response = UnavailableAppend),
    ),
)]
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

/// Submit one proof (department)
///
/// Verifies one Groth16 proof and, if the rules accept the `result` entry it
/// would become, appends it. The checks, in order (see *Acceptance rules for
/// proofs*): the case number is well formed; the key is logged; the submitting
/// department owns its registry; the public-input count matches the key; every
/// public input is canonical; public input 1 encodes `case_id`; the statement
/// (key, case, subject tag) is new; the registry root (public input 0) was
/// anchored by the owning department, is fresh, and is the registry's latest
/// root or was superseded at most `grace_seconds` ago; the proof's points are
/// valid; the proof verifies. A statement already logged with the same public
/// inputs is not appended again: the answer is 200 with the existing entry's
/// receipt; with other public inputs it is 409 `conflicting_statement`. Body
/// limit: `limits.max_body_bytes`, default 64 KiB.
#[utoipa::path(
    post,
    path = "/v1/proofs",
    operation_id = "submitProof",
    tag = "proofs",
    security(("department" = [])),
    request_body = ProofLine,
    responses(
        (
            status = 200,
            description = "A result with the same key, case and subject tag, and the same \
             public inputs, was already in the log; nothing was appended, and the body is the \
             receipt of the existing entry against the last checkpoint signed.",
            body = Receipt,
        ),
        (
            status = 201,
            description = "The result was appended to the log and durably committed; the body \
             is its receipt.",
            body = Receipt,
        ),
        (
            status = 400,
            description = "The submission is malformed. Possible `reason` values: \
             `malformed_request`: the body is not a strict JSON object (see *Request bodies*), \
             or the `Content-Type` is not `application/json`, a required field is missing, a \
             field has the wrong type, or an unknown field is present; `malformed_request`: \
             the case number is not 1 to 128 bytes without control characters; \
             `wrong_public_input_count`: the number of public inputs differs from the key's; \
             `non_canonical_input`: a public input is not a canonical decimal field element \
             below r; `case_id_mismatch`: public input 1 is not the `text` encoding of \
             `case_id`; `malformed_proof`: the proof is not a valid snarkjs Groth16 BN254 \
             proof: wrong `protocol` or `curve`, a non-canonical coordinate, a point off the \
             curve, outside the subgroup or the identity (the message names the JSON path).",
            body = ErrorBody,
            example = json!({"error": {"reason": "case_id_mismatch", "message": "public input 1 is not the case_id encoding of `C-2026-0042`"}}),
        ),
        (status = 401, response = Unauthorized),
        (
            status = 403,
            description = "The token is valid but does not allow this action. Possible \
             `reason` values: `forbidden`: the admin token was presented; it cannot act for a \
             department, or the key proves facts of a registry that belongs to another \
             department.",
            body = ErrorBody,
            example = json!({"error": {"reason": "forbidden", "message": "the admin token cannot act for a department"}}),
        ),
        (
            status = 404,
            description = "No such key. Possible `reason` values: `unknown_key`: no key with \
             this `key_id` is registered.",
            body = ErrorBody,
        ),
        (status = 408, response = TimeoutAppend),
        (
            status = 409,
            description = "The statement contradicts the log. Possible `reason` values: \
             `conflicting_statement`: the statement (key, case, subject tag) is logged already \
             with other public inputs; a statement is proved once.",
            body = ErrorBody,
            example = json!({"error": {"reason": "conflicting_statement", "message": "the statement (key, case, subject tag) is logged at entry 7 with other public inputs; a statement is proved once"}}),
        ),
        (status = 413, response = TooLarge),
        (
            status = 422,
            description = "The proof is well formed but is not accepted. Possible `reason` \
             values: `unknown_registry`: no department owns the key's registry any more; \
             `root_not_anchored`: the registry root (public input 0) was never anchored by the \
             registry's owning department; `root_stale`: the registry root was anchored longer \
             ago than the freshness window (`freshness_seconds`); publish it again; \
             `root_superseded`: the registry anchored a newer root longer ago than the grace \
             period (`grace_seconds`); prove against the latest root; `invalid_proof`: the \
             proof does not verify for these public inputs under this key; \
             `single_party_key`: governance requires multi-party keys \
             (`require_multi_party`), and the key is single-party.",
            body = ErrorBody,
            example = json!({"error": {"reason": "invalid_proof", "message": "the proof does not verify for these public inputs under this key"}}),
        ),
        (status = 500, response = Internal),
        (
            status = 503,
            description = "The service is at its concurrency limit (`limits.max_in_flight`, \
             default 256), the verification batcher's queue is full, or the service is \
             shutting down; retry later. Possible `reason` values: `overloaded`: the service \
             is busy; retry later; `shutting_down`: the service is shutting down and no longer \
             appends to the log. `storage_unavailable`: the database failed a read or a \
             commit; nothing was written, and the request may be retried.",
            body = ErrorBody,
            example = json!({"error": {"reason": "overloaded", "message": "the service is busy; retry later"}}),
        ),
    ),
)]
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

/// Several proofs, verified together with one random-linear-combination
/// check and appended in one commit. An item that does not parse as a
/// `ProofLine` is rejected on its own; it does not refuse the batch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Batch {
    /// At most `limits.max_batch_items` (default 1024) submissions, each a
    /// `ProofLine`. An item that is not one, whatever its JSON type, is not
    /// a fault of the batch: it gets its own `rejected` result, which says
    /// why.
    items: Vec<Value>,
}

/// The outcome of each item of a batch.
#[derive(Serialize, ToSchema)]
pub(super) struct BatchResponse {
    /// One outcome per item, in the order of the request. All receipts
    /// share one checkpoint.
    results: Vec<BatchResult>,
}

/// The outcome of one batch item.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(super) enum BatchResult {
    /// Appended as a new entry.
    Accepted {
        /// The entry's receipt.
        receipt: Receipt,
    },
    /// The same statement (key, case, subject tag) with the same public
    /// inputs was already in the log (or earlier in this batch), and the
    /// receipt names that entry.
    Existing {
        /// The entry's receipt.
        receipt: Receipt,
    },
    /// Refused, for the reason given: one of `malformed_request`,
    /// `unknown_key`, `forbidden`, `unknown_registry`,
    /// `wrong_public_input_count`, `non_canonical_input`,
    /// `case_id_mismatch`, `conflicting_statement`, `root_not_anchored`,
    /// `root_stale`, `root_superseded`, `single_party_key`,
    /// `malformed_proof` or `invalid_proof`.
    Rejected {
        /// Why.
        error: ErrorDetail,
    },
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

/// Submit a batch of proofs (department)
///
/// Checks each item as `POST /v1/proofs` does, verifies every item still
/// standing with one random-linear-combination check (locating bad proofs by
/// splitting the batch in halves), appends the accepted results in one durable
/// commit, and answers 200 with one outcome per item. The rules are applied
/// again, in order, as the results are appended, so an item that repeats an
/// earlier item's statement is `existing` (same public inputs) or rejected with
/// `conflicting_statement` (other public inputs). Items are refused
/// individually; only a malformed batch, authentication or a service limit
/// refuses the whole request. At most `limits.max_batch_items` (default 1024)
/// items. Body limit: `limits.max_batch_body_bytes`, default 8 MiB.
#[utoipa::path(
    post,
    path = "/v1/proofs/batch",
    operation_id = "submitProofBatch",
    tag = "proofs",
    security(("department" = [])),
    request_body = Batch,
    responses(
        (
            status = 200,
            description = "One outcome per item, in order: a receipt or the reason for refusal.",
            body = BatchResponse,
        ),
        (
            status = 400,
            description = "The batch is malformed. Possible `reason` values: \
             `malformed_request`: the body is not a strict JSON object (see *Request bodies*), \
             or the `Content-Type` is not `application/json`, a required field is missing, a \
             field has the wrong type, or an unknown field is present; `malformed_request`: \
             the batch holds more than `limits.max_batch_items` items.",
            body = ErrorBody,
        ),
        (status = 401, response = Unauthorized),
        (
            status = 403,
            description = "The token is valid but does not allow this action. Possible \
             `reason` values: `forbidden`: the admin token was presented; it cannot act for a \
             department.",
            body = ErrorBody,
            example = json!({"error": {"reason": "forbidden", "message": "the admin token cannot act for a department"}}),
        ),
        (status = 408, response = TimeoutAppend),
        (status = 413, response = TooLargeBatch),
        (status = 500, response = Internal),
        (status = 503, response = UnavailableAppend),
    ),
)]
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
    let mut next_receipt = || {
        receipts
            .next()
            .ok_or_else(|| ApiError::Internal("a settled item without a receipt".into()))
    };
    let results = items
        .into_iter()
        .map(|item| {
            let result = match item {
                Item::Done(Outcome::New(_)) => BatchResult::Accepted {
                    receipt: next_receipt()?,
                },
                Item::Existing(_) | Item::Done(Outcome::Existing(_)) => BatchResult::Existing {
                    receipt: next_receipt()?,
                },
                Item::Refused(e) => {
                    state.metrics.proof(e.reason());
                    return Ok(BatchResult::Rejected { error: e.detail() });
                }
                Item::Pending(..) | Item::Verified(_) | Item::Done(Outcome::Refused(_)) => {
                    unreachable!("every item is settled")
                }
            };
            state.metrics.proof(match result {
                BatchResult::Accepted { .. } => "accepted",
                _ => "existing",
            });
            Ok(result)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(BatchResponse { results }).into_response())
}

// ---------------------------------------------------------------- cases

/// The results and decisions of a case
///
/// Everything the log holds about a case, from the rules' state: its results,
/// each with its params decoded by type, and its decisions, each with the
/// results it cites.
#[utoipa::path(
    get,
    path = "/v1/cases/{case_id}",
    operation_id = "getCase",
    tag = "cases",
    params(
        CasePath,
    ),
    responses(
        (
            status = 200,
            description = "The case's results and decisions, in log order (empty lists for an \
             unknown case).",
            body = CaseResults,
        ),
        (
            status = 400,
            description = "The case number is malformed. Possible `reason` values: \
             `malformed_request`: the case number is not 1 to 128 bytes without control \
             characters.",
            body = ErrorBody,
        ),
        (status = 408, response = Timeout),
        (status = 500, response = Internal),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn get_case(
    State(state): State<Arc<AppState>>,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Json<CaseResults>, ApiError> {
    check_case_id(&case_id)?;
    let log = state.log();
    let results = log
        .case_results(&case_id)
        .iter()
        .map(|r| CaseResult {
            index: r.index,
            key_id: r.key_id.clone(),
            subject_tag: r.subject_tag.clone(),
            registry_root: r.registry_root.clone(),
            params: log
                .key(&r.key_id)
                .map(|k| k.decode_params(&r.public_inputs))
                .unwrap_or_default(),
            department: r.department.clone(),
            time: format_time(r.time),
        })
        .collect();
    let decisions = log
        .case_decisions(&case_id)
        .iter()
        .map(|d| CaseDecision {
            index: d.index,
            department: d.department.clone(),
            decision: d.decision.clone(),
            results: d.results.clone(),
            time: format_time(d.time),
        })
        .collect();
    Ok(Json(CaseResults {
        case_id,
        results,
        decisions,
    }))
}

/// Everything the log holds about a case, in log order. A case with
/// nothing logged has empty lists.
#[derive(Serialize, ToSchema)]
pub(super) struct CaseResults {
    case_id: String,
    results: Vec<CaseResult>,
    decisions: Vec<CaseDecision>,
}

/// A result of a case.
#[derive(Serialize, ToSchema)]
pub(super) struct CaseResult {
    /// The log index of the result.
    index: u64,
    #[schema(value_type = KeyId)]
    key_id: String,
    #[schema(value_type = FieldElement)]
    subject_tag: String,
    #[schema(value_type = FieldElement)]
    registry_root: String,
    /// The policy's params by name (the public inputs after the first
    /// three), decoded by each param's type: dates as `YYYY-MM-DD`, enums
    /// by variant name, booleans as `true` or `false`, decimals with their
    /// scale's places; a value that does not decode (a `text` or `id`
    /// hash, or an out-of-range value) stays canonical decimal. Empty if
    /// the key is not loaded.
    params: BTreeMap<String, String>,
    /// The department that submitted the proof.
    department: String,
    /// When it was accepted.
    #[schema(value_type = Time)]
    time: String,
}

/// A decision on a case.
#[derive(Serialize, ToSchema)]
pub(super) struct CaseDecision {
    /// The log index of the decision; its entry also holds the note.
    index: u64,
    department: String,
    /// `approved`, `refused` or `revoked`.
    decision: String,
    /// The log indexes of the results the decision cites.
    results: Vec<u64>,
    /// When it was recorded.
    #[schema(value_type = Time)]
    time: String,
}

/// What a comparison requires of a case.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CompareQuery {
    /// Comma-separated key ids whose results the case needs; blanks around
    /// ids and empty items are ignored, and at least one id is needed. An
    /// id that is not logged is simply missing.
    #[param(min_length = 1, example = "3f1c…a9,7be0…12")]
    require: String,
    /// Comma-separated `NAME=VALUE` params that a result must hold to
    /// count, each value written as its param's type reads it and encoded
    /// by each required key's policy's param type (a date as `YYYY-MM-DD`,
    /// an enum by variant name, an integer in decimal). An expected param
    /// that a result's policy does not have does not concern that result,
    /// but each must be a param of some required key's policy. Blanks
    /// around items are ignored; absent or empty, every result of a
    /// required key counts.
    #[serde(default)]
    #[param(required = false, example = "today=2026-11-23,usage=medical")]
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

/// Check that a case has results for every required key, with the expected
/// params, about one subject
///
/// Weighs the case's results under the required keys: a result counts when
/// every expected param that its key's policy has holds the expected value. The
/// case is `complete` when each required key has a result that counts, and
/// `tags_match` when it is complete and the results that count all carry one
/// subject tag: a case whose results name two subjects does not match, even if
/// one of them alone would cover every key. `cited` lists what a decision on
/// the case cites. Every result of a required key is listed, with its params
/// decoded and, if it does not count, why. Nothing about the records is
/// revealed.
#[utoipa::path(
    get,
    path = "/v1/cases/{case_id}/compare",
    operation_id = "compareCase",
    tag = "cases",
    params(
        CasePath,
        CompareQuery,
    ),
    responses(
        (
            status = 200,
            description = "The comparison.",
            body = Comparison,
            example = json!({"case_id": "C-2026-0042", "complete": true, "missing": [], "tags_match": true, "results": [{"index": 7, "key_id": "36f9bb9bf1c52d26688254dc6d6f77dc0c9ca8afe75cef7c916b789172eabbef", "policy": "medical-premises", "subject_tag": "1830284923", "registry_root": "42", "params": {"min_area": "120", "today": "2026-11-23", "usage": "medical"}, "counts": true}, {"index": 8, "key_id": "a1d24fabe9321074bb56fa0a86da577b00f6ade499a4fefb2fb326c0ac9bf408", "policy": "practising-licence", "subject_tag": "1830284923", "registry_root": "77", "params": {"today": "2026-11-23"}, "counts": true}, {"index": 9, "key_id": "36f9bb9bf1c52d26688254dc6d6f77dc0c9ca8afe75cef7c916b789172eabbef", "policy": "medical-premises", "subject_tag": "1830284923", "registry_root": "42", "params": {"min_area": "120", "today": "2026-10-01", "usage": "medical"}, "counts": false, "why": "today is 2026-10-01, not 2026-11-23"}], "cited": [7, 8]}),
        ),
        (
            status = 400,
            description = "The query is malformed. Possible `reason` values: \
             `malformed_request`: the case number is not 1 to 128 bytes without control \
             characters; `malformed_request`: `require` is missing or names no key id, or an \
             unknown query parameter is present; `malformed_request`: an item of `expect` is \
             not `NAME=VALUE`, an expected value does not encode as its param's type, or an \
             expected param is in none of the policies of the required keys' results in the \
             case.",
            body = ErrorBody,
            example = json!({"error": {"reason": "malformed_request", "message": "expect usage: no required key's policy has this param"}}),
        ),
        (status = 408, response = Timeout),
        (status = 500, response = Internal),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn compare_case(
    State(state): State<Arc<AppState>>,
    ApiPath(case_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<CompareQuery>,
) -> Result<Json<Comparison>, ApiError> {
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
    Ok(Json(comparison))
}

/// A decision on a case.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionRequest {
    /// `approved` or `refused`; any other value is refused with 400
    /// `malformed_request`.
    #[schema(pattern = "^(approved|refused)$")]
    pub decision: String,
    /// The log indexes of the results the decision relies on; each must be
    /// a result of this case (409 `conflict`). A comparison's `cited` lists
    /// them.
    #[serde(default)]
    pub results: Vec<u64>,
    /// Free text, such as the reason for a refusal; at most 1024 bytes of
    /// UTF-8.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub note: String,
    /// The case's latest decision, which this one amends; a second decision
    /// without it is refused (409 `already_decided`).
    #[serde(default)]
    #[schema(nullable = false)]
    pub amends: Option<u64>,
    /// The department's signature of the entry this request appends;
    /// required once governance lists its key (403 `unsigned`,
    /// `bad_signature`).
    #[serde(default)]
    #[schema(nullable = false)]
    pub signature: Option<EntrySignature>,
}

/// Record a department's decision on a case (department)
///
/// Appends a `decision` entry for the authenticated department, citing the
/// results it relied on, if the rules accept it. They check, in order: the
/// department is in the governance in force (403 `unknown_department`) and has
/// `decides = true` (403 `forbidden`), before the body is read; the case number
/// is well formed (400 `malformed_request`); the decision is `approved` or
/// `refused`, and the note is at most 1024 bytes (400 `malformed_request`); and
/// every cited log index is a result of this case (409 `conflict`). Decisions
/// are not deduplicated: each request appends a new entry. Body limit:
/// `limits.max_body_bytes`, default 64 KiB.
#[utoipa::path(
    post,
    path = "/v1/cases/{case_id}/decisions",
    operation_id = "recordDecision",
    tag = "cases",
    security(("department" = [])),
    params(
        CasePath,
    ),
    request_body(content = DecisionRequest, example = json!({"decision": "approved", "results": [7, 9], "note": ""})),
    responses(
        (
            status = 201,
            description = "The decision was appended to the log and durably committed; the \
             body is its receipt.",
            body = Receipt,
        ),
        (
            status = 400,
            description = "The request is malformed. Possible `reason` values: \
             `malformed_request`: the body is not a strict JSON object (see *Request bodies*), \
             or the `Content-Type` is not `application/json`, a required field is missing, a \
             field has the wrong type, or an unknown field is present; `malformed_request`: \
             the case number is not 1 to 128 bytes without control characters; \
             `malformed_request`: `decision` is neither `approved` nor `refused`, or `note` \
             exceeds 1024 bytes.",
            body = ErrorBody,
        ),
        (status = 401, response = Unauthorized),
        (
            status = 403,
            description = "The token is valid but does not allow this action. Possible \
             `reason` values: `forbidden`: the admin token was presented; it cannot act for a \
             department; `forbidden`: the department may not decide cases (`decides = true`); \
             `unknown_department`: the governance in force names no such department. \
             `unsigned`: the department has a key in governance and the request carries no \
             `signature`; `bad_signature`: the signature is by another key, does not verify \
             over this entry, or is dated outside the window.",
            body = ErrorBody,
            example = json!({"error": {"reason": "forbidden", "message": "department `land-registry` may not decide cases (`decides = true`)"}}),
        ),
        (status = 408, response = TimeoutAppend),
        (
            status = 409,
            description = "The decision conflicts with the log. Possible `reason` values: \
             `conflict`: a cited log index is not a result of this case (a result of another \
             case, another kind of entry, or no entry at all).",
            body = ErrorBody,
            example = json!({"error": {"reason": "conflict", "message": "log entry 3 is not a result of case `C-2026-0042`"}}),
        ),
        (status = 413, response = TooLarge),
        (
            status = 422,
            description = "The decision breaks the procedure's rule. Possible `reason` values: \
             `decision_rule`: an approval must cite the results it relied on, each anchored \
             for this case and meeting the procedure; a refusal of an automatic case must name \
             a reason.",
            body = ErrorBody,
            example = json!({"error": {"reason": "decision_rule", "message": "case `C-2026-0042`: an approval cites the results it relied on"}}),
        ),
        (status = 500, response = Internal),
        (status = 503, response = UnavailableAppend),
    ),
)]
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

/// The last checkpoint the service signed
///
/// The last checkpoint the service signed, as a C2SP signed note. The service
/// keeps it, fsynced, beside the log's signing key and never signs a checkpoint
/// that does not extend it; it is signed when entries are committed, before
/// their receipts are returned, so it covers every entry of every receipt
/// returned so far. Once the configured witnesses (`[[witness]]`) have cosigned
/// it, their C2SP `cosignature/v1` lines follow the log's signature line.
#[utoipa::path(
    get,
    path = "/v1/log/checkpoint",
    operation_id = "getCheckpoint",
    tag = "log",
    responses(
        (
            status = 200,
            description = "The last signed checkpoint of the log as a C2SP signed note \
             (`Content-Type: text/plain; charset=utf-8`).",
            body = SignedNote,
            content_type = "text/plain",
        ),
        (status = 408, response = Timeout),
        (
            status = 500,
            description = "An internal error, such as no checkpoint signed yet; the detail \
             goes to the server log only. Possible `reason` values: `internal`: internal \
             error.",
            body = ErrorBody,
            example = json!({"error": {"reason": "internal", "message": "internal error"}}),
        ),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn get_checkpoint(
    State(state): State<Arc<AppState>>,
) -> Result<Response, ApiError> {
    let (note, _) = latest_checkpoint(&state)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

/// The log's verifier key and its hand-overs
///
/// The log's origin and its Ed25519 verifier key (`name+hash+base64`, as C2SP
/// signed notes name keys), which `zkgov log verify --log-key` and `zkgov
/// licence verify --log-key` take; `zkgov log key` prints it. A client that
/// learns the key from the service it audits trusts it on first use: compare it
/// with the key the operator publishes elsewhere. The response also lists every
/// hand-over of the log's key (`log_key` entries, each signed by the key before
/// it), in log order: a client that trusts an earlier key follows them,
/// fetching each entry with an inclusion proof, and accepts a checkpoint signed
/// by a key only within that key's span (see `docs/formats.md`, "Log key
/// rotation").
#[utoipa::path(
    get,
    path = "/v1/log/key",
    operation_id = "getLogKey",
    tag = "log",
    responses(
        (
            status = 200,
            description = "The log's origin, its verifier key in force, and the hand-overs.",
            body = LogKey,
        ),
        (status = 408, response = Timeout),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn get_log_key(State(state): State<Arc<AppState>>) -> Json<LogKey> {
    let handovers = state
        .log()
        .handovers()
        .iter()
        .map(|(index, key)| Handover {
            index: *index,
            key: key.clone(),
        })
        .collect();
    Json(LogKey {
        origin: state.config.origin.clone(),
        verifier_key: state.signed.signer().verifier_key(),
        handovers,
    })
}

/// The log's keys: what a client needs to check the checkpoints. A client
/// trusts the key on first use only; after that it follows the hand-overs
/// from the key it trusts.
#[derive(Serialize, ToSchema)]
pub(super) struct LogKey {
    /// The log's origin, which names its keys.
    origin: String,
    /// The log's verifier key in force, `name+hash+base64`.
    #[schema(examples("zkgov.example/log+4c3f21d0+AeR1…"))]
    verifier_key: String,
    /// The hand-overs, in log order.
    handovers: Vec<Handover>,
}

/// A hand-over of the log's key.
#[derive(Serialize, ToSchema)]
pub(super) struct Handover {
    /// The log index of the `log_key` entry.
    index: u64,
    /// The verifier key it hands over to.
    key: String,
}

/// A range of the log's entries.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct EntriesQuery {
    /// The first index.
    start: u64,
    /// One past the last index; defaults to the log's size. Must not
    /// exceed the log's size.
    end: Option<u64>,
}

/// A page of the log's entries.
#[derive(Serialize, ToSchema)]
pub(super) struct Entries {
    entries: Vec<EntryItem>,
}

/// One entry, with its index.
#[derive(Serialize, ToSchema)]
pub(super) struct EntryItem {
    index: u64,
    #[schema(value_type = EntryText)]
    entry: String,
}

/// A range of log entries
///
/// The entries with index in [start, end), at most
/// `limits.max_entries_per_page` (default 1000) of them: a longer range is cut
/// short, so page on from the last index returned + 1.
#[utoipa::path(
    get,
    path = "/v1/log/entries",
    operation_id = "getEntries",
    tag = "log",
    params(
        EntriesQuery,
    ),
    responses(
        (
            status = 200,
            description = "The entries, in index order.",
            body = Entries,
        ),
        (
            status = 400,
            description = "The range is malformed. Possible `reason` values: \
             `malformed_request`: a query parameter is missing, is not a non-negative integer, \
             or is not known to this route; `malformed_request`: `start` > `end`, or the range \
             extends past the log.",
            body = ErrorBody,
        ),
        (status = 408, response = Timeout),
        (status = 500, response = Internal),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn get_entries(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<EntriesQuery>,
) -> Result<Json<Entries>, ApiError> {
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
    let entries = entries
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| EntryItem {
            index: start + i as u64,
            entry: String::from_utf8_lossy(&bytes).into_owned(),
        })
        .collect();
    Ok(Json(Entries { entries }))
}

/// An entry, and the tree to prove it in.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct InclusionQuery {
    /// The entry's index; must be below `size`.
    index: u64,
    /// The tree size; must not exceed the log's size.
    size: u64,
}

/// An entry's inclusion proof.
#[derive(Serialize, ToSchema)]
pub(super) struct InclusionProof {
    index: u64,
    size: u64,
    /// The RFC 6962 audit path of leaf `index` in the tree of the first
    /// `size` entries, base64 hashes.
    #[schema(value_type = Vec<Base64Hash>)]
    proof: Vec<String>,
}

/// An inclusion proof for one entry
///
/// The RFC 6962 inclusion proof of entry `index` in the tree of the log's first
/// `size` entries; check it against a checkpoint of that size.
#[utoipa::path(
    get,
    path = "/v1/log/inclusion",
    operation_id = "getInclusionProof",
    tag = "log",
    params(
        InclusionQuery,
    ),
    responses(
        (
            status = 200,
            description = "The proof.",
            body = InclusionProof,
        ),
        (
            status = 400,
            description = "The query is malformed. Possible `reason` values: \
             `malformed_request`: a query parameter is missing, is not a non-negative integer, \
             or is not known to this route; `malformed_request`: not `index` < `size` ≤ the \
             log's size.",
            body = ErrorBody,
        ),
        (status = 408, response = Timeout),
        (status = 500, response = Internal),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn get_inclusion(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<InclusionQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
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
    Ok(Json(InclusionProof {
        index: query.index,
        size: query.size,
        proof: proof.iter().map(encode_hash).collect(),
    }))
}

/// Two tree sizes.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ConsistencyQuery {
    /// The older tree size.
    old: u64,
    /// The newer tree size; at least `old`, at most the log's size.
    new: u64,
}

/// A consistency proof between two trees.
#[derive(Serialize, ToSchema)]
pub(super) struct ConsistencyProof {
    old: u64,
    new: u64,
    /// The RFC 6962 consistency proof between the trees of the first `old`
    /// and `new` entries, base64 hashes; empty when `old` is 0 or equals
    /// `new`.
    #[schema(value_type = Vec<Base64Hash>)]
    proof: Vec<String>,
}

/// A consistency proof between two tree sizes
///
/// The RFC 6962 consistency proof that the tree of the first `old` entries is a
/// prefix of the tree of the first `new` entries; check it between two
/// checkpoints of those sizes.
#[utoipa::path(
    get,
    path = "/v1/log/consistency",
    operation_id = "getConsistencyProof",
    tag = "log",
    params(
        ConsistencyQuery,
    ),
    responses(
        (
            status = 200,
            description = "The proof.",
            body = ConsistencyProof,
        ),
        (
            status = 400,
            description = "The query is malformed. Possible `reason` values: \
             `malformed_request`: a query parameter is missing, is not a non-negative integer, \
             or is not known to this route; `malformed_request`: not `old` ≤ `new` ≤ the log's \
             size.",
            body = ErrorBody,
        ),
        (status = 408, response = Timeout),
        (status = 500, response = Internal),
        (status = 503, response = Overloaded),
    ),
)]
pub(super) async fn get_consistency(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
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
    Ok(Json(ConsistencyProof {
        old: query.old,
        new: query.new,
        proof: proof.iter().map(encode_hash).collect(),
    }))
}
