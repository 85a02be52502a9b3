//! `POST /people/{person}/samples`: a recording of a person becomes their voice. Either a
//! recording already in their folder (`sample_key`: a voice model and its clone run, as
//! `POST /voice-models` makes them), or an upload URL for a new one (`file_name`): a presigned
//! PUT into a named person's `samples/{person}/`, whose upload event starts the run, so a file
//! of any size never passes through the API.

use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use chrono::{DateTime, Utc};
use echome_core::auth::{Principal, TokenVerifier};
use echome_core::ids::{MAX_SAMPLE_BYTES, safe_file_name};
use echome_core::library::{Person, VoiceLibrary};
use echome_core::limits::RateLimiter;
use echome_core::people::{ConsentScope, People, consent_verdict};
use echome_core::{
    BlobRef, BlobStore, CallLog, CloneCache, ReferenceVoices, RunLog, RunStarter, VoiceEngine, WebhookArchive,
};
use echome_http::{HttpError, json_body};
use serde::Deserialize;
use serde_json::{Value, json};

use super::library::CreateBody;
use super::{Api, ProviderProbe};

/// How long an upload URL stays valid: long enough to start a large upload on a slow line.
pub const UPLOAD_URL_VALID: Duration = Duration::from_secs(15 * 60);
/// A file name in a sample's key, at most this many characters.
const MAX_FILE_NAME_CHARS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleBody {
    #[serde(default)]
    sample_key: Option<String>,
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    size_bytes: Option<u64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// Audio or video (the audio track is taken); `application/octet-stream` when the sender does
/// not know. Any parameters (`; codecs=opus`) are kept.
fn media_type(raw: &str) -> Result<String, HttpError> {
    let t = raw.trim();
    let essence = t.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let subtype = |kind: &str| essence.strip_prefix(kind).is_some_and(|rest| !rest.is_empty());
    let ok = t.len() <= 100
        && t.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && (subtype("audio/") || subtype("video/") || essence == "application/octet-stream");
    if ok {
        Ok(t.to_owned())
    } else {
        Err(HttpError::BadRequest(
            "content_type must be an audio/… or video/… media type (or application/octet-stream)".into(),
        ))
    }
}

/// The file's name as it goes into the key ([`safe_file_name`]), at most
/// [`MAX_FILE_NAME_CHARS`], never a dot file.
fn key_name(raw: &str) -> Result<String, HttpError> {
    let name = safe_file_name(raw.trim());
    if name.is_empty() || name.chars().count() > MAX_FILE_NAME_CHARS || name.starts_with('.') {
        return Err(HttpError::BadRequest(format!(
            "file_name must be 1 to {MAX_FILE_NAME_CHARS} characters and not start with '.'"
        )));
    }
    Ok(name)
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
    pub(crate) async fn add_sample(
        &self,
        person: &str,
        req: &ApiGatewayV2httpRequest,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<(i64, Value), HttpError> {
        let body: SampleBody = json_body(req)?;
        match (body.sample_key, body.file_name) {
            (Some(sample_key), None) => {
                if body.content_type.is_some() || body.size_bytes.is_some() {
                    return Err(HttpError::BadRequest(
                        "content_type and size_bytes describe an upload (file_name), not a sample_key".into(),
                    ));
                }
                let create =
                    CreateBody { person: person.to_owned(), sample_key, name: body.name, metadata: body.metadata };
                self.create_model(create, who, now).await
            }
            (None, Some(file_name)) => {
                if body.name.is_some() || body.metadata.is_some() {
                    return Err(HttpError::BadRequest(
                        "name and metadata go with a sample_key; an upload's voice is named after its person".into(),
                    ));
                }
                let content_type = media_type(body.content_type.as_deref().unwrap_or("application/octet-stream"))?;
                self.upload(&super::people::person(person)?, &file_name, &content_type, body.size_bytes, now)
                    .await
            }
            _ => Err(HttpError::BadRequest(
                "give either sample_key (a recording in the person's folder) or file_name (an upload URL for a new one)"
                    .into(),
            )),
        }
    }

    async fn upload(
        &self,
        p: &Person,
        file_name: &str,
        content_type: &str,
        size: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(i64, Value), HttpError> {
        // A caller's recordings come from their calls (and an upload there is their newest
        // sample, not held to the calls' re-clone rule); a key, and so its URL, would also
        // hold their whole number.
        if p.caller().is_some() {
            return Err(HttpError::BadRequest(
                "upload URLs are for named people; a caller's recordings come from their calls, or a sample_key of one in their folder".into(),
            ));
        }
        let name = key_name(file_name)?;
        if let Some(n) = size.filter(|n| *n == 0 || *n > MAX_SAMPLE_BYTES) {
            return Err(HttpError::BadRequest(format!(
                "size_bytes is {n}; a recording is 1 to {MAX_SAMPLE_BYTES} bytes"
            )));
        }
        self.known(p).await?;
        // Refused now rather than after the upload, by a run that ends consent_missing.
        consent_verdict(&self.records, self.consent, p, ConsentScope::Clone).await??;
        let key = p.upload_key(&name, now);
        let blob = BlobRef::new(&self.bucket, &key);
        let Some(url) = self.blobs.upload_url(&blob, content_type, UPLOAD_URL_VALID).await? else {
            return Err(HttpError::NotHere(format!(
                "this store takes no uploads over HTTP: on this machine `echome samples add --person {p} FILE` adds a recording"
            )));
        };
        let expires_at = now + chrono::Duration::from_std(UPLOAD_URL_VALID).unwrap_or_default();
        tracing::info!(person = %p, "an upload URL was handed out");
        Ok((
            201,
            json!({
                "sample_key": key,
                "upload": {
                    "url": url,
                    "method": "PUT",
                    "headers": { "Content-Type": content_type },
                    "expires_at": expires_at,
                },
                "next": "PUT the file to upload.url with these headers; the upload starts a clone run, and GET /people/{person} shows the active voice once it is ready",
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_media_types_of_sound_are_taken() {
        assert_eq!(media_type("audio/wav").unwrap(), "audio/wav");
        assert_eq!(media_type("audio/webm; codecs=opus").unwrap(), "audio/webm; codecs=opus");
        assert!(media_type("video/mp4").is_ok() && media_type("application/octet-stream").is_ok());
        for bad in ["text/html", "", "audio/", "audio/wav\r\nX-Amz-Acl: public-read", "image/png"] {
            assert!(media_type(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_names_become_safe_key_names() {
        assert_eq!(key_name("Anna's interview (1).wav").unwrap(), "Anna_s_interview__1_.wav");
        assert!(key_name("../../etc/passwd").unwrap_err().to_string().contains("start with '.'"));
        assert!(key_name("").is_err() && key_name(&"a".repeat(101)).is_err());
    }
}
