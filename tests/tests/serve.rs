//! The call flow end to end: `echome serve` (the same webhook and API handlers as in AWS, the
//! local runner, real ffmpeg on a generated recording) with ElevenLabs as a local stub
//! (wiremock) that checks the agent calls as the official API describes them.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use echome_core::{
    BlobRef, BlobStore, CallerId, CloneCache, CloneRecord, CloneStatus, RunLog, SampleLog, SampleRecord,
};
use echome_local::{FsBlobStore, LocalRecords};
use echome_testkit::{Scene, SceneKind, generate};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk_stub_key_for_tests";
const VOICE: &str = "c38kUX8pkfYO2kHyqfFy";
const THREECX: &str = "3cx-secret-for-the-e2e-tests-0123";
const POST_CALL: &str = "whsec_post_call_secret_for_e2e_tests";
const INITIATION: &str = "initiation-bearer-secret-for-e2e";
const OUTBOUND: &str = "/v1/convai/sip-trunk/outbound-call";

struct Serve {
    _running: echome_testkit::serve::Serve,
    to: Http,
}

/// Requests to a running `echome serve`.
#[derive(Clone)]
struct Http {
    base: String,
    http: reqwest::Client,
    /// A viewer's token from `echome token`, for the read API.
    token: String,
}

impl std::ops::Deref for Serve {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.to
    }
}

fn serve(stub: &MockServer, data: &Path, max_wait_s: u32) -> Serve {
    serve_with(stub, data, max_wait_s, &[])
}

fn serve_with(stub: &MockServer, data: &Path, max_wait_s: u32, extra: &[(&str, String)]) -> Serve {
    let echome = echome_tests::echome();
    let mut env = vec![
        ("ELEVENLABS_API_KEY", KEY.to_owned()),
        ("ELEVENLABS_API_BASE", stub.uri()),
        ("ELEVENLABS_AGENT_ID", "agent_01jbstub".into()),
        ("ELEVENLABS_AGENT_PHONE_NUMBER_ID", "phnum_01jbstub".into()),
        ("THREECX_WEBHOOK_SECRET", THREECX.into()),
        ("ELEVENLABS_WEBHOOK_SECRET", POST_CALL.into()),
        ("ELEVENLABS_INITIATION_SECRET", INITIATION.into()),
        ("GREETING_VOICE_ID", "greetingVoice01".into()),
        ("DEFAULT_VOICE_ID", "defaultVoice01".into()),
        ("CLONE_MAX_WAIT_SECONDS", max_wait_s.to_string()),
        ("ECHOME_MIN_SPEECH_S", "20".into()),
        // The consent gate has its own tests (tests/tests/consent.rs, webhook-intake's routes).
        ("CONSENT_POLICY", "not_required".into()),
    ];
    env.extend(extra.iter().cloned());
    let running = echome_testkit::serve::Serve::start(&echome, data, &env);
    // `echome token` works beside a running `serve` on the same data dir.
    let token = echome_testkit::serve::token(&echome, data, "test-viewer", "viewer", "15m");
    let base = running.base.clone();
    Serve { _running: running, to: Http { base, http: reqwest::Client::new(), token } }
}

impl Http {
    /// A call the agent answers with the default voice, then ElevenLabs' two post-call webhooks
    /// (transcription first, then the audio) for it: the caller says `sentences`, the agent
    /// answers between them. The conversation's MP3 size.
    async fn agent_conversation(
        &self,
        caller: &str,
        call_id: &str,
        conversation_id: &str,
        sentences: &[&str],
        scratch: &Path,
    ) -> usize {
        use base64::Engine as _;
        use echome_testkit::conversation::{self, Role};
        let mut turns = vec![(Role::Agent, "Hello, thank you for calling. How can I help you today?")];
        for pair in sentences.chunks(2) {
            turns.extend(pair.iter().map(|s| (Role::Caller, *s)));
            turns.push((Role::Agent, "I see. Please go on."));
        }
        let work = scratch.join(conversation_id);
        std::fs::create_dir_all(&work).unwrap();
        let talk = conversation::speak(&turns, &work).unwrap();
        let (status, first) = self.threecx("IncomingCall", call_id, caller, false).await;
        assert_eq!(status, 200, "{first}");
        assert_ne!(first["path"], "cached", "{first}");
        let signed = |body: Value| {
            let body = body.to_string();
            let sig = echome_elevenlabs::webhooks::sign(
                POST_CALL.as_bytes(),
                Utc::now().timestamp(),
                body.as_bytes(),
            );
            (body, vec![("ElevenLabs-Signature", sig)])
        };
        let (body, headers) = signed(json!({
            "type": "post_call_transcription", "event_timestamp": Utc::now().timestamp(),
            "data": {
                "agent_id": "agent_01jbstub", "conversation_id": conversation_id, "status": "done", "has_audio": true,
                "transcript": talk.transcript,
                "metadata": { "call_duration_secs": talk.duration_s.floor(), "start_time_unix_secs": Utc::now().timestamp() },
                "conversation_initiation_client_data": { "dynamic_variables": { "threecx_call_id": call_id } },
            },
        }));
        let (status, answer) = self.post("/webhook/post-call", body, &headers).await;
        assert_eq!((status, answer["caller_audio"]["status"].clone()), (200, json!("waiting")), "{answer}");
        let full_audio = base64::engine::general_purpose::STANDARD.encode(&talk.mp3);
        let (body, headers) = signed(json!({
            "type": "post_call_audio", "event_timestamp": Utc::now().timestamp(),
            "data": { "agent_id": "agent_01jbstub", "conversation_id": conversation_id, "full_audio": full_audio },
        }));
        let (status, answer) = self.post("/webhook/post-call", body, &headers).await;
        assert_eq!((status, answer["caller_audio"]["status"].clone()), (200, json!("stored")), "{answer}");
        let call = self
            .call_when(call_id, Duration::from_secs(10), |c| c["conversations"][0]["audio"].is_object())
            .await;
        assert_eq!(call["conversations"][0]["audio"]["status"], "stored", "{call:#}");
        assert!(!call.to_string().contains(&caller[2..]), "no number in the call's view: {call}");
        talk.mp3.len()
    }

    /// The caller's clone status once their newest run (not `after`) has ended.
    async fn clone_settles(&self, caller: &str, after: Option<&Value>) -> Value {
        let path = format!("/api/clone-status/{}", caller.replace('+', "%2B"));
        let until = Instant::now() + Duration::from_secs(240);
        loop {
            let (_, status) = self.get(&path).await;
            let newer = after.is_none_or(|run| status["latest_run"]["run_id"] != *run);
            let settled = newer && matches!(status["status"].as_str(), Some("ready" | "failed"));
            if settled || Instant::now() > until {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn threecx(&self, event_type: &str, call_id: &str, caller: &str, stale: bool) -> (u16, Value) {
        self.threecx_with(event_type, call_id, caller, stale, json!({})).await
    }

    async fn threecx_with(
        &self,
        event_type: &str,
        call_id: &str,
        caller: &str,
        stale: bool,
        extra: Value,
    ) -> (u16, Value) {
        let mut body = json!({
            "event_type": event_type, "call_id": call_id, "caller_id": caller,
            "called_number": "+18005550199", "timestamp": Utc::now().to_rfc3339(), "direction": "inbound",
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let body = body.to_string();
        let ts = Utc::now().timestamp() - if stale { 400 } else { 0 };
        let sig = echome_core::threecx::sign(THREECX.as_bytes(), ts, body.as_bytes());
        self.post("/webhook/3cx-call", body, &[("X-3CX-Timestamp", ts.to_string()), ("X-3CX-Signature", sig)])
            .await
    }

    async fn post(&self, path: &str, body: String, headers: &[(&str, String)]) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body)
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let res =
            self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    /// Polls `/calls/{id}` until `done` holds.
    async fn call_when(&self, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + within;
        loop {
            let (_, call) = self.get(&format!("/calls/{id}")).await;
            if done(&call) || Instant::now() > until {
                return call;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The caller's recording on file, as an upload under samples/ leaves it.
async fn with_sample(data: &Path, caller: &str, seed: u64) {
    let rec_path = data.join("upload.wav");
    std::fs::create_dir_all(data).unwrap();
    generate(Scene { kind: SceneKind::Clean, seconds: 45.0, seed }, &rec_path).unwrap();
    let blob = BlobRef::new("recordings", format!("samples/{caller}/call.wav"));
    FsBlobStore::new(data.join("blobs")).upload_from(&blob, &rec_path, "audio/wav").await.unwrap();
    let records = LocalRecords::open(&data.join("echome.redb")).unwrap();
    let size = std::fs::metadata(&rec_path).unwrap().len();
    let sample = SampleRecord {
        person: echome_core::Person::from(CallerId::parse(caller).unwrap()),
        sample: blob,
        version: "v1".into(),
        uploaded_at: Utc::now(),
        size,
        pack: None,
    };
    records.record_sample(&sample).await.unwrap();
}

async fn stub(clone_works: bool) -> MockServer {
    stub_with(clone_works, Duration::ZERO).await
}

/// The stub, with every outbound call taking `ring` to be placed.
async fn stub_with(clone_works: bool, ring: Duration) -> MockServer {
    let server = MockServer::start().await;
    echome_tests::mount_subscription(&server, KEY).await;
    let add = if clone_works {
        ResponseTemplate::new(200).set_body_json(json!({"voice_id": VOICE, "requires_verification": false}))
    } else {
        ResponseTemplate::new(503)
            .set_body_json(json!({"detail": {"status": "service_unavailable", "message": "down"}}))
    };
    Mock::given(method("POST")).and(path("/v1/voices/add")).respond_with(add).mount(&server).await;
    // As the spec's BodyHandleAnOutboundCallViaSipTrunk: agent, number and E.164 destination.
    Mock::given(method("POST"))
        .and(path(OUTBOUND))
        .and(header("xi-api-key", KEY))
        .and(body_partial_json(
            json!({"agent_id": "agent_01jbstub", "agent_phone_number_id": "phnum_01jbstub"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"success": true, "message": "ok", "conversation_id": "conv_stub", "sip_call_id": "sip-1"}),
                )
                .set_delay(ring),
        )
        .mount(&server)
        .await;
    server
}

/// The agent calls placed, in order: (voice override, dynamic variables).
async fn agent_calls(stub: &MockServer, call_id: &str) -> Vec<(Value, Value)> {
    stub.received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == OUTBOUND)
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .map(|b| b["conversation_initiation_client_data"].clone())
        .filter(|d| d["dynamic_variables"]["threecx_call_id"] == call_id)
        .map(|d| {
            (d["conversation_config_override"]["tts"]["voice_id"].clone(), d["dynamic_variables"].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_hears_the_greeting_then_their_cloned_voice_and_next_time_the_clone_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let caller = "+14155550123";
    with_sample(&data, caller, 41).await;
    let stub = stub(true).await;
    let s = serve(&stub, &data, 300);

    // Refused before anything happens.
    let (status, _) = s.threecx("IncomingCall", "3cx-stale", caller, true).await;
    assert_eq!(status, 401, "stale timestamp");
    let body = json!({"event_type": "IncomingCall"}).to_string();
    let (status, bad) = s
        .post(
            "/webhook/3cx-call",
            body,
            &[
                ("X-3CX-Timestamp", Utc::now().timestamp().to_string()),
                ("X-3CX-Signature", format!("sha256={}", "0".repeat(64))),
            ],
        )
        .await;
    assert_eq!((status, bad["error"]["code"].clone()), (401, json!("bad_signature")));

    // Ten deliveries of the same IncomingCall at once: one greeting, one clone run.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let to = s.to.clone();
        tasks.push(tokio::spawn(async move {
            to.threecx("IncomingCall", "3cx-1001", "+14155550123", false).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    for (status, a) in &answers {
        assert_eq!(*status, 200, "{a}");
        assert_eq!(
            (a["path"].clone(), a["greeting_call_id"].clone()),
            (json!("cloning"), json!("conv_stub")),
            "{a}"
        );
    }
    assert_eq!(answers.iter().filter(|(_, a)| a["duplicate"] == false).count(), 1);

    // transition-call records its event just after the hand-over it saved on the call: wait for both.
    let transferred = |c: &Value| {
        c["hand_over"] == "transferred"
            && c["events"].as_array().is_some_and(|e| e.iter().any(|e| e["kind"] == "clone_transfer"))
    };
    let call = s.call_when("3cx-1001", Duration::from_secs(240), transferred).await;
    assert_eq!(call["hand_over"], "transferred", "{call:#}");
    assert_eq!(call["voice_id"], VOICE);
    let placed = agent_calls(&stub, "3cx-1001").await;
    assert_eq!(placed.len(), 2, "the greeting, then the agent: {placed:?}");
    assert_eq!(placed[0].0, "greetingVoice01");
    assert_eq!(placed[0].1["mode"], "greeting");
    assert_eq!(placed[1].0, VOICE, "the agent speaks with the cloned voice");
    for (k, v) in
        [("mode", "agent"), ("from_greeting", "true"), ("auto_transitioned", "true"), ("caller_id", caller)]
    {
        assert_eq!(placed[1].1[k], v, "{k}");
    }
    let kinds: Vec<_> =
        call["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["incoming", "clone_ready", "clone_transfer"], "{call:#}");

    // The next call from the same caller: the cached clone at once.
    let (status, next) = s.threecx("IncomingCall", "3cx-1002", caller, false).await;
    assert_eq!(
        (status, next["path"].clone(), next["voice_id"].clone()),
        (200, json!("cached"), json!(VOICE))
    );
    assert_eq!(agent_calls(&stub, "3cx-1002").await.len(), 1);
    let (_, status_now) = s.get("/api/clone-status/%2B14155550123").await;
    assert_eq!(status_now["status"], "ready");
    let (_, metrics) = s.get("/metrics").await;
    let m = &metrics["metrics"];
    assert_eq!(
        (m["calls"]["cloning"].clone(), m["calls"]["cached"].clone(), m["transfers"].clone()),
        (json!(1), json!(1), json!(1))
    );
    assert_eq!(m["cache_hit_rate"], 0.5);
    assert!(m.get("webhook_rejections_total").is_none(), "refusals are metrics only, never stored: {m}");

    // Every authenticated delivery is kept as received; the refused ones are not.
    drop(s);
    let out = Command::new(echome_tests::echome())
        .arg("--data-dir")
        .arg(&data)
        .args(["webhooks", "3cx", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let calls: std::collections::BTreeSet<_> =
        kept.iter().map(|d| d["body"]["call_id"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(calls, ["3cx-1001".to_owned(), "3cx-1002".to_owned()].into(), "{kept:#?}");
    assert!(kept.iter().all(|d| d["key"].as_str().unwrap().starts_with("webhooks/3cx/")), "{kept:#?}");

    // The caller's voice gives up its slot (marked as free_a_slot marks it) and they call again:
    // the clone is made from the pack the first run kept, and the recording is not analysed again.
    let who = CallerId::parse(caller).unwrap();
    let pack = {
        let records = LocalRecords::open(&data.join("echome.redb")).unwrap();
        let pack = records
            .current_sample(&echome_core::Person::from(&who))
            .await
            .unwrap()
            .unwrap()
            .pack
            .expect("the first run kept its pack");
        let entry = records.clone_of(&echome_core::Person::from(&who)).await.unwrap().unwrap();
        records.put_clone(&CloneRecord { status: CloneStatus::Evicted, ..entry }).await.unwrap();
        pack
    };
    let s = serve(&stub, &data, 300);
    let (status, again) = s.threecx("IncomingCall", "3cx-1003", caller, false).await;
    assert_eq!((status, again["path"].clone()), (200, json!("cloning")), "{again}");
    let call = s.call_when("3cx-1003", Duration::from_secs(60), |c| c["hand_over"] == "transferred").await;
    assert_eq!((call["hand_over"].clone(), call["voice_id"].clone()), (json!("transferred"), json!(VOICE)));
    let run_id = again["run_id"].as_str().unwrap().to_owned();
    let until = Instant::now() + Duration::from_secs(30);
    let run = loop {
        let (_, run) = s.get(&format!("/runs/{run_id}")).await;
        if run["status"] != "running" || Instant::now() > until {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run["status"], "succeeded", "{run}");
    drop(s);
    let blobs = FsBlobStore::new(data.join("blobs"));
    let run_files = blobs.path_of(&BlobRef::new("recordings", format!("runs/{run_id}/"))).unwrap();
    assert!(!run_files.exists(), "nothing extracted or cut for the second clone: {}", run_files.display());
    let records = LocalRecords::open(&data.join("echome.redb")).unwrap();
    let rec = records.run(&echome_core::RunId::parse(&run_id).unwrap()).await.unwrap().unwrap();
    assert_eq!(rec.report.as_ref(), Some(&pack.report), "the run's report is the kept pack's");
    let entry = records.clone_of(&echome_core::Person::from(&who)).await.unwrap().unwrap();
    assert_eq!((entry.status, entry.voice_id.as_str()), (CloneStatus::Active, VOICE));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_provider_or_a_hung_up_caller_never_leaves_anyone_waiting_or_rings_in_vain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    with_sample(&data, "+14155550123", 42).await;
    with_sample(&data, "+442071838750", 43).await;
    let stub = stub(false).await;
    let s = serve(&stub, &data, 5);

    let started = Instant::now();
    let (status, a) = s.threecx("IncomingCall", "3cx-2001", "+14155550123", false).await;
    assert_eq!((status, a["path"].clone()), (200, json!("cloning")));
    let call = s.call_when("3cx-2001", Duration::from_secs(30), |c| c["hand_over"].is_string()).await;
    assert_eq!(
        (call["hand_over"].clone(), call["note"].clone()),
        (json!("fallback"), json!("deadline_passed")),
        "{call:#}"
    );
    let fallback_at = started.elapsed();
    assert!(
        fallback_at < Duration::from_secs(12),
        "the fallback came {fallback_at:?} after the call; the deadline is 5 s"
    );
    let placed = agent_calls(&stub, "3cx-2001").await;
    assert_eq!(placed.len(), 2, "{placed:?}");
    assert_eq!(
        (placed[1].0.clone(), placed[1].1["fallback_reason"].clone()),
        (json!("defaultVoice01"), json!("deadline_passed"))
    );

    // A caller who hangs up on the greeting is not rung back.
    let (_, b) = s.threecx("IncomingCall", "3cx-2002", "+442071838750", false).await;
    assert_eq!(b["path"], "cloning");
    let (status, _) = s.threecx("CallEnded", "3cx-2002", "+442071838750", false).await;
    assert_eq!(status, 200);
    let call = s.call_when("3cx-2002", Duration::from_secs(30), |c| c["hand_over"].is_string()).await;
    assert_eq!(
        (call["status"].clone(), call["hand_over"].clone()),
        (json!("ended"), json!("not_rung")),
        "{call:#}"
    );
    assert_eq!(agent_calls(&stub, "3cx-2002").await.len(), 1, "only the greeting");
}

/// Faults between the steps, as a caller lives them: a hang-up while the greeting is still being
/// placed, and 3CX delivering the same `CallEnded` again.
#[tokio::test(flavor = "multi_thread")]
async fn a_caller_who_hangs_up_while_the_greeting_rings_is_rung_once_and_replays_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    with_sample(&data, "+14155550123", 44).await;
    let stub = stub_with(true, Duration::from_millis(1500)).await;
    let s = std::sync::Arc::new(serve(&stub, &data, 5));
    let incoming = {
        let s = s.clone();
        tokio::spawn(async move { s.threecx("IncomingCall", "3cx-3001", "+14155550123", false).await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, ended) = s.threecx("CallEnded", "3cx-3001", "+14155550123", false).await;
    assert_eq!(status, 200, "{ended}");
    let (status, answer) = incoming.await.unwrap();
    assert_eq!((status, answer["path"].clone()), (200, json!("cloning")), "{answer}");
    // Past the deadline: a run would have rung the default voice by now.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(agent_calls(&stub, "3cx-3001").await.len(), 1, "only the greeting was placed");
    let (_, call) = s.get("/calls/3cx-3001").await;
    assert_eq!(call["status"], "ended", "{call:#}");
    assert!(call["note"].as_str().unwrap_or_default().contains("hung up"), "{call:#}");
    let run = call["run_id"].as_str().unwrap();
    assert_eq!(s.get(&format!("/runs/{run}")).await.0, 404, "no clone run was started");

    for _ in 0..2 {
        assert_eq!(s.threecx("CallEnded", "3cx-3001", "+14155550123", false).await.0, 200);
    }
    let (_, metrics) = s.get("/metrics").await;
    assert_eq!(
        metrics["metrics"]["calls_ended"], 1,
        "a replayed CallEnded is not counted again: {metrics:#}"
    );
}

/// A PBX's recording download on 127.0.0.1: `/rec/{name}` answers the file, with the bearer
/// token the PBX asks for; anything else 404.
async fn pbx(recording: Vec<u8>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let recording = std::sync::Arc::new(recording);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let recording = recording.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let ok = head.starts_with("get /rec/")
                    && head.contains("authorization: bearer pbx-download-token");
                let (status, body): (&str, &[u8]) =
                    if ok { ("200 OK", &recording[..]) } else { ("404 Not Found", b"none") };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                if s.write_all(head.as_bytes()).await.is_ok() {
                    let _sent = s.write_all(body).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_callers_first_call_recording_becomes_their_sample_and_their_next_call_is_in_their_voice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let caller = "+14155550177";
    // The call as the PBX recorded it: the caller on the left, the agent's leg on the right.
    let mono = dir.path().join("caller.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 45.0, seed: 77 }, &mono).unwrap();
    let stereo = dir.path().join("call.wav");
    let made = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y", "-i"])
        .arg(&mono)
        .args(["-af", "pan=stereo|c0=c0|c1=0.05*c0"])
        .arg(&stereo)
        .status()
        .unwrap();
    assert!(made.success());
    let port = pbx(std::fs::read(&stereo).unwrap()).await;
    let stub = stub(true).await;
    let s = serve_with(
        &stub,
        &data,
        300,
        &[
            ("FETCH_ALLOWED_HOSTS", "127.0.0.1".into()),
            ("FETCH_ALLOWED_NETWORKS", "127.0.0.0/8".into()),
            ("PBX_RECORDING_CREDENTIALS", "Bearer pbx-download-token".into()),
            ("RECORDING_CHANNEL", "left".into()),
        ],
    );

    // No sample yet: the first call gets the default voice.
    let (status, first) = s.threecx("IncomingCall", "3cx-rec-1", caller, false).await;
    assert_eq!((status, first["path"].clone()), (200, json!("no_sample")), "{first}");
    let url = format!("http://127.0.0.1:{port}/rec/3cx-rec-1.wav?token=t0ken");
    let ended = json!({ "duration": 45, "recording_url": url });
    let (status, _) = s.threecx_with("CallEnded", "3cx-rec-1", caller, false, ended).await;
    assert_eq!(status, 200);
    let stored = |c: &Value| c["recording"]["status"] == "stored";
    let call = s.call_when("3cx-rec-1", Duration::from_secs(30), stored).await;
    assert_eq!(call["recording"]["status"], "stored", "{call:#}");
    assert!(!call.to_string().contains("t0ken") && !call.to_string().contains("14155550177"), "{call}");

    // The recording is the caller's sample: it is cloned, and the next call is in their voice.
    let until = Instant::now() + Duration::from_secs(240);
    loop {
        let (_, status) = s.get("/api/clone-status/%2B14155550177").await;
        if status["status"] == "ready" || status["status"] == "failed" || Instant::now() > until {
            assert_eq!(status["status"], "ready", "{status:#}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (status, next) = s.threecx("IncomingCall", "3cx-rec-2", caller, false).await;
    assert_eq!(
        (status, next["path"].clone(), next["voice_id"].clone()),
        (200, json!("cached"), json!(VOICE))
    );
    let blobs = FsBlobStore::new(data.join("blobs"));
    let sample = BlobRef::new("recordings", format!("samples/{caller}/calls/3cx-rec-1.wav"));
    assert_eq!(blobs.get_bytes(&sample).await.unwrap(), std::fs::read(&stereo).unwrap());
    assert!(blobs.keys("recordings", "inbox/").await.unwrap().is_empty(), "the request is settled");
}

/// ElevenLabs' two post-call webhooks of a caller's first call: the caller's turns become their
/// sample, it is cloned, and their next call is in their voice.
#[tokio::test]
async fn a_callers_turns_of_an_agent_conversation_become_their_voice_for_the_next_call() {
    use echome_testkit::speech::SENTENCES;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let caller = "+14155550188";
    let stub = stub(true).await;
    let s = serve(&stub, &data, 300);
    let mp3 = s.agent_conversation(caller, "3cx-conv-1", "conv_e2e_1", &SENTENCES[..10], dir.path()).await;
    assert_eq!(s.clone_settles(caller, None).await["status"], "ready");
    let (status, next) = s.threecx("IncomingCall", "3cx-conv-2", caller, false).await;
    assert_eq!(
        (status, next["path"].clone(), next["voice_id"].clone()),
        (200, json!("cached"), json!(VOICE))
    );
    let blobs = FsBlobStore::new(data.join("blobs"));
    assert!(blobs.keys("recordings", "inbox/").await.unwrap().is_empty(), "both halves are settled");
    let sample = BlobRef::new("recordings", format!("samples/{caller}/calls/conv_e2e_1.mp3"));
    assert!(blobs.get_bytes(&sample).await.unwrap().len() < mp3, "the caller's part only");
}

/// Two short conversations: the first holds too little of the caller to clone (recorded on
/// its run, the sample kept), the second's run joins it and the caller gets their voice.
#[tokio::test]
async fn two_short_conversations_of_a_caller_make_one_voice() {
    use echome_testkit::speech::SENTENCES;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let caller = "+14155550189";
    let stub = stub(true).await;
    let s = serve(&stub, &data, 300);
    s.agent_conversation(caller, "3cx-short-1", "conv_short_1", &SENTENCES[..4], dir.path()).await;
    let first = s.clone_settles(caller, None).await;
    let error = first["latest_run"]["error"]["code"].as_str();
    assert_eq!((first["status"].as_str(), error), (Some("failed"), Some("too_little_speech")), "{first:#}");
    s.agent_conversation(caller, "3cx-short-2", "conv_short_2", &SENTENCES[4..8], dir.path()).await;
    // Meanwhile the short recording was not analysed again on the call: no greeting for nothing.
    let (_, call) = s.get("/calls/3cx-short-2").await;
    assert_eq!(call["path"], "no_sample", "{call:#}");
    let second = s.clone_settles(caller, Some(&first["latest_run"]["run_id"])).await;
    assert_eq!(second["status"], "ready", "{second:#}");
    let (_, run) = s.get(&format!("/runs/{}", second["latest_run"]["run_id"].as_str().unwrap())).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let (status, next) = s.threecx("IncomingCall", "3cx-short-3", caller, false).await;
    assert_eq!((status, next["path"].clone()), (200, json!("cached")), "{next}");
}
