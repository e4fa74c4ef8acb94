//! The web portal, served by `zkgov serve` itself at `/`: applicants apply
//! and track their cases, and anyone reads the public log.
//!
//! Pages are rendered on the server from askama templates, which escape
//! every value; every page works without JavaScript. Where JavaScript
//! runs, the status page follows the case's event stream. Scripts and
//! styles are embedded in the binary ([`assets`]) and carry Subresource
//! Integrity hashes, and the Content-Security-Policy allows nothing from
//! another origin. Every string is in English and Chinese ([`text`]),
//! chosen from `Accept-Language` or the page's switch.
//!
//! The pages call the same functions as the API: intake, the access-code
//! exchange, the case's status and the licence document. Access codes and
//! session tokens travel only in form bodies and cookies, never in a URL,
//! and `Referrer-Policy: no-referrer` keeps even public URLs out of other
//! sites' logs. A form posted from another site is refused.

use std::sync::Arc;

use askama::Template;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::auth::over_tls;
use super::error::ApiError;
use super::AppState;
use text::{Lang, Text};

mod apply;
pub(super) mod assets;
pub(super) mod desk;
mod explorer;
pub mod text;
mod track;

/// The largest form a page accepts, in bytes.
pub const FORM_LIMIT: usize = 16 * 1024;

/// The cookie that keeps the language chosen with the switch.
const LANG_COOKIE: &str = "zkgov_lang";

/// The Content-Security-Policy of every page: scripts, styles, images and
/// connections from this origin only (images also as `data:`, for the
/// licence's QR code), no frames, no plugins, forms posted here only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The portal's routes. The service adds its limits and counts the
/// requests as it does the API's.
pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home))
        .route("/lang", get(switch_language))
        .route("/apply", get(apply::choose))
        .route("/apply/{procedure}", get(apply::start).post(apply::answer))
        .route("/track", get(track::sign_in_page).post(track::sign_in))
        .route("/track/{case_id}", get(track::status))
        .route("/track/{case_id}/licence.json", get(track::licence))
        .route("/log", get(explorer::index))
        .route("/log/search", get(explorer::search))
        .route("/log/entries/{index}", get(explorer::entry))
        .route("/log/cases/{case_id}", get(explorer::case))
        .route("/log/keys/{key_id}", get(explorer::key))
        .route("/verify", get(verify))
        .route("/desk", get(desk::show))
        .route("/desk/sign-in", post(desk::sign_in))
        .route("/desk/sign-out", post(desk::sign_out))
        .route("/desk/cases/{case_id}/decision", post(desk::decide_case))
        .route("/assets/{name}", get(assets::get))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
}

/// Sets the security headers on every response of the portal, and refuses
/// a form posted from another site (by `Sec-Fetch-Site`, or where a
/// browser does not send it, by `Origin` against `Host`).
pub(super) async fn protect(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && cross_site(request.headers()) {
        let ctx = Ctx::from_headers(request.headers(), "/");
        return page_error(&ctx, StatusCode::FORBIDDEN, ctx.t.bad_request_title, "");
    }
    secured(next.run(request).await)
}

/// A response with the portal's security headers, and `no-store` unless it
/// says how to cache it.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// Whether a request comes from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.to_str(), Ok("same-origin") | Ok("none"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Neither header: not a browser's cross-site form.
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = origin.to_str().ok();
    match (origin, host) {
        (Some(origin), Some(host)) => {
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            bare != Some(host)
        }
        _ => true,
    }
}

/// What every page needs: the language, its strings, and the page's own
/// address for the language switch.
pub(super) struct Ctx {
    /// The page's language.
    pub lang: Lang,
    /// Its strings.
    pub t: &'static Text,
    /// The path and query of this page, where the switch comes back to.
    pub path: String,
    /// Whether the request came over TLS.
    pub secure: bool,
    /// The embedded assets' addresses and integrity hashes.
    pub assets: &'static assets::Links,
}

impl Ctx {
    fn from_headers(headers: &HeaderMap, path: &str) -> Ctx {
        let chosen = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == LANG_COOKIE)
            .and_then(|(_, tag)| Lang::from_tag(tag));
        let lang = chosen.unwrap_or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map_or(Lang::En, Lang::from_accept_language)
        });
        Ctx {
            lang,
            t: lang.text(),
            path: path.to_string(),
            secure: over_tls(headers),
            assets: assets::links(),
        }
    }

    /// The other language's tag, for the switch.
    pub fn other_tag(&self) -> &'static str {
        self.lang.other().tag()
    }

    /// The other language's name, in itself.
    pub fn other_name(&self) -> &'static str {
        self.lang.other().text().lang_name
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        Ok(Ctx::from_headers(&parts.headers, &path))
    }
}

/// Renders a page, or the error page if the template fails.
pub(super) fn render(ctx: &Ctx, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            page_error(
                ctx,
                StatusCode::INTERNAL_SERVER_ERROR,
                ctx.t.error_title,
                ctx.t.error_text,
            )
        }
    }
}

/// The page shown for a failure, with the status it carries.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    ctx: &'a Ctx,
    title: &'a str,
    text: &'a str,
}

fn page_error(ctx: &Ctx, status: StatusCode, title: &str, text: &str) -> Response {
    let html = ErrorPage { ctx, title, text }
        .render()
        .unwrap_or_else(|_| title.to_string());
    (status, Html(html)).into_response()
}

/// The error for a form that could not be read: too large, or not a form
/// of the page's fields.
pub(super) fn form_error(rejection: axum::extract::rejection::FormRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::BodyTooLarge
    } else {
        ApiError::MalformedRequest("the form".into())
    }
}

/// The page for an API error: its status, in the page's language. What
/// went wrong inside the service goes to the server's log only.
pub(super) fn failure(ctx: &Ctx, error: ApiError) -> Response {
    let t = ctx.t;
    let status = error.status();
    match error {
        ApiError::NotFound(_) => page_error(ctx, status, t.not_found_title, t.not_found_text),
        ApiError::TooManyRequests => page_error(ctx, status, t.too_many, ""),
        ApiError::Overloaded | ApiError::Timeout | ApiError::ShuttingDown => {
            page_error(ctx, status, t.busy, "")
        }
        e if status.is_server_error() => {
            tracing::error!(error = %e, "a page failed");
            page_error(ctx, status, t.error_title, t.error_text)
        }
        _ => page_error(ctx, status, t.bad_request_title, ""),
    }
}

/// What the service answers for an address it does not have: the API's
/// JSON error under `/v1/` (and for its two probes' neighbours), a page
/// anywhere else.
pub(super) async fn fallback(ctx: Ctx, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/v1/") || path == "/v1" {
        return ApiError::NotFound("no such route".into()).into_response();
    }
    let response = if method == Method::GET || method == Method::HEAD {
        page_error(
            &ctx,
            StatusCode::NOT_FOUND,
            ctx.t.not_found_title,
            ctx.t.not_found_text,
        )
    } else {
        ApiError::NotFound("no such route".into()).into_response()
    };
    secured(response)
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home<'a> {
    ctx: &'a Ctx,
}

async fn home(ctx: Ctx) -> Response {
    no_cache(render(&ctx, &Home { ctx: &ctx }))
}

#[derive(Template)]
#[template(path = "verify.html")]
struct Verify<'a> {
    ctx: &'a Ctx,
}

/// `GET /verify`: checks a licence file in the browser (`assets/verify.js`),
/// with the log key from the link's fragment.
async fn verify(ctx: Ctx) -> Response {
    no_cache(render(&ctx, &Verify { ctx: &ctx }))
}

#[derive(Deserialize)]
struct Switch {
    to: String,
    #[serde(default)]
    back: String,
}

/// `GET /lang?to=zh-CN&back=/log`: keeps the chosen language in a cookie
/// and goes back to the page. Only a path on this site is gone back to.
async fn switch_language(ctx: Ctx, Query(switch): Query<Switch>) -> Response {
    let Some(lang) = Lang::from_tag(&switch.to) else {
        return page_error(&ctx, StatusCode::BAD_REQUEST, ctx.t.bad_request_title, "");
    };
    let local = switch.back.starts_with('/')
        && !switch.back.starts_with("//")
        && !switch.back.contains('\\')
        && !switch.back.chars().any(char::is_control);
    let back = if local { switch.back.as_str() } else { "/" };
    let secure = if ctx.secure { "; Secure" } else { "" };
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}",
        lang.tag()
    );
    let mut response = Redirect::to(back).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Percent-encodes `text` as one path segment (or query value).
pub(super) fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Marks a public page that may be cached but must be revalidated.
pub(super) fn no_cache(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn a_form_from_another_site_is_cross_site() {
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "none")])));
        assert!(cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "zkgov.example")
        ])));
        assert!(!cross_site(&headers(&[
            ("origin", "https://zkgov.example"),
            ("host", "zkgov.example")
        ])));
        assert!(cross_site(&headers(&[("origin", "null"), ("host", "a")])));
        assert!(!cross_site(&headers(&[])));
    }

    #[test]
    fn case_numbers_are_encoded_as_one_path_segment() {
        assert_eq!(path_segment("DJY-2026-000001"), "DJY-2026-000001");
        assert_eq!(path_segment("a/b?c d"), "a%2Fb%3Fc%20d");
    }

    #[test]
    fn the_language_cookie_wins_over_accept_language() {
        let ctx = Ctx::from_headers(
            &headers(&[
                ("accept-language", "en"),
                ("cookie", "a=b; zkgov_lang=zh-CN"),
            ]),
            "/",
        );
        assert_eq!(ctx.lang, Lang::Zh);
        let ctx = Ctx::from_headers(&headers(&[("accept-language", "zh-CN")]), "/");
        assert_eq!(ctx.lang, Lang::Zh);
        let ctx = Ctx::from_headers(&headers(&[("cookie", "zkgov_lang=fr")]), "/");
        assert_eq!(ctx.lang, Lang::En);
    }
}
