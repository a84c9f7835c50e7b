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
    fn cmyk_needs_a_cmyk_profile() {
        let srgb = Profile::new_srgb().icc().unwrap();
        assert_eq!(cmyk_to_srgb(&[0, 0, 0, 0], false, &srgb), None);
        assert_eq!(cmyk_to_srgb(&[0, 0, 0, 0], false, b"junk"), None);
    }
}
