//! CloneVoice: the sample pack becomes the caller's voice. A fresh clone of the same pack is
//! reused; otherwise the pack is uploaded (with background-noise removal only when the report
//! says the pack is noisy), a voice slot is freed first if the account is full (the least
//! recently used voice echome made; never anyone else's), and the cache and the clone log
//! record what happened.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use echome_core::{
    BlobStore, CloneCache, CloneInput, CloneLogRecord, CloneOutput, CloneRecord, CloneStatus, ErrorType,
    StepError, VoiceEngine, VoiceId, env,
};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Config {
    pub work_dir: PathBuf,
    /// How long a clone is reused (`CACHE_TTL` in hours, default 24).
    pub ttl: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        Ok(Self { work_dir: env::work_dir(), ttl: ttl_from_env()? })
    }
}

/// `CACHE_TTL` in hours (default 24), for the Lambda and for local runs alike.
pub fn ttl_from_env() -> Result<Duration, String> {
    let hours: i64 = env::parsed("CACHE_TTL", "a number of hours")?
        .unwrap_or(echome_core::records::DEFAULT_CLONE_TTL_HOURS);
    Ok(Duration::hours(hours))
}

pub async fn handle<B, C, E>(
    blobs: &B,
    cache: &C,
    engine: &E,
    cfg: &Config,
    input: CloneInput,
) -> Result<CloneOutput, StepError>
where
    B: BlobStore,
    C: CloneCache,
    E: VoiceEngine,
{
    handle_at(blobs, cache, engine, cfg, input, Utc::now()).await
}

pub async fn handle_at<B, C, E>(
    blobs: &B,
    cache: &C,
    engine: &E,
    cfg: &Config,
    input: CloneInput,
    now: DateTime<Utc>,
) -> Result<CloneOutput, StepError>
where
    B: BlobStore,
    C: CloneCache,
    E: VoiceEngine,
{
    let started = Instant::now();
    // The report names the pack's files and their content: its digest identifies the pack.
    let report = blobs.get_bytes(&input.pack.report).await?;
    let digest = echome_core::signing::hex(&Sha256::digest(&report)[..16]);
    let previous = cache.clone_of(&input.caller_id).await?;
    if let Some(prev) = &previous
        && prev.is_fresh(now)
        && prev.pack_digest == digest
        && prev.engine == engine.name()
    {
        cache.touch_clone(&input.caller_id, now).await?;
        let out = CloneOutput {
            voice_id: prev.voice_id.clone(),
            engine: prev.engine.clone(),
            cached: true,
            evicted: None,
        };
        let rec = CloneLogRecord {
            voice_id: Some(out.voice_id.clone()),
            status: "reused".into(),
            ..attempt(&input, engine.name(), started, now)
        };
        cache.log_clone(&rec).await?;
        return Ok(out);
    }

    let result = create(blobs, cache, engine, cfg, &input, previous.as_ref()).await;
    match result {
        Ok((out, bytes)) => {
            let rec = CloneRecord {
                caller_id: input.caller_id.clone(),
                voice_id: out.voice_id.clone(),
                engine: engine.name().to_owned(),
                pack_digest: digest,
                run_id: input.run_id.clone(),
                created_at: now,
                last_used_at: now,
                reuse_count: 0,
                status: CloneStatus::Active,
                expires_at: (now + cfg.ttl).timestamp(),
            };
            cache.put_clone(&rec).await?;
            let logged = CloneLogRecord {
                voice_id: Some(out.voice_id.clone()),
                status: "created".into(),
                bytes_uploaded: bytes,
                ..attempt(&input, engine.name(), started, now)
            };
            cache.log_clone(&logged).await?;
            tracing::info!(run_id = %input.run_id, caller = %input.caller_id, voice_id = %out.voice_id, bytes, "voice cloned");
            Ok(out)
        }
        Err(e) => {
            let logged = CloneLogRecord {
                status: "failed".into(),
                error: Some(e.clone()),
                ..attempt(&input, engine.name(), started, now)
            };
            cache.log_clone(&logged).await?;
            Err(e)
        }
    }
}

async fn create<B, C, E>(
    blobs: &B,
    cache: &C,
    engine: &E,
    cfg: &Config,
    input: &CloneInput,
    previous: Option<&CloneRecord>,
) -> Result<(CloneOutput, u64), StepError>
where
    B: BlobStore,
    C: CloneCache,
    E: VoiceEngine,
{
    let work = tempfile::Builder::new().prefix("clone-").tempdir_in(&cfg.work_dir).map_err(|e| {
        StepError::internal(format!("creating a work folder in {}: {e}", cfg.work_dir.display()))
    })?;
    let mut files = Vec::with_capacity(input.pack.samples.len());
    for (i, blob) in input.pack.samples.iter().enumerate() {
        let path = work.path().join(format!("sample_{}.wav", i + 1));
        blobs.download_to(blob, &path).await?;
        files.push(path);
    }
    // The caller's older voice (another pack, or expired) is replaced, not kept in a slot.
    if let Some(prev) = previous.filter(|p| p.status == CloneStatus::Active && p.engine == engine.name()) {
        retire(cache, engine, prev).await?;
    }
    let evicted = free_a_slot(cache, engine).await?;
    let name = format!("echome {}", input.caller_id.redacted());
    let (voice_id, bytes) = engine.clone_voice(&name, &files, input.pack.noisy).await?;
    Ok((CloneOutput { voice_id, engine: engine.name().to_owned(), cached: false, evicted }, bytes))
}

/// Deletes a cached voice at the engine and marks its entry.
async fn retire<C: CloneCache, E: VoiceEngine>(
    cache: &C,
    engine: &E,
    rec: &CloneRecord,
) -> Result<(), StepError> {
    delete_at_engine(engine, &rec.voice_id).await?;
    mark_evicted(cache, rec).await?;
    tracing::info!(caller = %rec.caller_id, voice_id = %rec.voice_id, "voice deleted");
    Ok(())
}

/// Deletes a voice at the engine; one that is already gone counts as deleted.
async fn delete_at_engine<E: VoiceEngine>(engine: &E, voice: &VoiceId) -> Result<(), StepError> {
    match engine.delete_voice(voice).await {
        Err(e) if e.code != "voice_not_found" => Err(e),
        _ => Ok(()),
    }
}

/// Keeps a cache entry for the record, marked as no longer usable.
pub async fn mark_evicted<C: CloneCache>(cache: &C, rec: &CloneRecord) -> Result<(), StepError> {
    let mut gone = rec.clone();
    gone.status = CloneStatus::Evicted;
    Ok(cache.put_clone(&gone).await?)
}

/// At the voice limit, deletes the least recently used voice that echome made and the cache
/// knows; a full account of other people's voices is an error, never a deletion.
async fn free_a_slot<C: CloneCache, E: VoiceEngine>(
    cache: &C,
    engine: &E,
) -> Result<Option<VoiceId>, StepError> {
    let Some((used, limit)) = engine.slots().await? else { return Ok(None) };
    if used < limit {
        return Ok(None);
    }
    let ours: Vec<VoiceId> =
        engine.voices().await?.into_iter().filter(|v| v.ours).map(|v| v.voice_id).collect();
    let mut candidates: Vec<CloneRecord> = cache
        .clones()
        .await?
        .into_iter()
        .filter(|c| {
            c.status == CloneStatus::Active && c.engine == engine.name() && ours.contains(&c.voice_id)
        })
        .collect();
    candidates.sort_by_key(|c| c.last_used_at);
    let Some(victim) = candidates.into_iter().next() else {
        return Err(StepError::new(
            ErrorType::ProviderRejected,
            "voice_limit_reached",
            format!("all {limit} voice slots are taken and none holds a voice echome made"),
        ));
    };
    retire(cache, engine, &victim).await?;
    Ok(Some(victim.voice_id))
}

/// The clone log's record of this attempt, before its outcome is filled in.
fn attempt(input: &CloneInput, engine: &str, started: Instant, at: DateTime<Utc>) -> CloneLogRecord {
    CloneLogRecord {
        run_id: input.run_id.clone(),
        caller_id: input.caller_id.clone(),
        engine: engine.to_owned(),
        voice_id: None,
        status: String::new(),
        latency_ms: started.elapsed().as_millis() as u64,
        bytes_uploaded: 0,
        error: None,
        at,
    }
}

/// What reconciliation changed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Reconciled {
    /// echome's voices deleted at the engine: no longer cached, or their cache entry expired.
    pub deleted: Vec<VoiceId>,
    /// Cache entries whose voice the engine no longer has, marked evicted.
    pub forgotten: Vec<VoiceId>,
}

/// Brings the cache and the engine's voices into line (`echome voices reconcile`): a voice
/// echome made that no fresh cache entry points to is deleted; an entry whose voice is gone is
/// marked evicted. Voices echome did not make are never touched.
pub async fn reconcile<C: CloneCache, E: VoiceEngine>(
    cache: &C,
    engine: &E,
    now: DateTime<Utc>,
) -> Result<Reconciled, StepError> {
    let at_engine = engine.voices().await?;
    let entries: Vec<CloneRecord> = cache
        .clones()
        .await?
        .into_iter()
        .filter(|c| c.engine == engine.name() && c.status == CloneStatus::Active)
        .collect();
    let mut out = Reconciled::default();
    for voice in at_engine.iter().filter(|v| v.ours) {
        match entries.iter().find(|c| c.voice_id == voice.voice_id) {
            Some(entry) if entry.is_fresh(now) => {}
            Some(entry) => {
                retire(cache, engine, entry).await?;
                out.deleted.push(voice.voice_id.clone());
            }
            None => {
                delete_at_engine(engine, &voice.voice_id).await?;
                out.deleted.push(voice.voice_id.clone());
            }
        }
    }
    // The offline engine keeps nothing, so there is nothing to find missing there.
    if engine.slots().await?.is_some() {
        for entry in entries.iter().filter(|c| !at_engine.iter().any(|v| v.voice_id == c.voice_id)) {
            mark_evicted(cache, entry).await?;
            out.forgotten.push(entry.voice_id.clone());
        }
    }
    Ok(out)
}
