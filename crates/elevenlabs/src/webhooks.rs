//! ElevenLabs webhooks: the `ElevenLabs-Signature` check (before anything is parsed or stored),
//! the post-call events, and the answer to the conversation-initiation webhook.

use std::collections::BTreeMap;

use echome_core::signing;
use serde::{Deserialize, Serialize};

use crate::calls::ConfigOverride;

pub const SIGNATURE_HEADER: &str = "elevenlabs-signature";
/// As the official SDKs: older signatures are refused.
pub const TOLERANCE_S: i64 = 30 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no ElevenLabs-Signature header")]
    Missing,
    #[error("the signature header is not `t=<unix>,v0=<hex>`")]
    Malformed,
    #[error("the signature is {age_s} s old (limit {TOLERANCE_S} s)")]
    Stale { age_s: i64 },
    #[error("the signature is dated {ahead_s} s in the future (limit {TOLERANCE_S} s)")]
    Future { ahead_s: i64 },
    #[error("the signature does not match the body")]
    Mismatch,
}

/// `t=<unix>,v0=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, compared in constant time. Spaces
/// around the parts are tolerated (`t=1, v0=abc`). A `t` more than [`TOLERANCE_S`] away from
/// `now_unix`, in the past or the future, is refused; one so far off that the difference
/// overflows is stale.
pub fn verify_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut v0 = None;
    for part in header.split(',') {
        match part.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v0", v)) => v0 = Some(v),
            _ => {}
        }
    }
    let (t, v0) = (t.ok_or(SignatureError::Malformed)?, v0.ok_or(SignatureError::Malformed)?);
    let given = signing::unhex(v0).ok_or(SignatureError::Malformed)?;
    match now_unix.checked_sub(t) {
        None => return Err(SignatureError::Stale { age_s: now_unix.saturating_sub(t) }),
        Some(age) if age > TOLERANCE_S => return Err(SignatureError::Stale { age_s: age }),
        Some(age) if age < -TOLERANCE_S => {
            return Err(SignatureError::Future { ahead_s: age.saturating_neg() });
        }
        Some(_) => {}
    }
    if signing::verify_timestamped(secret, &t.to_string(), body, &given) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header ElevenLabs would send for `body` at `t` (tests, local tools).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    format!("t={t},v0={}", signing::sign_timestamped(secret, &t.to_string(), body))
}

/// A post-call webhook, after its signature checked out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebhookEvent {
    PostCallTranscription {
        event_timestamp: serde_json::Value,
        data: Conversation,
    },
    PostCallAudio {
        event_timestamp: serde_json::Value,
        data: CallAudio,
    },
    CallInitiationFailure {
        event_timestamp: serde_json::Value,
        data: serde_json::Value,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Conversation {
    #[serde(default)]
    pub agent_id: String,
    pub conversation_id: String,
    #[serde(default)]
    pub status: String,
    /// `[{role, message, time_in_call_secs, …}]`.
    #[serde(default)]
    pub transcript: Vec<serde_json::Value>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    #[serde(default)]
    pub analysis: serde_json::Value,
    #[serde(default)]
    pub conversation_initiation_client_data: serde_json::Value,
    /// Whether a `post_call_audio` follows (absent in older payloads).
    #[serde(default)]
    pub has_audio: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallAudio {
    #[serde(default)]
    pub agent_id: String,
    pub conversation_id: String,
    /// Base64 MP3.
    #[serde(default)]
    pub full_audio: String,
}

/// What the conversation-initiation webhook answers: the agent then speaks with the cached
/// voice from the first word.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InitiationResponse {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dynamic_variables: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_config_override: Option<ConfigOverride>,
}

/// What the conversation-initiation webhook receives for an inbound Twilio or SIP call.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct InitiationRequest {
    #[serde(default)]
    pub caller_id: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub called_number: Option<String>,
    #[serde(default)]
    pub call_sid: Option<String>,
}

/// The 3CX call id echome put in an agent call's dynamic variables, from the
/// `conversation_initiation_client_data` a webhook echoes back.
pub fn threecx_call_id(client_data: &serde_json::Value) -> Option<&str> {
    client_data.pointer("/dynamic_variables/threecx_call_id").and_then(serde_json::Value::as_str)
}

impl Conversation {
    /// The 3CX call this conversation belongs to: echome puts it in every agent call's
    /// dynamic variables.
    pub fn threecx_call_id(&self) -> Option<&str> {
        threecx_call_id(&self.conversation_initiation_client_data)
    }

    /// The caller's number as the conversation gives it: the `caller_id` echome put in the
    /// dynamic variables, else the phone call's external number. Unchecked text.
    pub fn caller_number(&self) -> Option<&str> {
        let given = self.conversation_initiation_client_data.pointer("/dynamic_variables/caller_id");
        given
            .or_else(|| self.metadata.pointer("/phone_call/external_number"))
            .and_then(serde_json::Value::as_str)
    }

    pub fn duration_s(&self) -> Option<f64> {
        self.metadata.get("call_duration_secs").and_then(serde_json::Value::as_f64)
    }

    /// `role: message` lines, at most `max` characters.
    pub fn excerpt(&self, max: usize) -> String {
        let (mut out, mut chars) = (String::new(), 0);
        for turn in &self.transcript {
            let role = turn.get("role").and_then(serde_json::Value::as_str).unwrap_or("?");
            let Some(msg) = turn.get("message").and_then(serde_json::Value::as_str) else { continue };
            let line = format!("{role}: {msg}\n");
            let len = line.chars().count();
            if chars + len > max {
                out.extend(line.chars().take(max - chars));
                break;
            }
            out.push_str(&line);
            chars += len;
        }
        out
    }
}

impl InitiationResponse {
    pub fn new(conversation_config_override: Option<ConfigOverride>) -> Self {
        Self {
            kind: "conversation_initiation_client_data".into(),
            dynamic_variables: BTreeMap::new(),
            conversation_config_override,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret_0123456789";
    const BODY: &[u8] = br#"{"type":"post_call_transcription","event_timestamp":1739537297,"data":{"agent_id":"xyz","conversation_id":"abc","status":"done"}}"#;
    const NOW: i64 = 1_739_537_300;

    #[test]
    fn a_valid_signature_passes() {
        let header = sign(SECRET, NOW - 3, BODY);
        assert_eq!(verify_signature(SECRET, Some(&header), BODY, NOW), Ok(()));
        let event: WebhookEvent = serde_json::from_slice(BODY).unwrap();
        assert!(
            matches!(event, WebhookEvent::PostCallTranscription { ref data, .. } if data.conversation_id == "abc")
        );
    }

    #[test]
    fn a_known_vector_from_the_documented_algorithm() {
        // HMAC-SHA256("test_secret", "1700000000.{}"), computed independently with Python's hmac.
        let header = "t=1700000000,v0=c561c5814cba8a0cd366ee43292d205cf59c9635ad120894be1ef80c0af72b76";
        assert_eq!(sign(b"test_secret", 1_700_000_000, b"{}"), header);
        assert_eq!(verify_signature(b"test_secret", Some(header), b"{}", 1_700_000_010), Ok(()));
        let flipped = header.replace("c561", "c562");
        assert_eq!(
            verify_signature(b"test_secret", Some(&flipped), b"{}", 1_700_000_010),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn spaces_in_the_header_are_tolerated() {
        let header = sign(SECRET, NOW - 3, BODY);
        let spaced = header.replace(',', ", ");
        assert_eq!(verify_signature(SECRET, Some(&spaced), BODY, NOW), Ok(()), "{spaced}");
        let padded = format!(" {} ", header.replace(',', " , ").replace('=', " = "));
        assert_eq!(verify_signature(SECRET, Some(&padded), BODY, NOW), Ok(()), "{padded}");
    }

    #[test]
    fn a_signature_from_the_future_is_refused() {
        let ahead = sign(SECRET, NOW + TOLERANCE_S + 1, BODY);
        assert_eq!(
            verify_signature(SECRET, Some(&ahead), BODY, NOW),
            Err(SignatureError::Future { ahead_s: TOLERANCE_S + 1 })
        );
        let near = sign(SECRET, NOW + 60, BODY);
        assert_eq!(verify_signature(SECRET, Some(&near), BODY, NOW), Ok(()), "clock skew within the window");
    }

    #[test]
    fn timestamps_at_the_ends_of_i64_are_refused_not_a_panic() {
        for t in [i64::MIN, i64::MIN + 1, i64::MAX] {
            let header = sign(SECRET, t, BODY);
            let got = verify_signature(SECRET, Some(&header), BODY, NOW);
            assert!(
                matches!(got, Err(SignatureError::Stale { .. } | SignatureError::Future { .. })),
                "{t}: {got:?}"
            );
        }
        let header = sign(SECRET, i64::MIN, BODY);
        assert!(matches!(
            verify_signature(SECRET, Some(&header), BODY, i64::MAX),
            Err(SignatureError::Stale { .. })
        ));
    }

    #[test]
    fn everything_else_is_refused() {
        let header = sign(SECRET, NOW, BODY);
        assert_eq!(
            verify_signature(b"wrong secret", Some(&header), BODY, NOW),
            Err(SignatureError::Mismatch)
        );
        let tampered =
            BODY.to_vec().into_iter().map(|b| if b == b'x' { b'y' } else { b }).collect::<Vec<_>>();
        assert_eq!(verify_signature(SECRET, Some(&header), &tampered, NOW), Err(SignatureError::Mismatch));
        let stale = sign(SECRET, NOW - TOLERANCE_S - 1, BODY);
        assert!(matches!(
            verify_signature(SECRET, Some(&stale), BODY, NOW),
            Err(SignatureError::Stale { .. })
        ));
        assert_eq!(verify_signature(SECRET, None, BODY, NOW), Err(SignatureError::Missing));
        for bad in
            ["", "t=abc,v0=00", "v0=abcd", "t=1739537300", "t=1739537300,v0=xyz", "t=1739537300,v1=abcd"]
        {
            assert_eq!(
                verify_signature(SECRET, Some(bad), BODY, NOW),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }
}
