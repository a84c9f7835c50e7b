//! The progressive DC-only shortcuts. At 1/8 scale libjpeg's 1x1 inverse DCT reads only
//! each block's DC coefficient, and a progressive JPEG sends DC in scans of its own, so
//! most of the file (the AC scans) need not be decoded. Both shortcuts give a stream
//! that libjpeg-turbo decodes at 1/8 to exactly the pixels of the whole file:
//!
//! - [`progressive_dc_baseline`], when no component reads AC at 1/8 (4:4:4, 4:2:2,
//!   greyscale, CMYK): the DC coefficients are decoded here and written out as a
//!   baseline JPEG. libjpeg decodes a baseline JPEG a row of blocks at a time, so the
//!   whole-image coefficient buffer it keeps for any progressive file (96 MiB for a
//!   4096x4096 4:4:4 photo) is never allocated.
//! - [`progressive_dc_only`], otherwise (4:2:0: libjpeg decodes chroma at 1/8 with a 2x2
//!   inverse DCT, which reads AC): the file with the AC scans of the components that do
//!   not read AC replaced by one tiny scan. libjpeg still decodes it progressively.
//!
//! Either returns `None` when the stream is not as expected; the caller then decodes the
//! whole file, and libjpeg-turbo judges it.

use super::jpeg::MAX_SCANS;
use crate::jpeg_markers::{self, DRI, SOF2, SOS};

/// Define Huffman tables.
const DHT: u8 = 0xC4;
/// Define quantization tables.
const DQT: u8 = 0xDB;
/// Start of frame, baseline DCT.
const SOF0: u8 = 0xC0;

/// The frame of a progressive JPEG, from its SOF2 segment.
struct Frame {
    width: usize,
    height: usize,
    /// (component id, H, V), in frame order.
    components: Vec<(u8, usize, usize)>,
    hmax: usize,
    vmax: usize,
}

impl Frame {
    /// P, Y, X, Nf, then Nf x (id, H<<4 | V, Tq). 8-bit samples only.
    fn parse(p: &[u8]) -> Option<Frame> {
        let be16 = |i: usize| Some(u16::from_be_bytes([*p.get(i)?, *p.get(i + 1)?]) as usize);
        let (precision, height, width) = (*p.first()?, be16(1)?, be16(3)?);
        let nf = *p.get(5)? as usize;
        if precision != 8 || width == 0 || height == 0 || !(1..=4).contains(&nf) {
            return None;
        }
        let mut components = Vec::with_capacity(nf);
        for c in 0..nf {
            let (id, hv) = (*p.get(6 + 3 * c)?, *p.get(7 + 3 * c)?);
            let (h, v) = ((hv >> 4) as usize, (hv & 0x0F) as usize);
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                return None;
            }
            components.push((id, h, v));
        }
        let hmax = components.iter().map(|c| c.1).max()?;
        let vmax = components.iter().map(|c| c.2).max()?;
        Some(Frame {
            width,
            height,
            components,
            hmax,
            vmax,
        })
    }

    fn index(&self, id: u8) -> Option<usize> {
        self.components.iter().position(|c| c.0 == id)
    }

    /// MCUs across and down (an interleaved scan's grid).
    fn mcus(&self) -> (usize, usize) {
        (
            self.width.div_ceil(8 * self.hmax),
            self.height.div_ceil(8 * self.vmax),
        )
    }

    /// Blocks across and down that hold component `c`'s samples (a one-component
    /// scan's grid).
    fn blocks(&self, c: usize) -> (usize, usize) {
        let (_, h, v) = self.components[c];
        (
            (self.width * h).div_ceil(self.hmax).div_ceil(8),
            (self.height * v).div_ceil(self.vmax).div_ceil(8),
        )
    }

    /// Blocks across and down of component `c` with the MCUs' padding.
    fn padded(&self, c: usize) -> (usize, usize) {
        let (_, h, v) = self.components[c];
        let (mx, my) = self.mcus();
        (mx * h, my * v)
    }

    /// Whether libjpeg-turbo decodes component `c` at 1/8 with a larger inverse DCT
    /// than 1x1, which reads AC: it scales a subsampled component up in the IDCT instead
    /// of upsampling when both of its factors divide evenly (jdmaster.c), as 4:2:0
    /// chroma does (2x2) and 4:2:2 chroma (upsampled horizontally) does not.
    fn reads_ac_at_one_eighth(&self, c: usize) -> bool {
        let (_, h, v) = self.components[c];
        self.hmax % (2 * h) == 0 && self.vmax % (2 * v) == 0
    }

    /// Visits the blocks of a scan of `components` (indexes) in the order its data
    /// codes them, as (component, index into that component's padded grid).
    fn each_block(
        &self,
        components: &[usize],
        mut visit: impl FnMut(usize, usize) -> Option<()>,
    ) -> Option<()> {
        if let [c] = components {
            let ((bw, bh), (pw, _)) = (self.blocks(*c), self.padded(*c));
            for y in 0..bh {
                for x in 0..bw {
                    visit(*c, y * pw + x)?;
                }
            }
            return Some(());
        }
        // (component, H, V, padded width in blocks), out of the per-block loop.
        let layout: Vec<(usize, usize, usize, usize)> = components
            .iter()
            .map(|&c| {
                let (_, h, v) = self.components[c];
                (c, h, v, self.padded(c).0)
            })
            .collect();
        let (mx, my) = self.mcus();
        for y in 0..my {
            for x in 0..mx {
                for &(c, h, v, pw) in &layout {
                    let first = y * v * pw + x * h;
                    for dy in 0..v {
                        for dx in 0..h {
                            visit(c, first + dy * pw + dx)?;
                        }
                    }
                }
            }
        }
        Some(())
    }
}

/// The progressive JPEG `jpeg` as a baseline JPEG of its DC coefficients, every AC
/// coefficient zero, when no component reads AC at 1/8 (see the module). Decoded at 1/8
/// it gives exactly the whole file's pixels: the same DC values go through the same 1x1
/// inverse DCT, upsampling and colour conversion. AC that is zero but present is
/// complete data, as after the whole file's last scan, so libjpeg's block smoothing
/// (for coefficients that never arrived) applies in neither ([`Progression`]).
///
/// `None` (the caller decodes the file whole) for anything out of the ordinary: another
/// frame type, restart intervals, tables redefined between scans, DC data that does not
/// decode, a file that does not reach end-of-image or whose scans leave coefficients
/// incomplete, more than [`MAX_SCANS`] scans.
pub fn progressive_dc_baseline(jpeg: &[u8]) -> Option<Vec<u8>> {
    let mut head = Vec::new(); // APPn and DQT segments, in order
    let mut frame: Option<(Frame, &[u8])> = None;
    let mut dc_tables: [Option<Huffman>; 4] = Default::default();
    let mut dc: Vec<Vec<i32>> = Vec::new();
    let mut progression = Progression::default();
    let mut scans = 0u32;
    let mut walk = jpeg_markers::segments(jpeg);
    for segment in walk.by_ref() {
        let segment = segment.ok()?;
        let p = segment.payload;
        match segment.marker {
            SOF2 if frame.is_none() => {
                let f = Frame::parse(p)?;
                if (0..f.components.len()).any(|c| f.reads_ac_at_one_eighth(c)) {
                    return None;
                }
                dc = (0..f.components.len())
                    .map(|c| {
                        let (w, h) = f.padded(c);
                        vec![0; w * h]
                    })
                    .collect();
                progression = Progression::new(f.components.len());
                frame = Some((f, p));
            }
            DHT => read_dc_tables(p, &mut dc_tables)?,
            DQT if scans == 0 => head.extend_from_slice(segment.raw),
            0xE0..=0xEF if scans == 0 => head.extend_from_slice(segment.raw),
            0xE0..=0xEF | 0xFE => {} // APPn after the first scan, COM: not needed
            DRI if p.get(..2)? == [0, 0] => {}
            SOS => {
                scans += 1;
                if scans > MAX_SCANS {
                    return None;
                }
                let (f, _) = frame.as_ref()?;
                let scan = Scan::parse(f, p)?;
                progression.record(&scan);
                if scan.spectral_start != 0 {
                    continue; // AC: not needed at 1/8
                }
                let data = &segment.raw[(4 + p.len()).min(segment.raw.len())..];
                decode_dc_scan(f, &scan, &dc_tables, data, &mut dc)?;
            }
            _ => return None, // another frame type, DNL, DQT between scans, ...
        }
    }
    let (f, sof) = frame?;
    if !walk.reached_eoi() || !progression.complete() {
        return None;
    }
    encode_baseline(&f, sof, &head, &dc)
}

/// Which bits of each coefficient the scans so far have sent, per component and
/// coefficient (libjpeg's `coef_bits`): the lowest bit position sent, -1 before any.
///
/// Only a file whose scans complete every coefficient down to bit 0 decodes at 1/8 to
/// the same pixels from its DC alone: while any coefficient is incomplete, libjpeg
/// smooths blocks, estimating the missing ones, DC included, from the neighbouring
/// blocks. A progressive file may end (at end-of-image) before its last scans. And only
/// a consistent progression (T.81 G.1.1.1.1: each refinement sends the next bit, AC
/// after DC) is decoded the same with scans dropped: libjpeg decodes the others too,
/// with a warning, in ways a shortened stream need not reproduce.
#[derive(Default)]
struct Progression {
    bits: Vec<[i8; 64]>,
    consistent: bool,
}

impl Progression {
    fn new(components: usize) -> Self {
        Progression {
            bits: vec![[-1; 64]; components],
            consistent: true,
        }
    }

    fn record(&mut self, scan: &Scan) {
        let (ah, al) = (scan.approx_high as i8, scan.approx_low as i8);
        for &c in &scan.components {
            let bits = &mut self.bits[c];
            if scan.spectral_start > 0 && bits[0] < 0 {
                self.consistent = false; // AC before the component's DC
            }
            for bit in &mut bits[scan.spectral_start as usize..=scan.spectral_end as usize] {
                let expected = if ah == 0 { -1 } else { ah };
                if *bit != expected || (ah != 0 && al != ah - 1) {
                    self.consistent = false;
                }
                *bit = al;
            }
        }
    }

    fn complete(&self) -> bool {
        self.consistent
            && !self.bits.is_empty()
            && self.bits.iter().all(|c| c.iter().all(|&bit| bit == 0))
    }
}

/// One scan's header: Ns, Ns x (component, Td<<4 | Ta), Ss, Se, Ah<<4 | Al.
struct Scan {
    /// Indexes into the frame's components, with each one's DC table.
    components: Vec<usize>,
    dc_table: Vec<usize>,
    spectral_start: u8,
    spectral_end: u8,
    approx_high: u8,
    approx_low: u8,
}

impl Scan {
    fn parse(frame: &Frame, p: &[u8]) -> Option<Scan> {
        let ns = *p.first()? as usize;
        if !(1..=4).contains(&ns) {
            return None;
        }
        let mut components = Vec::with_capacity(ns);
        let mut dc_table = Vec::with_capacity(ns);
        for i in 0..ns {
            let c = frame.index(*p.get(1 + 2 * i)?)?;
            if components.contains(&c) {
                return None; // a component twice in one scan: libjpeg refuses the file
            }
            components.push(c);
            dc_table.push((*p.get(2 + 2 * i)? >> 4) as usize);
        }
        let (ss, se, a) = (
            *p.get(1 + 2 * ns)?,
            *p.get(2 + 2 * ns)?,
            *p.get(3 + 2 * ns)?,
        );
        if (ss == 0 && se != 0) || se < ss || se > 63 || a & 0x0F > 13 {
            return None;
        }
        Some(Scan {
            components,
            dc_table,
            spectral_start: ss,
            spectral_end: se,
            approx_high: a >> 4,
            approx_low: a & 0x0F,
        })
    }
}

/// Decodes a DC scan (T.81 G.1.2.1) into `dc`: a first scan's differences, or a
/// refinement scan's one bit per block.
fn decode_dc_scan(
    frame: &Frame,
    scan: &Scan,
    tables: &[Option<Huffman>; 4],
    data: &[u8],
    dc: &mut [Vec<i32>],
) -> Option<()> {
    let mut bits = BitReader::new(data);
    let al = scan.approx_low;
    if scan.approx_high != 0 {
        return frame.each_block(&scan.components, |c, i| {
            dc[c][i] |= (bits.bits(1)? as i32) << al;
            Some(())
        });
    }
    // Per frame component: its DC table in this scan, and its prediction.
    let mut table: [Option<&Huffman>; 4] = [None; 4];
    for (&c, &t) in scan.components.iter().zip(&scan.dc_table) {
        table[c] = Some(tables.get(t)?.as_ref()?);
    }
    let mut predictions = [0i32; 4];
    frame.each_block(&scan.components, |c, i| {
        let s = bits.huffman(table[c]?)? as u32;
        if s > 15 {
            return None;
        }
        predictions[c] += extend(bits.bits(s)?, s);
        dc[c][i] = predictions[c] << al;
        Some(())
    })
}

/// T.81 F.12: the `s`-bit value `v` as a signed difference.
fn extend(v: u32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < 1 << (s - 1) {
        v as i32 - (1 << s) + 1
    } else {
        v as i32
    }
}

/// The baseline JPEG: the kept APPn and DQT segments, the frame as SOF0, a DC table
/// for categories 0-15 and an AC table of end-of-block alone, and one interleaved scan
/// of every block's DC difference followed by end-of-block.
fn encode_baseline(frame: &Frame, sof: &[u8], head: &[u8], dc: &[Vec<i32>]) -> Option<Vec<u8>> {
    let interleaved = frame.components.len() > 1;
    if interleaved && frame.components.iter().map(|c| c.1 * c.2).sum::<usize>() > 10 {
        return None; // more blocks per MCU than an interleaved scan may have
    }
    let blocks: usize = dc.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(head.len() + blocks * 2 + 1024);
    out.extend_from_slice(&[0xFF, jpeg_markers::SOI]);
    out.extend_from_slice(head);
    out.extend_from_slice(&[0xFF, SOF0]);
    out.extend_from_slice(&(sof.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(sof);
    // DC table 0: categories 0-13 as 4-bit codes 0000-1101, 14 and 15 as 11100, 11101
    // (no code may be all ones). AC table 0: end-of-block (0x00) as the 1-bit code 0.
    let mut dht = vec![0xFF, DHT, 0, 2 + 17 + 16 + 17 + 1, 0x00];
    dht.extend_from_slice(&[0, 0, 0, 14, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    dht.extend(0..16u8);
    dht.extend_from_slice(&[0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00]);
    out.extend_from_slice(&dht);
    let ns = frame.components.len() as u8;
    out.extend_from_slice(&[0xFF, SOS, 0, 6 + 2 * ns, ns]);
    for &(id, _, _) in &frame.components {
        out.extend_from_slice(&[id, 0x00]);
    }
    out.extend_from_slice(&[0, 63, 0]);
    let mut bits = BitWriter {
        out,
        ..Default::default()
    };
    let mut predictions = [0i32; 4];
    let all: Vec<usize> = (0..frame.components.len()).collect();
    frame.each_block(&all, |c, i| {
        let diff = dc[c][i] - predictions[c];
        predictions[c] = dc[c][i];
        let magnitude = diff.unsigned_abs();
        if magnitude >= 1 << 15 {
            return None;
        }
        let s = u32::BITS - magnitude.leading_zeros();
        let (code, length) = match s {
            0..=13 => (s, 4),
            _ => (0b11100 + s - 14, 5),
        };
        let extra = (if diff < 0 { diff - 1 } else { diff }) as u32 & ((1 << s) - 1);
        // The category's code, its extra bits, and end-of-block (0): at most 21 bits.
        bits.put((code << (s + 1)) | (extra << 1), length + s + 1);
        Some(())
    })?;
    let mut out = bits.finish();
    out.extend_from_slice(&[0xFF, jpeg_markers::EOI]);
    Some(out)
}

/// A DHT segment's DC tables (class 0) into `tables`; AC tables are not needed.
fn read_dc_tables(mut p: &[u8], tables: &mut [Option<Huffman>; 4]) -> Option<()> {
    while let Some(&tc_th) = p.first() {
        let counts: [u8; 16] = p.get(1..17)?.try_into().ok()?;
        let n: usize = counts.iter().map(|&c| c as usize).sum();
        let values = p.get(17..17 + n)?;
        let (class, id) = (tc_th >> 4, (tc_th & 0x0F) as usize);
        if class > 1 || id > 3 {
            return None;
        }
        if class == 0 {
            tables[id] = Some(Huffman::new(&counts, values)?);
        }
        p = &p[17 + n..];
    }
    Some(())
}

/// Bits of lookahead in [`Huffman::fast`]: DC codes are rarely longer.
const FAST_BITS: u32 = 9;

/// A Huffman table for decoding: the codes of up to [`FAST_BITS`] bits from a table
/// indexed by the next bits, longer ones by T.81 F.2.2.3 (the largest code and the
/// first value of each length).
struct Huffman {
    /// (code length, value) for each `FAST_BITS`-bit prefix; length 0: a longer code.
    fast: Vec<(u8, u8)>,
    max_code: [i32; 17],
    offset: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: &[u8]) -> Option<Huffman> {
        let (mut max_code, mut offset) = ([-1i32; 17], [0i32; 17]);
        let mut fast = vec![(0u8, 0u8); 1 << FAST_BITS];
        let (mut code, mut k) = (0i32, 0i32);
        for len in 1..=16 {
            let n = counts[len - 1] as i32;
            if code + n > 1 << len {
                return None; // more codes than this length holds
            }
            offset[len] = k - code;
            if len as u32 <= FAST_BITS {
                for (j, &value) in values[k as usize..(k + n) as usize].iter().enumerate() {
                    let shift = FAST_BITS - len as u32;
                    let first = ((code + j as i32) << shift) as usize;
                    fast[first..first + (1 << shift)].fill((len as u8, value));
                }
            }
            code += n;
            k += n;
            max_code[len] = if n == 0 { -1 } else { code - 1 };
            code <<= 1;
        }
        Some(Huffman {
            fast,
            max_code,
            offset,
            values: values.to_vec(),
        })
    }
}

/// Entropy-coded bytes, MSB first, 0xFF00 unstuffed. Ends at a marker or the end of the
/// data: reading past it is `None` (the data is short).
struct BitReader<'a> {
    data: &'a [u8],
    at: usize,
    acc: u64,
    n: u32,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            at: 0,
            acc: 0,
            n: 0,
        }
    }

    /// Tops the accumulator up to at least 32 bits, if the data has them.
    fn fill(&mut self) {
        while self.n <= 56 {
            let Some(&byte) = self.data.get(self.at) else {
                return;
            };
            if byte == 0xFF {
                if self.data.get(self.at + 1) != Some(&0) {
                    return; // a marker: the scan's data ends here
                }
                self.at += 1;
            }
            self.at += 1;
            self.acc = (self.acc << 8) | byte as u64;
            self.n += 8;
        }
    }

    fn bits(&mut self, count: u32) -> Option<u32> {
        if count == 0 {
            return Some(0);
        }
        if self.n < count {
            self.fill();
            if self.n < count {
                return None;
            }
        }
        self.n -= count;
        Some(((self.acc >> self.n) & ((1 << count) - 1)) as u32)
    }

    fn huffman(&mut self, table: &Huffman) -> Option<u8> {
        if self.n < 16 {
            self.fill();
        }
        if self.n >= FAST_BITS {
            let peek = (self.acc >> (self.n - FAST_BITS)) as usize & ((1 << FAST_BITS) - 1);
            let (len, value) = table.fast[peek];
            if len > 0 {
                self.n -= len as u32;
                return Some(value);
            }
        }
        let mut code = 0i32;
        for len in 1..=16u32 {
            if len > self.n {
                return None;
            }
            code = (code << 1) | ((self.acc >> (self.n - len)) & 1) as i32;
            if code <= table.max_code[len as usize] {
                self.n -= len;
                return table
                    .values
                    .get((table.offset[len as usize] + code) as usize)
                    .copied();
            }
        }
        None
    }
}

/// The progressive JPEG `jpeg` with the AC scans (spectral start > 0) of the components
/// that do not read AC at 1/8 replaced by one tiny scan that declares all their AC
/// coefficients zero. Headers, tables, DC scans and the scans of the components that
/// read AC (4:2:0 chroma) are kept. For the files [`progressive_dc_baseline`] does not
/// take.
///
/// Why a replacement scan rather than none: libjpeg "smooths" blocks whose AC
/// coefficients never arrived by estimating them, DC included, from the neighbours; AC
/// declared zero is complete data, so the DC values decode exactly as in the full file.
pub fn progressive_dc_only(jpeg: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(jpeg.len() / 4);
    out.extend_from_slice(&[0xFF, jpeg_markers::SOI]);
    let mut frame: Option<Frame> = None;
    let mut progression = Progression::default();
    let mut walk = jpeg_markers::segments(jpeg);
    for segment in walk.by_ref() {
        let segment = segment.ok()?;
        let p = segment.payload;
        match segment.marker {
            SOF2 => {
                let f = Frame::parse(p)?;
                progression = Progression::new(f.components.len());
                frame = Some(f);
            }
            // Restart intervals would need restart markers in the replacement scans.
            DRI if p.get(..2)? != [0, 0] => return None,
            SOS => {
                // Ns, Ns x (component, tables), Ss, Se, Ah/Al; the raw segment carries
                // the entropy-coded data too. AC scans have one component.
                let f = frame.as_ref()?;
                let scan = Scan::parse(f, p)?;
                progression.record(&scan);
                if scan.spectral_start == 0 || f.reads_ac_at_one_eighth(scan.components[0]) {
                    out.extend_from_slice(segment.raw);
                }
                continue;
            }
            _ => {}
        }
        out.extend_from_slice(segment.raw);
    }
    let f = frame?;
    // A file cut short, even in a scan this stream drops, is the decoder's to refuse;
    // one that ends early is smoothed by it ([`Progression`]).
    if !walk.reached_eoi() || !progression.complete() {
        return None;
    }
    // One Huffman table (AC, slot 3) with the 15 end-of-band-run symbols EOB0..EOB14,
    // each a 4-bit code equal to its index; defined after every kept scan, so redefining
    // slot 3 cannot affect them.
    let mut dht = vec![0xFF, DHT, 0, 2 + 1 + 16 + 15, 0x13];
    dht.extend_from_slice(&[0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    dht.extend((0..15u8).map(|r| r << 4));
    out.extend_from_slice(&dht);
    for c in (0..f.components.len()).filter(|&c| !f.reads_ac_at_one_eighth(c)) {
        // A one-component scan covers the component's own blocks.
        let (bw, bh) = f.blocks(c);
        out.extend_from_slice(&[0xFF, SOS, 0, 8, 1, f.components[c].0, 0x03, 1, 63, 0]);
        let mut bits = BitWriter::default();
        let mut left = bw * bh;
        while left > 0 {
            let run = left.min(32767);
            let r = usize::BITS - 1 - run.leading_zeros(); // run = 2^r + extra
            bits.put(r, 4);
            bits.put((run - (1 << r)) as u32, r);
            left -= run;
        }
        out.extend_from_slice(&bits.finish());
    }
    out.extend_from_slice(&[0xFF, jpeg_markers::EOI]);
    Some(out)
}

/// Entropy-coded bytes: MSB first, 0xFF stuffed with 0x00, padded with 1 bits.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// Appends the low `bits` (at most 32) bits of `value`.
    fn put(&mut self, value: u32, bits: u32) {
        self.acc = (self.acc << bits) | (value as u64 & ((1u64 << bits) - 1));
        self.n += bits;
        while self.n >= 8 {
            self.n -= 8;
            self.push((self.acc >> self.n) as u8);
        }
    }

    fn push(&mut self, byte: u8) {
        self.out.push(byte);
        if byte == 0xFF {
            self.out.push(0);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            let pad = 8 - self.n;
            self.put((1 << pad) - 1, pad);
        }
        self.out
    }
}
