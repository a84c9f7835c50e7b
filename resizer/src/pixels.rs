//! The in-memory image the pipeline passes between steps: 8-bit, interleaved, with
//! straight (not premultiplied) alpha. Every decoder converts into it (16-bit, CMYK,
//! palette and grey-alpha inputs included), every encoder reads from it.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Gray,
    Rgb,
    Rgba,
}

impl Layout {
    pub fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::Rgb => 3,
            Layout::Rgba => 4,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub data: Vec<u8>,
}

impl Pixels {
    pub fn new(width: u32, height: u32, layout: Layout, data: Vec<u8>) -> Pixels {
        debug_assert_eq!(
            data.len(),
            width as usize * height as usize * layout.channels()
        );
        Pixels {
            width,
            height,
            layout,
            data,
        }
    }

    /// Whether any pixel is not fully opaque.
    pub fn has_transparency(&self) -> bool {
        self.layout == Layout::Rgba && self.data.chunks_exact(4).any(|p| p[3] != 255)
    }

    /// Alpha composited over white, as JPEG has no alpha: `c * a + 255 * (1 - a)`.
    pub fn flatten_on_white(self) -> Pixels {
        if self.layout != Layout::Rgba {
            return self;
        }
        let mut out = Vec::with_capacity(self.data.len() / 4 * 3);
        for p in self.data.chunks_exact(4) {
            let a = p[3] as u32;
            for &c in &p[..3] {
                out.push(((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8);
            }
        }
        Pixels::new(self.width, self.height, Layout::Rgb, out)
    }

    /// Grey expanded to RGB (for encoders without a grey mode).
    pub fn into_rgb_or_rgba(self) -> Pixels {
        if self.layout != Layout::Gray {
            return self;
        }
        let data = self.data.iter().flat_map(|&v| [v, v, v]).collect();
        Pixels::new(self.width, self.height, Layout::Rgb, data)
    }

    /// Centred on a `canvas`-sized background: transparent when `transparent` (the
    /// result is RGBA), white otherwise.
    pub fn pad(self, canvas: (u32, u32), transparent: bool) -> Pixels {
        if (self.width, self.height) == canvas {
            return self;
        }
        let src = if transparent { self.into_rgba() } else { self };
        let ch = src.layout.channels();
        let (cw, chh) = (canvas.0 as usize, canvas.1 as usize);
        let fill: &[u8] = match src.layout {
            Layout::Rgba => &[0, 0, 0, 0],
            Layout::Rgb => &[255, 255, 255],
            Layout::Gray => &[255],
        };
        let mut data: Vec<u8> = fill.iter().copied().cycle().take(cw * chh * ch).collect();
        let left = (cw - src.width as usize) / 2;
        let top = (chh - src.height as usize) / 2;
        let row = src.width as usize * ch;
        for (y, line) in src.data.chunks_exact(row).enumerate() {
            let at = ((top + y) * cw + left) * ch;
            data[at..at + row].copy_from_slice(line);
        }
        Pixels::new(canvas.0, canvas.1, src.layout, data)
    }

    fn into_rgba(self) -> Pixels {
        let data = match self.layout {
            Layout::Rgba => return self,
            Layout::Rgb => self
                .data
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            Layout::Gray => self.data.iter().flat_map(|&v| [v, v, v, 255]).collect(),
        };
        Pixels::new(self.width, self.height, Layout::Rgba, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_is_composited_on_white() {
        let p = Pixels::new(
            3,
            1,
            Layout::Rgba,
            vec![0, 0, 0, 0, 0, 0, 0, 255, 200, 100, 0, 128],
        );
        let f = p.flatten_on_white();
        assert_eq!(f.layout, Layout::Rgb);
        assert_eq!(f.data, vec![255, 255, 255, 0, 0, 0, 227, 177, 127]);
    }

    #[test]
    fn padding_centres_the_image() {
        let p = Pixels::new(1, 1, Layout::Rgb, vec![1, 2, 3]).pad((3, 1), false);
        assert_eq!(p.data, vec![255, 255, 255, 1, 2, 3, 255, 255, 255]);
        let p = Pixels::new(1, 1, Layout::Gray, vec![9]).pad((1, 3), true);
        assert_eq!(p.layout, Layout::Rgba);
        assert_eq!(p.data, vec![0, 0, 0, 0, 9, 9, 9, 255, 0, 0, 0, 0]);
        assert!(p.has_transparency());
    }
}
