//! Encoding: JPEG through libjpeg-turbo (4:2:0, like sharp's default), PNG through the
//! `png` encoder of `image`, lossy WebP through libwebp (`image` only writes lossless).
//! JPEG has no alpha: transparent pixels are composited on white.

use turbojpeg::{Compressor, PixelFormat, Subsamp};

use crate::contract::{Format, Reason};
use crate::error::{Failed, Result};
use crate::pixels::{Layout, Pixels};

fn failed(format: Format, e: impl std::fmt::Display) -> Failed {
    Failed::new(
        Reason::OutputFailed,
        format!("encoding the {format:?} thumbnail failed: {e}"),
    )
}

/// The largest width or height each output format (as its encoder here writes it) can
/// store: WebP's 14-bit sizes, libjpeg's JPEG_MAX_DIMENSION (the format's own field
/// holds 65535), PNG's 31-bit sizes.
pub fn max_side(format: Format) -> u32 {
    match format {
        Format::Webp => 16383,
        Format::Jpeg => 65500,
        Format::Png => i32::MAX as u32,
    }
}

/// The thumbnail `img` in `format`. A size over the format's limit ([`max_side`]) is a
/// clear permanent failure, never an encoder's panic; the pipeline's geometry keeps every
/// thumbnail within 8192 x 8192, so it is a guard, not a path users take.
pub fn encode(img: Pixels, format: Format, quality: u8) -> Result<Vec<u8>> {
    let max = max_side(format);
    if img.width > max || img.height > max {
        return Err(Failed::new(
            Reason::InvalidRequest,
            format!(
                "a {format:?} image is at most {max} pixels wide and high, and this thumbnail would be {}x{}; ask for a smaller size or another format",
                img.width, img.height
            ),
        ));
    }
    match format {
        Format::Jpeg => jpeg(img.flatten_on_white(), quality),
        Format::Png => png(img),
        Format::Webp => webp(img, quality),
    }
}

fn jpeg(img: Pixels, quality: u8) -> Result<Vec<u8>> {
    let (pixel_format, subsamp) = match img.layout {
        Layout::Gray => (PixelFormat::GRAY, Subsamp::Gray),
        _ => (PixelFormat::RGB, Subsamp::Sub2x2),
    };
    let mut c = Compressor::new().map_err(|e| failed(Format::Jpeg, e))?;
    c.set_quality(quality.clamp(1, 100) as i32)
        .map_err(|e| failed(Format::Jpeg, e))?;
    c.set_subsamp(subsamp)
        .map_err(|e| failed(Format::Jpeg, e))?;
    let image = turbojpeg::Image {
        pixels: img.data.as_slice(),
        width: img.width as usize,
        pitch: img.width as usize * pixel_format.size(),
        height: img.height as usize,
        format: pixel_format,
    };
    c.compress_to_vec(image)
        .map_err(|e| failed(Format::Jpeg, e))
}

fn png(img: Pixels) -> Result<Vec<u8>> {
    use image::ImageEncoder as _;
    let color = match img.layout {
        Layout::Gray => image::ExtendedColorType::L8,
        Layout::Rgb => image::ExtendedColorType::Rgb8,
        Layout::Rgba => image::ExtendedColorType::Rgba8,
    };
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&img.data, img.width, img.height, color)
        .map_err(|e| failed(Format::Png, e))?;
    Ok(out)
}

fn webp(img: Pixels, quality: u8) -> Result<Vec<u8>> {
    let img = img.into_rgb_or_rgba();
    let encoder = match img.layout {
        Layout::Rgba => webp::Encoder::from_rgba(&img.data, img.width, img.height),
        _ => webp::Encoder::from_rgb(&img.data, img.width, img.height),
    };
    // libwebp's simple API: lossy, method 4 (its and sharp's default speed/size trade-off).
    // Not `encode`, which panics on any libwebp error.
    let out = encoder
        .encode_simple(false, quality.clamp(1, 100) as f32)
        .map_err(|e| failed(Format::Webp, format!("{e:?}")))?;
    if out.is_empty() {
        return Err(failed(Format::Webp, "libwebp returned no data"));
    }
    Ok(out.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(layout: Layout) -> Pixels {
        let (w, h) = (64u32, 48u32);
        let ch = layout.channels();
        let data = (0..w * h)
            .flat_map(|i| {
                let v = (i % w * 4) as u8;
                [
                    v,
                    255 - v,
                    (i / w * 5) as u8,
                    if i % 2 == 0 { 255 } else { 100 },
                ]
                .into_iter()
                .take(ch)
            })
            .collect();
        Pixels::new(w, h, layout, data)
    }

    /// Issue 13: one pixel over each format's limit is a clear permanent failure naming
    /// the limit (libwebp used to panic with VP8_ENC_ERROR_BAD_DIMENSION); at the limit
    /// the encoders work.
    #[test]
    fn sizes_over_each_encoders_limit_fail_clearly() {
        for format in [Format::Webp, Format::Jpeg] {
            let max = max_side(format);
            for (w, h) in [(1, max + 1), (max + 1, 1)] {
                let img = Pixels::new(w, h, Layout::Gray, vec![128; (w * h) as usize]);
                let err = encode(img, format, 80).unwrap_err();
                assert_eq!(err.reason, Reason::InvalidRequest, "{format:?}");
                assert!(
                    err.message.contains(&format!("at most {max} pixels"))
                        && err.message.contains(&format!("{w}x{h}")),
                    "{format:?}: {}",
                    err.message
                );
            }
            let img = Pixels::new(1, max, Layout::Rgb, vec![128; max as usize * 3]);
            let bytes = encode(img, format, 80).unwrap();
            let back = image::load_from_memory(&bytes).unwrap();
            assert_eq!((back.width(), back.height()), (1, max), "{format:?}");
        }
        assert_eq!(max_side(Format::Png), (1 << 31) - 1);
    }

    #[test]
    fn every_format_round_trips_through_a_decoder() {
        for layout in [Layout::Gray, Layout::Rgb, Layout::Rgba] {
            for (format, want) in [
                (Format::Jpeg, image::ImageFormat::Jpeg),
                (Format::Png, image::ImageFormat::Png),
                (Format::Webp, image::ImageFormat::WebP),
            ] {
                let bytes = encode(gradient(layout), format, 80).unwrap();
                assert_eq!(image::guess_format(&bytes).unwrap(), want);
                let back = image::load_from_memory(&bytes).unwrap();
                assert_eq!(
                    (back.width(), back.height()),
                    (64, 48),
                    "{format:?} {layout:?}"
                );
                let keeps_alpha = layout == Layout::Rgba && format != Format::Jpeg;
                assert_eq!(
                    back.color().has_alpha(),
                    keeps_alpha,
                    "{format:?} {layout:?}"
                );
            }
        }
    }
}
