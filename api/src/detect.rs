//! Which format the source bytes are, from their magic numbers (never from names or
//! Content-Type, which uploaders get wrong), and the dimensions their header declares.
//!
//! In `api` because it defines which uploads the service accepts: the resizer decides
//! with it, and the REST shim rejects a non-image with it before storing anything,
//! without linking any image library.

use crate::contract::{Failed, Reason};

type Result<T, E = Failed> = std::result::Result<T, E>;

/// Formats the pipeline decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    Bmp,
    Tiff,
}

impl SourceFormat {
    /// Every format the pipeline decodes.
    pub const ALL: [SourceFormat; 6] = [
        SourceFormat::Jpeg,
        SourceFormat::Png,
        SourceFormat::Gif,
        SourceFormat::Webp,
        SourceFormat::Bmp,
        SourceFormat::Tiff,
    ];

    /// MIME type of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            SourceFormat::Jpeg => "image/jpeg",
            SourceFormat::Png => "image/png",
            SourceFormat::Gif => "image/gif",
            SourceFormat::Webp => "image/webp",
            SourceFormat::Bmp => "image/bmp",
            SourceFormat::Tiff => "image/tiff",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Jpeg => "JPEG",
            SourceFormat::Png => "PNG",
            SourceFormat::Gif => "GIF",
            SourceFormat::Webp => "WebP",
            SourceFormat::Bmp => "BMP",
            SourceFormat::Tiff => "TIFF",
        }
    }
}

/// The formats the resizer decodes, for messages.
pub const SUPPORTED: &str = "JPEG, PNG, GIF, WebP, BMP or TIFF";

/// Detects the format of `bytes`. Recognised but undecodable formats (AVIF, HEIC, JPEG XL,
/// SVG, PDF, ...) fail with UnsupportedFormat; anything else with NotAnImage.
pub fn detect(bytes: &[u8]) -> Result<SourceFormat> {
    let b = bytes;
    if b.is_empty() {
        return Err(Failed::new(
            Reason::NotAnImage,
            format!("the source object is empty (0 bytes); upload a {SUPPORTED} image"),
        ));
    }
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(SourceFormat::Jpeg);
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(SourceFormat::Png);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Ok(SourceFormat::Gif);
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Ok(SourceFormat::Webp);
    }
    if b.starts_with(b"BM") && b.len() >= 26 {
        return Ok(SourceFormat::Bmp);
    }
    if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        return Ok(SourceFormat::Tiff);
    }
    if let Some(name) = unsupported(b) {
        return Err(Failed::new(
            Reason::UnsupportedFormat,
            format!("the source is {name}, which the resizer does not decode; convert it to {SUPPORTED}"),
        ));
    }
    Err(Failed::new(
        Reason::NotAnImage,
        format!("the source ({} bytes) is not an image: its first bytes match no image format; upload a {SUPPORTED} image", b.len()),
    ))
}

fn unsupported(b: &[u8]) -> Option<&'static str> {
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        return Some(match &b[8..12] {
            b"avif" | b"avis" => "AVIF",
            b"heic" | b"heix" | b"mif1" | b"msf1" | b"hevc" => "HEIF/HEIC",
            _ => "an ISO media file (video?)",
        });
    }
    if b.starts_with(&[0xFF, 0x0A]) || b.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n") {
        return Some("JPEG XL");
    }
    if b.starts_with(b"II\xbc") {
        return Some("JPEG XR");
    }
    if b.starts_with(&[0, 0, 1, 0]) {
        return Some("an ICO icon");
    }
    if b.starts_with(b"8BPS") {
        return Some("a Photoshop document");
    }
    if b.starts_with(b"%PDF") {
        return Some("a PDF document");
    }
    let head = String::from_utf8_lossy(&b[..b.len().min(256)]).to_ascii_lowercase();
    if head.contains("<svg") {
        return Some("an SVG drawing");
    }
    None
}

/// Refuses images whose header declares more than `max_pixels` pixels, before any pixel
/// memory is allocated: a 100 KB PNG can declare 20000x20000 (1.6 GB decoded).
pub fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<()> {
    let pixels = width as u64 * height as u64;
    if width == 0 || height == 0 {
        return Err(Failed::new(
            Reason::CorruptImage,
            format!("the image header declares {width}x{height} pixels; the file is damaged"),
        ));
    }
    if pixels > max_pixels {
        return Err(Failed::new(
            Reason::TooManyPixels,
            format!(
                "the image is {width}x{height} ({:.1} megapixels), over the limit of {:.1} megapixels; upload a smaller image or raise the limit (RESIZER_MAX_PIXELS)",
                pixels as f64 / 1e6,
                max_pixels as f64 / 1e6
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_from_magic_bytes() {
        assert_eq!(
            detect(b"\xFF\xD8\xFF\xE0\0\x10JFIF").unwrap(),
            SourceFormat::Jpeg
        );
        assert_eq!(
            detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap(),
            SourceFormat::Png
        );
        assert_eq!(detect(b"GIF89a\x01\0\x01\0").unwrap(), SourceFormat::Gif);
        assert_eq!(detect(b"RIFF\0\0\0\0WEBPVP8 ").unwrap(), SourceFormat::Webp);
        assert_eq!(detect(b"II*\0\x08\0\0\0").unwrap(), SourceFormat::Tiff);
        assert_eq!(detect(b"MM\0*\0\0\0\x08").unwrap(), SourceFormat::Tiff);
        assert_eq!(
            detect(&[b"BM".as_slice(), &[0u8; 30]].concat()).unwrap(),
            SourceFormat::Bmp
        );
    }

    #[test]
    fn non_images_and_unsupported_formats_are_told_apart() {
        assert_eq!(detect(b"").unwrap_err().reason, Reason::NotAnImage);
        assert!(detect(b"").unwrap_err().message.contains("empty"));
        assert_eq!(
            detect(b"hello, world\n").unwrap_err().reason,
            Reason::NotAnImage
        );
        assert_eq!(
            detect(b"\0\0\0\x1cftypavif\0\0\0\0").unwrap_err().reason,
            Reason::UnsupportedFormat
        );
        let heic = detect(b"\0\0\0\x18ftypheic\0\0\0\0").unwrap_err();
        assert_eq!(heic.reason, Reason::UnsupportedFormat);
        assert!(heic.message.contains("HEIC"), "{}", heic.message);
        assert_eq!(
            detect(b"<?xml version=\"1.0\"?><svg xmlns=")
                .unwrap_err()
                .reason,
            Reason::UnsupportedFormat
        );
        assert_eq!(
            detect(b"%PDF-1.7").unwrap_err().reason,
            Reason::UnsupportedFormat
        );
    }

    #[test]
    fn pixel_limit_is_checked_on_declared_dimensions() {
        assert!(check_pixels(10_000, 10_000, 100_000_000).is_ok());
        let e = check_pixels(20_000, 20_000, 100_000_000).unwrap_err();
        assert_eq!(e.reason, Reason::TooManyPixels);
        assert!(
            e.message.contains("20000x20000") && e.message.contains("RESIZER_MAX_PIXELS"),
            "{}",
            e.message
        );
        assert_eq!(
            check_pixels(0, 5, 100).unwrap_err().reason,
            Reason::CorruptImage
        );
    }
}
