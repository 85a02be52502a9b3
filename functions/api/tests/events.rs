//! Runs the handler on every event in events/api/ with the local records.

use api::handle;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use chrono::Utc;
use echome_core::{BlobRef, CallerId, RunId, RunLog, RunRecord};
use echome_local::LocalRecords;
use serde_json::Value;

fn event(name: &str) -> ApiGatewayV2httpRequest {
    echome_testkit::events::parse("api", name)
}

async fn call(log: &LocalRecords, name: &str) -> (i64, Value) {
    let res = handle(log, event(name)).await;
    let body = match res.body {
        Some(Body::Text(t)) => serde_json::from_str(&t).unwrap(),
        other => panic!("{name}: body {other:?}"),
    };
    assert_eq!(res.headers.get("content-type").unwrap(), "application/json");
    (res.status_code, body)
}

#[tokio::test]
async fn every_event_gets_the_answer_a_user_expects() {
    let names = echome_testkit::events::names("api");
    assert_eq!(names, ["bad-run-id", "health", "run-status", "unknown-run"], "every event needs a case");
    let dir = tempfile::tempdir().unwrap();
    let log = LocalRecords::open(&dir.path().join("echome.redb")).unwrap();
    let run = RunRecord::started(
        RunId::parse("up-0123-5f1c2a9be0d4c8a7e6b3f210").unwrap(),
        CallerId::parse("+14155550123").unwrap(),
        BlobRef::new("echome-recordings", "samples/+14155550123/call.mp3"),
        Utc::now(),
    );
    log.create_run(&run).await.unwrap();

    let (status, body) = call(&log, "health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let (status, body) = call(&log, "run-status").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "running");
    assert_eq!(body["caller_id"], "+14******123", "the caller's number is redacted");

    let (status, body) = call(&log, "unknown-run").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));

    let (status, body) = call(&log, "bad-run-id").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
}
