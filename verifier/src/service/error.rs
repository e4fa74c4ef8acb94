//! The one HTTP error type. Each refusal has a status and a stable,
//! machine-readable `reason`; the body is
//! `{"error": {"reason": "root_stale", "message": "…"}}`. Internal errors
//! reach the client as a generic 500 and the server log as detail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

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
    /// The public-input count differs from the key's.
    #[error("the key takes {expected} public inputs, but {found} were given")]
    WrongPublicInputCount {
        /// What the key takes.
        expected: usize,
        /// What was given.
        found: usize,
    },
    /// The case number does not match the `case_id` public input.
    #[error("public input 1 is not the case_id encoding of `{0}`")]
    CaseMismatch(String),
    /// No registered key has this id.
    #[error("no key {0} is registered")]
    UnknownKey(String),
    /// No department owns this registry.
    #[error("no department owns a registry named `{0}`")]
    UnknownRegistry(String),
    /// The registry root was never anchored by its owner.
    #[error("registry root {root} has not been anchored for `{registry}`")]
    RootNotAnchored {
        /// The registry.
        registry: String,
        /// The root.
        root: String,
    },
    /// The registry root was anchored too long ago.
    #[error("registry root {root} of `{registry}` was anchored {age_seconds} s ago, beyond the {window_seconds} s freshness window; publish it again")]
    RootStale {
        /// The registry.
        registry: String,
        /// The root.
        root: String,
        /// Seconds since it was anchored.
        age_seconds: i64,
        /// The window.
        window_seconds: u64,
    },
    /// The proof does not verify.
    #[error("the proof does not verify for these public inputs under this key")]
    InvalidProof,
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
    /// The request took longer than the timeout.
    #[error("the request took longer than the service's timeout")]
    Timeout,
    /// The service is shutting down.
    #[error("the service is shutting down")]
    ShuttingDown,
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
            MalformedRequest(_)
            | MalformedProof(_)
            | NonCanonicalInput(_)
            | WrongPublicInputCount { .. }
            | CaseMismatch(_) => StatusCode::BAD_REQUEST,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnknownKey(_) | NotFound(_) => StatusCode::NOT_FOUND,
            UnknownRegistry(_) | RootNotAnchored { .. } | RootStale { .. } | InvalidProof => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict(_) => StatusCode::CONFLICT,
            Overloaded | ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
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
            WrongPublicInputCount { .. } => "wrong_public_input_count",
            CaseMismatch(_) => "case_id_mismatch",
            UnknownKey(_) => "unknown_key",
            UnknownRegistry(_) => "unknown_registry",
            RootNotAnchored { .. } => "root_not_anchored",
            RootStale { .. } => "root_stale",
            InvalidProof => "invalid_proof",
            NotFound(_) => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Conflict(_) => "conflict",
            Overloaded => "overloaded",
            Timeout => "timeout",
            ShuttingDown => "shutting_down",
            Internal(_) => "internal",
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"reason": self.reason(), "message": self.to_string()}})
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        (self.status(), Json(self.body())).into_response()
    }
}
