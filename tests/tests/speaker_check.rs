//! The voiceprint check end to end, on real voices (bench/speaker_check.py: telephone prompts
//! of Allison, Carlo and others from Debian's asterisk-core-sounds): another person's recording
//! on a caller's number does not replace their voice (`speaker_mismatch`, with both
//! similarities), the caller's own next recording does, and an operator's acceptance of a
//! refused speaker makes that speaker the caller's voice.

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

/// The recordings, built once for every test here.
fn recordings() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| echome_tests::built_by("speaker_check.py"))
}

fn run(data: &Path, audio: &Path) -> (bool, Value) {
    let audio = audio.to_str().unwrap();
    echome_tests::echome_json(data, &["run", audio, "--caller", "+14155550123", "--json"])
}

#[test]
fn another_persons_voice_never_silently_becomes_the_callers() {
    let dir = recordings();
    let data = tempfile::tempdir().unwrap();
    let rec = |name: &str| dir.join(format!("{name}.wav"));

    let (ok, first) = run(data.path(), &rec("en_US_f_Allison_1"));
    assert!(ok, "{first}");
    assert!(first["speaker_check"].is_null(), "nothing to compare the first voice with: {first}");

    let (ok, carlo) = run(data.path(), &rec("it_IT_m_Carlo_1"));
    assert!(!ok, "{carlo}");
    assert_eq!(carlo["error"]["code"], "speaker_mismatch", "{carlo}");
    let check = &carlo["speaker_check"];
    let (similarity, own) =
        (check["similarity"].as_f64().unwrap(), check["pack_similarity"].as_f64().unwrap());
    println!("Carlo against Allison: {similarity:.3} (Carlo's own pack: {own:.3})");
    assert!(similarity < check["threshold"].as_f64().unwrap() && own > similarity, "{check}");
    let message = carlo["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{similarity:.2}")) && message.contains(&format!("{own:.2}")),
        "{message}"
    );

    let (ok, again) = run(data.path(), &rec("en_US_f_Allison_2"));
    assert!(ok, "the caller's own new recording replaces the voice: {again}");
    assert_eq!(again["speaker_check"]["matched"], true, "{again}");
    assert_ne!(again["voice_id"], first["voice_id"]);

    // The voice changed after Carlo's run: accepting it now would undo Allison's newer voice.
    let carlo_run = carlo["run_id"].as_str().unwrap();
    let accept = |run: &str| {
        echome_tests::echome_json(data.path(), &["runs", "accept", run, "--by", "olga", "--json"])
    };
    let (ok, late) = accept(carlo_run);
    assert!(!ok && late["error"]["message"].as_str().unwrap().contains("newer voice stands"), "{late}");

    let (ok, carlo2) = run(data.path(), &rec("it_IT_m_Carlo_2"));
    assert!(!ok && carlo2["error"]["code"] == "speaker_mismatch", "{carlo2}");
    let (ok, accepted) = accept(carlo2["run_id"].as_str().unwrap());
    assert!(ok, "an operator's acceptance clones the refused speaker: {accepted}");
    assert!(accepted["voice_id"].is_string() && accepted["voice_id"] != again["voice_id"], "{accepted}");
    // The accepted voice was made from the refused run's pack (kept under that run's prefix):
    // its voiceprint is still found, and it is Carlo's.
    let voice = accepted["voice_id"].as_str().unwrap();
    let compare = |other: &Path| {
        let other = other.to_str().unwrap();
        echome_tests::echome_json(data.path(), &["voices", "compare", voice, other, "--json"])
    };
    let ((ok_c, carlo_sim), (ok_a, allison_sim)) =
        (compare(&rec("it_IT_m_Carlo_4")), compare(&rec("en_US_f_Allison_3")));
    assert!(ok_c && ok_a, "{carlo_sim} {allison_sim}");
    assert!(
        carlo_sim["similarity"].as_f64().unwrap() > allison_sim["similarity"].as_f64().unwrap() + 0.1,
        "{carlo_sim} {allison_sim}"
    );

    let (ok, carlo3) = run(data.path(), &rec("it_IT_m_Carlo_3"));
    assert!(ok, "the accepted speaker is now the caller's voice: {carlo3}");
    assert_eq!(carlo3["speaker_check"]["matched"], true, "{carlo3}");
}

/// A real man reading, about 40 s of speech in a 45 s recording (and its phone copy): just
/// over the 30 s minimum, it must not be lost to over-strict trimming (his held vowels once
/// counted as music and left 20 s).
#[test]
fn a_real_recording_just_over_the_minimum_is_kept() {
    let dir = recordings();
    for name in ["dispatcher_man_1", "dispatcher_man_1.phone"] {
        let out = tempfile::tempdir().unwrap();
        let input = dir.join(format!("{name}.wav"));
        let (ok, report) = echome_tests::echome_json(
            out.path(),
            &["prepare", input.to_str().unwrap(), "--out", out.path().to_str().unwrap(), "--json"],
        );
        assert!(ok, "{name}: {report}");
        let speech = report["totals"]["speech_s"].as_f64().unwrap();
        println!("{name}: {speech:.1} s of speech");
        assert!(speech >= 35.0, "{name}: only {speech:.1} s of its ~40 s of speech found");
        assert!(report["totals"]["music_s"].as_f64().unwrap() < 1.0, "{name}: {}", report["totals"]);
    }
}
