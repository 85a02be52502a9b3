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

/// Call-flow events as CloudWatch embedded-metric-format lines on stdout. Each line carries a
/// `level` equal to the function's own log level (`AWS_LAMBDA_LOG_LEVEL`), so Lambda's level
/// filter, which drops JSON lines below it, never drops the metrics the alarms depend on.
#[derive(Debug, Clone)]
pub struct EmfMetrics {
    level: String,
}

impl EmfMetrics {
    pub fn from_env() -> Self {
        let level =
            std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "INFO".into()).to_ascii_uppercase();
        Self { level }
    }

    pub fn line(&self, event: &echome_core::CallEventRecord) -> String {
        let mut doc = echome_core::metrics::emf_document(event);
        doc["level"] = self.level.clone().into();
        doc.to_string()
    }
}

impl echome_core::metrics::MetricsSink for EmfMetrics {
    fn record(&self, event: &echome_core::CallEventRecord) {
        println!("{}", self.line(event));
    }

    fn provider_call(&self, call: &echome_core::metrics::ProviderCall) {
        let mut doc =
            echome_core::metrics::emf_provider_document(call, chrono::Utc::now().timestamp_millis());
        doc["level"] = self.level.clone().into();
        println!("{doc}");
    }
}

/// The ElevenLabs client's settings every function that calls ElevenLabs starts with: the key
/// from the SSM parameter `ELEVENLABS_API_KEY_PARAMETER` names, the host from
/// `ELEVENLABS_API_BASE`, and each request counted for the provider's error-rate alarm.
pub async fn elevenlabs_config(sdk: &aws_config::SdkConfig) -> Result<echome_elevenlabs::Config, String> {
    let parameter = echome_core::env::required("ELEVENLABS_API_KEY_PARAMETER")?;
    let key = crate::secrets::ssm_secret(sdk, &parameter).await?;
    Ok(echome_elevenlabs::Config {
        metrics: echome_core::metrics::Sink::new(EmfMetrics::from_env()),
        ..echome_elevenlabs::Config::with_key(echome_elevenlabs::ApiKey::new(key))
    })
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
    fn metric_lines_pass_the_function_s_own_log_level_filter() {
        let ev =
            echome_core::CallEventRecord::new(echome_core::CallEventKind::Fallback, None, chrono::Utc::now());
        let line: serde_json::Value =
            serde_json::from_str(&EmfMetrics { level: "ERROR".into() }.line(&ev)).unwrap();
        assert_eq!((line["level"].as_str(), line["Fallbacks"].as_i64()), (Some("ERROR"), Some(1)));
        assert!(line["_aws"]["CloudWatchMetrics"].is_array());
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
