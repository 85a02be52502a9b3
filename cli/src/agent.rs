//! Who `echome serve` rings: the ElevenLabs agent when `ELEVENLABS_API_KEY`,
//! `ELEVENLABS_AGENT_ID` and `ELEVENLABS_AGENT_PHONE_NUMBER_ID` are set. Without them there is
//! nobody to put on the line, and every call says so.

use echome_core::{AgentCallRequest, AgentCallStarted, AgentCalls, ErrorType, StepError};
use echome_elevenlabs::{AgentConfig, ElevenLabsAgent};

#[derive(Clone)]
pub enum Agent {
    /// Boxed: the client is large, and "not configured" carries nothing.
    ElevenLabs(Box<ElevenLabsAgent>),
    NotConfigured,
}

impl Agent {
    pub fn from_env() -> Result<Self, StepError> {
        let api = echome_elevenlabs::Config::from_env().map_err(StepError::invalid_input)?;
        let agent = AgentConfig::from_env().map_err(StepError::invalid_input)?;
        match (api, agent) {
            (Some(api), Some(agent)) => Ok(Self::ElevenLabs(Box::new(ElevenLabsAgent::new(api, agent)?))),
            _ => Ok(Self::NotConfigured),
        }
    }
}

impl AgentCalls for Agent {
    async fn start_call(&self, req: &AgentCallRequest) -> Result<AgentCallStarted, StepError> {
        match self {
            Self::ElevenLabs(a) => a.start_call(req).await,
            Self::NotConfigured => Err(StepError::new(
                ErrorType::ProviderRejected,
                "agent_not_configured",
                "no voice agent: set ELEVENLABS_API_KEY, ELEVENLABS_AGENT_ID and ELEVENLABS_AGENT_PHONE_NUMBER_ID",
            )),
        }
    }
}
