//! Runs the handler on every event in events/api/ (protected routes carry the claims API
//! Gateway's JWT authorizer passes) with the local records, and checks who gets in: tokens
//! verified with a local key, roles, and per-user rate limits.

use api::{Api, Offline, ProviderCheck};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::Method;
use chrono::{Duration, Utc};
use echome_auth::{LocalKey, Verifier};
use echome_core::auth::Role;
use echome_core::limits::{Limit, RoleLimits};
use echome_core::{
    BlobRef, CallEventKind, CallEventRecord, CallId, CallLog, CallPath, CallRecord, CallerId, CloneCache,
    CloneRecord, CloneStatus, RunId, RunLog, RunRecord, VoiceId,
};
use echome_local::{InProcessLimiter, LocalRecords};
use serde_json::{Value, json};

fn event(name: &str) -> ApiGatewayV2httpRequest {
    echome_testkit::events::parse("api", name)
}

type TestApi = Api<
    LocalRecords,
    Verifier,
    InProcessLimiter,
    Offline,
    echome_local::OfflineEngine,
    echome_testkit::starts::Starts,
    echome_local::FsBlobStore,
    LocalRecords,
>;

async fn call(api: &TestApi, req: ApiGatewayV2httpRequest) -> (i64, Value) {
    let res = api.handle(req).await;
    let body = match res.body {
        Some(Body::Text(t)) => serde_json::from_str(&t).unwrap(),
        other => panic!("body {other:?}"),
    };
    assert_eq!(res.headers.get("content-type").unwrap(), "application/json");
    (res.status_code, body)
}

fn caller() -> CallerId {
    CallerId::parse("+14155550123").unwrap()
}

async fn api_with_records() -> (tempfile::TempDir, TestApi) {
    api_with_limits(RoleLimits::default()).await
}

async fn api_with_limits(limits: RoleLimits) -> (tempfile::TempDir, TestApi) {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalRecords::open(&dir.path().join("echome.redb")).unwrap();
    let now = Utc::now();
    let run = RunRecord::started(
        RunId::parse("up-0123-5f1c2a9be0d4c8a7e6b3f210").unwrap(),
        caller(),
        BlobRef::new("echome-recordings", "samples/+14155550123/call.mp3"),
        now,
    );
    log.create_run(&run).await.unwrap();
    for (id, ago) in [("3cx-8810", 30), ("3cx-8811", 20), ("3cx-8812", 10)] {
        let rec = CallRecord::new(
            CallId::parse(id).unwrap(),
            caller(),
            "+18005550199".into(),
            now - Duration::minutes(ago),
        );
        log.claim_call(&rec).await.unwrap();
    }
    let c = CallId::parse("3cx-8812").unwrap();
    let at = now - Duration::minutes(1);
    for e in [
        CallEventRecord::new(CallEventKind::Incoming, Some(&c), at - Duration::seconds(21))
            .path(CallPath::Cloning),
        CallEventRecord::new(CallEventKind::CloneReady, Some(&c), at - Duration::seconds(1))
            .since(at - Duration::seconds(21)),
        CallEventRecord::new(CallEventKind::CloneTransfer, Some(&c), at).since(at - Duration::seconds(21)),
    ] {
        log.log_event(&e).await.unwrap();
    }
    let tokens = Verifier::Local(LocalKey::load_or_create(dir.path()).unwrap());
    let api = Api {
        records: log.clone(),
        tokens,
        limiter: InProcessLimiter::default(),
        limits,
        provider: ProviderCheck::new(Offline),
        engine: echome_local::OfflineEngine,
        runs: Default::default(),
        blobs: echome_local::FsBlobStore::new(dir.path().join("blobs")),
        bucket: "recordings".into(),
        library: Default::default(),
        consent: Default::default(),
        archive: log.clone(),
        erasure_key: Some(echome_core::people::ErasureKey::new(vec![7; 32]).unwrap()),
    };
    (dir, api)
}

#[tokio::test]
async fn every_event_gets_the_answer_a_user_expects() {
    let names = echome_testkit::events::names("api");
    let (_dir, api) = api_with_records().await;
    for name in &names {
        let (status, body) = call(&api, event(name)).await;
        let expected = match name.as_str() {
            "health" | "run-status" | "clone-status" | "metrics" | "call" | "caller-calls" | "openapi" => 200,
            "unknown-run" => 404,
            // The run is still running: there is no refused speaker to accept.
            "accept-speaker" => 409,
            "health-detail-no-token" => 401,
            "bad-run-id" | "bad-caller" => 400,
            other => panic!("no expectation for events/api/{other}.json"),
        };
        assert_eq!(status, expected, "{name}: {body}");
        assert!(
            !body.to_string().contains("+14155550123"),
            "{name}: the caller's number is redacted: {body}"
        );
    }

    let (_, body) = call(&api, event("health")).await;
    assert_eq!(body, json!({ "status": "ok" }), "liveness says only ok");
    let (_, body) = call(&api, event("run-status")).await;
    assert_eq!(
        (body["status"].clone(), body["caller_id"].clone()),
        (json!("running"), json!("+14******123"))
    );
    let (_, body) = call(&api, event("clone-status")).await;
    assert_eq!(body["status"], "cloning", "{body}");
    let (_, body) = call(&api, event("call")).await;
    let kinds: Vec<_> = body["events"].as_array().unwrap().iter().map(|e| e["kind"].clone()).collect();
    assert_eq!(kinds, [json!("incoming"), json!("clone_ready"), json!("clone_transfer")]);
    let (_, body) = call(&api, event("metrics")).await;
    let m = &body["metrics"];
    assert_eq!((m["calls_total"].clone(), m["calls"]["cloning"].clone()), (json!(1), json!(1)));
    assert_eq!(
        (m["clone_time"]["p95_ms"].clone(), m["time_to_cloned_voice"]["mean_ms"].clone()),
        (json!(20_000), json!(21_000.0))
    );
}

/// A request as `echome serve` hands it over: no gateway claims, maybe a bearer token.
fn with_token(name: &str, token: Option<&str>) -> ApiGatewayV2httpRequest {
    let mut req = event(name);
    req.request_context.authorizer = None;
    if let Some(t) = token {
        req.headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    req
}

fn key(dir: &tempfile::TempDir) -> LocalKey {
    LocalKey::load_or_create(dir.path()).unwrap()
}

fn claims(sub: &str, roles: Value, exp_in: i64) -> Value {
    let now = Utc::now().timestamp();
    json!({ "iss": echome_auth::LOCAL_ISSUER, "aud": echome_auth::LOCAL_AUDIENCE, "sub": sub, "roles": roles,
            "iat": now, "exp": now + exp_in })
}

const PROTECTED: [&str; 7] =
    ["run-status", "clone-status", "metrics", "call", "caller-calls", "bad-caller", "unknown-run"];

#[tokio::test]
async fn every_protected_route_refuses_what_is_not_a_valid_token_and_returns_nothing() {
    let (dir, api) = api_with_records().await;
    let k = key(&dir);
    let other = tempfile::tempdir().unwrap();
    let b64 = |v: Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let mut wrong_audience = claims("anna", json!(["viewer"]), 60);
    wrong_audience["aud"] = "another-app".into();
    let bad: Vec<(&str, Option<String>, i64)> = vec![
        ("no token", None, 401),
        ("expired", Some(k.sign(&claims("anna", json!(["viewer"]), -30)).unwrap()), 401),
        ("wrong audience", Some(k.sign(&wrong_audience).unwrap()), 401),
        (
            "alg none",
            Some(format!(
                "{}.{}.",
                b64(json!({"alg": "none", "typ": "JWT"})),
                b64(claims("anna", json!(["admin"]), 60))
            )),
            401,
        ),
        ("another key", Some(key(&other).sign(&claims("anna", json!(["admin"]), 60)).unwrap()), 401),
        ("no role", Some(k.sign(&claims("anna", json!(["superuser"]), 60)).unwrap()), 403),
    ];
    for route in PROTECTED {
        for (what, token, status) in &bad {
            let res = api.handle(with_token(route, token.as_deref())).await;
            assert_eq!(res.status_code, *status, "{route} with {what}");
            let Some(Body::Text(body)) = &res.body else { panic!("{route} {what}: no body") };
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["error"], "{route} {what}: {v}");
            assert!(v["error"]["request_id"].is_string(), "{route} {what}: {v}");
            if *status == 401 {
                let challenge = res.headers.get("www-authenticate").expect("a 401 says how to authenticate");
                assert!(challenge.to_str().unwrap().starts_with("Bearer realm=\"echome\""), "{challenge:?}");
            }
        }
    }
    let good = k.issue("anna", Role::Viewer, std::time::Duration::from_secs(60)).unwrap();
    assert_eq!(call(&api, with_token("call", Some(&good))).await.0, 200);
    let (status, body) = call(&api, with_token("health-detail-no-token", Some(&good))).await;
    assert_eq!(
        (status, body["checks"]["voice_provider"]["engine"].as_str()),
        (200, Some("offline")),
        "{body}"
    );
    assert_eq!(body["checks"]["table"]["status"], "ok");
}

#[tokio::test]
async fn each_user_is_limited_on_their_own_and_told_when_to_come_back() {
    let one_a_minute = Limit { requests: 2, window_s: 60 };
    let (dir, api) =
        api_with_limits(RoleLimits { viewer: one_a_minute, operator: one_a_minute, admin: one_a_minute })
            .await;
    let k = key(&dir);
    let anna = k.issue("anna", Role::Viewer, std::time::Duration::from_secs(60)).unwrap();
    let bo = k.issue("bo", Role::Admin, std::time::Duration::from_secs(60)).unwrap();
    for _ in 0..2 {
        assert_eq!(api.handle(with_token("metrics", Some(&anna))).await.status_code, 200);
    }
    let limited = api.handle(with_token("metrics", Some(&anna))).await;
    assert_eq!(limited.status_code, 429);
    let wait: u32 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(
        api.handle(with_token("metrics", Some(&bo))).await.status_code,
        200,
        "another user is not held up"
    );
    assert_eq!(api.handle(with_token("health", None)).await.status_code, 200, "liveness is not limited");
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let (_dir, api) = api_with_records().await;
    let mut req = event("call");
    req.request_context.http.method = aws_lambda_events::http::Method::DELETE;
    let res = api.handle(req).await;
    assert_eq!((res.status_code, res.headers["allow"].to_str().unwrap()), (405, "GET"));
}

#[tokio::test]
async fn a_caller_s_calls_come_newest_first_a_page_at_a_time() {
    let (_dir, api) = api_with_records().await;
    let (_, first) = call(&api, event("caller-calls")).await;
    let ids =
        |b: &Value| b["calls"].as_array().unwrap().iter().map(|c| c["call_id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), [json!("3cx-8812"), json!("3cx-8811")]);
    let mut next = event("caller-calls");
    next.raw_query_string = Some(format!("limit=2&cursor={}", first["next_cursor"].as_str().unwrap()));
    let (_, second) = call(&api, next).await;
    assert_eq!((ids(&second), second["next_cursor"].clone()), (vec![json!("3cx-8810")], Value::Null));
    for bad in ["limit=0", "limit=500", "cursor=zz"] {
        let mut req = event("caller-calls");
        req.raw_query_string = Some(bad.into());
        assert_eq!(call(&api, req).await.0, 400, "{bad}");
    }
}

#[tokio::test]
async fn clone_status_follows_the_cache_and_the_latest_run() {
    let (_dir, api) = api_with_records().await;
    let now = Utc::now();
    api.records
        .put_clone(&CloneRecord {
            person: echome_core::Person::from(caller()),
            voice_id: VoiceId::parse("clonedVoice").unwrap(),
            engine: "elevenlabs".into(),
            pack_digest: "d".into(),
            run_id: RunId::parse("up-0123-5f1c2a9be0d4c8a7e6b3f210").unwrap(),
            created_at: now,
            last_used_at: now,
            reuse_count: 2,
            status: CloneStatus::Active,
            expires_at: now.timestamp() + 3600,
        })
        .await
        .unwrap();
    let (_, body) = call(&api, event("clone-status")).await;
    assert_eq!((body["status"].clone(), body["voice_id"].clone()), (json!("ready"), json!("clonedVoice")));
    assert!(body["expires_at"].is_string() && body["created_at"].is_string());
}

#[test]
fn the_openapi_description_covers_every_route_served() {
    let spec: Value = serde_json::from_str(api::OPENAPI).unwrap();
    let paths: Vec<&str> = spec["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    for route in [
        "/webhook/3cx-call",
        "/webhook/post-call",
        "/webhook/conversation-initiation",
        "/health",
        "/api/clone-status/{caller_id}",
        "/metrics",
        "/calls/{call_id}",
        "/callers/{caller_id}/calls",
        "/runs/{run_id}",
        "/runs/{run_id}/accept-speaker",
        "/openapi.json",
        "/voice-models",
        "/voice-models/expiring",
        "/voice-models/cleanup",
        "/voice-models/compare",
        "/voice-models/select-best",
        "/analytics",
        "/voice-models/{id}",
        "/voice-models/{id}/activate",
        "/voice-models/{id}/deactivate",
        "/voice-models/{id}/shares",
        "/voice-models/{id}/shares/{user}",
        "/voice-models/{id}/usage",
        "/voice-models/{id}/audit",
        "/shared",
        "/people/{person}/active-voice",
        "/voice-models/{id}/export",
        "/backups",
        "/backups/{backup_id}/restore",
        "/people",
        "/people/{person}",
        "/people/{person}/consent",
        "/people/{person}/samples",
        "/people/{person}/samples/from-url",
        "/people/{person}/samples/from-url/{id}",
        "/erasures",
    ] {
        assert!(paths.contains(&route), "{route} is described");
    }
    assert_eq!(paths.len(), 36, "and nothing that is not served: {paths:?}");
}

/// The description says which routes need a token; the handler agrees on every one it serves.
#[tokio::test]
async fn every_route_the_description_protects_refuses_a_request_without_a_token() {
    let (_dir, api) = api_with_records().await;
    let spec: Value = serde_json::from_str(api::OPENAPI).unwrap();
    let example = |path: &str| {
        path.replace("{caller_id}", "%2B14155550123")
            .replace("{call_id}", "3cx-8812")
            .replace("{run_id}", "up-0123-5f1c2a9be0d4c8a7e6b3f210")
            .replace("{id}", "vm-up-0123")
            .replace("{person}", "emp-42")
            .replace("{user}", "bob")
            .replace("{backup_id}", "bk-20261202T000000-abc")
    };
    let mut checked = 0;
    let operations = spec["paths"].as_object().unwrap().iter().flat_map(|(path, item)| {
        let ops = [
            ("get", Method::GET),
            ("post", Method::POST),
            ("patch", Method::PATCH),
            ("delete", Method::DELETE),
        ];
        ops.into_iter().filter_map(move |(name, method)| Some((path, method, item.get(name)?)))
    });
    // The webhooks authenticate with their own secrets: tests/webhooks.rs.
    for (path, method, op) in operations.filter(|(path, ..)| !path.starts_with("/webhook/")) {
        let choices = op["security"].as_array().cloned().unwrap_or_default();
        let required = !choices.is_empty() && choices.iter().all(|c| c.get("bearerAuth").is_some());
        let mut req = with_token("health", None);
        req.raw_path = Some(example(path));
        req.request_context.http.path = req.raw_path.clone();
        req.request_context.http.method = method;
        let status = api.handle(req).await.status_code;
        if required {
            assert_eq!(status, 401, "{path} is protected in the description");
        } else {
            assert_ne!(status, 401, "{path} is open in the description");
        }
        checked += 1;
    }
    assert_eq!(checked, 39, "every API route of the description was tried");
}

#[tokio::test]
async fn an_operator_accepts_a_refused_speaker_and_a_viewer_cannot() {
    use echome_core::{CloneLogRecord, ReferenceVoices, RunOutcome, SpeakerCheck, Voiceprint};
    let (dir, api) = api_with_records().await;
    let run_id = RunId::parse("up-0123-5f1c2a9be0d4c8a7e6b3f210").unwrap();
    let report = BlobRef::new("echome-recordings", format!("{}report.json", run_id.prefix()));
    let check = SpeakerCheck {
        similarity: 0.52,
        pack_similarity: Some(0.93),
        threshold: 0.79,
        matched: false,
        reference_run: RunId::parse("up-0123-earlier").unwrap(),
        pack: report.clone(),
        voiceprint: Voiceprint { model: "ge2e".into(), embedding: vec![0.6, 0.8] },
    };
    let err = check.mismatch();
    api.records
        .log_clone(&CloneLogRecord {
            run_id: run_id.clone(),
            person: echome_core::Person::from(caller()),
            engine: "elevenlabs".into(),
            voice_id: None,
            status: "speaker_mismatch".into(),
            latency_ms: 3,
            bytes_uploaded: 0,
            error: Some(err.clone()),
            at: Utc::now(),
            speaker_check: Some(check.clone()),
            note: None,
        })
        .await
        .unwrap();
    api.records.finish_run(&run_id, &RunOutcome::Failed(err), Utc::now()).await.unwrap();

    let (status, body) = call(&api, event("run-status")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (200, Some("speaker_mismatch")), "{body}");
    assert_eq!(
        (body["speaker_check"]["similarity"].clone(), body["speaker_check"]["pack_similarity"].clone()),
        (json!(0.52), json!(0.93))
    );
    assert!(body["speaker_check"].get("voiceprint").is_none(), "figures, not the voiceprint: {body}");

    let k = key(&dir);
    let viewer = k.issue("vera", Role::Viewer, std::time::Duration::from_secs(60)).unwrap();
    let (status, body) = call(&api, with_token("accept-speaker", Some(&viewer))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        api.records.reference_voice(&echome_core::Person::from(&caller())).await.unwrap(),
        None,
        "a refusal changes nothing"
    );
    let mut get = with_token("accept-speaker", Some(&viewer));
    get.request_context.http.method = Method::GET;
    assert_eq!(call(&api, get).await.0, 405);

    let operator = k.issue("olga", Role::Operator, std::time::Duration::from_secs(60)).unwrap();
    let (status, body) = call(&api, with_token("accept-speaker", Some(&operator))).await;
    assert_eq!((status, body["accepted_by"].as_str()), (200, Some("olga")), "{body}");
    assert_eq!(body["caller_id"], "+14******123");
    let reference = api
        .records
        .reference_voice(&echome_core::Person::from(&caller()))
        .await
        .unwrap()
        .expect("the new reference voice");
    assert_eq!(
        (reference.run_id, reference.report, reference.voiceprint),
        (run_id, report, check.voiceprint)
    );
}

#[tokio::test]
async fn a_run_shows_its_voice_s_measured_quality_while_it_is_the_caller_s_voice() {
    use echome_core::{RunOutcome, VoiceId};
    let (_dir, api) = api_with_records().await;
    let run_id = RunId::parse("up-0123-5f1c2a9be0d4c8a7e6b3f210").unwrap();
    let voice = VoiceId::parse("c38kUX8pkfYO2kHyqfFy").unwrap();
    let report = BlobRef::new("echome-recordings", format!("{}report.json", run_id.prefix()));
    let outcome = RunOutcome::Succeeded { report, voice_id: Some(voice.clone()) };
    api.records.finish_run(&run_id, &outcome, Utc::now()).await.unwrap();
    let (status, body) = call(&api, event("run-status")).await;
    assert_eq!((status, &body["quality"]), (200, &json!(null)), "not scored yet: {body}");

    let now = Utc::now();
    let entry = echome_testkit::fixtures::clone_entry(caller().as_str(), voice.as_str(), now);
    api.records.put_clone(&entry).await.unwrap();
    let pack: echome_core::PackFigures = serde_json::from_value(json!({"samples": [{
        "duration_s": 60.0, "snr_db": 30.0, "clipping_ratio": 0.0, "rms_dbfs": -20.0, "true_peak_dbtp": -4.0
    }]}))
    .unwrap();
    let quality = echome_testkit::fixtures::quality_score(voice.as_str(), run_id.as_str(), &pack, now);
    let score = quality.score;
    assert!(api.records.set_quality(&echome_core::Person::from(&caller()), &quality).await.unwrap());
    let (status, body) = call(&api, event("run-status")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quality"]["score"], json!(score.unwrap()), "{body}");
    assert_eq!(body["quality"]["clarity"], json!(parts_clarity(&quality)));
    assert!(body["quality"]["similarity"]["missing"].as_str().unwrap().contains("voiceprint"), "{body}");
    let (status, body) = call(&api, event("clone-status")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")), "{body}");
    assert_eq!(body["quality"]["score"], json!(score.unwrap()), "the caller's voice, with its score: {body}");
}

fn parts_clarity(q: &echome_core::QualityScore) -> f64 {
    q.parts.clarity.score.unwrap()
}
