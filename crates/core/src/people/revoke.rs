//! Consent taken back: recorded first (so no new clone starts), then every voice of the person
//! deleted at the provider, which frees its slot and leaves the call flow nothing to use.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::library::ops::{self, Actor, LibraryError};
use crate::library::{AuditAction, ModelId, ModelStatus, Person, VoiceLibrary};
use crate::ports::{BlobStore, CloneCache, VoiceEngine};

use super::consent::ConsentRecord;
use super::port::People;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revoked {
    pub consent: ConsentRecord,
    /// The models whose voices were deleted.
    pub deleted_models: Vec<ModelId>,
}

#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("{0} has no consent on record to revoke")]
    NoConsent(String),
    #[error(transparent)]
    Library(#[from] LibraryError),
}

impl From<crate::error::StorageError> for RevokeError {
    fn from(e: crate::error::StorageError) -> Self {
        Self::Library(e.into())
    }
}

/// Revokes `person`'s consent (again, if it was: a retry finishes a half-done revocation) and
/// deletes their voices; `by` is the user revoking it.
pub async fn revoke<R, E, B>(
    records: &R,
    engine: &E,
    blobs: &B,
    person: &Person,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Revoked, RevokeError>
where
    R: People + VoiceLibrary + CloneCache,
    E: VoiceEngine,
    B: BlobStore,
{
    let Some(mut consent) = records.consent(person).await? else {
        return Err(RevokeError::NoConsent(person.to_string()));
    };
    if consent.revoke(by, at) {
        records.save_consent(&consent).await?;
    }
    let mut deleted_models = Vec::new();
    for m in records.models_of(person).await? {
        if m.status == ModelStatus::Deleted {
            continue;
        }
        let detail = json!({ "reason": "consent_revoked", "by": by });
        match ops::delete(records, engine, blobs, &Actor::System, &m.id, AuditAction::Delete, detail, at)
            .await
        {
            Ok(_) => deleted_models.push(m.id),
            // Another delete came first: the voice is gone either way.
            Err(LibraryError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // A voice made before the library (no model) is the person's clone entry alone.
    if let Some(entry) = records.clone_of(person).await?
        && entry.status == crate::CloneStatus::Active
    {
        ops::delete_at_engine(engine, &entry.voice_id).await.map_err(LibraryError::Provider)?;
        records.evict_clone(person, &entry.voice_id).await.map_err(LibraryError::from)?;
    }
    Ok(Revoked { consent, deleted_models })
}
