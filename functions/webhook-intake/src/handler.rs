//! webhook-intake (API Gateway HTTP API, payload 2.0): `POST /webhook/3cx-call`,
//! `POST /webhook/post-call`, `POST /webhook/conversation-initiation`. Every request is
//! authenticated before anything is stored or acted on; every refusal is answered with a status
//! from [`IntakeError::status`] and recorded as a `webhook_rejected` event.

pub mod config;
mod elevenlabs;
mod threecx;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use echome_core::calls::record_event;
use echome_core::threecx::WebhookError;
use echome_core::{
    AgentCalls, BlobStore, CallEventKind, CallEventRecord, CallLog, CloneCache, Delivery, RunLog, RunStarter,
    SampleLog, StorageError, WebhookArchive,
};
use serde_json::{Value, json};

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("{0}")]
    Unauthorized(String),
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

impl IntakeError {
    pub fn status(&self) -> i64 {
        match self {
            Self::Webhook(e) => i64::from(e.status()),
            Self::Unauthorized(_) => 401,
            Self::BadRequest(_) => 400,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Webhook(e) => e.code(),
            Self::Unauthorized(_) => "unauthorized",
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl From<StorageError> for IntakeError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %echome_core::redact::phone_numbers(&e.to_string()), "storage failed");
        match e {
            StorageError::Transient(_) => Self::Unavailable,
            StorageError::NotFound(_) | StorageError::Failed(_) => Self::Internal,
        }
    }
}

/// Everything the webhooks act on. One records type serves the call log, the clone cache, the
/// samples and the runs (one DynamoDB table, one local database).
pub struct Intake<R, S, B, A, W> {
    pub records: R,
    pub runs: S,
    /// Transcripts.
    pub blobs: B,
    pub agent: A,
    /// Every authenticated delivery, as received.
    pub archive: W,
    pub config: Config,
}

/// A request as the routes see it: the raw body, lower-case headers, the caller's address.
pub struct Request<'a> {
    pub headers: &'a HeaderMap,
    pub body: Vec<u8>,
    pub source_ip: Option<&'a str>,
    pub now: DateTime<Utc>,
}

impl Request<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl<R, S, B, A, W> Intake<R, S, B, A, W>
where
    R: CallLog + CloneCache + SampleLog + RunLog,
    S: RunStarter,
    B: BlobStore,
    A: AgentCalls,
    W: WebhookArchive,
{
    pub async fn handle(&self, req: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let path = req.raw_path.as_deref().unwrap_or("/").trim_end_matches('/').to_owned();
        let route = path.rsplit('/').next().unwrap_or_default().to_owned();
        let body = match body_bytes(&req) {
            Ok(b) => b,
            Err(e) => return self.refuse(&route, e, Utc::now()).await,
        };
        let request = Request {
            headers: &req.headers,
            body,
            source_ip: Some(req.request_context.http.source_ip.as_deref().unwrap_or_default())
                .filter(|s| !s.is_empty()),
            now: Utc::now(),
        };
        let method = &req.request_context.http.method;
        let result = match path.as_str() {
            "/webhook/3cx-call" | "/webhook/post-call" | "/webhook/conversation-initiation"
                if *method != Method::POST =>
            {
                Err(IntakeError::MethodNotAllowed(method.to_string()))
            }
            "/webhook/3cx-call" => self.threecx(&request).await,
            "/webhook/post-call" => self.post_call(&request).await,
            "/webhook/conversation-initiation" => self.initiation(&request).await,
            _ => Err(IntakeError::NotFound(format!("route {path}"))),
        };
        match result {
            Ok((status, body)) => respond(status, &body),
            Err(e) => self.refuse(&route, e, request.now).await,
        }
    }

    async fn refuse(&self, route: &str, e: IntakeError, now: DateTime<Utc>) -> ApiGatewayV2httpResponse {
        tracing::info!(route, status = e.status(), code = e.code(), "webhook refused");
        if !matches!(e, IntakeError::NotFound(_) | IntakeError::Unavailable | IntakeError::Internal) {
            let ev = CallEventRecord::new(CallEventKind::WebhookRejected, None, now)
                .detail(format!("{route} {}", e.code()));
            record_event(&self.records, ev, self.config.emf).await;
        }
        let message = match &e {
            // A refused signature says only that it was refused.
            IntakeError::Webhook(w) if w.status() == 401 => "the request is not authenticated".to_owned(),
            other => other.to_string(),
        };
        respond(e.status(), &json!({ "error": { "code": e.code(), "message": message } }))
    }

    /// Keeps what an authenticated sender sent, before it is acted on (or refused as
    /// malformed); returns its key.
    async fn keep(&self, source: &str, req: &Request<'_>) -> Result<String, IntakeError> {
        Ok(self.archive.keep(&Delivery { source, received_at: req.now, body: &req.body }).await?)
    }
}

fn body_bytes(req: &ApiGatewayV2httpRequest) -> Result<Vec<u8>, IntakeError> {
    let raw = req.body.as_deref().unwrap_or_default();
    if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| IntakeError::BadRequest("the body is marked base64 but is not".into()))
    } else {
        Ok(raw.as_bytes().to_vec())
    }
}

pub fn respond(status: i64, body: &Value) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut res = ApiGatewayV2httpResponse::default();
    res.status_code = status;
    res.headers = headers;
    res.body = Some(Body::Text(body.to_string()));
    res
}
