//! The caller's turns of an agent's conversation become the caller's sample. ElevenLabs sends
//! the conversation twice, in either order: `post_call_audio` (the whole conversation as one
//! MP3, agent included) and `post_call_transcription` (each turn with its role and time). Each
//! leaves its half in the inbox (`inbox/conversations/{conversation}.{mp3,json}`) and then looks
//! for the other: whichever comes second finds both (each writes before it reads, so two that
//! arrive together cannot both miss), cuts the caller's turns out frame by frame and stores them
//! as `samples/{caller}/calls/{conversation}.mp3`, where the upload trigger takes them as it
//! takes any sample. The halves are then deleted with their versions; what became of the audio
//! is on the call's conversation.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use echome_audio::mp3::Mp3;
use echome_core::call_log::update_call;
use echome_core::library::Person;
use echome_core::people::{ConsentMissing, ConsentScope, consent_verdict};
use echome_core::recordings::{
    CallerTurns, RecordingState, RecordingStatus, conversation_audio_key, conversation_sample_key,
    conversation_turns_key,
};
use echome_core::{
    AgentCalls, BlobRef, BlobStore, CallLog, CallRecord, CallerId, CloneCache, ConversationId, Delivery,
    People, RunLog, RunStarter, SampleLog, StorageError, WebhookArchive,
};
use echome_elevenlabs::turns::caller_spans;
use echome_elevenlabs::webhooks::Conversation;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::{HttpError, Intake, Request};

/// Less of the caller than this is kept as a sample all the same (the clone run says whether it
/// is enough), but noted: a short call is normal, not an error.
pub const SHORT_S: f64 = 10.0;

impl<R, S, B, A, W> Intake<R, S, B, A, W>
where
    R: CallLog + CloneCache + SampleLog + RunLog + People,
    S: RunStarter,
    B: BlobStore,
    A: AgentCalls,
    W: WebhookArchive,
{
    /// `post_call_audio`: the MP3 goes to the inbox and the delivery is archived with the
    /// audio replaced by where it went and its digest (the archive is scanned by number for
    /// erasure, and this body names none). A body without a usable conversation id or audio is
    /// archived as received.
    pub(crate) async fn call_audio(
        &self,
        req: &Request<'_>,
        mut body: Value,
    ) -> Result<(i64, Value), HttpError> {
        let conversation = body
            .pointer("/data/conversation_id")
            .and_then(Value::as_str)
            .and_then(|c| ConversationId::parse(c).ok());
        let audio = body
            .pointer("/data/full_audio")
            .and_then(Value::as_str)
            .and_then(|a| base64::engine::general_purpose::STANDARD.decode(a.trim()).ok())
            .filter(|a| !a.is_empty());
        let (Some(conversation), Some(mp3)) = (conversation, audio) else {
            let kept = self.keep("elevenlabs", req).await?;
            tracing::warn!(kept = %kept, "a post_call_audio without a conversation id or base64 audio was kept as received");
            return Ok((200, json!({ "status": "stored", "kept": kept })));
        };
        let inbox = BlobRef::new(&self.config.bucket, conversation_audio_key(&conversation));
        let sha256 = echome_core::signing::hex(&sha2::Sha256::digest(&mp3));
        let bytes = mp3.len();
        self.blobs.put_bytes(&inbox, mp3, "audio/mpeg").await?;
        body["data"]["full_audio"] = json!({ "kept_at": inbox.key, "bytes": bytes, "sha256": sha256 });
        let slim = serde_json::to_vec(&body).map_err(|_| HttpError::Internal)?;
        self.archive.keep(&Delivery { source: "elevenlabs", received_at: req.now, body: &slim }).await?;
        let caller_audio = self.pair(&conversation, req.now).await?;
        Ok((
            200,
            json!({ "status": "stored", "conversation_id": conversation, "caller_audio": caller_audio }),
        ))
    }

    /// `post_call_transcription`'s half: whose conversation it was and when they spoke. None
    /// when no audio follows (`has_audio: false`), the id is unusable, or the conversation's
    /// audio was already settled (a replay).
    pub(crate) async fn caller_turns(
        &self,
        data: &Conversation,
        call: Option<&CallRecord>,
        now: DateTime<Utc>,
    ) -> Result<Option<Value>, HttpError> {
        let Ok(conversation) = ConversationId::parse(&data.conversation_id) else { return Ok(None) };
        let settled = call.is_some_and(|c| {
            c.conversations.iter().any(|s| s.conversation_id == data.conversation_id && s.audio.is_some())
        });
        if data.has_audio == Some(false) || settled {
            return Ok(None);
        }
        let turns = CallerTurns {
            conversation_id: conversation.clone(),
            caller_id: call
                .map(|c| c.caller_id.clone())
                .or_else(|| data.caller_number().and_then(|n| CallerId::parse(n).ok())),
            call_id: call.map(|c| c.call_id.clone()),
            spans: caller_spans(data),
            received_at: now,
        };
        let at = BlobRef::new(&self.config.bucket, conversation_turns_key(&conversation));
        let body = serde_json::to_vec(&turns).map_err(|_| HttpError::Internal)?;
        self.blobs.put_bytes(&at, body, "application/json").await?;
        Ok(Some(self.pair(&conversation, now).await?))
    }

    /// Both halves there: the caller's turns are stored as their sample (or why not is noted)
    /// and the halves deleted. One missing: waiting for it.
    async fn pair(&self, conversation: &ConversationId, now: DateTime<Utc>) -> Result<Value, HttpError> {
        let turns_at = BlobRef::new(&self.config.bucket, conversation_turns_key(conversation));
        let audio_at = BlobRef::new(&self.config.bucket, conversation_audio_key(conversation));
        let Some(turns) = self.half(&turns_at).await? else {
            return Ok(json!({ "status": "waiting", "for": "transcript" }));
        };
        let Some(mp3) = self.half(&audio_at).await? else {
            return Ok(json!({ "status": "waiting", "for": "audio" }));
        };
        let turns = match serde_json::from_slice::<CallerTurns>(&turns) {
            Ok(t) if t.conversation_id == *conversation => t,
            _ => {
                // Only this function writes it: unreadable, it cannot be acted on, nor mended.
                self.blobs.delete_versions(&turns_at).await?;
                tracing::warn!(conversation_id = %conversation, "the conversation's turns did not parse and were dropped");
                return Ok(json!({ "status": "waiting", "for": "transcript" }));
            }
        };
        let state = self.caller_sample(&turns, &mp3, now).await?;
        // Audio that is not MP3 stays in the inbox (its lifecycle rule ends it): nothing sent
        // is dropped on a parse of ours.
        if state.code.as_deref() != Some("not_mp3") {
            self.blobs.delete_versions(&audio_at).await?;
        }
        self.blobs.delete_versions(&turns_at).await?;
        if let Some(call_id) = &turns.call_id {
            let conv = conversation.as_str();
            update_call(&self.records, call_id, |c| {
                let Some(s) = c.conversations.iter_mut().find(|s| s.conversation_id == conv) else {
                    return false;
                };
                s.audio = Some(state.clone());
                true
            })
            .await?;
        }
        tracing::info!(conversation_id = %conversation, status = ?state.status, code = ?state.code, "the conversation's audio was settled");
        Ok(json!({ "status": state.status, "code": state.code, "bytes": state.bytes }))
    }

    async fn half(&self, at: &BlobRef) -> Result<Option<Vec<u8>>, HttpError> {
        match self.blobs.get_bytes(at).await {
            Ok(b) => Ok(Some(b)),
            Err(StorageError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Cuts and stores the caller's turns, or says why not.
    async fn caller_sample(
        &self,
        turns: &CallerTurns,
        mp3: &[u8],
        now: DateTime<Utc>,
    ) -> Result<RecordingState, HttpError> {
        let refuse =
            |status, code: &str, reason: String| RecordingState::new(status, now).because(code, reason);
        let Some(caller) = &turns.caller_id else {
            return Ok(refuse(
                RecordingStatus::Skipped,
                "no_caller",
                "the conversation names no caller".into(),
            ));
        };
        if let Err(missing) = consent_verdict(
            &self.records,
            self.config.consent,
            &Person::Caller(caller.clone()),
            ConsentScope::Clone,
        )
        .await?
        {
            return Ok(refuse(RecordingStatus::Skipped, ConsentMissing::CODE, missing.to_string()));
        }
        let audio = match Mp3::parse(mp3) {
            Ok(a) => a,
            Err(e) => return Ok(refuse(RecordingStatus::Refused, "not_mp3", e.to_string())),
        };
        let cut = audio.cut(&turns.spans);
        if cut.bytes.is_empty() {
            let reason = format!("the caller did not speak in the {:.0} s of audio", audio.duration_s());
            return Ok(refuse(RecordingStatus::Skipped, "no_caller_speech", reason));
        }
        let sample =
            BlobRef::new(&self.config.bucket, conversation_sample_key(caller, &turns.conversation_id));
        let mut state = RecordingState::new(RecordingStatus::Stored, now);
        state.key = Some(sample.key.clone());
        state.bytes = Some(cut.bytes.len() as u64);
        if cut.seconds < SHORT_S {
            state.code = Some("short".into());
            state.reason = Some(format!("{:.1} s of the caller; a clone needs more", cut.seconds));
        }
        // A replayed pair finds the sample stored: storing it again would start a second run.
        if !self.blobs.exists(&sample).await? {
            let bytes = cut.bytes.len() as u64;
            self.blobs.put_bytes(&sample, cut.bytes, "audio/mpeg").await?;
            if let Some(arrivals) = &self.config.sample_arrivals
                && arrivals.send((sample, bytes)).is_err()
            {
                tracing::warn!(
                    "the local upload trigger has stopped: the conversation's sample is stored, not cloned"
                );
            }
        }
        Ok(state)
    }
}
