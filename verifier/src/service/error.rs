//! The one HTTP error type. Each refusal has a status and a stable,
//! machine-readable `reason`; the body is
//! `{"error": {"reason": "root_stale", "message": "…"}}`. Internal errors
//! reach the client as a generic 500 and the server log as detail.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use zkgov_log::rules::Refusal;

use crate::storage::StorageError;

/// A refused or failed request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No `Authorization: Bearer …` header.
    #[error("this route needs a bearer token")]
    MissingToken,
    /// The token is not one the service knows.
    #[error("the bearer token is not valid")]
    InvalidToken,
    /// The token is valid but does not allow this action.
    #[error("{0}")]
    Forbidden(String),
    /// The body is not valid JSON for this route.
    #[error("{0}")]
    MalformedRequest(String),
    /// The body is larger than the route allows.
    #[error("the request body exceeds this route's limit")]
    BodyTooLarge,
    /// A proof or verifying key failed validation (with the JSON path).
    #[error("{0}")]
    MalformedProof(String),
    /// A public input or root is not a canonical field element.
    #[error("{0}")]
    NonCanonicalInput(String),
    /// The rules refuse the entry the request would append.
    #[error("{0}")]
    Refused(Refusal),
    /// Something the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The route exists, but not with this method.
    #[error("this route does not take this method")]
    MethodNotAllowed,
    /// The request conflicts with the log (such as a decision citing a
    /// result of another case).
    #[error("{0}")]
    Conflict(String),
    /// The service is at its concurrency limit.
    #[error("the service is busy; retry later")]
    Overloaded,
    /// This client sent more requests of this kind than its rate allows.
    #[error("too many requests from this address; retry in a minute")]
    TooManyRequests,
    /// The request took longer than the timeout.
    #[error("the request took longer than the service's timeout")]
    Timeout,
    /// The service is shutting down.
    #[error("the service is shutting down")]
    ShuttingDown,
    /// The database failed a read or a commit; nothing was written, and
    /// the request may be retried. Details go to the server log only.
    #[error("the service cannot reach its database; nothing was written, retry later")]
    StorageUnavailable(String),
    /// Anything else; details go to the server log only.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            MissingToken | InvalidToken => StatusCode::UNAUTHORIZED,
            Forbidden(_) => StatusCode::FORBIDDEN,
            MalformedRequest(_) | MalformedProof(_) | NonCanonicalInput(_) => {
                StatusCode::BAD_REQUEST
            }
            Refused(refusal) => refusal_status(refusal),
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            NotFound(_) => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict(_) => StatusCode::CONFLICT,
            Overloaded | ShuttingDown | StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Timeout => StatusCode::REQUEST_TIMEOUT,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable reason.
    pub fn reason(&self) -> &'static str {
        use ApiError::*;
        match self {
            MissingToken => "missing_token",
            InvalidToken => "invalid_token",
            Forbidden(_) => "forbidden",
            MalformedRequest(_) => "malformed_request",
            BodyTooLarge => "body_too_large",
            MalformedProof(_) => "malformed_proof",
            NonCanonicalInput(_) => "non_canonical_input",
            // A refusal no request can cause is the service's own fault.
            Refused(refusal) if refusal_status(refusal) == StatusCode::INTERNAL_SERVER_ERROR => {
                "internal"
            }
            Refused(refusal) => refusal.reason(),
            NotFound(_) => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Conflict(_) => "conflict",
            Overloaded => "overloaded",
            TooManyRequests => "too_many_requests",
            Timeout => "timeout",
            ShuttingDown => "shutting_down",
            StorageUnavailable(_) => "storage_unavailable",
            Internal(_) => "internal",
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.detail(),
        }
    }

    /// Why the request was refused, as a body or a batch item gives it.
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            reason: self.reason(),
            message: self.to_string(),
        }
    }
}

/// The body of every refusal: `{"error": {"reason": …, "message": …}}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(examples(json!({"error": {
    "reason": "root_stale",
    "message": "registry root 4213… of `real-estate` was anchored 700000 s ago, beyond the \
                604800 s freshness window; publish it again"
}})))]
pub struct ErrorBody {
    /// Why.
    pub error: ErrorDetail,
}

/// Why a request (or one item of a batch) was refused.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The stable, machine-readable reason.
    #[schema(value_type = Reason)]
    pub reason: &'static str,
    /// A human-readable explanation; its wording may change.
    pub message: String,
}

/// Every `reason` a refusal may give, with its status.
pub const REASONS: &[(&str, u16)] = &[
    ("missing_token", 401),
    ("invalid_token", 401),
    ("forbidden", 403),
    ("unknown_department", 403),
    ("unsigned", 403),
    ("bad_signature", 403),
    ("unendorsed", 403),
    ("malformed_request", 400),
    ("malformed_proof", 400),
    ("non_canonical_input", 400),
    ("wrong_public_input_count", 400),
    ("case_id_mismatch", 400),
    ("identity_point", 400),
    ("key_shape", 400),
    ("malformed_key", 400),
    ("key_id_mismatch", 400),
    ("malformed_time", 400),
    ("invalid_procedure", 400),
    ("unknown_key", 404),
    ("unknown_procedure", 404),
    ("not_found", 404),
    ("method_not_allowed", 405),
    ("timeout", 408),
    ("conflict", 409),
    ("conflicting_statement", 409),
    ("already_logged", 409),
    ("case_exists", 409),
    ("already_answered", 409),
    ("already_decided", 409),
    ("body_too_large", 413),
    ("unknown_registry", 422),
    ("root_not_anchored", 422),
    ("root_stale", 422),
    ("root_superseded", 422),
    ("invalid_proof", 422),
    ("key_reused", 422),
    ("single_party_key", 422),
    ("not_requested", 422),
    ("subject_mismatch", 422),
    ("decision_rule", 422),
    ("too_many_requests", 429),
    ("internal", 500),
    ("overloaded", 503),
    ("shutting_down", 503),
    ("storage_unavailable", 503),
];

/// The schema of a refusal's `reason`: one of [`REASONS`].
pub enum Reason {}

impl PartialSchema for Reason {
    fn schema() -> RefOr<Schema> {
        let mut table = String::from(
            "The stable, machine-readable reason of a refusal, and its HTTP status:\n\n\
             | reason | status |\n|---|---|\n",
        );
        for (reason, status) in REASONS {
            table.push_str(&format!("| `{reason}` | {status} |\n"));
        }
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(table.trim_end()))
            .enum_values(Some(REASONS.iter().map(|(reason, _)| *reason)))
            .into()
    }
}

impl ToSchema for Reason {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Reason")
    }
}

/// The status of each refusal: the request's fault (400), not allowed
/// (403), naming nothing known (404), contradicting the log (409), or
/// well-formed but not acceptable (422).
fn refusal_status(refusal: &Refusal) -> StatusCode {
    use Refusal::*;
    match refusal {
        NotOwner { .. }
        | NotDecider(_)
        | UnknownDepartment(_)
        | Unsigned { .. }
        | BadSignature { .. }
        | Unendorsed(_) => StatusCode::FORBIDDEN,
        UnknownKey(_) => StatusCode::NOT_FOUND,
        UnknownProcedure(_) => StatusCode::NOT_FOUND,
        ConflictingStatement { .. }
        | CitesOtherCase { .. }
        | AlreadyLogged { .. }
        | CaseExists { .. }
        | AlreadyAnswered { .. }
        | AlreadyDecided { .. } => StatusCode::CONFLICT,
        NotRequested { .. } | SubjectMismatch { .. } | DecisionRule { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        UnknownRegistry(_)
        | RootNotAnchored { .. }
        | RootStale { .. }
        | RootSuperseded { .. }
        | InvalidProof
        | KeyReused { .. }
        | SingleParty { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        NoGovernance { .. } | InvalidGovernance(_) | TimeWentBack { .. } | BadHandover(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError::Refused(refusal)
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Backend { .. } => ApiError::StorageUnavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::StorageUnavailable(detail) => {
                tracing::error!(%detail, "database unavailable")
            }
            _ => {}
        }
        (self.status(), Json(self.body())).into_response()
    }
}
