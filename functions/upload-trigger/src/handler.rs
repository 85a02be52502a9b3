//! UploadTrigger: a recording lands under `samples/{caller_id}/…`. The caller's sample record
//! points at it (the newest upload wins; the original is never touched), and a clone run named
//! after the object's key and version starts, so a redelivered event starts nothing new.

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use chrono::{DateTime, Utc};
use echome_core::{
    BlobRef, CallerId, CloneRunInput, RunId, RunLog, RunRecord, RunStart, RunStarter, SampleLog,
    SampleRecord, SampleWrite, StepError,
};
use serde::Serialize;

pub const SAMPLES_PREFIX: &str = "samples/";

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
    /// A newer sample of this caller is already on record; no run for this one.
    Superseded,
    Skipped {
        reason: String,
    },
}

/// Records the sample and starts its run. Shared by the Lambda and `echome samples add`.
pub async fn accept_upload<L, S>(log: &L, starter: &S, upload: &Upload) -> Result<Accepted, StepError>
where
    L: SampleLog + RunLog,
    S: RunStarter,
{
    let caller = match caller_of(&upload.object.key) {
        Ok(c) => c,
        Err(reason) => {
            tracing::info!(bucket = %upload.object.bucket, reason = %reason, "upload skipped");
            return Ok(Accepted::Skipped { reason });
        }
    };
    if upload.size == 0 {
        // An empty object is still a sample on record: its run fails with `empty_file`, which
        // is where the person who sent it finds out.
        tracing::warn!(caller = %caller, "empty upload");
    }
    let sample = SampleRecord {
        caller_id: caller.clone(),
        sample: upload.object.clone(),
        version: upload.version.clone(),
        uploaded_at: upload.at,
        size: upload.size,
    };
    if log.record_sample(&sample).await? == SampleWrite::Superseded {
        tracing::info!(caller = %caller, "a newer sample is on record; no run for this upload");
        return Ok(Accepted::Superseded);
    }
    let run_id = RunId::for_upload(&caller, &upload.object.key, &upload.version);
    // A redelivered event finds its run on record and asks again: starting is idempotent too,
    // and an earlier attempt may have stopped between the two writes.
    log.create_run(&RunRecord::started(run_id.clone(), caller.clone(), upload.object.clone(), upload.at))
        .await?;
    let input = CloneRunInput {
        run_id: run_id.clone(),
        caller_id: caller.clone(),
        sample: upload.object.clone(),
        call: None,
    };
    let started = starter.start(&input).await?;
    tracing::info!(caller = %caller, run_id = %run_id, ?started, "sample recorded");
    Ok(match started {
        RunStart::Started => Accepted::Started { run_id: run_id.to_string() },
        RunStart::AlreadyStarted => Accepted::AlreadyStarted { run_id: run_id.to_string() },
    })
}

/// `samples/{caller_id}/{name}` → the caller; anything else is not a sample.
pub fn caller_of(key: &str) -> Result<CallerId, String> {
    let rest = key.strip_prefix(SAMPLES_PREFIX).ok_or_else(|| "key is outside samples/".to_owned())?;
    let (caller, name) =
        rest.split_once('/').ok_or_else(|| "key has no samples/{caller_id}/ folder".to_owned())?;
    if name.is_empty() || name.ends_with('/') {
        return Err("key is a folder, not a recording".into());
    }
    // The reason is logged: never put the raw (possibly a phone number) segment in it.
    CallerId::parse(caller)
        .map_err(|_| format!("folder of {} characters is not an E.164 caller id", caller.len()))
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
    Ok(Upload {
        object: BlobRef::new(bucket, key),
        version,
        size: record.s3.object.size.unwrap_or(0).max(0) as u64,
        at: record.event_time,
    })
}

/// Every record of the event; a failure that may pass fails the whole invocation so Lambda
/// retries it (every write is idempotent).
pub async fn handle<L, S>(log: &L, starter: &S, event: S3Event) -> Result<Vec<Accepted>, StepError>
where
    L: SampleLog + RunLog,
    S: RunStarter,
{
    let mut out = Vec::with_capacity(event.records.len());
    for record in &event.records {
        let is_create = record.event_name.as_deref().is_none_or(|n| n.starts_with("ObjectCreated"));
        let accepted = match upload_of(record) {
            _ if !is_create => Accepted::Skipped { reason: "not an ObjectCreated event".into() },
            Ok(upload) => accept_upload(log, starter, &upload).await?,
            Err(reason) => {
                tracing::warn!(reason = %reason, "malformed S3 event record skipped");
                Accepted::Skipped { reason }
            }
        };
        out.push(accepted);
    }
    Ok(out)
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
    fn only_caller_folders_under_samples_hold_samples() {
        assert_eq!(caller_of("samples/+14155550123/a.wav").unwrap().as_str(), "+14155550123");
        for key in
            ["runs/+14155550123/a.wav", "samples/a.wav", "samples/+14155550123/", "samples/alice/a.wav"]
        {
            assert!(caller_of(key).is_err(), "{key}");
        }
        assert!(!caller_of("samples/4155550123/a.wav").unwrap_err().contains("4155550123"));
    }
}
