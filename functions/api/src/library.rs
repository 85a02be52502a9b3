//! The voice library's routes: models listed, read, changed, activated, shared and deleted;
//! each person's active voice; expiring models and cleanup. Access follows
//! `echome_core::library::access` (a model someone may not see is 404, one they may see but
//! not change is 403); every change is audited by the operations in `library::ops` and counted
//! against the user's hourly change limit.

use std::collections::HashMap;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::http::Method;
use chrono::{DateTime, Duration, Utc};
use echome_core::People;
use echome_core::auth::{Principal, Role, TokenVerifier};
use echome_core::library::ops::{self, Actor};
use echome_core::library::{
    Act, AuditAction, ModelId, ModelStatus, Person, SharePermission, Verdict, VoiceLibrary, VoiceModel,
    access, model, port,
};
use echome_core::limits::RateLimiter;
use echome_core::people::{ConsentScope, consent_verdict};
use echome_core::{
    BlobStore, CallLog, CloneCache, CloneRecord, ReferenceVoices, RunLog, RunStarter, VoiceEngine,
    WebhookArchive,
};
use echome_http::{HttpError, json_body, query};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Access, Api, MAX_PAGE, ProviderProbe, backup, bounded, model_views as views};

/// The methods each library route takes, with who may call them; `None`: not a library route.
pub(crate) fn routes(segments: &[&str]) -> Option<Vec<(Method, Access)>> {
    let viewer = Access::Role(Role::Viewer);
    let operator = Access::Role(Role::Operator);
    Some(match segments {
        ["voice-models"] => vec![(Method::GET, viewer), (Method::POST, operator)],
        ["voice-models", "expiring"] | ["shared"] | ["analytics"] => vec![(Method::GET, viewer)],
        // Reads with a body of criteria.
        ["voice-models", "compare" | "select-best"] => vec![(Method::POST, viewer)],
        ["voice-models", "cleanup"] => vec![(Method::POST, Access::Role(Role::Admin))],
        ["voice-models", _] => {
            vec![(Method::GET, viewer), (Method::PATCH, operator), (Method::DELETE, operator)]
        }
        ["voice-models", _, "activate" | "deactivate" | "shares"]
        | ["backups"]
        | ["backups", _, "restore"] => {
            vec![(Method::POST, operator)]
        }
        ["voice-models", _, "export"] => vec![(Method::GET, operator)],
        ["voice-models", _, "shares", _] => vec![(Method::DELETE, operator)],
        ["voice-models", _, "usage" | "audit"] | ["people", _, "active-voice"] => vec![(Method::GET, viewer)],
        _ => return None,
    })
}

/// The person's clone entry holds this model's voice: the uses it counts were this model's.
fn holds(e: &CloneRecord, m: &VoiceModel) -> bool {
    m.person == e.person
        && ModelId::for_run(&e.run_id) == m.id
        && m.provider_voice_id.as_ref() == Some(&e.voice_id)
}

fn model_id(raw: &str) -> Result<ModelId, HttpError> {
    ModelId::parse(raw).map_err(|e| HttpError::BadRequest(e.to_string()))
}

fn person(raw: &str) -> Result<Person, HttpError> {
    Person::parse(raw).map_err(|e| HttpError::BadRequest(e.to_string()))
}

/// What `GET /voice-models` filters on.
struct Filter {
    person: Option<Person>,
    provider: Option<String>,
    active: Option<bool>,
    min_quality: Option<f64>,
    status: Option<ModelStatus>,
}

impl Filter {
    fn from(req: &ApiGatewayV2httpRequest) -> Result<Self, HttpError> {
        let active = match query(req, "active").as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(HttpError::BadRequest(format!("active must be true or false, not {other:?}")));
            }
        };
        let min_quality = query(req, "min_quality")
            .map(|q| {
                q.parse::<f64>().ok().filter(|v| (0.0..=1.0).contains(v)).ok_or_else(|| {
                    HttpError::BadRequest(format!("min_quality must be a score from 0 to 1, not {q:?}"))
                })
            })
            .transpose()?;
        let status = query(req, "status")
            .map(|s| {
                ModelStatus::parse(&s).ok_or_else(|| {
                    HttpError::BadRequest("status must be pending, cloning, ready, failed or deleted".into())
                })
            })
            .transpose()?;
        Ok(Self {
            person: query(req, "person").map(|p| person(&p)).transpose()?,
            provider: query(req, "provider")
                .map(|p| {
                    let ok = (1..=64).contains(&p.len())
                        && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
                    if ok {
                        Ok(p)
                    } else {
                        Err(HttpError::BadRequest(
                            "provider must be a provider's name: 1 to 64 lowercase letters, digits, '-' and '_'".into(),
                        ))
                    }
                })
                .transpose()?,
            active,
            min_quality,
            status,
        })
    }

    /// Deleted models only when asked for by status.
    fn matches(&self, m: &VoiceModel, active: bool) -> bool {
        self.status.map_or(m.status != ModelStatus::Deleted, |s| m.status == s)
            && self.provider.as_ref().is_none_or(|p| &m.provider == p)
            && self.active.is_none_or(|a| a == active)
            && self.min_quality.is_none_or(|q| m.score().is_some_and(|s| s >= q))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareBody {
    user: String,
    #[serde(default)]
    permission: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BackupBody {
    #[serde(default)]
    person: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    #[serde(default)]
    overwrite_existing: bool,
    #[serde(default)]
    activate_restored: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    pub person: String,
    pub sample_key: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompareBody {
    a: String,
    b: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BestBody {
    person: String,
    #[serde(default)]
    min_quality: Option<f64>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    max_latency_ms: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CleanupBody {
    #[serde(default)]
    dry_run: bool,
}

impl<R, T, L, P, E, S, B, W> Api<R, T, L, P, E, S, B, W>
where
    R: RunLog + CallLog + CloneCache + ReferenceVoices + VoiceLibrary + People,
    T: TokenVerifier,
    L: RateLimiter,
    P: ProviderProbe,
    E: VoiceEngine,
    S: RunStarter,
    B: BlobStore,
    W: WebhookArchive,
{
    pub(crate) async fn library(
        &self,
        segments: &[&str],
        req: &ApiGatewayV2httpRequest,
        who: &Principal,
    ) -> Result<(i64, Value), HttpError> {
        let method = req.request_context.http.method.clone();
        let actor = Actor::User(who);
        let now = Utc::now();
        let reads = matches!(segments, ["voice-models", "compare" | "select-best"]);
        let creates = segments == ["voice-models"] && method == Method::POST;
        if creates {
            self.count(&format!("{}#library-creations", who.subject), self.library.creation_limit).await?;
        } else if segments == ["backups"] {
            self.count(&format!("{}#library-backups", who.subject), self.library.backup_limit).await?;
        } else if method != Method::GET && !reads {
            self.count(&format!("{}#library-changes", who.subject), self.library.update_limit).await?;
        }
        if segments == ["analytics"] {
            self.count(&format!("{}#analytics", who.subject), self.library.analytics_limit).await?;
        }
        let lib = &self.records;
        match (segments, method) {
            (["voice-models"], Method::POST) => self.create(req, who, now).await,
            (["voice-models"], _) => self.list(req, who).await,
            (["shared"], _) => {
                let mut mine = Vec::new();
                self.each_model(|m| {
                    if m.share_of(&who.subject).is_some() && m.status != ModelStatus::Deleted {
                        mine.push(m);
                    }
                })
                .await?;
                let views = self.views(&mine, now).await?;
                Ok((200, json!({ "models": views })))
            }
            (["voice-models", "expiring"], _) => {
                let days = bounded(req, "days", 7, 1..=365)?;
                let until = now + Duration::days(days);
                let mut soon = Vec::new();
                self.each_model(|m| {
                    let expiring =
                        m.expires_at.is_some_and(|e| e <= until) && m.status != ModelStatus::Deleted;
                    if expiring && access::check(who, &m, Act::See) == Verdict::Allowed {
                        soon.push(m);
                    }
                })
                .await?;
                soon.sort_by_key(|m| m.expires_at);
                let views = self.views(&soon, now).await?;
                Ok((200, json!({ "days": days, "until": until, "models": views })))
            }
            (["analytics"], _) => self.analytics(who, now).await,
            (["voice-models", id, "export"], _) => {
                let m = ops::load(lib, &actor, &model_id(id)?, Act::Own).await?;
                let dest = backup::export_key(&self.bucket, &m, now);
                let mut v = backup::archive(&self.blobs, std::slice::from_ref(&m), vec![], &dest).await?;
                ops::audit(lib, &actor, AuditAction::Export, &m, json!({ "archive": v["archive"] }), now)
                    .await?;
                v["id"] = json!(m.id);
                Ok((200, v))
            }
            (["backups"], _) => {
                let body: BackupBody = json_body(req)?;
                let only = body.person.as_deref().map(person).transpose()?;
                let mut models = Vec::new();
                self.each_model(|m| {
                    if backup::backed_up(who, &m, only.as_ref()) {
                        models.push(m);
                    }
                })
                .await?;
                if models.is_empty() {
                    return Err(HttpError::NotFound("a voice model of yours to back up".into()));
                }
                let id = backup::backup_id(&who.subject, now);
                let record = backup::BackupRecord {
                    id: id.clone(),
                    by: who.subject.clone(),
                    at: now,
                    models: models.iter().map(|m| m.id.to_string()).collect(),
                };
                let docs = backup::backup_docs(&record)?;
                let dest = backup::archive_key(&self.bucket, &id);
                let mut v = backup::archive(&self.blobs, &models, docs.clone(), &dest).await?;
                let (name, bytes) = docs.into_iter().next().ok_or(HttpError::Internal)?;
                debug_assert_eq!(name, "backup.json");
                self.blobs
                    .put_bytes(&backup::record_key(&self.bucket, &id), bytes, "application/json")
                    .await?;
                for m in &models {
                    ops::audit(lib, &actor, AuditAction::Backup, m, json!({ "backup_id": id }), now).await?;
                }
                v["backup_id"] = json!(id);
                v["models"] = json!(record.models);
                Ok((201, v))
            }
            (["backups", id, "restore"], _) => {
                let id = backup::valid_backup_id(id)?;
                let body: RestoreBody = json_body(req)?;
                let hidden = || HttpError::NotFound(format!("backup {id}"));
                let record = match self.blobs.get_bytes(&backup::record_key(&self.bucket, id)).await {
                    Ok(bytes) => serde_json::from_slice::<backup::BackupRecord>(&bytes)
                        .map_err(|_| HttpError::Internal)?,
                    Err(echome_core::StorageError::NotFound(_)) => return Err(hidden()),
                    Err(e) => return Err(e.into()),
                };
                if record.by != who.subject && who.role != Role::Admin {
                    return Err(hidden());
                }
                let dir = backup::scratch("restore-")?;
                let tar = dir.path().join("archive.tar");
                self.blobs.download_to(&backup::archive_key(&self.bucket, id), &tar).await?;
                let into = dir.path().join("unpacked");
                let unpacked = tokio::task::spawn_blocking(move || crate::archive::read(&tar, &into))
                    .await
                    .map_err(|_| HttpError::Internal)?
                    .map_err(|e| {
                        HttpError::BadRequest(format!("the backup's archive cannot be read: {e}"))
                    })?;
                let done = backup::restore(
                    lib,
                    &self.engine,
                    who,
                    &unpacked,
                    body.overwrite_existing,
                    body.activate_restored,
                    (self.library.replace_above, self.consent),
                    now,
                )
                .await?;
                let mut v = serde_json::to_value(&done).map_err(|_| HttpError::Internal)?;
                v["backup_id"] = json!(id);
                Ok((200, v))
            }
            (["voice-models", "compare"], _) => {
                let body: CompareBody = json_body(req)?;
                let a = ops::load(lib, &actor, &model_id(&body.a)?, Act::See).await?;
                let b = ops::load(lib, &actor, &model_id(&body.b)?, Act::See).await?;
                Ok((200, views::compared(&a, &b, &self.library)))
            }
            (["voice-models", "select-best"], _) => {
                let body: BestBody = json_body(req)?;
                let p = person(&body.person)?;
                let models = lib.models_of(&p).await?;
                let candidates: Vec<&VoiceModel> = models
                    .iter()
                    .filter(|m| access::check(who, m, Act::See) == Verdict::Allowed && m.is_usable(now))
                    .filter(|m| body.provider.as_ref().is_none_or(|p| &m.provider == p))
                    .filter(|m| body.min_quality.is_none_or(|q| m.score().is_some_and(|s| s >= q)))
                    .filter(|m| {
                        body.max_latency_ms.is_none_or(|l| m.usage.mean_latency_ms().is_none_or(|ms| ms <= l))
                    })
                    .collect();
                let best = candidates.iter().copied().max_by(|a, b| {
                    let q = |m: &VoiceModel| m.score().unwrap_or(f64::NEG_INFINITY);
                    q(a).total_cmp(&q(b)).then(a.created_at.cmp(&b.created_at))
                });
                let best = best
                    .ok_or_else(|| HttpError::NotFound(format!("a model of {p} that meets the criteria")))?;
                let active = self.is_active(best).await?;
                Ok((
                    200,
                    json!({ "model": views::model(best, active, &self.library, now), "candidates": candidates.len() }),
                ))
            }
            (["voice-models", "cleanup"], _) => {
                let body: CleanupBody = json_body(req)?;
                let removed = ops::cleanup(
                    lib,
                    &self.engine,
                    &self.blobs,
                    &actor,
                    &self.library.cleanup,
                    body.dry_run,
                    now,
                )
                .await?;
                Ok((
                    200,
                    json!({ "dry_run": body.dry_run, "removed": removed.iter().map(views::cleaned).collect::<Vec<_>>() }),
                ))
            }
            (["voice-models", id], Method::GET) => {
                let m = ops::load(lib, &actor, &model_id(id)?, Act::See).await?;
                let m = self.settled(m, now).await?;
                let active = self.is_active(&m).await?;
                Ok((200, views::model(&m, active, &self.library, now)))
            }
            (["voice-models", id], Method::PATCH) => {
                let id = model_id(id)?;
                let patch: Value = json_body(req)?;
                let change = views::Patch::parse(&patch, now)?;
                // An expiry decides when cleanup deletes the model: the owner's to set.
                let act = if change.expires_at.is_some() { Act::Own } else { Act::Change };
                ops::load(lib, &actor, &id, act).await?;
                let m = ops::update(lib, &id, now, |m| change.apply(m)).await?;
                ops::audit(lib, &actor, AuditAction::Update, &m, change.described(), now).await?;
                let active = self.is_active(&m).await?;
                Ok((200, views::model(&m, active, &self.library, now)))
            }
            (["voice-models", id], _) => {
                let id = model_id(id)?;
                let instead = ops::delete(
                    lib,
                    &self.engine,
                    &self.blobs,
                    &actor,
                    &id,
                    AuditAction::Delete,
                    json!({}),
                    now,
                )
                .await?;
                Ok((200, json!({ "id": id, "status": ModelStatus::Deleted, "activated_instead": instead })))
            }
            (["voice-models", id, "activate"], _) => {
                let active = ops::activate(lib, &actor, &model_id(id)?, now).await?;
                Ok((200, views::active(&active)))
            }
            (["voice-models", id, "deactivate"], _) => {
                let id = model_id(id)?;
                ops::deactivate(lib, &actor, &id, now).await?;
                Ok((200, json!({ "id": id, "is_active": false })))
            }
            (["voice-models", id, "shares"], _) => {
                let body: ShareBody = json_body(req)?;
                let permission = match body.permission.as_deref() {
                    None => SharePermission::Use,
                    Some(p) => SharePermission::parse(p)
                        .ok_or_else(|| HttpError::BadRequest("permission must be use or manage".into()))?,
                };
                let m = ops::share(lib, &actor, &model_id(id)?, &body.user, permission, now).await?;
                Ok((201, json!({ "id": m.id, "shares": views::shares(&m) })))
            }
            (["voice-models", id, "shares", user], _) => {
                let user = model::user_id(user).map_err(|e| HttpError::BadRequest(e.to_string()))?;
                let m = ops::unshare(lib, &actor, &model_id(id)?, &user, now).await?;
                Ok((200, json!({ "id": m.id, "shares": views::shares(&m) })))
            }
            (["voice-models", id, "usage"], _) => {
                let m = ops::load(lib, &actor, &model_id(id)?, Act::See).await?;
                let entry = lib.clone_of(&m.person).await?.filter(|e| holds(e, &m));
                Ok((200, views::usage_with_calls(&m, &self.library, entry.as_ref())))
            }
            (["voice-models", id, "audit"], _) => {
                let m = ops::load(lib, &actor, &model_id(id)?, Act::See).await?;
                let events = lib.audit_of(&m.id).await?;
                Ok((
                    200,
                    json!({ "id": m.id, "events": events.iter().map(views::audit).collect::<Vec<_>>() }),
                ))
            }
            (["people", p, "active-voice"], _) => {
                let p = person(p)?;
                let none = || HttpError::NotFound(format!("an active voice of {p}"));
                let active = lib.active_voice(&p).await?.ok_or_else(none)?;
                let m = match ops::load(lib, &actor, &active.model_id, Act::See).await {
                    Ok(m) => m,
                    Err(echome_core::library::LibraryError::NotFound(_)) => return Err(none()),
                    Err(e) => return Err(e.into()),
                };
                let mut v = views::active(&active);
                v["model"] = views::model(&m, true, &self.library, now);
                Ok((200, v))
            }
            _ => Err(HttpError::Internal),
        }
    }

    /// A new model of a caller from one of their recordings: recorded as pending (the user's),
    /// and a clone run started for it; the run makes its voice (`vm-{run_id}` becomes ready).
    /// Asking again for the same recording answers the same model.
    async fn create(
        &self,
        req: &ApiGatewayV2httpRequest,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<(i64, Value), HttpError> {
        self.create_model(json_body(req)?, who, now).await
    }

    /// A model of the person from a recording in their folder, and the clone run making it
    /// (`POST /voice-models`, and `POST /people/{person}/samples` with a `sample_key`).
    pub(crate) async fn create_model(
        &self,
        body: CreateBody,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<(i64, Value), HttpError> {
        let p = person(&body.person)?;
        self.known(&p).await?;
        let folder = p.samples_prefix();
        let name_ok = body
            .sample_key
            .strip_prefix(&folder)
            .is_some_and(|rest| !rest.is_empty() && !rest.split('/').any(|s| s == ".." || s.is_empty()));
        if !name_ok {
            return Err(HttpError::BadRequest(format!(
                "sample_key must name a recording in the person's folder, {}{{name}}",
                echome_core::redact::phone_numbers(&folder)
            )));
        }
        let bad = |e: model::ModelError| HttpError::BadRequest(e.to_string());
        let name = body.name.as_deref().map(model::check_name).transpose().map_err(bad)?;
        let metadata = body.metadata.unwrap_or_else(|| json!({}));
        model::check_metadata(&metadata).map_err(bad)?;
        // Refused here, before a model or a run exists, rather than failed by the run later.
        consent_verdict(&self.records, self.consent, &p, ConsentScope::Clone).await??;
        let sample = echome_core::BlobRef::new(&self.bucket, &body.sample_key);
        if !self.blobs.exists(&sample).await? {
            return Err(HttpError::NotFound("a recording at that sample_key".into()));
        }
        let by = format!("model-by-{}", who.subject);
        let run_id = echome_core::RunId::for_upload(&p, &body.sample_key, &by);
        let m = VoiceModel {
            name,
            source: echome_core::library::ModelSource {
                run_id: Some(run_id.clone()),
                sample: Some(sample.clone()),
                ..Default::default()
            },
            metadata,
            ..VoiceModel::new(ModelId::for_run(&run_id), p.clone(), &who.subject, self.engine.name(), now)
        };
        let actor = Actor::User(who);
        let m = if self.records.create_model(&m).await? {
            let detail = json!({ "sample_key": echome_core::redact::phone_numbers(&body.sample_key) });
            ops::audit(&self.records, &actor, AuditAction::Create, &m, detail, now).await?;
            m
        } else {
            let existing = ops::load(&self.records, &actor, &m.id, Act::See).await?;
            let existing = self.settled(existing, now).await?;
            if existing.status != ModelStatus::Pending {
                let active = self.is_active(&existing).await?;
                let view = views::model(&existing, active, &self.library, now);
                return Ok((200, json!({ "model": view, "run_id": run_id })));
            }
            // Asked for before and still pending: its run may never have started (the start
            // failed); recording and starting it again are both idempotent.
            existing
        };
        let run = echome_core::RunRecord::started(run_id.clone(), &p, sample.clone(), now);
        self.records.create_run(&run).await?;
        let input = echome_core::CloneRunInput {
            run_id: run_id.clone(),
            person: p.clone(),
            sample,
            pack: None,
            call: None,
            combine: vec![],
        };
        let started = self.runs.start(&input).await?;
        tracing::info!(run_id = %run_id, model_id = %m.id, ?started, "voice model asked for");
        // 202: a run is now making it; 200: asked for before, its run already going.
        let status = if started == echome_core::RunStart::Started { 202 } else { 200 };
        Ok((status, json!({ "model": views::model(&m, false, &self.library, now), "run_id": run_id })))
    }

    async fn list(&self, req: &ApiGatewayV2httpRequest, who: &Principal) -> Result<(i64, Value), HttpError> {
        let filter = Filter::from(req)?;
        let limit = bounded(req, "limit", 20, 1..=MAX_PAGE as i64)? as usize;
        let cursor = query(req, "cursor")
            .map(|c| {
                echome_core::signing::unhex(&c)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok_or_else(|| HttpError::BadRequest("cursor is not one this API gave out".into()))
            })
            .transpose()?;
        let mut active = HashMap::new();
        let mut out = Vec::new();
        let mut next = None;
        let consider = |m: VoiceModel, active_id: Option<&ModelId>, out: &mut Vec<(VoiceModel, bool)>| {
            let is_active = active_id == Some(&m.id);
            if access::check(who, &m, Act::See) == Verdict::Allowed && filter.matches(&m, is_active) {
                out.push((m, is_active));
            }
        };
        match &filter.person {
            Some(p) => {
                let current = self.records.active_voice(p).await?.map(|a| a.model_id);
                let models = self.records.models_of(p).await?;
                let after =
                    models.into_iter().filter(|m| cursor.as_ref().is_none_or(|c| &port::position(m) > c));
                for m in after {
                    if out.len() == limit {
                        next = out.last().map(|(m, _): &(VoiceModel, bool)| port::position(m));
                        break;
                    }
                    consider(m, current.as_ref(), &mut out);
                }
            }
            None => {
                let mut after = cursor;
                'pages: loop {
                    // Full pages: a user who may see few models would otherwise cost a
                    // query per model.
                    let page = self.records.models(MAX_PAGE, after.as_deref()).await?;
                    for m in page.models {
                        if out.len() == limit {
                            next = out.last().map(|(m, _)| port::position(m));
                            break 'pages;
                        }
                        if !active.contains_key(m.person.as_key()) {
                            let a = self.records.active_voice(&m.person).await?.map(|a| a.model_id);
                            active.insert(m.person.as_key().to_owned(), a);
                        }
                        let current = active.get(m.person.as_key()).cloned().flatten();
                        consider(m, current.as_ref(), &mut out);
                    }
                    match page.next {
                        Some(n) => after = Some(n),
                        None => break,
                    }
                }
            }
        }
        let now = Utc::now();
        let models: Vec<Value> = out.iter().map(|(m, a)| views::model(m, *a, &self.library, now)).collect();
        Ok((
            200,
            json!({ "models": models, "next_cursor": next.map(|n| echome_core::signing::hex(n.as_bytes())) }),
        ))
    }

    /// The library as the user may see it, counted: models by provider and status, active ones,
    /// average quality, uses, characters, their cost, the last use.
    async fn analytics(&self, who: &Principal, now: DateTime<Utc>) -> Result<(i64, Value), HttpError> {
        let mut seen = Vec::new();
        self.each_model(|m| {
            if access::check(who, &m, Act::See) == Verdict::Allowed {
                seen.push(m);
            }
        })
        .await?;
        let mut active = 0;
        let mut pointers: HashMap<String, Option<ModelId>> = HashMap::new();
        for m in &seen {
            if !pointers.contains_key(m.person.as_key()) {
                let a = self.records.active_voice(&m.person).await?.map(|a| a.model_id);
                pointers.insert(m.person.as_key().to_owned(), a);
            }
            if pointers.get(m.person.as_key()).and_then(Option::as_ref) == Some(&m.id) {
                active += 1;
            }
        }
        let entries = if seen.is_empty() { Vec::new() } else { self.records.clones().await? };
        let by_id: HashMap<&ModelId, &VoiceModel> = seen.iter().map(|m| (&m.id, m)).collect();
        let theirs: Vec<&CloneRecord> = entries
            .iter()
            .filter(|e| by_id.get(&ModelId::for_run(&e.run_id)).is_some_and(|m| holds(e, m)))
            .collect();
        Ok((200, views::analytics(&seen, active, &theirs, &self.library, now)))
    }

    async fn each_model(&self, mut f: impl FnMut(VoiceModel)) -> Result<(), HttpError> {
        let mut after = None;
        loop {
            let page = self.records.models(MAX_PAGE, after.as_deref()).await?;
            page.models.into_iter().for_each(&mut f);
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(()),
            }
        }
    }

    async fn is_active(&self, m: &VoiceModel) -> Result<bool, HttpError> {
        Ok(self.records.active_voice(&m.person).await?.is_some_and(|a| a.model_id == m.id))
    }

    async fn views(&self, models: &[VoiceModel], now: DateTime<Utc>) -> Result<Vec<Value>, HttpError> {
        let mut out = Vec::with_capacity(models.len());
        for m in models {
            let m = self.settled(m.clone(), now).await?;
            out.push(views::model(&m, self.is_active(&m).await?, &self.library, now));
        }
        Ok(out)
    }

    /// A model whose clone run failed says so, with the run's error: the state machine records
    /// how the run ended, not the model, so a model still `pending` or `cloning` after its run
    /// failed is marked `failed` when read. Only those two states cost the run's read.
    pub(crate) async fn settled(&self, m: VoiceModel, now: DateTime<Utc>) -> Result<VoiceModel, HttpError> {
        if !matches!(m.status, ModelStatus::Pending | ModelStatus::Cloning) {
            return Ok(m);
        }
        let Some(run_id) = &m.source.run_id else { return Ok(m) };
        let Some(run) = self.records.run(run_id).await? else { return Ok(m) };
        if run.status != echome_core::RunStatus::Failed {
            return Ok(m);
        }
        let error = run.error.clone();
        let failed = ops::update(&self.records, &m.id, now, |x| {
            if matches!(x.status, ModelStatus::Pending | ModelStatus::Cloning) {
                x.status = ModelStatus::Failed;
                x.error = error.clone();
            }
            Ok(())
        })
        .await?;
        Ok(failed)
    }
}
