//! MPEG audio layer III, frame by frame, without decoding: enough to cut a conversation's MP3
//! (ElevenLabs' `post_call_audio`) into the caller's turns where no ffmpeg runs (the webhook).
//!
//! A cut keeps whole frames. A layer III frame may start its audio data in the frames before it
//! (the bit reservoir, `main_data_begin`), so each kept run of frames is preceded by as many
//! frames as its first frame reaches back into; without them a decoder has nothing to decode
//! that frame from. Those lead-in frames play too (a few tens of milliseconds, inside the
//! caller's turn when the turn was cut with a guard).

use echome_core::recordings::TurnSpan;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mp3Error {
    #[error("no MPEG audio frames were found ({bytes} bytes)")]
    NoFrames { bytes: usize },
    #[error("the audio is MPEG layer {layer}, not layer III (MP3)")]
    NotLayer3 { layer: u8 },
    #[error("the audio changes its sample rate or MPEG version part-way through")]
    Mixed,
}

/// One frame: where it is, and where its audio data starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    start: usize,
    len: usize,
    /// Bytes of audio data this frame takes from the frames before it.
    reaches_back: usize,
    /// Bytes of audio data this frame holds (after its header and side information).
    holds: usize,
}

/// A frame header's fields that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    /// 1 (MPEG-1), 2 (MPEG-2) or 25 (MPEG-2.5).
    version: u8,
    layer: u8,
    sample_rate: u32,
    len: usize,
    /// Header, CRC and side information: where the audio data (or a Xing tag) starts.
    data_at: usize,
    mono: bool,
}

const KBPS_V1_L3: [u32; 16] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0];
const KBPS_V2_L3: [u32; 16] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0];

fn header(b: &[u8]) -> Option<Header> {
    let [b0, b1, b2, b3] = *b.get(..4)? else { return None };
    if b0 != 0xFF || b1 & 0xE0 != 0xE0 {
        return None;
    }
    let version = match (b1 >> 3) & 3 {
        0 => 25,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    let layer = match (b1 >> 1) & 3 {
        1 => 3,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    let crc = b1 & 1 == 0;
    let (bitrate_index, rate_index, padding) = ((b2 >> 4) as usize, (b2 >> 2) & 3, (b2 >> 1) & 1);
    let base = match rate_index {
        0 => 44_100,
        1 => 48_000,
        2 => 32_000,
        _ => return None,
    };
    let sample_rate = match version {
        1 => base,
        2 => base / 2,
        _ => base / 4,
    };
    let mono = b3 >> 6 == 3;
    if layer != 3 {
        // Recognised, so the error can say what it is; not cut.
        return Some(Header { version, layer, sample_rate, len: 0, data_at: 4, mono });
    }
    let kbps = if version == 1 { KBPS_V1_L3 } else { KBPS_V2_L3 }[bitrate_index];
    if kbps == 0 {
        // Free format or a bad index: too rare in MP3 files to be worth the search it needs.
        return None;
    }
    let per_kbps = if version == 1 { 144_000 } else { 72_000 };
    let len = (per_kbps * kbps / sample_rate) as usize + padding as usize;
    let mut h = Header { version, layer, sample_rate, len, data_at: 0, mono };
    h.data_at = 4 + if crc { 2 } else { 0 } + side_len(&h);
    (len > h.data_at).then_some(h)
}

/// The frames of an MP3 file, in order.
#[derive(Debug, Clone)]
pub struct Mp3<'a> {
    data: &'a [u8],
    frames: Vec<Frame>,
    sample_rate: u32,
    samples_per_frame: u32,
}

impl<'a> Mp3<'a> {
    /// Finds the frames: an ID3v2 tag in front is skipped, and so is a Xing/Info/VBRI frame
    /// (it holds no audio, and its frame count would be wrong for a cut). Bytes between frames
    /// that are not a frame are stepped over.
    pub fn parse(data: &'a [u8]) -> Result<Self, Mp3Error> {
        let mut at = id3v2_len(data);
        let mut frames = Vec::new();
        let mut first: Option<Header> = None;
        let mut other_layer = None;
        // Where the frame after the last one found starts.
        let mut next = usize::MAX;
        while at + 4 <= data.len() {
            let Some(h) = header(&data[at..]) else {
                at += 1;
                continue;
            };
            if h.layer != 3 {
                other_layer.get_or_insert(h.layer);
                at += 1;
                continue;
            }
            let end = at + h.len;
            if end > data.len() {
                break;
            }
            // A frame right after the last one is in step; a sync word found by searching
            // other bytes is a frame only when another frame (or the end) follows it.
            let in_step = first.is_some() && at == next;
            let followed = end + 4 > data.len() || header(&data[end..]).is_some_and(|n| same_stream(&h, &n));
            if !in_step && !followed {
                at += 1;
                continue;
            }
            match &first {
                Some(f) if !same_stream(f, &h) => return Err(Mp3Error::Mixed),
                Some(_) => {}
                None => {
                    first = Some(h);
                    if is_info_frame(&data[at..end], &h) {
                        at = end;
                        next = end;
                        continue;
                    }
                }
            }
            let side = &data[at + h.data_at - side_len(&h)..];
            let reaches_back = if h.version == 1 {
                ((side[0] as usize) << 1) | (side[1] as usize >> 7)
            } else {
                side[0] as usize
            };
            frames.push(Frame { start: at, len: h.len, reaches_back, holds: h.len - h.data_at });
            at = end;
            next = end;
        }
        let Some(h) = first.filter(|_| !frames.is_empty()) else {
            return Err(match other_layer {
                Some(layer) => Mp3Error::NotLayer3 { layer },
                None => Mp3Error::NoFrames { bytes: data.len() },
            });
        };
        let samples_per_frame = if h.version == 1 { 1152 } else { 576 };
        Ok(Self { data, frames, sample_rate: h.sample_rate, samples_per_frame })
    }

    pub fn frame_s(&self) -> f64 {
        f64::from(self.samples_per_frame) / f64::from(self.sample_rate)
    }

    pub fn duration_s(&self) -> f64 {
        self.frames.len() as f64 * self.frame_s()
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The frames inside `spans` (each rounded inwards to whole frames), each run with the
    /// lead-in its first frame needs, as one MP3 stream.
    pub fn cut(&self, spans: &[TurnSpan]) -> Cut {
        let frame_s = self.frame_s();
        let n = self.frames.len();
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for span in spans {
            // Inwards, with room for the rounding of a time that is a whole number of frames.
            let first = ((span.start_s.max(0.0) / frame_s - 1e-6).ceil() as usize).min(n);
            let last = span.end_s.map_or(n, |e| ((e.max(0.0) / frame_s + 1e-6).floor() as usize).min(n));
            if last <= first {
                continue;
            }
            let mut from = first;
            let mut have = 0;
            let floor = runs.last().map_or(0, |r| r.1);
            while have < self.frames[first].reaches_back && from > floor {
                from -= 1;
                have += self.frames[from].holds;
            }
            match runs.last_mut() {
                Some(prev) if from <= prev.1 => prev.1 = prev.1.max(last),
                _ => runs.push((from, last)),
            }
        }
        let mut bytes = Vec::new();
        let mut frames = 0;
        for (from, to) in &runs {
            let (a, b) = (self.frames[*from].start, self.frames[to - 1].start + self.frames[to - 1].len);
            bytes.extend_from_slice(&self.data[a..b]);
            frames += to - from;
        }
        Cut { bytes, seconds: frames as f64 * frame_s, runs: runs.len() }
    }
}

/// What a cut kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub bytes: Vec<u8>,
    pub seconds: f64,
    /// Stretches of the conversation kept (turns that touch are one).
    pub runs: usize,
}

fn same_stream(a: &Header, b: &Header) -> bool {
    a.version == b.version && a.layer == b.layer && a.sample_rate == b.sample_rate
}

fn side_len(h: &Header) -> usize {
    match (h.version == 1, h.mono) {
        (true, true) => 17,
        (true, false) => 32,
        (false, true) => 9,
        (false, false) => 17,
    }
}

/// A Xing or Info tag where the audio data would start, or a VBRI tag 32 bytes in.
fn is_info_frame(frame: &[u8], h: &Header) -> bool {
    let at = |i: usize, tag: &[u8]| frame.get(i..i + 4) == Some(tag);
    at(h.data_at, b"Xing") || at(h.data_at, b"Info") || at(36, b"VBRI")
}

/// The length of an ID3v2 tag at the start (0 without one).
fn id3v2_len(data: &[u8]) -> usize {
    match data.get(..10) {
        Some([b'I', b'D', b'3', _, _, flags, s0, s1, s2, s3]) => {
            let size = [s0, s1, s2, s3].iter().fold(0usize, |acc, b| (acc << 7) | (**b as usize & 0x7F));
            let footer = if flags & 0x10 != 0 { 10 } else { 0 };
            (10 + size + footer).min(data.len())
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 128 kbps 44.1 kHz stereo MPEG-1 frame (417 bytes, no padding), its audio data
    /// reaching `back` bytes into the frames before it, filled with `fill`.
    fn frame(back: u16, fill: u8) -> Vec<u8> {
        let mut f = vec![0xFF, 0xFB, 0x90, 0x00];
        f.resize(417, fill);
        f[4] = (back >> 1) as u8;
        f[5] = ((back & 1) << 7) as u8;
        f
    }

    fn stream(n: usize, back: u16) -> Vec<u8> {
        (0..n).flat_map(|i| frame(if i == 0 { 0 } else { back }, i as u8)).collect()
    }

    fn span(start_s: f64, end_s: Option<f64>) -> TurnSpan {
        TurnSpan { start_s, end_s }
    }

    #[test]
    fn frames_are_counted_and_timed() {
        let data = stream(100, 0);
        let mp3 = Mp3::parse(&data).unwrap();
        assert_eq!(mp3.frames.len(), 100);
        assert_eq!(mp3.sample_rate(), 44_100);
        assert!((mp3.duration_s() - 100.0 * 1152.0 / 44_100.0).abs() < 1e-9);
    }

    #[test]
    fn a_tag_in_front_garbage_between_and_an_info_frame_are_skipped() {
        let mut data = b"ID3\x04\x00\x00\x00\x00\x00\x05hello".to_vec();
        let mut info = frame(0, 0);
        info[36..40].copy_from_slice(b"Info");
        data.extend(info);
        data.extend(stream(10, 0));
        data.extend([0xFF, 0xFB, 0x00, 0x12, 0x34]);
        data.extend(stream(5, 0));
        let mp3 = Mp3::parse(&data).unwrap();
        assert_eq!(mp3.frames.len(), 15, "the Info frame and the stray bytes are no frames");
    }

    #[test]
    fn spans_keep_whole_frames_and_the_reservoir_their_first_frame_needs() {
        let data = stream(200, 0);
        let mp3 = Mp3::parse(&data).unwrap();
        let fs = mp3.frame_s();
        let cut = mp3.cut(&[span(10.2 * fs, Some(20.0 * fs)), span(50.0 * fs, Some(60.5 * fs))]);
        assert_eq!(cut.runs, 2);
        assert_eq!(cut.bytes.len(), (9 + 10) * 417, "frames 11..20 and 50..60");
        assert_eq!(&cut.bytes[..4], &[0xFF, 0xFB, 0x90, 0x00]);
        assert_eq!(cut.bytes[100], 11, "the first kept frame is frame 11");

        // Every frame reaching 500 bytes back: each run starts two frames early (381 bytes of
        // audio data each), but never inside the run before it.
        let data = stream(200, 500);
        let mp3 = Mp3::parse(&data).unwrap();
        let cut = mp3.cut(&[span(10.0 * fs, Some(20.0 * fs)), span(21.0 * fs, Some(30.0 * fs))]);
        assert_eq!(cut.runs, 1, "the second run's lead-in reaches into the first: one run");
        assert_eq!(cut.bytes.len(), (30 - 8) * 417);
        assert_eq!(cut.bytes[100], 8);
    }

    #[test]
    fn a_span_without_an_end_runs_to_the_end_and_an_empty_one_keeps_nothing() {
        let data = stream(50, 0);
        let mp3 = Mp3::parse(&data).unwrap();
        let fs = mp3.frame_s();
        assert_eq!(mp3.cut(&[span(40.0 * fs, None)]).bytes.len(), 10 * 417);
        let none = mp3.cut(&[span(10.3 * fs, Some(10.9 * fs)), span(60.0 * fs, None)]);
        assert_eq!((none.bytes.len(), none.runs, none.seconds), (0, 0, 0.0));
    }

    #[test]
    fn what_is_not_mp3_says_so() {
        assert_eq!(Mp3::parse(b"RIFF....WAVEfmt ").unwrap_err(), Mp3Error::NoFrames { bytes: 16 });
        assert_eq!(Mp3::parse(&[]).unwrap_err(), Mp3Error::NoFrames { bytes: 0 });
        let layer2 = [0xFF, 0xFD, 0x90, 0x00, 0, 0, 0, 0];
        assert_eq!(Mp3::parse(&layer2).unwrap_err(), Mp3Error::NotLayer3 { layer: 2 });
    }
}
