//! Inputs and outputs of the clone run's states. States pass S3 keys and small JSON, never audio.

use serde::{Deserialize, Serialize};

use crate::blob::BlobRef;
use crate::error::{ErrorType, StepError};
use crate::ids::{CallId, CallerId, ModelId, Person, RunId, VoiceId};
use crate::speech::SpeechFormat;

/// The clone run's input, as upload-trigger, webhook-intake (or `echome`) starts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloneRunInput {
    pub run_id: RunId,
    #[serde(alias = "caller_id")]
    pub person: Person,
    pub sample: BlobRef,
    /// The pack an earlier run cut from `sample`: the run goes straight to CloneVoice (and
    /// back to ExtractAudio if its files have expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<SegmentOutput>,
    /// A caller on the line, listening to the greeting until the clone is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallContext>,
    /// Earlier recordings of the caller's calls, each too short alone, that ExtractAudio joins
    /// before `sample` (oldest first). Always written: the ASL passes `$.combine` as it is.
    #[serde(default)]
    pub combine: Vec<BlobRef>,
}

/// The call a clone run hands over when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallContext {
    pub threecx_call_id: CallId,
    #[serde(default)]
    pub greeting_call_id: Option<String>,
    /// Whom the agent rings (E.164).
    pub phone_number: CallerId,
    /// After this the caller gets the default voice rather than wait longer (RFC 3339, which
    /// the state machine's Wait state takes as its `TimestampPath`).
    pub deadline: chrono::DateTime<chrono::Utc>,
}

/// TransitionCall's input: the run's state when the clone is ready, when it failed
/// (`error`, as the state machine's Catch puts it), or at the deadline (neither).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionInput {
    pub run_id: RunId,
    pub caller_id: CallerId,
    pub call: CallContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone: Option<CloneOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StateError>,
}

/// A Catch's `{"Error", "Cause"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// What TransitionCall did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionOutput {
    /// `transferred`, `fallback`, `not_rung`, or `already_done`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// ExtractAudio's input: the run and the caller's original recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractInput {
    pub run_id: RunId,
    #[serde(alias = "caller_id")]
    pub person: Person,
    pub sample: BlobRef,
    /// Earlier short recordings of the caller's calls joined before `sample` ([`CloneRunInput::combine`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub combine: Vec<BlobRef>,
}

/// What ffmpeg said of the original recording, and what extraction made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Container as ffmpeg names it (`wav`, `mp3`, `mov,mp4,m4a,3gp,3g2,mj2`, …).
    pub container: String,
    pub codec: String,
    pub sample_rate_hz: u32,
    pub channels: u32,
    /// Duration the container declares, when it declares one.
    pub declared_duration_s: Option<f64>,
    /// Duration actually decoded.
    pub duration_s: f64,
    /// Sample rate of the full-quality mono copy the pack is cut from (the source's own rate).
    pub pack_rate_hz: u32,
    /// Bits per sample of that copy (16 or 24).
    pub pack_bits: u16,
    /// Decoding errors ffmpeg reported and recovered from (a few are tolerated and reported).
    #[serde(default)]
    pub decode_errors: u32,
}

/// ExtractAudio's output, placed under `$.extracted` in the run's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractOutput {
    /// Mono 16 kHz 16-bit WAV for analysis.
    pub analysis: BlobRef,
    /// Mono WAV at the source's own rate, cut into the pack.
    pub source: BlobRef,
    /// Of `sample` (its duration: of everything joined).
    pub source_info: SourceInfo,
    /// The earlier recordings that were joined before `sample`, in order (one that could not
    /// be read is left out, and the run goes on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joined: Vec<BlobRef>,
}

/// SegmentAudio's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentInput {
    pub run_id: RunId,
    pub extracted: ExtractOutput,
}

/// SegmentAudio's output, placed under `$.pack` in the run's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentOutput {
    /// 1 to 3 WAV files, in the order they should be uploaded.
    pub samples: Vec<BlobRef>,
    pub report: BlobRef,
    pub picture: BlobRef,
    pub speech_s: f64,
    pub selected_s: f64,
    /// The pack's noise floor is high enough that the clone should remove background noise.
    pub noisy: bool,
    /// Warning codes from the report (`narrowband`, `below_target`, …).
    pub warnings: Vec<String>,
}

/// What SegmentAudio answers the state machine: the pack, or why the recording holds none.
/// A recording without enough usable speech (a short call, music on hold) is the caller's
/// input, not echome's fault: it is an answer, so the function's error metric and alarm stay
/// for faults, and the state machine records the run as `NoUsableSpeech` and ends without an
/// execution failure. Locally the runner takes the handler's error straight to the same record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SegmentAnswer {
    NoUsableSpeech { no_usable_speech: StateError },
    Pack(SegmentOutput),
}

impl SegmentAnswer {
    /// The handler's result as the state machine takes it: no usable speech becomes an answer,
    /// every other error stays an error (retried or caught by the ASL).
    pub fn from_result(result: Result<SegmentOutput, StepError>) -> Result<Self, StepError> {
        match result {
            Ok(pack) => Ok(Self::Pack(pack)),
            Err(e) if e.error_type == ErrorType::NoUsableSpeech => Ok(Self::NoUsableSpeech {
                no_usable_speech: StateError {
                    error: e.error_type.as_str().to_owned(),
                    cause: crate::redact::phone_numbers(&e.to_string()),
                },
            }),
            Err(e) => Err(e),
        }
    }
}

/// CloneVoice's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloneInput {
    pub run_id: RunId,
    #[serde(alias = "caller_id")]
    pub person: Person,
    pub pack: SegmentOutput,
    /// The recording the pack was cut from: the pack is kept with it for the next clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<BlobRef>,
}

/// CloneVoice's output, placed under `$.clone` in the run's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloneOutput {
    pub voice_id: VoiceId,
    /// `elevenlabs`, or `offline` locally without an API key (then it is not a clone).
    pub engine: String,
    /// A fresh clone of the same pack was reused: nothing was uploaded.
    pub cached: bool,
    /// A voice deleted to free a slot for this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evicted: Option<VoiceId>,
}

/// ScoreVoice's input: the voice CloneVoice made (or reused) and the pack it came from. Its
/// output, a `quality::QualityScore`, goes under `$.quality`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreInput {
    pub run_id: RunId,
    #[serde(alias = "caller_id")]
    pub person: Person,
    pub pack: SegmentOutput,
    pub clone: CloneOutput,
}

/// SynthesizeSpeech's input: text in a voice, named by the provider's id or by the voice model
/// that holds it (then the use is counted on the model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthesizeInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<VoiceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<ModelId>,
    pub text: String,
    #[serde(default = "default_format")]
    pub format: SpeechFormat,
}

fn default_format() -> SpeechFormat {
    SpeechFormat::Mp3
}

/// SynthesizeSpeech's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthesizeOutput {
    /// `tts/{voice}/{hash}.{ext}`: the hash of engine, voice, model, format and text.
    pub audio: BlobRef,
    /// The same request was answered before: the provider was not called.
    pub cached: bool,
    /// Characters sent to the provider for this audio.
    pub characters: u64,
    /// Requests the text took (split at sentence boundaries under the model's limit).
    pub pieces: usize,
    pub engine: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AudioError;

    #[test]
    fn no_usable_speech_is_an_answer_the_failure_path_records_as_that_error() {
        let short = AudioError::TooLittleSpeech { found_s: 12.0, required_s: 30.0, speech_s: 14.0 };
        let answer = SegmentAnswer::from_result(Err(short.into())).unwrap();
        let json = serde_json::to_value(&answer).unwrap();
        let (error, cause) =
            (json["no_usable_speech"]["Error"].as_str(), json["no_usable_speech"]["Cause"].as_str());
        assert_eq!(error, Some("NoUsableSpeech"));
        // RecordFailure stores the Cause; the run's record reads it back as the same error.
        let back = StepError::from_cause(ErrorType::NoUsableSpeech, cause.unwrap());
        assert_eq!(back.code, "too_little_speech");
        assert!(back.message.contains("found 12.0 s"), "{back:?}");

        let broken = SegmentAnswer::from_result(Err(AudioError::EmptyFile.into()));
        assert_eq!(broken.unwrap_err().error_type, ErrorType::InvalidAudio, "a fault stays an error");
    }
}
