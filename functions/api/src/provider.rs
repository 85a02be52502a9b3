//! `/health?detail`'s voice-provider check, without the provider's key: can the API host be
//! reached? Checked at most once a minute and cut off after two seconds, so a slow provider
//! never holds a request (or the function) up.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// One look at the provider.
pub trait ProviderProbe: Send + Sync {
    /// `elevenlabs`, or `offline` locally without a key.
    fn name(&self) -> &'static str;
    fn probe(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// The provider answers HTTP at all: any status below 500 (without a key, ElevenLabs answers
/// 401) means it is up.
pub struct Reachability {
    http: reqwest::Client,
    url: String,
}

impl Reachability {
    /// `ELEVENLABS_API_BASE`'s `/v1/models`.
    pub fn elevenlabs(base: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self { http, url: format!("{}/v1/models", base.trim_end_matches('/')) })
    }
}

impl ProviderProbe for Reachability {
    fn name(&self) -> &'static str {
        "elevenlabs"
    }

    async fn probe(&self) -> Result<(), String> {
        match self.http.get(&self.url).send().await {
            Ok(res) if res.status().as_u16() < 500 => Ok(()),
            Ok(res) => Err(format!("provider_status_{}", res.status().as_u16())),
            Err(e) if e.is_timeout() => Err("provider_timeout".into()),
            Err(_) => Err("provider_unreachable".into()),
        }
    }
}

/// No provider: the offline engine is always there.
pub struct Offline;

impl ProviderProbe for Offline {
    fn name(&self) -> &'static str {
        "offline"
    }

    async fn probe(&self) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct ProviderStatus {
    pub engine: &'static str,
    pub ok: bool,
    pub error: Option<String>,
    pub checked_at: DateTime<Utc>,
}

impl ProviderStatus {
    pub fn view(&self) -> Value {
        json!({
            "engine": self.engine,
            "status": if self.ok { "ok" } else { "error" },
            "error": self.error,
            "checked_at": self.checked_at,
        })
    }
}

/// The probe, remembered for `every`, and given at most `timeout`.
pub struct ProviderCheck<P> {
    probe: P,
    timeout: Duration,
    every: Duration,
    last: Mutex<Option<(Instant, ProviderStatus)>>,
}

impl<P: ProviderProbe> ProviderCheck<P> {
    pub fn new(probe: P) -> Self {
        Self::with(probe, Duration::from_secs(2), Duration::from_secs(60))
    }

    pub fn with(probe: P, timeout: Duration, every: Duration) -> Self {
        Self { probe, timeout, every, last: Mutex::new(None) }
    }

    pub async fn status(&self) -> ProviderStatus {
        let mut last = self.last.lock().await;
        if let Some((at, status)) = last.as_ref()
            && at.elapsed() < self.every
        {
            return status.clone();
        }
        let outcome = tokio::time::timeout(self.timeout, self.probe.probe())
            .await
            .unwrap_or_else(|_| Err("provider_timeout".into()));
        let status = ProviderStatus {
            engine: self.probe.name(),
            ok: outcome.is_ok(),
            error: outcome.err(),
            checked_at: Utc::now(),
        };
        *last = Some((Instant::now(), status.clone()));
        status
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    struct Slow(AtomicU32);

    impl ProviderProbe for Slow {
        fn name(&self) -> &'static str {
            "elevenlabs"
        }
        async fn probe(&self) -> Result<(), String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_hanging_provider_is_cut_off_and_asked_once_a_minute() {
        let check =
            ProviderCheck::with(Slow(AtomicU32::new(0)), Duration::from_millis(50), Duration::from_secs(60));
        let started = Instant::now();
        let first = check.status().await;
        assert!(started.elapsed() < Duration::from_secs(2), "cut off: {:?}", started.elapsed());
        assert_eq!((first.ok, first.error.as_deref()), (false, Some("provider_timeout")));
        let again = check.status().await;
        assert_eq!(
            (again.ok, check.probe.0.load(Ordering::SeqCst)),
            (false, 1),
            "remembered, not asked again"
        );
    }
}
