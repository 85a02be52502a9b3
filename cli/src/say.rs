//! `echome say`: text in a voice, written to a file (mp3, raw μ-law 8 kHz for phone lines, or
//! OGG/Opus for messaging apps).

use std::path::PathBuf;
use std::process::ExitCode;

use echome_core::{SpeechFormat, StepError, VoiceEngine, VoiceId};
use serde_json::json;

use crate::engine::Engine;
use crate::output::{fail_step, spinner};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Mp3,
    Ulaw,
    Ogg,
}

impl From<Format> for SpeechFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Mp3 => SpeechFormat::Mp3,
            Format::Ulaw => SpeechFormat::Ulaw,
            Format::Ogg => SpeechFormat::Ogg,
        }
    }
}

#[derive(clap::Args)]
pub struct SayArgs {
    /// A voice id from `echome run` / `echome clone` (offline voices start with `offline`).
    #[arg(long)]
    voice: String,
    #[arg(long)]
    text: String,
    #[arg(long, value_enum, default_value = "mp3")]
    format: Format,
    #[arg(long)]
    out: PathBuf,
    /// Machine-readable output on stdout.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: SayArgs) -> ExitCode {
    match say(&args).await {
        Ok(code) => code,
        Err(e) => fail_step(args.json, &e),
    }
}

async fn say(args: &SayArgs) -> Result<ExitCode, StepError> {
    let voice = VoiceId::parse(&args.voice).map_err(|e| StepError::invalid_input(e.to_string()))?;
    if args.text.trim().is_empty() {
        return Err(StepError::invalid_input("there is no text to say"));
    }
    let engine = Engine::for_voice(&voice)?;
    let pb = spinner("speaking");
    if args.json {
        pb.finish_and_clear();
    }
    let audio = engine.synthesize(&voice, &args.text, args.format.into()).await;
    pb.finish_and_clear();
    let audio = audio?;
    std::fs::write(&args.out, &audio)
        .map_err(|e| StepError::internal(format!("writing {}: {e}", args.out.display())))?;
    let offline = engine.name() == "offline";
    if args.json {
        let out = json!({
            "out": args.out.display().to_string(),
            "bytes": audio.len(),
            "voice_id": voice,
            "engine": engine.name(),
            "note": offline.then_some("offline engine: a matching espeak-ng voice, not a clone"),
        });
        println!("{out:#}");
    } else {
        println!("{}: {} bytes of speech in {voice} ({})", args.out.display(), audio.len(), engine.name());
        if offline {
            println!("note: offline engine: a matching espeak-ng voice, not a clone");
        }
    }
    Ok(ExitCode::SUCCESS)
}
