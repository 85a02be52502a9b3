//! `POST /webhook/3cx-call`: the 3CX call events. An `IncomingCall` is recorded once per 3CX
//! call id; the delivery that recorded it works out the answer (cached clone, greeting while
//! cloning, or the default voice), and every duplicate gets that same answer.

use std::collections::BTreeMap;

use chrono::{Duration, SubsecRound, Utc};
use echome_core::calls::{AgentLeg, CallPath, agent_variables, choose_path, record_event, update_call};
use echome_core::threecx::{self, CallEvent, CallEventType, WebhookError};
use echome_core::{
    AgentCallRequest, AgentCalls, BlobStore, CallClaim, CallContext, CallEventKind, CallEventRecord, CallLog,
    CallRecord, CallStatus, CloneCache, CloneRunInput, ErrorType, RunId, RunLog, RunRecord, RunStarter,
    SampleLog, StepError, VoiceId, WebhookArchive,
};
use serde_json::{Value, json};

use crate::{Intake, IntakeError, Request};

impl<R, S, B, A, W> Intake<R, S, B, A, W>
where
    R: CallLog + CloneCache + SampleLog + RunLog,
    S: RunStarter,
    B: BlobStore,
    A: AgentCalls,
    W: WebhookArchive,
{
    pub(crate) async fn threecx(&self, req: &Request<'_>) -> Result<(i64, Value), IntakeError> {
        if req.body.len() > threecx::MAX_BODY_BYTES {
            return Err(WebhookError::TooLarge(req.body.len()).into());
        }
        let allowed = match req.source_ip.and_then(|ip| ip.parse().ok()) {
            Some(ip) => self.config.trusted_ips.allows(ip),
            None => self.config.trusted_ips == threecx::TrustedIps::default(),
        };
        if !allowed {
            return Err(
                WebhookError::Forbidden(req.source_ip.unwrap_or("an unknown address").to_owned()).into()
            );
        }
        threecx::verify(
            &self.config.secrets.threecx,
            req.header(threecx::TIMESTAMP_HEADER),
            req.header(threecx::SIGNATURE_HEADER),
            &req.body,
            req.now,
        )?;
        let kept = self.keep("3cx", req).await?;
        let event = CallEvent::parse(&req.body).inspect_err(|e| {
            tracing::info!(kept = %kept, error = %e, "a malformed 3CX event was kept");
        })?;
        match event.event_type {
            CallEventType::IncomingCall => self.incoming(&event).await,
            CallEventType::CallEnded => self.ended(&event).await,
            CallEventType::CallStateChanged => self.state_changed(&event, &req.body).await,
        }
    }

    async fn incoming(&self, event: &CallEvent) -> Result<(i64, Value), IntakeError> {
        let now = Utc::now();
        let fresh =
            CallRecord::new(event.call_id.clone(), event.caller_id.clone(), event.called_number.clone(), now);
        let call = match self.records.claim_call(&fresh).await? {
            CallClaim::New(call) => self.answer(call).await?,
            CallClaim::Existing(call) => {
                let first = self.first_answer(call).await?;
                if first.is_answered() {
                    return Ok((status_of(&first), answer_body(&first, true)));
                }
                match self.take_over(first).await? {
                    Some(call) => self.answer(call).await?,
                    None => {
                        return Ok((
                            202,
                            json!({ "status": "processing", "call_id": event.call_id, "duplicate": true }),
                        ));
                    }
                }
            }
        };
        Ok((status_of(&call), answer_body(&call, false)))
    }

    /// A duplicate waits (briefly) for the first delivery's answer.
    async fn first_answer(&self, mut call: CallRecord) -> Result<CallRecord, IntakeError> {
        let until = std::time::Instant::now() + self.config.duplicate_wait;
        while !call.is_answered() && std::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if let Some(c) = self.records.call(&call.call_id).await? {
                call = c;
            }
        }
        Ok(call)
    }

    /// A claim nobody answered (its delivery crashed or was cut off) is taken over by the
    /// delivery whose version-checked save wins, so 3CX's retry still gets the caller answered.
    async fn take_over(&self, call: CallRecord) -> Result<Option<CallRecord>, IntakeError> {
        if !call.is_abandoned(Utc::now(), self.config.claim_lease) || !self.records.save_call(&call).await? {
            return Ok(None);
        }
        tracing::warn!(call_id = %call.call_id, "the call's first delivery never answered; a retry answers it");
        Ok(Some(CallRecord { version: call.version + 1, ..call }))
    }

    /// The first delivery: which path, who is rung, and (cloning) the clone run.
    async fn answer(&self, call: CallRecord) -> Result<CallRecord, IntakeError> {
        let now = Utc::now();
        let (clone, sample) = tokio::try_join!(
            self.records.clone_of(&call.caller_id),
            self.records.current_sample(&call.caller_id)
        )?;
        let path = choose_path(clone.as_ref(), sample.as_ref(), now);
        let mut vars = agent_variables(&call, false);
        let (voice, run) = match (path, &clone, &sample) {
            (CallPath::Cached, Some(c), _) => (Some(c.voice_id.clone()), None),
            (CallPath::Cloning, _, Some(s)) => {
                vars.insert("mode".into(), "greeting".into());
                vars.insert("greeting_message".into(), self.config.greeting_message.clone());
                if let Some(url) = &self.config.greeting_music_url {
                    vars.insert("greeting_music_url".into(), url.clone());
                }
                (self.config.greeting_voice.clone(), Some(s.sample.clone()))
            }
            _ => (self.config.default_voice.clone(), None),
        };
        let rung = self.ring(&call, voice.clone(), vars).await;
        // Whole seconds: the state machine's Wait state reads it as its TimestampPath.
        let deadline = (now
            + Duration::from_std(self.config.clone_max_wait).unwrap_or(Duration::seconds(35)))
        .trunc_subsecs(0);
        let run_id = run.as_ref().map(|_| RunId::for_call(&call.call_id));
        let updated = update_call(&self.records, &call.call_id, |c| {
            c.path = Some(path);
            let leg = rung.as_ref().ok().map(|id| AgentLeg {
                call_id: id.clone(),
                voice_id: voice.clone(),
                at: now,
            });
            match path {
                CallPath::Cloning => {
                    c.greeting = leg;
                    c.run_id = run_id.clone();
                    c.deadline = Some(deadline);
                    c.status = CallStatus::Greeting;
                }
                CallPath::Cached | CallPath::NoSample => {
                    c.agent = leg;
                    c.status = if rung.is_ok() { CallStatus::Agent } else { CallStatus::Failed };
                }
            }
            if path == CallPath::Cached {
                c.voice_id = voice.clone();
            }
            if let Err(e) = &rung {
                c.note = Some(format!("agent unreachable: {}", e.code));
            }
            true
        })
        .await?
        .ok_or(IntakeError::Internal)?;
        if path == CallPath::Cached
            && let Err(e) = self.records.touch_clone(&call.caller_id, now).await
        {
            tracing::warn!(error = %e, "the clone's use was not counted");
        }
        if let (Some(sample), Some(run_id)) = (run, run_id) {
            // Even when the greeting could not be placed, the clone goes ahead: the hand-over
            // rings the caller when it is ready (or at the deadline).
            let input = CloneRunInput {
                run_id: run_id.clone(),
                caller_id: call.caller_id.clone(),
                sample: sample.clone(),
                call: Some(CallContext {
                    threecx_call_id: call.call_id.clone(),
                    greeting_call_id: rung.as_ref().ok().cloned().flatten(),
                    phone_number: call.caller_id.clone(),
                    deadline,
                }),
            };
            self.records.create_run(&RunRecord::started(run_id, call.caller_id.clone(), sample, now)).await?;
            self.runs.start(&input).await?;
        }
        let ev = CallEventRecord::new(CallEventKind::Incoming, Some(&call.call_id), Utc::now())
            .path(path)
            .since(call.started_at);
        record_event(&self.records, ev, self.config.emf).await;
        tracing::info!(call_id = %call.call_id, caller = %call.caller_id, path = path.as_str(), "incoming call answered");
        Ok(updated)
    }

    async fn ring(
        &self,
        call: &CallRecord,
        voice_id: Option<VoiceId>,
        variables: BTreeMap<String, String>,
    ) -> Result<Option<String>, StepError> {
        let req = AgentCallRequest { to: call.caller_id.clone(), voice_id, variables };
        let budget = self.config.ring_budget;
        let started = tokio::time::timeout(budget, self.agent.start_call(&req)).await.unwrap_or_else(|_| {
            Err(StepError::new(
                ErrorType::Retryable,
                "agent_timeout",
                format!("the agent did not answer within {} ms", budget.as_millis()),
            ))
        });
        match started {
            Ok(started) => Ok(started.call_id),
            Err(e) => {
                tracing::error!(call_id = %call.call_id, error = %echome_core::redact::phone_numbers(&e.to_string()), "the agent could not be rung");
                Err(e)
            }
        }
    }

    async fn ended(&self, event: &CallEvent) -> Result<(i64, Value), IntakeError> {
        let updated = update_call(&self.records, &event.call_id, |c| {
            c.status = CallStatus::Ended;
            c.ended_at = Some(event.timestamp);
            c.duration_s = event.duration_s.or(c.duration_s);
            true
        })
        .await?;
        let mut ev = CallEventRecord::new(CallEventKind::Ended, Some(&event.call_id), Utc::now());
        if let Some(call) = &updated {
            ev = ev.since(call.started_at);
        }
        record_event(&self.records, ev, self.config.emf).await;
        Ok((200, json!({ "status": "recorded", "call_id": event.call_id, "known_call": updated.is_some() })))
    }

    async fn state_changed(&self, event: &CallEvent, body: &[u8]) -> Result<(i64, Value), IntakeError> {
        let state = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
            v.get("state").and_then(Value::as_str).map(|s| s.chars().take(64).collect::<String>())
        });
        let updated = update_call(&self.records, &event.call_id, |c| {
            c.state = state.clone();
            state.is_some()
        })
        .await?;
        let mut ev = CallEventRecord::new(CallEventKind::StateChanged, Some(&event.call_id), Utc::now());
        if let Some(s) = &state {
            ev = ev.detail(s.clone());
        }
        record_event(&self.records, ev, self.config.emf).await;
        Ok((200, json!({ "status": "recorded", "call_id": event.call_id, "known_call": updated.is_some() })))
    }
}

fn status_of(call: &CallRecord) -> i64 {
    if call.status == CallStatus::Failed { 502 } else { 200 }
}

/// What 3CX gets back: the path taken and the ids to follow the call by.
fn answer_body(call: &CallRecord, duplicate: bool) -> Value {
    json!({
        "status": if call.status == CallStatus::Failed { "failed" } else { "accepted" },
        "path": call.path.map(CallPath::as_str),
        "call_id": call.call_id,
        "greeting_call_id": call.greeting.as_ref().and_then(|g| g.call_id.clone()),
        "agent_call_id": call.agent.as_ref().and_then(|a| a.call_id.clone()),
        "voice_id": call.voice_id,
        "run_id": call.run_id,
        "deadline": call.deadline,
        "note": call.note,
        "duplicate": duplicate,
    })
}
