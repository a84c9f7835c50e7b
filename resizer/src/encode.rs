//! Encoding: JPEG through libjpeg-turbo (4:2:0, like sharp's default), PNG through the
//! `png` encoder of `image`, lossy WebP through libwebp (`image` only writes lossless),
//! AVIF through libavif with libaom. JPEG has no alpha: transparent pixels are composited
//! on white.

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
/// holds 65535), PNG's 31-bit sizes, AV1's 16-bit frame sizes.
pub fn max_side(format: Format) -> u32 {
    match format {
        Format::Webp => 16383,
        Format::Jpeg => 65500,
        Format::Png => i32::MAX as u32,
        Format::Avif => 65535,
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
        Format::Avif => avif(img, quality, AVIF_SPEED),
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

/// libaom's speed for AVIF (0 slowest .. 10 fastest; libavif uses its all-intra mode for
/// a still image). Measured with bench/avif.sh (docs/DESIGN.md "Formats" has the table):
/// at quality 50 a 256 px thumbnail takes about 16 ms and a 1024 px one about 90 ms, the
/// same order as decoding the photo; speed 7 makes files up to 13% smaller for 1.3-2.7x
/// the time, 9 is 2-3x faster for files 15-22% larger. sharp's default (effort 4) takes
/// about 270 ms and 2 s for 10-18% smaller files.
pub const AVIF_SPEED: i32 = 8;

/// AVIF chroma: 4:4:4, sharp's and avifenc's default. AV1 codes full-resolution chroma
/// cheaply, and thumbnails are small enough that 4:2:0's colour bleeding on edges shows.
const AVIF_YUV: libavif_sys::avifPixelFormat = libavif_sys::AVIF_PIXEL_FORMAT_YUV444;

/// AVIF at a given libaom speed (0-10); [`encode`] uses [`AVIF_SPEED`]. Public for the
/// speed measurement (resizer/examples/avif_speed.rs).
pub fn avif(img: Pixels, quality: u8, speed: i32) -> Result<Vec<u8>> {
    use libavif_sys as a;
    let img = img.into_rgb_or_rgba();
    let fail = |what: &str, r: a::avifResult| {
        // SAFETY: libavif returns a static string for every result code.
        let text = unsafe { std::ffi::CStr::from_ptr(a::avifResultToString(r)) };
        failed(Format::Avif, format!("{what}: {}", text.to_string_lossy()))
    };
    // Owners of libavif's allocations, freed on every path.
    struct Image(*mut a::avifImage);
    impl Drop for Image {
        fn drop(&mut self) {
            unsafe { a::avifImageDestroy(self.0) }
        }
    }
    struct Encoder(*mut a::avifEncoder);
    impl Drop for Encoder {
        fn drop(&mut self) {
            unsafe { a::avifEncoderDestroy(self.0) }
        }
    }
    struct Output(a::avifRWData);
    impl Drop for Output {
        fn drop(&mut self) {
            unsafe { a::avifRWDataFree(&mut self.0) }
        }
    }
    // SAFETY: every pointer below is checked for null or owned by a guard above; the RGB
    // view borrows `img.data`, which outlives the conversion; libavif copies the pixels
    // into its own planes (avifImageRGBToYUV) before encoding.
    unsafe {
        let image = Image(a::avifImageCreate(img.width, img.height, 8, AVIF_YUV));
        if image.0.is_null() {
            return Err(failed(Format::Avif, "libavif could not allocate the image"));
        }
        // sRGB, as every thumbnail is: BT.709 primaries, the sRGB transfer curve, and
        // BT.601 coefficients for the RGB->YUV matrix (avifenc's choice for sRGB input),
        // full range. Written as an nclx box, so browsers need no guess.
        let im = &mut *image.0;
        im.colorPrimaries = a::AVIF_COLOR_PRIMARIES_BT709 as _;
        im.transferCharacteristics = a::AVIF_TRANSFER_CHARACTERISTICS_SRGB as _;
        im.matrixCoefficients = a::AVIF_MATRIX_COEFFICIENTS_BT601 as _;
        im.yuvRange = a::AVIF_RANGE_FULL;
        let mut rgb = a::avifRGBImage::default();
        a::avifRGBImageSetDefaults(&mut rgb, image.0);
        rgb.depth = 8;
        rgb.format = match img.layout {
            Layout::Rgba => a::AVIF_RGB_FORMAT_RGBA,
            _ => a::AVIF_RGB_FORMAT_RGB,
        };
        rgb.pixels = img.data.as_ptr() as *mut u8;
        rgb.rowBytes = img.width * img.layout.channels() as u32;
        let r = a::avifImageRGBToYUV(image.0, &rgb);
        if r != a::AVIF_RESULT_OK {
            return Err(fail("converting to YUV", r));
        }
        let encoder = Encoder(a::avifEncoderCreate());
        if encoder.0.is_null() {
            return Err(failed(
                Format::Avif,
                "libavif could not allocate an encoder",
            ));
        }
        let e = &mut *encoder.0;
        e.codecChoice = a::AVIF_CODEC_CHOICE_AOM;
        // One thread: a Job is sized for one core, and the bench runs one thumbnail per
        // core; AV1 tiles of a thumbnail are too few to share out anyway.
        e.maxThreads = 1;
        e.speed = speed.clamp(0, 10);
        // libavif's scale (also sharp's and avifenc's): quantizer = (100 - quality) * 63 / 100.
        e.quality = i32::from(quality.clamp(1, 100));
        // Alpha lossless (avifenc's default): edges of cut-outs stay clean, and a
        // thumbnail's alpha is usually simple enough to cost little. libavif's own default
        // when `quality` is set is lossy.
        e.qualityAlpha = 100;
        let mut out = Output(a::avifRWData {
            data: std::ptr::null_mut(),
            size: 0,
        });
        let r = a::avifEncoderWrite(encoder.0, image.0, &mut out.0);
        if r != a::AVIF_RESULT_OK {
            return Err(fail("libaom", r));
        }
        if out.0.data.is_null() || out.0.size == 0 {
            return Err(failed(Format::Avif, "libavif returned no data"));
        }
        Ok(std::slice::from_raw_parts(out.0.data, out.0.size).to_vec())
    }
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

    #[test]
    fn avif_round_trips_with_its_layout() {
        for layout in [Layout::Gray, Layout::Rgb, Layout::Rgba] {
            let source = gradient(layout);
            let bytes = encode(source.clone(), Format::Avif, 90).unwrap();
            assert_eq!(&bytes[4..12], b"ftypavif");
            let (back, orientation, _) = crate::decode::decode_avif(&bytes, 1 << 20).unwrap();
            assert_eq!((back.width, back.height), (64, 48), "{layout:?}");
            assert_eq!(orientation.value(), 1);
            let want = source.into_rgb_or_rgba();
            assert_eq!(back.layout, want.layout, "{layout:?}");
            let diff = back
                .data
                .iter()
                .zip(&want.data)
                .map(|(a, b)| a.abs_diff(*b) as u64)
                .sum::<u64>() as f64
                / want.data.len() as f64;
            assert!(diff < 3.0, "{layout:?}: mean abs diff {diff:.2}");
        }
    }
}
