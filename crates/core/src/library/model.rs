//! A voice model: one voice of one person at one provider, with who made it, where it came
//! from, how good it is, who it is shared with and how much it was used.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::blob::BlobRef;
use crate::ids::{IdError, RunId, VoiceId};
pub use crate::ids::{ModelId, Person};
use crate::quality::QualityScore;

/// The owner of voices the call flow makes (no user asked for them).
pub const SYSTEM_OWNER: &str = "system";
/// A model's `metadata`, as JSON, at most this many bytes: it is stored in the record.
pub const MAX_METADATA_BYTES: usize = 4096;
/// A model's display name, at most this many characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Why a model's field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("metadata must be a JSON object of at most {MAX_METADATA_BYTES} bytes (it is {0})")]
    Metadata(usize),
    #[error("name must be 1 to {MAX_NAME_CHARS} characters without control characters")]
    Name,
    #[error("a share needs a user id of 1 to 128 printable characters")]
    ShareUser,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    /// Asked for; its clone run has not started cloning.
    Pending,
    Cloning,
    /// The provider holds the voice: it can speak.
    Ready,
    Failed,
    /// Soft-deleted: the provider's voice is gone, the record stays for audit.
    Deleted,
}

impl ModelStatus {
    pub const ALL: [Self; 5] = [Self::Pending, Self::Cloning, Self::Ready, Self::Failed, Self::Deleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Cloning => "cloning",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What a share lets its user do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharePermission {
    /// See the model and speak with it.
    Use,
    /// Also change it (name, metadata, activation); deleting and sharing stay the owner's.
    Manage,
}

impl SharePermission {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "use" => Some(Self::Use),
            "manage" => Some(Self::Manage),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub user: String,
    pub permission: SharePermission,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A user id as tokens carry it (`sub`): printable, bounded.
pub fn user_id(raw: &str) -> Result<String, ModelError> {
    let raw = raw.trim();
    let ok = (1..=128).contains(&raw.len()) && !raw.chars().any(char::is_control);
    if ok { Ok(raw.to_owned()) } else { Err(ModelError::ShareUser) }
}

/// Where the voice came from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelSource {
    pub run_id: Option<RunId>,
    /// The recording the run was started from.
    pub sample: Option<BlobRef>,
    /// The pack's report (its files are listed there).
    pub report: Option<BlobRef>,
    /// Which pack it was cloned from: one pack makes one voice.
    pub pack_digest: Option<String>,
    /// The pack's files (they expire with the run's derived audio): what an export or a backup
    /// carries, and what a restore clones from again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pack: Vec<BlobRef>,
    /// Their size, as uploaded to the provider: the storage the model holds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pack_bytes: u64,
}

/// What speaking with the model cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub uses: u64,
    pub characters: u64,
    /// Sum over the uses, for the mean.
    pub latency_ms_total: u64,
}

impl Usage {
    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.uses > 0).then(|| self.latency_ms_total as f64 / self.uses as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceModel {
    pub id: ModelId,
    pub person: Person,
    /// The user who made it; [`SYSTEM_OWNER`] for the call flow's.
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `elevenlabs` or `offline` ([`crate::VoiceEngine::name`]).
    pub provider: String,
    pub provider_voice_id: Option<VoiceId>,
    pub source: ModelSource,
    pub sample_rate: Option<u32>,
    pub quality: Option<QualityScore>,
    /// The speaker of the pack it was cloned from (biometric: erased with the person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voiceprint: Option<crate::voiceprint::Voiceprint>,
    pub status: ModelStatus,
    /// Why it is `failed`: the error its clone run ended with (`consent_missing`,
    /// `too_little_speech`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::error::StepError>,
    /// A JSON object of the owner's, at most [`MAX_METADATA_BYTES`].
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub usage: Usage,
    /// After this the model is cleaned up (its voice deleted); `None`: kept until deleted.
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub shares: Vec<Share>,
    /// Bumped by every write; a write names the version it read (optimistic locking).
    #[serde(default)]
    pub version: u64,
}

impl VoiceModel {
    /// A new model as asked for: pending, no voice yet, nothing measured, used or shared, kept
    /// until deleted. The rest is set with struct update syntax.
    pub fn new(id: ModelId, person: Person, owner: &str, provider: &str, at: DateTime<Utc>) -> Self {
        Self {
            id,
            person,
            owner: owner.to_owned(),
            name: None,
            provider: provider.to_owned(),
            provider_voice_id: None,
            source: ModelSource::default(),
            sample_rate: None,
            quality: None,
            voiceprint: None,
            status: ModelStatus::Pending,
            error: None,
            metadata: serde_json::json!({}),
            created_at: at,
            updated_at: at,
            deleted_at: None,
            last_used_at: None,
            usage: Usage::default(),
            expires_at: None,
            shares: vec![],
            version: 0,
        }
    }

    /// A model's voice can speak: ready, not deleted, not past its expiry.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.status == ModelStatus::Ready
            && self.provider_voice_id.is_some()
            && self.expires_at.is_none_or(|e| now < e)
    }

    /// Its voice is held by another provider than `engine`: this deployment can neither speak
    /// with it nor delete it.
    pub fn voice_elsewhere(&self, engine: &str) -> bool {
        self.provider_voice_id.is_some() && self.provider != engine
    }

    pub fn score(&self) -> Option<f64> {
        self.quality.as_ref().and_then(|q| q.score)
    }

    pub fn share_of(&self, user: &str) -> Option<&Share> {
        self.shares.iter().find(|s| s.user == user)
    }
}

/// A JSON object within [`MAX_METADATA_BYTES`].
pub fn check_metadata(v: &serde_json::Value) -> Result<(), ModelError> {
    let len = v.to_string().len();
    if v.is_object() && len <= MAX_METADATA_BYTES { Ok(()) } else { Err(ModelError::Metadata(len)) }
}

pub fn check_name(name: &str) -> Result<String, ModelError> {
    printable(name, MAX_NAME_CHARS).ok_or(ModelError::Name)
}

/// `raw` trimmed, when it is 1 to `max_chars` characters without control characters: the rule
/// for every name and note a user types (a model's name, a person's, who gave consent).
pub fn printable(raw: &str, max_chars: usize) -> Option<String> {
    let v = raw.trim();
    let ok = (1..=max_chars).contains(&v.chars().count()) && !v.chars().any(char::is_control);
    ok.then(|| v.to_owned())
}

/// A person's active model, as one record the call flow reads in one lookup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveVoice {
    pub person: Person,
    pub model_id: ModelId,
    pub voice_id: VoiceId,
    pub provider: String,
    /// Chosen by a user (not by the rules): a new voice does not replace it by itself.
    pub by_hand: bool,
    pub by: String,
    pub since: DateTime<Utc>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_callers_or_named_ids() {
        assert!(matches!(Person::parse("+14155550123"), Ok(Person::Caller(_))));
        assert_eq!(Person::parse("emp-42"), Ok(Person::Named("emp-42".into())));
        for bad in ["", "Emp-42", "-x", "a b", &"x".repeat(65), "+1", "14155550123", "1-415-555"] {
            assert!(Person::parse(bad).is_err(), "{bad:?}");
        }
        // Named ids made before a letter was needed still read from their records.
        let old: Person = serde_json::from_value(serde_json::json!("1042")).unwrap();
        assert_eq!(old, Person::Named("1042".into()));
        let p = Person::parse("+14155550123").unwrap();
        assert!(!format!("{p} {p:?}").contains("4155550"));
        assert_eq!(serde_json::to_value(&p).unwrap(), "+14155550123");
    }

    #[test]
    fn model_ids_come_from_runs() {
        let id = ModelId::for_run(&RunId::parse("up-0123-abc").unwrap());
        assert_eq!(id.as_str(), "vm-up-0123-abc");
        assert_eq!(ModelId::parse(id.as_str()), Ok(id));
        for bad in ["up-1", "vm-", "vm-a/b", "vm-a b"] {
            assert!(ModelId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_is_a_bounded_object() {
        assert!(check_metadata(&serde_json::json!({"team": "north"})).is_ok());
        assert!(check_metadata(&serde_json::json!([1])).is_err());
        assert_eq!(
            check_metadata(&serde_json::json!({"x": "y".repeat(MAX_METADATA_BYTES)})),
            Err(ModelError::Metadata(MAX_METADATA_BYTES + 8))
        );
    }
}
