//! The main speaker among real human voices: bench/real_voices.py mixes the two real speakers
//! Debian ships (alsa-utils, speech-dispatcher) into recordings where the other party takes
//! turns and talks over the main one, with music and noise, as a phone call and as a
//! wideband file. `echome prepare` must keep the other party out of the pack.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn mixtures() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| echome_tests::built_by("real_voices.py"))
}

/// Share of the pack's source time that is the main speaker alone, by the ground truth.
fn purity(report: &Value, truth: &Path) -> (f64, f64) {
    let truth: Value = serde_json::from_slice(&std::fs::read(truth).unwrap()).unwrap();
    let segs: Vec<(f64, f64, String)> = truth["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_f64().unwrap(), s[1].as_f64().unwrap(), s[2].as_str().unwrap().to_owned()))
        .collect();
    let (mut total, mut clean) = (0.0, 0.0);
    for sample in report["samples"].as_array().unwrap() {
        for iv in sample["source_intervals"].as_array().unwrap() {
            let (a, b) = (iv[0].as_f64().unwrap(), iv[1].as_f64().unwrap());
            total += b - a;
            clean += segs
                .iter()
                .filter(|s| s.2 == "main_clean")
                .map(|s| (b.min(s.1) - a.max(s.0)).max(0.0))
                .sum::<f64>();
        }
    }
    (clean / total, total)
}

fn prepare(input: &Path, weights: Option<&str>) -> Value {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(echome_tests::echome());
    cmd.arg("prepare").arg(input).arg("--out").arg(out.path()).arg("--json");
    if let Some(w) = weights {
        cmd.env("ECHOME_VOICEPRINT_WEIGHTS", w);
    }
    let done = cmd.output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    serde_json::from_slice(&done.stdout).unwrap()
}

fn case(name: &str) -> (PathBuf, PathBuf) {
    let dir = mixtures();
    let stem = name.split('.').next().unwrap();
    (dir.join(format!("{name}.wav")), dir.join(format!("{stem}.truth.json")))
}

#[test]
fn the_other_real_speaker_never_enters_the_pack_on_a_phone_call_or_a_wideband_file() {
    for name in ["real_a", "real_b", "real_a.phone", "real_b.phone"] {
        let (wav, truth) = case(name);
        let report = prepare(&wav, None);
        let (p, selected) = purity(&report, &truth);
        println!("{name}: purity {p:.3} over {selected:.1} s");
        assert!(p >= 0.95, "{name}: purity {p:.3} over {selected:.1} s");
        assert!(selected >= 30.0, "{name}: only {selected:.1} s selected");
        assert!(report["voiceprint"]["embedding"].as_array().is_some_and(|e| e.len() == 256), "{name}");
        let segments = report["segments"].as_array().unwrap();
        assert!(segments.iter().any(|s| s["similarity"].is_number()), "{name}: similarities are reported");
        assert!(!report["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "no_voiceprint"));
    }
}

#[test]
fn without_the_encoder_the_report_says_the_speaker_was_told_apart_by_cepstra_only() {
    let (wav, _) = case("real_a");
    let report = prepare(&wav, Some("off"));
    assert!(report["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "no_voiceprint"), "{report}");
    assert!(report.get("voiceprint").is_none());
}

fn compare(a: &Path, b: &Path) -> f64 {
    let data = tempfile::tempdir().unwrap();
    let done = Command::new(echome_tests::echome())
        .arg("--data-dir")
        .arg(data.path())
        .args(["voices", "compare"])
        .arg(a)
        .arg(b)
        .arg("--json")
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let v: Value = serde_json::from_slice(&done.stdout).unwrap();
    v["similarity"].as_f64().unwrap()
}

#[test]
fn voices_compare_tells_the_same_real_speaker_from_another() {
    let (a, _) = case("real_a");
    let (b, _) = case("real_b");
    // real_a's main speaker is the speech-dispatcher voice; its own recording is that voice.
    let same = compare(&a, Path::new("/usr/share/sounds/speech-dispatcher/dummy-message.wav"));
    let other = compare(&a, &b);
    println!("same speaker {same:.3}, another {other:.3}");
    assert!(same >= 0.9, "{same}");
    assert!(other < 0.8 && other < same - 0.15, "{other} vs {same}");
}

#[test]
fn voices_compare_refuses_what_is_neither_a_file_nor_a_voice() {
    let data = tempfile::tempdir().unwrap();
    let done = Command::new(echome_tests::echome())
        .arg("--data-dir")
        .arg(data.path())
        .args(["voices", "compare", "no-such-file.wav", "voiceX", "--json"])
        .output()
        .unwrap();
    assert!(!done.status.success());
    let v: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(v["error"]["code"], "invalid_input", "{v}");
}
