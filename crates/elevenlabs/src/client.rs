//! The HTTP core every call goes through: the key header, the shared concurrency limiter,
//! retries with exponential backoff and jitter (honouring `Retry-After`), and error mapping.
//! A request that makes something (a voice, a call) is sent again only when the failure proves
//! the server did nothing (see [`Effect`]).

use std::time::Duration;

use reqwest::header::HeaderMap;

use echome_core::metrics::ProviderCall;

use crate::error::{ElevenLabsError, classify, parse_error_body, refused_before_work, retryable};
use crate::limiter::{Limiter, Priority};

pub const DEFAULT_BASE_URL: &str = "https://api.elevenlabs.io";

/// The API key. Never printed: `Debug` shows only that there is one.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub base_url: String,
    pub api_key: ApiKey,
    /// Per request; cloning uploads and long speech take a while.
    pub timeout: Duration,
    pub max_retries: u32,
    /// First retry's wait; doubles each time (with jitter), capped at `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Until a response says otherwise (`maximum-concurrent-requests`).
    pub concurrency: usize,
    /// The longest `Retry-After` waited out here; a longer one is handed back at once as the
    /// error it is, for a caller with a deadline (a live call) to decide.
    pub max_wait: Duration,
    /// Every attempt's outcome goes here (CloudWatch's provider error rate in Lambda).
    pub metrics: echome_core::metrics::Sink,
}

impl Config {
    pub fn new(api_key: ApiKey) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            api_key,
            timeout: Duration::from_secs(120),
            max_retries: 3,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            concurrency: 2,
            max_wait: Duration::from_secs(60),
            metrics: echome_core::metrics::Sink::default(),
        }
    }

    /// `ELEVENLABS_API_KEY` (none: `Ok(None)`, the caller decides what stands in) and
    /// `ELEVENLABS_API_BASE` (default the global endpoint; residency hosts work the same).
    pub fn from_env() -> Result<Option<Self>, String> {
        let Ok(key) = std::env::var("ELEVENLABS_API_KEY") else { return Ok(None) };
        if key.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(Self::with_key(ApiKey::new(key.trim()))))
    }

    /// A key from elsewhere (SSM in AWS); the host still comes from `ELEVENLABS_API_BASE`.
    pub fn with_key(api_key: ApiKey) -> Self {
        let mut cfg = Self::new(api_key);
        if let Ok(base) = std::env::var("ELEVENLABS_API_BASE") {
            cfg.base_url = base.trim_end_matches('/').to_owned();
        }
        cfg
    }
}

/// A successful answer, read whole (audio answers are at most a few MB).
#[derive(Debug)]
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ElevenLabsError> {
        serde_json::from_slice(&self.body).map_err(|e| ElevenLabsError::Decode(e.to_string()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    cfg: Config,
    limiter: Limiter,
}

impl Client {
    pub fn new(cfg: Config) -> Result<Self, ElevenLabsError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("echome/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ElevenLabsError::Decode(format!("cannot build the HTTP client: {e}")))?;
        let limiter = Limiter::new(cfg.concurrency);
        Ok(Self { http, cfg, limiter })
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.base_url)
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn max_retries(&self) -> u32 {
        self.cfg.max_retries
    }

    /// Sends what `build` makes (again for every attempt, so file bodies are reopened); every
    /// failure that may pass is retried.
    pub(crate) async fn send(
        &self,
        priority: Priority,
        what: &str,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ElevenLabsError>,
    ) -> Result<Answer, ElevenLabsError> {
        self.send_as(Effect::Repeatable, priority, what, build).await
    }

    /// [`Self::send`] for a request that makes something: sent again only after a failure that
    /// proves nothing was made; any other failure is [`ElevenLabsError::OutcomeUnknown`].
    pub(crate) async fn send_create(
        &self,
        priority: Priority,
        what: &str,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ElevenLabsError>,
    ) -> Result<Answer, ElevenLabsError> {
        self.send_as(Effect::Creates, priority, what, build).await
    }

    async fn send_as(
        &self,
        effect: Effect,
        priority: Priority,
        what: &str,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ElevenLabsError>,
    ) -> Result<Answer, ElevenLabsError> {
        let mut attempt = 0;
        loop {
            let permit = self.limiter.acquire(priority).await;
            let sent = build()?.header("xi-api-key", &self.cfg.api_key.0).send().await;
            let failure = match sent {
                Ok(resp) => {
                    if let Some(max) = header_u64(resp.headers(), "maximum-concurrent-requests") {
                        self.limiter.set_limit(max as usize);
                    }
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(body) if (200..300).contains(&status) => {
                            self.cfg.metrics.provider_call(&ProviderCall {
                                provider: "elevenlabs",
                                status,
                                ok: true,
                            });
                            return Ok(Answer { headers, body: body.to_vec() });
                        }
                        Ok(body) => {
                            let (code, message) = parse_error_body(status, &body);
                            Failure::Answered { status, code, message, retry_after: retry_after(&headers) }
                        }
                        // The answer was cut off: the request had reached the server.
                        Err(e) => Failure::Lost { status, message: format!("reading the answer: {e}") },
                    }
                }
                // Connecting failed: nothing was sent.
                Err(e) if e.is_connect() => Failure::NotSent { message: e.to_string() },
                Err(e) => Failure::Lost {
                    status: 0,
                    message: format!("{}: {e}", if e.is_timeout() { "timeout" } else { "connection" }),
                },
            };
            drop(permit);
            self.cfg.metrics.provider_call(&ProviderCall {
                provider: "elevenlabs",
                status: failure.status(),
                ok: false,
            });
            let may_retry = match (&failure, effect) {
                (Failure::NotSent { .. }, _) => true,
                (Failure::Lost { .. }, Effect::Repeatable) => true,
                (Failure::Lost { .. }, Effect::Creates) => false,
                (Failure::Answered { status, code, .. }, Effect::Repeatable) => retryable(*status, code),
                (Failure::Answered { status, code, .. }, Effect::Creates) => {
                    refused_before_work(*status, code)
                }
            };
            if !may_retry || attempt >= self.cfg.max_retries {
                return Err(failure.into_error(effect, what));
            }
            let wait = match &failure {
                Failure::Answered { retry_after: Some(w), .. } => *w,
                _ => self.backoff(attempt),
            };
            if wait > self.cfg.max_wait {
                tracing::warn!(
                    what,
                    failure = failure.summary(),
                    wait_s = wait.as_secs(),
                    "not waiting that long for ElevenLabs"
                );
                return Err(failure.into_error(effect, what));
            }
            attempt += 1;
            tracing::warn!(
                what,
                failure = failure.summary(),
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying ElevenLabs"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Full jitter: a random wait up to `backoff · 2^attempt`, at least half of it.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.cfg.backoff.saturating_mul(1 << attempt.min(16)).min(self.cfg.max_backoff);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(ms / 2 + fastrand::u64(0..=ms / 2))
    }
}

/// What sending a request again can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Reads, deletes, speech: the same request twice does what it does once.
    Repeatable,
    /// Makes something (a voice, a call): twice would make two.
    Creates,
}

/// How one attempt failed, by what it proves about the server having done the work.
#[derive(Debug)]
enum Failure {
    /// The connection was never made: the server saw nothing.
    NotSent { message: String },
    /// The request went out and no (whole) answer came back: it may have been done.
    Lost { status: u16, message: String },
    /// The server answered with an error status.
    Answered { status: u16, code: String, message: String, retry_after: Option<Duration> },
}

impl Failure {
    /// The HTTP status, 0 when no answer came.
    fn status(&self) -> u16 {
        match self {
            Self::NotSent { .. } => 0,
            Self::Lost { status, .. } | Self::Answered { status, .. } => *status,
        }
    }

    fn summary(&self) -> String {
        match self {
            Self::NotSent { .. } => "not sent".into(),
            Self::Lost { status, .. } => format!("answer lost ({status})"),
            Self::Answered { status, code, .. } => format!("{status} {code}"),
        }
    }

    fn into_error(self, effect: Effect, what: &str) -> ElevenLabsError {
        match (self, effect) {
            (Self::NotSent { message }, _) => {
                ElevenLabsError::Unavailable { status: 0, message: format!("connection: {message}") }
            }
            (Self::Lost { status, message }, Effect::Creates) => {
                ElevenLabsError::OutcomeUnknown { what: what.to_owned(), status, message }
            }
            (Self::Lost { message, .. }, Effect::Repeatable) => {
                ElevenLabsError::Unavailable { status: 0, message }
            }
            (Self::Answered { status, code, message, .. }, Effect::Creates)
                if !refused_before_work(status, &code) && status >= 500 =>
            {
                ElevenLabsError::OutcomeUnknown {
                    what: what.to_owned(),
                    status,
                    message: format!("{status} {code}: {message}"),
                }
            }
            (Self::Answered { status, code, message, .. }, _) => classify(status, code, message),
        }
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Retry-After` in seconds (capped at a minute), or `retry-after-ms`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let cap = Duration::from_secs(60);
    if let Some(ms) = header_u64(headers, "retry-after-ms") {
        return Some(Duration::from_millis(ms).min(cap));
    }
    header_u64(headers, "retry-after").map(|s| Duration::from_secs(s).min(cap))
}
