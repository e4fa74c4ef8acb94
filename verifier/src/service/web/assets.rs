//! The portal's scripts and styles, embedded in the binary.
//!
//! Each is served at `/assets/NAME` with its SHA-256 as a strong `ETag`,
//! and pages link it with the same hash as its Subresource Integrity
//! (`integrity="sha256-…"`), so a browser runs only the bytes released
//! with this binary.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../../assets/style.css"),
    },
    Asset {
        name: "verify.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../assets/verify.js"),
    },
    Asset {
        name: "track.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../assets/track.js"),
    },
];

/// The integrity hash of each asset, as pages link them.
pub struct Links {
    /// `style.css`.
    pub style: String,
    /// `track.js`.
    pub track: String,
    /// `verify.js`.
    pub verify: String,
}

/// `sha256-BASE64` of `bytes`, as Subresource Integrity writes it.
pub fn integrity(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The assets' integrity hashes, computed once.
pub fn links() -> &'static Links {
    static LINKS: LazyLock<Links> = LazyLock::new(|| {
        let of = |name| integrity(find(name).map_or(&[][..], |a| a.bytes));
        Links {
            style: of("style.css"),
            track: of("track.js"),
            verify: of("verify.js"),
        }
    });
    &LINKS
}

/// `GET /assets/{name}`: an embedded file, cached for a day and then
/// revalidated by its `ETag`.
pub(super) async fn get(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = find(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(asset.bytes)));
    let cache = [
        (header::CACHE_CONTROL, "public, max-age=86400".to_string()),
        (header::ETAG, etag.clone()),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let mut response = (cache, asset.bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_publishes_the_verification_scripts_integrity() {
        let readme = include_str!("../../../../README.md");
        let hash = &links().verify;
        assert!(
            readme.contains(&format!("`{hash}`")),
            "the README must publish {hash}, the integrity of assets/verify.js"
        );
    }

    #[test]
    fn every_asset_is_served_with_its_type() {
        for asset in ASSETS {
            assert!(find(asset.name).is_some());
            assert!(asset.content_type.ends_with("charset=utf-8"));
            assert!(!asset.bytes.is_empty(), "{}", asset.name);
        }
        assert!(find("../Cargo.toml").is_none());
    }
}
