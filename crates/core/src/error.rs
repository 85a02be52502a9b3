use serde::{Deserialize, Serialize};

/// The stable names a state-machine function fails with; statemachine/*.asl.json matches them in
/// Retry and Catch, so a name, once published, never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorType {
    /// The step's input (ids, keys) is malformed or names nothing: retrying cannot help.
    InvalidInput,
    /// The recording cannot be read as audio: empty, not audio, truncated or corrupt.
    InvalidAudio,
    /// The recording decodes but holds too little clean speech of one speaker to clone.
    NoUsableSpeech,
    /// A dependency failed in a way that may pass (throttling, timeouts); the ASL retries it.
    Retryable,
    /// A bug or a broken deployment (missing ffmpeg, bad configuration).
    Internal,
    /// The voice provider is over its rate or concurrency limit; the ASL retries with backoff.
    ProviderThrottled,
    /// The voice provider refused the request (bad input, quota, key, unknown voice): caught.
    ProviderRejected,
    /// A pack an earlier run made is no longer stored (its derived audio expired): the run
    /// analyses the recording again.
    PackGone,
    /// The new recording's speaker is not the caller's voice on record: the voice is not
    /// replaced until an operator accepts the new speaker.
    SpeakerMismatch,
    /// The person has not consented to being cloned (or revoked it), and the consent policy
    /// requires it: nothing is sent to the provider.
    ConsentMissing,
}

impl ErrorType {
    pub const ALL: [Self; 10] = [
        Self::InvalidInput,
        Self::InvalidAudio,
        Self::NoUsableSpeech,
        Self::Retryable,
        Self::Internal,
        Self::ProviderThrottled,
        Self::ProviderRejected,
        Self::PackGone,
        Self::SpeakerMismatch,
        Self::ConsentMissing,
    ];

    /// The name back from a state machine's `Error`; anything else (`States.Timeout`,
    /// `Lambda.Unknown`) is an internal failure.
    pub fn parse_or_internal(name: &str) -> Self {
        Self::ALL.into_iter().find(|t| t.as_str() == name).unwrap_or(Self::Internal)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "InvalidInput",
            Self::InvalidAudio => "InvalidAudio",
            Self::NoUsableSpeech => "NoUsableSpeech",
            Self::Retryable => "Retryable",
            Self::Internal => "Internal",
            Self::ProviderThrottled => "ProviderThrottled",
            Self::ProviderRejected => "ProviderRejected",
            Self::PackGone => "PackGone",
            Self::SpeakerMismatch => "SpeakerMismatch",
            Self::ConsentMissing => "ConsentMissing",
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a recording cannot become a sample pack. Messages are written for the person who sent it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AudioError {
    #[error("the file is empty (0 bytes)")]
    EmptyFile,
    #[error("the file is not a recording in any format ffmpeg can read: {detail}")]
    NotAudio { detail: String },
    #[error("the file holds no audio stream{}", detail_suffix(.detail))]
    NoAudioStream { detail: String },
    #[error(
        "the recording is truncated: its header declares {declared_s:.1} s but only {decoded_s:.1} s could be decoded"
    )]
    Truncated { declared_s: f64, decoded_s: f64 },
    #[error("the recording is corrupt: {detail}")]
    Corrupt { detail: String },
    #[error("the recording is silent: no sound above the noise floor in {duration_s:.1} s")]
    SilenceOnly { duration_s: f64 },
    #[error("the recording holds music but no speech ({music_s:.1} s of music in {duration_s:.1} s)")]
    MusicOnly { music_s: f64, duration_s: f64 },
    #[error("the recording holds noise but no speech ({duration_s:.1} s analysed)")]
    NoiseOnly { duration_s: f64 },
    #[error(
        "too little clean speech: found {found_s:.1} s of usable speech by one speaker, need at least {required_s:.1} s ({speech_s:.1} s of speech in all)"
    )]
    TooLittleSpeech { found_s: f64, required_s: f64, speech_s: f64 },
    #[error("the recording is {duration_s:.0} s long; the limit is {limit_s:.0} s")]
    TooLong { duration_s: f64, limit_s: f64 },
    #[error("ffmpeg could not be run: {detail}")]
    DecoderUnavailable { detail: String },
    #[error("i/o error while {context}: {detail}")]
    Io { context: String, detail: String },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() { String::new() } else { format!(" ({detail})") }
}

impl AudioError {
    /// Stable snake_case code for JSON output and records.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyFile => "empty_file",
            Self::NotAudio { .. } => "not_audio",
            Self::NoAudioStream { .. } => "no_audio_stream",
            Self::Truncated { .. } => "truncated_audio",
            Self::Corrupt { .. } => "corrupt_audio",
            Self::SilenceOnly { .. } => "silence_only",
            Self::MusicOnly { .. } => "music_only",
            Self::NoiseOnly { .. } => "noise_only",
            Self::TooLittleSpeech { .. } => "too_little_speech",
            Self::TooLong { .. } => "too_long",
            Self::DecoderUnavailable { .. } => "decoder_unavailable",
            Self::Io { .. } => "io_error",
        }
    }

    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::EmptyFile
            | Self::NotAudio { .. }
            | Self::NoAudioStream { .. }
            | Self::Truncated { .. }
            | Self::Corrupt { .. }
            | Self::TooLong { .. } => ErrorType::InvalidAudio,
            Self::SilenceOnly { .. }
            | Self::MusicOnly { .. }
            | Self::NoiseOnly { .. }
            | Self::TooLittleSpeech { .. } => ErrorType::NoUsableSpeech,
            Self::DecoderUnavailable { .. } | Self::Io { .. } => ErrorType::Internal,
        }
    }

    pub fn io(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Self::Io { context: context.into(), detail: err.to_string() }
    }
}

/// Failures of the blob store port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("no object at {0}")]
    NotFound(String),
    #[error("storage is unavailable for now: {0}")]
    Transient(String),
    #[error("storage failed: {0}")]
    Failed(String),
    /// The store refused access (S3 403 `AccessDenied`): a permission is missing from the
    /// function's policy. The text names the action and, where known, why it is needed.
    #[error("storage access denied: {0}")]
    Denied(String),
}

impl StorageError {
    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::NotFound(_) => ErrorType::InvalidInput,
            Self::Transient(_) => ErrorType::Retryable,
            Self::Failed(_) | Self::Denied(_) => ErrorType::Internal,
        }
    }

    /// Stable snake_case code for records and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Transient(_) => "storage_unavailable",
            Self::Failed(_) => "storage_failed",
            Self::Denied(_) => "storage_access_denied",
        }
    }
}

/// How a state-machine step fails: `error_type` is what the ASL's Retry and Catch match; `code`
/// and `message` are what the failure record keeps for the person who sent the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct StepError {
    pub error_type: ErrorType,
    pub code: String,
    pub message: String,
}

impl StepError {
    pub fn new(error_type: ErrorType, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { error_type, code: code.into(), message: message.into() }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidInput, "invalid_input", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorType::Internal, "internal", message)
    }

    /// Reads back the `error_message` a Lambda reported (`"{code}: {message}"`), as the failure
    /// path gets it from the state machine's Catch.
    /// Step Functions wraps a Lambda's error as `{"errorMessage": …, "errorType": …}`.
    pub fn from_cause(error_type: ErrorType, cause: &str) -> Self {
        let unwrapped = serde_json::from_str::<serde_json::Value>(cause)
            .ok()
            .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_owned));
        let cause = unwrapped.as_deref().unwrap_or(cause);
        match cause.split_once(": ") {
            Some((code, message))
                if !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
            {
                Self::new(error_type, code, message)
            }
            _ => Self::new(error_type, "failed", cause),
        }
    }
}

impl From<AudioError> for StepError {
    fn from(e: AudioError) -> Self {
        Self::new(e.error_type(), e.code(), e.to_string())
    }
}

impl From<StorageError> for StepError {
    fn from(e: StorageError) -> Self {
        Self::new(e.error_type(), e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_little_speech_says_how_much_was_found() {
        let e = AudioError::TooLittleSpeech { found_s: 12.34, required_s: 30.0, speech_s: 40.0 };
        assert_eq!(e.code(), "too_little_speech");
        assert_eq!(e.error_type(), ErrorType::NoUsableSpeech);
        assert!(e.to_string().contains("found 12.3 s"), "{e}");
        assert!(e.to_string().contains("at least 30.0 s"), "{e}");
    }

    #[test]
    fn unreadable_input_is_invalid_audio_not_retryable() {
        for e in [AudioError::EmptyFile, AudioError::Corrupt { detail: "x".into() }] {
            assert_eq!(e.error_type(), ErrorType::InvalidAudio);
        }
        assert_eq!(StorageError::Transient("slow down".into()).error_type().as_str(), "Retryable");
    }

    #[test]
    fn a_denied_access_is_an_internal_failure_that_names_itself() {
        let e = StepError::from(StorageError::Denied(
            "s3:ListBucket on the bucket (a missing key answers 403 without it)".into(),
        ));
        assert_eq!((e.error_type, e.code.as_str()), (ErrorType::Internal, "storage_access_denied"));
        assert!(e.message.contains("access denied") && e.message.contains("s3:ListBucket"), "{e}");
    }

    #[test]
    fn a_step_error_survives_the_trip_through_the_state_machine() {
        let e = StepError::from(AudioError::SilenceOnly { duration_s: 4.0 });
        let back = StepError::from_cause(e.error_type, &e.to_string());
        assert_eq!(back, e);
        let wrapped = serde_json::json!({"errorMessage": e.to_string(), "errorType": "NoUsableSpeech"});
        assert_eq!(StepError::from_cause(e.error_type, &wrapped.to_string()), e);
        let odd = StepError::from_cause(ErrorType::Internal, "Task timed out after 900.00 seconds");
        assert_eq!(odd.code, "failed");
        assert_eq!(odd.message, "Task timed out after 900.00 seconds");
    }
}
