//! ElevenLabs as echome's voice engine (the `VoiceEngine` port). Voices echome makes carry the
//! label `echome=1` (and `echome_request=<id>`, unique per clone request); nothing else is ever
//! deleted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use echome_core::{EngineVoice, SpeechFormat, StepError, VoiceEngine, VoiceId};

use crate::client::Client;
use crate::limiter::Priority;
use crate::tts::{OutputFormat, TtsRequest};
use crate::voices::{NewVoice, VoiceQuery};

pub const OUR_LABEL: &str = "echome";

#[derive(Debug, Clone)]
pub struct ElevenLabsEngine {
    client: Client,
    pub model_id: String,
    pub priority: Priority,
    /// The model's character limit, asked for once per process (per model).
    limit: Arc<Mutex<Option<(String, usize)>>>,
}

impl ElevenLabsEngine {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            model_id: "eleven_multilingual_v2".into(),
            priority: Priority::Batch,
            limit: Arc::new(Mutex::new(None)),
        }
    }

    fn known_limit(&self) -> Option<usize> {
        let cached = self.limit.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cached.as_ref().filter(|(model, _)| *model == self.model_id).map(|&(_, limit)| limit)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// The id of a voice echome just made: ours, so it must be a valid id.
fn voice_id(raw: &str) -> Result<VoiceId, StepError> {
    VoiceId::parse(raw).map_err(|e| {
        StepError::new(echome_core::ErrorType::Internal, "provider_answer_invalid", e.to_string())
    })
}

/// Unique per clone request (64 random bits): the label a lost answer's voice is found by.
fn request_id() -> String {
    format!("r{:016x}", fastrand::u64(..))
}

impl VoiceEngine for ElevenLabsEngine {
    fn name(&self) -> &'static str {
        "elevenlabs"
    }

    async fn clone_voice(
        &self,
        name: &str,
        files: &[PathBuf],
        remove_background_noise: bool,
    ) -> Result<(VoiceId, u64), StepError> {
        let bytes = files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
        let voice = NewVoice {
            name: name.to_owned(),
            files: files.to_vec(),
            remove_background_noise,
            description: Some("Made by echome from a recording of the person it is named after".into()),
            labels: BTreeMap::from([(OUR_LABEL.to_owned(), "1".to_owned())]),
            request_id: Some(request_id()),
        };
        let added = self.client.add_voice(&voice, self.priority).await?;
        Ok((voice_id(&added.voice_id)?, bytes))
    }

    async fn delete_voice(&self, voice: &VoiceId) -> Result<(), StepError> {
        Ok(self.client.delete_voice(voice.as_str(), self.priority).await?)
    }

    async fn voices(&self) -> Result<Vec<EngineVoice>, StepError> {
        let query = VoiceQuery { voice_type: Some("personal".into()), ..Default::default() };
        let voices = self.client.list_voices(&query, self.priority).await?;
        // Voices made elsewhere may have ids of any shape: they are never touched, so one that
        // is not a valid `VoiceId` is left out rather than failing the list. echome's own are
        // valid (checked when made); one labelled ours with an odd id is not ours either.
        let mut out = Vec::with_capacity(voices.len());
        for v in voices {
            match VoiceId::parse(&v.voice_id) {
                Ok(id) => {
                    let ours = v.labels.get(OUR_LABEL).is_some_and(|x| x == "1");
                    out.push(EngineVoice { voice_id: id, ours });
                }
                Err(e) => {
                    tracing::debug!(error = %e, category = %v.category, "a voice made elsewhere is left out")
                }
            }
        }
        Ok(out)
    }

    async fn slots(&self) -> Result<Option<(u32, u32)>, StepError> {
        let sub = self.client.subscription(self.priority).await?;
        Ok(Some((sub.voice_slots_used, sub.voice_limit)))
    }

    async fn synthesize(
        &self,
        voice: &VoiceId,
        text: &str,
        format: SpeechFormat,
    ) -> Result<Vec<u8>, StepError> {
        let req = TtsRequest {
            text: text.to_owned(),
            model_id: self.model_id.clone(),
            language_code: None,
            voice_settings: None,
            seed: None,
            previous_text: None,
            next_text: None,
        };
        let api_format = match format {
            SpeechFormat::Ulaw => OutputFormat::Ulaw8000,
            // The API's Opus is not an OGG file: ask for MP3 and let ffmpeg wrap it.
            SpeechFormat::Mp3 | SpeechFormat::Ogg => OutputFormat::Mp3_44100_128,
        };
        let speech = self.client.text_to_speech(voice.as_str(), &req, api_format, self.priority).await?;
        match format {
            SpeechFormat::Ogg => {
                Ok(echome_audio::ffmpeg::transcode(&speech.audio, echome_audio::ffmpeg::OGG_OPUS)?)
            }
            _ => Ok(speech.audio),
        }
    }

    async fn max_characters(&self) -> Result<usize, StepError> {
        if let Some(limit) = self.known_limit() {
            return Ok(limit);
        }
        let models = self.client.models(self.priority).await?;
        let limit = models.iter().find(|m| m.model_id == self.model_id).and_then(|m| m.character_limit());
        // The documented limit of eleven_multilingual_v2, if the model list does not say.
        let limit = limit.map_or(10_000, |l| l as usize);
        *self.limit.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some((self.model_id.clone(), limit));
        Ok(limit)
    }

    fn model(&self) -> &str {
        &self.model_id
    }
}
