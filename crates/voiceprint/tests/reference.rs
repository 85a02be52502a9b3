//! The Rust encoder against Resemblyzer 0.1.4 itself: tools/voiceprint_reference.py embedded
//! the clips tools/voiceprint_clips.sh builds (espeak-ng voices, alsa-utils' real recordings)
//! with the package's own code, and the vectors are kept in fixtures/reference.json.

use std::path::{Path, PathBuf};

use echome_voiceprint::{Embedding, Encoder};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The weights `make tools` converts (layers/voiceprint/ge2e_weights.py), or `ECHOME_VOICEPRINT_WEIGHTS`.
fn encoder() -> Encoder {
    let path = std::env::var("ECHOME_VOICEPRINT_WEIGHTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".tools/voiceprint/ge2e.safetensors"));
    Encoder::load(&path).unwrap_or_else(|e| panic!("{e} (make tools converts them)"))
}

/// A 16-bit mono WAV's samples, scaled as librosa reads them (÷ 32768).
fn read_wav(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if &bytes[at..at + 4] == b"data" {
            let data = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
            return data
                .chunks_exact(2)
                .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
                .collect();
        }
        at += 8 + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

fn clips() -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new(root().join("tools/voiceprint_clips.sh"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(ok.success(), "building the clips (espeak-ng, ffmpeg, alsa-utils)");
    let reference =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference.json"))
            .unwrap();
    (dir, serde_json::from_str(&reference).unwrap())
}

fn vector(v: &Value) -> Embedding {
    Embedding::from_raw(v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).unwrap()
}

#[test]
fn embeddings_agree_with_resemblyzer_s_own_on_every_clip() {
    let (dir, reference) = clips();
    let encoder = encoder();
    let clips = reference["clips"].as_object().unwrap();
    let wavs: Vec<(String, Vec<f32>)> =
        clips.keys().map(|name| (name.clone(), read_wav(&dir.path().join(format!("{name}.wav"))))).collect();
    let refs: Vec<&[f32]> = wavs.iter().map(|(_, w)| w.as_slice()).collect();
    let ours = encoder.embed_all(&refs);
    let mut report = Vec::new();
    for ((name, wav), mine) in wavs.iter().zip(&ours) {
        let want = &clips[name];
        assert_eq!(
            wav.len() as u64,
            want["samples"].as_u64().unwrap(),
            "{name}: the clip is not the one embedded"
        );
        let cos = mine.as_ref().expect("an embedding").cosine(&vector(&want["embedding"]));
        report.push(format!("{name}: {cos:.5}"));
    }
    println!("cosine to Resemblyzer's: {}", report.join(", "));
    for line in &report {
        let cos: f64 = line.rsplit(": ").next().unwrap().parse().unwrap();
        assert!(cos >= 0.99, "{line} (all: {report:?})");
    }
    // The same real speaker across the two alsa clips, as the reference found.
    let (front, rear) = (ours[0].as_ref().unwrap(), ours[1].as_ref().unwrap());
    let want = reference["cosine"]["alsa_front|alsa_rear"].as_f64().unwrap();
    assert!((front.cosine(rear) - want).abs() < 0.02, "{} vs {want}", front.cosine(rear));
}

#[test]
fn the_frontend_matches_librosa_s_mel_frames() {
    let (dir, reference) = clips();
    let wav = read_wav(&dir.path().join("espeak_en_m.wav"));
    let frames = echome_voiceprint::mel::MelFrontend::new().frames(&echome_voiceprint::encoder::raised(&wav));
    let want = reference["clips"]["espeak_en_m"]["mel_frames_100_102"].as_array().unwrap();
    for (k, row) in want.iter().enumerate() {
        for (band, v) in row.as_array().unwrap().iter().enumerate() {
            let (mine, theirs) = (frames[(100 + k) * 40 + band], v.as_f64().unwrap() as f32);
            assert!(
                (mine - theirs).abs() <= 1e-3 * theirs.abs().max(1e-3),
                "frame {} band {band}: {mine} vs {theirs}",
                100 + k
            );
        }
    }
}

#[test]
fn a_clip_with_nothing_in_it_has_no_embedding_rather_than_a_panic() {
    let encoder = encoder();
    assert_eq!(encoder.embed(&[]), None);
    let out = encoder.embed_all(&[&[], &[]]);
    assert_eq!(out, vec![None, None]);
}
