//! GET /api/v1/limits: what an upload may ask for, from the same definitions the
//! upload's validation uses (the CRD schema's bounds, the contract's words), so a
//! client — the web page — never carries a copy that can drift.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use thumbnail_api::contract::words;
use thumbnail_api::crd::{Fit, Format};
use thumbnail_api::detect::SourceFormat;
use utoipa::ToSchema;

use crate::params::{Bounds, SPEC_BOUNDS};
use crate::state::AppState;

/// Inclusive bounds of a number.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
pub struct Range {
    pub min: u64,
    pub max: u64,
}

impl From<Bounds> for Range {
    fn from(b: Bounds) -> Range {
        Range {
            min: b.min,
            max: b.max,
        }
    }
}

/// What an upload may ask for.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Target width in pixels.
    pub width: Range,
    /// Target height in pixels.
    pub height: Range,
    /// Encoder quality.
    pub quality: Range,
    /// The formats that take a quality (the others refuse one).
    #[schema(example = json!(["jpeg", "webp"]))]
    pub quality_formats: Vec<String>,
    /// Output formats.
    #[schema(example = json!(["jpeg", "png", "webp"]))]
    pub formats: Vec<String>,
    /// The format when none is given.
    pub default_format: Format,
    /// How the image is fitted into width x height.
    #[schema(example = json!(["inside", "cover", "contain", "fill"]))]
    pub fits: Vec<String>,
    /// The fit when none is given; the only one that takes a single side.
    pub default_fit: Fit,
    /// Largest upload in bytes.
    pub max_upload_bytes: u64,
    /// Most items of `sizes` (thumbnails of one upload).
    #[schema(example = 16)]
    pub max_sizes: usize,
    /// Content types of the images accepted (recognised from their bytes).
    #[schema(example = json!(["image/jpeg", "image/png"]))]
    pub accepted_types: Vec<String>,
}

impl Limits {
    pub fn of(state: &AppState) -> Limits {
        let b = *SPEC_BOUNDS;
        let formats: Vec<Format> = words::<Format>()
            .iter()
            .map(|w| serde_json::from_value(serde_json::json!(w)).expect("a format word"))
            .collect();
        Limits {
            width: b.width.into(),
            height: b.height.into(),
            quality: b.quality.into(),
            quality_formats: formats
                .iter()
                .filter(|f| f.is_lossy())
                .map(|f| words_of(*f))
                .collect(),
            formats: words::<Format>(),
            default_format: Format::default(),
            fits: words::<Fit>(),
            default_fit: Fit::default(),
            max_upload_bytes: state.settings.max_upload_bytes,
            max_sizes: crate::params::MAX_SIZES,
            accepted_types: SourceFormat::ALL
                .iter()
                .map(|f| f.content_type().to_string())
                .collect(),
        }
    }
}

fn words_of<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .expect("an enum word")
}

/// What an upload may ask for: sizes, formats, fits, quality, the largest file.
///
/// The same bounds and words the upload is checked against. Needs no token: it
/// describes the API, like this document.
#[utoipa::path(
    get,
    path = "/api/v1/limits",
    tag = super::TAG,
    responses(
        (status = 200, description = "The limits of an upload", body = Limits),
    ),
)]
pub async fn limits(State(state): State<AppState>) -> Json<Limits> {
    Json(Limits::of(&state))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CRD refuses quality for exactly the formats that are not lossy (its rule is
    /// text, so this checks that the rule and `Format::is_lossy` agree).
    #[test]
    fn quality_formats_are_those_the_crd_allows_quality_for() {
        let crd = serde_json::to_string(&thumbnail_api::crd::crd()).unwrap();
        for word in words::<Format>() {
            let f: Format = serde_json::from_value(serde_json::json!(word)).unwrap();
            let refused = crd.contains(&format!("self.format != '{word}'"));
            assert_eq!(refused, !f.is_lossy(), "{word}");
        }
    }
}
