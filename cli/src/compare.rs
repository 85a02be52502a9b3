//! `echome voices compare A B`: how alike two voices are, as the cosine between their
//! voiceprints. A and B are audio files (the main speaker's voiceprint, as `prepare` finds it)
//! or ids of voices echome made (the voiceprint of the pack each was cloned from); more than
//! two give every pair.

use std::path::Path;
use std::sync::Arc;

use echome_core::{BlobRef, BlobStore, CloneCache, PackSpeaker, RunLog, StepError, VoiceId};
use echome_voiceprint::{Embedding, Encoder};

use crate::local::{BUCKET, Local};

/// The cosine between the voiceprints of `a` and `b`.
pub async fn similarity(local: &Local, a: &str, b: &str) -> Result<f64, StepError> {
    let mut encoder: Option<Arc<Encoder>> = None;
    let (a, b) = (voiceprint(local, a, &mut encoder).await?, voiceprint(local, b, &mut encoder).await?);
    Ok(a.cosine(&b))
}

/// The cosine between every pair of `all` (row i, column j), each voiceprint found once.
pub async fn matrix(local: &Local, all: &[String]) -> Result<Vec<Vec<f64>>, StepError> {
    let mut encoder: Option<Arc<Encoder>> = None;
    let mut prints = Vec::with_capacity(all.len());
    for what in all {
        prints.push(voiceprint(local, what, &mut encoder).await?);
    }
    Ok(prints.iter().map(|a| prints.iter().map(|b| a.cosine(b)).collect()).collect())
}

async fn voiceprint(
    local: &Local,
    what: &str,
    encoder: &mut Option<Arc<Encoder>>,
) -> Result<Embedding, StepError> {
    let path = Path::new(what);
    if path.is_file() {
        let encoder = match encoder {
            Some(e) => e.clone(),
            None => {
                let loaded = echome_voiceprint::default_encoder()
                    .map_err(|e| StepError::internal(format!("loading the speaker encoder: {e}")))?
                    .ok_or_else(|| {
                        StepError::internal(
                            "the speaker encoder's weights are not installed (make tools, or ECHOME_VOICEPRINT_WEIGHTS)",
                        )
                    })?;
                encoder.insert(loaded).clone()
            }
        };
        let path = path.to_owned();
        let cfg = echome_audio::PrepareConfig::default();
        return tokio::task::spawn_blocking(move || {
            echome_audio::prepare::voiceprint_file(&path, &cfg, &encoder)
        })
        .await
        .map_err(|e| StepError::internal(format!("the analysis stopped: {e}")))?
        .map_err(StepError::from);
    }
    let voice = VoiceId::parse(what)
        .map_err(|_| StepError::invalid_input(format!("{what:?} is neither an audio file nor a voice id")))?;
    let clones = local.records.clones().await?;
    let clone = clones.iter().find(|c| c.voice_id == voice).ok_or_else(|| {
        StepError::invalid_input(format!("{voice} is not a voice echome made here (echome voices list)"))
    })?;
    // The run that made the voice recorded the report of the pack it was made from: its own,
    // or one an earlier run kept with the recording (under that run's prefix).
    let report = match local.records.run(&clone.run_id).await?.and_then(|r| r.report) {
        Some(report) => report,
        None => BlobRef::new(BUCKET, format!("{}report.json", clone.run_id.prefix())),
    };
    let bytes = local.blobs.get_bytes(&report).await?;
    let raw = PackSpeaker::from_report(&bytes)?.voiceprint.map(|v| v.embedding);
    raw.and_then(Embedding::from_raw).ok_or_else(|| {
        StepError::invalid_input(format!(
            "{voice} was cloned from a pack made without the speaker encoder: it has no voiceprint"
        ))
    })
}
