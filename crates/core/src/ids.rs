use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("caller id {0:?} is not an E.164 phone number (+ then 8 to 15 digits, no leading 0)")]
    CallerId(String),
    #[error("run id {0:?} must be 1 to 80 characters of letters, digits, '-' and '_'")]
    RunId(String),
    #[error("call id {0:?} must be 1 to 128 characters of letters, digits, '-', '_', '.' and ':'")]
    CallId(String),
    #[error("voice id {0:?} must be 1 to 64 letters and digits")]
    VoiceId(String),
}

/// A caller's phone number in E.164 form (`+441632960961`).
///
/// `Debug` and `Display` redact the middle digits so that a number never lands in a log by
/// accident; [`CallerId::as_str`] gives the full number where it is needed (keys, API calls).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CallerId(String);

impl CallerId {
    /// Accepts E.164 with common separators (spaces, dashes, dots, brackets) removed.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let compact: String =
            raw.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        let digits = compact.strip_prefix('+').ok_or_else(|| IdError::CallerId(raw.into()))?;
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok { Ok(Self(compact)) } else { Err(IdError::CallerId(raw.into())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+44*******961`: the country code's first digits and the last three stay readable.
    pub fn redacted(&self) -> String {
        let n = self.0.len();
        let keep_head = 3.min(n);
        let keep_tail = 3.min(n.saturating_sub(keep_head));
        format!(
            "{}{}{}",
            &self.0[..keep_head],
            "*".repeat(n - keep_head - keep_tail),
            &self.0[n - keep_tail..]
        )
    }
}

impl fmt::Display for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallerId({})", self.redacted())
    }
}

impl TryFrom<String> for CallerId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CallerId> for String {
    fn from(value: CallerId) -> Self {
        value.0
    }
}

/// Names one clone run; it is part of every S3 key the run writes (`runs/{run_id}/…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = (1..=80).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(Self(raw.to_owned())) } else { Err(IdError::RunId(raw.into())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The run an upload starts, named after the object's key and version: a redelivered S3
    /// event names the same run, so Step Functions refuses to start it twice. Execution names
    /// allow 80 characters, so the key is hashed; the caller's digits keep the name readable
    /// in the console without being the whole number.
    pub fn for_upload(caller: &CallerId, key: &str, version: &str) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(key.as_bytes());
        h.update([0]);
        h.update(version.as_bytes());
        let hex = crate::signing::hex(&h.finalize()[..12]);
        let digits = caller.as_str().trim_start_matches('+');
        Self(format!("up-{}-{hex}", &digits[digits.len().saturating_sub(4)..]))
    }

    /// The run an incoming call starts: one per 3CX call, so a duplicate webhook names the
    /// same run.
    pub fn for_call(call: &CallId) -> Self {
        use sha2::{Digest, Sha256};
        let hex = crate::signing::hex(&Sha256::digest(call.as_str().as_bytes())[..12]);
        Self(format!("call-{hex}"))
    }

    /// S3 key prefix of everything this run derives.
    pub fn prefix(&self) -> String {
        format!("runs/{}/", self.0)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RunId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RunId> for String {
    fn from(value: RunId) -> Self {
        value.0
    }
}

macro_rules! plain_id {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $max:expr, $extra:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let extra: &[u8] = $extra;
                let ok = (1..=$max).contains(&raw.len())
                    && raw.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
                if ok { Ok(Self(raw.to_owned())) } else { Err(IdError::$variant(raw.into())) }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

plain_id!(
    /// A phone call as the PBX (3CX) names it.
    CallId, CallId, 128, b"-_.:"
);
plain_id!(
    /// A voice in ElevenLabs.
    VoiceId, VoiceId, 64, b""
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_id_accepts_e164_with_separators() {
        let id = CallerId::parse(" +44 (1632) 960-961 ").unwrap();
        assert_eq!(id.as_str(), "+441632960961");
    }

    #[test]
    fn caller_id_rejects_what_is_not_e164() {
        for bad in ["", "441632960961", "+0441632960", "+44abc632960", "+1234567", "+1234567890123456"] {
            assert!(CallerId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn caller_id_never_prints_the_whole_number() {
        let id = CallerId::parse("+441632960961").unwrap();
        assert_eq!(id.to_string(), "+44*******961");
        assert!(!format!("{id:?}").contains("1632960"));
    }

    #[test]
    fn caller_id_deserializes_through_validation() {
        assert!(serde_json::from_str::<CallerId>("\"+15551234567\"").is_ok());
        let err = serde_json::from_str::<CallerId>("\"12\"").unwrap_err();
        assert!(err.to_string().contains("E.164"));
    }

    #[test]
    fn an_upload_names_the_same_run_every_time_it_is_delivered() {
        let caller = CallerId::parse("+14155550123").unwrap();
        let a = RunId::for_upload(&caller, "samples/+14155550123/call.mp3", "v1");
        assert_eq!(a, RunId::for_upload(&caller, "samples/+14155550123/call.mp3", "v1"));
        assert_ne!(a, RunId::for_upload(&caller, "samples/+14155550123/call.mp3", "v2"));
        assert_ne!(a, RunId::for_upload(&caller, "samples/+14155550123/call2.mp3", "v1"));
        assert!(RunId::parse(a.as_str()).is_ok() && a.as_str().len() <= 80, "{a}");
        assert!(!a.as_str().contains("4155550"), "{a} holds the whole number");
    }

    #[test]
    fn call_and_voice_ids_are_checked() {
        assert!(CallId::parse("3cx-call_12.7:a").is_ok());
        assert!(CallId::parse("a/b").is_err() && CallId::parse("").is_err());
        assert!(VoiceId::parse("21m00Tcm4TlvDq8ikWAM").is_ok());
        assert!(VoiceId::parse("21m00-Tcm").is_err());
    }

    #[test]
    fn run_id_is_safe_in_a_key() {
        assert_eq!(RunId::parse("run-2026_01").unwrap().prefix(), "runs/run-2026_01/");
        for bad in ["", "a/b", "../x", "a b"] {
            assert!(RunId::parse(bad).is_err());
        }
    }
}
