//! The DynamoDB records against a real moto server, through the real SDK.

use chrono::{DateTime, Duration, Utc};
use echome_aws::DynamoRecords;
use echome_core::{
    BlobRef, CallId, CallLog, CallRecord, CallStatus, CallerId, ErrorType, RunId, RunLog, RunOutcome,
    RunRecord, RunStatus, SampleLog, SampleRecord, SampleWrite, StepError, StorageError,
};
use echome_testkit::moto::MotoServer;

async fn table(moto: &MotoServer) -> DynamoRecords {
    let records = DynamoRecords::new(&echome_aws::config::for_endpoint(&moto.endpoint()), "echome");
    records.create_table().await.expect("creating the table");
    records
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn caller() -> CallerId {
    CallerId::parse("+14155550123").unwrap()
}

fn sample(key: &str, version: &str, at: &str) -> SampleRecord {
    SampleRecord {
        caller_id: caller(),
        sample: BlobRef::new("echome-recordings", key),
        version: version.into(),
        uploaded_at: t(at),
        size: 1234,
    }
}

#[tokio::test]
async fn the_newest_sample_wins_whatever_order_events_arrive_in() {
    let moto = MotoServer::start();
    let db = table(&moto).await;
    assert_eq!(db.current_sample(&caller()).await.unwrap(), None);
    let newer = sample("samples/+14155550123/b.wav", "v2", "2026-11-20T10:00:00.000Z");
    let older = sample("samples/+14155550123/a.wav", "v1", "2026-11-20T09:00:00.000Z");
    assert_eq!(db.record_sample(&newer).await.unwrap(), SampleWrite::Newest);
    assert_eq!(db.record_sample(&older).await.unwrap(), SampleWrite::Superseded);
    assert_eq!(db.current_sample(&caller()).await.unwrap(), Some(newer.clone()));
    // The same upload delivered again is still the newest: its run must be able to start.
    assert_eq!(db.record_sample(&newer).await.unwrap(), SampleWrite::Newest);
    let newest = sample("samples/+14155550123/c.wav", "v3", "2026-11-21T08:00:00.000Z");
    assert_eq!(db.record_sample(&newest).await.unwrap(), SampleWrite::Newest);
    assert_eq!(db.current_sample(&caller()).await.unwrap(), Some(newest));
}

#[tokio::test]
async fn a_run_is_created_once_and_keeps_how_it_ended() {
    let moto = MotoServer::start();
    let db = table(&moto).await;
    let started = t("2026-11-20T10:00:00.000Z");
    let ok = RunRecord::started(
        RunId::parse("run-ok").unwrap(),
        caller(),
        BlobRef::new("b", "samples/x.wav"),
        started,
    );
    assert!(db.create_run(&ok).await.unwrap());
    assert!(!db.create_run(&ok).await.unwrap(), "a second create of the same run is refused");
    assert_eq!(db.run(&ok.run_id).await.unwrap(), Some(ok.clone()));

    let report = BlobRef::new("b", "runs/run-ok/report.json");
    let done = started + Duration::seconds(42);
    db.finish_run(
        &ok.run_id,
        &RunOutcome::Succeeded {
            report: report.clone(),
            voice_id: Some(echome_core::VoiceId::parse("voiceX").unwrap()),
        },
        done,
    )
    .await
    .unwrap();
    let voice = db.run(&ok.run_id).await.unwrap().unwrap().voice_id;
    assert_eq!(voice.as_ref().map(|v| v.as_str()), Some("voiceX"));
    let back = db.run(&ok.run_id).await.unwrap().unwrap();
    assert_eq!(
        (back.status, back.finished_at, back.report),
        (RunStatus::Succeeded, Some(done), Some(report))
    );
    assert_eq!(back.expires_at, (started + Duration::days(90)).timestamp(), "TTL: 90 days after the start");

    let bad = RunRecord::started(
        RunId::parse("run-bad").unwrap(),
        caller(),
        BlobRef::new("b", "samples/y.wav"),
        started,
    );
    db.create_run(&bad).await.unwrap();
    let err = StepError::from(echome_core::AudioError::SilenceOnly { duration_s: 12.0 });
    db.finish_run(&bad.run_id, &RunOutcome::Failed(err.clone()), done).await.unwrap();
    let back = db.run(&bad.run_id).await.unwrap().unwrap();
    assert_eq!((back.status, back.error.clone()), (RunStatus::Failed, Some(err)));
    assert_eq!(back.error.as_ref().map_or(ErrorType::Internal, |e| e.error_type), ErrorType::NoUsableSpeech);

    let ghost = RunId::parse("never-created").unwrap();
    let missing = db
        .finish_run(&ghost, &RunOutcome::Succeeded { report: BlobRef::new("b", "r"), voice_id: None }, done)
        .await;
    assert!(matches!(missing, Err(StorageError::NotFound(_))), "{missing:?}");
    assert_eq!(db.run(&ghost).await.unwrap(), None, "finishing an unknown run creates nothing");
}

#[tokio::test]
async fn calls_are_recorded_once_and_listed_by_caller_and_time() {
    let moto = MotoServer::start();
    let db = table(&moto).await;
    let call = |id: &str, who: &CallerId, at: &str| CallRecord {
        call_id: CallId::parse(id).unwrap(),
        caller_id: who.clone(),
        started_at: t(at),
        status: CallStatus::Started,
        expires_at: echome_core::records::expiry(t(at), 365),
    };
    let other = CallerId::parse("+442071838750").unwrap();
    let first = call("c1", &caller(), "2026-11-20T09:00:00.000Z");
    assert_eq!(db.record_call(&first).await.unwrap(), first);
    let retried = CallRecord { started_at: t("2026-11-20T09:00:05.000Z"), ..first.clone() };
    assert_eq!(db.record_call(&retried).await.unwrap(), first, "a retried webhook gets the first record");
    for (id, who, at) in [
        ("c2", caller(), "2026-11-20T12:00:00.000Z"),
        ("c3", caller(), "2026-11-21T09:00:00.000Z"),
        ("c4", other.clone(), "2026-11-20T11:00:00.000Z"),
    ] {
        db.record_call(&call(id, &who, at)).await.unwrap();
    }
    let ids = |calls: Vec<CallRecord>| calls.into_iter().map(|c| c.call_id.to_string()).collect::<Vec<_>>();
    let day =
        db.calls_by_caller(&caller(), t("2026-11-20T00:00:00.000Z"), t("2026-11-21T00:00:00.000Z")).await;
    assert_eq!(ids(day.unwrap()), ["c1", "c2"]);
    let all =
        db.calls_by_caller(&caller(), t("2026-01-01T00:00:00.000Z"), t("2027-01-01T00:00:00.000Z")).await;
    assert_eq!(ids(all.unwrap()), ["c1", "c2", "c3"]);
    let edge =
        db.calls_by_caller(&caller(), t("2026-11-20T09:00:00.000Z"), t("2026-11-20T12:00:00.000Z")).await;
    assert_eq!(ids(edge.unwrap()), ["c1"], "the range is [from, to)");
}

#[tokio::test]
async fn the_table_expires_records_through_its_ttl_attribute() {
    let moto = MotoServer::start();
    let db = table(&moto).await;
    let ttl = db.client().describe_time_to_live().table_name("echome").send().await.unwrap();
    let desc = ttl.time_to_live_description().unwrap();
    assert_eq!(desc.attribute_name(), Some(echome_aws::dynamo::TTL_ATTRIBUTE));
    assert_eq!(desc.time_to_live_status().map(|s| s.as_str()), Some("ENABLED"));
}

#[tokio::test]
async fn clones_are_cached_per_caller_and_listed_for_eviction() {
    use echome_core::{CloneCache, CloneLogRecord, CloneRecord, CloneStatus, VoiceId};
    let moto = MotoServer::start();
    let db = table(&moto).await;
    let clone = |caller: &str, voice: &str, used: &str| CloneRecord {
        caller_id: CallerId::parse(caller).unwrap(),
        voice_id: VoiceId::parse(voice).unwrap(),
        engine: "elevenlabs".into(),
        pack_digest: "abc".into(),
        run_id: RunId::parse("run-1").unwrap(),
        created_at: t(used),
        last_used_at: t(used),
        reuse_count: 0,
        status: CloneStatus::Active,
        expires_at: (t(used) + Duration::hours(24)).timestamp(),
    };
    let a = clone("+14155550001", "voiceA", "2026-11-20T09:00:00.000Z");
    let b = clone("+14155550002", "voiceB", "2026-11-20T10:00:00.000Z");
    db.put_clone(&a).await.unwrap();
    db.put_clone(&b).await.unwrap();
    assert_eq!(db.clone_of(&a.caller_id).await.unwrap(), Some(a.clone()));
    db.touch_clone(&a.caller_id, t("2026-11-20T11:00:00.000Z")).await.unwrap();
    let listed: Vec<_> = db.clones().await.unwrap().into_iter().map(|c| c.voice_id.to_string()).collect();
    assert_eq!(listed, ["voiceB", "voiceA"], "least recently used first");
    let a2 = db.clone_of(&a.caller_id).await.unwrap().unwrap();
    assert_eq!((a2.reuse_count, a2.last_used_at), (1, t("2026-11-20T11:00:00.000Z")));
    assert!(
        db.touch_clone(&CallerId::parse("+14155550009").unwrap(), t("2026-11-20T11:00:00.000Z"))
            .await
            .is_err()
    );

    let log = CloneLogRecord {
        run_id: RunId::parse("run-1").unwrap(),
        caller_id: a.caller_id.clone(),
        engine: "elevenlabs".into(),
        voice_id: Some(a.voice_id.clone()),
        status: "created".into(),
        latency_ms: 1234,
        bytes_uploaded: 8_000_000,
        error: None,
        at: t("2026-11-20T09:00:00.000Z"),
    };
    db.log_clone(&log).await.unwrap();
    let item = db
        .client()
        .get_item()
        .table_name("echome")
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("RUN#run-1".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("CLONE#2026-11-20T09:00:00.000Z".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the clone log entry");
    assert_eq!(item["latency_ms"].as_n().unwrap(), "1234");
}
