//! ReconcileVoices with the real ElevenLabs engine against a stateful stub of the account
//! (crates/testkit: voices made, listed and deleted), on the events in events/reconcile-voices/:
//! a dry run changes nothing and says what would go; the daily run deletes echome's voices no
//! fresh entry uses (an orphan, an expired caller's), forgets an entry whose voice vanished, and
//! never touches a voice echome did not make.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use echome_core::{CloneCache, CloneRecord, CloneStatus, VoiceId};
use echome_elevenlabs::{ApiKey, Client, Config as ApiConfig, ElevenLabsEngine};
use echome_local::LocalRecords;
use echome_testkit::elevenlabs::Account;
use reconcile_voices::{ReconcileInput, handle};
use serde_json::json;
use wiremock::MockServer;

/// The real client against the stub holding `account`.
async fn engine_of(account: &Account, server: &MockServer) -> ElevenLabsEngine {
    account.mount_voices(server, StdDuration::ZERO).await;
    account.mount_slots(server).await;
    let mut cfg = ApiConfig::new(ApiKey::new("sk_stub"));
    cfg.base_url = server.uri();
    ElevenLabsEngine::new(Client::new(cfg).unwrap())
}

fn rules() -> echome_core::library::CleanupRules {
    Default::default()
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z").unwrap().with_timezone(&Utc)
}

fn entry(caller: &str, voice: &str, used_hours_ago: i64) -> CloneRecord {
    echome_testkit::fixtures::clone_entry(caller, voice, t0() - Duration::hours(used_hours_ago))
}

fn voice(id: &str, ours: bool) -> serde_json::Value {
    let labels = if ours { json!({"echome": "1"}) } else { json!({}) };
    json!({"voice_id": id, "name": id, "category": "cloned", "labels": labels})
}

#[tokio::test]
async fn the_account_and_the_cache_agree_after_a_run_and_a_dry_run_changes_nothing() {
    let server = MockServer::start().await;
    let account = Account::with(
        vec![
            voice("freshVoice1", true),
            voice("expiredVoice1", true),
            voice("orphanVoice1", true),
            voice("foreignVoice1", false),
        ],
        30,
    );
    let engine = engine_of(&account, &server).await;

    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let blobs = echome_local::FsBlobStore::new(dir.path().join("blobs"));
    let fresh = entry("+14155550001", "freshVoice1", 1);
    let expired = entry("+14155550002", "expiredVoice1", 30);
    let vanished = entry("+14155550003", "vanishedVoice1", 1);
    for e in [&fresh, &expired, &vanished] {
        records.put_clone(e).await.unwrap();
    }

    let dry: ReconcileInput = echome_testkit::events::parse("reconcile-voices", "dry-run");
    let would = handle(&records, &engine, &blobs, dry, &rules(), t0()).await.unwrap();
    let ids = |v: &[VoiceId]| v.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    assert!(would.dry_run);
    assert_eq!(ids(&would.deleted), ["expiredVoice1", "orphanVoice1"]);
    assert_eq!(ids(&would.forgotten), ["vanishedVoice1"]);
    assert_eq!(account.ids().len(), 4, "a dry run deletes nothing");
    assert_eq!(records.clone_of(&vanished.person).await.unwrap().unwrap().status, CloneStatus::Active);

    let daily: ReconcileInput = echome_testkit::events::parse("reconcile-voices", "daily");
    let done = handle(&records, &engine, &blobs, daily, &rules(), t0()).await.unwrap();
    assert!(!done.dry_run);
    assert_eq!((done.deleted.clone(), done.forgotten.clone()), (would.deleted, would.forgotten));
    assert_eq!((done.kept, done.others), (1, 1));
    assert_eq!(account.ids(), ["freshVoice1", "foreignVoice1"], "the fresh voice and the foreign one stay");
    for (e, status) in
        [(&fresh, CloneStatus::Active), (&expired, CloneStatus::Evicted), (&vanished, CloneStatus::Evicted)]
    {
        assert_eq!(records.clone_of(&e.person).await.unwrap().unwrap().status, status, "{}", e.voice_id);
    }

    let again = handle(&records, &engine, &blobs, ReconcileInput::default(), &rules(), t0()).await.unwrap();
    assert!(again.deleted.is_empty() && again.forgotten.is_empty(), "nothing left to do: {again:?}");
}

/// The library's models hold voices too: a usable model's voice stays though no cache entry
/// names it; an expired call-flow model goes with its voice; a model whose voice vanished at
/// the provider is marked deleted. After the run, account and library agree.
#[tokio::test]
async fn voices_the_library_holds_are_kept_and_models_follow_their_voices() {
    use echome_core::library::{ModelStatus, VoiceLibrary};
    let server = MockServer::start().await;
    let account = Account::with(
        vec![voice("libraryVoice1", true), voice("expiredModel1", true), voice("foreignVoice2", false)],
        30,
    );
    let engine = engine_of(&account, &server).await;
    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let blobs = echome_local::FsBlobStore::new(dir.path().join("blobs"));
    let model = |run: &str, person: &str, voice: &str| {
        echome_testkit::fixtures::voice_model(
            run,
            person,
            "alice",
            voice,
            Some(0.8),
            t0() - Duration::days(3),
        )
    };
    let kept = model("lib-1", "emp-1", "libraryVoice1");
    let expired = echome_core::library::VoiceModel {
        expires_at: Some(t0() - Duration::hours(1)),
        ..model("exp-1", "+14155550009", "expiredModel1")
    };
    let vanished = model("van-1", "emp-2", "vanishedModel1");
    // Made while the provider was being listed: on record, not yet in the list.
    let just_made = echome_testkit::fixtures::voice_model(
        "new-1",
        "emp-3",
        "alice",
        "madeJustNow1",
        None,
        t0() - Duration::minutes(1),
    );
    for m in [&kept, &expired, &vanished, &just_made] {
        records.create_model(m).await.unwrap();
    }

    let done = handle(&records, &engine, &blobs, ReconcileInput::default(), &rules(), t0()).await.unwrap();
    let ids = |v: &[VoiceId]| v.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&done.deleted), ["expiredModel1"]);
    assert_eq!(ids(&done.forgotten), ["vanishedModel1"]);
    assert_eq!(account.ids(), ["libraryVoice1", "foreignVoice2"]);
    let status = |m: &echome_core::library::VoiceModel| {
        let records = &records;
        let id = m.id.clone();
        async move { records.model(&id).await.unwrap().unwrap().status }
    };
    assert_eq!(status(&kept).await, ModelStatus::Ready);
    assert_eq!(status(&expired).await, ModelStatus::Deleted);
    assert_eq!(status(&vanished).await, ModelStatus::Deleted);
    assert_eq!(status(&just_made).await, ModelStatus::Ready, "too recent to be called vanished");
    let again = handle(&records, &engine, &blobs, ReconcileInput::default(), &rules(), t0()).await.unwrap();
    assert!(again.deleted.is_empty() && again.forgotten.is_empty(), "they agree: {again:?}");
}
