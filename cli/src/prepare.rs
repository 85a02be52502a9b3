use std::path::PathBuf;
use std::process::ExitCode;

use echome_audio::prepare::{PICTURE_NAME, Progress, REPORT_NAME};
use echome_audio::{PrepareConfig, prepare_file};

use crate::output::{fail, spinner};

#[derive(clap::Args)]
pub struct Args {
    /// The recording: WAV, MP3, M4A/AAC, MP4, WebM/Opus, OGG, FLAC…
    audio: PathBuf,
    /// Folder for the pack (sample_N.wav), report.json and timeline.svg.
    #[arg(long)]
    out: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Minimum clean speech (seconds) below which there is no pack.
    #[arg(long, default_value_t = 30.0, env = "ECHOME_MIN_SPEECH_S")]
    min_speech: f64,
}

pub fn run(args: Args) -> ExitCode {
    let cfg = PrepareConfig::default().with_min_speech(args.min_speech);
    let encoder = match echome_voiceprint::default_encoder() {
        Ok(e) => e,
        Err(e) => return fail(args.json, &echome_core::AudioError::io("loading the speaker encoder", e)),
    };
    let pb = spinner("decoding and analysing");
    let result = prepare_file(&args.audio, &args.out, &cfg, encoder.as_ref(), &mut |p| match p {
        Progress::Analysing { done_s } => {
            pb.set_message(format!("decoding and analysing ({:.0} min done)", done_s / 60.0))
        }
        Progress::Rendering { file, of } => pb.set_message(format!("writing sample {file} of {of}")),
    });
    pb.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => return fail(args.json, &e),
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(true, &echome_core::AudioError::io("encoding the report", e)),
        }
        return ExitCode::SUCCESS;
    }
    println!(
        "sample pack: {:.1} s of clean speech in {} file(s), from {:.1} s usable ({:.1} s of speech in a {:.1} s recording)",
        report.totals.selected_s,
        report.samples.len(),
        report.totals.usable_s,
        report.totals.speech_s,
        report.source.duration_s
    );
    for s in &report.samples {
        println!(
            "  {}  {:5.1} s  {:6.1} dBFS RMS  {:5.1} dBTP  SNR {:4.1} dB{}",
            args.out.join(&s.path).display(),
            s.duration_s,
            s.rms_dbfs,
            s.true_peak_dbtp,
            s.snr_db,
            if s.denoised { "  (denoised)" } else { "" }
        );
    }
    for w in &report.warnings {
        println!("  warning [{}]: {}", w.code, w.message);
    }
    println!("report:  {}", args.out.join(REPORT_NAME).display());
    println!("picture: {}", args.out.join(PICTURE_NAME).display());
    ExitCode::SUCCESS
}
