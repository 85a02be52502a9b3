//! People and their consent: `POST /people` names someone who is not a caller (an employee),
//! `GET /people/{person}` shows them with their consent and active voice, and
//! `/people/{person}/consent` records, shows and revokes consent (revoking deletes their
//! voices). Callers are known by their number and need no record of their own.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::http::Method;
use chrono::{DateTime, Utc};
use echome_core::auth::{Principal, Role, TokenVerifier};
use echome_core::library::{ActiveVoice, Person, VoiceLibrary};
use echome_core::limits::RateLimiter;
use echome_core::people::erase::{EraseError, ErasureReceipt, erase};
use echome_core::people::revoke::{RevokeError, revoke};
use echome_core::people::{
    ConsentMethod, ConsentRecord, ConsentScope, Evidence, People, PersonKind, PersonRecord,
};
use echome_core::{
    BlobStore, CallLog, CloneCache, ReferenceVoices, RunLog, RunRecord, RunStarter, VoiceEngine,
    WebhookArchive, redact,
};
use echome_http::{HttpError, json_body};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Access, Api, ProviderProbe};

/// The methods each people route takes, with who may call them; `None`: not a people route.
pub(crate) fn routes(segments: &[&str]) -> Option<Vec<(Method, Access)>> {
    let viewer = Access::Role(Role::Viewer);
    let operator = Access::Role(Role::Operator);
    Some(match segments {
        ["people"] => vec![(Method::POST, operator)],
        // Erasure deletes everything of a person: the admin's.
        ["people", _] => vec![(Method::GET, viewer), (Method::DELETE, Access::Role(Role::Admin))],
        ["erasures"] => vec![(Method::GET, Access::Role(Role::Admin))],
        ["people", _, "samples"] => vec![(Method::POST, operator)],
        ["people", _, "samples", "from-url"] => vec![(Method::POST, operator)],
        ["people", _, "samples", "from-url", _] => vec![(Method::GET, viewer)],
        ["people", _, "consent"] => {
            vec![(Method::GET, viewer), (Method::POST, operator), (Method::DELETE, operator)]
        }
        _ => return None,
    })
}

/// A person a route names: one on record may have an id from before a letter was needed.
pub(crate) fn person(raw: &str) -> Result<Person, HttpError> {
    Person::from_record(raw).map_err(|e| HttpError::BadRequest(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    id: String,
    display_name: String,
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    given_by: String,
    method: String,
    #[serde(default)]
    scope: Option<Vec<String>>,
    #[serde(default)]
    evidence: Option<String>,
}

/// A receipt as answers show it: kinds and counts, no number.
pub(crate) fn receipt_view(r: &ErasureReceipt) -> Value {
    json!({
        "id": r.id,
        "person_hash": r.person_hash,
        "person_kind": r.person_kind,
        "requested_by": r.requested_by,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "status": r.status,
        "deleted": r.deleted,
        "total_deleted": r.deleted.values().sum::<u64>(),
    })
}

/// A consent record as answers show it: numbers redacted (the person's, and any in the
/// evidence's key, such as `samples/{caller}/…`).
pub(crate) fn consent_view(c: &ConsentRecord) -> Value {
    json!({
        "person": c.person.to_string(),
        "status": if c.is_revoked() { "revoked" } else { "granted" },
        "given_by": redact::phone_numbers(&c.given_by),
        "method": c.method.as_str(),
        "scope": c.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "evidence": c.evidence.as_ref().map(|e| redact::phone_numbers(e.as_str())),
        "granted_at": c.granted_at,
        "recorded_by": c.recorded_by,
        "revoked_at": c.revoked_at,
        "revoked_by": c.revoked_by,
    })
}

fn person_view(
    id: &Person,
    rec: Option<&PersonRecord>,
    consent: Option<&ConsentRecord>,
    active: Option<&ActiveVoice>,
    latest_run: Option<&RunRecord>,
) -> Value {
    json!({
        "id": id.to_string(),
        "kind": rec.map_or("caller", |r| r.kind.as_str()),
        "display_name": rec.map(|r| r.display_name.clone()),
        "created_by": rec.map(|r| r.created_by.clone()),
        "created_at": rec.map(|r| r.created_at),
        "consent": consent.map(consent_view),
        "active_voice_model": active.map(|a| a.model_id.to_string()),
        // The provider's voice id, for whoever speaks as them (a call, POST /speech).
        "active_voice_id": active.map(|a| a.voice_id.to_string()),
        // Where their recordings go (a caller's folder is their number: not shown).
        "samples_folder": id.caller().is_none().then(|| id.samples_prefix()),
        // Their newest clone run, and how it ended: an upload's run has no id to ask for.
        "latest_run": latest_run.map(|r| json!({
            "run_id": r.run_id,
            "status": r.status,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "error_code": r.error.as_ref().map(|e| e.code.clone()),
        })),
    })
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
    pub(crate) async fn people(
        &self,
        segments: &[&str],
        req: &ApiGatewayV2httpRequest,
        who: &Principal,
    ) -> Result<(i64, Value), HttpError> {
        let method = req.request_context.http.method.clone();
        if method != Method::GET {
            self.count(&format!("{}#library-changes", who.subject), self.library.update_limit).await?;
        }
        let now = Utc::now();
        match (segments, method) {
            (["people"], _) => self.create_person(req, who, now).await,
            (["people", p, "samples"], _) => self.add_sample(p, req, who, now).await,
            (["people", p, "samples", "from-url"], _) => self.sample_from_url(p, req, who, now).await,
            (["people", p, "samples", "from-url", id], _) => self.url_sample(p, id).await,
            (["people", p], Method::DELETE) => {
                let p = person(p)?;
                let Some(key) = self.erasure_key.as_ref() else {
                    tracing::error!(
                        "no erasure hash key (ERASURE_HASH_KEY_PARAMETER's SecureString): erasure is unavailable"
                    );
                    return Err(HttpError::Internal);
                };
                let receipt =
                    erase(&self.records, &self.engine, &self.blobs, &self.archive, &self.bucket, key, &p, &who.subject, now)
                        .await
                        .map_err(|e| match e {
                            EraseError::Storage(e) => HttpError::from(e),
                            e @ EraseError::OtherProvider(..) => HttpError::Conflict(e.to_string()),
                            EraseError::Provider(e) => {
                                tracing::error!(code = %e.code, "the voice provider failed during an erasure; a retry resumes it");
                                HttpError::Unavailable
                            }
                        })?;
                Ok((200, receipt_view(&receipt)))
            }
            (["erasures"], _) => {
                let all = self.records.erasures().await?;
                Ok((200, json!({ "erasures": all.iter().rev().map(receipt_view).collect::<Vec<_>>() })))
            }
            (["people", p], _) => {
                let p = person(p)?;
                let rec = self.known(&p).await?;
                let consent = self.records.consent(&p).await?;
                let active = self.records.active_voice(&p).await?;
                let run = self.records.latest_run(&p).await?;
                Ok((200, person_view(&p, rec.as_ref(), consent.as_ref(), active.as_ref(), run.as_ref())))
            }
            (["people", p, "consent"], Method::GET) => {
                let p = person(p)?;
                self.known(&p).await?;
                match self.records.consent(&p).await? {
                    Some(c) => Ok((200, consent_view(&c))),
                    None => Err(HttpError::NotFound(format!("consent of {p}"))),
                }
            }
            (["people", p, "consent"], Method::POST) => {
                let p = person(p)?;
                self.known(&p).await?;
                let body: ConsentBody = json_body(req)?;
                let consent = grant(p, body, &who.subject, now)?;
                self.records.save_consent(&consent).await?;
                tracing::info!(person = %consent.person, method = consent.method.as_str(), by = %who.subject, "consent recorded");
                Ok((201, consent_view(&consent)))
            }
            (["people", p, "consent"], _) => {
                let p = person(p)?;
                self.known(&p).await?;
                let done = revoke(&self.records, &self.engine, &self.blobs, &p, &who.subject, now)
                    .await
                    .map_err(|e| match e {
                        RevokeError::NoConsent(_) => HttpError::NotFound(format!("consent of {p}")),
                        RevokeError::Library(e) => e.into(),
                    })?;
                tracing::info!(person = %p, deleted = done.deleted_models.len(), by = %who.subject, "consent revoked");
                Ok((
                    200,
                    json!({ "consent": consent_view(&done.consent), "deleted_models": done.deleted_models }),
                ))
            }
            _ => Err(HttpError::Internal),
        }
    }

    /// A named person's record; a caller has none and needs none. An unknown name is 404.
    pub(crate) async fn known(&self, p: &Person) -> Result<Option<PersonRecord>, HttpError> {
        if p.caller().is_some() {
            return Ok(None);
        }
        match self.records.person(p).await? {
            Some(rec) => Ok(Some(rec)),
            None => Err(HttpError::NotFound(format!("person {p}"))),
        }
    }

    async fn create_person(
        &self,
        req: &ApiGatewayV2httpRequest,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<(i64, Value), HttpError> {
        let body: CreateBody = json_body(req)?;
        // A new id is held to today's rule (it holds a letter).
        let id = Person::parse(&body.id).map_err(|e| HttpError::BadRequest(e.to_string()))?;
        let kind = PersonKind::parse(&body.kind).map_err(|e| HttpError::BadRequest(e.to_string()))?;
        let rec = PersonRecord::new(id, &body.display_name, kind, &who.subject, now)
            .map_err(|e| HttpError::BadRequest(e.to_string()))?;
        if !self.records.create_person(&rec).await? {
            return Err(HttpError::Conflict(format!("person {} already exists", rec.id)));
        }
        Ok((201, person_view(&rec.id, Some(&rec), None, None, None)))
    }
}

fn grant(p: Person, body: ConsentBody, by: &str, now: DateTime<Utc>) -> Result<ConsentRecord, HttpError> {
    let bad = |e: echome_core::people::ConsentError| HttpError::BadRequest(e.to_string());
    let method = ConsentMethod::parse(&body.method).map_err(bad)?;
    let scopes = match &body.scope {
        None => [ConsentScope::Clone, ConsentScope::Speech].into(),
        Some(list) => ConsentScope::parse_list(list.iter().map(String::as_str)).map_err(bad)?,
    };
    let evidence = body.evidence.as_deref().map(Evidence::parse).transpose().map_err(bad)?;
    ConsentRecord::grant(p, &body.given_by, method, scopes, evidence, by, now).map_err(bad)
}
