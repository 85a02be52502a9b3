//! How records look in answers: callers' numbers redacted, times in RFC 3339.

use chrono::{DateTime, Utc};
use echome_core::{
    CallEventRecord, CallRecord, CallerId, CloneLogRecord, CloneRecord, QualityScore, ReferenceVoice,
    RunRecord, RunStatus, SpeakerCheck, StepError,
};
use serde_json::{Value, json};

/// A run, with its new speaker against the caller's voice on record when it was checked, and
/// its voice's measured quality (score and parts), and what its clone step last did (`clone`:
/// `created`, `reused`, `kept_active` with why, …).
pub fn run(
    run: &RunRecord,
    check: Option<&SpeakerCheck>,
    quality: Option<&QualityScore>,
    last_clone: Option<&CloneLogRecord>,
) -> Value {
    json!({
        "run_id": run.run_id,
        "person": run.person.to_string(),
        "caller_id": run.person.caller().map(CallerId::redacted),
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "report": run.report,
        "voice_id": run.voice_id,
        "error": run.error.as_ref().map(error),
        "speaker_check": check.map(SpeakerCheck::figures),
        "quality": quality.map(QualityScore::summary),
        "clone": last_clone.map(|l| json!({ "status": l.status, "at": l.at, "note": l.note })),
    })
}

/// An accepted speaker: the caller's next run clones it.
pub fn accepted(reference: &ReferenceVoice, check: &SpeakerCheck) -> Value {
    json!({
        "run_id": reference.run_id,
        "person": reference.person.to_string(),
        "caller_id": reference.person.caller().map(CallerId::redacted),
        "accepted_by": reference.accepted_by,
        "accepted_at": reference.recorded_at,
        "speaker_check": check.figures(),
        "next": "the caller's next call or upload is cloned with this speaker",
    })
}

fn error(e: &StepError) -> Value {
    json!({ "type": e.error_type, "code": e.code, "message": e.message })
}

/// A sample's key holds the caller's whole number: status, size and why, not where.
fn recording(r: &echome_core::recordings::RecordingState) -> Value {
    json!({
        "status": r.status, "at": r.at, "bytes": r.bytes, "code": r.code,
        "reason": r.reason.as_deref().map(echome_core::redact::phone_numbers),
    })
}

pub fn call(call: &CallRecord, events: Option<&[CallEventRecord]>) -> Value {
    let mut v = json!({
        "call_id": call.call_id,
        "caller_id": call.caller_id.redacted(),
        "status": call.status,
        "path": call.path,
        "started_at": call.started_at,
        "ended_at": call.ended_at,
        "duration_s": call.duration_s,
        "state": call.state,
        "greeting": call.greeting,
        "agent": call.agent,
        "voice_id": call.voice_id,
        "run_id": call.run_id,
        "deadline": call.deadline,
        "hand_over": call.hand_over,
        "note": call.note,
        "conversations": call.conversations.iter().map(|c| json!({
            "conversation_id": c.conversation_id, "status": c.status, "duration_s": c.duration_s,
            "transcript": c.transcript, "excerpt": c.excerpt, "audio": c.audio.as_ref().map(recording),
        })).collect::<Vec<_>>(),
        "recording": call.recording.as_ref().map(recording),
    });
    if let Some(events) = events {
        v["events"] = events
            .iter()
            .map(|e| json!({ "at": e.at, "kind": e.kind, "duration_ms": e.duration_ms, "detail": e.detail }))
            .collect();
    }
    v
}

/// `ready` (a fresh clone), `cloning` (a run under way), `failed` (the latest run failed),
/// or `not_started`.
pub fn clone_status(
    caller: &CallerId,
    clone: Option<&CloneRecord>,
    run: Option<&RunRecord>,
    quality: Option<&QualityScore>,
    now: DateTime<Utc>,
) -> Value {
    let fresh = clone.filter(|c| c.is_fresh(now));
    let status = match (fresh, run.map(|r| r.status)) {
        (Some(_), _) => "ready",
        (_, Some(RunStatus::Running)) => "cloning",
        (None, Some(RunStatus::Failed)) => "failed",
        _ => "not_started",
    };
    json!({
        "caller_id": caller.redacted(),
        "status": status,
        "voice_id": fresh.map(|c| &c.voice_id),
        "engine": fresh.map(|c| &c.engine),
        "created_at": fresh.map(|c| c.created_at),
        "last_used_at": fresh.map(|c| c.last_used_at),
        "expires_at": fresh.and_then(|c| DateTime::from_timestamp(c.expires_at, 0)),
        "reuse_count": fresh.map(|c| c.reuse_count),
        "quality": fresh.and(quality).map(QualityScore::summary),
        "latest_run": run.map(|r| json!({
            "run_id": r.run_id,
            "status": r.status,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "error": r.error.as_ref().map(error),
        })),
    })
}
