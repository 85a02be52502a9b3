//! Runs the handler on every event in events/extract-audio/ with the filesystem blob store,
//! real ffmpeg and generated recordings.

use std::path::{Path, PathBuf};

use echome_core::{BlobStore, ErrorType, ExtractInput};
use echome_local::FsBlobStore;
use echome_testkit::{Scene, SceneKind, generate};
use extract_audio::{Config, handle};

fn events() -> Vec<(String, ExtractInput)> {
    let names = echome_testkit::events::names("extract-audio");
    names
        .into_iter()
        .map(|n| {
            let input = echome_testkit::events::parse("extract-audio", &n);
            (n, input)
        })
        .collect()
}

fn config(work: &Path) -> Config {
    Config {
        bucket: "echome-recordings".into(),
        work_dir: work.to_path_buf(),
        extract: Default::default(),
        call_channel: Default::default(),
    }
}

fn stage(store: &FsBlobStore, input: &ExtractInput, content: &Path) {
    let dest: PathBuf = store.path_of(&input.sample).unwrap();
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(content, dest).unwrap();
}

fn ffmpeg(args: &[&str]) {
    let ok =
        std::process::Command::new("ffmpeg").args(["-hide_banner", "-v", "error", "-y"]).args(args).status();
    assert!(ok.is_ok_and(|s| s.success()), "ffmpeg {args:?}");
}

#[tokio::test]
async fn every_event_gets_the_answer_a_user_expects() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::new(dir.path().join("blobs"));
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let wav = dir.path().join("call.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 20.0, seed: 3 }, &wav).unwrap();
    let generated_s = {
        let mut f = std::fs::File::open(&wav).unwrap();
        let layout = echome_audio::wav::read_header(&mut f).unwrap();
        layout.frames().unwrap() as f64 / layout.format.sample_rate as f64
    };
    let mp3 = dir.path().join("call.mp3");
    ffmpeg(&["-i", wav.to_str().unwrap(), "-ac", "2", "-b:a", "96k", mp3.to_str().unwrap()]);
    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "call me back after five\n").unwrap();

    let events = events();
    let names: Vec<_> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["missing-sample", "mp3-call", "text-named-wav"], "every event needs a case here");
    for (name, input) in events {
        match name.as_str() {
            "mp3-call" => {
                stage(&store, &input, &mp3);
                let out = handle(&store, &config(&work), input.clone()).await.unwrap();
                assert_eq!(out.source.key, "runs/ev-extract-mp3/source.wav");
                assert_eq!(out.analysis.key, "runs/ev-extract-mp3/analysis.wav");
                let info = &out.source_info;
                assert_eq!((info.codec.as_str(), info.channels, info.pack_rate_hz), ("mp3", 2, 22050));
                assert!((info.duration_s - generated_s).abs() < 0.1, "{info:?} vs {generated_s} s generated");
                let analysis = store.get_bytes(&out.analysis).await.unwrap();
                let layout = echome_audio::wav::read_header(&mut analysis.as_slice()).unwrap();
                assert_eq!((layout.format.sample_rate, layout.format.channels), (16_000, 1));
                let secs = layout.frames().unwrap() as f64 / 16_000.0;
                assert!((secs - info.duration_s).abs() < 0.05, "{secs} vs {}", info.duration_s);
                let source = store.read_range(&out.source, 0, 4096).await.unwrap();
                let layout = echome_audio::wav::read_header(&mut source.as_slice()).unwrap();
                assert_eq!((layout.format.sample_rate, layout.format.channels), (22050, 1));
            }
            "text-named-wav" => {
                stage(&store, &input, &text);
                let err = handle(&store, &config(&work), input).await.unwrap_err();
                assert_eq!(
                    (err.error_type, err.code.as_str()),
                    (ErrorType::InvalidAudio, "not_audio"),
                    "{err}"
                );
            }
            "missing-sample" => {
                let err = handle(&store, &config(&work), input).await.unwrap_err();
                assert_eq!(
                    (err.error_type, err.code.as_str()),
                    (ErrorType::InvalidInput, "not_found"),
                    "{err}"
                );
            }
            other => panic!("no expectation for event {other}"),
        }
    }
    let left: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
    assert!(left.is_empty(), "the work folder is cleaned up: {left:?}");
}

#[tokio::test]
async fn an_empty_upload_is_invalid_audio() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::new(dir.path());
    let (_, input) = events().into_iter().find(|(n, _)| n == "mp3-call").unwrap();
    store.put_bytes(&input.sample, Vec::new(), "audio/mpeg").await.unwrap();
    let err = handle(&store, &config(dir.path()), input).await.unwrap_err();
    assert_eq!((err.error_type, err.code.as_str()), (ErrorType::InvalidAudio, "empty_file"));
}

/// The root mean square of a WAV's samples.
fn rms(wav: &[u8]) -> f64 {
    let layout = echome_audio::wav::read_header(&mut &wav[..]).unwrap();
    let mut samples = Vec::new();
    echome_audio::wav::decode_mono(&wav[layout.data_offset as usize..], layout.format, &mut samples);
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

#[tokio::test]
async fn a_call_recording_keeps_the_callers_channel_and_other_uploads_are_mixed() {
    use echome_core::recordings::RecordingChannel;
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::new(dir.path().join("blobs"));
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mono = dir.path().join("caller.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 6.0, seed: 5 }, &mono).unwrap();
    // The caller on the left, the other leg silent on the right.
    let stereo = dir.path().join("call.wav");
    ffmpeg(&["-i", mono.to_str().unwrap(), "-af", "pan=stereo|c0=c0|c1=0*c0", stereo.to_str().unwrap()]);
    let (_, template) = events().into_iter().find(|(n, _)| n == "mp3-call").unwrap();
    let energy = |key: &'static str, channel: RecordingChannel| {
        let (store, work, stereo, template) = (&store, &work, &stereo, &template);
        async move {
            let mut input = template.clone();
            input.sample.key = key.into();
            stage(store, &input, stereo);
            let cfg = Config { call_channel: channel, ..config(work) };
            let out = handle(store, &cfg, input).await.unwrap();
            assert_eq!(out.source_info.channels, 2);
            (
                rms(&store.get_bytes(&out.source).await.unwrap()),
                rms(&store.get_bytes(&out.analysis).await.unwrap()),
            )
        }
    };
    let call = "samples/+14155550123/calls/3cx-1.wav";
    let (left, left_16k) = energy(call, RecordingChannel::Left).await;
    let (right, right_16k) = energy(call, RecordingChannel::Right).await;
    let (mixed, _) = energy(call, RecordingChannel::Mixed).await;
    let (upload, _) = energy("samples/+14155550123/upload.wav", RecordingChannel::Right).await;
    assert!(left > 0.01 && left_16k > 0.01, "the caller's channel is kept: {left} {left_16k}");
    assert!(right < 1e-4 && right_16k < 1e-4, "the silent leg alone is silent: {right} {right_16k}");
    assert!(mixed > 0.2 * left && mixed < left, "mixed down: {mixed} vs {left}");
    assert!(
        (upload - mixed).abs() < 1e-6,
        "an upload that is not a call recording is mixed: {upload} vs {mixed}"
    );
}

fn seconds(wav: &[u8]) -> (f64, u32) {
    let layout = echome_audio::wav::read_header(&mut &wav[..]).unwrap();
    (layout.frames().unwrap() as f64 / f64::from(layout.format.sample_rate), layout.format.sample_rate)
}

/// Several short calls make one recording: the earlier ones (an MP3 at 16 kHz, a telephone
/// WAV at 8 kHz) are decoded at the newest call's rate and joined before it with a pause
/// between; one that is gone (erased) or unreadable is left out and the run goes on.
#[tokio::test]
async fn earlier_short_calls_are_joined_before_the_new_one_at_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::new(dir.path().join("blobs"));
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let (_, template) = events().into_iter().find(|(n, _)| n == "mp3-call").unwrap();
    let blob = |name: &str| {
        echome_core::BlobRef::new("echome-recordings", format!("samples/+14155550123/calls/{name}"))
    };
    // The generated scenes' own lengths (the stored copies decode to these, give or take an
    // MP3 frame).
    let length = |wav: &Path| seconds(&std::fs::read(wav).unwrap()).0;
    let put = |name: &str, secs: f32, seed: u64, args: &[&str]| {
        let raw = dir.path().join(format!("raw-{seed}.wav"));
        generate(Scene { kind: SceneKind::Clean, seconds: secs, seed }, &raw).unwrap();
        let dest = store.path_of(&blob(name)).unwrap();
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let mut all = vec!["-i", raw.to_str().unwrap()];
        all.extend_from_slice(args);
        all.push(dest.to_str().unwrap());
        ffmpeg(&all);
        length(&raw)
    };
    let c1 = put("c1.mp3", 6.0, 11, &["-ar", "16000", "-b:a", "64k"]);
    let c3 = put("c3.wav", 4.0, 13, &["-ar", "8000"]);
    let c4 = put("c4.wav", 5.0, 14, &[]);
    // An hour on hold would be too long to join: more than the join's room is left out.
    let hold = store.path_of(&blob("c-hold.wav")).unwrap();
    let long = format!("{}", extract_audio::JOIN_MAX_S + 1.0);
    ffmpeg(&["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", &long, hold.to_str().unwrap()]);
    let garbled = store.path_of(&blob("c2.wav")).unwrap();
    std::fs::write(&garbled, "not audio at all\n").unwrap();

    let input = ExtractInput {
        sample: blob("c4.wav"),
        combine: vec![
            blob("c0-erased.mp3"),
            blob("c-hold.wav"),
            blob("c1.mp3"),
            blob("c2.wav"),
            blob("c3.wav"),
        ],
        ..template.clone()
    };
    let out = handle(&store, &config(&work), input).await.unwrap();
    assert_eq!(
        out.joined,
        [blob("c1.mp3"), blob("c3.wav")],
        "the erased, the too long and the garbled are left out"
    );
    let (source_s, rate) = seconds(&store.get_bytes(&out.source).await.unwrap());
    let (analysis_s, analysis_rate) = seconds(&store.get_bytes(&out.analysis).await.unwrap());
    assert_eq!((rate, analysis_rate), (out.source_info.sample_rate_hz, 16000), "the newest call's rate");
    assert_eq!(out.source_info.pack_rate_hz, rate);
    let expected = c1 + c3 + c4 + 2.0 * 0.5;
    assert!((source_s - expected).abs() < 0.1, "{source_s} s joined, {expected} expected");
    assert!((analysis_s - source_s).abs() < 0.01, "{analysis_s} vs {source_s}");
    assert!((out.source_info.duration_s - analysis_s).abs() < 1e-6);
    assert!(std::fs::read_dir(&work).unwrap().next().is_none(), "the work folder is cleaned up");

    // Without earlier calls: the recording as it is, nothing joined.
    let alone =
        handle(&store, &config(&work), ExtractInput { sample: blob("c4.wav"), ..template }).await.unwrap();
    assert!(alone.joined.is_empty());
    let (alone_s, _) = seconds(&store.get_bytes(&alone.source).await.unwrap());
    assert!((alone_s - c4).abs() < 0.05, "{alone_s} vs {c4}");
}
