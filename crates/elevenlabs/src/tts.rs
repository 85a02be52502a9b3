//! Text to speech: `POST /v1/text-to-speech/{voice_id}?output_format=…`.

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{ElevenLabsError, voice_missing};
use crate::limiter::Priority;

/// The output formats echome asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutputFormat {
    /// The default: MP3 44.1 kHz 128 kbit/s.
    #[serde(rename = "mp3_44100_128")]
    Mp3_44100_128,
    /// Phone lines (Twilio, SIP G.711 μ-law): raw μ-law 8 kHz.
    #[serde(rename = "ulaw_8000")]
    Ulaw8000,
    /// Raw Opus 48 kHz 64 kbit/s; messaging apps want it in an OGG container (see the
    /// synthesize-speech function).
    #[serde(rename = "opus_48000_64")]
    Opus48000_64,
    #[serde(rename = "pcm_16000")]
    Pcm16000,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mp3_44100_128 => "mp3_44100_128",
            Self::Ulaw8000 => "ulaw_8000",
            Self::Opus48000_64 => "opus_48000_64",
            Self::Pcm16000 => "pcm_16000",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stability: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity_boost: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_speaker_boost: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TtsRequest {
    pub text: String,
    pub model_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_settings: Option<VoiceSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
    /// Request stitching across the pieces of a long text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_text: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Speech {
    pub audio: Vec<u8>,
    pub request_id: Option<String>,
    /// Characters billed, when the answer says (`character-cost` or `x-character-count`).
    pub character_cost: Option<u64>,
}

impl Client {
    pub async fn text_to_speech(
        &self,
        voice_id: &str,
        req: &TtsRequest,
        format: OutputFormat,
        priority: Priority,
    ) -> Result<Speech, ElevenLabsError> {
        let url = self.url(&format!("/v1/text-to-speech/{voice_id}"));
        let answer = self
            .send(priority, "text to speech", || {
                Ok(self.http().post(&url).query(&[("output_format", format.as_str())]).json(req))
            })
            .await
            .map_err(voice_missing)?;
        let cost = answer
            .header("character-cost")
            .or_else(|| answer.header("x-character-count"))
            .and_then(|v| v.trim().parse().ok());
        Ok(Speech {
            request_id: answer.header("request-id").map(str::to_owned),
            character_cost: cost,
            audio: answer.body,
        })
    }
}
