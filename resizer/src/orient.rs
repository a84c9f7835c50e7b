//! EXIF orientation: reading the tag from a JPEG's APP1 segment (libjpeg-turbo ignores
//! it) and applying it to pixels. The pipeline applies it to the *thumbnail*, after the
//! resize, where rotating costs almost nothing; the geometry is planned in displayed
//! orientation and mapped to stored orientation with [`Orientation::transposes`].

use crate::jpeg_markers;
use crate::pixels::Pixels;

/// EXIF orientation 1..=8 (1 = as stored). Unknown values are treated as 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Orientation(u8);

impl Default for Orientation {
    fn default() -> Self {
        Orientation::NORMAL
    }
}

impl Orientation {
    pub const NORMAL: Orientation = Orientation(1);

    pub fn new(value: u16) -> Orientation {
        if (1..=8).contains(&value) {
            Orientation(value as u8)
        } else {
            Orientation(1)
        }
    }

    pub fn value(self) -> u8 {
        self.0.max(1)
    }

    /// Orientations 5-8 swap width and height.
    pub fn transposes(self) -> bool {
        self.0 >= 5
    }

    /// Displayed size of a stored `size`.
    pub fn displayed(self, size: (u32, u32)) -> (u32, u32) {
        if self.transposes() {
            (size.1, size.0)
        } else {
            size
        }
    }

    /// The stored pixel shown at displayed (x, y), for a stored image of `w` x `h`.
    fn source_of(self, x: usize, y: usize, w: usize, h: usize) -> (usize, usize) {
        match self.0 {
            2 => (w - 1 - x, y),
            3 => (w - 1 - x, h - 1 - y),
            4 => (x, h - 1 - y),
            5 => (y, x),
            6 => (y, h - 1 - x),
            7 => (w - 1 - y, h - 1 - x),
            8 => (w - 1 - y, x),
            _ => (x, y),
        }
    }

    /// The image as it is meant to be displayed.
    pub fn apply(self, img: Pixels) -> Pixels {
        if self.value() == 1 {
            return img;
        }
        let (w, h) = (img.width as usize, img.height as usize);
        let (dw, dh) = self.displayed((img.width, img.height));
        let ch = img.layout.channels();
        let mut out = vec![0u8; img.data.len()];
        for y in 0..dh as usize {
            for x in 0..dw as usize {
                let (sx, sy) = self.source_of(x, y, w, h);
                let s = (sy * w + sx) * ch;
                let d = (y * dw as usize + x) * ch;
                out[d..d + ch].copy_from_slice(&img.data[s..s + ch]);
            }
        }
        Pixels::new(dw, dh, img.layout, out)
    }
}

/// The orientation tag of a JPEG, from its first EXIF APP1 segment; NORMAL when absent or
/// unreadable (a damaged EXIF block must not fail an otherwise good image).
pub fn jpeg_orientation(jpeg: &[u8]) -> Orientation {
    jpeg_markers::header_segments(jpeg)
        .map_while(Result::ok)
        .find_map(|s| {
            let exif = s.payload.strip_prefix(b"Exif\0\0")?;
            (s.marker == jpeg_markers::APP1).then_some(exif)
        })
        .map(|tiff| exif_orientation(tiff).unwrap_or_default())
        .unwrap_or_default()
}

/// Orientation (tag 0x0112) from a TIFF-structured EXIF block.
pub fn exif_orientation(tiff: &[u8]) -> Option<Orientation> {
    let big = match tiff.get(0..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |i: usize| -> Option<u16> {
        let b = tiff.get(i..i + 2)?;
        Some(if big {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    };
    let u32_at = |i: usize| -> Option<u32> {
        let b = tiff.get(i..i + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    };
    let ifd0 = u32_at(4)? as usize;
    let count = u16_at(ifd0)? as usize;
    for i in 0..count.min(512) {
        let entry = ifd0 + 2 + i * 12;
        if u16_at(entry)? == 0x0112 {
            // Type SHORT, count 1: the value sits in the first two bytes of the value field.
            return Some(Orientation::new(u16_at(entry + 8)?));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixels::Layout;

    /// Stored 3x2:      displayed after 6 (rotate 90 cw), 2x3:
    ///   1 2 3            4 1
    ///   4 5 6            5 2
    ///                    6 3
    #[test]
    fn every_orientation_maps_pixels_as_exif_defines() {
        let img = Pixels::new(3, 2, Layout::Gray, vec![1, 2, 3, 4, 5, 6]);
        let cases: [(u16, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [1, 2, 3, 4, 5, 6]),
            (2, (3, 2), [3, 2, 1, 6, 5, 4]),
            (3, (3, 2), [6, 5, 4, 3, 2, 1]),
            (4, (3, 2), [4, 5, 6, 1, 2, 3]),
            (5, (2, 3), [1, 4, 2, 5, 3, 6]),
            (6, (2, 3), [4, 1, 5, 2, 6, 3]),
            (7, (2, 3), [6, 3, 5, 2, 4, 1]),
            (8, (2, 3), [3, 6, 2, 5, 1, 4]),
        ];
        for (o, size, want) in cases {
            let out = Orientation::new(o).apply(img.clone());
            assert_eq!((out.width, out.height), size, "orientation {o}");
            assert_eq!(out.data, want, "orientation {o}");
        }
    }

    fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(tiff);
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0]; // SOI + a short APP0
        j.extend_from_slice(&[0xFF, 0xE1]);
        j.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        j.extend_from_slice(&app1);
        j.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        j
    }

    #[test]
    fn orientation_is_read_from_both_byte_orders() {
        // Little endian: IFD0 at 8 with one entry 0x0112 SHORT 1 = 6.
        let le = [
            b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0,
            0,
        ];
        assert_eq!(jpeg_orientation(&jpeg_with_exif(&le)), Orientation::new(6));
        let be = [
            b'M', b'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0,
            0,
        ];
        assert_eq!(jpeg_orientation(&jpeg_with_exif(&be)), Orientation::new(8));
    }

    #[test]
    fn damaged_or_missing_exif_means_as_stored() {
        assert_eq!(
            jpeg_orientation(&jpeg_with_exif(b"II*\0\xff\xff\xff\xff")),
            Orientation::NORMAL
        );
        assert_eq!(jpeg_orientation(&jpeg_with_exif(b"")), Orientation::NORMAL);
        assert_eq!(
            jpeg_orientation(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF]),
            Orientation::NORMAL
        );
        assert_eq!(jpeg_orientation(&[0xFF, 0xD8]), Orientation::NORMAL);
        assert_eq!(Orientation::new(9), Orientation::NORMAL);
    }
}
