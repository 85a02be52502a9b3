//! A model's export and the library's backups and restores. An archive holds each model's
//! record (`models/{id}/model.json`) and the pack it was cloned from (`models/{id}/pack/…`,
//! while the pack's files still exist; they expire with the run's derived audio). Exports go
//! to `exports/` and backups to `backups/{id}/` in the recordings store, with a download link;
//! a restore brings records back and clones again, from the archived pack, any voice the
//! provider no longer holds.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use echome_core::auth::{Principal, Role};
use echome_core::library::ops::{self, Actor};
use echome_core::library::{
    Act, AuditAction, LibraryError, ModelStatus, Verdict, VoiceLibrary, VoiceModel, access,
};
use echome_core::people::consent_verdict;
use echome_core::{BlobRef, BlobStore, CloneCache, StepError, VoiceEngine, signing};
use echome_http::HttpError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How long a download link works.
const LINK_VALID: std::time::Duration = std::time::Duration::from_secs(3600);

/// `backups/{id}/backup.json`: who made a backup, when, of which models.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupRecord {
    pub id: String,
    pub by: String,
    pub at: DateTime<Utc>,
    pub models: Vec<String>,
}

fn backup_key(id: &str, name: &str) -> String {
    format!("backups/{id}/{name}")
}

/// A backup id: `bk-`, the time and the user, hashed (safe in a path and a key).
pub fn backup_id(by: &str, at: DateTime<Utc>) -> String {
    use sha2::{Digest, Sha256};
    let digest =
        signing::hex(&Sha256::digest(format!("{by}\n{}", at.timestamp_nanos_opt().unwrap_or_default()))[..6]);
    format!("bk-{}-{digest}", at.format("%Y%m%dT%H%M%S"))
}

pub fn valid_backup_id(raw: &str) -> Result<&str, HttpError> {
    let ok = raw.starts_with("bk-")
        && (4..=64).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(raw)
    } else {
        Err(HttpError::BadRequest("backup id must be bk- and letters, digits and '-'".into()))
    }
}

/// A work folder of its own, gone when dropped.
pub fn scratch(what: &str) -> Result<tempfile::TempDir, HttpError> {
    tempfile::Builder::new().prefix(what).tempdir_in(echome_core::env::work_dir()).map_err(|e| {
        tracing::error!(error = %e, "no work folder");
        HttpError::Internal
    })
}

fn io(e: std::io::Error) -> HttpError {
    tracing::error!(error = %e, "archive");
    HttpError::Internal
}

/// Fetches each model's pack files that still exist into `dir`; the archive's entries, and the
/// files that were gone.
async fn gather<B: BlobStore>(
    blobs: &B,
    models: &[VoiceModel],
    dir: &Path,
) -> Result<(Vec<(String, Vec<u8>)>, Vec<(String, PathBuf)>, Vec<String>), HttpError> {
    let (mut docs, mut files, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for m in models {
        let record = serde_json::to_vec_pretty(m).map_err(|_| HttpError::Internal)?;
        docs.push((format!("models/{}/model.json", m.id), record));
        for (i, blob) in m.source.pack.iter().enumerate() {
            let name = blob.key.rsplit('/').next().unwrap_or("sample.wav");
            let entry = format!("models/{}/pack/{name}", m.id);
            if !blobs.exists(blob).await? {
                missing.push(entry);
                continue;
            }
            let local = dir.join(format!("{}-{i}.wav", m.id));
            blobs.download_to(blob, &local).await?;
            files.push((entry, local));
        }
    }
    Ok((docs, files, missing))
}

/// Writes the archive of `models` to `dest` in the store; what it holds and what was gone.
pub async fn archive<B: BlobStore>(
    blobs: &B,
    models: &[VoiceModel],
    extra: Vec<(String, Vec<u8>)>,
    dest: &BlobRef,
) -> Result<Value, HttpError> {
    let dir = scratch("archive-")?;
    let (mut docs, files, missing) = gather(blobs, models, dir.path()).await?;
    docs.extend(extra);
    let tar = dir.path().join("archive.tar");
    let (tar2, docs2, files2) = (tar.clone(), docs.clone(), files.clone());
    tokio::task::spawn_blocking(move || crate::archive::write(&tar2, &docs2, &files2))
        .await
        .map_err(|_| HttpError::Internal)?
        .map_err(io)?;
    blobs.upload_from(dest, &tar, "application/x-tar").await?;
    let url = blobs.download_url(dest, LINK_VALID).await?;
    Ok(json!({
        "archive": echome_core::redact::phone_numbers(&dest.key),
        "download_url": url,
        "download_valid_s": LINK_VALID.as_secs(),
        "files": docs.len() + files.len(),
        "missing": missing.iter().map(|m| echome_core::redact::phone_numbers(m)).collect::<Vec<_>>(),
    }))
}

/// The models a backup of `who` holds: their own (admins: every one), of `person` if given,
/// not deleted.
pub fn backed_up(who: &Principal, m: &VoiceModel, person: Option<&echome_core::library::Person>) -> bool {
    let mine = who.role == Role::Admin || m.owner == who.subject;
    mine && m.status != ModelStatus::Deleted && person.is_none_or(|p| &m.person == p)
}

/// What a restore did with each archived model.
#[derive(Debug, Default, Serialize)]
pub struct Restored {
    pub restored: Vec<String>,
    /// Cloned again from the archived pack: the provider no longer had the voice.
    pub recloned: Vec<String>,
    /// On record already (without `overwrite_existing`), or not the user's to restore.
    pub skipped: Vec<Value>,
    pub activated: Vec<String>,
}

/// Brings the archived models back. A model on record is replaced only with `overwrite`; a
/// voice the provider no longer holds is cloned again from the archived pack (a model without
/// one is restored `failed`); with `activate`, each restored model becomes its person's active
/// one by hand, otherwise the library's rules decide.
#[allow(clippy::too_many_arguments)]
pub async fn restore<L, E>(
    lib: &L,
    engine: &E,
    who: &Principal,
    unpacked: &[(String, PathBuf)],
    overwrite: bool,
    activate: bool,
    (replace_above, consent): (f64, echome_core::ConsentPolicy),
    now: DateTime<Utc>,
) -> Result<Restored, HttpError>
where
    L: VoiceLibrary + CloneCache + echome_core::People,
    E: VoiceEngine,
{
    let held: Vec<_> = engine.voices().await.map_err(provider)?.into_iter().map(|v| v.voice_id).collect();
    let actor = Actor::User(who);
    let mut out = Restored::default();
    for (name, path) in unpacked.iter().filter(|(n, _)| n.ends_with("/model.json")) {
        let bytes = std::fs::read(path).map_err(io)?;
        let Ok(archived) = serde_json::from_slice::<VoiceModel>(&bytes) else {
            out.skipped.push(json!({ "entry": name, "reason": "not a voice model record" }));
            continue;
        };
        let id = archived.id.to_string();
        let existing = lib.model(&archived.id).await?;
        if let Some(e) = &existing {
            if access::check(who, e, Act::Own) != Verdict::Allowed {
                out.skipped.push(json!({ "id": id, "reason": "on record and not yours" }));
                continue;
            }
            if !overwrite {
                out.skipped.push(json!({ "id": id, "reason": "on record (overwrite_existing replaces it)" }));
                continue;
            }
        } else if who.role != Role::Admin && archived.owner != who.subject {
            out.skipped.push(json!({ "id": id, "reason": "not yours" }));
            continue;
        }
        // A person who revoked their consent (or was erased) is not brought back.
        let verdict =
            consent_verdict(lib, consent, &archived.person, echome_core::people::ConsentScope::Clone).await?;
        if let Err(e) = verdict {
            out.skipped.push(
                json!({ "id": id, "reason": format!("{}: {e}", echome_core::people::ConsentMissing::CODE) }),
            );
            continue;
        }
        let mut m = VoiceModel { status: ModelStatus::Ready, deleted_at: None, updated_at: now, ..archived };
        let still_there =
            m.provider == engine.name() && m.provider_voice_id.as_ref().is_some_and(|v| held.contains(v));
        if !still_there {
            let prefix = format!("models/{id}/pack/");
            let pack: Vec<PathBuf> =
                unpacked.iter().filter(|(n, _)| n.starts_with(&prefix)).map(|(_, p)| p.clone()).collect();
            if pack.is_empty() {
                m.status = ModelStatus::Failed;
                m.provider_voice_id = None;
            } else {
                let (voice, _) = engine
                    .clone_voice(&format!("echome {}", m.person), &pack, false)
                    .await
                    .map_err(provider)?;
                m.provider = engine.name().to_owned();
                m.provider_voice_id = Some(voice);
                m.quality = None;
                out.recloned.push(id.clone());
            }
        }
        let written = match &existing {
            Some(e) => lib.save_model(&VoiceModel { version: e.version, ..m.clone() }).await?,
            None => lib.create_model(&m).await?,
        };
        if !written {
            // Someone changed the record while the voice was being made: that voice is nobody's.
            if let Some(voice) = m.provider_voice_id.as_ref().filter(|_| !still_there) {
                ops::delete_at_engine(engine, voice).await.map_err(provider)?;
            }
            out.skipped.push(json!({ "id": id, "reason": "changed meanwhile; try again" }));
            continue;
        }
        ops::audit(lib, &actor, AuditAction::Restore, &m, json!({ "recloned": !still_there }), now).await?;
        out.restored.push(id.clone());
        if m.status != ModelStatus::Ready {
            continue;
        }
        let active = if activate {
            match ops::activate(lib, &actor, &m.id, now).await {
                Ok(_) | Err(LibraryError::AlreadyActive(_)) => true,
                Err(e) => return Err(e.into()),
            }
        } else {
            ops::consider(lib, &m, replace_above, now).await?
        };
        if active {
            out.activated.push(id);
        }
    }
    Ok(out)
}

fn provider(e: StepError) -> HttpError {
    tracing::error!(code = %e.code, "the voice provider failed");
    HttpError::Unavailable
}

pub fn backup_docs(record: &BackupRecord) -> Result<Vec<(String, Vec<u8>)>, HttpError> {
    Ok(vec![("backup.json".into(), serde_json::to_vec_pretty(record).map_err(|_| HttpError::Internal)?)])
}

pub fn record_key(bucket: &str, id: &str) -> BlobRef {
    BlobRef::new(bucket, backup_key(id, "backup.json"))
}

pub fn archive_key(bucket: &str, id: &str) -> BlobRef {
    BlobRef::new(bucket, backup_key(id, "archive.tar"))
}

pub fn export_key(bucket: &str, m: &VoiceModel, at: DateTime<Utc>) -> BlobRef {
    BlobRef::new(bucket, format!("exports/{}/{}.tar", m.id, at.format("%Y%m%dT%H%M%S%.3fZ")))
}
