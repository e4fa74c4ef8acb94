//! The OpenAPI 3.1 document of the API, served at `/v1/openapi.json`.
//!
//! It is generated, never written: each route comes from its handler's
//! `#[utoipa::path]` attribute, and each body's schema from the type the
//! handler reads or answers with. The refusals that many routes share are
//! response components here, and the long introduction is prose in
//! `openapi.md`.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde_json::json;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

/// The document, as served.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
        // OpenAPI 3.1's `info.summary`, which utoipa's `Info` lacks.
        document["info"]["summary"] = json!(
            "Verifies zero-knowledge proofs of registry facts and anchors them in a \
             transparency log."
        );
        document.to_string()
    })
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "zkgov verifier",
        version = "1",
        description = include_str!("openapi.md"),
    ),
    servers((url = "/", description = "The service itself.")),
    tags(
        (name = "service", description = "Health, metrics and this document."),
        (name = "keys", description = "Verifying keys and the policies they prove."),
        (name = "roots", description = "Registry roots anchored by their owning departments."),
        (name = "proofs", description = "Proof submission."),
        (name = "cases", description = "Results and decisions by case."),
        (name = "log", description = "The append-only anchor log: checkpoints, entries and proofs."),
        (name = "applications", description = "Procedures, applicants' intake and status, and the departments' work queues."),
    ),
    paths(
        super::api::healthz,
        super::api::get_metrics,
        super::api::get_openapi,
        super::api::list_keys,
        super::api::post_key,
        super::api::get_key,
        super::api::post_root,
        super::api::post_proof,
        super::api::post_batch,
        super::api::get_case,
        super::api::compare_case,
        super::api::post_decision,
        super::api::get_log_key,
        super::api::get_checkpoint,
        super::api::get_entries,
        super::api::get_inclusion,
        super::tiles::get_tile,
        super::api::get_consistency,
        super::applications::list_procedures,
        super::applications::post_procedure,
        super::applications::post_application,
        super::applications::post_session,
        super::applications::get_application,
        super::events::get_application_events,
        super::licence::get_licence,
        super::applications::list_cases,
        super::applications::get_case_status,
        super::applications::get_work,
        super::applications::post_work_batch,
        super::applications::get_queue,
        super::applications::post_work,
        super::governance::get_governance,
        super::governance::post_endorsement,
    ),
    components(responses(Timeout, TimeoutAppend, Overloaded, Unavailable, UnavailableAppend, Internal, Unauthorized, TooLarge, TooLargeBatch, Malformed, OtherCase, NoApplication)),
    modifiers(&BearerSchemes),
)]
struct ApiDoc;

/// The schema of a body of raw bytes, such as a tile.
pub(super) enum Bytes {}

impl PartialSchema for Bytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Bytes {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Bytes")
    }
}

/// The three bearer tokens.
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (
                "department",
                "A department's bearer token: acts for that department on root publication, \
                 proof submission and decisions.",
            ),
            (
                "admin",
                "The admin bearer token: registers verifying keys, and nothing else.",
            ),
            (
                "applicant",
                "An applicant session: the token that `POST \
                 /v1/applications/{case_id}/session` returns, as a bearer token or as the \
                 `zkgov_session` cookie (HttpOnly, SameSite=Strict). It reads one case.",
            ),
        ] {
            let mut scheme = Http::new(HttpAuthScheme::Bearer);
            scheme.description = Some(description.to_string());
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// Declares a refusal that several routes share: its description, and an
/// example body.
macro_rules! refusal {
    ($(#[$doc:meta])* $name:ident, $description:expr, $reason:expr, $message:expr $(,)?) => {
        $(#[$doc])*
        pub(super) enum $name {}

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                let content = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .example(Some(json!({"error": {"reason": $reason, "message": $message}})))
                    .build();
                let response = ResponseBuilder::new()
                    .description($description)
                    .content("application/json", content)
                    .build();
                (stringify!($name), response.into())
            }
        }
    };
}

refusal! {
    /// A request that took too long.
    Timeout,
    "The request took longer than the service's timeout (`limits.request_timeout_seconds`, \
     default 30 s). Possible `reason` values: `timeout`: the request took longer than the \
     service's timeout.",
    "timeout",
    "the request took longer than the service's timeout",
}

refusal! {
    /// A request that took too long, on a route that appends.
    TimeoutAppend,
    "The request took longer than the service's timeout (`limits.request_timeout_seconds`, \
     default 30 s). An append handed to the log before the timeout may still be committed: \
     retrying a key registration or a proof is safe (it is deduplicated), retrying a root \
     publication or a decision appends it again. Possible `reason` values: `timeout`: the \
     request took longer than the service's timeout.",
    "timeout",
    "the request took longer than the service's timeout",
}

refusal! {
    /// A read refused at the concurrency limit.
    Overloaded,
    "The service is at its concurrency limit (`limits.max_in_flight`, default 256) and refused \
     the request at once; retry later. Possible `reason` values: `overloaded`: the service is \
     busy; retry later.",
    "overloaded",
    "the service is busy; retry later",
}

refusal! {
    /// A request the service cannot answer now.
    Unavailable,
    "The service cannot answer now; retry later. Possible `reason` values: `overloaded`: at \
     its concurrency limit (`limits.max_in_flight`); `shutting_down`: shutting down; \
     `storage_unavailable`: the database failed a read or a commit, and nothing was written.",
    "overloaded",
    "the service is busy; retry later",
}

refusal! {
    /// An append the service cannot take now.
    UnavailableAppend,
    "The service is at its concurrency limit (`limits.max_in_flight`, default 256), or is \
     shutting down; retry later. Possible `reason` values: `overloaded`: the service is busy; \
     retry later; `shutting_down`: the service is shutting down and no longer appends to the \
     log. `storage_unavailable`: the database failed a read or a commit; nothing was written, \
     and the request may be retried.",
    "overloaded",
    "the service is busy; retry later",
}

refusal! {
    /// An internal error.
    Internal,
    "An internal error, such as a storage failure; the detail goes to the server log only. \
     Possible `reason` values: `internal`: internal error.",
    "internal",
    "internal error",
}

refusal! {
    /// A request without a usable token.
    Unauthorized,
    "The request carries no usable bearer token. Possible `reason` values: `missing_token`: no \
     `Authorization` header, or an empty token; `invalid_token`: the header is not `Bearer \
     <token>`, or the token is not one the service knows.",
    "missing_token",
    "this route needs a bearer token",
}

refusal! {
    /// A body over `limits.max_body_bytes`.
    TooLarge,
    "The request body exceeds this route's limit (`limits.max_body_bytes`, default 64 KiB). \
     Possible `reason` values: `body_too_large`: the request body exceeds this route's limit.",
    "body_too_large",
    "the request body exceeds this route's limit",
}

refusal! {
    /// A body over `limits.max_batch_body_bytes`.
    TooLargeBatch,
    "The request body exceeds this route's limit (`limits.max_batch_body_bytes`, default 8 \
     MiB). Possible `reason` values: `body_too_large`: the request body exceeds this route's \
     limit.",
    "body_too_large",
    "the request body exceeds this route's limit",
}

refusal! {
    /// A body that is not of the documented shape.
    Malformed,
    "The body is not a strict JSON object of the documented shape (see *Request bodies*), or \
     the `Content-Type` is not `application/json`. Possible `reason` values: \
     `malformed_request`.",
    "malformed_request",
    "expected a request with `Content-Type: application/json`",
}

refusal! {
    /// An applicant session that reads another case.
    OtherCase,
    "`forbidden`: the session is for another case.",
    "forbidden",
    "this session is for another case",
}

refusal! {
    /// An application that does not exist.
    NoApplication,
    "`not_found`: no application has this case number.",
    "not_found",
    "no application `DJY-2026-000123`",
}

/// The case a department's route is about, in its path. The type only
/// describes the parameter: the handlers take the path as a string.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct CasePath {
    /// The case number, as the departments share it (percent-encoded in the
    /// path): 1 to 128 bytes, no control characters. Its `text` encoding is
    /// public input 1 of every proof in the case.
    #[param(example = "C-2026-0042")]
    case_id: String,
}

/// The application a route is about, in its path. The type only describes
/// the parameter: the handlers take the path as a string.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct ApplicationPath {
    /// The case number, such as `DJY-2026-000123`.
    #[param(example = "DJY-2026-000123")]
    case_id: String,
}
