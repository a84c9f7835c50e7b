//! The real `resizer` binary against a real S3 server (SeaweedFS, started by
//! `make test` / hack/test.sh) on real photos from the corpus.
//!
//! The servers and the corpus come from `thumbnail_testkit`. Every test creates its own
//! bucket.

#[path = "common/binary.rs"]
mod binary;

use aws_sdk_s3::primitives::ByteStream;
use image::{GenericImageView, ImageEncoder};
use resizer::contract::{Failure, RunResult, Success, EXIT_OK, EXIT_PERMANENT, EXIT_TRANSIENT};
use thumbnail_testkit::{corpus, S3Env};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A fresh bucket on the test server, with helpers to put and get objects.
struct Bucket {
    env: S3Env,
    name: String,
    client: aws_sdk_s3::Client,
    rt: tokio::runtime::Runtime,
}

impl Bucket {
    fn new(test: &str) -> Bucket {
        let rt = rt();
        let env = rt.block_on(async { S3Env::from_env() });
        let name = rt.block_on(env.new_bucket(&format!("rz-{test}")));
        let client = env.client.clone();
        Bucket {
            env,
            name,
            client,
            rt,
        }
    }

    fn put(&self, key: &str, bytes: Vec<u8>) {
        self.rt
            .block_on(
                self.client
                    .put_object()
                    .bucket(&self.name)
                    .key(key)
                    .body(ByteStream::from(bytes))
                    .send(),
            )
            .unwrap();
    }

    fn get(&self, key: &str) -> (Vec<u8>, aws_sdk_s3::operation::get_object::GetObjectOutput) {
        self.rt.block_on(async {
            let mut out = self
                .client
                .get_object()
                .bucket(&self.name)
                .key(key)
                .send()
                .await
                .unwrap();
            let body = std::mem::replace(&mut out.body, ByteStream::from_static(b""));
            (body.collect().await.unwrap().into_bytes().to_vec(), out)
        })
    }

    /// Runs the resizer on `source` with extra `args`; returns exit code and result.
    fn resize(&self, source: &str, output: &str, args: &[&str]) -> (i32, RunResult) {
        self.resize_at(&self.env.endpoint.clone(), source, output, args)
    }

    fn resize_at(
        &self,
        endpoint: &str,
        source: &str,
        output: &str,
        args: &[&str],
    ) -> (i32, RunResult) {
        let args: Vec<String> = [
            format!("--source-bucket={}", self.name),
            format!("--source-key={source}"),
            format!("--output-bucket={}", self.name),
            format!("--output-key={output}"),
        ]
        .into_iter()
        .chain(args.iter().map(|a| a.to_string()))
        .collect();
        let (code, json) = binary::run(
            &args,
            endpoint,
            &self.env,
            &format!("resizer-test-{}", self.name),
            output,
        );
        let result =
            RunResult::from_json(&json).unwrap_or_else(|e| panic!("unreadable result {json}: {e}"));
        assert_eq!(
            code,
            result.exit_code(),
            "exit code and result agree: {json}"
        );
        (code, result)
    }

    fn thumbnail(
        &self,
        source: &str,
        output: &str,
        args: &[&str],
    ) -> (Success, image::DynamicImage) {
        match self.resize(source, output, args) {
            (EXIT_OK, RunResult::Success(s)) => {
                let (bytes, _) = self.get(output);
                assert_eq!(bytes.len() as u64, s.bytes);
                let img = image::load_from_memory(&bytes).unwrap();
                assert_eq!((img.width(), img.height()), (s.width, s.height));
                (s, img)
            }
            (code, other) => panic!("{source} {args:?}: exit {code}, {other:?}"),
        }
    }

    fn failure(&self, source: &str, args: &[&str]) -> (i32, Failure) {
        match self.resize(source, "never.jpg", args) {
            (code, RunResult::Failure(f)) => {
                assert!(
                    f.message.len() > 20,
                    "a message that tells the user something: {f:?}"
                );
                (code, f)
            }
            other => panic!("{source} should have failed: {other:?}"),
        }
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // Remove the bucket: SeaweedFS gives each bucket volumes of its own.
        let (client, name) = (&self.client, &self.name);
        self.rt.block_on(async {
            if let Ok(listed) = client.list_objects_v2().bucket(name).send().await {
                for object in listed.contents() {
                    if let Some(key) = object.key() {
                        let _ = client.delete_object().bucket(name).key(key).send().await;
                    }
                }
            }
            let _ = client.delete_bucket().bucket(name).send().await;
        });
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("resizer-test-{}", self.name)),
        );
    }
}

/// Mean absolute difference per channel of two same-sized images, as RGB.
fn mean_abs_diff(a: &image::DynamicImage, b: &image::DynamicImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn real_photos_round_trip_in_every_output_format() {
    let b = Bucket::new("roundtrip");
    // (file, expected 256-box inside size), sizes from the files' known dimensions.
    let cases = [
        ("j01_kleiber_6028x3391.jpg", (256, 144)), // baseline JPEG, 20 MP
        ("j07_colorfulcups_2560x1600_prog.jpg", (256, 160)), // progressive JPEG
        ("j08_coldripple_2560x1600_mono.jpg", (256, 160)),
        ("p03_goldfish_3640x2400_rgba.png", (256, 169)), // RGBA PNG
        ("d05_fallenleaf_2560x1600.webp", (256, 160)),   // lossy WebP
        ("d04_storm_1920x1280.gif", (256, 171)),         // GIF
    ];
    for (file, size) in cases {
        b.put(file, corpus(file));
        for (format, content_type) in [
            ("jpeg", "image/jpeg"),
            ("png", "image/png"),
            ("webp", "image/webp"),
        ] {
            let out = format!("thumbs/{file}.{format}");
            let (s, img) = b.thumbnail(
                file,
                &out,
                &["--width=256", "--height=256", &format!("--format={format}")],
            );
            assert_eq!((s.width, s.height), size, "{file} -> {format}");
            assert_eq!(s.content_type, content_type);
            assert_eq!(s.output.key, out);
            assert_eq!(s.output.bucket, b.name);
            let (_, head) = b.get(&out);
            assert_eq!(head.content_type(), Some(content_type));
            assert_eq!(
                head.cache_control(),
                Some("public, max-age=31536000, immutable")
            );
            let meta = head.metadata().unwrap();
            assert_eq!(meta.get("source-key").map(String::as_str), Some(file));
            assert_eq!(meta.get("width"), Some(&size.0.to_string()));
            // A photo, not a blank: real variation in the pixels.
            let rgb = img.to_rgb8();
            let (min, max) = rgb
                .as_raw()
                .iter()
                .fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            assert!(
                max - min > 100,
                "{file} -> {format}: flat image ({min}..{max})"
            );
        }
    }
}

#[test]
fn every_fit_mode_gives_the_right_size_for_every_aspect_ratio() {
    let b = Bucket::new("fits");
    // Landscape, portrait (EXIF-rotated), square sources.
    let sources = [
        ("j09_storm_1920x1280.jpg", (1920u32, 1280u32)),
        ("d02_path_2560x1600_orient6.jpg", (1600, 2560)),
        ("p01_astronaut_512x512.png", (512, 512)),
    ];
    for (file, (sw, sh)) in sources {
        b.put(file, corpus(file));
        for (w, h) in [(200u32, 100u32), (100, 200), (150, 150)] {
            // inside: the whole image within the box, aspect kept (rounded).
            let scale = (w as f64 / sw as f64).min(h as f64 / sh as f64);
            let inside = (
                (sw as f64 * scale).round() as u32,
                (sh as f64 * scale).round() as u32,
            );
            for (fit, want) in [
                ("inside", inside),
                ("cover", (w, h)),
                ("contain", (w, h)),
                ("fill", (w, h)),
            ] {
                let out = format!("{file}-{fit}-{w}x{h}.png");
                let (s, img) = b.thumbnail(
                    file,
                    &out,
                    &[
                        &format!("--width={w}"),
                        &format!("--height={h}"),
                        &format!("--fit={fit}"),
                        "--format=png",
                    ],
                );
                assert_eq!((s.width, s.height), want, "{file} {fit} {w}x{h}");
                let rgba = img.to_rgba8();
                let corner = rgba.get_pixel(0, 0)[3];
                let centre = rgba.get_pixel(s.width / 2, s.height / 2)[3];
                assert_eq!(centre, 255, "{file} {fit} {w}x{h}: the image is centred");
                // contain pads (transparent in PNG) unless the aspect ratios match.
                let padded = fit == "contain" && inside != (w, h);
                assert_eq!(
                    corner == 0,
                    padded,
                    "{file} {fit} {w}x{h}: corner alpha {corner}"
                );
            }
        }
        // Only a width: the height follows the aspect ratio.
        let (s, _) = b.thumbnail(file, &format!("{file}-w.jpg"), &["--width=128"]);
        assert_eq!(
            (s.width, s.height),
            (128, (sh as f64 * 128.0 / sw as f64).round() as u32),
            "{file} width only"
        );
    }
}

#[test]
fn exif_orientation_6_comes_out_portrait_like_the_upright_original() {
    let b = Bucket::new("orient");
    b.put("rotated.jpg", corpus("d02_path_2560x1600_orient6.jpg"));
    b.put("upright.jpg", corpus("j05_path_2560x1600.jpg"));
    let (s, rotated) = b.thumbnail(
        "rotated.jpg",
        "r.png",
        &["--width=256", "--height=256", "--format=png"],
    );
    assert_eq!((s.width, s.height), (160, 256));
    assert_eq!((s.source_width, s.source_height), (1600, 2560));
    // d02 carries j05's pixels with Orientation=6 ("rotate 90 degrees clockwise to
    // display"), so its thumbnail is j05's thumbnail turned clockwise.
    let (_, upright) = b.thumbnail(
        "upright.jpg",
        "u.png",
        &["--width=256", "--height=256", "--format=png"],
    );
    assert_eq!((upright.width(), upright.height()), (256, 160));
    let clockwise = mean_abs_diff(&rotated, &upright.rotate90());
    let counter = mean_abs_diff(&rotated, &upright.rotate270());
    assert!(
        clockwise < 1.5,
        "not the clockwise-turned original: mean difference {clockwise:.2}"
    );
    assert!(
        counter > 10.0,
        "the test cannot tell the turns apart: {counter:.2}"
    );
}

#[test]
fn cmyk_jpeg_colours_match_the_rgb_original() {
    let b = Bucket::new("cmyk");
    b.put("cmyk.jpg", corpus("d01_wood_2560x1920_cmyk.jpg"));
    b.put("rgb.jpg", corpus("j04_wood_2560x1920.jpg"));
    let (_, cmyk) = b.thumbnail("cmyk.jpg", "c.png", &["--width=256", "--format=png"]);
    let (_, rgb) = b.thumbnail("rgb.jpg", "r.png", &["--width=256", "--format=png"]);
    let diff = mean_abs_diff(&cmyk, &rgb);
    assert!(
        diff < 4.0,
        "CMYK thumbnail colours differ from the RGB original's by {diff:.2} per channel"
    );
    // An inverted interpretation would be far off: the test can tell.
    let inverted = image::DynamicImage::ImageRgb8(image::ImageBuffer::from_fn(
        rgb.width(),
        rgb.height(),
        |x, y| {
            let p = rgb.to_rgb8().get_pixel(x, y).0;
            image::Rgb([255 - p[0], 255 - p[1], 255 - p[2]])
        },
    ));
    assert!(mean_abs_diff(&cmyk, &inverted) > 40.0);
}

fn png_bytes(width: u32, height: u32, color: image::ExtendedColorType, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(raw, width, height, color)
        .unwrap();
    out
}

#[test]
fn sixteen_bit_png_is_converted_to_8_bit_correctly() {
    let b = Bucket::new("png16");
    // 400x200 16-bit RGB: left half (0x8000, 0x4000, 0xFFFF), right half (0x1000, 0xF000, 0).
    let (w, h) = (400u32, 200u32);
    let mut raw = Vec::new();
    for _y in 0..h {
        for x in 0..w {
            let px: [u16; 3] = if x < w / 2 {
                [0x8000, 0x4000, 0xFFFF]
            } else {
                [0x1000, 0xF000, 0]
            };
            for v in px {
                raw.extend_from_slice(&v.to_be_bytes()); // PNG stores big-endian samples
            }
        }
    }
    // PngEncoder takes native-endian 16-bit samples.
    let native: Vec<u8> = raw
        .chunks_exact(2)
        .flat_map(|c| u16::from_be_bytes([c[0], c[1]]).to_ne_bytes())
        .collect();
    let png = png_bytes(w, h, image::ExtendedColorType::Rgb16, &native);
    assert_eq!(
        image::load_from_memory(&png).unwrap().color(),
        image::ColorType::Rgb16
    );
    b.put("deep.png", png);
    let (s, img) = b.thumbnail("deep.png", "deep-out.png", &["--width=100", "--format=png"]);
    assert_eq!((s.width, s.height), (100, 50));
    let rgb = img.to_rgb8();
    assert_eq!(img.color(), image::ColorType::Rgb8);
    // 8-bit value = round(v * 255 / 65535), not a truncating v >> 8.
    let to8 = |px: [u16; 3]| px.map(|v| (v as f64 * 255.0 / 65535.0).round() as u8);
    assert_eq!(rgb.get_pixel(10, 25).0, to8([0x8000, 0x4000, 0xFFFF]));
    assert_eq!(rgb.get_pixel(90, 25).0, to8([0x1000, 0xF000, 0]));
}

#[test]
fn transparency_is_kept_in_png_and_webp_and_white_in_jpeg() {
    let b = Bucket::new("alpha");
    // 400x200 RGBA: left half fully transparent (colour black), right half opaque blue.
    let (w, h) = (400u32, 200u32);
    let raw: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            if i % w < w / 2 {
                [0, 0, 0, 0]
            } else {
                [0, 0, 255, 255]
            }
        })
        .collect();
    b.put(
        "alpha.png",
        png_bytes(w, h, image::ExtendedColorType::Rgba8, &raw),
    );
    for format in ["png", "webp"] {
        let (_, img) = b.thumbnail(
            "alpha.png",
            &format!("a.{format}"),
            &["--width=200", &format!("--format={format}")],
        );
        let rgba = img.to_rgba8();
        assert!(img.color().has_alpha(), "{format} keeps alpha");
        assert_eq!(
            rgba.get_pixel(10, 50)[3],
            0,
            "{format}: transparent stays transparent"
        );
        let p = rgba.get_pixel(190, 50).0;
        assert_eq!(p[3], 255, "{format}: opaque stays opaque");
        assert!(p[2] > 230 && p[0] < 25, "{format}: blue stays blue, {p:?}");
        // Premultiplied resize: no dark fringe at the edge of the opaque half.
        let edge = rgba.get_pixel(101, 50).0;
        assert!(
            edge[2] > 200,
            "{format}: dark fringe at the alpha edge {edge:?}"
        );
    }
    let (_, img) = b.thumbnail("alpha.png", "a.jpg", &["--width=200", "--format=jpeg"]);
    let rgb = img.to_rgb8();
    assert!(!img.color().has_alpha());
    let left = rgb.get_pixel(10, 50).0;
    assert!(
        left.iter().all(|&c| c > 245),
        "JPEG background is white: {left:?}"
    );
    let right = rgb.get_pixel(190, 50).0;
    assert!(
        right[2] > 220 && right[0] < 40,
        "blue stays blue: {right:?}"
    );
    // contain pads JPEG with white, PNG with transparency.
    let (_, img) = b.thumbnail(
        "alpha.png",
        "c.jpg",
        &["--width=100", "--height=100", "--fit=contain"],
    );
    assert!(img.to_rgb8().get_pixel(50, 2).0.iter().all(|&c| c > 245));
}

/// A PNG whose header declares `w` x `h` but that carries almost no data.
fn pixel_bomb(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn bad_input_fails_with_a_permanent_reason() {
    let b = Bucket::new("bad");
    let jpeg = corpus("j09_storm_1920x1280.jpg");
    b.put("empty.jpg", Vec::new());
    b.put(
        "text.jpg",
        b"this is not an image, it is a text file\n".to_vec(),
    );
    b.put("truncated.jpg", jpeg[..jpeg.len() * 3 / 10].to_vec());
    b.put("bomb.png", pixel_bomb(20_000, 20_000));
    b.put("ok.jpg", jpeg);
    let cases: [(&str, &[&str], &str); 7] = [
        ("empty.jpg", &["--width=64"], "NotAnImage"),
        ("text.jpg", &["--width=64"], "NotAnImage"),
        ("truncated.jpg", &["--width=64"], "CorruptImage"),
        ("bomb.png", &["--width=64"], "TooManyPixels"),
        ("missing.jpg", &["--width=64"], "SourceNotFound"),
        (
            "ok.jpg",
            &["--width=64", "--max-input-bytes=1000"],
            "SourceTooLarge",
        ),
        ("ok.jpg", &[], "InvalidRequest"),
    ];
    for (key, args, reason) in cases {
        let t = std::time::Instant::now();
        let (code, f) = b.failure(key, args);
        assert_eq!(
            (code, f.reason.as_str(), f.transient),
            (EXIT_PERMANENT, reason, false),
            "{key}: {f:?}"
        );
        if key == "missing.jpg" {
            // The store's own word for it, in one short line: not the SDK's debug dump.
            assert!(f.message.contains("NoSuchKey"), "{}", f.message);
            assert!(
                f.message.len() < 400,
                "{} bytes: {}",
                f.message.len(),
                f.message
            );
        }
        if key == "truncated.jpg" {
            // Said as it is, not in a decoder's words (`integer value "width" overflowed`).
            assert!(
                f.message.starts_with("the JPEG file is truncated"),
                "{}",
                f.message
            );
        }
        if key == "bomb.png" {
            assert!(f.message.contains("20000x20000"), "{}", f.message);
            assert!(
                t.elapsed().as_secs() < 5,
                "the bomb was refused before decoding"
            );
        }
    }
    // Nothing was written for any of them.
    let listed =
        b.rt.block_on(
            b.client
                .list_objects_v2()
                .bucket(&b.name)
                .prefix("never")
                .send(),
        )
        .unwrap();
    assert_eq!(listed.key_count(), Some(0));
    // The bomb is refused with little memory: the resizer's peak RSS stays small.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    assert!(
        usage.ru_maxrss < 200 * 1024,
        "a child used {} KiB",
        usage.ru_maxrss
    );
}

#[test]
fn an_unreachable_store_is_a_transient_failure() {
    let b = Bucket::new("down");
    let (code, result) = b.resize_at(
        &thumbnail_testkit::closed_port_url(),
        "a.jpg",
        "b.jpg",
        &["--width=64"],
    );
    match result {
        RunResult::Failure(f) => {
            assert_eq!(
                (code, f.reason.as_str(), f.transient),
                (EXIT_TRANSIENT, "StoreUnavailable", true),
                "{f:?}"
            );
            assert!(f.message.contains("S3_ENDPOINT"), "{}", f.message);
            assert!(
                f.message.contains("refused"),
                "the cause, in short: {}",
                f.message
            );
            assert!(
                f.message.len() < 400,
                "{} bytes: {}",
                f.message.len(),
                f.message
            );
            assert!(
                !f.message.contains("will be retried"),
                "true on the last attempt too: {}",
                f.message
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_credentials_are_access_denied() {
    let mut b = Bucket::new("creds");
    b.put("ok.jpg", corpus("j09_storm_1920x1280.jpg"));
    b.env.secret_key = "not-the-secret".into();
    let (code, f) = b.failure("ok.jpg", &["--width=64"]);
    assert_eq!(
        (code, f.reason.as_str()),
        (EXIT_PERMANENT, "AccessDenied"),
        "{f:?}"
    );
}
