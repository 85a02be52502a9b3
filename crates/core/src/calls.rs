//! The call flow's records and rules: which path an incoming call takes, what the hand-over
//! does when the clone is ready (or is not), and the call log's records and events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::blob::BlobRef;
use crate::ids::{CallId, CallerId, RunId, VoiceId};
use crate::records::{CALL_RETENTION_DAYS, CloneRecord, SampleRecord, expiry};

/// What an incoming call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallPath {
    /// A fresh clone was cached: the agent speaks with it from the first word.
    Cached,
    /// A greeting plays while the caller's sample is cloned.
    Cloning,
    /// No sample on file: the agent with the default voice.
    NoSample,
    /// A sample on file, but no consent to clone the caller: the agent with the default voice.
    ConsentMissing,
}

impl CallPath {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cached => "cached",
            Self::Cloning => "cloning",
            Self::NoSample => "no_sample",
            Self::ConsentMissing => "consent_missing",
        }
    }
}

/// The path for a caller, from their cache entry and sample.
pub fn choose_path(
    clone: Option<&CloneRecord>,
    sample: Option<&SampleRecord>,
    now: DateTime<Utc>,
) -> CallPath {
    match (clone, sample) {
        (Some(c), _) if c.is_fresh(now) => CallPath::Cached,
        (_, Some(_)) => CallPath::Cloning,
        _ => CallPath::NoSample,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Recorded; the first answer is being worked out.
    Started,
    /// The greeting plays; the clone is being made.
    Greeting,
    /// With the agent (cloned or default voice).
    Agent,
    /// The agent could not be reached.
    Failed,
    Ended,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Greeting => "greeting",
            Self::Agent => "agent",
            Self::Failed => "failed",
            Self::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Started, Self::Greeting, Self::Agent, Self::Failed, Self::Ended]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A conversation the ElevenLabs agent was asked to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentLeg {
    /// ElevenLabs' conversation id (the "call id" answers show), or the trunk's call id.
    pub call_id: Option<String>,
    /// `None`: the agent's own (default) voice.
    pub voice_id: Option<VoiceId>,
    pub at: DateTime<Utc>,
}

/// How the caller left the greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandOver {
    /// To the agent with the cloned voice.
    Transferred,
    /// To the agent with the default voice (clone failed, deadline passed, or switched off).
    Fallback,
    /// The caller had hung up: nobody was rung.
    NotRung,
}

impl HandOver {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transferred => "transferred",
            Self::Fallback => "fallback",
            Self::NotRung => "not_rung",
        }
    }
}

/// What the post-call webhook said of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub conversation_id: String,
    pub status: String,
    pub duration_s: Option<f64>,
    /// The whole transcript (JSON) in the store.
    pub transcript: Option<BlobRef>,
    /// Its first lines, bounded (see [`TRANSCRIPT_EXCERPT_CHARS`]).
    pub excerpt: String,
    /// What became of the caller's turns of the conversation's audio (`stored` as a sample,
    /// or why not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<crate::recordings::RecordingState>,
}

/// The most transcript characters kept in the call log itself.
pub const TRANSCRIPT_EXCERPT_CHARS: usize = 1000;

/// One call, from 3CX's first event to ElevenLabs' post-call webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub call_id: CallId,
    pub caller_id: CallerId,
    #[serde(default)]
    pub called_number: String,
    pub started_at: DateTime<Utc>,
    /// When the delivery now answering it took the claim (a takeover moves it, so a second
    /// retry does not take over from the first).
    #[serde(default)]
    pub claimed_at: Option<DateTime<Utc>>,
    pub status: CallStatus,
    #[serde(default)]
    pub path: Option<CallPath>,
    #[serde(default)]
    pub greeting: Option<AgentLeg>,
    #[serde(default)]
    pub agent: Option<AgentLeg>,
    /// The caller's cloned voice, once there is one.
    #[serde(default)]
    pub voice_id: Option<VoiceId>,
    #[serde(default)]
    pub run_id: Option<RunId>,
    /// When the greeting gives way to the default voice if the clone is not ready.
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    pub hand_over: Option<HandOver>,
    /// When the hand-over was claimed: a claim whose ringing never finished (the function was
    /// cut off) can be taken over after its lease.
    #[serde(default)]
    pub hand_over_at: Option<DateTime<Utc>>,
    /// Why the caller got the default voice or nobody, or what failed.
    #[serde(default)]
    pub note: Option<String>,
    /// The last state 3CX reported, and when 3CX said it changed (an older or replayed
    /// `CallStateChanged` does not move it back).
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub state_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    #[serde(default)]
    pub conversations: Vec<ConversationSummary>,
    /// What became of the recording 3CX offered when the call ended.
    #[serde(default)]
    pub recording: Option<crate::recordings::RecordingState>,
    /// Bumped on every write; a write based on an older read is refused (see [`update_call`]).
    #[serde(default)]
    pub version: u64,
    pub expires_at: i64,
}

impl CallRecord {
    pub fn new(call_id: CallId, caller_id: CallerId, called_number: String, at: DateTime<Utc>) -> Self {
        Self {
            call_id,
            caller_id,
            called_number,
            started_at: at,
            claimed_at: Some(at),
            status: CallStatus::Started,
            path: None,
            greeting: None,
            agent: None,
            voice_id: None,
            run_id: None,
            deadline: None,
            hand_over: None,
            hand_over_at: None,
            note: None,
            state: None,
            state_at: None,
            ended_at: None,
            duration_s: None,
            conversations: Vec::new(),
            recording: None,
            version: 0,
            expires_at: expiry(at, CALL_RETENTION_DAYS),
        }
    }

    pub fn is_live(&self) -> bool {
        !matches!(self.status, CallStatus::Ended)
    }

    /// The first answer has been worked out (a duplicate webhook gets it).
    pub fn is_answered(&self) -> bool {
        self.path.is_some()
    }

    /// Claimed more than `lease` ago and never answered, with the caller still on the line:
    /// whoever claimed it is gone, and the next delivery of the call should answer it.
    pub fn is_abandoned(&self, now: DateTime<Utc>, lease: std::time::Duration) -> bool {
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let claimed = self.claimed_at.unwrap_or(self.started_at);
        !self.is_answered() && self.status == CallStatus::Started && now - claimed > lease
    }

    /// The greeting was placed and the run named, but the run did not start (its start failed,
    /// or the delivery stopped in between): the next delivery starts it. Ringing is never
    /// repeated, so this needs no lease.
    pub fn run_pending(&self) -> bool {
        !self.is_answered() && self.is_live() && self.run_id.is_some() && self.greeting_placed()
    }

    /// A greeting leg is on record (even one that failed to ring is recorded as tried).
    pub fn greeting_placed(&self) -> bool {
        self.greeting.is_some() || self.status == CallStatus::Greeting
    }

    /// Too old to be this call: 3CX reuses call ids, and no call lasts a day.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now - self.started_at > chrono::Duration::hours(24)
    }
}

/// The call-log records behind `/metrics` and the clone-ready/failed/transfer tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEventKind {
    /// An `IncomingCall` was answered (`path` says how).
    Incoming,
    StateChanged,
    Ended,
    /// The clone was ready; `duration_ms` from the call's start.
    CloneReady,
    CloneFailed,
    /// Moved to the cloned voice; `duration_ms` from the greeting's start.
    CloneTransfer,
    /// Moved to the default voice; `detail` says why.
    Fallback,
    /// The clone finished after the caller hung up.
    NotRung,
    PostCall,
    /// A webhook refused; `detail` is `<route> <code>`.
    WebhookRejected,
}

impl CallEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incoming => "incoming",
            Self::StateChanged => "state_changed",
            Self::Ended => "ended",
            Self::CloneReady => "clone_ready",
            Self::CloneFailed => "clone_failed",
            Self::CloneTransfer => "clone_transfer",
            Self::Fallback => "fallback",
            Self::NotRung => "not_rung",
            Self::PostCall => "post_call",
            Self::WebhookRejected => "webhook_rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEventRecord {
    pub at: DateTime<Utc>,
    pub kind: CallEventKind,
    #[serde(default)]
    pub call_id: Option<CallId>,
    #[serde(default)]
    pub path: Option<CallPath>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub detail: Option<String>,
    pub expires_at: i64,
}

impl CallEventRecord {
    pub fn new(kind: CallEventKind, call_id: Option<&CallId>, at: DateTime<Utc>) -> Self {
        Self {
            at,
            kind,
            call_id: call_id.cloned(),
            path: None,
            duration_ms: None,
            detail: None,
            expires_at: expiry(at, CALL_RETENTION_DAYS),
        }
    }

    pub fn path(mut self, path: CallPath) -> Self {
        self.path = Some(path);
        self
    }

    /// Milliseconds from `since` to the event.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.duration_ms = Some((self.at - since).num_milliseconds().max(0) as u64);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// What the hand-over does when the clone run ends or the deadline comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandOverPlan {
    /// Ring the agent with the cloned voice.
    Cloned(VoiceId),
    /// Ring the agent with the default voice; the reason is recorded.
    Fallback(&'static str),
    /// The caller hung up.
    NotRung,
    /// Someone already handed the call over (the deadline or the clone came first).
    AlreadyDone,
}

/// Why a hand-over was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandOverTrigger {
    CloneReady(VoiceId),
    CloneFailed,
    Deadline,
}

/// `lease`: how long a claimed hand-over may go without its agent leg before another trigger
/// (the failure path after a timed-out ring) may take it over.
pub fn plan_hand_over(
    call: &CallRecord,
    trigger: &HandOverTrigger,
    auto_transition: bool,
    now: DateTime<Utc>,
    lease: std::time::Duration,
) -> HandOverPlan {
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let claim_lapsed = call.agent.is_none()
        && call.hand_over.is_some_and(|h| h != HandOver::NotRung)
        && call.hand_over_at.is_some_and(|at| now - at > lease);
    if call.agent.is_some() || (call.hand_over.is_some() && !claim_lapsed) {
        return HandOverPlan::AlreadyDone;
    }
    if !call.is_live() {
        return HandOverPlan::NotRung;
    }
    let past_deadline = call.deadline.is_some_and(|d| now > d);
    match trigger {
        HandOverTrigger::CloneReady(_) if !auto_transition => {
            HandOverPlan::Fallback("auto_transition_disabled")
        }
        HandOverTrigger::CloneReady(_) if past_deadline => HandOverPlan::Fallback("deadline_passed"),
        HandOverTrigger::CloneReady(voice) => HandOverPlan::Cloned(voice.clone()),
        HandOverTrigger::CloneFailed => HandOverPlan::Fallback("clone_failed"),
        HandOverTrigger::Deadline if past_deadline || call.deadline.is_none() => {
            HandOverPlan::Fallback("deadline_passed")
        }
        // Woken early (clock skew): the clone may still make it.
        HandOverTrigger::Deadline => HandOverPlan::AlreadyDone,
    }
}

/// Dynamic variables the agent gets when it takes over from the greeting.
pub fn agent_variables(call: &CallRecord, auto_transitioned: bool) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("caller_id".to_owned(), call.caller_id.as_str().to_owned()),
        ("threecx_call_id".to_owned(), call.call_id.as_str().to_owned()),
        ("mode".to_owned(), "agent".to_owned()),
        ("from_greeting".to_owned(), call.greeting.is_some().to_string()),
        ("auto_transitioned".to_owned(), auto_transitioned.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::CloneStatus;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const LEASE: std::time::Duration = std::time::Duration::from_secs(40);

    fn call() -> CallRecord {
        let mut c = CallRecord::new(
            CallId::parse("3cx-1").unwrap(),
            CallerId::parse("+14155550123").unwrap(),
            "+18005550199".into(),
            t("2026-11-20T09:00:00Z"),
        );
        c.status = CallStatus::Greeting;
        c.deadline = Some(t("2026-11-20T09:00:35Z"));
        c
    }

    fn clone_rec(expires: &str, status: CloneStatus) -> CloneRecord {
        CloneRecord {
            person: crate::Person::parse("+14155550123").unwrap(),
            voice_id: VoiceId::parse("v1").unwrap(),
            engine: "elevenlabs".into(),
            pack_digest: "d".into(),
            run_id: RunId::parse("r").unwrap(),
            created_at: t("2026-11-19T09:00:00Z"),
            last_used_at: t("2026-11-19T09:00:00Z"),
            reuse_count: 0,
            status,
            expires_at: t(expires).timestamp(),
        }
    }

    fn sample() -> SampleRecord {
        SampleRecord {
            person: crate::Person::parse("+14155550123").unwrap(),
            sample: BlobRef::new("b", "samples/+14155550123/a.wav"),
            version: "v".into(),
            uploaded_at: t("2026-11-01T00:00:00Z"),
            size: 10,
            pack: None,
        }
    }

    #[test]
    fn only_an_old_unanswered_claim_of_a_live_call_is_abandoned() {
        let lease = std::time::Duration::from_secs(15);
        let claimed = CallRecord::new(
            CallId::parse("3cx-1").unwrap(),
            CallerId::parse("+14155550123").unwrap(),
            "+18005550199".into(),
            t("2026-11-20T09:00:00Z"),
        );
        assert!(!claimed.is_abandoned(t("2026-11-20T09:00:15Z"), lease), "still within the lease");
        assert!(claimed.is_abandoned(t("2026-11-20T09:00:16Z"), lease));
        let answered = CallRecord { path: Some(CallPath::Cached), ..claimed.clone() };
        assert!(!answered.is_abandoned(t("2026-11-20T10:00:00Z"), lease));
        let hung_up = CallRecord { status: CallStatus::Ended, ..claimed };
        assert!(!hung_up.is_abandoned(t("2026-11-20T10:00:00Z"), lease), "nobody left to answer");
    }

    #[test]
    fn the_path_follows_the_cache_and_the_sample() {
        let now = t("2026-11-20T09:00:00Z");
        let fresh = clone_rec("2026-11-20T10:00:00Z", CloneStatus::Active);
        let stale = clone_rec("2026-11-20T08:00:00Z", CloneStatus::Active);
        let evicted = clone_rec("2026-11-20T10:00:00Z", CloneStatus::Evicted);
        assert_eq!(choose_path(Some(&fresh), None, now), CallPath::Cached);
        assert_eq!(choose_path(Some(&stale), Some(&sample()), now), CallPath::Cloning);
        assert_eq!(choose_path(Some(&evicted), Some(&sample()), now), CallPath::Cloning);
        assert_eq!(choose_path(None, Some(&sample()), now), CallPath::Cloning);
        assert_eq!(choose_path(Some(&stale), None, now), CallPath::NoSample);
        assert_eq!(choose_path(None, None, now), CallPath::NoSample);
    }

    #[test]
    fn the_hand_over_rings_the_clone_only_for_a_live_call_before_its_deadline() {
        let v = VoiceId::parse("v1").unwrap();
        let ready = HandOverTrigger::CloneReady(v.clone());
        let before = t("2026-11-20T09:00:20Z");
        let after = t("2026-11-20T09:00:36Z");
        assert_eq!(plan_hand_over(&call(), &ready, true, before, LEASE), HandOverPlan::Cloned(v));
        assert_eq!(
            plan_hand_over(&call(), &ready, true, after, LEASE),
            HandOverPlan::Fallback("deadline_passed")
        );
        assert_eq!(
            plan_hand_over(&call(), &ready, false, before, LEASE),
            HandOverPlan::Fallback("auto_transition_disabled")
        );
        assert_eq!(
            plan_hand_over(&call(), &HandOverTrigger::CloneFailed, true, before, LEASE),
            HandOverPlan::Fallback("clone_failed")
        );
        assert_eq!(
            plan_hand_over(&call(), &HandOverTrigger::Deadline, true, before, LEASE),
            HandOverPlan::AlreadyDone
        );
        assert_eq!(
            plan_hand_over(&call(), &HandOverTrigger::Deadline, true, after, LEASE),
            HandOverPlan::Fallback("deadline_passed")
        );
        let mut ended = call();
        ended.status = CallStatus::Ended;
        assert_eq!(plan_hand_over(&ended, &ready, true, before, LEASE), HandOverPlan::NotRung);
        let mut done = call();
        done.hand_over = Some(HandOver::Fallback);
        done.hand_over_at = Some(before);
        assert_eq!(plan_hand_over(&done, &ready, true, before, LEASE), HandOverPlan::AlreadyDone);
    }

    #[test]
    fn a_claimed_hand_over_that_never_rang_is_taken_over_after_its_lease() {
        let mut claimed = call();
        claimed.hand_over = Some(HandOver::Transferred);
        claimed.hand_over_at = Some(t("2026-11-20T09:00:20Z"));
        let failed = HandOverTrigger::CloneFailed;
        let soon = t("2026-11-20T09:00:30Z");
        assert_eq!(
            plan_hand_over(&claimed, &failed, true, soon, LEASE),
            HandOverPlan::AlreadyDone,
            "the ring may still be going"
        );
        let later = t("2026-11-20T09:01:10Z");
        assert_eq!(
            plan_hand_over(&claimed, &failed, true, later, LEASE),
            HandOverPlan::Fallback("clone_failed")
        );
        claimed.agent = Some(AgentLeg { call_id: None, voice_id: None, at: soon });
        assert_eq!(
            plan_hand_over(&claimed, &failed, true, later, LEASE),
            HandOverPlan::AlreadyDone,
            "it rang"
        );
    }

    #[test]
    fn the_agent_learns_it_took_over_from_the_greeting() {
        let mut c = call();
        c.greeting = Some(AgentLeg { call_id: Some("conv_g".into()), voice_id: None, at: c.started_at });
        let vars = agent_variables(&c, true);
        assert_eq!(vars["caller_id"], "+14155550123");
        assert_eq!((vars["mode"].as_str(), vars["from_greeting"].as_str()), ("agent", "true"));
        assert_eq!(vars["auto_transitioned"], "true");
    }

    #[test]
    fn names_are_the_ones_serde_writes() {
        let json = |v: serde_json::Value| v.as_str().map(str::to_owned);
        for s in [
            CallStatus::Started,
            CallStatus::Greeting,
            CallStatus::Agent,
            CallStatus::Failed,
            CallStatus::Ended,
        ] {
            assert_eq!(json(serde_json::to_value(s).unwrap()).as_deref(), Some(s.as_str()));
            assert_eq!(CallStatus::parse(s.as_str()), Some(s));
        }
        for p in [CallPath::Cached, CallPath::Cloning, CallPath::NoSample] {
            assert_eq!(json(serde_json::to_value(p).unwrap()).as_deref(), Some(p.as_str()));
        }
        for h in [HandOver::Transferred, HandOver::Fallback, HandOver::NotRung] {
            assert_eq!(json(serde_json::to_value(h).unwrap()).as_deref(), Some(h.as_str()));
        }
        let k = CallEventKind::CloneTransfer;
        assert_eq!(json(serde_json::to_value(k).unwrap()).as_deref(), Some(k.as_str()));
    }
}
