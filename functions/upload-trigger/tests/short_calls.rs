//! A call's recording with too little speech is kept and counted: the caller's next call's run
//! joins the earlier short calls to its own, so several short calls make one pack. Uploads are
//! never joined, nor calls from before the caller's last voice or older than 30 days.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use echome_core::{
    AudioError, BlobRef, CloneRunInput, RunId, RunLog, RunOutcome, RunStart, RunStarter, StepError,
    StorageError, VoiceId,
};
use echome_local::LocalRecords;
use upload_trigger::{Accepted, MAX_JOINED, Upload, accept_upload};

#[derive(Default)]
struct Starts(Mutex<Vec<CloneRunInput>>);

impl RunStarter for Starts {
    async fn start(&self, input: &CloneRunInput) -> Result<RunStart, StorageError> {
        self.0.lock().unwrap().push(input.clone());
        Ok(RunStart::Started)
    }
}

const CALLER: &str = "+14155550123";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z").unwrap().with_timezone(&Utc)
}

fn upload(name: &str, at: DateTime<Utc>) -> Upload {
    Upload {
        object: BlobRef::new("echome-recordings", format!("samples/{CALLER}/{name}")),
        version: "v1".into(),
        size: 40_000,
        at,
    }
}

fn short() -> StepError {
    AudioError::TooLittleSpeech { found_s: 9.0, required_s: 30.0, speech_s: 11.0 }.into()
}

/// Accepts the upload, then ends its run as `outcome`; what the run was started with.
async fn arrives(
    log: &LocalRecords,
    starts: &Starts,
    name: &str,
    at: DateTime<Utc>,
    outcome: Option<RunOutcome>,
) -> CloneRunInput {
    let up = upload(name, at);
    let Accepted::Started { run_id } = accept_upload(log, starts, &up).await.unwrap() else {
        panic!("{name} was not started")
    };
    let run_id = RunId::parse(&run_id).unwrap();
    if let Some(outcome) = outcome {
        log.finish_run(&run_id, &outcome, at + Duration::minutes(1)).await.unwrap();
    }
    let input = starts.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(input.run_id, run_id);
    input
}

fn keys(input: &CloneRunInput) -> Vec<&str> {
    input.combine.iter().map(|b| b.key.rsplit('/').next().unwrap()).collect()
}

#[tokio::test]
async fn short_calls_are_joined_to_the_next_call_until_a_voice_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let starts = Starts::default();
    let failed = |e: StepError| Some(RunOutcome::Failed(e));
    let hour = |h: i64| t0() + Duration::hours(h);

    // Long ago: too old to join.
    arrives(&log, &starts, "calls/old.mp3", t0() - Duration::days(40), failed(short())).await;
    let first = arrives(&log, &starts, "calls/c1.mp3", hour(0), failed(short())).await;
    assert!(first.combine.is_empty(), "nothing earlier within 30 days");
    // An upload with too little speech is the uploader's to fix, not joined.
    arrives(&log, &starts, "upload.wav", hour(1), failed(short())).await;
    // Music on hold holds no speech to add.
    let music = AudioError::MusicOnly { music_s: 30.0, duration_s: 31.0 }.into();
    arrives(&log, &starts, "calls/c2.mp3", hour(2), failed(music)).await;
    let third = arrives(&log, &starts, "calls/c3.wav", hour(3), failed(short())).await;
    assert_eq!(keys(&third), ["c1.mp3"]);
    let fourth = arrives(&log, &starts, "calls/c4.mp3", hour(4), None).await;
    assert_eq!(keys(&fourth), ["c1.mp3", "c3.wav"], "oldest first, this call's own not among them");

    // The joined run made a voice: what came before it is spent.
    let report = BlobRef::new("echome-recordings", format!("runs/{}/report.json", fourth.run_id));
    let made = RunOutcome::Succeeded { report, voice_id: Some(VoiceId::parse("voice1").unwrap()) };
    log.finish_run(&fourth.run_id, &made, hour(4) + Duration::minutes(1)).await.unwrap();
    let fifth = arrives(&log, &starts, "calls/c5.mp3", hour(5), failed(short())).await;
    assert!(fifth.combine.is_empty(), "{:?}", fifth.combine);

    // Only the newest few are joined.
    for i in 6..6 + MAX_JOINED as i64 + 2 {
        arrives(&log, &starts, &format!("calls/c{i}.mp3"), hour(i), failed(short())).await;
    }
    let last = arrives(&log, &starts, "calls/last.mp3", hour(20), None).await;
    assert_eq!(last.combine.len(), MAX_JOINED);
    assert_eq!(keys(&last).last(), Some(&"c11.mp3"));

    // An upload never joins anything.
    let up = arrives(&log, &starts, "upload2.wav", hour(21), None).await;
    assert!(up.combine.is_empty());
}
