//! The voice library's routes through the API handler, with the local records and the real
//! ElevenLabs engine against a stateful stub of the account: who sees and changes what (two
//! users, a viewer and an admin), the activation rules and their races, deletion with the next
//! best taking over, cleanup at its edges, the change limit and the audit trail.

use std::time::Duration as StdDuration;

use api::{Api, Offline, ProviderCheck};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::Method;
use chrono::{DateTime, Duration, Utc};
use echome_auth::{LocalKey, Verifier};
use echome_core::library::{LibrarySettings, ModelId, Person, SYSTEM_OWNER, VoiceLibrary, VoiceModel};
use echome_core::limits::Limit;
use echome_core::{CallerId, CloneCache};
use echome_elevenlabs::{ApiKey, Client, Config as ApiConfig, ElevenLabsEngine};
use echome_local::{FsBlobStore, InProcessLimiter, LocalRecords};
use echome_testkit::elevenlabs::Account;
use echome_testkit::starts::Starts;
use serde_json::{Value, json};
use wiremock::MockServer;

type LibraryApi = Api<
    LocalRecords,
    Verifier,
    InProcessLimiter,
    Offline,
    ElevenLabsEngine,
    Starts,
    FsBlobStore,
    LocalRecords,
>;

struct World {
    api: LibraryApi,
    account: Account,
    _server: MockServer,
    _dir: tempfile::TempDir,
}

fn t0() -> DateTime<Utc> {
    Utc::now() - Duration::days(1)
}

fn stub_voice(id: &str) -> Value {
    json!({"voice_id": id, "name": id, "category": "cloned", "labels": {"echome": "1"}})
}

async fn world(settings: LibrarySettings, models: &[VoiceModel]) -> World {
    let server = MockServer::start().await;
    let voices = models.iter().filter_map(|m| m.provider_voice_id.as_ref()).map(|v| stub_voice(v.as_str()));
    let account = Account::with(voices.collect(), 30);
    account.mount_voices(&server, StdDuration::ZERO).await;
    account.mount_slots(&server).await;
    let mut cfg = ApiConfig::new(ApiKey::new("sk_stub"));
    cfg.base_url = server.uri();
    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    for m in models {
        assert!(records.create_model(m).await.unwrap());
    }
    let api = Api {
        records: records.clone(),
        tokens: Verifier::Local(LocalKey::load_or_create(dir.path()).unwrap()),
        limiter: InProcessLimiter::default(),
        limits: Default::default(),
        provider: ProviderCheck::new(Offline),
        engine: ElevenLabsEngine::new(Client::new(cfg).unwrap()),
        runs: Starts::default(),
        blobs: FsBlobStore::new(dir.path().join("blobs")),
        bucket: "recordings".into(),
        library: settings,
        consent: Default::default(),
        archive: records.clone(),
        erasure_key: Some(echome_core::people::ErasureKey::new(vec![7; 32]).unwrap()),
    };
    World { api, account, _server: server, _dir: dir }
}

fn model(run: &str, person: &str, owner: &str, score: Option<f64>, days_ago: i64) -> VoiceModel {
    let voice = format!("voice{}", run.replace('-', ""));
    echome_testkit::fixtures::voice_model(run, person, owner, &voice, score, t0() - Duration::days(days_ago))
}

/// A request as API Gateway passes it after its JWT authorizer: the user's claims.
fn req(method: Method, path: &str, who: (&str, &str), body: Option<Value>) -> ApiGatewayV2httpRequest {
    let (sub, role) = who;
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut r: ApiGatewayV2httpRequest = echome_testkit::events::parse("api", "accept-speaker");
    r.raw_path = Some(raw_path.into());
    r.raw_query_string = Some(query.into());
    r.request_context.http.method = method;
    r.request_context.http.path = Some(raw_path.into());
    let jwt = r.request_context.authorizer.as_mut().unwrap().jwt.as_mut().unwrap();
    jwt.claims.insert("sub".into(), sub.into());
    jwt.claims.insert("cognito:groups".into(), format!("[{role}]"));
    r.body = body.map(|b| b.to_string());
    r
}

impl World {
    async fn call(&self, method: Method, path: &str, who: (&str, &str), body: Option<Value>) -> (i64, Value) {
        let res = self.api.handle(req(method, path, who, body)).await;
        let body = match res.body {
            Some(Body::Text(t)) => serde_json::from_str(&t).unwrap(),
            other => panic!("body {other:?}"),
        };
        (res.status_code, body)
    }

    async fn get(&self, path: &str, who: (&str, &str)) -> (i64, Value) {
        self.call(Method::GET, path, who, None).await
    }

    async fn post(&self, path: &str, who: (&str, &str), body: Value) -> (i64, Value) {
        self.call(Method::POST, path, who, Some(body)).await
    }

    async fn active(&self, person: &str) -> Option<ModelId> {
        let p = Person::parse(person).unwrap();
        self.api.records.active_voice(&p).await.unwrap().map(|a| a.model_id)
    }
}

const ALICE: (&str, &str) = ("alice", "operator");
const BOB: (&str, &str) = ("bob", "operator");
const CAROL: (&str, &str) = ("carol", "viewer");
const ROOT: (&str, &str) = ("root", "admin");

fn ids(body: &Value) -> Vec<String> {
    body["models"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn owners_change_their_models_sharers_use_them_and_others_see_nothing() {
    let w = world(Default::default(), &[model("a1", "emp-1", "alice", Some(0.7), 3)]).await;
    let path = "/voice-models/vm-a1";
    assert_eq!(w.get(path, CAROL).await.0, 404, "not shared: as if it did not exist");
    assert_eq!(w.get(path, BOB).await.0, 404);
    assert!(ids(&w.get("/voice-models", BOB).await.1).is_empty());
    assert_eq!(w.get(path, ALICE).await.0, 200);
    assert_eq!(ids(&w.get("/voice-models", ROOT).await.1), ["vm-a1"], "admins see all");

    let (status, body) = w.post("/voice-models/vm-a1/shares", ALICE, json!({"user": "bob"})).await;
    assert_eq!((status, body["shares"][0]["permission"].clone()), (201, json!("use")), "{body}");
    let (status, body) = w.get(path, BOB).await;
    assert_eq!((status, body["shares"][0]["user"].clone()), (200, json!("bob")));
    assert_eq!(ids(&w.get("/shared", BOB).await.1), ["vm-a1"]);
    let rename = Some(json!({"name": "Front desk"}));
    let (status, body) = w.call(Method::PATCH, path, BOB, rename.clone()).await;
    assert_eq!((status, body["error"]["code"].clone()), (403, json!("forbidden")), "shared for use only");
    assert_eq!(w.call(Method::DELETE, path, BOB, None).await.0, 403);
    assert_eq!(w.post("/voice-models/vm-a1/activate", BOB, json!({})).await.0, 403);
    let (status, body) = w.call(Method::PATCH, path, ALICE, rename).await;
    assert_eq!((status, body["name"].clone()), (200, json!("Front desk")), "{body}");
    assert_eq!(w.call(Method::PATCH, path, CAROL, Some(json!({"name": "x"}))).await.0, 403, "viewers read");

    w.post("/voice-models/vm-a1/shares", ALICE, json!({"user": "bob", "permission": "manage"})).await;
    assert_eq!(w.call(Method::PATCH, path, BOB, Some(json!({"metadata": {"desk": 3}}))).await.0, 200);
    assert_eq!(w.call(Method::DELETE, path, BOB, None).await.0, 403, "deleting stays the owner's");
    assert_eq!(w.call(Method::DELETE, "/voice-models/vm-a1/shares/bob", ALICE, None).await.0, 200);
    assert_eq!(w.get(path, BOB).await.0, 404, "the share is gone");
    assert_eq!(w.call(Method::DELETE, "/voice-models/vm-a1/shares/bob", ALICE, None).await.0, 404);

    let (_, audit) = w.get("/voice-models/vm-a1/audit", ALICE).await;
    let trail: Vec<_> = audit["events"].as_array().unwrap().iter().map(|e| e["action"].clone()).collect();
    assert_eq!(trail, [json!("share"), json!("update"), json!("share"), json!("update"), json!("unshare")]);
    assert_eq!(audit["events"][1]["actor"], "alice");
}

#[tokio::test]
async fn one_active_model_per_person_chosen_by_hand_or_by_the_rules() {
    let models = [
        model("m1", "emp-1", "alice", Some(0.6), 5),
        model("m2", "emp-1", "alice", Some(0.9), 4),
        model("m3", "emp-1", "alice", Some(0.75), 3),
    ];
    let w = world(Default::default(), &models).await;
    assert_eq!(w.get("/people/emp-1/active-voice", ALICE).await.0, 404, "none active yet");
    let (status, body) = w.post("/voice-models/vm-m1/activate", ALICE, json!({})).await;
    assert_eq!((status, body["by_hand"].clone()), (200, json!(true)), "{body}");
    let (status, body) = w.post("/voice-models/vm-m1/activate", ALICE, json!({})).await;
    assert_eq!((status, body["error"]["code"].clone()), (409, json!("conflict")), "already active");

    // Two operators activate two models at once: exactly one is active after.
    let (a, b) = tokio::join!(
        w.post("/voice-models/vm-m2/activate", ALICE, json!({})),
        w.post("/voice-models/vm-m3/activate", ALICE, json!({})),
    );
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    let active = w.active("emp-1").await.unwrap();
    let (_, list) = w.get("/voice-models?person=emp-1&active=true", ALICE).await;
    assert_eq!(ids(&list), [active.to_string()], "one active: {list}");
    let (_, person) = w.get("/people/emp-1/active-voice", CAROL).await;
    assert_eq!(person["error"]["code"], "not_found", "a viewer without a share sees no one's voice");
    let (_, person) = w.get("/people/emp-1/active-voice", ALICE).await;
    assert_eq!(person["model_id"], json!(active.to_string()));

    // Deleting the active model: its voice leaves the account, the next best takes over.
    let voices_before = w.account.ids().len();
    let gone = active.to_string();
    let (status, body) = w.call(Method::DELETE, &format!("/voice-models/{gone}"), ALICE, None).await;
    assert_eq!(status, 200, "{body}");
    let expected_next = if gone == "vm-m2" { "vm-m3" } else { "vm-m2" };
    assert_eq!(body["activated_instead"], expected_next, "the best ready one left: {body}");
    assert_eq!(w.account.ids().len(), voices_before - 1, "the slot is freed");
    assert_eq!(w.active("emp-1").await.unwrap().to_string(), expected_next);
    assert_eq!(w.call(Method::DELETE, &format!("/voice-models/{gone}"), ALICE, None).await.0, 404);
    let (_, kept) = w.get("/voice-models?person=emp-1&status=deleted", ROOT).await;
    assert_eq!(ids(&kept), std::slice::from_ref(&gone), "kept for audit");
    assert!(!ids(&w.get("/voice-models?person=emp-1", ALICE).await.1).contains(&gone));

    let (status, _) = w.post(&format!("/voice-models/{expected_next}/deactivate"), ALICE, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(w.active("emp-1").await, None);
    assert_eq!(w.post(&format!("/voice-models/{expected_next}/deactivate"), ALICE, json!({})).await.0, 409);
    assert_eq!(w.post(&format!("/voice-models/{gone}/activate"), ALICE, json!({})).await.0, 409, "deleted");
}

#[tokio::test]
async fn a_caller_s_voice_chosen_by_hand_is_what_their_calls_get() {
    let caller = "+14155550123";
    let older = VoiceModel { owner: SYSTEM_OWNER.into(), ..model("old-run", caller, "x", Some(0.9), 2) };
    let newer = VoiceModel { owner: SYSTEM_OWNER.into(), ..model("new-run", caller, "x", Some(0.5), 1) };
    let w = world(Default::default(), &[older.clone(), newer.clone()]).await;
    let who = CallerId::parse(caller).unwrap();
    let entry = echome_testkit::fixtures::clone_entry(
        caller,
        newer.provider_voice_id.as_ref().unwrap().as_str(),
        t0(),
    );
    w.api.records.put_clone(&entry).await.unwrap();

    assert_eq!(
        w.post("/voice-models/vm-old-run/activate", ALICE, json!({})).await.0,
        403,
        "the account's: admins"
    );
    let (status, body) = w.post("/voice-models/vm-old-run/activate", ROOT, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.to_string().contains("4155550"), "the number is redacted: {body}");
    let now_entry = w.api.records.clone_of(&echome_core::Person::from(&who)).await.unwrap().unwrap();
    assert_eq!(
        now_entry.voice_id,
        older.provider_voice_id.clone().unwrap(),
        "the call flow reads the choice"
    );
    assert!(now_entry.is_fresh(Utc::now() + Duration::days(365)), "and keeps it until changed");
    let (_, body) = w.get("/people/%2B14155550123/active-voice", CAROL).await;
    assert_eq!((body["model_id"].clone(), body["by_hand"].clone()), (json!("vm-old-run"), json!(true)));
    let (_, m) = w.get("/voice-models/vm-old-run", CAROL).await;
    assert_eq!((m["person"].clone(), m["expires_at"].clone()), (json!("+14******123"), Value::Null));

    // Two calls answered from the cache in the chosen voice: counted as that model's.
    let voice = older.provider_voice_id.clone().unwrap();
    let called = Utc::now();
    for _ in 0..2 {
        assert!(
            w.api
                .records
                .touch_clone(&echome_core::Person::from(&who), &voice, called, Duration::hours(24))
                .await
                .unwrap()
        );
    }
    let (_, used) = w.get("/voice-models/vm-old-run/usage", CAROL).await;
    assert_eq!(used["calls"], 2, "{used}");
    assert!(
        used["last_used_at"].as_str().is_some_and(|t| t.starts_with(&called.format("%Y-%m-%d").to_string()))
    );
    let (_, other) = w.get("/voice-models/vm-new-run/usage", CAROL).await;
    assert_eq!(other["calls"], 0, "the entry no longer holds its voice: {other}");
    let (_, figures) = w.get("/analytics", ROOT).await;
    assert_eq!(figures["calls"], 2, "{figures}");

    let (status, _) = w.post("/voice-models/vm-old-run/deactivate", ROOT, json!({})).await;
    assert_eq!(status, 200);
    let evicted = w.api.records.clone_of(&echome_core::Person::from(&who)).await.unwrap().unwrap();
    assert!(!evicted.is_fresh(Utc::now()), "the call flow stops using it");
}

#[tokio::test]
async fn cleanup_takes_what_meets_all_four_conditions_and_a_dry_run_only_lists() {
    let mut expired = model("e1", "emp-3", "alice", Some(0.9), 1);
    expired.expires_at = Some(Utc::now() - Duration::hours(1));
    let models = [
        model("stale", "emp-2", "alice", Some(0.4), 200),
        model("young", "emp-2", "alice", Some(0.4), 100),
        model("good", "emp-2", "alice", Some(0.6), 200),
        model("unscored", "emp-2", "alice", None, 200),
        expired,
    ];
    let w = world(Default::default(), &models).await;
    assert_eq!(w.post("/voice-models/cleanup", ALICE, json!({"dry_run": true})).await.0, 403, "admins only");
    let (status, dry) = w.post("/voice-models/cleanup", ROOT, json!({"dry_run": true})).await;
    assert_eq!(status, 200, "{dry}");
    let listed: Vec<_> =
        dry["removed"].as_array().unwrap().iter().map(|r| (r["id"].clone(), r["reason"].clone())).collect();
    assert_eq!(listed, [(json!("vm-stale"), json!("stale")), (json!("vm-e1"), json!("expired"))]);
    assert_eq!(w.account.ids().len(), 5, "a dry run changes nothing");
    let (_, soon) = w.get("/voice-models/expiring?days=1", ALICE).await;
    assert_eq!(ids(&soon), ["vm-e1"]);

    let (_, done) = w.post("/voice-models/cleanup", ROOT, json!({})).await;
    assert_eq!(done["removed"].as_array().unwrap().len(), 2, "{done}");
    assert_eq!(w.account.ids().len(), 3, "their voices left the account");
    let (_, left) = w.get("/voice-models", ROOT).await;
    assert_eq!(ids(&left), ["vm-good", "vm-unscored", "vm-young"]);
    let (_, audit) = w.get("/voice-models/vm-stale/audit", ROOT).await;
    assert_eq!(audit["events"][0]["action"], "cleanup");
}

#[tokio::test]
async fn changes_are_limited_per_user_and_bad_input_is_named() {
    let settings =
        LibrarySettings { update_limit: Limit { requests: 3, window_s: 3600 }, ..Default::default() };
    let w = world(settings, &[model("r1", "emp-1", "alice", Some(0.7), 1)]).await;
    assert_eq!(w.call(Method::PATCH, "/voice-models/vm-r1", ALICE, Some(json!({"nick": 1}))).await.0, 400);
    let (status, body) =
        w.call(Method::PATCH, "/voice-models/vm-r1", ALICE, Some(json!({"metadata": [1]}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("metadata"), "{body}");
    assert_eq!(w.call(Method::PATCH, "/voice-models/vm-r1", ALICE, Some(json!({"name": "ok"}))).await.0, 200);
    let (status, body) =
        w.call(Method::PATCH, "/voice-models/vm-r1", ALICE, Some(json!({"name": "no"}))).await;
    assert_eq!(status, 429, "the fourth change in the hour, refused ones counted: {body}");
    assert_eq!(w.get("/voice-models/vm-r1", ALICE).await.0, 200, "reading is not a change");
    assert_eq!(w.post("/voice-models/vm-r1/activate", BOB, json!({})).await.0, 404, "bob has his own limit");
    assert_eq!(w.get("/voice-models/not-a-model", ALICE).await.0, 400);
    assert_eq!(w.get("/voice-models?min_quality=2", ALICE).await.0, 400);
    assert_eq!(w.get("/voice-models?status=gone", ALICE).await.0, 400);
    assert_eq!(w.get("/people/Not%20A%20Person/active-voice", ALICE).await.0, 400);
    let (status, body) = w.call(Method::PUT, "/voice-models/vm-r1", ALICE, None).await;
    assert_eq!((status, body["error"]["code"].clone()), (405, json!("method_not_allowed")));
}

#[tokio::test]
async fn lists_filter_and_page_through_the_library() {
    let models: Vec<_> = (0..7)
        .map(|i| {
            model(
                &format!("p{i}"),
                if i % 2 == 0 { "emp-1" } else { "emp-2" },
                "alice",
                Some(0.5 + i as f64 * 0.05),
                10 - i,
            )
        })
        .collect();
    let w = world(Default::default(), &models).await;
    let mut seen = Vec::new();
    let mut path = "/voice-models?limit=3".to_owned();
    loop {
        let (status, page) = w.get(&path, ALICE).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/voice-models?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..7).map(|i| format!("vm-p{i}")).collect::<Vec<_>>(),
        "every model once, oldest first"
    );
    let (_, good) = w.get("/voice-models?min_quality=0.7&person=emp-1", ALICE).await;
    assert_eq!(ids(&good), ["vm-p4", "vm-p6"]);
    let (_, none) = w.get("/voice-models?provider=offline", ALICE).await;
    assert!(ids(&none).is_empty());
    let (_, usage) = w.get("/voice-models/vm-p1/usage", CAROL).await;
    assert_eq!(usage["error"]["code"], "not_found");
    let (_, usage) = w.get("/voice-models/vm-p1/usage", ALICE).await;
    assert_eq!((usage["characters"].clone(), usage["cost"].clone()), (json!(256), Value::Null), "{usage}");
}

#[tokio::test]
async fn compare_select_best_and_analytics_read_what_the_user_may_see() {
    let print = |e: [f32; 2]| echome_core::Voiceprint { model: "ge2e".into(), embedding: e.to_vec() };
    let mut a = model("c1", "emp-1", "alice", Some(0.82), 4);
    a.voiceprint = Some(print([0.6, 0.8]));
    a.usage = echome_core::library::Usage { uses: 4, characters: 2000, latency_ms_total: 1200 };
    let mut b = model("c2", "emp-1", "alice", Some(0.91), 3);
    b.voiceprint = Some(print([0.8, 0.6]));
    b.usage = echome_core::library::Usage { uses: 2, characters: 500, latency_ms_total: 1000 };
    a.source.pack_bytes = 3_500_000;
    b.source.pack_bytes = 1_250_000;
    let mut gone = model("c3", "emp-1", "alice", Some(0.99), 2);
    gone.status = echome_core::library::ModelStatus::Deleted;
    gone.source.pack_bytes = 9_000_000;
    let theirs = model("c4", "emp-2", "bob", Some(0.95), 1);
    let prices = echome_core::library::settings::parse_prices("elevenlabs=0.30").unwrap();
    let w = world(LibrarySettings { prices, ..Default::default() }, &[a, b, gone, theirs]).await;

    let (status, cmp) = w.post("/voice-models/compare", ALICE, json!({"a": "vm-c1", "b": "vm-c2"})).await;
    assert_eq!(status, 200, "{cmp}");
    assert_eq!(cmp["voiceprint_similarity"]["score"], json!(0.96), "0.6·0.8 + 0.8·0.6: {cmp}");
    assert_eq!(
        (cmp["a"]["quality"]["score"].clone(), cmp["b"]["usage"]["uses"].clone()),
        (json!(0.82), json!(2))
    );
    assert_eq!(
        w.post("/voice-models/compare", ALICE, json!({"a": "vm-c1", "b": "vm-c4"})).await.0,
        404,
        "bob's"
    );

    let best = |body: Value| w.post("/voice-models/select-best", ALICE, body);
    let (_, chosen) = best(json!({"person": "emp-1"})).await;
    assert_eq!(
        (chosen["model"]["id"].clone(), chosen["candidates"].clone()),
        (json!("vm-c2"), json!(2)),
        "not the deleted one"
    );
    let (_, fast) = best(json!({"person": "emp-1", "max_latency_ms": 400})).await;
    assert_eq!(fast["model"]["id"], "vm-c1", "vm-c2 answers in 500 ms on average: {fast}");
    assert_eq!(best(json!({"person": "emp-1", "min_quality": 0.95})).await.0, 404);
    assert_eq!(best(json!({"person": "emp-1", "provider": "offline"})).await.0, 404);
    assert_eq!(best(json!({"person": "emp-1", "colour": "blue"})).await.0, 400);
    // A read: it does not use up the hourly change limit.
    let tight = LibrarySettings { update_limit: Limit { requests: 1, window_s: 3600 }, ..Default::default() };
    let w2 = world(tight, &[model("d1", "emp-1", "alice", Some(0.7), 1)]).await;
    for _ in 0..3 {
        assert_eq!(w2.post("/voice-models/select-best", ALICE, json!({"person": "emp-1"})).await.0, 200);
    }

    let (status, figures) = w.get("/analytics", ALICE).await;
    assert_eq!(status, 200, "{figures}");
    assert_eq!(figures["models"], 3, "hers, the deleted one too: {figures}");
    assert_eq!(figures["by_status"], json!({"ready": 2, "deleted": 1}));
    assert_eq!(figures["average_quality"], json!(0.865), "of the ones left");
    assert_eq!((figures["uses"].clone(), figures["characters"].clone()), (json!(6), json!(2500 + 3 * 256)));
    assert_eq!(figures["cost"], json!(0.9804), "3268 characters at 0.30 per 1,000");
    assert_eq!(figures["storage_mb"], json!(4.75), "the packs of the models not deleted");
    let (_, all) = w.get("/analytics", ROOT).await;
    assert_eq!(all["models"], 4);
}

#[tokio::test]
async fn a_model_asked_for_starts_a_clone_run_and_becomes_ready_with_its_voice() {
    use echome_core::BlobStore;
    let settings =
        LibrarySettings { creation_limit: Limit { requests: 3, window_s: 3600 }, ..Default::default() };
    let w = world(settings, &[]).await;
    let key = "samples/+14155550123/interview.wav";
    let blob = echome_core::BlobRef::new("recordings", key);
    w.api.blobs.put_bytes(&blob, vec![0; 64], "audio/wav").await.unwrap();
    let consent = json!({"given_by": "the caller", "method": "recorded_verbal"});
    assert_eq!(w.post("/people/%2B14155550123/consent", ALICE, consent.clone()).await.0, 201);
    let ask = |who, body: Value| w.post("/voice-models", who, body);
    assert_eq!(ask(CAROL, json!({"person": "+14155550123", "sample_key": key})).await.0, 403, "viewers read");
    let (status, body) = ask(ALICE, json!({"person": "emp-1", "sample_key": key})).await;
    assert_eq!(status, 404, "a named person nobody created: {body}");
    let (status, body) =
        ask(ALICE, json!({"person": "+14155550123", "sample_key": "samples/+14155550999/x.wav"})).await;
    assert_eq!(status, 400, "another caller's folder: {body}");
    assert!(!body.to_string().contains("4155550"), "numbers redacted: {body}");
    let missing = json!({"person": "+14155550123", "sample_key": "samples/+14155550123/none.wav"});
    assert_eq!(ask(ALICE, missing.clone()).await.0, 404, "no such recording");
    assert_eq!(ask(ALICE, missing).await.0, 429, "the fourth ask in the hour, refused ones counted");

    let w = world(Default::default(), &[]).await;
    w.api.blobs.put_bytes(&blob, vec![0; 64], "audio/wav").await.unwrap();
    let ask = |who, body: Value| w.post("/voice-models", who, body);
    // No consent on record (the policy requires it): refused before a model or a run exists.
    let (status, refused) = ask(ALICE, json!({"person": "+14155550123", "sample_key": key})).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("consent_missing")), "{refused}");
    assert!(!refused.to_string().contains("4155550"), "numbers redacted: {refused}");
    assert!(w.api.runs.started().is_empty());
    assert_eq!(w.post("/people/%2B14155550123/consent", ALICE, consent).await.0, 201);
    assert_eq!(
        ask(ALICE, json!({"person": "+14155550123", "sample_key": "samples/+14155550123/none.wav"})).await.0,
        404
    );
    let (status, made) =
        ask(ALICE, json!({"person": "+14155550123", "sample_key": key, "name": "Interview"})).await;
    assert_eq!(status, 202, "{made}");
    let id = made["model"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (made["model"]["status"].clone(), made["model"]["owner"].clone()),
        (json!("pending"), json!("alice"))
    );
    let started = w.api.runs.started();
    assert_eq!(started.len(), 1);
    assert_eq!(
        (started[0].sample.key.as_str(), started[0].run_id.to_string()),
        (key, made["run_id"].as_str().unwrap().to_owned())
    );
    let (status, again) = ask(ALICE, json!({"person": "+14155550123", "sample_key": key})).await;
    assert_eq!((status, again["model"]["id"].clone()), (200, json!(id)), "the same model");
    assert_eq!(w.api.runs.started().len(), 1, "and no second run");
    assert_eq!(w.get(&format!("/voice-models/{id}"), BOB).await.0, 404, "alice's");

    // The run's clone step makes the voice (as clone-voice registers it): the model is ready,
    // still alice's and kept until deleted.
    let made_by_run = VoiceModel {
        owner: SYSTEM_OWNER.into(),
        expires_at: Some(Utc::now() + Duration::hours(24)),
        ..echome_testkit::fixtures::voice_model(
            &id["vm-".len()..],
            "+14155550123",
            "x",
            "voiceMadeByRun",
            None,
            Utc::now(),
        )
    };
    echome_core::library::ops::register(&w.api.records, &made_by_run, 0.8, Utc::now()).await.unwrap();
    let (_, ready) = w.get(&format!("/voice-models/{id}"), ALICE).await;
    assert_eq!(
        (
            ready["status"].clone(),
            ready["owner"].clone(),
            ready["expires_at"].clone(),
            ready["is_active"].clone()
        ),
        (json!("ready"), json!("alice"), Value::Null, json!(true)),
        "{ready}"
    );
    assert_eq!(ready["name"], "Interview");

    // A model whose run failed says so when read, with the run's error.
    let other = "samples/+14155550123/short.wav";
    w.api
        .blobs
        .put_bytes(&echome_core::BlobRef::new("recordings", other), vec![0; 64], "audio/wav")
        .await
        .unwrap();
    let (status, made) = ask(ALICE, json!({"person": "+14155550123", "sample_key": other})).await;
    assert_eq!(status, 202, "{made}");
    let run = echome_core::RunId::parse(made["run_id"].as_str().unwrap()).unwrap();
    let why = echome_core::StepError::new(
        echome_core::ErrorType::NoUsableSpeech,
        "too_little_speech",
        "only 4 s of speech",
    );
    use echome_core::RunLog;
    w.api.records.finish_run(&run, &echome_core::RunOutcome::Failed(why), Utc::now()).await.unwrap();
    let (_, failed) = w.get(&format!("/voice-models/{}", made["model"]["id"].as_str().unwrap()), ALICE).await;
    assert_eq!(
        (failed["status"].as_str(), failed["error"]["code"].as_str()),
        (Some("failed"), Some("too_little_speech")),
        "{failed}"
    );
    let (_, listed) = w.get("/voice-models?status=failed", ALICE).await;
    assert_eq!(ids(&listed), [made["model"]["id"].as_str().unwrap()], "stored as failed");
}

#[tokio::test]
async fn exports_and_backups_carry_the_record_and_pack_and_a_restore_clones_what_is_gone() {
    use echome_core::BlobStore;
    let mut packed = model("b1", "emp-1", "alice", Some(0.8), 3);
    packed.source.pack = ["sample_1.wav", "sample_2.wav"]
        .iter()
        .map(|n| echome_core::BlobRef::new("recordings", format!("runs/b1/{n}")))
        .collect();
    let bare = model("b2", "emp-1", "alice", Some(0.7), 2);
    let bobs = model("b3", "emp-2", "bob", Some(0.9), 1);
    let w = world(Default::default(), &[packed.clone(), bare.clone(), bobs]).await;
    for (i, blob) in packed.source.pack.iter().enumerate() {
        w.api.blobs.put_bytes(blob, vec![i as u8 + 1; 2000], "audio/wav").await.unwrap();
    }

    assert_eq!(w.get("/voice-models/vm-b1/export", BOB).await.0, 404);
    let (status, export) = w.get("/voice-models/vm-b1/export", ALICE).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!((export["files"].clone(), export["missing"].clone()), (json!(3), json!([])));
    let path = export["download_url"].as_str().unwrap().strip_prefix("file://").unwrap().to_owned();
    let mut names: Vec<String> = tar::Archive::new(std::fs::File::open(&path).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["models/vm-b1/model.json", "models/vm-b1/pack/sample_1.wav", "models/vm-b1/pack/sample_2.wav"]
    );

    assert_eq!(w.post("/backups", CAROL, json!({})).await.0, 403, "viewers read");
    let (status, backup) = w.post("/backups", ALICE, json!({})).await;
    assert_eq!(status, 201, "{backup}");
    assert_eq!(backup["models"], json!(["vm-b1", "vm-b2"]), "hers only");
    let id = backup["backup_id"].as_str().unwrap().to_owned();
    assert_eq!(w.post("/backups", ALICE, json!({"person": "emp-1"})).await.0, 201);
    assert_eq!(w.post("/backups", ALICE, json!({})).await.0, 429, "two a day");

    // Her packed model is deleted (its voice leaves the account), then restored from the backup.
    assert_eq!(w.call(Method::DELETE, "/voice-models/vm-b1", ALICE, None).await.0, 200);
    let gone_voice = packed.provider_voice_id.clone().unwrap().to_string();
    assert!(!w.account.ids().contains(&gone_voice));
    for blob in &packed.source.pack {
        let name = blob.key.rsplit('/').next().unwrap();
        let moved = echome_core::BlobRef::new("recordings", format!("deleted/vm-b1/{name}"));
        assert!(!w.api.blobs.exists(blob).await.unwrap(), "{blob} left runs/");
        assert_eq!(
            w.api.blobs.get_bytes(&moved).await.unwrap().len(),
            2000,
            "{moved} waits for the lifecycle"
        );
    }
    let restore = format!("/backups/{id}/restore");
    assert_eq!(w.post(&restore, BOB, json!({})).await.0, 404, "not bob's backup");
    let (status, done) = w.post(&restore, ALICE, json!({"activate_restored": true})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["skipped"].as_array().unwrap().len(), 2, "both on record: {done}");
    // Nobody is brought back without their consent to be cloned (the default policy).
    let (_, refused) =
        w.post(&restore, ALICE, json!({"overwrite_existing": true, "activate_restored": true})).await;
    let reasons: Vec<&str> =
        refused["skipped"].as_array().unwrap().iter().filter_map(|r| r["reason"].as_str()).collect();
    assert!(reasons.len() == 2 && reasons.iter().all(|r| r.starts_with("consent_missing")), "{refused}");
    use echome_core::people::{ConsentMethod, ConsentRecord, ConsentScope, People};
    let scopes = ConsentScope::parse_list(["clone"]).unwrap();
    let consent = ConsentRecord::grant(
        Person::parse("emp-1").unwrap(),
        "Emp One",
        ConsentMethod::Written,
        scopes,
        None,
        "alice",
        t0(),
    )
    .unwrap();
    w.api.records.save_consent(&consent).await.unwrap();
    let (_, done) =
        w.post(&restore, ALICE, json!({"overwrite_existing": true, "activate_restored": true})).await;
    assert_eq!(
        (done["restored"].clone(), done["recloned"].clone()),
        (json!(["vm-b1", "vm-b2"]), json!(["vm-b1"])),
        "{done}"
    );
    let (_, back) = w.get("/voice-models/vm-b1", ALICE).await;
    assert_eq!(back["status"], "ready", "{back}");
    let new_voice = back["provider_voice_id"].as_str().unwrap().to_owned();
    assert!(new_voice != gone_voice && w.account.ids().contains(&new_voice), "cloned again from the pack");
    assert_eq!(w.active("emp-1").await.unwrap().to_string(), "vm-b2", "the last one activated by hand");
    let (_, audit) = w.get("/voice-models/vm-b1/audit", ALICE).await;
    let actions: Vec<_> = audit["events"].as_array().unwrap().iter().map(|e| e["action"].clone()).collect();
    assert_eq!(actions[..3], [json!("export"), json!("backup"), json!("backup")], "{actions:?}");
    assert!(actions.contains(&json!("restore")));
}

/// What a review found: a request that went half way is finished by its retry, an expiry (which
/// decides when cleanup deletes) is the owner's to set, a voice at another provider is not
/// dropped from the record, a model made again moves its active pointer to the new voice, and a
/// made-up cursor is a place in the order like any other.
#[tokio::test]
async fn half_done_requests_finish_and_nothing_loses_track_of_a_voice() {
    use echome_core::BlobStore;
    use echome_core::library::ops;
    let mut elsewhere = model("o1", "emp-4", "alice", Some(0.7), 1);
    elsewhere.provider = "offline".into();
    let shared = model("s1", "emp-1", "alice", Some(0.8), 2);
    let remade = model("r1", "+14155550125", "alice", Some(0.9), 3);
    let w = world(Default::default(), &[elsewhere, shared, remade.clone()]).await;

    // A model asked for whose run never started (the start failed after the record was made).
    let key = "samples/+14155550124/interview.wav";
    let caller = CallerId::parse("+14155550124").unwrap();
    w.api
        .blobs
        .put_bytes(&echome_core::BlobRef::new("recordings", key), vec![0; 64], "audio/wav")
        .await
        .unwrap();
    let run_id = echome_core::RunId::for_upload(&caller, key, "model-by-alice");
    let pending =
        VoiceModel::new(ModelId::for_run(&run_id), Person::Caller(caller), "alice", "elevenlabs", t0());
    assert!(w.api.records.create_model(&pending).await.unwrap());
    let consent = json!({"given_by": "the caller", "method": "ivr"});
    assert_eq!(w.post("/people/%2B14155550124/consent", ALICE, consent).await.0, 201);
    let (status, body) =
        w.post("/voice-models", ALICE, json!({"person": "+14155550124", "sample_key": key})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(w.api.runs.started().iter().map(|s| s.run_id.clone()).collect::<Vec<_>>(), [run_id]);

    // Shared to manage: renamed by the sharer, but its expiry stays the owner's; never the past.
    let share = json!({"user": "bob", "permission": "manage"});
    assert_eq!(w.post("/voice-models/vm-s1/shares", ALICE, share).await.0, 201);
    let later = (Utc::now() + Duration::days(30)).to_rfc3339();
    assert_eq!(w.call(Method::PATCH, "/voice-models/vm-s1", BOB, Some(json!({"name": "desk"}))).await.0, 200);
    let by_bob = w.call(Method::PATCH, "/voice-models/vm-s1", BOB, Some(json!({"expires_at": later}))).await;
    assert_eq!(by_bob.0, 403, "{by_bob:?}");
    let past = json!({"expires_at": "2000-01-01T00:00:00Z"});
    let (status, body) = w.call(Method::PATCH, "/voice-models/vm-s1", ALICE, Some(past)).await;
    assert!(status == 400 && body.to_string().contains("future"), "{body}");
    assert_eq!(
        w.call(Method::PATCH, "/voice-models/vm-s1", ALICE, Some(json!({"expires_at": later}))).await.0,
        200
    );

    // Its voice is at another provider: deleting it here would leave that voice untracked.
    let (status, body) = w.call(Method::DELETE, "/voice-models/vm-o1", ALICE, None).await;
    assert!(status == 409 && body.to_string().contains("offline"), "{body}");
    assert!(w.account.ids().contains(&"voiceo1".to_owned()));
    assert_eq!(w.get("/voice-models/vm-o1", ALICE).await.1["status"], "ready");

    // Active by hand, then made again (a restore, a re-run): the pointer and the caller's entry
    // follow the new voice, still by hand.
    assert_eq!(w.post("/voice-models/vm-r1/activate", ALICE, json!({})).await.0, 200);
    let again = VoiceModel {
        provider_voice_id: Some(echome_core::VoiceId::parse("newVoiceR1").unwrap()),
        ..remade.clone()
    };
    ops::register(&w.api.records, &again, 0.8, Utc::now()).await.unwrap();
    let pointer = w.api.records.active_voice(&remade.person).await.unwrap().unwrap();
    assert_eq!((pointer.voice_id.as_str(), pointer.by_hand), ("newVoiceR1", true));
    let entry = w
        .api
        .records
        .clone_of(&echome_core::Person::from(remade.person.caller().unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.voice_id.as_str(), "newVoiceR1", "the call flow speaks with the new voice");

    // A cursor is a place in the time order: one made up lists what sorts after it.
    let forged = echome_core::signing::hex(b"2026");
    let (status, page) = w.get(&format!("/voice-models?cursor={forged}"), ALICE).await;
    assert_eq!((status, ids(&page).len()), (200, 4), "{page}");
    let past_all = echome_core::signing::hex(b"no position here");
    let (status, page) = w.get(&format!("/voice-models?cursor={past_all}"), ALICE).await;
    assert_eq!((status, ids(&page).len()), (200, 0), "{page}");
}

#[tokio::test]
async fn people_are_named_their_consent_recorded_and_revoking_it_deletes_their_voices() {
    let caller = "+14155550123";
    let ready = model("run-c1", caller, SYSTEM_OWNER, Some(0.9), 3);
    let w = world(LibrarySettings::default(), std::slice::from_ref(&ready)).await;
    let voice = ready.provider_voice_id.clone().unwrap().to_string();
    assert!(w.account.ids().contains(&voice));

    // A named person: created once, by an operator; a caller needs no record.
    let anna = json!({ "id": "emp-42", "display_name": "Anna Berg", "kind": "employee" });
    let (status, body) = w.post("/people", CAROL, anna.clone()).await;
    assert_eq!(status, 403, "viewers read only: {body}");
    let (status, body) = w.post("/people", ALICE, anna.clone()).await;
    assert_eq!(
        (status, body["display_name"].as_str(), body["kind"].as_str()),
        (201, Some("Anna Berg"), Some("employee"))
    );
    assert_eq!(w.post("/people", BOB, anna).await.0, 409, "one record per id");
    let (status, body) =
        w.post("/people", ALICE, json!({"id": caller, "display_name": "X", "kind": "other"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("known by their number"), "{body}");
    assert_eq!(w.get("/people/emp-99", CAROL).await.0, 404, "a name nobody created");
    assert_eq!(
        w.post("/people/emp-99/consent", ALICE, json!({"given_by": "x", "method": "written"})).await.0,
        404
    );

    // Consent: named in every refusal, recorded with who and how, shown to viewers.
    let path = "/people/%2B14155550123/consent";
    assert_eq!(w.get(path, CAROL).await.0, 404, "none yet");
    for (bad, says) in [
        (json!({"given_by": "the caller", "method": "email"}), "method must be"),
        (json!({"given_by": " ", "method": "ivr"}), "given_by"),
        (json!({"given_by": "the caller", "method": "ivr", "scope": []}), "at least one scope"),
        (json!({"given_by": "the caller", "method": "ivr", "scope": ["voice"]}), "scope must be"),
        (json!({"given_by": "the caller", "method": "ivr", "why": 1}), "unknown field"),
    ] {
        let (status, body) = w.post(path, ALICE, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{bad}: {body}");
    }
    let grant = json!({"given_by": "the caller", "method": "ivr", "evidence": "samples/+14155550123/ivr-consent.wav"});
    let (status, body) = w.post(path, ALICE, grant).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scope"], json!(["clone", "speech"]), "both by default");
    assert_eq!(
        (body["recorded_by"].as_str(), body["person"].as_str()),
        (Some("alice"), Some("+14******123"))
    );
    let (status, shown) = w.get("/people/%2B14155550123", CAROL).await;
    assert_eq!((status, shown["kind"].as_str()), (200, Some("caller")));
    assert_eq!(shown["consent"]["status"], "granted");
    assert_eq!(shown["active_voice_model"], json!(null), "the model is ready but was never activated here");
    assert!(!shown.to_string().contains("4155550123"), "the number is redacted: {shown}");

    // Revoked: every voice of theirs deleted at the provider, the record kept as revoked.
    assert_eq!(w.call(Method::DELETE, path, CAROL, None).await.0, 403);
    let (status, body) = w.call(Method::DELETE, path, ALICE, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted_models"], json!([ready.id]));
    assert_eq!(
        (body["consent"]["status"].as_str(), body["consent"]["revoked_by"].as_str()),
        (Some("revoked"), Some("alice"))
    );
    assert!(!w.account.ids().contains(&voice), "the voice is gone from the provider");
    let (_, m) = w.get(&format!("/voice-models/{}", ready.id), ROOT).await;
    assert_eq!(m["status"], "deleted");
    // Again: nothing left to delete, still revoked.
    let (status, body) = w.call(Method::DELETE, path, ALICE, None).await;
    assert_eq!((status, body["deleted_models"].clone()), (200, json!([])));
    assert_eq!(w.get(path, CAROL).await.1["status"], "revoked");
}

/// `POST /people/{person}/samples`: a named person's recording in their folder becomes a
/// voice model and its run (their voice named after them, their active voice on their
/// record); an upload URL needs S3, and this store says what to do instead.
#[tokio::test]
async fn a_named_person_s_recording_becomes_their_voice_model() {
    use echome_core::BlobStore;
    let w = world(LibrarySettings::default(), &[]).await;
    let path = "/people/emp-42/samples";
    let key = "samples/emp-42/interview.wav";
    w.api
        .blobs
        .put_bytes(&echome_core::BlobRef::new("recordings", key), vec![0; 64], "audio/wav")
        .await
        .unwrap();
    let ask = json!({ "sample_key": key });
    assert_eq!(w.post(path, ALICE, ask.clone()).await.0, 404, "nobody created emp-42 yet");
    let anna = json!({ "id": "emp-42", "display_name": "Anna Berg", "kind": "employee" });
    assert_eq!(w.post("/people", ALICE, anna).await.0, 201);
    let (status, body) = w.post(path, ALICE, ask.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("consent_missing")), "{body}");
    let grant =
        json!({"given_by": "Anna Berg", "method": "written", "evidence": "samples/emp-42/consent.pdf"});
    assert_eq!(w.post("/people/emp-42/consent", ALICE, grant).await.0, 201);
    assert_eq!(w.post(path, CAROL, ask.clone()).await.0, 403, "viewers read");
    for (bad, says) in [
        (json!({}), "either sample_key"),
        (json!({"sample_key": key, "file_name": "a.wav"}), "either sample_key"),
        (json!({"sample_key": "samples/emp-7/x.wav"}), "the person's folder"),
        (json!({"sample_key": key, "content_type": "audio/wav"}), "describe an upload"),
        (json!({"file_name": "a.wav", "content_type": "text/html"}), "content_type must be"),
        (json!({"file_name": "a.wav", "size_bytes": 0}), "size_bytes is 0"),
        (json!({"file_name": ".hidden"}), "not start with '.'"),
        (json!({"file_name": "a.wav", "name": "x"}), "named after its person"),
    ] {
        let (status, body) = w.post(path, ALICE, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{bad}: {body}");
    }
    let (status, body) = w.post(path, ALICE, ask.clone()).await;
    assert_eq!(status, 202, "{body}");
    let body_run = body["run_id"].as_str().map(str::to_owned);
    assert_eq!(
        (body["model"]["person"].as_str(), body["model"]["status"].as_str()),
        (Some("emp-42"), Some("pending"))
    );
    let started = w.api.runs.0.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    assert_eq!((started[0].person.as_key(), started[0].sample.key.as_str()), ("emp-42", key));
    assert!(started[0].run_id.as_str().starts_with("up-emp-42-"), "{:?}", started[0].run_id);
    let (status, again) = w.post(path, ALICE, ask).await;
    assert_eq!((status, &again["run_id"]), (200, &body["run_id"]), "asked again: the same run");

    // On one machine nothing uploads over HTTP: the answer says what does.
    let (status, body) =
        w.post(path, ALICE, json!({"file_name": "interview 2.wav", "content_type": "audio/wav"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (501, Some("not_implemented")), "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("echome samples add --person emp-42"),
        "{body}"
    );
    let (_, shown) = w.get("/people/emp-42", CAROL).await;
    assert_eq!(shown["samples_folder"], "samples/emp-42/");
    assert_eq!(
        (shown["latest_run"]["run_id"].as_str(), shown["latest_run"]["status"].as_str()),
        (body_run.as_deref(), Some("running")),
        "her run, to follow: {shown}"
    );
    // A caller's recordings come from their calls: no upload URL (its key would hold the number).
    let consent = json!({"given_by": "the caller", "method": "ivr"});
    assert_eq!(w.post("/people/%2B14155550123/consent", ALICE, consent).await.0, 201);
    let (status, body) = w.post("/people/%2B14155550123/samples", ALICE, json!({"file_name": "x.wav"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("for named people"), "{body}");
}

#[tokio::test]
async fn a_url_is_filed_for_fetch_sample_and_its_record_followed() {
    use echome_core::BlobStore;
    let w = world(LibrarySettings::default(), &[]).await;
    let path = "/people/emp-42/samples/from-url";
    let talk = json!({ "url": "https://www.example.org/talks/anna?t=1" });
    assert_eq!(w.post(path, ALICE, talk.clone()).await.0, 404, "nobody created emp-42 yet");
    let anna = json!({ "id": "emp-42", "display_name": "Anna Berg", "kind": "employee" });
    assert_eq!(w.post("/people", ALICE, anna).await.0, 201);
    let (status, body) = w.post(path, ALICE, talk.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("consent_missing")), "{body}");
    let grant = json!({"given_by": "Anna Berg", "method": "written"});
    assert_eq!(w.post("/people/emp-42/consent", ALICE, grant).await.0, 201);
    assert_eq!(w.post(path, CAROL, talk.clone()).await.0, 403, "viewers read");
    let long = format!("https://example.org/{}", "a".repeat(2048));
    for (bad, says) in [
        (json!({}), "url"),
        (json!({"url": "ftp://example.org/a.mp3"}), "must start with https://"),
        (json!({"url": "https://u:p@example.org/a.mp3"}), "user name or password"),
        (json!({"url": long}), "at most 2048"),
        (json!({"url": "https://example.org/a", "file_name": "a.wav"}), "file_name"),
    ] {
        let (status, body) = w.post(path, ALICE, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{bad}: {body}");
    }

    let (status, filed) = w.post(path, ALICE, talk).await;
    assert_eq!(status, 202, "{filed}");
    assert_eq!((filed["state"].as_str(), filed["requested_by"].as_str()), (Some("pending"), Some("alice")));
    assert_eq!(filed["url"], "https://www.example.org/talks/anna?t=1");
    let id = filed["id"].as_str().unwrap();
    let status_path = filed["status_path"].as_str().unwrap();
    assert_eq!(status_path, format!("/people/emp-42/samples/from-url/{id}"));
    // The request waits where fetch-sample's S3 event comes from; nothing was fetched here.
    let inbox = w.api.blobs.keys("recordings", "inbox/url-samples/emp-42/").await.unwrap();
    assert_eq!(inbox, [format!("inbox/url-samples/emp-42/{id}.json")]);
    let (status, shown) = w.get(status_path, CAROL).await;
    assert_eq!((status, &shown), (200, &filed), "viewers follow it");
    assert_eq!(w.get("/people/emp-42/samples/from-url/u20200101t000000000-00000000", CAROL).await.0, 404);
    assert_eq!(w.get("/people/emp-42/samples/from-url/..%2Fx", CAROL).await.0, 400);

    // A caller's samples come from their calls.
    let consent = json!({"given_by": "the caller", "method": "ivr"});
    assert_eq!(w.post("/people/%2B14155550123/consent", ALICE, consent).await.0, 201);
    let (status, body) = w
        .post("/people/%2B14155550123/samples/from-url", ALICE, json!({"url": "https://example.org/a"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("for named people"), "{body}");
}
