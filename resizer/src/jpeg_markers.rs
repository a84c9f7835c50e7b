//! The one walker over a JPEG's marker segments (ITU T.81 B.1), for everything that
//! reads or rewrites a JPEG without decoding all of it: the EXIF orientation
//! ([`crate::orient`]), the ICC profile ([`crate::colour`]), the Adobe CMYK convention
//! and the progressive DC-only shortcuts ([`crate::decode`]).
//!
//! It reads untrusted uploads, so it never panics and always ends: every step moves
//! forward by at least one byte, and the first thing out of place (no SOI, a byte where
//! a marker belongs, a length shorter than itself or past the end) ends the walk with
//! one [`Malformed`].

/// Start of image.
pub const SOI: u8 = 0xD8;
/// End of image.
pub const EOI: u8 = 0xD9;
/// Start of scan: its header is followed by entropy-coded data.
pub const SOS: u8 = 0xDA;
/// Start of frame, progressive DCT (Huffman).
pub const SOF2: u8 = 0xC2;
/// Define restart interval.
pub const DRI: u8 = 0xDD;
/// APP1: EXIF (and XMP).
pub const APP1: u8 = 0xE1;
/// APP2: ICC profile chunks.
pub const APP2: u8 = 0xE2;
/// APP14: Adobe.
pub const APP14: u8 = 0xEE;

/// One marker segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The marker code (the byte after 0xFF).
    pub marker: u8,
    /// Offset of the marker's 0xFF in the stream (after any fill bytes).
    pub offset: usize,
    /// The parameters: the bytes after the two-byte length, as many as it declares.
    /// Empty for the markers that have no length (RSTn, TEM).
    pub payload: &'a [u8],
    /// The segment as stored, from its 0xFF: marker, length and payload and, for SOS,
    /// the entropy-coded data up to the next marker.
    pub raw: &'a [u8],
}

/// Where the walk stopped because the bytes are not a JPEG marker structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// Offset of the first byte that does not fit.
    pub offset: usize,
}

/// Walks `jpeg` from SOI to EOI (or to the end of the bytes: a file cut off after a
/// segment or inside a scan's data ends the walk without an error). Yields each segment
/// after SOI; EOI itself is not yielded.
pub fn segments(jpeg: &[u8]) -> Segments<'_> {
    Segments {
        jpeg,
        at: 0,
        header_only: false,
        done: false,
        eoi: false,
    }
}

/// [`segments`] up to the first scan: the tables and metadata segments, without
/// reading the entropy-coded data (SOS itself is not yielded).
pub fn header_segments(jpeg: &[u8]) -> Segments<'_> {
    Segments {
        header_only: true,
        ..segments(jpeg)
    }
}

/// Whether `jpeg` stops before its end-of-image marker: cut off inside a segment, inside
/// a scan's data, or right after a segment (an interrupted upload or copy). Bytes out of
/// place (damage rather than truncation) are not truncation.
pub fn is_truncated(jpeg: &[u8]) -> bool {
    let mut end = 2;
    for segment in segments(jpeg) {
        match segment {
            Ok(s) => end = s.offset + s.raw.len(),
            // The walk stops at a segment's length (two bytes after its marker) that is
            // cut off, or that runs past the end of the bytes.
            Err(Malformed { offset }) => {
                return offset >= 4
                    && jpeg.get(offset - 2) == Some(&0xFF)
                    && jpeg.get(offset..offset + 2).is_none_or(|l| {
                        let l = u16::from_be_bytes([l[0], l[1]]) as usize;
                        l >= 2 && offset + l > jpeg.len()
                    });
            }
        }
    }
    let mut at = end.min(jpeg.len());
    while jpeg.get(at) == Some(&0xFF) && jpeg.get(at + 1) == Some(&0xFF) {
        at += 1;
    }
    !jpeg[at..].starts_with(&[0xFF, EOI])
}

/// The iterator of [`segments`] and [`header_segments`].
#[derive(Clone, Debug)]
pub struct Segments<'a> {
    jpeg: &'a [u8],
    at: usize,
    header_only: bool,
    done: bool,
    eoi: bool,
}

impl Segments<'_> {
    /// Whether the walk ended at the end-of-image marker (not cut off, not malformed).
    pub fn reached_eoi(&self) -> bool {
        self.eoi
    }
}

impl<'a> Segments<'a> {
    fn malformed(&mut self, offset: usize) -> Option<Result<Segment<'a>, Malformed>> {
        self.done = true;
        Some(Err(Malformed { offset }))
    }
}

impl<'a> Iterator for Segments<'a> {
    type Item = Result<Segment<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let jpeg = self.jpeg;
        if self.done {
            return None;
        }
        if self.at == 0 {
            if !jpeg.starts_with(&[0xFF, SOI]) {
                return self.malformed(0);
            }
            self.at = 2;
        }
        let mut at = self.at;
        while jpeg.get(at) == Some(&0xFF) && jpeg.get(at + 1) == Some(&0xFF) {
            at += 1; // fill bytes before a marker
        }
        if at + 2 > jpeg.len() {
            self.done = true; // cut off after a segment: nothing more to read
            return None;
        }
        if jpeg[at] != 0xFF {
            return self.malformed(at);
        }
        let marker = jpeg[at + 1];
        let end = match marker {
            EOI => {
                self.done = true;
                self.eoi = true;
                return None;
            }
            SOS if self.header_only => {
                self.done = true;
                return None;
            }
            // Markers without a length. 0x00 is not a marker (it follows a stuffed 0xFF).
            0x01 | 0xD0..=0xD7 => at + 2,
            0x00 | SOI => return self.malformed(at + 1),
            _ => {
                let Some(len) = jpeg.get(at + 2..at + 4) else {
                    return self.malformed(at + 2);
                };
                let len = u16::from_be_bytes([len[0], len[1]]) as usize;
                if len < 2 || at + 2 + len > jpeg.len() {
                    return self.malformed(at + 2);
                }
                at + 2 + len
            }
        };
        let payload = &jpeg[(at + 4).min(end)..end];
        let raw_end = if marker == SOS {
            scan_data_end(jpeg, end)
        } else {
            end
        };
        self.at = raw_end;
        Some(Ok(Segment {
            marker,
            offset: at,
            payload,
            raw: &jpeg[at..raw_end],
        }))
    }
}

/// The end of the entropy-coded data that starts at `from`: the next 0xFF followed by a
/// marker that is neither a stuffed 0x00, a fill 0xFF nor a restart (RSTn), or the end
/// of the bytes.
fn scan_data_end(jpeg: &[u8], from: usize) -> usize {
    let mut end = from;
    while let Some(ff) = memchr::memchr(0xFF, jpeg.get(end..).unwrap_or_default()) {
        end += ff;
        let Some(&next) = jpeg.get(end + 1) else {
            break;
        };
        if next != 0x00 && next != 0xFF && !(0xD0..=0xD7).contains(&next) {
            return end;
        }
        end += 1;
    }
    jpeg.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, APP0 (2 bytes of payload), fill byte, APP14, SOS with 3 bytes of data
    /// (a stuffed 0xFF00 and a restart marker among them), DHT, EOI.
    fn sample() -> Vec<u8> {
        let mut j = vec![0xFF, SOI, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF];
        j.extend_from_slice(&[0xFF, APP14, 0, 7]);
        j.extend_from_slice(b"Adobe");
        j.extend_from_slice(&[0xFF, SOS, 0, 3, 9, 0x11, 0xFF, 0x00, 0xFF, 0xD0, 0x22]);
        j.extend_from_slice(&[0xFF, 0xC4, 0, 3, 7]);
        j.extend_from_slice(&[0xFF, EOI]);
        j
    }

    fn markers(walk: Segments) -> Vec<Result<u8, Malformed>> {
        walk.map(|s| s.map(|s| s.marker)).collect()
    }

    #[test]
    fn walks_every_segment_with_its_payload_and_scan_data() {
        let j = sample();
        let all: Vec<Segment> = segments(&j).map(Result::unwrap).collect();
        assert_eq!(
            all.iter().map(|s| s.marker).collect::<Vec<_>>(),
            [0xE0, APP14, SOS, 0xC4]
        );
        assert_eq!(all[0].payload, [1, 2]);
        assert_eq!(all[1].offset, 9, "after the fill byte");
        assert_eq!(all[1].payload, b"Adobe");
        assert_eq!(all[2].payload, [9]);
        assert_eq!(
            all[2].raw,
            [0xFF, SOS, 0, 3, 9, 0x11, 0xFF, 0x00, 0xFF, 0xD0, 0x22]
        );
        assert_eq!(all[3].payload, [7]);
    }

    #[test]
    fn header_segments_stop_before_the_scan() {
        let j = sample();
        assert_eq!(markers(header_segments(&j)), [Ok(0xE0), Ok(APP14)]);
    }

    #[test]
    fn a_file_cut_off_inside_scan_data_ends_the_walk_quietly() {
        let j = sample();
        let cut = &j[..j.len() - 9]; // inside the scan's data
        let all: Vec<_> = segments(cut).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].unwrap().raw.last(), Some(&0xFF));
    }

    #[test]
    fn out_of_place_bytes_end_the_walk_with_one_error() {
        // Not a JPEG.
        assert_eq!(markers(segments(b"GIF89a")), [Err(Malformed { offset: 0 })]);
        assert_eq!(markers(segments(&[])), [Err(Malformed { offset: 0 })]);
        // A byte where a marker belongs.
        assert_eq!(
            markers(segments(&[0xFF, SOI, 0x12, 0x34, 0xFF, EOI])),
            [Err(Malformed { offset: 2 })]
        );
        // Lengths shorter than themselves, and past the end.
        for len in [0u8, 1, 9] {
            assert_eq!(
                markers(segments(&[0xFF, SOI, 0xFF, 0xE1, 0, len, 0, 0])),
                [Err(Malformed { offset: 4 })],
                "length {len}"
            );
        }
        // A length cut off.
        assert_eq!(
            markers(segments(&[0xFF, SOI, 0xFF, 0xE1, 0])),
            [Err(Malformed { offset: 4 })]
        );
        // 0xFF00 and a second SOI are not segments.
        assert_eq!(
            markers(segments(&[0xFF, SOI, 0xFF, 0x00, 0xFF, EOI])),
            [Err(Malformed { offset: 3 })]
        );
    }

    #[test]
    fn every_truncation_of_a_good_file_walks_without_panicking() {
        let j = sample();
        for n in 0..=j.len() {
            let walked: Vec<_> = segments(&j[..n]).collect();
            assert!(walked.len() <= 4, "cut at {n}: {walked:?}");
            assert!(walked.iter().filter(|s| s.is_err()).count() <= 1);
            let _ = header_segments(&j[..n]).count();
        }
    }

    #[test]
    fn a_file_cut_anywhere_before_its_end_marker_is_truncated() {
        let j = sample();
        assert!(!is_truncated(&j));
        for n in 2..j.len() - 1 {
            assert!(is_truncated(&j[..n]), "cut at {n}");
        }
        // Damage is not truncation: a stray byte where a marker belongs.
        assert!(!is_truncated(&[0xFF, SOI, 0x12, 0x34, 0xFF, EOI]));
    }

    /// Hostile bytes: random streams after an SOI, and the sample with each byte
    /// replaced by each interesting value. The walk always ends, within one item per
    /// byte (each step moves forward), and yields at most one error, last.
    #[test]
    fn hostile_bytes_never_panic_or_loop() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let check = |bytes: &[u8]| {
            let walked: Vec<_> = segments(bytes).take(bytes.len() + 2).collect();
            assert!(walked.len() <= bytes.len(), "{bytes:?}");
            if let Some(i) = walked.iter().position(Result::is_err) {
                assert_eq!(i, walked.len() - 1, "{bytes:?}");
            }
            for s in walked.iter().flatten() {
                assert!(s.raw.len() >= 2 && s.offset + s.raw.len() <= bytes.len());
            }
            assert!(header_segments(bytes).take(bytes.len() + 2).count() <= bytes.len());
        };
        for _ in 0..2000 {
            let len = (rand() % 64) as usize;
            let mut bytes = vec![0xFF, SOI];
            // Mostly 0xFF and marker-like bytes, so that lengths and markers come up.
            bytes.extend((0..len).map(|_| match rand() % 4 {
                0 => 0xFF,
                1 => 0xD0 + (rand() % 16) as u8,
                _ => rand() as u8,
            }));
            check(&bytes);
        }
        let good = sample();
        for i in 0..good.len() {
            for v in [0x00, 0x01, 0x02, 0xD0, SOI, EOI, SOS, 0xFF] {
                let mut bad = good.clone();
                bad[i] = v;
                check(&bad);
            }
        }
    }
}
