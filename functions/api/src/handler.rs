//! The HTTP API (API Gateway HTTP API, payload 2.0): `GET /health`, `GET /runs/{run_id}`.
//! Every error becomes a status code in [`ApiError::status`] and a JSON body without internals.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use echome_core::{RunId, RunLog, StorageError};
use serde_json::{Value, json};

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

pub async fn handle<L: RunLog>(runs: &L, req: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let result = route(runs, &req).await;
    match result {
        Ok(body) => respond(200, &body),
        Err(e) => {
            tracing::info!(status = e.status(), code = e.code(), "request refused");
            respond(e.status(), &json!({ "error": { "code": e.code(), "message": e.to_string() } }))
        }
    }
}

async fn route<L: RunLog>(runs: &L, req: &ApiGatewayV2httpRequest) -> Result<Value, ApiError> {
    let path = req.raw_path.as_deref().unwrap_or("/");
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = &req.request_context.http.method;
    match segments.as_slice() {
        ["health"] => {
            expect(method, Method::GET)?;
            Ok(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
        }
        ["runs", id] => {
            expect(method, Method::GET)?;
            let run_id = RunId::parse(id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let run = runs.run(&run_id).await?.ok_or_else(|| ApiError::NotFound(format!("run {run_id}")))?;
            Ok(json!({
                "run_id": run.run_id,
                "caller_id": run.caller_id.redacted(),
                "status": run.status,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "report": run.report,
                "error": run.error.map(|e| json!({ "type": e.error_type, "code": e.code, "message": e.message })),
            }))
        }
        _ => Err(ApiError::NotFound(format!("route {path}"))),
    }
}

fn expect(got: &Method, want: Method) -> Result<(), ApiError> {
    if *got == want { Ok(()) } else { Err(ApiError::MethodNotAllowed(got.to_string())) }
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
