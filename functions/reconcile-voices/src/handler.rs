//! ReconcileVoices (daily on a schedule in AWS; `echome voices reconcile` locally): brings the
//! provider's voices and the clone cache into line, so voice slots never leak. A voice echome
//! made (labelled so) that no fresh cache entry points to is deleted: its entry expired, its
//! record is gone, or a timed-out retry made it twice. An entry whose voice the provider no
//! longer has is marked evicted. Voices echome did not make are never touched. With
//! `dry_run`, nothing is changed and the answer says what would be.

use chrono::{DateTime, Utc};
use echome_core::{CloneCache, CloneRecord, CloneStatus, StepError, VoiceEngine, VoiceId};
use serde::{Deserialize, Serialize};

/// The schedule's input (`{"dry_run": false}`); an empty object is a real run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ReconcileInput {
    #[serde(default)]
    pub dry_run: bool,
}

/// What reconciliation changed (or, in a dry run, would change).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reconciled {
    pub dry_run: bool,
    /// echome's voices deleted at the provider: no fresh cache entry points to them.
    pub deleted: Vec<VoiceId>,
    /// Cache entries whose voice the provider no longer has, marked evicted.
    pub forgotten: Vec<VoiceId>,
    /// echome's voices left in place (a fresh entry uses each).
    pub kept: usize,
    /// Voices at the provider that echome did not make, left alone.
    pub others: usize,
}

pub async fn handle<C: CloneCache, E: VoiceEngine>(
    cache: &C,
    engine: &E,
    input: ReconcileInput,
    now: DateTime<Utc>,
) -> Result<Reconciled, StepError> {
    let at_engine = engine.voices().await?;
    let entries: Vec<CloneRecord> = cache
        .clones()
        .await?
        .into_iter()
        .filter(|c| c.engine == engine.name() && c.status == CloneStatus::Active)
        .collect();
    let mut out = Reconciled { dry_run: input.dry_run, ..Default::default() };
    out.others = at_engine.iter().filter(|v| !v.ours).count();
    for voice in at_engine.iter().filter(|v| v.ours) {
        let entry = entries.iter().find(|c| c.voice_id == voice.voice_id);
        if entry.is_some_and(|e| e.is_fresh(now)) {
            out.kept += 1;
            continue;
        }
        if !input.dry_run {
            match entry {
                Some(entry) => clone_voice::retire(cache, engine, entry).await?,
                None => clone_voice::delete_at_engine(engine, &voice.voice_id).await?,
            }
        }
        out.deleted.push(voice.voice_id.clone());
    }
    // The offline engine keeps nothing, so there is nothing to find missing there.
    if engine.slots().await?.is_some() {
        for entry in entries.iter().filter(|c| !at_engine.iter().any(|v| v.voice_id == c.voice_id)) {
            if !input.dry_run {
                clone_voice::mark_evicted(cache, entry).await?;
            }
            out.forgotten.push(entry.voice_id.clone());
        }
    }
    tracing::info!(
        dry_run = out.dry_run,
        deleted = out.deleted.len(),
        forgotten = out.forgotten.len(),
        kept = out.kept,
        others = out.others,
        "voices reconciled"
    );
    Ok(out)
}
