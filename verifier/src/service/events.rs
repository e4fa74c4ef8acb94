//! Applicants' event streams: `GET /v1/applications/{case}/events`, the
//! case's status as server-sent events, under the applicant's session (the
//! `zkgov_session` cookie, which a browser's `EventSource` sends, or a
//! bearer token).
//!
//! A stream sends the status (the JSON of `GET /v1/applications/{case}`)
//! at once as an event named `status`, then again each time it changes,
//! each with the log size it was read at as its id (a status that changed
//! only in the work queue repeats the id), and a keep-alive comment every
//! 15 seconds. It does not poll the log: it wakes when the appender
//! commits (and reads again only if the case's own entries changed), when
//! a work request is leased or completed, and every few seconds, for
//! leases that run out and to check that the session still holds.
//!
//! A stream ends:
//! - once the case is settled (decided, and its licence issued if the
//!   decision grants one), with an `end` event after the last status. An
//!   `EventSource` reconnects to a stream that ends, so a client closes it
//!   on `end`; the event's `retry` makes one that does not wait a minute;
//! - when the session expires: a client that reconnects gets 401;
//! - when the service shuts down, without `end`, so that a client
//!   reconnects to the service once it is back. An open stream would
//!   otherwise keep its connection, and so the shutdown, waiting;
//! - when the client goes away (noticed at the next event or keep-alive).
//!
//! At most `limits.max_event_streams` are open at once; beyond that a
//! request is refused with 503 `overloaded`. An open stream holds a
//! connection but not a slot of `limits.max_in_flight`, and the request
//! timeout covers only its first answer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{watch, OwnedSemaphorePermit};
use zkgov_log::rules::Application;

use super::api::{blocking, no_store, ApiPath};
use super::applications::case_status;
use super::auth::{check_session_case, ApplicantSession};
use super::error::{ApiError, ErrorBody};
use super::openapi::{ApplicationPath, NoApplication, OtherCase, Timeout};
use super::{now, AppState};

/// How often a stream reads the case even if nothing woke it: for leases
/// that run out and for the session's expiry.
pub const POLL: Duration = Duration::from_secs(2);

/// How long a quiet stream waits before a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a client that reconnects after `end` is asked to wait.
const RETRY_AFTER_END: Duration = Duration::from_secs(60);

/// What the log says of a case, in brief: a change of its answers or its
/// decisions changes this.
type Mark = (usize, Option<u64>);

fn mark(application: &Application) -> Mark {
    (
        application.answers.len(),
        application.decisions.last().copied(),
    )
}

/// One reading of the case.
enum Reading {
    /// The status, the log size it was read at, and the case's mark.
    Status(Value, u64, Mark),
    /// The session has expired.
    SessionEnded,
}

/// Reads the case's status, and whether the session still holds.
async fn read(state: &Arc<AppState>, case_id: &str, session: &str) -> Result<Reading, ApiError> {
    let storage = state.storage.clone();
    let (case, digest) = (case_id.to_string(), session.to_string());
    let (work, session_case) = blocking(move || {
        Ok((
            storage.case_work(&case)?,
            storage.session_case(&digest, now())?,
        ))
    })
    .await?;
    if session_case.as_deref() != Some(case_id) {
        return Ok(Reading::SessionEnded);
    }
    let log = state.log();
    let application = log
        .application(case_id)
        .ok_or_else(|| ApiError::NotFound(format!("no application `{case_id}`")))?;
    let status = serde_json::to_value(case_status(&log, application, &work, now()))
        .map_err(|e| ApiError::Internal(format!("a case's status: {e}")))?;
    Ok(Reading::Status(status, log.size(), mark(application)))
}

/// Whether nothing more is to come: decided, and the licence, if the
/// decision grants one, issued.
fn settled(status: &Value) -> bool {
    let decided = status["status"].as_str().is_some_and(|s| s != "open");
    let licence = &status["licence"];
    decided && (licence.is_null() || licence["issued"] == true)
}

/// Where a stream is.
enum Phase {
    /// Sending each change.
    Watching,
    /// The last status went out; `end` follows.
    Ending,
    /// Nothing more.
    Done,
}

/// One applicant's open stream.
struct EventStream {
    state: Arc<AppState>,
    case_id: String,
    session: String,
    /// The status last sent, and the case's mark then.
    last: Value,
    mark: Mark,
    phase: Phase,
    log_size: watch::Receiver<u64>,
    casework: watch::Receiver<u64>,
    stopping: watch::Receiver<bool>,
    poll: tokio::time::Interval,
    /// The stream's place under `limits.max_event_streams`, given back
    /// when it is dropped.
    _permit: OwnedSemaphorePermit,
}

/// Why a stream woke.
enum Wake {
    Log,
    Casework,
    Poll,
    Stop,
}

fn status_event(status: &Value, size: u64) -> Event {
    Event::default()
        .event("status")
        .id(size.to_string())
        .data(status.to_string())
}

impl EventStream {
    /// The next event, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        match self.phase {
            Phase::Watching => {}
            Phase::Ending => {
                self.phase = Phase::Done;
                return Some(
                    Event::default()
                        .event("end")
                        .data(json!({ "reason": "settled" }).to_string())
                        .retry(RETRY_AFTER_END),
                );
            }
            Phase::Done => return None,
        }
        loop {
            let (stopping, log_size, casework, poll) = (
                &mut self.stopping,
                &mut self.log_size,
                &mut self.casework,
                &mut self.poll,
            );
            let wake = tokio::select! {
                // The guard `wait_for` returns must not be held across an
                // await, so it is dropped inside.
                () = async { drop(stopping.wait_for(|stop| *stop).await) } => Wake::Stop,
                changed = log_size.changed() => match changed {
                    Ok(()) => Wake::Log,
                    Err(_) => Wake::Stop,
                },
                changed = casework.changed() => match changed {
                    Ok(()) => Wake::Casework,
                    Err(_) => Wake::Stop,
                },
                _ = poll.tick() => Wake::Poll,
            };
            match wake {
                Wake::Stop => return None,
                // Most commits are about other cases.
                Wake::Log if !self.case_changed() => continue,
                Wake::Log | Wake::Casework | Wake::Poll => {}
            }
            let reading = read(&self.state, &self.case_id, &self.session).await;
            let (status, size, mark) = match reading {
                Ok(Reading::Status(status, size, mark)) => (status, size, mark),
                Ok(Reading::SessionEnded) => return None,
                Err(e) => {
                    if let ApiError::Internal(detail) = &e {
                        tracing::error!(%detail, "an event stream cannot read its case");
                    }
                    return None;
                }
            };
            self.mark = mark;
            if status == self.last {
                continue;
            }
            if settled(&status) {
                self.phase = Phase::Ending;
            }
            let event = status_event(&status, size);
            self.last = status;
            return Some(event);
        }
    }

    /// Whether the log's entries about the case changed since the last
    /// reading.
    fn case_changed(&self) -> bool {
        let log = self.state.log();
        log.application(&self.case_id).map(mark) != Some(self.mark)
    }
}

/// The applicant's view of its case, as server-sent events
///
/// The status of `GET /v1/applications/{case_id}` as a `text/event-stream`,
/// under the same session: the `zkgov_session` cookie, which a browser's
/// `EventSource` sends (it cannot set headers), or a bearer token; the access
/// code never goes in a URL. The first event is the current status; another
/// follows each time it changes (an item leased, answered, the decision, the
/// licence issued). Each is an event named `status` whose data is the status
/// JSON and whose id is the log size it was read at (a change in the work queue
/// alone repeats the id). A comment line is sent after 15 s without an event.
/// Once the case is settled (decided, and its licence issued if the decision
/// grants one) the stream sends an event named `end` (data `{"reason":
/// "settled"}`, `retry` 60 s) and closes; a client closes its `EventSource` on
/// `end`. The stream also closes, without `end`, when the session expires and
/// when the service shuts down. At most `limits.max_event_streams` (default 64,
/// or half of `limits.max_connections` if that is less) are open at once;
/// beyond that, 503 `overloaded`.
#[utoipa::path(
    get,
    path = "/v1/applications/{case_id}/events",
    operation_id = "applicationEvents",
    tag = "applications",
    security(("applicant" = [])),
    params(ApplicationPath),
    responses(
        (
            status = 200,
            description = "The stream: `event: status`, `id: <log size>`, `data: <Status \
             JSON>`, one per change, then `event: end` once the case is settled.",
            body = String,
            content_type = "text/event-stream",
            example = json!("event: status\ndata: {\"case_id\":\"DJY-2026-000123\",\"status\":\"open\",…}\nid: 42\n\n"),
        ),
        (
            status = 401,
            description = "No usable session: `missing_token` or `invalid_token`.",
            body = ErrorBody,
        ),
        (status = 403, response = OtherCase),
        (status = 404, response = NoApplication),
        (status = 408, response = Timeout),
        (
            status = 503,
            description = "`overloaded`: `limits.max_event_streams` streams are open.",
            body = ErrorBody,
        ),
    ),
)]
pub(super) async fn get_application_events(
    State(state): State<Arc<AppState>>,
    session: ApplicantSession,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    check_session_case(&session.case_id, &case_id)?;
    let permit = state
        .event_streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Overloaded)?;
    // Subscribed before the first reading, so that a change after it
    // wakes the stream.
    let mut log_size = state.log_size.clone();
    log_size.mark_unchanged();
    let casework = state.casework.subscribe();
    let stopping = state.stopping.subscribe();
    let (status, size, mark) = match read(&state, &case_id, &session.token_sha256).await? {
        Reading::Status(status, size, mark) => (status, size, mark),
        Reading::SessionEnded => return Err(ApiError::InvalidToken),
    };
    let first = status_event(&status, size);
    let phase = if settled(&status) {
        Phase::Ending
    } else {
        Phase::Watching
    };
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + POLL, POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream = EventStream {
        state,
        case_id,
        session: session.token_sha256,
        last: status,
        mark,
        phase,
        log_size,
        casework,
        stopping,
        poll,
        _permit: permit,
    };
    let events = futures_util::stream::once(async move { first })
        .chain(futures_util::stream::unfold(
            stream,
            |mut stream| async move {
                let event = stream.next().await?;
                Some((event, stream))
            },
        ))
        .map(Ok::<Event, Infallible>);
    let response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    Ok(no_store(response))
}
