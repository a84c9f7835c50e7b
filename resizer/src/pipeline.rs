//! Source bytes in, thumbnail bytes out: detect, check the declared size, decode (JPEG
//! shrunk while decoding), resize, convert to sRGB (embedded ICC profile), orient, pad,
//! encode. No I/O: the S3 and local-file
//! runs in [`crate::run`] wrap it.

use std::time::Instant;

use crate::colour;
use crate::contract::{Format, Reason, Request};
use crate::decode;
use crate::detect::{self, SourceFormat};
use crate::encode;
use crate::error::{Failed, Result};
use crate::geometry;
use crate::orient;
use crate::resize;

#[derive(Clone, Debug)]
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: Format,
    /// Source size as displayed (after EXIF orientation).
    pub source_width: u32,
    pub source_height: u32,
    pub decode_ms: u64,
    pub resize_ms: u64,
    pub encode_ms: u64,
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// How much shrinking shrink-on-load (JPEG DCT scaling, libwebp scaling) leaves to the
/// Lanczos3 resampler: the decoded image is at least 1.5x the output size. Measured on
/// the corpus (bench/): 1.0 (shrink as far as possible) costs up to 0.01 SSIM at 1024 px
/// (j05: 0.8798 vs 0.8892) for ~25% less CPU; 2.0 (libvips' choice) gains at most
/// 0.0003 more and costs another ~40% at 1024 px.
pub const SHRINK_HEADROOM: f64 = 1.5;

pub fn make_thumbnail(source: &[u8], request: &Request) -> Result<Thumbnail> {
    if request.width.is_none() && request.height.is_none() {
        return Err(Failed::new(
            Reason::InvalidRequest,
            "neither width nor height is set; give at least one",
        ));
    }
    let t = Instant::now();
    let format = detect::detect(source)?;
    let stored = decode::dimensions(source, format)?;
    detect::check_pixels(stored.0, stored.1, request.limits.max_pixels)?;

    let plan_for = |displayed: (u32, u32)| {
        geometry::plan(displayed, request.width, request.height, request.fit)
            .expect("width or height is set")
    };
    // `icc`: the embedded profile, applied after the resize (`colour`); a CMYK JPEG's
    // is applied while decoding.
    let (pixels, orientation, icc, plan) = match format {
        SourceFormat::Jpeg => {
            let orientation = orient::jpeg_orientation(source);
            let plan = plan_for(orientation.displayed(stored));
            let eighths =
                geometry::dct_scale_eighths_with(plan.crop, plan.resized, SHRINK_HEADROOM);
            let pixels = decode::decode_jpeg(source, eighths)?;
            // A CMYK JPEG's profile was applied (or was not a CMYK one): none is left.
            let icc = colour::jpeg_icc(source).filter(|_| !decode::is_cmyk(source));
            (pixels, orientation, icc, plan)
        }
        SourceFormat::Webp => {
            let meta = decode::other_metadata(source, format);
            let plan = plan_for(meta.orientation.displayed(stored));
            let eighths =
                geometry::dct_scale_eighths_with(plan.crop, plan.resized, SHRINK_HEADROOM);
            match decode::decode_webp(source, eighths)? {
                Some(pixels) => (pixels, meta.orientation, meta.icc, plan),
                None => {
                    // Animated: the first frame, through `image`.
                    let (pixels, _) =
                        decode::decode_other(source, format, request.limits.max_pixels)?;
                    (pixels, meta.orientation, meta.icc, plan)
                }
            }
        }
        SourceFormat::Avif => {
            let (pixels, orientation, icc) =
                decode::decode_avif(source, request.limits.max_pixels)?;
            let plan = plan_for(orientation.displayed(stored));
            (pixels, orientation, icc, plan)
        }
        other => {
            let (pixels, meta) = decode::decode_other(source, other, request.limits.max_pixels)?;
            let plan = plan_for(meta.orientation.displayed(stored));
            (pixels, meta.orientation, meta.icc, plan)
        }
    };
    let decode_ms = ms(t);

    // The plan is in displayed orientation at full source resolution; the decoded pixels
    // are in stored orientation, possibly shrunk by the decoder. Map, resize, then orient
    // the (small) result.
    let t = Instant::now();
    fn swap<T>((a, b): (T, T), transposed: bool) -> (T, T) {
        if transposed {
            (b, a)
        } else {
            (a, b)
        }
    }
    let (crop_w, crop_h) = swap(plan.crop, orientation.transposes());
    let fx = pixels.width as f64 / stored.0 as f64;
    let fy = pixels.height as f64 / stored.1 as f64;
    let crop = geometry::centred((pixels.width, pixels.height), (crop_w * fx, crop_h * fy));
    let resized = resize::resize(&pixels, crop, swap(plan.resized, orientation.transposes()))?;
    drop(pixels);
    let resized = match &icc {
        Some(icc) => colour::to_srgb(resized, icc),
        None => resized,
    };
    let oriented = orientation.apply(resized);
    let canvas = oriented.pad(plan.canvas, request.format != Format::Jpeg);
    let resize_ms = ms(t);

    let t = Instant::now();
    let (width, height) = (canvas.width, canvas.height);
    let bytes = encode::encode(
        canvas,
        request.format,
        request
            .quality
            .or(request.format.default_quality())
            .unwrap_or(100),
    )?;
    let displayed = orientation.displayed(stored);
    Ok(Thumbnail {
        bytes,
        width,
        height,
        format: request.format,
        source_width: displayed.0,
        source_height: displayed.1,
        decode_ms,
        resize_ms,
        encode_ms: ms(t),
    })
}
