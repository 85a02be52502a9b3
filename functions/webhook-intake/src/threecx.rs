//! `POST /webhook/3cx-call`: the 3CX call events. An `IncomingCall` is recorded once per 3CX
//! call id; the delivery that recorded it works out the answer (cached clone, greeting while
//! cloning, or the default voice), and every duplicate gets that same answer.

use std::collections::BTreeMap;

use chrono::{Duration, SubsecRound, Utc};
use echome_core::People;
use echome_core::call_log::{record_event, update_call};
use echome_core::calls::{AgentLeg, CallPath, agent_variables, choose_path};
use echome_core::library::Person;
use echome_core::people::{ConsentMissing, ConsentScope, consent_verdict};
use echome_core::recordings::{
    RecordingRequest, RecordingState, RecordingStatus, RecordingUrl, joined_by_next_call,
};
use echome_core::records::expiry;
use echome_core::threecx::{self, CallEvent, CallEventType, WebhookError};
use echome_core::{
    AgentCallRequest, AgentCalls, BlobStore, CallClaim, CallContext, CallEventKind, CallEventRecord, CallLog,
    CallRecord, CallStatus, CloneCache, CloneRunInput, ErrorType, RunId, RunLog, RunRecord, RunStarter,
    SampleLog, SampleRecord, StepError, VoiceId, WebhookArchive,
};
use serde_json::{Value, json};

use crate::{HttpError, Intake, Request};

impl<R, S, B, A, W> Intake<R, S, B, A, W>
where
    R: CallLog + CloneCache + SampleLog + RunLog + People,
    S: RunStarter,
    B: BlobStore,
    A: AgentCalls,
    W: WebhookArchive,
{
    pub(crate) async fn threecx(&self, req: &Request<'_>) -> Result<(i64, Value), HttpError> {
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

    async fn incoming(&self, event: &CallEvent) -> Result<(i64, Value), HttpError> {
        let now = Utc::now();
        let mut fresh =
            CallRecord::new(event.call_id.clone(), event.caller_id.clone(), event.called_number.clone(), now);
        fresh.expires_at = expiry(now, self.config.call_retention_days);
        let call = match self.records.claim_call(&fresh).await? {
            CallClaim::New(call) => self.answer(call).await?,
            // 3CX reuses call ids: one from another day is a new call, not a duplicate.
            CallClaim::Existing(old) if old.is_stale(now) => {
                let replaced = CallRecord { version: old.version, ..fresh };
                if !self.records.save_call(&replaced).await? {
                    return Ok(processing(event));
                }
                tracing::info!(call_id = %event.call_id, "a reused 3CX call id starts a new call");
                self.answer(CallRecord { version: old.version + 1, ..replaced }).await?
            }
            CallClaim::Existing(call) if call.status == CallStatus::Ended && !call.is_answered() => {
                tracing::info!(call_id = %event.call_id, "IncomingCall after the call ended; nobody rung");
                return Ok((
                    200,
                    json!({ "status": "ended", "call_id": event.call_id, "duplicate": true,
                            "note": "the caller hung up before the call was answered; nobody was rung" }),
                ));
            }
            CallClaim::Existing(call) => {
                let first = self.first_answer(call).await?;
                if first.is_answered() {
                    return Ok((status_of(&first), answer_body(&first, true)));
                }
                if first.run_pending() {
                    tracing::warn!(call_id = %first.call_id, "the greeting is on but the run never started; starting it");
                    self.start_run(first, None).await?
                } else {
                    match self.take_over(first).await? {
                        Some(call) => self.answer(call).await?,
                        None => return Ok(processing(event)),
                    }
                }
            }
        };
        Ok((status_of(&call), answer_body(&call, false)))
    }

    /// A duplicate waits (briefly) for the first delivery's answer.
    async fn first_answer(&self, mut call: CallRecord) -> Result<CallRecord, HttpError> {
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
    /// delivery whose version-checked save wins; the save renews the claim, so a later retry
    /// waits out a lease of its own before taking over again.
    async fn take_over(&self, call: CallRecord) -> Result<Option<CallRecord>, HttpError> {
        let now = Utc::now();
        if !call.is_abandoned(now, self.config.claim_lease) {
            return Ok(None);
        }
        let renewed = CallRecord { claimed_at: Some(now), ..call };
        if !self.records.save_call(&renewed).await? {
            return Ok(None);
        }
        tracing::warn!(call_id = %renewed.call_id, "the call's first delivery never answered; a retry answers it");
        Ok(Some(CallRecord { version: renewed.version + 1, ..renewed }))
    }

    /// The first delivery: which path and who is rung. A caller with a sample on file hears the
    /// greeting, and the call counts as answered only once the clone run has started, so a
    /// failed start is retried by 3CX's next delivery instead of leaving the caller on hold.
    async fn answer(&self, call: CallRecord) -> Result<CallRecord, HttpError> {
        let now = Utc::now();
        let person = Person::from(&call.caller_id);
        let (clone, sample) =
            tokio::try_join!(self.records.clone_of(&person), self.records.current_sample(&person))?;
        let mut path = choose_path(clone.as_ref(), sample.as_ref(), now);
        // Only a caller about to be cloned costs the consent read; the cached path stays one read.
        let mut refused = None;
        if path == CallPath::Cloning {
            let (verdict, spent) = tokio::try_join!(
                consent_verdict(&self.records, self.config.consent, &person, ConsentScope::Clone),
                no_usable_speech(&self.records, sample.as_ref()),
            )?;
            if let Err(e) = verdict {
                path = CallPath::ConsentMissing;
                refused = Some(format!("{}: {e}", ConsentMissing::CODE));
            } else if let Some(code) = spent {
                // Analysing it again would find the same: the greeting would only keep the
                // caller waiting for the default voice.
                path = CallPath::NoSample;
                let joined = sample.as_ref().is_some_and(|s| joined_by_next_call(&s.sample.key, &code));
                let next = match joined {
                    true => "; their next call's recording is joined to it",
                    false => "; a new recording is needed",
                };
                refused =
                    Some(format!("{code}: the caller's recording holds no usable speech to clone{next}"));
            }
        }
        let mut vars = agent_variables(&call, false);
        let voice = match (path, &clone) {
            (CallPath::Cached, Some(c)) => Some(c.voice_id.clone()),
            (CallPath::Cloning, _) => {
                vars.insert("mode".into(), "greeting".into());
                vars.insert("greeting_message".into(), self.config.greeting_message.clone());
                if let Some(url) = &self.config.greeting_music_url {
                    vars.insert("greeting_music_url".into(), url.clone());
                }
                self.config.greeting_voice.clone()
            }
            _ => self.config.default_voice.clone(),
        };
        let rung = self.ring(&call, voice.clone(), vars).await;
        let leg =
            rung.as_ref().ok().map(|id| AgentLeg { call_id: id.clone(), voice_id: voice.clone(), at: now });
        if path == CallPath::Cloning {
            // Whole seconds: the state machine's Wait state reads it as its TimestampPath.
            let deadline = (now
                + Duration::from_std(self.config.clone_max_wait).unwrap_or(Duration::seconds(35)))
            .trunc_subsecs(0);
            let run_id = RunId::for_call(&call.call_id);
            let noted = update_call(&self.records, &call.call_id, |c| {
                c.greeting = leg.clone();
                c.run_id = Some(run_id.clone());
                c.deadline = Some(deadline);
                // A CallEnded that came while the greeting rang is kept: ended stays ended.
                if c.status != CallStatus::Ended {
                    c.status = CallStatus::Greeting;
                }
                if let Err(e) = &rung {
                    c.note = Some(format!("greeting: {}", unreached(e)));
                }
                true
            })
            .await?
            .ok_or(HttpError::Internal)?;
            return self.start_run(noted, sample).await;
        }
        let updated = update_call(&self.records, &call.call_id, |c| {
            c.path = Some(path);
            c.agent = leg.clone();
            if c.status != CallStatus::Ended {
                c.status = if rung.is_ok() { CallStatus::Agent } else { CallStatus::Failed };
            }
            if path == CallPath::Cached {
                c.voice_id = voice.clone();
            }
            c.note = match &rung {
                Err(e) => Some(unreached(e)),
                Ok(_) => refused.clone(),
            };
            true
        })
        .await?
        .ok_or(HttpError::Internal)?;
        if let (CallPath::Cached, Some(c)) = (path, &clone) {
            self.count_use(&call, &c.voice_id, now).await;
        }
        self.answered(&updated, path).await;
        Ok(updated)
    }

    /// Starts the clone run of a call on the greeting (idempotent: the run is named after the
    /// call, and its input is rebuilt from the call's record), then marks the call answered.
    /// Nobody is rung again here. A caller who hung up gets no run. `current` is the caller's
    /// sample when the delivery has just read it (a retry reads it here).
    async fn start_run(
        &self,
        call: CallRecord,
        current: Option<SampleRecord>,
    ) -> Result<CallRecord, HttpError> {
        let now = Utc::now();
        let run_id = call.run_id.clone().ok_or(HttpError::Internal)?;
        let deadline = call.deadline.ok_or(HttpError::Internal)?;
        if call.is_live() {
            let (run, current) = match current {
                Some(known) => (self.records.run(&run_id).await?, Some(known)),
                None => {
                    let person = Person::from(&call.caller_id);
                    tokio::try_join!(self.records.run(&run_id), self.records.current_sample(&person))?
                }
            };
            let sample = match run {
                Some(run) => run.sample,
                None => current.as_ref().ok_or(HttpError::Internal)?.sample.clone(),
            };
            // The pack an earlier run cut from this recording, when one was kept: the caller is
            // cloned again from it, without the recording being analysed again.
            let pack = current.filter(|c| c.sample == sample).and_then(|c| c.pack);
            let input = CloneRunInput {
                run_id: run_id.clone(),
                person: Person::from(&call.caller_id),
                sample: sample.clone(),
                pack,
                combine: vec![],
                call: Some(CallContext {
                    threecx_call_id: call.call_id.clone(),
                    greeting_call_id: call.greeting.as_ref().and_then(|g| g.call_id.clone()),
                    phone_number: call.caller_id.clone(),
                    deadline,
                }),
            };
            self.records.create_run(&RunRecord::started(run_id, &call.caller_id, sample, now)).await?;
            self.runs.start(&input).await.inspect_err(|e| {
                tracing::error!(call_id = %call.call_id, error = %echome_core::redact::phone_numbers(&e.to_string()),
                    "the clone run did not start; the call stays unanswered for 3CX's retry");
            })?;
        }
        let hung_up = !call.is_live();
        let updated = update_call(&self.records, &call.call_id, |c| {
            c.path = Some(CallPath::Cloning);
            if hung_up {
                c.note = Some("the caller hung up during the greeting; no clone run".into());
            }
            true
        })
        .await?
        .ok_or(HttpError::Internal)?;
        self.answered(&updated, CallPath::Cloning).await;
        Ok(updated)
    }

    /// Counts a use of the caller's clone and keeps it fresh; a voice replaced meanwhile is not
    /// brought back.
    async fn count_use(&self, call: &CallRecord, voice: &echome_core::VoiceId, now: chrono::DateTime<Utc>) {
        match self
            .records
            .touch_clone(&Person::from(&call.caller_id), voice, now, self.config.clone_ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(voice_id = %voice, "the clone was replaced meanwhile; its use is not counted")
            }
            Err(e) => tracing::warn!(error = %e, voice_id = %voice, "the clone's use was not counted"),
        }
    }

    async fn answered(&self, call: &CallRecord, path: CallPath) {
        let ev = CallEventRecord::new(CallEventKind::Incoming, Some(&call.call_id), Utc::now())
            .path(path)
            .since(call.started_at);
        record_event(&self.records, &self.config.metrics, self.config.call_retention_days, ev).await;
        tracing::info!(call_id = %call.call_id, caller = %call.caller_id, path = path.as_str(), "incoming call answered");
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

    /// The call is marked ended once; a replayed `CallEnded` changes and counts nothing. One
    /// for a call not on record leaves a tombstone, so a late `IncomingCall` retry rings nobody.
    async fn ended(&self, event: &CallEvent) -> Result<(i64, Value), HttpError> {
        let mut already = false;
        let end = |c: &mut CallRecord, already: &mut bool| {
            *already = c.status == CallStatus::Ended;
            if *already {
                return false;
            }
            c.status = CallStatus::Ended;
            c.ended_at = Some(event.timestamp);
            c.duration_s = event.duration_s.or(c.duration_s);
            true
        };
        let mut updated = update_call(&self.records, &event.call_id, |c| end(c, &mut already)).await?;
        let known = updated.is_some();
        if updated.is_none() {
            let now = Utc::now();
            let mut tombstone = CallRecord::new(
                event.call_id.clone(),
                event.caller_id.clone(),
                event.called_number.clone(),
                now,
            );
            tombstone.status = CallStatus::Ended;
            tombstone.ended_at = Some(event.timestamp);
            tombstone.duration_s = event.duration_s;
            tombstone.note = Some("ended before an IncomingCall was seen".into());
            tombstone.expires_at = expiry(now, self.config.call_retention_days);
            updated = match self.records.claim_call(&tombstone).await? {
                CallClaim::New(rec) => Some(rec),
                // The IncomingCall won the race: end that record instead.
                CallClaim::Existing(_) => {
                    update_call(&self.records, &event.call_id, |c| end(c, &mut already)).await?
                }
            };
        }
        // Asked for until the request is on file: a delivery that failed to leave it is retried
        // by 3CX and finds the recording still unasked for, however the end itself went.
        if let Some(url) = event.recording_url.as_ref().filter(|_| self.config.fetch_recordings)
            && updated.as_ref().is_some_and(|c| c.recording.is_none())
        {
            self.request_recording(event, url).await?;
        }
        if !already {
            let mut ev = CallEventRecord::new(CallEventKind::Ended, Some(&event.call_id), Utc::now());
            if let Some(call) = updated.as_ref().filter(|_| known) {
                ev = ev.since(call.started_at);
            }
            record_event(&self.records, &self.config.metrics, self.config.call_retention_days, ev).await;
        }
        Ok((
            200,
            json!({ "status": "recorded", "call_id": event.call_id, "known_call": known, "replayed": already }),
        ))
    }

    /// Leaves the request for fetch-recording (the fetch is not made in the webhook's time),
    /// then notes it on the call.
    async fn request_recording(&self, event: &CallEvent, url: &RecordingUrl) -> Result<(), HttpError> {
        let now = Utc::now();
        let request = RecordingRequest {
            call_id: event.call_id.clone(),
            caller_id: event.caller_id.clone(),
            url: url.clone(),
            requested_at: now,
        };
        let body = serde_json::to_vec(&request).map_err(|_| HttpError::Internal)?;
        let blob = echome_core::BlobRef::new(&self.config.bucket, request.key());
        self.blobs.put_bytes(&blob, body, "application/json").await?;
        update_call(&self.records, &event.call_id, |c| {
            let unasked = c.recording.is_none();
            if unasked {
                c.recording = Some(RecordingState::new(RecordingStatus::Requested, now));
            }
            unasked
        })
        .await?;
        tracing::info!(call_id = %event.call_id, url = %url, "the call's recording was asked for");
        Ok(())
    }

    /// The newest state 3CX reported wins; a replayed or older `CallStateChanged` changes and
    /// counts nothing.
    async fn state_changed(&self, event: &CallEvent, body: &[u8]) -> Result<(i64, Value), HttpError> {
        let state = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
            v.get("state").and_then(Value::as_str).map(|s| s.chars().take(64).collect::<String>())
        });
        let mut applied = false;
        let updated = update_call(&self.records, &event.call_id, |c| {
            applied = state.is_some() && c.state_at.is_none_or(|at| event.timestamp > at);
            if applied {
                c.state = state.clone();
                c.state_at = Some(event.timestamp);
            }
            applied
        })
        .await?;
        if applied {
            let mut ev = CallEventRecord::new(CallEventKind::StateChanged, Some(&event.call_id), Utc::now());
            if let Some(s) = &state {
                ev = ev.detail(s.clone());
            }
            record_event(&self.records, &self.config.metrics, self.config.call_retention_days, ev).await;
        }
        Ok((
            200,
            json!({ "status": "recorded", "call_id": event.call_id, "known_call": updated.is_some(), "applied": applied }),
        ))
    }
}

/// What the record says of a ring that failed: unreachable, or (a lost answer) unknown, since
/// the call may have been placed; either way it is not rung again.
fn unreached(e: &StepError) -> String {
    if e.code == "outcome_unknown" {
        "agent call outcome unknown: it may have been placed (outcome_unknown)".to_owned()
    } else {
        format!("agent unreachable: {}", e.code)
    }
}

fn processing(event: &CallEvent) -> (i64, Value) {
    (202, json!({ "status": "processing", "call_id": event.call_id, "duplicate": true }))
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

/// The error code (`too_little_speech`, `music_only`, …) when the run of the caller's sample
/// found no usable speech in it (one read, on the cloning path only).
async fn no_usable_speech<R: RunLog>(
    runs: &R,
    sample: Option<&SampleRecord>,
) -> Result<Option<String>, echome_core::StorageError> {
    let Some(s) = sample.filter(|s| s.pack.is_none()) else { return Ok(None) };
    let run = runs.run(&RunId::for_upload(&s.person, &s.sample.key, &s.version)).await?;
    Ok(run.and_then(|r| r.error).filter(|e| e.error_type == ErrorType::NoUsableSpeech).map(|e| e.code))
}
