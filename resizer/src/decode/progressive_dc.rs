//! The progressive DC-only rewrite: a shorter JPEG that decodes at 1/8 scale to exactly
//! the pixels of the whole file (see [`progressive_dc_only`]).

use crate::jpeg_markers::{self, DRI, SOF2, SOS};

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
    out.extend_from_slice(&[0xFF, jpeg_markers::SOI]);
    let mut sampling: Vec<(u8, u8, u8)> = Vec::new(); // (component id, H, V)
    let mut size = (0usize, 0usize);
    // Ends at EOI, or at the end of the bytes (truncated after a scan): either way the
    // stream gets our own EOI.
    for segment in jpeg_markers::segments(jpeg) {
        let segment = segment.ok()?;
        let p = segment.payload;
        let be16 = |i: usize| Some(u16::from_be_bytes([*p.get(i)?, *p.get(i + 1)?]) as usize);
        match segment.marker {
            SOF2 => {
                // P, Y, X, Nf, then Nf x (id, H<<4 | V, Tq).
                size = (be16(3)?, be16(1)?);
                let nf = *p.get(5)? as usize;
                for c in 0..nf {
                    let (id, hv) = (*p.get(6 + 3 * c)?, *p.get(7 + 3 * c)?);
                    sampling.push((id, hv >> 4, hv & 0x0F));
                }
            }
            // Restart intervals would need restart markers in the replacement scans.
            DRI if be16(0)? != 0 => return None,
            SOS => {
                // Ns, Ns x (component, tables), Ss, Se, Ah/Al; the raw segment carries
                // the entropy-coded data too.
                let ns = *p.first()? as usize;
                let ss = *p.get(1 + 2 * ns)?;
                let component = *p.get(1)?;
                if sampling.is_empty() {
                    return None;
                }
                if ss == 0 || subsampled(&sampling, component) {
                    out.extend_from_slice(segment.raw);
                }
                continue;
            }
            _ => {}
        }
        out.extend_from_slice(segment.raw);
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
