//! `echome prepare` end to end: real ffmpeg, generated recordings with known ground truth,
//! and every kind of bad input a user might send.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use echome_testkit::{Scene, SceneKind, Truth, generate};
use serde_json::Value;

struct Fixtures {
    dir: tempfile::TempDir,
    clean: PathBuf,
    mixed: PathBuf,
    mixed_truth: Truth,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let clean = dir.path().join("clean.wav");
        generate(Scene { kind: SceneKind::Clean, seconds: 100.0, seed: 11 }, &clean).expect("clean");
        let mixed = dir.path().join("mixed.wav");
        let mixed_truth =
            generate(Scene { kind: SceneKind::Mixed, seconds: 420.0, seed: 7 }, &mixed).expect("mixed");
        Fixtures { dir, clean, mixed, mixed_truth }
    })
}

fn ffmpeg(args: &[&str]) {
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "ffmpeg {args:?}");
}

fn echome(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(echome_tests::echome()).args(args).output().expect("run echome");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.success(), json, stdout + &stderr)
}

fn prepare(input: &Path, out: &Path, extra: &[&str]) -> (bool, Value, String) {
    let mut args = vec!["prepare", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    echome(&args)
}

fn wav_info(path: &Path) -> (u32, Vec<f32>) {
    let mut f = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let layout = echome_audio::wav::read_header(&mut f).unwrap();
    assert_eq!(layout.format.channels, 1, "pack files are mono");
    let mut s = echome_audio::wav::SampleStream::new(f, layout);
    let mut v = Vec::new();
    while s.next_block(&mut v).unwrap() > 0 {}
    (layout.format.sample_rate, v)
}

#[test]
fn a_mixed_recording_becomes_a_pure_pack_within_the_guidance() {
    let f = fixtures();
    let out = f.dir.path().join("pack-mixed");
    let (ok, report, text) = prepare(&f.mixed, &out, &[]);
    assert!(ok, "{text}");
    let samples = report["samples"].as_array().unwrap();
    assert!((1..=3).contains(&samples.len()), "{} files", samples.len());

    let mut intervals = Vec::new();
    let mut total = 0.0;
    for s in samples {
        let path = out.join(s["path"].as_str().unwrap());
        let (rate, audio) = wav_info(&path);
        assert_eq!(rate, 22050, "the source's own rate");
        let dur = audio.len() as f64 / rate as f64;
        assert!(dur <= 60.0, "{dur} s");
        assert!((dur - s["duration_s"].as_f64().unwrap()).abs() < 0.05);
        let level = echome_audio::loudness::active_level_db(&audio, rate);
        assert!((-23.5..=-18.0).contains(&level), "RMS {level}");
        let tp = echome_audio::loudness::true_peak_db(&audio);
        assert!(tp <= -2.9, "true peak {tp}");
        total += dur;
        for iv in s["source_intervals"].as_array().unwrap() {
            intervals.push((iv[0].as_f64().unwrap(), iv[1].as_f64().unwrap()));
        }
    }
    assert!((60.0..=120.5).contains(&total), "selected {total} s");
    let purity = f.mixed_truth.purity(&intervals);
    assert!(purity >= 0.95, "purity {purity:.3}: {intervals:?}");
    assert!(report["totals"]["speech_s"].as_f64().unwrap() > report["totals"]["usable_s"].as_f64().unwrap());
    assert!(out.join("timeline.svg").exists() && out.join("report.json").exists());
    let svg = std::fs::read_to_string(out.join("timeline.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("in the pack"));
    // Every embedded chunk is drawn by speaker, with its similarity, as the report gives it.
    let embedded =
        report["segments"].as_array().unwrap().iter().filter(|s| s["similarity"].is_number()).count();
    assert!(
        embedded > 0 && svg.matches("to the main speaker</title>").count() == embedded,
        "{embedded} embedded chunks"
    );
    assert!(svg.contains(">another voice</text>"), "the speaker lane's legend");
}

#[test]
fn every_common_format_decodes_and_keeps_its_own_rate() {
    let f = fixtures();
    let src = f.clean.to_str().unwrap();
    let d = f.dir.path();
    let cases: Vec<(&str, Vec<&str>, u32)> = vec![
        ("rec.mp3", vec!["-i", src, "-c:a", "libmp3lame", "-b:a", "96k"], 22050),
        ("rec.m4a", vec!["-i", src, "-ar", "44100", "-c:a", "aac", "-b:a", "96k"], 44100),
        ("rec.webm", vec!["-i", src, "-c:a", "libopus", "-b:a", "48k"], 48000),
        ("rec.ogg", vec!["-i", src, "-c:a", "libvorbis"], 22050),
        (
            "rec.flac",
            vec!["-i", src, "-ar", "48000", "-ac", "2", "-sample_fmt", "s32", "-c:a", "flac"],
            48000,
        ),
        ("float.wav", vec!["-i", src, "-ar", "44100", "-c:a", "pcm_f32le"], 44100),
        (
            "video.mp4",
            vec![
                "-f",
                "lavfi",
                "-i",
                "color=c=blue:s=160x120:r=5",
                "-i",
                src,
                "-shortest",
                "-c:v",
                "libx264",
                "-c:a",
                "aac",
                "-map",
                "0:v",
                "-map",
                "1:a",
            ],
            22050,
        ),
    ];
    for (name, args, rate) in cases {
        let path = d.join(name);
        let mut a = args.clone();
        let p = path.to_str().unwrap().to_owned();
        a.push(&p);
        ffmpeg(&a);
        let out = d.join(format!("pack-{name}"));
        let (ok, report, text) = prepare(&path, &out, &[]);
        assert!(ok, "{name}: {text}");
        assert_eq!(report["source"]["sample_rate_hz"].as_u64(), Some(rate as u64), "{name}");
        let (r, _) = wav_info(&out.join("sample_1.wav"));
        assert_eq!(r, rate, "{name}: pack keeps the source rate");
        assert!(report["totals"]["selected_s"].as_f64().unwrap() >= 60.0, "{name}: {text}");
    }
}

#[test]
fn a_phone_recording_stays_narrowband_and_says_so() {
    let f = fixtures();
    let phone = f.dir.path().join("phone.wav");
    ffmpeg(&[
        "-i",
        f.clean.to_str().unwrap(),
        "-af",
        "highpass=f=300,lowpass=f=3400",
        "-ar",
        "8000",
        "-c:a",
        "pcm_mulaw",
        phone.to_str().unwrap(),
    ]);
    let out = f.dir.path().join("pack-phone");
    let (ok, report, text) = prepare(&phone, &out, &[]);
    assert!(ok, "{text}");
    assert_eq!(report["source"]["narrowband"], Value::Bool(true));
    let (rate, _) = wav_info(&out.join("sample_1.wav"));
    assert_eq!(rate, 8000, "never upsampled");
    let codes: Vec<&str> =
        report["warnings"].as_array().unwrap().iter().filter_map(|w| w["code"].as_str()).collect();
    assert!(codes.contains(&"narrowband"), "{codes:?}");
}

fn expect_error(input: &Path, code: &str, extra: &[&str]) -> String {
    let out = input.with_extension("out");
    let (ok, json, text) = prepare(input, &out, extra);
    assert!(!ok, "{} should fail: {text}", input.display());
    assert_eq!(json["error"]["code"].as_str(), Some(code), "{text}");
    let message = json["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty());
    let left: Vec<_> =
        std::fs::read_dir(&out).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "nothing may be left behind: {left:?}");
    message
}

#[test]
fn bad_input_gets_a_specific_error_and_leaves_nothing() {
    let f = fixtures();
    let d = f.dir.path();

    let empty = d.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    expect_error(&empty, "empty_file", &[]);

    let text = d.join("notes.wav");
    std::fs::write(&text, "Dear caller, this is a text file with a .wav name.\n".repeat(50)).unwrap();
    expect_error(&text, "not_audio", &[]);

    let bytes = std::fs::read(&f.clean).unwrap();
    let truncated = d.join("truncated.wav");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let msg = expect_error(&truncated, "truncated_audio", &[]);
    assert!(msg.contains("declares"), "{msg}");

    let m4a = d.join("whole.m4a");
    ffmpeg(&["-i", f.clean.to_str().unwrap(), "-c:a", "aac", m4a.to_str().unwrap()]);
    let m4a_bytes = std::fs::read(&m4a).unwrap();
    let corrupt = d.join("corrupt.m4a");
    std::fs::write(&corrupt, &m4a_bytes[..m4a_bytes.len() / 2]).unwrap();
    expect_error(&corrupt, "corrupt_audio", &[]);

    for (kind, code) in [
        (SceneKind::Silence, "silence_only"),
        (SceneKind::MusicOnly, "music_only"),
        (SceneKind::NoiseOnly, "noise_only"),
    ] {
        let path = d.join(format!("{code}.wav"));
        generate(Scene { kind, seconds: 60.0, seed: 3 }, &path).unwrap();
        expect_error(&path, code, &[]);
    }

    let short = d.join("short.wav");
    generate(Scene { kind: SceneKind::ShortSpeech { speech_s: 14.0 }, seconds: 40.0, seed: 5 }, &short)
        .unwrap();
    let msg = expect_error(&short, "too_little_speech", &[]);
    assert!(msg.contains("found 1") && msg.contains("at least 30.0 s"), "{msg}");
    // The threshold is the user's to lower.
    let (ok, _, text) = prepare(&short, &d.join("short-ok"), &["--min-speech", "8"]);
    assert!(ok, "{text}");
}

#[test]
fn a_failed_run_keeps_the_previous_pack_whole() {
    let f = fixtures();
    let out = f.dir.path().join("pack-keep");
    let (ok, _, text) = prepare(&f.clean, &out, &[]);
    assert!(ok, "{text}");
    let before = std::fs::read(out.join("report.json")).unwrap();
    let empty = f.dir.path().join("empty2.mp3");
    std::fs::write(&empty, b"").unwrap();
    let (ok, _, _) = prepare(&empty, &out, &[]);
    assert!(!ok);
    assert_eq!(std::fs::read(out.join("report.json")).unwrap(), before);
}

#[test]
fn real_human_speech_is_found() {
    // The channel-test recordings that alsa-utils installs: a real voice, a few seconds each.
    let names = [
        "Front_Left",
        "Front_Right",
        "Front_Center",
        "Rear_Left",
        "Rear_Right",
        "Side_Left",
        "Side_Right",
        "Rear_Center",
    ];
    let files: Vec<String> = names.iter().map(|n| format!("/usr/share/sounds/alsa/{n}.wav")).collect();
    assert!(Path::new(&files[0]).exists(), "alsa-utils is installed by make test");
    let d = fixtures().dir.path();
    let list = d.join("alsa.txt");
    std::fs::write(&list, files.iter().map(|f| format!("file '{f}'\n")).collect::<String>()).unwrap();
    let joined = d.join("alsa.wav");
    ffmpeg(&[
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        list.to_str().unwrap(),
        "-af",
        "apad=pad_dur=0.6",
        joined.to_str().unwrap(),
    ]);
    let (ok, report, text) = prepare(&joined, &d.join("pack-alsa"), &["--min-speech", "5"]);
    assert!(ok, "{text}");
    let usable = report["totals"]["usable_s"].as_f64().unwrap();
    assert!(usable >= 6.0, "usable {usable}: {text}");
}

/// Clipping is reported wherever it happened: at full scale, and in a recording clipped at its
/// input and then turned down 10 dB before it was sent as MP3 (no sample near full scale).
#[test]
fn a_clipped_recording_is_reported_even_when_turned_down_and_encoded() {
    let f = fixtures();
    let clipped = f.dir.path().join("clipped.wav");
    let quiet_mp3 = f.dir.path().join("clipped_quiet.mp3");
    ffmpeg(&[
        "-i",
        f.clean.to_str().unwrap(),
        "-af",
        "volume=18dB",
        "-c:a",
        "pcm_s16le",
        clipped.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        clipped.to_str().unwrap(),
        "-af",
        "volume=-10dB",
        "-b:a",
        "96k",
        quiet_mp3.to_str().unwrap(),
    ]);
    let codes = |report: &Value| -> Vec<String> {
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["code"].as_str().unwrap().to_owned())
            .collect()
    };
    let out = tempfile::tempdir().unwrap();
    let (ok, clean, log) = prepare(&f.clean, out.path(), &[]);
    assert!(ok, "{log}");
    assert!(!codes(&clean).contains(&"clipped".to_owned()), "{:?}", codes(&clean));
    for (input, level) in [(&clipped, 0.0), (&quiet_mp3, -10.0)] {
        let (ok, report, log) = prepare(input, out.path(), &[]);
        assert!(ok, "{log}");
        assert!(codes(&report).contains(&"clipped".to_owned()), "{}: {:?}", input.display(), codes(&report));
        let at = report["samples"][0]["clipped_at_dbfs"].as_f64().expect("where the peaks are flattened");
        assert!((at - level).abs() < 1.5, "{}: flattened at {at} dBFS", input.display());
    }
}
