//! How commands speak: human text or `--json`, and errors as `{"error": {"code", "message"}}`.

use std::process::ExitCode;

use echome_core::AudioError;
use indicatif::{ProgressBar, ProgressStyle};

/// Prints a failure the way the user asked for and returns the exit code.
pub fn fail(json: bool, err: &AudioError) -> ExitCode {
    if json {
        let body = serde_json::json!({ "error": { "code": err.code(), "message": err.to_string() } });
        println!("{body}");
    } else {
        eprintln!("error [{}]: {err}", err.code());
    }
    ExitCode::FAILURE
}

/// A failure outside the audio itself (bad arguments, storage).
pub fn fail_step(json: bool, err: &echome_core::StepError) -> ExitCode {
    if json {
        let body = serde_json::json!({ "error": { "code": err.code, "message": err.message } });
        println!("{body}");
    } else {
        eprintln!("error [{}]: {}", err.code, err.message);
    }
    ExitCode::FAILURE
}

/// A spinner on stderr that stays out of the way of `--json` on stdout (and hides itself when
/// stderr is not a terminal).
pub fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_owned());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}
