//! Runs the handler on every event in events/api/ with the local records and the offline
//! voice engine.

use api::Api;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use chrono::{Duration, Utc};
use echome_core::{
    BlobRef, CallEventKind, CallEventRecord, CallId, CallLog, CallPath, CallRecord, CallerId, CloneCache,
    CloneRecord, CloneStatus, RunId, RunLog, RunRecord, VoiceId,
};
use echome_local::{LocalRecords, OfflineEngine};
use serde_json::{Value, json};

fn event(name: &str) -> ApiGatewayV2httpRequest {
    echome_testkit::events::parse("api", name)
}

async fn call(api: &Api<LocalRecords, OfflineEngine>, req: ApiGatewayV2httpRequest) -> (i64, Value) {
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

async fn api_with_records() -> (tempfile::TempDir, Api<LocalRecords, OfflineEngine>) {
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
        CallEventRecord::new(CallEventKind::WebhookRejected, None, at).detail("3cx-call bad_signature"),
    ] {
        log.log_event(&e).await.unwrap();
    }
    (dir, Api { records: log, engine: OfflineEngine })
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
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["voice_provider"]["engine"], "offline");
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
    assert_eq!(m["webhook_rejections"]["3cx-call bad_signature"], 1);
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
            caller_id: caller(),
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
        "/openapi.json",
    ] {
        assert!(paths.contains(&route), "{route} is described");
    }
    assert_eq!(paths.len(), 10, "and nothing that is not served: {paths:?}");
}
