//! CloneVoice's rules (reuse, replacement, slot eviction, noise removal, the clone log) with
//! the local records and an in-memory engine; the ElevenLabs engine itself is tested against
//! the stub in crates/elevenlabs.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use clone_voice::{Config, handle_at};
use echome_core::{
    BlobStore, CallerId, CloneCache, CloneInput, CloneStatus, EngineVoice, ErrorType, RunId, SpeechFormat,
    StepError, VoiceEngine, VoiceId,
};
use echome_local::{FsBlobStore, LocalRecords};

#[derive(Default)]
struct Engine {
    voices: Mutex<Vec<EngineVoice>>,
    limit: u32,
    made: Mutex<Vec<(String, usize, bool)>>,
    deleted: Mutex<Vec<String>>,
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
        let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
        let mut made = self.made.lock().unwrap();
        made.push((name.to_owned(), files.len(), noise));
        let id = VoiceId::parse(&format!("voice{}", made.len())).unwrap();
        self.voices.lock().unwrap().push(EngineVoice { voice_id: id.clone(), ours: true });
        Ok((id, bytes))
    }
    async fn delete_voice(&self, voice: &VoiceId) -> Result<(), StepError> {
        self.voices.lock().unwrap().retain(|v| &v.voice_id != voice);
        self.deleted.lock().unwrap().push(voice.to_string());
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
    let cfg = Config { work_dir: dir.path().to_path_buf(), ttl: Duration::hours(24) };
    World { _dir: dir, blobs, records, cfg }
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

fn for_caller(input: &CloneInput, caller: &str, run: &str) -> CloneInput {
    CloneInput {
        caller_id: CallerId::parse(caller).unwrap(),
        run_id: RunId::parse(run).unwrap(),
        ..input.clone()
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z").unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn the_same_pack_is_cloned_once_and_a_new_pack_replaces_the_voice() {
    let w = world();
    let engine = Engine::with(10, &[]);
    let input = event();
    stage(&w, &input, r#"{"pack":1}"#).await;
    let first = handle_at(&w.blobs, &w.records, &engine, &w.cfg, input.clone(), t0()).await.unwrap();
    assert!(!first.cached);
    assert_eq!(
        engine.made.lock().unwrap()[0],
        ("echome +14******123".into(), 2, false),
        "both files; no noise removal"
    );

    let again = handle_at(&w.blobs, &w.records, &engine, &w.cfg, input.clone(), t0() + Duration::hours(1))
        .await
        .unwrap();
    assert!(again.cached && again.voice_id == first.voice_id);
    assert_eq!(engine.made.lock().unwrap().len(), 1, "nothing uploaded the second time");
    let entry = w.records.clone_of(&input.caller_id).await.unwrap().unwrap();
    assert_eq!((entry.reuse_count, entry.last_used_at), (1, t0() + Duration::hours(1)));

    stage(&w, &input, r#"{"pack":2}"#).await;
    let newer = handle_at(&w.blobs, &w.records, &engine, &w.cfg, input.clone(), t0() + Duration::hours(2))
        .await
        .unwrap();
    assert!(!newer.cached && newer.voice_id != first.voice_id);
    assert_eq!(
        *engine.deleted.lock().unwrap(),
        [first.voice_id.to_string()],
        "the old voice leaves its slot"
    );

    let expired = handle_at(&w.blobs, &w.records, &engine, &w.cfg, input.clone(), t0() + Duration::hours(30))
        .await
        .unwrap();
    assert!(!expired.cached, "an expired clone is made again");

    let log = w.records.clone_log(&input.run_id).unwrap();
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
    let va = handle_at(&w.blobs, &w.records, &engine, &w.cfg, a.clone(), t0()).await.unwrap();
    let vb = handle_at(&w.blobs, &w.records, &engine, &w.cfg, b.clone(), t0() + Duration::minutes(1))
        .await
        .unwrap();
    // a is used again, so b is now the least recently used.
    handle_at(&w.blobs, &w.records, &engine, &w.cfg, a.clone(), t0() + Duration::minutes(2)).await.unwrap();

    let vc = handle_at(&w.blobs, &w.records, &engine, &w.cfg, c.clone(), t0() + Duration::minutes(3))
        .await
        .unwrap();
    assert_eq!(vc.evicted, Some(vb.voice_id.clone()));
    assert_eq!(*engine.deleted.lock().unwrap(), [vb.voice_id.to_string()]);
    let ids: Vec<_> = engine.voices.lock().unwrap().iter().map(|v| v.voice_id.to_string()).collect();
    assert!(ids.contains(&"foreign1".to_owned()) && ids.contains(&va.voice_id.to_string()), "{ids:?}");
    assert_eq!(w.records.clone_of(&b.caller_id).await.unwrap().unwrap().status, CloneStatus::Evicted);
}

#[tokio::test]
async fn an_account_full_of_other_voices_is_an_error_not_a_deletion() {
    let w = world();
    let engine = Engine::with(2, &[("foreign1", false), ("foreign2", false)]);
    let input = event();
    stage(&w, &input, "{}").await;
    let err = handle_at(&w.blobs, &w.records, &engine, &w.cfg, input.clone(), t0()).await.unwrap_err();
    assert_eq!((err.error_type, err.code.as_str()), (ErrorType::ProviderRejected, "voice_limit_reached"));
    assert!(engine.deleted.lock().unwrap().is_empty());
    let log = w.records.clone_log(&input.run_id).unwrap();
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
    handle_at(&w.blobs, &w.records, &engine, &w.cfg, input, t0()).await.unwrap();
    assert!(engine.made.lock().unwrap()[0].2);
}

#[tokio::test]
async fn reconciliation_deletes_uncached_echome_voices_and_forgets_missing_ones() {
    let w = world();
    let engine = Engine::with(10, &[("foreign1", false), ("orphan1", true)]);
    let base = event();
    stage(&w, &base, "{}").await;
    let a = for_caller(&base, "+14155550001", "run-a");
    let b = for_caller(&base, "+14155550002", "run-b");
    let va = handle_at(&w.blobs, &w.records, &engine, &w.cfg, a.clone(), t0()).await.unwrap();
    let vb = handle_at(&w.blobs, &w.records, &engine, &w.cfg, b.clone(), t0()).await.unwrap();
    // b's voice disappears at the provider (deleted by hand in the dashboard).
    engine.voices.lock().unwrap().retain(|v| v.voice_id != vb.voice_id);

    let done = clone_voice::reconcile(&w.records, &engine, t0() + Duration::hours(1)).await.unwrap();
    assert_eq!(done.deleted.iter().map(|v| v.as_str()).collect::<Vec<_>>(), ["orphan1"]);
    assert_eq!(done.forgotten, std::slice::from_ref(&vb.voice_id));
    let left: Vec<_> = engine.voices.lock().unwrap().iter().map(|v| v.voice_id.to_string()).collect();
    assert_eq!(
        left,
        ["foreign1".to_owned(), va.voice_id.to_string()],
        "foreign voices stay; cached ones stay"
    );

    // A day later a's entry has expired: its voice goes too.
    let later = clone_voice::reconcile(&w.records, &engine, t0() + Duration::hours(30)).await.unwrap();
    assert_eq!(later.deleted, std::slice::from_ref(&va.voice_id));
    assert_eq!(w.records.clone_of(&a.caller_id).await.unwrap().unwrap().status, CloneStatus::Evicted);
}
