//! ElevenLabs' error bodies (three shapes) and what each failure means for the caller: retry,
//! give up, or fix the configuration.

use echome_core::{ErrorType, StepError};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ElevenLabsError {
    /// 429 after every retry (`too_many_concurrent_requests`, `system_busy`).
    #[error("ElevenLabs is busy ({code}): {message}")]
    Throttled { code: String, message: String },
    /// 5xx, timeouts and connection failures after every retry.
    #[error("ElevenLabs is unavailable ({status}): {message}")]
    Unavailable { status: u16, message: String },
    #[error("the ElevenLabs API key was refused: {message}")]
    InvalidKey { message: String },
    #[error("the ElevenLabs quota is used up: {message}")]
    QuotaExceeded { message: String },
    #[error("ElevenLabs has no such voice: {message}")]
    VoiceNotFound { message: String },
    /// Any other refusal (400, 402, 403, 404, 422): retrying cannot help.
    #[error("ElevenLabs refused the request ({status} {code}): {message}")]
    Rejected { status: u16, code: String, message: String },
    /// A 2xx answer that does not match the API description.
    #[error("unexpected answer from ElevenLabs: {0}")]
    Decode(String),
    /// A request that makes something (a voice, a call) failed after it may have reached
    /// ElevenLabs (a timeout, a dropped connection, a 5xx): it may have been done, so it is not
    /// sent again. Not retried by the state machine either: a second call would ring the caller
    /// twice.
    #[error("{what} may or may not have been done at ElevenLabs ({message})")]
    OutcomeUnknown { what: String, status: u16, message: String },
}

impl ElevenLabsError {
    pub fn code(&self) -> &str {
        match self {
            Self::Throttled { .. } => "provider_throttled",
            Self::Unavailable { .. } => "provider_unavailable",
            Self::InvalidKey { .. } => "invalid_api_key",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::VoiceNotFound { .. } => "voice_not_found",
            Self::Rejected { .. } => "provider_rejected",
            Self::Decode(_) => "provider_answer_invalid",
            Self::OutcomeUnknown { .. } => "outcome_unknown",
        }
    }

    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::Throttled { .. } => ErrorType::ProviderThrottled,
            Self::Unavailable { .. } => ErrorType::Retryable,
            Self::Decode(_) => ErrorType::Internal,
            // Caught, never retried: see the variant.
            Self::OutcomeUnknown { .. } => ErrorType::ProviderRejected,
            _ => ErrorType::ProviderRejected,
        }
    }
}

impl From<ElevenLabsError> for StepError {
    fn from(e: ElevenLabsError) -> Self {
        StepError::new(e.error_type(), e.code(), e.to_string())
    }
}

/// The three error bodies ElevenLabs sends.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ErrorBody {
    Detail { detail: Detail },
    Flat { error: String, message: Option<String> },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Detail {
    Status {
        status: String,
        message: Option<String>,
    },
    /// FastAPI's 422 list.
    Validation(Vec<ValidationItem>),
    Text(String),
}

#[derive(Debug, Deserialize)]
struct ValidationItem {
    #[serde(default)]
    loc: Vec<serde_json::Value>,
    #[serde(default)]
    msg: String,
}

/// `(code, message)` from an error body; unknown bodies keep their text.
pub fn parse_error_body(status: u16, body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody::Detail { detail: Detail::Status { status, message } }) => {
            let message = message.unwrap_or_else(|| status.clone());
            (status, message)
        }
        Ok(ErrorBody::Detail { detail: Detail::Validation(items) }) => {
            let message = items
                .iter()
                .map(|i| {
                    let loc: Vec<String> = i
                        .loc
                        .iter()
                        .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned))
                        .collect();
                    format!("{}: {}", loc.join("."), i.msg)
                })
                .collect::<Vec<_>>()
                .join("; ");
            ("validation_error".into(), message)
        }
        Ok(ErrorBody::Detail { detail: Detail::Text(t) }) => (format!("http_{status}"), t),
        Ok(ErrorBody::Flat { error, message }) => {
            let message = message.unwrap_or_else(|| error.clone());
            (error, message)
        }
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned();
            (format!("http_{status}"), if text.is_empty() { format!("HTTP {status}") } else { text })
        }
    }
}

/// What an unsuccessful status means once retries are spent (or not allowed).
pub fn classify(status: u16, code: String, message: String) -> ElevenLabsError {
    match (status, code.as_str()) {
        (_, "invalid_api_key") | (401, _) => ElevenLabsError::InvalidKey { message },
        (_, "quota_exceeded") => ElevenLabsError::QuotaExceeded { message },
        (_, "voice_not_found") => ElevenLabsError::VoiceNotFound { message },
        (429, _) => ElevenLabsError::Throttled { code, message },
        (s, _) if s >= 500 || s == 408 => ElevenLabsError::Unavailable { status, message },
        _ => ElevenLabsError::Rejected { status, code, message },
    }
}

/// On a path that names a voice, a 404 means that voice is unknown.
pub fn voice_missing(e: ElevenLabsError) -> ElevenLabsError {
    match e {
        ElevenLabsError::Rejected { status: 404, message, .. } => ElevenLabsError::VoiceNotFound { message },
        other => other,
    }
}

/// Worth another try: 429 (unless the quota is gone), 408 and 5xx.
pub fn retryable(status: u16, code: &str) -> bool {
    let never = matches!(code, "quota_exceeded" | "invalid_api_key" | "voice_not_found");
    !never && (status == 429 || status == 408 || status >= 500)
}

/// An answer that proves the request did nothing, so even a request that makes something may
/// be sent again: 429 (throttled before any work) and 408 (the server gave up waiting for the
/// request). A 5xx proves nothing: the work may have been done before the error.
pub fn refused_before_work(status: u16, code: &str) -> bool {
    (status == 429 || status == 408) && retryable(status, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_three_error_shapes() {
        let (c, m) =
            parse_error_body(401, br#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#);
        assert_eq!((c.as_str(), m.as_str()), ("invalid_api_key", "Invalid API key"));
        let (c, m) = parse_error_body(
            422,
            br#"{"detail":[{"loc":["body","files"],"msg":"field required","type":"value_error.missing"}]}"#,
        );
        assert_eq!((c.as_str(), m.as_str()), ("validation_error", "body.files: field required"));
        let (c, m) = parse_error_body(404, br#"{"error":"not_found","message":"Dubbing not found"}"#);
        assert_eq!((c.as_str(), m.as_str()), ("not_found", "Dubbing not found"));
        let (c, _) = parse_error_body(502, b"<html>bad gateway</html>");
        assert_eq!(c, "http_502");
    }

    #[test]
    fn only_what_may_pass_is_retried() {
        assert!(retryable(429, "too_many_concurrent_requests") && retryable(429, "system_busy"));
        assert!(retryable(503, "http_503") && retryable(500, ""));
        for (s, c) in [
            (400, "max_character_limit_exceeded"),
            (401, "invalid_api_key"),
            (402, "payment_required"),
            (422, "validation_error"),
            (429, "quota_exceeded"),
            (404, "voice_not_found"),
        ] {
            assert!(!retryable(s, c), "{s} {c}");
        }
        assert_eq!(
            classify(429, "system_busy".into(), "x".into()).error_type(),
            ErrorType::ProviderThrottled
        );
        assert_eq!(
            classify(400, "quota_exceeded".into(), "x".into()).error_type(),
            ErrorType::ProviderRejected
        );
        assert_eq!(classify(503, "http_503".into(), "x".into()).error_type(), ErrorType::Retryable);
    }

    #[test]
    fn only_a_refusal_before_any_work_lets_a_create_be_sent_again() {
        assert!(refused_before_work(429, "system_busy") && refused_before_work(408, "http_408"));
        for (s, c) in [(500, "http_500"), (502, ""), (503, "http_503"), (504, ""), (429, "quota_exceeded")] {
            assert!(!refused_before_work(s, c), "{s} {c}");
        }
        let e = ElevenLabsError::OutcomeUnknown {
            what: "outbound call".into(),
            status: 0,
            message: "timeout".into(),
        };
        assert_eq!((e.code(), e.error_type()), ("outcome_unknown", ErrorType::ProviderRejected));
    }
}
