//! The client against a local ElevenLabs stub (wiremock). Every request the stub receives is
//! checked against the official API description (tests/spec).

mod spec;

use std::collections::BTreeMap;
use std::time::Duration;

use echome_elevenlabs::calls::{ClientData, OutboundCall, Trunk};
use echome_elevenlabs::tts::{OutputFormat, TtsRequest, VoiceSettings};
use echome_elevenlabs::voices::{NewVoice, VoiceQuery};
use echome_elevenlabs::{ApiKey, Client, Config, ElevenLabsEngine, ElevenLabsError, Priority};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};

use echome_core::VoiceEngine;
use echome_testkit::elevenlabs::Account;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "sk_test_0123456789abcdef";

fn client(server: &MockServer) -> Client {
    let mut cfg = Config::new(ApiKey::new(KEY));
    cfg.base_url = server.uri();
    cfg.backoff = Duration::from_millis(5);
    cfg.max_backoff = Duration::from_millis(20);
    cfg.timeout = Duration::from_millis(500);
    Client::new(cfg).unwrap()
}

async fn received(server: &MockServer) -> Vec<Request> {
    let reqs = server.received_requests().await.unwrap();
    for r in &reqs {
        spec::check(r, KEY);
    }
    reqs
}

#[tokio::test]
async fn a_clone_uploads_every_file_as_a_repeated_files_part() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/voices/add"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"voice_id": "c38kUX8pkfYO2kHyqfFy", "requires_verification": false})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = (1..=2)
        .map(|i| {
            let p = dir.path().join(format!("sample_{i}.wav"));
            std::fs::write(&p, vec![i as u8; 1000 * i]).unwrap();
            p
        })
        .collect();
    let voice = NewVoice {
        name: "echome +1415***0123".into(),
        files,
        remove_background_noise: true,
        description: Some("cloned by echome".into()),
        labels: BTreeMap::from([("echome".into(), "1".into()), ("caller".into(), "h:ab12".into())]),
        request_id: None,
    };
    let added = client(&server).add_voice(&voice, Priority::Live).await.unwrap();
    assert_eq!(added.voice_id, "c38kUX8pkfYO2kHyqfFy");

    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 1);
    let parts = spec::multipart(&reqs[0]);
    let files: Vec<_> = parts.iter().filter(|(n, _, _)| n == "files").collect();
    assert_eq!(files.len(), 2, "one `files` part per file, not `files[]`");
    assert_eq!(files[0].1.as_deref(), Some("sample_1.wav"));
    assert_eq!(files[1].2.len(), 2000, "the whole file is uploaded");
    let text = |name: &str| {
        parts.iter().find(|(n, _, _)| n == name).map(|(_, _, d)| String::from_utf8_lossy(d).into_owned())
    };
    assert_eq!(text("remove_background_noise").as_deref(), Some("true"));
    let labels: Value = serde_json::from_str(&text("labels").unwrap()).expect("labels is a JSON string");
    assert_eq!(labels["echome"], "1");
    assert_eq!(text("name").as_deref(), Some("echome +1415***0123"));
}

#[tokio::test]
async fn speech_comes_back_as_bytes_in_the_asked_format() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(vec![0x7f_u8; 800])
                .insert_header("request-id", "req_1")
                .insert_header("character-cost", "5"),
        )
        .mount(&server)
        .await;
    let req = TtsRequest {
        text: "Hello".into(),
        model_id: "eleven_flash_v2_5".into(),
        language_code: Some("en".into()),
        voice_settings: Some(VoiceSettings {
            stability: Some(0.5),
            similarity_boost: Some(0.75),
            ..Default::default()
        }),
        seed: Some(42),
        previous_text: None,
        next_text: None,
    };
    let speech = client(&server)
        .text_to_speech("JBFqnCBsd6RMkjVDRZzb", &req, OutputFormat::Ulaw8000, Priority::Live)
        .await
        .unwrap();
    assert_eq!(
        (speech.audio.len(), speech.character_cost, speech.request_id.as_deref()),
        (800, Some(5), Some("req_1"))
    );
    let reqs = received(&server).await;
    assert_eq!(reqs[0].url.query(), Some("output_format=ulaw_8000"));
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(
        body["voice_settings"],
        json!({"stability": 0.5, "similarity_boost": 0.75}),
        "unset settings are omitted"
    );
}

#[tokio::test]
async fn the_voice_list_follows_every_page() {
    let server = MockServer::start().await;
    let voice =
        |id: &str| json!({"voice_id": id, "name": id, "category": "cloned", "labels": {"echome": "1"}});
    Mock::given(method("GET"))
        .and(path("/v2/voices"))
        .and(wiremock::matchers::query_param("next_page_token", "p2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"voices": [voice("c")], "has_more": false, "next_page_token": null})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/voices"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"voices": [voice("a"), voice("b")], "has_more": true, "next_page_token": "p2", "total_count": 3})))
        .mount(&server)
        .await;
    let query = VoiceQuery { voice_type: Some("personal".into()), ..Default::default() };
    let voices = client(&server).list_voices(&query, Priority::Batch).await.unwrap();
    assert_eq!(voices.iter().map(|v| v.voice_id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.url.query_pairs().any(|(k, v)| k == "page_size" && v == "100")));
}

#[tokio::test]
async fn busy_and_failing_answers_are_retried() {
    let server = MockServer::start().await;
    let busy = json!({"detail": {"status": "system_busy", "message": "busy"}});
    Mock::given(method("GET"))
        .and(path("/v1/user/subscription"))
        .respond_with(ResponseTemplate::new(429).set_body_json(busy.clone()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/user/subscription"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/user/subscription"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("maximum-concurrent-requests", "5")
                .set_body_json(json!({"tier": "creator", "status": "active", "voice_slots_used": 29, "voice_limit": 30,
                    "character_count": 100, "character_limit": 100000, "can_use_instant_voice_cloning": true})),
        )
        .mount(&server)
        .await;
    let c = client(&server);
    let sub = c.subscription(Priority::Batch).await.unwrap();
    assert_eq!((sub.voice_slots_used, sub.voice_limit, sub.slots_free()), (29, 30, 1));
    assert_eq!(received(&server).await.len(), 3, "429 and 503 were retried");
    assert_eq!(c.limiter().limit(), 5, "the plan's concurrency comes from the answer");
}

#[tokio::test]
async fn a_timeout_is_retried_then_reported_as_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let err = client(&server).models(Priority::Batch).await.unwrap_err();
    assert!(matches!(err, ElevenLabsError::Unavailable { .. }), "{err:?}");
    assert_eq!(err.error_type().as_str(), "Retryable");
    assert_eq!(server.received_requests().await.unwrap().len(), 4, "one try and three retries");
}

#[tokio::test]
async fn refusals_are_not_retried() {
    for (status, body, expect) in [
        (
            401,
            json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}),
            "invalid_api_key",
        ),
        (402, json!({"detail": {"status": "payment_required", "message": "upgrade"}}), "provider_rejected"),
        (
            422,
            json!({"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]}),
            "provider_rejected",
        ),
        (429, json!({"detail": {"status": "quota_exceeded", "message": "no credits"}}), "quota_exceeded"),
        (400, json!({"detail": {"status": "voice_not_found", "message": "no voice"}}), "voice_not_found"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .and(path("/v1/voices/gone"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        let err = client(&server).delete_voice("gone", Priority::Batch).await.unwrap_err();
        assert_eq!(err.code(), expect, "{status}: {err}");
        assert_eq!(err.error_type().as_str(), "ProviderRejected");
        assert_eq!(received(&server).await.len(), 1, "{status} is not retried");
    }
}

#[tokio::test]
async fn an_agent_call_carries_the_cloned_voice() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/convai/twilio/outbound-call"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"success": true, "message": "Call initiated successfully", "conversation_id": "conv_abc123", "callSid": "CA123"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/convai/sip-trunk/outbound-call"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"success": true, "message": "ok", "conversation_id": "conv_def", "sip_call_id": "sip-9"}),
        ))
        .mount(&server)
        .await;
    let mut data = ClientData::with_voice("c38kUX8pkfYO2kHyqfFy");
    data.dynamic_variables.insert("caller_name".into(), json!("Ana"));
    let call = OutboundCall {
        agent_id: "agent_1".into(),
        agent_phone_number_id: "phnum_1".into(),
        to_number: "+14155550123".into(),
        conversation_initiation_client_data: Some(data),
    };
    let c = client(&server);
    assert_eq!(c.outbound_call(Trunk::Twilio, &call).await.unwrap().call_id.as_deref(), Some("CA123"));
    assert_eq!(c.outbound_call(Trunk::Sip, &call).await.unwrap().call_id.as_deref(), Some("sip-9"));
    let reqs = received(&server).await;
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    let data = &body["conversation_initiation_client_data"];
    assert_eq!(
        data["conversation_config_override"],
        json!({"tts": {"voice_id": "c38kUX8pkfYO2kHyqfFy"}}),
        "only the voice is overridden"
    );
    assert_eq!(data["dynamic_variables"]["caller_name"], "Ana");
}

fn pack(dir: &tempfile::TempDir) -> Vec<std::path::PathBuf> {
    let p = dir.path().join("sample_1.wav");
    std::fs::write(&p, vec![1u8; 3000]).unwrap();
    vec![p]
}

fn calls_to(reqs: &[Request], m: &str, p: &str) -> usize {
    reqs.iter().filter(|r| r.method.as_str() == m && r.url.path() == p).count()
}

#[tokio::test]
async fn a_timeout_on_add_voice_finds_the_voice_the_stub_made_and_uploads_nothing_twice() {
    let server = MockServer::start().await;
    let account = Account::default();
    account.mount_voices(&server, Duration::from_secs(2)).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = ElevenLabsEngine::new(client(&server));
    let (voice, bytes) = engine.clone_voice("echome +14******123", &pack(&dir), false).await.unwrap();

    assert_eq!(account.ids(), ["stubVoice1"], "exactly one voice exists");
    assert_eq!(voice.as_str(), "stubVoice1", "the clone uses it");
    assert_eq!(bytes, 3000);
    let reqs = received(&server).await;
    assert_eq!(calls_to(&reqs, "POST", "/v1/voices/add"), 1, "the upload is not sent again");
    let labels = &account.voices.lock().unwrap()[0]["labels"];
    assert_eq!(labels["echome"], "1");
    assert!(labels["echome_request"].as_str().is_some_and(|r| r.len() >= 16), "{labels}");
}

#[tokio::test]
async fn a_lost_add_voice_answer_with_no_voice_behind_it_is_an_unknown_outcome_not_a_second_upload() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/voices/add"))
        .respond_with(ResponseTemplate::new(504))
        .mount(&server)
        .await;
    Account::default().mount_voices(&server, Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let voice = NewVoice {
        name: "echome test".into(),
        files: pack(&dir),
        remove_background_noise: false,
        description: None,
        labels: BTreeMap::new(),
        request_id: Some("r-test-1".into()),
    };
    let err = client(&server).add_voice(&voice, Priority::Batch).await.unwrap_err();
    assert_eq!((err.code(), err.error_type().as_str()), ("outcome_unknown", "ProviderRejected"), "{err}");
    assert!(err.to_string().contains("echome_request=r-test-1"), "{err}");
    let reqs = received(&server).await;
    assert_eq!(calls_to(&reqs, "POST", "/v1/voices/add"), 1);
    assert!(calls_to(&reqs, "GET", "/v2/voices") >= 1, "the voice was looked for");
}

#[tokio::test]
async fn a_503_on_add_voice_with_no_voice_made_is_left_to_the_state_machines_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/voices/add"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Account::default().mount_voices(&server, Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let err = ElevenLabsEngine::new(client(&server)).clone_voice("n", &pack(&dir), false).await.unwrap_err();
    assert_eq!((err.code.as_str(), err.error_type.as_str()), ("provider_unavailable", "Retryable"), "{err}");
    assert_eq!(calls_to(&received(&server).await, "POST", "/v1/voices/add"), 1, "not sent again in place");
}

#[tokio::test]
async fn a_throttled_create_is_sent_again_because_nothing_was_made() {
    let server = MockServer::start().await;
    busy_then_placed(&server).await;
    let started = client(&server).outbound_call(Trunk::Sip, &outbound()).await.unwrap();
    assert_eq!(started.conversation_id.as_deref(), Some("conv_1"));
    assert_eq!(received(&server).await.len(), 2);
}

/// The outbound-call endpoint: a 429 (nothing placed), then the call placed.
async fn busy_then_placed(server: &MockServer) {
    let busy = json!({"detail": {"status": "too_many_concurrent_requests", "message": "busy"}});
    Mock::given(method("POST"))
        .and(path("/v1/convai/sip-trunk/outbound-call"))
        .respond_with(ResponseTemplate::new(429).set_body_json(busy))
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/convai/sip-trunk/outbound-call"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"success": true, "message": "ok", "conversation_id": "conv_1"})),
        )
        .mount(server)
        .await;
}

fn outbound() -> OutboundCall {
    OutboundCall {
        agent_id: "agent_1".into(),
        agent_phone_number_id: "phnum_1".into(),
        to_number: "+14155550123".into(),
        conversation_initiation_client_data: None,
    }
}

#[tokio::test]
async fn a_timeout_on_the_outbound_call_places_one_call_and_says_the_outcome_is_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/convai/sip-trunk/outbound-call"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"success": true, "message": "ok", "conversation_id": "conv_1"}))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let err = client(&server).outbound_call(Trunk::Sip, &outbound()).await.unwrap_err();
    assert_eq!(err.code(), "outcome_unknown", "{err}");
    assert_eq!(err.error_type().as_str(), "ProviderRejected", "caught by the state machine, never retried");
    let step = echome_core::StepError::from(err);
    assert_eq!(step.code, "outcome_unknown");
    assert_eq!(received(&server).await.len(), 1, "one call placed");
}

#[tokio::test]
async fn a_5xx_on_the_outbound_call_is_not_sent_again() {
    for status in [500, 502, 503, 504] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/convai/twilio/outbound-call"))
            .respond_with(ResponseTemplate::new(status))
            .mount(&server)
            .await;
        let err = client(&server).outbound_call(Trunk::Twilio, &outbound()).await.unwrap_err();
        assert_eq!(err.code(), "outcome_unknown", "{status}: {err}");
        assert_eq!(received(&server).await.len(), 1, "{status}: the caller is rung at most once");
    }
}

#[tokio::test]
async fn the_agent_port_rings_once_when_the_answer_is_lost() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/convai/sip-trunk/outbound-call"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let mut api = Config::new(ApiKey::new(KEY));
    api.base_url = server.uri();
    let agent = echome_elevenlabs::ElevenLabsAgent::new(
        api,
        echome_elevenlabs::AgentConfig {
            agent_id: "agent_1".into(),
            phone_number_id: "phnum_1".into(),
            trunk: Trunk::Sip,
        },
    )
    .unwrap();
    let req = echome_core::AgentCallRequest {
        to: echome_core::CallerId::parse("+14155550123").unwrap(),
        voice_id: None,
        variables: BTreeMap::new(),
    };
    let err = echome_core::AgentCalls::start_call(&agent, &req).await.unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.error_type.as_str()),
        ("outcome_unknown", "ProviderRejected"),
        "{err}"
    );
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_create_that_never_connected_is_unavailable_not_unknown() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut cfg = Config::new(ApiKey::new(KEY));
    cfg.base_url = format!("http://127.0.0.1:{port}");
    cfg.backoff = Duration::from_millis(1);
    cfg.max_backoff = Duration::from_millis(2);
    let err = Client::new(cfg).unwrap().outbound_call(Trunk::Sip, &outbound()).await.unwrap_err();
    assert_eq!((err.code(), err.error_type().as_str()), ("provider_unavailable", "Retryable"), "{err}");
}

#[tokio::test]
async fn foreign_voices_of_any_shape_are_read_around_not_fatal() {
    let server = MockServer::start().await;
    let account = Account::with(
        vec![
            json!({"voice_id": "brand-voice-1", "name": "Brand", "category": "professional", "labels": {}}),
            json!({"voice_id": "c38kUX8pkfYO2kHyqfFy", "name": "ours", "category": "cloned", "labels": {"echome": "1"}}),
            json!({"voice_id": "abcDEF123", "name": 7, "labels": {"age": 40, "accent": "en-GB"}, "created_at_unix": "x"}),
            json!({"name": "no id at all"}),
            json!("not even an object"),
        ],
        0,
    );
    account.mount_voices(&server, Duration::ZERO).await;
    let voices = client(&server).list_voices(&VoiceQuery::default(), Priority::Batch).await.unwrap();
    let ids: Vec<_> = voices.iter().map(|v| v.voice_id.as_str()).collect();
    assert_eq!(ids, ["brand-voice-1", "c38kUX8pkfYO2kHyqfFy", "abcDEF123"]);
    assert_eq!(
        voices[2].labels.get("accent").map(String::as_str),
        Some("en-GB"),
        "odd labels dropped, not the voice"
    );

    let engine = ElevenLabsEngine::new(client(&server));
    let at_engine = engine.voices().await.unwrap();
    let listed: Vec<_> = at_engine.iter().map(|v| (v.voice_id.as_str(), v.ours)).collect();
    assert_eq!(
        listed,
        [("c38kUX8pkfYO2kHyqfFy", true), ("abcDEF123", false)],
        "brand-voice-1 is never touched"
    );
}

#[tokio::test]
async fn the_id_of_a_voice_we_just_made_is_checked_strictly() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/voices/add"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"voice_id": "not/a-voice", "requires_verification": false})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let err = ElevenLabsEngine::new(client(&server)).clone_voice("n", &pack(&dir), false).await.unwrap_err();
    assert_eq!(err.code, "provider_answer_invalid", "{err}");
}

/// The provider's error rate (a CloudWatch alarm) counts every attempt: the refused one and the
/// one that went through.
#[tokio::test]
async fn every_attempt_is_counted_for_the_provider_error_rate() {
    #[derive(Default, Clone)]
    struct Counted(std::sync::Arc<std::sync::Mutex<Vec<echome_core::metrics::ProviderCall>>>);
    impl echome_core::metrics::MetricsSink for Counted {
        fn record(&self, _event: &echome_core::CallEventRecord) {}
        fn provider_call(&self, call: &echome_core::metrics::ProviderCall) {
            self.0.lock().unwrap().push(call.clone());
        }
    }
    let server = MockServer::start().await;
    busy_then_placed(&server).await;
    let counted = Counted::default();
    let mut cfg = Config::new(ApiKey::new(KEY));
    cfg.base_url = server.uri();
    cfg.backoff = Duration::from_millis(5);
    cfg.metrics = echome_core::metrics::Sink::new(counted.clone());
    Client::new(cfg).unwrap().outbound_call(Trunk::Sip, &outbound()).await.unwrap();
    let calls = counted.0.lock().unwrap().clone();
    let seen: Vec<_> = calls.iter().map(|c| (c.status, c.ok)).collect();
    assert_eq!(seen, [(429, false), (200, true)]);
}

/// A `Retry-After` longer than the client may wait comes back at once as the throttle it is.
#[tokio::test]
async fn a_retry_after_longer_than_the_client_may_wait_is_not_waited_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/convai/sip-trunk/outbound-call"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "60")
                .set_body_json(json!({"detail": {"status": "system_busy", "message": "busy"}})),
        )
        .mount(&server)
        .await;
    let mut cfg = Config::new(ApiKey::new(KEY));
    cfg.base_url = server.uri();
    cfg.max_wait = Duration::from_secs(5);
    let started = std::time::Instant::now();
    let err = Client::new(cfg).unwrap().outbound_call(Trunk::Sip, &outbound()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(err.code(), "provider_throttled");
    assert_eq!(received(&server).await.len(), 1, "not sent again");
}
