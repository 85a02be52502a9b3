//! The account: models (with their per-request character limits) and the subscription (voice
//! slots, characters).

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::ElevenLabsError;
use crate::limiter::Priority;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub model_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub can_do_text_to_speech: bool,
    #[serde(default)]
    pub maximum_text_length_per_request: Option<u32>,
    #[serde(default)]
    pub max_characters_request_subscribed_user: Option<u32>,
}

impl Model {
    /// The most characters one request may carry.
    pub fn character_limit(&self) -> Option<u32> {
        self.max_characters_request_subscribed_user.or(self.maximum_text_length_per_request)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    #[serde(default)]
    pub tier: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub character_count: u64,
    #[serde(default)]
    pub character_limit: u64,
    #[serde(default)]
    pub voice_slots_used: u32,
    #[serde(default)]
    pub voice_limit: u32,
    #[serde(default)]
    pub can_use_instant_voice_cloning: bool,
}

impl Subscription {
    pub fn slots_free(&self) -> u32 {
        self.voice_limit.saturating_sub(self.voice_slots_used)
    }
}

impl Client {
    pub async fn models(&self, priority: Priority) -> Result<Vec<Model>, ElevenLabsError> {
        let url = self.url("/v1/models");
        self.send(priority, "models", || Ok(self.http().get(&url))).await?.json()
    }

    pub async fn subscription(&self, priority: Priority) -> Result<Subscription, ElevenLabsError> {
        let url = self.url("/v1/user/subscription");
        self.send(priority, "subscription", || Ok(self.http().get(&url))).await?.json()
    }
}
