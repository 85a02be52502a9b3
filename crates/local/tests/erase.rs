//! Erasure over the local adapters with an engine that fails once: the first attempt stops at
//! the provider with its receipt saved as in progress; the retry finishes that same receipt.
//! Speech made with the voice, the call's transcript and the webhook bodies that name the
//! caller go; another caller's delivery stays.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use echome_core::calls::ConversationSummary;
use echome_core::library::{Person, VoiceLibrary};
use echome_core::people::erase::{EraseError, erase};
use echome_core::people::{ErasureKey, ErasureStatus, People};
use echome_core::{
    BlobRef, BlobStore, CallId, CallLog, CallRecord, CallerId, CloneCache, Delivery, EngineVoice, ErrorType,
    SpeechFormat, StepError, VoiceEngine, VoiceId, WebhookArchive,
};
use echome_local::{FsBlobStore, LocalRecords};

#[derive(Default)]
struct Engine {
    failing: AtomicBool,
    deleted: Mutex<Vec<String>>,
}

impl VoiceEngine for Engine {
    fn name(&self) -> &'static str {
        "elevenlabs"
    }
    async fn clone_voice(&self, _: &str, _: &[PathBuf], _: bool) -> Result<(VoiceId, u64), StepError> {
        Err(StepError::internal("not used here"))
    }
    async fn delete_voice(&self, voice: &VoiceId) -> Result<(), StepError> {
        if self.failing.swap(false, Ordering::SeqCst) {
            return Err(StepError::new(ErrorType::Retryable, "provider_unavailable", "try again"));
        }
        self.deleted.lock().unwrap().push(voice.to_string());
        Ok(())
    }
    async fn voices(&self) -> Result<Vec<EngineVoice>, StepError> {
        Ok(vec![])
    }
    async fn slots(&self) -> Result<Option<(u32, u32)>, StepError> {
        Ok(None)
    }
    async fn synthesize(&self, _: &VoiceId, _: &str, _: SpeechFormat) -> Result<Vec<u8>, StepError> {
        Err(StepError::internal("not used here"))
    }
    async fn max_characters(&self) -> Result<usize, StepError> {
        Ok(1000)
    }
    fn model(&self) -> &str {
        "test"
    }
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn a_failed_erasure_is_finished_by_the_retry_on_the_same_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let blobs = FsBlobStore::new(dir.path().join("blobs"));
    let caller = CallerId::parse("+14155550123").unwrap();
    let person = Person::Caller(caller.clone());
    let at = t("2026-11-22T09:00:00Z");
    let b = |k: &str| BlobRef::new("recordings", k);

    // The caller's voice (a model, active, and their clone entry), speech made with it, a
    // sample, a call with its transcript, and webhook bodies of that day.
    let m = echome_testkit::fixtures::voice_model(
        "run-1",
        caller.as_str(),
        "system",
        "voiceErased1",
        Some(0.9),
        at,
    );
    echome_core::library::ops::register(&records, &m, 0.8, at).await.unwrap();
    assert!(
        records.clone_of(&echome_core::Person::from(&caller)).await.unwrap().is_some(),
        "the model is the caller's voice"
    );
    for k in [
        "tts/voiceErased1/h1.mp3",
        "tts/voiceErased1/h1.json",
        "samples/+14155550123/call.mp3",
        "runs/run-1/sample_1.wav",
    ] {
        blobs.put_bytes(&b(k), vec![1], "application/octet-stream").await.unwrap();
    }
    blobs.put_bytes(&b("tts/voiceOther/h2.mp3"), vec![2], "audio/mpeg").await.unwrap();
    let transcript = b("webhooks/transcripts/conv_1.json");
    blobs.put_bytes(&transcript, b"[]".to_vec(), "application/json").await.unwrap();
    let mut call = CallRecord::new(CallId::parse("c1").unwrap(), caller.clone(), "+18005550199".into(), at);
    call.conversations.push(ConversationSummary {
        conversation_id: "conv_1".into(),
        status: "done".into(),
        duration_s: Some(30.0),
        transcript: Some(transcript.clone()),
        excerpt: String::new(),
        audio: None,
    });
    // The conversation's audio half, still waiting for its transcript in the inbox.
    let waiting = b("inbox/conversations/conv_1.mp3");
    blobs.put_bytes(&waiting, vec![0xFF, 0xFB], "audio/mpeg").await.unwrap();
    records.claim_call(&call).await.unwrap();
    let naming = br#"{"event_type":"IncomingCall","caller_id":"+14155550123"}"#;
    let other = br#"{"event_type":"IncomingCall","caller_id":"+14155550999"}"#;
    for body in [naming.as_slice(), other.as_slice()] {
        records.keep(&Delivery { source: "3cx", received_at: at, body }).await.unwrap();
    }

    let engine = Engine::default();
    engine.failing.store(true, Ordering::SeqCst);
    let key = ErasureKey::new(vec![3; 32]).unwrap();
    let first = erase(&records, &engine, &blobs, &records, "recordings", &key, &person, "root", at).await;
    assert!(matches!(first, Err(EraseError::Provider(_))), "{first:?}");
    let open = records.erasures().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].status, ErasureStatus::InProgress, "saved before anything went");
    assert!(blobs.exists(&b("samples/+14155550123/call.mp3")).await.unwrap(), "stopped at the provider");

    let done =
        erase(&records, &engine, &blobs, &records, "recordings", &key, &person, "root", at).await.unwrap();
    assert_eq!(done.id, open[0].id, "the retry finishes the same receipt");
    assert_eq!(done.status, ErasureStatus::Completed);
    assert_eq!(*engine.deleted.lock().unwrap(), ["voiceErased1"], "one voice, deleted once");
    let count = |k: &str| done.deleted.get(k).copied().unwrap_or(0);
    assert_eq!(
        (count("provider_voices"), count("speech_files"), count("transcripts"), count("webhook_bodies")),
        (1, 2, 1, 1),
        "{:?}",
        done.deleted
    );
    assert_eq!((count("sample_files"), count("run_files"), count("conversation_halves")), (1, 1, 1));
    assert!(!blobs.exists(&waiting).await.unwrap(), "the waiting half is gone");
    assert_eq!((count("calls"), count("voice_models"), count("clone_entries")), (1, 1, 1));
    for k in ["tts/voiceErased1/h1.mp3", "samples/+14155550123/call.mp3", "runs/run-1/sample_1.wav"] {
        assert!(!blobs.exists(&b(k)).await.unwrap(), "{k}");
    }
    assert!(!blobs.exists(&transcript).await.unwrap());
    assert!(blobs.exists(&b("tts/voiceOther/h2.mp3")).await.unwrap(), "another voice's speech stays");
    let kept = records.kept_webhooks("webhooks/").unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].1, other.to_vec(), "only the body naming someone else stays");
    assert!(records.models_of(&person).await.unwrap().is_empty());
    assert_eq!(records.call(&call.call_id).await.unwrap(), None);
    assert!(!serde_json::to_string(&done).unwrap().contains("4155550123"), "no number on the receipt");
}

#[tokio::test]
async fn a_voice_at_another_provider_stops_the_erasure_before_anything_goes() {
    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let blobs = FsBlobStore::new(dir.path().join("blobs"));
    let at = t("2026-11-22T09:00:00Z");
    let mut m = echome_testkit::fixtures::voice_model("run-x", "emp-9", "alice", "voiceElsewhere", None, at);
    m.provider = "offline".into();
    assert!(records.create_model(&m).await.unwrap());
    let sample = BlobRef::new("recordings", "runs/run-x/sample_1.wav");
    blobs.put_bytes(&sample, vec![1], "audio/wav").await.unwrap();
    let key = ErasureKey::new(vec![3; 32]).unwrap();
    let engine = Engine::default();
    let person = Person::parse("emp-9").unwrap();
    let refused = erase(&records, &engine, &blobs, &records, "recordings", &key, &person, "root", at).await;
    let Err(EraseError::OtherProvider(id, provider, _)) = refused else { panic!("{refused:?}") };
    assert_eq!((id.as_str(), provider.as_str()), ("vm-run-x", "offline"));
    assert!(blobs.exists(&sample).await.unwrap(), "nothing went");
    assert_eq!(records.models_of(&person).await.unwrap().len(), 1);
    assert!(records.erasures().await.unwrap().is_empty(), "no receipt for an erasure that did not start");
}
