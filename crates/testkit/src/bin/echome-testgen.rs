//! `echome-testgen --kind mixed --seconds 3600 --seed 1 --out rec.wav --truth rec.json`

use std::path::PathBuf;

use anyhow::{Context, bail};
use echome_testkit::{Scene, SceneKind, generate};

fn main() -> anyhow::Result<()> {
    let mut kind = SceneKind::Mixed;
    let mut seconds = 300.0f32;
    let mut seed = 1u64;
    let mut out: Option<PathBuf> = None;
    let mut truth: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--kind" => {
                kind = match value()?.as_str() {
                    "mixed" => SceneKind::Mixed,
                    "clean" => SceneKind::Clean,
                    "music" => SceneKind::MusicOnly,
                    "noise" => SceneKind::NoiseOnly,
                    "silence" => SceneKind::Silence,
                    other => match other.strip_prefix("short:") {
                        Some(s) => SceneKind::ShortSpeech { speech_s: s.parse()? },
                        None => bail!("unknown kind {other}"),
                    },
                }
            }
            "--seconds" => seconds = value()?.parse()?,
            "--seed" => seed = value()?.parse()?,
            "--out" => out = Some(value()?.into()),
            "--truth" => truth = Some(value()?.into()),
            other => bail!("unknown flag {other}"),
        }
    }
    let out = out.context("--out is required")?;
    let t = generate(Scene { kind, seconds, seed }, &out)?;
    if let Some(path) = truth {
        std::fs::write(path, serde_json::to_vec_pretty(&t)?)?;
    }
    eprintln!(
        "wrote {} ({:.1} s, {:.1} s clean main speech)",
        out.display(),
        t.duration_s,
        t.total(echome_testkit::Label::MainClean)
    );
    Ok(())
}
