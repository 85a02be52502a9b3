//! SynthesizeSpeech: text in a voice, stored under a content-addressed key
//! (`tts/{voice}/{hash}.{ext}`, the hash of engine, voice, model, format and text), so the same request
//! twice calls the provider once. Long text is split at sentence boundaries under the model's
//! character limit and the pieces joined; the characters used are recorded next to the audio.

pub mod batch;

use chrono::Utc;
use echome_core::library::{LibraryError, VoiceLibrary, ops};
use echome_core::people::{ConsentScope, consent_verdict};
use echome_core::{
    BlobRef, BlobStore, ConsentPolicy, People, SpeechFormat, StepError, StorageError, SynthesizeInput,
    SynthesizeOutput, VoiceEngine, VoiceId, env,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longer texts are refused: a request this size is a mistake, not a message.
pub const MAX_TEXT_CHARS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct Config {
    pub bucket: String,
    /// Whether speaking in a person's voice model needs their consent to speech
    /// (`CONSENT_POLICY`).
    pub consent: ConsentPolicy,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        Ok(Self { bucket: env::required("BUCKET_NAME")?, consent: ConsentPolicy::from_env()? })
    }
}

/// What is kept next to the audio: the proof of what was asked and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechRecord {
    pub voice_id: String,
    pub engine: String,
    pub model: String,
    pub format: SpeechFormat,
    pub characters: u64,
    pub pieces: usize,
    pub created_at: chrono::DateTime<Utc>,
}

/// Speaks `input`; when it names a voice model, its person's consent to speech is checked and
/// the use (characters, time) is counted on it.
pub async fn handle<B: BlobStore, E: VoiceEngine, L: VoiceLibrary + People>(
    blobs: &B,
    engine: &E,
    lib: &L,
    cfg: &Config,
    input: SynthesizeInput,
) -> Result<SynthesizeOutput, StepError> {
    let started = std::time::Instant::now();
    let voice = match (&input.voice_id, &input.model_id) {
        (given, Some(id)) => {
            let (m, voice) = ops::speakable(lib, id, engine.name()).await.map_err(refused)?;
            consent_verdict(lib, cfg.consent, &m.person, ConsentScope::Speech).await??;
            if let Some(given) = given.as_ref().filter(|v| **v != voice) {
                return Err(StepError::invalid_input(format!(
                    "voice_id {given} is not the voice of {id} ({voice}); name one of the two"
                )));
            }
            voice
        }
        (Some(voice), None) => voice.clone(),
        (None, None) => {
            return Err(StepError::invalid_input(
                "name the voice: voice_id (the provider's) or model_id (a voice model, vm-…)",
            ));
        }
    };
    let out = speak(blobs, engine, cfg, &voice, &input).await?;
    if let Some(id) = &input.model_id {
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // The speech is made and paid for: a counter that could not be written does not undo it.
        if let Err(e) = ops::record_use(lib, id, out.characters, ms, Utc::now()).await {
            tracing::warn!(model_id = %id, error = %e, "speech made; its use was not counted");
        }
    }
    Ok(out)
}

/// A model a request may not speak with is the request's fault; storage keeps its kind.
fn refused(e: LibraryError) -> StepError {
    match e {
        LibraryError::NotFound(_)
        | LibraryError::NotReady(..)
        | LibraryError::OtherProvider(..)
        | LibraryError::Invalid(_) => StepError::invalid_input(e.to_string()),
        other => other.into(),
    }
}

async fn speak<B: BlobStore, E: VoiceEngine>(
    blobs: &B,
    engine: &E,
    cfg: &Config,
    voice: &VoiceId,
    input: &SynthesizeInput,
) -> Result<SynthesizeOutput, StepError> {
    let text = input.text.trim();
    if text.is_empty() {
        return Err(StepError::invalid_input("there is no text to say"));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(StepError::invalid_input(format!(
            "the text has {chars} characters; the limit is {MAX_TEXT_CHARS}"
        )));
    }
    let mut h = Sha256::new();
    for part in [engine.name(), voice.as_str(), engine.model(), input.format.extension(), text] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hash = echome_core::signing::hex(&h.finalize()[..16]);
    // Under the voice's folder, so a person's erasure finds every speech made with their voice.
    let audio = BlobRef::new(&cfg.bucket, format!("tts/{voice}/{hash}.{}", input.format.extension()));
    let record_blob = BlobRef::new(&cfg.bucket, format!("tts/{voice}/{hash}.json"));

    let found = match blobs.exists(&record_blob).await {
        // Made before (and not expired by the lifecycle rule since): read it.
        Ok(true) => blobs.get_bytes(&record_blob).await,
        Ok(false) => Err(StorageError::NotFound(record_blob.to_string())),
        Err(e) => Err(e),
    };
    match found {
        Ok(bytes) => {
            let rec: SpeechRecord = serde_json::from_slice(&bytes)
                .map_err(|e| StepError::internal(format!("a broken speech record {record_blob}: {e}")))?;
            tracing::info!(key = %audio.key, "speech reused");
            return Ok(SynthesizeOutput {
                audio,
                cached: true,
                characters: 0,
                pieces: rec.pieces,
                engine: rec.engine,
            });
        }
        Err(StorageError::NotFound(_)) => {}
        // The probe is a listing of the key: refused, the role lacks s3:ListBucket on tts/.
        // Never take that for a miss (nor make the speech again on every request).
        Err(StorageError::Denied(detail)) => {
            let e = StepError::new(
                echome_core::ErrorType::Internal,
                "storage_access_denied",
                format!(
                    "cannot tell whether {record_blob} was made before: access denied ({detail}); grant the function s3:ListBucket on the bucket (for the tts/ prefix) next to s3:GetObject, as S3 answers a missing key with 403 without it"
                ),
            );
            tracing::error!(key = %record_blob.key, code = %e.code, message = %e.message, "speech cache probe refused");
            return Err(e);
        }
        Err(e) => return Err(e.into()),
    }

    let limit = engine.max_characters().await?;
    let pieces = split_text(text, limit);
    // OGG pages cannot simply be joined: the pieces come as MP3 and are wrapped once.
    let piece_format = if input.format == SpeechFormat::Ogg { SpeechFormat::Mp3 } else { input.format };
    let mut joined = Vec::new();
    for piece in &pieces {
        joined.extend(engine.synthesize(voice, piece, piece_format).await?);
    }
    if input.format == SpeechFormat::Ogg {
        joined = tokio::task::spawn_blocking(move || {
            echome_audio::ffmpeg::transcode(&joined, echome_audio::ffmpeg::OGG_OPUS)
        })
        .await
        .map_err(|e| StepError::internal(format!("transcoding stopped: {e}")))??;
    }
    blobs.put_bytes(&audio, joined, input.format.content_type()).await?;
    let rec = SpeechRecord {
        voice_id: voice.to_string(),
        engine: engine.name().to_owned(),
        model: engine.model().to_owned(),
        format: input.format,
        characters: chars as u64,
        pieces: pieces.len(),
        created_at: Utc::now(),
    };
    let bytes = serde_json::to_vec(&rec)
        .map_err(|e| StepError::internal(format!("encoding the speech record: {e}")))?;
    // The record goes last: when it exists, so does the audio.
    blobs.put_bytes(&record_blob, bytes, "application/json").await?;
    tracing::info!(key = %audio.key, characters = chars, pieces = pieces.len(), "speech made");
    Ok(SynthesizeOutput {
        audio,
        cached: false,
        characters: chars as u64,
        pieces: pieces.len(),
        engine: rec.engine,
    })
}

/// Pieces of at most `limit` characters, cut after sentence ends where possible, then at
/// spaces, and only inside a word when one word alone is too long.
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let mut sentences = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(pos, c)) in chars.iter().enumerate() {
        let next_is_space = chars.get(i + 1).is_none_or(|&(_, n)| n.is_whitespace());
        if matches!(c, '.' | '!' | '?' | '…' | '。') && next_is_space {
            let end = pos + c.len_utf8();
            sentences.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        sentences.push(&text[start..]);
    }
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for sentence in sentences.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        for part in fit(sentence, limit) {
            let joined_len =
                current.chars().count() + usize::from(!current.is_empty()) + part.chars().count();
            if !current.is_empty() && joined_len > limit {
                out.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&part);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One sentence in pieces of at most `limit` characters.
fn fit(sentence: &str, limit: usize) -> Vec<String> {
    if sentence.chars().count() <= limit {
        return vec![sentence.to_owned()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for word in sentence.split_whitespace() {
        let mut word = word.to_owned();
        while word.chars().count() > limit {
            let cut: String = word.chars().take(limit).collect();
            word = word.chars().skip(limit).collect();
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            out.push(cut);
        }
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > limit {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_sentences_under_the_limit() {
        let text = "Hello there. How are you today? I am fine! Thanks.";
        assert_eq!(split_text(text, 1000), [text]);
        let pieces = split_text(text, 30);
        assert_eq!(pieces, ["Hello there.", "How are you today? I am fine!", "Thanks."]);
        assert!(pieces.iter().all(|p| p.chars().count() <= 30), "{pieces:?}");
        assert_eq!(pieces.join(" "), text, "nothing is lost or reordered");
    }

    #[test]
    fn a_sentence_longer_than_the_limit_is_cut_at_spaces_then_inside_words() {
        let pieces = split_text("one two three four five", 9);
        assert_eq!(pieces, ["one two", "three", "four five"]);
        let pieces = split_text("abcdefghijklmnop", 5);
        assert_eq!(pieces, ["abcde", "fghij", "klmno", "p"]);
        assert!(split_text("   ", 10).is_empty());
        let unicode = split_text("Grüße aus Köln. Ça va?", 16);
        assert!(unicode.iter().all(|p| p.chars().count() <= 16), "{unicode:?}");
    }
}
