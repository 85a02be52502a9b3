//! CloneVoice: the sample pack becomes the caller's voice. A fresh clone of the same pack is
//! reused (and each use extends its life); otherwise the pack is uploaded (with
//! background-noise removal only when the report says the pack is noisy). The caller's older
//! voice is replaced only once the new one is made and recorded, so a failed clone leaves them
//! with the voice they had. At the account's voice limit a slot is freed first (see
//! `free_a_slot`: voices no call uses, then other callers' least recently used, the caller's
//! own still-fresh voice last); never a voice echome did not make. The cache and the clone log
//! record what happened. A pack this run made is kept with the recording it came from, so the
//! caller's next clone (after their voice gave up its slot) starts here; a kept pack whose
//! files have expired is `PackGone`, and the run analyses the recording again. A new pack whose
//! speaker is not the caller's reference voice fails `SpeakerMismatch` before anything is
//! uploaded; a pack that becomes the caller's voice becomes their reference voice.
//!
//! Every voice made is a model in the voice library (`vm-{run_id}`, owned by the system, of
//! the caller), made the caller's active model by the library's rules; a voice retired here is
//! its model's deletion. When the caller's active model was chosen by hand, a new recording
//! does not replace it: the run keeps that voice and clones nothing. A sample from a call
//! (`samples/{caller}/calls/`) replaces the caller's active voice only when its pack is clearly
//! better than the one that voice was made from (`echome_core::reclone`); otherwise the run
//! keeps the voice (`kept_active`, with how the packs compared) and clones nothing.
//!
//! Under `CONSENT_POLICY=required` (the default) a caller without consent to be cloned on
//! record stops the run with `ConsentMissing` before anything is read or sent to the provider.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use echome_core::library::{
    ModelId, ModelSource, ModelStatus, Person, SYSTEM_OWNER, VoiceLibrary, VoiceModel, ops,
};
use echome_core::people::{ConsentScope, consent_verdict, voice_name};
use echome_core::reclone::{self, PackMerit};
use echome_core::recordings::is_call_recording;
use echome_core::{
    BlobStore, CloneCache, CloneInput, CloneLogRecord, CloneOutput, CloneRecord, CloneStatus, ConsentPolicy,
    ErrorType, MatchThreshold, PackSpeaker, People, ReferenceVoice, ReferenceVoices, SampleLog, SpeakerCheck,
    StepError, StorageError, VoiceEngine, VoiceId, env,
};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Config {
    pub work_dir: PathBuf,
    /// How long a clone is reused, and how far each use extends it (`CACHE_TTL`, default 24 h).
    pub ttl: Duration,
    /// How close a new pack's speaker must be to the caller's reference voice to replace it
    /// (`SPEAKER_MATCH_THRESHOLD`).
    pub speaker_threshold: MatchThreshold,
    /// A new model scoring above this replaces an active one the rules chose (`ACTIVATE_ABOVE`).
    pub replace_above: f64,
    /// Whether a clone needs the person's consent (`CONSENT_POLICY`).
    pub consent: ConsentPolicy,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        // `CACHE_TTL` with its unit (`24h`, `7d`; a bare number is refused).
        Ok(Self {
            work_dir: env::work_dir(),
            ttl: env::cache_ttl()?,
            speaker_threshold: env::speaker_threshold()?,
            replace_above: echome_core::library::LibrarySettings::from_env()?.replace_above,
            consent: ConsentPolicy::from_env()?,
        })
    }
}

pub async fn handle<B, C, S, E>(
    blobs: &B,
    cache: &C,
    records: &S,
    engine: &E,
    cfg: &Config,
    input: CloneInput,
) -> Result<CloneOutput, StepError>
where
    B: BlobStore,
    C: CloneCache,
    S: SampleLog + ReferenceVoices + VoiceLibrary + CloneCache + People,
    E: VoiceEngine,
{
    handle_at(blobs, cache, records, engine, cfg, input, Utc::now()).await
}

pub async fn handle_at<B, C, S, E>(
    blobs: &B,
    cache: &C,
    records: &S,
    engine: &E,
    cfg: &Config,
    input: CloneInput,
    now: DateTime<Utc>,
) -> Result<CloneOutput, StepError>
where
    B: BlobStore,
    C: CloneCache,
    S: SampleLog + ReferenceVoices + VoiceLibrary + CloneCache + People,
    E: VoiceEngine,
{
    let started = Instant::now();
    let person = input.person.clone();
    consent_verdict(records, cfg.consent, &person, ConsentScope::Clone).await??;
    // The report names the pack's files and their content: its digest identifies the pack.
    let report = blobs.get_bytes(&input.pack.report).await.map_err(|e| gone(e, &input))?;
    let digest = echome_core::signing::hex(&Sha256::digest(&report)[..16]);
    let speaker = PackSpeaker::from_report(&report)?;
    let reference = records.reference_voice(&input.person).await?;
    if !made_earlier(&input) {
        keep_pack(records, &input).await;
    }
    let mut previous = cache.clone_of(&input.person).await?;
    // The entry can change between the read and the use (evicted for a slot, replaced by
    // another run): the use only counts on the entry as read, else the entry is read again.
    for _ in 0..2 {
        let Some(prev) = previous.as_ref().filter(|p| reusable(p, &digest, engine.name(), now)) else {
            break;
        };
        if cache.touch_clone(&input.person, &prev.voice_id, now, cfg.ttl).await? {
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
            remember_speaker(records, reference.as_ref(), &input, &speaker, now).await?;
            // A voice made before the library, or whose first attempt failed after the clone.
            ops::register(records, &model_of(prev, None), cfg.replace_above, now).await?;
            return Ok(out);
        }
        previous = cache.clone_of(&input.person).await?;
    }

    // A voice chosen by hand stays the caller's until someone changes it.
    if let Some(kept) = kept_by_hand(records, &input, engine.name(), now).await? {
        tracing::info!(run_id = %input.run_id, person = %input.person, voice_id = %kept, "the caller's voice was chosen by hand: kept, nothing cloned");
        let logged =
            CloneLogRecord { status: "kept_by_hand".into(), ..attempt(&input, engine.name(), started, now) };
        return keep(cache, kept, logged).await;
    }

    // A new voice: whose is it? Another person's speech never replaces the caller's voice.
    let check = judge_speaker(reference.as_ref(), &input, &speaker, cfg);
    if let Some(check) = check.as_ref().filter(|c| !c.matched) {
        let err = check.mismatch();
        tracing::warn!(run_id = %input.run_id, person = %input.person, similarity = check.similarity,
            pack_similarity = ?check.pack_similarity, threshold = check.threshold, "speaker mismatch: the voice is not replaced");
        let logged = CloneLogRecord {
            status: "speaker_mismatch".into(),
            error: Some(err.clone()),
            speaker_check: Some(check.clone()),
            ..attempt(&input, engine.name(), started, now)
        };
        cache.log_clone(&logged).await?;
        return Err(err);
    }

    // A call's sample: the caller's active voice stays unless the new pack is clearly better.
    if let Some((kept, why)) = kept_active(blobs, records, &input, &report, engine.name(), now).await? {
        tracing::info!(run_id = %input.run_id, person = %input.person, voice_id = %kept, why, "the call's sample is not clearly better: the active voice is kept");
        let logged = CloneLogRecord {
            status: "kept_active".into(),
            speaker_check: check.clone(),
            note: Some(why),
            ..attempt(&input, engine.name(), started, now)
        };
        return keep(cache, kept, logged).await;
    }

    // The caller's older voice (another pack, or expired): replaced once the new one exists.
    let older = previous.filter(|p| p.status == CloneStatus::Active && p.engine == engine.name());
    let result = create(blobs, cache, records, engine, cfg, &input, older.as_ref(), now).await;
    match result {
        Ok((out, bytes)) => {
            // Consent revoked while the voice was being made: it goes again before anyone uses it.
            if let Err(e) = consent_verdict(records, cfg.consent, &person, ConsentScope::Clone).await? {
                tracing::warn!(run_id = %input.run_id, person = %input.person, "consent was revoked during the clone: the new voice is deleted");
                delete_at_engine(engine, &out.voice_id).await?;
                return Err(e.into());
            }
            let rec = CloneRecord {
                person: input.person.clone(),
                voice_id: out.voice_id.clone(),
                engine: engine.name().to_owned(),
                pack_digest: digest,
                run_id: input.run_id.clone(),
                created_at: now,
                last_used_at: now,
                reuse_count: 0,
                status: CloneStatus::Active,
                expires_at: ops::entry_expiry(&input.person, false, now, cfg.ttl),
            };
            cache.put_clone(&rec).await?;
            let logged = CloneLogRecord {
                voice_id: Some(out.voice_id.clone()),
                status: "created".into(),
                bytes_uploaded: bytes,
                speaker_check: check.clone(),
                ..attempt(&input, engine.name(), started, now)
            };
            cache.log_clone(&logged).await?;
            remember_speaker(records, reference.as_ref(), &input, &speaker, now).await?;
            tracing::info!(run_id = %input.run_id, person = %input.person, voice_id = %out.voice_id, bytes, "voice cloned");
            if let Some(old) =
                older.filter(|o| o.voice_id != out.voice_id && out.evicted.as_ref() != Some(&o.voice_id))
            {
                replaced(engine, &old).await;
                ops::voice_gone(records, &ModelId::for_run(&old.run_id), &old.voice_id, "replaced", now)
                    .await?;
            }
            let model = VoiceModel {
                source: ModelSource {
                    run_id: Some(input.run_id.clone()),
                    sample: input.sample.clone(),
                    report: Some(input.pack.report.clone()),
                    pack_digest: Some(rec.pack_digest.clone()),
                    pack: input.pack.samples.clone(),
                    pack_bytes: bytes,
                },
                voiceprint: speaker.voiceprint.clone(),
                ..model_of(&rec, None)
            };
            ops::register(records, &model, cfg.replace_above, now).await?;
            Ok(out)
        }
        Err(e) => {
            let logged = CloneLogRecord {
                status: "failed".into(),
                error: Some(e.clone()),
                speaker_check: check,
                ..attempt(&input, engine.name(), started, now)
            };
            cache.log_clone(&logged).await?;
            Err(e)
        }
    }
}

/// The run keeps the caller's voice and clones nothing; the clone log says why (`logged`).
async fn keep<C: CloneCache>(
    cache: &C,
    kept: VoiceId,
    logged: CloneLogRecord,
) -> Result<CloneOutput, StepError> {
    let engine = logged.engine.clone();
    cache.log_clone(&CloneLogRecord { voice_id: Some(kept.clone()), ..logged }).await?;
    Ok(CloneOutput { voice_id: kept, engine, cached: true, evicted: None })
}

/// The pack was cut by an earlier run (it was kept with the recording), not by this one: its
/// files live under that run's prefix.
fn made_earlier(input: &CloneInput) -> bool {
    !input.pack.report.key.starts_with(&input.run_id.prefix())
}

/// A kept pack's file is missing: it expired with the earlier run's derived audio. A file of
/// this run's own pack missing is a broken run, left as it is.
fn gone(e: StorageError, input: &CloneInput) -> StepError {
    if !matches!(e, StorageError::NotFound(_)) || !made_earlier(input) {
        return e.into();
    }
    StepError::new(
        ErrorType::PackGone,
        "pack_gone",
        "the sample pack an earlier run kept with the recording has expired; it is analysed again",
    )
}

/// The new pack's speaker against the caller's reference voice; `None` when there is nothing
/// to compare (the caller's first voice, or a pack or reference without a voiceprint).
fn judge_speaker(
    reference: Option<&ReferenceVoice>,
    input: &CloneInput,
    speaker: &PackSpeaker,
    cfg: &Config,
) -> Option<SpeakerCheck> {
    let reference = reference.filter(|r| r.report != input.pack.report)?;
    let check = SpeakerCheck::judge(reference, speaker, &input.pack.report, cfg.speaker_threshold);
    if check.is_none() {
        tracing::warn!(run_id = %input.run_id, "the pack or the caller's reference voice has no voiceprint of the same model: the speaker is not checked");
    }
    check
}

/// The pack the caller's voice is now made from becomes their reference voice (unless it
/// already is, `current`: an operator's acceptance stays on record).
async fn remember_speaker<S: ReferenceVoices>(
    refs: &S,
    current: Option<&ReferenceVoice>,
    input: &CloneInput,
    speaker: &PackSpeaker,
    now: DateTime<Utc>,
) -> Result<(), StepError> {
    let Some(voiceprint) = speaker.voiceprint.clone() else { return Ok(()) };
    if current.is_some_and(|r| r.report == input.pack.report) {
        return Ok(());
    }
    let rec = ReferenceVoice {
        person: input.person.clone(),
        voiceprint,
        report: input.pack.report.clone(),
        run_id: input.run_id.clone(),
        recorded_at: now,
        accepted_by: None,
    };
    Ok(refs.put_reference_voice(&rec).await?)
}

/// Keeps this run's pack with the recording for the caller's next clone. Best effort: without
/// it the next clone analyses the recording again, which is slower, not wrong.
async fn keep_pack<S: SampleLog>(samples: &S, input: &CloneInput) {
    let Some(sample) = &input.sample else { return };
    match samples.record_pack(&input.person, sample, &input.pack).await {
        Ok(true) => tracing::debug!(run_id = %input.run_id, "pack kept with the recording"),
        Ok(false) => {
            tracing::info!(run_id = %input.run_id, "a newer recording is on file: the pack is not kept")
        }
        Err(e) => tracing::warn!(run_id = %input.run_id, error = %e, "the pack could not be kept"),
    }
}

/// The library's record of the voice in a clone entry: the system's; a caller's expires with
/// the entry (the reconciler retires both) unless someone chooses it by hand, a named
/// person's is kept until deleted.
fn model_of(entry: &CloneRecord, name: Option<String>) -> VoiceModel {
    let person = entry.person.clone();
    let expires_at = match person.caller() {
        Some(_) => DateTime::from_timestamp(entry.expires_at, 0),
        None => None,
    };
    VoiceModel {
        name,
        provider_voice_id: Some(entry.voice_id.clone()),
        source: ModelSource {
            run_id: Some(entry.run_id.clone()),
            pack_digest: Some(entry.pack_digest.clone()),
            ..Default::default()
        },
        status: ModelStatus::Ready,
        last_used_at: Some(entry.last_used_at),
        expires_at,
        ..VoiceModel::new(
            ModelId::for_run(&entry.run_id),
            person,
            SYSTEM_OWNER,
            &entry.engine,
            entry.created_at,
        )
    }
}

/// The caller's active voice when someone chose it by hand and it can still speak with this
/// engine.
async fn kept_by_hand<L: VoiceLibrary>(
    lib: &L,
    input: &CloneInput,
    engine: &str,
    now: DateTime<Utc>,
) -> Result<Option<VoiceId>, StepError> {
    let person = input.person.clone();
    let Some(active) = lib.active_voice(&person).await?.filter(|a| a.by_hand && a.provider == engine) else {
        return Ok(None);
    };
    let usable = lib.model(&active.model_id).await?.is_some_and(|m| m.is_usable(now));
    Ok(usable.then_some(active.voice_id))
}

/// The caller's active voice, and why it stays, when this run's recording came from a call and
/// its pack is not clearly better than the active voice's. A voice whose pack report can no
/// longer be read (its run's files expired) cannot be compared: the call's pack clones.
async fn kept_active<B: BlobStore, L: VoiceLibrary>(
    blobs: &B,
    lib: &L,
    input: &CloneInput,
    pack_report: &[u8],
    engine: &str,
    now: DateTime<Utc>,
) -> Result<Option<(VoiceId, String)>, StepError> {
    if !input.sample.as_ref().is_some_and(|s| is_call_recording(&s.key)) {
        return Ok(None);
    }
    let person = input.person.clone();
    let Some(active) = lib.active_voice(&person).await?.filter(|a| a.provider == engine) else {
        return Ok(None);
    };
    let Some(report) =
        lib.model(&active.model_id).await?.filter(|m| m.is_usable(now)).and_then(|m| m.source.report)
    else {
        return Ok(None);
    };
    if report == input.pack.report {
        return Ok(None);
    }
    let theirs = match blobs.get_bytes(&report).await {
        Ok(bytes) => PackMerit::from_report(&bytes)?,
        Err(StorageError::NotFound(_)) => {
            tracing::info!(run_id = %input.run_id, model = %active.model_id, "the active voice's pack report has expired: the call's pack is cloned");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let ours = PackMerit::from_report(pack_report)?;
    match reclone::replaces(&ours, &theirs) {
        Ok(why) => {
            tracing::info!(run_id = %input.run_id, why, "the call's pack replaces the active voice");
            Ok(None)
        }
        Err(why) => Ok(Some((active.voice_id, why))),
    }
}

/// A clone the next call may keep using: fresh, of this pack, by this engine.
fn reusable(prev: &CloneRecord, digest: &str, engine: &str, now: DateTime<Utc>) -> bool {
    prev.is_fresh(now) && prev.pack_digest == digest && prev.engine == engine
}

/// The caller's entry now names the new voice; the older one leaves its slot. A failure here
/// leaves a voice no entry points to, which reconciliation deletes: the new clone stands.
async fn replaced<E: VoiceEngine>(engine: &E, old: &CloneRecord) {
    match delete_at_engine(engine, &old.voice_id).await {
        Ok(()) => {
            tracing::info!(person = %old.person, voice_id = %old.voice_id, "older voice replaced and deleted")
        }
        Err(e) => tracing::warn!(
            person = %old.person,
            voice_id = %old.voice_id,
            code = %e.code,
            message = %echome_core::redact::phone_numbers(&e.message),
            "the replaced voice could not be deleted; reconciliation will"
        ),
    }
}

#[allow(clippy::too_many_arguments)]
async fn create<B, C, S, E>(
    blobs: &B,
    cache: &C,
    lib: &S,
    engine: &E,
    cfg: &Config,
    input: &CloneInput,
    older: Option<&CloneRecord>,
    now: DateTime<Utc>,
) -> Result<(CloneOutput, u64), StepError>
where
    B: BlobStore,
    C: CloneCache,
    S: VoiceLibrary + CloneCache + People,
    E: VoiceEngine,
{
    let work = tempfile::Builder::new().prefix("clone-").tempdir_in(&cfg.work_dir).map_err(|e| {
        StepError::internal(format!("creating a work folder in {}: {e}", cfg.work_dir.display()))
    })?;
    let mut files = Vec::with_capacity(input.pack.samples.len());
    for (i, blob) in input.pack.samples.iter().enumerate() {
        let path = work.path().join(format!("sample_{}.wav", i + 1));
        blobs.download_to(blob, &path).await.map_err(|e| gone(e, input))?;
        files.push(path);
    }
    // Read before a slot is freed: a failed read then costs nobody their voice.
    let named = match &input.person {
        Person::Named(_) => lib.person(&input.person).await?,
        Person::Caller(_) => None,
    };
    let name = voice_name(&input.person, named.as_ref());
    let evicted = free_a_slot(cache, lib, engine, older, now).await?;
    let (voice_id, bytes) = engine.clone_voice(&name, &files, input.pack.noisy).await?;
    Ok((CloneOutput { voice_id, engine: engine.name().to_owned(), cached: false, evicted }, bytes))
}

/// Deletes a cached voice at the engine, marks its entry, and deletes its model in the library
/// (`reason`: why the voice went).
pub async fn retire<C: CloneCache, L: VoiceLibrary + CloneCache, E: VoiceEngine>(
    cache: &C,
    lib: &L,
    engine: &E,
    rec: &CloneRecord,
    reason: &str,
) -> Result<(), StepError> {
    delete_at_engine(engine, &rec.voice_id).await?;
    mark_evicted(cache, rec).await?;
    ops::voice_gone(lib, &ModelId::for_run(&rec.run_id), &rec.voice_id, reason, Utc::now()).await?;
    tracing::info!(person = %rec.person, voice_id = %rec.voice_id, "voice deleted");
    Ok(())
}

pub use echome_core::library::ops::delete_at_engine;

/// Keeps a cache entry for the record, marked as no longer usable; an entry that holds another
/// voice by now (a run made one since) is left as it is.
pub async fn mark_evicted<C: CloneCache>(cache: &C, rec: &CloneRecord) -> Result<(), StepError> {
    if !cache.evict_clone(&rec.person, &rec.voice_id).await? {
        tracing::info!(person = %rec.person, voice_id = %rec.voice_id, "the entry holds another voice now: left as it is");
    }
    Ok(())
}

/// At the voice limit, deletes one voice echome made and the cache knows, in this order:
/// 1. the caller's own older voice when it has expired: no call uses it and it goes anyway;
/// 2. another voice no call can use any more (its entry expired), least recently used first;
/// 3. another caller's voice, least recently used first;
/// 4. a named person's voice (kept until deleted: nobody's call renews it), least recently
///    used first;
/// 5. the caller's own older voice while still fresh, last: until the new clone exists it is
///    what their calls get, and if the clone then fails their entry says it was evicted.
///
/// A full account of other people's voices is an error, never a deletion.
async fn free_a_slot<C: CloneCache, L: VoiceLibrary + CloneCache, E: VoiceEngine>(
    cache: &C,
    lib: &L,
    engine: &E,
    older: Option<&CloneRecord>,
    now: DateTime<Utc>,
) -> Result<Option<VoiceId>, StepError> {
    let Some((used, limit)) = engine.slots().await? else { return Ok(None) };
    if used < limit {
        return Ok(None);
    }
    let ours: Vec<VoiceId> =
        engine.voices().await?.into_iter().filter(|v| v.ours).map(|v| v.voice_id).collect();
    let own = |c: &CloneRecord| older.is_some_and(|o| o.person == c.person && o.voice_id == c.voice_id);
    let victim = cache
        .clones()
        .await?
        .into_iter()
        .filter(|c| {
            c.status == CloneStatus::Active && c.engine == engine.name() && ours.contains(&c.voice_id)
        })
        .min_by_key(|c| {
            let tier = match (c.is_fresh(now), own(c), c.person.caller().is_some()) {
                (false, true, _) => 0,
                (false, false, _) => 1,
                (true, false, true) => 2,
                (true, false, false) => 3,
                (true, true, _) => 4,
            };
            (tier, c.last_used_at)
        });
    let Some(victim) = victim else {
        return Err(StepError::new(
            ErrorType::ProviderRejected,
            "voice_limit_reached",
            format!("all {limit} voice slots are taken and none holds a voice echome made"),
        ));
    };
    if own(&victim) && victim.is_fresh(now) {
        tracing::warn!(person = %victim.person, voice_id = %victim.voice_id, "the account is full: the caller's older voice gives up its slot before the new clone is made");
    }
    retire(cache, lib, engine, &victim, "voice_slot").await?;
    Ok(Some(victim.voice_id))
}

/// The clone log's record of this attempt, before its outcome is filled in.
fn attempt(input: &CloneInput, engine: &str, started: Instant, at: DateTime<Utc>) -> CloneLogRecord {
    CloneLogRecord {
        run_id: input.run_id.clone(),
        person: input.person.clone(),
        engine: engine.to_owned(),
        voice_id: None,
        status: String::new(),
        latency_ms: started.elapsed().as_millis() as u64,
        bytes_uploaded: 0,
        error: None,
        at,
        speaker_check: None,
        note: None,
    }
}
