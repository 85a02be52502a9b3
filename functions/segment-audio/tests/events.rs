//! Runs the handler on every event in events/segment-audio/: first extract-audio makes the run's
//! WAVs from a generated recording, then the event is handled as the state machine would pass it.
//! Once with the filesystem store, once with S3 on a moto server through the real SDK.

use std::path::Path;

use echome_core::{BlobRef, BlobStore, ErrorType, ExtractInput, SegmentInput, SegmentOutput, StepError};
use echome_local::FsBlobStore;
use echome_testkit::moto::MotoServer;
use echome_testkit::{Scene, SceneKind, generate};

const BUCKET: &str = "echome-recordings";

fn event(name: &str) -> SegmentInput {
    echome_testkit::events::parse("segment-audio", name)
}

fn event_names() -> Vec<String> {
    echome_testkit::events::names("segment-audio")
}

/// Uploads `recording` as the caller's sample and runs extract-audio for the event's run.
async fn extract_for<B: BlobStore>(store: &B, input: &SegmentInput, recording: &Path, work: &Path) {
    let sample = BlobRef::new(BUCKET, format!("samples/+14155550123/{}.wav", input.run_id));
    store.upload_from(&sample, recording, "audio/wav").await.unwrap();
    let cfg = extract_audio::Config {
        bucket: BUCKET.into(),
        work_dir: work.into(),
        extract: Default::default(),
        call_channel: Default::default(),
    };
    let extract = ExtractInput {
        run_id: input.run_id.clone(),
        person: echome_core::Person::from(echome_core::CallerId::parse("+14155550123").unwrap()),
        sample,
        combine: vec![],
    };
    let out = extract_audio::handle(store, &cfg, extract).await.unwrap();
    assert_eq!(out.analysis, input.extracted.analysis, "the event names what extract-audio writes");
    assert_eq!(out.source, input.extracted.source);
}

fn config(work: &Path) -> segment_audio::Config {
    // The weights `make tools` installs: the Lambda selects by speaker embeddings.
    let encoder = echome_voiceprint::default_encoder().unwrap();
    assert!(encoder.is_some(), "no speaker encoder weights (make tools converts them)");
    segment_audio::Config {
        bucket: BUCKET.into(),
        work_dir: work.into(),
        prepare: Default::default(),
        encoder,
    }
}

async fn segment<B: BlobStore>(
    store: &B,
    input: SegmentInput,
    work: &Path,
) -> Result<SegmentOutput, StepError> {
    segment_audio::handle(store, &config(work), input).await
}

async fn check_pack<B: BlobStore>(store: &B, out: &SegmentOutput, run: &str) {
    assert!((1..=3).contains(&out.samples.len()), "{out:?}");
    assert!(out.selected_s >= 30.0 && out.selected_s <= out.speech_s + 0.01, "{out:?}");
    let report: serde_json::Value =
        serde_json::from_slice(&store.get_bytes(&out.report).await.unwrap()).unwrap();
    assert_eq!(out.report.key, format!("runs/{run}/report.json"));
    let listed: Vec<_> =
        report["samples"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    let mut total = 0.0;
    for (i, blob) in out.samples.iter().enumerate() {
        assert_eq!(blob.key, format!("runs/{run}/sample_{}.wav", i + 1));
        assert_eq!(listed[i], format!("sample_{}.wav", i + 1));
        let bytes = store.get_bytes(blob).await.unwrap();
        let layout = echome_audio::wav::read_header(&mut bytes.as_slice()).unwrap();
        assert_eq!((layout.format.sample_rate, layout.format.channels), (22050, 1), "the source's own rate");
        let secs = layout.frames().unwrap() as f64 / 22050.0;
        assert!(secs <= 60.0 + 1e-6, "{secs}");
        total += secs;
    }
    assert!((total - out.selected_s).abs() < 1.0, "{total} vs {}", out.selected_s);
    let svg = String::from_utf8(store.get_bytes(&out.picture).await.unwrap()).unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{}", &svg[..40.min(svg.len())]);
}

#[tokio::test]
async fn every_event_gets_the_answer_a_user_expects() {
    assert_eq!(event_names(), ["pack", "silence"], "every event needs a case here");
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::new(dir.path().join("blobs"));
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();

    let speech = dir.path().join("speech.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 75.0, seed: 5 }, &speech).unwrap();
    let input = event("pack");
    extract_for(&store, &input, &speech, &work).await;
    let out = segment(&store, input, &work).await.unwrap();
    check_pack(&store, &out, "ev-segment-pack").await;

    let silence = dir.path().join("silence.wav");
    generate(Scene { kind: SceneKind::Silence, seconds: 40.0, seed: 1 }, &silence).unwrap();
    let input = event("silence");
    extract_for(&store, &input, &silence, &work).await;
    let err = segment(&store, input, &work).await.unwrap_err();
    assert_eq!((err.error_type, err.code.as_str()), (ErrorType::NoUsableSpeech, "silence_only"), "{err}");
    let report = BlobRef::new(BUCKET, "runs/ev-segment-silence/report.json");
    assert!(store.get_bytes(&report).await.is_err(), "a failed run leaves no report that looks valid");
    // What the Lambda answers the state machine: not a failed invocation, the reason to record.
    let answer = segment_audio::answer(&store, &config(&work), event("silence")).await.unwrap();
    let answer = serde_json::to_value(answer).unwrap();
    assert_eq!(answer["no_usable_speech"]["Error"], "NoUsableSpeech", "{answer}");
    let cause = answer["no_usable_speech"]["Cause"].as_str().unwrap();
    assert!(cause.starts_with("silence_only: "), "{cause}");

    assert!(std::fs::read_dir(&work).unwrap().next().is_none(), "the work folder is cleaned up");
}

#[tokio::test]
async fn the_pack_is_cut_from_s3_with_range_reads() {
    let moto = MotoServer::start();
    let store = echome_aws::S3BlobStore::new(&echome_aws::config::for_endpoint(&moto.endpoint()));
    store.client().create_bucket().bucket(BUCKET).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let speech = dir.path().join("speech.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 75.0, seed: 5 }, &speech).unwrap();
    let input = event("pack");
    extract_for(&store, &input, &speech, dir.path()).await;
    let out = segment(&store, input, dir.path()).await.unwrap();
    check_pack(&store, &out, "ev-segment-pack").await;
}
