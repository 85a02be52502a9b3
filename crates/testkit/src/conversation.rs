//! A phone conversation between an agent and a caller, in two espeak-ng voices, as ElevenLabs'
//! post-call webhooks carry it: the whole conversation as one MP3 (44.1 kHz, 128 kbps, as
//! libmp3lame writes it, Info frame included) and a transcript whose turns have their role and
//! their start in whole seconds, rounded down.

use std::io::Cursor;
use std::path::Path;

use serde_json::{Value, json};

use crate::{RATE, Voice};

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Agent,
    Caller,
}

impl Role {
    fn voice(self) -> Voice {
        match self {
            Self::Agent => Voice::SECOND,
            Self::Caller => Voice::MAIN,
        }
    }

    fn transcript_role(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Caller => "user",
        }
    }
}

pub struct Conversation {
    pub mp3: Vec<u8>,
    /// `[{role, message, time_in_call_secs}]`.
    pub transcript: Value,
    pub duration_s: f64,
    /// Where each of the caller's turns really is, `[start, end)` seconds.
    pub caller_speech: Vec<(f64, f64)>,
}

/// Seconds of silence before the first turn and between turns.
const GAP_S: f64 = 0.6;

/// Speaks `turns` in order, one voice per role, with a short pause between them.
pub fn speak(turns: &[(Role, &str)], scratch: &Path) -> anyhow::Result<Conversation> {
    let gap = vec![0.0f32; (GAP_S * f64::from(RATE)) as usize];
    let mut audio = gap.clone();
    let mut transcript = Vec::new();
    let mut caller_speech = Vec::new();
    for (role, text) in turns {
        let start = audio.len() as f64 / f64::from(RATE);
        audio.extend(role.voice().speak(text, scratch)?);
        let end = audio.len() as f64 / f64::from(RATE);
        transcript.push(json!({
            "role": role.transcript_role(),
            "message": text,
            "time_in_call_secs": start.floor() as i64,
        }));
        if *role == Role::Caller {
            caller_speech.push((start, end));
        }
        audio.extend(&gap);
    }
    let duration_s = audio.len() as f64 / f64::from(RATE);
    let mp3 = echome_audio::ffmpeg::transcode(
        &wav(&audio)?,
        &["-ar", "44100", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
    )?;
    Ok(Conversation { mp3, transcript: Value::Array(transcript), duration_s, caller_speech })
}

/// 16-bit mono WAV bytes at [`RATE`].
pub fn wav(samples: &[f32]) -> anyhow::Result<Vec<u8>> {
    let mut w = echome_audio::wav::WavWriter::new(Cursor::new(Vec::new()), RATE, 16)?;
    w.write(samples)?;
    Ok(w.finish()?.into_inner())
}

/// Any audio ffmpeg reads, as mono f32 at 16 kHz (what the speaker encoder takes).
pub fn pcm_16k(audio: &[u8]) -> anyhow::Result<Vec<f32>> {
    let raw = echome_audio::ffmpeg::transcode(audio, &["-ac", "1", "-ar", "16000", "-f", "f32le"])?;
    Ok(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}
