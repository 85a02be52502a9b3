//! How good a clone is, measured rather than assumed. After a voice is made it speaks a few
//! fixed test phrases (once per voice); each phrase is embedded and measured like the pack was,
//! and four parts make a 0–1 score:
//! - **similarity** (0.4): the phrases' mean similarity to the pack's voiceprint;
//! - **consistency** (0.1): how alike the phrases are to one another (a voice that drifts
//!   between sentences is not a stable clone);
//! - **clarity** (0.2): the pack's own SNR, clipping and level, what the clone learnt from;
//! - **naturalness** (0.3): the phrases' speaking rate and intonation range against the
//!   caller's own in the pack (a prosody match, not a listening test).
//!
//! A part that cannot be measured (no voiceprint, no speech in the phrases, an old report) is
//! reported missing with the reason, and the score is the weighted mean of the parts that were
//! measured: never an invented figure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::blob::BlobRef;
use crate::error::StepError;
use crate::ids::{RunId, VoiceId};
use crate::prosody::Prosody;
use crate::voiceprint::cosine;

/// What every clone says. Everyday sentences of a call (greeting, digits, a time), together
/// covering English's vowels and most consonant clusters.
pub const TEST_PHRASES: [&str; 4] = [
    "Hello, thanks for calling. How can I help you today?",
    "The quick brown fox jumps over the lazy dog by the river bank.",
    "My account number is four, seven, two, nine, and I moved house in March.",
    "Could you please call me back tomorrow afternoon, after three o'clock?",
];

pub const SIMILARITY_WEIGHT: f64 = 0.4;
pub const CONSISTENCY_WEIGHT: f64 = 0.1;
pub const CLARITY_WEIGHT: f64 = 0.2;
pub const NATURALNESS_WEIGHT: f64 = 0.3;

/// A cosine between GE2E voiceprints, as a 0–1 score: 0 at the mean similarity of two different
/// real people, 1 at the mean of two recordings of the same person (bench/speaker_check.py on
/// 28 real recordings: 0.650 and 0.886, see the README).
pub const DIFFERENT_PEOPLE_MEAN: f64 = 0.650;
pub const SAME_PERSON_MEAN: f64 = 0.886;

/// Clarity's SNR scale: 0 at 10 dB (speech barely above the noise), 1 at 35 dB (studio-clean);
/// 20 dB, where the pack is called noisy and denoised, scores 0.4.
const SNR_FLOOR_DB: f64 = 10.0;
const SNR_CLEAN_DB: f64 = 35.0;
/// Clipping: a clipped share of 0.1 % of the samples scores 0 (audible crackle).
const CLIP_RATIO_ZERO: f64 = 1e-3;
/// ElevenLabs' recommended level for clone samples: −23 to −18 dB RMS, true peak −3 dB
/// (../shared/reference/elevenlabs-api-notes.md); 6 dB outside scores 0.
const LEVEL_RANGE_DB: (f64, f64) = (-23.0, -18.0);
const PEAK_CEILING_DBTP: f64 = -3.0;
const LEVEL_SPAN_DB: f64 = 6.0;
/// Naturalness: a speaking rate 1.5× (or 1/1.5×) the caller's scores 0, as does an intonation
/// range twice (or half) theirs.
const RATE_RATIO_ZERO: f64 = 1.5;
const RANGE_RATIO_ZERO: f64 = 2.0;
/// Less speech than this says nothing about how a person speaks.
const MIN_SOURCE_SPEECH_S: f64 = 5.0;
const MIN_PHRASE_SPEECH_S: f64 = 2.0;

/// One part of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityPart {
    pub weight: f64,
    /// 0–1; `None` when it could not be measured (see `missing`).
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// The measured figures the score came from.
    #[serde(default)]
    pub figures: BTreeMap<String, f64>,
}

impl QualityPart {
    fn measured(weight: f64, score: f64, figures: BTreeMap<String, f64>) -> Self {
        Self { weight, score: Some(round3(score.clamp(0.0, 1.0))), missing: None, figures }
    }

    fn missing(weight: f64, why: impl Into<String>) -> Self {
        Self { weight, score: None, missing: Some(why.into()), figures: BTreeMap::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityParts {
    pub similarity: QualityPart,
    pub consistency: QualityPart,
    pub clarity: QualityPart,
    pub naturalness: QualityPart,
}

impl QualityParts {
    /// Each part with its name, in the order answers list them.
    pub fn named(&self) -> [(&'static str, &QualityPart); 4] {
        [
            ("similarity", &self.similarity),
            ("consistency", &self.consistency),
            ("clarity", &self.clarity),
            ("naturalness", &self.naturalness),
        ]
    }
}

/// One test phrase as the voice spoke it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhraseResult {
    pub text: String,
    /// `runs/{run_id}/quality/phrase-{n}.mp3`.
    pub audio: BlobRef,
    pub duration_s: f64,
    pub speech_s: f64,
    /// Cosine to the pack's voiceprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f64>,
}

/// A clone's measured quality, stored with the voice (its clone record) and under the run that
/// measured it (`runs/{run_id}/quality/score.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityScore {
    pub voice_id: VoiceId,
    pub engine: String,
    /// The run whose prefix holds the phrases.
    pub run_id: RunId,
    /// The weighted mean of the measured parts (weights renormalised over them); `None` when
    /// no part could be measured.
    pub score: Option<f64>,
    pub parts: QualityParts,
    pub phrases: Vec<PhraseResult>,
    /// Characters the phrases cost at the engine: spent once per voice, whichever attempt of
    /// the scoring run spoke them.
    pub characters: u64,
    pub scored_at: DateTime<Utc>,
}

impl QualityScore {
    /// Parts that were not measured, by name.
    pub fn missing(&self) -> Vec<&'static str> {
        self.parts.named().into_iter().filter(|(_, p)| p.score.is_none()).map(|(n, _)| n).collect()
    }

    /// What a user reads: the score and each part (figures left to the record).
    pub fn summary(&self) -> serde_json::Value {
        let part = |p: &QualityPart| match (&p.score, &p.missing) {
            (Some(s), _) => serde_json::json!(s),
            (None, why) => serde_json::json!({ "missing": why }),
        };
        let mut out = serde_json::json!({
            "score": self.score,
            "engine": self.engine,
            "characters": self.characters,
        });
        for (name, p) in self.parts.named() {
            out[name] = part(p);
        }
        out
    }
}

/// What the pack's report says about the speech the clone learnt from.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct PackFigures {
    #[serde(default)]
    samples: Vec<SampleFigures>,
    #[serde(default)]
    prosody: Option<Prosody>,
    #[serde(default)]
    totals: Option<TotalFigures>,
    #[serde(default)]
    source: Option<SourceFigures>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct TotalFigures {
    selected_s: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct SourceFigures {
    #[serde(default)]
    narrowband: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct SampleFigures {
    duration_s: f64,
    snr_db: f64,
    clipping_ratio: f64,
    #[serde(default)]
    clipped_at_dbfs: Option<f64>,
    rms_dbfs: f64,
    true_peak_dbtp: f64,
}

impl PackFigures {
    pub fn from_report(report: &[u8]) -> Result<Self, StepError> {
        serde_json::from_slice(report)
            .map_err(|e| StepError::internal(format!("the pack's report does not read as one: {e}")))
    }

    /// Seconds of speech selected into the pack: the report's total, else its files' length.
    pub fn selected_s(&self) -> f64 {
        match &self.totals {
            Some(t) => t.selected_s,
            None => self.samples.iter().map(|s| s.duration_s.max(0.0)).sum(),
        }
    }

    /// The files' signal-to-noise ratio, weighted by their length; `None` without files.
    pub fn snr_db(&self) -> Option<f64> {
        self.weighted(|s| s.snr_db)
    }

    /// Whether the recording was telephone band (8 kHz).
    pub fn narrowband(&self) -> bool {
        self.source.as_ref().is_some_and(|s| s.narrowband)
    }

    /// A figure of the files, weighted by their length; `None` without files.
    fn weighted(&self, f: fn(&SampleFigures) -> f64) -> Option<f64> {
        let total: f64 = self.samples.iter().map(|s| s.duration_s.max(0.0)).sum();
        (total > 0.0).then(|| self.samples.iter().map(|s| f(s) * s.duration_s.max(0.0)).sum::<f64>() / total)
    }
}

/// One phrase as measured: its result, and its embedding and prosody for the parts.
#[derive(Debug, Clone)]
pub struct PhraseMeasure {
    pub result: PhraseResult,
    pub embedding: Option<Vec<f32>>,
    pub prosody: Option<Prosody>,
}

/// The parts and the score. `voiceprint` is the pack's (None when it was made without the
/// speaker encoder); `encoder_here` says whether the phrases could be embedded at all.
pub fn score_parts(
    pack: &PackFigures,
    voiceprint: Option<&[f32]>,
    phrases: &[PhraseMeasure],
    encoder_here: bool,
) -> (Option<f64>, QualityParts) {
    let parts = QualityParts {
        similarity: similarity(voiceprint, phrases, encoder_here),
        consistency: consistency(phrases, encoder_here),
        clarity: clarity(pack),
        naturalness: naturalness(pack, phrases),
    };
    let (sum, weight) = parts
        .named()
        .iter()
        .filter_map(|(_, p)| p.score.map(|s| (s * p.weight, p.weight)))
        .fold((0.0, 0.0), |(s, w), (ps, pw)| (s + ps, w + pw));
    let score = (weight > 0.0).then(|| round3(sum / weight));
    (score, parts)
}

/// The cosine as a score on the scale of real people (see [`DIFFERENT_PEOPLE_MEAN`]).
pub fn calibrated(cosine: f64) -> f64 {
    ((cosine - DIFFERENT_PEOPLE_MEAN) / (SAME_PERSON_MEAN - DIFFERENT_PEOPLE_MEAN)).clamp(0.0, 1.0)
}

fn embedded(phrases: &[PhraseMeasure]) -> Vec<&[f32]> {
    phrases.iter().filter_map(|p| p.embedding.as_deref()).collect()
}

fn similarity(voiceprint: Option<&[f32]>, phrases: &[PhraseMeasure], encoder_here: bool) -> QualityPart {
    let w = SIMILARITY_WEIGHT;
    let Some(print) = voiceprint else {
        return QualityPart::missing(
            w,
            "the pack was made without the speaker encoder: it has no voiceprint",
        );
    };
    if !encoder_here {
        return QualityPart::missing(
            w,
            "the speaker encoder's weights are not installed where the voice was scored",
        );
    }
    let sims: Vec<f64> = embedded(phrases).into_iter().filter_map(|e| cosine(print, e)).collect();
    if sims.is_empty() {
        return QualityPart::missing(w, "no test phrase held speech to embed");
    }
    let mean = sims.iter().sum::<f64>() / sims.len() as f64;
    let min = sims.iter().copied().fold(f64::INFINITY, f64::min);
    let figures = BTreeMap::from([
        ("mean_cosine".to_owned(), round3(mean)),
        ("min_cosine".to_owned(), round3(min)),
        ("phrases".to_owned(), sims.len() as f64),
    ]);
    QualityPart::measured(w, calibrated(mean), figures)
}

fn consistency(phrases: &[PhraseMeasure], encoder_here: bool) -> QualityPart {
    let w = CONSISTENCY_WEIGHT;
    if !encoder_here {
        return QualityPart::missing(
            w,
            "the speaker encoder's weights are not installed where the voice was scored",
        );
    }
    let all = embedded(phrases);
    let pairs: Vec<f64> = all
        .iter()
        .enumerate()
        .flat_map(|(i, a)| all[i + 1..].iter().filter_map(move |b| cosine(a, b)))
        .collect();
    if pairs.is_empty() {
        return QualityPart::missing(w, "fewer than two test phrases held speech to embed");
    }
    let mean = pairs.iter().sum::<f64>() / pairs.len() as f64;
    let min = pairs.iter().copied().fold(f64::INFINITY, f64::min);
    let figures = BTreeMap::from([
        ("mean_pairwise_cosine".to_owned(), round3(mean)),
        ("min_pairwise_cosine".to_owned(), round3(min)),
    ]);
    QualityPart::measured(w, calibrated(mean), figures)
}

fn clarity(pack: &PackFigures) -> QualityPart {
    let w = CLARITY_WEIGHT;
    let (Some(snr), Some(rms)) = (pack.snr_db(), pack.weighted(|s| s.rms_dbfs)) else {
        return QualityPart::missing(w, "the pack's report has no samples");
    };
    let snr_score = ((snr - SNR_FLOOR_DB) / (SNR_CLEAN_DB - SNR_FLOOR_DB)).clamp(0.0, 1.0);
    let clip = pack.samples.iter().map(|s| s.clipping_ratio).fold(0.0, f64::max);
    let flattened = pack.samples.iter().any(|s| s.clipped_at_dbfs.is_some());
    // Peaks flattened in the source cannot be undone by anything after it.
    let clip_score = if flattened { 0.0 } else { (1.0 - clip / CLIP_RATIO_ZERO).clamp(0.0, 1.0) };
    let peak = pack.samples.iter().map(|s| s.true_peak_dbtp).fold(f64::NEG_INFINITY, f64::max);
    let outside = (LEVEL_RANGE_DB.0 - rms).max(rms - LEVEL_RANGE_DB.1).max(0.0);
    let over = (peak - PEAK_CEILING_DBTP).max(0.0);
    let level_score = (1.0 - (outside + over) / LEVEL_SPAN_DB).clamp(0.0, 1.0);
    let figures = BTreeMap::from([
        ("snr_db".to_owned(), round1(snr)),
        ("snr_score".to_owned(), round3(snr_score)),
        ("clipping_ratio".to_owned(), clip),
        ("clipping_score".to_owned(), round3(clip_score)),
        ("rms_dbfs".to_owned(), round1(rms)),
        ("true_peak_dbtp".to_owned(), round1(peak)),
        ("level_score".to_owned(), round3(level_score)),
    ]);
    QualityPart::measured(w, (snr_score + clip_score + level_score) / 3.0, figures)
}

fn naturalness(pack: &PackFigures, phrases: &[PhraseMeasure]) -> QualityPart {
    let w = NATURALNESS_WEIGHT;
    let Some(src) = pack.prosody.filter(|p| p.speech_s >= MIN_SOURCE_SPEECH_S) else {
        return QualityPart::missing(
            w,
            "the pack's report does not say how the caller speaks (made before prosody was measured, or too little voiced speech)",
        );
    };
    let spoken: Vec<&Prosody> = phrases.iter().filter_map(|p| p.prosody.as_ref()).collect();
    let speech_s: f64 = spoken.iter().map(|p| p.speech_s).sum();
    if speech_s < MIN_PHRASE_SPEECH_S {
        return QualityPart::missing(
            w,
            format!(
                "the test phrases hold {speech_s:.1} s of voiced speech; {MIN_PHRASE_SPEECH_S} s are needed"
            ),
        );
    }
    let weighted =
        |f: fn(&Prosody) -> f32| spoken.iter().map(|p| f64::from(f(p)) * p.speech_s).sum::<f64>() / speech_s;
    let rate = weighted(|p| p.syllable_rate);
    let range = weighted(|p| p.pitch_range_st);
    let ratio_score = |out: f64, src: f64, zero_at: f64| {
        if out <= 0.0 || src <= 0.0 {
            return 0.0;
        }
        (1.0 - (out / src).ln().abs() / zero_at.ln()).clamp(0.0, 1.0)
    };
    let rate_score = ratio_score(rate, f64::from(src.syllable_rate), RATE_RATIO_ZERO);
    let range_score = ratio_score(range, f64::from(src.pitch_range_st), RANGE_RATIO_ZERO);
    let figures = BTreeMap::from([
        ("syllable_rate".to_owned(), round3(rate)),
        ("caller_syllable_rate".to_owned(), round3(f64::from(src.syllable_rate))),
        ("rate_score".to_owned(), round3(rate_score)),
        ("pitch_range_st".to_owned(), round3(range)),
        ("caller_pitch_range_st".to_owned(), round3(f64::from(src.pitch_range_st))),
        ("range_score".to_owned(), round3(range_score)),
    ]);
    QualityPart::measured(w, (rate_score + range_score) / 2.0, figures)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(prosody: Option<Prosody>) -> PackFigures {
        PackFigures {
            samples: vec![SampleFigures {
                duration_s: 60.0,
                snr_db: 35.0,
                clipping_ratio: 0.0,
                clipped_at_dbfs: None,
                rms_dbfs: -20.0,
                true_peak_dbtp: -4.0,
            }],
            prosody,
            ..Default::default()
        }
    }

    fn voice(rate: f32, range: f32) -> Prosody {
        Prosody { speech_s: 30.0, syllable_rate: rate, f0_median_hz: 120.0, pitch_range_st: range }
    }

    /// A unit vector at `cos` from the first axis.
    fn at(cos: f64) -> Vec<f32> {
        let mut v = vec![0f32; 256];
        v[0] = cos as f32;
        v[1] = (1.0 - cos * cos).sqrt() as f32;
        v
    }

    fn phrase(embedding: Option<Vec<f32>>, prosody: Option<Prosody>) -> PhraseMeasure {
        PhraseMeasure {
            result: PhraseResult {
                text: TEST_PHRASES[0].into(),
                audio: BlobRef::new("b", "runs/r/quality/phrase-1.mp3"),
                duration_s: 3.0,
                speech_s: 2.5,
                similarity: None,
            },
            embedding,
            prosody: prosody.map(|p| Prosody { speech_s: 2.5, ..p }),
        }
    }

    #[test]
    fn the_caller_s_own_speech_scores_high_and_another_voice_low() {
        let print = at(1.0);
        let own: Vec<_> = (0..4).map(|_| phrase(Some(at(0.92)), Some(voice(4.0, 5.0)))).collect();
        let (score, parts) = score_parts(&pack(Some(voice(4.0, 5.0))), Some(&print), &own, true);
        assert_eq!(parts.similarity.score, Some(1.0), "{parts:?}");
        assert_eq!(parts.naturalness.score, Some(1.0));
        assert_eq!(parts.clarity.score, Some(1.0));
        assert!(score.unwrap() > 0.95, "{score:?}");

        let other: Vec<_> = (0..4).map(|_| phrase(Some(at(0.6)), Some(voice(6.0, 2.5)))).collect();
        let (score, parts) = score_parts(&pack(Some(voice(4.0, 5.0))), Some(&print), &other, true);
        assert_eq!(parts.similarity.score, Some(0.0), "below the mean of different people");
        assert_eq!(parts.naturalness.score, Some(0.0), "1.5× the rate and half the range");
        assert!(score.unwrap() < 0.4, "{score:?}");
    }

    #[test]
    fn parts_not_measured_are_missing_and_the_weights_renormalised() {
        let phrases: Vec<_> = (0..3).map(|_| phrase(None, None)).collect();
        let (score, parts) = score_parts(&pack(None), None, &phrases, false);
        assert!(parts.similarity.missing.as_deref().unwrap().contains("voiceprint"));
        assert!(parts.consistency.missing.is_some());
        assert!(parts.naturalness.missing.is_some());
        assert_eq!(parts.clarity.score, Some(1.0));
        assert_eq!(score, Some(1.0), "only clarity was measured: the score is clarity's");

        let empty = PackFigures::default();
        let (score, parts) = score_parts(&empty, None, &[], false);
        assert_eq!(score, None, "nothing measured, nothing invented");
        assert!(parts.clarity.missing.is_some());
    }

    #[test]
    fn clarity_counts_noise_clipping_and_level() {
        let mut p = pack(None);
        p.samples[0].snr_db = 20.0;
        p.samples[0].clipped_at_dbfs = Some(-1.0);
        p.samples[0].rms_dbfs = -29.0;
        let c = clarity(&p);
        assert_eq!(c.figures["snr_score"], 0.4);
        assert_eq!(c.figures["clipping_score"], 0.0);
        assert_eq!(c.figures["level_score"], 0.0, "6 dB under the recommended range");
        assert_eq!(c.score, Some(0.133));
    }

    #[test]
    fn consistency_is_how_alike_the_phrases_are() {
        let same: Vec<_> = (0..3).map(|_| phrase(Some(at(0.9)), None)).collect();
        assert_eq!(consistency(&same, true).score, Some(1.0));
        let one = [phrase(Some(at(0.9)), None)];
        assert!(consistency(&one, true).missing.is_some());
    }

    #[test]
    fn a_score_reads_back_as_written() {
        let phrases: Vec<_> = (0..4).map(|_| phrase(Some(at(0.8)), Some(voice(4.4, 4.0)))).collect();
        let (score, parts) = score_parts(&pack(Some(voice(4.0, 5.0))), Some(&at(1.0)), &phrases, true);
        let q = QualityScore {
            voice_id: VoiceId::parse("abc123").unwrap(),
            engine: "elevenlabs".into(),
            run_id: RunId::parse("run-1").unwrap(),
            score,
            parts,
            phrases: phrases.iter().map(|p| p.result.clone()).collect(),
            characters: 250,
            scored_at: Utc::now(),
        };
        let back: QualityScore = serde_json::from_str(&serde_json::to_string(&q).unwrap()).unwrap();
        assert_eq!(back, q);
        assert!(q.missing().is_empty());
        assert_eq!(q.summary()["score"], serde_json::json!(score));
    }
}
