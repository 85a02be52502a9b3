//! CloneVoice's rules (reuse, replacement, slot eviction, noise removal, the clone log) with
//! the local records and an in-memory engine; the ElevenLabs engine itself is tested against
//! the stub in crates/elevenlabs.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use clone_voice::{Config, handle_at};
use echome_core::{
    BlobStore, CallerId, CloneCache, CloneInput, CloneStatus, EngineVoice, ErrorType, RunId, SampleLog,
    SpeechFormat, StepError, VoiceEngine, VoiceId,
};
use echome_local::{FsBlobStore, LocalRecords};

#[derive(Default)]
struct Engine {
    voices: Mutex<Vec<EngineVoice>>,
    limit: u32,
    made: Mutex<Vec<(String, usize, bool)>>,
    deleted: Mutex<Vec<String>>,
    /// What happened at the engine, in order: `made voiceN`, `deleted voiceN`.
    ops: Mutex<Vec<String>>,
    /// Cloning fails (the provider refuses) while set.
    failing: std::sync::atomic::AtomicBool,
    /// Saved while the voice is being made: a revocation racing the clone.
    revoke_meanwhile: Mutex<Option<(LocalRecords, echome_core::people::ConsentRecord)>>,
}

impl Engine {
    fn with(limit: u32, voices: &[(&str, bool)]) -> Self {
        let voices = voices
            .iter()
            .map(|(id, ours)| EngineVoice { voice_id: VoiceId::parse(id).unwrap(), ours: *ours })
            .collect();
        Self { voices: Mutex::new(voices), limit, ..Default::default() }
    }
}

impl VoiceEngine for Engine {
    fn name(&self) -> &'static str {
        "elevenlabs"
    }
    async fn clone_voice(
        &self,
        name: &str,
        files: &[PathBuf],
        noise: bool,
    ) -> Result<(VoiceId, u64), StepError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StepError::new(ErrorType::ProviderRejected, "provider_rejected", "no clone today"));
        }
        let revoke = self.revoke_meanwhile.lock().unwrap().take();
        if let Some((records, revoked)) = revoke {
            use echome_core::people::People;
            records.save_consent(&revoked).await.unwrap();
        }
        let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
        let mut made = self.made.lock().unwrap();
        made.push((name.to_owned(), files.len(), noise));
        let id = VoiceId::parse(&format!("voice{}", made.len())).unwrap();
        self.voices.lock().unwrap().push(EngineVoice { voice_id: id.clone(), ours: true });
        self.ops.lock().unwrap().push(format!("made {id}"));
        Ok((id, bytes))
    }
    async fn delete_voice(&self, voice: &VoiceId) -> Result<(), StepError> {
        self.voices.lock().unwrap().retain(|v| &v.voice_id != voice);
        self.deleted.lock().unwrap().push(voice.to_string());
        self.ops.lock().unwrap().push(format!("deleted {voice}"));
        Ok(())
    }
    async fn voices(&self) -> Result<Vec<EngineVoice>, StepError> {
        Ok(self.voices.lock().unwrap().clone())
    }
    async fn slots(&self) -> Result<Option<(u32, u32)>, StepError> {
        Ok(Some((self.voices.lock().unwrap().len() as u32, self.limit)))
    }
    async fn synthesize(&self, _: &VoiceId, _: &str, _: SpeechFormat) -> Result<Vec<u8>, StepError> {
        Err(StepError::internal("not used here"))
    }
    async fn max_characters(&self) -> Result<usize, StepError> {
        Ok(10_000)
    }
    fn model(&self) -> &str {
        "test"
    }
}

struct World {
    _dir: tempfile::TempDir,
    blobs: FsBlobStore,
    records: LocalRecords,
    cfg: Config,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::new(dir.path().join("blobs"));
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let cfg = Config {
        work_dir: dir.path().to_path_buf(),
        ttl: Duration::hours(24),
        speaker_threshold: Default::default(),
        replace_above: echome_core::library::DEFAULT_REPLACE_ABOVE,
        // The consent gate's own test sets `Required`.
        consent: echome_core::ConsentPolicy::NotRequired,
    };
    World { _dir: dir, blobs, records, cfg }
}

impl World {
    /// CloneVoice as the Lambda runs it: the local records are its cache and its sample log.
    async fn clone_voice(
        &self,
        engine: &Engine,
        input: CloneInput,
        at: DateTime<Utc>,
    ) -> Result<echome_core::CloneOutput, StepError> {
        handle_at(&self.blobs, &self.records, &self.records, engine, &self.cfg, input, at).await
    }
}

fn event() -> CloneInput {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/clone-voice/pack.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Writes the pack the event names; `report` stands for the pack's content.
async fn stage(w: &World, input: &CloneInput, report: &str) {
    for s in &input.pack.samples {
        w.blobs.put_bytes(s, vec![1; 4000], "audio/wav").await.unwrap();
    }
    w.blobs.put_bytes(&input.pack.report, report.as_bytes().to_vec(), "application/json").await.unwrap();
}

/// The usual start: a world, an engine with free slots, and the event's pack staged.
async fn staged() -> (World, Engine, CloneInput) {
    let (w, input) = (world(), event());
    stage(&w, &input, r#"{"pack":1}"#).await;
    (w, Engine::with(10, &[]), input)
}

fn for_caller(input: &CloneInput, caller: &str, run: &str) -> CloneInput {
    CloneInput {
        person: echome_core::Person::from(CallerId::parse(caller).unwrap()),
        run_id: RunId::parse(run).unwrap(),
        ..input.clone()
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z").unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn the_same_pack_is_cloned_once_and_a_new_pack_replaces_the_voice() {
    let (w, engine, input) = staged().await;
    let first = w.clone_voice(&engine, input.clone(), t0()).await.unwrap();
    assert!(!first.cached);
    assert_eq!(
        engine.made.lock().unwrap()[0],
        ("echome +14******123".into(), 2, false),
        "both files; no noise removal"
    );

    let again = w.clone_voice(&engine, input.clone(), t0() + Duration::hours(1)).await.unwrap();
    assert!(again.cached && again.voice_id == first.voice_id);
    assert_eq!(engine.made.lock().unwrap().len(), 1, "nothing uploaded the second time");
    let entry = w.records.clone_of(&input.person).await.unwrap().unwrap();
    assert_eq!((entry.reuse_count, entry.last_used_at), (1, t0() + Duration::hours(1)));

    stage(&w, &input, r#"{"pack":2}"#).await;
    let newer = w.clone_voice(&engine, input.clone(), t0() + Duration::hours(2)).await.unwrap();
    assert!(!newer.cached && newer.voice_id != first.voice_id);
    assert_eq!(
        *engine.deleted.lock().unwrap(),
        [first.voice_id.to_string()],
        "the old voice leaves its slot"
    );

    let expired = w.clone_voice(&engine, input.clone(), t0() + Duration::hours(30)).await.unwrap();
    assert!(!expired.cached, "an expired clone is made again");

    let log = w.records.clone_log(&input.run_id).await.unwrap();
    let statuses: Vec<_> = log.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(statuses, ["created", "reused", "created", "created"]);
    assert_eq!(log[0].bytes_uploaded, 8000);
}

#[tokio::test]
async fn a_full_account_gives_up_the_least_recently_used_echome_voice_only() {
    let w = world();
    let engine = Engine::with(3, &[("foreign1", false)]);
    let base = event();
    let a = for_caller(&base, "+14155550001", "run-a");
    let b = for_caller(&base, "+14155550002", "run-b");
    let c = for_caller(&base, "+14155550003", "run-c");
    stage(&w, &base, r#"{"pack":"x"}"#).await;
    let va = w.clone_voice(&engine, a.clone(), t0()).await.unwrap();
    let vb = w.clone_voice(&engine, b.clone(), t0() + Duration::minutes(1)).await.unwrap();
    // a is used again, so b is now the least recently used.
    w.clone_voice(&engine, a.clone(), t0() + Duration::minutes(2)).await.unwrap();

    let vc = w.clone_voice(&engine, c.clone(), t0() + Duration::minutes(3)).await.unwrap();
    assert_eq!(vc.evicted, Some(vb.voice_id.clone()));
    assert_eq!(*engine.deleted.lock().unwrap(), [vb.voice_id.to_string()]);
    let ids: Vec<_> = engine.voices.lock().unwrap().iter().map(|v| v.voice_id.to_string()).collect();
    assert!(ids.contains(&"foreign1".to_owned()) && ids.contains(&va.voice_id.to_string()), "{ids:?}");
    assert_eq!(w.records.clone_of(&b.person).await.unwrap().unwrap().status, CloneStatus::Evicted);
}

#[tokio::test]
async fn an_account_full_of_other_voices_is_an_error_not_a_deletion() {
    let w = world();
    let engine = Engine::with(2, &[("foreign1", false), ("foreign2", false)]);
    let input = event();
    stage(&w, &input, "{}").await;
    let err = w.clone_voice(&engine, input.clone(), t0()).await.unwrap_err();
    assert_eq!((err.error_type, err.code.as_str()), (ErrorType::ProviderRejected, "voice_limit_reached"));
    assert!(engine.deleted.lock().unwrap().is_empty());
    let log = w.records.clone_log(&input.run_id).await.unwrap();
    assert_eq!(log[0].status, "failed");
    assert_eq!(log[0].error.as_ref().map(|e| e.code.as_str()), Some("voice_limit_reached"));
}

#[tokio::test]
async fn a_noisy_pack_asks_for_background_noise_removal() {
    let w = world();
    let engine = Engine::with(10, &[]);
    let mut input = event();
    input.pack.noisy = true;
    stage(&w, &input, "{}").await;
    w.clone_voice(&engine, input, t0()).await.unwrap();
    assert!(engine.made.lock().unwrap()[0].2);
}

#[tokio::test]
async fn a_new_voice_replaces_the_old_one_only_once_it_is_made_and_recorded() {
    let (w, engine, input) = staged().await;
    let first = w.clone_voice(&engine, input.clone(), t0()).await.unwrap();
    stage(&w, &input, r#"{"pack":2}"#).await;
    let second = w.clone_voice(&engine, input.clone(), t0() + Duration::hours(1)).await.unwrap();
    assert_eq!(
        *engine.ops.lock().unwrap(),
        [
            format!("made {}", first.voice_id),
            format!("made {}", second.voice_id),
            format!("deleted {}", first.voice_id)
        ],
        "the old voice goes after the new one exists"
    );
    let entry = w.records.clone_of(&input.person).await.unwrap().unwrap();
    assert_eq!((entry.voice_id, entry.status), (second.voice_id, CloneStatus::Active));
}

#[tokio::test]
async fn a_failed_clone_leaves_the_caller_with_the_voice_they_had() {
    let (w, engine, input) = staged().await;
    let first = w.clone_voice(&engine, input.clone(), t0()).await.unwrap();

    stage(&w, &input, r#"{"pack":2}"#).await;
    engine.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = w.clone_voice(&engine, input.clone(), t0() + Duration::hours(1)).await.unwrap_err();
    assert_eq!(err.code, "provider_rejected");
    assert!(engine.deleted.lock().unwrap().is_empty(), "the voice they had is still at the provider");
    let entry = w.records.clone_of(&input.person).await.unwrap().unwrap();
    assert_eq!((&entry.voice_id, entry.status), (&first.voice_id, CloneStatus::Active), "and still theirs");
    assert!(entry.is_fresh(t0() + Duration::hours(1)), "calls keep getting it");
}

#[tokio::test]
async fn a_full_account_frees_another_callers_slot_before_the_callers_own_fresh_voice() {
    let w = world();
    let engine = Engine::with(3, &[("foreign1", false)]);
    let base = event();
    let a = for_caller(&base, "+14155550001", "run-a");
    let b = for_caller(&base, "+14155550002", "run-b");
    stage(&w, &base, r#"{"pack":1}"#).await;
    let va = w.clone_voice(&engine, a.clone(), t0()).await.unwrap();
    let vb = w.clone_voice(&engine, b.clone(), t0() + Duration::minutes(1)).await.unwrap();
    // b uploads a newer recording while a's voice is the least recently used: a's slot goes,
    // b keeps their own voice until the new one exists, then it goes too.
    stage(&w, &base, r#"{"pack":2}"#).await;
    let nb = w.clone_voice(&engine, b.clone(), t0() + Duration::minutes(2)).await.unwrap();
    assert_eq!(nb.evicted, Some(va.voice_id.clone()));
    assert_eq!(*engine.deleted.lock().unwrap(), [va.voice_id.to_string(), vb.voice_id.to_string()]);
    assert_eq!(w.records.clone_of(&b.person).await.unwrap().unwrap().voice_id, nb.voice_id);
}

#[tokio::test]
async fn a_full_account_gives_up_the_callers_expired_voice_first_and_their_fresh_one_only_as_a_last_resort() {
    let w = world();
    let engine = Engine::with(2, &[("foreign1", false)]);
    let input = event();
    stage(&w, &input, r#"{"pack":1}"#).await;
    let first = w.clone_voice(&engine, input.clone(), t0()).await.unwrap();
    // Still fresh, and the only voice of echome's: nothing else can go.
    stage(&w, &input, r#"{"pack":2}"#).await;
    let second = w.clone_voice(&engine, input.clone(), t0() + Duration::hours(1)).await.unwrap();
    assert_eq!(second.evicted, Some(first.voice_id.clone()), "the last resort");
    // A day later it has expired: it is the first to go, and nothing else is touched.
    let third = w.clone_voice(&engine, input.clone(), t0() + Duration::hours(30)).await.unwrap();
    assert_eq!(third.evicted, Some(second.voice_id.clone()));
    assert_eq!(*engine.deleted.lock().unwrap(), [first.voice_id.to_string(), second.voice_id.to_string()]);
    let ids: Vec<_> = engine.voices.lock().unwrap().iter().map(|v| v.voice_id.to_string()).collect();
    assert_eq!(ids, ["foreign1".to_owned(), third.voice_id.to_string()]);
}

#[tokio::test]
async fn each_use_extends_the_clones_life_so_a_frequent_caller_is_not_cloned_daily() {
    let (w, engine, input) = staged().await;
    let first = w.clone_voice(&engine, input.clone(), t0()).await.unwrap();
    for hours in [20, 40, 60] {
        let again = w.clone_voice(&engine, input.clone(), t0() + Duration::hours(hours)).await.unwrap();
        assert!(again.cached && again.voice_id == first.voice_id, "after {hours} h: {again:?}");
    }
    assert_eq!(engine.made.lock().unwrap().len(), 1, "cloned once in 60 hours of use");
    let entry = w.records.clone_of(&input.person).await.unwrap().unwrap();
    assert_eq!(entry.expires_at, (t0() + Duration::hours(60 + 24)).timestamp());
}

/// A cache whose first read is stale: it shows the entry as it was before another run evicted
/// it (the race an unconditional use would lose).
struct StaleOnce {
    records: LocalRecords,
    stale: Mutex<Option<echome_core::CloneRecord>>,
}

impl CloneCache for StaleOnce {
    async fn clone_of(
        &self,
        caller: &echome_core::Person,
    ) -> Result<Option<echome_core::CloneRecord>, echome_core::StorageError> {
        let stale = self.stale.lock().unwrap().take();
        match stale {
            Some(rec) => Ok(Some(rec)),
            None => self.records.clone_of(&echome_core::Person::from(caller)).await,
        }
    }
    async fn put_clone(&self, rec: &echome_core::CloneRecord) -> Result<(), echome_core::StorageError> {
        self.records.put_clone(rec).await
    }
    async fn touch_clone(
        &self,
        caller: &echome_core::Person,
        voice: &VoiceId,
        at: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, echome_core::StorageError> {
        self.records.touch_clone(&echome_core::Person::from(caller), voice, at, ttl).await
    }
    async fn evict_clone(
        &self,
        caller: &echome_core::Person,
        voice: &VoiceId,
    ) -> Result<bool, echome_core::StorageError> {
        self.records.evict_clone(&echome_core::Person::from(caller), voice).await
    }
    async fn clones(&self) -> Result<Vec<echome_core::CloneRecord>, echome_core::StorageError> {
        self.records.clones().await
    }
    async fn log_clone(&self, rec: &echome_core::CloneLogRecord) -> Result<(), echome_core::StorageError> {
        self.records.log_clone(rec).await
    }
    async fn clone_log(
        &self,
        run: &RunId,
    ) -> Result<Vec<echome_core::CloneLogRecord>, echome_core::StorageError> {
        self.records.clone_log(run).await
    }
    async fn set_quality(
        &self,
        caller: &echome_core::Person,
        score: &echome_core::QualityScore,
    ) -> Result<bool, echome_core::StorageError> {
        self.records.set_quality(&echome_core::Person::from(caller), score).await
    }
    async fn quality_of(
        &self,
        caller: &echome_core::Person,
        voice: &VoiceId,
    ) -> Result<Option<echome_core::QualityScore>, echome_core::StorageError> {
        self.records.quality_of(&echome_core::Person::from(caller), voice).await
    }
}

#[tokio::test]
async fn a_voice_evicted_between_the_read_and_the_use_is_not_handed_out_or_revived() {
    let (w, engine, input) = staged().await;
    let first = w.clone_voice(&engine, input.clone(), t0()).await.unwrap();
    let active = w.records.clone_of(&input.person).await.unwrap().unwrap();
    // Another run frees the slot: the voice is deleted and the entry marked evicted.
    engine.delete_voice(&first.voice_id).await.unwrap();
    clone_voice::mark_evicted(&w.records, &active).await.unwrap();

    let cache = StaleOnce { records: w.records.clone(), stale: Mutex::new(Some(active)) };
    let out =
        handle_at(&w.blobs, &cache, &w.records, &engine, &w.cfg, input.clone(), t0() + Duration::hours(1))
            .await
            .unwrap();
    assert!(!out.cached && out.voice_id != first.voice_id, "a deleted voice is never handed out: {out:?}");
    let entry = w.records.clone_of(&input.person).await.unwrap().unwrap();
    assert_eq!((entry.voice_id, entry.status), (out.voice_id, CloneStatus::Active));
}

fn on_file(input: &CloneInput, key: &str) -> echome_core::SampleRecord {
    echome_core::SampleRecord {
        person: input.person.clone(),
        sample: input.sample.clone().unwrap().with_key(key),
        version: "v1".into(),
        uploaded_at: t0(),
        size: 1000,
        pack: None,
    }
}

#[tokio::test]
async fn the_run_s_pack_is_kept_with_the_recording_it_was_cut_from_not_with_a_newer_one() {
    let (w, engine, input) = staged().await;
    let sample_key = input.sample.as_ref().unwrap().key.clone();
    w.records.record_sample(&on_file(&input, &sample_key)).await.unwrap();
    w.clone_voice(&engine, input.clone(), t0()).await.unwrap();
    let current = w.records.current_sample(&input.person).await.unwrap().unwrap();
    assert_eq!(current.pack.as_ref(), Some(&input.pack), "kept for the caller's next clone");

    // A newer upload arrived while the run was analysing the older one: nothing is kept with it.
    let other = for_caller(&input, "+14155550124", "run-other");
    w.records.record_sample(&on_file(&other, "samples/+14155550124/newer.mp3")).await.unwrap();
    w.clone_voice(&engine, other.clone(), t0()).await.unwrap();
    let current = w.records.current_sample(&other.person).await.unwrap().unwrap();
    assert_eq!(current.pack, None);
}

#[tokio::test]
async fn a_kept_pack_whose_files_expired_is_pack_gone_but_a_missing_file_of_this_run_s_own_is_not() {
    let w = world();
    let engine = Engine::with(10, &[]);
    // Nothing is staged: the pack's files are gone. The event's pack is under runs/ev-clone-pack/.
    let later = for_caller(&event(), "+14155550123", "run-later");
    let err = w.clone_voice(&engine, later, t0()).await.unwrap_err();
    assert_eq!((err.error_type, err.code.as_str()), (ErrorType::PackGone, "pack_gone"), "{err}");
    assert!(!err.message.contains("+1415"), "no phone number in the message: {err}");

    let own = w.clone_voice(&engine, event(), t0()).await.unwrap_err();
    assert_ne!(own.error_type, ErrorType::PackGone, "a run's own pack never sends it back: {own}");
    assert!(engine.made.lock().unwrap().is_empty(), "nothing was cloned");
}

/// A pack of its own under `runs/{run}/`, its report carrying a voiceprint (and one selected
/// segment 0.9 from it).
async fn pack_with_voiceprint(w: &World, run: &str, embedding: [f32; 2]) -> CloneInput {
    let mut input = for_caller(&event(), "+14155550123", run);
    let blob = |name: &str| echome_core::BlobRef::new("echome-recordings", format!("runs/{run}/{name}"));
    input.pack.samples = vec![blob("sample_1.wav")];
    input.pack.report = blob("report.json");
    let report = serde_json::json!({
        "voiceprint": { "model": "ge2e-test", "embedding": embedding },
        "segments": [{ "start_s": 0.0, "end_s": 40.0, "selected": true, "similarity": 0.9 }],
    });
    stage(w, &input, &report.to_string()).await;
    input
}

async fn refused(w: &World, input: &CloneInput, err: &StepError) {
    use echome_core::{RunLog, RunOutcome, RunRecord};
    let sample = input.sample.clone().unwrap();
    let rec = RunRecord::started(input.run_id.clone(), input.person.clone(), sample, t0());
    w.records.create_run(&rec).await.unwrap();
    w.records.finish_run(&input.run_id, &RunOutcome::Failed(err.clone()), t0()).await.unwrap();
}

#[tokio::test]
async fn another_speaker_does_not_replace_the_callers_voice_until_an_operator_accepts_it() {
    let (w, engine) = (world(), Engine::with(10, &[]));
    let first = pack_with_voiceprint(&w, "run-1", [1.0, 0.0]).await;
    let voice = w.clone_voice(&engine, first.clone(), t0()).await.unwrap();
    let reference =
        echome_core::ReferenceVoices::reference_voice(&w.records, &first.person).await.unwrap().unwrap();
    assert_eq!((reference.run_id.as_str(), &reference.report), ("run-1", &first.pack.report));

    // Someone else on the caller's number: cosine 0.6 to the voice on record.
    let other = pack_with_voiceprint(&w, "run-2", [0.6, 0.8]).await;
    let err = w.clone_voice(&engine, other.clone(), t0() + Duration::hours(1)).await.unwrap_err();
    assert_eq!((err.error_type, err.code.as_str()), (ErrorType::SpeakerMismatch, "speaker_mismatch"));
    assert!(err.message.contains("0.60") && err.message.contains("0.90"), "{err}");
    assert_eq!(engine.made.lock().unwrap().len(), 1, "nothing was uploaded");
    let entry = w.records.clone_of(&first.person).await.unwrap().unwrap();
    assert_eq!(
        (entry.voice_id, entry.status),
        (voice.voice_id.clone(), CloneStatus::Active),
        "the voice stays"
    );
    let log = w.records.clone_log(&other.run_id).await.unwrap();
    let check = log[0].speaker_check.clone().unwrap();
    assert_eq!(
        (log[0].status.as_str(), check.similarity, check.pack_similarity),
        ("speaker_mismatch", 0.6, Some(0.9))
    );
    assert!(!check.matched && check.reference_run.as_str() == "run-1");

    // Only a mismatch can be accepted; then the same pack clones and stays the reference.
    let not_refused =
        echome_core::speaker_accept::accept_speaker(&w.records, &first.run_id, "olga", t0()).await;
    assert!(not_refused.is_err(), "{not_refused:?}");
    refused(&w, &other, &err).await;
    let (accepted, _) = echome_core::speaker_accept::accept_speaker(
        &w.records,
        &other.run_id,
        "olga",
        t0() + Duration::hours(2),
    )
    .await
    .unwrap();
    assert_eq!((accepted.run_id.as_str(), accepted.accepted_by.as_deref()), ("run-2", Some("olga")));
    let again = CloneInput { run_id: other.run_id.after_acceptance(), ..other.clone() };
    let newer = w.clone_voice(&engine, again, t0() + Duration::hours(3)).await.unwrap();
    assert_ne!(newer.voice_id, voice.voice_id);
    let reference =
        echome_core::ReferenceVoices::reference_voice(&w.records, &first.person).await.unwrap().unwrap();
    assert_eq!(reference.accepted_by.as_deref(), Some("olga"), "the acceptance stays on record");

    // The caller's own next recording, close to the accepted voice, replaces it by itself.
    let own = pack_with_voiceprint(&w, "run-3", [0.5, 0.85]).await;
    w.clone_voice(&engine, own.clone(), t0() + Duration::hours(4)).await.unwrap();
    let check = w.records.clone_log(&own.run_id).await.unwrap()[0].speaker_check.clone().unwrap();
    assert!(check.matched && check.similarity > 0.99 && check.reference_run.as_str() == "run-2", "{check:?}");
}

#[tokio::test]
async fn the_threshold_is_the_operators_to_set() {
    let (mut w, engine) = (world(), Engine::with(10, &[]));
    let first = pack_with_voiceprint(&w, "run-1", [1.0, 0.0]).await;
    w.clone_voice(&engine, first, t0()).await.unwrap();
    w.cfg.speaker_threshold = echome_core::MatchThreshold::new(0.5).unwrap();
    let other = pack_with_voiceprint(&w, "run-2", [0.6, 0.8]).await;
    w.clone_voice(&engine, other, t0() + Duration::hours(1)).await.unwrap();
}

/// Every voice made is a model of the library, its caller's active one; the voice it replaces
/// leaves with its model, kept for audit as deleted.
#[tokio::test]
async fn every_voice_made_is_the_callers_active_model_and_a_replaced_one_is_deleted() {
    use echome_core::library::{ModelId, ModelStatus, VoiceLibrary};
    let (w, engine, input) = staged().await;
    let first = w.clone_voice(&engine, input.clone(), t0()).await.unwrap();
    let person = input.person.clone();
    let a = ModelId::for_run(&input.run_id);
    let model = w.records.model(&a).await.unwrap().expect("the voice's model");
    assert_eq!(
        (model.status, model.provider_voice_id.clone(), model.owner.as_str()),
        (ModelStatus::Ready, Some(first.voice_id.clone()), "system")
    );
    let logged = w.records.clone_log(&input.run_id).await.unwrap();
    assert!(model.source.pack_bytes > 0, "the pack's size is the model's storage");
    assert_eq!(model.source.pack_bytes, logged[0].bytes_uploaded, "as uploaded");
    assert_eq!(w.records.active_voice(&person).await.unwrap().unwrap().model_id, a);

    stage(&w, &input, r#"{"pack":2}"#).await;
    let next = for_caller(&input, input.person.as_key(), "run-next");
    let second = w.clone_voice(&engine, next.clone(), t0() + Duration::hours(1)).await.unwrap();
    let b = ModelId::for_run(&next.run_id);
    let active = w.records.active_voice(&person).await.unwrap().unwrap();
    assert_eq!((active.model_id, active.voice_id, active.by_hand), (b, second.voice_id, false));
    let old = w.records.model(&a).await.unwrap().unwrap();
    assert_eq!(old.status, ModelStatus::Deleted, "its voice left the account");
    let trail: Vec<_> = w.records.audit_of(&a).await.unwrap().into_iter().map(|e| e.detail).collect();
    assert_eq!(trail.last().unwrap()["reason"], "replaced", "{trail:?}");
}

/// A voice someone chose by hand stays the caller's: a new recording clones nothing.
#[tokio::test]
async fn a_voice_chosen_by_hand_is_kept_when_a_new_recording_arrives() {
    use echome_core::auth::{Principal, Role};
    use echome_core::library::{Actor, VoiceLibrary, ops};
    let (w, engine, input) = staged().await;
    w.clone_voice(&engine, input.clone(), t0()).await.unwrap();
    // An earlier voice of the caller, still at the provider (restored from a backup, say).
    let chosen = echome_testkit::fixtures::voice_model(
        "run-old",
        input.person.as_key(),
        "system",
        "voiceKept",
        Some(0.9),
        t0(),
    );
    engine
        .voices
        .lock()
        .unwrap()
        .push(EngineVoice { voice_id: VoiceId::parse("voiceKept").unwrap(), ours: true });
    assert!(w.records.create_model(&chosen).await.unwrap());
    let admin = Principal { subject: "olga".into(), role: Role::Admin };
    ops::activate(&w.records, &Actor::User(&admin), &chosen.id, Utc::now()).await.unwrap();
    assert_eq!(w.records.clone_of(&input.person).await.unwrap().unwrap().voice_id.as_str(), "voiceKept");

    stage(&w, &input, r#"{"pack":"newer"}"#).await;
    let next = for_caller(&input, input.person.as_key(), "run-new");
    let out = w.clone_voice(&engine, next.clone(), Utc::now()).await.unwrap();
    assert_eq!((out.voice_id.as_str(), out.cached), ("voiceKept", true));
    assert_eq!(engine.made.lock().unwrap().len(), 1, "nothing cloned for the new recording");
    let log = w.records.clone_log(&next.run_id).await.unwrap();
    assert_eq!(log[0].status, "kept_by_hand");
}

#[tokio::test]
async fn without_consent_nothing_reaches_the_provider_and_revoking_it_takes_the_voice_away() {
    use echome_core::library::{ModelStatus, VoiceLibrary};
    use echome_core::people::{ConsentMethod, ConsentRecord, ConsentScope, People, revoke::revoke};
    let (mut w, engine, input) = staged().await;
    w.cfg.consent = echome_core::ConsentPolicy::Required;
    let now = Utc::now();
    let refused = w.clone_voice(&engine, input.clone(), now).await.unwrap_err();
    assert_eq!((refused.error_type, refused.code.as_str()), (ErrorType::ConsentMissing, "consent_missing"));
    assert!(!refused.message.contains("5550123"), "the number is redacted: {}", refused.message);
    let person = input.person.clone();
    let grant = |scope: &[&str]| {
        let scopes = ConsentScope::parse_list(scope.iter().copied()).unwrap();
        ConsentRecord::grant(person.clone(), "the caller", ConsentMethod::Ivr, scopes, None, "ops", now)
            .unwrap()
    };
    // Consent to speech alone is not consent to be cloned.
    w.records.save_consent(&grant(&["speech"])).await.unwrap();
    let refused = w.clone_voice(&engine, input.clone(), now).await.unwrap_err();
    assert_eq!(refused.error_type, ErrorType::ConsentMissing);
    assert!(engine.made.lock().unwrap().is_empty(), "nothing was uploaded");

    w.records.save_consent(&grant(&["clone", "speech"])).await.unwrap();
    let out = w.clone_voice(&engine, input.clone(), now).await.unwrap();
    assert_eq!(engine.made.lock().unwrap().len(), 1);

    // Revoked: the voice goes from the provider, the cache and the library, and no clone starts.
    let done = revoke(&w.records, &engine, &w.blobs, &person, "ops", now).await.unwrap();
    assert_eq!(done.deleted_models.len(), 1);
    assert_eq!(*engine.deleted.lock().unwrap(), [out.voice_id.to_string()]);
    let entry = w.records.clone_of(&input.person).await.unwrap();
    assert!(entry.as_ref().is_none_or(|e| e.status != CloneStatus::Active), "{entry:?}");
    let models = w.records.models_of(&person).await.unwrap();
    assert!(models.iter().all(|m| m.status == ModelStatus::Deleted));
    let refused =
        w.clone_voice(&engine, for_caller(&input, "+14155550123", "run-after"), now).await.unwrap_err();
    assert_eq!(refused.error_type, ErrorType::ConsentMissing);
    assert!(refused.message.contains("revoked"), "{}", refused.message);
    // A second revocation finds nothing left to delete, and says the consent was revoked before.
    let again = revoke(&w.records, &engine, &w.blobs, &person, "ops", now).await.unwrap();
    assert!(again.deleted_models.is_empty());
    assert_eq!(engine.deleted.lock().unwrap().len(), 1);

    // Granted again, then revoked while the next voice is being made: that voice goes too.
    // (The revocation moved the old pack under deleted/: a new recording's pack is staged.)
    stage(&w, &input, r#"{"pack":2}"#).await;
    w.records.save_consent(&grant(&["clone"])).await.unwrap();
    let revoked = echome_core::people::ConsentRecord { revoked_at: Some(now), ..grant(&["clone"]) };
    *engine.revoke_meanwhile.lock().unwrap() = Some((w.records.clone(), revoked));
    let raced =
        w.clone_voice(&engine, for_caller(&input, "+14155550123", "run-raced"), now).await.unwrap_err();
    assert_eq!(raced.error_type, ErrorType::ConsentMissing, "{raced}");
    let made = engine.made.lock().unwrap().len();
    assert_eq!(made, 2, "the voice was made");
    assert_eq!(engine.deleted.lock().unwrap().len(), 2, "and deleted again");
    assert!(engine.voices.lock().unwrap().is_empty(), "nothing left at the provider");
    let entry = w.records.clone_of(&input.person).await.unwrap();
    assert!(entry.as_ref().is_none_or(|e| e.status != CloneStatus::Active), "{entry:?}");
}

/// A run of a sample the caller left on a call (`calls/`) or that someone uploaded, whose pack
/// report says how much speech it holds and how clean it is.
async fn pack_of(w: &World, run: &str, sample: &str, selected_s: f64, snr_db: f64) -> CloneInput {
    let mut input = for_caller(&event(), "+14155550123", run);
    let blob = |key: String| echome_core::BlobRef::new("echome-recordings", key);
    input.sample = Some(blob(format!("samples/+14155550123/{sample}")));
    input.pack.samples = vec![blob(format!("runs/{run}/sample_1.wav"))];
    input.pack.report = blob(format!("runs/{run}/report.json"));
    let report = serde_json::json!({
        "source": { "narrowband": true },
        "samples": [{
            "duration_s": selected_s, "snr_db": snr_db,
            "clipping_ratio": 0.0, "rms_dbfs": -20.0, "true_peak_dbtp": -3.0,
        }],
        "totals": { "selected_s": selected_s, "speech_s": selected_s + 5.0 },
    });
    stage(w, &input, &report.to_string()).await;
    input
}

#[tokio::test]
async fn a_call_s_sample_replaces_the_active_voice_only_when_clearly_better() {
    let (w, engine) = (world(), Engine::with(10, &[]));
    let first = pack_of(&w, "run-1", "calls/c1.mp3", 40.0, 20.0).await;
    let made = w.clone_voice(&engine, first, t0()).await.unwrap();
    assert!(!made.cached, "no active voice: the first call's sample clones");

    // The next call: about as much speech, about as clean.
    let similar = pack_of(&w, "run-2", "calls/c2.mp3", 45.0, 22.0).await;
    let out = w.clone_voice(&engine, similar.clone(), t0() + Duration::hours(1)).await.unwrap();
    assert_eq!((out.voice_id.clone(), out.cached), (made.voice_id.clone(), true));
    assert_eq!(engine.made.lock().unwrap().len(), 1, "nothing sent to the provider");
    let log = w.records.clone_log(&similar.run_id).await.unwrap();
    assert_eq!(log[0].status, "kept_active");
    let note = log[0].note.as_deref().unwrap();
    assert!(note.contains("45 s of speech at 22 dB SNR") && note.contains("40 s at 20 dB"), "{note}");
    assert!(engine.deleted.lock().unwrap().is_empty());

    // A longer call: clearly more speech.
    let longer = pack_of(&w, "run-3", "calls/c3.mp3", 75.0, 20.0).await;
    let newer = w.clone_voice(&engine, longer, t0() + Duration::hours(2)).await.unwrap();
    assert!(!newer.cached && newer.voice_id != made.voice_id);
    assert_eq!(*engine.deleted.lock().unwrap(), [made.voice_id.to_string()], "the older voice goes");

    // A quieter room: clearly cleaner, nearly as long.
    let cleaner = pack_of(&w, "run-4", "calls/c4.mp3", 70.0, 27.0).await;
    let out = w.clone_voice(&engine, cleaner, t0() + Duration::hours(3)).await.unwrap();
    assert!(!out.cached, "6 dB cleaner with most of the speech replaces the voice");

    // Someone uploads a shorter recording: a person chose it, so it clones.
    let upload = pack_of(&w, "run-5", "upload.wav", 35.0, 18.0).await;
    let out = w.clone_voice(&engine, upload, t0() + Duration::hours(4)).await.unwrap();
    assert!(!out.cached, "an upload always clones");
    assert_eq!(engine.made.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_call_s_sample_clones_when_the_active_voice_cannot_be_compared_or_has_expired() {
    let (w, engine) = (world(), Engine::with(10, &[]));
    let first = pack_of(&w, "run-1", "calls/c1.mp3", 40.0, 20.0).await;
    w.clone_voice(&engine, first.clone(), t0()).await.unwrap();
    // The first run's files expired (derived audio is kept DerivedAudioRetentionDays).
    w.blobs.delete_versions(&first.pack.report).await.unwrap();
    let similar = pack_of(&w, "run-2", "calls/c2.mp3", 41.0, 20.0).await;
    let out = w.clone_voice(&engine, similar, t0() + Duration::hours(1)).await.unwrap();
    assert!(!out.cached, "nothing to compare with: cloned");

    // A day later the voice expired unused: the caller has no active voice.
    let again = pack_of(&w, "run-3", "calls/c3.mp3", 42.0, 20.0).await;
    let out = w.clone_voice(&engine, again, t0() + Duration::hours(30)).await.unwrap();
    assert!(!out.cached, "an expired voice is not an active one");
    assert_eq!(engine.made.lock().unwrap().len(), 3);
}
