//! Per-user rate limits for `echome serve`: one process serves every request, so a counter in
//! memory sees them all.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use echome_core::StorageError;
use echome_core::limits::{Limit, RateDecision, RateLimiter, window};

/// Counts per `(subject, window start)`; windows that have ended are dropped as new ones begin.
#[derive(Debug, Default)]
pub struct InProcessLimiter {
    counts: Mutex<HashMap<(String, i64), u32>>,
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
        counts.retain(|(_, s), _| *s >= start);
        let n = counts.entry((subject.to_owned(), start)).or_default();
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
}
