//! Colour management (issue 13), through the whole pipeline in-process: photos in
//! wide-gamut colour spaces, made by an independent colour-managed tool from the corpus
//! (tests/fixtures/colour/make.py: Pillow's ImageCms, profiles from Debian's packages),
//! come out as the sRGB original does; sRGB and untagged photos come out unchanged.

mod common;

use image::{DynamicImage, GenericImageView, ImageEncoder as _};
use resizer::contract::{Fit, Format, Request};
use resizer::pixels::{Layout, Pixels};
use thumbnail_testkit::corpus;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/colour")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn request(width: u32, format: Format) -> Request {
    common::request(Some(width), None, Fit::Inside, format, Some(90))
}

/// The thumbnail's bytes, `width` wide.
fn thumbnail_bytes(source: &[u8], width: u32, format: Format) -> Vec<u8> {
    resizer::pipeline::make_thumbnail(source, &request(width, format))
        .unwrap_or_else(|e| panic!("{e}"))
        .bytes
}

/// The thumbnail 256 px wide, as lossless PNG, decoded.
fn thumbnail(source: &[u8]) -> DynamicImage {
    let png = thumbnail_bytes(source, 256, Format::Png);
    assert!(
        !contains(&png, b"iCCP"),
        "the thumbnail is untagged sRGB: no iCCP chunk"
    );
    image::load_from_memory(&png).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Mean absolute difference per channel (as RGB, or as grey for two grey images).
fn mean_abs_diff(a: &DynamicImage, b: &DynamicImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (a, b) = if a.color().channel_count() == 1 && b.color().channel_count() == 1 {
        (a.to_luma8().into_raw(), b.to_luma8().into_raw())
    } else {
        (a.to_rgb8().into_raw(), b.to_rgb8().into_raw())
    };
    let sum: u64 = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    sum as f64 / a.len() as f64
}

/// `jpeg` without its ICC profile (APP2 "ICC_PROFILE" segments): what an application
/// that ignores profiles sees.
fn untagged(jpeg: &[u8]) -> Vec<u8> {
    let icc: Vec<(usize, usize)> = resizer::jpeg_markers::header_segments(jpeg)
        .map_while(Result::ok)
        .filter(|s| s.marker == 0xE2 && s.payload.starts_with(b"ICC_PROFILE\0"))
        .map(|s| (s.offset, s.offset + s.raw.len()))
        .collect();
    assert!(!icc.is_empty(), "the JPEG has a profile to strip");
    let mut out = Vec::with_capacity(jpeg.len());
    let mut at = 0;
    for (start, end) in icc {
        out.extend_from_slice(&jpeg[at..start]);
        at = end;
    }
    out.extend_from_slice(&jpeg[at..]);
    out
}

/// The bound: within 2 levels per channel on average of the sRGB original's thumbnail.
/// What is left is the fixtures' own JPEG compression and 8-bit quantisation in the
/// wide space (ProPhoto's 8-bit steps are the coarsest).
const BOUND: f64 = 2.0;

/// The test can tell: ignoring the profile is clearly further from the original.
fn assert_can_tell(what: &str, managed: f64, ignored: f64) {
    assert!(
        ignored >= managed + 1.0,
        "{what}: {ignored:.2} without colour management, {managed:.2} with it"
    );
}

#[test]
fn wide_gamut_photos_come_out_as_the_srgb_original() {
    let reference = thumbnail(&fixture("path-srgb.jpg"));
    for file in [
        "path-adobergb.jpg",
        "path-prophoto.jpg",
        "path-displayp3.jpg",
    ] {
        let jpeg = fixture(file);
        let managed = mean_abs_diff(&thumbnail(&jpeg), &reference);
        let ignored = mean_abs_diff(&thumbnail(&untagged(&jpeg)), &reference);
        eprintln!("{file}: {managed:.2} from the sRGB original (profile ignored: {ignored:.2})");
        assert!(
            managed <= BOUND,
            "{file}: {managed:.2} per channel from the sRGB original"
        );
        assert_can_tell(file, managed, ignored);
    }
}

#[test]
fn a_grey_photo_with_a_grey_profile_comes_out_as_srgb_grey() {
    let reference = thumbnail(&fixture("path-grey-srgb.jpg"));
    let jpeg = fixture("path-grey-lstar.jpg");
    let out = thumbnail(&jpeg);
    assert_eq!(out.color(), image::ColorType::L8, "grey stays one channel");
    let managed = mean_abs_diff(&out, &reference);
    let ignored = mean_abs_diff(&thumbnail(&untagged(&jpeg)), &reference);
    eprintln!("grey L*: {managed:.2} from the sRGB original (profile ignored: {ignored:.2})");
    assert!(managed <= BOUND, "{managed:.2}");
    assert_can_tell("grey", managed, ignored);
}

/// An Adobe-style (inverted) CMYK JPEG with a SWOP press profile of 187 KB (three APP2
/// segments). The bound is wider: the round trip through a press's smaller gamut and
/// its 4-D tables moves colours by more than RGB's matrices do.
#[test]
fn a_cmyk_photo_with_its_profile_comes_out_as_the_srgb_original() {
    let reference = thumbnail(&fixture("wood-srgb.jpg"));
    let jpeg = fixture("wood-swop-cmyk.jpg");
    assert!(resizer::decode::adobe_marker(&jpeg), "Adobe-style CMYK");
    let managed = mean_abs_diff(&thumbnail(&jpeg), &reference);
    let naive = mean_abs_diff(&thumbnail(&untagged(&jpeg)), &reference);
    eprintln!("SWOP CMYK: {managed:.2} from the sRGB original (without the profile: {naive:.2})");
    assert!(managed <= 3.0, "{managed:.2}");
    assert!(managed * 2.0 < naive, "{managed:.2} vs {naive:.2}");
}

/// A corpus photo tagged sRGB gives exactly the bytes of the same photo untagged, in
/// every output format: sRGB in, no conversion (and no rounding) at all.
#[test]
fn srgb_tagged_photos_are_unchanged() {
    for file in [
        "j05_path_2560x1600.jpg",              // "sRGB IEC61966-2.1", 3 KB
        "j07_colorfulcups_2560x1600_prog.jpg", // another sRGB profile, 7 KB
    ] {
        let tagged = corpus(file);
        let plain = untagged(&tagged);
        for format in [Format::Jpeg, Format::Png, Format::Webp] {
            assert!(
                thumbnail_bytes(&tagged, 256, format) == thumbnail_bytes(&plain, 256, format),
                "{file} -> {format:?}: the sRGB profile changed the thumbnail"
            );
        }
    }
}

fn rgb_pixels(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
    let img = image::load_from_memory(jpeg).unwrap().to_rgb8();
    (img.width(), img.height(), img.into_raw())
}

/// The Adobe RGB profile of the fixture, from its JPEG.
fn adobe_rgb() -> Vec<u8> {
    resizer::colour::jpeg_icc(&fixture("path-adobergb.jpg")).expect("the fixture is tagged")
}

/// PNG carries its profile in an iCCP chunk (decoded through `image`); RGBA keeps its
/// alpha through the conversion.
#[test]
fn a_png_with_an_icc_profile_is_converted_alpha_and_all() {
    let (w, h, rgb) = rgb_pixels(&fixture("path-adobergb.jpg"));
    let reference = thumbnail(&fixture("path-srgb.jpg"));
    let rgba: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 200])
        .collect();
    for (layout, raw, color) in [
        ("RGB", rgb.clone(), image::ExtendedColorType::Rgb8),
        ("RGBA", rgba, image::ExtendedColorType::Rgba8),
    ] {
        let mut png = Vec::new();
        let mut encoder = image::codecs::png::PngEncoder::new(&mut png);
        encoder.set_icc_profile(adobe_rgb()).unwrap();
        encoder.write_image(&raw, w, h, color).unwrap();
        let out = thumbnail(&png);
        let managed = mean_abs_diff(&out, &reference);
        eprintln!("Adobe RGB {layout} PNG: {managed:.2}");
        assert!(managed <= BOUND, "{layout}: {managed:.2}");
        if layout == "RGBA" {
            let alpha = out.to_rgba8();
            assert!(alpha.pixels().all(|p| p[3] == 200), "alpha kept");
        }
    }
}

/// A WebP with an ICCP chunk (extended format), decoded by libwebp (the still-image
/// path, which reads no metadata itself).
#[test]
fn a_webp_with_an_icc_profile_is_converted() {
    let (w, h, rgb) = rgb_pixels(&fixture("path-adobergb.jpg"));
    let (rw, rh, reference_rgb) = rgb_pixels(&fixture("path-srgb.jpg"));
    assert_eq!((w, h), (rw, rh));
    let lossy = |rgb: &[u8]| {
        webp::Encoder::from_rgb(rgb, w, h)
            .encode_simple(false, 95.0)
            .unwrap()
            .to_vec()
    };
    // The reference goes through the same lossy encoding, untagged.
    let reference = thumbnail(&lossy(&reference_rgb));
    let simple = lossy(&rgb);
    assert_eq!(&simple[12..16], b"VP8 ", "a simple lossy WebP");
    let icc = adobe_rgb();
    let mut chunks = Vec::new();
    let mut chunk = |fourcc: &[u8], data: &[u8]| {
        chunks.extend_from_slice(fourcc);
        chunks.extend_from_slice(&(data.len() as u32).to_le_bytes());
        chunks.extend_from_slice(data);
        if data.len() % 2 == 1 {
            chunks.push(0);
        }
    };
    let mut vp8x = vec![0x20, 0, 0, 0]; // flags: ICC profile
    vp8x.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    chunk(b"VP8X", &vp8x);
    chunk(b"ICCP", &icc);
    let mut tagged = b"RIFF".to_vec();
    tagged.extend_from_slice(&((4 + chunks.len() + simple.len() - 12) as u32).to_le_bytes());
    tagged.extend_from_slice(b"WEBP");
    tagged.extend_from_slice(&chunks);
    tagged.extend_from_slice(&simple[12..]);
    let managed = mean_abs_diff(&thumbnail(&tagged), &reference);
    let ignored = mean_abs_diff(&thumbnail(&simple), &reference);
    eprintln!("Adobe RGB WebP: {managed:.2} (profile ignored: {ignored:.2})");
    assert!(managed <= BOUND, "{managed:.2}");
    assert_can_tell("WebP", managed, ignored);
}

/// Why converting after the resize is fine for RGB: the thumbnails of the two orders
/// differ by under a level per channel (both average gamma-encoded values, in the
/// source's encoding or in sRGB's; neither is linear light).
#[test]
fn converting_after_the_resize_is_as_good_as_before() {
    let jpeg = fixture("path-prophoto.jpg");
    let icc = resizer::colour::jpeg_icc(&jpeg).unwrap();
    let decoded = resizer::decode::decode_jpeg(&jpeg, 8).unwrap();
    let whole = (0.0, 0.0, decoded.width as f64, decoded.height as f64);
    let to = (256, 160);
    let after =
        resizer::colour::to_srgb(resizer::resize::resize(&decoded, whole, to).unwrap(), &icc);
    let before =
        resizer::resize::resize(&resizer::colour::to_srgb(decoded.clone(), &icc), whole, to)
            .unwrap();
    let as_image = |p: Pixels| {
        assert_eq!(p.layout, Layout::Rgb);
        DynamicImage::ImageRgb8(image::RgbImage::from_raw(p.width, p.height, p.data).unwrap())
    };
    let diff = mean_abs_diff(&as_image(after), &as_image(before));
    eprintln!("ProPhoto, convert after vs before the resize: {diff:.3} per channel");
    assert!(diff <= 1.0, "{diff:.3}");
}

/// An AVIF carries its profile in a `colr` box (written here by Debian's avifenc from an
/// Adobe RGB PNG, losslessly): decoded by libavif, converted like every other format.
#[test]
fn an_avif_with_an_icc_profile_is_converted() {
    let (w, h, rgb) = rgb_pixels(&fixture("path-adobergb.jpg"));
    let reference = thumbnail(&fixture("path-srgb.jpg"));
    let dir = std::env::temp_dir().join(format!("resizer-colour-avif-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("adobergb.png");
    let mut bytes = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut bytes);
    encoder.set_icc_profile(adobe_rgb()).unwrap();
    encoder
        .write_image(&rgb, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(&png, bytes).unwrap();
    let avif = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let status = std::process::Command::new("avifenc")
            .args(["-l", "-s", "9"])
            .args(extra)
            .arg(&png)
            .arg(&out)
            .output()
            .unwrap_or_else(|e| panic!("avifenc cannot run ({e}): run hack/install-deps.sh"));
        assert!(status.status.success(), "{status:?}");
        std::fs::read(&out).unwrap()
    };
    let managed = mean_abs_diff(&thumbnail(&avif("tagged.avif", &[])), &reference);
    let ignored = mean_abs_diff(
        &thumbnail(&avif("untagged.avif", &["--ignore-icc"])),
        &reference,
    );
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("Adobe RGB AVIF: {managed:.2} (profile ignored: {ignored:.2})");
    assert!(managed <= BOUND, "{managed:.2}");
    assert_can_tell("Adobe RGB AVIF", managed, ignored);
}

/// A colour space given by code points (H.273), as an AVIF's nclx box says it: the
/// primaries (CIE xy, D65 white for all here) and the encoding of linear light (relative
/// to SDR white) into a 0..1 signal. Written out here from the standards, independently
/// of the resizer's code, which decodes them through libavif's table and Little CMS.
struct Space {
    name: &'static str,
    cicp: &'static str,
    primaries: [(f64, f64); 3],
    encode: fn([f64; 3]) -> [f64; 3],
    bits: u8,
}

const D65: (f64, f64) = (0.3127, 0.3290);
const BT709: [(f64, f64); 3] = [(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)];
const P3: [(f64, f64); 3] = [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)];
const BT2020: [(f64, f64); 3] = [(0.708, 0.292), (0.170, 0.797), (0.131, 0.046)];

fn per_channel(rgb: [f64; 3], f: impl Fn(f64) -> f64) -> [f64; 3] {
    rgb.map(|c| f(c.clamp(0.0, 1.0)))
}

fn srgb_encode(l: f64) -> f64 {
    if l <= 0.0031308 {
        12.92 * l
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    }
}

fn srgb_decode(v: f64) -> f64 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// BT.709's (and BT.601's, BT.2020's) camera curve.
fn bt709_encode(l: f64) -> f64 {
    const ALPHA: f64 = 1.099_296_826_809_44;
    const BETA: f64 = 0.018_053_968_510_807;
    if l < BETA {
        4.5 * l
    } else {
        ALPHA * l.powf(0.45) - (ALPHA - 1.0)
    }
}

/// PQ (SMPTE ST 2084) with SDR white at BT.2408's HDR reference white, 203 cd/m².
fn pq_encode(l: f64) -> f64 {
    let (m1, m2) = (2610.0 / 16384.0, 2523.0 / 4096.0 * 128.0);
    let (c1, c2, c3) = (
        3424.0 / 4096.0,
        2413.0 / 4096.0 * 32.0,
        2392.0 / 4096.0 * 32.0,
    );
    let y = (l * 203.0 / 10000.0).powf(m1);
    ((c1 + c2 * y) / (1.0 + c3 * y)).powf(m2)
}

/// HLG (BT.2100) for its 1000 cd/m² reference display, SDR white at 203 cd/m²: the
/// inverse of the display's OOTF (system gamma 1.2 on the pixel's luminance, BT.2020's
/// weights), then the HLG OETF.
fn hlg_encode(rgb: [f64; 3]) -> [f64; 3] {
    let display = rgb.map(|c| c.max(0.0) * 203.0 / 1000.0);
    let luminance = 0.2627 * display[0] + 0.6780 * display[1] + 0.0593 * display[2];
    let scene_luminance = luminance.powf(1.0 / 1.2);
    let (a, b) = (0.178_832_77, 1.0 - 4.0 * 0.178_832_77);
    let c = 0.5 - a * f64::ln(4.0 * a);
    display.map(|d| {
        let e = if scene_luminance > 0.0 {
            (d / scene_luminance.powf(0.2)).min(1.0)
        } else {
            0.0
        };
        if e <= 1.0 / 12.0 {
            (3.0 * e).sqrt()
        } else {
            a * (12.0 * e - b).ln() + c
        }
    })
}

/// The matrix from linear RGB of `primaries` (white D65) to XYZ.
fn rgb_to_xyz(primaries: [(f64, f64); 3]) -> [[f64; 3]; 3] {
    let xyz = |(x, y): (f64, f64)| [x / y, 1.0, (1.0 - x - y) / y];
    let cols = primaries.map(xyz);
    let m = [
        [cols[0][0], cols[1][0], cols[2][0]],
        [cols[0][1], cols[1][1], cols[2][1]],
        [cols[0][2], cols[1][2], cols[2][2]],
    ];
    // Scale the primaries so that RGB (1, 1, 1) is the white point.
    let s = mul(invert(m), xyz(D65));
    m.map(|row| [row[0] * s[0], row[1] * s[1], row[2] * s[2]])
}

fn mul(m: [[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    m.map(|row| row[0] * v[0] + row[1] * v[1] + row[2] * v[2])
}

fn invert(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let [[a, b, c], [d, e, f], [g, h, i]] = m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    [
        [
            (e * i - f * h) / det,
            (c * h - b * i) / det,
            (b * f - c * e) / det,
        ],
        [
            (f * g - d * i) / det,
            (a * i - c * g) / det,
            (c * d - a * f) / det,
        ],
        [
            (d * h - e * g) / det,
            (b * g - a * h) / det,
            (a * e - b * d) / det,
        ],
    ]
}

/// The sRGB photo's pixels converted into `space`, as a PNG of `space.bits` bits.
fn photo_in(space: &Space, width: u32, height: u32, srgb: &[u8]) -> Vec<u8> {
    let to_target = invert(rgb_to_xyz(space.primaries));
    let from_srgb = rgb_to_xyz(BT709);
    let max = f64::from((1u32 << space.bits) - 1);
    let samples: Vec<u16> = srgb
        .chunks_exact(3)
        .flat_map(|p| {
            let linear = [p[0], p[1], p[2]].map(|v| srgb_decode(f64::from(v) / 255.0));
            let target = mul(to_target, mul(from_srgb, linear));
            (space.encode)(target).map(|v| (v.clamp(0.0, 1.0) * max).round() as u16)
        })
        .collect();
    let image = if space.bits == 8 {
        let bytes = samples.iter().map(|&v| v as u8).collect();
        DynamicImage::ImageRgb8(image::RgbImage::from_raw(width, height, bytes).unwrap())
    } else {
        // 10 bits in a 16-bit PNG: avifenc scales 16 bits to the depth it is asked for.
        let wide = samples.iter().map(|&v| (v << 6) | (v >> 4)).collect();
        DynamicImage::ImageRgb16(image::ImageBuffer::from_raw(width, height, wide).unwrap())
    };
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

/// `png` as a lossless AVIF (Debian's avifenc, as in the test above) whose nclx box says
/// `cicp` ("primaries/transfer/matrix"; matrix 0: the RGB planes as they are).
fn avif_from_png(png: &[u8], cicp: &str, bits: u8) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!(
        "resizer-colour-nclx-{}-{}",
        std::process::id(),
        cicp.replace('/', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.png"), dir.join("out.avif"));
    std::fs::write(&input, png).unwrap();
    let run = std::process::Command::new("avifenc")
        .args(["-l", "-s", "9", "-d", &bits.to_string(), "--cicp", cicp])
        .arg(&input)
        .arg(&output)
        .output()
        .unwrap_or_else(|e| panic!("avifenc cannot run ({e}): run hack/install-deps.sh"));
    assert!(run.status.success(), "{run:?}");
    let avif = std::fs::read(&output).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    avif
}

/// Most AVIF files say their colour with code points (nclx) and carry no ICC profile:
/// the corpus photo converted into Display P3, BT.2020 (SDR) and BT.2100 PQ and HLG (HDR)
/// comes out as the sRGB original, and read as sRGB (its code points ignored) it would
/// not.
#[test]
fn an_avif_with_nclx_colour_is_converted() {
    let (w, h, srgb) = rgb_pixels(&fixture("path-srgb.jpg"));
    let reference = thumbnail(&fixture("path-srgb.jpg"));
    let spaces = [
        Space {
            name: "Display P3",
            cicp: "12/13/0",
            primaries: P3,
            encode: |rgb| per_channel(rgb, srgb_encode),
            bits: 8,
        },
        Space {
            name: "BT.2020",
            cicp: "9/1/0",
            primaries: BT2020,
            encode: |rgb| per_channel(rgb, bt709_encode),
            bits: 8,
        },
        Space {
            name: "BT.709 linear",
            cicp: "1/8/0",
            primaries: BT709,
            encode: |rgb| per_channel(rgb, |l| l),
            bits: 10,
        },
        Space {
            name: "BT.2100 PQ",
            cicp: "9/16/0",
            primaries: BT2020,
            encode: |rgb| per_channel(rgb, pq_encode),
            bits: 10,
        },
        Space {
            name: "BT.2100 HLG",
            cicp: "9/18/0",
            primaries: BT2020,
            encode: hlg_encode,
            bits: 10,
        },
    ];
    for space in &spaces {
        let png = photo_in(space, w, h, &srgb);
        let managed = mean_abs_diff(
            &thumbnail(&avif_from_png(&png, space.cicp, space.bits)),
            &reference,
        );
        let ignored = mean_abs_diff(
            &thumbnail(&avif_from_png(&png, "1/13/0", space.bits)),
            &reference,
        );
        eprintln!(
            "{} AVIF (nclx {}): {managed:.2} from the sRGB original (code points ignored: {ignored:.2})",
            space.name, space.cicp
        );
        assert!(managed <= BOUND, "{}: {managed:.2}", space.name);
        assert_can_tell(space.name, managed, ignored);
    }
}
