//! Per-user rate limits on the authenticated routes: a fixed window per subject, counted where
//! every Lambda instance sees it (a conditional DynamoDB update in AWS; in-process locally).

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::auth::Role;
use crate::error::StorageError;

/// Requests one subject may make in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub requests: u32,
    pub window_s: u32,
}

/// The limits of each role (`RATE_LIMIT_VIEWER`, `RATE_LIMIT_OPERATOR`, `RATE_LIMIT_ADMIN`:
/// requests per minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleLimits {
    pub viewer: Limit,
    pub operator: Limit,
    pub admin: Limit,
}

impl Default for RoleLimits {
    fn default() -> Self {
        let per_minute = |requests| Limit { requests, window_s: 60 };
        Self { viewer: per_minute(120), operator: per_minute(240), admin: per_minute(600) }
    }
}

impl RoleLimits {
    pub fn of(&self, role: Role) -> Limit {
        match role {
            Role::Viewer => self.viewer,
            Role::Operator => self.operator,
            Role::Admin => self.admin,
        }
    }

    /// The defaults, with any of the three variables set overriding its role's figure.
    pub fn from_env() -> Result<Self, String> {
        let mut limits = Self::default();
        for (name, slot) in [
            ("RATE_LIMIT_VIEWER", &mut limits.viewer),
            ("RATE_LIMIT_OPERATOR", &mut limits.operator),
            ("RATE_LIMIT_ADMIN", &mut limits.admin),
        ] {
            if let Some(n) = crate::env::parsed::<u32>(name, "a number of requests per minute")? {
                if n == 0 {
                    return Err(format!("{name} is 0: nobody with that role could make a request"));
                }
                slot.requests = n;
            }
        }
        Ok(limits)
    }
}

/// The window `now` falls in: its start (epoch seconds) and how many seconds are left of it.
pub fn window(limit: Limit, now: DateTime<Utc>) -> (i64, u32) {
    let w = i64::from(limit.window_s.max(1));
    let start = now.timestamp().div_euclid(w) * w;
    (start, u32::try_from(start + w - now.timestamp()).unwrap_or(limit.window_s))
}

/// Whether a request may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed {
        remaining: u32,
    },
    /// Over the limit: try again after this many seconds (the `Retry-After` header).
    Limited {
        retry_after_s: u32,
    },
}

/// Counts requests per subject and window.
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `subject`, unless the window's count has reached `limit`.
    fn hit(
        &self,
        subject: &str,
        limit: Limit,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<RateDecision, StorageError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_say_what_is_left() {
        let limit = Limit { requests: 2, window_s: 60 };
        let at = DateTime::from_timestamp(1_800_000_030, 0).unwrap();
        assert_eq!(window(limit, at), (1_800_000_000, 30));
        let edge = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(window(limit, edge), (1_800_000_000, 60));
    }
}
