//! Every change to a model, kept: who did what, when.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{ModelId, Person};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Update,
    Activate,
    Deactivate,
    Share,
    Unshare,
    Delete,
    Restore,
    Cleanup,
    /// The model's record and pack left in an export or a backup (biometric data: accounted for).
    Export,
    Backup,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    /// The user's subject, or [`super::model::SYSTEM_OWNER`] for the call flow and schedules.
    pub actor: String,
    pub action: AuditAction,
    pub model_id: ModelId,
    pub person: Person,
    /// What changed (fields, the share's user, the reason), never audio or a secret.
    #[serde(default)]
    pub detail: serde_json::Value,
}
