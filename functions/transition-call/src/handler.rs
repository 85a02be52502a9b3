//! TransitionCall: the clone run's hand-over. When the clone is ready, the caller on the
//! greeting moves to the agent speaking with the cloned voice; when it failed, or the deadline
//! came first, to the agent with the default voice; when the caller hung up, nobody is rung.
//! The hand-over is claimed on the call's record before anyone is rung, so the clone and the
//! deadline (which race in the state machine's Parallel state) never ring twice. Ringing has a
//! budget well inside the function's timeout, so the outcome is always recorded; a claim whose
//! ring never finished (the function was cut off anyway) lapses after a lease and the failure
//! path can take it over.

use chrono::Utc;
use echome_core::call_log::{record_event, update_call};
use echome_core::calls::{AgentLeg, HandOverPlan, HandOverTrigger, agent_variables, plan_hand_over};
use echome_core::{
    AgentCallRequest, AgentCalls, CallEventKind, CallEventRecord, CallLog, CallRecord, CallStatus, HandOver,
    StepError, TransitionInput, TransitionOutput, VoiceId,
};

/// The provider's word for a call that may or may not have been placed (a lost answer).
const OUTCOME_UNKNOWN: &str = "outcome_unknown";

#[derive(Debug, Clone)]
pub struct Config {
    /// `AUTO_TRANSITION_ENABLED` (default on): off, a ready clone is kept for the next call
    /// and the caller gets the default voice.
    pub auto_transition: bool,
    /// `DEFAULT_VOICE_ID`: the fallback voice; unset, the agent's own.
    pub default_voice: Option<VoiceId>,
    /// How long ringing the agent may take (the client's retries included): inside the
    /// function's 30 s timeout, so the answer is recorded whatever it is.
    pub ring_budget: std::time::Duration,
    /// How long a claimed hand-over may stay without its agent leg before another trigger may
    /// take it over: longer than the function's timeout, so its claimant is surely gone.
    pub claim_lease: std::time::Duration,
    /// Where the call flow's metrics go (EMF lines in Lambda).
    pub metrics: echome_core::metrics::Sink,
    /// `CALL_RETENTION_DAYS`: the call's events are kept as long as the call.
    pub call_retention_days: i64,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        let auto_transition =
            echome_core::env::parsed("AUTO_TRANSITION_ENABLED", "true or false")?.unwrap_or(true);
        let default_voice = match std::env::var("DEFAULT_VOICE_ID").ok().filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(VoiceId::parse(v.trim()).map_err(|e| format!("DEFAULT_VOICE_ID: {e}"))?),
            None => None,
        };
        Ok(Self {
            auto_transition,
            default_voice,
            ring_budget: std::time::Duration::from_secs(20),
            claim_lease: std::time::Duration::from_secs(40),
            metrics: echome_core::metrics::Sink::default(),
            call_retention_days: echome_core::env::call_retention_days()?,
        })
    }
}

pub async fn handle<L: CallLog, A: AgentCalls>(
    calls: &L,
    agent: &A,
    cfg: &Config,
    input: TransitionInput,
) -> Result<TransitionOutput, StepError> {
    let now = Utc::now();
    let call_id = input.call.threecx_call_id.clone();
    let trigger = match (&input.clone, &input.error) {
        (Some(clone), _) => HandOverTrigger::CloneReady(clone.voice_id.clone()),
        (None, Some(_)) => HandOverTrigger::CloneFailed,
        (None, None) => HandOverTrigger::Deadline,
    };
    let call = calls
        .call(&call_id)
        .await?
        .ok_or_else(|| StepError::invalid_input(format!("call {call_id} is not on record")))?;
    match (&trigger, &input.error) {
        (HandOverTrigger::CloneReady(voice), _) => {
            let ready = CallEventRecord::new(CallEventKind::CloneReady, Some(&call_id), now)
                .since(call.started_at)
                .detail(voice.as_str());
            record_event(calls, &cfg.metrics, cfg.call_retention_days, ready).await;
        }
        (HandOverTrigger::CloneFailed, Some(e)) => {
            let failed = CallEventRecord::new(CallEventKind::CloneFailed, Some(&call_id), now)
                .since(call.started_at)
                .detail(&e.error);
            record_event(calls, &cfg.metrics, cfg.call_retention_days, failed).await;
        }
        _ => {}
    }

    let mut plan = HandOverPlan::AlreadyDone;
    let claimed = update_call(calls, &call_id, |c| {
        plan = plan_hand_over(c, &trigger, cfg.auto_transition, now, cfg.claim_lease);
        if let HandOverTrigger::CloneReady(v) = &trigger {
            c.voice_id = Some(v.clone());
        }
        if !matches!(plan, HandOverPlan::AlreadyDone) {
            c.hand_over_at = Some(now);
        }
        match &plan {
            HandOverPlan::Cloned(_) => c.hand_over = Some(HandOver::Transferred),
            HandOverPlan::Fallback(reason) => {
                c.hand_over = Some(HandOver::Fallback);
                c.note = Some((*reason).to_owned());
            }
            HandOverPlan::NotRung => c.hand_over = Some(HandOver::NotRung),
            HandOverPlan::AlreadyDone => return matches!(trigger, HandOverTrigger::CloneReady(_)),
        }
        true
    })
    .await?
    .ok_or_else(|| StepError::invalid_input(format!("call {call_id} is not on record")))?;

    match plan {
        HandOverPlan::AlreadyDone => Ok(output("already_done", None, None)),
        HandOverPlan::NotRung => {
            let ev = CallEventRecord::new(CallEventKind::NotRung, Some(&call_id), now).since(call.started_at);
            record_event(calls, &cfg.metrics, cfg.call_retention_days, ev).await;
            tracing::info!(call_id = %call_id, "the caller hung up before the hand-over; nobody rung");
            Ok(output("not_rung", None, None))
        }
        HandOverPlan::Cloned(voice) => {
            let vars = agent_variables(&claimed, true);
            let Some(leg) = ring(calls, agent, cfg, &claimed, Some(voice), vars).await? else {
                return Ok(output("unknown", None, Some("agent_timeout")));
            };
            let since = claimed.greeting.as_ref().map_or(claimed.started_at, |g| g.at);
            let ev = CallEventRecord::new(CallEventKind::CloneTransfer, Some(&call_id), leg.at).since(since);
            record_event(calls, &cfg.metrics, cfg.call_retention_days, ev).await;
            Ok(output("transferred", leg.call_id, None))
        }
        HandOverPlan::Fallback(reason) => {
            let mut vars = agent_variables(&claimed, false);
            vars.insert("fallback_reason".into(), reason.into());
            let Some(leg) = ring(calls, agent, cfg, &claimed, cfg.default_voice.clone(), vars).await? else {
                return Ok(output("unknown", None, Some("agent_timeout")));
            };
            let since = claimed.greeting.as_ref().map_or(claimed.started_at, |g| g.at);
            let ev = CallEventRecord::new(CallEventKind::Fallback, Some(&call_id), leg.at)
                .since(since)
                .detail(reason);
            record_event(calls, &cfg.metrics, cfg.call_retention_days, ev).await;
            Ok(output("fallback", leg.call_id, Some(reason)))
        }
    }
}

fn output(outcome: &str, agent_call_id: Option<String>, reason: Option<&str>) -> TransitionOutput {
    TransitionOutput { outcome: outcome.into(), agent_call_id, reason: reason.map(str::to_owned) }
}

/// Rings the agent for a claimed hand-over and records the leg. If the agent cannot be
/// reached the claim is given back, so the state machine's retry can try again. A ring cut off
/// by the budget, or whose answer was lost, may still have gone out: that is recorded as an
/// unknown outcome (`Ok(None)`) and not retried, so nobody is rung twice.
async fn ring<L: CallLog, A: AgentCalls>(
    calls: &L,
    agent: &A,
    cfg: &Config,
    call: &CallRecord,
    voice_id: Option<VoiceId>,
    variables: std::collections::BTreeMap<String, String>,
) -> Result<Option<AgentLeg>, StepError> {
    let req = AgentCallRequest { to: call.caller_id.clone(), voice_id: voice_id.clone(), variables };
    let started = match tokio::time::timeout(cfg.ring_budget, agent.start_call(&req)).await {
        Ok(Err(e)) if e.code == OUTCOME_UNKNOWN => Err(format!("{OUTCOME_UNKNOWN}: {}", e.message)),
        Ok(answer) => Ok(answer),
        Err(_) => Err(format!(
            "agent_timeout: ringing was cut off after {} s; whether the call went out is unknown",
            cfg.ring_budget.as_secs()
        )),
    };
    let started = match started {
        Ok(answer) => answer,
        Err(note) => {
            tracing::error!(call_id = %call.call_id, note = %echome_core::redact::phone_numbers(&note), "the hand-over's outcome is unknown");
            update_call(calls, &call.call_id, |c| {
                c.agent = Some(AgentLeg { call_id: None, voice_id: voice_id.clone(), at: Utc::now() });
                c.note = Some(note.clone());
                true
            })
            .await?;
            return Ok(None);
        }
    };
    match started {
        Ok(started) => {
            let leg = AgentLeg { call_id: started.call_id, voice_id, at: Utc::now() };
            update_call(calls, &call.call_id, |c| {
                c.agent = Some(leg.clone());
                if c.status != CallStatus::Ended {
                    c.status = CallStatus::Agent;
                }
                true
            })
            .await?;
            Ok(Some(leg))
        }
        Err(e) => {
            tracing::warn!(call_id = %call.call_id, error = %echome_core::redact::phone_numbers(&e.to_string()), "the agent could not be rung");
            update_call(calls, &call.call_id, |c| {
                c.hand_over = None;
                c.hand_over_at = None;
                c.note = Some(format!("agent unreachable: {}", e.code));
                true
            })
            .await?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::Duration;
    use echome_core::{
        AgentCallStarted, CallContext, CallId, CallerId, CloneOutput, ErrorType, RunId, steps::StateError,
    };
    use echome_local::LocalRecords;

    use super::*;

    #[derive(Default)]
    struct Agent {
        rung: Mutex<Vec<AgentCallRequest>>,
        fail: bool,
        /// Answers only after this long (a 429 with `Retry-After: 60` inside the client).
        hang: Option<std::time::Duration>,
    }

    impl AgentCalls for Agent {
        async fn start_call(&self, req: &AgentCallRequest) -> Result<AgentCallStarted, StepError> {
            if let Some(d) = self.hang {
                tokio::time::sleep(d).await;
            }
            if self.fail {
                return Err(StepError::new(ErrorType::Retryable, "provider_unavailable", "503"));
            }
            let mut rung = self.rung.lock().unwrap();
            rung.push(req.clone());
            Ok(AgentCallStarted { call_id: Some(format!("conv_{}", rung.len())) })
        }
    }

    struct World {
        _dir: tempfile::TempDir,
        db: LocalRecords,
        call: CallRecord,
    }

    async fn world(deadline_in_s: i64, status: CallStatus) -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
        let started = Utc::now() - Duration::seconds(10);
        let mut call = CallRecord::new(
            CallId::parse("3cx-77").unwrap(),
            CallerId::parse("+14155550123").unwrap(),
            "+18005550199".into(),
            started,
        );
        db.claim_call(&call).await.unwrap();
        call.status = status;
        call.deadline = Some(Utc::now() + Duration::seconds(deadline_in_s));
        call.greeting = Some(AgentLeg { call_id: Some("conv_greeting".into()), voice_id: None, at: started });
        assert!(db.save_call(&call).await.unwrap());
        call.version += 1;
        World { _dir: dir, db, call }
    }

    fn input(w: &World, clone: bool, error: bool) -> TransitionInput {
        TransitionInput {
            run_id: RunId::parse("call-1").unwrap(),
            caller_id: w.call.caller_id.clone(),
            call: CallContext {
                threecx_call_id: w.call.call_id.clone(),
                greeting_call_id: Some("conv_greeting".into()),
                phone_number: w.call.caller_id.clone(),
                deadline: w.call.deadline.unwrap(),
            },
            clone: clone.then(|| CloneOutput {
                voice_id: VoiceId::parse("cloned1").unwrap(),
                engine: "elevenlabs".into(),
                cached: false,
                evicted: None,
            }),
            error: error.then(|| StateError { error: "NoUsableSpeech".into(), cause: "music only".into() }),
        }
    }

    fn cfg() -> Config {
        Config {
            auto_transition: true,
            default_voice: Some(VoiceId::parse("defaultVoice").unwrap()),
            ring_budget: std::time::Duration::from_millis(300),
            claim_lease: std::time::Duration::from_secs(40),
            metrics: Default::default(),
            call_retention_days: 30,
        }
    }

    fn kinds(events: &[CallEventRecord]) -> Vec<&'static str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    #[tokio::test]
    async fn a_ready_clone_moves_the_live_caller_to_the_cloned_voice() {
        let w = world(25, CallStatus::Greeting).await;
        let agent = Agent::default();
        let out = handle(&w.db, &agent, &cfg(), input(&w, true, false)).await.unwrap();
        assert_eq!((out.outcome.as_str(), out.agent_call_id.as_deref()), ("transferred", Some("conv_1")));
        let rung = agent.rung.lock().unwrap().clone();
        assert_eq!(rung.len(), 1);
        assert_eq!(rung[0].voice_id.as_ref().map(|v| v.as_str()), Some("cloned1"));
        assert_eq!(rung[0].to.as_str(), "+14155550123");
        for (k, v) in [("mode", "agent"), ("from_greeting", "true"), ("auto_transitioned", "true")] {
            assert_eq!(rung[0].variables[k], v, "{k}");
        }
        let call = w.db.call(&w.call.call_id).await.unwrap().unwrap();
        assert_eq!((call.status, call.hand_over), (CallStatus::Agent, Some(HandOver::Transferred)));
        assert_eq!(call.agent.unwrap().call_id.as_deref(), Some("conv_1"));
        let events = w.db.call_events(&w.call.call_id).await.unwrap();
        assert_eq!(kinds(&events), ["clone_ready", "clone_transfer"]);
        assert!(events[1].duration_ms.unwrap() >= 10_000, "measured from the greeting: {events:?}");
        for e in &events {
            assert_eq!(
                e.expires_at,
                (e.at + chrono::Duration::days(30)).timestamp(),
                "kept as long as the call"
            );
        }

        // The deadline fires later: nothing more happens.
        let again = handle(&w.db, &agent, &cfg(), input(&w, false, false)).await.unwrap();
        assert_eq!(again.outcome, "already_done");
        assert_eq!(agent.rung.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_clone_or_a_passed_deadline_gets_the_default_voice() {
        let w = world(25, CallStatus::Greeting).await;
        let agent = Agent::default();
        let out = handle(&w.db, &agent, &cfg(), input(&w, false, true)).await.unwrap();
        assert_eq!((out.outcome.as_str(), out.reason.as_deref()), ("fallback", Some("clone_failed")));
        let rung = agent.rung.lock().unwrap().clone();
        assert_eq!(rung[0].voice_id.as_ref().map(|v| v.as_str()), Some("defaultVoice"));
        assert_eq!(rung[0].variables["fallback_reason"], "clone_failed");
        let events = w.db.call_events(&w.call.call_id).await.unwrap();
        assert_eq!(kinds(&events), ["clone_failed", "fallback"]);
        assert_eq!(events[0].detail.as_deref(), Some("NoUsableSpeech"));

        let late = world(-1, CallStatus::Greeting).await;
        let agent = Agent::default();
        let out = handle(&late.db, &agent, &cfg(), input(&late, false, false)).await.unwrap();
        assert_eq!((out.outcome.as_str(), out.reason.as_deref()), ("fallback", Some("deadline_passed")));
        // The clone finishes after that: kept, nobody rung again.
        let out = handle(&late.db, &agent, &cfg(), input(&late, true, false)).await.unwrap();
        assert_eq!(out.outcome, "already_done");
        let call = late.db.call(&late.call.call_id).await.unwrap().unwrap();
        assert_eq!(
            call.voice_id.as_ref().map(|v| v.as_str()),
            Some("cloned1"),
            "the late clone is on record"
        );
        assert_eq!(agent.rung.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn nobody_is_rung_for_a_caller_who_hung_up() {
        let w = world(25, CallStatus::Ended).await;
        let agent = Agent::default();
        let out = handle(&w.db, &agent, &cfg(), input(&w, true, false)).await.unwrap();
        assert_eq!(out.outcome, "not_rung");
        assert!(agent.rung.lock().unwrap().is_empty());
        let events = w.db.call_events(&w.call.call_id).await.unwrap();
        assert_eq!(kinds(&events), ["clone_ready", "not_rung"]);
        let call = w.db.call(&w.call.call_id).await.unwrap().unwrap();
        assert_eq!((call.status, call.hand_over), (CallStatus::Ended, Some(HandOver::NotRung)));
    }

    #[tokio::test]
    async fn auto_transition_off_keeps_the_clone_for_the_next_call() {
        let w = world(25, CallStatus::Greeting).await;
        let agent = Agent::default();
        let off = Config { auto_transition: false, ..cfg() };
        let out = handle(&w.db, &agent, &off, input(&w, true, false)).await.unwrap();
        assert_eq!(out.reason.as_deref(), Some("auto_transition_disabled"));
        assert_eq!(agent.rung.lock().unwrap()[0].voice_id.as_ref().map(|v| v.as_str()), Some("defaultVoice"));
    }

    #[tokio::test]
    async fn a_ring_held_up_past_its_budget_is_recorded_as_unknown_and_never_repeated() {
        let w = world(25, CallStatus::Greeting).await;
        let stuck = Agent { hang: Some(std::time::Duration::from_secs(60)), ..Agent::default() };
        let started = std::time::Instant::now();
        let out = handle(&w.db, &stuck, &cfg(), input(&w, true, false)).await.unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        assert_eq!((out.outcome.as_str(), out.reason.as_deref()), ("unknown", Some("agent_timeout")));
        let call = w.db.call(&w.call.call_id).await.unwrap().unwrap();
        assert!(call.note.as_deref().unwrap().contains("unknown"), "{:?}", call.note);
        // The failure path and the deadline come later: the call may be ringing, so nobody
        // rings it again.
        let up = Agent::default();
        let again = handle(&w.db, &up, &cfg(), input(&w, false, true)).await.unwrap();
        assert_eq!(again.outcome, "already_done");
        assert!(up.rung.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_hand_over_claim_left_by_a_cut_off_function_is_taken_over_after_its_lease() {
        let w = world(25, CallStatus::Greeting).await;
        // A function claimed the hand-over a minute ago and was killed before it rang.
        echome_core::call_log::update_call(&w.db, &w.call.call_id, |c| {
            c.hand_over = Some(HandOver::Transferred);
            c.hand_over_at = Some(Utc::now() - Duration::seconds(60));
            true
        })
        .await
        .unwrap();
        let agent = Agent::default();
        let out = handle(&w.db, &agent, &cfg(), input(&w, false, true)).await.unwrap();
        assert_eq!((out.outcome.as_str(), out.reason.as_deref()), ("fallback", Some("clone_failed")));
        assert_eq!(agent.rung.lock().unwrap().len(), 1, "the caller is not left on the greeting");
    }

    #[tokio::test]
    async fn an_unreachable_agent_gives_the_claim_back_for_the_retry() {
        let w = world(25, CallStatus::Greeting).await;
        let down = Agent { fail: true, ..Agent::default() };
        let err = handle(&w.db, &down, &cfg(), input(&w, true, false)).await.unwrap_err();
        assert_eq!(err.error_type, ErrorType::Retryable, "the state machine retries it");
        let call = w.db.call(&w.call.call_id).await.unwrap().unwrap();
        assert_eq!(call.hand_over, None);
        let up = Agent::default();
        let out = handle(&w.db, &up, &cfg(), input(&w, true, false)).await.unwrap();
        assert_eq!(out.outcome, "transferred");
    }

    #[tokio::test]
    async fn every_event_fixture_hands_over_as_its_name_says() {
        for name in echome_testkit::events::names("transition-call") {
            let event: TransitionInput = echome_testkit::events::parse("transition-call", &name);
            // The fixture's call, on record with the deadline still ahead (or, for the
            // deadline fixture, just passed).
            let mut w = world(if name == "deadline" { -1 } else { 25 }, CallStatus::Greeting).await;
            let mut rec = w.call.clone();
            rec.call_id = event.call.threecx_call_id.clone();
            rec.version = 0;
            w.db.claim_call(&rec).await.unwrap();
            w.call = rec;
            let agent = Agent::default();
            let out = handle(&w.db, &agent, &cfg(), event).await.unwrap();
            let expected = match name.as_str() {
                "clone-ready" => "transferred",
                "clone-failed" | "deadline" => "fallback",
                other => panic!("no expectation for events/transition-call/{other}.json"),
            };
            assert_eq!(out.outcome, expected, "{name}");
            assert_eq!(agent.rung.lock().unwrap().len(), 1, "{name}");
        }
    }
}
