//! Which voice engine a local run uses: ElevenLabs when `ELEVENLABS_API_KEY` is set (base URL
//! from `ELEVENLABS_API_BASE`), otherwise the offline engine, which says so in every result.

use std::path::PathBuf;

use echome_core::{EngineVoice, SpeechFormat, StepError, VoiceEngine, VoiceId};
use echome_elevenlabs::{Client, ElevenLabsEngine};
use echome_local::OfflineEngine;

pub enum Engine {
    ElevenLabs(ElevenLabsEngine),
    Offline(OfflineEngine),
}

impl Engine {
    pub fn from_env() -> Result<Self, StepError> {
        let cfg = echome_elevenlabs::Config::from_env().map_err(StepError::invalid_input)?;
        match cfg {
            Some(cfg) => Ok(Self::ElevenLabs(ElevenLabsEngine::new(Client::new(cfg)?))),
            None => Ok(Self::Offline(OfflineEngine)),
        }
    }

    /// The engine that speaks `voice`: offline ids never go to ElevenLabs.
    pub fn for_voice(voice: &VoiceId) -> Result<Self, StepError> {
        if echome_local::offline_voice::is_offline(voice) {
            return Ok(Self::Offline(OfflineEngine));
        }
        match Self::from_env()? {
            Self::Offline(_) => Err(StepError::invalid_input(format!(
                "{voice} is an ElevenLabs voice: set ELEVENLABS_API_KEY to use it"
            ))),
            engine => Ok(engine),
        }
    }
}

impl VoiceEngine for Engine {
    fn name(&self) -> &'static str {
        match self {
            Self::ElevenLabs(e) => e.name(),
            Self::Offline(e) => e.name(),
        }
    }

    async fn clone_voice(
        &self,
        name: &str,
        files: &[PathBuf],
        noise: bool,
    ) -> Result<(VoiceId, u64), StepError> {
        match self {
            Self::ElevenLabs(e) => e.clone_voice(name, files, noise).await,
            Self::Offline(e) => e.clone_voice(name, files, noise).await,
        }
    }

    async fn delete_voice(&self, voice: &VoiceId) -> Result<(), StepError> {
        match self {
            Self::ElevenLabs(e) => e.delete_voice(voice).await,
            Self::Offline(e) => e.delete_voice(voice).await,
        }
    }

    async fn voices(&self) -> Result<Vec<EngineVoice>, StepError> {
        match self {
            Self::ElevenLabs(e) => e.voices().await,
            Self::Offline(e) => e.voices().await,
        }
    }

    async fn slots(&self) -> Result<Option<(u32, u32)>, StepError> {
        match self {
            Self::ElevenLabs(e) => e.slots().await,
            Self::Offline(e) => e.slots().await,
        }
    }

    async fn synthesize(
        &self,
        voice: &VoiceId,
        text: &str,
        format: SpeechFormat,
    ) -> Result<Vec<u8>, StepError> {
        match self {
            Self::ElevenLabs(e) => e.synthesize(voice, text, format).await,
            Self::Offline(e) => e.synthesize(voice, text, format).await,
        }
    }

    async fn max_characters(&self) -> Result<usize, StepError> {
        match self {
            Self::ElevenLabs(e) => e.max_characters().await,
            Self::Offline(e) => e.max_characters().await,
        }
    }

    fn model(&self) -> &str {
        match self {
            Self::ElevenLabs(e) => e.model(),
            Self::Offline(e) => e.model(),
        }
    }
}
