//! Where the library is kept: DynamoDB in AWS (`crates/aws/src/dynamo/models.rs`), the local
//! records on one machine.

use std::future::Future;

use crate::error::StorageError;

use super::audit::AuditEvent;
use super::model::{ActiveVoice, ModelId, Person, VoiceModel};

/// A page of voice models, oldest first; `next` continues after the last one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelPage {
    pub models: Vec<VoiceModel>,
    pub next: Option<String>,
}

/// A model's place in the time order every model is listed in, and the page cursor after it:
/// the creation time (RFC 3339, milliseconds, which sorts as text), `#`, the id.
pub fn position(m: &VoiceModel) -> String {
    format!("{}#{}", m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), m.id)
}

/// The voice library: every voice model, each person's active one, and the audit trail.
pub trait VoiceLibrary: Send + Sync {
    /// Records a new model; `false` when one of its id is on record (a retried run).
    fn create_model(&self, m: &VoiceModel) -> impl Future<Output = Result<bool, StorageError>> + Send;

    fn model(&self, id: &ModelId) -> impl Future<Output = Result<Option<VoiceModel>, StorageError>> + Send;

    /// Writes `m` (with `version + 1`) only while the stored model is still at `m.version`;
    /// `Ok(false)` when another writer came first.
    fn save_model(&self, m: &VoiceModel) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// A person's models (deleted ones too), oldest first.
    fn models_of(
        &self,
        person: &Person,
    ) -> impl Future<Output = Result<Vec<VoiceModel>, StorageError>> + Send;

    /// Every model, oldest first, `limit` at a time; `after` is the previous page's `next`.
    fn models(
        &self,
        limit: usize,
        after: Option<&str>,
    ) -> impl Future<Output = Result<ModelPage, StorageError>> + Send;

    fn active_voice(
        &self,
        person: &Person,
    ) -> impl Future<Output = Result<Option<ActiveVoice>, StorageError>> + Send;

    /// Makes `new` the person's active model (`None`: none), only while the active one is
    /// still `expected` (`None`: there is none), checked and written together; `Ok(false)`,
    /// with nothing written, when another activation came first.
    fn set_active(
        &self,
        person: &Person,
        new: Option<&ActiveVoice>,
        expected: Option<&ModelId>,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    fn record_audit(&self, event: &AuditEvent) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// A model's audit events, oldest first.
    fn audit_of(&self, id: &ModelId) -> impl Future<Output = Result<Vec<AuditEvent>, StorageError>> + Send;
}
