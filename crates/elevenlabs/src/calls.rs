//! Agent calls: an ElevenLabs agent rings a number over Twilio or a SIP trunk, optionally with
//! the caller's cloned voice (`conversation_config_override.tts.voice_id`, which the agent must
//! allow in its security overrides). A call is placed at most once per request: after a lost
//! answer (timeout, dropped connection, 5xx) the error is `outcome_unknown`, never a retry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::ElevenLabsError;
use crate::limiter::Priority;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trunk {
    Twilio,
    Sip,
}

/// `conversation_initiation_client_data`: fields left `None` are omitted, never sent as null
/// (an override the agent does not allow is an error).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientData {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dynamic_variables: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_config_override: Option<ConfigOverride>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts: Option<TtsOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentOverride>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TtsOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl ClientData {
    /// The agent speaks with `voice_id`.
    pub fn with_voice(voice_id: impl Into<String>) -> Self {
        Self {
            dynamic_variables: BTreeMap::new(),
            conversation_config_override: Some(ConfigOverride {
                tts: Some(TtsOverride { voice_id: Some(voice_id.into()) }),
                agent: None,
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundCall {
    pub agent_id: String,
    pub agent_phone_number_id: String,
    /// E.164.
    pub to_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_initiation_client_data: Option<ClientData>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallStarted {
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// Twilio's `callSid` or the trunk's `sip_call_id`.
    #[serde(default, alias = "callSid", alias = "sip_call_id")]
    pub call_id: Option<String>,
}

impl Client {
    pub async fn outbound_call(
        &self,
        trunk: Trunk,
        call: &OutboundCall,
    ) -> Result<CallStarted, ElevenLabsError> {
        let path = match trunk {
            Trunk::Twilio => "/v1/convai/twilio/outbound-call",
            Trunk::Sip => "/v1/convai/sip-trunk/outbound-call",
        };
        let url = self.url(path);
        // Never sent twice: a second request after a lost answer would ring the caller twice.
        // A lost answer is `OutcomeUnknown`, so the call's record says so rather than "failed".
        let answer = self
            .send_create(Priority::Live, "outbound call", || Ok(self.http().post(&url).json(call)))
            .await?;
        let started: CallStarted = answer.json().map_err(|e| ElevenLabsError::OutcomeUnknown {
            what: "outbound call".into(),
            status: 200,
            message: format!("the call was accepted but its answer is unreadable: {e}"),
        })?;
        if !started.success {
            return Err(ElevenLabsError::Rejected {
                status: 200,
                code: "call_not_started".into(),
                message: started.message,
            });
        }
        Ok(started)
    }
}
