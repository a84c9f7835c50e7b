//! Decoding to [`Pixels`](crate::pixels::Pixels), one file a path:
//!
//! - [`jpeg`]: JPEG through libjpeg-turbo, shrunk while decoding (DCT scaling),
//!   CMYK/YCCK converted to RGB;
//! - [`progressive_dc`]: the shortcuts that let a progressive JPEG decoded at 1/8 skip
//!   its AC scans (and, mostly, libjpeg's whole-image coefficient buffer);
//! - [`webp`]: still WebP through libwebp, shrunk while decoding;
//! - [`avif`]: AVIF through libavif and dav1d, with its orientation (irot/imir);
//! - [`generic`]: everything else through the `image` crate;
//! - [`tiff`]: the JPEG-compressed (YCbCr) TIFF pages `image` refuses.
//!
//! Callers check the header's pixel count first ([`crate::detect::check_pixels`]); the
//! `image` limits are a second guard.

pub mod avif;
pub mod generic;
pub mod jpeg;
pub mod progressive_dc;
pub mod tiff;
pub mod webp;

pub use avif::{avif_dimensions, decode_avif};
pub use generic::{decode_other, other_dimensions, other_metadata, Metadata};
pub use jpeg::{
    adobe_marker, cmyk_to_rgb, decode_jpeg, decode_jpeg_with, fastest_scale, is_cmyk,
    jpeg_dimensions, MAX_SCANS,
};
pub use progressive_dc::{progressive_dc_baseline, progressive_dc_only};
pub use webp::decode_webp;

use crate::contract::Reason;
use crate::detect::SourceFormat;
use crate::error::{Failed, Result};

/// Dimensions the header of a `format` image declares (no pixel is decoded).
pub fn dimensions(bytes: &[u8], format: SourceFormat) -> Result<(u32, u32)> {
    match format {
        SourceFormat::Jpeg => jpeg_dimensions(bytes),
        SourceFormat::Avif => avif_dimensions(bytes),
        other => other_dimensions(bytes, other),
    }
}

/// The failure for damaged image data, whichever decoder found it.
fn corrupt(format: &str, detail: impl std::fmt::Display) -> Failed {
    Failed::new(
        Reason::CorruptImage,
        format!("the {format} image is damaged or truncated ({detail}); re-export or re-upload the original file"),
    )
}
