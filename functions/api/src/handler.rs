//! The read API (API Gateway HTTP API, payload 2.0): health, clone status, calls, runs,
//! metrics and the OpenAPI description of every route echome serves. Every error becomes a
//! status code in [`ApiError::status`] and a JSON body without internals. Callers' numbers are
//! redacted in every answer.

mod views;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use chrono::{Duration, Utc};
use echome_core::metrics::Metrics;
use echome_core::{CallId, CallLog, CallerId, CloneCache, RunId, RunLog, StorageError, VoiceEngine};
use serde_json::{Value, json};

/// The OpenAPI 3.1 description of every route (the webhooks and this API).
pub const OPENAPI: &str = include_str!("../openapi.json");

pub const MAX_PAGE: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    #[error("storage is busy; try again")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> i64 {
        match self {
            Self::BadRequest(_) => 400,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %echome_core::redact::phone_numbers(&e.to_string()), "storage failed");
        match e {
            StorageError::NotFound(what) => Self::NotFound(what),
            StorageError::Transient(_) => Self::Unavailable,
            StorageError::Failed(_) => Self::Internal,
        }
    }
}

/// The records (one table) and the voice provider, checked by `/health`.
pub struct Api<R, E> {
    pub records: R,
    pub engine: E,
}

impl<R: RunLog + CallLog + CloneCache, E: VoiceEngine> Api<R, E> {
    pub async fn handle(&self, req: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let method = req.request_context.http.method.clone();
        let path = req.raw_path.clone().unwrap_or_else(|| "/".into());
        if method != Method::GET {
            return refuse(ApiError::MethodNotAllowed(method.to_string()));
        }
        match self.route(&path, &req).await {
            Ok((status, body)) => respond(status, &body),
            Err(e) => refuse(e),
        }
    }

    async fn route(&self, path: &str, req: &ApiGatewayV2httpRequest) -> Result<(i64, Value), ApiError> {
        let segments: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["health"] => Ok(self.health().await),
            ["openapi.json"] => {
                serde_json::from_str(OPENAPI).map(|v| (200, v)).map_err(|_| ApiError::Internal)
            }
            ["metrics"] => {
                let hours = match query(req, "hours") {
                    None => 24,
                    Some(raw) => {
                        raw.parse::<i64>().ok().filter(|h| (1..=24 * 31).contains(h)).ok_or_else(|| {
                            ApiError::BadRequest(format!("hours must be 1 to 744, not {raw:?}"))
                        })?
                    }
                };
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
                let (clone, run) =
                    tokio::try_join!(self.records.clone_of(&caller), self.records.latest_run(&caller))?;
                Ok((200, views::clone_status(&caller, clone.as_ref(), run.as_ref(), Utc::now())))
            }
            ["calls", id] => {
                let id = CallId::parse(id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
                let call =
                    self.records.call(&id).await?.ok_or_else(|| ApiError::NotFound(format!("call {id}")))?;
                let events = self.records.call_events(&id).await?;
                Ok((200, views::call(&call, Some(&events))))
            }
            ["callers", caller, "calls"] => {
                let caller = parse_caller(caller)?;
                let limit = match query(req, "limit") {
                    None => 20,
                    Some(l) => {
                        l.parse::<usize>().ok().filter(|l| (1..=MAX_PAGE).contains(l)).ok_or_else(|| {
                            ApiError::BadRequest(format!("limit must be 1 to {MAX_PAGE}, not {l:?}"))
                        })?
                    }
                };
                let cursor = query(req, "cursor")
                    .map(|c| {
                        echome_core::signing::unhex(&c)
                            .and_then(|b| String::from_utf8(b).ok())
                            .ok_or_else(|| ApiError::BadRequest("cursor is not one this API gave out".into()))
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
                let run_id = RunId::parse(id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
                let run = self
                    .records
                    .run(&run_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("run {run_id}")))?;
                Ok((200, views::run(&run)))
            }
            _ => Err(ApiError::NotFound(format!("route {path}"))),
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
        let provider = self.engine.slots().await;
        let (status, code) = match (&table, &provider) {
            (Err(_), _) => ("error", 503),
            (Ok(()), Err(_)) => ("degraded", 200),
            (Ok(()), Ok(_)) => ("ok", 200),
        };
        let check = |ok: bool, err: Option<String>| match err {
            None if ok => json!({ "status": "ok" }),
            e => json!({ "status": "error", "error": e }),
        };
        (
            code,
            json!({
                "status": status,
                "version": env!("CARGO_PKG_VERSION"),
                "checks": {
                    "table": check(table.is_ok(), table.as_ref().err().map(|e| echome_core::redact::phone_numbers(&e.to_string()))),
                    "voice_provider": {
                        "engine": self.engine.name(),
                        "status": if provider.is_ok() { "ok" } else { "error" },
                        "error": provider.as_ref().err().map(|e| e.code.clone()),
                        "voice_slots": provider.as_ref().ok().and_then(|s| *s).map(|(used, limit)| json!({ "used": used, "limit": limit })),
                    },
                },
            }),
        )
    }
}

fn parse_caller(raw: &str) -> Result<CallerId, ApiError> {
    CallerId::parse(raw).map_err(|_| ApiError::BadRequest("caller_id must be an E.164 phone number".into()))
}

fn query(req: &ApiGatewayV2httpRequest, name: &str) -> Option<String> {
    req.raw_query_string.as_deref().unwrap_or_default().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

/// `%2B14155550123` → `+14155550123` (a `+` in a path arrives encoded or not).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn refuse(e: ApiError) -> ApiGatewayV2httpResponse {
    tracing::info!(status = e.status(), code = e.code(), "request refused");
    respond(e.status(), &json!({ "error": { "code": e.code(), "message": e.to_string() } }))
}

fn respond(status: i64, body: &Value) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut res = ApiGatewayV2httpResponse::default();
    res.status_code = status;
    res.headers = headers;
    res.body = Some(Body::Text(body.to_string()));
    res
}
