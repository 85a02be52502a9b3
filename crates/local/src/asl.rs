//! The clone run's state machine, read by the local runner so that its retries are the ASL's
//! own (statemachine/clone-run.asl.json is compiled in): which errors each state retries, how
//! many times, and how long it waits.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

const ASL: &str = include_str!("../../../statemachine/clone-run.asl.json");

/// One `Retry` entry of a Task state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retrier {
    pub interval: Duration,
    pub max_attempts: u32,
    pub backoff_rate: f64,
}

impl Retrier {
    /// The wait before retry number `attempt` (1-based), as Step Functions computes it without
    /// jitter: `interval · rate^(attempt-1)`.
    pub fn wait(&self, attempt: u32) -> Duration {
        let factor = self.backoff_rate.powi(attempt.saturating_sub(1) as i32);
        self.interval.mul_f64(factor.clamp(0.0, 1e6))
    }
}

fn definition() -> &'static Value {
    static PARSED: OnceLock<Value> = OnceLock::new();
    PARSED.get_or_init(|| serde_json::from_str(ASL).unwrap_or(Value::Null))
}

/// The state named `name`, wherever it is (top level or inside a Parallel branch).
fn find<'a>(states: &'a Value, name: &str) -> Option<&'a Value> {
    let map = states.as_object()?;
    if let Some(s) = map.get(name) {
        return Some(s);
    }
    map.values().find_map(|s| s.get("Branches")?.as_array()?.iter().find_map(|b| find(&b["States"], name)))
}

/// The retrier the state `state` applies to an error named `error`: the first whose
/// `ErrorEquals` names it (or `States.ALL`), as Step Functions picks. `None`: not retried.
pub fn retrier(state: &str, error: &str) -> Option<Retrier> {
    let s = find(&definition()["States"], state)?;
    s.get("Retry")?.as_array()?.iter().find_map(|r| {
        let names = r["ErrorEquals"].as_array()?;
        names.iter().any(|n| n.as_str() == Some(error) || n.as_str() == Some("States.ALL")).then(|| Retrier {
            interval: Duration::from_secs_f64(r["IntervalSeconds"].as_f64().unwrap_or(1.0)),
            max_attempts: r["MaxAttempts"].as_u64().map_or(3, |m| m as u32),
            backoff_rate: r["BackoffRate"].as_f64().unwrap_or(2.0),
        })
    })
}

/// Where the state `state` goes on an error named `error`: the `Next` of its first `Catch`
/// that names it (or `States.ALL`). `None`: the error leaves the branch.
pub fn catch(state: &str, error: &str) -> Option<&'static str> {
    let s = find(&definition()["States"], state)?;
    s.get("Catch")?.as_array()?.iter().find_map(|c| {
        let names = c["ErrorEquals"].as_array()?;
        names.iter().any(|n| n.as_str() == Some(error) || n.as_str() == Some("States.ALL")).then_some(())?;
        c["Next"].as_str()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_has_the_asl_s_own_numbers() {
        let throttled = retrier("CloneVoice", "ProviderThrottled").unwrap();
        assert_eq!((throttled.interval, throttled.max_attempts), (Duration::from_secs(5), 4));
        assert_eq!(throttled.wait(3), Duration::from_secs(20));
        let retryable = retrier("ExtractAudio", "Retryable").unwrap();
        assert_eq!((retryable.interval, retryable.max_attempts), (Duration::from_secs(2), 3));
        assert_eq!(retrier("ExtractAudio", "ProviderThrottled"), None, "only what the ASL lists");
        assert_eq!(retrier("ExtractAudio", "InvalidAudio"), None);
        assert!(retrier("HandOverAtDeadline", "Retryable").is_some(), "inside the second branch");
    }
}
