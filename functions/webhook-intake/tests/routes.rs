//! webhook-intake on the events/ fixtures and on requests built like them, over the local
//! adapters (embedded database, folder blobs); the agent and the run starter are in-memory
//! fakes of their ports that record what they were asked.

mod common;

use common::*;

#[tokio::test]
async fn every_fixture_gets_the_status_a_user_expects() {
    for name in echome_testkit::events::names("webhook-intake") {
        let w = world().with_sample().await;
        // The call the later events are about, and a cached clone for the initiation.
        if name != "incoming-call" {
            w.send(fixture("incoming-call")).await;
        }
        let w = w.with_clone().await;
        let (status, body) = w.send(fixture(&name)).await;
        let expected = match name.as_str() {
            "incoming-call" | "call-state-changed" | "call-ended" | "post-call" => 200,
            "incoming-call-3cx-design" => 200,
            "post-call-unknown-conversation" | "conversation-initiation" => 200,
            "bad-caller-id" => 400,
            "bad-signature" | "stale-timestamp" | "post-call-bad-signature" => 401,
            "conversation-initiation-no-secret" => 401,
            other => panic!("no expectation for events/webhook-intake/{other}.json"),
        };
        assert_eq!(status, expected, "{name}: {body}");
        if status >= 400 {
            assert!(
                body["error"]["code"].is_string() && body["error"]["message"].is_string(),
                "{name}: {body}"
            );
        }
        let text = body.to_string();
        assert!(!text.contains("panicked") && !text.contains(INITIATION), "{name}: {text}");
    }
}

#[tokio::test]
async fn a_cached_clone_answers_with_the_agent_in_the_cloned_voice() {
    let w = world().with_sample().await.with_clone().await;
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "cached");
    assert_eq!(
        (body["voice_id"].clone(), body["agent_call_id"].clone()),
        (json!("clonedVoice"), json!("conv_1"))
    );
    let rung = w.rung();
    assert_eq!(rung.len(), 1);
    assert_eq!(rung[0].voice_id.as_ref().map(VoiceId::as_str), Some("clonedVoice"));
    assert_eq!(rung[0].to.as_str(), CALLER);
    assert_eq!(rung[0].variables["threecx_call_id"], "3cx-8812");
    assert!(w.runs().is_empty(), "nothing to clone");
    let clone = w.intake.records.clone_of(&echome_core::Person::from(&caller())).await.unwrap().unwrap();
    assert_eq!(clone.reuse_count, 1, "the reuse is counted");
}

#[tokio::test]
async fn a_caller_with_a_sample_hears_the_greeting_while_the_clone_run_starts() {
    let w = world().with_sample().await;
    let before = Utc::now();
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["path"].clone(), body["greeting_call_id"].clone()), (json!("cloning"), json!("conv_1")));
    let rung = w.rung();
    assert_eq!(rung[0].voice_id.as_ref().map(VoiceId::as_str), Some("greetingVoice"));
    assert_eq!(rung[0].variables["mode"], "greeting");
    assert_eq!(rung[0].variables["greeting_message"], webhook_intake::config::DEFAULT_GREETING);
    assert_eq!(rung[0].variables["greeting_music_url"], "https://cdn.example.com/hold.mp3");
    let runs = w.runs();
    assert_eq!(runs.len(), 1);
    let call = runs[0].call.as_ref().expect("the call rides along");
    assert_eq!(
        (call.threecx_call_id.as_str(), call.greeting_call_id.as_deref()),
        ("3cx-8812", Some("conv_1"))
    );
    let wait = (call.deadline - before).num_seconds();
    assert!((34..=36).contains(&wait), "deadline {wait} s after the call");
    assert_eq!(runs[0].sample.key, "samples/+14155550123/call.mp3");
    assert_eq!(runs[0].pack, None, "no pack kept: the run analyses the recording");
    assert_eq!(body["run_id"], runs[0].run_id.as_str());
    let rec = w.intake.records.call(&CallId::parse("3cx-8812").unwrap()).await.unwrap().unwrap();
    assert_eq!((rec.status, rec.path), (CallStatus::Greeting, Some(CallPath::Cloning)));
}

/// A returning caller whose clone gave up its slot: the run gets the pack kept with their
/// recording and does not analyse it again.
#[tokio::test]
async fn the_pack_kept_with_the_caller_s_recording_rides_along_with_the_run() {
    let w = world().with_sample().await;
    let sample = BlobRef::new("recordings", "samples/+14155550123/call.mp3");
    let pack = echome_testkit::fixtures::pack("recordings", "upload-run");
    assert!(
        w.intake.records.record_pack(&echome_core::Person::from(&caller()), &sample, &pack).await.unwrap()
    );
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((status, body["path"].clone()), (200, json!("cloning")), "{body}");
    let runs = w.runs();
    assert_eq!((runs.len(), runs[0].pack.as_ref()), (1, Some(&pack)));
}

/// The caller's recording was analysed and holds too little speech: analysing it again on the
/// call would only keep them on the greeting until the default voice. They get it at once.
#[tokio::test]
async fn a_caller_whose_recording_holds_too_little_speech_gets_the_default_voice_at_once() {
    use echome_core::{AudioError, RunLog, RunOutcome, RunRecord};
    let w = world().with_sample().await;
    let sample = BlobRef::new("recordings", "samples/+14155550123/call.mp3");
    let run = RunId::for_upload(caller(), &sample.key, "v1");
    w.intake
        .records
        .create_run(&RunRecord::started(run.clone(), caller(), sample, Utc::now()))
        .await
        .unwrap();
    let short = AudioError::TooLittleSpeech { found_s: 9.0, required_s: 30.0, speech_s: 12.0 };
    w.intake.records.finish_run(&run, &RunOutcome::Failed(short.into()), Utc::now()).await.unwrap();

    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((status, body["path"].clone()), (200, json!("no_sample")), "{body}");
    assert_eq!(w.rung()[0].voice_id.as_ref().map(VoiceId::as_str), Some("defaultVoice"));
    assert!(w.runs().is_empty(), "no run to find the same again");
    let rec = w.intake.records.call(&CallId::parse("3cx-8812").unwrap()).await.unwrap().unwrap();
    let note = rec.note.unwrap_or_default();
    // An upload is not joined to anything: someone has to give a new one.
    assert!(note.starts_with("too_little_speech: ") && note.contains("a new recording is needed"), "{note}");

    // A recording whose run failed for another reason (a provider outage) is tried again.
    let w = world().with_sample().await;
    let sample = BlobRef::new("recordings", "samples/+14155550123/call.mp3");
    w.intake
        .records
        .create_run(&RunRecord::started(run.clone(), caller(), sample, Utc::now()))
        .await
        .unwrap();
    let outage =
        echome_core::StepError::new(echome_core::ErrorType::Retryable, "provider_unavailable", "HTTP 503");
    w.intake.records.finish_run(&run, &RunOutcome::Failed(outage), Utc::now()).await.unwrap();
    let (_, body) = w.send(fixture("incoming-call")).await;
    assert_eq!(body["path"], "cloning", "{body}");
}

#[tokio::test]
async fn a_caller_who_has_not_consented_gets_the_default_voice_and_the_call_says_why() {
    use echome_core::library::Person;
    use echome_core::people::{ConsentMethod, ConsentRecord, ConsentScope, People};
    let required = Config { consent: echome_core::ConsentPolicy::Required, ..config() };
    let w = world_with(Agent::default(), required.clone()).with_sample().await;
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((status, body["path"].clone()), (200, json!("consent_missing")), "{body}");
    assert_eq!(w.rung()[0].voice_id.as_ref().map(VoiceId::as_str), Some("defaultVoice"));
    assert!(w.runs().is_empty(), "no clone run without consent");
    let rec = w.intake.records.call(&CallId::parse("3cx-8812").unwrap()).await.unwrap().unwrap();
    assert_eq!((rec.status, rec.path), (CallStatus::Agent, Some(CallPath::ConsentMissing)));
    let note = rec.note.unwrap_or_default();
    assert!(note.starts_with("consent_missing: ") && !note.contains("5550123"), "{note}");

    // With consent on record the same caller hears the greeting while they are cloned.
    let w = world_with(Agent::default(), required).with_sample().await;
    let scopes = ConsentScope::parse_list(["clone"]).unwrap();
    let consent = ConsentRecord::grant(
        Person::Caller(caller()),
        "the caller",
        ConsentMethod::Ivr,
        scopes,
        None,
        "ops",
        Utc::now(),
    )
    .unwrap();
    w.intake.records.save_consent(&consent).await.unwrap();
    let (_, body) = w.send(fixture("incoming-call")).await;
    assert_eq!(body["path"], "cloning", "{body}");
    assert_eq!(w.runs().len(), 1);
}

#[tokio::test]
async fn a_caller_without_a_sample_gets_the_default_voice() {
    let w = world();
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((status, body["path"].clone()), (200, json!("no_sample")));
    assert_eq!(w.rung()[0].voice_id.as_ref().map(VoiceId::as_str), Some("defaultVoice"));
    assert!(w.runs().is_empty());
}

#[tokio::test]
async fn ten_concurrent_duplicates_get_one_greeting_one_run_and_the_same_answer() {
    let w = Arc::new(world().with_sample().await);
    let req = fixture("incoming-call");
    let answers = futures_join(&w, &req, 10).await;
    assert_eq!(w.rung().len(), 1, "one greeting");
    assert_eq!(w.runs().len(), 1, "one run");
    let first = answers.iter().find(|(_, b)| b["duplicate"] == false).expect("one first answer").1.clone();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        for k in ["path", "greeting_call_id", "run_id", "call_id"] {
            assert_eq!(body[k], first[k], "{k}: {body}");
        }
    }
    assert_eq!(answers.iter().filter(|(_, b)| b["duplicate"] == true).count(), 9);
    // A retry much later gets the same answer too.
    let (_, later) = w.send(req).await;
    assert_eq!(
        (later["greeting_call_id"].clone(), later["duplicate"].clone()),
        (first["greeting_call_id"].clone(), json!(true))
    );
}

async fn futures_join(w: &Arc<World>, req: &ApiGatewayV2httpRequest, n: usize) -> Vec<(i64, Value)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (w, req) = (w.clone(), req.clone());
        tasks.push(tokio::spawn(async move { w.send(req).await }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn call_ended_and_state_changes_are_recorded_on_the_call() {
    // CallRetentionDays reaches the call's events too: they expire with the call.
    let w = world_with(Agent::default(), Config { call_retention_days: 7, ..config() }).with_sample().await;
    w.send(fixture("incoming-call")).await;
    let (status, body) = w.send(fixture("call-state-changed")).await;
    assert_eq!((status, body["known_call"].clone()), (200, json!(true)));
    let (status, _) = w.send(fixture("call-ended")).await;
    assert_eq!(status, 200);
    let id = CallId::parse("3cx-8812").unwrap();
    let rec = w.intake.records.call(&id).await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.state.as_deref(), rec.duration_s),
        (CallStatus::Ended, Some("Talking"), Some(74.5))
    );
    let events = w.intake.records.call_events(&id).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [CallEventKind::Incoming, CallEventKind::StateChanged, CallEventKind::Ended]);
    let week = |at: chrono::DateTime<chrono::Utc>| (at + chrono::Duration::days(7)).timestamp();
    assert!(events.iter().all(|e| e.expires_at == week(e.at)), "{events:?}");
    assert!((rec.expires_at - week(rec.started_at)).abs() < 60, "the call itself: {}", rec.expires_at);
    let (_, unknown) = w.send(threecx("CallEnded", "3cx-never-seen", json!({}))).await;
    assert_eq!(unknown["known_call"], false);
}

#[tokio::test]
async fn refusals_are_specific_recorded_and_nothing_unauthenticated_is_kept() {
    let mut cfg = config();
    cfg.trusted_ips = TrustedIps::parse("198.51.100.0/24").unwrap();
    let w = world_with(Agent::default(), cfg).with_sample().await;
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((status, body["error"]["code"].clone()), (403, json!("forbidden")), "source 203.0.113.10");

    let metrics = Metrics::default();
    let cfg = Config { metrics: echome_core::metrics::Sink::new(metrics.clone()), ..config() };
    let w = world_with(Agent::default(), cfg).with_sample().await;
    let (status, body) = w.send(fixture("bad-caller-id")).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("caller_id"), "{body}");
    let (status, _) = w.send(fixture("stale-timestamp")).await;
    assert_eq!(status, 401);
    let (status, body) = w.send(fixture("bad-signature")).await;
    assert_eq!((status, body["error"]["code"].clone()), (401, json!("bad_signature")));
    let big = threecx("IncomingCall", "3cx-big", json!({ "padding": "x".repeat(70_000) }));
    assert_eq!(w.send(big).await.0, 413);
    assert!(w.rung().is_empty() && w.runs().is_empty(), "nothing acted on");

    let kept = kept(&w, "webhooks/");
    assert_eq!(kept.len(), 1, "only the authenticated (malformed) event is kept: {kept:?}");
    assert!(kept[0].0.starts_with("webhooks/3cx/"), "{}", kept[0].0);
    assert_eq!(kept[0].1, fixture("bad-caller-id").body.unwrap().into_bytes(), "as received");
    let (from, to) = (Utc::now() - chrono::Duration::minutes(1), Utc::now() + chrono::Duration::seconds(1));
    let day = w.intake.records.events_between(from, to).await.unwrap();
    assert!(day.is_empty(), "refusals are metrics only; a flood of them writes nothing: {day:?}");
    let counted = metrics.0.lock().unwrap().clone();
    let rejected: Vec<_> = counted
        .iter()
        .filter(|e| e.kind == CallEventKind::WebhookRejected)
        .filter_map(|e| e.detail.clone())
        .collect();
    for want in
        ["3cx-call bad_field", "3cx-call stale_timestamp", "3cx-call bad_signature", "3cx-call too_large"]
    {
        assert!(rejected.iter().any(|r| r == want), "{want} in {rejected:?}");
    }
}

/// The deliveries kept, as `(key, body)`.
#[tokio::test]
async fn an_agent_that_hangs_is_cut_off_within_the_budget_and_the_call_recorded() {
    let mut cfg = config();
    cfg.ring_budget = std::time::Duration::from_millis(200);
    let slow = Agent { slow: Some(std::time::Duration::from_secs(30)), ..Agent::default() };
    let w = world_with(slow, cfg).with_clone().await;
    let started = std::time::Instant::now();
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!((status, body["note"].clone()), (502, json!("agent unreachable: agent_timeout")), "{body}");
    let call = w.intake.records.call(&CallId::parse("3cx-8812").unwrap()).await.unwrap().unwrap();
    assert_eq!(call.status, CallStatus::Failed, "the answer is on record, not left half-done");
}

#[tokio::test]
async fn a_claim_nobody_answered_is_answered_by_the_next_delivery_once_its_lease_is_over() {
    let w = world().with_clone().await;
    let claim = |age_s: i64| {
        echome_core::CallRecord::new(
            CallId::parse("3cx-8812").unwrap(),
            caller(),
            "+18005550199".into(),
            Utc::now() - chrono::Duration::seconds(age_s),
        )
    };
    // Claimed a moment ago: the first delivery may still be answering.
    w.intake.records.claim_call(&claim(1)).await.unwrap();
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((status, body["status"].clone()), (202, json!("processing")), "{body}");
    assert!(w.rung().is_empty());

    // Claimed long ago and never answered: its delivery is gone, this one answers.
    let w = world().with_clone().await;
    w.intake.records.claim_call(&claim(60)).await.unwrap();
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!(
        (status, body["path"].clone(), body["duplicate"].clone()),
        (200, json!("cached"), json!(false))
    );
    let (again, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((again, body["duplicate"].clone()), (200, json!(true)));
    assert_eq!(w.rung().len(), 1, "answered once");
}

#[tokio::test]
async fn an_unreachable_agent_is_a_clear_failure_and_the_duplicate_gets_it_too() {
    let w = world_with(Agent { down: true, ..Agent::default() }, config()).with_clone().await;
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((status, body["status"].clone()), (502, json!("failed")), "{body}");
    assert_eq!(body["note"], "agent unreachable: provider_unavailable");
    let (again, _) = w.send(fixture("incoming-call")).await;
    assert_eq!(again, 502);
}

#[tokio::test]
async fn post_call_keeps_the_raw_event_then_fills_in_the_call() {
    let w = world().with_sample().await;
    w.send(fixture("incoming-call")).await;
    let (status, body) = w.send(fixture("post-call")).await;
    assert_eq!((status, body["known_call"].clone()), (200, json!(true)), "{body}");
    let rec = w.intake.records.call(&CallId::parse("3cx-8812").unwrap()).await.unwrap().unwrap();
    let conv = &rec.conversations[0];
    assert_eq!((conv.conversation_id.as_str(), conv.duration_s), ("conv_01jbagent", Some(70.0)));
    assert!(conv.excerpt.starts_with("agent: Hello again"), "{}", conv.excerpt);
    let transcript = w.intake.blobs.path_of(conv.transcript.as_ref().unwrap()).unwrap();
    let turns: Value = serde_json::from_slice(&std::fs::read(transcript).unwrap()).unwrap();
    assert_eq!(turns.as_array().unwrap().len(), 2, "the whole transcript is kept");
    // The same event again (ElevenLabs retries): still one conversation on the call.
    w.send(fixture("post-call")).await;
    let rec = w.intake.records.call(&CallId::parse("3cx-8812").unwrap()).await.unwrap().unwrap();
    assert_eq!(rec.conversations.len(), 1);

    let (status, body) = w.send(fixture("post-call-unknown-conversation")).await;
    assert_eq!((status, body["known_call"].clone()), (200, json!(false)));
    assert_eq!(kept(&w, "webhooks/elevenlabs/").len(), 3, "every signed post-call event is kept raw");
    assert_eq!(w.send(fixture("post-call-bad-signature")).await.0, 401);
}

#[tokio::test]
async fn conversation_initiation_answers_with_the_cached_voice_in_one_lookup() {
    let w = world().with_clone().await;
    let (status, body) = w.send(fixture("conversation-initiation")).await;
    assert_eq!(status, 200);
    assert_eq!(body["type"], "conversation_initiation_client_data");
    assert_eq!(body["conversation_config_override"]["tts"]["voice_id"], "clonedVoice");
    assert_eq!(body["dynamic_variables"]["caller_id"], CALLER);

    let cold = world();
    let (status, body) = cold.send(fixture("conversation-initiation")).await;
    assert_eq!(status, 200);
    assert!(body.get("conversation_config_override").is_none(), "no clone, no override: {body}");
    assert!(cold.rung().is_empty() && cold.runs().is_empty(), "no cloning on this path");
    assert_eq!(cold.send(fixture("conversation-initiation-no-secret")).await.0, 401);
}

fn the_call() -> CallId {
    CallId::parse("3cx-8812").unwrap()
}

#[tokio::test]
async fn a_failed_run_start_leaves_the_call_unanswered_and_the_retry_starts_it_without_ringing_again() {
    let w = world().with_sample().await;
    w.intake.runs.1.store(1, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!(status, 503, "3CX retries a 503: {body}");
    assert_eq!(w.rung().len(), 1, "the caller hears the greeting meanwhile");
    let call = w.intake.records.call(&the_call()).await.unwrap().unwrap();
    assert!(!call.is_answered() && call.status == CallStatus::Greeting, "{call:?}");

    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((status, body["path"].clone()), (200, json!("cloning")), "{body}");
    assert_eq!(w.runs().len(), 1, "the retry started the run");
    assert_eq!(w.rung().len(), 1, "and rang nobody again");
    let run = &w.runs()[0];
    assert_eq!(run.call.as_ref().unwrap().greeting_call_id.as_deref(), Some("conv_1"));
    let (again, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((again, body["duplicate"].clone(), w.runs().len()), (200, json!(true), 1));
}

#[tokio::test]
async fn a_caller_who_hangs_up_while_the_greeting_rings_stays_ended_and_gets_no_run() {
    let slow = Agent { slow: Some(std::time::Duration::from_millis(400)), ..Agent::default() };
    let w = Arc::new(world_with(slow, config()).with_sample().await);
    let incoming = {
        let w = w.clone();
        tokio::spawn(async move { w.send(fixture("incoming-call")).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let (status, _) = w.send(threecx("CallEnded", "3cx-8812", json!({ "duration": 3 }))).await;
    assert_eq!(status, 200);
    let (status, body) = incoming.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let call = w.intake.records.call(&the_call()).await.unwrap().unwrap();
    assert_eq!(call.status, CallStatus::Ended, "the hang-up is not overwritten: {call:?}");
    assert!(w.runs().is_empty(), "no clone run rings a caller who hung up");
    assert!(call.note.unwrap().contains("hung up"));
}

#[tokio::test]
async fn a_call_ended_before_its_incoming_call_leaves_a_tombstone_and_nobody_is_rung() {
    let w = world().with_sample().await;
    let (status, body) = w.send(threecx("CallEnded", "3cx-8812", json!({}))).await;
    assert_eq!((status, body["known_call"].clone()), (200, json!(false)));
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!((status, body["status"].clone()), (200, json!("ended")), "{body}");
    assert!(w.rung().is_empty() && w.runs().is_empty());
}

#[tokio::test]
async fn a_call_id_reused_a_day_later_is_a_new_call() {
    let w = world().with_clone().await;
    let mut old = echome_core::CallRecord::new(
        the_call(),
        caller(),
        "+18005550199".into(),
        Utc::now() - chrono::Duration::days(40),
    );
    old.status = CallStatus::Ended;
    old.path = Some(CallPath::NoSample);
    w.intake.records.claim_call(&old).await.unwrap();
    let (status, body) = w.send(fixture("incoming-call")).await;
    assert_eq!(
        (status, body["path"].clone(), body["duplicate"].clone()),
        (200, json!("cached"), json!(false)),
        "{body}"
    );
    assert_eq!(w.rung().len(), 1);
}

#[tokio::test]
async fn replayed_deliveries_change_and_count_nothing_and_an_older_state_does_not_win() {
    let w = world().with_sample().await;
    w.send(fixture("incoming-call")).await;
    let ended = threecx("CallEnded", "3cx-8812", json!({ "duration": 42 }));
    for _ in 0..3 {
        assert_eq!(w.send(ended.clone()).await.0, 200);
    }
    let now = Utc::now().timestamp();
    let state =
        |s: &str, at: i64| threecx("CallStateChanged", "3cx-8812", json!({ "state": s, "timestamp": at }));
    w.send(state("Talking", now)).await;
    w.send(state("Ringing", now - 5)).await;
    w.send(state("Talking", now)).await;
    let events = w.intake.records.call_events(&the_call()).await.unwrap();
    let count = |k: CallEventKind| events.iter().filter(|e| e.kind == k).count();
    assert_eq!((count(CallEventKind::Ended), count(CallEventKind::StateChanged)), (1, 1), "{events:?}");
    let call = w.intake.records.call(&the_call()).await.unwrap().unwrap();
    assert_eq!(call.state.as_deref(), Some("Talking"));
    for _ in 0..2 {
        w.send(fixture("post-call")).await;
    }
    let events = w.intake.records.call_events(&the_call()).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == CallEventKind::PostCall).count(), 1, "{events:?}");
}

#[tokio::test]
async fn a_second_takeover_waits_for_the_first_one_s_lease() {
    let slow = Agent { slow: Some(std::time::Duration::from_millis(300)), ..Agent::default() };
    let w = Arc::new(world_with(slow, config()).with_clone().await);
    let stale = echome_core::CallRecord::new(
        the_call(),
        caller(),
        "+18005550199".into(),
        Utc::now() - chrono::Duration::seconds(60),
    );
    w.intake.records.claim_call(&stale).await.unwrap();
    // Two retries of a call whose first delivery died: one takes over, the other must not.
    let a = {
        let w = w.clone();
        tokio::spawn(async move { w.send(fixture("incoming-call")).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let b = {
        let w = w.clone();
        tokio::spawn(async move { w.send(fixture("incoming-call")).await })
    };
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(w.rung().len(), 1, "rung once: {a:?} {b:?}");
}

#[tokio::test]
async fn a_recording_offered_at_the_end_is_asked_for_once_and_its_url_is_kept_out_of_the_record() {
    let mut cfg = config();
    cfg.fetch_recordings = true;
    let w = world_with(Agent::default(), cfg).with_sample().await;
    w.send(fixture("incoming-call")).await;
    let url = "https://pbx.example.com/recordings/3cx-8812.wav?token=s3cret";
    let ended = threecx("CallEnded", "3cx-8812", json!({ "duration": 42, "recording_url": url }));
    for _ in 0..3 {
        assert_eq!(w.send(ended.clone()).await.0, 200);
    }
    let requests = w.intake.blobs.keys("recordings", "inbox/recordings/").await.unwrap();
    assert_eq!(requests, vec![format!("inbox/recordings/{CALLER}/3cx-8812.json")]);
    let body = w.intake.blobs.get_bytes(&BlobRef::new("recordings", requests[0].clone())).await.unwrap();
    let request: echome_core::recordings::RecordingRequest = serde_json::from_slice(&body).unwrap();
    assert_eq!((request.url.as_str(), request.call_id), (url, the_call()));
    let call = w.intake.records.call(&the_call()).await.unwrap().unwrap();
    let state = call.recording.as_ref().expect("the call says its recording was asked for");
    assert_eq!(state.status, echome_core::recordings::RecordingStatus::Requested);
    assert!(!serde_json::to_string(&call).unwrap().contains("s3cret"), "the URL is not on the call's record");

    // With no PBX allowed to be fetched from, nothing is asked for.
    let w = world().with_sample().await;
    w.send(fixture("incoming-call")).await;
    w.send(ended).await;
    assert!(w.intake.blobs.keys("recordings", "inbox/").await.unwrap().is_empty());
    assert!(w.intake.records.call(&the_call()).await.unwrap().unwrap().recording.is_none());
}
