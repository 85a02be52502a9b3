//! webhook-intake (API Gateway HTTP API, payload 2.0): `POST /webhook/3cx-call`,
//! `POST /webhook/post-call`, `POST /webhook/conversation-initiation`. Every request is
//! authenticated before anything is stored or acted on; every refusal is answered through the
//! shared [`HttpError`] and counted as a `webhook_rejected` metric, never written to the table
//! (a flood of forged requests costs no storage).

pub mod config;
mod conversation_audio;
mod elevenlabs;
mod threecx;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::http::{HeaderMap, Method};
use chrono::{DateTime, Utc};
use echome_core::People;
use echome_core::{
    AgentCalls, BlobStore, CallEventKind, CallEventRecord, CallLog, CloneCache, Delivery, RunLog, RunStarter,
    SampleLog, WebhookArchive,
};
use echome_http::body_bytes;
pub use echome_http::{HttpError, respond};

pub use config::Config;

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
    R: CallLog + CloneCache + SampleLog + RunLog + People,
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
            Err(e) => return self.refuse(&route, e, Utc::now(), echome_http::request_id(&req)),
        };
        let request = Request {
            headers: &req.headers,
            body,
            source_ip: Some(req.request_context.http.source_ip.as_deref().unwrap_or_default())
                .filter(|s| !s.is_empty()),
            now: Utc::now(),
        };
        let method = &req.request_context.http.method;
        let request_id = echome_http::request_id(&req).map(str::to_owned);
        let result = match path.as_str() {
            "/webhook/3cx-call" | "/webhook/post-call" | "/webhook/conversation-initiation"
                if *method != Method::POST =>
            {
                Err(HttpError::MethodNotAllowed { method: method.to_string(), allow: "POST".into() })
            }
            "/webhook/3cx-call" => self.threecx(&request).await,
            "/webhook/post-call" => self.post_call(&request).await,
            "/webhook/conversation-initiation" => self.initiation(&request).await,
            _ => Err(HttpError::NotFound(format!("route {path}"))),
        };
        match result {
            Ok((status, body)) => respond(status, &body),
            Err(e) => self.refuse(&route, e, request.now, request_id.as_deref()),
        }
    }

    /// Answers a refusal and counts it: metrics only, nothing stored.
    fn refuse(
        &self,
        route: &str,
        e: HttpError,
        now: DateTime<Utc>,
        request_id: Option<&str>,
    ) -> ApiGatewayV2httpResponse {
        tracing::info!(route, status = e.status(), code = e.code(), "webhook refused");
        if !matches!(e, HttpError::NotFound(_) | HttpError::Unavailable | HttpError::Internal) {
            let ev = CallEventRecord::new(CallEventKind::WebhookRejected, None, now)
                .detail(format!("{route} {}", e.code()));
            self.config.metrics.record(&ev);
        }
        e.response(request_id)
    }

    /// Keeps what an authenticated sender sent, before it is acted on (or refused as
    /// malformed); returns its key.
    async fn keep(&self, source: &str, req: &Request<'_>) -> Result<String, HttpError> {
        Ok(self.archive.keep(&Delivery { source, received_at: req.now, body: &req.body }).await?)
    }
}
