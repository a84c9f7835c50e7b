//! The bench's decode-only reference (issue 13, `make bench`): a JPEG decoded by
//! libjpeg-turbo at the DCT scale the resizer would choose for a SIZE x SIZE `inside`
//! thumbnail (`decode::fastest_scale` included), and nothing else (no resize, no colour conversion, no encode, and not the
//! resizer's progressive DC-only shortcut: libjpeg-turbo alone). The resizer's CPU over
//! this one's is how close it gets to the decoder's floor.
//!
//!     jpeg-decode-only FILE SIZE   (cargo build --release -p resizer --features bench)

use resizer::contract::Fit;
use resizer::{decode, geometry, orient, pipeline};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, size] = args.as_slice() else {
        eprintln!("usage: jpeg-decode-only FILE SIZE");
        std::process::exit(2);
    };
    let size: u32 = size.parse().expect("SIZE is a number of pixels");
    let bytes = std::fs::read(file).expect("FILE is readable");
    let stored = decode::jpeg_dimensions(&bytes).expect("FILE is a JPEG");
    let displayed = orient::jpeg_orientation(&bytes).displayed(stored);
    let plan = geometry::plan(displayed, Some(size), Some(size), Fit::Inside).expect("a size");
    let eighths =
        geometry::dct_scale_eighths_with(plan.crop, plan.resized, pipeline::SHRINK_HEADROOM);
    let pixels = decode::decode_jpeg_with(&bytes, eighths, false).expect("FILE decodes");
    println!("{}x{} (at least {eighths}/8)", pixels.width, pixels.height);
}
