//! Everything but JPEG and still WebP, through the `image` crate (16-bit, palette and
//! grey-alpha converted to 8-bit): PNG, GIF, animated WebP (first frame), BMP, TIFF.

use std::io::Cursor;

use super::corrupt;
use crate::contract::Reason;
use crate::detect::SourceFormat;
use crate::error::{Failed, Result};
use crate::orient::Orientation;
use crate::pixels::{Layout, Pixels};

/// What a non-JPEG image says about its pixels besides them: EXIF orientation, ICC
/// profile.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    pub orientation: Orientation,
    pub icc: Option<Vec<u8>>,
}

fn metadata(decoder: &mut impl image::ImageDecoder) -> Metadata {
    Metadata {
        orientation: decoder
            .orientation()
            .map(|o| Orientation::new(o.to_exif() as u16))
            .unwrap_or_default(),
        // An unreadable profile is no profile (the pixels are then taken as sRGB).
        icc: decoder.icc_profile().ok().flatten(),
    }
}

/// The EXIF orientation and ICC profile of a non-JPEG image, from its metadata chunks
/// (no decoding).
pub fn other_metadata(bytes: &[u8], format: SourceFormat) -> Metadata {
    let reader = image::ImageReader::with_format(Cursor::new(bytes), image_format(format));
    match reader.into_decoder() {
        Ok(mut decoder) => metadata(&mut decoder),
        Err(_) => Metadata::default(),
    }
}

fn image_format(format: SourceFormat) -> image::ImageFormat {
    match format {
        SourceFormat::Jpeg => image::ImageFormat::Jpeg,
        SourceFormat::Png => image::ImageFormat::Png,
        SourceFormat::Gif => image::ImageFormat::Gif,
        SourceFormat::Webp => image::ImageFormat::WebP,
        SourceFormat::Bmp => image::ImageFormat::Bmp,
        SourceFormat::Tiff => image::ImageFormat::Tiff,
        // Never routed here (decode::avif); `image` is built without its AVIF decoder.
        SourceFormat::Avif => image::ImageFormat::Avif,
    }
}

fn image_error(format: SourceFormat, e: image::ImageError) -> Failed {
    match e {
        image::ImageError::Unsupported(u) if format == SourceFormat::Tiff => Failed::new(
            Reason::UnsupportedFormat,
            format!("this TIFF variant is not supported ({u}); the resizer reads the first page of 8- or 16-bit grey, RGB, RGBA and palette TIFFs, uncompressed or LZW-, Deflate-, PackBits- or JPEG-compressed: export the image as one of those, or as JPEG or PNG"),
        ),
        image::ImageError::Unsupported(u) => Failed::new(
            Reason::UnsupportedFormat,
            format!("this {} variant is not supported ({u}); convert it to a baseline JPEG or 8-bit PNG", format.name()),
        ),
        image::ImageError::Limits(l) => Failed::new(
            Reason::TooManyPixels,
            format!("decoding the {} image would exceed the memory limit ({l}); upload a smaller image", format.name()),
        ),
        other => corrupt(format.name(), other),
    }
}

/// A refused TIFF's message, with its variant in words first ("64-bit floating-point RGB").
fn describe_tiff(mut failed: Failed, bytes: &[u8], format: SourceFormat) -> Failed {
    if format == SourceFormat::Tiff && failed.reason == Reason::UnsupportedFormat {
        if let Some(variant) = super::tiff::describe(bytes) {
            failed.message = format!("{variant}: {}", failed.message);
        }
    }
    failed
}

/// Dimensions a non-JPEG header declares (no pixel is decoded).
pub fn other_dimensions(bytes: &[u8], format: SourceFormat) -> Result<(u32, u32)> {
    if format == SourceFormat::Tiff {
        if let Some(size) = super::tiff::ycbcr_dimensions(bytes) {
            return Ok(size);
        }
    }
    image::ImageReader::with_format(Cursor::new(bytes), image_format(format))
        .into_dimensions()
        .map_err(|e| image_error(format, e))
        .map_err(|f| describe_tiff(f, bytes, format))
}

/// Decodes a non-JPEG image (the first frame of an animation) with its EXIF orientation
/// and ICC profile. `max_pixels` bounds the decoder's allocations (16-bit RGBA is 8
/// bytes a pixel).
pub fn decode_other(
    bytes: &[u8],
    format: SourceFormat,
    max_pixels: u64,
) -> Result<(Pixels, Metadata)> {
    if format == SourceFormat::Tiff && super::tiff::is_ycbcr(bytes) {
        let pixels = super::tiff::decode_ycbcr(bytes, max_pixels)?;
        let metadata = Metadata {
            orientation: super::tiff::orientation(bytes),
            icc: super::tiff::icc(bytes),
        };
        return Ok((pixels, metadata));
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), image_format(format));
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| image_error(format, e))
        .map_err(|f| describe_tiff(f, bytes, format))?;
    let metadata = metadata(&mut decoder);
    let img = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| image_error(format, e))
        .map_err(|f| describe_tiff(f, bytes, format))?;
    let (w, h) = (img.width(), img.height());
    let pixels = match img {
        image::DynamicImage::ImageLuma8(g) => Pixels::new(w, h, Layout::Gray, g.into_raw()),
        image::DynamicImage::ImageRgb8(rgb) => Pixels::new(w, h, Layout::Rgb, rgb.into_raw()),
        image::DynamicImage::ImageRgba8(rgba) => Pixels::new(w, h, Layout::Rgba, rgba.into_raw()),
        // 16-bit and float inputs: image's conversions round to nearest 8-bit value.
        other if other.color().has_alpha() => {
            Pixels::new(w, h, Layout::Rgba, other.to_rgba8().into_raw())
        }
        other if other.color().channel_count() == 1 => {
            Pixels::new(w, h, Layout::Gray, other.to_luma8().into_raw())
        }
        other => Pixels::new(w, h, Layout::Rgb, other.to_rgb8().into_raw()),
    };
    Ok((pixels, metadata))
}
