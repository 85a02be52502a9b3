//! CloneVoice with the real ElevenLabs engine against a stateful stub of the account (voices
//! made, listed and deleted; the subscription's slots counted from them): what a provider that
//! holds voices echome did not make, or loses an answer, does to a clone.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use clone_voice::{Config, handle_at};
use echome_core::{BlobStore, CallerId, CloneCache, CloneInput, CloneRecord, CloneStatus, RunId, VoiceId};
use echome_elevenlabs::{ApiKey, Client, Config as ApiConfig, ElevenLabsEngine};
use echome_local::{FsBlobStore, LocalRecords};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The account: its voices, and how many slots the plan has.
#[derive(Clone)]
struct Account {
    voices: Arc<Mutex<Vec<Value>>>,
    limit: usize,
}

impl Account {
    fn ids(&self) -> Vec<String> {
        self.voices.lock().unwrap().iter().map(|v| v["voice_id"].as_str().unwrap().to_owned()).collect()
    }
}

struct List(Account);
struct Add(Account, StdDuration);
struct Delete(Account);
struct Subscription(Account);

impl Respond for List {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let search = req.url.query_pairs().find(|(k, _)| k == "search").map(|(_, v)| v.into_owned());
        let voices: Vec<Value> = self
            .0
            .voices
            .lock()
            .unwrap()
            .iter()
            .filter(|v| search.as_ref().is_none_or(|s| v.to_string().contains(s.as_str())))
            .cloned()
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"voices": voices, "has_more": false}))
    }
}

impl Respond for Add {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body = String::from_utf8_lossy(&req.body).into_owned();
        // The labels part is a JSON string; the stub keeps the request id it carries.
        let request =
            body.split("echome_request\":\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
        let mut voices = self.0.voices.lock().unwrap();
        let id = format!("madeVoice{}", voices.len() + 1);
        voices.push(json!({"voice_id": id, "name": "echome", "category": "cloned",
            "labels": {"echome": "1", "echome_request": request}}));
        ResponseTemplate::new(200).set_body_json(json!({"voice_id": id})).set_delay(self.1)
    }
}

impl Respond for Delete {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let id = req.url.path().rsplit('/').next().unwrap_or_default().to_owned();
        let mut voices = self.0.voices.lock().unwrap();
        let before = voices.len();
        voices.retain(|v| v["voice_id"] != id.as_str());
        if voices.len() == before {
            return ResponseTemplate::new(404)
                .set_body_json(json!({"detail": {"status": "voice_not_found", "message": "no voice"}}));
        }
        ResponseTemplate::new(200).set_body_json(json!({"status": "ok"}))
    }
}

impl Respond for Subscription {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let used = self.0.voices.lock().unwrap().len();
        ResponseTemplate::new(200).set_body_json(json!({"tier": "creator", "status": "active",
            "voice_slots_used": used, "voice_limit": self.0.limit, "can_use_instant_voice_cloning": true}))
    }
}

async fn stub(voices: Vec<Value>, limit: usize, add_delay: StdDuration) -> (MockServer, Account) {
    let server = MockServer::start().await;
    let account = Account { voices: Arc::new(Mutex::new(voices)), limit };
    Mock::given(method("GET"))
        .and(path("/v2/voices"))
        .respond_with(List(account.clone()))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/voices/add"))
        .respond_with(Add(account.clone(), add_delay))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex("^/v1/voices/[^/]+$"))
        .respond_with(Delete(account.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/user/subscription"))
        .respond_with(Subscription(account.clone()))
        .mount(&server)
        .await;
    (server, account)
}

fn engine(server: &MockServer) -> ElevenLabsEngine {
    let mut cfg = ApiConfig::new(ApiKey::new("sk_stub"));
    cfg.base_url = server.uri();
    cfg.timeout = StdDuration::from_millis(500);
    cfg.backoff = StdDuration::from_millis(5);
    cfg.max_backoff = StdDuration::from_millis(20);
    ElevenLabsEngine::new(Client::new(cfg).unwrap())
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z").unwrap().with_timezone(&Utc)
}

fn input(caller: &str) -> CloneInput {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/clone-voice/pack.json");
    let mut input: CloneInput = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    input.caller_id = CallerId::parse(caller).unwrap();
    input
}

async fn world() -> (tempfile::TempDir, FsBlobStore, LocalRecords, Config) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::new(dir.path().join("blobs"));
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let cfg = Config {
        work_dir: dir.path().to_path_buf(),
        ttl: Duration::hours(24),
        speaker_threshold: Default::default(),
    };
    let pack = input("+14155550123").pack;
    for s in &pack.samples {
        blobs.put_bytes(s, vec![1; 4000], "audio/wav").await.unwrap();
    }
    blobs.put_bytes(&pack.report, b"{}".to_vec(), "application/json").await.unwrap();
    (dir, blobs, records, cfg)
}

fn cached(caller: &str, voice: &str, used: DateTime<Utc>) -> CloneRecord {
    CloneRecord {
        caller_id: CallerId::parse(caller).unwrap(),
        voice_id: VoiceId::parse(voice).unwrap(),
        engine: "elevenlabs".into(),
        pack_digest: "older".into(),
        run_id: RunId::parse("run-old").unwrap(),
        created_at: used,
        last_used_at: used,
        reuse_count: 0,
        status: CloneStatus::Active,
        expires_at: (used + Duration::hours(24)).timestamp(),
    }
}

#[tokio::test]
async fn a_voice_made_elsewhere_with_an_odd_id_is_skipped_not_fatal_at_the_voice_limit() {
    let voices = vec![
        json!({"voice_id": "brand-voice-1", "name": "Brand voice", "category": "professional", "labels": {}}),
        json!({"voice_id": "voiceA", "name": "echome a", "category": "cloned", "labels": {"echome": "1"}}),
        json!({"voice_id": "voiceB", "name": "echome b", "category": "cloned", "labels": {"echome": "1"}}),
    ];
    let (server, account) = stub(voices, 3, StdDuration::ZERO).await;
    let (_dir, blobs, records, cfg) = world().await;
    records.put_clone(&cached("+14155550001", "voiceA", t0() - Duration::hours(2))).await.unwrap();
    records.put_clone(&cached("+14155550002", "voiceB", t0() - Duration::hours(1))).await.unwrap();

    let out = handle_at(&blobs, &records, &records, &engine(&server), &cfg, input("+14155550003"), t0())
        .await
        .unwrap();
    assert_eq!(out.evicted.as_ref().map(VoiceId::as_str), Some("voiceA"), "the least recently used of ours");
    assert_eq!(
        account.ids(),
        ["brand-voice-1", "voiceB", out.voice_id.as_str()],
        "the brand voice is untouched"
    );
    let a = records.clone_of(&CallerId::parse("+14155550001").unwrap()).await.unwrap().unwrap();
    assert_eq!(a.status, CloneStatus::Evicted);
}

#[tokio::test]
async fn a_timeout_on_add_voice_where_the_voice_was_made_records_that_voice_and_makes_no_other() {
    let (server, account) = stub(vec![], 10, StdDuration::from_secs(2)).await;
    let (_dir, blobs, records, cfg) = world().await;
    let caller = "+14155550123";
    let out =
        handle_at(&blobs, &records, &records, &engine(&server), &cfg, input(caller), t0()).await.unwrap();
    assert_eq!(account.ids(), ["madeVoice1"], "exactly one voice exists");
    assert_eq!(out.voice_id.as_str(), "madeVoice1", "the clone uses it");
    let entry = records.clone_of(&CallerId::parse(caller).unwrap()).await.unwrap().unwrap();
    assert_eq!((entry.voice_id.as_str(), entry.status), ("madeVoice1", CloneStatus::Active));
    let adds =
        server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/v1/voices/add").count();
    assert_eq!(adds, 1);
}
