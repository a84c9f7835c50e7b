//! Inputs a new user brings (issue 13), through the whole pipeline in-process: extreme
//! aspect ratios against the encoders' limits, photos carrying private metadata,
//! multi-page and JPEG-compressed TIFF.

mod common;

use image::{DynamicImage, GenericImageView, ImageEncoder as _};
use resizer::contract::{Fit, Format, Reason, Request};
use resizer::pipeline::Thumbnail;
use thumbnail_testkit::corpus;

const FORMATS: [Format; 3] = [Format::Jpeg, Format::Png, Format::Webp];

fn request(width: Option<u32>, height: Option<u32>, format: Format) -> Request {
    common::request(width, height, Fit::Inside, format, None)
}

fn make(source: &[u8], width: Option<u32>, height: Option<u32>, format: Format) -> Thumbnail {
    resizer::pipeline::make_thumbnail(source, &request(width, height, format))
        .unwrap_or_else(|e| panic!("{format:?} {width:?}x{height:?}: {e}"))
}

fn decoded(t: &Thumbnail) -> DynamicImage {
    let img = image::load_from_memory(&t.bytes).unwrap();
    assert_eq!(img.dimensions(), (t.width, t.height));
    img
}

fn tiff_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiff")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn mean_abs_diff(a: &DynamicImage, b: &DynamicImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (a, b) = (a.to_rgb8().into_raw(), b.to_rgb8().into_raw());
    a.iter()
        .zip(&b)
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum::<u64>() as f64
        / a.len() as f64
}

/// Issue 13: a 200x40000 PNG asked for 100 px wide made 100x20000, over WebP's 16383, and
/// libwebp's refusal was a panic ("please report it"). The side left out is now bounded
/// like a requested one (8192), keeping the aspect ratio, in every format; both ways.
#[test]
fn a_very_tall_or_wide_image_fits_every_encoder() {
    let (w, h) = (200u32, 40_000u32);
    let raw: Vec<u8> = (0..w * h).map(|i| (i / w / 157) as u8).collect();
    let mut tall = Vec::new();
    image::codecs::png::PngEncoder::new(&mut tall)
        .write_image(&raw, w, h, image::ExtendedColorType::L8)
        .unwrap();
    let wide_img =
        DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, raw).unwrap()).rotate90();
    let mut wide = Vec::new();
    wide_img
        .write_to(
            &mut std::io::Cursor::new(&mut wide),
            image::ImageFormat::Png,
        )
        .unwrap();
    for format in FORMATS {
        let t = make(&tall, Some(100), None, format);
        assert_eq!((t.width, t.height), (41, 8192), "{format:?}");
        let img = decoded(&t);
        // Top dark, bottom light: the whole image, not a crop.
        let (top, bottom) = (img.to_luma8()[(20, 10)][0], img.to_luma8()[(20, 8180)][0]);
        assert!(top < 10 && bottom > 240, "{format:?}: {top} {bottom}");
        let t = make(&wide, None, Some(100), format);
        assert_eq!((t.width, t.height), (8192, 41), "{format:?}");
        decoded(&t);
    }
}

/// An EXIF block with what a camera or phone records and a thumbnail must not pass on:
/// make, body serial number, GPS position; and Orientation 6.
fn private_exif() -> Vec<u8> {
    // Little-endian TIFF: IFD0 (Make, Orientation, ExifIFD, GPSIFD) at 8, Make's text at
    // 62, the EXIF IFD (BodySerialNumber) at 68 with its text at 86, the GPS IFD
    // (latitude ref and value) at 100 with its rationals at 130.
    let mut t = b"II*\0\x08\0\0\0".to_vec();
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    };
    const ASCII: u16 = 2;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;
    t.extend_from_slice(&4u16.to_le_bytes());
    entry(&mut t, 0x010F, ASCII, 10, 62); // Make
    entry(&mut t, 0x0112, SHORT, 1, 6); // Orientation
    entry(&mut t, 0x8769, LONG, 1, 72); // Exif IFD
    entry(&mut t, 0x8825, LONG, 1, 104); // GPS IFD
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 62);
    t.extend_from_slice(b"PhoneCo\0\0\0");
    assert_eq!(t.len(), 72);
    t.extend_from_slice(&1u16.to_le_bytes());
    entry(&mut t, 0xA431, ASCII, 14, 90); // BodySerialNumber
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 90);
    t.extend_from_slice(b"SN-0123456789\0");
    assert_eq!(t.len(), 104);
    t.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut t, 0x0001, ASCII, 2, u32::from_le_bytes(*b"N\0\0\0")); // GPSLatitudeRef
    entry(&mut t, 0x0002, RATIONAL, 3, 134); // GPSLatitude
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 134);
    for (n, d) in [(48u32, 1u32), (51, 1), (2997, 100)] {
        t.extend_from_slice(&n.to_le_bytes());
        t.extend_from_slice(&d.to_le_bytes());
    }
    t
}

/// `jpeg` with `segments` (marker, payload) inserted after SOI.
fn with_segments(jpeg: &[u8], segments: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    for (marker, payload) in segments {
        out.extend_from_slice(&[0xFF, *marker]);
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Issue 13: thumbnails carry none of the source's metadata (EXIF with GPS position and
/// serial number, XMP, comments) in any output format, while its orientation is applied.
#[test]
fn thumbnails_carry_no_metadata_but_are_oriented() {
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&private_exif());
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF><rdf:Description exif:GPSLatitude='48,51.5N' aux:SerialNumber='SN-0123456789'/></rdf:RDF></x:xmpmeta>".to_vec();
    let source = with_segments(
        &corpus("j09_storm_1920x1280.jpg"),
        &[
            (0xE1, exif),
            (0xE1, xmp),
            (0xFE, b"shot at home, SN-0123456789".to_vec()), // COM
        ],
    );
    // The source does carry it all, and the resizer reads its orientation.
    assert!(contains(&source, b"SN-0123456789") && contains(&source, b"PhoneCo"));
    assert_eq!(
        resizer::orient::jpeg_orientation(&source),
        resizer::orient::Orientation::new(6)
    );
    for format in FORMATS {
        let t = make(&source, Some(256), Some(256), format);
        // 1920x1280 stored, turned by Orientation 6: a portrait thumbnail.
        assert_eq!((t.width, t.height), (171, 256), "{format:?}");
        for private in [
            &b"Exif\0"[..],
            b"SN-0123456789",
            b"PhoneCo",
            b"xmpmeta",
            b"shot at home",
        ] {
            assert!(
                !contains(&t.bytes, private),
                "{format:?} thumbnail carries {:?}",
                String::from_utf8_lossy(private)
            );
        }
        // Nor any EXIF chunk a decoder would find (PNG eXIf, WebP EXIF, JPEG APP1).
        let mut decoder = image::ImageReader::new(std::io::Cursor::new(&t.bytes))
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        use image::ImageDecoder as _;
        assert_eq!(decoder.exif_metadata().unwrap(), None, "{format:?}");
        assert_eq!(decoder.icc_profile().unwrap(), None, "{format:?}");
    }
}

/// Multi-page TIFF: the first page is the thumbnail (the second is the mirror image in
/// grey; scikit-image's two grey pages decode too).
#[test]
fn a_multi_page_tiff_gives_its_first_page() {
    let t = make(
        &tiff_fixture("storm-2pages.tif"),
        Some(120),
        None,
        Format::Png,
    );
    let first = decoded(&t);
    assert_eq!((t.source_width, t.source_height), (240, 160));
    let rgb = first.to_rgb8();
    assert!(
        rgb.pixels().any(|p| p[0].abs_diff(p[2]) > 20),
        "the first page is the colour one"
    );
    // The same pixels as the JPEG-compressed single page, up to JPEG's loss.
    let jpeg_tiff = decoded(&make(
        &tiff_fixture("storm-jpeg-rgb.tif"),
        Some(120),
        None,
        Format::Png,
    ));
    let same = mean_abs_diff(&first, &jpeg_tiff);
    let mirrored = mean_abs_diff(&first.fliph(), &jpeg_tiff);
    assert!(
        same < 3.0 && mirrored > 2.0 * same,
        "{same:.2} {mirrored:.2}"
    );
    let t = make(&tiff_fixture("multipage.tif"), Some(5), None, Format::Png);
    assert_eq!((t.source_width, t.source_height), (10, 15));
}

/// JPEG-compressed TIFF, both kinds: RGB (which `image` decodes) and YCbCr (libtiff's
/// default for JPEG compression, which `image` refuses and the resizer converts).
#[test]
fn jpeg_compressed_tiffs_decode() {
    let reference = decoded(&make(
        &tiff_fixture("storm-2pages.tif"),
        Some(120),
        None,
        Format::Png,
    ));
    for file in ["storm-jpeg-rgb.tif", "storm-jpeg-ycbcr.tif"] {
        let t = make(&tiff_fixture(file), Some(120), None, Format::Png);
        let diff = mean_abs_diff(&decoded(&t), &reference);
        eprintln!("{file}: {diff:.2} from the lossless page");
        assert!(diff < 3.0, "{file}: {diff:.2}");
    }
}

/// A TIFF's ICC profile is applied like any other (here Adobe RGB, made from the same
/// pixels as the lossless RGB page by Pillow's ImageCms).
#[test]
fn a_tiff_with_an_icc_profile_is_converted() {
    let reference = decoded(&make(
        &tiff_fixture("storm-2pages.tif"),
        Some(120),
        None,
        Format::Png,
    ));
    let t = make(
        &tiff_fixture("storm-adobergb.tif"),
        Some(120),
        None,
        Format::Png,
    );
    let diff = mean_abs_diff(&decoded(&t), &reference);
    // Read without colour management (as `image` alone does), the pixels are far off.
    let raw = |f: &str| image::load_from_memory(&tiff_fixture(f)).unwrap();
    let ignored = mean_abs_diff(&raw("storm-adobergb.tif"), &raw("storm-2pages.tif"));
    eprintln!("Adobe RGB TIFF: {diff:.2} from the sRGB page (profile ignored: {ignored:.2})");
    assert!(
        diff <= 2.0 && ignored >= diff + 1.0,
        "{diff:.2} {ignored:.2}"
    );
}

/// A TIFF variant the resizer cannot read is refused as UnsupportedFormat, saying which
/// variant it is and what is read: scikit-image's multipage_rgb.tif (64-bit float RGB in
/// separate planes, which the issue found refused in a decoder's words).
#[test]
fn an_unsupported_tiff_variant_is_named() {
    let err = resizer::pipeline::make_thumbnail(
        &tiff_fixture("multipage_rgb.tif"),
        &request(Some(64), None, Format::Png),
    )
    .unwrap_err();
    assert_eq!(err.reason, Reason::UnsupportedFormat, "{err}");
    assert!(
        err.message.starts_with(
            "64-bit floating-point RGB, one plane per channel: this TIFF variant is not supported"
        ),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("first page of 8- or 16-bit"),
        "{}",
        err.message
    );
}
