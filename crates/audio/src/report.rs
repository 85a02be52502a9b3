//! The sample pack's report: what was found, what was chosen and why a person should (or
//! should not) trust it.

use serde::Serialize;

use crate::classify::Class;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: SourceReport,
    pub samples: Vec<SampleReport>,
    pub totals: Totals,
    pub warnings: Vec<Warning>,
    /// The pack's noise floor is high enough that the clone should remove background noise.
    pub noisy: bool,
    /// Every chunk of sound found, as the picture shows it.
    pub segments: Vec<SegmentReport>,
    /// The main speaker's voiceprint (GE2E embedding), when an encoder was at hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voiceprint: Option<Voiceprint>,
    /// How the main speaker speaks in the selected speech (rate, pitch and intonation): what a
    /// clone's test phrases are compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prosody: Option<crate::prosody::Prosody>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Voiceprint {
    /// Which encoder made it: prints of different models are not comparable.
    pub model: &'static str,
    pub embedding: echome_voiceprint::Embedding,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub container: String,
    pub codec: String,
    pub sample_rate_hz: u32,
    pub channels: u32,
    pub duration_s: f64,
    /// Highest frequency the speech actually reaches (Hz), measured.
    pub bandwidth_hz: u32,
    pub narrowband: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleReport {
    pub path: String,
    pub duration_s: f64,
    /// `[[start_s, end_s], …]` in the original recording's timeline.
    pub source_intervals: Vec<[f64; 2]>,
    pub sample_rate_hz: u32,
    pub rms_dbfs: f32,
    pub true_peak_dbtp: f32,
    /// Median of the chosen chunks' SNR, before any noise reduction.
    pub snr_db: f32,
    /// Share of samples at full scale in the source.
    pub clipping_ratio: f32,
    /// Where the source's peaks are flattened, when they are (clipped at any level, even
    /// below full scale or through a codec): see `clipping`.
    pub clipped_at_dbfs: Option<f32>,
    pub gain_db: f32,
    /// Deepest gain reduction by the peak limiter (0 when it did not act).
    pub limiter_db: f32,
    pub denoised: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    /// Speech of any kind found (clean, noisy, other speakers).
    pub speech_s: f64,
    /// Clean speech of the main speaker: the pool the pack was chosen from.
    pub usable_s: f64,
    pub selected_s: f64,
    pub music_s: f64,
    pub noise_s: f64,
    pub other_speaker_s: f64,
    pub noisy_speech_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    pub start_s: f64,
    pub end_s: f64,
    pub class: Class,
    pub selected: bool,
    pub snr_db: f32,
    /// Cosine between the chunk's speaker embedding and the main speaker's voiceprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
}
