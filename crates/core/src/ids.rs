use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not an id. No message holds the input as given: a caller id is a phone
/// number, and the other ids arrive from outside (webhooks, URLs) where anything, a number
/// included, can be sent; at most a redacted excerpt is shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("caller id is not an E.164 phone number (+ then 8 to 15 digits, no leading 0): {0}")]
    CallerId(CallerIdProblem),
    #[error("run id {0} must be 1 to 80 characters of letters, digits, '-' and '_'")]
    RunId(Shown),
    #[error("call id {0} must be 1 to 128 characters of letters, digits, '-', '_', '.' and ':'")]
    CallId(Shown),
    #[error("voice id {0} must be 1 to 64 letters and digits")]
    VoiceId(Shown),
    #[error("model id {0} must be 'vm-' and 1 to 90 letters, digits, '-' and '_'")]
    ModelId(Shown),
    #[error("conversation id {0} must be 1 to 128 letters, digits, '-' and '_'")]
    ConversationId(Shown),
    #[error(
        "person must be a caller's E.164 number or an id of 1 to 64 lowercase letters, digits, '.', '_' and '-' starting with a letter or digit and holding a letter"
    )]
    Person,
}

/// What is wrong with a caller id, said without its digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallerIdProblem {
    #[error("it is empty")]
    Empty,
    #[error("it does not start with +")]
    NoPlus,
    #[error(
        "it holds something other than digits after the + (only spaces, '-', '.' and brackets may separate them)"
    )]
    NotDigits,
    #[error("it has {0} digits")]
    Length(usize),
    #[error("its first digit is 0")]
    LeadingZero,
}

/// A rejected id as an error shows it: its length and a redacted excerpt of at most 40
/// characters (see [`crate::redact::phone_numbers`]), quoted so control characters stay visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown(String);

impl Shown {
    const MAX_CHARS: usize = 40;

    fn of(raw: &str) -> Self {
        if raw.is_empty() {
            return Self("(empty)".into());
        }
        let n = raw.chars().count();
        let excerpt: String = raw.chars().take(Self::MAX_CHARS).collect();
        let excerpt = crate::redact::phone_numbers(&excerpt);
        if n > Self::MAX_CHARS {
            Self(format!("{excerpt:?}… ({n} characters)"))
        } else {
            Self(format!("{excerpt:?}"))
        }
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where recordings are uploaded, one folder per person (`samples/{e164}/…`, `samples/emp-42/…`).
pub const SAMPLES_PREFIX: &str = "samples/";

/// A file's name as a sample's key keeps it: letters, digits, '.', '-' and '_' stay, anything
/// else becomes '_'.
pub fn safe_file_name(raw: &str) -> String {
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect()
}

/// Larger uploads are skipped: extract-audio's scratch space (6 GB in the template) holds the
/// original and its two WAVs, and a recording this size is beyond the 4 h a run accepts.
pub const MAX_SAMPLE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

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
        let problem = |p| Err(IdError::CallerId(p));
        if compact.is_empty() {
            return problem(CallerIdProblem::Empty);
        }
        let Some(digits) = compact.strip_prefix('+') else { return problem(CallerIdProblem::NoPlus) };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return problem(CallerIdProblem::NotDigits);
        }
        if !(8..=15).contains(&digits.len()) {
            return problem(CallerIdProblem::Length(digits.len()));
        }
        if digits.starts_with('0') {
            return problem(CallerIdProblem::LeadingZero);
        }
        Ok(Self(compact))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `samples/{e164}/`: where the caller's recordings are uploaded (and every upload there
    /// starts a clone run).
    pub fn samples_prefix(&self) -> String {
        format!("{SAMPLES_PREFIX}{}/", self.0)
    }

    /// `+44*******961`: the country code's first digits and the last three stay readable.
    pub fn redacted(&self) -> String {
        crate::redact::e164(&self.0)
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

/// Whose voice it is: a caller (their number) or anyone an operator names (`emp-42`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Person {
    Caller(CallerId),
    Named(String),
}

impl Person {
    /// What a user sends: a named id must hold a letter, since a number without its `+` is a
    /// caller's, mistyped, not a name.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        match Self::from_record(raw)? {
            Self::Named(n) if !n.bytes().any(|b| b.is_ascii_lowercase()) => Err(IdError::Person),
            p => Ok(p),
        }
    }

    /// What a record holds, or a route names to find one: named ids made before the letter was
    /// needed (`1042`) still read, so their records stay readable and erasable.
    pub fn from_record(raw: &str) -> Result<Self, IdError> {
        let raw = raw.trim();
        if raw.starts_with('+') {
            return Ok(Self::Caller(CallerId::parse(raw)?));
        }
        let ok = (1..=64).contains(&raw.len())
            && raw.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok { Ok(Self::Named(raw.to_owned())) } else { Err(IdError::Person) }
    }

    /// The full form, for keys and provider calls (a caller's whole number).
    pub fn as_key(&self) -> &str {
        match self {
            Self::Caller(c) => c.as_str(),
            Self::Named(n) => n,
        }
    }

    /// `samples/{person}/`: where the person's recordings are uploaded (every upload there
    /// starts a clone run). A named id never starts with `+`, so the two kinds never meet.
    pub fn samples_prefix(&self) -> String {
        format!("{SAMPLES_PREFIX}{}/", self.as_key())
    }

    /// `samples/{person}/{time}-{name}`: a new recording's key (`name` as [`safe_file_name`]
    /// leaves it), the time to the millisecond, so an upload never overwrites another.
    pub fn upload_key(&self, name: &str, at: chrono::DateTime<chrono::Utc>) -> String {
        format!("{}{}-{name}", self.samples_prefix(), at.format("%Y%m%dT%H%M%S%.3fZ"))
    }

    pub fn caller(&self) -> Option<&CallerId> {
        match self {
            Self::Caller(c) => Some(c),
            Self::Named(_) => None,
        }
    }
}

impl From<CallerId> for Person {
    fn from(c: CallerId) -> Self {
        Self::Caller(c)
    }
}

impl From<&CallerId> for Person {
    fn from(c: &CallerId) -> Self {
        Self::Caller(c.clone())
    }
}

impl From<&Person> for Person {
    fn from(p: &Person) -> Self {
        p.clone()
    }
}

/// A caller's number redacted, as everywhere else.
impl fmt::Display for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Caller(c) => write!(f, "{c}"),
            Self::Named(n) => f.write_str(n),
        }
    }
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Person({self})")
    }
}

/// Deserialized from records (and the run's own input): [`Person::from_record`]'s rule.
impl TryFrom<String> for Person {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::from_record(&value)
    }
}

impl From<Person> for String {
    fn from(p: Person) -> Self {
        p.as_key().to_owned()
    }
}

/// Display, and the `String` conversions serde uses (`try_from` validates), of an id newtype.
macro_rules! string_id {
    ($name:ident) => {
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

/// Names one clone run; it is part of every S3 key the run writes (`runs/{run_id}/…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = (1..=80).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(Self(raw.to_owned())) } else { Err(IdError::RunId(Shown::of(raw))) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The run an upload starts, named after the object's key and version: a redelivered S3
    /// event names the same run, so Step Functions refuses to start it twice. Execution names
    /// allow 80 characters, so the key is hashed; the caller's digits keep the name readable
    /// in the console without being the whole number; a named person's id (at most 20 of its
    /// characters) is shown as it is.
    pub fn for_upload(person: impl Into<Person>, key: &str, version: &str) -> Self {
        let person = person.into();
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(key.as_bytes());
        h.update([0]);
        h.update(version.as_bytes());
        let hex = crate::signing::hex(&h.finalize()[..12]);
        let shown: String = match &person {
            Person::Caller(c) => {
                let digits = c.as_str().trim_start_matches('+');
                digits[digits.len().saturating_sub(4)..].to_owned()
            }
            Person::Named(n) => n.chars().filter(|c| *c != '.').take(20).collect(),
        };
        Self(format!("up-{shown}-{hex}"))
    }

    /// The run an incoming call starts: one per 3CX call, so a duplicate webhook names the
    /// same run.
    pub fn for_call(call: &CallId) -> Self {
        use sha2::{Digest, Sha256};
        let hex = crate::signing::hex(&Sha256::digest(call.as_str().as_bytes())[..12]);
        Self(format!("call-{hex}"))
    }

    /// The run that clones a speaker an operator accepted after this run refused it: one per
    /// refused run, so accepting twice names the same run.
    pub fn after_acceptance(&self) -> Self {
        use sha2::{Digest, Sha256};
        let hex = crate::signing::hex(&Sha256::digest(self.0.as_bytes())[..12]);
        Self(format!("acc-{hex}"))
    }

    /// S3 key prefix of everything this run derives.
    pub fn prefix(&self) -> String {
        format!("runs/{}/", self.0)
    }
}

string_id!(RunId);

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
                if ok { Ok(Self(raw.to_owned())) } else { Err(IdError::$variant(Shown::of(raw))) }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        string_id!($name);
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
plain_id!(
    /// A conversation of an ElevenLabs agent (`conv_…`); it names the conversation's files.
    ConversationId, ConversationId, 128, b"-_"
);

/// A voice model's id: `vm-` and the clone run that made it, so a retried run names the same
/// model and a model is never made twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelId(String);

impl ModelId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let rest = raw.strip_prefix("vm-").ok_or_else(|| IdError::ModelId(Shown::of(raw)))?;
        let ok = (1..=90).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(Self(raw.to_owned())) } else { Err(IdError::ModelId(Shown::of(raw))) }
    }

    pub fn for_run(run: &RunId) -> Self {
        Self(format!("vm-{run}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_id!(ModelId);

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
    fn a_bad_caller_id_says_what_is_wrong_without_echoing_the_number() {
        for (raw, says) in [
            ("14155550123", "does not start with +"),
            ("+1415555", "has 7 digits"),
            ("+1415555012345678", "has 16 digits"),
            ("+04155550123", "first digit is 0"),
            ("+1415555O123", "something other than digits"),
            ("  ", "empty"),
        ] {
            let msg = CallerId::parse(raw).unwrap_err().to_string();
            assert!(msg.contains(says), "{raw:?}: {msg}");
            assert!(msg.contains("E.164"), "{msg}");
            assert!(!msg.contains("415555") && !msg.contains("55501"), "{raw:?} is echoed: {msg}");
        }
    }

    #[test]
    fn other_bad_ids_show_at_most_a_redacted_excerpt() {
        let msg = CallId::parse("+14155550123").unwrap_err().to_string();
        assert!(msg.starts_with("call id \"+14******123\" must be"), "{msg}");
        let msg = RunId::parse("run for 14155550123").unwrap_err().to_string();
        assert!(!msg.contains("4155550"), "{msg}");
        let msg = VoiceId::parse("brand-voice-1").unwrap_err().to_string();
        assert!(msg.contains("\"brand-voice-1\""), "a foreign id without a number is shown: {msg}");
        let long = "x".repeat(300);
        let msg = CallId::parse(&long).unwrap_err().to_string();
        assert!(msg.contains("(300 characters)") && msg.len() < 200, "{msg}");
        assert!(RunId::parse("").unwrap_err().to_string().contains("(empty)"));
        let msg = CallId::parse("a\nb").unwrap_err().to_string();
        assert!(msg.contains("\"a\\nb\""), "control characters stay visible: {msg}");
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
