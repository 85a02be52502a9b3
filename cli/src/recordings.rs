//! `echome serve`'s stand-in for the S3 events that invoke fetch-recording and fetch-sample in
//! AWS: the inbox (`inbox/recordings/`, `inbox/url-samples/`) is looked at every second and
//! each request handled by its function's own handler; a stored sample is then accepted as an
//! upload, as upload-trigger does on the S3 event that follows in AWS. A request whose fetch
//! failed is tried again as Lambda would (twice more, a minute and then two apart), then left
//! in the inbox, as the failure queue keeps the event in AWS.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use echome_core::recordings::RECORDING_REQUESTS_PREFIX;
use echome_core::url_samples::URL_SAMPLE_REQUESTS_PREFIX;
use echome_core::{BlobRef, BlobStore, StepError};
use echome_fetch::ytdlp::YtDlp;
use echome_fetch::{Credentials, FetchPolicy, Fetcher};
use echome_local::{Background, FsBlobStore, LocalRecords, Runner};
use upload_trigger::{InboxOutcome, Upload, accept_upload};

use crate::local::{BUCKET, Steps};

const TICK: Duration = Duration::from_secs(1);
/// Lambda's asynchronous retries: two more attempts, a minute and then two minutes later.
const RETRIES: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

/// fetch-recording's fence and configuration.
pub struct Recordings {
    pub fetcher: Fetcher,
    pub config: fetch_recording::Config,
}

/// fetch-sample's fence, downloader and configuration.
pub struct UrlSamples {
    pub fetcher: Fetcher,
    pub ytdlp: YtDlp,
    pub config: fetch_sample::Config,
}

impl UrlSamples {
    /// As fetch-sample reads its environment (`SAMPLE_URL_*`, `FETCH_ALLOWED_NETWORKS`,
    /// `YT_DLP`), its downloads kept in `scratch`.
    pub fn from_env(scratch: PathBuf) -> Result<Self, StepError> {
        let policy = FetchPolicy::for_url_samples().map_err(StepError::invalid_input)?;
        let ytdlp = YtDlp::from_env().map_err(StepError::invalid_input)?;
        let mut config = fetch_sample::Config::from_env().map_err(StepError::invalid_input)?;
        config.scratch = scratch;
        Ok(Self { fetcher: Fetcher::new(policy), ytdlp, config })
    }

    pub fn source(&self) -> fetch_sample::Source<'_> {
        fetch_sample::Source { fetcher: &self.fetcher, ytdlp: &self.ytdlp }
    }
}

pub struct Inbox {
    pub blobs: FsBlobStore,
    pub records: LocalRecords,
    /// `None` when no host may be fetched from (`FETCH_ALLOWED_HOSTS` unset): the webhooks ask
    /// for no recording then.
    pub recordings: Option<Recordings>,
    pub url_samples: UrlSamples,
    pub runs: Background<Steps, LocalRecords>,
}

impl Inbox {
    /// `PBX_RECORDING_CREDENTIALS` holds the PBX's download credentials (`Bearer TOKEN` or
    /// `user:password`).
    pub fn from_env(
        blobs: FsBlobStore,
        records: LocalRecords,
        runner: Arc<Runner<Steps, LocalRecords>>,
        scratch: PathBuf,
    ) -> Result<Self, StepError> {
        let policy = FetchPolicy::from_env().map_err(StepError::invalid_input)?;
        let recordings = match policy.allowed_hosts.is_empty() {
            true => None,
            false => {
                let credentials =
                    match std::env::var("PBX_RECORDING_CREDENTIALS").ok().filter(|c| !c.is_empty()) {
                        Some(text) => Some(Credentials::parse(&text).map_err(|e| {
                            StepError::invalid_input(format!("PBX_RECORDING_CREDENTIALS: {e}"))
                        })?),
                        None => None,
                    };
                let consent = echome_core::ConsentPolicy::from_env().map_err(StepError::invalid_input)?;
                let config =
                    fetch_recording::Config { consent, credentials, scratch: scratch.join("recordings") };
                Some(Recordings { fetcher: Fetcher::new(policy), config })
            }
        };
        let url_samples = UrlSamples::from_env(scratch.join("url-samples"))?;
        Ok(Self { blobs, records, recordings, url_samples, runs: Background(runner) })
    }

    /// Runs until the process ends.
    pub async fn watch(self) {
        let mut prefixes = vec![URL_SAMPLE_REQUESTS_PREFIX];
        if self.recordings.is_some() {
            prefixes.push(RECORDING_REQUESTS_PREFIX);
        }
        // Per request: the attempts made and when the next one may start.
        let mut attempts: HashMap<String, (usize, Instant)> = HashMap::new();
        loop {
            tokio::time::sleep(TICK).await;
            let mut keys = Vec::new();
            for prefix in &prefixes {
                match self.blobs.keys(BUCKET, prefix).await {
                    Ok(k) => keys.extend(k),
                    Err(e) => tracing::warn!(error = %e, prefix, "the inbox cannot be read"),
                }
            }
            attempts.retain(|k, _| keys.contains(k));
            for key in keys {
                let due =
                    attempts.get(&key).is_none_or(|(n, at)| *n <= RETRIES.len() && Instant::now() >= *at);
                if !due {
                    continue;
                }
                match self.handle(&key).await {
                    Ok(()) => {
                        attempts.remove(&key);
                    }
                    Err(e) => {
                        let entry = attempts.entry(key).or_insert((0, Instant::now()));
                        let wait = RETRIES.get(entry.0).copied().unwrap_or_default();
                        *entry = (entry.0 + 1, Instant::now() + wait);
                        let left = RETRIES.len().saturating_sub(entry.0 - 1);
                        tracing::warn!(code = %e.code, message = %echome_core::redact::phone_numbers(&e.message), retries_left = left, "a fetch from the inbox failed");
                    }
                }
            }
        }
    }

    async fn handle(&self, key: &str) -> Result<(), StepError> {
        let request = BlobRef::new(BUCKET, key);
        let outcome = match &self.recordings {
            Some(r) if key.starts_with(RECORDING_REQUESTS_PREFIX) => {
                fetch_recording::fetch_recording(&self.blobs, &self.records, &r.fetcher, &r.config, &request)
                    .await?
            }
            _ => {
                let u = &self.url_samples;
                fetch_sample::fetch_sample(&self.blobs, &self.records, &u.source(), &u.config, &request)
                    .await?
            }
        };
        if let InboxOutcome::Stored { sample, bytes } = outcome {
            accept_stored(&self.records, &self.runs, sample, bytes).await?;
        }
        Ok(())
    }
}

/// A sample echome itself stored (a call's recording, a conversation's caller turns), taken
/// as upload-trigger takes it on the S3 event that follows in AWS.
pub async fn accept_stored(
    records: &LocalRecords,
    runs: &Background<Steps, LocalRecords>,
    sample: BlobRef,
    bytes: u64,
) -> Result<(), StepError> {
    let now = Utc::now();
    let upload = Upload {
        object: sample,
        version: format!("local-{}", now.timestamp_nanos_opt().unwrap_or_default()),
        size: bytes,
        at: now,
    };
    let accepted = accept_upload(records, runs, &upload).await?;
    tracing::info!(?accepted, "a sample echome stored was accepted");
    Ok(())
}

/// Takes each sample the webhooks store (see `webhook_intake::Config::sample_arrivals`) until
/// the process ends.
pub async fn take_arrivals(
    records: LocalRecords,
    runs: Background<Steps, LocalRecords>,
    mut arrivals: tokio::sync::mpsc::UnboundedReceiver<(BlobRef, u64)>,
) {
    while let Some((sample, bytes)) = arrivals.recv().await {
        if let Err(e) = accept_stored(&records, &runs, sample, bytes).await {
            tracing::warn!(code = %e.code, message = %echome_core::redact::phone_numbers(&e.message), "a sample from a call could not be accepted");
        }
    }
}
