//! `POST /people/{person}/samples/from-url`: a page (YouTube, the other sites yt-dlp knows, any
//! page with an `<audio>`/`<video>`) or a media link becomes a named person's sample. The API
//! only files the request (`inbox/url-samples/…`, whose upload event starts fetch-sample) and
//! its source record; `GET …/from-url/{id}` shows what became of it. The API never makes the
//! request itself: a URL someone else supplied is fetched inside the fence, in the background.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use chrono::{DateTime, Utc};
use echome_core::auth::{Principal, TokenVerifier};
use echome_core::library::VoiceLibrary;
use echome_core::limits::RateLimiter;
use echome_core::people::{ConsentScope, People, consent_verdict};
use echome_core::url_samples::{SourceUrl, UrlSampleId, UrlSampleRequest, UrlSampleSource, source_key};
use echome_core::{
    BlobRef, BlobStore, CallLog, CloneCache, ReferenceVoices, RunLog, RunStarter, StorageError, VoiceEngine,
    WebhookArchive,
};
use echome_http::{HttpError, json_body};
use serde::Deserialize;
use serde_json::{Value, json};

use super::people::person;
use super::{Api, ProviderProbe};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromUrlBody {
    url: String,
}

/// A source record as answers show it, with where to ask again.
fn source_view(s: &UrlSampleSource) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_else(|_| json!({}));
    v["status_path"] = json!(format!("/people/{}/samples/from-url/{}", s.person.as_key(), s.id));
    v
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
    pub(crate) async fn sample_from_url(
        &self,
        raw_person: &str,
        req: &ApiGatewayV2httpRequest,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<(i64, Value), HttpError> {
        let p = person(raw_person)?;
        let body: FromUrlBody = json_body(req)?;
        // A caller's samples come from their calls; their key (and the status path) would
        // also hold their whole number.
        if p.caller().is_some() {
            return Err(HttpError::BadRequest(
                "samples from a URL are for named people (POST /people); a caller's come from their calls"
                    .into(),
            ));
        }
        let url = SourceUrl::parse(&body.url).map_err(|e| HttpError::BadRequest(e.to_string()))?;
        self.known(&p).await?;
        // Refused now rather than by fetch-sample later.
        consent_verdict(&self.records, self.consent, &p, ConsentScope::Clone).await??;
        let request = UrlSampleRequest::new(p, url, &who.subject, now);
        let source = echome_core::url_samples::file(&self.blobs, &self.bucket, &request).await?;
        tracing::info!(id = %request.id, person = %request.person, url = %request.url, by = %who.subject, "a sample from a URL was asked for");
        Ok((202, source_view(&source)))
    }

    pub(crate) async fn url_sample(&self, raw_person: &str, raw_id: &str) -> Result<(i64, Value), HttpError> {
        let p = person(raw_person)?;
        let id = UrlSampleId::parse(raw_id).map_err(|e| HttpError::BadRequest(e.to_string()))?;
        let not_found = || HttpError::NotFound(format!("URL sample {id} of {p}"));
        let body = match self.blobs.get_bytes(&BlobRef::new(&self.bucket, source_key(&p, &id))).await {
            Ok(b) => b,
            Err(StorageError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        let source: UrlSampleSource = serde_json::from_slice(&body).map_err(|e| {
            tracing::error!(id = %id, error = %e, "a URL sample's record does not parse");
            HttpError::Internal
        })?;
        Ok((200, source_view(&source)))
    }
}
