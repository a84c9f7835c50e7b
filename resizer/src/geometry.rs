//! Output geometry: what part of the source is kept, what size it is resized to and the
//! canvas it lands on, for each fit mode; and how far libjpeg-turbo may shrink a JPEG
//! while decoding. Pure functions, all in the *displayed* orientation (after EXIF).
//!
//! Enlargement policy: the resizer never enlarges (sharp's `withoutEnlargement`). A
//! thumbnail service that upscales small uploads only produces blurry, larger files.
//! So a source smaller than the box keeps its size under `inside` and `fill`, is only
//! cropped (not scaled) under `cover`, and is padded (not scaled) to the box under
//! `contain` — `contain` always yields exactly the requested box.
//!
//! With only one of width/height the other follows the aspect ratio and the fit mode
//! does not matter (as in sharp), up to [`MAX_DIMENSION`] like a requested side: so no
//! thumbnail is larger than 8192 x 8192, inside every encoder's limits (WebP 16383, JPEG
//! 65535; issue 13: a 200x40000 PNG asked for 100 px wide would otherwise be 100x20000,
//! which WebP cannot store) and the operator's memory model (`invocation.rs`). The
//! result gives the size made; a user who wants the requested side exactly gives both.

use crate::contract::Fit;
pub use thumbnail_api::crd::MAX_DIMENSION;

/// How to turn a source of the given size into the thumbnail.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// Width and height of the centred crop of the source that is kept, in source pixels
    /// (the whole source except for `cover`).
    pub crop: (f64, f64),
    /// Size the crop is resized to.
    pub resized: (u32, u32),
    /// Final size; larger than `resized` only for `contain`, which pads it centred.
    pub canvas: (u32, u32),
}

/// Plans the resize of a `src` (width, height) image to the requested box. `None` when
/// neither width nor height is given.
pub fn plan(src: (u32, u32), width: Option<u32>, height: Option<u32>, fit: Fit) -> Option<Plan> {
    let (sw, sh) = src;
    let whole = (sw as f64, sh as f64);
    let (tw, th, fit) = match (width, height) {
        (None, None) => return None,
        (Some(w), None) => (w, MAX_DIMENSION, Fit::Inside),
        (None, Some(h)) => (MAX_DIMENSION, h, Fit::Inside),
        (Some(w), Some(h)) => (w, h, fit),
    };
    let plan = match fit {
        Fit::Inside => {
            let size = inside(src, (tw, th));
            Plan {
                crop: whole,
                resized: size,
                canvas: size,
            }
        }
        Fit::Contain => Plan {
            crop: whole,
            resized: inside(src, (tw, th)),
            canvas: (tw, th),
        },
        Fit::Fill => {
            let size = (tw.min(sw), th.min(sh));
            Plan {
                crop: whole,
                resized: size,
                canvas: size,
            }
        }
        Fit::Cover => {
            let (sw64, sh64, tw64, th64) = (sw as u64, sh as u64, tw as u64, th as u64);
            if tw >= sw || th >= sh {
                // Scaling would have to enlarge (or keep 1:1) to cover the box: keep the
                // source scale and crop what exceeds the box.
                let size = (tw.min(sw), th.min(sh));
                Plan {
                    crop: (size.0 as f64, size.1 as f64),
                    resized: size,
                    canvas: size,
                }
            } else if tw64 * sh64 >= th64 * sw64 {
                // The box is relatively wider than the source: full width, crop height.
                let crop_h = th as f64 * sw as f64 / tw as f64;
                Plan {
                    crop: (sw as f64, crop_h.min(sh as f64)),
                    resized: (tw, th),
                    canvas: (tw, th),
                }
            } else {
                let crop_w = tw as f64 * sh as f64 / th as f64;
                Plan {
                    crop: (crop_w.min(sw as f64), sh as f64),
                    resized: (tw, th),
                    canvas: (tw, th),
                }
            }
        }
    };
    Some(plan)
}

/// The largest size with the source's aspect ratio that fits in `bound`, never larger
/// than the source. `u32::MAX` means unbounded.
pub fn inside(src: (u32, u32), bound: (u32, u32)) -> (u32, u32) {
    let (sw, sh) = (src.0 as u64, src.1 as u64);
    let (tw, th) = (bound.0 as u64, bound.1 as u64);
    if tw >= sw && th >= sh {
        return src;
    }
    if sw * th >= sh * tw {
        (tw as u32, ratio(sh, tw, sw))
    } else {
        (ratio(sw, th, sh), th as u32)
    }
}

/// round(a * b / c), at least 1.
fn ratio(a: u64, b: u64, c: u64) -> u32 {
    (((a * b * 2 + c) / (2 * c)).max(1)) as u32
}

/// The libjpeg-turbo decode scale, as a numerator over 8: the smallest n/8 at which the
/// kept crop still has at least the resized size, so the resampler only ever shrinks.
/// DCT scaling skips most of the inverse DCT, colour conversion and resampling work.
pub fn dct_scale_eighths(crop: (f64, f64), resized: (u32, u32)) -> u8 {
    dct_scale_eighths_with(crop, resized, 1.0)
}

/// [`dct_scale_eighths`] leaving the resampler at least a `headroom` factor of shrink.
pub fn dct_scale_eighths_with(crop: (f64, f64), resized: (u32, u32), headroom: f64) -> u8 {
    let (need_w, need_h) = (resized.0 as f64 * headroom, resized.1 as f64 * headroom);
    (1..=8u8)
        .find(|&n| {
            let f = n as f64 / 8.0;
            // A hair of tolerance: an exact fit (e.g. 2048 -> 256) must pick 1/8.
            crop.0 * f + 1e-6 >= need_w && crop.1 * f + 1e-6 >= need_h
        })
        .unwrap_or(8)
}

/// Centred crop rectangle (left, top, width, height) of `crop` size inside `size`.
pub fn centred(size: (u32, u32), crop: (f64, f64)) -> (f64, f64, f64, f64) {
    let w = crop.0.min(size.0 as f64);
    let h = crop.1.min(size.1 as f64);
    ((size.0 as f64 - w) / 2.0, (size.1 as f64 - h) / 2.0, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(src: (u32, u32), w: Option<u32>, h: Option<u32>, fit: Fit) -> ((u32, u32), (u32, u32)) {
        let p = plan(src, w, h, fit).unwrap();
        (p.resized, p.canvas)
    }

    #[test]
    fn inside_keeps_aspect_within_the_box() {
        assert_eq!(
            dims((6028, 3391), Some(256), Some(256), Fit::Inside),
            ((256, 144), (256, 144))
        );
        assert_eq!(
            dims((1600, 2560), Some(256), Some(256), Fit::Inside),
            ((160, 256), (160, 256))
        );
        assert_eq!(
            dims((4096, 4096), Some(256), Some(128), Fit::Inside),
            ((128, 128), (128, 128))
        );
        // Extreme aspect ratio never reaches zero.
        assert_eq!(
            dims((10000, 10), Some(100), Some(100), Fit::Inside),
            ((100, 1), (100, 1))
        );
    }

    #[test]
    fn one_dimension_follows_the_aspect_ratio_whatever_the_fit() {
        for fit in [Fit::Inside, Fit::Cover, Fit::Contain, Fit::Fill] {
            assert_eq!(
                dims((2560, 1600), Some(256), None, fit),
                ((256, 160), (256, 160))
            );
            assert_eq!(
                dims((2560, 1600), None, Some(100), fit),
                ((160, 100), (160, 100))
            );
        }
    }

    #[test]
    fn the_side_left_out_is_bounded_like_a_requested_one() {
        // Issue 13: 200x40000 at 100 px wide would be 100x20000 (WebP stores 16383 at most).
        assert_eq!(
            dims((200, 40000), Some(100), None, Fit::Inside),
            ((41, 8192), (41, 8192))
        );
        assert_eq!(
            dims((40000, 200), None, Some(100), Fit::Inside),
            ((8192, 41), (8192, 41))
        );
        // Within the bound, nothing changes.
        assert_eq!(
            dims((200, 16000), Some(100), None, Fit::Inside),
            ((100, 8000), (100, 8000))
        );
    }

    #[test]
    fn cover_crops_the_centre_to_fill_the_box() {
        let p = plan((2560, 1600), Some(256), Some(256), Fit::Cover).unwrap();
        assert_eq!((p.resized, p.canvas), ((256, 256), (256, 256)));
        assert_eq!(p.crop, (1600.0, 1600.0));
        let p = plan((1600, 2560), Some(300), Some(100), Fit::Cover).unwrap();
        assert_eq!(p.crop, (1600.0, 1600.0 / 3.0));
        assert_eq!(
            centred((1600, 2560), p.crop),
            (0.0, (2560.0 - 1600.0 / 3.0) / 2.0, 1600.0, 1600.0 / 3.0)
        );
    }

    #[test]
    fn contain_pads_to_the_box_and_fill_stretches() {
        assert_eq!(
            dims((2560, 1600), Some(256), Some(256), Fit::Contain),
            ((256, 160), (256, 256))
        );
        assert_eq!(
            dims((1600, 2560), Some(256), Some(256), Fit::Contain),
            ((160, 256), (256, 256))
        );
        assert_eq!(
            dims((2560, 1600), Some(256), Some(256), Fit::Fill),
            ((256, 256), (256, 256))
        );
        assert_eq!(
            dims((2560, 1600), Some(100), Some(300), Fit::Fill),
            ((100, 300), (100, 300))
        );
    }

    #[test]
    fn never_enlarges() {
        let small = (200, 100);
        assert_eq!(
            dims(small, Some(1024), Some(1024), Fit::Inside),
            ((200, 100), (200, 100))
        );
        assert_eq!(
            dims(small, Some(1024), None, Fit::Inside),
            ((200, 100), (200, 100))
        );
        assert_eq!(
            dims(small, Some(1024), Some(1024), Fit::Fill),
            ((200, 100), (200, 100))
        );
        // Contain still yields the box, padding the unscaled source.
        assert_eq!(
            dims(small, Some(1024), Some(1024), Fit::Contain),
            ((200, 100), (1024, 1024))
        );
        // Cover crops without scaling where the box is smaller than the source.
        let p = plan(small, Some(150), Some(150), Fit::Cover).unwrap();
        assert_eq!((p.crop, p.resized), ((150.0, 100.0), (150, 100)));
    }

    #[test]
    fn dct_scale_is_the_smallest_that_still_covers_the_output() {
        assert_eq!(dct_scale_eighths((6028.0, 3391.0), (256, 144)), 1);
        assert_eq!(dct_scale_eighths((2048.0, 2048.0), (256, 256)), 1);
        assert_eq!(dct_scale_eighths((2560.0, 1600.0), (1024, 640)), 4);
        assert_eq!(dct_scale_eighths((2560.0, 1600.0), (1000, 625)), 4);
        assert_eq!(dct_scale_eighths((2560.0, 1600.0), (900, 563)), 3);
        assert_eq!(dct_scale_eighths((1024.0, 1024.0), (1000, 1000)), 8);
        assert_eq!(dct_scale_eighths((512.0, 512.0), (512, 512)), 8);
        // Headroom: 2560 -> 1024 must decode at >= 1536 wide, so 5/8 (1600).
        assert_eq!(
            dct_scale_eighths_with((2560.0, 1600.0), (1024, 640), 1.5),
            5
        );
        assert_eq!(dct_scale_eighths_with((6028.0, 3391.0), (256, 144), 1.5), 1);
    }
}
