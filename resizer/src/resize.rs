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
    let mut dst = Image::new(to.0, to.1, pixel_type);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(crop.0, crop.1, crop.2, crop.3)
        .use_alpha(img.layout == Layout::Rgba);
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| failed(&e))?;
    Ok(Pixels::new(to.0, to.1, img.layout, dst.into_vec()))
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
    fn crop_selects_the_region() {
        // 4x1 grey ramp; crop the right half and keep its size.
        let img = Pixels::new(4, 1, Layout::Gray, vec![0, 0, 200, 200]);
        let out = resize(&img, (2.0, 0.0, 2.0, 1.0), (2, 1)).unwrap();
        assert_eq!(out.data, vec![200, 200]);
    }
}
