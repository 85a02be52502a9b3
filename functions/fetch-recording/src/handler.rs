//! fetch-recording: webhook-intake left a request under `inbox/recordings/{caller}/{call_id}.json`
//! for a `CallEnded`'s `recording_url`; this fetches the recording, inside the fence
//! `echome-fetch` puts around a URL someone else supplied, into
//! `samples/{caller}/calls/{call_id}.{ext}`, where the upload trigger decides whether to clone.
//! The call's record says what became of it (`recording`), and the request, which holds the
//! URL and its token, is deleted once it is settled.
//!
//! A refusal (host, address, redirect, size, not audio, no consent) is recorded and settles the
//! request: retrying cannot mend it. A slow or failing PBX fails the invocation, so Lambda's
//! retries and then the OnFailure destination get the event, and the request stays.

use std::path::PathBuf;

use chrono::Utc;
use echome_core::call_log::update_call;
use echome_core::library::Person;
use echome_core::people::{ConsentScope, consent_verdict};
use echome_core::recordings::{
    RECORDING_REQUESTS_PREFIX, RecordingRequest, RecordingState, RecordingStatus, audio_content_type,
    audio_extension,
};
use echome_core::{BlobRef, BlobStore, CallLog, ConsentPolicy, ErrorType, People, StepError, StorageError};
use echome_fetch::{Credentials, FetchError, Fetcher};
use upload_trigger::settle;

pub struct Config {
    /// `CONSENT_POLICY`: a caller who has not agreed to be cloned is not recorded as a sample.
    pub consent: ConsentPolicy,
    /// The PBX's recording download credentials (SSM), if it asks for any.
    pub credentials: Option<Credentials>,
    /// Where a recording is streamed before it is stored (`/tmp` in Lambda).
    pub scratch: PathBuf,
}

/// What became of one request.
pub use upload_trigger::InboxOutcome as Outcome;

/// Handles the request at `request` (see the module's doc).
pub async fn fetch_recording<B, R>(
    blobs: &B,
    records: &R,
    fetcher: &Fetcher,
    cfg: &Config,
    request: &BlobRef,
) -> Result<Outcome, StepError>
where
    B: BlobStore,
    R: CallLog + People,
{
    let body = match blobs.get_bytes(request).await {
        Ok(b) => b,
        Err(StorageError::NotFound(_)) => {
            return Ok(Outcome::Skipped {
                reason: "the request is gone (an earlier attempt settled it)".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let req = match serde_json::from_slice::<RecordingRequest>(&body) {
        // The folder names the caller: erasure deletes by it, so a request filed under another
        // caller's folder is not acted on.
        Ok(r) if r.key() == request.key => r,
        Ok(_) => return settle(blobs, request, skipped("the request is not filed under its own call")).await,
        Err(e) => return settle(blobs, request, skipped(format!("the request does not parse: {e}"))).await,
    };
    let known = records.call(&req.call_id).await?;
    if known.as_ref().and_then(|c| c.recording.as_ref()).is_some_and(|r| r.status == RecordingStatus::Stored)
    {
        return settle(blobs, request, Outcome::AlreadyStored).await;
    }
    let person = Person::Caller(req.caller_id.clone());
    if let Err(missing) = consent_verdict(records, cfg.consent, &person, ConsentScope::Clone).await? {
        let state = RecordingState::new(RecordingStatus::Skipped, Utc::now())
            .because(echome_core::people::ConsentMissing::CODE, missing.to_string());
        note(records, &req, state).await?;
        tracing::info!(call_id = %req.call_id, "no consent to clone the caller: the recording was not fetched");
        return settle(blobs, request, skipped("consent_missing: the caller has not agreed to be cloned"))
            .await;
    }

    tokio::fs::create_dir_all(&cfg.scratch)
        .await
        .map_err(|e| StepError::internal(format!("scratch: {e}")))?;
    let file = cfg.scratch.join(format!("recording-{}", req.call_id));
    let fetched = match fetcher.fetch_to(req.url.as_str(), cfg.credentials.as_ref(), &file).await {
        Ok(f) => f,
        Err(e) => return failed(blobs, records, request, &req, &e).await,
    };
    let result = store(blobs, request, &req, &file, fetched).await;
    if let Err(e) = tokio::fs::remove_file(&file).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, "the fetched recording's scratch file stays");
    }
    let (sample, bytes) = match result? {
        Ok(stored) => stored,
        Err(refused) => {
            note(records, &req, refused.clone()).await?;
            let (code, reason) = (refused.code.unwrap_or_default(), refused.reason.unwrap_or_default());
            return settle(blobs, request, Outcome::Refused { code, reason }).await;
        }
    };
    let mut state = RecordingState::new(RecordingStatus::Stored, Utc::now());
    state.key = Some(sample.key.clone());
    state.bytes = Some(bytes);
    note(records, &req, state).await?;
    tracing::info!(call_id = %req.call_id, bytes, "the call's recording was stored as the caller's sample");
    settle(blobs, request, Outcome::Stored { sample, bytes }).await
}

/// Stores what was fetched as the caller's sample, or says why it is not audio.
async fn store<B: BlobStore>(
    blobs: &B,
    request: &BlobRef,
    req: &RecordingRequest,
    file: &std::path::Path,
    fetched: echome_fetch::Fetched,
) -> Result<Result<(BlobRef, u64), RecordingState>, StepError> {
    let Some(ext) = audio_extension(fetched.content_type.as_deref(), &fetched.url) else {
        let what = fetched.content_type.as_deref().unwrap_or("no content type");
        let reason = format!("the PBX answered with something that is not audio ({what})");
        return Ok(Err(
            RecordingState::new(RecordingStatus::Refused, Utc::now()).because("not_audio", reason)
        ));
    };
    if fetched.bytes == 0 {
        let state = RecordingState::new(RecordingStatus::Refused, Utc::now())
            .because("empty", "the recording is empty");
        return Ok(Err(state));
    }
    let sample = BlobRef::new(&request.bucket, req.sample_key(ext));
    blobs.upload_from(&sample, file, audio_content_type(ext)).await?;
    Ok(Ok((sample, fetched.bytes)))
}

/// A fetch that did not work: recorded; a refusal settles the request, a failure a retry may
/// mend fails the invocation.
async fn failed<B: BlobStore, R: CallLog>(
    blobs: &B,
    records: &R,
    request: &BlobRef,
    req: &RecordingRequest,
    e: &FetchError,
) -> Result<Outcome, StepError> {
    // The error names the host at most, never the URL's path or query.
    let reason = e.to_string();
    if e.is_transient() {
        let state =
            RecordingState::new(RecordingStatus::Failed, Utc::now()).because(e.code(), reason.clone());
        note(records, req, state).await?;
        tracing::warn!(call_id = %req.call_id, code = e.code(), reason = %reason, "the recording fetch failed; it will be retried");
        return Err(StepError::new(ErrorType::Retryable, e.code(), reason));
    }
    let state = RecordingState::new(RecordingStatus::Refused, Utc::now()).because(e.code(), reason.clone());
    note(records, req, state).await?;
    tracing::warn!(call_id = %req.call_id, code = e.code(), reason = %reason, "the recording fetch was refused");
    settle(blobs, request, Outcome::Refused { code: e.code().to_owned(), reason }).await
}

/// The call's record says what became of its recording (a call no longer on record has
/// nothing to note it on).
async fn note<R: CallLog>(
    records: &R,
    req: &RecordingRequest,
    state: RecordingState,
) -> Result<(), StepError> {
    update_call(records, &req.call_id, |c| {
        let settled = c.recording.as_ref().is_some_and(|r| r.status == RecordingStatus::Stored);
        if !settled {
            c.recording = Some(state.clone());
        }
        !settled
    })
    .await?;
    Ok(())
}

fn skipped(reason: impl Into<String>) -> Outcome {
    let reason = reason.into();
    tracing::info!(reason = %reason, "recording request skipped");
    Outcome::Skipped { reason }
}

/// The requests an S3 event names (`ObjectCreated` under `inbox/recordings/`); the rest of the
/// records are skipped with their reason. A failure of one request fails the invocation after
/// every other was handled.
pub async fn handle_json<B, R>(
    blobs: &B,
    records: &R,
    fetcher: &Fetcher,
    cfg: &Config,
    event: serde_json::Value,
) -> Result<Vec<Outcome>, StepError>
where
    B: BlobStore,
    R: CallLog + People,
{
    upload_trigger::each_inbox_request(
        &event,
        RECORDING_REQUESTS_PREFIX,
        "recording request",
        skipped,
        |r| async move { fetch_recording(blobs, records, fetcher, cfg, &r).await },
    )
    .await
}
