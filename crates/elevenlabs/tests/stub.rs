//! The client against a local ElevenLabs stub (wiremock). Every request the stub receives is
//! checked against the official API description (tests/spec).

mod spec;

use std::collections::BTreeMap;
use std::time::Duration;

use echome_elevenlabs::calls::{ClientData, OutboundCall, Trunk};
use echome_elevenlabs::tts::{OutputFormat, TtsRequest, VoiceSettings};
use echome_elevenlabs::voices::{NewVoice, VoiceQuery};
use echome_elevenlabs::{ApiKey, Client, Config, ElevenLabsError, Priority};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
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
