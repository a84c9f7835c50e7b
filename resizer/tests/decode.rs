//! Decoder shortcuts against the straightforward decode, on real photos (no S3).

use thumbnail_testkit::corpus;

/// The largest difference between two decodes of `jpeg` at 1/8: with the progressive
/// DC-only shortcuts and without.
fn shortcut_max_diff(name: &str, jpeg: &[u8]) -> u8 {
    let fast = resizer::decode::decode_jpeg_with(jpeg, 1, true).unwrap();
    let full = resizer::decode::decode_jpeg_with(jpeg, 1, false).unwrap();
    assert_eq!(
        (fast.width, fast.height),
        (full.width, full.height),
        "{name}"
    );
    fast.data
        .iter()
        .zip(&full.data)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap()
}

/// Progressive corpus photos at 1/8 read only their DC scans, and no pixel changes:
/// 4:2:2 (j02, j07) and 4:4:4 (j03) as a baseline JPEG of the DC alone, which is a
/// small part of the file.
#[test]
fn progressive_dc_shortcut_is_pixel_identical_on_photos() {
    for file in [
        "j07_colorfulcups_2560x1600_prog.jpg",
        "j03_infinitesea_4096x4096_prog.jpg",
        "j02_elephants_5640x3172_prog.jpg",
    ] {
        let jpeg = corpus(file);
        let dc = resizer::decode::progressive_dc_baseline(&jpeg).expect("transcodes");
        eprintln!(
            "{file}: baseline DC stream of {} bytes from {}",
            dc.len(),
            jpeg.len()
        );
        assert!(
            dc.len() * 3 < jpeg.len(),
            "{file}: {} of {} bytes",
            dc.len(),
            jpeg.len()
        );
        assert_eq!(&dc[..2], [0xFF, 0xD8]);
        let header = turbojpeg::read_header(&dc).expect("a JPEG");
        assert!(!header.is_progressive, "{file}: a baseline JPEG");
        assert_eq!(shortcut_max_diff(file, &jpeg), 0, "{file}");
    }
}

/// Every chroma layout, odd sizes (partial blocks and MCUs), grey and CMYK: the
/// shortcut changes no pixel. 4:2:0 chroma is decoded at 1/8 with a 2x2 inverse DCT that
/// reads AC, so 4:2:0 keeps its chroma AC scans (the rewrite) instead of being
/// transcoded to baseline.
#[test]
fn progressive_dc_shortcut_is_pixel_identical_for_every_layout() {
    use turbojpeg::{PixelFormat, Subsamp};
    let photo = resizer::decode::decode_jpeg(&corpus("j09_storm_1920x1280.jpg"), 4).unwrap();
    for (w, h) in [(957usize, 631usize), (640, 480), (9, 17)] {
        for (subsamp, format, transcoded) in [
            (Subsamp::None, PixelFormat::RGB, true),
            (Subsamp::Sub2x1, PixelFormat::RGB, true),
            (Subsamp::Sub1x2, PixelFormat::RGB, true),
            (Subsamp::Sub4x1, PixelFormat::RGB, true),
            (Subsamp::Gray, PixelFormat::GRAY, true),
            (Subsamp::None, PixelFormat::CMYK, true),
            (Subsamp::Sub2x2, PixelFormat::RGB, false),
        ] {
            let ch = format.size();
            let pixels: Vec<u8> = (0..w * h)
                .flat_map(|i| {
                    let at = ((i / w) * photo.width as usize + i % w) * 3;
                    let [r, g, b] = [photo.data[at], photo.data[at + 1], photo.data[at + 2]];
                    let grey = ((r as u32 * 3 + g as u32 * 6 + b as u32) / 10) as u8;
                    let all = [r, g, b, 255 - grey];
                    all.into_iter()
                        .take(if ch == 1 { 0 } else { ch })
                        .chain(std::iter::once(grey).take(if ch == 1 { 1 } else { 0 }))
                })
                .collect();
            let mut c = turbojpeg::Compressor::new().unwrap();
            c.set_quality(90).unwrap();
            c.set_progressive(true).unwrap();
            c.set_subsamp(subsamp).unwrap();
            let jpeg = c
                .compress_to_vec(turbojpeg::Image {
                    pixels: pixels.as_slice(),
                    width: w,
                    pitch: w * ch,
                    height: h,
                    format,
                })
                .unwrap();
            let name = format!("{w}x{h} {subsamp:?} {format:?}");
            assert_eq!(
                resizer::decode::progressive_dc_baseline(&jpeg).is_some(),
                transcoded,
                "{name}"
            );
            assert!(
                resizer::decode::progressive_dc_only(&jpeg).is_some(),
                "{name}"
            );
            assert_eq!(shortcut_max_diff(&name, &jpeg), 0, "{name}");
        }
    }
}

/// What the baseline transcode does not take goes to the decoder as it is: a file cut
/// short, damaged DC data, restart intervals.
#[test]
fn progressive_dc_baseline_declines_what_it_cannot_reproduce() {
    let jpeg = corpus("j07_colorfulcups_2560x1600_prog.jpg");
    assert!(resizer::decode::progressive_dc_baseline(&jpeg).is_some());
    // Cut inside a late AC scan: the DC is all there, but the file is truncated, and
    // refused as at any other scale.
    let cut = &jpeg[..jpeg.len() - 1000];
    assert!(resizer::decode::progressive_dc_baseline(cut).is_none());
    assert!(resizer::decode::progressive_dc_only(cut).is_none());
    let err = resizer::decode::decode_jpeg(cut, 1).expect_err("a truncated file is refused");
    assert!(
        err.to_string()
            .starts_with("CorruptImage: the JPEG file is truncated"),
        "{err}"
    );
    // A marker inside the first (DC) scan's data: the scan ends early.
    let sos = resizer::jpeg_markers::segments(&jpeg)
        .map(Result::unwrap)
        .find(|s| s.marker == resizer::jpeg_markers::SOS)
        .unwrap()
        .offset;
    let mut damaged = jpeg.clone();
    damaged[sos + 2000] = 0xFF;
    damaged[sos + 2001] = 0xD9;
    assert!(resizer::decode::progressive_dc_baseline(&damaged).is_none());
    // A restart interval (DRI) before the frame.
    let mut restarts = vec![0xFF, 0xD8, 0xFF, 0xDD, 0, 4, 0, 16];
    restarts.extend_from_slice(&jpeg[2..]);
    assert!(resizer::decode::progressive_dc_baseline(&restarts).is_none());
}

/// Baseline JPEGs are decoded whole whatever the scale.
#[test]
fn baseline_jpeg_is_not_shortened() {
    let jpeg = corpus("j09_storm_1920x1280.jpg");
    let fast = resizer::decode::decode_jpeg_with(&jpeg, 1, true).unwrap();
    let full = resizer::decode::decode_jpeg_with(&jpeg, 1, false).unwrap();
    assert_eq!(fast, full);
}

/// A JPEG cut short is reported as truncated, in words the user can act on, not in a
/// decoder's internals (it once said `integer value "width" overflowed`).
#[test]
fn truncated_jpeg_says_it_is_truncated() {
    let jpeg = corpus("j09_storm_1920x1280.jpg");
    for cut in [
        jpeg.len() * 3 / 10,
        jpeg.len() / 2,
        jpeg.len() - 100,
        2000,
        300,
    ] {
        let header = resizer::decode::dimensions(&jpeg[..cut], resizer::detect::SourceFormat::Jpeg);
        let decoded = [1, 2, 8].map(|eighths| resizer::decode::decode_jpeg(&jpeg[..cut], eighths));
        for (eighths, result) in [(0, header.map(|_| ()))].into_iter().chain(
            [1, 2, 8]
                .into_iter()
                .zip(decoded.into_iter().map(|r| r.map(|_| ()))),
        ) {
            if eighths == 0 && result.is_ok() {
                continue; // the header alone may still be whole
            }
            let err = result.expect_err("a truncated JPEG is refused");
            let text = err.to_string();
            eprintln!("{cut} bytes at {eighths}/8: {text}");
            assert!(
                text.starts_with("CorruptImage: the JPEG file is truncated"),
                "{cut} bytes at {eighths}/8: {text}"
            );
        }
    }
}

/// A progressive JPEG whose last scan is repeated until it has `scans` scans: a small
/// file that makes the decoder pass over the whole image again for every scan.
fn many_scans(scans: usize) -> Vec<u8> {
    let (w, h) = (2048usize, 2048usize);
    // A smooth gradient: every scan is a few bytes, and the decoder still passes over
    // all 4 Mpx for each.
    let pixels: Vec<u8> = (0..w * h * 3).map(|i| ((i / 3 % w) / 8) as u8).collect();
    let image = turbojpeg::Image {
        pixels: pixels.as_slice(),
        width: w,
        pitch: w * 3,
        height: h,
        format: turbojpeg::PixelFormat::RGB,
    };
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_quality(90).unwrap();
    c.set_progressive(true).unwrap();
    let jpeg = c.compress_to_vec(image).unwrap();
    // The last scan runs from the last SOS marker to EOI (0xFF is stuffed inside
    // entropy-coded data, so FF DA there is always a marker).
    let last_sos = jpeg.windows(2).rposition(|m| m == [0xFF, 0xDA]).unwrap();
    let eoi = jpeg.len() - 2;
    assert_eq!(&jpeg[eoi..], [0xFF, 0xD9]);
    let header_scans = jpeg.windows(2).filter(|m| *m == [0xFF, 0xDA]).count();
    let mut out = jpeg[..eoi].to_vec();
    for _ in header_scans..scans {
        out.extend_from_slice(&jpeg[last_sos..eoi]);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// Issue 12: a progressive JPEG with thousands of scans is refused (libjpeg-turbo's scan
/// limit) as a corrupt image, instead of burning CPU until the Job's deadline.
#[test]
fn a_jpeg_with_thousands_of_scans_is_refused() {
    let bomb = many_scans(5000);
    eprintln!("{} scans in {} bytes", 5000, bomb.len());
    assert!(bomb.len() < 1 << 20, "a small file: {} bytes", bomb.len());
    let started = std::time::Instant::now();
    // Full scale decodes every scan (at 1/8 the AC scans are dropped anyway).
    let Err(err) = resizer::decode::decode_jpeg(&bomb, 8) else {
        panic!("a JPEG of 5000 scans was decoded");
    };
    eprintln!("refused after {:?}", started.elapsed());
    let text = err.to_string();
    assert!(
        text.starts_with("CorruptImage: the JPEG has more than 500 scans"),
        "{text}"
    );
    assert_eq!(resizer::decode::MAX_SCANS, 500);
    // Just under the limit it still decodes: the limit is on scans, not on the image.
    let fine = many_scans(resizer::decode::MAX_SCANS as usize);
    let pixels = resizer::decode::decode_jpeg(&fine, 8).expect("500 scans decode");
    assert_eq!((pixels.width, pixels.height), (2048, 2048));
}

/// Ordinary progressive JPEGs (from the corpus) decode at every scale under the limit.
#[test]
fn ordinary_progressive_jpegs_still_decode() {
    for file in [
        "j07_colorfulcups_2560x1600_prog.jpg",
        "j03_infinitesea_4096x4096_prog.jpg",
    ] {
        let jpeg = corpus(file);
        for eighths in [1, 4, 8] {
            let p = resizer::decode::decode_jpeg(&jpeg, eighths)
                .unwrap_or_else(|e| panic!("{file} at {eighths}/8: {e}"));
            assert!(p.width > 0 && p.height > 0);
        }
    }
}
