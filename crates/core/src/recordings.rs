//! Call recordings the PBX offers (`CallEnded.recording_url`). The webhook has 500 ms and must
//! not make a request to a URL someone else supplied, so it leaves a small request under
//! `inbox/recordings/{caller}/{call_id}.json`; fetch-recording (an S3 event in AWS, a watcher in
//! `echome serve`) fetches it into `samples/{caller}/calls/{call_id}.{ext}`, where the usual
//! upload trigger decides whether to clone. The call's record says what became of it.
//!
//! An ElevenLabs agent's conversation arrives as two webhooks in either order: the whole
//! conversation's audio (`post_call_audio`) and its transcript with each turn's time. Each leaves
//! its part under `inbox/conversations/`; whichever comes second finds the other, and the
//! caller's turns are cut out into `samples/{caller}/calls/{conversation}.mp3`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CallId, CallerId, ConversationId, SAMPLES_PREFIX};

/// Where recording requests wait, one folder per caller (erasure deletes the caller's folder).
pub const RECORDING_REQUESTS_PREFIX: &str = "inbox/recordings/";

/// The folder inside a caller's samples that holds their call recordings.
const CALLS_FOLDER: &str = "calls/";

/// A recording link. It may carry a signed token in its path or query, so it is shown only as
/// its scheme and host.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordingUrl(String);

impl RecordingUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The whole URL, for the fetch itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `https://pbx.example.com/…`.
    pub fn shown(&self) -> String {
        crate::redact::url(&self.0)
    }
}

impl fmt::Display for RecordingUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl fmt::Debug for RecordingUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordingUrl({})", self.shown())
    }
}

/// One recording to fetch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingRequest {
    pub call_id: CallId,
    pub caller_id: CallerId,
    pub url: RecordingUrl,
    pub requested_at: DateTime<Utc>,
}

impl RecordingRequest {
    /// `inbox/recordings/{caller}/{call_id}.json`: one per call, so a replayed `CallEnded`
    /// writes the same request again rather than a second one.
    pub fn key(&self) -> String {
        format!("{}{}.json", requests_prefix(&self.caller_id), self.call_id)
    }

    /// `samples/{caller}/calls/{call_id}.{ext}`.
    pub fn sample_key(&self, ext: &str) -> String {
        format!("{}{CALLS_FOLDER}{}.{ext}", self.caller_id.samples_prefix(), self.call_id)
    }
}

/// `inbox/recordings/{caller}/`.
pub fn requests_prefix(caller: &CallerId) -> String {
    format!("{RECORDING_REQUESTS_PREFIX}{}/", caller.as_str())
}

/// Whether a sample key is a call recording (`samples/{caller}/calls/…`), whose channels the
/// extraction picks by [`RecordingChannel`]. Only callers have calls: a named person's
/// `calls/` folder is theirs to name.
pub fn is_call_recording(key: &str) -> bool {
    key.strip_prefix(SAMPLES_PREFIX)
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(folder, name)| folder.starts_with('+') && name.starts_with(CALLS_FOLDER))
}

/// Whether a recording whose run ended with error code `code` is joined to the caller's next
/// call's: a call's recording with some speech, too little alone. Music, noise or silence add
/// nothing, and an upload is its uploader's to replace.
pub fn joined_by_next_call(sample_key: &str, code: &str) -> bool {
    is_call_recording(sample_key) && code == "too_little_speech"
}

/// Where the two halves of an agent's conversation wait for each other. Neither names the
/// caller in its key (the audio webhook does not say who it was); erasure finds them through
/// the call's conversations, and the inbox's lifecycle rule removes a half whose other half
/// never came.
pub const CONVERSATIONS_PREFIX: &str = "inbox/conversations/";

/// `inbox/conversations/{conversation}.mp3`: the whole conversation, agent included.
pub fn conversation_audio_key(conversation: &ConversationId) -> String {
    format!("{CONVERSATIONS_PREFIX}{conversation}.mp3")
}

/// `inbox/conversations/{conversation}.json`: a [`CallerTurns`].
pub fn conversation_turns_key(conversation: &ConversationId) -> String {
    format!("{CONVERSATIONS_PREFIX}{conversation}.json")
}

/// `samples/{caller}/calls/{conversation}.mp3`: the caller's turns of one conversation.
pub fn conversation_sample_key(caller: &CallerId, conversation: &ConversationId) -> String {
    format!("{}{CALLS_FOLDER}{conversation}.mp3", caller.samples_prefix())
}

/// Seconds of a conversation that are the caller's, `[start, end)`; no end: until the audio
/// ends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TurnSpan {
    pub start_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_s: Option<f64>,
}

/// The transcript's half of a conversation: whose it is and when they spoke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallerTurns {
    pub conversation_id: ConversationId,
    /// `None` when the transcript names no caller (a withheld number): nothing is kept then.
    pub caller_id: Option<CallerId>,
    pub call_id: Option<CallId>,
    pub spans: Vec<TurnSpan>,
    pub received_at: DateTime<Utc>,
}

/// What became of a call's recording, on the call's record (never the URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingState {
    pub status: RecordingStatus,
    pub at: DateTime<Utc>,
    /// The sample it became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// A stable code for a refusal or failure (`host_not_allowed`, `too_large`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RecordingState {
    pub fn new(status: RecordingStatus, at: DateTime<Utc>) -> Self {
        Self { status, at, key: None, bytes: None, code: None, reason: None }
    }

    pub fn because(mut self, code: &str, reason: impl Into<String>) -> Self {
        self.code = Some(code.to_owned());
        self.reason = Some(reason.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// Waiting in the inbox.
    Requested,
    /// Fetched and stored as the caller's sample.
    Stored,
    /// The fetch failed in a way a retry may mend (a slow or failing PBX); it is retried.
    Failed,
    /// Refused for good (the host, the address, the size, not audio): retrying cannot help.
    Refused,
    /// Not fetched on purpose (no consent to clone this caller).
    Skipped,
}

/// Which part of a call recording is the caller: PBXs record the two legs as the left and
/// right channels of a stereo file, or mix them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingChannel {
    Left,
    Right,
    #[default]
    Mixed,
}

impl RecordingChannel {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "left" => Ok(Self::Left),
            "right" => Ok(Self::Right),
            "mixed" | "" => Ok(Self::Mixed),
            other => Err(format!("RECORDING_CHANNEL must be left, right or mixed, not {other:?}")),
        }
    }

    /// `RECORDING_CHANNEL` (`mixed` when unset).
    pub fn from_env() -> Result<Self, String> {
        Self::parse(&std::env::var("RECORDING_CHANNEL").unwrap_or_default())
    }
}

/// The file extension for what was fetched: by its content type, else by the URL's path; `None`
/// when it is not audio (an HTML error page a PBX answers 200 with, say).
pub fn audio_extension(content_type: Option<&str>, url: &str) -> Option<&'static str> {
    let by_type = content_type.map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let typed = match by_type.as_deref() {
        Some("audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave") => Some("wav"),
        Some("audio/mpeg" | "audio/mp3") => Some("mp3"),
        Some("audio/ogg" | "audio/opus") => Some("ogg"),
        Some("audio/flac" | "audio/x-flac") => Some("flac"),
        Some("audio/mp4" | "audio/x-m4a" | "audio/aac") => Some("m4a"),
        Some("audio/webm") => Some("webm"),
        _ => None,
    };
    // A type that names something else (text/html, application/json) is not audio, whatever
    // the path says; a generic one (octet-stream, none) leaves it to the path.
    let generic = match by_type.as_deref() {
        None | Some("" | "application/octet-stream" | "binary/octet-stream") => true,
        Some(t) => t.starts_with("audio/"),
    };
    if typed.is_some() || !generic {
        return typed;
    }
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let ext = path.rsplit('/').next()?.rsplit_once('.')?.1.to_ascii_lowercase();
    ["wav", "mp3", "ogg", "opus", "flac", "m4a", "webm", "aac"]
        .into_iter()
        .find(|known| *known == ext)
        .map(|known| if known == "opus" { "ogg" } else { known })
}

/// The content type a recording is stored with, for an extension [`audio_extension`] gave.
pub fn audio_content_type(ext: &str) -> &'static str {
    match ext {
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" => "audio/mp4",
        "webm" => "audio/webm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RecordingRequest {
        RecordingRequest {
            call_id: CallId::parse("3cx-call-1").unwrap(),
            caller_id: CallerId::parse("+14155550123").unwrap(),
            url: RecordingUrl::new("https://u:p@pbx.example.com/rec/1.wav?token=secret"),
            requested_at: Utc::now(),
        }
    }

    #[test]
    fn keys_put_requests_and_recordings_under_the_caller() {
        let r = request();
        assert_eq!(r.key(), "inbox/recordings/+14155550123/3cx-call-1.json");
        assert_eq!(r.sample_key("wav"), "samples/+14155550123/calls/3cx-call-1.wav");
        assert!(is_call_recording(&r.sample_key("wav")));
        assert!(!is_call_recording("samples/+14155550123/upload.wav"));
        assert!(!is_call_recording("runs/x/calls/a.wav"));
    }

    #[test]
    fn a_conversation_waits_in_the_inbox_and_becomes_a_call_sample() {
        let conv = ConversationId::parse("conv_7401abc").unwrap();
        let caller = CallerId::parse("+14155550123").unwrap();
        assert_eq!(conversation_audio_key(&conv), "inbox/conversations/conv_7401abc.mp3");
        assert_eq!(conversation_turns_key(&conv), "inbox/conversations/conv_7401abc.json");
        let sample = conversation_sample_key(&caller, &conv);
        assert_eq!(sample, "samples/+14155550123/calls/conv_7401abc.mp3");
        assert!(is_call_recording(&sample));
        assert!(ConversationId::parse("../x").is_err() && ConversationId::parse("").is_err());
    }

    #[test]
    fn a_url_is_never_shown_with_its_token() {
        let r = request();
        for shown in
            [format!("{}", r.url), format!("{:?}", r), serde_json::to_string(&r.url.shown()).unwrap()]
        {
            assert!(!shown.contains("secret") && !shown.contains("u:p"), "{shown}");
            assert!(shown.contains("pbx.example.com"), "{shown}");
        }
        assert!(r.url.as_str().contains("token=secret"));
    }

    #[test]
    fn audio_is_known_by_its_type_or_else_its_path() {
        assert_eq!(audio_extension(Some("audio/wav"), "https://h/x"), Some("wav"));
        assert_eq!(audio_extension(Some("audio/mpeg; charset=x"), "https://h/x.wav"), Some("mp3"));
        assert_eq!(audio_extension(Some("application/octet-stream"), "https://h/r/1.WAV?t=1"), Some("wav"));
        assert_eq!(audio_extension(None, "https://h/r/1.opus"), Some("ogg"));
        assert_eq!(audio_extension(Some("text/html"), "https://h/r/1.wav"), None);
        assert_eq!(audio_extension(None, "https://h/r/download"), None);
        // A stored recording's type names its extension again.
        for ext in ["wav", "mp3", "ogg", "flac", "m4a", "webm"] {
            assert_eq!(audio_extension(Some(audio_content_type(ext)), "https://h/x"), Some(ext));
        }
    }

    #[test]
    fn the_channel_parameter_is_checked() {
        assert_eq!(RecordingChannel::parse("LEFT"), Ok(RecordingChannel::Left));
        assert_eq!(RecordingChannel::parse(""), Ok(RecordingChannel::Mixed));
        assert!(RecordingChannel::parse("both").unwrap_err().contains("left, right or mixed"));
    }
}
