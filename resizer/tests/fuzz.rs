//! No crash on any input (issue 13): small valid files of every format and variant the
//! resizer reads, mutated (bit flips, odd bytes, truncations, header fields overwritten,
//! slices repeated) with a fixed seed, each run through the whole pipeline in-process.
//! Every outcome must be a thumbnail or a permanent failure with a message; a panic, or
//! an `InternalError`, fails the test and names the input to keep. A crash inside a C
//! library (libjpeg-turbo, libwebp, Little CMS) kills the test binary, which fails too.
//!
//! Inputs that once crashed are kept in tests/fixtures/fuzz/ and run first. The number
//! of mutations per seed (FUZZ_ROUNDS, default 300) keeps the test under 10 s; a
//! longer hunt: `FUZZ_ROUNDS=5000 FUZZ_SEED=7 cargo nextest run -p resizer --test fuzz`.

mod common;

use std::panic::AssertUnwindSafe;

use image::ImageEncoder as _;
use resizer::contract::{Fit, Format, Reason, Request};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A 48x32 photo-like gradient, with a little noise so that encoders emit real data.
fn pixels(channels: usize) -> (u32, u32, Vec<u8>) {
    pixels_sized(channels, 48, 32)
}

fn pixels_sized(channels: usize, w: u32, h: u32) -> (u32, u32, Vec<u8>) {
    let mut rng = Rng(1);
    let data = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let noise = (rng.next() % 16) as u8;
            [
                (x * 5) as u8 ^ noise,
                (y * 7) as u8,
                ((x + y) * 3) as u8,
                if x < 8 { 0 } else { 255 - y as u8 },
            ]
            .into_iter()
            .take(channels)
            .collect::<Vec<_>>()
        })
        .collect();
    (w, h, data)
}

fn jpeg(format: turbojpeg::PixelFormat, progressive: bool) -> Vec<u8> {
    let subsamp = match format {
        turbojpeg::PixelFormat::GRAY => turbojpeg::Subsamp::Gray,
        turbojpeg::PixelFormat::CMYK => turbojpeg::Subsamp::None,
        _ => turbojpeg::Subsamp::Sub2x2,
    };
    jpeg_subsampled(format, progressive, subsamp, (48, 32))
}

fn jpeg_subsampled(
    format: turbojpeg::PixelFormat,
    progressive: bool,
    subsamp: turbojpeg::Subsamp,
    (w, h): (u32, u32),
) -> Vec<u8> {
    let ch = format.size();
    let (w, h, data) = pixels_sized(ch, w, h);
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_quality(85).unwrap();
    c.set_progressive(progressive).unwrap();
    c.set_subsamp(subsamp).unwrap();
    c.compress_to_vec(turbojpeg::Image {
        pixels: data.as_slice(),
        width: w as usize,
        pitch: w as usize * ch,
        height: h as usize,
        format,
    })
    .unwrap()
}

/// `jpeg` with an APP segment inserted after SOI.
fn with_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn icc_segment(icc: &[u8]) -> Vec<u8> {
    let mut p = b"ICC_PROFILE\0\x01\x01".to_vec();
    p.extend_from_slice(icc);
    p
}

fn encoded(
    encoder: impl FnOnce(&mut Vec<u8>, &[u8], u32, u32, image::ExtendedColorType),
    channels: usize,
    color: image::ExtendedColorType,
) -> Vec<u8> {
    let (w, h, data) = pixels(channels);
    let mut out = Vec::new();
    encoder(&mut out, &data, w, h, color);
    out
}

fn colour_fixture(name: &str) -> Vec<u8> {
    fixture_file("colour", name)
}

fn fixture_file(dir: &str, name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where inputs that once crashed (or decoded differently) are kept, in the package.
const KEPT: &str = "tests/fixtures/fuzz";

/// The kept inputs, sorted: every file in [`KEPT`] but its README.
fn kept_inputs() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(KEPT);
    let mut kept: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_none_or(|x| x != "md"))
                .collect()
        })
        .unwrap_or_default();
    kept.sort();
    kept
}

/// The seeds: one small valid file per format and variant.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    use image::ExtendedColorType as C;
    use turbojpeg::PixelFormat as P;
    let adobe_rgb = resizer::colour::jpeg_icc(&colour_fixture("path-adobergb.jpg")).unwrap();
    let orientation6 = {
        let mut e = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0".to_vec();
        e.extend_from_slice(&[0, 0, 0, 0]);
        e
    };
    let png = |out: &mut Vec<u8>, d: &[u8], w, h, c| {
        image::codecs::png::PngEncoder::new(out)
            .write_image(d, w, h, c)
            .unwrap()
    };
    let png_icc = |out: &mut Vec<u8>, d: &[u8], w, h, c| {
        let mut e = image::codecs::png::PngEncoder::new(out);
        e.set_icc_profile(adobe_rgb.clone()).unwrap();
        e.write_image(d, w, h, c).unwrap()
    };
    let png16 = {
        let (w, h, d) = pixels(3);
        let wide: Vec<u8> = d
            .iter()
            .flat_map(|&v| (v as u16 * 257).to_ne_bytes())
            .collect();
        let mut out = Vec::new();
        png(&mut out, &wide, w, h, C::Rgb16);
        out
    };
    let palette = {
        // A GIF is a palette image; its frames are what `image` writes.
        let (w, h, d) = pixels(4);
        let mut out = Vec::new();
        let frame = image::Frame::new(image::RgbaImage::from_raw(w, h, d).unwrap());
        image::codecs::gif::GifEncoder::new(&mut out)
            .encode_frames([frame.clone(), frame])
            .unwrap();
        out
    };
    let webp_lossy = {
        let (w, h, d) = pixels(3);
        webp::Encoder::from_rgb(&d, w, h)
            .encode_simple(false, 80.0)
            .unwrap()
            .to_vec()
    };
    let webp_alpha = {
        let (w, h, d) = pixels(4);
        webp::Encoder::from_rgba(&d, w, h)
            .encode_simple(false, 80.0)
            .unwrap()
            .to_vec()
    };
    let webp_lossless = encoded(
        |out, d, w, h, c| {
            image::codecs::webp::WebPEncoder::new_lossless(out)
                .write_image(d, w, h, c)
                .unwrap()
        },
        4,
        C::Rgba8,
    );
    let bmp = encoded(
        |out, d, w, h, c| {
            image::codecs::bmp::BmpEncoder::new(out)
                .write_image(d, w, h, c)
                .unwrap()
        },
        3,
        C::Rgb8,
    );
    let tiff = encoded(
        |out, d, w, h, c| {
            image::codecs::tiff::TiffEncoder::new(std::io::Cursor::new(out))
                .write_image(d, w, h, c)
                .unwrap()
        },
        3,
        C::Rgb8,
    );
    let cmyk = jpeg(P::CMYK, false);
    vec![
        ("jpeg baseline", jpeg(P::RGB, false)),
        ("jpeg progressive", jpeg(P::RGB, true)),
        ("jpeg grey", jpeg(P::GRAY, false)),
        (
            "jpeg with ICC and EXIF",
            with_segment(
                &with_segment(&jpeg(P::RGB, false), 0xE2, &icc_segment(&adobe_rgb)),
                0xE1,
                &orientation6,
            ),
        ),
        ("jpeg CMYK", cmyk.clone()),
        (
            "jpeg CMYK with an RGB profile",
            with_segment(&cmyk, 0xE2, &icc_segment(&adobe_rgb)),
        ),
        ("png RGB", encoded(png, 3, C::Rgb8)),
        ("png RGBA with ICC", encoded(png_icc, 4, C::Rgba8)),
        ("png grey", encoded(png, 1, C::L8)),
        ("png 16-bit", png16),
        ("gif animated", palette),
        ("webp lossy", webp_lossy),
        ("webp lossy alpha", webp_alpha),
        ("webp lossless", webp_lossless),
        ("bmp", bmp),
        ("tiff", tiff),
        (
            "tiff JPEG YCbCr",
            fixture_file("tiff", "storm-jpeg-ycbcr.tif"),
        ),
        ("tiff multi-page", fixture_file("tiff", "multipage.tif")),
        (
            "tiff multi-page float (refused)",
            fixture_file("tiff", "multipage_rgb.tif"),
        ),
    ]
}

/// One mutation of `bytes`, and what it was (to reproduce it).
fn mutate(bytes: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = bytes.to_vec();
    let len = b.len();
    let what = match rng.below(6) {
        0 => {
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            format!("{flips} bit flips")
        }
        1 => {
            let i = rng.below(len);
            b[i] = [0x00, 0xFF, 0x7F, 0x80, 0x01, rng.next() as u8][rng.below(6)];
            format!("byte {i} set to {:#04x}", b[i])
        }
        2 => {
            let at = rng.below(len);
            b.truncate(at);
            format!("truncated to {at} bytes")
        }
        3 => {
            // Header fields (sizes, lengths, counts, offsets) live in the first bytes.
            let i = rng.below(len.min(96));
            let value: &[u8] = [
                &[0xFF, 0xFF][..],
                &[0, 0],
                &[0x7F, 0xFF, 0xFF, 0xFF],
                &[0, 0, 0, 1],
                &[0x40, 0x00],
            ][rng.below(5)];
            let end = (i + value.len()).min(len);
            b[i..end].copy_from_slice(&value[..end - i]);
            format!("header bytes at {i} set to {value:02x?}")
        }
        4 => {
            // A slice repeated: duplicated segments, chunks, scans.
            let start = rng.below(len);
            let n = 1 + rng.below((len - start).min(512));
            let slice = b[start..start + n].to_vec();
            let at = rng.below(len);
            b.splice(at..at, slice);
            format!("{n} bytes from {start} repeated at {at}")
        }
        _ => {
            let start = rng.below(len);
            let n = 1 + rng.below((len - start).min(256));
            b.drain(start..start + n);
            format!("{n} bytes removed at {start}")
        }
    };
    (b, what)
}

fn request(n: usize) -> Request {
    let fit = [Fit::Inside, Fit::Cover, Fit::Contain, Fit::Fill][n % 4];
    let width = Some(24 + (n % 3) as u32 * 20);
    let format = [Format::Jpeg, Format::Png, Format::Webp][n % 3];
    let mut request = common::request(width, (fit != Fit::Inside).then_some(20), fit, format, None);
    // Mutated headers declare any size: a small pixel limit keeps each run small.
    request.limits.max_pixels = 4_000_000;
    request
}

/// Runs one input: what came of it ("thumbnail" or the failure's reason); `Err`
/// describes a crash.
fn run(bytes: &[u8], n: usize) -> Result<&'static str, String> {
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        resizer::pipeline::make_thumbnail(bytes, &request(n))
    }));
    match result {
        Ok(Ok(_)) => Ok("thumbnail"),
        Ok(Err(failed)) if failed.reason == Reason::InternalError => Err(failed.to_string()),
        Ok(Err(failed)) => {
            assert!(!failed.reason.is_transient(), "{failed}");
            assert!(
                failed.message.len() > 20,
                "a message that says something: {failed}"
            );
            Ok(failed.reason.as_str())
        }
        Err(panic) => Err(panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())),
    }
}

#[test]
fn mutated_files_of_every_format_never_crash() {
    let seeds = seeds();
    // Every seed but the one refused variant works: the mutations start from good files.
    for (name, bytes) in seeds.iter().filter(|s| !s.0.ends_with("(refused)")) {
        resizer::pipeline::make_thumbnail(bytes, &request(0))
            .unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }
    // Panics are caught and reported below; their default message would repeat them.
    std::panic::set_hook(Box::new(|_| {}));
    let mut crashes = Vec::new();
    let regressions = kept_inputs();
    for (n, path) in regressions.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        if let Err(crash) = run(&bytes, n) {
            crashes.push(format!("{}: {crash}", path.display()));
        }
    }
    let rounds = env_u64("FUZZ_ROUNDS", 300) as usize;
    let mut rng = Rng(env_u64("FUZZ_SEED", 0x5EED_0013));
    let started = std::time::Instant::now();
    let mut runs = 0;
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for (name, seed) in &seeds {
        for round in 0..rounds {
            // Mostly one mutation, sometimes several on top of each other.
            let (mut bytes, mut what) = mutate(seed, &mut rng);
            for _ in 0..rng.below(3).saturating_sub(1) {
                if bytes.is_empty() {
                    break;
                }
                let (more, also) = mutate(&bytes, &mut rng);
                bytes = more;
                what = format!("{what}, then {also}");
            }
            runs += 1;
            let outcome = run(&bytes, round);
            if let Ok(what) = outcome {
                *outcomes.entry(what).or_default() += 1;
            }
            if let Err(crash) = outcome {
                let file = std::env::temp_dir().join(format!(
                    "resizer-fuzz-{}-{round}.bin",
                    name.replace(' ', "-")
                ));
                std::fs::write(&file, &bytes).unwrap();
                crashes.push(format!(
                    "{name}, round {round} ({what}): {crash}; input kept at {} (move it to tests/fixtures/fuzz/)",
                    file.display()
                ));
            }
        }
    }
    let _ = std::panic::take_hook();
    eprintln!(
        "{runs} mutated inputs and {} kept ones in {:?}: {outcomes:?}",
        regressions.len(),
        started.elapsed()
    );
    assert!(
        crashes.is_empty(),
        "{} crashes:\n{}",
        crashes.len(),
        crashes.join("\n")
    );
}

/// The progressive DC-only shortcuts (decode/progressive_dc.rs) parse and re-encode
/// untrusted entropy-coded data: mutated progressive JPEGs of every chroma layout (an
/// odd size), decoded at 1/8 with the shortcut and without. Neither crashes, and
/// whatever the whole file decodes to, the shortcut decodes to the same pixels, or
/// refuses the file as damaged. That refusal is the one asymmetry allowed: TurboJPEG
/// reports only the last of libjpeg's warnings, so in the whole file a harmless one from
/// a later, damaged AC scan ("extraneous bytes before marker") can hide a damaged scan
/// before it, which the shortcut, reading fewer scans, sees and refuses. (The reverse
/// holds too: damage confined to AC scans, which 1/8 does not read, is not seen.)
#[test]
fn mutated_progressive_jpegs_decode_alike_with_the_dc_shortcut() {
    use turbojpeg::{PixelFormat as P, Subsamp as S};
    // An odd size: partial blocks and MCUs, padding in the interleaved scans.
    let size = (45, 29);
    let seeds = [
        ("4:4:4", jpeg_subsampled(P::RGB, true, S::None, size)),
        ("4:2:2", jpeg_subsampled(P::RGB, true, S::Sub2x1, size)),
        ("4:4:0", jpeg_subsampled(P::RGB, true, S::Sub1x2, size)),
        ("4:1:1", jpeg_subsampled(P::RGB, true, S::Sub4x1, size)),
        ("4:2:0", jpeg_subsampled(P::RGB, true, S::Sub2x2, size)),
        ("grey", jpeg_subsampled(P::GRAY, true, S::Gray, size)),
        ("CMYK", jpeg_subsampled(P::CMYK, true, S::None, size)),
    ];
    let rounds = env_u64("FUZZ_ROUNDS", 300) as usize;
    let mut rng = Rng(env_u64("FUZZ_SEED", 0x5EED_0013) ^ 0xDC);
    let mut problems = Vec::new();
    let (mut alike, mut stricter) = (0, 0);
    // The inputs that once decoded differently (tests/fixtures/fuzz/dc-*) come first.
    let regressions: Vec<_> = kept_inputs()
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("dc-"))
        .collect();
    assert!(!regressions.is_empty(), "the kept inputs are in {KEPT}");
    let inputs = regressions
        .iter()
        .map(|path| (path.display().to_string(), None))
        .chain(
            seeds
                .iter()
                .flat_map(|(name, seed)| (0..rounds).map(move |_| (name.to_string(), Some(seed)))),
        );
    for (round, (name, seed)) in inputs.enumerate() {
        let (bytes, what) = match seed {
            Some(seed) => mutate(seed, &mut rng),
            None => (std::fs::read(&name).unwrap(), "kept input".to_string()),
        };
        let decode = |shortcut| {
            std::panic::catch_unwind(|| {
                resizer::decode::decode_jpeg_with(&bytes, 1, shortcut).map(|p| p.data)
            })
        };
        let problem = match (decode(false), decode(true)) {
            (Ok(full), Ok(fast)) => match (full, fast) {
                (Ok(full), Ok(fast)) if full == fast => {
                    alike += 1;
                    None
                }
                (Ok(_), Ok(_)) => Some("pixels differ".to_string()),
                (Ok(_), Err(e)) if e.reason == Reason::CorruptImage => {
                    stricter += 1;
                    None
                }
                (Ok(_), Err(e)) => Some(format!("only the shortcut fails: {e}")),
                _ => None,
            },
            _ => Some("a panic".to_string()),
        };
        if let Some(problem) = problem {
            let file = std::env::temp_dir().join(format!("resizer-fuzz-dc-{round}.jpg"));
            std::fs::write(&file, &bytes).unwrap();
            problems.push(format!(
                "{name} ({what}): {problem}; input kept at {} (move it to {KEPT}/)",
                file.display()
            ));
        }
    }
    eprintln!(
        "{alike} mutated progressive JPEGs decoded alike, {stricter} refused by the shortcut alone"
    );
    assert!(alike > 0, "some mutations still decode");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Damaged ICC profiles (Little CMS parses them from untrusted uploads): every profile
/// kind the fixtures carry, mutated, never crashes the conversion; a profile it cannot
/// read leaves the pixels as they are.
#[test]
fn mutated_icc_profiles_never_crash() {
    let jpeg_profile = |name: &str| resizer::colour::jpeg_icc(&colour_fixture(name)).unwrap();
    let profiles = [
        ("Adobe RGB", jpeg_profile("path-adobergb.jpg"), 150),
        ("ProPhoto", jpeg_profile("path-prophoto.jpg"), 200),
        ("Display P3", jpeg_profile("path-displayp3.jpg"), 200),
        ("grey L*", jpeg_profile("path-grey-lstar.jpg"), 300),
        // 187 KB of 4-D tables: ~0.1 s a round (two transforms), so few rounds.
        ("SWOP CMYK", jpeg_profile("wood-swop-cmyk.jpg"), 12),
    ];
    let (w, h, rgb) = pixels(3);
    let (_, _, rgba) = pixels(4);
    let (_, _, grey) = pixels(1);
    let (_, _, cmyk) = pixels(4);
    let mut rng = Rng(env_u64("FUZZ_SEED", 0x5EED_0013));
    let mut runs = 0;
    for (name, profile, rounds) in profiles {
        let started = std::time::Instant::now();
        for round in 0..rounds {
            let (bad, what) = mutate(&profile, &mut rng);
            let outcome = std::panic::catch_unwind(|| {
                for (layout, data) in [
                    (resizer::pixels::Layout::Rgb, &rgb),
                    (resizer::pixels::Layout::Rgba, &rgba),
                    (resizer::pixels::Layout::Gray, &grey),
                ] {
                    let img = resizer::pixels::Pixels::new(w, h, layout, data.clone());
                    let out = resizer::colour::to_srgb(img, &bad);
                    assert_eq!((out.width, out.height, out.layout), (w, h, layout));
                }
                for inverted in [false, true] {
                    if let Some(out) = resizer::colour::cmyk_to_srgb(&cmyk, inverted, &bad) {
                        assert_eq!(out.len(), cmyk.len() / 4 * 3);
                    }
                }
            });
            runs += 1;
            assert!(outcome.is_ok(), "{name} profile, round {round} ({what})");
        }
        eprintln!("{name}: {rounds} in {:?}", started.elapsed());
    }
    eprintln!("{runs} mutated profiles");
}
