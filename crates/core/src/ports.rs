//! Narrow traits the handlers are generic over; crates/aws and crates/local implement them.

use std::future::Future;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::blob::BlobRef;
use crate::calls::{CallEventRecord, CallRecord};
use crate::error::StorageError;
use crate::ids::{CallId, CallerId, Person, RunId, VoiceId};
use crate::quality::QualityScore;
use crate::records::{CloneLogRecord, CloneRecord, RunOutcome, RunRecord, SampleRecord, SampleWrite};
use crate::speech::SpeechFormat;
use crate::steps::{CloneRunInput, SegmentOutput};
use crate::voiceprint::ReferenceVoice;

/// Object storage: S3 in AWS, a folder locally. Audio moves through files and ranges, never
/// whole objects in memory.
pub trait BlobStore: Send + Sync {
    /// Streams the object into a local file; returns its size in bytes.
    fn download_to(
        &self,
        blob: &BlobRef,
        dest: &Path,
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// Streams a local file into the store.
    fn upload_from(
        &self,
        blob: &BlobRef,
        src: &Path,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Reads `len` bytes from `start` (fewer at the end of the object).
    fn read_range(
        &self,
        blob: &BlobRef,
        start: u64,
        len: u64,
    ) -> impl Future<Output = Result<Vec<u8>, StorageError>> + Send;

    /// Stores a small object (reports, records).
    fn put_bytes(
        &self,
        blob: &BlobRef,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Reads a small object whole.
    fn get_bytes(&self, blob: &BlobRef) -> impl Future<Output = Result<Vec<u8>, StorageError>> + Send;

    /// Whether the object is there, asked as a list of its own key: in S3 a `ListObjectsV2`
    /// that `s3:ListBucket` limited by `s3:prefix` allows, where a `GetObject` of a missing key
    /// would answer 403 unless listing the whole bucket were allowed.
    fn exists(&self, blob: &BlobRef) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Moves the object to `to` (in S3 a copy, then the original deleted); `Ok(false)` when
    /// there is nothing at `from` (it expired, or an earlier attempt moved it).
    fn move_to(
        &self,
        from: &BlobRef,
        to: &BlobRef,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Deletes every object under `prefix` (ending in `/`), and in a versioned S3 bucket every
    /// version and delete marker of each, so nothing is left to restore (erasure). Returns how
    /// many objects and versions went.
    fn delete_prefix(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// Deletes the object with every version and delete marker of it; `Ok(0)` when there is none.
    fn delete_versions(&self, blob: &BlobRef) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// The keys of the objects under `prefix`, for the scans erasure makes.
    fn keys(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StorageError>> + Send;

    /// Where someone without credentials can fetch the object for `valid_for`: in S3 a
    /// presigned GET; locally the file's `file://` URL.
    fn download_url(
        &self,
        blob: &BlobRef,
        valid_for: std::time::Duration,
    ) -> impl Future<Output = Result<String, StorageError>> + Send;

    /// Where someone without credentials can PUT a new object for `valid_for`, sent with this
    /// `Content-Type`: in S3 a presigned PUT (the upload's event then starts its run). `None`
    /// from a store that takes no uploads from outside: the local one, where `echome samples
    /// add` puts a file.
    fn upload_url(
        &self,
        blob: &BlobRef,
        content_type: &str,
        valid_for: std::time::Duration,
    ) -> impl Future<Output = Result<Option<String>, StorageError>> + Send;
}

/// One delivery as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// `3cx` or `elevenlabs`.
    pub source: &'a str,
    pub received_at: DateTime<Utc>,
    pub body: &'a [u8],
}

impl Delivery<'_> {
    /// `webhooks/{source}/{day}/{time}-{digest}.json`: by source and day, the same in S3 and
    /// locally; the digest keeps two deliveries in one millisecond apart.
    pub fn key(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = crate::signing::hex(&Sha256::digest(self.body)[..8]);
        format!(
            "webhooks/{}/{}/{}-{digest}.json",
            self.source,
            self.received_at.format("%Y-%m-%d"),
            self.received_at.format("%H%M%S%.3f")
        )
    }
}

/// Where webhook deliveries are kept as received, before anything acts on them: S3 in AWS (see
/// `archive::BlobArchive`); the local database on one machine, where a file per
/// delivery cost more than the rest of the call.
pub trait WebhookArchive: Send + Sync {
    /// Keeps the delivery durably; returns its key ([`Delivery::key`]).
    fn keep(&self, delivery: &Delivery<'_>) -> impl Future<Output = Result<String, StorageError>> + Send;

    /// Deletes every delivery kept under one of `prefixes` (`webhooks/3cx/2026-11-22/`) whose
    /// body contains one of `needles` (a person's number): erasure. Returns how many went.
    fn forget(
        &self,
        prefixes: &[String],
        needles: &[String],
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;
}

/// Each caller's current sample.
pub trait SampleLog: Send + Sync {
    /// Records an upload; only a newer upload replaces the caller's current sample.
    fn record_sample(
        &self,
        rec: &SampleRecord,
    ) -> impl Future<Output = Result<SampleWrite, StorageError>> + Send;

    fn current_sample(
        &self,
        person: &Person,
    ) -> impl Future<Output = Result<Option<SampleRecord>, StorageError>> + Send;

    /// Keeps the pack cut from `sample` with the caller's current sample, if that is still
    /// `sample` (a newer upload gets its own pack); `false` when it is not.
    fn record_pack(
        &self,
        person: &Person,
        sample: &BlobRef,
        pack: &SegmentOutput,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;
}

/// The clone runs and how they ended.
pub trait RunLog: Send + Sync {
    /// Records a new run; `false` when a run of that id is already on record.
    fn create_run(&self, rec: &RunRecord) -> impl Future<Output = Result<bool, StorageError>> + Send;

    fn finish_run(
        &self,
        run_id: &RunId,
        outcome: &RunOutcome,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    fn run(&self, run_id: &RunId) -> impl Future<Output = Result<Option<RunRecord>, StorageError>> + Send;

    /// The caller's most recently started run.
    fn latest_run(
        &self,
        person: &Person,
    ) -> impl Future<Output = Result<Option<RunRecord>, StorageError>> + Send;

    /// Every run of the caller (for erasure: where their derived files are).
    fn runs_of(&self, person: &Person) -> impl Future<Output = Result<Vec<RunId>, StorageError>> + Send;
}

/// Whether recording a call made it.
#[derive(Debug, Clone, PartialEq)]
pub enum CallClaim {
    /// This delivery recorded the call: it works out the answer.
    New(CallRecord),
    /// Already on record (a retried or concurrent webhook): the first delivery's record.
    Existing(CallRecord),
}

/// A page of a caller's calls, newest first; `next` continues after the last one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallPage {
    pub calls: Vec<CallRecord>,
    pub next: Option<String>,
}

/// The call log: calls by id and by caller and time, and the call flow's events.
pub trait CallLog: Send + Sync {
    /// Records a call once, whatever the number of deliveries racing to do so.
    fn claim_call(&self, rec: &CallRecord) -> impl Future<Output = Result<CallClaim, StorageError>> + Send;

    fn call(&self, call_id: &CallId)
    -> impl Future<Output = Result<Option<CallRecord>, StorageError>> + Send;

    /// Writes `rec` (with `version + 1`) only if the stored record is still at `rec.version`;
    /// `Ok(false)` when another writer came first. Use `call_log::update_call`.
    fn save_call(&self, rec: &CallRecord) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// A caller's calls, newest first, `limit` at a time; `after` is the previous page's `next`.
    fn calls_of(
        &self,
        caller: &CallerId,
        limit: usize,
        after: Option<&str>,
    ) -> impl Future<Output = Result<CallPage, StorageError>> + Send;

    fn log_event(&self, event: &CallEventRecord) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// One call's events, oldest first.
    fn call_events(
        &self,
        call_id: &CallId,
    ) -> impl Future<Output = Result<Vec<CallEventRecord>, StorageError>> + Send;

    /// Every event in `[from, to)`, for `/metrics`.
    fn events_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<CallEventRecord>, StorageError>> + Send;
}

/// Whether asking for a run started one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStart {
    Started,
    /// A run of that name exists already (a redelivered event): nothing new was started.
    AlreadyStarted,
}

/// Starts clone runs: Step Functions in AWS, the in-process runner locally.
pub trait RunStarter: Send + Sync {
    fn start(&self, input: &CloneRunInput) -> impl Future<Output = Result<RunStart, StorageError>> + Send;
}

/// The clone cache (one entry per caller) and the clone log.
pub trait CloneCache: Send + Sync {
    fn clone_of(
        &self,
        person: &Person,
    ) -> impl Future<Output = Result<Option<CloneRecord>, StorageError>> + Send;

    /// Stores the caller's entry, replacing any earlier one.
    fn put_clone(&self, rec: &CloneRecord) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// A reuse of `voice`: only while the caller's entry is still active with that voice (an
    /// evicted or replaced voice never comes back), the count goes up, `last_used_at` moves to
    /// `at` and `expires_at` becomes at least `at + ttl`, checked and written together (a
    /// conditional write, never a read-modify-write). `Ok(false)`, with nothing written, when
    /// the entry is missing, evicted or holds another voice.
    fn touch_clone(
        &self,
        person: &Person,
        voice: &VoiceId,
        at: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Marks the caller's entry evicted, only while it still holds `voice` (a conditional
    /// write: a voice made since by another run is never marked in its place); `Ok(false)`,
    /// with nothing written, when the entry is missing or holds another voice.
    fn evict_clone(
        &self,
        person: &Person,
        voice: &VoiceId,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Every caller's entry (for slot eviction and reconciliation).
    fn clones(&self) -> impl Future<Output = Result<Vec<CloneRecord>, StorageError>> + Send;

    fn log_clone(&self, rec: &CloneLogRecord) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// A run's clone attempts, oldest first.
    fn clone_log(
        &self,
        run_id: &RunId,
    ) -> impl Future<Output = Result<Vec<CloneLogRecord>, StorageError>> + Send;

    /// Stores `score` with the caller's entry, only while it still holds `score.voice_id` (a
    /// voice made since has its own score to come); `Ok(false)` when it does not.
    fn set_quality(
        &self,
        person: &Person,
        score: &QualityScore,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// The measured quality of the caller's voice `voice`, while their entry holds it.
    fn quality_of(
        &self,
        person: &Person,
        voice: &VoiceId,
    ) -> impl Future<Output = Result<Option<QualityScore>, StorageError>> + Send;
}

/// Each caller's reference voice (the voiceprint a new recording's speaker is checked against).
pub trait ReferenceVoices: Send + Sync {
    fn reference_voice(
        &self,
        person: &Person,
    ) -> impl Future<Output = Result<Option<ReferenceVoice>, StorageError>> + Send;

    /// Stores the caller's reference voice, replacing any earlier one.
    fn put_reference_voice(
        &self,
        rec: &ReferenceVoice,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// A voice the engine holds.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineVoice {
    pub voice_id: VoiceId,
    /// Made by echome (labelled so); only these are ever deleted.
    pub ours: bool,
}

/// The voice provider: ElevenLabs, or locally the offline espeak-ng engine.
pub trait VoiceEngine: Send + Sync {
    /// `elevenlabs` or `offline`; recorded with everything the engine makes.
    fn name(&self) -> &'static str;

    /// Makes a voice from local pack files; returns its id and the bytes uploaded.
    fn clone_voice(
        &self,
        name: &str,
        files: &[std::path::PathBuf],
        remove_background_noise: bool,
    ) -> impl Future<Output = Result<(VoiceId, u64), crate::StepError>> + Send;

    fn delete_voice(&self, voice: &VoiceId) -> impl Future<Output = Result<(), crate::StepError>> + Send;

    /// The account's voices (all pages).
    fn voices(&self) -> impl Future<Output = Result<Vec<EngineVoice>, crate::StepError>> + Send;

    /// `(used, limit)` voice slots, when the engine has a limit.
    fn slots(&self) -> impl Future<Output = Result<Option<(u32, u32)>, crate::StepError>> + Send;

    fn synthesize(
        &self,
        voice: &VoiceId,
        text: &str,
        format: SpeechFormat,
    ) -> impl Future<Output = Result<Vec<u8>, crate::StepError>> + Send;

    /// The most characters one `synthesize` call may carry (the model's limit).
    fn max_characters(&self) -> impl Future<Output = Result<usize, crate::StepError>> + Send;

    /// The model that speaks (part of what makes two requests the same).
    fn model(&self) -> &str;
}

/// A conversation the voice agent is asked to start with the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCallRequest {
    /// Whom the agent rings (E.164).
    pub to: CallerId,
    /// `None`: the agent's own voice.
    pub voice_id: Option<VoiceId>,
    pub variables: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentCallStarted {
    /// The provider's conversation id (or its trunk's call id).
    pub call_id: Option<String>,
}

/// The voice agent that talks to callers: ElevenLabs Agents over a SIP trunk or Twilio.
pub trait AgentCalls: Send + Sync {
    fn start_call(
        &self,
        req: &AgentCallRequest,
    ) -> impl Future<Output = Result<AgentCallStarted, crate::StepError>> + Send;
}
