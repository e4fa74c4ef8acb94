//! The log as C2SP `tlog-tiles` under the prefix `/v1/log`:
//! `/v1/log/tile/<L>/<N>[.p/<W>]` (hashes) and
//! `/v1/log/tile/entries/<N>[.p/<W>]` (entry bundles), beside
//! `/v1/log/checkpoint`, which is the spec's `<prefix>/checkpoint`.
//!
//! A tile is served only once the latest signed checkpoint covers all of
//! it. The hashes are the stored nodes of complete subtrees, read by key,
//! so a tile costs 256 indexed reads and no hashing. A full tile never
//! changes and is cacheable for ever; a partial tile of a width never
//! changes either, but clients look for the wider one soon, so it is
//! cached briefly.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use zkgov_log::tiles::{encode_bundle, hash_tile, Tile, TileKind};
use zkgov_log::tree::TreeError;

use super::api::{blocking, ApiPath};
use super::error::{ApiError, ErrorBody};
use super::openapi::{Bytes, Timeout, Unavailable};
use super::AppState;
use crate::storage::Nodes;

/// `Cache-Control` of a full tile.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` of a partial tile.
pub const PARTIAL: &str = "public, max-age=10";

/// A C2SP tlog-tiles tile of the log, or an entry bundle
///
/// The log under the C2SP `tlog-tiles` prefix `/v1/log`: `tile/<L>/<N>[.p/<W>]`
/// holds hashes of tree level 8·L (32 bytes each), `tile/entries/<N>[.p/<W>]`
/// entries 256·N on, each a big-endian uint16 length and the entry's bytes. `N`
/// is in groups of three digits, all but the last prefixed by `x`
/// (`x001/x234/067`). Only canonical paths are served, and only tiles that the
/// latest signed checkpoint covers (404 otherwise). Full tiles are
/// `Cache-Control: public, max-age=31536000, immutable`; partial tiles `public,
/// max-age=10`.
#[utoipa::path(
    get,
    path = "/v1/log/tile/{path}",
    operation_id = "getTile",
    tag = "log",
    params(
        (
            "path" = String,
            Path,
            description = "The rest of the tile path after `tile/`, slashes included, such as \
             `0/x001/x234/067.p/8` or `entries/003`.",
        ),
    ),
    responses(
        (
            status = 200,
            description = "The tile's bytes.",
            body = Bytes,
            content_type = "application/octet-stream",
        ),
        (
            status = 404,
            description = "Not a canonical tile path, or a tile beyond the latest checkpoint.",
            body = ErrorBody,
        ),
        (status = 408, response = Timeout),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn get_tile(
    State(state): State<Arc<AppState>>,
    ApiPath(path): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tile = Tile::parse(&format!("tile/{path}"))
        .map_err(|e| ApiError::NotFound(format!("no such tile: {e}")))?;
    let signed = state.signed.last().map_or(0, |c| c.size);
    if !tile.is_in(signed) {
        return Err(ApiError::NotFound(format!(
            "{} is not in the latest checkpoint, of {signed} entries",
            tile.path()
        )));
    }
    let storage = state.storage.clone();
    let bytes = blocking(move || match tile.kind {
        TileKind::Hashes { .. } => hash_tile(&tile, &Nodes(&*storage)).map_err(|e| match e {
            TreeError::Read(e) => ApiError::from(e),
            other => ApiError::Internal(format!("{}: {other}", tile.path())),
        }),
        TileKind::Entries => {
            let range = tile.entry_range();
            let entries = storage.entries(range.start, range.end)?;
            encode_bundle(&entries).map_err(|e| ApiError::Internal(format!("{}: {e}", tile.path())))
        }
    })
    .await?;
    state.metrics.tile(tile.kind, tile.is_full());
    let cache = if tile.is_full() { IMMUTABLE } else { PARTIAL };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response())
}
