//! fetch-sample: `POST /people/{person}/samples/from-url` (or `echome samples add --url`) left a
//! request under `inbox/url-samples/{person}/{id}.json`; this resolves the URL with yt-dlp
//! inside the fence `echome-fetch` puts around a URL someone else supplied, downloads only the
//! audio, and stores it as `samples/{person}/url/{id}.{ext}`, where the upload trigger decides
//! whether to clone. The source record beside it (`{id}.source.json`) keeps the URL, the title
//! and duration the site gave, and what became of the request; the request is deleted once it
//! is settled.
//!
//! A refusal (the site's, the fence's, the size or length, no consent, no such person) is
//! recorded with what to do instead and settles the request: retrying cannot mend it. A slow
//! or failing site, or a downloader missing from the deployment, fails the invocation, so
//! Lambda's retries and then the OnFailure destination get the event, and the request stays.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use echome_core::people::{ConsentMissing, ConsentScope, consent_verdict};
use echome_core::url_samples::{
    URL_SAMPLE_REQUESTS_PREFIX, UrlSampleRequest, UrlSampleSource, UrlSampleState, media_content_type,
    media_extension,
};
use echome_core::{BlobRef, BlobStore, ConsentPolicy, ErrorType, People, Person, StepError, StorageError};
use echome_fetch::Fetcher;
use echome_fetch::media::{Media, fetch_media};
use echome_fetch::ytdlp::{SourceError, YtDlp};
use upload_trigger::settle;

/// A source longer than this is refused before it is downloaded: a run takes the best minutes
/// of speech, and an hour of a talk holds them many times over.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(3600);

pub struct Config {
    /// `CONSENT_POLICY`: a person who has not agreed to be cloned gets no sample.
    pub consent: ConsentPolicy,
    /// Where the download is kept before it is stored (`/tmp` in Lambda).
    pub scratch: PathBuf,
    /// `SAMPLE_URL_MAX_DURATION` (`1h` by default).
    pub max_duration: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        let max_duration =
            echome_core::env::std_duration("SAMPLE_URL_MAX_DURATION")?.unwrap_or(DEFAULT_MAX_DURATION);
        Ok(Self { consent: ConsentPolicy::from_env()?, scratch: echome_core::env::work_dir(), max_duration })
    }
}

/// What fetches a URL's media: the fence and the downloader behind it.
pub struct Source<'a> {
    pub fetcher: &'a Fetcher,
    pub ytdlp: &'a YtDlp,
}

/// What became of one request.
pub use upload_trigger::InboxOutcome as Outcome;

/// Handles the request at `request` (see the module's doc).
pub async fn fetch_sample<B, R>(
    blobs: &B,
    records: &R,
    source: &Source<'_>,
    cfg: &Config,
    request: &BlobRef,
) -> Result<Outcome, StepError>
where
    B: BlobStore,
    R: People,
{
    let body = match blobs.get_bytes(request).await {
        Ok(b) => b,
        Err(StorageError::NotFound(_)) => {
            return Ok(Outcome::Skipped {
                reason: "the request is gone (settled, or its person erased)".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let req = match serde_json::from_slice::<UrlSampleRequest>(&body) {
        // The folder names the person: erasure deletes by it, so a request filed under another
        // person's folder is not acted on.
        Ok(r) if r.key() == request.key => r,
        Ok(_) => {
            return settle(blobs, request, skipped("the request is not filed under its own person")).await;
        }
        Err(e) => return settle(blobs, request, skipped(format!("the request does not parse: {e}"))).await,
    };
    let record = request.with_key(req.source_key());
    let mut src = match blobs.get_bytes(&record).await {
        Ok(b) => serde_json::from_slice::<UrlSampleSource>(&b).unwrap_or_else(|_| req.pending()),
        Err(StorageError::NotFound(_)) => req.pending(),
        Err(e) => return Err(e.into()),
    };
    if src.state == UrlSampleState::Stored {
        return settle(blobs, request, Outcome::AlreadyStored).await;
    }
    if let Some(refusal) = refusal(records, cfg, &req.person).await? {
        let (code, reason, what_to_do) = refusal;
        let ended = src.ended(UrlSampleState::Refused, code, reason.clone(), what_to_do, Utc::now());
        save(blobs, &record, &ended).await?;
        tracing::info!(id = %req.id, person = %req.person, code, "a URL sample was refused before fetching");
        return settle(blobs, request, Outcome::Refused { code: code.to_owned(), reason }).await;
    }
    // A retry starts afresh: the last attempt's failure is no longer what is happening.
    src.state = UrlSampleState::Fetching;
    src.updated_at = Utc::now();
    (src.code, src.reason, src.what_to_do) = (None, None, None);
    save(blobs, &record, &src).await?;

    let dir = cfg.scratch.join(format!("url-sample-{}", req.id));
    tokio::fs::create_dir_all(&dir).await.map_err(|e| StepError::internal(format!("scratch: {e}")))?;
    let fetched = fetch_media(source.fetcher, source.ytdlp, req.url.as_str(), &dir, cfg.max_duration).await;
    let result = match fetched {
        Ok(media) => store(blobs, request, &req, src.clone(), &media).await,
        Err(e) => Ok(Stored::Nothing(e)),
    };
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, "the URL sample's scratch folder stays");
    }
    match result? {
        Stored::Sample(stored, outcome) => {
            save(blobs, &record, &stored).await?;
            tracing::info!(id = %req.id, person = %req.person, bytes = stored.bytes, extractor = ?stored.extractor, "a URL sample was stored");
            settle(blobs, request, outcome).await
        }
        Stored::Nothing(e) => failed(blobs, request, &record, &req, src, &e).await,
        // Nothing more is written for them: an erasure's receipt counted what there was.
        Stored::Withdrawn => {
            Ok(skipped("the request was withdrawn while it was fetched (its person erased)"))
        }
    }
}

/// What [`store`] did with a download.
enum Stored {
    Sample(Box<UrlSampleSource>, Outcome),
    /// Not media: the refusal to record.
    Nothing(SourceError),
    /// The request is gone (an erasure took it while the download ran).
    Withdrawn,
}

/// Why no sample may be taken of `person`, before anything is fetched: a named person nobody
/// created (or erased meanwhile), or no consent under the policy.
async fn refusal<R: People>(
    records: &R,
    cfg: &Config,
    person: &Person,
) -> Result<Option<(&'static str, String, &'static str)>, StepError> {
    if matches!(person, Person::Named(_)) && records.person(person).await?.is_none() {
        return Ok(Some((
            "person_unknown",
            format!("no person {person} is on record"),
            "create the person (POST /people), then ask again",
        )));
    }
    if let Err(missing) = consent_verdict(records, cfg.consent, person, ConsentScope::Clone).await? {
        return Ok(Some((
            ConsentMissing::CODE,
            missing.to_string(),
            "record the person's consent (POST /people/{person}/consent), then ask again",
        )));
    }
    Ok(None)
}

/// Stores the download as the person's sample; or says why it is not one.
async fn store<B: BlobStore>(
    blobs: &B,
    request: &BlobRef,
    req: &UrlSampleRequest,
    mut src: UrlSampleSource,
    media: &Media,
) -> Result<Stored, StepError> {
    use echome_fetch::ytdlp::SourceErrorKind;
    let name = media.file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let Some(ext) = media_extension(name) else {
        let reason = format!("yt-dlp downloaded a file echome does not decode ({name})");
        return Ok(Stored::Nothing(SourceError::new(SourceErrorKind::NotMedia, reason)));
    };
    if media.bytes == 0 {
        return Ok(Stored::Nothing(SourceError::new(SourceErrorKind::NotMedia, "the download is empty")));
    }
    // An erasure while the download ran deleted the request: nothing is stored for them.
    if !blobs.exists(request).await? {
        return Ok(Stored::Withdrawn);
    }
    let sample = request.with_key(req.sample_key(ext));
    blobs.upload_from(&sample, &media.file, media_content_type(ext)).await?;
    src.state = UrlSampleState::Stored;
    src.updated_at = Utc::now();
    src.title = media.title.clone();
    src.duration_s = media.duration_s;
    src.extractor = media.extractor.clone();
    src.sample_key = Some(sample.key.clone());
    src.bytes = Some(media.bytes);
    Ok(Stored::Sample(Box::new(src), Outcome::Stored { sample, bytes: media.bytes }))
}

/// A source that gave no sample: recorded with what to do instead; a refusal settles the
/// request, a failure a retry may mend (or a missing downloader) fails the invocation.
async fn failed<B: BlobStore>(
    blobs: &B,
    request: &BlobRef,
    record: &BlobRef,
    req: &UrlSampleRequest,
    src: UrlSampleSource,
    e: &SourceError,
) -> Result<Outcome, StepError> {
    let (code, reason) = (e.code(), e.message.clone());
    let retried = e.is_transient() || e.is_setup();
    let state = if retried { UrlSampleState::Failed } else { UrlSampleState::Refused };
    save(blobs, record, &src.ended(state, code, reason.clone(), e.what_to_do(), Utc::now())).await?;
    if e.is_setup() {
        tracing::error!(id = %req.id, code, reason = %reason, "yt-dlp is missing; the request stays for a retry");
        return Err(StepError::new(ErrorType::Internal, code, reason));
    }
    if retried {
        tracing::warn!(id = %req.id, code, reason = %reason, "a URL sample fetch failed; it will be retried");
        return Err(StepError::new(ErrorType::Retryable, code, reason));
    }
    tracing::info!(id = %req.id, person = %req.person, code, reason = %reason, "a URL sample was refused");
    settle(blobs, request, Outcome::Refused { code: code.to_owned(), reason }).await
}

async fn save<B: BlobStore>(blobs: &B, record: &BlobRef, src: &UrlSampleSource) -> Result<(), StepError> {
    let body =
        serde_json::to_vec_pretty(src).map_err(|e| StepError::internal(format!("source record: {e}")))?;
    blobs.put_bytes(record, body, "application/json").await?;
    Ok(())
}

fn skipped(reason: impl Into<String>) -> Outcome {
    let reason = reason.into();
    tracing::info!(reason = %reason, "URL sample request skipped");
    Outcome::Skipped { reason }
}

/// The requests an S3 event names (`ObjectCreated` under `inbox/url-samples/`); the rest of the
/// records are skipped with their reason.
pub async fn handle_json<B, R>(
    blobs: &B,
    records: &R,
    source: &Source<'_>,
    cfg: &Config,
    event: serde_json::Value,
) -> Result<Vec<Outcome>, StepError>
where
    B: BlobStore,
    R: People,
{
    upload_trigger::each_inbox_request(
        &event,
        URL_SAMPLE_REQUESTS_PREFIX,
        "URL sample request",
        skipped,
        |r| async move {
            // Boxed: with the S3 adapter's futures inside, the whole nests too deep for rustc.
            Box::pin(fetch_sample(blobs, records, source, cfg, &r)).await
        },
    )
    .await
}
