//! Runs the handler on every event in events/synthesize-speech/ with the filesystem store and
//! the ElevenLabs engine pointed at a local stub.

use std::process::Command;

use echome_core::library::{ModelStatus, VoiceLibrary, VoiceModel};
use echome_core::{BlobStore, ErrorType, SynthesizeInput};
use echome_elevenlabs::{ApiKey, Client, Config as ApiConfig, ElevenLabsEngine};
use echome_local::{FsBlobStore, LocalRecords};
use serde_json::json;
use synthesize_speech::batch::{Answer, Invocation, invoke};
use synthesize_speech::{Config, handle};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn raw(name: &str) -> Vec<u8> {
    echome_testkit::events::read("synthesize-speech", name)
}

fn event(name: &str) -> SynthesizeInput {
    echome_testkit::events::parse("synthesize-speech", name)
}

fn mp3() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.mp3");
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=300:duration=0.5"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::read(out).unwrap()
}

async fn tts_calls(server: &MockServer) -> usize {
    let reqs = server.received_requests().await.unwrap();
    reqs.iter().filter(|r| r.url.path().starts_with("/v1/text-to-speech/")).count()
}

#[tokio::test]
async fn every_event_gets_the_answer_a_user_expects() {
    let names = echome_testkit::events::names("synthesize-speech");
    assert_eq!(
        names,
        ["by-model", "empty-text", "greeting-ulaw", "message-ogg", "sqs-batch"],
        "every event needs a case"
    );

    let server = MockServer::start().await;
    // A small character limit, so the greeting takes more than one request.
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!([{"model_id": "eleven_multilingual_v2", "can_do_text_to_speech": true, "maximum_text_length_per_request": 60}]),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb"))
        .and(query_param("output_format", "ulaw_8000"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(vec![0x7f_u8; 4000])
                .insert_header("character-cost", "40"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb"))
        .and(query_param("output_format", "mp3_44100_128"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(mp3()))
        .mount(&server)
        .await;
    let mut api = ApiConfig::new(ApiKey::new("sk_stub"));
    api.base_url = server.uri();
    let engine = ElevenLabsEngine::new(Client::new(api).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::new(dir.path());
    let cfg = Config { bucket: "echome-recordings".into(), consent: Default::default() };
    let lib = LocalRecords::open(&dir.path().join("records.redb")).unwrap();

    let greeting = handle(&blobs, &engine, &lib, &cfg, event("greeting-ulaw")).await.unwrap();
    assert!(!greeting.cached && greeting.pieces >= 2, "{greeting:?}");
    assert!(greeting.audio.key.starts_with("tts/") && greeting.audio.key.ends_with(".ulaw"));
    assert_eq!(
        blobs.get_bytes(&greeting.audio).await.unwrap().len(),
        4000 * greeting.pieces,
        "pieces joined"
    );
    assert_eq!(tts_calls(&server).await, greeting.pieces);
    let record: serde_json::Value = serde_json::from_slice(
        &blobs
            .get_bytes(&greeting.audio.with_key(greeting.audio.key.replace(".ulaw", ".json")))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["characters"], greeting.characters, "characters used are recorded");

    let again = handle(&blobs, &engine, &lib, &cfg, event("greeting-ulaw")).await.unwrap();
    assert!(again.cached && again.audio == greeting.audio);
    assert_eq!(tts_calls(&server).await, greeting.pieces, "the same request twice calls the API once");

    let ogg = handle(&blobs, &engine, &lib, &cfg, event("message-ogg")).await.unwrap();
    let models =
        server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/v1/models").count();
    assert_eq!(models, 1, "the model's limit is asked for once");
    let bytes = blobs.get_bytes(&ogg.audio).await.unwrap();
    assert!(bytes.starts_with(b"OggS") && ogg.audio.key.ends_with(".ogg"), "{ogg:?}");

    let err = handle(&blobs, &engine, &lib, &cfg, event("empty-text")).await.unwrap_err();
    assert_eq!((err.error_type, err.code.as_str()), (ErrorType::InvalidInput, "invalid_input"));

    // A batch from SQS: the good message is spoken, the bad one goes back to the queue.
    let batch: Invocation = serde_json::from_slice(&raw("sqs-batch")).unwrap();
    let Answer::Batch(res) = invoke(&blobs, &engine, &lib, &cfg, batch).await.unwrap() else {
        panic!("a batch answer")
    };
    let failed: Vec<_> = res.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
    let single: Invocation = serde_json::from_slice(&raw("greeting-ulaw")).unwrap();
    assert!(
        matches!(invoke(&blobs, &engine, &lib, &cfg, single).await.unwrap(), Answer::Single(o) if o.cached)
    );

    // Named by its voice model: spoken in the model's voice, each use counted on the model.
    let err = handle(&blobs, &engine, &lib, &cfg, event("by-model")).await.unwrap_err();
    assert_eq!(err.error_type, ErrorType::InvalidInput, "no such model yet: {err}");
    assert!(err.message.contains("vm-run-1") && err.message.contains("not found"), "{}", err.message);
    let at = chrono::Utc::now() - chrono::Duration::days(3);
    let mut model =
        echome_testkit::fixtures::voice_model("run-1", "emp-7", "alice", "JBFqnCBsd6RMkjVDRZzb", None, at);
    model.status = ModelStatus::Cloning;
    lib.create_model(&model).await.unwrap();
    let err = handle(&blobs, &engine, &lib, &cfg, event("by-model")).await.unwrap_err();
    assert!(err.error_type == ErrorType::InvalidInput && err.message.contains("cloning"), "{err}");
    let ready = VoiceModel { status: ModelStatus::Ready, version: 1, ..model.clone() };
    assert!(lib.save_model(&ready).await.unwrap());
    // Speaking as a person needs their consent to speech (the policy's default requires it).
    let before = tts_calls(&server).await;
    let err = handle(&blobs, &engine, &lib, &cfg, event("by-model")).await.unwrap_err();
    assert_eq!((err.error_type, err.code.as_str()), (ErrorType::ConsentMissing, "consent_missing"), "{err}");
    use echome_core::people::{ConsentMethod, ConsentRecord, ConsentScope, People};
    let grant = |scope: &str| {
        let scopes = ConsentScope::parse_list([scope]).unwrap();
        ConsentRecord::grant(
            model.person.clone(),
            "Emp Seven",
            ConsentMethod::Written,
            scopes,
            None,
            "ops",
            at,
        )
        .unwrap()
    };
    lib.save_consent(&grant("clone")).await.unwrap();
    let err = handle(&blobs, &engine, &lib, &cfg, event("by-model")).await.unwrap_err();
    assert!(err.error_type == ErrorType::ConsentMissing && err.message.contains("does not cover"), "{err}");
    assert_eq!(tts_calls(&server).await, before, "nothing was spoken");
    lib.save_consent(&grant("speech")).await.unwrap();
    let first = handle(&blobs, &engine, &lib, &cfg, event("by-model")).await.unwrap();
    let second = handle(&blobs, &engine, &lib, &cfg, event("by-model")).await.unwrap();
    assert!(!first.cached && second.cached, "{first:?} {second:?}");
    assert_eq!(tts_calls(&server).await, before + first.pieces, "in the model's voice, once");
    let used = lib.model(&model.id).await.unwrap().unwrap();
    assert_eq!((used.usage.uses, used.usage.characters), (2, first.characters), "{:?}", used.usage);
    assert!(used.last_used_at.is_some_and(|t| t > at), "last use recorded: {:?}", used.last_used_at);
    let mut wrong = event("by-model");
    wrong.voice_id = Some(echome_core::VoiceId::parse("otherVoice42").unwrap());
    let err = handle(&blobs, &engine, &lib, &cfg, wrong).await.unwrap_err();
    assert!(err.error_type == ErrorType::InvalidInput && err.message.contains("not the voice of"), "{err}");
    let mut neither = event("by-model");
    neither.model_id = None;
    let err = handle(&blobs, &engine, &lib, &cfg, neither).await.unwrap_err();
    assert!(err.error_type == ErrorType::InvalidInput && err.message.contains("name the voice"), "{err}");
    assert_eq!(lib.model(&model.id).await.unwrap().unwrap().usage.uses, 2, "refusals are not uses");
}
