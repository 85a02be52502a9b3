//! The DynamoDB records against a real moto server, through the real SDK.

use chrono::{DateTime, Duration, Utc};
use echome_aws::DynamoRecords;
use echome_core::{
    BlobRef, CallClaim, CallEventKind, CallEventRecord, CallId, CallLog, CallPage, CallRecord, CallStatus,
    CallerId, ErrorType, RunId, RunLog, RunOutcome, RunRecord, RunStatus, SampleLog, SampleRecord,
    SampleWrite, StepError, StorageError, call_log::update_call,
};
use echome_testkit::fixtures::pack;
use echome_testkit::moto::MotoServer;

const BUCKET: &str = "echome-recordings";

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

/// The caller as the voice records name them.
fn caller_person() -> echome_core::Person {
    echome_core::Person::from(caller())
}

fn sample(key: &str, version: &str, at: &str) -> SampleRecord {
    SampleRecord {
        person: caller_person(),
        sample: BlobRef::new("echome-recordings", key),
        version: version.into(),
        uploaded_at: t(at),
        size: 1234,
        pack: None,
    }
}

#[tokio::test]
async fn the_newest_sample_wins_whatever_order_events_arrive_in() {
    let moto = MotoServer::start();
    let db = table(&moto).await;
    assert_eq!(db.current_sample(&caller_person()).await.unwrap(), None);
    let newer = sample("samples/+14155550123/b.wav", "v2", "2026-11-20T10:00:00.000Z");
    let older = sample("samples/+14155550123/a.wav", "v1", "2026-11-20T09:00:00.000Z");
    assert_eq!(db.record_sample(&newer).await.unwrap(), SampleWrite::Newest);
    assert_eq!(db.record_sample(&older).await.unwrap(), SampleWrite::Superseded);
    assert_eq!(db.current_sample(&caller_person()).await.unwrap(), Some(newer.clone()));
    // The same upload delivered again is still the newest: its run must be able to start.
    assert_eq!(db.record_sample(&newer).await.unwrap(), SampleWrite::Newest);
    let newest = sample("samples/+14155550123/c.wav", "v3", "2026-11-21T08:00:00.000Z");
    assert_eq!(db.record_sample(&newest).await.unwrap(), SampleWrite::Newest);
    assert_eq!(db.current_sample(&caller_person()).await.unwrap(), Some(newest));
}

#[tokio::test]
async fn a_pack_is_kept_with_the_current_sample_only() {
    let moto = MotoServer::start();
    let db = table(&moto).await;
    let current = sample("samples/+14155550123/b.wav", "v2", "2026-11-20T10:00:00.000Z");
    assert!(
        !db.record_pack(&caller_person(), &current.sample, &pack(BUCKET, "r0")).await.unwrap(),
        "no sample on record"
    );
    db.record_sample(&current).await.unwrap();
    let older = BlobRef::new("echome-recordings", "samples/+14155550123/a.wav");
    assert!(
        !db.record_pack(&caller_person(), &older, &pack(BUCKET, "r-old")).await.unwrap(),
        "not the current sample"
    );
    assert_eq!(db.current_sample(&caller_person()).await.unwrap().unwrap().pack, None);
    assert!(db.record_pack(&caller_person(), &current.sample, &pack(BUCKET, "r1")).await.unwrap());
    let read = db.current_sample(&caller_person()).await.unwrap().unwrap();
    assert_eq!((read.sample, read.pack), (current.sample.clone(), Some(pack(BUCKET, "r1"))));
    // A newer upload starts without a pack.
    let newer = sample("samples/+14155550123/c.wav", "v3", "2026-11-21T10:00:00.000Z");
    db.record_sample(&newer).await.unwrap();
    assert_eq!(db.current_sample(&caller_person()).await.unwrap().unwrap().pack, None);
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

    let later = RunRecord::started(
        RunId::parse("run-later").unwrap(),
        caller(),
        BlobRef::new("b", "samples/z.wav"),
        started + Duration::minutes(5),
    );
    db.create_run(&later).await.unwrap();
    assert_eq!(db.latest_run(&caller_person()).await.unwrap(), Some(later));
    let stranger = CallerId::parse("+442071838750").unwrap();
    assert_eq!(db.latest_run(&echome_core::Person::from(&stranger)).await.unwrap(), None);
}

#[tokio::test]
async fn calls_are_recorded_once_listed_by_caller_and_never_lose_a_racing_write() {
    let moto = MotoServer::start();
    let db = table(&moto).await;
    let call = |id: &str, who: &CallerId, at: &str| {
        CallRecord::new(CallId::parse(id).unwrap(), who.clone(), "+18005550199".into(), t(at))
    };
    let other = CallerId::parse("+442071838750").unwrap();
    let first = call("c1", &caller(), "2026-11-20T09:00:00.000Z");
    assert_eq!(db.claim_call(&first).await.unwrap(), CallClaim::New(first.clone()));
    let retried = call("c1", &caller(), "2026-11-20T09:00:05.000Z");
    assert_eq!(
        db.claim_call(&retried).await.unwrap(),
        CallClaim::Existing(first.clone()),
        "a retried webhook gets the first record"
    );
    for (id, who, at) in [
        ("c2", caller(), "2026-11-20T12:00:00.000Z"),
        ("c3", caller(), "2026-11-21T09:00:00.000Z"),
        ("c4", other.clone(), "2026-11-20T11:00:00.000Z"),
    ] {
        db.claim_call(&call(id, &who, at)).await.unwrap();
    }
    let ids = |p: &CallPage| p.calls.iter().map(|c| c.call_id.to_string()).collect::<Vec<_>>();
    let page = db.calls_of(&caller(), 2, None).await.unwrap();
    assert_eq!(ids(&page), ["c3", "c2"], "newest first");
    let rest = db.calls_of(&caller(), 2, page.next.as_deref()).await.unwrap();
    assert_eq!((ids(&rest), rest.next), (vec!["c1".to_owned()], None));
    assert_eq!(ids(&db.calls_of(&other, 10, None).await.unwrap()), ["c4"]);

    // CallEnded and the hand-over read the same version; the second write must not win.
    let ended = CallRecord { status: CallStatus::Ended, ..first.clone() };
    let handed_over = CallRecord { status: CallStatus::Agent, ..first.clone() };
    assert!(db.save_call(&ended).await.unwrap());
    assert!(!db.save_call(&handed_over).await.unwrap());
    let updated = update_call(&db, &first.call_id, |c| {
        c.note = Some("rung after the end".into());
        true
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!((updated.status, updated.version), (CallStatus::Ended, 2));
    assert_eq!(db.call(&first.call_id).await.unwrap(), Some(updated));
}

#[tokio::test]
async fn call_events_are_kept_per_call_and_per_day() {
    let moto = MotoServer::start();
    let db = table(&moto).await;
    let c1 = CallId::parse("c1").unwrap();
    let at = t("2026-11-20T23:59:59.500Z");
    for kind in [CallEventKind::Incoming, CallEventKind::Incoming, CallEventKind::CloneReady] {
        db.log_event(&CallEventRecord::new(kind, Some(&c1), at)).await.unwrap();
    }
    let rejected = CallEventRecord::new(CallEventKind::WebhookRejected, None, t("2026-11-21T00:00:01.000Z"))
        .detail("3cx-call bad_signature");
    db.log_event(&rejected).await.unwrap();
    let mine = db.call_events(&c1).await.unwrap();
    assert_eq!(mine.len(), 3, "events at the same instant are all kept");
    let both_days =
        db.events_between(t("2026-11-20T00:00:00.000Z"), t("2026-11-22T00:00:00.000Z")).await.unwrap();
    assert_eq!(both_days.len(), 4);
    assert!(both_days.contains(&rejected));
    let first_day =
        db.events_between(t("2026-11-20T00:00:00.000Z"), t("2026-11-21T00:00:00.000Z")).await.unwrap();
    assert_eq!(first_day.len(), 3);
    let just_now = CallEventRecord::new(CallEventKind::Ended, Some(&c1), t("2026-11-21T08:00:00.142100Z"));
    db.log_event(&just_now).await.unwrap();
    let upto = |to: &str| db.events_between(t("2026-11-21T07:00:00.000Z"), t(to));
    assert_eq!(upto("2026-11-21T08:00:00.142900Z").await.unwrap(), [just_now], "same millisecond as `to`");
    assert!(upto("2026-11-21T08:00:00.142100Z").await.unwrap().is_empty(), "`to` is excluded");
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
        person: echome_core::Person::from(CallerId::parse(caller).unwrap()),
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
    assert_eq!(db.clone_of(&a.person).await.unwrap(), Some(a.clone()));
    let ttl = Duration::hours(24);
    assert!(db.touch_clone(&a.person, &a.voice_id, t("2026-11-20T11:00:00.000Z"), ttl).await.unwrap());
    let listed: Vec<_> = db.clones().await.unwrap().into_iter().map(|c| c.voice_id.to_string()).collect();
    assert_eq!(listed, ["voiceB", "voiceA"], "least recently used first");
    let a2 = db.clone_of(&a.person).await.unwrap().unwrap();
    assert_eq!((a2.reuse_count, a2.last_used_at), (1, t("2026-11-20T11:00:00.000Z")));
    let stranger = CallerId::parse("+14155550009").unwrap();
    assert!(
        !db.touch_clone(
            &echome_core::Person::from(&stranger),
            &a.voice_id,
            t("2026-11-20T11:00:00.000Z"),
            ttl
        )
        .await
        .unwrap()
    );
    assert_eq!(
        db.clone_of(&echome_core::Person::from(&stranger)).await.unwrap(),
        None,
        "a use of nothing creates nothing"
    );

    let log = CloneLogRecord {
        run_id: RunId::parse("run-1").unwrap(),
        person: a.person.clone(),
        engine: "elevenlabs".into(),
        voice_id: Some(a.voice_id.clone()),
        status: "created".into(),
        latency_ms: 1234,
        bytes_uploaded: 8_000_000,
        error: None,
        at: t("2026-11-20T09:00:00.000Z"),
        speaker_check: None,
        note: None,
    };
    db.log_clone(&log).await.unwrap();
    let later = CloneLogRecord { status: "reused".into(), at: t("2026-11-20T10:00:00.000Z"), ..log.clone() };
    db.log_clone(&later).await.unwrap();
    assert_eq!(
        db.clone_log(&log.run_id).await.unwrap(),
        [log.clone(), later],
        "a run's attempts, oldest first"
    );
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

#[tokio::test]
async fn a_use_never_brings_an_evicted_or_replaced_voice_back_and_extends_the_clones_life() {
    use echome_core::{CloneCache, CloneRecord, CloneStatus, VoiceId};
    let moto = MotoServer::start();
    let db = table(&moto).await;
    let made = t("2026-11-20T09:00:00.000Z");
    let ttl = Duration::hours(24);
    let entry = CloneRecord {
        person: caller_person(),
        voice_id: VoiceId::parse("voiceOld").unwrap(),
        engine: "elevenlabs".into(),
        pack_digest: "abc".into(),
        run_id: RunId::parse("run-1").unwrap(),
        created_at: made,
        last_used_at: made,
        reuse_count: 0,
        status: CloneStatus::Active,
        expires_at: (made + ttl).timestamp(),
    };
    db.put_clone(&entry).await.unwrap();

    // A frequent caller: every use pushes the end of the clone's life out.
    let used = t("2026-11-20T20:00:00.000Z");
    assert!(db.touch_clone(&caller_person(), &entry.voice_id, used, ttl).await.unwrap());
    assert!(db.touch_clone(&caller_person(), &entry.voice_id, used, Duration::hours(1)).await.unwrap());
    let got = db.clone_of(&caller_person()).await.unwrap().unwrap();
    assert_eq!((got.reuse_count, got.last_used_at), (2, used));
    assert_eq!(got.expires_at, (used + ttl).timestamp(), "extended, and never shortened");
    assert!(got.is_fresh(made + Duration::hours(30)), "fresh past the first day");
    let item = db
        .client()
        .get_item()
        .table_name("echome")
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("CALLER#+14155550123".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("CLONE".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["gsi1sk"].as_s().unwrap(),
        "2026-11-20T20:00:00.000Z#+14155550123",
        "the LRU order moves"
    );
    let kept: i64 = item[echome_aws::dynamo::TTL_ATTRIBUTE].as_n().unwrap().parse().unwrap();
    assert_eq!(kept, (used + ttl).timestamp() + 7 * 24 * 3600, "the table's TTL moves with it");

    // Evicted to free a slot while a call was being answered: the late use changes nothing.
    let evicted = CloneRecord { status: CloneStatus::Evicted, ..got.clone() };
    db.put_clone(&evicted).await.unwrap();
    assert!(
        !db.touch_clone(&caller_person(), &entry.voice_id, used + Duration::minutes(1), ttl).await.unwrap()
    );
    assert_eq!(db.clone_of(&caller_person()).await.unwrap(), Some(evicted.clone()));

    // Replaced by a newer voice: a use of the old one does not count on the new one.
    let replaced = CloneRecord {
        voice_id: VoiceId::parse("voiceNew").unwrap(),
        status: CloneStatus::Active,
        reuse_count: 0,
        ..evicted
    };
    db.put_clone(&replaced).await.unwrap();
    assert!(
        !db.touch_clone(&caller_person(), &entry.voice_id, used + Duration::minutes(2), ttl).await.unwrap()
    );
    assert_eq!(db.clone_of(&caller_person()).await.unwrap(), Some(replaced.clone()));
    assert!(
        db.touch_clone(&caller_person(), &replaced.voice_id, used + Duration::minutes(3), ttl).await.unwrap()
    );
    assert_eq!(db.clone_of(&caller_person()).await.unwrap().unwrap().reuse_count, 1);
}

/// Records of a caller written now are still read by code from before named people (a
/// rollback): their JSON and attributes name the caller as `caller_id` too. And records written
/// before (with `caller_id` only) read now. A named person's records live under `NAMED#`.
#[tokio::test]
async fn a_caller_s_records_read_across_the_named_people_change_both_ways() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    use echome_core::{CloneCache, Person};
    let moto = MotoServer::start();
    let db = table(&moto).await;
    let at = t("2026-11-20T09:00:00.000Z");
    let raw = |pk: String, sk: &'static str| {
        let client = db.client().clone();
        async move {
            let got = client.get_item().table_name("echome").key("pk", A::S(pk)).key("sk", A::S(sk.into()));
            got.send().await.unwrap().item.expect("the item")
        }
    };
    let entry = echome_testkit::fixtures::clone_entry("+14155550123", "voiceNow", at);
    db.put_clone(&entry).await.unwrap();
    let item = raw("CALLER#+14155550123".into(), "CLONE").await;
    /// The clone entry as code from before named people reads it: `caller_id` is required.
    #[derive(serde::Deserialize)]
    struct Before {
        caller_id: String,
        voice_id: String,
    }
    let before: Before = serde_json::from_str(item["record"].as_s().unwrap()).expect("old code reads it");
    assert_eq!((before.caller_id.as_str(), before.voice_id.as_str()), ("+14155550123", "voiceNow"));
    assert_eq!(db.clone_of(&Person::from(caller())).await.unwrap().unwrap(), entry, "and new code too");
    let run = RunRecord::started(
        RunId::parse("run-both").unwrap(),
        caller(),
        BlobRef::new(BUCKET, "samples/+14155550123/a.wav"),
        at,
    );
    db.create_run(&run).await.unwrap();
    let item = raw("RUN#run-both".into(), "RUN").await;
    assert_eq!(item["caller_id"].as_s().unwrap(), "+14155550123", "the attribute old code reads");
    db.record_sample(&sample("samples/+14155550123/a.wav", "v1", "2026-11-20T09:00:00.000Z")).await.unwrap();
    let item = raw("CALLER#+14155550123".into(), "SAMPLE").await;
    assert_eq!(item["caller_id"].as_s().unwrap(), "+14155550123");

    // Written before: `caller_id` only, in the JSON and the attributes.
    let mut old: serde_json::Value = serde_json::to_value(&entry).unwrap();
    let o = old.as_object_mut().unwrap();
    let who = o.remove("person").unwrap();
    o.insert("caller_id".into(), who);
    let mut item = raw("CALLER#+14155550123".into(), "CLONE").await;
    item.insert("record".into(), A::S(old.to_string()));
    db.client().put_item().table_name("echome").set_item(Some(item)).send().await.unwrap();
    assert_eq!(db.clone_of(&Person::from(caller())).await.unwrap().unwrap(), entry);
    let mut item = raw("RUN#run-both".into(), "RUN").await;
    item.remove("person");
    db.client().put_item().table_name("echome").set_item(Some(item)).send().await.unwrap();
    assert_eq!(db.run(&run.run_id).await.unwrap().unwrap().person, Person::from(caller()));

    // A named person's: apart from callers, with no caller_id anywhere.
    let anna = Person::parse("emp-42").unwrap();
    let hers = echome_core::CloneRecord {
        person: anna.clone(),
        ..echome_testkit::fixtures::clone_entry("emp-42", "voiceAnna", at)
    };
    db.put_clone(&hers).await.unwrap();
    let item = raw("NAMED#emp-42".into(), "CLONE").await;
    assert!(!item["record"].as_s().unwrap().contains("caller_id"));
    assert_eq!(db.clone_of(&anna).await.unwrap().unwrap(), hers);
}
