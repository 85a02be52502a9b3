//! UploadTrigger: a recording lands under `samples/{person}/…` (a caller's number, or a named
//! person's id such as `emp-42`). The person's sample record points at it (the newest upload
//! wins; the original is never touched), and a clone run named after the object's key and
//! version starts, so a redelivered event starts nothing new.
//!
//! What is wrong with an upload itself (a key outside a person's folder, an invalid id, a named
//! person nobody created, an empty or oversized object, a record that does not parse) is
//! skipped with its reason logged:
//! retrying cannot fix it. Only a failure of echome's own side (storage, the state machine, a
//! permission) fails the invocation, after every other record was handled, so Lambda's retries
//! and then the OnFailure destination get the event and nothing uploaded is lost.

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use chrono::{DateTime, Utc};
use echome_core::recordings::{is_call_recording, joined_by_next_call};
use echome_core::{
    BlobRef, BlobStore, CloneRunInput, ErrorType, People, Person, RunId, RunLog, RunRecord, RunStart,
    RunStarter, RunStatus, SampleLog, SampleRecord, SampleWrite, StepError,
};
use serde::Serialize;

pub use echome_core::ids::SAMPLES_PREFIX;

pub use echome_core::ids::MAX_SAMPLE_BYTES;

/// One uploaded object, as S3 reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub object: BlobRef,
    /// The object's version id, or (bucket unversioned) the event's sequencer.
    pub version: String,
    pub size: u64,
    pub at: DateTime<Utc>,
}

/// What became of one upload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Accepted {
    Started {
        run_id: String,
    },
    AlreadyStarted {
        run_id: String,
    },
    /// A newer sample of this person is already on record; no run for this one.
    Superseded,
    Skipped {
        reason: String,
    },
}

/// Records the sample and starts its run. Shared by the Lambda and `echome samples add`.
pub async fn accept_upload<L, S>(log: &L, starter: &S, upload: &Upload) -> Result<Accepted, StepError>
where
    L: SampleLog + RunLog + People,
    S: RunStarter,
{
    let person = match person_of(&upload.object.key) {
        Ok(p) => p,
        Err(reason) => {
            tracing::info!(bucket = %upload.object.bucket, reason = %reason, "upload skipped");
            return Ok(Accepted::Skipped { reason });
        }
    };
    // A named person's voice is named after them, and their consent is on their record: a
    // folder of a name nobody created is a typo, not a person.
    if let Person::Named(id) = &person
        && log.person(&person).await?.is_none()
    {
        let reason = format!("no person {id:?} is on record (POST /people creates one)");
        tracing::info!(bucket = %upload.object.bucket, reason = %reason, "upload skipped");
        return Ok(Accepted::Skipped { reason });
    }
    // Recorded, an empty or oversized object would replace the caller's good sample with one
    // no run can use.
    let unusable = match upload.size {
        0 => Some("the object is empty (0 bytes)".to_owned()),
        n if n > MAX_SAMPLE_BYTES => {
            Some(format!("the object is {n} bytes; a sample may be at most {MAX_SAMPLE_BYTES}"))
        }
        _ => None,
    };
    if let Some(reason) = unusable {
        tracing::warn!(person = %person, bucket = %upload.object.bucket, reason = %reason, "upload skipped");
        return Ok(Accepted::Skipped { reason });
    }
    let sample = SampleRecord {
        person: person.clone(),
        sample: upload.object.clone(),
        version: upload.version.clone(),
        uploaded_at: upload.at,
        size: upload.size,
        pack: None,
    };
    if log.record_sample(&sample).await? == SampleWrite::Superseded {
        tracing::info!(person = %person, "a newer sample is on record; no run for this upload");
        return Ok(Accepted::Superseded);
    }
    let run_id = RunId::for_upload(&person, &upload.object.key, &upload.version);
    // A redelivered event finds its run on record and asks again: starting is idempotent too,
    // and an earlier attempt may have stopped between the two writes.
    log.create_run(&RunRecord::started(run_id.clone(), &person, upload.object.clone(), upload.at)).await?;
    let combine = match is_call_recording(&upload.object.key) {
        true => short_calls(log, &person, &run_id, upload).await?,
        false => Vec::new(),
    };
    let input = CloneRunInput {
        run_id: run_id.clone(),
        person: person.clone(),
        sample: upload.object.clone(),
        pack: None,
        call: None,
        combine,
    };
    let started = starter.start(&input).await?;
    tracing::info!(person = %person, run_id = %run_id, ?started, "sample recorded");
    Ok(match started {
        RunStart::Started => Accepted::Started { run_id: run_id.to_string() },
        RunStart::AlreadyStarted => Accepted::AlreadyStarted { run_id: run_id.to_string() },
    })
}

/// At most this many earlier short calls are joined to a new one (with the newest, enough for
/// a pack at 30 s of speech from calls of 8 s each), and none older than [`JOIN_WITHIN_DAYS`]:
/// a voice changes over months, and a pack should be of the voice as it is.
pub const MAX_JOINED: usize = 4;
pub const JOIN_WITHIN_DAYS: i64 = 30;

/// The caller's earlier call recordings whose runs found too little speech, since the caller's
/// last run that made a voice, oldest first: the new call's run joins them to its own (a
/// short call is kept and counted, not thrown away). Uploads are never joined: a person chose
/// each one.
async fn short_calls<L: RunLog>(
    log: &L,
    caller: &Person,
    this: &RunId,
    upload: &Upload,
) -> Result<Vec<BlobRef>, StepError> {
    let mut runs = Vec::new();
    for id in log.runs_of(caller).await? {
        if &id != this
            && let Some(run) = log.run(&id).await?
        {
            runs.push(run);
        }
    }
    runs.sort_by_key(|r| r.started_at);
    let voice_made = runs
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded && r.voice_id.is_some())
        .map(|r| r.started_at)
        .max();
    let oldest = upload.at - chrono::Duration::days(JOIN_WITHIN_DAYS);
    let mut short: Vec<BlobRef> = Vec::new();
    for run in runs {
        let too_short = run.status == RunStatus::Failed
            && run.error.as_ref().is_some_and(|e| joined_by_next_call(&run.sample.key, &e.code));
        let in_window = run.started_at >= oldest
            && run.started_at <= upload.at
            && voice_made.is_none_or(|made| run.started_at > made);
        if too_short && in_window && run.sample != upload.object && !short.contains(&run.sample) {
            short.push(run.sample);
        }
    }
    let skip = short.len().saturating_sub(MAX_JOINED);
    Ok(short.split_off(skip))
}

/// `samples/{person}/{name}` → the person (a caller's E.164 number or a named id); anything
/// else is not a sample.
pub fn person_of(key: &str) -> Result<Person, String> {
    let rest = key.strip_prefix(SAMPLES_PREFIX).ok_or_else(|| "key is outside samples/".to_owned())?;
    let (folder, name) =
        rest.split_once('/').ok_or_else(|| "key has no samples/{person}/ folder".to_owned())?;
    if name.is_empty() || name.ends_with('/') {
        return Err("key is a folder, not a recording".into());
    }
    if echome_core::url_samples::is_source_record(key) {
        return Err("key is a URL sample's source record, not a recording".into());
    }
    // The reason is logged: never put the raw (possibly a phone number) segment in it.
    Person::parse(folder).map_err(|_| {
        format!(
            "folder of {} characters is neither an E.164 caller id nor a person's id (lowercase letters, digits, '.', '_', '-')",
            folder.len()
        )
    })
}

/// What became of one inbox request (a call's recording, a URL sample) its fetch function
/// handled.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InboxOutcome {
    /// Stored as a sample, which the upload trigger takes as any upload.
    Stored {
        sample: BlobRef,
        bytes: u64,
    },
    /// An earlier attempt stored it; the request is settled without fetching again.
    AlreadyStored,
    Refused {
        code: String,
        reason: String,
    },
    Skipped {
        reason: String,
    },
}

/// Deletes an inbox request, every version of it (it may hold a link's token), once it is
/// settled; `outcome` is what became of it.
pub async fn settle<B: BlobStore>(
    blobs: &B,
    request: &BlobRef,
    outcome: InboxOutcome,
) -> Result<InboxOutcome, StepError> {
    blobs.delete_versions(request).await?;
    Ok(outcome)
}

/// The request an S3 event record names: an `ObjectCreated` of a `.json` under `prefix` (an
/// inbox the fetch functions serve); else why it is no such request.
pub fn inbox_request(record: &serde_json::Value, prefix: &str, what: &str) -> Result<BlobRef, String> {
    let text = |ptr: &str| record.pointer(ptr).and_then(serde_json::Value::as_str);
    if text("/eventName").is_some_and(|n| !n.starts_with("ObjectCreated")) {
        return Err("not an ObjectCreated event".into());
    }
    let bucket = text("/s3/bucket/name").ok_or("the S3 record has no s3.bucket.name")?;
    let key = decode_key(text("/s3/object/key").ok_or("the S3 record has no s3.object.key")?)?;
    if !key.starts_with(prefix) || !key.ends_with(".json") {
        return Err(format!("the key is not a {what}"));
    }
    Ok(BlobRef::new(bucket, key))
}

/// Handles each request an S3 event names under `prefix` (see [`inbox_request`]) with
/// `handle`; the event's other records become `skipped(reason)`. A failure of one request fails
/// the whole after every other was handled, so Lambda's retries and then the OnFailure
/// destination get the event.
pub async fn each_inbox_request<O, F, Fut>(
    event: &serde_json::Value,
    prefix: &str,
    what: &str,
    skipped: impl Fn(String) -> O,
    mut handle: F,
) -> Result<Vec<O>, StepError>
where
    F: FnMut(BlobRef) -> Fut,
    Fut: std::future::Future<Output = Result<O, StepError>>,
{
    let Some(list) = event.get("Records").and_then(serde_json::Value::as_array) else {
        return Ok(vec![skipped("not an S3 event (no Records)".into())]);
    };
    let mut out = Vec::with_capacity(list.len());
    let mut first_failure = None;
    for record in list {
        match inbox_request(record, prefix, what) {
            Err(reason) => out.push(skipped(reason)),
            Ok(request) => match handle(request).await {
                Ok(o) => out.push(o),
                Err(e) => {
                    tracing::error!(error_type = e.error_type.as_str(), code = %e.code, message = %echome_core::redact::phone_numbers(&e.message), "{what} failed; the event will be retried");
                    first_failure.get_or_insert(e);
                }
            },
        }
    }
    match first_failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// S3 event keys are form-encoded: `+` is a space, `%2B` a plus.
pub fn decode_key(raw: &str) -> Result<String, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or("bad %-escape in key")?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "key is not UTF-8".to_owned())
}

fn upload_of(record: &S3EventRecord) -> Result<Upload, String> {
    let size = record.s3.object.size.ok_or("event without the object's size")?;
    let bucket = record.s3.bucket.name.clone().ok_or("event without a bucket")?;
    let key = decode_key(record.s3.object.key.as_deref().ok_or("event without a key")?)?;
    let version = record
        .s3
        .object
        .version_id
        .clone()
        .filter(|v| !v.is_empty() && v != "null")
        .or_else(|| record.s3.object.sequencer.clone())
        .ok_or("event without a version or sequencer")?;
    Ok(Upload { object: BlobRef::new(bucket, key), version, size: size.max(0) as u64, at: record.event_time })
}

/// Every record of the event, as the Lambda receives it: each record is read on its own, and
/// only for what an upload needs (bucket, key, size, version, time), so one that does not parse
/// is skipped rather than refusing the whole event.
pub async fn handle_json<L, S>(
    log: &L,
    starter: &S,
    event: serde_json::Value,
) -> Result<Vec<Accepted>, StepError>
where
    L: SampleLog + RunLog + People,
    S: RunStarter,
{
    let Some(records) = event.get("Records").and_then(serde_json::Value::as_array) else {
        // S3 sends `s3:TestEvent` when notifications are configured; anything else is not ours.
        let reason = "not an S3 event (no Records)".to_owned();
        tracing::info!(event = ?event.get("Event"), reason = %reason, "event skipped");
        return Ok(vec![Accepted::Skipped { reason }]);
    };
    handle_uploads(log, starter, records.iter().map(upload_of_json).collect()).await
}

/// Every record of a parsed event (see [`handle_json`]).
pub async fn handle<L, S>(log: &L, starter: &S, event: S3Event) -> Result<Vec<Accepted>, StepError>
where
    L: SampleLog + RunLog + People,
    S: RunStarter,
{
    let uploads = event
        .records
        .iter()
        .map(|r| {
            let is_create = r.event_name.as_deref().is_none_or(|n| n.starts_with("ObjectCreated"));
            if is_create { upload_of(r) } else { Err("not an ObjectCreated event".into()) }
        })
        .collect();
    handle_uploads(log, starter, uploads).await
}

/// One record of an S3 event as JSON. The reasons never quote the record: its key may hold a
/// phone number.
fn upload_of_json(record: &serde_json::Value) -> Result<Upload, String> {
    let text = |ptr: &str| record.pointer(ptr).and_then(serde_json::Value::as_str);
    if text("/eventName").is_some_and(|n| !n.starts_with("ObjectCreated")) {
        return Err("not an ObjectCreated event".into());
    }
    let bucket = text("/s3/bucket/name").ok_or("the S3 record does not parse: no s3.bucket.name")?;
    let key = decode_key(text("/s3/object/key").ok_or("the S3 record does not parse: no s3.object.key")?)?;
    let size = record
        .pointer("/s3/object/size")
        .and_then(serde_json::Value::as_u64)
        .ok_or("the S3 record does not parse: no s3.object.size (the object's size)")?;
    let version = text("/s3/object/versionId")
        .filter(|v| !v.is_empty() && *v != "null")
        .or_else(|| text("/s3/object/sequencer"))
        .ok_or("the S3 record does not parse: no s3.object.versionId or sequencer")?;
    let at = text("/eventTime")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or("the S3 record does not parse: no RFC 3339 eventTime")?
        .with_timezone(&Utc);
    Ok(Upload { object: BlobRef::new(bucket, key), version: version.to_owned(), size, at })
}

/// Whether a failure is about the upload (skip it) or about echome's side (fail, to be retried
/// and, at last, kept by the OnFailure destination).
fn is_permanent(e: &StepError) -> bool {
    matches!(
        e.error_type,
        ErrorType::InvalidInput
            | ErrorType::InvalidAudio
            | ErrorType::NoUsableSpeech
            | ErrorType::ProviderRejected
    )
}

async fn handle_uploads<L, S>(
    log: &L,
    starter: &S,
    uploads: Vec<Result<Upload, String>>,
) -> Result<Vec<Accepted>, StepError>
where
    L: SampleLog + RunLog + People,
    S: RunStarter,
{
    let mut out = Vec::with_capacity(uploads.len());
    let mut first_failure: Option<StepError> = None;
    for upload in uploads {
        let accepted = match upload {
            Ok(upload) => match accept_upload(log, starter, &upload).await {
                Ok(a) => a,
                Err(e) if is_permanent(&e) => {
                    let reason = format!("{}: {}", e.code, echome_core::redact::phone_numbers(&e.message));
                    tracing::warn!(reason = %reason, "upload skipped");
                    Accepted::Skipped { reason }
                }
                Err(e) => {
                    tracing::error!(error_type = e.error_type.as_str(), code = %e.code, message = %echome_core::redact::phone_numbers(&e.message), "upload failed; the event will be retried");
                    first_failure.get_or_insert(e);
                    continue;
                }
            },
            Err(reason) => {
                tracing::warn!(reason = %reason, "S3 event record skipped");
                Accepted::Skipped { reason }
            }
        };
        out.push(accepted);
    }
    match first_failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(
            decode_key("samples/%2B14155550123/my+call%281%29.mp3").unwrap(),
            "samples/+14155550123/my call(1).mp3"
        );
        assert!(decode_key("samples/%2").is_err());
        assert!(decode_key("samples/%ff%fe").is_err());
    }

    #[test]
    fn only_person_folders_under_samples_hold_samples() {
        assert_eq!(person_of("samples/+14155550123/a.wav").unwrap().as_key(), "+14155550123");
        assert_eq!(person_of("samples/emp-42/a.wav").unwrap(), Person::Named("emp-42".into()));
        for key in
            ["runs/+14155550123/a.wav", "samples/a.wav", "samples/+14155550123/", "samples/Alice Berg/a.wav"]
        {
            assert!(person_of(key).is_err(), "{key}");
        }
        assert!(!person_of("samples/4155550123/a.wav").unwrap_err().contains("4155550123"));
        let source = person_of("samples/emp-42/url/u20261206t101112345-0a1b2c3d.source.json");
        assert!(source.unwrap_err().contains("source record"));
        assert!(person_of("samples/emp-42/url/u20261206t101112345-0a1b2c3d.m4a").is_ok());
    }
}
