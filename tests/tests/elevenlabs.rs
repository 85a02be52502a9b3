//! `echome clone` and `echome say` end to end with ElevenLabs: `ELEVENLABS_API_BASE` points at a
//! local stub (wiremock), the recording is generated, ffmpeg is real.

use std::path::Path;
use std::process::Command;

use echome_testkit::{Scene, SceneKind, generate};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk_stub_key_for_tests";
const VOICE: &str = "c38kUX8pkfYO2kHyqfFy";

fn echome(server: &MockServer, data: &Path, args: &[&str]) -> (bool, Value) {
    let mut cmd = Command::new(echome_tests::echome());
    cmd.env("ELEVENLABS_API_KEY", KEY)
        .env("ELEVENLABS_API_BASE", server.uri())
        .env_remove("CONSENT_POLICY")
        .arg("--data-dir")
        .arg(data)
        .args(args);
    echome_tests::run_json(cmd, &[KEY])
}

fn mp3(dir: &Path) -> Vec<u8> {
    let out = dir.join("tone.mp3");
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=220:duration=1"])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(ok.success());
    std::fs::read(out).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_and_say_go_through_elevenlabs() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    echome_tests::mount_subscription(&server, KEY).await;
    Mock::given(method("POST"))
        .and(path("/v1/voices/add"))
        .and(header("xi-api-key", KEY))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"voice_id": VOICE, "requires_verification": false})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/text-to-speech/{VOICE}")))
        .and(header("xi-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(mp3(dir.path())))
        .mount(&server)
        .await;

    let data = dir.path().join("data");
    let call = dir.path().join("call.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 70.0, seed: 33 }, &call).unwrap();
    // Consent is required by default: without it the run ends before anything is uploaded.
    let (ok, refused) =
        echome(&server, &data, &["clone", call.to_str().unwrap(), "--caller", "+14155550123", "--json"]);
    assert!(!ok, "{refused:#}");
    assert_eq!(refused["error"]["code"], "consent_missing", "{refused:#}");
    let consent = [
        "consent",
        "grant",
        "+14155550123",
        "--method",
        "recorded_verbal",
        "--by",
        "the caller",
        "--evidence",
        "samples/+14155550123/consent.wav",
        "--json",
    ];
    let (ok, granted) = echome(&server, &data, &consent);
    assert!(ok, "{granted:#}");
    assert_eq!(
        (granted["status"].as_str(), granted["person"].as_str()),
        (Some("granted"), Some("+14******123"))
    );
    let (ok, out) =
        echome(&server, &data, &["clone", call.to_str().unwrap(), "--caller", "+14155550123", "--json"]);
    assert!(ok, "{out:#}");
    assert_eq!(
        (out["voice_id"].as_str(), out["engine"].as_str(), out["cached"].as_bool()),
        (Some(VOICE), Some("elevenlabs"), Some(false))
    );
    assert!(out["note"].is_null());
    assert_eq!(out["quality"]["engine"], "elevenlabs", "the new voice is scored: {out:#}");
    assert_eq!(out["quality"]["scored_by_run"], out["run_id"]);

    // The same recording again: the clone is reused, nothing is uploaded (expect(1) above).
    let (ok, again) =
        echome(&server, &data, &["clone", call.to_str().unwrap(), "--caller", "+14155550123", "--json"]);
    assert!(ok, "{again:#}");
    assert_eq!(again["cached"], true);

    let uploads: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/v1/voices/add")
        .collect();
    let body = String::from_utf8_lossy(&uploads[0].body);
    let files = body.matches("name=\"files\"").count();
    assert_eq!(files, out["samples"].as_array().unwrap().len(), "every pack file, as a `files` part");
    assert!(body.contains(r#""echome":"1""#), "the voice is labelled as echome's");
    assert!(
        body.contains("+14******123") && !body.contains("+14155550123"),
        "the voice's name has no full number"
    );

    for (format, check) in [("mp3", &b"ID3"[..]), ("ogg", &b"OggS"[..])] {
        let file = dir.path().join(format!("hi.{format}"));
        let args = [
            "say",
            "--voice",
            VOICE,
            "--text",
            "Hello there.",
            "--format",
            format,
            "--out",
            file.to_str().unwrap(),
            "--json",
        ];
        let (ok, said) = echome(&server, &data, &args);
        assert!(ok, "{said:#}");
        assert_eq!(said["engine"], "elevenlabs");
        assert!(std::fs::read(&file).unwrap().starts_with(check), "{format}");
    }
    // The account holds our voice, an orphan of ours and someone else's.
    let v = |id: &str, ours: bool| json!({"voice_id": id, "name": id, "category": "cloned", "labels": if ours { json!({"echome": "1"}) } else { json!({}) }});
    Mock::given(method("GET"))
        .and(path("/v2/voices"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"voices": [v(VOICE, true), v("orphanVoice1", true), v("foreignVoice1", false)], "has_more": false}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/voices/orphanVoice1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})))
        .expect(1)
        .mount(&server)
        .await;
    let (ok, list) = echome(&server, &data, &["voices", "list", "--json"]);
    assert!(ok, "{list:#}");
    assert_eq!(list["cached"][0]["voice_id"], VOICE);
    assert_eq!(list["others_at_engine"], 1);
    let (ok, refused) = echome(&server, &data, &["voices", "delete", "foreignVoice1", "--json"]);
    assert!(!ok && refused["error"]["message"].as_str().unwrap().contains("not made by echome"), "{refused}");
    let (ok, done) = echome(&server, &data, &["voices", "reconcile", "--json"]);
    assert!(ok, "{done:#}");
    assert_eq!(done["deleted"], json!(["orphanVoice1"]), "only the uncached echome voice goes");

    let tts: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().starts_with("/v1/text-to-speech/"))
        .collect();
    let phrases: Vec<String> = tts
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .filter(|t| echome_core::quality::TEST_PHRASES.contains(&t.as_str()))
        .collect();
    assert_eq!(
        phrases,
        echome_core::quality::TEST_PHRASES,
        "the test phrases are spoken once, for the new voice; the reused voice keeps its score"
    );
    assert!(
        tts.iter().all(|r| r.url.query() == Some("output_format=mp3_44100_128")),
        "OGG is made from MP3 by ffmpeg"
    );
}
