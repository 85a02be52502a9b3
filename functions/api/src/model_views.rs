//! How the library's records look in answers: a caller's number redacted wherever it appears
//! (the person, sample keys), times in RFC 3339, quality as its summary.

use chrono::{DateTime, Utc};
use echome_core::library::{
    ActiveVoice, AuditEvent, CleanedUp, LibraryError, LibrarySettings, VoiceModel, model,
};
use echome_core::{CloneRecord, redact};
use echome_http::HttpError;
use serde_json::{Value, json};

pub fn model(m: &VoiceModel, is_active: bool, settings: &LibrarySettings, now: DateTime<Utc>) -> Value {
    json!({
        "id": m.id,
        "person": m.person.to_string(),
        "owner": m.owner,
        "name": m.name,
        "provider": m.provider,
        "provider_voice_id": m.provider_voice_id,
        "source": {
            "run_id": m.source.run_id,
            "sample": m.source.sample.as_ref().map(|b| redact::phone_numbers(&b.key)),
            "pack_digest": m.source.pack_digest,
        },
        "sample_rate": m.sample_rate,
        "quality": m.quality.as_ref().map(echome_core::QualityScore::summary),
        "status": m.status,
        "error": m.error.as_ref().map(|e| json!({
            "type": e.error_type, "code": e.code, "message": redact::phone_numbers(&e.message)
        })),
        "usable": m.is_usable(now),
        "is_active": is_active,
        "metadata": m.metadata,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "deleted_at": m.deleted_at,
        "last_used_at": m.last_used_at,
        "expires_at": m.expires_at,
        "usage": usage(m, settings),
        "shares": shares(m),
    })
}

/// Two models side by side: quality parts, usage, and how alike their speakers are (the
/// cosine of the voiceprints of the packs they were cloned from).
pub fn compared(a: &VoiceModel, b: &VoiceModel, settings: &LibrarySettings) -> Value {
    let side = |m: &VoiceModel| {
        json!({
            "id": m.id,
            "person": m.person.to_string(),
            "provider": m.provider,
            "status": m.status,
            "quality": m.quality.as_ref().map(echome_core::QualityScore::summary),
            "usage": usage(m, settings),
        })
    };
    let similarity = match (&a.voiceprint, &b.voiceprint) {
        (Some(x), Some(y)) => match x.similarity(y) {
            Some(s) => json!({ "score": (s * 10_000.0).round() / 10_000.0, "model": x.model }),
            None => json!({ "missing": "their voiceprints come from different encoders" }),
        },
        _ => json!({ "missing": "a model was cloned from a pack without a voiceprint" }),
    };
    json!({ "a": side(a), "b": side(b), "voiceprint_similarity": similarity })
}

/// Counts over the models a user may see.
pub fn analytics(
    models: &[VoiceModel],
    active: usize,
    entries: &[&CloneRecord],
    settings: &LibrarySettings,
    now: DateTime<Utc>,
) -> Value {
    use std::collections::BTreeMap;
    let mut by_provider: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut uses, mut characters, mut cost, mut unpriced) = (0u64, 0u64, 0.0f64, 0u64);
    let mut scores = Vec::new();
    let mut stored = 0u64;
    for m in models {
        *by_provider.entry(m.provider.as_str()).or_default() += 1;
        *by_status.entry(m.status.as_str()).or_default() += 1;
        let chars = m.usage.characters + m.quality.as_ref().map_or(0, |q| q.characters);
        uses += m.usage.uses;
        characters += chars;
        match settings.cost(&m.provider, chars) {
            Some(c) => cost += c,
            None => unpriced += chars,
        }
        if m.status != echome_core::library::ModelStatus::Deleted {
            stored += m.source.pack_bytes;
            if let Some(s) = m.score() {
                scores.push(s);
            }
        }
    }
    let average = (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
    json!({
        "at": now,
        "models": models.len(),
        "by_provider": by_provider,
        "by_status": by_status,
        "active": active,
        "average_quality": average.map(|a| (a * 1000.0).round() / 1000.0),
        "uses": uses,
        "characters": characters,
        "cost": (cost * 10_000.0).round() / 10_000.0,
        "unpriced_characters": unpriced,
        // The packs of the models not deleted (a deleted one's wait under deleted/ to expire).
        "storage_mb": (stored as f64 / 10_000.0).round() / 100.0,
        // Calls answered in the models' voices from the call flow's cache.
        "calls": entries.iter().map(|e| e.reuse_count).sum::<u64>(),
        "last_used_at": models
            .iter()
            .filter_map(|m| m.last_used_at)
            .chain(entries.iter().filter(|e| e.reuse_count > 0).map(|e| e.last_used_at))
            .max(),
    })
}

pub fn shares(m: &VoiceModel) -> Value {
    m.shares
        .iter()
        .map(|s| json!({ "user": s.user, "permission": s.permission, "by": s.by, "at": s.at }))
        .collect()
}

/// Uses, characters and their cost at the provider's configured price (none without one).
pub fn usage(m: &VoiceModel, settings: &LibrarySettings) -> Value {
    let scoring = m.quality.as_ref().map_or(0, |q| q.characters);
    let characters = m.usage.characters + scoring;
    json!({
        "id": m.id,
        "uses": m.usage.uses,
        "characters": characters,
        "scoring_characters": scoring,
        "cost": settings.cost(&m.provider, characters),
        "mean_latency_ms": m.usage.mean_latency_ms(),
        "last_used_at": m.last_used_at,
    })
}

/// [`usage`] with the calls the call flow answered in the model's voice: the count on the
/// caller's clone entry while it holds this model's voice (`entry`, already matched).
pub fn usage_with_calls(m: &VoiceModel, settings: &LibrarySettings, entry: Option<&CloneRecord>) -> Value {
    let mut out = usage(m, settings);
    let calls = entry.map_or(0, |e| e.reuse_count);
    out["calls"] = json!(calls);
    let last_call = entry.filter(|e| e.reuse_count > 0).map(|e| e.last_used_at);
    out["last_used_at"] = json!(m.last_used_at.max(last_call));
    out
}

pub fn active(a: &ActiveVoice) -> Value {
    json!({
        "person": a.person.to_string(),
        "model_id": a.model_id,
        "voice_id": a.voice_id,
        "provider": a.provider,
        "by_hand": a.by_hand,
        "by": a.by,
        "since": a.since,
    })
}

pub fn audit(e: &AuditEvent) -> Value {
    json!({ "at": e.at, "actor": e.actor, "action": e.action, "detail": e.detail })
}

pub fn cleaned(c: &CleanedUp) -> Value {
    json!({ "id": c.model_id, "person": c.person.to_string(), "reason": c.reason, "activated_instead": c.replaced_by })
}

/// What `PATCH /voice-models/{id}` may change: `name` (a string, or null to clear),
/// `metadata` (an object, replacing the old one), `expires_at` (a time, or null: kept).
pub struct Patch {
    name: Option<Option<String>>,
    metadata: Option<Value>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl Patch {
    pub fn parse(body: &Value, now: DateTime<Utc>) -> Result<Self, HttpError> {
        let fields =
            body.as_object().ok_or_else(|| HttpError::BadRequest("the body must be a JSON object".into()))?;
        if let Some(unknown) =
            fields.keys().find(|k| !["name", "metadata", "expires_at"].contains(&k.as_str()))
        {
            return Err(HttpError::BadRequest(format!(
                "{unknown:?} cannot be changed; name, metadata and expires_at can"
            )));
        }
        if fields.is_empty() {
            return Err(HttpError::BadRequest("nothing to change: give name, metadata or expires_at".into()));
        }
        let bad = |e: model::ModelError| HttpError::BadRequest(e.to_string());
        let name = match fields.get("name") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(n)) => Some(Some(model::check_name(n).map_err(bad)?)),
            Some(_) => return Err(HttpError::BadRequest("name must be a string or null".into())),
        };
        let metadata = match fields.get("metadata") {
            None => None,
            Some(v) => {
                model::check_metadata(v).map_err(bad)?;
                Some(v.clone())
            }
        };
        let expires_at = match fields.get("expires_at") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(t)) => {
                let at = DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                    HttpError::BadRequest("expires_at must be an RFC 3339 time or null".into())
                })?;
                if at <= now {
                    return Err(HttpError::BadRequest(
                        "expires_at must be in the future (delete the model to remove it now)".into(),
                    ));
                }
                Some(Some(at))
            }
            Some(_) => {
                return Err(HttpError::BadRequest("expires_at must be an RFC 3339 time or null".into()));
            }
        };
        Ok(Self { name, metadata, expires_at })
    }

    pub fn apply(&self, m: &mut VoiceModel) -> Result<(), LibraryError> {
        if let Some(name) = &self.name {
            m.name = name.clone();
        }
        if let Some(metadata) = &self.metadata {
            m.metadata = metadata.clone();
        }
        if let Some(expires_at) = self.expires_at {
            m.expires_at = expires_at;
        }
        Ok(())
    }

    /// For the audit: which fields changed, not their content.
    pub fn described(&self) -> Value {
        let mut changed = Vec::new();
        for (name, set) in [
            ("name", self.name.is_some()),
            ("metadata", self.metadata.is_some()),
            ("expires_at", self.expires_at.is_some()),
        ] {
            if set {
                changed.push(name);
            }
        }
        json!({ "changed": changed, "expires_at": self.expires_at.flatten() })
    }
}
