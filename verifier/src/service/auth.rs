//! Bearer-token authentication. Tokens are hashed on arrival and compared
//! with the configured hashes in constant time; every configured hash is
//! compared, so timing does not reveal which one matched. Tokens are never
//! logged or stored.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::config::{Department, TokenHash};
use super::error::ApiError;
use super::AppState;

/// The department a request acts for, authenticated by its token.
pub struct DepartmentAuth(pub Department);

/// A request authenticated with the admin token.
pub struct AdminAuth;

/// The case an applicant's session reads: from the `zkgov_session` cookie
/// or, for API clients, an `Authorization: Bearer` token.
pub struct ApplicantAuth(pub String);

/// An applicant's session: the case it reads and the SHA-256 of its
/// token, so that a long-lived response (the event stream) can check that
/// the session still holds.
pub struct ApplicantSession {
    /// The case the session reads.
    pub case_id: String,
    /// SHA-256 of the session token, hex, as the store keeps it.
    pub token_sha256: String,
}

/// Refuses a session for another case than `case_id`.
pub(super) fn check_session_case(session_case: &str, case_id: &str) -> Result<(), ApiError> {
    if session_case == case_id {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this session is for another case".into(),
        ))
    }
}

/// Whether the request reached the service over TLS, as the reverse proxy
/// in front of it says (`X-Forwarded-Proto: https`); cookies are then
/// `Secure`. The service itself listens on plain HTTP.
pub(super) fn over_tls(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The applicant session cookie's name.
pub const SESSION_COOKIE: &str = "zkgov_session";

/// SHA-256 of a session token or access code, hex: what the store keeps.
pub fn secret_digest(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn session_token(parts: &Parts) -> Option<String> {
    for value in parts.headers.get_all(axum::http::header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, token)) = pair.trim().split_once('=') {
                if name == SESSION_COOKIE && !token.is_empty() {
                    return Some(token.to_string());
                }
            }
        }
    }
    let text = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_string())
}

impl FromRequestParts<Arc<AppState>> for ApplicantSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = session_token(parts).ok_or(ApiError::MissingToken)?;
        let digest = secret_digest(&token);
        let storage = state.storage.clone();
        let lookup = digest.clone();
        let case = tokio::task::spawn_blocking(move || storage.session_case(&lookup, super::now()))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
        let case_id = case.ok_or(ApiError::InvalidToken)?;
        Ok(ApplicantSession {
            case_id,
            token_sha256: digest,
        })
    }
}

impl FromRequestParts<Arc<AppState>> for ApplicantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let session = ApplicantSession::from_request_parts(parts, state).await?;
        Ok(ApplicantAuth(session.case_id))
    }
}

fn bearer(parts: &Parts) -> Result<TokenHash, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?;
    let text = header.to_str().map_err(|_| ApiError::InvalidToken)?;
    // The scheme name is case-insensitive (RFC 7235, section 2.1).
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::InvalidToken);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::MissingToken);
    }
    Ok(TokenHash::of(token))
}

impl FromRequestParts<Arc<AppState>> for DepartmentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let presented = bearer(parts)?;
        let mut found = None;
        for department in &state.config.departments {
            if department.token.matches(&presented) && found.is_none() {
                found = Some(department.clone());
            }
        }
        let is_admin = state
            .config
            .admin_token
            .is_some_and(|admin| admin.matches(&presented));
        match found {
            Some(department) => Ok(DepartmentAuth(department)),
            None if is_admin => Err(ApiError::Forbidden(
                "the admin token cannot act for a department".into(),
            )),
            None => Err(ApiError::InvalidToken),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let presented = bearer(parts)?;
        let is_department = state
            .config
            .departments
            .iter()
            .fold(false, |any, d| any | d.token.matches(&presented));
        match state.config.admin_token {
            Some(admin) if admin.matches(&presented) => Ok(AdminAuth),
            _ if is_department => Err(ApiError::Forbidden(
                "only the admin token may register keys".into(),
            )),
            _ => Err(ApiError::InvalidToken),
        }
    }
}
