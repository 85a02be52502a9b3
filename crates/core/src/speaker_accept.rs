//! An operator's acceptance of a speaker the check refused: the pack that run judged becomes
//! the caller's reference voice, so the caller's next run (their next call or upload, or
//! `echome runs accept`'s own run) clones it. Who accepted it stays on record.

use chrono::{DateTime, Utc};

use crate::error::StorageError;
use crate::ids::RunId;
use crate::ports::{CloneCache, ReferenceVoices, RunLog};
use crate::voiceprint::{ReferenceVoice, SpeakerCheck};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AcceptError {
    #[error("run {0}")]
    UnknownRun(RunId),
    #[error("run {run} did not end speaker_mismatch (it is {status}): there is no speaker to accept")]
    NotAMismatch { run: RunId, status: String },
    #[error(
        "the caller's voice changed after run {run} (run {newer} made or accepted it): the newer voice stands"
    )]
    Superseded { run: RunId, newer: RunId },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Records `by`'s acceptance of the speaker run `run_id` refused; returns the new reference
/// voice and the check it overrides.
pub async fn accept_speaker<R>(
    records: &R,
    run_id: &RunId,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(ReferenceVoice, SpeakerCheck), AcceptError>
where
    R: RunLog + CloneCache + ReferenceVoices,
{
    let run = records.run(run_id).await?.ok_or_else(|| AcceptError::UnknownRun(run_id.clone()))?;
    let refused = records
        .clone_log(run_id)
        .await?
        .into_iter()
        .rev()
        .find(|l| l.status == "speaker_mismatch")
        .and_then(|l| l.speaker_check);
    let Some(check) = refused.filter(|_| run.error.as_ref().is_some_and(|e| e.code == "speaker_mismatch"))
    else {
        let status = run.error.as_ref().map_or_else(|| run.status.as_str().to_owned(), |e| e.code.clone());
        return Err(AcceptError::NotAMismatch { run: run_id.clone(), status });
    };
    if let Some(current) = records.reference_voice(&run.person).await? {
        // Accepted before: the first acceptance stands.
        if current.run_id == *run_id {
            return Ok((current, check));
        }
        if current.run_id != check.reference_run && current.recorded_at > run.started_at {
            return Err(AcceptError::Superseded { run: run_id.clone(), newer: current.run_id });
        }
    }
    let reference = ReferenceVoice {
        person: run.person.clone(),
        voiceprint: check.voiceprint.clone(),
        report: check.pack.clone(),
        run_id: run_id.clone(),
        recorded_at: now,
        accepted_by: Some(by.to_owned()),
    };
    records.put_reference_voice(&reference).await?;
    tracing::info!(run_id = %run_id, caller = %run.person, by, similarity = check.similarity, "speaker accepted");
    Ok((reference, check))
}
