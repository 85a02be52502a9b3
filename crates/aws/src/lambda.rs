//! What every Lambda's `main.rs` shares: JSON logs, and step failures reported with the stable
//! `error_type` names the state machine's Retry and Catch match.

use echome_core::{StepError, redact};
use lambda_runtime::Diagnostic;

/// JSON logs without ANSI colours or timestamps (CloudWatch adds them); level from `RUST_LOG`
/// or, as the Lambda log configuration sets it, `AWS_LAMBDA_LOG_LEVEL`.
pub fn init_tracing() {
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|_| "info".into())
        .to_ascii_lowercase();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
}

/// A step's failure on its way to the runtime: `errorType` is the stable name, `errorMessage`
/// is `"{code}: {message}"` (see [`StepError::from_cause`]).
#[derive(Debug)]
pub struct StepFailure(pub StepError);

impl From<StepError> for StepFailure {
    fn from(mut e: StepError) -> Self {
        // Messages can carry S3 keys, and keys carry phone numbers.
        e.message = redact::phone_numbers(&e.message);
        tracing::warn!(error_type = e.error_type.as_str(), code = %e.code, message = %e.message, "step failed");
        Self(e)
    }
}

impl From<StepFailure> for Diagnostic {
    fn from(f: StepFailure) -> Self {
        Diagnostic { error_type: f.0.error_type.as_str().to_owned(), error_message: f.0.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use echome_core::AudioError;

    #[test]
    fn the_runtime_gets_the_stable_name_and_a_readable_message() {
        let d: Diagnostic = StepFailure::from(StepError::from(AudioError::EmptyFile)).into();
        assert_eq!(d.error_type, "InvalidAudio");
        assert_eq!(d.error_message, "empty_file: the file is empty (0 bytes)");
    }

    #[test]
    fn phone_numbers_in_messages_are_redacted() {
        let e = StepError::from(echome_core::StorageError::NotFound("b/samples/+14155550123/a.mp3".into()));
        let d: Diagnostic = StepFailure::from(e).into();
        assert!(
            d.error_message.contains("+14******123") && !d.error_message.contains("4155550123"),
            "{}",
            d.error_message
        );
    }
}
