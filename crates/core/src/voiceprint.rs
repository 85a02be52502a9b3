//! Whose voice it is. segment-audio puts the main speaker's voiceprint (a GE2E embedding) in
//! the pack's report; the caller's reference voice is the voiceprint of the pack their voice
//! was last made from. A new pack whose speaker is too far from it does not replace the
//! caller's voice (a spoofed number, or a recording of the agent): the run ends
//! `speaker_mismatch`, and an operator can accept the new speaker explicitly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::blob::BlobRef;
use crate::error::{ErrorType, StepError};
use crate::ids::{Person, RunId};

/// The similarity below which a new pack is not the caller: the equal-error point measured on
/// real voices (`make bench`, bench/speaker_check.py: 28 recordings of six real speakers,
/// telephone prompts and wideband men also as phone copies; EER 11 % at 0.787, see the
/// README), where about as many impostors pass as genuine callers are refused. An upload
/// compared with a phone call scores lowest among genuine pairs. `SPEAKER_MATCH_THRESHOLD`
/// overrides it.
pub const DEFAULT_MATCH_THRESHOLD: f64 = 0.79;

/// A speaker embedding and the model that made it (embeddings of different models do not
/// compare).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Voiceprint {
    pub model: String,
    pub embedding: Vec<f32>,
}

impl Voiceprint {
    /// The cosine between two voiceprints of the same model; `None` across models or sizes.
    pub fn similarity(&self, other: &Voiceprint) -> Option<f64> {
        if self.model != other.model {
            return None;
        }
        cosine(&self.embedding, &other.embedding)
    }
}

/// The cosine between two embeddings; `None` across sizes or for a zero vector.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum::<f64>();
    let norms = (dot(a, a) * dot(b, b)).sqrt();
    (a.len() == b.len() && norms > 0.0).then(|| dot(a, b) / norms)
}

/// What a pack's report says about its speaker: the voiceprint, and how close each selected
/// segment is to it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct PackSpeaker {
    #[serde(default)]
    pub voiceprint: Option<Voiceprint>,
    #[serde(default)]
    segments: Vec<SegmentSimilarity>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct SegmentSimilarity {
    start_s: f64,
    end_s: f64,
    selected: bool,
    #[serde(default)]
    similarity: Option<f64>,
}

impl PackSpeaker {
    /// Reads the speaker out of a report's JSON (segment-audio's `report.json`).
    pub fn from_report(report: &[u8]) -> Result<Self, StepError> {
        serde_json::from_slice(report)
            .map_err(|e| StepError::internal(format!("the pack's report does not read as one: {e}")))
    }

    /// How consistent the pack's own speaker is: the duration-weighted mean similarity of its
    /// selected segments to its voiceprint (near 1 for one clean speaker).
    pub fn consistency(&self) -> Option<f64> {
        let (sum, weight) = self
            .segments
            .iter()
            .filter(|s| s.selected)
            .filter_map(|s| s.similarity.map(|v| (v, (s.end_s - s.start_s).max(0.0))))
            .fold((0.0, 0.0), |(sum, w), (v, d)| (sum + v * d, w + d));
        (weight > 0.0).then(|| sum / weight)
    }
}

/// The minimum similarity to the caller's reference voice, in (0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct MatchThreshold(f64);

impl MatchThreshold {
    pub fn new(v: f64) -> Result<Self, String> {
        if v.is_finite() && v > 0.0 && v < 1.0 {
            Ok(Self(v))
        } else {
            Err(format!("a speaker match threshold is a similarity between 0 and 1, not {v}"))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for MatchThreshold {
    fn default() -> Self {
        Self(DEFAULT_MATCH_THRESHOLD)
    }
}

impl TryFrom<f64> for MatchThreshold {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        Self::new(v)
    }
}

impl From<MatchThreshold> for f64 {
    fn from(t: MatchThreshold) -> f64 {
        t.0
    }
}

/// The caller's reference voice: the voiceprint of the pack their current voice was made
/// from. Kept until the caller's data is erased (it outlives the clone, whose slot expires).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceVoice {
    #[serde(alias = "caller_id")]
    pub person: Person,
    pub voiceprint: Voiceprint,
    /// The pack it came from (its report), and the run that made or judged that pack.
    pub report: BlobRef,
    pub run_id: RunId,
    pub recorded_at: DateTime<Utc>,
    /// Who accepted this speaker although it did not match the voice before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
}

/// A new pack's speaker against the caller's reference voice, as the clone log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerCheck {
    /// Cosine between the new pack's voiceprint and the caller's reference voice.
    pub similarity: f64,
    /// The new pack's own consistency ([`PackSpeaker::consistency`]): a clean single speaker
    /// far from the reference is another person, not a poor recording.
    pub pack_similarity: Option<f64>,
    pub threshold: f64,
    pub matched: bool,
    /// The run whose pack is the reference.
    pub reference_run: RunId,
    /// The report of the pack that was judged, and its voiceprint: what an operator accepts.
    pub pack: BlobRef,
    pub voiceprint: Voiceprint,
}

impl SpeakerCheck {
    /// The pack's speaker against `reference`; `None` when either has no voiceprint of the
    /// same model (nothing to compare: the pack is not checked).
    pub fn judge(
        reference: &ReferenceVoice,
        pack: &PackSpeaker,
        report: &BlobRef,
        threshold: MatchThreshold,
    ) -> Option<Self> {
        let voiceprint = pack.voiceprint.clone()?;
        let similarity = voiceprint.similarity(&reference.voiceprint)?;
        Some(Self {
            similarity: round3(similarity),
            pack_similarity: pack.consistency().map(round3),
            threshold: threshold.get(),
            matched: similarity >= threshold.get(),
            reference_run: reference.run_id.clone(),
            pack: report.clone(),
            voiceprint,
        })
    }

    /// The figures, as answers and output show them (not the voiceprint).
    pub fn figures(&self) -> serde_json::Value {
        serde_json::json!({
            "similarity": self.similarity,
            "pack_similarity": self.pack_similarity,
            "threshold": self.threshold,
            "matched": self.matched,
            "reference_run": self.reference_run,
        })
    }

    /// The failure of a run whose speaker did not match: both similarities in the message.
    pub fn mismatch(&self) -> StepError {
        let own = self
            .pack_similarity
            .map_or_else(String::new, |p| format!("; the recording's own speaker is consistent at {p:.2}"));
        StepError::new(
            ErrorType::SpeakerMismatch,
            "speaker_mismatch",
            format!(
                "the new recording's speaker matches the caller's voice on record (run {}) at {:.2}, below {:.2}{own}: \
                 it is another person's voice, so the caller's voice is not replaced (an operator can accept it)",
                self.reference_run, self.similarity, self.threshold
            ),
        )
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(v: &[f32]) -> Voiceprint {
        Voiceprint { model: "m".into(), embedding: v.to_vec() }
    }

    fn reference(v: &[f32]) -> ReferenceVoice {
        ReferenceVoice {
            person: Person::parse("+14155550123").unwrap(),
            voiceprint: print(v),
            report: BlobRef::new("b", "runs/r1/report.json"),
            run_id: RunId::parse("r1").unwrap(),
            recorded_at: Utc::now(),
            accepted_by: None,
        }
    }

    fn report(v: &[f32], segments: &[(f64, f64, bool, f64)]) -> Vec<u8> {
        let segments: Vec<_> = segments
            .iter()
            .map(|(a, b, sel, sim)| serde_json::json!({"start_s": a, "end_s": b, "selected": sel, "similarity": sim, "class": "speech"}))
            .collect();
        serde_json::json!({"voiceprint": {"model": "m", "embedding": v}, "segments": segments, "totals": {}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn consistency_weighs_selected_segments_by_their_length() {
        let pack = PackSpeaker::from_report(&report(
            &[1.0, 0.0],
            &[(0.0, 3.0, true, 0.9), (3.0, 4.0, true, 0.5), (4.0, 9.0, false, 0.1)],
        ))
        .unwrap();
        assert!((pack.consistency().unwrap() - 0.8).abs() < 1e-9);
    }

    #[test]
    fn a_far_speaker_is_a_mismatch_that_names_both_similarities() {
        let pack = PackSpeaker::from_report(&report(&[0.6, 0.8], &[(0.0, 5.0, true, 0.93)])).unwrap();
        let blob = BlobRef::new("b", "runs/r2/report.json");
        let check =
            SpeakerCheck::judge(&reference(&[1.0, 0.0]), &pack, &blob, MatchThreshold::default()).unwrap();
        assert_eq!((check.similarity, check.pack_similarity, check.matched), (0.6, Some(0.93), false));
        let err = check.mismatch();
        assert_eq!((err.error_type, err.code.as_str()), (ErrorType::SpeakerMismatch, "speaker_mismatch"));
        assert!(
            err.message.contains("0.60") && err.message.contains("0.93") && err.message.contains("0.79"),
            "{err}"
        );
        let close = PackSpeaker::from_report(&report(&[0.9, 0.1], &[])).unwrap();
        assert!(
            SpeakerCheck::judge(&reference(&[1.0, 0.0]), &close, &blob, MatchThreshold::default())
                .unwrap()
                .matched
        );
    }

    #[test]
    fn nothing_is_judged_without_a_voiceprint_of_the_same_model() {
        let blob = BlobRef::new("b", "k");
        let none = PackSpeaker::from_report(br#"{"segments": []}"#).unwrap();
        assert!(SpeakerCheck::judge(&reference(&[1.0]), &none, &blob, MatchThreshold::default()).is_none());
        let mut other = PackSpeaker::from_report(&report(&[1.0], &[])).unwrap();
        other.voiceprint.as_mut().unwrap().model = "another".into();
        assert!(SpeakerCheck::judge(&reference(&[1.0]), &other, &blob, MatchThreshold::default()).is_none());
    }

    #[test]
    fn a_threshold_is_a_similarity_between_zero_and_one() {
        assert!(MatchThreshold::new(0.75).is_ok());
        for bad in [0.0, 1.0, -0.2, f64::NAN, 7.0] {
            assert!(MatchThreshold::new(bad).is_err(), "{bad}");
        }
    }
}
