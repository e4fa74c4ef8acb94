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
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zkgov_log::entry::{Entry, GovernedDepartment};
use zkgov_log::receipt::Receipt;
use zkgov_log::rules::Refusal;
use zkgov_log::signature::{Endorsement, EntrySignature};

use super::api::{append_one, receipt_response, ApiJson};
use super::appender::Draft;
use super::auth::DepartmentAuth;
use super::error::{ApiError, ErrorBody};
use super::openapi::{Malformed, Timeout, TooLarge, Unavailable};
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

/// The governance in force, and the change waiting for endorsements
///
/// The departments, their registries and keys, and the rules' windows in force;
/// and, when the service's configuration changes a department that has a key,
/// the proposed governance entry with what it still needs (`needed`).
/// Departments sign the proposal (`zkgov governance endorse`) and post their
/// signatures to `/v1/governance/endorsements`.
#[utoipa::path(
    get,
    path = "/v1/governance",
    operation_id = "getGovernance",
    tag = "log",
    responses(
        (
            status = 200,
            description = "The governance and the proposal (null when the configuration and \
             the log agree).",
            body = GovernanceView,
        ),
        (status = 408, response = Timeout),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn get_governance(State(state): State<Arc<AppState>>) -> Json<GovernanceView> {
    let log = state.log();
    let current = log.governance().map(|g| GovernanceInForce {
        index: g.index,
        origin: g.origin.clone(),
        departments: g.entry_departments(),
        freshness_seconds: g.freshness_seconds,
        grace_seconds: g.grace_seconds,
        require_multi_party: g.require_multi_party,
    });
    let proposal = state.proposal().clone().map(|entry| {
        let needed = match judge(&log, &entry) {
            Ok(Verdict::Accepted) => None,
            Ok(Verdict::Needs(needed)) => Some(needed),
            Err(refusal) => Some(refusal.to_string()),
        };
        Proposal {
            entry,
            replaces: log.governance().map(|g| g.index),
            needed,
        }
    });
    Json(GovernanceView {
        governance: current,
        proposal,
    })
}

/// The governance in force, and the change that waits for endorsements.
#[derive(Serialize, ToSchema)]
pub(super) struct GovernanceView {
    /// The governance in force; none before the first entry.
    governance: Option<GovernanceInForce>,
    /// The configured change, while it waits.
    proposal: Option<Proposal>,
}

/// The governance in force.
#[derive(Serialize, ToSchema)]
pub(super) struct GovernanceInForce {
    /// The log index of its entry.
    index: u64,
    /// The log's origin, once governance has set it.
    origin: Option<String>,
    /// The departments, sorted by name.
    departments: Vec<GovernedDepartment>,
    /// How long after anchoring a registry root proofs may use it, in
    /// seconds.
    freshness_seconds: u64,
    /// How long a registry root may still back proofs after its registry
    /// anchored a newer one, in seconds.
    grace_seconds: u64,
    /// Production mode: only keys from a multi-party ceremony are logged
    /// and used.
    require_multi_party: bool,
}

/// A governance change that waits for endorsements.
#[derive(Serialize, ToSchema)]
pub(super) struct Proposal {
    /// The governance entry, with the endorsements it has.
    entry: Entry,
    /// The log index of the governance it replaces.
    replaces: Option<u64>,
    /// What it still needs; none once it may be appended.
    needed: Option<String>,
}

/// A department's endorsement of the proposal.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EndorsementRequest {
    /// The department's signature of the proposed governance entry.
    signature: EntrySignature,
}

/// An endorsement taken, while the proposal needs more.
#[derive(Serialize, ToSchema)]
pub(super) struct EndorsementPending {
    /// Always `pending`.
    status: Pending,
    /// What the proposal still needs.
    needed: String,
}

/// A proposal that waits.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Pending {
    /// It needs more endorsements.
    Pending,
}

/// Endorse the proposed governance change (department)
///
/// Adds the department's signature of the proposal (replacing an earlier one of
/// it), and appends the governance entry as soon as the endorsements suffice.
/// The proposal lives in memory: after a restart the service proposes the
/// configured change again. Body limit: `limits.max_body_bytes`.
#[utoipa::path(
    post,
    path = "/v1/governance/endorsements",
    operation_id = "endorseGovernance",
    tag = "log",
    security(("department" = [])),
    request_body = EndorsementRequest,
    responses(
        (
            status = 201,
            description = "The endorsements suffice: the governance entry is in the log; the \
             body is its receipt.",
            body = Receipt,
        ),
        (
            status = 202,
            description = "Endorsed; the change still needs more (`needed`).",
            body = EndorsementPending,
        ),
        (status = 400, response = Malformed),
        (
            status = 401,
            description = "No usable department token.",
            body = ErrorBody,
        ),
        (
            status = 403,
            description = "`bad_signature`: the signature is not by the department's key in \
             force, or does not verify over the proposal.",
            body = ErrorBody,
        ),
        (
            status = 404,
            description = "`not_found`: no change is proposed.",
            body = ErrorBody,
        ),
        (status = 408, response = Timeout),
        (status = 413, response = TooLarge),
        (status = 503, response = Unavailable),
    ),
)]
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
            Json(EndorsementPending {
                status: Pending::Pending,
                needed,
            }),
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
