//! `GET /v1/applications/{case}/licence`: the applicant's licence document
//! ([`zkgov_log::licence`]), once the licence is issued.
//!
//! It is served under the applicant's session only: it carries the
//! holder's opening of the licence's subject tag, which is the subject's
//! id and the case secret.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use zkgov_log::licence::{Holder, LicenceDocument};

use super::api::{blocking, existing_receipt, no_store, ApiPath};
use super::auth::{check_session_case, ApplicantAuth};
use super::error::{ApiError, ErrorBody};
use super::openapi::{
    ApplicationPath, NoApplication, OtherCase, Timeout, Unauthorized, Unavailable,
};
use super::AppState;
use crate::storage::casework::WorkKind;

/// The applicant's licence document
///
/// Once the case is approved and its licence is in the deciding department's
/// registry: the licence as the decision entry states it, the holder's opening
/// of its subject tag (the subject's id and the case secret, which is why only
/// the applicant's session reads it), and the decision's receipt against the
/// latest checkpoint. `zkgov licence verify` checks it offline with the log's
/// key.
#[utoipa::path(
    get,
    path = "/v1/applications/{case_id}/licence",
    operation_id = "applicationLicence",
    tag = "applications",
    security(("applicant" = [])),
    params(ApplicationPath),
    responses(
        (
            status = 200,
            description = "The licence document.",
            body = LicenceDocument,
        ),
        (status = 401, response = Unauthorized),
        (status = 403, response = OtherCase),
        (status = 404, response = NoApplication),
        (status = 408, response = Timeout),
        (
            status = 409,
            description = "`conflict`: the case is not decided yet, is refused, or its licence \
             is not yet issued into the registry.",
            body = ErrorBody,
        ),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn get_licence(
    State(state): State<Arc<AppState>>,
    ApplicantAuth(session_case): ApplicantAuth,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    check_session_case(&session_case, &case_id)?;
    let document = licence_document(&state, &case_id).await?;
    Ok(no_store(Json(document).into_response()))
}

/// The licence document of an approved case, once its licence is issued.
pub(super) async fn licence_document(
    state: &Arc<AppState>,
    case_id: &str,
) -> Result<LicenceDocument, ApiError> {
    let case_id = case_id.to_string();
    let storage = state.storage.clone();
    let case = case_id.clone();
    let (stored, work) =
        blocking(move || Ok((storage.application(&case)?, storage.case_work(&case)?))).await?;
    let stored = stored.ok_or_else(|| ApiError::NotFound(format!("no application `{case_id}`")))?;
    let (index, licence, holder) = {
        let log = state.log();
        let application = log
            .application(&case_id)
            .ok_or_else(|| ApiError::NotFound(format!("no application `{case_id}`")))?;
        let decision = log
            .latest_decision(application)
            .ok_or_else(|| ApiError::Conflict(format!("case {case_id} is not decided yet")))?;
        let licence = match (&decision.licence, decision.decision.as_str()) {
            (Some(licence), "approved") => licence.clone(),
            _ => {
                return Err(ApiError::Conflict(format!(
                    "case {case_id} is {}; it issues no licence",
                    decision.decision
                )))
            }
        };
        let holder = log
            .procedure_at(application.procedure)
            .and_then(|p| p.procedure.evidence.first())
            .and_then(|item| stored.inputs.get(&item.subject))
            .cloned()
            .ok_or_else(|| {
                ApiError::Internal(format!("case {case_id}: the holder's input is missing"))
            })?;
        (decision.index, licence, holder)
    };
    let issued = work
        .iter()
        .any(|w| w.kind == WorkKind::Licence && w.done.is_some());
    if !issued {
        return Err(ApiError::Conflict(format!(
            "the licence {} is approved but not yet in the {} registry; retry shortly",
            licence.number, licence.registry
        )));
    }
    let receipt = existing_receipt(state, index).await?;
    Ok(LicenceDocument::new(
        &state.config.origin,
        &case_id,
        &licence,
        Holder {
            subject: holder,
            case_secret: stored.case_secret,
        },
        receipt,
    ))
}
