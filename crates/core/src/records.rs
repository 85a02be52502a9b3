//! What echome keeps on record: each caller's current sample, each clone run, each cached clone (calls: see `calls`).
//! DynamoDB holds them in AWS, an embedded database locally (see the adapters).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::blob::BlobRef;
use crate::error::StepError;
use crate::ids::{Person, RunId, VoiceId};
use crate::steps::SegmentOutput;
use crate::voiceprint::SpeakerCheck;

/// How long records are kept before the store's TTL removes them.
pub const RUN_RETENTION_DAYS: i64 = 90;
/// Call logs, as the original design says (`CALL_RETENTION_DAYS` overrides it).
pub const CALL_RETENTION_DAYS: i64 = 90;

/// Seconds since the epoch at which a record made at `at` expires.
pub fn expiry(at: DateTime<Utc>, days: i64) -> i64 {
    (at + chrono::Duration::days(days)).timestamp()
}

/// The caller's current sample: the newest upload under `samples/{caller_id}/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    #[serde(alias = "caller_id")]
    pub person: Person,
    pub sample: BlobRef,
    /// The object's version (or, unversioned, its S3 sequencer): what makes an upload unique.
    pub version: String,
    pub uploaded_at: DateTime<Utc>,
    pub size: u64,
    /// The sample pack a run cut from this upload: a caller whose clone is gone (its slot given
    /// to another caller, or expired) is cloned again from it without analysing the recording
    /// again. Its files expire with the run's derived audio; CloneVoice says `PackGone` then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<SegmentOutput>,
}

/// Whether a recorded sample became the caller's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleWrite {
    Newest,
    /// A newer upload is already on record (events can arrive out of order).
    Superseded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Succeeded, Self::Failed].into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: RunId,
    #[serde(alias = "caller_id")]
    pub person: Person,
    pub sample: BlobRef,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The pack's report, when the run got that far.
    pub report: Option<BlobRef>,
    /// The caller's voice, when the run got that far.
    #[serde(default)]
    pub voice_id: Option<VoiceId>,
    pub error: Option<StepError>,
    pub expires_at: i64,
}

impl RunRecord {
    pub fn started(run_id: RunId, person: impl Into<Person>, sample: BlobRef, at: DateTime<Utc>) -> Self {
        Self {
            run_id,
            person: person.into(),
            sample,
            status: RunStatus::Running,
            started_at: at,
            finished_at: None,
            report: None,
            voice_id: None,
            error: None,
            expires_at: expiry(at, RUN_RETENTION_DAYS),
        }
    }
}

/// How a run ended, as its last state records it.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Succeeded { report: BlobRef, voice_id: Option<VoiceId> },
    Failed(StepError),
}

/// How long a clone is reused before the next call makes a fresh one (`CACHE_TTL`).
pub const DEFAULT_CLONE_TTL_HOURS: i64 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloneStatus {
    Active,
    /// Deleted at the provider to free a voice slot (or replaced); kept for the record.
    Evicted,
}

impl CloneStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Evicted => "evicted",
        }
    }
}

/// The caller's cloned voice, as cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloneRecord {
    #[serde(alias = "caller_id")]
    pub person: Person,
    pub voice_id: VoiceId,
    /// `elevenlabs`, or `offline` (a matching espeak-ng voice, never a clone).
    pub engine: String,
    /// Which pack the voice was made from: the same pack is never cloned twice.
    pub pack_digest: String,
    pub run_id: RunId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub reuse_count: u64,
    pub status: CloneStatus,
    /// Epoch seconds; the cache entry is stale after this (and the table's TTL removes it later).
    pub expires_at: i64,
}

impl CloneRecord {
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        self.status == CloneStatus::Active && now.timestamp() < self.expires_at
    }
}

/// One attempt at cloning, for the clone log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloneLogRecord {
    pub run_id: RunId,
    #[serde(alias = "caller_id")]
    pub person: Person,
    pub engine: String,
    pub voice_id: Option<VoiceId>,
    /// `created`, `reused`, `kept_by_hand`, `kept_active`, `speaker_mismatch` or `failed`.
    pub status: String,
    pub latency_ms: u64,
    pub bytes_uploaded: u64,
    pub error: Option<StepError>,
    pub at: DateTime<Utc>,
    /// The new pack's speaker against the caller's reference voice, when both had a voiceprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker_check: Option<SpeakerCheck>,
    /// Why nothing was cloned, in words (`kept_active`: how the packs compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_ones_serde_writes() {
        let json = |v: serde_json::Value| v.as_str().map(str::to_owned);
        for s in [CloneStatus::Active, CloneStatus::Evicted] {
            assert_eq!(json(serde_json::to_value(s).unwrap()).as_deref(), Some(s.as_str()));
        }
        for s in [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed] {
            assert_eq!(json(serde_json::to_value(s).unwrap()).as_deref(), Some(s.as_str()));
        }
    }
}
