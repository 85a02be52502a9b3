//! Consent end to end through `echome`: under the default policy a caller without consent is
//! not cloned (the run ends `consent_missing`), a grant lets the same recording through, and a
//! revocation deletes the voice and stops the next clone.

use std::path::Path;

use echome_testkit::{Scene, SceneKind, generate};
use serde_json::Value;

const CALLER: &str = "+14155550123";

/// The default deployment: `CONSENT_POLICY` unset means required.
fn echome(data: &Path, args: &[&str]) -> (bool, Value) {
    echome_tests::echome_json_with(data, &[], args)
}

#[test]
fn no_clone_without_consent_and_a_revocation_takes_the_voice_away() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let call = dir.path().join("call.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 70.0, seed: 5 }, &call).unwrap();
    let call = call.to_str().unwrap();

    let (ok, refused) = echome(&data, &["run", call, "--caller", CALLER, "--json"]);
    assert!(!ok, "{refused:#}");
    assert_eq!(refused["status"], "failed");
    assert_eq!(
        (refused["error"]["type"].as_str(), refused["error"]["code"].as_str()),
        (Some("ConsentMissing"), Some("consent_missing")),
        "{refused:#}"
    );
    assert!(refused["voice_id"].is_null(), "no voice was made: {refused:#}");
    let (ok, shown) = echome(&data, &["consent", "show", CALLER, "--json"]);
    assert!(!ok);
    assert_eq!(shown["error"]["code"], "not_found");

    let grant = [
        "consent",
        "grant",
        CALLER,
        "--method",
        "written",
        "--by",
        "the caller",
        "--scope",
        "clone",
        "--json",
    ];
    let (ok, granted) = echome(&data, &grant);
    assert!(ok, "{granted:#}");
    assert_eq!((granted["status"].as_str(), granted["method"].as_str()), (Some("granted"), Some("written")));
    let (ok, bad) = echome(&data, &["consent", "grant", CALLER, "--method", "nod", "--by", "x", "--json"]);
    assert!(!ok);
    assert!(bad["error"]["message"].as_str().unwrap().contains("method must be"), "{bad:#}");

    let (ok, out) = echome(&data, &["run", call, "--caller", CALLER, "--json"]);
    assert!(ok, "{out:#}");
    let voice = out["voice_id"].as_str().expect("a voice").to_owned();
    let (ok, person) = echome(&data, &["people", "show", CALLER, "--json"]);
    assert!(ok, "{person:#}");
    assert_eq!(person["consent"]["scope"], serde_json::json!(["clone"]));
    assert!(person["active_voice_model"].is_string(), "the new voice is their active model: {person:#}");

    let (ok, revoked) = echome(&data, &["consent", "revoke", CALLER, "--json"]);
    assert!(ok, "{revoked:#}");
    assert_eq!(revoked["consent"]["status"], "revoked");
    assert_eq!(revoked["deleted_models"].as_array().map(Vec::len), Some(1), "{revoked:#}");
    let (ok, voices) = echome(&data, &["voices", "list", "--json"]);
    assert!(ok, "{voices:#}");
    let ours: Vec<&str> =
        voices["ours_at_engine"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(!ours.contains(&voice.as_str()), "the voice is gone from the engine: {voices:#}");
    let cached = voices["cached"].as_array().unwrap();
    assert!(cached.iter().all(|c| c["voice_id"] != voice.as_str() || c["status"] != "active"), "{voices:#}");
    let model = revoked["deleted_models"][0].as_str().unwrap();
    let (ok, shown) = echome(&data, &["voices", "show", model, "--json"]);
    assert!(ok, "{shown:#}");
    assert_eq!(shown["status"], "deleted", "kept for audit, deleted: {shown:#}");
    let (ok, person) = echome(&data, &["people", "show", CALLER, "--json"]);
    assert!(ok);
    assert!(person["active_voice_model"].is_null(), "no active voice is left: {person:#}");

    let (ok, again) = echome(&data, &["run", call, "--caller", CALLER, "--json"]);
    assert!(!ok);
    assert_eq!(again["error"]["code"], "consent_missing");
    assert!(again["error"]["message"].as_str().unwrap().contains("revoked"), "{again:#}");
}

#[test]
fn people_are_named_once_and_shown_with_their_consent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, anna) = echome(&data, &["people", "add", "emp-42", "--name", "Anna Berg", "--json"]);
    assert!(ok, "{anna:#}");
    assert_eq!((anna["id"].as_str(), anna["kind"].as_str()), (Some("emp-42"), Some("employee")));
    let (ok, twice) = echome(&data, &["people", "add", "emp-42", "--name", "Anna Berg", "--json"]);
    assert!(!ok);
    assert_eq!(twice["error"]["code"], "conflict");
    let (ok, _) =
        echome(&data, &["consent", "grant", "emp-42", "--method", "written", "--by", "Anna Berg", "--json"]);
    assert!(ok);
    let (ok, text) = {
        let out = std::process::Command::new(echome_tests::echome())
            .arg("--data-dir")
            .arg(&data)
            .args(["people", "show", "emp-42"])
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert!(ok, "{text}");
    assert!(
        text.contains("Anna Berg") && text.contains("consent granted (written, scope clone,speech)"),
        "{text}"
    );
}
