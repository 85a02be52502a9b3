//! The read API (API Gateway HTTP API, payload 2.0): health, clone status, calls, runs,
//! metrics and the OpenAPI description of every route echome serves.
//!
//! Every route but `/openapi.json` and a bare `/health` needs a bearer token: in AWS the
//! gateway's JWT authorizer verifies it and passes its claims; `echome serve` (and an open
//! route asked for more, `/health?detail`) verifies it through [`TokenVerifier`]. Either way
//! the role and subject are checked here, and each subject is rate limited. Errors are answered
//! through [`HttpError`]; callers' numbers are redacted in every answer.

mod archive;
mod backup;
mod library;
mod model_views;
mod people;
mod provider;
mod samples;
mod url_samples;
mod views;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::http::Method;
use chrono::{Duration, Utc};
use echome_core::People;
use echome_core::auth::{AuthError, Principal, Role, TokenVerifier};
use echome_core::library::LibrarySettings;
use echome_core::limits::{RateDecision, RateLimiter, RoleLimits};
use echome_core::metrics::Metrics;
use echome_core::speaker_accept::{AcceptError, accept_speaker};
use echome_core::{
    BlobStore, CallId, CallLog, CallerId, CloneCache, Person, ReferenceVoices, RunId, RunLog, RunStarter,
    StorageError, VoiceEngine, VoiceLibrary, WebhookArchive,
};
use echome_http::{HttpError, percent_decode, query, respond};
use serde_json::{Value, json};

pub use provider::{Offline, ProviderCheck, ProviderProbe, ProviderStatus, Reachability};

/// The OpenAPI 3.1 description of every route (the webhooks and this API).
pub const OPENAPI: &str = include_str!("../openapi.json");

pub const MAX_PAGE: usize = 100;

/// The records (one table), who may ask, how often, the voice provider `/health` checks, and
/// what the voice library needs: the engine (deleting a model deletes its voice there), the
/// clone runs a new model starts, the recordings it is made from, and its rules.
pub struct Api<R, T, L, P, E, S, B, W> {
    pub records: R,
    pub tokens: T,
    pub limiter: L,
    pub limits: RoleLimits,
    pub provider: ProviderCheck<P>,
    pub engine: E,
    pub runs: S,
    pub blobs: B,
    /// Where recordings are (`BUCKET_NAME`; `recordings` locally).
    pub bucket: String,
    pub library: LibrarySettings,
    /// Whether a model asked for needs its person's consent first (`CONSENT_POLICY`).
    pub consent: echome_core::ConsentPolicy,
    /// Where webhook deliveries are kept (S3 in AWS, the records locally): an erasure deletes
    /// the ones that name the person.
    pub archive: W,
    /// The key of the hash erasure receipts name people by; `None` (its secret missing) leaves
    /// every route but erasure working.
    pub erasure_key: Option<echome_core::people::ErasureKey>,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Open,
    /// Any of the roles (the call centre's data is visible to its viewers).
    Role(Role),
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
    pub async fn handle(&self, req: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let request_id = echome_http::request_id(&req).map(str::to_owned);
        match self.answer(&req).await {
            Ok((status, body)) => respond(status, &body),
            Err(e) => {
                tracing::info!(status = e.status(), code = e.code(), "request refused");
                e.response(request_id.as_deref())
            }
        }
    }

    async fn answer(&self, req: &ApiGatewayV2httpRequest) -> Result<(i64, Value), HttpError> {
        let path = req.raw_path.clone().unwrap_or_else(|| "/".into());
        let segments: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let methods = match segments.as_slice() {
            ["openapi.json"] => vec![(Method::GET, Access::Open)],
            ["health"] if query(req, "detail").is_none() => vec![(Method::GET, Access::Open)],
            ["health"]
            | ["metrics"]
            | ["api", "clone-status", _]
            | ["calls", _]
            | ["callers", _, "calls"]
            | ["runs", _] => vec![(Method::GET, Access::Role(Role::Viewer))],
            ["runs", _, "accept-speaker"] => vec![(Method::POST, Access::Role(Role::Operator))],
            other => library::routes(other)
                .or_else(|| people::routes(other))
                .ok_or_else(|| HttpError::NotFound(format!("route {path}")))?,
        };
        let method = &req.request_context.http.method;
        let Some(&(_, access)) = methods.iter().find(|(m, _)| m == method) else {
            let allow = methods.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ");
            return Err(HttpError::MethodNotAllowed { method: method.to_string(), allow });
        };
        let mut who = None;
        if let Access::Role(needed) = access {
            let principal = self.principal(req).await?;
            principal.require(needed)?;
            self.count(&principal.subject, self.limits.of(principal.role)).await?;
            who = Some(principal);
        }
        self.route(&segments, req, who.as_ref()).await
    }

    /// The gateway's verified claims when it passed them; otherwise the bearer token, verified.
    async fn principal(&self, req: &ApiGatewayV2httpRequest) -> Result<Principal, HttpError> {
        let gateway = req.request_context.authorizer.as_ref().and_then(|a| a.jwt.as_ref());
        if let Some(jwt) = gateway.filter(|j| !j.claims.is_empty()) {
            return Ok(Principal::from_claims(&jwt.claims, jwt.scopes.as_deref().unwrap_or_default())?);
        }
        let token = echome_http::bearer(&req.headers).ok_or(AuthError::MissingToken)?;
        let (claims, scopes) = self.tokens.verify(token).await?;
        Ok(Principal::from_claims(&claims, &scopes)?)
    }

    /// One request of `subject` against `limit` (the role's per-minute limit; the library's
    /// hourly ones count `{subject}#{kind}`).
    pub(crate) async fn count(
        &self,
        subject: &str,
        limit: echome_core::limits::Limit,
    ) -> Result<(), HttpError> {
        match self.limiter.hit(subject, limit, Utc::now()).await? {
            RateDecision::Allowed { .. } => Ok(()),
            RateDecision::Limited { retry_after_s } => {
                tracing::info!(subject = %subject, retry_after_s, "rate limited");
                Err(HttpError::RateLimited { retry_after_s })
            }
        }
    }

    async fn route(
        &self,
        segments: &[&str],
        req: &ApiGatewayV2httpRequest,
        who: Option<&Principal>,
    ) -> Result<(i64, Value), HttpError> {
        match segments {
            ["health"] if query(req, "detail").is_some() => Ok(self.health().await),
            ["health"] => Ok((200, json!({ "status": "ok" }))),
            ["openapi.json"] => {
                serde_json::from_str(OPENAPI).map(|v| (200, v)).map_err(|_| HttpError::Internal)
            }
            ["metrics"] => {
                let hours = bounded(req, "hours", 24, 1..=24 * 31)?;
                let to = Utc::now();
                let events = self.records.events_between(to - Duration::hours(hours), to).await?;
                let metrics = Metrics::from_events(&events);
                Ok((
                    200,
                    json!({ "window_hours": hours, "from": to - Duration::hours(hours), "to": to, "metrics": metrics }),
                ))
            }
            ["api", "clone-status", caller] => {
                let caller = parse_caller(caller)?;
                let person = Person::from(&caller);
                let (clone, run) =
                    tokio::try_join!(self.records.clone_of(&person), self.records.latest_run(&person))?;
                let quality = match &clone {
                    Some(c) => self.records.quality_of(&person, &c.voice_id).await?,
                    None => None,
                };
                let now = Utc::now();
                Ok((200, views::clone_status(&caller, clone.as_ref(), run.as_ref(), quality.as_ref(), now)))
            }
            ["calls", id] => {
                let id = CallId::parse(id).map_err(|e| HttpError::BadRequest(e.to_string()))?;
                let call =
                    self.records.call(&id).await?.ok_or_else(|| HttpError::NotFound(format!("call {id}")))?;
                let events = self.records.call_events(&id).await?;
                Ok((200, views::call(&call, Some(&events))))
            }
            ["callers", caller, "calls"] => {
                let caller = parse_caller(caller)?;
                let limit = bounded(req, "limit", 20, 1..=MAX_PAGE as i64)? as usize;
                // Opaque to clients; any hex is a position in the caller's calls.
                let cursor = query(req, "cursor")
                    .map(|c| {
                        echome_core::signing::unhex(&c)
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .ok_or_else(|| {
                                HttpError::BadRequest("cursor is not one this API gave out".into())
                            })
                    })
                    .transpose()?;
                let page = self.records.calls_of(&caller, limit, cursor.as_deref()).await?;
                Ok((
                    200,
                    json!({
                        "caller_id": caller.redacted(),
                        "calls": page.calls.iter().map(|c| views::call(c, None)).collect::<Vec<_>>(),
                        "next_cursor": page.next.map(|n| echome_core::signing::hex(n.as_bytes())),
                    }),
                ))
            }
            ["runs", id] => {
                let run_id = RunId::parse(id).map_err(|e| HttpError::BadRequest(e.to_string()))?;
                let run = self
                    .records
                    .run(&run_id)
                    .await?
                    .ok_or_else(|| HttpError::NotFound(format!("run {run_id}")))?;
                let log = self.records.clone_log(&run_id).await?;
                let check = log.iter().rev().find_map(|l| l.speaker_check.as_ref());
                // The voice's measured quality, while it is still the caller's voice.
                let quality = match &run.voice_id {
                    Some(voice) => self.records.quality_of(&run.person, voice).await?,
                    None => None,
                };
                Ok((200, views::run(&run, check, quality.as_ref(), log.last())))
            }
            ["runs", id, "accept-speaker"] => {
                let run_id = RunId::parse(id).map_err(|e| HttpError::BadRequest(e.to_string()))?;
                let by = who.ok_or(HttpError::Internal)?.subject.as_str();
                let (reference, check) =
                    accept_speaker(&self.records, &run_id, by, Utc::now()).await.map_err(|e| match e {
                        AcceptError::UnknownRun(run) => HttpError::NotFound(format!("run {run}")),
                        AcceptError::Storage(e) => HttpError::from(e),
                        other => HttpError::Conflict(other.to_string()),
                    })?;
                Ok((200, views::accepted(&reference, &check)))
            }
            ["people"]
            | ["people", _]
            | ["people", _, "consent" | "samples"]
            | ["people", _, "samples", "from-url"]
            | ["people", _, "samples", "from-url", _]
            | ["erasures"] => self.people(segments, req, who.ok_or(HttpError::Internal)?).await,
            library_route => self.library(library_route, req, who.ok_or(HttpError::Internal)?).await,
        }
    }

    /// `ok`: the table and the provider answer; `degraded`: the provider does not (calls fall
    /// back to the default voice); `error`: the table does not (nothing works).
    async fn health(&self) -> (i64, Value) {
        let probe = CallId::parse("health-check").map_err(|e| StorageError::Failed(e.to_string()));
        let table = match probe {
            Ok(id) => self.records.call(&id).await.map(|_| ()),
            Err(e) => Err(e),
        };
        let provider = self.provider.status().await;
        let (status, code) = match (&table, provider.ok) {
            (Err(_), _) => ("error", 503),
            (Ok(()), false) => ("degraded", 200),
            (Ok(()), true) => ("ok", 200),
        };
        (
            code,
            json!({
                "status": status,
                "version": env!("CARGO_PKG_VERSION"),
                "checks": {
                    "table": match &table {
                        Ok(()) => json!({ "status": "ok" }),
                        Err(e) => json!({ "status": "error", "error": storage_code(e) }),
                    },
                    "voice_provider": provider.view(),
                },
            }),
        )
    }
}

/// What `/health?detail` says of a failed table check: the kind, never the details.
fn storage_code(e: &StorageError) -> &'static str {
    match e {
        StorageError::Transient(_) => "unavailable",
        StorageError::NotFound(_) => "not_found",
        _ => "failed",
    }
}

/// An integer query parameter within `range`, or `default` when absent.
pub(crate) fn bounded(
    req: &ApiGatewayV2httpRequest,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, HttpError> {
    match query(req, name) {
        None => Ok(default),
        Some(raw) => raw.parse::<i64>().ok().filter(|v| range.contains(v)).ok_or_else(|| {
            HttpError::BadRequest(format!("{name} must be {} to {}, not {raw:?}", range.start(), range.end()))
        }),
    }
}

fn parse_caller(raw: &str) -> Result<CallerId, HttpError> {
    CallerId::parse(raw).map_err(|_| HttpError::BadRequest("caller_id must be an E.164 phone number".into()))
}
