//! What every HTTP function (webhook-intake, api) shares: one error type with one status map,
//! one error body (`{"error": {"code", "message", "request_id"}}`), and reading API Gateway
//! (HTTP API, payload 2.0) requests. Nothing internal reaches a body: storage and provider
//! failures are logged here and answered with a status and a stable code.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue, header};
use echome_core::auth::AuthError;
use echome_core::threecx::WebhookError;
use echome_core::{StorageError, redact};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A webhook's own secret (not a user token) is wrong.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadRequest(String),
    /// The caller may see the thing but not do this to it.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("method {method} is not allowed here; use {allow}")]
    MethodNotAllowed { method: String, allow: String },
    #[error("{0}")]
    Conflict(String),
    /// The person has not consented to what was asked (the consent policy requires it).
    #[error(transparent)]
    ConsentMissing(#[from] echome_core::people::ConsentMissing),
    #[error("too many requests; try again in {retry_after_s} s")]
    RateLimited { retry_after_s: u32 },
    #[error("storage is busy; try again")]
    Unavailable,
    /// What this deployment cannot do, with what to do instead (an upload URL from a store on
    /// one machine).
    #[error("{0}")]
    NotHere(String),
    #[error("internal error")]
    Internal,
}

impl HttpError {
    pub fn status(&self) -> i64 {
        match self {
            Self::Webhook(e) => i64::from(e.status()),
            Self::Auth(e) => i64::from(e.status()),
            Self::Unauthorized(_) => 401,
            Self::BadRequest(_) => 400,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict(_) | Self::ConsentMissing(_) => 409,
            Self::RateLimited { .. } => 429,
            Self::Unavailable => 503,
            Self::NotHere(_) => 501,
            Self::Internal => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Webhook(e) => e.code(),
            Self::Auth(e) => e.code(),
            Self::Unauthorized(_) => "unauthorized",
            Self::BadRequest(_) => "bad_request",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::ConsentMissing(_) => echome_core::people::ConsentMissing::CODE,
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::NotHere(_) => "not_implemented",
            Self::Internal => "internal",
        }
    }

    /// What the body says: a refused webhook signature says only that it was refused.
    fn message(&self) -> String {
        match self {
            Self::Webhook(w) if w.status() == 401 => "the request is not authenticated".to_owned(),
            other => redact::phone_numbers(&other.to_string()),
        }
    }

    /// The answer: status, `WWW-Authenticate` on a 401 for a token, `Allow` on a 405,
    /// `Retry-After` on a 429 and a 503.
    pub fn response(&self, request_id: Option<&str>) -> ApiGatewayV2httpResponse {
        let body =
            json!({ "error": { "code": self.code(), "message": self.message(), "request_id": request_id } });
        let mut res = respond(self.status(), &body);
        let extra = match self {
            Self::Auth(e) => e.challenge().map(|c| (header::WWW_AUTHENTICATE, c)),
            Self::MethodNotAllowed { allow, .. } => Some((header::ALLOW, allow.clone())),
            Self::RateLimited { retry_after_s } => Some((header::RETRY_AFTER, retry_after_s.to_string())),
            Self::Unavailable => Some((header::RETRY_AFTER, "1".to_owned())),
            _ => None,
        };
        if let Some((name, value)) = extra {
            set_header(&mut res, name, &value);
        }
        res
    }
}

impl From<StorageError> for HttpError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %redact::phone_numbers(&e.to_string()), "storage failed");
        match e {
            StorageError::NotFound(what) => Self::NotFound(redact::phone_numbers(&what)),
            StorageError::Transient(_) => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

impl From<echome_core::library::LibraryError> for HttpError {
    fn from(e: echome_core::library::LibraryError) -> Self {
        use echome_core::library::LibraryError as L;
        let message = e.to_string();
        match e {
            L::NotFound(id) => Self::NotFound(format!("voice model {id}")),
            L::Forbidden(..) => Self::Forbidden(message),
            L::AlreadyActive(_) | L::NotActive(_) | L::NotReady(..) | L::Raced(_) | L::OtherProvider(..) => {
                Self::Conflict(message)
            }
            L::Invalid(_) => Self::BadRequest(message),
            L::Storage(e) => e.into(),
            L::Provider(e) => {
                tracing::error!(code = %e.code, "the voice provider failed");
                Self::Unavailable
            }
        }
    }
}

pub fn set_header(res: &mut ApiGatewayV2httpResponse, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers.insert(name, v);
    }
}

/// A JSON answer.
pub fn respond(status: i64, body: &Value) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut res = ApiGatewayV2httpResponse::default();
    res.status_code = status;
    res.headers = headers;
    res.body = Some(Body::Text(body.to_string()));
    res
}

/// The request's id (API Gateway's, or the one `echome serve` made), for the error body.
pub fn request_id(req: &ApiGatewayV2httpRequest) -> Option<&str> {
    req.request_context.request_id.as_deref()
}

/// A query parameter, percent-decoded; the first of its name.
pub fn query(req: &ApiGatewayV2httpRequest, name: &str) -> Option<String> {
    req.raw_query_string.as_deref().unwrap_or_default().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (!pair.is_empty() && percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// The request's body as sent (API Gateway base64-encodes what is not text).
pub fn body_bytes(req: &ApiGatewayV2httpRequest) -> Result<Vec<u8>, HttpError> {
    use base64::Engine;
    let raw = req.body.as_deref().unwrap_or_default();
    if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| HttpError::BadRequest("the body is marked base64 but is not".into()))
    } else {
        Ok(raw.as_bytes().to_vec())
    }
}

/// The body as JSON of `T`; an empty body is `{}`. A refusal names what is wrong (serde's
/// message, numbers redacted), never echoes the body.
pub fn json_body<T: serde::de::DeserializeOwned>(req: &ApiGatewayV2httpRequest) -> Result<T, HttpError> {
    let bytes = body_bytes(req)?;
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".to_vec() } else { bytes };
    serde_json::from_slice(&bytes)
        .map_err(|e| HttpError::BadRequest(format!("the body is not what this route takes: {e}")))
}

/// `%2B14155550123` → `+14155550123` (a `+` in a path arrives encoded or not).
pub fn percent_decode(s: &str) -> String {
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

/// The token of `Authorization: Bearer <token>`; the scheme in any case (RFC 7235).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_its_status_code_and_headers() {
        let r = HttpError::Auth(AuthError::MissingToken).response(Some("req-1"));
        assert_eq!(r.status_code, 401);
        assert_eq!(r.headers[header::WWW_AUTHENTICATE], r#"Bearer realm="echome""#);
        let Some(Body::Text(body)) = &r.body else { panic!("no body") };
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "unauthenticated");
        assert_eq!(v["error"]["request_id"], "req-1");

        let r = HttpError::MethodNotAllowed { method: "PUT".into(), allow: "GET".into() }.response(None);
        assert_eq!((r.status_code, r.headers[header::ALLOW].to_str().unwrap()), (405, "GET"));
        let r = HttpError::RateLimited { retry_after_s: 17 }.response(None);
        assert_eq!((r.status_code, r.headers[header::RETRY_AFTER].to_str().unwrap()), (429, "17"));
        assert_eq!(HttpError::from(StorageError::Transient("x".into())).status(), 503);
        assert_eq!(
            HttpError::from(StorageError::Failed("secret detail".into())).response(None).status_code,
            500
        );
    }

    #[test]
    fn no_internals_or_numbers_reach_the_body() {
        let r =
            HttpError::from(StorageError::Failed("table t: AccessDenied for role x".into())).response(None);
        let Some(Body::Text(body)) = &r.body else { panic!("no body") };
        assert!(!body.contains("AccessDenied") && body.contains("internal"), "{body}");
        let r = HttpError::NotFound("calls of +14155550123".into()).response(None);
        let Some(Body::Text(body)) = &r.body else { panic!("no body") };
        assert!(!body.contains("4155550"), "{body}");
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc.def"));
        assert_eq!(bearer(&h), Some("abc.def"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("BEARER  xyz "));
        assert_eq!(bearer(&h), Some("xyz"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }
}
