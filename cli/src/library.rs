//! `echome voices` on the library goes through the API's handler, as `echome serve` does: one
//! implementation of the routes, their access rules, limits and audit. The person at the
//! terminal owns the data dir, so they act as its admin (`ECHOME_USER`, else `$USER`).

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequest,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::Method;
use echome_auth::Verifier;
use echome_core::StepError;
use echome_core::library::LibrarySettings;
use echome_local::InProcessLimiter;
use serde_json::Value;

use crate::engine::Engine;
use crate::local::Local;

/// Who the terminal's user is to the library.
pub(crate) fn local_user() -> String {
    std::env::var("ECHOME_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "local-admin".into())
}

/// Answers `method path` (with a JSON body) as the API would for the local admin; a refusal is
/// the step error the API's body names.
pub async fn call(
    local: &Local,
    method: Method,
    path_and_query: &str,
    body: Option<Value>,
) -> Result<Value, StepError> {
    let api = api::Api {
        records: local.records.clone(),
        tokens: Verifier::from_env(&local.data_dir).await.map_err(StepError::invalid_input)?,
        limiter: InProcessLimiter::default(),
        limits: Default::default(),
        provider: api::ProviderCheck::new(api::Offline),
        engine: Engine::from_env()?,
        // A model asked for is cloned here and now, as `echome run` does.
        runs: local.runner(30.0, Engine::from_env()?, crate::agent::Agent::from_env()?, |_| {})?,
        blobs: local.blobs.clone(),
        bucket: crate::local::BUCKET.into(),
        library: LibrarySettings::from_env().map_err(StepError::invalid_input)?,
        consent: echome_core::ConsentPolicy::from_env().map_err(StepError::invalid_input)?,
        archive: local.records.clone(),
        erasure_key: Some(local.erasure_key()?),
    };
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut req = ApiGatewayV2httpRequest::default();
    req.raw_path = Some(path.to_owned());
    req.raw_query_string = Some(query.to_owned());
    req.request_context.http.method = method;
    req.request_context.http.path = Some(path.to_owned());
    req.request_context.request_id = Some("cli".into());
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.claims.insert("sub".into(), local_user());
    jwt.claims.insert("roles".into(), "[admin]".into());
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.jwt = Some(jwt);
    req.request_context.authorizer = Some(authorizer);
    req.body = body.map(|b| b.to_string());
    let res = api.handle(req).await;
    let text = match res.body {
        Some(Body::Text(t)) => t,
        _ => String::new(),
    };
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if (200..300).contains(&res.status_code) {
        return Ok(value);
    }
    let code = value["error"]["code"].as_str().unwrap_or("failed").to_owned();
    let message = value["error"]["message"].as_str().unwrap_or("the library refused").to_owned();
    let kind = if res.status_code >= 500 {
        echome_core::ErrorType::Internal
    } else {
        echome_core::ErrorType::InvalidInput
    };
    Err(StepError::new(kind, code, message))
}

/// Copies the archive an export or backup answered with (a `file://` link locally) to `out`.
pub fn fetch(answer: &Value, out: &std::path::Path) -> Result<(), StepError> {
    let url = answer["download_url"].as_str().unwrap_or_default();
    let path = url
        .strip_prefix("file://")
        .ok_or_else(|| StepError::internal(format!("not a local archive: {url}")))?;
    std::fs::copy(path, out)
        .map(|_| ())
        .map_err(|e| StepError::invalid_input(format!("writing {}: {e}", out.display())))
}

/// A backup id as given, or the id of the archive file given, which is first put where the
/// data dir keeps backups (an archive from another machine restores here too).
pub async fn backup_on_file(local: &Local, given: &str) -> Result<String, StepError> {
    use echome_core::BlobStore;
    let file = std::path::Path::new(given);
    if !file.is_file() {
        return Ok(given.to_owned());
    }
    let bad = |e: String| StepError::invalid_input(format!("{given} is not a backup archive: {e}"));
    let mut tar = tar::Archive::new(std::fs::File::open(file).map_err(|e| bad(e.to_string()))?);
    let mut record = None;
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if entry.path().is_ok_and(|p| p.as_os_str() == "backup.json") {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| bad(e.to_string()))?;
            record = Some(bytes);
            break;
        }
    }
    let bytes = record.ok_or_else(|| bad("it has no backup.json".into()))?;
    let id = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v["id"].as_str().map(str::to_owned));
    let id = id.ok_or_else(|| bad("its backup.json names no backup".into()))?;
    let key = |name: &str| echome_core::BlobRef::new(crate::local::BUCKET, format!("backups/{id}/{name}"));
    local.blobs.upload_from(&key("archive.tar"), file, "application/x-tar").await?;
    local.blobs.put_bytes(&key("backup.json"), bytes, "application/json").await?;
    Ok(id)
}

/// `path?k=v&…` with each value percent-encoded.
pub fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let pairs: Vec<String> =
        params.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v)))).collect();
    if pairs.is_empty() { path.to_owned() } else { format!("{path}?{}", pairs.join("&")) }
}

/// Percent-encodes all but unreserved characters (a `+` of a number included).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
