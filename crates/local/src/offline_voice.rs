//! The offline engine: for local runs without an ElevenLabs key. It is not a clone: it measures
//! the speaker's pitch and speaking rate from the pack and speaks with a matching espeak-ng
//! voice. Its voice ids start with `offline` and say what was matched; everything it makes
//! says `"engine": "offline"`. It never runs in AWS.

use std::path::PathBuf;
use std::process::Command;

use echome_audio::analysis::Analyzer;
use echome_audio::ffmpeg;
use echome_core::{AudioError, EngineVoice, ErrorType, SpeechFormat, StepError, VoiceEngine, VoiceId};

pub const ENGINE: &str = "offline";

/// What the offline engine matched: espeak-ng's voice variant, pitch (0–99) and words/minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub female: bool,
    pub pitch: u32,
    pub wpm: u32,
}

impl Match {
    /// From the speaker's median pitch (Hz) and syllables per second.
    pub fn from_measures(f0_hz: f32, syllables_per_s: f32) -> Self {
        let female = f0_hz >= 165.0;
        let centre = if female { 210.0 } else { 120.0 };
        let pitch = (50.0 + (f0_hz - centre) * 0.5).clamp(5.0, 95.0).round() as u32;
        // About 1.5 syllables a word in conversational English.
        let wpm = (syllables_per_s * 60.0 / 1.5).clamp(120.0, 260.0).round() as u32;
        Self { female, pitch, wpm }
    }

    pub fn voice_id(&self) -> VoiceId {
        let id = format!("offline{}{}s{}", if self.female { "f" } else { "m" }, self.pitch, self.wpm);
        VoiceId::parse(&id).unwrap_or_else(|_| unreachable!("letters and digits only"))
    }

    pub fn parse(voice: &VoiceId) -> Option<Self> {
        let rest = voice.as_str().strip_prefix(ENGINE)?;
        let (female, rest) = match rest.as_bytes().first()? {
            b'f' => (true, &rest[1..]),
            b'm' => (false, &rest[1..]),
            _ => return None,
        };
        let (pitch, wpm) = rest.split_once('s')?;
        Some(Self { female, pitch: pitch.parse().ok()?, wpm: wpm.parse().ok()? })
    }

    fn espeak_voice(&self) -> &'static str {
        if self.female { "en-us+f3" } else { "en-us" }
    }
}

#[derive(Debug, Clone, Default)]
pub struct OfflineEngine;

/// Median pitch and syllable rate of the voiced speech in the pack, weighted by duration.
pub fn measure(files: &[PathBuf]) -> Result<(f32, f32), AudioError> {
    let mut pitches: Vec<(f32, f64)> = Vec::new();
    let mut rate_sum = 0.0;
    let mut dur_sum = 0.0;
    for file in files {
        let scratch = file.with_extension("offline-src.wav");
        let mut analyzer = Analyzer::new(echome_audio::PrepareConfig::default().vad);
        let extracted = ffmpeg::extract(file, &scratch, &Default::default(), |block| analyzer.push(block));
        if let Err(e) = std::fs::remove_file(&scratch)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %echome_core::redact::phone_numbers(&scratch.display().to_string()), error = %e, "could not remove a scratch file");
        }
        extracted?;
        for c in analyzer.finish().chunks {
            let d = c.duration_s();
            if c.f0_median_hz > 50.0 {
                pitches.push((c.f0_median_hz, d));
            }
            rate_sum += c.syllable_rate as f64 * d;
            dur_sum += d;
        }
    }
    if pitches.is_empty() || dur_sum <= 0.0 {
        return Err(AudioError::TooLittleSpeech { found_s: 0.0, required_s: 1.0, speech_s: dur_sum });
    }
    pitches.sort_by(|a, b| a.0.total_cmp(&b.0));
    let half = pitches.iter().map(|p| p.1).sum::<f64>() / 2.0;
    let mut acc = 0.0;
    let f0 = pitches.iter().find(|p| {
        acc += p.1;
        acc >= half
    });
    Ok((f0.map_or(pitches[0].0, |p| p.0), (rate_sum / dur_sum) as f32))
}

fn speak(m: &Match, text: &str) -> Result<Vec<u8>, StepError> {
    let out = Command::new("espeak-ng")
        .args(["-v", m.espeak_voice(), "-p", &m.pitch.to_string(), "-s", &m.wpm.to_string(), "--stdout"])
        .arg(text)
        .output()
        .map_err(|e| StepError::internal(format!("espeak-ng could not be run (install espeak-ng): {e}")))?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(StepError::internal(format!(
            "espeak-ng failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// ffmpeg arguments for each format.
pub fn format_args(format: SpeechFormat) -> &'static [&'static str] {
    match format {
        SpeechFormat::Mp3 => &["-ac", "1", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
        SpeechFormat::Ulaw => &["-ac", "1", "-ar", "8000", "-c:a", "pcm_mulaw", "-f", "mulaw"],
        SpeechFormat::Ogg => ffmpeg::OGG_OPUS,
    }
}

impl VoiceEngine for OfflineEngine {
    fn name(&self) -> &'static str {
        ENGINE
    }

    async fn clone_voice(
        &self,
        _name: &str,
        files: &[PathBuf],
        _noise: bool,
    ) -> Result<(VoiceId, u64), StepError> {
        let owned = files.to_vec();
        let (f0, rate) = tokio::task::spawn_blocking(move || measure(&owned))
            .await
            .map_err(|e| StepError::internal(format!("measuring stopped: {e}")))??;
        let m = Match::from_measures(f0, rate);
        tracing::info!(f0_hz = f0, syllables_per_s = rate, voice = %m.voice_id(), "offline voice matched (not a clone)");
        Ok((m.voice_id(), 0))
    }

    async fn delete_voice(&self, _voice: &VoiceId) -> Result<(), StepError> {
        Ok(())
    }

    async fn voices(&self) -> Result<Vec<EngineVoice>, StepError> {
        Ok(Vec::new())
    }

    /// No slots: nothing is stored anywhere.
    async fn slots(&self) -> Result<Option<(u32, u32)>, StepError> {
        Ok(None)
    }

    async fn synthesize(
        &self,
        voice: &VoiceId,
        text: &str,
        format: SpeechFormat,
    ) -> Result<Vec<u8>, StepError> {
        let m = Match::parse(voice).ok_or_else(|| {
            StepError::new(
                ErrorType::InvalidInput,
                "voice_not_found",
                format!("{voice} is not an offline voice"),
            )
        })?;
        let (text, m) = (text.to_owned(), m);
        tokio::task::spawn_blocking(move || {
            let wav = speak(&m, &text)?;
            Ok(ffmpeg::transcode(&wav, format_args(format))?)
        })
        .await
        .map_err(|e| StepError::internal(format!("speaking stopped: {e}")))?
    }

    async fn max_characters(&self) -> Result<usize, StepError> {
        Ok(Self::MAX_CHARACTERS)
    }

    fn model(&self) -> &str {
        "espeak-ng"
    }
}

impl OfflineEngine {
    /// espeak-ng takes any length; pieces this long keep memory small.
    pub const MAX_CHARACTERS: usize = 5_000;
}

/// Whether a voice id belongs to the offline engine.
pub fn is_offline(voice: &VoiceId) -> bool {
    Match::parse(voice).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_match_round_trips_through_its_voice_id() {
        let m = Match::from_measures(118.0, 4.2);
        assert!(!m.female);
        assert_eq!(Match::parse(&m.voice_id()), Some(m));
        let f = Match::from_measures(225.0, 5.0);
        assert!(f.female && f.pitch > 50);
        assert_eq!(Match::parse(&VoiceId::parse("21m00Tcm4TlvDq8ikWAM").unwrap()), None);
    }

    #[tokio::test]
    async fn it_speaks_in_every_format() {
        let voice = Match::from_measures(120.0, 4.0).voice_id();
        for (format, check) in [
            (
                SpeechFormat::Mp3,
                &(|b: &[u8]| b.starts_with(b"ID3") || b.starts_with(&[0xff])) as &dyn Fn(&[u8]) -> bool,
            ),
            (SpeechFormat::Ogg, &|b: &[u8]| b.starts_with(b"OggS")),
            (SpeechFormat::Ulaw, &|b: &[u8]| b.len() > 4000),
        ] {
            let audio = OfflineEngine.synthesize(&voice, "Hello, this is a test.", format).await.unwrap();
            assert!(check(&audio), "{format:?}: {} bytes", audio.len());
        }
    }
}
