//! The same rules asked of both record stores: DynamoDB (moto, through the real SDK) and the
//! local database `echome serve` uses. A port's promise holds whichever adapter serves it.

use chrono::{DateTime, Duration, Utc};
use echome_aws::DynamoRecords;
use echome_core::{
    CallerId, CloneCache, CloneRecord, CloneStatus, QualityScore, ReferenceVoice, ReferenceVoices, RunId,
    VoiceId, Voiceprint,
};
use echome_local::LocalRecords;
use echome_testkit::moto::MotoServer;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn caller() -> CallerId {
    CallerId::parse("+14155550123").unwrap()
}

fn entry(voice: &str, at: DateTime<Utc>) -> CloneRecord {
    echome_testkit::fixtures::clone_entry("+14155550123", voice, at)
}

fn score(voice: &str) -> QualityScore {
    echome_testkit::fixtures::quality_score(
        voice,
        "run-1",
        &Default::default(),
        t("2026-11-20T09:05:00.000Z"),
    )
}

/// A voice's score: stored only while the caller's entry holds that voice, kept through uses,
/// gone with a newer voice.
async fn quality_follows_the_voice<S: CloneCache>(store: &S) {
    let at = t("2026-11-20T09:00:00.000Z");
    let (a, q) = (VoiceId::parse("voiceA").unwrap(), score("voiceA"));
    assert!(!store.set_quality(&caller(), &q).await.unwrap(), "no entry, nothing to score");
    store.put_clone(&entry("voiceA", at)).await.unwrap();
    assert_eq!(store.quality_of(&caller(), &a).await.unwrap(), None);
    assert!(store.set_quality(&caller(), &q).await.unwrap());
    assert_eq!(store.quality_of(&caller(), &a).await.unwrap(), Some(q.clone()));
    assert!(store.touch_clone(&caller(), &a, at + Duration::hours(1), Duration::hours(24)).await.unwrap());
    assert_eq!(store.quality_of(&caller(), &a).await.unwrap(), Some(q.clone()), "a use keeps the score");
    let other = VoiceId::parse("voiceB").unwrap();
    assert_eq!(store.quality_of(&caller(), &other).await.unwrap(), None, "asked for another voice");

    store.put_clone(&entry("voiceB", at + Duration::hours(2))).await.unwrap();
    assert_eq!(store.quality_of(&caller(), &a).await.unwrap(), None, "the voice was replaced");
    assert_eq!(store.quality_of(&caller(), &other).await.unwrap(), None, "the new voice is not scored yet");
    assert!(
        !store.set_quality(&caller(), &q).await.unwrap(),
        "an old voice's score never lands on a new one"
    );
    assert!(store.set_quality(&caller(), &score("voiceB")).await.unwrap());
}

/// An eviction lands only on the voice it names: a voice made since is never marked in its place.
async fn eviction_names_its_voice<S: CloneCache>(store: &S) {
    let at = t("2026-11-21T09:00:00.000Z");
    let (old, new) = (VoiceId::parse("voiceOld").unwrap(), VoiceId::parse("voiceNew").unwrap());
    let other = CallerId::parse("+14155550199").unwrap();
    assert!(!store.evict_clone(&other, &old).await.unwrap(), "no entry, nothing written");
    assert_eq!(store.clone_of(&other).await.unwrap(), None);
    store.put_clone(&CloneRecord { caller_id: other.clone(), ..entry("voiceOld", at) }).await.unwrap();
    store.put_clone(&CloneRecord { caller_id: other.clone(), ..entry("voiceNew", at) }).await.unwrap();
    assert!(!store.evict_clone(&other, &old).await.unwrap(), "the entry holds a newer voice");
    assert_eq!(store.clone_of(&other).await.unwrap().unwrap().status, CloneStatus::Active);
    assert!(store.evict_clone(&other, &new).await.unwrap());
    let gone = store.clone_of(&other).await.unwrap().unwrap();
    assert_eq!((gone.voice_id, gone.status), (new.clone(), CloneStatus::Evicted));
    assert!(
        !store.touch_clone(&other, &new, at + Duration::hours(1), Duration::hours(24)).await.unwrap(),
        "an evicted voice is never used again"
    );
}

/// The caller's reference voice: one per caller, the last one put.
async fn one_reference_voice_per_caller<S: ReferenceVoices>(store: &S) {
    assert_eq!(store.reference_voice(&caller()).await.unwrap(), None);
    let first = ReferenceVoice {
        caller_id: caller(),
        voiceprint: Voiceprint { model: "ge2e".into(), embedding: vec![0.6, 0.8] },
        report: echome_core::BlobRef::new("b", "runs/run-1/report.json"),
        run_id: RunId::parse("run-1").unwrap(),
        recorded_at: t("2026-11-20T09:00:00.000Z"),
        accepted_by: None,
    };
    store.put_reference_voice(&first).await.unwrap();
    assert_eq!(store.reference_voice(&caller()).await.unwrap(), Some(first.clone()));
    let accepted = ReferenceVoice { accepted_by: Some("olga".into()), ..first };
    store.put_reference_voice(&accepted).await.unwrap();
    assert_eq!(store.reference_voice(&caller()).await.unwrap(), Some(accepted));
}

#[tokio::test]
async fn dynamodb_keeps_the_ports_promises() {
    let moto = MotoServer::start();
    let db = DynamoRecords::new(&echome_aws::config::for_endpoint(&moto.endpoint()), "echome");
    db.create_table().await.expect("creating the table");
    quality_follows_the_voice(&db).await;
    eviction_names_its_voice(&db).await;
    one_reference_voice_per_caller(&db).await;
}

#[tokio::test]
async fn the_local_records_keep_the_ports_promises() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    quality_follows_the_voice(&local).await;
    eviction_names_its_voice(&local).await;
    one_reference_voice_per_caller(&local).await;
}
