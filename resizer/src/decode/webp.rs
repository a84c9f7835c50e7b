//! Still WebP through libwebp, which scales while decoding (shrink-on-load, like
//! libjpeg-turbo's DCT scaling); the pure-Rust decoder of `image` cannot.

use super::corrupt;
use crate::error::Result;
use crate::pixels::{Layout, Pixels};

/// Decodes a still WebP through libwebp, scaled by `eighths`/8 while decoding.
/// `None` for an animation (the caller takes the first frame through `image`).
pub fn decode_webp(bytes: &[u8], eighths: u8) -> Result<Option<Pixels>> {
    use libwebp_sys as w;
    let mut config =
        w::WebPDecoderConfig::new().map_err(|_| corrupt("WebP", "libwebp initialisation"))?;
    // SAFETY: `bytes` outlives the call; `config.input` is a valid out-parameter.
    let status = unsafe { w::WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut config.input) };
    if status != w::VP8StatusCode::VP8_STATUS_OK {
        return Err(corrupt("WebP", format!("{status:?}")));
    }
    if config.input.has_animation != 0 {
        return Ok(None);
    }
    let (width, height) = (
        config.input.width.max(1) as usize,
        config.input.height.max(1) as usize,
    );
    let n = eighths.clamp(1, 8) as usize;
    let (sw, sh) = (
        (width * n).div_ceil(8).max(1),
        (height * n).div_ceil(8).max(1),
    );
    if n < 8 {
        config.options.use_scaling = 1;
        config.options.scaled_width = sw as i32;
        config.options.scaled_height = sh as i32;
    }
    let alpha = config.input.has_alpha != 0;
    let (mode, layout) = if alpha {
        (w::WEBP_CSP_MODE::MODE_RGBA, Layout::Rgba)
    } else {
        (w::WEBP_CSP_MODE::MODE_RGB, Layout::Rgb)
    };
    let mut data = vec![0u8; sw * sh * layout.channels()];
    config.output.colorspace = mode;
    config.output.is_external_memory = 1;
    config.output.u.RGBA = w::WebPRGBABuffer {
        rgba: data.as_mut_ptr(),
        stride: (sw * layout.channels()) as i32,
        size: data.len(),
    };
    // SAFETY: libwebp writes at most `size` bytes with the given stride into `data`,
    // which lives until after the call; the buffer is external, so freeing is a no-op.
    let status = unsafe { w::WebPDecode(bytes.as_ptr(), bytes.len(), &mut config) };
    unsafe { w::WebPFreeDecBuffer(&mut config.output) };
    if status != w::VP8StatusCode::VP8_STATUS_OK {
        return Err(corrupt("WebP", format!("{status:?}")));
    }
    Ok(Some(Pixels::new(sw as u32, sh as u32, layout, data)))
}
