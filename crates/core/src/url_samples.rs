//! Samples from a URL someone names (a video page, a talk, a direct media link). The route
//! (or `echome samples add --url`) files a request under `inbox/url-samples/{person}/{id}.json`
//! and the sample's source record beside where the sample will be,
//! `samples/{person}/url/{id}.source.json`; fetch-sample resolves the URL with yt-dlp inside
//! the fence, stores the audio as `samples/{person}/url/{id}.{ext}` (where the upload trigger
//! decides whether to clone) and keeps on the source record what became of it: the URL, the
//! title and duration the site gave, or why it gave nothing and what to do instead.
//!
//! Both live in the person's folders, so erasure finds them by the person alone.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blob::BlobRef;
use crate::error::StorageError;
use crate::ids::{Person, SAMPLES_PREFIX};
use crate::ports::BlobStore;

/// Where URL sample requests wait, one folder per person.
pub const URL_SAMPLE_REQUESTS_PREFIX: &str = "inbox/url-samples/";

/// The folder inside a person's samples that holds what came from URLs.
const URL_FOLDER: &str = "url/";

/// A source record's suffix: it sits among the samples but is not one.
const SOURCE_SUFFIX: &str = ".source.json";

/// Longer URLs are refused: browsers and CDNs stop near 2 kB, and the URL is kept on record.
pub const MAX_URL_CHARS: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlSampleError {
    #[error("url is empty")]
    Empty,
    #[error("url is {0} characters; at most {MAX_URL_CHARS} are accepted")]
    TooLong(usize),
    #[error("url must start with https:// (or http://), not {0:?}")]
    Scheme(String),
    #[error("url has no host")]
    NoHost,
    #[error("url holds spaces or control characters; percent-encode them")]
    Unprintable,
    #[error("url holds a user name or password; echome does not send credentials to a page")]
    Credentials,
    #[error("url sample id {0:?} must be 'u' and up to 63 lowercase letters, digits and '-'")]
    Id(String),
}

/// A URL to take a sample from, as the user sent it (trimmed). It may carry a token in its
/// query, so logs show only its scheme and host; the record keeps it whole for the person who
/// asked.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceUrl(String);

impl SourceUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlSampleError> {
        let url = raw.trim();
        if url.is_empty() {
            return Err(UrlSampleError::Empty);
        }
        let n = url.chars().count();
        if n > MAX_URL_CHARS {
            return Err(UrlSampleError::TooLong(n));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlSampleError::Unprintable);
        }
        let (scheme, rest) = url.split_once("://").ok_or_else(|| UrlSampleError::Scheme(String::new()))?;
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return Err(UrlSampleError::Scheme(scheme.chars().take(20).collect()));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(UrlSampleError::Credentials);
        }
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        if host.is_empty() {
            return Err(UrlSampleError::NoHost);
        }
        Ok(Self(url.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `https://www.youtube.com/…`: for logs.
    pub fn shown(&self) -> String {
        crate::redact::url(&self.0)
    }
}

impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl fmt::Debug for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceUrl({})", self.shown())
    }
}

impl TryFrom<String> for SourceUrl {
    type Error = UrlSampleError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SourceUrl> for String {
    fn from(value: SourceUrl) -> Self {
        value.0
    }
}

/// Names one URL sample: `u{time}-{hash}`, the time to the millisecond and a hash of whose and
/// which URL, so two requests never share a key and the ids sort by when they were made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UrlSampleId(String);

impl UrlSampleId {
    pub fn new(person: &Person, url: &SourceUrl, at: DateTime<Utc>) -> Self {
        let mut hash = Sha256::new();
        for part in [person.as_key(), url.as_str(), &at.to_rfc3339()] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let hex: String = hash.finalize().iter().take(4).map(|b| format!("{b:02x}")).collect();
        Self(format!("u{}-{hex}", at.format("%Y%m%dt%H%M%S%3f")))
    }

    pub fn parse(raw: &str) -> Result<Self, UrlSampleError> {
        let ok = raw.len() <= 64
            && raw.starts_with('u')
            && raw.len() > 1
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(raw.to_owned())) } else { Err(UrlSampleError::Id(raw.chars().take(70).collect())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UrlSampleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for UrlSampleId {
    type Error = UrlSampleError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<UrlSampleId> for String {
    fn from(value: UrlSampleId) -> Self {
        value.0
    }
}

/// One URL to take a person's sample from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlSampleRequest {
    pub id: UrlSampleId,
    pub person: Person,
    pub url: SourceUrl,
    /// The user who asked (a token's subject), for the record.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
}

impl UrlSampleRequest {
    pub fn new(person: Person, url: SourceUrl, requested_by: &str, at: DateTime<Utc>) -> Self {
        let id = UrlSampleId::new(&person, &url, at);
        Self { id, person, url, requested_by: requested_by.to_owned(), requested_at: at }
    }

    /// `inbox/url-samples/{person}/{id}.json`.
    pub fn key(&self) -> String {
        request_key(&self.person, &self.id)
    }

    /// `samples/{person}/url/{id}.source.json`.
    pub fn source_key(&self) -> String {
        source_key(&self.person, &self.id)
    }

    /// `samples/{person}/url/{id}.{ext}`.
    pub fn sample_key(&self, ext: &str) -> String {
        format!("{}{URL_FOLDER}{}.{ext}", self.person.samples_prefix(), self.id)
    }

    /// The source record of a request just filed.
    pub fn pending(&self) -> UrlSampleSource {
        UrlSampleSource {
            id: self.id.clone(),
            person: self.person.clone(),
            url: self.url.clone(),
            state: UrlSampleState::Pending,
            requested_by: self.requested_by.clone(),
            requested_at: self.requested_at,
            updated_at: self.requested_at,
            title: None,
            duration_s: None,
            extractor: None,
            sample_key: None,
            bytes: None,
            code: None,
            reason: None,
            what_to_do: None,
        }
    }
}

/// `inbox/url-samples/{person}/`: erasure deletes it with the person.
pub fn requests_prefix(person: &Person) -> String {
    format!("{URL_SAMPLE_REQUESTS_PREFIX}{}/", person.as_key())
}

pub fn request_key(person: &Person, id: &UrlSampleId) -> String {
    format!("{}{id}.json", requests_prefix(person))
}

pub fn source_key(person: &Person, id: &UrlSampleId) -> String {
    format!("{}{URL_FOLDER}{id}{SOURCE_SUFFIX}", person.samples_prefix())
}

/// Whether a key under `samples/` is a URL sample's source record (not a recording: the upload
/// trigger leaves it alone).
pub fn is_source_record(key: &str) -> bool {
    key.starts_with(SAMPLES_PREFIX) && key.ends_with(SOURCE_SUFFIX)
}

/// Files `req` in `bucket`, as the route and the command both do: its pending source record
/// first (fetch-sample, which the request's arrival starts, goes on from it), then the request.
/// A request that cannot be filed leaves its record saying so. Returns the record as filed.
pub async fn file<B: BlobStore>(
    blobs: &B,
    bucket: &str,
    req: &UrlSampleRequest,
) -> Result<UrlSampleSource, StorageError> {
    let json =
        |v: serde_json::Result<Vec<u8>>| v.map_err(|e| StorageError::Failed(format!("a URL sample: {e}")));
    let source = req.pending();
    let record = BlobRef::new(bucket, req.source_key());
    blobs.put_bytes(&record, json(serde_json::to_vec_pretty(&source))?, "application/json").await?;
    let request = BlobRef::new(bucket, req.key());
    if let Err(e) = blobs.put_bytes(&request, json(serde_json::to_vec_pretty(req))?, "application/json").await
    {
        let failed = source.clone().ended(
            UrlSampleState::Failed,
            "not_queued",
            "the request could not be filed",
            "ask again",
            chrono::Utc::now(),
        );
        let body = json(serde_json::to_vec_pretty(&failed))?;
        if let Err(e) = blobs.put_bytes(&record, body, "application/json").await {
            tracing::error!(error = %e, "the URL sample's record still says pending");
        }
        return Err(e);
    }
    Ok(source)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlSampleState {
    /// Filed; fetch-sample has not taken it yet.
    Pending,
    /// Being resolved and downloaded.
    Fetching,
    /// Stored as the person's sample (the upload trigger takes it from there).
    Stored,
    /// Refused for good: the site, the fence, the size or length, no consent.
    Refused,
    /// Failed in a way a retry may mend (a slow site); it is tried again.
    Failed,
}

/// What is known of a URL sample: the source, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlSampleSource {
    pub id: UrlSampleId,
    pub person: Person,
    pub url: SourceUrl,
    pub state: UrlSampleState,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// As the site declares it (a plain page's `<audio>` declares none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// yt-dlp's extractor (`youtube`, `html5`, `generic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extractor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// A stable code for a refusal or failure (`source_blocked`, `address_refused`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what_to_do: Option<String>,
}

impl UrlSampleSource {
    pub fn key(&self) -> String {
        source_key(&self.person, &self.id)
    }

    /// A refusal or failure: `state`, its code, why, and what to do instead.
    pub fn ended(
        mut self,
        state: UrlSampleState,
        code: &str,
        reason: impl Into<String>,
        what_to_do: &str,
        at: DateTime<Utc>,
    ) -> Self {
        self.state = state;
        self.code = Some(code.to_owned());
        self.reason = Some(reason.into());
        self.what_to_do = Some(what_to_do.to_owned());
        self.updated_at = at;
        self
    }
}

/// The extension a downloaded file is stored with (yt-dlp names it by its container), when it
/// is one the extraction decodes; `None` otherwise.
pub fn media_extension(file_name: &str) -> Option<&'static str> {
    let ext = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
    ["mp3", "m4a", "webm", "ogg", "opus", "wav", "flac", "aac", "mp4", "mkv", "mov"]
        .into_iter()
        .find(|known| *known == ext)
}

/// The content type a downloaded file is stored with.
pub fn media_content_type(ext: &str) -> &'static str {
    match ext {
        "mp4" => "video/mp4",
        "mkv" => "video/x-matroska",
        "mov" => "video/quicktime",
        "opus" => "audio/ogg",
        "aac" => "audio/aac",
        other => crate::recordings::audio_content_type(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Person {
        Person::parse("emp-42").unwrap()
    }

    #[test]
    fn a_request_and_its_sample_live_in_the_persons_folders() {
        let url = SourceUrl::parse(" https://www.example.org/talks/anna?t=1 ").unwrap();
        let at = DateTime::parse_from_rfc3339("2026-12-06T10:11:12.345Z").unwrap().to_utc();
        let r = UrlSampleRequest::new(person(), url, "ops-1", at);
        assert!(r.id.as_str().starts_with("u20261206t101112345-"), "{}", r.id);
        assert_eq!(UrlSampleId::parse(r.id.as_str()).unwrap(), r.id);
        assert_eq!(r.key(), format!("inbox/url-samples/emp-42/{}.json", r.id));
        assert_eq!(r.source_key(), format!("samples/emp-42/url/{}.source.json", r.id));
        assert_eq!(r.sample_key("m4a"), format!("samples/emp-42/url/{}.m4a", r.id));
        assert!(r.key().starts_with(&requests_prefix(&r.person)));
        assert!(is_source_record(&r.source_key()) && !is_source_record(&r.sample_key("m4a")));
        assert_eq!(r.pending().key(), r.source_key());
        // Another moment, another id.
        let later =
            UrlSampleRequest::new(person(), r.url.clone(), "ops-1", at + chrono::Duration::milliseconds(1));
        assert_ne!(later.id, r.id);
    }

    #[test]
    fn urls_are_checked_and_shown_without_their_path() {
        for (raw, err) in [
            ("", UrlSampleError::Empty),
            ("ftp://example.org/a.mp3", UrlSampleError::Scheme("ftp".into())),
            ("example.org/a.mp3", UrlSampleError::Scheme(String::new())),
            ("https:///a.mp3", UrlSampleError::NoHost),
            ("https://u:p@example.org/a.mp3", UrlSampleError::Credentials),
            ("https://example.org/a b.mp3", UrlSampleError::Unprintable),
        ] {
            assert_eq!(SourceUrl::parse(raw).unwrap_err(), err, "{raw}");
        }
        let long = format!("https://example.org/{}", "a".repeat(MAX_URL_CHARS));
        assert!(matches!(SourceUrl::parse(&long), Err(UrlSampleError::TooLong(_))));
        let url = SourceUrl::parse("HTTPS://[::1]:8443/v?token=secret").unwrap();
        assert_eq!(url.shown(), "HTTPS://[::1]:8443/…");
        assert!(!format!("{url} {url:?}").contains("secret"));
        assert!(SourceUrl::parse("http://127.0.0.1:8080/page.html").is_ok());
    }

    #[test]
    fn ids_are_checked() {
        for bad in ["", "u", "x123", "u../x", "U123", &format!("u{}", "1".repeat(64))] {
            assert!(UrlSampleId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn downloads_keep_a_known_containers_extension() {
        assert_eq!(media_extension("/tmp/x/media.M4A"), Some("m4a"));
        assert_eq!(media_extension("media.webm"), Some("webm"));
        assert_eq!(media_extension("media.mhtml"), None);
        assert_eq!(media_extension("media"), None);
        assert_eq!(media_content_type("mp4"), "video/mp4");
        assert_eq!(media_content_type("m4a"), "audio/mp4");
    }
}
