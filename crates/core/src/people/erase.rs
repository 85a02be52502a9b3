//! Erasure: everything of a person deleted, on their request, and a receipt that says what
//! went without saying whose it was. The provider's voices go first (they are what can still
//! speak), then the files (samples with every S3 version, run files, deleted models' packs,
//! speech made with their voices, call transcripts, archived webhook bodies that name them),
//! then the table's records. The receipt is saved before anything goes and after every step, so
//! a retry after a failure half-way resumes the same receipt and finishes the job: each step
//! deletes what is left and counts only that.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::blob::BlobRef;
use crate::error::{StepError, StorageError};
use crate::ids::{ConversationId, RunId};
use crate::library::ops::{self, delete_at_engine};
use crate::library::{ModelStatus, Person, VoiceLibrary};
use crate::ports::{BlobStore, CallLog, CloneCache, RunLog, VoiceEngine, WebhookArchive};
use crate::recordings::{conversation_audio_key, conversation_turns_key};
use crate::records::CloneStatus;

use super::port::People;

/// The key of the hash a receipt names its person by: without it the hash cannot be checked
/// against a list of numbers.
#[derive(Clone)]
pub struct ErasureKey(Vec<u8>);

impl ErasureKey {
    /// At least 16 bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < 16 {
            return Err("the erasure hash key must be at least 16 bytes".into());
        }
        Ok(Self(bytes))
    }

    /// HMAC-SHA256 of the person's full id, hex, 32 characters.
    pub fn hash(&self, person: &Person) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(person.as_key().as_bytes());
        crate::signing::hex(&mac.finalize().into_bytes()[..16])
    }
}

impl std::fmt::Debug for ErasureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErasureKey(…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    InProgress,
    Completed,
}

/// What an erasure deleted: kinds of data and how many of each, when and by whom; the person
/// only as a keyed hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasureReceipt {
    pub id: String,
    pub person_hash: String,
    /// `caller` or `named`.
    pub person_kind: String,
    pub requested_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: ErasureStatus,
    /// Kind of data → how many were deleted (across every attempt).
    pub deleted: BTreeMap<String, u64>,
}

impl ErasureReceipt {
    fn add(&mut self, kind: &str, n: u64) {
        *self.deleted.entry(kind.to_owned()).or_default() += n;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the voice provider failed: {0}")]
    Provider(StepError),
    /// Erasing would leave this voice at a provider this deployment cannot reach.
    #[error("voice model {0}'s voice is at {1}, and this deployment works with {2}: delete it there first")]
    OtherProvider(String, String, String),
}

impl From<crate::library::LibraryError> for EraseError {
    fn from(e: crate::library::LibraryError) -> Self {
        use crate::library::LibraryError as L;
        match e {
            L::Storage(e) => Self::Storage(e),
            L::Provider(e) => Self::Provider(e),
            other => Self::Storage(StorageError::Failed(other.to_string())),
        }
    }
}

/// Erases `person` (resuming an erasure of theirs that was cut short); `by` is the user.
#[allow(clippy::too_many_arguments)]
pub async fn erase<R, E, B, W>(
    records: &R,
    engine: &E,
    blobs: &B,
    archive: &W,
    bucket: &str,
    key: &ErasureKey,
    person: &Person,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ErasureReceipt, EraseError>
where
    R: People + VoiceLibrary + CloneCache + RunLog + CallLog,
    E: VoiceEngine,
    B: BlobStore,
    W: WebhookArchive,
{
    let hash = key.hash(person);
    let open = records
        .erasures()
        .await?
        .into_iter()
        .find(|r| r.person_hash == hash && r.status == ErasureStatus::InProgress);
    let mut receipt = open.unwrap_or_else(|| ErasureReceipt {
        id: format!("er-{}-{}", now.format("%Y%m%dT%H%M%S%3f"), &hash[..12]),
        person_hash: hash.clone(),
        person_kind: if person.caller().is_some() { "caller" } else { "named" }.into(),
        requested_by: by.to_owned(),
        started_at: now,
        finished_at: None,
        status: ErasureStatus::InProgress,
        deleted: BTreeMap::new(),
    });
    // Nothing may be left where this deployment cannot reach it: refused before anything goes.
    let models = records.models_of(person).await?;
    if let Some(m) =
        models.iter().find(|m| m.status != ModelStatus::Deleted && m.voice_elsewhere(engine.name()))
    {
        return Err(EraseError::OtherProvider(
            m.id.to_string(),
            m.provider.clone(),
            engine.name().to_owned(),
        ));
    }
    records.save_erasure(&receipt).await?;
    // No new clone of them starts while this runs (under a policy that asks for consent).
    if let Some(mut c) = records.consent(person).await?
        && c.revoke(by, now)
    {
        records.save_consent(&c).await?;
    }

    // 1. The voices at the provider: nothing can speak as them any more. Each is marked gone
    // as it goes, so a retry neither deletes nor counts it twice.
    let entry = records.clone_of(person).await?;
    // Every voice they ever had (for the speech made with it); the ones still at the provider.
    let mut voices: BTreeSet<String> =
        models.iter().filter_map(|m| m.provider_voice_id.as_ref()).map(|v| v.as_str().to_owned()).collect();
    voices.extend(entry.iter().map(|e| e.voice_id.as_str().to_owned()));
    let mut gone: BTreeSet<&str> = BTreeSet::new();
    for m in models.iter().filter(|m| m.status != ModelStatus::Deleted) {
        if let Some(voice) = &m.provider_voice_id {
            delete_at_engine(engine, voice).await.map_err(EraseError::Provider)?;
            receipt.add("provider_voices", 1);
            gone.insert(voice.as_str());
        }
        ops::update(records, &m.id, now, |x| {
            x.status = ModelStatus::Deleted;
            x.deleted_at = Some(now);
            Ok(())
        })
        .await?;
        records.save_erasure(&receipt).await?;
    }
    if let Some(e) = entry.as_ref().filter(|e| e.status == CloneStatus::Active) {
        if !gone.contains(e.voice_id.as_str()) {
            delete_at_engine(engine, &e.voice_id).await.map_err(EraseError::Provider)?;
            receipt.add("provider_voices", 1);
        }
        records.evict_clone(person, &e.voice_id).await?;
        records.save_erasure(&receipt).await?;
    }

    // 2. Their files.
    let mut runs: BTreeSet<String> =
        models.iter().filter_map(|m| m.source.run_id.as_ref()).map(RunId::to_string).collect();
    let mut prefixes = vec![("sample_files", person.samples_prefix())];
    runs.extend(records.runs_of(person).await?.iter().map(RunId::to_string));
    if let Some(caller) = person.caller() {
        prefixes.push(("recording_requests", crate::recordings::requests_prefix(caller)));
    }
    prefixes.push(("url_sample_requests", crate::url_samples::requests_prefix(person)));
    prefixes.extend(runs.iter().map(|run| ("run_files", format!("runs/{run}/"))));
    for m in &models {
        prefixes.push(("deleted_model_files", format!("deleted/{}/", m.id)));
        prefixes.push(("export_files", format!("exports/{}/", m.id)));
    }
    prefixes.extend(voices.iter().map(|voice| ("speech_files", format!("tts/{voice}/"))));
    for (kind, prefix) in prefixes {
        let n = blobs.delete_prefix(bucket, &prefix).await?;
        if n > 0 {
            receipt.add(kind, n);
            records.save_erasure(&receipt).await?;
        }
    }
    if let Some(caller) = person.caller() {
        let mut days = BTreeSet::new();
        let mut after: Option<String> = None;
        loop {
            let page = records.calls_of(caller, 100, after.as_deref()).await?;
            for call in &page.calls {
                // A call's webhooks arrive on its day, or the next one for a call near midnight.
                days.insert(call.started_at.date_naive());
                days.insert(call.started_at.date_naive() + chrono::Days::new(1));
                for t in call.conversations.iter().filter_map(|c| c.transcript.as_ref()) {
                    receipt.add("transcripts", blobs.delete_versions(t).await?);
                }
                // A conversation whose halves are still waiting for each other in the inbox.
                let waiting =
                    call.conversations.iter().filter_map(|c| ConversationId::parse(&c.conversation_id).ok());
                for conversation in waiting {
                    for key in [conversation_audio_key(&conversation), conversation_turns_key(&conversation)]
                    {
                        let half = BlobRef::new(bucket, key);
                        receipt.add("conversation_halves", blobs.delete_versions(&half).await?);
                    }
                }
            }
            match page.next {
                Some(n) if !page.calls.is_empty() => after = Some(n),
                _ => break,
            }
        }
        // The days of their calls bound the scan (every delivery of a call is kept under its
        // day); 3CX sends the number as E.164, some senders drop the `+`.
        let prefixes: Vec<String> = days
            .iter()
            .flat_map(|d| {
                ["3cx", "elevenlabs"].map(|source| format!("webhooks/{source}/{}/", d.format("%Y-%m-%d")))
            })
            .collect();
        let e164 = caller.as_str();
        let needles = [e164.to_owned(), e164.trim_start_matches('+').to_owned()];
        receipt.add("webhook_bodies", archive.forget(&prefixes, &needles).await?);
    }
    records.save_erasure(&receipt).await?;

    // 3. Their records, last: until now they said where everything was.
    for (kind, n) in records.erase_records(person).await? {
        receipt.add(&kind, n);
    }
    receipt.status = ErasureStatus::Completed;
    receipt.finished_at = Some(now.max(receipt.started_at));
    records.save_erasure(&receipt).await?;
    tracing::info!(erasure = %receipt.id, by = %by, "a person was erased");
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_keyed_and_never_the_number() {
        let p = Person::parse("+14155550123").unwrap();
        let a = ErasureKey::new(vec![1; 32]).unwrap().hash(&p);
        let b = ErasureKey::new(vec![2; 32]).unwrap().hash(&p);
        assert_ne!(a, b, "another key, another hash");
        assert_eq!(a.len(), 32);
        assert!(!a.contains("4155550123"));
        assert!(ErasureKey::new(vec![0; 8]).is_err());
    }
}
