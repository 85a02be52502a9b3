//! The ElevenLabs API as echome uses it, built against the official OpenAPI description
//! (../shared/reference): cloning, voices, speech, account, agent calls, webhooks.

pub mod account;
pub mod agent;
pub mod calls;
pub mod client;
pub mod engine;
pub mod error;
pub mod limiter;
pub mod tts;
pub mod turns;
pub mod voices;
pub mod webhooks;

pub use agent::{AgentConfig, ElevenLabsAgent};
pub use client::{ApiKey, Client, Config};
pub use engine::ElevenLabsEngine;
pub use error::ElevenLabsError;
pub use limiter::{Limiter, Priority};
