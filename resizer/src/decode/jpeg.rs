//! JPEG through libjpeg-turbo: shrunk during the decode by DCT scaling, CMYK/YCCK
//! converted to sRGB (through the embedded CMYK profile when there is one), progressive
//! files at 1/8 scale read through the DC-only shortcuts ([`super::progressive_dc`]).

use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor, Subsamp};

use super::corrupt;
use super::progressive_dc::{progressive_dc_baseline, progressive_dc_only};
use crate::contract::Reason;
use crate::error::{Failed, Result};
use crate::jpeg_markers;
use crate::pixels::{Layout, Pixels};

/// Dimensions a JPEG's header declares (no pixel is decoded).
pub fn jpeg_dimensions(bytes: &[u8]) -> Result<(u32, u32)> {
    let header = turbojpeg::read_header(bytes).map_err(|e| jpeg_failure(bytes, e))?;
    Ok((header.width as u32, header.height as u32))
}

/// Most scans a JPEG may have. Every progressive scan passes over the whole image
/// again, so a small file of thousands of tiny scans costs minutes of CPU (issue 12: it
/// ran until the Job's deadline). Encoders write about 10 (libjpeg's default progression
/// has 10, mozjpeg's fewer); 500 is libjpeg-turbo's own recommendation
/// (TJFLAG_LIMITSCANS, djpeg -maxscans).
pub const MAX_SCANS: u32 = 500;

/// The failure for a JPEG libjpeg-turbo refused, in the user's terms: a file cut short
/// says so (the decoder's own words for it range from "Premature end of JPEG file" to
/// `integer value "width" overflowed`, from a header it could not finish reading).
fn jpeg_failure(bytes: &[u8], e: turbojpeg::Error) -> Failed {
    if let turbojpeg::Error::TurboJpegError(message) = &e {
        // libjpeg-turbo: "Progressive JPEG image has more than 500 scans".
        if message.contains(&format!("more than {MAX_SCANS} scans")) {
            return Failed::new(
                Reason::CorruptImage,
                format!(
                    "the JPEG has more than {MAX_SCANS} scans (an ordinary progressive JPEG has about 10); it is refused because decoding it would take minutes of CPU; re-encode it with an ordinary encoder"
                ),
            );
        }
    }
    if jpeg_markers::is_truncated(bytes) {
        return Failed::new(
            Reason::CorruptImage,
            format!(
                "the JPEG file is truncated: its {} bytes end before the image does (an interrupted upload or copy); re-upload the complete file",
                bytes.len()
            ),
        );
    }
    match e {
        turbojpeg::Error::IntegerOverflow(_) => {
            corrupt("JPEG", "its header declares impossible values")
        }
        e => corrupt("JPEG", e),
    }
}

/// libjpeg-turbo reports recoverable damage as warnings and still returns the pixels.
/// Some are harmless and common in camera files (stray bytes between segments, odd
/// scan parameters); missing or undecodable data leaves grey blocks and is refused, as
/// sharp does by default.
fn tolerable_warning(message: &str) -> bool {
    const HARMLESS: [&str; 4] = [
        "extraneous bytes before marker",
        "Invalid SOS parameters for sequential JPEG",
        "Inconsistent progression sequence",
        "Unknown APP",
    ];
    HARMLESS.iter().any(|h| message.contains(h))
}

/// Decodes a JPEG shrunk during decoding to at least `eighths`/8 of its size (1..=8):
/// that scale, or a larger one libjpeg-turbo decodes faster ([`fastest_scale`]).
pub fn decode_jpeg(bytes: &[u8], eighths: u8) -> Result<Pixels> {
    decode_jpeg_with(bytes, eighths, true)
}

/// The DCT scale (in eighths) to decode at when `eighths` is the least a thumbnail
/// needs. libjpeg-turbo's inverse DCTs at 1, 2, 4 and 8 eighths are SIMD; the others
/// are plain C, and some are slower than decoding whole. Measured (resizer CPU at 1024
/// px, docs/DESIGN.md "Resizer performance"): 7/8 costs 1.2-1.4x what 8/8 does (j09,
/// 1920x1280), and 6/8 is no cheaper; with 4:2:0 chroma, which libjpeg decodes at twice
/// the scale to spare the upsampling (a 10x10 IDCT at 5/8), 5/8 costs 1.2-1.4x 8/8
/// (j06). Elsewhere the smaller scale costs the same or less (3/8 against 4/8, 5/8
/// against 8/8 for 4:4:4 and 4:2:2), and is kept. A larger scale only gives the
/// resampler more pixels.
pub fn fastest_scale(eighths: u8, subsamp: Subsamp) -> u8 {
    match eighths {
        6 | 7 => 8,
        5 if subsamp == Subsamp::Sub2x2 => 8,
        n => n,
    }
}

/// [`decode_jpeg`], with the progressive DC-only shortcut switchable (for tests that
/// prove it changes no pixel).
pub fn decode_jpeg_with(bytes: &[u8], eighths: u8, dc_only_shortcut: bool) -> Result<Pixels> {
    // Failures are judged on the file as uploaded, not on the shortened stream below.
    let original = bytes;
    let internal = |e: turbojpeg::Error| jpeg_failure(original, e);
    let mut dec = Decompressor::new().map_err(internal)?;
    dec.set_scan_limit(MAX_SCANS).map_err(internal)?;
    let header = dec.read_header(bytes).map_err(internal)?;
    // At 1/8 scale libjpeg's 1x1 inverse DCT reads only the DC coefficient of each
    // block. A progressive JPEG sends DC in scans of its own, so the AC scans (most of
    // the file, and most of the entropy decoding) can be dropped with no change to the
    // output; as a baseline JPEG of the DC alone when no component needs AC, which also
    // spares libjpeg's whole-image coefficient buffer. Baseline JPEGs interleave DC and
    // AC, so they are decoded whole.
    let shortened;
    let bytes = if dc_only_shortcut && eighths == 1 && header.is_progressive {
        match progressive_dc_baseline(bytes).or_else(|| progressive_dc_only(bytes)) {
            Some(dc) => {
                shortened = dc;
                shortened.as_slice()
            }
            None => bytes,
        }
    } else {
        bytes
    };
    let n = fastest_scale(eighths.clamp(1, 8), header.subsamp) as usize;
    let g = gcd(n, 8);
    let factor = ScalingFactor::new(n / g, 8 / g);
    if !header.is_lossless {
        dec.set_scaling_factor(factor).map_err(internal)?;
    }
    let scaled = if header.is_lossless {
        header
    } else {
        header.scaled(factor)
    };
    let (format, layout) = match header.colorspace {
        Colorspace::Gray => (PixelFormat::GRAY, Layout::Gray),
        Colorspace::CMYK | Colorspace::YCCK => (PixelFormat::CMYK, Layout::Rgb),
        _ => (PixelFormat::RGB, Layout::Rgb),
    };
    let pitch = scaled.width * format.size();
    let mut data = vec![0u8; pitch * scaled.height];
    let image = turbojpeg::Image {
        pixels: data.as_mut_slice(),
        width: scaled.width,
        pitch,
        height: scaled.height,
        format,
    };
    if let Err(e) = dec.decompress(bytes, image) {
        match &e {
            turbojpeg::Error::TurboJpegError(msg) if tolerable_warning(msg) => {}
            _ => return Err(jpeg_failure(original, e)),
        }
    }
    let (w, h) = (scaled.width as u32, scaled.height as u32);
    if format == PixelFormat::CMYK {
        let inverted = adobe_marker(bytes);
        data = crate::colour::jpeg_icc(original)
            .and_then(|icc| crate::colour::cmyk_to_srgb(&data, inverted, &icc))
            .unwrap_or_else(|| cmyk_to_rgb(&data, inverted));
    }
    Ok(Pixels::new(w, h, layout, data))
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Whether the JPEG's frame has four components (CMYK or YCCK): its pixels leave the
/// decoder as sRGB already (through its profile, when it is a CMYK one).
pub fn is_cmyk(jpeg: &[u8]) -> bool {
    jpeg_markers::header_segments(jpeg)
        .map_while(Result::ok)
        .find(|s| matches!(s.marker, 0xC0..=0xCF) && !matches!(s.marker, 0xC4 | 0xC8 | 0xCC))
        .is_some_and(|sof| sof.payload.get(5) == Some(&4))
}

/// Whether the JPEG carries an Adobe APP14 segment. Adobe's applications (and Pillow,
/// ImageMagick) store CMYK inverted (255 = no ink) and mark it so.
pub fn adobe_marker(jpeg: &[u8]) -> bool {
    jpeg_markers::header_segments(jpeg)
        .map_while(Result::ok)
        .any(|s| s.marker == jpeg_markers::APP14 && s.payload.starts_with(b"Adobe"))
}

/// Naive CMYK to RGB, for CMYK without a profile: R = (1 - C)(1 - K), likewise G and B.
pub fn cmyk_to_rgb(cmyk: &[u8], inverted: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for p in cmyk.chunks_exact(4) {
        let (c, m, y, k) = if inverted {
            (p[0] as u32, p[1] as u32, p[2] as u32, p[3] as u32)
        } else {
            (
                255 - p[0] as u32,
                255 - p[1] as u32,
                255 - p[2] as u32,
                255 - p[3] as u32,
            )
        };
        // In "inverted" terms every value is already 1 - ink.
        out.extend([
            ((c * k + 127) / 255) as u8,
            ((m * k + 127) / 255) as u8,
            ((y * k + 127) / 255) as u8,
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_scaled_idcts_give_way_to_the_whole_decode() {
        use Subsamp::*;
        for subsamp in [None, Sub2x1, Sub2x2, Gray] {
            assert_eq!(fastest_scale(7, subsamp), 8);
            assert_eq!(fastest_scale(6, subsamp), 8);
            for kept in [1, 2, 3, 4, 8] {
                assert_eq!(fastest_scale(kept, subsamp), kept);
            }
        }
        assert_eq!(fastest_scale(5, Sub2x2), 8);
        assert_eq!(fastest_scale(5, Sub2x1), 5);
        assert_eq!(fastest_scale(5, None), 5);
    }

    #[test]
    fn cmyk_converts_for_both_conventions() {
        // Pure cyan ink, no black: inverted stores (0,255,255,255), plain stores (255,0,0,0).
        assert_eq!(cmyk_to_rgb(&[0, 255, 255, 255], true), vec![0, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 0, 0, 0], false), vec![0, 255, 255]);
        // Half black on white paper.
        assert_eq!(
            cmyk_to_rgb(&[255, 255, 255, 128], true),
            vec![128, 128, 128]
        );
    }

    #[test]
    fn only_harmless_jpeg_warnings_are_tolerated() {
        assert!(tolerable_warning(
            "Corrupt JPEG data: 3 extraneous bytes before marker 0xd9"
        ));
        assert!(!tolerable_warning("Premature end of JPEG file"));
        assert!(!tolerable_warning("Corrupt JPEG data: bad Huffman code"));
        assert!(!tolerable_warning("Not a JPEG file: starts with 0x00 0x00"));
    }

    #[test]
    fn four_component_frames_are_cmyk() {
        let sof = |marker: u8, nf: u8| {
            vec![
                0xFF, 0xD8, 0xFF, 0xC4, 0, 2, 0xFF, marker, 0, 8, 8, 0, 1, 0, 1, nf,
            ]
        };
        assert!(is_cmyk(&sof(0xC0, 4)));
        assert!(is_cmyk(&sof(0xC2, 4)));
        assert!(!is_cmyk(&sof(0xC0, 3)));
        assert!(!is_cmyk(&sof(0xC0, 1)));
        assert!(!is_cmyk(&[0xFF, 0xD8]));
    }

    #[test]
    fn adobe_marker_is_found_among_segments() {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xEE, 0, 14];
        j.extend_from_slice(b"Adobe\0\x64\0\0\0\0\x02");
        assert!(adobe_marker(&j));
        assert!(!adobe_marker(&[
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xDA
        ]));
    }
}
