//! The voice library end to end through `echome serve` (the API's handler behind local
//! tokens): two operators, a viewer and an admin each see and change what is theirs, shared
//! with them, or (for the admin) everything; the call flow's voices are the account's.

use std::path::Path;

use chrono::{Duration, Utc};
use echome_core::BlobStore;
use echome_core::library::{SYSTEM_OWNER, VoiceLibrary, VoiceModel};
use echome_local::{FsBlobStore, LocalRecords};
use echome_testkit::{Scene, SceneKind, generate};
use serde_json::{Value, json};

const CALLER: &str = "+14155550123";

struct User {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl User {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

fn ids(list: &Value) -> Vec<&str> {
    list["models"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect()
}

async fn seed(data: &Path) {
    let at = Utc::now() - Duration::days(2);
    // Offline voices, as `echome serve` without an ElevenLabs key makes them.
    let model = |run: &str, person: &str, owner: &str, voice: &str, score: f64, days: i64| VoiceModel {
        provider: "offline".into(),
        ..echome_testkit::fixtures::voice_model(
            run,
            person,
            owner,
            voice,
            Some(score),
            at + Duration::hours(days),
        )
    };
    let records = LocalRecords::open(&data.join("echome.redb")).unwrap();
    let models: [VoiceModel; 3] = [
        model("alice-1", "emp-1", "alice", "offlineVoiceA1", 0.7, 0),
        model("alice-2", "emp-1", "alice", "offlineVoiceA2", 0.9, 1),
        model("call-1", CALLER, SYSTEM_OWNER, "offlineVoiceC1", 0.6, 2),
    ];
    for m in &models {
        assert!(records.create_model(m).await.unwrap());
    }
    // A recording of the caller to ask a model for (45 s of generated speech).
    let wav = data.join("interview.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 45.0, seed: 7 }, &wav).unwrap();
    let blob = echome_core::BlobRef::new("recordings", format!("samples/{CALLER}/interview.wav"));
    FsBlobStore::new(data.join("blobs")).upload_from(&blob, &wav, "audio/wav").await.unwrap();
}

#[tokio::test]
async fn two_users_a_viewer_and_an_admin_each_get_their_part_of_the_library() {
    let data = tempfile::tempdir().unwrap();
    seed(data.path()).await;
    let echome = echome_tests::echome();
    let env = [
        ("THREECX_WEBHOOK_SECRET", "3cx-secret-for-the-library-tests-01".to_owned()),
        ("ELEVENLABS_WEBHOOK_SECRET", "whsec_library_tests_secret_0123".to_owned()),
        ("ELEVENLABS_INITIATION_SECRET", "initiation-library-tests-0123".to_owned()),
        ("ECHOME_MIN_SPEECH_S", "20".to_owned()),
    ];
    let running = echome_testkit::serve::Serve::start(&echome, data.path(), &env);
    let user = |sub: &str, role: &str| User {
        http: reqwest::Client::new(),
        base: running.base.clone(),
        token: Some(echome_testkit::serve::token(&echome, data.path(), sub, role, "15m")),
    };
    let (alice, bob, carol, root) =
        (user("alice", "operator"), user("bob", "operator"), user("carol", "viewer"), user("root", "admin"));
    let nobody = User { http: reqwest::Client::new(), base: running.base.clone(), token: None };

    assert_eq!(nobody.get("/voice-models").await.0, 401);
    let (_, list) = carol.get("/voice-models").await;
    assert_eq!(ids(&list), ["vm-call-1"], "a viewer sees the account's voices only: {list}");
    assert!(!list.to_string().contains("4155550"), "numbers redacted: {list}");
    let (_, list) = alice.get("/voice-models").await;
    assert_eq!(ids(&list), ["vm-alice-1", "vm-alice-2", "vm-call-1"]);
    assert_eq!(bob.get("/voice-models/vm-alice-1").await.0, 404);

    let (status, active) = alice.post("/voice-models/vm-alice-1/activate", json!({})).await;
    assert_eq!((status, active["by_hand"].clone()), (200, json!(true)), "{active}");
    assert_eq!(alice.post("/voice-models/vm-alice-1/activate", json!({})).await.0, 409);
    assert_eq!(alice.post("/voice-models/vm-call-1/activate", json!({})).await.0, 403, "the account's");
    assert_eq!(bob.post("/voice-models/vm-alice-1/activate", json!({})).await.0, 404);

    let (status, _) = alice.post("/voice-models/vm-alice-1/shares", json!({"user": "bob"})).await;
    assert_eq!(status, 201);
    assert_eq!(bob.get("/voice-models/vm-alice-1").await.0, 200);
    let (_, shared) = bob.get("/shared").await;
    assert_eq!(ids(&shared), ["vm-alice-1"]);
    let rename = Some(json!({"name": "Reception"}));
    assert_eq!(bob.send(reqwest::Method::PATCH, "/voice-models/vm-alice-1", rename.clone()).await.0, 403);
    assert_eq!(alice.send(reqwest::Method::PATCH, "/voice-models/vm-alice-1", rename).await.0, 200);

    let (_, all) = root.get("/voice-models").await;
    assert_eq!(ids(&all).len(), 3, "admins see all");
    let (status, gone) = root.send(reqwest::Method::DELETE, "/voice-models/vm-alice-1", None).await;
    assert_eq!((status, gone["activated_instead"].clone()), (200, json!("vm-alice-2")), "{gone}");
    let (_, person) = alice.get("/people/emp-1/active-voice").await;
    assert_eq!((person["model_id"].clone(), person["by_hand"].clone()), (json!("vm-alice-2"), json!(false)));
    let (_, audit) = alice.get("/voice-models/vm-alice-1/audit").await;
    let who: Vec<_> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].clone(), e["action"].clone()))
        .collect();
    assert_eq!(
        who,
        [
            (json!("alice"), json!("activate")),
            (json!("alice"), json!("share")),
            (json!("alice"), json!("update")),
            (json!("root"), json!("delete")),
        ]
    );

    // Alice asks for a model of the caller from their recording: a clone run makes its voice.
    let ask = json!({"person": CALLER, "sample_key": format!("samples/{CALLER}/interview.wav")});
    let (status, refused) = alice.post("/voice-models", ask.clone()).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("consent_missing")), "{refused}");
    let consent = json!({"given_by": "the caller", "method": "recorded_verbal"});
    assert_eq!(carol.post("/people/%2B14155550123/consent", consent.clone()).await.0, 403, "viewers read");
    assert_eq!(alice.post("/people/%2B14155550123/consent", consent).await.0, 201);
    assert_eq!(carol.post("/voice-models", ask.clone()).await.0, 403);
    let (status, made) = alice.post("/voice-models", ask).await;
    assert_eq!((status, made["model"]["status"].clone()), (202, json!("pending")), "{made}");
    let id = made["model"]["id"].as_str().unwrap().to_owned();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let ready = loop {
        let (_, m) = alice.get(&format!("/voice-models/{id}")).await;
        if m["status"] == "ready" || std::time::Instant::now() > until {
            break m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert_eq!(
        (
            ready["status"].clone(),
            ready["owner"].clone(),
            ready["provider"].clone(),
            ready["is_active"].clone()
        ),
        (json!("ready"), json!("alice"), json!("offline"), json!(true)),
        "{ready}"
    );
    // The run goes on to score the voice; the score lands on the model.
    let run = loop {
        let (_, run) = alice.get(&format!("/runs/{}", made["run_id"].as_str().unwrap())).await;
        if run["status"] != "running" || std::time::Instant::now() > until {
            break run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert_eq!(run["status"], "succeeded", "{run}");
    let (_, scored) = alice.get(&format!("/voice-models/{id}")).await;
    assert!(scored["quality"]["score"].is_number(), "{scored}");
    assert_eq!(bob.get(&format!("/voice-models/{id}")).await.0, 404, "alice's own");
    drop(running);

    // The CLI reads the same library (as the data dir's admin).
    let (ok, listed) =
        echome_tests::echome_json(data.path(), &["voices", "list", "--person", "emp-1", "--json"]);
    assert!(ok, "{listed}");
    let active: Vec<_> = listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["is_active"] == true)
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(active, [json!("vm-alice-2")], "{listed}");
    let (ok, dry) = echome_tests::echome_json(data.path(), &["voices", "cleanup", "--dry-run", "--json"]);
    assert!(ok && dry["removed"].as_array().unwrap().is_empty(), "nothing is old enough: {dry}");
    let (ok, best) =
        echome_tests::echome_json(data.path(), &["voices", "best", "--person", "emp-1", "--json"]);
    assert!(ok && best["model"]["id"] == "vm-alice-2", "{best}");
    let (ok, figures) = echome_tests::echome_json(data.path(), &["voices", "analytics", "--json"]);
    assert!(ok, "{figures}");
    assert_eq!((figures["models"].clone(), figures["by_status"]["deleted"].clone()), (json!(4), json!(1)));
    let (ok, refused) =
        echome_tests::echome_json(data.path(), &["voices", "activate", "vm-alice-2", "--json"]);
    assert!(!ok && refused["error"]["code"] == "conflict", "already active: {refused}");

    // Export, back up and restore from the CLI: archives in files.
    let out = data.path().join("alice-2.tar");
    let (ok, export) = echome_tests::echome_json(
        data.path(),
        &["voices", "export", "vm-alice-2", "--out", out.to_str().unwrap(), "--json"],
    );
    assert!(ok && out.is_file(), "{export}");
    let backup = data.path().join("backup.tar");
    let (ok, made) = echome_tests::echome_json(
        data.path(),
        &["voices", "backup", "--out", backup.to_str().unwrap(), "--json"],
    );
    assert!(ok && backup.is_file(), "{made}");
    assert_eq!(
        made["models"].as_array().unwrap().len(),
        3,
        "the data dir's admin backs up every model but the deleted one: {made}"
    );
    let (ok, restored) = echome_tests::echome_json(
        data.path(),
        &["voices", "restore", backup.to_str().unwrap(), "--overwrite", "--json"],
    );
    assert!(ok, "{restored}");
    assert_eq!(restored["restored"].as_array().unwrap().len(), 3, "{restored}");
}
