//! Erasure end to end through `echome` on one machine: a caller cloned, then erased; nothing of
//! theirs is left in the files or the records, another caller's data is untouched, and the
//! receipt's counts are what was there. Asked again, nothing is left to delete.

use std::path::{Path, PathBuf};

use echome_testkit::{Scene, SceneKind, generate};
use serde_json::Value;

const ERASED: &str = "+14155550123";
const KEPT: &str = "+14155550456";

fn echome(data: &Path, args: &[&str]) -> (bool, Value) {
    echome_tests::echome_json_with(data, &[], args)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() { todo.push(e.path()) } else { out.push(e.path()) }
        }
    }
    out
}

/// Consent, then a recording stored and cloned; the run's id.
fn cloned(data: &Path, caller: &str, recording: &Path) -> String {
    let grant = ["consent", "grant", caller, "--method", "written", "--by", "the caller", "--json"];
    assert!(echome(data, &grant).0);
    let (ok, out) =
        echome(data, &["samples", "add", "--caller", caller, recording.to_str().unwrap(), "--json"]);
    assert!(ok, "{out:#}");
    out["run_id"].as_str().unwrap().to_owned()
}

#[test]
fn an_erased_caller_leaves_nothing_behind_and_the_receipt_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let call = dir.path().join("call.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 70.0, seed: 9 }, &call).unwrap();
    let run = cloned(&data, ERASED, &call);
    let kept_run = cloned(&data, KEPT, &call);
    let blobs = data.join("blobs/recordings");
    let samples = files_under(&blobs.join(format!("samples/{ERASED}"))).len() as u64;
    let run_files = files_under(&blobs.join(format!("runs/{run}"))).len() as u64;
    assert!(samples >= 1 && run_files >= 2, "{samples} samples, {run_files} run files");

    let (ok, receipt) = echome(&data, &["people", "erase", ERASED, "--json"]);
    assert!(ok, "{receipt:#}");
    assert_eq!(
        (receipt["status"].as_str(), receipt["person_kind"].as_str()),
        (Some("completed"), Some("caller"))
    );
    let deleted = &receipt["deleted"];
    assert_eq!(deleted["sample_files"], samples, "{receipt:#}");
    assert_eq!(deleted["run_files"], run_files, "{receipt:#}");
    for kind in [
        "provider_voices",
        "sample_records",
        "runs",
        "voice_models",
        "consent_records",
        "clone_entries",
        "voiceprints",
    ] {
        assert!(deleted[kind].as_u64().unwrap_or(0) >= 1, "{kind}: {receipt:#}");
    }
    let text = receipt.to_string();
    assert!(!text.contains("4155550123"), "the receipt never names the number: {text}");

    // Nothing of theirs is left: files, records, voices.
    assert!(!blobs.join(format!("samples/{ERASED}")).exists());
    assert!(!blobs.join(format!("runs/{run}")).exists());
    let (ok, person) = echome(&data, &["people", "show", ERASED, "--json"]);
    assert!(ok, "{person:#}");
    assert!(person["consent"].is_null() && person["active_voice_model"].is_null(), "{person:#}");
    let (_, voices) = echome(&data, &["voices", "list", "--json"]);
    let models: Vec<&Value> = voices["models"].as_array().unwrap().iter().collect();
    assert!(models.iter().all(|m| m["person"] != "+14******123"), "{voices:#}");
    assert!(voices["cached"].as_array().unwrap().iter().all(|c| c["person"] != "+14******123"), "{voices:#}");
    let (_, runs) = echome(&data, &["consent", "show", ERASED, "--json"]);
    assert_eq!(runs["error"]["code"], "not_found");

    // The other caller keeps everything.
    assert!(!files_under(&blobs.join(format!("samples/{KEPT}"))).is_empty());
    assert!(blobs.join(format!("runs/{kept_run}")).is_dir());
    assert!(models.iter().any(|m| m["person"] == "+14******456"), "{voices:#}");
    let (_, kept) = echome(&data, &["people", "show", KEPT, "--json"]);
    assert_eq!(kept["consent"]["status"], "granted");

    // Listed, and asked again there is nothing left to delete.
    let (ok, again) = echome(&data, &["people", "erase", ERASED, "--json"]);
    assert!(ok, "{again:#}");
    assert_eq!(again["total_deleted"], 0, "{again:#}");
    assert_eq!(again["person_hash"], receipt["person_hash"], "the same person, by the same keyed hash");
    let (ok, all) = echome(&data, &["people", "erasures", "--json"]);
    assert!(ok);
    let ids: Vec<&str> =
        all["erasures"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), 2, "{all:#}");
    assert!(ids.contains(&receipt["id"].as_str().unwrap()));
}

/// A named person (an employee): their recording becomes their voice, named after them at the
/// provider and on their record; erased, their folder, runs and voice go as a caller's do.
#[test]
fn an_employee_s_recording_becomes_their_voice_and_erasure_takes_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let talk = dir.path().join("talk.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 70.0, seed: 11 }, &talk).unwrap();
    let talk = talk.to_str().unwrap();
    let add = |who: &str| echome(&data, &["samples", "add", "--person", who, talk, "--json"]);
    let (ok, nobody) = add("emp-42");
    assert!(!ok, "{nobody:#}");
    assert!(nobody["error"]["message"].as_str().unwrap().contains("no person \"emp-42\""), "{nobody:#}");
    assert!(echome(&data, &["people", "add", "emp-42", "--name", "Anna Berg", "--json"]).0);
    let grant = ["consent", "grant", "emp-42", "--method", "written", "--by", "Anna Berg", "--json"];
    assert!(echome(&data, &grant).0);
    let (ok, out) = add("emp-42");
    assert!(ok, "{out:#}");
    let voice = out["voice_id"].as_str().expect("a voice").to_owned();
    let run = out["run_id"].as_str().unwrap().to_owned();
    assert!(run.starts_with("up-emp-42-"), "{out:#}");
    assert_eq!(out["person"], "emp-42", "{out:#}");
    let (ok, anna) = echome(&data, &["people", "show", "emp-42", "--json"]);
    assert!(ok, "{anna:#}");
    assert_eq!(anna["active_voice_id"], voice.as_str(), "her voice is on her record: {anna:#}");
    assert_eq!(anna["samples_folder"], "samples/emp-42/");
    let (_, voices) = echome(&data, &["voices", "list", "--json"]);
    let cached = voices["cached"].as_array().unwrap();
    assert!(cached.iter().any(|c| c["person"] == "emp-42" && c["voice_id"] == voice.as_str()), "{voices:#}");

    let blobs = data.join("blobs/recordings");
    let samples = files_under(&blobs.join("samples/emp-42")).len() as u64;
    assert!(samples >= 1 && blobs.join(format!("runs/{run}")).is_dir());
    let (ok, receipt) = echome(&data, &["people", "erase", "emp-42", "--json"]);
    assert!(ok, "{receipt:#}");
    assert_eq!(receipt["person_kind"], "named");
    let deleted = &receipt["deleted"];
    assert_eq!(deleted["sample_files"], samples, "{receipt:#}");
    for kind in [
        "provider_voices",
        "sample_records",
        "runs",
        "run_files",
        "voice_models",
        "clone_entries",
        "person_records",
    ] {
        assert!(deleted[kind].as_u64().unwrap_or(0) >= 1, "{kind}: {receipt:#}");
    }
    assert!(!blobs.join("samples/emp-42").exists() && !blobs.join(format!("runs/{run}")).exists());
    let (_, voices) = echome(&data, &["voices", "list", "--json"]);
    let ours: Vec<&str> =
        voices["ours_at_engine"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(!ours.contains(&voice.as_str()), "her voice is gone from the engine: {voices:#}");
    assert!(voices["cached"].as_array().unwrap().iter().all(|c| c["person"] != "emp-42"), "{voices:#}");
    let (ok, gone) = echome(&data, &["people", "show", "emp-42", "--json"]);
    assert!(!ok && gone["error"]["code"] == "not_found", "her record is gone: {gone:#}");
}
