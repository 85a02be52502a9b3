//! The pipeline on one machine: blobs under `{data_dir}/blobs`, records in
//! `{data_dir}/echome.redb`, and the clone run's functions called in-process.

use std::path::{Path, PathBuf};

use echome_core::{
    CloneInput, CloneOutput, ExtractInput, ExtractOutput, QualityScore, ScoreInput, SegmentInput,
    SegmentOutput, StepError, TransitionInput, TransitionOutput,
};
use echome_local::{CloneRunSteps, FsBlobStore, LocalRecords, RunEvent, Runner};

use crate::agent::Agent;
use crate::engine::Engine;

/// The local stand-in for the recordings bucket.
pub const BUCKET: &str = "recordings";

pub struct Local {
    pub data_dir: PathBuf,
    pub blobs: FsBlobStore,
    pub records: LocalRecords,
}

impl Local {
    pub fn open(data_dir: &Path) -> Result<Self, StepError> {
        let records = LocalRecords::open(&data_dir.join("echome.redb"))?;
        std::fs::create_dir_all(data_dir.join("work"))
            .map_err(|e| StepError::internal(format!("creating {}: {e}", data_dir.display())))?;
        Ok(Self { data_dir: data_dir.to_owned(), blobs: FsBlobStore::new(data_dir.join("blobs")), records })
    }

    /// The key erasure receipts hash people with: `{data_dir}/auth/erasure-key`, made on first use.
    pub fn erasure_key(&self) -> Result<echome_core::people::ErasureKey, StepError> {
        let path = self.data_dir.join("auth").join("erasure-key");
        let bytes = echome_auth::local_secret(&path, "erasure hash key").map_err(StepError::internal)?;
        echome_core::people::ErasureKey::new(bytes).map_err(StepError::internal)
    }

    pub fn runner(
        &self,
        min_speech_s: f64,
        engine: Engine,
        agent: Agent,
        on_event: impl Fn(RunEvent) + Send + Sync + 'static,
    ) -> Result<Runner<Steps, LocalRecords>, StepError> {
        let transition = transition_call::Config::from_env().map_err(StepError::invalid_input)?;
        let clone = clone_voice::Config::from_env().map_err(StepError::invalid_input)?;
        let work_dir = self.data_dir.join("work");
        let encoder = echome_voiceprint::default_encoder()
            .map_err(|e| StepError::internal(format!("loading the speaker encoder: {e}")))?;
        let steps = Steps {
            blobs: self.blobs.clone(),
            records: self.records.clone(),
            engine,
            agent,
            transition,
            clone: clone_voice::Config { work_dir: work_dir.clone(), ..clone },
            extract: extract_audio::Config {
                bucket: BUCKET.into(),
                work_dir: work_dir.clone(),
                extract: Default::default(),
                call_channel: echome_core::recordings::RecordingChannel::from_env()
                    .map_err(StepError::invalid_input)?,
            },
            score: score_voice::Config {
                work_dir: work_dir.clone(),
                prepare: echome_audio::PrepareConfig::default(),
                encoder: encoder.clone(),
            },
            segment: segment_audio::Config {
                bucket: BUCKET.into(),
                work_dir,
                prepare: echome_audio::PrepareConfig::default().with_min_speech(min_speech_s),
                encoder,
            },
        };
        Ok(Runner::new(steps, self.records.clone()).on_event(on_event))
    }
}

pub struct Steps {
    blobs: FsBlobStore,
    records: LocalRecords,
    engine: Engine,
    agent: Agent,
    transition: transition_call::Config,
    clone: clone_voice::Config,
    extract: extract_audio::Config,
    segment: segment_audio::Config,
    score: score_voice::Config,
}

impl CloneRunSteps for Steps {
    async fn extract_audio(&self, input: ExtractInput) -> Result<ExtractOutput, StepError> {
        extract_audio::handle(&self.blobs, &self.extract, input).await
    }

    async fn segment_audio(&self, input: SegmentInput) -> Result<SegmentOutput, StepError> {
        segment_audio::handle(&self.blobs, &self.segment, input).await
    }

    async fn clone_voice(&self, input: CloneInput) -> Result<CloneOutput, StepError> {
        clone_voice::handle(&self.blobs, &self.records, &self.records, &self.engine, &self.clone, input).await
    }

    async fn transition_call(&self, input: TransitionInput) -> Result<TransitionOutput, StepError> {
        transition_call::handle(&self.records, &self.agent, &self.transition, input).await
    }

    async fn score_voice(&self, input: ScoreInput) -> Result<QualityScore, StepError> {
        score_voice::handle(&self.blobs, &self.records, &self.engine, &self.score, input).await
    }
}
