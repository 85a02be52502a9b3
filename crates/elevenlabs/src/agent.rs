//! The ElevenLabs agent as echome's `AgentCalls` port: each conversation is an outbound call
//! through the account's SIP trunk (3CX) or Twilio number, with the caller's voice as a
//! `conversation_config_override` and the call's facts as dynamic variables.

use std::time::Duration;

use echome_core::{AgentCallRequest, AgentCallStarted, AgentCalls, StepError};

use crate::calls::{ClientData, OutboundCall, Trunk};
use crate::client::{Client, Config};

/// `ELEVENLABS_AGENT_ID`, `ELEVENLABS_AGENT_PHONE_NUMBER_ID`, `ELEVENLABS_TRUNK` (`sip`, the
/// default, or `twilio`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub agent_id: String,
    pub phone_number_id: String,
    pub trunk: Trunk,
}

impl AgentConfig {
    /// `Ok(None)` when no agent is configured.
    pub fn from_env() -> Result<Option<Self>, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let (Some(agent_id), Some(phone_number_id)) =
            (var("ELEVENLABS_AGENT_ID"), var("ELEVENLABS_AGENT_PHONE_NUMBER_ID"))
        else {
            return Ok(None);
        };
        let trunk = match var("ELEVENLABS_TRUNK").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("sip") => Trunk::Sip,
            Some("twilio") => Trunk::Twilio,
            Some(other) => return Err(format!("ELEVENLABS_TRUNK is {other:?}; expected sip or twilio")),
        };
        Ok(Some(Self { agent_id, phone_number_id, trunk }))
    }
}

#[derive(Debug, Clone)]
pub struct ElevenLabsAgent {
    client: Client,
    config: AgentConfig,
}

impl ElevenLabsAgent {
    /// A caller is waiting: one quick retry at most, so the webhook still answers in time.
    pub fn new(api: Config, config: AgentConfig) -> Result<Self, StepError> {
        let api = Config {
            max_retries: 1,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(10),
            concurrency: api.concurrency.max(8),
            // A caller is on the line: a minute's `Retry-After` is not waited out inside the
            // ring's budget; the throttle goes back to the step, which retries on its own terms.
            max_wait: Duration::from_secs(5),
            ..api
        };
        Ok(Self { client: Client::new(api)?, config })
    }
}

impl AgentCalls for ElevenLabsAgent {
    async fn start_call(&self, req: &AgentCallRequest) -> Result<AgentCallStarted, StepError> {
        let mut data = match &req.voice_id {
            Some(v) => ClientData::with_voice(v.as_str()),
            None => ClientData::default(),
        };
        data.dynamic_variables =
            req.variables.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        let call = OutboundCall {
            agent_id: self.config.agent_id.clone(),
            agent_phone_number_id: self.config.phone_number_id.clone(),
            to_number: req.to.as_str().to_owned(),
            conversation_initiation_client_data: Some(data),
        };
        let started = self.client.outbound_call(self.config.trunk, &call).await?;
        Ok(AgentCallStarted { call_id: started.conversation_id.or(started.call_id) })
    }
}
