//! Voice-activity front end: a minimum-statistics noise floor, frame activity with onset
//! confirmation and hangover, and chunking at pauses. It only finds *sound* worth looking at;
//! whether a chunk is speech, music or noise is decided from its statistics (see `chunk`).

use std::collections::VecDeque;

use crate::features::Frame;

#[derive(Debug, Clone, Copy)]
pub struct VadConfig {
    /// A frame is active this many dB above the noise floor.
    pub activity_db: f32,
    /// …and above this absolute level.
    pub min_level_db: f32,
    /// Pauses shorter than this stay inside a chunk (natural pauses between words).
    pub merge_gap_frames: usize,
    /// Frames kept active after the last active one (word endings are quiet).
    pub hangover_frames: usize,
    /// Chunks shorter than this are clicks and breaths.
    pub min_chunk_frames: usize,
    /// Longer chunks are split (continuous sound such as music would otherwise be one chunk).
    pub max_chunk_frames: usize,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            activity_db: 9.0,
            min_level_db: -65.0,
            merge_gap_frames: 35,
            hangover_frames: 8,
            min_chunk_frames: 30,
            max_chunk_frames: 1200,
        }
    }
}

/// Minimum statistics over ~3 s of smoothed frame energy (Martin 2001, simplified): speech
/// pauses every second or so let the floor follow the noise, not the voice.
pub struct NoiseFloor {
    smoothed: f32,
    sub_min: f32,
    sub_len: usize,
    mins: VecDeque<f32>,
}

const SUB_FRAMES: usize = 50;
const SUBS: usize = 6;
/// The minimum of smoothed noise sits below its mean; this puts it back.
const MIN_BIAS_DB: f32 = 2.0;

impl Default for NoiseFloor {
    fn default() -> Self {
        Self { smoothed: f32::NAN, sub_min: f32::INFINITY, sub_len: 0, mins: VecDeque::with_capacity(SUBS) }
    }
}

impl NoiseFloor {
    /// Updates with a frame's level (dB) and returns the floor estimate (dB).
    pub fn update(&mut self, energy_db: f32) -> f32 {
        let p = 10f32.powf(energy_db / 10.0);
        let s = if self.smoothed.is_nan() { p } else { 0.5 * self.smoothed + 0.5 * p };
        self.smoothed = s;
        let s_db = 10.0 * (s + 1e-12).log10();
        self.sub_min = self.sub_min.min(s_db);
        self.sub_len += 1;
        if self.sub_len == SUB_FRAMES {
            if self.mins.len() == SUBS {
                self.mins.pop_front();
            }
            self.mins.push_back(self.sub_min);
            self.sub_min = f32::INFINITY;
            self.sub_len = 0;
        }
        let m = self.mins.iter().copied().fold(self.sub_min, f32::min);
        m + MIN_BIAS_DB
    }
}

/// A frame as the chunker keeps it: its features and the floor when it was seen.
#[derive(Debug, Clone, Copy)]
pub struct Tagged {
    pub frame: Frame,
    pub floor_db: f32,
    pub active: bool,
}

/// A closed chunk of sound: frames from its first to its last active frame.
#[derive(Debug, Clone)]
pub struct RawChunk {
    pub start_frame: u64,
    pub frames: Vec<Tagged>,
    /// Energy (dB) of the quiet frames just before the chunk: the local background.
    pub gap_before_db: Option<f32>,
}

/// Streams frames in, hands closed chunks out. Memory is bounded by `max_chunk_frames`.
pub struct Chunker {
    cfg: VadConfig,
    floor: NoiseFloor,
    index: u64,
    /// Frames of the open chunk, including trailing inactive frames not yet known to be a pause.
    open: Vec<Tagged>,
    open_start: u64,
    last_active: Option<usize>,
    hang: usize,
    onset: VecDeque<bool>,
    /// The last few frames before a chunk opens, so its onset is kept whole.
    recent: VecDeque<Tagged>,
    /// First frame not yet handed out in a chunk: onsets never reach back past it.
    closed_until: u64,
    quiet: VecDeque<f32>,
    gap_before_db: Option<f32>,
}

impl Chunker {
    pub fn new(cfg: VadConfig) -> Self {
        Self {
            cfg,
            floor: NoiseFloor::default(),
            index: 0,
            open: Vec::new(),
            open_start: 0,
            last_active: None,
            hang: 0,
            onset: VecDeque::with_capacity(5),
            recent: VecDeque::with_capacity(5),
            closed_until: 0,
            quiet: VecDeque::with_capacity(50),
            gap_before_db: None,
        }
    }

    /// Feeds one frame; returns the chunk that this frame closes, if any.
    pub fn push(&mut self, frame: Frame) -> (Tagged, Option<RawChunk>) {
        let floor_db = self.floor.update(frame.energy_db);
        let loud =
            frame.energy_db > floor_db + self.cfg.activity_db && frame.energy_db > self.cfg.min_level_db;
        if self.onset.len() == 5 {
            self.onset.pop_front();
        }
        self.onset.push_back(loud);
        // Onset needs 3 loud frames of the last 5 (a click is not a word); within a chunk one is enough.
        let confirmed =
            loud && (self.last_active.is_some() || self.onset.iter().filter(|&&l| l).count() >= 3);
        let active = if confirmed {
            self.hang = self.cfg.hangover_frames;
            true
        } else if self.hang > 0 && self.last_active.is_some() {
            self.hang -= 1;
            true
        } else {
            false
        };
        let tagged = Tagged { frame, floor_db, active };
        let i = self.index;
        self.index += 1;

        let mut closed = None;
        match (self.last_active, active) {
            (None, true) => {
                // Include the frames of the onset window that were loud but unconfirmed.
                let loud_before = self.onset.iter().rev().skip(1).take_while(|&&l| l).count() as u64;
                let back = loud_before.min(i - self.closed_until).min(self.recent.len() as u64);
                self.open_start = i - back;
                self.open.clear();
                let skip = self.recent.len() - back as usize;
                self.open.extend(self.recent.iter().skip(skip).map(|t| Tagged { active: true, ..*t }));
                self.open.push(tagged);
                self.last_active = Some(self.open.len() - 1);
                self.gap_before_db = self.background();
            }
            (None, false) => self.remember_quiet(frame.energy_db),
            (Some(_), true) => {
                self.open.push(tagged);
                self.last_active = Some(self.open.len() - 1);
                if self.open.len() >= self.cfg.max_chunk_frames {
                    closed = self.close();
                }
            }
            (Some(last), false) => {
                self.open.push(tagged);
                self.remember_quiet(frame.energy_db);
                if self.open.len() - 1 - last >= self.cfg.merge_gap_frames
                    || self.open.len() >= self.cfg.max_chunk_frames
                {
                    closed = self.close();
                }
            }
        }
        if self.recent.len() == 5 {
            self.recent.pop_front();
        }
        self.recent.push_back(tagged);
        (tagged, closed)
    }

    fn remember_quiet(&mut self, db: f32) {
        if self.quiet.len() == 50 {
            self.quiet.pop_front();
        }
        self.quiet.push_back(db);
    }

    fn background(&self) -> Option<f32> {
        if self.quiet.len() < 10 {
            return None;
        }
        // The median, not the mean: word tails and breaths in the pause are not the background.
        let mut v: Vec<f32> = self.quiet.iter().copied().collect();
        let mid = v.len() / 2;
        Some(*v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1)
    }

    fn close(&mut self) -> Option<RawChunk> {
        let last = self.last_active.take()?;
        let mut frames = std::mem::take(&mut self.open);
        let tail = frames.split_off(last + 1);
        self.closed_until = self.open_start + frames.len() as u64;
        let chunk = RawChunk { start_frame: self.open_start, frames, gap_before_db: self.gap_before_db };
        // The pause that closed the chunk is the next chunk's background.
        self.quiet.clear();
        for t in &tail {
            self.remember_quiet(t.frame.energy_db);
        }
        (chunk.frames.len() >= self.cfg.min_chunk_frames).then_some(chunk)
    }

    /// Closes whatever is open at the end of the stream.
    pub fn finish(&mut self) -> Option<RawChunk> {
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(db: f32) -> Frame {
        Frame { energy_db: db, ..Frame::default() }
    }

    fn chunks(levels: &[(f32, usize)]) -> Vec<(u64, usize)> {
        let mut c = Chunker::new(VadConfig::default());
        let mut out = Vec::new();
        for &(db, n) in levels {
            for _ in 0..n {
                if let (_, Some(ch)) = c.push(frame(db)) {
                    out.push((ch.start_frame, ch.frames.len()));
                }
            }
        }
        out.extend(c.finish().map(|ch| (ch.start_frame, ch.frames.len())));
        out
    }

    #[test]
    fn floor_follows_noise_not_speech() {
        let mut f = NoiseFloor::default();
        let mut last = 0.0;
        for i in 0..1000 {
            // 400 ms words at −20 dB with 200 ms pauses at −60 dB.
            last = f.update(if i % 60 < 40 { -20.0 } else { -60.0 });
        }
        assert!((last + 58.0).abs() < 3.0, "floor {last}");
    }

    #[test]
    fn short_pauses_merge_and_long_pauses_split() {
        let got = chunks(&[
            (-60.0, 300),
            (-20.0, 100),
            (-60.0, 20),
            (-20.0, 100),
            (-60.0, 100),
            (-20.0, 80),
            (-60.0, 100),
        ]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, 300);
        // 100 + 20 + 100 frames plus the hangover of the last word.
        assert_eq!(got[0].1, 220 + 8);
    }

    #[test]
    fn clicks_are_not_chunks() {
        let got = chunks(&[(-60.0, 300), (-10.0, 2), (-60.0, 300), (-10.0, 1), (-60.0, 100)]);
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn endless_sound_is_split_into_bounded_chunks() {
        // Loud and less loud every 100 ms, like music, for 50 s.
        let mut levels = vec![(-60.0, 300)];
        levels.extend((0..250).flat_map(|_| [(-15.0, 10), (-30.0, 10)]));
        levels.push((-60.0, 100));
        let got = chunks(&levels);
        assert!(got.len() >= 5 && got.iter().all(|c| c.1 <= 1200), "{got:?}");
        let covered: usize = got.iter().map(|c| c.1).sum();
        assert!(covered >= 4900, "covered {covered} of 5000 frames");
    }
}
