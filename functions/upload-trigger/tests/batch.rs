//! An S3 event with several records: what is wrong with one upload skips that upload (with its
//! reason) and never fails the others; only a failure on echome's side fails the invocation,
//! so Lambda retries the event and, at last, its OnFailure destination keeps it.

use std::sync::Mutex;

use echome_core::{CallerId, CloneRunInput, ErrorType, RunStart, RunStarter, SampleLog, StorageError};
use echome_local::LocalRecords;
use serde_json::{Value, json};
use upload_trigger::{Accepted, MAX_SAMPLE_BYTES, handle_json};

/// Remembers what it started; fails (transiently) for keys containing `fail-me`.
#[derive(Default)]
struct Starts(Mutex<Vec<CloneRunInput>>);

impl RunStarter for Starts {
    async fn start(&self, input: &CloneRunInput) -> Result<RunStart, StorageError> {
        if input.sample.key.contains("fail-me") {
            return Err(StorageError::Transient("Step Functions is throttling".into()));
        }
        self.0.lock().unwrap().push(input.clone());
        Ok(RunStart::Started)
    }
}

fn record(key: &str, size: Value, version: &str) -> Value {
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-1",
        "eventTime": "2026-11-20T09:15:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": { "name": "echome-recordings", "arn": "arn:aws:s3:::echome-recordings" },
            "object": { "key": key, "size": size, "versionId": version, "sequencer": "0055AED6DCD90281E5" }
        }
    })
}

fn reasons(out: &[Accepted]) -> Vec<String> {
    out.iter()
        .filter_map(|a| match a {
            Accepted::Skipped { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_permanent_problem_skips_its_record_with_a_reason_and_the_good_one_still_starts() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalRecords::open(&dir.path().join("echome.redb")).unwrap();
    let starts = Starts::default();
    let event = json!({ "Records": [
        record("samples/%2B14155550123/good.mp3", json!(1_843_200), "v1"),
        record("samples/%2B14155550124/empty.mp3", json!(0), "v1"),
        record("samples/%2B14155550125/huge.mp3", json!(MAX_SAMPLE_BYTES + 1), "v1"),
        record("uploads/readme.txt", json!(10), "v1"),
        record("samples/14155550126/no-plus.mp3", json!(10), "v1"),
        { "eventName": "ObjectCreated:Put", "s3": "not an object" },
        record("samples/%2B14155550127/no-size.mp3", Value::Null, "v1"),
    ]});
    let out = handle_json(&log, &starts, event).await.expect("nothing here is worth a retry");
    assert_eq!(out.len(), 7);
    assert!(matches!(out[0], Accepted::Started { .. }), "{out:?}");
    let why = reasons(&out);
    assert_eq!(why.len(), 6, "{why:?}");
    assert!(why[0].contains("empty"), "{}", why[0]);
    assert!(why[1].contains("at most"), "{}", why[1]);
    assert!(why[2].contains("outside samples/"), "{}", why[2]);
    assert!(why[3].contains("E.164") && !why[3].contains("4155550126"), "{}", why[3]);
    assert!(why[4].contains("does not parse"), "{}", why[4]);
    assert!(why[5].contains("size"), "{}", why[5]);
    assert_eq!(starts.0.lock().unwrap().len(), 1, "only the good upload starts a run");
    for skipped in ["+14155550124", "+14155550125"] {
        let caller = CallerId::parse(skipped).unwrap();
        assert_eq!(
            log.current_sample(&echome_core::Person::from(&caller)).await.unwrap(),
            None,
            "an unusable object is not the caller's sample"
        );
    }
}

#[tokio::test]
async fn a_transient_failure_fails_the_invocation_after_the_other_records_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalRecords::open(&dir.path().join("echome.redb")).unwrap();
    let starts = Starts::default();
    let event = json!({ "Records": [
        record("samples/%2B14155550123/fail-me.mp3", json!(1000), "v1"),
        record("samples/%2B14155550124/fine.mp3", json!(1000), "v1"),
    ]});
    let err = handle_json(&log, &starts, event.clone()).await.unwrap_err();
    assert_eq!(err.error_type, ErrorType::Retryable, "{err}");
    assert_eq!(starts.0.lock().unwrap().len(), 1, "the other upload was not held back");
    // The retry finds the good one started already and starts it no second time (idempotent).
    assert!(handle_json(&log, &starts, event).await.is_err());
}

#[tokio::test]
async fn an_event_that_is_not_an_s3_event_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalRecords::open(&dir.path().join("echome.redb")).unwrap();
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "echome-recordings"});
    let out = handle_json(&log, &Starts::default(), test_event).await.unwrap();
    assert!(matches!(out.as_slice(), [Accepted::Skipped { .. }]), "{out:?}");
}

#[tokio::test]
async fn the_lambdas_json_path_reads_every_sample_event_as_the_typed_one_does() {
    for name in echome_testkit::events::names("upload-trigger") {
        let raw: Value =
            serde_json::from_slice(&echome_testkit::events::read("upload-trigger", &name)).unwrap();
        let typed: aws_lambda_events::event::s3::S3Event = serde_json::from_value(raw.clone()).unwrap();
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (l1, l2) = (
            LocalRecords::open(&d1.path().join("r.redb")).unwrap(),
            LocalRecords::open(&d2.path().join("r.redb")).unwrap(),
        );
        let by_json = handle_json(&l1, &Starts::default(), raw).await.unwrap();
        let by_type = upload_trigger::handle(&l2, &Starts::default(), typed).await.unwrap();
        assert_eq!(by_json, by_type, "{name}");
    }
}
