//! webhook-intake's settings, read once at start-up. The three secrets come from SSM in AWS
//! (and from the environment for `echome serve`); the rest from the environment.

use std::time::Duration;

use echome_core::VoiceId;
use echome_core::env;
use echome_core::threecx::TrustedIps;

/// The webhooks' shared secrets. `Debug` never shows them.
#[derive(Clone, Default)]
pub struct Secrets {
    /// `THREECX_WEBHOOK_SECRET`: HMAC key of `X-3CX-Signature`.
    pub threecx: Vec<u8>,
    /// `ELEVENLABS_WEBHOOK_SECRET`: HMAC key of `ElevenLabs-Signature` (post-call).
    pub post_call: Vec<u8>,
    /// `ELEVENLABS_INITIATION_SECRET`: the `Authorization: Bearer` of conversation initiation.
    pub initiation: Vec<u8>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub secrets: Secrets,
    /// `THREECX_TRUSTED_IPS`: empty allows every address.
    pub trusted_ips: TrustedIps,
    /// The bucket post-call transcripts go to (`webhooks/transcripts/…`).
    pub bucket: String,
    /// `GREETING_VOICE_ID`: the greeting's voice; unset, the agent's own.
    pub greeting_voice: Option<VoiceId>,
    /// `GREETING_MESSAGE`, given to the agent as the `greeting_message` variable.
    pub greeting_message: String,
    /// `GREETING_MUSIC_URL` when `GREETING_MUSIC_ENABLED`.
    pub greeting_music_url: Option<String>,
    /// `DEFAULT_VOICE_ID`: the voice of callers with no sample; unset, the agent's own.
    pub default_voice: Option<VoiceId>,
    /// `CLONE_MAX_WAIT_SECONDS` (35): how long a caller stays on the greeting at most.
    pub clone_max_wait: Duration,
    /// How long a duplicate `IncomingCall` waits for the first delivery's answer.
    pub duplicate_wait: Duration,
    /// How long ringing the agent may take before the answer says it failed: well inside the
    /// function's 10 s timeout, so the answer is always recorded.
    pub ring_budget: Duration,
    /// How old an unanswered claim must be before a later delivery answers in its place: longer
    /// than the function's timeout, so the first delivery can no longer be running (it crashed
    /// or was cut off between claim and answer).
    pub claim_lease: Duration,
    /// `CACHE_TTL` (24h): a used clone stays fresh at least this long after its use.
    pub clone_ttl: chrono::Duration,
    /// `CALL_RETENTION_DAYS` (90): how long call records and their events are kept.
    pub call_retention_days: i64,
    /// Where the call flow's metrics go (EMF lines in Lambda).
    pub metrics: echome_core::metrics::Sink,
    /// `CONSENT_POLICY`: a caller without consent to be cloned gets the default voice.
    pub consent: echome_core::ConsentPolicy,
    /// Whether a `CallEnded`'s recording is asked for: `FETCH_ALLOWED_HOSTS` names the PBX
    /// (fetch-recording refuses every other host; with none, nothing could be fetched).
    pub fetch_recordings: bool,
    /// Where a sample the webhook stored is announced, when no S3 event does it (`echome
    /// serve`); `None` in AWS, where the object's creation invokes upload-trigger.
    pub sample_arrivals: Option<tokio::sync::mpsc::UnboundedSender<(echome_core::BlobRef, u64)>>,
}

pub const DEFAULT_GREETING: &str = "Thanks for calling. One moment while we get everything ready for you.";

fn voice(name: &str) -> Result<Option<VoiceId>, String> {
    match std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
        Some(v) => VoiceId::parse(v.trim()).map(Some).map_err(|e| format!("{name}: {e}")),
        None => Ok(None),
    }
}

impl Config {
    pub fn from_env(secrets: Secrets, bucket: String) -> Result<Self, String> {
        let trusted_ips = match std::env::var("THREECX_TRUSTED_IPS") {
            Ok(list) => TrustedIps::parse(&list).map_err(|e| format!("THREECX_TRUSTED_IPS: {e}"))?,
            Err(_) => TrustedIps::default(),
        };
        let music_on = env::parsed::<bool>("GREETING_MUSIC_ENABLED", "true or false")?.unwrap_or(false);
        let greeting_music_url =
            match std::env::var("GREETING_MUSIC_URL").ok().filter(|u| !u.trim().is_empty()) {
                Some(url) if music_on => {
                    if !url.starts_with("https://") {
                        return Err(format!("GREETING_MUSIC_URL must be an https URL: {url:?}"));
                    }
                    Some(url)
                }
                None if music_on => {
                    return Err("GREETING_MUSIC_ENABLED is true but GREETING_MUSIC_URL is not set".into());
                }
                _ => None,
            };
        let wait = env::parsed::<u64>("CLONE_MAX_WAIT_SECONDS", "a number of seconds")?.unwrap_or(35);
        let call_retention_days = env::call_retention_days()?;
        if !(5..=600).contains(&wait) {
            return Err(format!("CLONE_MAX_WAIT_SECONDS is {wait}; 5 to 600 seconds make sense"));
        }
        for (name, secret) in [
            ("THREECX_WEBHOOK_SECRET", &secrets.threecx),
            ("ELEVENLABS_WEBHOOK_SECRET", &secrets.post_call),
            ("ELEVENLABS_INITIATION_SECRET", &secrets.initiation),
        ] {
            if secret.len() < 16 {
                return Err(format!("{name} must be at least 16 characters"));
            }
        }
        Ok(Self {
            secrets,
            trusted_ips,
            bucket,
            greeting_voice: voice("GREETING_VOICE_ID")?,
            greeting_message: std::env::var("GREETING_MESSAGE")
                .ok()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_GREETING.into()),
            greeting_music_url,
            default_voice: voice("DEFAULT_VOICE_ID")?,
            clone_max_wait: Duration::from_secs(wait),
            duplicate_wait: Duration::from_millis(450),
            ring_budget: Duration::from_secs(6),
            claim_lease: Duration::from_secs(15),
            clone_ttl: echome_core::env::cache_ttl()?,
            call_retention_days,
            consent: echome_core::ConsentPolicy::from_env()?,
            fetch_recordings: std::env::var("FETCH_ALLOWED_HOSTS").is_ok_and(|h| !h.trim().is_empty()),
            metrics: echome_core::metrics::Sink::default(),
            sample_arrivals: None,
        })
    }
}
