//! Typed configuration from the environment, read once at a function's start: a missing or
//! malformed variable stops the function before it takes any event.

use std::path::PathBuf;
use std::str::FromStr;

pub fn required(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

/// `None` when unset; an error naming the variable when it does not parse.
pub fn parsed<T: FromStr>(name: &str, what: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map(Some).map_err(|_| format!("{name} is not {what}: {v:?}")),
        Err(_) => Ok(None),
    }
}

/// `WORK_DIR`, else the system's temp dir (`/tmp` in Lambda).
pub fn work_dir() -> PathBuf {
    std::env::var_os("WORK_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// A duration with its unit (`24h`, `90m`; see [`crate::duration::parse_duration`]); `None`
/// when unset; an error naming the variable when it does not parse.
pub fn duration(name: &str) -> Result<Option<chrono::Duration>, String> {
    duration_from(name, std::env::var(name).ok().as_deref())
}

/// [`duration`] as a `std::time::Duration` (timeouts, limits): a negative one is refused.
pub fn std_duration(name: &str) -> Result<Option<std::time::Duration>, String> {
    duration(name)?.map(|d| d.to_std().map_err(|_| format!("{name} must be positive"))).transpose()
}

fn duration_from(name: &str, value: Option<&str>) -> Result<Option<chrono::Duration>, String> {
    value.map(|v| crate::duration::parse_duration(v).map_err(|e| format!("{name}: {e}"))).transpose()
}

/// `CACHE_TTL`: how long a cloned voice is reused, and how far each use extends it (default
/// 24 h). clone-voice and webhook-intake read the same variable, so a use counted by either
/// keeps the clone alive equally long.
pub fn cache_ttl() -> Result<chrono::Duration, String> {
    cache_ttl_from(std::env::var("CACHE_TTL").ok().as_deref())
}

fn cache_ttl_from(value: Option<&str>) -> Result<chrono::Duration, String> {
    Ok(duration_from("CACHE_TTL", value)?
        .unwrap_or_else(|| chrono::Duration::hours(crate::records::DEFAULT_CLONE_TTL_HOURS)))
}

/// `CALL_RETENTION_DAYS` (default 90, 1 to 3650): how long a call's record and its events are
/// kept. webhook-intake and transition-call read the same variable, so a call's events never
/// outlive or predecease it.
pub fn call_retention_days() -> Result<i64, String> {
    let days = parsed::<i64>("CALL_RETENTION_DAYS", "a number of days")?
        .unwrap_or(crate::records::CALL_RETENTION_DAYS);
    if !(1..=3650).contains(&days) {
        return Err(format!("CALL_RETENTION_DAYS is {days}; 1 to 3650 days make sense"));
    }
    Ok(days)
}

/// `SPEAKER_MATCH_THRESHOLD`: how close a new recording's speaker must be to the caller's
/// reference voice (default [`crate::voiceprint::DEFAULT_MATCH_THRESHOLD`]).
pub fn speaker_threshold() -> Result<crate::voiceprint::MatchThreshold, String> {
    match parsed::<f64>("SPEAKER_MATCH_THRESHOLD", "a number")? {
        Some(v) => {
            crate::voiceprint::MatchThreshold::new(v).map_err(|e| format!("SPEAKER_MATCH_THRESHOLD: {e}"))
        }
        None => Ok(Default::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_ttl_takes_a_unit_and_refuses_a_bare_number_by_name() {
        assert_eq!(cache_ttl_from(None), Ok(chrono::Duration::hours(24)));
        assert_eq!(cache_ttl_from(Some("86400s")), Ok(chrono::Duration::hours(24)));
        assert_eq!(cache_ttl_from(Some("7d")), Ok(chrono::Duration::days(7)));
        let err = cache_ttl_from(Some("24")).unwrap_err();
        assert!(err.starts_with("CACHE_TTL: ") && err.contains("no unit") && err.contains("24h"), "{err}");
    }
}
