//! Governance changes that need the departments' endorsement.
//!
//! The configuration says who takes part. When it changes a department
//! that has a key (or the rules' windows, once any department has one),
//! the rules accept the new governance entry only with the endorsements
//! they require (see [`zkgov_log::rules`]). Until then the log's governance
//! stays in force and the change waits here, as a proposal:
//!
//! - `GET /v1/governance` shows the governance in force and the proposal,
//!   with what it still needs;
//! - `POST /v1/governance/endorsements` takes a department's signature of
//!   the proposal, and appends it as soon as the endorsements suffice.
//!
//! A proposal lives in memory: after a restart the service proposes the
//! configured change again, and departments endorse it again.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use zkgov_log::entry::Entry;
use zkgov_log::rules::Refusal;
use zkgov_log::signature::{Endorsement, EntrySignature};

use super::api::{append_one, receipt_response, ApiJson};
use super::appender::Draft;
use super::auth::DepartmentAuth;
use super::error::ApiError;
use super::AppState;

/// What the rules say of a governance change with the endorsements it has.
pub(super) enum Verdict {
    /// It may be appended.
    Accepted,
    /// It waits for endorsements; what it needs.
    Needs(String),
}

/// Whether `entry` may change the log's governance now. Refusals other
/// than missing endorsements are the entry's own faults.
///
/// The entry is judged with the time the appender would stamp on it now:
/// a proposal keeps the time it was made at, while the log moves on for as
/// long as the departments take to endorse it. Endorsements do not sign
/// the time, so restamping it leaves them valid.
pub(super) fn judge(log: &zkgov_log::rules::LogState, entry: &Entry) -> Result<Verdict, Refusal> {
    let mut entry = entry.clone();
    entry.set_time(log.next_time(super::now()));
    match log.check(&entry) {
        Ok(()) => Ok(Verdict::Accepted),
        Err(Refusal::Unendorsed(needed)) => Ok(Verdict::Needs(needed)),
        Err(refusal) => Err(refusal),
    }
}

/// `GET /v1/governance`: the governance in force and the pending proposal.
pub(super) async fn get_governance(State(state): State<Arc<AppState>>) -> Json<Value> {
    let log = state.log();
    let current = log.governance().map(|g| {
        json!({
            "index": g.index,
            "origin": g.origin,
            "departments": g.entry_departments(),
            "freshness_seconds": g.freshness_seconds,
            "grace_seconds": g.grace_seconds,
        })
    });
    let proposal = state.proposal().clone().map(|entry| {
        let needed = match judge(&log, &entry) {
            Ok(Verdict::Accepted) => None,
            Ok(Verdict::Needs(needed)) => Some(needed),
            Err(refusal) => Some(refusal.to_string()),
        };
        json!({
            "entry": entry,
            "replaces": log.governance().map(|g| g.index),
            "needed": needed,
        })
    });
    Json(json!({ "governance": current, "proposal": proposal }))
}

/// A department's endorsement of the proposal.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EndorsementRequest {
    signature: EntrySignature,
}

/// `POST /v1/governance/endorsements`: adds the department's endorsement
/// to the proposal (replacing an earlier one of it), and appends the
/// proposal once the endorsements suffice.
pub(super) async fn post_endorsement(
    State(state): State<Arc<AppState>>,
    DepartmentAuth(department): DepartmentAuth,
    ApiJson(request): ApiJson<EndorsementRequest>,
) -> Result<Response, ApiError> {
    let candidate = {
        let proposal = state.proposal();
        let Some(mut entry) = proposal.clone() else {
            return Err(ApiError::NotFound(
                "no governance change is proposed: the configuration and the log agree".into(),
            ));
        };
        if let Entry::Governance { endorsements, .. } = &mut entry {
            endorsements.retain(|e| e.department != department.name);
            endorsements.push(Endorsement {
                department: department.name.clone(),
                signature: request.signature,
            });
            endorsements.sort_by(|a, b| a.department.cmp(&b.department));
        }
        entry
    };
    let verdict = judge(&state.log(), &candidate)?;
    *state.proposal() = Some(candidate.clone());
    match verdict {
        Verdict::Needs(needed) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "status": "pending", "needed": needed })),
        )
            .into_response()),
        Verdict::Accepted => {
            let (outcome, receipt) = append_one(
                &state,
                Draft {
                    entry: candidate,
                    verified: None,
                },
            )
            .await?;
            *state.proposal() = None;
            tracing::info!(
                index = receipt.index,
                "the endorsed governance is in the log"
            );
            Ok(receipt_response(&outcome, receipt))
        }
    }
}
