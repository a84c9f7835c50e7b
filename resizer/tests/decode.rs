//! Decoder shortcuts against the straightforward decode, on real photos (no S3).

use thumbnail_testkit::corpus;

/// Dropping a progressive JPEG's AC scans at 1/8 scale changes no pixel, and reads far
/// less of the file.
#[test]
fn progressive_dc_only_decode_is_pixel_identical_at_one_eighth() {
    for file in [
        "j07_colorfulcups_2560x1600_prog.jpg",
        "j03_infinitesea_4096x4096_prog.jpg",
    ] {
        let jpeg = corpus(file);
        let dc = resizer::decode::progressive_dc_only(&jpeg).expect("parses");
        assert!(
            dc.len() * 2 < jpeg.len(),
            "{file}: kept {} of {} bytes",
            dc.len(),
            jpeg.len()
        );
        eprintln!("{file}: kept {} of {} bytes", dc.len(), jpeg.len());
        let fast = resizer::decode::decode_jpeg_with(&jpeg, 1, true).unwrap();
        let full = resizer::decode::decode_jpeg_with(&jpeg, 1, false).unwrap();
        assert_eq!((fast.width, fast.height), (full.width, full.height));
        let max_diff = fast
            .data
            .iter()
            .zip(&full.data)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert_eq!(max_diff, 0, "{file}: pixels differ by up to {max_diff}");
    }
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
