//! The same rules asked of both record stores: DynamoDB (moto, through the real SDK) and the
//! local database `echome serve` uses. A port's promise holds whichever adapter serves it.

use chrono::{DateTime, Duration, Utc};
use echome_aws::DynamoRecords;
use echome_core::People;
use echome_core::library::{ActiveVoice, AuditAction, AuditEvent, Person, VoiceLibrary, VoiceModel};
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

/// The caller as the voice records name them.
fn caller_person() -> echome_core::Person {
    echome_core::Person::from(caller())
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
    assert!(!store.set_quality(&caller_person(), &q).await.unwrap(), "no entry, nothing to score");
    store.put_clone(&entry("voiceA", at)).await.unwrap();
    assert_eq!(store.quality_of(&caller_person(), &a).await.unwrap(), None);
    assert!(store.set_quality(&caller_person(), &q).await.unwrap());
    assert_eq!(store.quality_of(&caller_person(), &a).await.unwrap(), Some(q.clone()));
    assert!(
        store.touch_clone(&caller_person(), &a, at + Duration::hours(1), Duration::hours(24)).await.unwrap()
    );
    assert_eq!(
        store.quality_of(&caller_person(), &a).await.unwrap(),
        Some(q.clone()),
        "a use keeps the score"
    );
    let other = VoiceId::parse("voiceB").unwrap();
    assert_eq!(store.quality_of(&caller_person(), &other).await.unwrap(), None, "asked for another voice");

    store.put_clone(&entry("voiceB", at + Duration::hours(2))).await.unwrap();
    assert_eq!(store.quality_of(&caller_person(), &a).await.unwrap(), None, "the voice was replaced");
    assert_eq!(
        store.quality_of(&caller_person(), &other).await.unwrap(),
        None,
        "the new voice is not scored yet"
    );
    assert!(
        !store.set_quality(&caller_person(), &q).await.unwrap(),
        "an old voice's score never lands on a new one"
    );
    assert!(store.set_quality(&caller_person(), &score("voiceB")).await.unwrap());
}

/// An eviction lands only on the voice it names: a voice made since is never marked in its place.
async fn eviction_names_its_voice<S: CloneCache>(store: &S) {
    let at = t("2026-11-21T09:00:00.000Z");
    let (old, new) = (VoiceId::parse("voiceOld").unwrap(), VoiceId::parse("voiceNew").unwrap());
    let other = CallerId::parse("+14155550199").unwrap();
    assert!(
        !store.evict_clone(&echome_core::Person::from(&other), &old).await.unwrap(),
        "no entry, nothing written"
    );
    assert_eq!(store.clone_of(&echome_core::Person::from(&other)).await.unwrap(), None);
    store
        .put_clone(&CloneRecord { person: echome_core::Person::from(other.clone()), ..entry("voiceOld", at) })
        .await
        .unwrap();
    store
        .put_clone(&CloneRecord { person: echome_core::Person::from(other.clone()), ..entry("voiceNew", at) })
        .await
        .unwrap();
    assert!(
        !store.evict_clone(&echome_core::Person::from(&other), &old).await.unwrap(),
        "the entry holds a newer voice"
    );
    assert_eq!(
        store.clone_of(&echome_core::Person::from(&other)).await.unwrap().unwrap().status,
        CloneStatus::Active
    );
    assert!(store.evict_clone(&echome_core::Person::from(&other), &new).await.unwrap());
    let gone = store.clone_of(&echome_core::Person::from(&other)).await.unwrap().unwrap();
    assert_eq!((gone.voice_id, gone.status), (new.clone(), CloneStatus::Evicted));
    assert!(
        !store
            .touch_clone(
                &echome_core::Person::from(&other),
                &new,
                at + Duration::hours(1),
                Duration::hours(24)
            )
            .await
            .unwrap(),
        "an evicted voice is never used again"
    );
}

/// The caller's reference voice: one per caller, the last one put.
async fn one_reference_voice_per_caller<S: ReferenceVoices>(store: &S) {
    assert_eq!(store.reference_voice(&caller_person()).await.unwrap(), None);
    let first = ReferenceVoice {
        person: caller_person(),
        voiceprint: Voiceprint { model: "ge2e".into(), embedding: vec![0.6, 0.8] },
        report: echome_core::BlobRef::new("b", "runs/run-1/report.json"),
        run_id: RunId::parse("run-1").unwrap(),
        recorded_at: t("2026-11-20T09:00:00.000Z"),
        accepted_by: None,
    };
    store.put_reference_voice(&first).await.unwrap();
    assert_eq!(store.reference_voice(&caller_person()).await.unwrap(), Some(first.clone()));
    let accepted = ReferenceVoice { accepted_by: Some("olga".into()), ..first };
    store.put_reference_voice(&accepted).await.unwrap();
    assert_eq!(store.reference_voice(&caller_person()).await.unwrap(), Some(accepted));
}

fn model(run: &str, person: &str, voice: &str, at: DateTime<Utc>) -> VoiceModel {
    echome_testkit::fixtures::voice_model(run, person, "alice", voice, Some(0.7), at)
}

fn pointer(m: &VoiceModel) -> ActiveVoice {
    ActiveVoice {
        person: m.person.clone(),
        model_id: m.id.clone(),
        voice_id: m.provider_voice_id.clone().unwrap(),
        provider: m.provider.clone(),
        by_hand: true,
        by: "alice".into(),
        since: m.created_at,
    }
}

/// Models: made once, saved only over the version read, listed by person and a page at a
/// time in time order; audit events kept in order.
async fn models_are_written_once_and_saved_over_what_was_read<S: VoiceLibrary>(store: &S) {
    let at = t("2026-11-20T09:00:00.000Z");
    let a = model("run-a", "emp-1", "voiceA", at);
    assert!(store.create_model(&a).await.unwrap());
    assert!(!store.create_model(&a).await.unwrap(), "a retried run makes no second model");
    let stored = store.model(&a.id).await.unwrap().unwrap();
    assert_eq!(stored, VoiceModel { version: 1, ..a.clone() });
    let renamed = VoiceModel { name: Some("Front desk".into()), ..stored.clone() };
    assert!(store.save_model(&renamed).await.unwrap());
    assert!(!store.save_model(&stored).await.unwrap(), "a save over a stale read is refused");
    assert_eq!(store.model(&a.id).await.unwrap().unwrap().name.as_deref(), Some("Front desk"));
    assert_eq!(store.model(&a.id).await.unwrap().unwrap().version, 2);

    for (i, person) in ["emp-2", "emp-1", "+14155550123", "emp-1"].iter().enumerate() {
        let m =
            model(&format!("run-{i}"), person, &format!("voice{i}"), at + Duration::minutes(i as i64 + 1));
        assert!(store.create_model(&m).await.unwrap());
    }
    let ids = |ms: &[VoiceModel]| ms.iter().map(|m| m.id.to_string()).collect::<Vec<_>>();
    let emp1 = Person::parse("emp-1").unwrap();
    assert_eq!(ids(&store.models_of(&emp1).await.unwrap()), ["vm-run-a", "vm-run-1", "vm-run-3"]);
    let caller_models = store.models_of(&Person::Caller(caller())).await.unwrap();
    assert_eq!(ids(&caller_models), ["vm-run-2"]);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.models(2, after.as_deref()).await.unwrap();
        assert!(page.models.len() <= 2);
        seen.extend(ids(&page.models));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["vm-run-a", "vm-run-0", "vm-run-1", "vm-run-2", "vm-run-3"]);

    for (i, action) in
        [AuditAction::Create, AuditAction::Activate, AuditAction::Share].into_iter().enumerate()
    {
        let event = AuditEvent {
            at: at + Duration::seconds(i as i64 / 2),
            actor: "alice".into(),
            action,
            model_id: a.id.clone(),
            person: a.person.clone(),
            detail: serde_json::json!({ "n": i }),
        };
        store.record_audit(&event).await.unwrap();
    }
    let trail: Vec<_> = store.audit_of(&a.id).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(trail, [AuditAction::Create, AuditAction::Activate, AuditAction::Share]);
}

/// One active model per person: an activation lands only over the model it expected, so
/// racing activations leave exactly one winner.
async fn one_active_model_per_person<S: VoiceLibrary>(store: &S) {
    let at = t("2026-11-22T09:00:00.000Z");
    let person = Person::parse("emp-9").unwrap();
    let models: Vec<_> =
        (0..6).map(|i| model(&format!("race-{i}"), "emp-9", &format!("voiceR{i}"), at)).collect();
    assert_eq!(store.active_voice(&person).await.unwrap(), None);
    assert!(store.set_active(&person, Some(&pointer(&models[0])), None).await.unwrap());
    assert!(!store.set_active(&person, Some(&pointer(&models[1])), None).await.unwrap(), "one is active");
    let (p, first) = (&person, Some(&models[0].id));
    let ps: Vec<_> = models.iter().map(pointer).collect();
    let won = tokio::join!(
        store.set_active(p, Some(&ps[1]), first),
        store.set_active(p, Some(&ps[2]), first),
        store.set_active(p, Some(&ps[3]), first),
        store.set_active(p, Some(&ps[4]), first),
        store.set_active(p, Some(&ps[5]), first),
    );
    let won = [won.0, won.1, won.2, won.3, won.4];
    let winners: Vec<_> = won.iter().enumerate().filter(|(_, w)| *w.as_ref().unwrap()).collect();
    assert_eq!(winners.len(), 1, "racing activations: {won:?}");
    let active = store.active_voice(&person).await.unwrap().unwrap();
    assert_eq!(active.model_id, models[winners[0].0 + 1].id);
    assert!(!store.set_active(&person, None, Some(&models[0].id)).await.unwrap(), "not the active one");
    assert!(store.set_active(&person, None, Some(&active.model_id)).await.unwrap());
    assert_eq!(store.active_voice(&person).await.unwrap(), None);
}

/// A named person is created once; consent is per person (a caller's too), kept as last saved.
async fn people_and_their_consent<S: People>(store: &S) {
    use echome_core::people::{
        ConsentMethod, ConsentRecord, ConsentScope, Evidence, PersonKind, PersonRecord,
    };
    let at = t("2026-11-20T09:00:00Z");
    let anna = Person::parse("emp-42").unwrap();
    let rec = PersonRecord::new(anna.clone(), "Anna Berg", PersonKind::Employee, "alice", at).unwrap();
    assert!(store.create_person(&rec).await.unwrap());
    let other = PersonRecord { display_name: "Someone Else".into(), ..rec.clone() };
    assert!(!store.create_person(&other).await.unwrap(), "an id on record is not taken over");
    assert_eq!(store.person(&anna).await.unwrap(), Some(rec));
    assert_eq!(store.person(&Person::parse("emp-43").unwrap()).await.unwrap(), None);

    let caller = Person::Caller(caller());
    assert_eq!(store.consent(&caller).await.unwrap(), None);
    let scopes = ConsentScope::parse_list(["clone"]).unwrap();
    let evidence = Some(Evidence::parse("consent/+14155550123.pdf").unwrap());
    let mut c = ConsentRecord::grant(
        caller.clone(),
        "the caller",
        ConsentMethod::Written,
        scopes,
        evidence,
        "alice",
        at,
    )
    .unwrap();
    store.save_consent(&c).await.unwrap();
    assert_eq!(store.consent(&caller).await.unwrap().as_ref(), Some(&c));
    assert_eq!(store.consent(&anna).await.unwrap(), None, "consent is the person's own");
    c.revoked_at = Some(at + Duration::days(1));
    c.revoked_by = Some("bob".into());
    store.save_consent(&c).await.unwrap();
    assert_eq!(store.consent(&caller).await.unwrap(), Some(c));
}

/// Erasing a person's records takes every one of them, and nobody else's.
async fn erasing_a_person_takes_all_their_records_and_only_theirs<S>(store: &S)
where
    S: People
        + VoiceLibrary
        + CloneCache
        + ReferenceVoices
        + echome_core::RunLog
        + echome_core::CallLog
        + echome_core::SampleLog,
{
    use echome_core::{BlobRef, CallEventKind, CallEventRecord, CallId, CallRecord, RunRecord, SampleRecord};
    let at = t("2026-11-21T09:00:00.000Z");
    let mine = CallerId::parse("+14155550177").unwrap();
    let theirs = CallerId::parse("+14155550188").unwrap();
    for (c, tag) in [(&mine, "m"), (&theirs, "t")] {
        let p = Person::Caller(c.clone());
        let sample = BlobRef::new("b", format!("samples/{}/call.mp3", c.as_str()));
        store
            .record_sample(&SampleRecord {
                person: echome_core::Person::from(c.clone()),
                sample: sample.clone(),
                version: "v1".into(),
                uploaded_at: at,
                size: 1,
                pack: None,
            })
            .await
            .unwrap();
        store
            .put_clone(&echome_testkit::fixtures::clone_entry(c.as_str(), &format!("voice{tag}"), at))
            .await
            .unwrap();
        let run = RunRecord::started(RunId::parse(&format!("run-{tag}")).unwrap(), c.clone(), sample, at);
        store.create_run(&run).await.unwrap();
        let call = CallRecord::new(
            CallId::parse(&format!("call-{tag}")).unwrap(),
            c.clone(),
            "+18005550199".into(),
            at,
        );
        store.claim_call(&call).await.unwrap();
        store
            .log_event(&CallEventRecord::new(CallEventKind::Incoming, Some(&call.call_id), at))
            .await
            .unwrap();
        let m = model(&format!("run-{tag}"), p.as_key(), &format!("voice{tag}"), at);
        assert!(store.create_model(&m).await.unwrap());
        assert!(store.set_active(&p, Some(&pointer(&m)), None).await.unwrap());
        store
            .record_audit(&AuditEvent {
                at,
                actor: "alice".into(),
                action: AuditAction::Create,
                model_id: m.id.clone(),
                person: p.clone(),
                detail: serde_json::json!({}),
            })
            .await
            .unwrap();
    }
    let me = Person::Caller(mine.clone());
    let counts = store.erase_records(&me).await.unwrap();
    for (kind, n) in [
        ("sample_records", 1),
        ("clone_entries", 1),
        ("runs", 1),
        ("calls", 1),
        ("call_events", 1),
        ("voice_models", 1),
        ("audit_events", 1),
        ("active_voices", 1),
    ] {
        assert_eq!(counts.get(kind).copied(), Some(n), "{kind}: {counts:?}");
    }
    assert_eq!(store.current_sample(&echome_core::Person::from(&mine)).await.unwrap(), None);
    assert_eq!(store.clone_of(&echome_core::Person::from(&mine)).await.unwrap(), None);
    assert_eq!(store.run(&RunId::parse("run-m").unwrap()).await.unwrap(), None);
    assert_eq!(store.call(&CallId::parse("call-m").unwrap()).await.unwrap(), None);
    assert!(store.models_of(&me).await.unwrap().is_empty());
    assert_eq!(store.active_voice(&me).await.unwrap(), None);
    assert_eq!(store.calls_of(&mine, 10, None).await.unwrap().calls.len(), 0);
    // Someone else's are all there.
    let them = Person::Caller(theirs.clone());
    assert!(store.current_sample(&echome_core::Person::from(&theirs)).await.unwrap().is_some());
    assert!(store.clone_of(&echome_core::Person::from(&theirs)).await.unwrap().is_some());
    assert!(store.run(&RunId::parse("run-t").unwrap()).await.unwrap().is_some());
    assert_eq!(store.call_events(&CallId::parse("call-t").unwrap()).await.unwrap().len(), 1);
    assert_eq!(store.models_of(&them).await.unwrap().len(), 1);
    assert!(store.active_voice(&them).await.unwrap().is_some());
    assert!(store.erase_records(&me).await.unwrap().values().all(|n| *n == 0), "again: nothing left");
}

#[tokio::test]
async fn dynamodb_keeps_the_ports_promises() {
    let moto = MotoServer::start();
    let db = DynamoRecords::new(&echome_aws::config::for_endpoint(&moto.endpoint()), "echome");
    db.create_table().await.expect("creating the table");
    quality_follows_the_voice(&db).await;
    eviction_names_its_voice(&db).await;
    one_reference_voice_per_caller(&db).await;
    models_are_written_once_and_saved_over_what_was_read(&db).await;
    one_active_model_per_person(&db).await;
    people_and_their_consent(&db).await;
    erasing_a_person_takes_all_their_records_and_only_theirs(&db).await;
}

#[tokio::test]
async fn the_local_records_keep_the_ports_promises() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    quality_follows_the_voice(&local).await;
    eviction_names_its_voice(&local).await;
    one_reference_voice_per_caller(&local).await;
    models_are_written_once_and_saved_over_what_was_read(&local).await;
    one_active_model_per_person(&local).await;
    people_and_their_consent(&local).await;
    erasing_a_person_takes_all_their_records_and_only_theirs(&local).await;
}
