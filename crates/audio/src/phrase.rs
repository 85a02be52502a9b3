//! A clone's test phrase, measured the way the pack was: its speech (the VAD's chunks, pauses
//! dropped) embedded as one utterance, and its prosody from the same chunk statistics.

use std::path::Path;

use echome_core::AudioError;
use echome_voiceprint::{Embedding, Encoder};

use crate::analysis::Analyzer;
use crate::features::RATE;
use crate::pipeline::PrepareConfig;
use crate::prosody::Prosody;

/// A test phrase is a sentence: anything longer is not what was asked for.
const MAX_PHRASE_S: f64 = 60.0;

#[derive(Debug, Clone)]
pub struct PhraseFigures {
    pub duration_s: f64,
    /// Seconds inside the VAD's chunks.
    pub speech_s: f64,
    pub prosody: Option<Prosody>,
    /// `None` without an encoder, or when the phrase holds no speech.
    pub embedding: Option<Embedding>,
}

/// Decodes `path` (any format ffmpeg reads) and measures it.
pub fn measure_phrase(
    path: &Path,
    cfg: &PrepareConfig,
    encoder: Option<&Encoder>,
) -> Result<PhraseFigures, AudioError> {
    let limits = crate::ffmpeg::ExtractConfig { max_duration_s: MAX_PHRASE_S, ..Default::default() };
    let mut wav: Vec<f32> = Vec::new();
    let mut too_long = false;
    crate::ffmpeg::extract(path, Path::new("/dev/null"), &limits, |block| {
        if wav.len() as f64 <= MAX_PHRASE_S * f64::from(RATE) {
            wav.extend_from_slice(block);
        } else {
            too_long = true;
        }
    })?;
    let duration_s = wav.len() as f64 / f64::from(RATE);
    if too_long {
        return Err(AudioError::TooLong { duration_s, limit_s: MAX_PHRASE_S });
    }
    let mut analyzer = Analyzer::new(cfg.vad);
    analyzer.push(&wav);
    let analysis = analyzer.finish();
    let at = |s: f64| ((s * f64::from(RATE)) as usize).min(wav.len());
    let speech: Vec<f32> =
        analysis.chunks.iter().flat_map(|c| wav[at(c.start_s)..at(c.end_s)].iter().copied()).collect();
    Ok(PhraseFigures {
        duration_s,
        speech_s: speech.len() as f64 / f64::from(RATE),
        prosody: crate::prosody::measure(&analysis.chunks),
        embedding: encoder.and_then(|e| e.embed(&speech)),
    })
}
