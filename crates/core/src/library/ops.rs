//! The library's operations over its port, for the API, the CLI and the call flow: each
//! checks access, applies the rules, writes conditionally and leaves an audit event.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::auth::Principal;
use crate::blob::BlobRef;
use crate::error::{StepError, StorageError};
use crate::ids::{RunId, VoiceId};
use crate::ports::{BlobStore, CloneCache, VoiceEngine};
use crate::records::{CloneRecord, CloneStatus};

use super::access::{Act, Verdict, check};
use super::audit::{AuditAction, AuditEvent};
use super::model::{
    ActiveVoice, ModelError, ModelId, ModelStatus, Person, SYSTEM_OWNER, Share, SharePermission, VoiceModel,
};
use super::port::VoiceLibrary;
use super::rules::{CleanupReason, CleanupRules, next_best, takes_over};

/// How often a conditional write is tried again when another writer came first.
const RACE_ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("voice model {0} not found")]
    NotFound(ModelId),
    #[error("you may not {0} voice model {1}")]
    Forbidden(&'static str, ModelId),
    #[error("voice model {0} is already the active voice of its person")]
    AlreadyActive(ModelId),
    #[error("voice model {0} is not the active voice of its person")]
    NotActive(ModelId),
    #[error("voice model {0} is {1} and cannot speak; only a ready model can be activated")]
    NotReady(ModelId, &'static str),
    #[error("voice model {0} changed while this request was writing it; try again")]
    Raced(ModelId),
    #[error("voice model {0}'s voice is at {1}, and this deployment works with {2}")]
    OtherProvider(ModelId, String, String),
    #[error(transparent)]
    Invalid(#[from] ModelError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the voice provider failed: {0}")]
    Provider(StepError),
}

/// A library failure inside a clone run's step: storage keeps its kind (retryable or not),
/// the provider's error stays as it was, anything else is the step's own fault.
impl From<LibraryError> for StepError {
    fn from(e: LibraryError) -> Self {
        match e {
            LibraryError::Storage(e) => e.into(),
            LibraryError::Provider(e) => e,
            LibraryError::Raced(_) => {
                StepError::new(crate::ErrorType::Retryable, "library_raced", e.to_string())
            }
            other => StepError::internal(other.to_string()),
        }
    }
}

/// Who is acting: a user with a role, or the call flow and the schedules.
#[derive(Debug, Clone)]
pub enum Actor<'a> {
    User(&'a Principal),
    System,
}

impl Actor<'_> {
    pub fn name(&self) -> &str {
        match self {
            Self::User(p) => &p.subject,
            Self::System => SYSTEM_OWNER,
        }
    }
}

/// The model, if `actor` may do `act` to it.
pub async fn load<L: VoiceLibrary>(
    lib: &L,
    actor: &Actor<'_>,
    id: &ModelId,
    act: Act,
) -> Result<VoiceModel, LibraryError> {
    let m = lib.model(id).await?.ok_or_else(|| LibraryError::NotFound(id.clone()))?;
    let Actor::User(who) = actor else { return Ok(m) };
    match check(who, &m, act) {
        Verdict::Allowed => Ok(m),
        Verdict::Hidden => Err(LibraryError::NotFound(id.clone())),
        Verdict::Forbidden => Err(LibraryError::Forbidden(
            match act {
                Act::See => "see",
                Act::Use => "speak with",
                Act::Change => "change",
                Act::Own => "delete or share",
            },
            id.clone(),
        )),
    }
}

/// Records `action` on `m` by `actor`.
pub async fn audit<L: VoiceLibrary>(
    lib: &L,
    actor: &Actor<'_>,
    action: AuditAction,
    m: &VoiceModel,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    let event = AuditEvent {
        at,
        actor: actor.name().to_owned(),
        action,
        model_id: m.id.clone(),
        person: m.person.clone(),
        detail,
    };
    lib.record_audit(&event).await
}

/// The model `id` a speech request names, and its provider voice: it must be ready, and at
/// `provider` (the engine that will speak).
pub async fn speakable<L: VoiceLibrary>(
    lib: &L,
    id: &ModelId,
    provider: &str,
) -> Result<(VoiceModel, VoiceId), LibraryError> {
    let m = lib
        .model(id)
        .await?
        .filter(|m| m.status != ModelStatus::Deleted)
        .ok_or_else(|| LibraryError::NotFound(id.clone()))?;
    let voice = m
        .provider_voice_id
        .clone()
        .filter(|_| m.status == ModelStatus::Ready)
        .ok_or(LibraryError::NotReady(id.clone(), m.status.as_str()))?;
    if m.voice_elsewhere(provider) {
        return Err(LibraryError::OtherProvider(id.clone(), m.provider.clone(), provider.to_owned()));
    }
    Ok((m, voice))
}

/// One use of the model to speak: `characters` sent to the provider (none when the speech was
/// made before) and `latency_ms` until the audio was there.
pub async fn record_use<L: VoiceLibrary>(
    lib: &L,
    id: &ModelId,
    characters: u64,
    latency_ms: u64,
    at: DateTime<Utc>,
) -> Result<VoiceModel, LibraryError> {
    update(lib, id, at, |m| {
        m.usage.uses += 1;
        m.usage.characters += characters;
        m.usage.latency_ms_total += latency_ms;
        m.last_used_at = Some(at);
        Ok(())
    })
    .await
}

/// Applies `change` to the stored model and saves it, read again and re-applied when another
/// writer came first; the saved model.
pub async fn update<L, F>(
    lib: &L,
    id: &ModelId,
    at: DateTime<Utc>,
    mut change: F,
) -> Result<VoiceModel, LibraryError>
where
    L: VoiceLibrary,
    F: FnMut(&mut VoiceModel) -> Result<(), LibraryError>,
{
    for _ in 0..RACE_ATTEMPTS {
        let mut m = lib.model(id).await?.ok_or_else(|| LibraryError::NotFound(id.clone()))?;
        change(&mut m)?;
        m.updated_at = at;
        if lib.save_model(&m).await? {
            m.version += 1;
            return Ok(m);
        }
    }
    Err(LibraryError::Raced(id.clone()))
}

fn pointer(m: &VoiceModel, by_hand: bool, actor: &Actor<'_>, at: DateTime<Utc>) -> Option<ActiveVoice> {
    Some(ActiveVoice {
        person: m.person.clone(),
        model_id: m.id.clone(),
        voice_id: m.provider_voice_id.clone()?,
        provider: m.provider.clone(),
        by_hand,
        by: actor.name().to_owned(),
        since: at,
    })
}

/// How long a hand-chosen voice, or a named person's, stays theirs in the clone cache: until
/// changed.
const BY_HAND_DAYS: i64 = 3650;

/// Until when (epoch seconds) a person's clone entry made or chosen `at` is fresh. A caller's
/// voice is a cache their calls renew (voice slots are few: one nobody calls for goes); one
/// chosen by hand, and a named person's (they never call: speech in their voice is what it is
/// for), are kept until changed.
pub fn entry_expiry(person: &Person, by_hand: bool, at: DateTime<Utc>, cache_ttl: chrono::Duration) -> i64 {
    if by_hand || person.caller().is_none() {
        (at + chrono::Duration::days(BY_HAND_DAYS)).timestamp()
    } else {
        (at + cache_ttl).timestamp()
    }
}

/// Sets the person's active model and what the call flow and speech read: their clone cache
/// entry names the new active voice (or, with none, stops naming the old one). The pointer is
/// the truth; the entry is its one-read copy on the call's path.
async fn point<L: VoiceLibrary + CloneCache>(
    lib: &L,
    person: &Person,
    new: Option<(&ActiveVoice, &VoiceModel)>,
    expected: Option<(&ModelId, Option<&VoiceId>)>,
    at: DateTime<Utc>,
) -> Result<bool, LibraryError> {
    if !lib.set_active(person, new.map(|(a, _)| a), expected.map(|(id, _)| id)).await? {
        return Ok(false);
    }
    let entry = lib.clone_of(person).await?;
    match new {
        Some((active, m)) => {
            let holds = entry.as_ref().is_some_and(|e| {
                e.voice_id == active.voice_id && e.status == CloneStatus::Active && e.is_fresh(at)
            });
            if !holds || active.by_hand {
                let ttl = chrono::Duration::hours(crate::records::DEFAULT_CLONE_TTL_HOURS);
                let run_id = match &m.source.run_id {
                    Some(r) => r.clone(),
                    None => {
                        RunId::parse(m.id.as_str().trim_start_matches("vm-")).map_err(ModelError::from)?
                    }
                };
                let rec = CloneRecord {
                    person: person.clone(),
                    voice_id: active.voice_id.clone(),
                    engine: m.provider.clone(),
                    pack_digest: m.source.pack_digest.clone().unwrap_or_default(),
                    run_id,
                    created_at: m.created_at,
                    last_used_at: entry.as_ref().map_or(at, |e| e.last_used_at),
                    reuse_count: 0,
                    status: CloneStatus::Active,
                    expires_at: entry_expiry(person, active.by_hand, at, ttl),
                };
                lib.put_clone(&rec).await?;
            }
        }
        None => {
            if let Some(old) = expected.and_then(|(_, v)| v) {
                lib.evict_clone(person, old).await?;
            }
        }
    }
    Ok(true)
}

/// Makes `m` its person's active model by hand (409 when it already is).
pub async fn activate<L: VoiceLibrary + CloneCache>(
    lib: &L,
    actor: &Actor<'_>,
    id: &ModelId,
    at: DateTime<Utc>,
) -> Result<ActiveVoice, LibraryError> {
    let m = load(lib, actor, id, Act::Change).await?;
    if !m.is_usable(at) {
        return Err(LibraryError::NotReady(id.clone(), m.status.as_str()));
    }
    let new = pointer(&m, true, actor, at).ok_or(LibraryError::NotReady(id.clone(), m.status.as_str()))?;
    for _ in 0..RACE_ATTEMPTS {
        let current = lib.active_voice(&m.person).await?;
        if let Some(c) = current.as_ref().filter(|c| c.model_id == m.id) {
            if c.voice_id == new.voice_id {
                return Err(LibraryError::AlreadyActive(id.clone()));
            }
            match repoint(lib, c, &m, at).await? {
                Some(_) => return Ok(new),
                None => continue,
            }
        }
        let expected = current.as_ref().map(|c| (&c.model_id, Some(&c.voice_id)));
        if point(lib, &m.person, Some((&new, &m)), expected, at).await? {
            // Deleted meanwhile (a delete that read the old pointer): its successor takes over.
            let now_model = lib.model(id).await?;
            if let Some(gone) = now_model.filter(|m| !m.is_usable(at)) {
                successor(lib, &gone, at).await?;
                return Err(LibraryError::NotReady(id.clone(), gone.status.as_str()));
            }
            // Chosen by hand, it is kept until someone changes it: no expiry.
            if m.expires_at.is_some() {
                update(lib, id, at, |m| {
                    m.expires_at = None;
                    Ok(())
                })
                .await?;
            }
            let from = current.map(|c| c.model_id.to_string());
            audit(lib, actor, AuditAction::Activate, &m, json!({ "replaced": from, "by_hand": true }), at)
                .await?;
            return Ok(new);
        }
    }
    Err(LibraryError::Raced(id.clone()))
}

/// The active pointer `current` names `m` but an older voice: it is moved to `m`'s voice.
/// `Some(true)` when moved, `Some(false)` when nothing needed moving, `None` when another
/// writer came first (read again).
async fn repoint<L: VoiceLibrary + CloneCache>(
    lib: &L,
    current: &ActiveVoice,
    m: &VoiceModel,
    at: DateTime<Utc>,
) -> Result<Option<bool>, LibraryError> {
    let Some(voice) = m.provider_voice_id.as_ref().filter(|v| **v != current.voice_id) else {
        return Ok(Some(false));
    };
    if !m.is_usable(at) {
        return Ok(Some(false));
    }
    let new =
        ActiveVoice { voice_id: voice.clone(), provider: m.provider.clone(), since: at, ..current.clone() };
    let expected = Some((&current.model_id, Some(&current.voice_id)));
    if !point(lib, &m.person, Some((&new, m)), expected, at).await? {
        return Ok(None);
    }
    let detail = json!({ "voice": "made again", "by_hand": current.by_hand });
    audit(lib, &Actor::System, AuditAction::Update, m, detail, at).await?;
    Ok(Some(true))
}

/// Leaves `m`'s person without an active model (409 when `m` is not the active one).
pub async fn deactivate<L: VoiceLibrary + CloneCache>(
    lib: &L,
    actor: &Actor<'_>,
    id: &ModelId,
    at: DateTime<Utc>,
) -> Result<(), LibraryError> {
    let m = load(lib, actor, id, Act::Change).await?;
    let Some(current) = lib.active_voice(&m.person).await?.filter(|c| c.model_id == m.id) else {
        return Err(LibraryError::NotActive(id.clone()));
    };
    if !point(lib, &m.person, None, Some((&m.id, Some(&current.voice_id))), at).await? {
        return Err(LibraryError::NotActive(id.clone()));
    }
    audit(lib, actor, AuditAction::Deactivate, &m, json!({}), at).await?;
    Ok(())
}

/// A model the call flow (or a restore) just made ready: recorded once, and made its person's
/// active one when the rules say so. Returns whether it became active.
pub async fn register<L: VoiceLibrary + CloneCache>(
    lib: &L,
    m: &VoiceModel,
    replace_above: f64,
    at: DateTime<Utc>,
) -> Result<bool, LibraryError> {
    if lib.create_model(m).await? {
        audit(lib, &Actor::System, AuditAction::Create, m, json!({ "source_run": m.source.run_id }), at)
            .await?;
        return consider(lib, m, replace_above, at).await;
    }
    let stored = lib.model(&m.id).await?.ok_or_else(|| LibraryError::NotFound(m.id.clone()))?;
    if stored.provider_voice_id == m.provider_voice_id {
        return consider(lib, &stored, replace_above, at).await;
    }
    // The run made its voice (a model asked for through the API, pending until now) or made it
    // again (its first voice was lost or retired): the run's model speaks with the new one.
    let first = stored.provider_voice_id.is_none();
    let remade = update(lib, &m.id, at, |stored| {
        stored.provider_voice_id = m.provider_voice_id.clone();
        stored.provider = m.provider.clone();
        stored.source = m.source.clone();
        stored.status = ModelStatus::Ready;
        stored.deleted_at = None;
        stored.quality = None;
        stored.voiceprint = m.voiceprint.clone();
        // A user's model is kept until deleted; the call flow's expire with their cache entry.
        if stored.owner == SYSTEM_OWNER {
            stored.expires_at = m.expires_at;
        }
        Ok(())
    })
    .await?;
    let detail = json!({ "voice": if first { "made" } else { "made again" } });
    audit(lib, &Actor::System, AuditAction::Update, &remade, detail, at).await?;
    consider(lib, &remade, replace_above, at).await
}

/// Whether `m` takes over as its person's active model (the rules), and if so, sets it.
pub async fn consider<L: VoiceLibrary + CloneCache>(
    lib: &L,
    m: &VoiceModel,
    replace_above: f64,
    at: DateTime<Utc>,
) -> Result<bool, LibraryError> {
    for _ in 0..RACE_ATTEMPTS {
        let current = lib.active_voice(&m.person).await?;
        if let Some(c) = current.as_ref().filter(|c| c.model_id == m.id) {
            // Already the active one; made again (a restore, a re-run), it speaks with its new
            // voice, chosen the same way as before.
            match repoint(lib, c, m, at).await? {
                Some(done) => return Ok(done),
                None => continue,
            }
        }
        let current_model = match &current {
            Some(c) => lib.model(&c.model_id).await?,
            None => None,
        };
        let pair = current.as_ref().map(|c| (c, current_model.as_ref()));
        if !takes_over(pair, m, replace_above, at) {
            return Ok(false);
        }
        let Some(new) = pointer(m, false, &Actor::System, at) else { return Ok(false) };
        let expected = current.as_ref().map(|c| (&c.model_id, Some(&c.voice_id)));
        if point(lib, &m.person, Some((&new, m)), expected, at).await? {
            let from = current.map(|c| c.model_id.to_string());
            audit(
                lib,
                &Actor::System,
                AuditAction::Activate,
                m,
                json!({ "replaced": from, "by_hand": false }),
                at,
            )
            .await?;
            return Ok(true);
        }
    }
    Err(LibraryError::Raced(m.id.clone()))
}

/// Soft delete: the provider's voice deleted (its slot freed), the model marked deleted and
/// kept for audit, and, when it was active, the next best ready model activated in its place.
/// Returns the model activated instead, if any.
#[allow(clippy::too_many_arguments)]
pub async fn delete<L: VoiceLibrary + CloneCache, E: VoiceEngine, B: BlobStore>(
    lib: &L,
    engine: &E,
    blobs: &B,
    actor: &Actor<'_>,
    id: &ModelId,
    action: AuditAction,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<Option<ModelId>, LibraryError> {
    let m = load(lib, actor, id, Act::Own).await?;
    if m.status == ModelStatus::Deleted {
        return Err(LibraryError::NotFound(id.clone()));
    }
    // A voice at another provider would be left there with nothing tracking it.
    if m.voice_elsewhere(engine.name()) {
        return Err(LibraryError::OtherProvider(id.clone(), m.provider.clone(), engine.name().to_owned()));
    }
    if let Some(voice) = &m.provider_voice_id {
        delete_at_engine(engine, voice).await.map_err(LibraryError::Provider)?;
    }
    // Its files go under deleted/, where the bucket's lifecycle expires them.
    let mut moved = Vec::with_capacity(m.source.pack.len());
    for file in &m.source.pack {
        let to = file.with_key(deleted_key(&m.id, file));
        moved.push(if blobs.move_to(file, &to).await? { to } else { file.clone() });
    }
    let deleted = update(lib, id, at, |m| {
        // Another delete came first: its record (and the files' new places) stand.
        if m.status == ModelStatus::Deleted {
            return Err(LibraryError::NotFound(m.id.clone()));
        }
        m.status = ModelStatus::Deleted;
        m.deleted_at = Some(at);
        m.source.pack = moved.clone();
        Ok(())
    })
    .await?;
    audit(lib, actor, action, &deleted, detail, at).await?;
    successor(lib, &deleted, at).await
}

/// `deleted/{model_id}/{file name}`: where a deleted model's files wait for the lifecycle.
pub fn deleted_key(id: &ModelId, file: &BlobRef) -> String {
    format!("deleted/{id}/{}", file.key.rsplit('/').next().unwrap_or("file"))
}

/// A model whose voice is gone at the provider (replaced by the caller's newer voice, given up
/// for a slot, expired, or vanished): marked deleted with `reason`, and, when it was active,
/// the next best takes over. Nothing when no such model is on record or it is deleted already.
pub async fn voice_gone<L: VoiceLibrary + CloneCache>(
    lib: &L,
    id: &ModelId,
    voice: &VoiceId,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), LibraryError> {
    match lib.model(id).await? {
        Some(m) if m.status != ModelStatus::Deleted && m.provider_voice_id.as_ref() == Some(voice) => {}
        _ => return Ok(()),
    }
    let gone = update(lib, id, at, |m| {
        m.status = ModelStatus::Deleted;
        m.deleted_at = Some(at);
        Ok(())
    })
    .await?;
    audit(lib, &Actor::System, AuditAction::Delete, &gone, json!({ "reason": reason }), at).await?;
    successor(lib, &gone, at).await?;
    Ok(())
}

/// Deletes a voice at the engine; one that is already gone counts as deleted.
pub async fn delete_at_engine<E: VoiceEngine>(engine: &E, voice: &crate::VoiceId) -> Result<(), StepError> {
    match engine.delete_voice(voice).await {
        Err(e) if e.code != "voice_not_found" => Err(e),
        _ => Ok(()),
    }
}

/// When `gone` was its person's active model, the next best takes over (or none is active).
async fn successor<L: VoiceLibrary + CloneCache>(
    lib: &L,
    gone: &VoiceModel,
    at: DateTime<Utc>,
) -> Result<Option<ModelId>, LibraryError> {
    for _ in 0..RACE_ATTEMPTS {
        let Some(current) = lib.active_voice(&gone.person).await? else { return Ok(None) };
        if current.model_id != gone.id {
            return Ok(None);
        }
        let models = lib.models_of(&gone.person).await?;
        let next = next_best(&models, &gone.id, at);
        let new = next.and_then(|n| Some((pointer(n, false, &Actor::System, at)?, n)));
        let expected = Some((&gone.id, Some(&current.voice_id)));
        if point(lib, &gone.person, new.as_ref().map(|(a, n)| (a, *n)), expected, at).await? {
            if let Some(n) = next {
                audit(
                    lib,
                    &Actor::System,
                    AuditAction::Activate,
                    n,
                    json!({ "replaced": gone.id, "by_hand": false }),
                    at,
                )
                .await?;
            }
            return Ok(next.map(|n| n.id.clone()));
        }
    }
    Err(LibraryError::Raced(gone.id.clone()))
}

pub async fn share<L: VoiceLibrary>(
    lib: &L,
    actor: &Actor<'_>,
    id: &ModelId,
    user: &str,
    permission: SharePermission,
    at: DateTime<Utc>,
) -> Result<VoiceModel, LibraryError> {
    let user = super::model::user_id(user)?;
    load(lib, actor, id, Act::Own).await?;
    let by = actor.name().to_owned();
    let m = update(lib, id, at, |m| {
        m.shares.retain(|s| s.user != user);
        m.shares.push(Share { user: user.clone(), permission, by: by.clone(), at });
        Ok(())
    })
    .await?;
    audit(lib, actor, AuditAction::Share, &m, json!({ "user": user, "permission": permission }), at).await?;
    Ok(m)
}

/// Ends a share; 404 when the model was not shared with `user`.
pub async fn unshare<L: VoiceLibrary>(
    lib: &L,
    actor: &Actor<'_>,
    id: &ModelId,
    user: &str,
    at: DateTime<Utc>,
) -> Result<VoiceModel, LibraryError> {
    let m = load(lib, actor, id, Act::Own).await?;
    if m.share_of(user).is_none() {
        return Err(LibraryError::NotFound(id.clone()));
    }
    let m = update(lib, id, at, |m| {
        m.shares.retain(|s| s.user != user);
        Ok(())
    })
    .await?;
    audit(lib, actor, AuditAction::Unshare, &m, json!({ "user": user }), at).await?;
    Ok(m)
}

/// One model cleanup removes (or, in a dry run, would).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CleanedUp {
    pub model_id: ModelId,
    /// Said redacted (a caller's number is never printed whole).
    #[serde(serialize_with = "redacted")]
    pub person: Person,
    pub reason: CleanupReason,
    /// The model activated in its place (an expired active model's successor).
    pub replaced_by: Option<ModelId>,
}

fn redacted<S: serde::Serializer>(p: &Person, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

/// Every model the rules remove, deleted as [`delete`] does (as the system: cleanup is an
/// admin's or the schedule's); with `dry_run`, only listed.
pub async fn cleanup<L: VoiceLibrary + CloneCache, E: VoiceEngine, B: BlobStore>(
    lib: &L,
    engine: &E,
    blobs: &B,
    actor: &Actor<'_>,
    rules: &CleanupRules,
    dry_run: bool,
    at: DateTime<Utc>,
) -> Result<Vec<CleanedUp>, LibraryError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = lib.models(100, after.as_deref()).await?;
        for m in &page.models {
            let active = lib.active_voice(&m.person).await?.is_some_and(|a| a.model_id == m.id);
            let Some(reason) = rules.reason(m, active, at) else { continue };
            // Another provider's voices are that deployment's to clean up.
            if m.voice_elsewhere(engine.name()) {
                continue;
            }
            let replaced_by = if dry_run {
                None
            } else {
                let detail = json!({ "reason": reason, "by": actor.name() });
                delete(lib, engine, blobs, &Actor::System, &m.id, AuditAction::Cleanup, detail, at).await?
            };
            out.push(CleanedUp { model_id: m.id.clone(), person: m.person.clone(), reason, replaced_by });
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    tracing::info!(dry_run, removed = out.len(), "voice models cleaned up");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleaned_up_caller_is_said_redacted() {
        let out = CleanedUp {
            model_id: ModelId::parse("vm-run-1").unwrap(),
            person: Person::parse("+14155550123").unwrap(),
            reason: CleanupReason::Expired,
            replaced_by: None,
        };
        let json = serde_json::to_string(&out).unwrap();
        assert!(!json.contains("4155550") && json.contains("+14"), "{json}");
    }
}
