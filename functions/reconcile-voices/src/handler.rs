//! ReconcileVoices (daily on a schedule in AWS; `echome voices reconcile` locally): brings the
//! provider's voices, the clone cache and the voice library into line, so voice slots never
//! leak. A voice echome made (labelled so) is kept while a fresh cache entry or a usable
//! library model (ready, not past its expiry) holds it; any other is deleted: its entry
//! expired, its record is gone, or a timed-out retry made it twice. Its model, if any, is
//! deleted with it. An entry or a ready model whose voice the provider no longer has is marked
//! evicted or deleted. Voices echome did not make are never touched. With `dry_run`, nothing
//! is changed and the answer says what would be.

use chrono::{DateTime, Utc};
use echome_core::library::{CleanedUp, CleanupRules, ModelStatus, VoiceLibrary, VoiceModel, ops};
use echome_core::{BlobStore, CloneCache, CloneRecord, CloneStatus, StepError, VoiceEngine, VoiceId};
use serde::{Deserialize, Serialize};

/// The schedule's input (`{"dry_run": false, "cleanup": true}`); an empty object is a real
/// run without cleanup.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ReconcileInput {
    #[serde(default)]
    pub dry_run: bool,
    /// First remove the models the library's cleanup rules select (as `POST
    /// /voice-models/cleanup` does), so their voices leave too.
    #[serde(default)]
    pub cleanup: bool,
}

/// What reconciliation changed (or, in a dry run, would change).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reconciled {
    pub dry_run: bool,
    /// echome's voices deleted at the provider: no fresh cache entry points to them.
    pub deleted: Vec<VoiceId>,
    /// Cache entries and models whose voice the provider no longer has, marked evicted or
    /// deleted.
    pub forgotten: Vec<VoiceId>,
    /// echome's voices left in place (a fresh entry or a usable model holds each).
    pub kept: usize,
    /// Voices at the provider that echome did not make, left alone.
    pub others: usize,
    /// Models the cleanup rules removed first (with `cleanup`).
    pub cleaned: Vec<CleanedUp>,
}

/// How old a record must be before a voice missing at the provider counts as vanished.
pub const SETTLE_MINUTES: i64 = 5;

pub async fn handle<C: CloneCache + VoiceLibrary, E: VoiceEngine, B: BlobStore>(
    cache: &C,
    engine: &E,
    blobs: &B,
    input: ReconcileInput,
    rules: &CleanupRules,
    now: DateTime<Utc>,
) -> Result<Reconciled, StepError> {
    let cleaned = if input.cleanup {
        ops::cleanup(cache, engine, blobs, &ops::Actor::System, rules, input.dry_run, now).await?
    } else {
        Vec::new()
    };
    let at_engine = engine.voices().await?;
    let entries: Vec<CloneRecord> = cache
        .clones()
        .await?
        .into_iter()
        .filter(|c| c.engine == engine.name() && c.status == CloneStatus::Active)
        .collect();
    let models = live_models(cache, engine.name()).await?;
    let mut out = Reconciled { dry_run: input.dry_run, cleaned, ..Default::default() };
    out.others = at_engine.iter().filter(|v| !v.ours).count();
    for voice in at_engine.iter().filter(|v| v.ours) {
        let entry = entries.iter().find(|c| c.voice_id == voice.voice_id);
        let model = models.iter().find(|m| m.provider_voice_id.as_ref() == Some(&voice.voice_id));
        if entry.is_some_and(|e| e.is_fresh(now)) || model.is_some_and(|m| m.is_usable(now)) {
            out.kept += 1;
            continue;
        }
        if !input.dry_run {
            match entry {
                Some(entry) => clone_voice::retire(cache, cache, engine, entry, "expired").await?,
                None => clone_voice::delete_at_engine(engine, &voice.voice_id).await?,
            }
            if let Some(m) = model {
                ops::voice_gone(cache, &m.id, &voice.voice_id, "expired", now).await?;
            }
        }
        out.deleted.push(voice.voice_id.clone());
    }
    // The offline engine keeps nothing, so there is nothing to find missing there.
    if engine.slots().await?.is_some() {
        let held = |v: &VoiceId| at_engine.iter().any(|e| &e.voice_id == v);
        // A voice made while the provider was being listed is on record but not in the list:
        // records this recent wait for the next run.
        let settled = now - chrono::Duration::minutes(SETTLE_MINUTES);
        for entry in entries.iter().filter(|c| !held(&c.voice_id) && c.created_at < settled) {
            if !input.dry_run {
                clone_voice::mark_evicted(cache, entry).await?;
            }
            out.forgotten.push(entry.voice_id.clone());
        }
        for m in models.iter().filter(|m| m.updated_at < settled) {
            let Some(voice) = m.provider_voice_id.as_ref().filter(|v| !held(v)) else { continue };
            if !input.dry_run {
                ops::voice_gone(cache, &m.id, voice, "vanished", now).await?;
            }
            if !out.forgotten.contains(voice) {
                out.forgotten.push(voice.clone());
            }
        }
    }
    tracing::info!(
        dry_run = out.dry_run,
        deleted = out.deleted.len(),
        forgotten = out.forgotten.len(),
        kept = out.kept,
        others = out.others,
        cleaned = out.cleaned.len(),
        "voices reconciled"
    );
    Ok(out)
}

/// The library's models at this engine that still hold a voice (not deleted).
async fn live_models<L: VoiceLibrary>(lib: &L, engine: &str) -> Result<Vec<VoiceModel>, StepError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = lib.models(100, after.as_deref()).await?;
        out.extend(page.models.into_iter().filter(|m| {
            m.provider == engine && m.status != ModelStatus::Deleted && m.provider_voice_id.is_some()
        }));
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}
