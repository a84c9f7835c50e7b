//! AVIF encode time and size per libaom speed, on corpus photos shrunk to thumbnail
//! sizes (the numbers behind `encode::AVIF_SPEED`, docs/DESIGN.md "Formats").
//!
//!   THUMBNAIL_CORPUS=../shared/corpus cargo run --release -p resizer --example avif_speed [QUALITY [OUT]]
//!
//! Prints one tab-separated row per size, speed and photo: `ours`, speed, quality,
//! file, median encode ms, bytes, mean absolute difference (0-255 per channel) of the
//! decoded AVIF from its source pixels. With OUT, the source pixels are also written
//! there as PNG (`<size>-<file>.png`), for sharp's encoder on the same pixels
//! (bench/avif.sh, bench/avif_encode.js).

use std::time::Instant;

use resizer::contract::{Fit, Format, Limits, ObjectLocation, Request};
use resizer::pipeline::make_thumbnail;
use resizer::pixels::{Layout, Pixels};

const FILES: [&str; 6] = [
    "j01_kleiber_6028x3391.jpg",
    "j04_wood_2560x1920.jpg",
    "j07_colorfulcups_2560x1600_prog.jpg",
    "j09_storm_1920x1280.jpg",
    "j10_safelanding_5120x2880_graphic.jpg",
    "p03_goldfish_3640x2400_rgba.png",
];

fn main() {
    let quality: u8 = std::env::args()
        .nth(1)
        .map_or(50, |q| q.parse().expect("quality 1-100"));
    let out_dir = std::env::args().nth(2);
    let corpus = std::env::var("THUMBNAIL_CORPUS").expect("THUMBNAIL_CORPUS");
    for size in [256u32, 1024] {
        // The pixels the encoder gets: each photo as a lossless thumbnail.
        let thumbs: Vec<Pixels> = FILES
            .iter()
            .map(|f| {
                let source = std::fs::read(format!("{corpus}/{f}")).unwrap();
                let request = Request {
                    source: ObjectLocation::default(),
                    output: ObjectLocation::default(),
                    width: Some(size),
                    height: Some(size),
                    fit: Fit::Inside,
                    format: Format::Png,
                    quality: None,
                    limits: Limits::default(),
                };
                let png = make_thumbnail(&source, &request).unwrap();
                if let Some(dir) = &out_dir {
                    std::fs::write(format!("{dir}/{size}-{f}.png"), &png.bytes).unwrap();
                }
                let img = image::load_from_memory(&png.bytes).unwrap();
                if img.color().has_alpha() {
                    let rgba = img.to_rgba8();
                    Pixels::new(rgba.width(), rgba.height(), Layout::Rgba, rgba.into_raw())
                } else {
                    let rgb = img.to_rgb8();
                    Pixels::new(rgb.width(), rgb.height(), Layout::Rgb, rgb.into_raw())
                }
            })
            .collect();
        for speed in [6, 7, 8, 9] {
            for (t, f) in thumbs.iter().zip(FILES) {
                let mut times = Vec::new();
                let mut out = Vec::new();
                for _ in 0..5 {
                    let start = Instant::now();
                    out = resizer::encode::avif(t.clone(), quality, speed).unwrap();
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                }
                times.sort_by(f64::total_cmp);
                let (back, _, _) = resizer::decode::decode_avif(&out, u64::MAX).unwrap();
                // Colour channels only: an all-opaque RGBA source comes back as RGB
                // (libavif leaves out an alpha plane that is all opaque).
                let (bc, tc) = (back.layout.channels(), t.layout.channels());
                let diff = back
                    .data
                    .chunks_exact(bc)
                    .zip(t.data.chunks_exact(tc))
                    .flat_map(|(a, b)| (0..3).map(move |c| a[c].abs_diff(b[c]) as f64))
                    .sum::<f64>()
                    / (t.data.len() / tc * 3) as f64;
                println!(
                    "ours\t{speed}\t{quality}\t{size}-{f}.png\t{:.2}\t{}\t{diff:.2}",
                    times[2],
                    out.len()
                );
            }
        }
    }
}
