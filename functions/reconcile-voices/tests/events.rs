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
    account.mount_voices(&server, StdDuration::ZERO).await;
    account.mount_slots(&server).await;
    let mut cfg = ApiConfig::new(ApiKey::new("sk_stub"));
    cfg.base_url = server.uri();
    let engine = ElevenLabsEngine::new(Client::new(cfg).unwrap());

    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let fresh = entry("+14155550001", "freshVoice1", 1);
    let expired = entry("+14155550002", "expiredVoice1", 30);
    let vanished = entry("+14155550003", "vanishedVoice1", 1);
    for e in [&fresh, &expired, &vanished] {
        records.put_clone(e).await.unwrap();
    }

    let dry: ReconcileInput = echome_testkit::events::parse("reconcile-voices", "dry-run");
    let would = handle(&records, &engine, dry, t0()).await.unwrap();
    let ids = |v: &[VoiceId]| v.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    assert!(would.dry_run);
    assert_eq!(ids(&would.deleted), ["expiredVoice1", "orphanVoice1"]);
    assert_eq!(ids(&would.forgotten), ["vanishedVoice1"]);
    assert_eq!(account.ids().len(), 4, "a dry run deletes nothing");
    assert_eq!(records.clone_of(&vanished.caller_id).await.unwrap().unwrap().status, CloneStatus::Active);

    let daily: ReconcileInput = echome_testkit::events::parse("reconcile-voices", "daily");
    let done = handle(&records, &engine, daily, t0()).await.unwrap();
    assert!(!done.dry_run);
    assert_eq!((done.deleted.clone(), done.forgotten.clone()), (would.deleted, would.forgotten));
    assert_eq!((done.kept, done.others), (1, 1));
    assert_eq!(account.ids(), ["freshVoice1", "foreignVoice1"], "the fresh voice and the foreign one stay");
    for (e, status) in
        [(&fresh, CloneStatus::Active), (&expired, CloneStatus::Evicted), (&vanished, CloneStatus::Evicted)]
    {
        assert_eq!(records.clone_of(&e.caller_id).await.unwrap().unwrap().status, status, "{}", e.voice_id);
    }

    let again = handle(&records, &engine, ReconcileInput::default(), t0()).await.unwrap();
    assert!(again.deleted.is_empty() && again.forgotten.is_empty(), "nothing left to do: {again:?}");
}
