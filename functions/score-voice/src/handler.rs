//! ScoreVoice: how good the caller's new voice is, measured. The state follows the hand-over
//! (TransitionCall), so it never delays a call. The voice speaks the fixed test phrases
//! (`quality::TEST_PHRASES`) once: they are kept under `runs/{run_id}/quality/`, a retried
//! attempt reuses the ones already spoken, and a voice already scored (a reused clone) is not
//! spoken again. Each phrase is embedded and measured as the pack was; the score, its parts and
//! the characters the phrases cost are stored with the voice and beside the phrases.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use echome_audio::PrepareConfig;
use echome_audio::phrase::{PhraseFigures, measure_phrase};
use echome_core::library::{ModelId, VoiceLibrary, ops};
use echome_core::quality::{PhraseMeasure, PhraseResult, TEST_PHRASES, score_parts};
use echome_core::{
    BlobRef, BlobStore, CloneCache, PackFigures, PackSpeaker, QualityScore, ScoreInput, SpeechFormat,
    StepError, VoiceEngine, env,
};
use echome_voiceprint::{Embedding, Encoder};

#[derive(Clone)]
pub struct Config {
    pub work_dir: PathBuf,
    pub prepare: PrepareConfig,
    /// The speaker encoder (the voiceprint layer in AWS); without it similarity and
    /// consistency are reported missing.
    pub encoder: Option<Arc<Encoder>>,
}

impl Config {
    /// Reads `WORK_DIR` and the encoder's weights (`ECHOME_VOICEPRINT_WEIGHTS`, or the layer's).
    pub fn from_env() -> Result<Self, String> {
        let encoder = echome_voiceprint::default_encoder().map_err(|e| e.to_string())?;
        Ok(Self { work_dir: env::work_dir(), prepare: PrepareConfig::default(), encoder })
    }
}

/// `runs/{run_id}/quality/{name}`: where the run keeps what scoring made.
fn quality_blob(input: &ScoreInput, name: &str) -> BlobRef {
    input.pack.report.with_key(format!("{}quality/{name}", input.run_id.prefix()))
}

pub async fn handle<B, C, E>(
    blobs: &B,
    cache: &C,
    engine: &E,
    cfg: &Config,
    input: ScoreInput,
) -> Result<QualityScore, StepError>
where
    B: BlobStore,
    C: CloneCache + VoiceLibrary,
    E: VoiceEngine,
{
    let voice = &input.clone.voice_id;
    if let Some(done) = cache.quality_of(&input.person, voice).await? {
        tracing::info!(run_id = %input.run_id, voice_id = %voice, scored_by = %done.run_id, "the voice was scored before");
        return Ok(done);
    }
    let report = blobs.get_bytes(&input.pack.report).await?;
    let pack = PackFigures::from_report(&report)?;
    let print = PackSpeaker::from_report(&report)?
        .voiceprint
        .filter(|v| v.model == echome_voiceprint::MODEL)
        .and_then(|v| Embedding::from_raw(v.embedding));

    let work = tempfile::Builder::new().prefix("score-").tempdir_in(&cfg.work_dir).map_err(|e| {
        StepError::internal(format!("creating a work folder in {}: {e}", cfg.work_dir.display()))
    })?;
    let mut phrases = Vec::with_capacity(TEST_PHRASES.len());
    for (i, text) in TEST_PHRASES.iter().enumerate() {
        let audio = quality_blob(&input, &format!("phrase-{}.mp3", i + 1));
        let local = work.path().join(format!("phrase-{}.mp3", i + 1));
        if blobs.exists(&audio).await? {
            blobs.download_to(&audio, &local).await?;
        } else {
            let bytes = engine.synthesize(voice, text, SpeechFormat::Mp3).await?;
            std::fs::write(&local, &bytes)
                .map_err(|e| StepError::internal(format!("writing {}: {e}", local.display())))?;
            blobs.put_bytes(&audio, bytes, SpeechFormat::Mp3.content_type()).await?;
        }
        let figures = measure(&local, cfg).await?;
        let similarity = print.as_ref().zip(figures.embedding.as_ref()).map(|(p, e)| round3(p.cosine(e)));
        phrases.push(PhraseMeasure {
            result: PhraseResult {
                text: (*text).to_owned(),
                audio,
                duration_s: round3(figures.duration_s),
                speech_s: round3(figures.speech_s),
                similarity,
            },
            embedding: figures.embedding.map(|e| e.as_slice().to_vec()),
            prosody: figures.prosody,
        });
    }

    let (score, parts) =
        score_parts(&pack, print.as_ref().map(Embedding::as_slice), &phrases, cfg.encoder.is_some());
    let quality = QualityScore {
        voice_id: voice.clone(),
        engine: input.clone.engine.clone(),
        run_id: input.run_id.clone(),
        score,
        parts,
        phrases: phrases.into_iter().map(|p| p.result).collect(),
        // What the phrases cost, once, whichever attempt of this run spoke them.
        characters: TEST_PHRASES.iter().map(|t| t.chars().count() as u64).sum(),
        scored_at: Utc::now(),
    };
    let body = serde_json::to_vec_pretty(&quality)
        .map_err(|e| StepError::internal(format!("encoding the quality score: {e}")))?;
    blobs.put_bytes(&quality_blob(&input, "score.json"), body, "application/json").await?;
    if !cache.set_quality(&input.person, &quality).await? {
        tracing::info!(run_id = %input.run_id, voice_id = %voice, "the caller's voice changed while it was scored: the score stays with the run");
    } else {
        keep_with_model(cache, &input, &quality).await?;
    }
    tracing::info!(run_id = %input.run_id, voice_id = %voice, score = ?quality.score, missing = ?quality.missing(), "voice scored");
    Ok(quality)
}

/// The score also goes to the voice's model in the library (`vm-{run}` of the run that made
/// the voice, which the caller's entry names), while that model still holds the voice.
async fn keep_with_model<C: CloneCache + VoiceLibrary>(
    cache: &C,
    input: &ScoreInput,
    quality: &QualityScore,
) -> Result<(), StepError> {
    let Some(entry) = cache.clone_of(&input.person).await?.filter(|e| e.voice_id == quality.voice_id) else {
        return Ok(());
    };
    let id = ModelId::for_run(&entry.run_id);
    let held = |m: &echome_core::library::VoiceModel| m.provider_voice_id.as_ref() == Some(&quality.voice_id);
    if !cache.model(&id).await?.is_some_and(|m| held(&m)) {
        return Ok(());
    }
    ops::update(cache, &id, quality.scored_at, |m| {
        if held(m) {
            m.quality = Some(quality.clone());
        }
        Ok(())
    })
    .await?;
    Ok(())
}

async fn measure(path: &Path, cfg: &Config) -> Result<PhraseFigures, StepError> {
    let (path, prepare, encoder) = (path.to_owned(), cfg.prepare, cfg.encoder.clone());
    tokio::task::spawn_blocking(move || measure_phrase(&path, &prepare, encoder.as_deref()))
        .await
        .map_err(|e| StepError::internal(format!("measuring a test phrase stopped: {e}")))?
        .map_err(StepError::from)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
