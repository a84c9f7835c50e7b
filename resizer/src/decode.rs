//! Decoding to [`Pixels`]: JPEG through libjpeg-turbo (shrinking during the decode by
//! DCT scaling, CMYK/YCCK converted to RGB), everything else through the `image` crate
//! (16-bit, palette, grey-alpha converted to 8-bit). Callers check the header's pixel
//! count first ([`crate::detect::check_pixels`]); the `image` limits are a second guard.

use std::io::Cursor;

use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};

use crate::contract::Reason;
use crate::detect::SourceFormat;
use crate::error::{Failed, Result};
use crate::orient::Orientation;
use crate::pixels::{Layout, Pixels};

fn corrupt(format: &str, detail: impl std::fmt::Display) -> Failed {
    Failed::new(
        Reason::CorruptImage,
        format!("the {format} image is damaged or truncated ({detail}); re-export or re-upload the original file"),
    )
}

/// Dimensions a JPEG's header declares (no pixel is decoded).
pub fn jpeg_dimensions(bytes: &[u8]) -> Result<(u32, u32)> {
    let header = turbojpeg::read_header(bytes).map_err(|e| corrupt("JPEG", e))?;
    Ok((header.width as u32, header.height as u32))
}

/// libjpeg-turbo reports recoverable damage as warnings and still returns the pixels.
/// Some are harmless and common in camera files (stray bytes between segments, odd
/// scan parameters); missing or undecodable data leaves grey blocks and is refused, as
/// sharp does by default.
fn tolerable_warning(message: &str) -> bool {
    const HARMLESS: [&str; 4] = [
        "extraneous bytes before marker",
        "Invalid SOS parameters for sequential JPEG",
        "Inconsistent progression sequence",
        "Unknown APP",
    ];
    HARMLESS.iter().any(|h| message.contains(h))
}

/// Decodes a JPEG shrunk by `eighths`/8 during decoding (1..=8).
pub fn decode_jpeg(bytes: &[u8], eighths: u8) -> Result<Pixels> {
    decode_jpeg_with(bytes, eighths, true)
}

/// [`decode_jpeg`], with the progressive DC-only shortcut switchable (for tests that
/// prove it changes no pixel).
pub fn decode_jpeg_with(bytes: &[u8], eighths: u8, dc_only_shortcut: bool) -> Result<Pixels> {
    let internal = |e: turbojpeg::Error| corrupt("JPEG", e);
    let mut dec = Decompressor::new().map_err(internal)?;
    let header = dec.read_header(bytes).map_err(internal)?;
    // At 1/8 scale libjpeg's 1x1 inverse DCT reads only the DC coefficient of each
    // block. A progressive JPEG sends DC in scans of its own, so the AC scans (most of
    // the file, and most of the entropy decoding) can be dropped with no change to the
    // output. Baseline JPEGs interleave DC and AC, so they are decoded whole.
    let shortened;
    let bytes = if dc_only_shortcut && eighths == 1 && header.is_progressive {
        match progressive_dc_only(bytes) {
            Some(dc) => {
                shortened = dc;
                shortened.as_slice()
            }
            None => bytes,
        }
    } else {
        bytes
    };
    let n = eighths.clamp(1, 8) as usize;
    let g = gcd(n, 8);
    let factor = ScalingFactor::new(n / g, 8 / g);
    if !header.is_lossless {
        dec.set_scaling_factor(factor).map_err(internal)?;
    }
    let scaled = if header.is_lossless {
        header
    } else {
        header.scaled(factor)
    };
    let (format, layout) = match header.colorspace {
        Colorspace::Gray => (PixelFormat::GRAY, Layout::Gray),
        Colorspace::CMYK | Colorspace::YCCK => (PixelFormat::CMYK, Layout::Rgb),
        _ => (PixelFormat::RGB, Layout::Rgb),
    };
    let pitch = scaled.width * format.size();
    let mut data = vec![0u8; pitch * scaled.height];
    let image = turbojpeg::Image {
        pixels: data.as_mut_slice(),
        width: scaled.width,
        pitch,
        height: scaled.height,
        format,
    };
    if let Err(e) = dec.decompress(bytes, image) {
        match &e {
            turbojpeg::Error::TurboJpegError(msg) if tolerable_warning(msg) => {}
            _ => return Err(corrupt("JPEG", e)),
        }
    }
    let (w, h) = (scaled.width as u32, scaled.height as u32);
    if format == PixelFormat::CMYK {
        data = cmyk_to_rgb(&data, adobe_marker(bytes));
    }
    Ok(Pixels::new(w, h, layout, data))
}

/// The progressive JPEG `jpeg` with the AC scans (spectral start > 0) of its
/// full-resolution components replaced by one tiny scan that declares all their AC
/// coefficients zero. Headers, tables, DC scans and the scans of subsampled components
/// are kept. `None` when the stream is not as expected (the caller decodes it whole).
///
/// Why a replacement scan rather than none: libjpeg "smooths" blocks whose AC
/// coefficients never arrived by estimating them, DC included, from the neighbours; AC
/// declared zero is complete data, so the DC values decode exactly as in the full file.
/// Subsampled (chroma) components are decoded at 1/8 with a 2x2 or larger inverse DCT
/// (libjpeg scales them up in the IDCT instead of upsampling), which reads AC: they stay.
pub fn progressive_dc_only(jpeg: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(jpeg.len() / 4);
    out.extend_from_slice(jpeg.get(..2)?);
    let mut sampling: Vec<(u8, u8, u8)> = Vec::new(); // (component id, H, V)
    let mut size = (0usize, 0usize);
    let mut at = 2;
    loop {
        while jpeg.get(at) == Some(&0xFF) && jpeg.get(at + 1) == Some(&0xFF) {
            at += 1; // fill bytes before a marker
        }
        if at + 2 > jpeg.len() {
            break; // no EOI (truncated after a scan): end the stream ourselves
        }
        if jpeg[at] != 0xFF {
            return None;
        }
        let marker = jpeg[at + 1];
        if marker == 0xD9 {
            break;
        }
        let len = u16::from_be_bytes([*jpeg.get(at + 2)?, *jpeg.get(at + 3)?]) as usize;
        let seg_end = at + 2 + len;
        if len < 2 || seg_end > jpeg.len() {
            return None;
        }
        match marker {
            0xC2 => {
                // SOF2: P, Y, X, Nf, then Nf x (id, H<<4 | V, Tq).
                let h = u16::from_be_bytes([*jpeg.get(at + 5)?, *jpeg.get(at + 6)?]) as usize;
                let w = u16::from_be_bytes([*jpeg.get(at + 7)?, *jpeg.get(at + 8)?]) as usize;
                size = (w, h);
                let nf = *jpeg.get(at + 9)? as usize;
                for c in 0..nf {
                    let base = at + 10 + 3 * c;
                    let (id, hv) = (*jpeg.get(base)?, *jpeg.get(base + 1)?);
                    sampling.push((id, hv >> 4, hv & 0x0F));
                }
            }
            // Restart intervals would need restart markers in the replacement scans.
            0xDD if u16::from_be_bytes([*jpeg.get(at + 4)?, *jpeg.get(at + 5)?]) != 0 => {
                return None
            }
            _ => {}
        }
        if marker != 0xDA {
            out.extend_from_slice(&jpeg[at..seg_end]);
            at = seg_end;
            continue;
        }
        // SOS: length, Ns, Ns x (component, tables), Ss, Se, Ah/Al; then entropy-coded
        // data up to the next marker that is neither a stuffed 0xFF00 nor a restart.
        let ns = *jpeg.get(at + 4)? as usize;
        let ss = *jpeg.get(at + 5 + 2 * ns)?;
        let mut end = seg_end;
        while end + 1 < jpeg.len() {
            let next = jpeg[end + 1];
            if jpeg[end] == 0xFF && next != 0x00 && next != 0xFF && !(0xD0..=0xD7).contains(&next) {
                break;
            }
            end += 1;
        }
        if end + 1 >= jpeg.len() {
            end = jpeg.len();
        }
        let component = *jpeg.get(at + 5)?;
        if sampling.is_empty() {
            return None;
        }
        if ss == 0 || subsampled(&sampling, component) {
            out.extend_from_slice(&jpeg[at..end]);
        }
        at = end;
    }
    if size.0 == 0 || size.1 == 0 {
        return None;
    }
    // One Huffman table (AC, slot 3) with the 15 end-of-band-run symbols EOB0..EOB14,
    // each a 4-bit code equal to its index; defined after every kept scan, so redefining
    // slot 3 cannot affect them.
    let mut dht = vec![0xFF, 0xC4, 0, 2 + 1 + 16 + 15, 0x13];
    dht.extend_from_slice(&[0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    dht.extend((0..15u8).map(|r| r << 4));
    out.extend_from_slice(&dht);
    for &(id, _, _) in sampling.iter().filter(|c| !subsampled(&sampling, c.0)) {
        // Full-resolution component: ceil(w/8) x ceil(h/8) blocks in a one-component scan.
        let blocks = size.0.div_ceil(8) * size.1.div_ceil(8);
        out.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, id, 0x03, 1, 63, 0]);
        let mut bits = BitWriter::default();
        let mut left = blocks;
        while left > 0 {
            let run = left.min(32767);
            let r = usize::BITS - 1 - run.leading_zeros(); // run = 2^r + extra
            bits.put(r, 4);
            bits.put((run - (1 << r)) as u32, r);
            left -= run;
        }
        out.extend_from_slice(&bits.finish());
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    Some(out)
}

fn subsampled(sampling: &[(u8, u8, u8)], component: u8) -> bool {
    let (hmax, vmax) = sampling
        .iter()
        .fold((0, 0), |(h, v), c| (h.max(c.1), v.max(c.2)));
    sampling
        .iter()
        .any(|c| c.0 == component && (c.1 < hmax || c.2 < vmax))
}

/// Entropy-coded bytes: MSB first, 0xFF stuffed with 0x00, padded with 1 bits.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, bits: u32) {
        for i in (0..bits).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                self.push();
            }
        }
    }

    fn push(&mut self) {
        let byte = self.acc as u8;
        self.out.push(byte);
        if byte == 0xFF {
            self.out.push(0);
        }
        self.acc = 0;
        self.n = 0;
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            let pad = 8 - self.n;
            self.acc = (self.acc << pad) | ((1 << pad) - 1);
            self.push();
        }
        self.out
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Whether the JPEG carries an Adobe APP14 segment. Adobe's applications (and Pillow,
/// ImageMagick) store CMYK inverted (255 = no ink) and mark it so.
pub fn adobe_marker(jpeg: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let marker = jpeg[at + 1];
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        let len = u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize;
        if marker == 0xEE && jpeg[at + 4..].starts_with(b"Adobe") {
            return true;
        }
        at += 2 + len.max(2);
    }
    false
}

/// Naive CMYK to RGB (no ICC profile): R = (1 - C)(1 - K), likewise G and B.
pub fn cmyk_to_rgb(cmyk: &[u8], inverted: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for p in cmyk.chunks_exact(4) {
        let (c, m, y, k) = if inverted {
            (p[0] as u32, p[1] as u32, p[2] as u32, p[3] as u32)
        } else {
            (
                255 - p[0] as u32,
                255 - p[1] as u32,
                255 - p[2] as u32,
                255 - p[3] as u32,
            )
        };
        // In "inverted" terms every value is already 1 - ink.
        out.extend([
            ((c * k + 127) / 255) as u8,
            ((m * k + 127) / 255) as u8,
            ((y * k + 127) / 255) as u8,
        ]);
    }
    out
}

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

/// The EXIF orientation of a non-JPEG image, from its metadata chunks (no decoding).
pub fn other_orientation(bytes: &[u8], format: SourceFormat) -> Orientation {
    let reader = image::ImageReader::with_format(Cursor::new(bytes), image_format(format));
    match reader.into_decoder() {
        Ok(mut decoder) => {
            use image::ImageDecoder as _;
            decoder
                .orientation()
                .map(|o| Orientation::new(o.to_exif() as u16))
                .unwrap_or_default()
        }
        Err(_) => Orientation::NORMAL,
    }
}

fn image_format(format: SourceFormat) -> image::ImageFormat {
    match format {
        SourceFormat::Jpeg => image::ImageFormat::Jpeg,
        SourceFormat::Png => image::ImageFormat::Png,
        SourceFormat::Gif => image::ImageFormat::Gif,
        SourceFormat::Webp => image::ImageFormat::WebP,
        SourceFormat::Bmp => image::ImageFormat::Bmp,
        SourceFormat::Tiff => image::ImageFormat::Tiff,
    }
}

fn image_error(format: SourceFormat, e: image::ImageError) -> Failed {
    match e {
        image::ImageError::Unsupported(u) => Failed::new(
            Reason::UnsupportedFormat,
            format!("this {} variant is not supported ({u}); convert it to a baseline JPEG or 8-bit PNG", format.name()),
        ),
        image::ImageError::Limits(l) => Failed::new(
            Reason::TooManyPixels,
            format!("decoding the {} image would exceed the memory limit ({l}); upload a smaller image", format.name()),
        ),
        other => corrupt(format.name(), other),
    }
}

/// Dimensions a non-JPEG header declares (no pixel is decoded).
pub fn other_dimensions(bytes: &[u8], format: SourceFormat) -> Result<(u32, u32)> {
    image::ImageReader::with_format(Cursor::new(bytes), image_format(format))
        .into_dimensions()
        .map_err(|e| image_error(format, e))
}

/// Decodes a non-JPEG image (the first frame of an animation) with its EXIF orientation.
/// `max_pixels` bounds the decoder's allocations (16-bit RGBA is 8 bytes a pixel).
pub fn decode_other(
    bytes: &[u8],
    format: SourceFormat,
    max_pixels: u64,
) -> Result<(Pixels, Orientation)> {
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), image_format(format));
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| image_error(format, e))?;
    use image::ImageDecoder as _;
    let orientation = decoder
        .orientation()
        .map(|o| Orientation::new(o.to_exif() as u16))
        .unwrap_or_default();
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| image_error(format, e))?;
    let (w, h) = (img.width(), img.height());
    let pixels = match img {
        image::DynamicImage::ImageLuma8(g) => Pixels::new(w, h, Layout::Gray, g.into_raw()),
        image::DynamicImage::ImageRgb8(rgb) => Pixels::new(w, h, Layout::Rgb, rgb.into_raw()),
        image::DynamicImage::ImageRgba8(rgba) => Pixels::new(w, h, Layout::Rgba, rgba.into_raw()),
        // 16-bit and float inputs: image's conversions round to nearest 8-bit value.
        other if other.color().has_alpha() => {
            Pixels::new(w, h, Layout::Rgba, other.to_rgba8().into_raw())
        }
        other if other.color().channel_count() == 1 => {
            Pixels::new(w, h, Layout::Gray, other.to_luma8().into_raw())
        }
        other => Pixels::new(w, h, Layout::Rgb, other.to_rgb8().into_raw()),
    };
    Ok((pixels, orientation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_converts_for_both_conventions() {
        // Pure cyan ink, no black: inverted stores (0,255,255,255), plain stores (255,0,0,0).
        assert_eq!(cmyk_to_rgb(&[0, 255, 255, 255], true), vec![0, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 0, 0, 0], false), vec![0, 255, 255]);
        // Half black on white paper.
        assert_eq!(
            cmyk_to_rgb(&[255, 255, 255, 128], true),
            vec![128, 128, 128]
        );
    }

    #[test]
    fn only_harmless_jpeg_warnings_are_tolerated() {
        assert!(tolerable_warning(
            "Corrupt JPEG data: 3 extraneous bytes before marker 0xd9"
        ));
        assert!(!tolerable_warning("Premature end of JPEG file"));
        assert!(!tolerable_warning("Corrupt JPEG data: bad Huffman code"));
        assert!(!tolerable_warning("Not a JPEG file: starts with 0x00 0x00"));
    }

    #[test]
    fn adobe_marker_is_found_among_segments() {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xEE, 0, 14];
        j.extend_from_slice(b"Adobe\0\x64\0\0\0\0\x02");
        assert!(adobe_marker(&j));
        assert!(!adobe_marker(&[
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xDA
        ]));
    }
}
