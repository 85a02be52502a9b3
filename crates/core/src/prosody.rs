//! How a voice speaks: what segment-audio measures on a pack's selected speech and score-voice
//! on a clone's test phrases (crates/audio `prosody::measure`), so that the two can be compared.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prosody {
    /// Seconds of voiced speech measured.
    pub speech_s: f64,
    /// Energy peaks (syllable nuclei) per second, duration-weighted over the chunks.
    pub syllable_rate: f32,
    /// The median of the chunks' median pitch, weighted by duration.
    pub f0_median_hz: f32,
    /// Intonation: the chunks' 10th–90th percentile pitch spread (semitones), duration-weighted.
    pub pitch_range_st: f32,
}
