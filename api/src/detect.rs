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
    Avif,
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
            SourceFormat::Avif => "image/avif",
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
            SourceFormat::Avif => "AVIF",
        }
    }
}

/// The formats the resizer decodes, for messages.
pub const SUPPORTED: &str = "JPEG, PNG, GIF, WebP, AVIF, BMP or TIFF";

/// Detects the format of `bytes`. Recognised but undecodable formats (HEIC, JPEG XL,
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
    if heif_brands(b).is_some_and(|mut brands| brands.any(|x| x == *b"avif" || x == *b"avis")) {
        return Ok(SourceFormat::Avif);
    }
    if let Some(name) = unsupported_kind(b) {
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

/// The brands of an ISO base media file (HEIF, AVIF, MP4, ...): the major brand and the
/// compatible brands of its leading `ftyp` box, as far as `b` holds them. A file is
/// AVIF or HEIC by a brand anywhere in the list: AVIF files may have the generic major
/// brand `mif1` and name `avif` only among the compatible ones.
fn heif_brands(b: &[u8]) -> Option<impl Iterator<Item = [u8; 4]> + '_> {
    if b.len() < 12 || &b[4..8] != b"ftyp" {
        return None;
    }
    let declared = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let end = declared.clamp(12, b.len());
    let compatible = b.get(16..end).unwrap_or_default();
    Some(
        std::iter::once(&b[8..12])
            .chain(compatible.chunks_exact(4))
            .map(|x| [x[0], x[1], x[2], x[3]]),
    )
}

/// What a recognised but undecodable file is ("HEIC (...)", "a PDF document", ...), for
/// messages; None for decodable formats and for bytes no format matches.
pub fn unsupported(b: &[u8]) -> Option<&'static str> {
    if detect(b).is_ok() {
        return None;
    }
    unsupported_kind(b)
}

fn unsupported_kind(b: &[u8]) -> Option<&'static str> {
    if let Some(brands) = heif_brands(b) {
        let brands: Vec<[u8; 4]> = brands.collect();
        let has = |names: &[&[u8; 4]]| brands.iter().any(|x| names.contains(&x));
        // HEVC-coded HEIF (iPhone photos): docs/DESIGN.md "Formats" says why it is
        // not decoded. The word HEIC is the one users know (the file extension).
        return Some(
            if has(&[b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"]) {
                "HEIC (HEVC-coded HEIF, the default format of iPhone photos)"
            } else if has(&[b"mif1", b"msf1"]) {
                "HEIF"
            } else {
                "an ISO media file (video?)"
            },
        );
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
        // AVIF as avifenc and libheif write it (major brand avif), as some other writers
        // do (major mif1, avif compatible), and image sequences (avis).
        for head in [
            b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf".as_slice(),
            b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf",
            b"\0\0\0\x20ftypavis\0\0\0\0avisavifmsf1iso8",
        ] {
            assert_eq!(detect(head).unwrap(), SourceFormat::Avif, "{head:?}");
        }
    }

    #[test]
    fn non_images_and_unsupported_formats_are_told_apart() {
        assert_eq!(detect(b"").unwrap_err().reason, Reason::NotAnImage);
        assert!(detect(b"").unwrap_err().message.contains("empty"));
        assert_eq!(
            detect(b"hello, world\n").unwrap_err().reason,
            Reason::NotAnImage
        );
        let heic = detect(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic").unwrap_err();
        assert_eq!(heic.reason, Reason::UnsupportedFormat);
        assert!(
            heic.message.contains("the source is HEIC"),
            "{}",
            heic.message
        );
        // Brand order as iOS writes it: major mif1, HEVC named among the compatible ones.
        let heic = detect(b"\0\0\0\x1cftypmif1\0\0\0\0mif1heicmiaf").unwrap_err();
        assert!(
            heic.message.contains("the source is HEIC"),
            "{}",
            heic.message
        );
        let mp4 = detect(b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2").unwrap_err();
        assert_eq!(mp4.reason, Reason::UnsupportedFormat);
        assert!(mp4.message.contains("video"), "{}", mp4.message);
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
