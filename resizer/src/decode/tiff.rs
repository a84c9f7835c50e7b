//! What `image` does not do for TIFF: JPEG-compressed YCbCr pages (what libtiff,
//! scanners and GDAL write for "JPEG" compression; `image` refuses the colour type), and
//! a description of a variant that is refused, in the user's terms.
//!
//! Only the first page (IFD) of a multi-page TIFF is read, here and through `image`.

use std::io::Cursor;

use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::{PlanarConfiguration, SampleFormat, Tag};
use tiff::ColorType;

use super::corrupt;
use crate::error::Result;
use crate::orient::Orientation;
use crate::pixels::{Layout, Pixels};

fn decoder(bytes: &[u8]) -> Option<Decoder<Cursor<&[u8]>>> {
    Decoder::new(Cursor::new(bytes)).ok()
}

/// Whether the first page is 8-bit YCbCr (the colour type `image` refuses).
pub fn is_ycbcr(bytes: &[u8]) -> bool {
    ycbcr_dimensions(bytes).is_some()
}

/// The first page's size when it is 8-bit YCbCr.
pub fn ycbcr_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut d = decoder(bytes)?;
    matches!(d.colortype(), Ok(ColorType::YCbCr(8)))
        .then(|| d.dimensions().ok())
        .flatten()
}

/// The first page of an 8-bit YCbCr TIFF as RGB: the tiff crate decodes (and upsamples)
/// JPEG-compressed pages but leaves the samples YCbCr; converted here with the JPEG
/// (JFIF, full-range BT.601) equations, which JPEG compression in TIFF uses.
pub fn decode_ycbcr(bytes: &[u8], max_pixels: u64) -> Result<Pixels> {
    let mut limits = Limits::default();
    limits.decoding_buffer_size = usize::try_from(max_pixels.saturating_mul(3))
        .unwrap_or(usize::MAX)
        .saturating_add(1 << 20);
    let mut d = Decoder::new(Cursor::new(bytes))
        .map_err(|e| corrupt("TIFF", e))?
        .with_limits(limits);
    let (w, h) = d.dimensions().map_err(|e| corrupt("TIFF", e))?;
    let DecodingResult::U8(ycc) = d.read_image().map_err(|e| corrupt("TIFF", e))? else {
        return Err(corrupt("TIFF", "YCbCr samples that are not 8-bit"));
    };
    let n = w as usize * h as usize;
    if ycc.len() < n * 3 {
        return Err(corrupt("TIFF", "fewer samples than the page has pixels"));
    }
    let mut rgb = Vec::with_capacity(n * 3);
    for p in ycc[..n * 3].chunks_exact(3) {
        let (y, cb, cr) = (p[0] as f32, p[1] as f32 - 128.0, p[2] as f32 - 128.0);
        let c = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        rgb.extend([
            c(y + 1.402 * cr),
            c(y - 0.344_136 * cb - 0.714_136 * cr),
            c(y + 1.772 * cb),
        ]);
    }
    Ok(Pixels::new(w, h, Layout::Rgb, rgb))
}

/// The EXIF orientation tag of the first page (for the pages `image` does not read).
pub fn orientation(bytes: &[u8]) -> Orientation {
    decoder(bytes)
        .and_then(|mut d| d.find_tag_unsigned::<u16>(Tag::Orientation).ok().flatten())
        .map(Orientation::new)
        .unwrap_or_default()
}

/// The ICC profile of the first page (for the pages `image` does not read).
pub fn icc(bytes: &[u8]) -> Option<Vec<u8>> {
    decoder(bytes)?.get_tag_u8_vec(Tag::IccProfile).ok()
}

/// The first page's variant in words ("64-bit floating-point RGB, one plane per
/// channel"), for the message that refuses it.
pub fn describe(bytes: &[u8]) -> Option<String> {
    let mut d = decoder(bytes)?;
    let colour = d.colortype().ok();
    let (bits, channels) = match colour {
        Some(ColorType::Gray(b)) => (b, "grey"),
        Some(ColorType::GrayA(b)) => (b, "grey with alpha"),
        Some(ColorType::RGB(b)) => (b, "RGB"),
        Some(ColorType::RGBA(b)) => (b, "RGBA"),
        Some(ColorType::CMYK(b)) => (b, "CMYK"),
        Some(ColorType::CMYKA(b)) => (b, "CMYK with alpha"),
        Some(ColorType::YCbCr(b)) => (b, "YCbCr"),
        Some(ColorType::Palette(b)) => (b, "palette"),
        _ => (0, "an unusual colour type"),
    };
    let float = d
        .find_tag_unsigned::<u16>(Tag::SampleFormat)
        .ok()
        .flatten()
        .is_some_and(|f| SampleFormat::from_u16(f) == Some(SampleFormat::IEEEFP));
    let planar = d
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .ok()
        .flatten()
        .is_some_and(|p| PlanarConfiguration::from_u16(p) == Some(PlanarConfiguration::Planar));
    let mut text = if bits > 0 {
        format!(
            "{bits}-bit {}{channels}",
            if float { "floating-point " } else { "" }
        )
    } else {
        channels.to_string()
    };
    if planar {
        text.push_str(", one plane per channel");
    }
    Some(text)
}
