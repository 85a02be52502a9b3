//! Per-user rate limits for `echome serve`: one process serves every request, so a counter in
//! memory sees them all.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use echome_core::StorageError;
use echome_core::limits::{Limit, RateDecision, RateLimiter, window};

/// Counts per `(subject, window start, window length)`; windows that have ended are dropped as
/// new ones begin (a per-minute window ending never drops an hourly one still open).
#[derive(Debug, Default)]
pub struct InProcessLimiter {
    counts: Mutex<HashMap<(String, i64, u32), u32>>,
}

impl RateLimiter for InProcessLimiter {
    async fn hit(
        &self,
        subject: &str,
        limit: Limit,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StorageError> {
        let (start, left) = window(limit, now);
        let mut counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let t = now.timestamp();
        counts.retain(|(_, s, w), _| s + i64::from((*w).max(1)) > t);
        let n = counts.entry((subject.to_owned(), start, limit.window_s)).or_default();
        if *n >= limit.requests {
            return Ok(RateDecision::Limited { retry_after_s: left.max(1) });
        }
        *n += 1;
        Ok(RateDecision::Allowed { remaining: limit.requests - *n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_subject_gets_its_limit_per_window_and_others_are_not_affected() {
        let limiter = InProcessLimiter::default();
        let limit = Limit { requests: 2, window_s: 60 };
        let at = DateTime::from_timestamp(1_800_000_010, 0).unwrap();
        assert_eq!(limiter.hit("anna", limit, at).await.unwrap(), RateDecision::Allowed { remaining: 1 });
        assert_eq!(limiter.hit("anna", limit, at).await.unwrap(), RateDecision::Allowed { remaining: 0 });
        assert_eq!(
            limiter.hit("anna", limit, at).await.unwrap(),
            RateDecision::Limited { retry_after_s: 50 }
        );
        assert!(matches!(limiter.hit("bo", limit, at).await.unwrap(), RateDecision::Allowed { .. }));
        let next = DateTime::from_timestamp(1_800_000_060, 0).unwrap();
        assert_eq!(limiter.hit("anna", limit, next).await.unwrap(), RateDecision::Allowed { remaining: 1 });
    }

    #[tokio::test]
    async fn a_short_window_ending_leaves_a_long_one_counting() {
        let limiter = InProcessLimiter::default();
        let (minute, hour) = (Limit { requests: 100, window_s: 60 }, Limit { requests: 2, window_s: 3600 });
        for s in [10, 70, 130] {
            let at = DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
            assert!(matches!(limiter.hit("anna", minute, at).await.unwrap(), RateDecision::Allowed { .. }));
            let hourly = limiter.hit("anna#changes", hour, at).await.unwrap();
            assert_eq!(matches!(hourly, RateDecision::Allowed { .. }), s < 130, "at +{s} s: {hourly:?}");
        }
    }
}
