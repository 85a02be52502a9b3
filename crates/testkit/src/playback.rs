//! A stand-in for a perfect clone: an engine that "speaks" by playing back consecutive pieces
//! of a real recording of the person (speech they gave that is not in the pack). What the
//! quality score gives it is the ceiling a clone can reach; another person's recording, the
//! floor. It never clones: only `synthesize` is meant to be called.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use echome_core::{EngineVoice, SpeechFormat, StepError, VoiceEngine, VoiceId};

/// Seconds per phrase: about a sentence.
const PIECE_S: f64 = 4.0;

pub struct Playback {
    /// MP3s of consecutive pieces, handed out in turn.
    pieces: Vec<Vec<u8>>,
    next: Mutex<usize>,
    /// Texts asked for, in order.
    pub asked: Mutex<Vec<String>>,
}

impl Playback {
    /// Cuts `recording` (anything ffmpeg reads: a μ-law phone copy too) into pieces of about
    /// a sentence, from `skip_s` on.
    pub fn of(recording: &Path, skip_s: f64) -> anyhow::Result<Self> {
        let rate = 16_000u32;
        let bytes = std::fs::read(recording)?;
        let rate_arg = rate.to_string();
        let pcm = echome_audio::ffmpeg::transcode(
            &bytes,
            &["-ac", "1", "-ar", rate_arg.as_str(), "-c:a", "pcm_s16le", "-f", "s16le"],
        )?;
        let samples: Vec<f32> =
            pcm.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
        let (skip, piece) = ((skip_s * f64::from(rate)) as usize, (PIECE_S * f64::from(rate)) as usize);
        let mut pieces = Vec::new();
        for chunk in samples.get(skip..).unwrap_or_default().chunks(piece).filter(|c| c.len() == piece) {
            let mut wav = echome_audio::wav::WavWriter::new(Cursor::new(Vec::new()), rate, 16)?;
            wav.write(chunk)?;
            let wav = wav.finish()?.into_inner();
            pieces.push(echome_audio::ffmpeg::transcode(
                &wav,
                &["-ac", "1", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
            )?);
        }
        anyhow::ensure!(!pieces.is_empty(), "{} is too short to play back", recording.display());
        Ok(Self { pieces, next: Mutex::new(0), asked: Mutex::default() })
    }
}

impl VoiceEngine for Playback {
    fn name(&self) -> &'static str {
        "playback"
    }

    async fn clone_voice(&self, _: &str, _: &[PathBuf], _: bool) -> Result<(VoiceId, u64), StepError> {
        Err(StepError::invalid_input("the playback engine plays a recording back; it does not clone"))
    }

    async fn delete_voice(&self, _: &VoiceId) -> Result<(), StepError> {
        Ok(())
    }

    async fn voices(&self) -> Result<Vec<EngineVoice>, StepError> {
        Ok(Vec::new())
    }

    async fn slots(&self) -> Result<Option<(u32, u32)>, StepError> {
        Ok(None)
    }

    async fn synthesize(&self, _: &VoiceId, text: &str, format: SpeechFormat) -> Result<Vec<u8>, StepError> {
        if format != SpeechFormat::Mp3 {
            return Err(StepError::invalid_input("the playback engine speaks MP3 only"));
        }
        self.asked.lock().unwrap_or_else(|p| p.into_inner()).push(text.to_owned());
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let piece = self.pieces[*next % self.pieces.len()].clone();
        *next += 1;
        Ok(piece)
    }

    async fn max_characters(&self) -> Result<usize, StepError> {
        Ok(10_000)
    }

    fn model(&self) -> &str {
        "playback"
    }
}
