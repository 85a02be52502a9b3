//! `echome run` and `echome samples add` end to end: a local clone run on a generated call.

use std::path::Path;

use echome_testkit::{Scene, SceneKind, generate};
use serde_json::Value;

fn echome(data: &Path, args: &[&str]) -> (bool, Value) {
    echome_tests::echome_json(data, args)
}

#[test]
fn a_local_clone_run_writes_the_pack_and_records_how_it_ended() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let call = dir.path().join("call.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 70.0, seed: 21 }, &call).unwrap();

    let (ok, out) = echome(&data, &["run", call.to_str().unwrap(), "--caller", "+44 20 7183 8750", "--json"]);
    assert!(ok, "{out:#}");
    assert_eq!(out["status"], "succeeded");
    assert_eq!(out["caller_id"], "+44*******750", "the number is redacted in output");
    let samples = out["samples"].as_array().unwrap();
    assert!(!samples.is_empty() && samples.len() <= 3, "{out:#}");
    for s in samples {
        assert!(Path::new(s.as_str().unwrap()).is_file(), "{s}");
    }
    assert!(Path::new(out["report"].as_str().unwrap()).is_file());
    assert!(Path::new(out["picture"].as_str().unwrap()).is_file());
    assert!(out["selected_s"].as_f64().unwrap() >= 30.0);
    let stored = std::fs::read_dir(data.join("blobs/recordings/samples/+442071838750")).unwrap().count();
    assert_eq!(stored, 1, "the recording is kept under samples/{{caller}}/");

    // An upload of the same file again is a new version: a new run, the first one untouched.
    let (ok, again) =
        echome(&data, &["samples", "add", "--caller", "+442071838750", call.to_str().unwrap(), "--json"]);
    assert!(ok, "{again:#}");
    assert_ne!(again["run_id"], out["run_id"]);
    assert!(Path::new(out["report"].as_str().unwrap()).is_file());
}

#[test]
fn a_bad_recording_fails_the_run_with_a_stable_code() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let notes = dir.path().join("notes.wav");
    std::fs::write(&notes, "not audio at all\n").unwrap();
    let (ok, out) =
        echome(&data, &["samples", "add", "--caller", "+14155550123", notes.to_str().unwrap(), "--json"]);
    assert!(!ok);
    assert_eq!(out["status"], "failed");
    assert_eq!(
        (out["error"]["type"].as_str(), out["error"]["code"].as_str()),
        (Some("InvalidAudio"), Some("not_audio"))
    );
    let (ok, out) = echome(&data, &["run", notes.to_str().unwrap(), "--caller", "0044 20", "--json"]);
    assert!(!ok);
    assert_eq!(out["error"]["code"], "invalid_input");
}
