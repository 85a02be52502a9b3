//! ElevenLabs' two post-call webhooks of one conversation, in either order, leave the caller's
//! turns (and only theirs) as the caller's sample: a real conversation spoken by two espeak-ng
//! voices, encoded by libmp3lame, cut by the webhook, decoded again by ffmpeg and told apart
//! by the GE2E speaker encoder.

mod common;

use std::sync::OnceLock;

use base64::Engine as _;
use common::*;
use echome_core::recordings::RecordingStatus;
use echome_core::{CallRecord, ConsentPolicy};
use echome_testkit::conversation::{self, Conversation, Role};
use echome_testkit::speech::SENTENCES;
use echome_voiceprint::{Embedding, Encoder};
use tokio::sync::mpsc::UnboundedReceiver;

const CONVERSATION: &str = "conv_7401test";
const CALL: &str = "3cx-call-conv";

fn conversation() -> &'static Conversation {
    static MADE: OnceLock<Conversation> = OnceLock::new();
    MADE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let turns = [
            (Role::Agent, "Hello, thank you for calling. How can I help you today?"),
            (Role::Caller, SENTENCES[0]),
            (Role::Caller, SENTENCES[1]),
            (Role::Agent, "I see. Let me look at your account for a moment."),
            (Role::Caller, SENTENCES[2]),
            (Role::Agent, "Thank you. Is there anything else I can do for you?"),
            (Role::Caller, SENTENCES[4]),
            (Role::Agent, "You are welcome. Goodbye."),
        ];
        conversation::speak(&turns, dir.path()).expect("espeak-ng and ffmpeg (make test installs them)")
    })
}

fn encoder() -> &'static Encoder {
    static ENCODER: OnceLock<std::sync::Arc<Encoder>> = OnceLock::new();
    ENCODER.get_or_init(|| {
        echome_voiceprint::default_encoder()
            .expect("the weights load")
            .expect("the speaker encoder's weights are installed (make tools)")
    })
}

/// The voiceprint of `voice` reading sentences that are not in the conversation.
fn reference(voice: &echome_testkit::Voice) -> Embedding {
    let dir = tempfile::tempdir().unwrap();
    let mut speech = Vec::new();
    for s in &SENTENCES[10..16] {
        speech.extend(voice.speak(s, dir.path()).unwrap());
        speech.extend(vec![0.0; 5000]);
    }
    let pcm = conversation::pcm_16k(&conversation::wav(&speech).unwrap()).unwrap();
    encoder().embed(&pcm).unwrap()
}

fn post_call(body: Value) -> ApiGatewayV2httpRequest {
    let mut v: Value =
        serde_json::from_slice(&echome_testkit::events::read("webhook-intake", "post-call")).unwrap();
    v["body"] = body.to_string().into();
    v["headers"]["elevenlabs-signature"] = "t=SIGNED_BY_TEST,v0=SIGNED_BY_TEST".into();
    sign(&mut v);
    serde_json::from_value(v).unwrap()
}

fn transcription(caller: Option<&str>, has_audio: bool) -> ApiGatewayV2httpRequest {
    let c = conversation();
    let mut variables = json!({ "threecx_call_id": CALL });
    if let Some(n) = caller {
        variables["caller_id"] = n.into();
    }
    post_call(json!({
        "type": "post_call_transcription",
        "event_timestamp": Utc::now().timestamp(),
        "data": {
            "agent_id": "agent_test", "conversation_id": CONVERSATION, "status": "done",
            "has_audio": has_audio,
            "transcript": c.transcript,
            "metadata": { "call_duration_secs": c.duration_s.floor(), "start_time_unix_secs": 1_795_165_442 },
            "conversation_initiation_client_data": { "dynamic_variables": variables },
        },
    }))
}

fn audio(full_audio: &str) -> ApiGatewayV2httpRequest {
    post_call(json!({
        "type": "post_call_audio",
        "event_timestamp": Utc::now().timestamp(),
        "data": { "agent_id": "agent_test", "conversation_id": CONVERSATION, "full_audio": full_audio },
    }))
}

fn the_audio() -> ApiGatewayV2httpRequest {
    audio(&base64::engine::general_purpose::STANDARD.encode(&conversation().mp3))
}

/// A world that announces stored samples (as `echome serve` does), with the caller's call on
/// record when `known`.
async fn world_for(consent: ConsentPolicy, known: bool) -> (World, UnboundedReceiver<(BlobRef, u64)>) {
    let mut cfg = config();
    cfg.consent = consent;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    cfg.sample_arrivals = Some(tx);
    let w = world_with(Agent::default(), cfg);
    if known {
        let call = CallRecord::new(CallId::parse(CALL).unwrap(), caller(), "+18005550199".into(), Utc::now());
        w.intake.records.claim_call(&call).await.unwrap();
    }
    (w, rx)
}

fn sample() -> BlobRef {
    BlobRef::new("recordings", format!("samples/{CALLER}/calls/{CONVERSATION}.mp3"))
}

async fn inbox(w: &World) -> Vec<String> {
    w.intake.blobs.keys("recordings", "inbox/conversations/").await.unwrap()
}

/// The seconds the transcript's whole-second times give the caller: from a second after each
/// of their first turn's time (none before the first agent turn here) to the next agent turn.
fn transcript_caller_seconds() -> f64 {
    let turns = conversation().transcript.as_array().unwrap();
    let mut total = 0.0;
    let mut start = None;
    for t in turns {
        let at = t["time_in_call_secs"].as_f64().unwrap();
        match (t["role"].as_str().unwrap(), start) {
            ("user", None) => start = Some(at + 1.0),
            ("agent", Some(s)) => {
                total += at - s;
                start = None;
            }
            _ => {}
        }
    }
    total
}

async fn assert_the_callers_turns_are_the_sample(
    w: &World,
    arrivals: &mut UnboundedReceiver<(BlobRef, u64)>,
) {
    let stored = w.intake.blobs.get_bytes(&sample()).await.expect("the caller's sample is stored");
    let (announced, bytes) = arrivals.try_recv().expect("the sample was announced once");
    assert_eq!((announced, bytes), (sample(), stored.len() as u64));
    assert!(arrivals.try_recv().is_err(), "announced once");
    assert_eq!(inbox(w).await, Vec::<String>::new(), "both halves are gone from the inbox");

    let pcm = conversation::pcm_16k(&stored).expect("ffmpeg decodes the cut");
    let seconds = pcm.len() as f64 / 16_000.0;
    let expected = transcript_caller_seconds();
    println!("the sample: {seconds:.2} s; the transcript's caller turns: {expected:.2} s");
    // Each cut starts with the frames its bit reservoir needs: ffmpeg decodes it without a
    // complaint.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sample.mp3");
    std::fs::write(&file, &stored).unwrap();
    let check = std::process::Command::new(echome_audio::ffmpeg::ffmpeg_path())
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success() && complaints.trim().is_empty(), "ffmpeg: {complaints}");
    assert!(
        (seconds - expected).abs() < 0.3,
        "{seconds:.2} s of audio, the transcript gives {expected:.2} s"
    );
    let whole = conversation().duration_s;
    assert!(seconds < 0.8 * whole, "{seconds:.1} s of a {whole:.1} s conversation");

    let (caller_voice, agent_voice) =
        (reference(&echome_testkit::Voice::MAIN), reference(&echome_testkit::Voice::SECOND));
    let print = encoder().embed(&pcm).unwrap();
    let full = encoder().embed(&conversation::pcm_16k(&conversation().mp3).unwrap()).unwrap();
    let (to_caller, to_agent) = (print.cosine(&caller_voice), print.cosine(&agent_voice));
    let full_to_agent = full.cosine(&agent_voice);
    println!(
        "sample: caller {to_caller:.3}, agent {to_agent:.3}; whole conversation: agent {full_to_agent:.3}"
    );
    assert!(to_caller > to_agent + 0.1, "the sample sounds like the caller: {to_caller:.3} vs {to_agent:.3}");
    assert!(
        to_agent < full_to_agent - 0.05,
        "less of the agent than the whole: {to_agent:.3} vs {full_to_agent:.3}"
    );
}

#[tokio::test]
async fn audio_first_then_the_transcript_leaves_the_caller_s_turns_as_their_sample() {
    let (w, mut arrivals) = world_for(ConsentPolicy::NotRequired, true).await;
    let (status, body) = w.send(the_audio()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["caller_audio"]["status"], "waiting", "{body}");
    assert_eq!(body["caller_audio"]["for"], "transcript");
    assert_eq!(inbox(&w).await, vec![format!("inbox/conversations/{CONVERSATION}.mp3")]);

    let (status, body) = w.send(transcription(Some(CALLER), true)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["caller_audio"]["status"], "stored", "{body}");
    assert_the_callers_turns_are_the_sample(&w, &mut arrivals).await;

    // The call says what became of the audio; the archive holds the audio delivery without it.
    let call = w.intake.records.call(&CallId::parse(CALL).unwrap()).await.unwrap().unwrap();
    let audio_state = call.conversations[0].audio.as_ref().expect("noted on the conversation");
    assert_eq!(audio_state.status, RecordingStatus::Stored);
    let audio_bodies: Vec<Vec<u8>> = kept(&w, "webhooks/elevenlabs/")
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| String::from_utf8_lossy(b).contains("post_call_audio"))
        .collect();
    assert_eq!(audio_bodies.len(), 1);
    let kept: Value = serde_json::from_slice(&audio_bodies[0]).unwrap();
    assert_eq!(kept["data"]["full_audio"]["kept_at"], format!("inbox/conversations/{CONVERSATION}.mp3"));
    assert_eq!(kept["data"]["full_audio"]["bytes"], conversation().mp3.len());
    assert!(audio_bodies[0].len() < 2000, "the archived body is {} bytes", audio_bodies[0].len());

    // Both delivered again: the sample is there, nothing new is stored or announced.
    w.send(the_audio()).await;
    let (_, body) = w.send(transcription(Some(CALLER), true)).await;
    assert_eq!(body["caller_audio"], Value::Null, "the conversation's audio is settled: {body}");
    assert_eq!(inbox(&w).await, vec![format!("inbox/conversations/{CONVERSATION}.mp3")]);
    assert!(arrivals.try_recv().is_err(), "a replay announces nothing");
}

#[tokio::test]
async fn the_transcript_first_then_the_audio_for_a_conversation_no_call_knows() {
    let (w, mut arrivals) = world_for(ConsentPolicy::NotRequired, false).await;
    let (status, body) = w.send(transcription(Some(CALLER), true)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["known_call"], false);
    assert_eq!(body["caller_audio"]["status"], "waiting", "{body}");
    assert_eq!(body["caller_audio"]["for"], "audio");
    let (status, body) = w.send(the_audio()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["caller_audio"]["status"], "stored", "{body}");
    assert_the_callers_turns_are_the_sample(&w, &mut arrivals).await;
}

#[tokio::test]
async fn without_consent_or_a_caller_nothing_is_kept_and_the_inbox_is_emptied() {
    let (w, mut arrivals) = world_for(ConsentPolicy::Required, true).await;
    w.send(transcription(Some(CALLER), true)).await;
    let (_, body) = w.send(the_audio()).await;
    assert_eq!(body["caller_audio"]["status"], "skipped", "{body}");
    assert_eq!(body["caller_audio"]["code"], "consent_missing");
    assert!(matches!(w.intake.blobs.get_bytes(&sample()).await, Err(StorageError::NotFound(_))));
    assert_eq!(inbox(&w).await, Vec::<String>::new());
    assert!(arrivals.try_recv().is_err());
    let call = w.intake.records.call(&CallId::parse(CALL).unwrap()).await.unwrap().unwrap();
    assert_eq!(call.conversations[0].audio.as_ref().unwrap().code.as_deref(), Some("consent_missing"));

    // No number anywhere (a withheld caller, a conversation no call knows).
    let (w, _) = world_for(ConsentPolicy::NotRequired, false).await;
    w.send(the_audio()).await;
    let (_, body) = w.send(transcription(None, true)).await;
    assert_eq!(body["caller_audio"]["code"], "no_caller", "{body}");
    assert_eq!(inbox(&w).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_transcript_without_audio_waits_for_none_and_bad_audio_is_kept_as_received() {
    let (w, _) = world_for(ConsentPolicy::NotRequired, true).await;
    let (_, body) = w.send(transcription(Some(CALLER), false)).await;
    assert_eq!(body["caller_audio"], Value::Null, "{body}");
    assert_eq!(inbox(&w).await, Vec::<String>::new());

    let (status, body) = w.send(audio("this is not base64 !!")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "stored");
    let found = kept(&w, "webhooks/elevenlabs/")
        .iter()
        .any(|(_, b)| String::from_utf8_lossy(b).contains("this is not base64 !!"));
    assert!(found, "the delivery is archived as received");

    // Audio that is not MP3 stays in the inbox for its lifecycle rule; the turns are settled.
    let (w, _) = world_for(ConsentPolicy::NotRequired, true).await;
    w.send(audio(&base64::engine::general_purpose::STANDARD.encode(b"RIFF0000WAVEfmt not an mp3"))).await;
    let (_, body) = w.send(transcription(Some(CALLER), true)).await;
    assert_eq!(body["caller_audio"]["code"], "not_mp3", "{body}");
    assert_eq!(inbox(&w).await, vec![format!("inbox/conversations/{CONVERSATION}.mp3")]);
}
