//! What the resizer's in-process tests share.

use resizer::contract::{Fit, Format, Limits, ObjectLocation, Request};

/// A request for an in-process run (`pipeline::make_thumbnail`: no store, so no
/// locations), with the default limits.
pub fn request(
    width: Option<u32>,
    height: Option<u32>,
    fit: Fit,
    format: Format,
    quality: Option<u8>,
) -> Request {
    Request {
        source: ObjectLocation::default(),
        output: ObjectLocation::default(),
        width,
        height,
        fit,
        format,
        quality,
        limits: Limits::default(),
    }
}
