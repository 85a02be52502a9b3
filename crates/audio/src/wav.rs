//! Just enough RIFF/WAVE to stream PCM in and out: a header parser that finds the `data` chunk
//! (so ranges of samples can be read by byte offset, also from S3) and a 16/24-bit mono writer.

use std::io::{self, Read, Seek, SeekFrom, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    Int16,
    Int24,
    Int32,
    Float32,
}

impl SampleFormat {
    pub fn bytes(self) -> usize {
        match self {
            Self::Int16 => 2,
            Self::Int24 => 3,
            Self::Int32 | Self::Float32 => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavFormat {
    pub sample_rate: u32,
    pub channels: u16,
    pub format: SampleFormat,
}

impl WavFormat {
    pub fn block_align(&self) -> usize {
        self.format.bytes() * self.channels as usize
    }
}

/// Where the samples are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavLayout {
    pub format: WavFormat,
    pub data_offset: u64,
    /// `None` when the writer could not know it (a WAV streamed through a pipe).
    pub data_len: Option<u64>,
}

impl WavLayout {
    /// Byte range of frames `[start, end)` (mono or interleaved), for ranged reads.
    pub fn byte_range(&self, start_frame: u64, end_frame: u64) -> (u64, u64) {
        let ba = self.format.block_align() as u64;
        let mut end = self.data_offset + end_frame * ba;
        if let Some(len) = self.data_len {
            end = end.min(self.data_offset + len);
        }
        let start = (self.data_offset + start_frame * ba).min(end);
        (start, end - start)
    }

    pub fn frames(&self) -> Option<u64> {
        self.data_len.map(|l| l / self.format.block_align() as u64)
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn u16le(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}
fn u32le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads the header up to the start of the samples; the reader is left at the first sample.
pub fn read_header<R: Read>(r: &mut R) -> io::Result<WavLayout> {
    let (fmt, data_offset, data_len) = walk_chunks(r)?;
    Ok(WavLayout { format: parse_fmt(&fmt)?, data_offset, data_len })
}

/// Whatever the encoding (μ-law, A-law, ADPCM…): where the data starts, how long the header
/// says it is, and the byte rate. Tells a truncated file from a whole one.
pub fn declared_extent<R: Read>(r: &mut R) -> io::Result<(u64, Option<u64>, u32)> {
    let (fmt, offset, len) = walk_chunks(r)?;
    Ok((offset, len, u32le(&fmt[8..12])))
}

/// The `fmt ` body, the data offset and the data length (None when streamed).
fn walk_chunks<R: Read>(r: &mut R) -> io::Result<(Vec<u8>, u64, Option<u64>)> {
    let mut riff = [0u8; 12];
    r.read_exact(&mut riff)?;
    if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let mut pos = 12u64;
    let mut fmt = None;
    loop {
        let mut head = [0u8; 8];
        r.read_exact(&mut head)?;
        pos += 8;
        let size = u32le(&head[4..8]);
        match &head[0..4] {
            b"fmt " => {
                if !(16..=1024).contains(&size) {
                    return Err(bad("bad fmt chunk"));
                }
                let mut body = vec![0u8; size as usize + (size as usize & 1)];
                r.read_exact(&mut body)?;
                pos += body.len() as u64;
                fmt = Some(body);
            }
            b"data" => {
                let fmt = fmt.ok_or_else(|| bad("data chunk before fmt chunk"))?;
                // Streamed writers leave 0 or 0xFFFFFFFF: the data runs to the end.
                let data_len = if size == 0 || size == u32::MAX { None } else { Some(size as u64) };
                return Ok((fmt, pos, data_len));
            }
            _ => {
                let skip = size as u64 + (size as u64 & 1);
                io::copy(&mut r.by_ref().take(skip), &mut io::sink())?;
                pos += skip;
            }
        }
    }
}

fn parse_fmt(b: &[u8]) -> io::Result<WavFormat> {
    let mut tag = u16le(&b[0..2]);
    let channels = u16le(&b[2..4]);
    let sample_rate = u32le(&b[4..8]);
    let bits = u16le(&b[14..16]);
    if tag == 0xFFFE && b.len() >= 26 {
        tag = u16le(&b[24..26]);
    }
    let format = match (tag, bits) {
        (1, 16) => SampleFormat::Int16,
        (1, 24) => SampleFormat::Int24,
        (1, 32) => SampleFormat::Int32,
        (3, 32) => SampleFormat::Float32,
        _ => return Err(bad(format!("unsupported WAV encoding (tag {tag}, {bits} bits)"))),
    };
    if channels == 0 || sample_rate == 0 {
        return Err(bad("WAV header declares no channels or no sample rate"));
    }
    Ok(WavFormat { sample_rate, channels, format })
}

/// Decodes interleaved little-endian samples to f32 in [-1, 1], averaging channels to mono.
pub fn decode_mono(bytes: &[u8], fmt: WavFormat, out: &mut Vec<f32>) {
    let ch = fmt.channels as usize;
    let bps = fmt.format.bytes();
    let frames = bytes.len() / (bps * ch);
    out.reserve(frames);
    for f in 0..frames {
        let mut acc = 0.0f32;
        for c in 0..ch {
            let s = &bytes[(f * ch + c) * bps..];
            acc += match fmt.format {
                SampleFormat::Int16 => i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0,
                SampleFormat::Int24 => (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f32 / 8_388_608.0,
                SampleFormat::Int32 => i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f32 / 2_147_483_648.0,
                SampleFormat::Float32 => f32::from_le_bytes([s[0], s[1], s[2], s[3]]),
            };
        }
        out.push(acc / ch as f32);
    }
}

/// Pulls mono f32 blocks from a WAV data stream, a block at a time, whatever its length.
pub struct SampleStream<R> {
    inner: R,
    fmt: WavFormat,
    remaining: Option<u64>,
    buf: Vec<u8>,
    carry: usize,
}

impl<R: Read> SampleStream<R> {
    pub fn new(inner: R, layout: WavLayout) -> Self {
        Self { inner, fmt: layout.format, remaining: layout.data_len, buf: vec![0; 64 * 1024], carry: 0 }
    }

    pub fn format(&self) -> WavFormat {
        self.fmt
    }

    /// Appends the next block to `out`; returns how many samples it added (0 at the end).
    pub fn next_block(&mut self, out: &mut Vec<f32>) -> io::Result<usize> {
        let ba = self.fmt.block_align();
        loop {
            let want = match self.remaining {
                Some(0) => return Ok(0),
                Some(r) => (self.buf.len() - self.carry).min(r as usize),
                None => self.buf.len() - self.carry,
            };
            let n = match self.inner.read(&mut self.buf[self.carry..self.carry + want]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Some(r) = self.remaining.as_mut() {
                *r -= n as u64;
            }
            if n == 0 {
                // A partial frame at the very end is dropped, as every decoder does.
                return Ok(0);
            }
            let have = self.carry + n;
            let whole = have / ba * ba;
            if whole == 0 {
                self.carry = have;
                continue;
            }
            let before = out.len();
            decode_mono(&self.buf[..whole], self.fmt, out);
            self.buf.copy_within(whole..have, 0);
            self.carry = have - whole;
            return Ok(out.len() - before);
        }
    }
}

/// Writes a mono PCM WAV; the sizes are patched in by [`WavWriter::finish`].
pub struct WavWriter<W: Write + Seek> {
    out: W,
    sample_rate: u32,
    bits: u16,
    data_bytes: u64,
}

impl<W: Write + Seek> WavWriter<W> {
    pub fn new(mut out: W, sample_rate: u32, bits: u16) -> io::Result<Self> {
        if bits != 16 && bits != 24 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "only 16 or 24-bit output"));
        }
        out.write_all(&header(sample_rate, bits, 0))?;
        Ok(Self { out, sample_rate, bits, data_bytes: 0 })
    }

    /// Samples are clamped to [-1, 1] and rounded (TPDF dither is not worth it at 16+ bits for cloning).
    pub fn write(&mut self, samples: &[f32]) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(samples.len() * 3);
        for &s in samples {
            let s = s.clamp(-1.0, 1.0);
            if self.bits == 16 {
                let v = (s * 32767.0).round() as i16;
                bytes.extend_from_slice(&v.to_le_bytes());
            } else {
                let v = (s * 8_388_607.0).round() as i32;
                bytes.extend_from_slice(&v.to_le_bytes()[..3]);
            }
        }
        self.out.write_all(&bytes)?;
        self.data_bytes += bytes.len() as u64;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        if self.data_bytes > u32::MAX as u64 - 36 {
            return Err(io::Error::other("WAV data over 4 GiB"));
        }
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header(self.sample_rate, self.bits, self.data_bytes as u32))?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Joins mono PCM WAVs of one format into `out`, `gap_s` of silence between them (so no
/// phrase runs from one recording into the next); returns the frames written. Streams: no file
/// is held in memory.
pub fn concat(parts: &[&std::path::Path], gap_s: f64, out: &std::path::Path) -> io::Result<u64> {
    let first = parts.first().ok_or_else(|| bad("nothing to join"))?;
    let fmt = read_header(&mut std::fs::File::open(first)?)?.format;
    let bits = match fmt.format {
        SampleFormat::Int16 => 16,
        SampleFormat::Int24 => 24,
        _ => return Err(bad("only 16 or 24-bit PCM is joined")),
    };
    if fmt.channels != 1 {
        return Err(bad("only mono WAVs are joined"));
    }
    let mut w = io::BufWriter::new(std::fs::File::create(out)?);
    w.write_all(&header(fmt.sample_rate, bits, 0))?;
    let block = fmt.block_align() as u64;
    let gap = vec![0u8; ((gap_s * fmt.sample_rate as f64).round() as u64 * block) as usize];
    let mut data = 0u64;
    for (i, part) in parts.iter().enumerate() {
        let mut r = io::BufReader::new(std::fs::File::open(part)?);
        let layout = read_header(&mut r)?;
        if layout.format != fmt {
            return Err(bad(format!("{} is {:?}, not {fmt:?} as the first", part.display(), layout.format)));
        }
        if i > 0 {
            w.write_all(&gap)?;
            data += gap.len() as u64;
        }
        let mut copied = match layout.data_len {
            Some(len) => io::copy(&mut r.take(len), &mut w)?,
            None => io::copy(&mut r, &mut w)?,
        };
        // A file cut short mid-frame: the frame is filled with silence, so the next part stays
        // frame-aligned.
        let partial = copied % block;
        if partial != 0 {
            w.write_all(&vec![0u8; (block - partial) as usize])?;
            copied += block - partial;
        }
        data += copied;
    }
    if data > u32::MAX as u64 - 36 {
        return Err(io::Error::other("WAV data over 4 GiB"));
    }
    let mut f = w.into_inner().map_err(|e| e.into_error())?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&header(fmt.sample_rate, bits, data as u32))?;
    f.flush()?;
    Ok(data / block)
}

fn header(rate: u32, bits: u16, data_bytes: u32) -> [u8; 44] {
    let block = bits / 8;
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data_bytes).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&1u16.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * block as u32).to_le_bytes());
    h[32..34].copy_from_slice(&block.to_le_bytes());
    h[34..36].copy_from_slice(&bits.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn joins_recordings_with_a_gap_and_refuses_another_format() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, rate: u32, n: usize, v: f32| {
            let path = dir.path().join(name);
            let mut w = WavWriter::new(std::fs::File::create(&path).unwrap(), rate, 16).unwrap();
            w.write(&vec![v; n]).unwrap();
            w.finish().unwrap();
            path
        };
        let (a, b) = (write("a.wav", 8000, 800, 0.5), write("b.wav", 8000, 400, -0.25));
        let out = dir.path().join("out.wav");
        assert_eq!(concat(&[&a, &b], 0.5, &out).unwrap(), 800 + 4000 + 400);
        let bytes = std::fs::read(&out).unwrap();
        let layout = read_header(&mut Cursor::new(&bytes)).unwrap();
        assert_eq!(layout.frames(), Some(5200));
        let mut samples = Vec::new();
        decode_mono(&bytes[layout.data_offset as usize..], layout.format, &mut samples);
        assert!((samples[799] - 0.5).abs() < 1e-3 && samples[800] == 0.0 && samples[4799] == 0.0);
        assert!((samples[4800] + 0.25).abs() < 1e-3 && (samples[5199] + 0.25).abs() < 1e-3);

        // A part cut short mid-frame (its header claims more than it holds): filled to the frame.
        let cut = dir.path().join("cut.wav");
        let whole = std::fs::read(&b).unwrap();
        std::fs::write(&cut, &whole[..whole.len() - 1]).unwrap();
        assert_eq!(concat(&[&cut, &a], 0.0, &out).unwrap(), 400 + 800);
        let bytes = std::fs::read(&out).unwrap();
        let layout = read_header(&mut Cursor::new(&bytes)).unwrap();
        let mut samples = Vec::new();
        decode_mono(&bytes[layout.data_offset as usize..], layout.format, &mut samples);
        assert_eq!(samples.len(), 1200);
        assert!((samples[400] - 0.5).abs() < 1e-3, "the next part starts on a frame: {}", samples[400]);

        let other = write("c.wav", 16000, 100, 0.1);
        let err = concat(&[&a, &other], 0.5, &out).unwrap_err();
        assert!(err.to_string().contains("c.wav"), "{err}");
    }

    #[test]
    fn round_trips_16_and_24_bit() {
        for bits in [16u16, 24] {
            let samples: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.01).sin() * 0.5).collect();
            let mut w = WavWriter::new(Cursor::new(Vec::new()), 22050, bits).unwrap();
            w.write(&samples).unwrap();
            let bytes = w.finish().unwrap().into_inner();
            let mut r = Cursor::new(&bytes);
            let layout = read_header(&mut r).unwrap();
            assert_eq!(layout.format.sample_rate, 22050);
            assert_eq!(layout.frames(), Some(1000));
            let mut stream = SampleStream::new(r, layout);
            let mut out = Vec::new();
            while stream.next_block(&mut out).unwrap() > 0 {}
            assert_eq!(out.len(), 1000);
            let tol = if bits == 16 { 1.0 / 30000.0 } else { 1.0 / 8_000_000.0 };
            assert!(samples.iter().zip(&out).all(|(a, b)| (a - b).abs() <= tol));
        }
    }

    #[test]
    fn byte_range_addresses_frames() {
        let layout = WavLayout {
            format: WavFormat { sample_rate: 8000, channels: 1, format: SampleFormat::Int16 },
            data_offset: 44,
            data_len: Some(1600),
        };
        assert_eq!(layout.byte_range(100, 200), (244, 200));
        assert_eq!(layout.byte_range(700, 900), (1444, 200), "clamped to the data");
    }

    #[test]
    fn rejects_what_is_not_wav() {
        let mut r = Cursor::new(b"hello, this is a text file pretending".to_vec());
        assert!(read_header(&mut r).is_err());
    }

    #[test]
    fn streamed_header_reads_to_the_end() {
        let mut bytes = header(16000, 16, 0).to_vec();
        bytes.extend_from_slice(&[0x00, 0x40, 0x00, 0xC0, 0x7f]);
        let mut r = Cursor::new(bytes);
        let layout = read_header(&mut r).unwrap();
        assert_eq!(layout.data_len, None);
        let mut s = SampleStream::new(r, layout);
        let mut out = Vec::new();
        while s.next_block(&mut out).unwrap() > 0 {}
        assert_eq!(out, vec![0.5, -0.5], "the odd trailing byte is dropped");
    }
}
