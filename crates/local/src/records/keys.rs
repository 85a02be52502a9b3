//! Every key the local records are stored under, in one place. Keys are strings that sort the
//! way their table is read: an owner, `|`, then time (RFC 3339 with milliseconds, which sorts
//! as text). All of one owner's keys lie in `[owner|, owner})`, since `}` sorts just after `|`.

use chrono::{DateTime, SecondsFormat, Utc};
use echome_core::library::{AuditEvent, VoiceModel};
use echome_core::{CallEventRecord, CallRecord, CallerId, CloneLogRecord};

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The range holding every key of `owner` (a caller, a call, a run).
pub(super) fn owned_by(owner: &str) -> (String, String) {
    (format!("{owner}|"), format!("{owner}}}"))
}

/// A call's place among its caller's calls: start time, then id (also the page cursor).
pub(super) fn call_sort(rec: &CallRecord) -> String {
    format!("{}#{}", time(rec.started_at), rec.call_id)
}

/// `calls_by_caller`: the caller's calls in time order.
pub(super) fn caller_call(caller: &CallerId, sort: &str) -> String {
    format!("{}|{sort}", caller.as_str())
}

/// `call_events`: by time and kind; `n` keeps events of one millisecond apart.
pub(super) fn event(event: &CallEventRecord, n: u32) -> String {
    format!("{}|{}|{n:06}", time(event.at), event.kind.as_str())
}

/// `call_events_by_call`: a call's events, pointing at their `call_events` key.
pub(super) fn call_event(call: &str, event_key: &str) -> String {
    format!("{call}|{event_key}")
}

/// `call_events` from `from` through all of `to`'s millisecond (cut at full precision after).
pub(super) fn events_between(from: DateTime<Utc>, to: DateTime<Utc>) -> (String, String) {
    (time(from), format!("{}~", time(to)))
}

/// `clone_log`: a run's attempts in time order.
pub(super) fn clone_log(rec: &CloneLogRecord) -> String {
    format!("{}|{}", rec.run_id, time(rec.at))
}

/// A model's place in time (also the page cursor of `models_by_time`).
pub(super) fn model_sort(m: &VoiceModel) -> String {
    echome_core::library::port::position(m)
}

/// `models_by_person`: a person's models in time order.
pub(super) fn person_model(m: &VoiceModel) -> String {
    format!("{}|{}", m.person.as_key(), model_sort(m))
}

/// `model_audit`: a model's events in time order; `n` keeps events of one millisecond apart.
pub(super) fn model_audit(e: &AuditEvent, n: u32) -> String {
    format!("{}|{}|{n:06}", e.model_id, time(e.at))
}
