//! Colour management (issue 13): pixels described by an embedded ICC profile are
//! converted to sRGB with Little CMS, and the thumbnail is written untagged.
//!
//! - **What is converted**: RGB and RGBA pixels with an RGB profile, grey pixels with a
//!   grey profile ([`to_srgb`], after the resize), CMYK with a CMYK profile
//!   ([`cmyk_to_srgb`], while decoding: the pipeline has no CMYK pixels). Pixels without
//!   a profile are sRGB by definition (what browsers and sharp assume) and are not
//!   touched; so are pixels whose profile is sRGB in all but name (see
//!   [`to_srgb`]), and pixels whose profile is unreadable or of another colour space
//!   than the pixels (a grey JPEG carrying an RGB profile), as browsers treat them.
//! - **Intent**: perceptual with black-point compensation (Photoshop's and sharp's
//!   choice for display). A matrix/TRC profile (Adobe RGB, ProPhoto, Display P3, most
//!   camera and phone profiles) has no perceptual table, so this is the colorimetric
//!   conversion, out-of-gamut colours clipped; a CMYK press profile's perceptual table
//!   maps paper black to display black.
//! - **After the resize, for RGB and grey**: the resampler averages gamma-encoded
//!   values in either order (in the source's encoding when converting after, in sRGB's
//!   when converting before); neither is linear light, so neither order is the right one,
//!   and converting the few thumbnail pixels instead of the decoded image (a whole PNG or
//!   TIFF) keeps the cost negligible. The two orders differ where the source's curve
//!   differs from sRGB's: measured on the fixtures (resizer/tests/colour.rs), a mean of
//!   0.9 level per channel for ProPhoto (gamma 1.8) at 256 px, 1.1 at 64 px, 0.5 for
//!   Adobe RGB (gamma 2.2) — below what can be seen (about 1 ΔE) and inside the test's
//!   bound of 2 levels from the sRGB original's thumbnail. CMYK is converted before: a
//!   press profile is a 4-D table, not a curve per channel, and the same colour has many
//!   ink mixes (more black, less CMY), so an average of inks is not an average of
//!   colours.
//! - **Untagged output**: the thumbnail is sRGB and carries no profile (as sharp's by
//!   default). Browsers and image viewers treat untagged images as sRGB (CSS Color 4)
//!   and, on a wide-gamut display, convert them from sRGB like any tagged image; an
//!   embedded sRGB profile would add ~3 KB to a ~10 KB thumbnail for nothing.

use lcms2::{
    ColorSpaceSignature, Flags, Intent, PixelFormat, Profile, Tag, TagSignature, ToneCurve,
    Transform,
};

use crate::jpeg_markers;
use crate::pixels::{Layout, Pixels};

/// The ICC profile a JPEG embeds: the payloads of its APP2 "ICC_PROFILE" segments
/// (each at most 64 KB, so a large profile takes several), in their sequence order.
/// `None` without one, or when the segments do not make one whole profile (a missing or
/// repeated chunk): such a profile is ignored, as browsers do.
pub fn jpeg_icc(jpeg: &[u8]) -> Option<Vec<u8>> {
    const TAG: &[u8] = b"ICC_PROFILE\0";
    let mut chunks: Vec<(u8, u8, &[u8])> = jpeg_markers::header_segments(jpeg)
        .map_while(Result::ok)
        .filter(|s| s.marker == jpeg_markers::APP2)
        .filter_map(|s| {
            let rest = s.payload.strip_prefix(TAG)?;
            Some((*rest.first()?, *rest.get(1)?, rest.get(2..)?))
        })
        .collect();
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|c| c.0);
    let count = chunks[0].1 as usize;
    let whole = chunks.len() == count
        && chunks
            .iter()
            .enumerate()
            .all(|(i, c)| c.0 as usize == i + 1 && c.1 as usize == count);
    whole.then(|| chunks.iter().flat_map(|c| c.2.iter().copied()).collect())
}

/// The profile as Little CMS reads it, `None` when it cannot (damaged or not a profile).
fn parse(icc: &[u8]) -> Option<Profile> {
    Profile::new_icc(icc).ok()
}

/// sRGB's grey: the sRGB curve (IEC 61966-2-1, a parametric curve of type 4) with a D65
/// white, so grey stays one channel and sRGB grey stays unchanged.
fn srgb_grey() -> Option<Profile> {
    let curve =
        ToneCurve::new_parametric(4, &[2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045])
            .ok()?;
    let d65 = lcms2::CIExyY {
        x: 0.3127,
        y: 0.3290,
        Y: 1.0,
    };
    Profile::new_gray(&d65, &curve).ok()
}

fn flags() -> Flags {
    Flags::BLACKPOINT_COMPENSATION | Flags::COPY_ALPHA
}

/// Whether the matrix/TRC profile `p` has `target`'s colorants and curves (to within
/// what cannot move an 8-bit value by a level): sRGB under another name, as most
/// cameras and phones embed it. Checked on the tags, without building a transform
/// (Little CMS takes about a millisecond for that, half the cost of a small thumbnail).
fn same_matrix_shaper(p: &Profile, target: &Profile, layout: Layout) -> bool {
    let xyz = |sig| match (p.read_tag(sig), target.read_tag(sig)) {
        (Tag::CIEXYZ(a), Tag::CIEXYZ(b)) => {
            (a.X - b.X).abs() < 0.001 && (a.Y - b.Y).abs() < 0.001 && (a.Z - b.Z).abs() < 0.001
        }
        _ => false,
    };
    // Near black one 8-bit sRGB level is 0.0003 of linear light.
    let curve = |sig| match (p.read_tag(sig), target.read_tag(sig)) {
        (Tag::ToneCurve(a), Tag::ToneCurve(b)) => (0..=255).all(|i| {
            let v = i as f32 / 255.0;
            let (x, y) = (a.eval(v), b.eval(v));
            (x - y).abs() <= 0.0001 + 0.002 * y
        }),
        _ => false,
    };
    match layout {
        Layout::Gray => curve(TagSignature::GrayTRCTag),
        Layout::Rgb | Layout::Rgba => {
            p.is_matrix_shaper()
                && [
                    TagSignature::RedColorantTag,
                    TagSignature::GreenColorantTag,
                    TagSignature::BlueColorantTag,
                ]
                .into_iter()
                .all(xyz)
                && [
                    TagSignature::RedTRCTag,
                    TagSignature::GreenTRCTag,
                    TagSignature::BlueTRCTag,
                ]
                .into_iter()
                .all(curve)
        }
    }
}

/// `img` (RGB, RGBA or grey, straight alpha) converted from the ICC profile `icc` to
/// sRGB. Returned as it is when the profile does not apply (see the module doc), and when
/// it is sRGB in all but name: its colorants and curves are sRGB's
/// ([`same_matrix_shaper`]), or (a table-based profile) a probe of colours through the
/// transform moves none by more than one level. So an sRGB-tagged image comes out
/// exactly as an untagged one.
pub fn to_srgb(mut img: Pixels, icc: &[u8]) -> Pixels {
    let Some(source) = parse(icc) else {
        return img;
    };
    let (space, format, target) = match img.layout {
        Layout::Gray => (
            ColorSpaceSignature::GrayData,
            PixelFormat::GRAY_8,
            srgb_grey(),
        ),
        Layout::Rgb => (
            ColorSpaceSignature::RgbData,
            PixelFormat::RGB_8,
            Some(Profile::new_srgb()),
        ),
        Layout::Rgba => (
            ColorSpaceSignature::RgbData,
            PixelFormat::RGBA_8,
            Some(Profile::new_srgb()),
        ),
    };
    let Some(target) = target else {
        return img;
    };
    if source.color_space() != space || same_matrix_shaper(&source, &target, img.layout) {
        return img;
    }
    let Ok(transform) = Transform::<u8, u8>::new_flags(
        &source,
        format,
        &target,
        format,
        Intent::Perceptual,
        flags(),
    ) else {
        return img;
    };
    // A matrix/TRC profile was compared above; a table-based one is probed.
    if !source.is_matrix_shaper() && is_identity(&transform, img.layout) {
        return img;
    }
    transform.transform_in_place(&mut img.data);
    img
}

/// Whether `transform` moves no probe colour by more than one level: every grey level,
/// or a 9x9x9 grid of RGB colours (0, 32, ..., 224, 255 on each axis).
fn is_identity(transform: &Transform<u8, u8>, layout: Layout) -> bool {
    let steps: Vec<u8> = (0..8).map(|i| i * 32).chain([255]).collect();
    let mut probe: Vec<u8> = match layout {
        Layout::Gray => (0..=255).collect(),
        Layout::Rgb | Layout::Rgba => {
            let ch = layout.channels();
            let mut p = Vec::with_capacity(steps.len().pow(3) * ch);
            for &r in &steps {
                for &g in &steps {
                    for &b in &steps {
                        p.extend_from_slice(&[r, g, b, 255][..ch]);
                    }
                }
            }
            p
        }
    };
    let before = probe.clone();
    transform.transform_in_place(&mut probe);
    before.iter().zip(&probe).all(|(a, b)| a.abs_diff(*b) <= 1)
}

/// Colour described by code points instead of an ICC profile (ITU-T H.273, "CICP"; in
/// AVIF and HEIF the `nclx` colour box, which is how most AVIF files say what they are).
/// Only primaries and transfer matter here: the matrix coefficients (YUV to RGB) and the
/// range are applied by the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cicp {
    pub primaries: u16,
    pub transfer: u16,
}

/// Transfer characteristics (H.273 table 3) that change what an sRGB display would show.
/// 0 and 2 (unknown, unspecified) and the curves no still-image encoder writes (9, 10:
/// logarithmic) are taken as sRGB's, as browsers take untagged pixels.
const TRANSFER_SRGB: u16 = 13;
const TRANSFER_PQ: u16 = 16;
const TRANSFER_HLG: u16 = 18;

/// The luminance, in cd/m², that HDR content puts at SDR's white: BT.2408's "HDR
/// reference white" (graphics white, diffuse white of a scene), 75% of an HLG signal.
pub const HDR_REFERENCE_WHITE_NITS: f64 = 203.0;

/// Where the tone mapping of HDR content starts to compress: up to this fraction of SDR
/// white (linear light) HDR content is shown as it is, above it highlights roll off
/// towards white ([`hdr_tone_map`]).
const HDR_KNEE: f64 = 0.8;

/// The ICC profile equal to `cicp`, for [`to_srgb`]: `None` when the pixels are sRGB
/// already (BT.709 primaries, or unspecified ones, with the sRGB curve or an unspecified
/// one) or when the code points are not ones Little CMS can be given. Primaries come from
/// `primaries_xy`; the curves:
///
/// - 13 sRGB; 1, 6, 14, 15 (BT.709, BT.601, BT.2020: one curve) its inverse, the camera
///   curve (V = 1.099 L^0.45 - 0.099), the reading Chrome's AVIF decoder gives it, not the
///   BT.1886 display gamma 2.4 (which would show such images darker than browsers do);
///   11 and 12 the same curve, whose extensions below 0 and above 1 are clipped in 8 bits
///   anyway; 7 SMPTE 240M; 4 gamma 2.2; 5 gamma 2.8; 8 linear; 17 SMPTE ST 428 (gamma 2.6
///   of 52.37/48 of white).
/// - 16 (PQ, SMPTE ST 2084) and 18 (HLG, BT.2100) are HDR: tone-mapped to SDR, simply and
///   per channel ([`hdr_tone_map`]).
pub fn cicp_icc(cicp: Cicp) -> Option<Vec<u8>> {
    let srgb_primaries = matches!(cicp.primaries, 0..=2);
    let srgb_transfer = matches!(cicp.transfer, 0 | 2 | 3 | 9 | 10 | TRANSFER_SRGB | 19..);
    if srgb_primaries && srgb_transfer {
        return None;
    }
    let (white, primaries) = primaries_xy(cicp.primaries);
    let curve = transfer_curve(cicp.transfer)?;
    let profile = Profile::new_rgb(&white, &primaries, &[&curve, &curve, &curve]).ok()?;
    profile.icc().ok()
}

/// Whether pixels of `cicp` are converted to sRGB while decoding, from the decoder's
/// full precision (16 bits a sample, [`DecodingConversion`]), rather than after the resize
/// from 8 bits: linear light, PQ and HLG spend few of 256 levels on dark tones (8-bit
/// linear has 3 levels below sRGB's 28), so rounding them to 8 bits first would band
/// and shift shadows (measured: 2.6 levels per channel from the sRGB original for linear
/// light, against 0.5-1 for the gamma curves).
pub fn converts_while_decoding(cicp: Cicp) -> bool {
    matches!(cicp.transfer, 8 | TRANSFER_PQ | TRANSFER_HLG)
}

/// The conversion of `cicp`'s 16-bit samples to 8-bit sRGB while decoding
/// ([`converts_while_decoding`]).
pub struct DecodingConversion {
    /// From 16-bit RGB(A) (alpha copied) to 8-bit sRGB.
    transform: Transform<u8, u8>,
    /// HLG only: its display transform, done here before `transform` (which then takes
    /// linear light).
    hlg: Option<Hlg>,
    channels: usize,
}

/// HLG's OOTF needs each pixel's luminance, so it is not a curve per channel.
struct Hlg {
    /// Scene light (0..1) of every 16-bit signal value: the inverse HLG OETF.
    scene: Vec<f32>,
    /// The luminance (Y) of linear R, G and B in these primaries.
    luminance: [f64; 3],
}

impl DecodingConversion {
    /// `None` when the code points are not converted while decoding, or Little CMS
    /// cannot make the transform.
    pub fn new(cicp: Cicp, alpha: bool) -> Option<Self> {
        if !converts_while_decoding(cicp) {
            return None;
        }
        let (white, primaries) = primaries_xy(cicp.primaries);
        let hlg = (cicp.transfer == TRANSFER_HLG).then(|| Hlg {
            scene: (0..=u16::MAX)
                .map(|v| hlg_scene(f64::from(v) / 65535.0) as f32)
                .collect(),
            luminance: luminance_weights(&white, &primaries),
        });
        let curve = if hlg.is_some() {
            ToneCurve::new(1.0)
        } else {
            transfer_curve(cicp.transfer)?
        };
        let source = Profile::new_rgb(&white, &primaries, &[&curve, &curve, &curve]).ok()?;
        let (input, output, channels) = if alpha {
            (PixelFormat::RGBA_16, PixelFormat::RGBA_8, 4)
        } else {
            (PixelFormat::RGB_16, PixelFormat::RGB_8, 3)
        };
        let transform = Transform::new_flags(
            &source,
            input,
            &Profile::new_srgb(),
            output,
            Intent::Perceptual,
            flags(),
        )
        .ok()?;
        Some(Self {
            transform,
            hlg,
            channels,
        })
    }

    /// `samples`: native-endian 16-bit samples, whole pixels (changed in place for HLG);
    /// `out`: their 8-bit sRGB pixels.
    pub fn convert(&self, samples: &mut [u8], out: &mut [u8]) {
        if let Some(hlg) = &self.hlg {
            for px in samples.chunks_exact_mut(self.channels * 2) {
                let e = [0, 1, 2].map(|c| {
                    f64::from(
                        hlg.scene[usize::from(u16::from_ne_bytes([px[2 * c], px[2 * c + 1]]))],
                    )
                });
                // BT.2100's OOTF for its 1000 cd/m² reference display (system gamma
                // 1.2), in units of SDR white.
                let ys =
                    hlg.luminance[0] * e[0] + hlg.luminance[1] * e[1] + hlg.luminance[2] * e[2];
                let gain = if ys > 0.0 {
                    ys.powf(0.2) * 1000.0 / HDR_REFERENCE_WHITE_NITS
                } else {
                    0.0
                };
                for (c, e) in e.into_iter().enumerate() {
                    let v = (hdr_tone_map(e * gain) * 65535.0).round() as u16;
                    px[2 * c..2 * c + 2].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
        self.transform.transform_pixels(samples, out);
    }
}

/// The luminance of linear R, G and B (the Y row of the RGB to XYZ matrix) for these
/// primaries and white.
fn luminance_weights(white: &lcms2::CIExyY, p: &lcms2::CIExyYTRIPLE) -> [f64; 3] {
    let xyz = |c: &lcms2::CIExyY| [c.x / c.y, 1.0, (1.0 - c.x - c.y) / c.y];
    let (r, g, b, w) = (xyz(&p.Red), xyz(&p.Green), xyz(&p.Blue), xyz(white));
    // Solve [r g b] s = w for the scales s of the primaries (Cramer's rule); Y of each
    // primary is then s (their Y is 1 before scaling).
    let det = |a: [f64; 3], b: [f64; 3], c: [f64; 3]| {
        a[0] * (b[1] * c[2] - b[2] * c[1]) - b[0] * (a[1] * c[2] - a[2] * c[1])
            + c[0] * (a[1] * b[2] - a[2] * b[1])
    };
    let d = det(r, g, b);
    [det(w, g, b) / d, det(r, w, b) / d, det(r, g, w) / d]
}

/// The white point and red, green, blue primaries (CIE xy) of H.273's colour primaries
/// code point, from libavif's table; 0, 2, 3 and values the table lacks are BT.709's,
/// which libavif returns for them too.
pub fn primaries_xy(code: u16) -> (lcms2::CIExyY, lcms2::CIExyYTRIPLE) {
    let mut v = [0f32; 8];
    // SAFETY: libavif writes 8 floats (rx, ry, gx, gy, bx, by, wx, wy) for any value.
    unsafe { libavif_sys::avifColorPrimariesGetValues(code, v.as_mut_ptr()) };
    let xy = |x: f32, y: f32| lcms2::CIExyY {
        x: f64::from(x),
        y: f64::from(y),
        Y: 1.0,
    };
    (
        xy(v[6], v[7]),
        lcms2::CIExyYTRIPLE {
            Red: xy(v[0], v[1]),
            Green: xy(v[2], v[3]),
            Blue: xy(v[4], v[5]),
        },
    )
}

/// The decoding curve (signal 0..1 to linear light relative to white) of H.273's
/// transfer characteristics `code`; see [`cicp_icc`].
fn transfer_curve(code: u16) -> Option<ToneCurve> {
    // Parametric type 4: Y = (aX + b)^g for X >= d, cX below.
    let camera = |alpha: f64, beta: f64, slope: f64| {
        ToneCurve::new_parametric(
            4,
            &[
                1.0 / 0.45,
                1.0 / alpha,
                (alpha - 1.0) / alpha,
                1.0 / slope,
                beta * slope,
            ],
        )
        .ok()
    };
    match code {
        1 | 6 | 11 | 12 | 14 | 15 => camera(1.099_296_826_809_44, 0.018_053_968_510_807, 4.5),
        7 => camera(1.1115, 0.0228, 4.0),
        4 => Some(ToneCurve::new(2.2)),
        5 => Some(ToneCurve::new(2.8)),
        8 => Some(ToneCurve::new(1.0)),
        17 => Some(tabulated(|v| (v.powf(2.6) * 52.37 / 48.0).min(1.0))),
        TRANSFER_PQ => Some(tabulated(|v| {
            hdr_tone_map(pq_nits(v) / HDR_REFERENCE_WHITE_NITS)
        })),
        TRANSFER_HLG => Some(tabulated(|v| {
            hdr_tone_map(hlg_nits(v) / HDR_REFERENCE_WHITE_NITS)
        })),
        _ => ToneCurve::new_parametric(4, &[2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045])
            .ok(),
    }
}

/// A curve of 4096 samples of `f` on 0..=1 (16-bit, as ICC `curv` tables are).
fn tabulated(f: impl Fn(f64) -> f64) -> ToneCurve {
    const N: usize = 4096;
    let table: Vec<u16> = (0..N)
        .map(|i| (f(i as f64 / (N - 1) as f64).clamp(0.0, 1.0) * 65535.0).round() as u16)
        .collect();
    ToneCurve::new_tabulated(&table)
}

/// PQ (SMPTE ST 2084): signal 0..1 to display luminance in cd/m² (0..10000).
pub fn pq_nits(v: f64) -> f64 {
    const M1: f64 = 2610.0 / 16384.0;
    const M2: f64 = 2523.0 / 4096.0 * 128.0;
    const C1: f64 = 3424.0 / 4096.0;
    const C2: f64 = 2413.0 / 4096.0 * 32.0;
    const C3: f64 = 2392.0 / 4096.0 * 32.0;
    let p = v.clamp(0.0, 1.0).powf(1.0 / M2);
    10000.0 * ((p - C1).max(0.0) / (C2 - C3 * p)).powf(1.0 / M1)
}

/// HLG (BT.2100): signal 0..1 to display luminance in cd/m² on BT.2100's reference
/// display (1000 cd/m², system gamma 1.2), per channel: exact for greys, and the curve
/// of [`cicp_icc`]'s profile. Decoding applies the OOTF to each pixel's luminance
/// instead ([`DecodingConversion`]).
pub fn hlg_nits(v: f64) -> f64 {
    1000.0 * hlg_scene(v).powf(1.2)
}

/// The inverse of HLG's OETF (BT.2100): signal 0..1 to scene light 0..1.
fn hlg_scene(v: f64) -> f64 {
    const A: f64 = 0.178_832_77;
    const B: f64 = 1.0 - 4.0 * A;
    let c = 0.5 - A * (4.0 * A).ln();
    let v = v.clamp(0.0, 1.0);
    if v <= 0.5 {
        v * v / 3.0
    } else {
        (((v - c) / A).exp() + B) / 12.0
    }
}

/// HDR to SDR, per channel, on linear light relative to SDR white (1.0 = 203 cd/m²):
/// unchanged up to [`HDR_KNEE`], then a shoulder of slope 1 at the knee that reaches
/// white only at infinity (y = k + (1 - k) t / (1 + t), t = (x - k) / (1 - k)), so
/// highlights up to a few times SDR white stay apart instead of clipping. What it does not
/// do: adapt to the content's peak (no metadata is read), or keep the hue of saturated
/// highlights (each channel is compressed on its own, so they turn towards white, as in
/// an overexposed photo).
pub fn hdr_tone_map(x: f64) -> f64 {
    if x <= HDR_KNEE {
        return x.max(0.0);
    }
    let t = (x - HDR_KNEE) / (1.0 - HDR_KNEE);
    HDR_KNEE + (1.0 - HDR_KNEE) * t / (1.0 + t)
}

/// CMYK samples (4 a pixel; `inverted`: Adobe's convention, 255 = no ink) converted to
/// sRGB through the CMYK profile `icc`. `None` when the profile is unreadable or not a
/// CMYK profile (the caller then converts without one).
pub fn cmyk_to_srgb(cmyk: &[u8], inverted: bool, icc: &[u8]) -> Option<Vec<u8>> {
    let source = parse(icc)?;
    if source.color_space() != ColorSpaceSignature::CmykData {
        return None;
    }
    let format = if inverted {
        PixelFormat::CMYK_8_REV
    } else {
        PixelFormat::CMYK_8
    };
    let transform = Transform::<u8, u8>::new_flags(
        &source,
        format,
        &Profile::new_srgb(),
        PixelFormat::RGB_8,
        Intent::Perceptual,
        Flags::BLACKPOINT_COMPENSATION,
    )
    .ok()?;
    let mut rgb = vec![0u8; cmyk.len() / 4 * 3];
    transform.transform_pixels(&cmyk[..cmyk.len() / 4 * 4], &mut rgb);
    Some(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_with_app2(chunks: &[(u8, u8, &[u8])]) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        for (seq, count, data) in chunks {
            let mut payload = b"ICC_PROFILE\0".to_vec();
            payload.extend_from_slice(&[*seq, *count]);
            payload.extend_from_slice(data);
            j.extend_from_slice(&[0xFF, 0xE2]);
            j.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
            j.extend_from_slice(&payload);
        }
        j.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        j
    }

    #[test]
    fn icc_chunks_are_joined_in_sequence_order() {
        let j = jpeg_with_app2(&[(2, 2, b"world"), (1, 2, b"hello ")]);
        assert_eq!(jpeg_icc(&j).as_deref(), Some(&b"hello world"[..]));
        // A missing or repeated chunk makes no profile.
        assert_eq!(jpeg_icc(&jpeg_with_app2(&[(1, 2, b"a")])), None);
        assert_eq!(
            jpeg_icc(&jpeg_with_app2(&[(1, 2, b"a"), (1, 2, b"b")])),
            None
        );
        assert_eq!(jpeg_icc(&jpeg_with_app2(&[(0, 1, b"a")])), None);
        assert_eq!(jpeg_icc(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]), None);
    }

    #[test]
    fn srgb_and_untagged_pixels_are_left_alone() {
        let srgb = Profile::new_srgb().icc().unwrap();
        let img = Pixels::new(2, 1, Layout::Rgb, vec![10, 200, 30, 250, 128, 1]);
        assert_eq!(to_srgb(img.clone(), &srgb), img);
        // Not a profile, or a grey profile for RGB pixels: ignored.
        assert_eq!(to_srgb(img.clone(), b"not a profile"), img);
        let grey = srgb_grey().unwrap().icc().unwrap();
        assert_eq!(to_srgb(img.clone(), &grey), img);
        let g = Pixels::new(3, 1, Layout::Gray, vec![0, 100, 255]);
        assert_eq!(to_srgb(g.clone(), &grey), g);
    }

    #[test]
    fn a_linear_grey_profile_is_converted_and_alpha_is_kept() {
        // Grey with a linear curve: 50% light is sRGB 188.
        let linear = Profile::new_gray(
            &lcms2::CIExyY {
                x: 0.3127,
                y: 0.3290,
                Y: 1.0,
            },
            &ToneCurve::new(1.0),
        )
        .unwrap()
        .icc()
        .unwrap();
        let g = to_srgb(Pixels::new(1, 1, Layout::Gray, vec![128]), &linear);
        assert!(g.data[0].abs_diff(188) <= 1, "{:?}", g.data);
        // RGBA: colour converted, alpha as it was.
        let linear_rgb = Profile::new_rgb(
            &lcms2::CIExyY {
                x: 0.3127,
                y: 0.3290,
                Y: 1.0,
            },
            &lcms2::CIExyYTRIPLE {
                Red: lcms2::CIExyY {
                    x: 0.64,
                    y: 0.33,
                    Y: 1.0,
                },
                Green: lcms2::CIExyY {
                    x: 0.30,
                    y: 0.60,
                    Y: 1.0,
                },
                Blue: lcms2::CIExyY {
                    x: 0.15,
                    y: 0.06,
                    Y: 1.0,
                },
            },
            &[
                &ToneCurve::new(1.0),
                &ToneCurve::new(1.0),
                &ToneCurve::new(1.0),
            ],
        )
        .unwrap()
        .icc()
        .unwrap();
        let p = to_srgb(
            Pixels::new(1, 1, Layout::Rgba, vec![128, 128, 128, 77]),
            &linear_rgb,
        );
        assert!(
            p.data[..3].iter().all(|c| c.abs_diff(188) <= 1),
            "{:?}",
            p.data
        );
        assert_eq!(p.data[3], 77);
    }

    #[test]
    fn srgb_code_points_need_no_profile() {
        for (primaries, transfer) in [(1, 13), (2, 2), (1, 2), (2, 13), (0, 0)] {
            assert_eq!(
                cicp_icc(Cicp {
                    primaries,
                    transfer
                }),
                None,
                "{primaries}/{transfer}"
            );
        }
        // BT.709 primaries with BT.709's curve is not sRGB: its dark tones differ.
        assert!(cicp_icc(Cicp {
            primaries: 1,
            transfer: 1
        })
        .is_some());
        // An HDR curve with BT.709 primaries still needs its tone mapping.
        assert!(cicp_icc(Cicp {
            primaries: 1,
            transfer: TRANSFER_PQ
        })
        .is_some());
    }

    /// The profiles of the code points do what H.273 says: P3's pure green is outside
    /// sRGB (clipped, red 0); linear 50% grey is sRGB 188; BT.709's curve shows its 50%
    /// signal lighter than sRGB's 50%.
    #[test]
    fn code_points_become_the_profile_they_name() {
        let convert = |primaries, transfer, rgb: [u8; 3]| {
            let icc = cicp_icc(Cicp {
                primaries,
                transfer,
            })
            .unwrap();
            to_srgb(Pixels::new(1, 1, Layout::Rgb, rgb.to_vec()), &icc).data
        };
        let green = convert(12, TRANSFER_SRGB, [0, 255, 0]);
        assert!(
            green[0] == 0 && green[1] == 255 && green[2] <= 5,
            "{green:?}"
        );
        let grey = convert(1, 8, [128, 128, 128]);
        assert!(grey.iter().all(|c| c.abs_diff(188) <= 1), "{grey:?}");
        // BT.709: (128/255 + 0.0993) / 1.0993)^(1/0.45) = 0.26 of white: sRGB 140.
        let bt709 = convert(1, 1, [128, 128, 128]);
        assert!(bt709.iter().all(|c| c.abs_diff(140) <= 1), "{bt709:?}");
        // DCI-P3 (11) has another white point (greenish, 0.314/0.351), to which the eye
        // adapts as to sRGB's: its white is shown as white.
        let dci = convert(11, TRANSFER_SRGB, [255, 255, 255]);
        assert!(dci.iter().all(|c| *c >= 254), "{dci:?}");
    }

    /// HDR's reference white (203 cd/m²: PQ 0.58, HLG 0.75) is SDR white before the
    /// tone mapping; below the knee the tone mapping changes nothing, above it stays
    /// below white and keeps highlights apart.
    #[test]
    fn hdr_curves_put_reference_white_at_sdr_white() {
        assert!((pq_nits(0.5807) - 203.0).abs() < 1.0, "{}", pq_nits(0.5807));
        assert!((pq_nits(1.0) - 10000.0).abs() < 0.01);
        assert!((hlg_nits(0.75) - 203.0).abs() < 2.0, "{}", hlg_nits(0.75));
        assert!((hlg_nits(1.0) - 1000.0).abs() < 0.01);
        assert_eq!(hdr_tone_map(0.5), 0.5);
        assert_eq!(hdr_tone_map(HDR_KNEE), HDR_KNEE);
        let (white, bright, brighter) = (hdr_tone_map(1.0), hdr_tone_map(2.5), hdr_tone_map(5.0));
        assert!(HDR_KNEE < white && white < bright && bright < brighter && brighter < 1.0);
        assert!(brighter - bright > 0.01, "highlights stay apart");
    }

    #[test]
    fn cmyk_needs_a_cmyk_profile() {
        let srgb = Profile::new_srgb().icc().unwrap();
        assert_eq!(cmyk_to_srgb(&[0, 0, 0, 0], false, &srgb), None);
        assert_eq!(cmyk_to_srgb(&[0, 0, 0, 0], false, b"junk"), None);
    }
}
