//! Source bytes in, thumbnail bytes out: detect, check the declared size, decode (JPEG
//! shrunk while decoding), resize, convert to sRGB (embedded ICC profile), orient, pad,
//! encode. No I/O: the S3 and local-file runs in [`crate::run`] wrap it, and batched
//! runs ([`crate::batch`]) call its two halves, [`decode`] once per source and
//! [`render`] once per thumbnail.

use std::time::Instant;

use crate::colour;
use crate::contract::{Format, Limits, Reason, Request};
use crate::decode;
use crate::detect::{self, SourceFormat};
use crate::encode;
use crate::error::{Failed, Result};
use crate::geometry;
use crate::orient::{self, Orientation};
use crate::pixels::Pixels;
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
    check_size(request)?;
    let decoded = decode(source, &[request])?;
    render_last(decoded, request)
}

fn check_size(request: &Request) -> Result<()> {
    if request.width.is_none() && request.height.is_none() {
        return Err(Failed::new(
            Reason::InvalidRequest,
            "neither width nor height is set; give at least one",
        ));
    }
    Ok(())
}

/// A source decoded once for one or more thumbnails ([`render`]): its pixels in stored
/// orientation, possibly shrunk by the decoder, with what the thumbnails need to map,
/// colour-manage and orient them.
pub struct Decoded {
    pixels: Pixels,
    orientation: Orientation,
    /// The embedded profile, applied after the resize (`colour`); a CMYK JPEG's is
    /// applied while decoding.
    icc: Option<Vec<u8>>,
    /// The size the header declares, in stored orientation.
    stored: (u32, u32),
    pub decode_ms: u64,
}

fn plan_for(request: &Request, displayed: (u32, u32)) -> Option<geometry::Plan> {
    geometry::plan(displayed, request.width, request.height, request.fit)
}

/// Detects, checks the declared size and decodes `source` once for all of `requests`
/// (one request for a single run; the items sharing a source in a batch): a decoder
/// that shrinks while decoding shrinks only as far as the largest of them allows, so
/// every one of them is resized from enough pixels. Requests without width and height
/// are left out ([`render`] refuses them).
pub fn decode(source: &[u8], requests: &[&Request]) -> Result<Decoded> {
    let t = Instant::now();
    let max_pixels = requests
        .iter()
        .map(|r| r.limits.max_pixels)
        .min()
        .unwrap_or(Limits::default().max_pixels);
    let format = detect::detect(source)?;
    let stored = decode::dimensions(source, format)?;
    detect::check_pixels(stored.0, stored.1, max_pixels)?;

    // The DCT scale (in eighths) the least shrinking of the requests needs.
    let eighths = |displayed: (u32, u32)| {
        let scale = |p: geometry::Plan| {
            geometry::dct_scale_eighths_with(p.crop, p.resized, SHRINK_HEADROOM)
        };
        let plans = requests.iter().filter_map(|r| plan_for(r, displayed));
        plans.map(scale).max().unwrap_or(8)
    };
    let (pixels, orientation, icc) = match format {
        SourceFormat::Jpeg => {
            let orientation = orient::jpeg_orientation(source);
            let pixels = decode::decode_jpeg(source, eighths(orientation.displayed(stored)))?;
            // A CMYK JPEG's profile was applied (or was not a CMYK one): none is left.
            let icc = colour::jpeg_icc(source).filter(|_| !decode::is_cmyk(source));
            (pixels, orientation, icc)
        }
        SourceFormat::Webp => {
            let meta = decode::other_metadata(source, format);
            match decode::decode_webp(source, eighths(meta.orientation.displayed(stored)))? {
                Some(pixels) => (pixels, meta.orientation, meta.icc),
                None => {
                    // Animated: the first frame, through `image`.
                    let (pixels, _) = decode::decode_other(source, format, max_pixels)?;
                    (pixels, meta.orientation, meta.icc)
                }
            }
        }
        SourceFormat::Avif => decode::decode_avif(source, max_pixels)?,
        other => {
            let (pixels, meta) = decode::decode_other(source, other, max_pixels)?;
            (pixels, meta.orientation, meta.icc)
        }
    };
    Ok(Decoded {
        pixels,
        orientation,
        icc,
        stored,
        decode_ms: ms(t),
    })
}

/// The thumbnail `request` asks for, from a source [`decode`]d for it (among others):
/// the decoded image is kept for the next request of the same source.
pub fn render(decoded: &Decoded, request: &Request) -> Result<Thumbnail> {
    let (resized, plan, t) = resize_decoded(decoded, request)?;
    finish(decoded, resized, plan, t, request)
}

/// [`render`] for the last (or only) request of a source: the decoded image is dropped
/// as soon as it is resized, so that the peak memory is that of a single run.
pub fn render_last(mut decoded: Decoded, request: &Request) -> Result<Thumbnail> {
    let (resized, plan, t) = resize_decoded(&decoded, request)?;
    drop(std::mem::take(&mut decoded.pixels.data));
    finish(&decoded, resized, plan, t, request)
}

/// The crop of `request`'s plan, resized. The plan is in displayed orientation at full
/// source resolution; the decoded pixels are in stored orientation, possibly shrunk by
/// the decoder: map, then resize (orienting comes after, on the small result).
fn resize_decoded(
    decoded: &Decoded,
    request: &Request,
) -> Result<(Pixels, geometry::Plan, Instant)> {
    check_size(request)?;
    let Decoded {
        pixels,
        orientation,
        stored,
        ..
    } = decoded;
    let plan = plan_for(request, orientation.displayed(*stored)).expect("width or height is set");
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
    let resized = resize::resize(pixels, crop, swap(plan.resized, orientation.transposes()))?;
    Ok((resized, plan, t))
}

/// Colour, orientation, padding and encoding of a resized image.
fn finish(
    decoded: &Decoded,
    resized: Pixels,
    plan: geometry::Plan,
    t: Instant,
    request: &Request,
) -> Result<Thumbnail> {
    let resized = match &decoded.icc {
        Some(icc) => colour::to_srgb(resized, icc),
        None => resized,
    };
    let oriented = decoded.orientation.apply(resized);
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
    let displayed = decoded.orientation.displayed(decoded.stored);
    Ok(Thumbnail {
        bytes,
        width,
        height,
        format: request.format,
        source_width: displayed.0,
        source_height: displayed.1,
        decode_ms: decoded.decode_ms,
        resize_ms,
        encode_ms: ms(t),
    })
}
