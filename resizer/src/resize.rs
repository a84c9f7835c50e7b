//! Resampling with fast_image_resize (SIMD, Lanczos3). RGBA is resized premultiplied
//! (the library multiplies and divides alpha itself), so transparent pixels' colours do
//! not bleed into their neighbours as dark fringes.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::contract::Reason;
use crate::error::{Failed, Result};
use crate::pixels::{Layout, Pixels};

/// Resizes the `crop` rectangle (left, top, width, height; fractional source pixels)
/// of `img` to `to`.
pub fn resize(img: &Pixels, crop: (f64, f64, f64, f64), to: (u32, u32)) -> Result<Pixels> {
    let whole = crop == (0.0, 0.0, img.width as f64, img.height as f64);
    if whole && to == (img.width, img.height) {
        return Ok(img.clone());
    }
    let pixel_type = match img.layout {
        Layout::Gray => PixelType::U8,
        Layout::Rgb => PixelType::U8x3,
        Layout::Rgba => PixelType::U8x4,
    };
    let failed = |e: &dyn std::fmt::Display| {
        Failed::new(Reason::InternalError, format!("resizing failed: {e}"))
    };
    let src =
        ImageRef::new(img.width, img.height, &img.data, pixel_type).map_err(|e| failed(&e))?;
    // Premultiplying copies and divides the whole image: skip it when every pixel is
    // opaque (many "RGBA" PNGs are), where it changes nothing.
    let alpha = img.has_transparency();
    let mut resizer = Resizer::new();
    let lanczos = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .use_alpha(alpha);
    let mut dst = Image::new(to.0, to.1, pixel_type);
    let k = box_factor((crop.2, crop.3), to);
    if k >= 2 {
        // Large shrink (a big PNG, GIF or WebP to a thumbnail): a box filter by k first,
        // one tap per source pixel instead of Lanczos3's six, leaving Lanczos3 a factor
        // of at least 2 to work with (as libvips' shrink + reduce does).
        let mid = (
            (crop.2 / k as f64).ceil().max(1.0) as u32,
            (crop.3 / k as f64).ceil().max(1.0) as u32,
        );
        let mut tmp = Image::new(mid.0, mid.1, pixel_type);
        let boxed = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Box))
            .crop(crop.0, crop.1, crop.2, crop.3)
            .use_alpha(alpha);
        resizer
            .resize(&src, &mut tmp, &boxed)
            .map_err(|e| failed(&e))?;
        resizer
            .resize(&tmp, &mut dst, &lanczos)
            .map_err(|e| failed(&e))?;
    } else {
        let options = lanczos.crop(crop.0, crop.1, crop.2, crop.3);
        resizer
            .resize(&src, &mut dst, &options)
            .map_err(|e| failed(&e))?;
    }
    Ok(Pixels::new(to.0, to.1, img.layout, dst.into_vec()))
}

/// Integer box pre-shrink factor: a third of the smaller of the two shrink ratios,
/// rounded down (1 = none), so Lanczos3 still shrinks by at least 3 (a factor of 2, as
/// libvips leaves, measured slightly below sharp's SSIM on the RGBA PNGs).
pub fn box_factor(crop: (f64, f64), to: (u32, u32)) -> u32 {
    let ratio = (crop.0 / to.0 as f64).min(crop.1 / to.1 as f64);
    (ratio / 3.0).floor().max(1.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparent_pixels_do_not_darken_their_neighbours() {
        // Left half opaque white, right half fully transparent black.
        let mut data = Vec::new();
        for _ in 0..16 {
            for x in 0..16 {
                data.extend(if x < 8 {
                    [255, 255, 255, 255]
                } else {
                    [0, 0, 0, 0]
                });
            }
        }
        let img = Pixels::new(16, 16, Layout::Rgba, data);
        let out = resize(&img, (0.0, 0.0, 16.0, 16.0), (4, 4)).unwrap();
        for p in out.data.chunks_exact(4).filter(|p| p[3] > 0) {
            assert!(p[0] >= 250, "colour of a visible pixel darkened: {p:?}");
        }
    }

    #[test]
    fn box_pre_shrink_leaves_lanczos_at_least_a_factor_of_three() {
        assert_eq!(box_factor((3640.0, 2400.0), (256, 169)), 4);
        assert_eq!(box_factor((753.0, 423.0), (256, 144)), 1);
        assert_eq!(box_factor((1536.0, 1536.0), (256, 256)), 2);
    }

    #[test]
    fn two_stage_shrink_matches_a_direct_lanczos() {
        // A smooth gradient shrunk 16x: both paths agree within a few levels.
        let (w, h) = (512u32, 512u32);
        let data = (0..w * h)
            .flat_map(|i| [(i % w / 2) as u8, (i / w / 2) as u8, 128])
            .collect();
        let img = Pixels::new(w, h, Layout::Rgb, data);
        let two_stage = resize(&img, (0.0, 0.0, 512.0, 512.0), (32, 32)).unwrap();
        let src = ImageRef::new(w, h, &img.data, PixelType::U8x3).unwrap();
        let mut direct = Image::new(32, 32, PixelType::U8x3);
        let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
        Resizer::new().resize(&src, &mut direct, &opts).unwrap();
        let max = two_stage
            .data
            .iter()
            .zip(direct.buffer())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(max <= 3, "two-stage differs by {max}");
    }

    #[test]
    fn crop_selects_the_region() {
        // 4x1 grey ramp; crop the right half and keep its size.
        let img = Pixels::new(4, 1, Layout::Gray, vec![0, 0, 200, 200]);
        let out = resize(&img, (2.0, 0.0, 2.0, 1.0), (2, 1)).unwrap();
        assert_eq!(out.data, vec![200, 200]);
    }
}
