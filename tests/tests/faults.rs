//! Faults between the steps, across crates: transition-call's handler ringing the real
//! ElevenLabs client against a local stub that is over its limit.

use std::time::{Duration, Instant};

use chrono::Utc;
use echome_core::calls::AgentLeg;
use echome_core::{
    CallContext, CallId, CallLog, CallRecord, CallStatus, CallerId, CloneOutput, ErrorType, RunId,
    TransitionInput, VoiceId,
};
use echome_elevenlabs::{AgentConfig, ApiKey, ElevenLabsAgent, calls::Trunk};
use echome_local::LocalRecords;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const OUTBOUND: &str = "/v1/convai/sip-trunk/outbound-call";

fn agent(stub: &MockServer) -> ElevenLabsAgent {
    let mut api = echome_elevenlabs::Config::new(ApiKey::new("sk_stub_key_for_tests"));
    api.base_url = stub.uri();
    let config = AgentConfig {
        agent_id: "agent_01jbstub".into(),
        phone_number_id: "phnum_01jbstub".into(),
        trunk: Trunk::Sip,
    };
    ElevenLabsAgent::new(api, config).unwrap()
}

async fn caller_on_the_greeting(db: &LocalRecords) -> CallRecord {
    let started = Utc::now() - chrono::Duration::seconds(10);
    let mut call = CallRecord::new(
        CallId::parse("3cx-4001").unwrap(),
        CallerId::parse("+14155550123").unwrap(),
        "+18005550199".into(),
        started,
    );
    db.claim_call(&call).await.unwrap();
    call.status = CallStatus::Greeting;
    call.deadline = Some(Utc::now() + chrono::Duration::seconds(25));
    call.greeting = Some(AgentLeg { call_id: Some("conv_greeting".into()), voice_id: None, at: started });
    assert!(db.save_call(&call).await.unwrap());
    db.call(&call.call_id).await.unwrap().unwrap()
}

fn ready(call: &CallRecord) -> TransitionInput {
    TransitionInput {
        run_id: RunId::parse("call-4001").unwrap(),
        caller_id: call.caller_id.clone(),
        call: CallContext {
            threecx_call_id: call.call_id.clone(),
            greeting_call_id: Some("conv_greeting".into()),
            phone_number: call.caller_id.clone(),
            deadline: call.deadline.unwrap(),
        },
        clone: Some(CloneOutput {
            voice_id: VoiceId::parse("c38kUX8pkfYO2kHyqfFy").unwrap(),
            engine: "elevenlabs".into(),
            cached: false,
            evicted: None,
        }),
        error: None,
    }
}

/// ElevenLabs answers the hand-over with 429 and `Retry-After: 60`: waiting a minute inside a
/// 30 s function would be cut off with the claim held and nobody rung. The hand-over gives up at
/// once instead (nothing was placed: a 429 proves it), gives the claim back, and the state
/// machine's retry rings the caller once the provider has room.
#[tokio::test]
async fn a_429_with_retry_after_60_during_the_hand_over_gives_the_claim_back_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let call = caller_on_the_greeting(&db).await;
    let stub = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OUTBOUND))
        .respond_with(
            ResponseTemplate::new(429).insert_header("retry-after", "60").set_body_json(
                json!({"detail": {"status": "too_many_concurrent_requests", "message": "busy"}}),
            ),
        )
        .up_to_n_times(1)
        .mount(&stub)
        .await;
    Mock::given(method("POST"))
        .and(path(OUTBOUND))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"success": true, "message": "ok", "conversation_id": "conv_agent", "sip_call_id": "sip-2"}),
        ))
        .mount(&stub)
        .await;
    let agent = agent(&stub);
    let cfg = transition_call::Config::from_env().unwrap();

    let started = Instant::now();
    let err = transition_call::handle(&db, &agent, &cfg, ready(&call)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "gave up at once: {:?}", started.elapsed());
    assert_eq!(err.error_type, ErrorType::ProviderThrottled, "the ASL retries it: {err}");
    let held = db.call(&call.call_id).await.unwrap().unwrap();
    assert_eq!((held.hand_over, held.agent.is_none()), (None, true), "the claim is given back: {held:?}");

    // The state machine's retry, a moment later: the caller is rung once, in the cloned voice.
    let out = transition_call::handle(&db, &agent, &cfg, ready(&call)).await.unwrap();
    assert_eq!(out.outcome, "transferred");
    let placed =
        stub.received_requests().await.unwrap().into_iter().filter(|r| r.url.path() == OUTBOUND).count();
    assert_eq!(placed, 2, "one refused, one placed");
}
