//! AVIF in and out, and HEIC refused, on real files made at test time from corpus photos
//! by independent tools: Debian's avifenc/avifdec (libavif-bin: its own libavif build
//! with Debian's dav1d and libaom) and heif-enc (libheif-examples: libheif with x265).
//! hack/install-deps.sh installs them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use resizer::contract::{Fit, Format, Reason, Request};
use resizer::pipeline::make_thumbnail;
use resizer::pixels::{Layout, Pixels};
use thumbnail_testkit::corpus;

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("resizer-formats-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command-line argument: a word or a path.
type Arg<'a> = &'a dyn AsRef<std::ffi::OsStr>;

/// Runs a format tool; a missing tool fails the test with what to install.
fn tool(name: &str, args: &[Arg]) {
    let out = Command::new(name)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap_or_else(|e| {
            panic!("{name} cannot run ({e}): run hack/install-deps.sh (Debian libavif-bin, libheif-examples)")
        });
    assert!(
        out.status.success(),
        "{name} {:?} failed: {}{}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn request(width: u32, format: Format) -> Request {
    common::request(Some(width), None, Fit::Inside, format, None)
}

/// Mean absolute difference per channel, over the channels both images have.
fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y) as f64)
        .sum::<f64>()
        / a.len() as f64
}

/// Mean absolute difference of what is seen: colour weighted by alpha (the colour of a
/// nearly transparent pixel does not show, and encoders spend no bits on it), and alpha.
fn visible_diff(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    let mut sum = 0.0;
    for (p, q) in a.pixels().zip(b.pixels()) {
        for c in 0..3 {
            sum += (p[c] as f64 * p[3] as f64 - q[c] as f64 * q[3] as f64).abs() / 255.0;
        }
        sum += p[3].abs_diff(q[3]) as f64;
    }
    sum / (a.len() as f64)
}

fn load_png(path: &Path) -> image::DynamicImage {
    image::load_from_memory(&std::fs::read(path).unwrap()).unwrap()
}

fn write_png(path: &Path, p: &Pixels) {
    let color = match p.layout {
        Layout::Gray => image::ExtendedColorType::L8,
        Layout::Rgb => image::ExtendedColorType::Rgb8,
        Layout::Rgba => image::ExtendedColorType::Rgba8,
    };
    image::save_buffer(path, &p.data, p.width, p.height, color).unwrap();
}

/// The astronaut (512x512 RGB photo) as decoded pixels.
fn astronaut() -> Pixels {
    let img = image::load_from_memory(&corpus("p01_astronaut_512x512.png"))
        .unwrap()
        .to_rgb8();
    Pixels::new(img.width(), img.height(), Layout::Rgb, img.into_raw())
}

/// `rgb` with an alpha gradient from opaque (left) to clear (right).
fn with_alpha_gradient(rgb: &Pixels) -> Pixels {
    let mut data = Vec::with_capacity(rgb.data.len() / 3 * 4);
    for (i, px) in rgb.data.chunks_exact(3).enumerate() {
        let x = i as u32 % rgb.width;
        data.extend_from_slice(px);
        data.push(255 - (x * 255 / (rgb.width - 1)) as u8);
    }
    Pixels::new(rgb.width, rgb.height, Layout::Rgba, data)
}

/// Our AVIF thumbnails decode in another decoder (Debian's avifdec), look like the same
/// thumbnail made losslessly (PNG) within a small difference, and keep alpha.
#[test]
fn avif_output_decodes_in_an_independent_decoder() {
    let dir = scratch("out");
    let transparent = dir.join("astronaut-alpha.png");
    write_png(&transparent, &with_alpha_gradient(&astronaut()));
    for (file, source, width, bound) in [
        (
            "p01_astronaut_512x512.png",
            corpus("p01_astronaut_512x512.png"),
            256,
            3.0,
        ),
        (
            "j09_storm_1920x1280.jpg",
            corpus("j09_storm_1920x1280.jpg"),
            480,
            3.0,
        ),
        // RGBA, all opaque: libavif leaves the alpha plane out.
        (
            "p03_goldfish_3640x2400_rgba.png",
            corpus("p03_goldfish_3640x2400_rgba.png"),
            320,
            3.0,
        ),
        (
            "astronaut-alpha.png",
            std::fs::read(&transparent).unwrap(),
            200,
            3.0,
        ),
    ] {
        let avif = make_thumbnail(&source, &request(width, Format::Avif)).unwrap();
        let png = make_thumbnail(&source, &request(width, Format::Png)).unwrap();
        assert_eq!((avif.width, avif.height), (png.width, png.height), "{file}");
        assert!(
            avif.bytes.starts_with(b"\0\0\0") && &avif.bytes[4..12] == b"ftypavif",
            "{file}"
        );
        assert_eq!(
            resizer::detect::detect(&avif.bytes).unwrap(),
            resizer::detect::SourceFormat::Avif
        );
        let path = dir.join(format!("{file}.avif"));
        std::fs::write(&path, &avif.bytes).unwrap();
        let decoded_path = dir.join(format!("{file}.avif.png"));
        tool("avifdec", &[&path, &decoded_path]);
        let theirs = load_png(&decoded_path);
        let reference = image::load_from_memory(&png.bytes).unwrap();
        assert_eq!(
            (theirs.width(), theirs.height()),
            (avif.width, avif.height),
            "{file}"
        );
        let translucent = reference.to_rgba8().pixels().any(|p| p[3] < 255);
        assert_eq!(theirs.color().has_alpha(), translucent, "{file}");
        let diff = visible_diff(&theirs.to_rgba8(), &reference.to_rgba8());
        eprintln!(
            "{file} at {width} px: {} bytes AVIF (PNG {}), mean abs diff {diff:.2}, encode {} ms",
            avif.bytes.len(),
            png.bytes.len(),
            avif.encode_ms
        );
        assert!(diff <= bound, "{file}: mean abs diff {diff:.2} > {bound}");
        if translucent {
            // Alpha is coded losslessly.
            let (a, b) = (theirs.to_rgba8(), reference.to_rgba8());
            let worst = a
                .pixels()
                .zip(b.pixels())
                .map(|(p, q)| p[3].abs_diff(q[3]))
                .max();
            assert_eq!(worst, Some(0), "{file}: alpha changed");
        }
    }
}

/// `quality` means what it does in sharp and avifenc: higher is larger and closer.
#[test]
fn avif_quality_orders_size_and_fidelity() {
    let source = corpus("j09_storm_1920x1280.jpg");
    let png = make_thumbnail(&source, &request(400, Format::Png)).unwrap();
    let reference = image::load_from_memory(&png.bytes).unwrap().to_rgb8();
    let mut last: Option<(usize, f64)> = None;
    for quality in [20, 50, 80, 95] {
        let mut r = request(400, Format::Avif);
        r.quality = Some(quality);
        let t = make_thumbnail(&source, &r).unwrap();
        let (decoded, _, _) = resizer::decode::decode_avif(&t.bytes, u64::MAX).unwrap();
        let diff = mean_abs_diff(&decoded.data, &reference);
        eprintln!(
            "quality {quality}: {} bytes, mean abs diff {diff:.2}",
            t.bytes.len()
        );
        if let Some((bytes, d)) = last {
            assert!(
                t.bytes.len() > bytes,
                "quality {quality}: {} bytes",
                t.bytes.len()
            );
            assert!(
                diff < d,
                "quality {quality}: diff {diff:.2} not below {d:.2}"
            );
        }
        last = Some((t.bytes.len(), diff));
    }
}

/// AVIFs written by two independent encoders (avifenc; libheif's heif-enc), 8- and
/// 10-bit, with and without alpha, decode to the pixels they were made from.
#[test]
fn avif_input_from_other_encoders_round_trips() {
    let dir = scratch("in");
    let rgb = astronaut();
    let rgb_png = dir.join("astronaut.png");
    write_png(&rgb_png, &rgb);
    let rgba = with_alpha_gradient(&rgb);
    let rgba_png = dir.join("astronaut-alpha.png");
    write_png(&rgba_png, &rgba);

    let cases: [(&str, &Pixels, Vec<Arg>, &str); 4] = [
        (
            "avifenc",
            &rgb,
            vec![&"--min", &"4", &"--max", &"8", &"-s", &"8", &rgb_png],
            "a8.avif",
        ),
        (
            "avifenc",
            &rgb,
            vec![
                &"-d", &"10", &"-y", &"420", &"--min", &"4", &"--max", &"8", &"-s", &"8", &rgb_png,
            ],
            "a10.avif",
        ),
        (
            "avifenc",
            &rgba,
            vec![&"--min", &"4", &"--max", &"8", &"-s", &"8", &rgba_png],
            "alpha.avif",
        ),
        (
            "heif-enc",
            &rgba,
            vec![&"-A", &"-q", &"90", &rgba_png, &"-o"],
            "heif-enc.avif",
        ),
    ];
    for (encoder, want, args, name) in cases {
        let out = dir.join(name);
        let mut args = args;
        args.push(&out);
        tool(encoder, &args);
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(
            resizer::detect::detect(&bytes).unwrap(),
            resizer::detect::SourceFormat::Avif,
            "{name}"
        );
        assert_eq!(
            resizer::decode::avif_dimensions(&bytes).unwrap(),
            (512, 512),
            "{name}"
        );
        let (got, orientation, _) = resizer::decode::decode_avif(&bytes, 100_000_000).unwrap();
        assert_eq!(orientation.value(), 1, "{name}");
        assert_eq!(
            (got.width, got.height, got.layout),
            (512, 512, want.layout),
            "{name}"
        );
        let diff = mean_abs_diff(&got.data, &want.data);
        eprintln!(
            "{name} ({encoder}): {} bytes, mean abs diff {diff:.2}",
            bytes.len()
        );
        assert!(diff <= 2.5, "{name}: mean abs diff {diff:.2}");
        // And through the whole pipeline, into each output format.
        for format in [Format::Jpeg, Format::Webp, Format::Avif, Format::Png] {
            let t = make_thumbnail(&bytes, &request(128, format)).unwrap();
            assert_eq!(
                (t.width, t.height, t.source_width),
                (128, 128, 512),
                "{name} -> {format:?}"
            );
        }
    }
}

/// HEIF's rotation and mirror properties (irot, imir) orient the thumbnail like EXIF
/// orientation does for JPEG.
#[test]
fn avif_irot_and_imir_are_applied() {
    let dir = scratch("orient");
    // A 512x256 strip: landscape as stored.
    let a = astronaut();
    let strip = Pixels::new(512, 256, Layout::Rgb, a.data[..512 * 256 * 3].to_vec());
    let png = dir.join("strip.png");
    write_png(&png, &strip);
    for (irot, imir, displayed) in [
        (None, None, (128, 64)),
        (Some("1"), None, (64, 128)),
        (Some("3"), Some("1"), (64, 128)),
        (None, Some("0"), (128, 64)),
    ] {
        let out = dir.join(format!("strip-{irot:?}-{imir:?}.avif"));
        let mut args: Vec<Arg> = vec![&"--min", &"0", &"--max", &"0", &"-s", &"9"];
        if let Some(r) = &irot {
            args.extend([&"--irot" as Arg, r]);
        }
        if let Some(m) = &imir {
            args.extend([&"--imir" as Arg, m]);
        }
        args.extend([&png as Arg, &out]);
        tool("avifenc", &args);
        let bytes = std::fs::read(&out).unwrap();
        let mut r = request(displayed.0, Format::Png);
        r.height = Some(displayed.1);
        r.width = Some(displayed.0);
        let t = make_thumbnail(&bytes, &r).unwrap();
        assert_eq!(
            (t.width, t.height),
            displayed,
            "irot {irot:?} imir {imir:?}"
        );
        assert_eq!(
            (t.source_width, t.source_height),
            if displayed.0 > displayed.1 {
                (512, 256)
            } else {
                (256, 512)
            }
        );
        // The pixels: the stored strip transformed as the properties say, shrunk 4x.
        let (stored, orientation, _) = resizer::decode::decode_avif(&bytes, u64::MAX).unwrap();
        let want = orientation.apply(stored);
        let got = image::load_from_memory(&t.bytes).unwrap().to_rgb8();
        let small = image::imageops::resize(
            &image::RgbImage::from_raw(want.width, want.height, want.data).unwrap(),
            displayed.0,
            displayed.1,
            image::imageops::FilterType::Lanczos3,
        );
        let diff = mean_abs_diff(&got, &small);
        assert!(
            diff < 3.0,
            "irot {irot:?} imir {imir:?}: mean abs diff {diff:.2}"
        );
    }
}

/// Damaged AVIF files are refused as corrupt with a message naming AVIF, never a crash.
#[test]
fn truncated_avif_is_corrupt() {
    let dir = scratch("trunc");
    let png = dir.join("a.png");
    write_png(&png, &astronaut());
    let out = dir.join("a.avif");
    tool("avifenc", &[&"-s", &"9", &png, &out]);
    let bytes = std::fs::read(&out).unwrap();
    for cut in [40, 200, bytes.len() / 2, bytes.len() - 10] {
        let e = make_thumbnail(&bytes[..cut], &request(64, Format::Jpeg)).unwrap_err();
        eprintln!("{cut} of {} bytes: {e}", bytes.len());
        assert_eq!(e.reason, Reason::CorruptImage, "{cut}: {e}");
        assert!(e.message.contains("AVIF"), "{cut}: {e}");
    }
}

/// A real HEIC (HEVC-coded, as phones write it) is refused with UnsupportedFormat and a
/// message that names HEIC and what to convert it to.
#[test]
fn heic_is_refused_naming_the_format() {
    let dir = scratch("heic");
    let png = dir.join("a.png");
    write_png(&png, &astronaut());
    let out = dir.join("a.heic");
    tool("heif-enc", &[&"-q", &"50", &png, &"-o", &out]);
    let e = make_thumbnail(&std::fs::read(&out).unwrap(), &request(64, Format::Jpeg)).unwrap_err();
    assert_eq!(e.reason, Reason::UnsupportedFormat, "{e}");
    assert!(
        e.message.contains("HEIC") && e.message.contains("JPEG"),
        "{e}"
    );
}
