//! AVIF through libavif (container: items, grids, alpha, transforms) with dav1d (the AV1
//! bitstream), both built from source and linked statically (resizer/Cargo.toml). AV1
//! has no shrink-on-load: the image is decoded whole, then resized.

use std::ffi::CStr;

use libavif_sys as avif;

use super::corrupt;
use crate::colour::{self, Cicp};
use crate::contract::Reason;
use crate::error::{Failed, Result};
use crate::orient::Orientation;
use crate::pixels::{Layout, Pixels};

/// A libavif decoder, destroyed on drop (with the image it owns).
struct Decoder(*mut avif::avifDecoder);

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by avifDecoderCreate, destroyed once.
        unsafe { avif::avifDecoderDestroy(self.0) }
    }
}

fn result_text(r: avif::avifResult) -> String {
    // SAFETY: libavif returns a static string for every result code.
    unsafe { CStr::from_ptr(avif::avifResultToString(r)) }
        .to_string_lossy()
        .into_owned()
}

/// The failure for a libavif result code, with libavif's diagnostic when it has one.
fn failed(decoder: &Decoder, r: avif::avifResult) -> Failed {
    // SAFETY: `diag.error` is a NUL-terminated buffer inside the live decoder.
    let diag = unsafe { CStr::from_ptr((*decoder.0).diag.error.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    let detail = if diag.is_empty() {
        result_text(r)
    } else {
        format!("{}: {diag}", result_text(r))
    };
    match r {
        avif::AVIF_RESULT_OUT_OF_MEMORY => Failed::new(
            Reason::TooManyPixels,
            format!("decoding the AVIF image would exceed the memory limit ({detail}); upload a smaller image"),
        ),
        avif::AVIF_RESULT_NOT_IMPLEMENTED | avif::AVIF_RESULT_NO_CODEC_AVAILABLE => Failed::new(
            Reason::UnsupportedFormat,
            format!("this AVIF variant is not supported ({detail}); convert it to a baseline JPEG, 8-bit PNG or an ordinary AVIF"),
        ),
        _ => corrupt("AVIF", detail),
    }
}

/// Parses the container (no AV1 data is decoded): the primary image's properties are
/// in `(*decoder.0).image` afterwards.
fn parse(bytes: &[u8], max_pixels: u64) -> Result<Decoder> {
    // SAFETY: a fresh decoder; on failure it is destroyed by Drop.
    let decoder = Decoder(unsafe { avif::avifDecoderCreate() });
    if decoder.0.is_null() {
        return Err(corrupt("AVIF", "libavif could not allocate a decoder"));
    }
    // SAFETY: the decoder is live; `bytes` outlives it (it is dropped in this module's
    // callers before they return).
    unsafe {
        let d = &mut *decoder.0;
        d.codecChoice = avif::AVIF_CODEC_CHOICE_DAV1D;
        d.maxThreads = 1;
        // Metadata is never copied into a thumbnail; orientation comes from irot/imir.
        d.ignoreExif = avif::AVIF_TRUE as avif::avifBool;
        d.ignoreXMP = avif::AVIF_TRUE as avif::avifBool;
        // libavif's own allocation guard, in addition to the caller's header check. It
        // refuses limits above its default (16384 x 16384) as not implemented.
        d.imageSizeLimit = max_pixels.min(u64::from(avif::AVIF_DEFAULT_IMAGE_SIZE_LIMIT)) as u32;
        let r = avif::avifDecoderSetIOMemory(decoder.0, bytes.as_ptr(), bytes.len());
        if r != avif::AVIF_RESULT_OK {
            return Err(failed(&decoder, r));
        }
        let r = avif::avifDecoderParse(decoder.0);
        if r != avif::AVIF_RESULT_OK {
            return Err(failed(&decoder, r));
        }
    }
    Ok(decoder)
}

/// The size an AVIF's primary image declares, before any transform (no pixel decoded).
pub fn avif_dimensions(bytes: &[u8]) -> Result<(u32, u32)> {
    let decoder = parse(bytes, u64::MAX)?;
    // SAFETY: after a successful parse, `image` is the primary image's header.
    let image = unsafe { &*(*decoder.0).image };
    Ok((image.width, image.height))
}

/// The EXIF orientation equal to HEIF's transforms: `irot` (anticlockwise quarter
/// turns) applied first, then `imir` (axis 0: top and bottom exchanged; 1: left and
/// right), as ISO/IEC 23008-12 orders them.
pub fn heif_orientation(
    quarter_turns_anticlockwise: Option<u8>,
    mirror_axis: Option<u8>,
) -> Orientation {
    let value = match (quarter_turns_anticlockwise.unwrap_or(0) % 4, mirror_axis) {
        (0, None) => 1,
        (1, None) => 8,
        (2, None) => 3,
        (_, None) => 6,
        (0, Some(0)) | (2, Some(1)) => 4,
        (0, Some(_)) | (2, Some(_)) => 2,
        (1, Some(0)) | (3, Some(1)) => 5,
        (_, Some(_)) => 7,
    };
    Orientation::new(value)
}

/// Rows converted at a time when an AVIF is converted to sRGB while decoding
/// ([`colour::converts_while_decoding`]): a 16-bit strip of at most 128 x 16384 RGBA
/// pixels (16 MiB) next to the decoded image, not a 16-bit copy of all of it. Even, so
/// that every strip starts on a chroma row of 4:2:0.
const STRIP_ROWS: usize = 128;

/// An `avifImage` made by libavif (a view of another one here), destroyed on drop.
struct Image(*mut avif::avifImage);

impl Drop for Image {
    fn drop(&mut self) {
        // SAFETY: created by avifImageCreateEmpty, destroyed once; a view owns no planes.
        unsafe { avif::avifImageDestroy(self.0) }
    }
}

/// Decodes an AVIF's primary image (the first frame of a sequence) to 8-bit RGB or RGBA,
/// with its orientation (`irot`/`imir`) and its colour as an ICC profile, which the
/// pipeline applies like any other format's: the `colr` box's profile (prof/rICC) when
/// it has one, which HEIF puts before the code points; otherwise the profile equal to
/// its code points (nclx: primaries and transfer, [`colour::cicp_icc`]; `None` for
/// sRGB, as for a file without any `colr` box, whose code points libavif reports as
/// unspecified). Linear, PQ and HLG code points are converted to sRGB here instead, from
/// 16 bits a sample, strip by strip ([`colour::converts_while_decoding`]), and `None` is
/// returned. Otherwise higher bit depths are rounded to 8 bits; limited-range and any
/// matrix coefficients are converted by libavif.
pub fn decode_avif(
    bytes: &[u8],
    max_pixels: u64,
) -> Result<(Pixels, Orientation, Option<Vec<u8>>)> {
    let decoder = parse(bytes, max_pixels)?;
    // SAFETY: the decoder is parsed; NextImage fills `image` with the first frame's
    // planes, which stay valid until the decoder is destroyed (after the copy below).
    unsafe {
        let r = avif::avifDecoderNextImage(decoder.0);
        if r != avif::AVIF_RESULT_OK {
            return Err(failed(&decoder, r));
        }
        let image = &*(*decoder.0).image;
        let flags = image.transformFlags;
        let orientation = heif_orientation(
            (flags & avif::AVIF_TRANSFORM_IROT != 0).then_some(image.irot.angle),
            (flags & avif::AVIF_TRANSFORM_IMIR != 0).then_some(image.imir.axis),
        );
        let alpha = !image.alphaPlane.is_null();
        let layout = if alpha { Layout::Rgba } else { Layout::Rgb };
        let cicp = Cicp {
            primaries: image.colorPrimaries,
            transfer: image.transferCharacteristics,
        };
        let icc = (!image.icc.data.is_null() && image.icc.size > 0)
            .then(|| std::slice::from_raw_parts(image.icc.data, image.icc.size).to_vec());
        let while_decoding = match icc {
            None => colour::DecodingConversion::new(cicp, alpha),
            Some(_) => None,
        };
        let icc = match (&while_decoding, icc) {
            (Some(_), _) => None,
            (None, Some(icc)) => Some(icc),
            (None, None) => colour::cicp_icc(cicp),
        };
        let (w, h) = (image.width as usize, image.height as usize);
        let row = w * layout.channels();
        let mut data = vec![0u8; row * h];
        let rgb_image = |rgb: &mut avif::avifRGBImage, of: *const avif::avifImage, depth| {
            avif::avifRGBImageSetDefaults(rgb, of);
            rgb.depth = depth;
            rgb.format = if alpha {
                avif::AVIF_RGB_FORMAT_RGBA
            } else {
                avif::AVIF_RGB_FORMAT_RGB
            };
            // Straight (not premultiplied) alpha, as every other decoder here gives.
            rgb.alphaPremultiplied = avif::AVIF_FALSE as avif::avifBool;
        };
        match while_decoding {
            None => {
                let mut rgb = avif::avifRGBImage::default();
                rgb_image(&mut rgb, image, 8);
                rgb.pixels = data.as_mut_ptr();
                rgb.rowBytes = row as u32;
                let r = avif::avifImageYUVToRGB(image, &mut rgb);
                if r != avif::AVIF_RESULT_OK {
                    return Err(failed(&decoder, r));
                }
            }
            Some(conversion) => {
                let row16 = row * 2;
                let mut strip = vec![0u8; row16 * STRIP_ROWS.min(h)];
                let view = Image(avif::avifImageCreateEmpty());
                if view.0.is_null() {
                    return Err(corrupt("AVIF", "libavif could not allocate an image"));
                }
                for y in (0..h).step_by(STRIP_ROWS) {
                    let rows = STRIP_ROWS.min(h - y);
                    let rect = avif::avifCropRect {
                        x: 0,
                        y: y as u32,
                        width: w as u32,
                        height: rows as u32,
                    };
                    let r = avif::avifImageSetViewRect(view.0, image, &rect);
                    if r != avif::AVIF_RESULT_OK {
                        return Err(failed(&decoder, r));
                    }
                    let mut rgb = avif::avifRGBImage::default();
                    rgb_image(&mut rgb, view.0, 16);
                    rgb.pixels = strip.as_mut_ptr();
                    rgb.rowBytes = row16 as u32;
                    let r = avif::avifImageYUVToRGB(view.0, &mut rgb);
                    if r != avif::AVIF_RESULT_OK {
                        return Err(failed(&decoder, r));
                    }
                    conversion.convert(
                        &mut strip[..rows * row16],
                        &mut data[y * row..(y + rows) * row],
                    );
                }
            }
        }
        Ok((
            Pixels::new(w as u32, h as u32, layout, data),
            orientation,
            icc,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x2 image whose every pixel differs: any wrong transform shows.
    fn sample() -> Pixels {
        Pixels::new(3, 2, Layout::Gray, vec![1, 2, 3, 4, 5, 6])
    }

    fn rotate_anticlockwise(p: &Pixels) -> Pixels {
        let (w, h) = (p.width as usize, p.height as usize);
        let mut out = vec![0; w * h];
        for y in 0..h {
            for x in 0..w {
                // (x, y) moves to (y, w - 1 - x) in an h-wide image.
                out[(w - 1 - x) * h + y] = p.data[y * w + x];
            }
        }
        Pixels::new(h as u32, w as u32, Layout::Gray, out)
    }

    fn mirror(p: &Pixels, axis: u8) -> Pixels {
        let (w, h) = (p.width as usize, p.height as usize);
        let mut out = vec![0; w * h];
        for y in 0..h {
            for x in 0..w {
                let (sx, sy) = if axis == 0 {
                    (x, h - 1 - y)
                } else {
                    (w - 1 - x, y)
                };
                out[y * w + x] = p.data[sy * w + sx];
            }
        }
        Pixels::new(w as u32, h as u32, Layout::Gray, out)
    }

    /// The table in [`heif_orientation`] against the transforms done step by step as
    /// the HEIF specification describes them.
    #[test]
    fn heif_transforms_map_to_the_exif_orientation_that_displays_the_same() {
        for turns in [None, Some(1), Some(2), Some(3)] {
            for axis in [None, Some(0), Some(1)] {
                let mut want = sample();
                for _ in 0..turns.unwrap_or(0) {
                    want = rotate_anticlockwise(&want);
                }
                if let Some(axis) = axis {
                    want = mirror(&want, axis);
                }
                let got = heif_orientation(turns, axis).apply(sample());
                assert_eq!(got, want, "irot {turns:?} imir {axis:?}");
            }
        }
    }
}
