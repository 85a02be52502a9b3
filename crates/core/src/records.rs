//! What echome keeps on record: each caller's current sample, each clone run, each call.
//! DynamoDB holds them in AWS, an embedded database locally (see the adapters).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StepError;
use crate::ids::{CallId, CallerId, RunId};
use crate::steps::BlobRef;

/// How long records are kept before the store's TTL removes them.
pub const RUN_RETENTION_DAYS: i64 = 90;
pub const CALL_RETENTION_DAYS: i64 = 365;

/// Seconds since the epoch at which a record made at `at` expires.
pub fn expiry(at: DateTime<Utc>, days: i64) -> i64 {
    (at + chrono::Duration::days(days)).timestamp()
}

/// The caller's current sample: the newest upload under `samples/{caller_id}/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    pub caller_id: CallerId,
    pub sample: BlobRef,
    /// The object's version (or, unversioned, its S3 sequencer): what makes an upload unique.
    pub version: String,
    pub uploaded_at: DateTime<Utc>,
    pub size: u64,
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
    pub caller_id: CallerId,
    pub sample: BlobRef,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The pack's report, when the run got that far.
    pub report: Option<BlobRef>,
    pub error: Option<StepError>,
    pub expires_at: i64,
}

impl RunRecord {
    pub fn started(run_id: RunId, caller_id: CallerId, sample: BlobRef, at: DateTime<Utc>) -> Self {
        Self {
            run_id,
            caller_id,
            sample,
            status: RunStatus::Running,
            started_at: at,
            finished_at: None,
            report: None,
            error: None,
            expires_at: expiry(at, RUN_RETENTION_DAYS),
        }
    }
}

/// How a run ended, as its last state records it.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Succeeded { report: BlobRef },
    Failed(StepError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Started,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub call_id: CallId,
    pub caller_id: CallerId,
    pub started_at: DateTime<Utc>,
    pub status: CallStatus,
    pub expires_at: i64,
}
