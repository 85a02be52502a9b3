//! The ElevenLabs webhooks. Conversation initiation answers with the caller's cached voice in
//! one lookup; post-call keeps the raw event first, then updates the call log, and answers
//! 200 whatever it finds (ElevenLabs disables endpoints that keep failing).

use chrono::Utc;
use echome_core::People;
use echome_core::call_log::{record_event, update_call};
use echome_core::calls::{ConversationSummary, TRANSCRIPT_EXCERPT_CHARS};
use echome_core::{
    AgentCalls, BlobRef, BlobStore, CallEventKind, CallEventRecord, CallId, CallLog, CallerId, CloneCache,
    RunLog, RunStarter, SampleLog, WebhookArchive,
};
use echome_elevenlabs::calls::{ConfigOverride, TtsOverride};
use echome_elevenlabs::webhooks::{
    InitiationRequest, InitiationResponse, SIGNATURE_HEADER, WebhookEvent, threecx_call_id, verify_signature,
};
use serde_json::{Value, json};

use crate::{HttpError, Intake, Request};

/// Constant time, whatever the lengths.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<R, S, B, A, W> Intake<R, S, B, A, W>
where
    R: CallLog + CloneCache + SampleLog + RunLog + People,
    S: RunStarter,
    B: BlobStore,
    A: AgentCalls,
    W: WebhookArchive,
{
    pub(crate) async fn initiation(&self, req: &Request<'_>) -> Result<(i64, Value), HttpError> {
        let bearer = echome_http::bearer(req.headers);
        if !bearer.is_some_and(|b| same_secret(b.as_bytes(), &self.config.secrets.initiation)) {
            return Err(HttpError::Unauthorized("a valid Authorization: Bearer secret is required".into()));
        }
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| HttpError::BadRequest(format!("the body is not JSON: {e}")))?;
        if !body.is_object() {
            return Err(HttpError::BadRequest("the body must be a JSON object".into()));
        }
        let init: InitiationRequest = serde_json::from_value(body)
            .map_err(|e| HttpError::BadRequest(format!("the body is not an initiation request: {e}")))?;
        // Withheld or odd numbers are normal on inbound calls: no override, not an error.
        let caller = init.caller_id.as_deref().and_then(|c| CallerId::parse(c).ok());
        let clone = match &caller {
            Some(c) => self.records.clone_of(&c.into()).await?.filter(|r| r.is_fresh(Utc::now())),
            None => None,
        };
        let mut answer = InitiationResponse::new(clone.as_ref().map(|c| ConfigOverride {
            tts: Some(TtsOverride { voice_id: Some(c.voice_id.as_str().to_owned()) }),
            agent: None,
        }));
        if let Some(c) = &caller {
            answer.dynamic_variables.insert("caller_id".into(), c.as_str().into());
        }
        answer.dynamic_variables.insert("mode".into(), "agent".into());
        answer.dynamic_variables.insert("cloned_voice".into(), clone.is_some().into());
        tracing::info!(caller = ?caller, cloned = clone.is_some(), "conversation initiation answered");
        serde_json::to_value(answer).map(|v| (200, v)).map_err(|_| HttpError::Internal)
    }

    pub(crate) async fn post_call(&self, req: &Request<'_>) -> Result<(i64, Value), HttpError> {
        verify_signature(
            &self.config.secrets.post_call,
            req.header(SIGNATURE_HEADER),
            &req.body,
            req.now.timestamp(),
        )
        .map_err(|e| HttpError::Unauthorized(e.to_string()))?;
        // The audio is kept apart from the archived body (see `call_audio`).
        let parsed: Option<Value> = serde_json::from_slice(&req.body).ok();
        if let Some(body) =
            parsed.as_ref().filter(|v| v.get("type").and_then(Value::as_str) == Some("post_call_audio"))
        {
            return self.call_audio(req, body.clone()).await;
        }
        let kept = self.keep("elevenlabs", req).await?;
        let event = match parsed.map(serde_json::from_value::<WebhookEvent>) {
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                tracing::warn!(kept = %kept, error = %e, "a post-call event that does not parse was kept");
                return Ok((200, json!({ "status": "stored", "kept": kept })));
            }
            None => {
                tracing::warn!(kept = %kept, "a post-call event that is not JSON was kept");
                return Ok((200, json!({ "status": "stored", "kept": kept })));
            }
        };
        let data = match event {
            WebhookEvent::PostCallTranscription { data, .. } => data,
            // Answered by `call_audio` before the body was archived.
            WebhookEvent::PostCallAudio { data, .. } => {
                return Ok((200, json!({ "status": "stored", "conversation_id": data.conversation_id })));
            }
            WebhookEvent::CallInitiationFailure { data, .. } => {
                let call_id = data
                    .get("conversation_initiation_client_data")
                    .and_then(threecx_call_id)
                    .and_then(|c| CallId::parse(c).ok());
                let reason = data.get("failure_reason").and_then(Value::as_str).unwrap_or("unknown");
                let ev = CallEventRecord::new(CallEventKind::PostCall, call_id.as_ref(), Utc::now())
                    .detail(format!("initiation_failed {reason}"));
                record_event(&self.records, &self.config.metrics, self.config.call_retention_days, ev).await;
                return Ok((200, json!({ "status": "stored" })));
            }
            WebhookEvent::Unknown => return Ok((200, json!({ "status": "stored" }))),
        };
        let transcript = BlobRef::new(
            &self.config.bucket,
            format!("webhooks/transcripts/{}.json", safe(&data.conversation_id)),
        );
        let body = serde_json::to_vec(&data.transcript).map_err(|_| HttpError::Internal)?;
        self.blobs.put_bytes(&transcript, body, "application/json").await?;
        let summary = ConversationSummary {
            conversation_id: data.conversation_id.clone(),
            status: data.status.clone(),
            duration_s: data.duration_s(),
            transcript: Some(transcript),
            excerpt: data.excerpt(TRANSCRIPT_EXCERPT_CHARS),
            audio: None,
        };
        let call_id = data.threecx_call_id().and_then(|c| CallId::parse(c).ok());
        // A replayed delivery (same conversation, same status) changes and counts nothing.
        let mut replayed = false;
        let updated = match &call_id {
            Some(id) => {
                update_call(&self.records, id, |c| {
                    replayed = c
                        .conversations
                        .iter()
                        .any(|s| s.conversation_id == summary.conversation_id && s.status == summary.status);
                    // What became of the conversation's audio stays with it.
                    let audio = c
                        .conversations
                        .iter()
                        .find(|s| s.conversation_id == summary.conversation_id)
                        .and_then(|s| s.audio.clone());
                    c.conversations.retain(|s| s.conversation_id != summary.conversation_id);
                    c.conversations.push(ConversationSummary { audio, ..summary.clone() });
                    !replayed
                })
                .await?
            }
            None => None,
        };
        let known = updated.is_some();
        if !known {
            tracing::info!(conversation_id = %data.conversation_id, kept = %kept, "post-call event for a conversation not on record");
        }
        if !replayed {
            let ev =
                CallEventRecord::new(CallEventKind::PostCall, call_id.as_ref().filter(|_| known), Utc::now())
                    .detail(format!("{} {}", data.status, data.conversation_id));
            record_event(&self.records, &self.config.metrics, self.config.call_retention_days, ev).await;
        }
        let caller_audio = self.caller_turns(&data, updated.as_ref(), req.now).await?;
        Ok((
            200,
            json!({ "status": "recorded", "conversation_id": data.conversation_id, "known_call": known, "caller_audio": caller_audio }),
        ))
    }
}

/// An id as a key segment: what is not a plain character becomes `_`.
fn safe(id: &str) -> String {
    id.chars()
        .take(128)
        .map(|c| if c.is_ascii_alphanumeric() || "-_".contains(c) { c } else { '_' })
        .collect()
}
