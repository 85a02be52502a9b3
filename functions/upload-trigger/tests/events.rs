//! Runs the handler on every event in events/upload-trigger/ with the local records, and a
//! starter that remembers what it was asked to start.

use std::sync::Mutex;

use aws_lambda_events::event::s3::S3Event;
use echome_core::people::{PersonKind, PersonRecord};
use echome_core::{
    CallerId, CloneRunInput, People, Person, RunLog, RunStart, RunStarter, RunStatus, SampleLog, StorageError,
};
use echome_local::LocalRecords;
use upload_trigger::{Accepted, handle};

#[derive(Default)]
struct Starts(Mutex<Vec<CloneRunInput>>);

impl RunStarter for Starts {
    async fn start(&self, input: &CloneRunInput) -> Result<RunStart, StorageError> {
        let mut seen = self.0.lock().unwrap();
        if seen.iter().any(|s| s.run_id == input.run_id) {
            return Ok(RunStart::AlreadyStarted);
        }
        seen.push(input.clone());
        Ok(RunStart::Started)
    }
}

fn event(name: &str) -> S3Event {
    echome_testkit::events::parse("upload-trigger", name)
}

#[tokio::test]
async fn every_event_gets_the_answer_a_user_expects() {
    let names = echome_testkit::events::names("upload-trigger");
    assert_eq!(
        names,
        ["invalid-caller", "named-person", "new-sample", "older-sample", "outside-samples"],
        "every event needs a case"
    );

    let dir = tempfile::tempdir().unwrap();
    let log = LocalRecords::open(&dir.path().join("echome.redb")).unwrap();
    let starts = Starts::default();
    let caller = CallerId::parse("+14155550123").unwrap();

    let first = handle(&log, &starts, event("new-sample")).await.unwrap();
    let [Accepted::Started { run_id }] = first.as_slice() else { panic!("{first:?}") };
    let started = starts.0.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].sample.key, "samples/+14155550123/2026-11-20 call.mp3", "the key is decoded");
    assert_eq!(started[0].person, Person::from(&caller));
    let sample = log.current_sample(&Person::from(&caller)).await.unwrap().unwrap();
    assert_eq!((sample.version.as_str(), sample.size), ("3HL4kqtJlcpXrPNTDdE.v8", 1_843_200));
    let run = log.run(&echome_core::RunId::parse(run_id).unwrap()).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Running);

    let again = handle(&log, &starts, event("new-sample")).await.unwrap();
    assert_eq!(
        again,
        [Accepted::AlreadyStarted { run_id: run_id.clone() }],
        "a redelivered event starts nothing"
    );
    assert_eq!(starts.0.lock().unwrap().len(), 1);

    let late = handle(&log, &starts, event("older-sample")).await.unwrap();
    assert_eq!(late, [Accepted::Superseded], "an older upload arriving late does not replace the newer one");
    assert_eq!(
        log.current_sample(&Person::from(&caller)).await.unwrap().unwrap().version,
        "3HL4kqtJlcpXrPNTDdE.v8"
    );

    for name in ["outside-samples", "invalid-caller"] {
        let out = handle(&log, &starts, event(name)).await.unwrap();
        assert!(matches!(out.as_slice(), [Accepted::Skipped { .. }]), "{name}: {out:?}");
    }
    assert_eq!(starts.0.lock().unwrap().len(), 1, "skipped keys start nothing");

    // A named person's folder: only once someone created them (a typo is not a person).
    let out = handle(&log, &starts, event("named-person")).await.unwrap();
    let [Accepted::Skipped { reason }] = out.as_slice() else { panic!("{out:?}") };
    assert!(reason.contains("no person \"emp-42\"") && reason.contains("POST /people"), "{reason}");
    let anna = Person::parse("emp-42").unwrap();
    let rec = PersonRecord::new(anna.clone(), "Anna Berg", PersonKind::Employee, "alice", chrono::Utc::now());
    assert!(log.create_person(&rec.unwrap()).await.unwrap());
    let out = handle(&log, &starts, event("named-person")).await.unwrap();
    let [Accepted::Started { run_id }] = out.as_slice() else { panic!("{out:?}") };
    assert!(run_id.starts_with("up-emp-42-"), "named after her: {run_id}");
    let started = starts.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!((started.person, started.combine.len()), (anna.clone(), 0));
    assert_eq!(log.current_sample(&anna).await.unwrap().unwrap().sample.key, "samples/emp-42/interview.wav");
}
