//! CloneVoice with the real ElevenLabs engine against a stateful stub of the account (voices
//! made, listed and deleted; the subscription's slots counted from them): what a provider that
//! holds voices echome did not make, or loses an answer, does to a clone.

use std::path::Path;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use clone_voice::{Config, handle_at};
use echome_core::people::{PersonKind, PersonRecord};
use echome_core::{
    BlobStore, CloneCache, CloneInput, CloneRecord, CloneStatus, People, Person, RunId, VoiceId,
};
use echome_elevenlabs::{ApiKey, Client, Config as ApiConfig, ElevenLabsEngine};
use echome_local::{FsBlobStore, LocalRecords};
use echome_testkit::elevenlabs::Account;
use serde_json::{Value, json};
use wiremock::MockServer;

/// The account as the stub holds it (crates/testkit): voices made, listed and deleted, slots.
async fn stub(voices: Vec<Value>, limit: usize, add_delay: StdDuration) -> (MockServer, Account) {
    let server = MockServer::start().await;
    let account = Account::with(voices, limit);
    account.mount_voices(&server, add_delay).await;
    account.mount_slots(&server).await;
    (server, account)
}

fn engine(server: &MockServer) -> ElevenLabsEngine {
    let mut cfg = ApiConfig::new(ApiKey::new("sk_stub"));
    cfg.base_url = server.uri();
    cfg.timeout = StdDuration::from_millis(500);
    cfg.backoff = StdDuration::from_millis(5);
    cfg.max_backoff = StdDuration::from_millis(20);
    ElevenLabsEngine::new(Client::new(cfg).unwrap())
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z").unwrap().with_timezone(&Utc)
}

fn input(caller: &str) -> CloneInput {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/clone-voice/pack.json");
    let mut input: CloneInput = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    input.person = Person::parse(caller).unwrap();
    input
}

async fn world() -> (tempfile::TempDir, FsBlobStore, LocalRecords, Config) {
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
    let pack = input("+14155550123").pack;
    for s in &pack.samples {
        blobs.put_bytes(s, vec![1; 4000], "audio/wav").await.unwrap();
    }
    blobs.put_bytes(&pack.report, b"{}".to_vec(), "application/json").await.unwrap();
    (dir, blobs, records, cfg)
}

fn cached(caller: &str, voice: &str, used: DateTime<Utc>) -> CloneRecord {
    CloneRecord {
        person: Person::parse(caller).unwrap(),
        voice_id: VoiceId::parse(voice).unwrap(),
        engine: "elevenlabs".into(),
        pack_digest: "older".into(),
        run_id: RunId::parse("run-old").unwrap(),
        created_at: used,
        last_used_at: used,
        reuse_count: 0,
        status: CloneStatus::Active,
        expires_at: (used + Duration::hours(24)).timestamp(),
    }
}

#[tokio::test]
async fn a_voice_made_elsewhere_with_an_odd_id_is_skipped_not_fatal_at_the_voice_limit() {
    let voices = vec![
        json!({"voice_id": "brand-voice-1", "name": "Brand voice", "category": "professional", "labels": {}}),
        json!({"voice_id": "voiceA", "name": "echome a", "category": "cloned", "labels": {"echome": "1"}}),
        json!({"voice_id": "voiceB", "name": "echome b", "category": "cloned", "labels": {"echome": "1"}}),
    ];
    let (server, account) = stub(voices, 3, StdDuration::ZERO).await;
    let (_dir, blobs, records, cfg) = world().await;
    records.put_clone(&cached("+14155550001", "voiceA", t0() - Duration::hours(2))).await.unwrap();
    records.put_clone(&cached("+14155550002", "voiceB", t0() - Duration::hours(1))).await.unwrap();

    let out = handle_at(&blobs, &records, &records, &engine(&server), &cfg, input("+14155550003"), t0())
        .await
        .unwrap();
    assert_eq!(out.evicted.as_ref().map(VoiceId::as_str), Some("voiceA"), "the least recently used of ours");
    assert_eq!(
        account.ids(),
        ["brand-voice-1", "voiceB", out.voice_id.as_str()],
        "the brand voice is untouched"
    );
    let a = records.clone_of(&Person::parse("+14155550001").unwrap()).await.unwrap().unwrap();
    assert_eq!(a.status, CloneStatus::Evicted);
}

#[tokio::test]
async fn a_timeout_on_add_voice_where_the_voice_was_made_records_that_voice_and_makes_no_other() {
    let (server, account) = stub(vec![], 10, StdDuration::from_secs(2)).await;
    let (_dir, blobs, records, cfg) = world().await;
    let caller = "+14155550123";
    let out =
        handle_at(&blobs, &records, &records, &engine(&server), &cfg, input(caller), t0()).await.unwrap();
    assert_eq!(account.ids(), ["stubVoice1"], "exactly one voice exists");
    assert_eq!(out.voice_id.as_str(), "stubVoice1", "the clone uses it");
    let entry = records.clone_of(&Person::parse(caller).unwrap()).await.unwrap().unwrap();
    assert_eq!((entry.voice_id.as_str(), entry.status), ("stubVoice1", CloneStatus::Active));
    let adds =
        server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/v1/voices/add").count();
    assert_eq!(adds, 1);
}

/// A named person's voice is named after them at the provider, where the account's voice list
/// shows it; the voice becomes their active one, which GET /people shows.
#[tokio::test]
async fn a_named_person_s_voice_is_named_after_them_at_the_provider() {
    let (server, account) = stub(vec![], 10, StdDuration::ZERO).await;
    let (_dir, blobs, records, cfg) = world().await;
    let anna = Person::parse("emp-42").unwrap();
    let rec = PersonRecord::new(anna.clone(), "Anna Berg", PersonKind::Employee, "alice", t0()).unwrap();
    assert!(records.create_person(&rec).await.unwrap());
    let out =
        handle_at(&blobs, &records, &records, &engine(&server), &cfg, input("emp-42"), t0()).await.unwrap();
    let names: Vec<String> =
        account.voices.lock().unwrap().iter().map(|v| v["name"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(names, ["Anna Berg (echome)"]);
    let entry = records.clone_of(&anna).await.unwrap().expect("her voice is on record");
    assert_eq!(entry.voice_id, out.voice_id);
    let active = echome_core::VoiceLibrary::active_voice(&records, &anna).await.unwrap().expect("active");
    assert_eq!(active.voice_id, out.voice_id);
    // Kept: nobody's call renews her voice, so it must not lapse with a caller's 24 hours
    // (the reconciler deletes a voice whose entry and model have both lapsed).
    let a_year = (t0() + Duration::days(365)).timestamp();
    assert!(entry.expires_at > a_year, "fresh for years, not {}", entry.expires_at);
    let model = echome_core::VoiceLibrary::model(&records, &active.model_id).await.unwrap().unwrap();
    assert_eq!(model.expires_at, None, "her model is kept until deleted");
    assert!(model.is_usable(t0() + Duration::days(365)));
}
