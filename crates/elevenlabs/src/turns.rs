//! The caller's turns of a conversation, from its transcript: each `user` turn runs from its
//! `time_in_call_secs` to the next `agent` turn's. The times are whole seconds, rounded down,
//! so a user turn's true start lies up to a second after its time (the agent may still be
//! finishing, or was interrupted and stops a moment later); the first [`GUARD_S`] of a turn
//! that follows the agent's is left out. The next agent turn cannot start before its time, so
//! the end needs no guard.

use echome_core::recordings::TurnSpan;
use serde_json::Value;

use crate::webhooks::Conversation;

/// Seconds left out at the start of a caller's turn that follows the agent's.
pub const GUARD_S: f64 = 1.0;
/// Shorter stretches are not worth a cut (half a second of speech clones nothing).
pub const MIN_SPAN_S: f64 = 0.5;

/// The caller's stretches of the conversation, in order; consecutive user turns are one.
pub fn caller_spans(conversation: &Conversation) -> Vec<TurnSpan> {
    let mut turns: Vec<(bool, f64)> = conversation
        .transcript
        .iter()
        .filter_map(|t| {
            let user = match t.get("role").and_then(Value::as_str)? {
                "user" => true,
                "agent" => false,
                _ => return None,
            };
            Some((user, t.get("time_in_call_secs").and_then(Value::as_f64)?))
        })
        .filter(|(_, at)| at.is_finite() && *at >= 0.0)
        .collect();
    turns.sort_by(|a, b| a.1.total_cmp(&b.1));
    let end_of_call = conversation.duration_s().filter(|d| d.is_finite() && *d > 0.0);
    let mut spans = Vec::new();
    let mut i = 0;
    while i < turns.len() {
        let (user, at) = turns[i];
        if !user {
            i += 1;
            continue;
        }
        let after_agent = i > 0;
        let next_agent = turns[i..].iter().position(|(u, _)| !u).map(|k| i + k);
        let start = if after_agent { at + GUARD_S } else { at };
        let end = next_agent.map(|k| turns[k].1).or(end_of_call);
        if end.is_none_or(|e| e - start >= MIN_SPAN_S) {
            spans.push(TurnSpan { start_s: start, end_s: end });
        }
        i = next_agent.unwrap_or(turns.len());
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conversation(transcript: Value, duration: Option<f64>) -> Conversation {
        serde_json::from_value(json!({
            "conversation_id": "conv_1",
            "transcript": transcript,
            "metadata": duration.map_or(json!({}), |d| json!({"call_duration_secs": d})),
        }))
        .unwrap()
    }

    fn span(start_s: f64, end_s: Option<f64>) -> TurnSpan {
        TurnSpan { start_s, end_s }
    }

    #[test]
    fn user_turns_run_to_the_next_agent_turn_after_a_guard() {
        let c = conversation(
            json!([
                {"role": "agent", "message": "Hello, how can I help?", "time_in_call_secs": 0},
                {"role": "user", "message": "It is about my invoice.", "time_in_call_secs": 3},
                {"role": "user", "message": "The second page.", "time_in_call_secs": 7},
                {"role": "agent", "message": "Let me look.", "time_in_call_secs": 12, "interrupted": true},
                {"role": "user", "message": "Thanks.", "time_in_call_secs": 15},
            ]),
            Some(22.0),
        );
        assert_eq!(caller_spans(&c), vec![span(4.0, Some(12.0)), span(16.0, Some(22.0))]);
    }

    #[test]
    fn a_caller_who_speaks_first_needs_no_guard_and_an_open_end_runs_to_the_audio_s_end() {
        let c = conversation(
            json!([
                {"role": "user", "message": "Hello?", "time_in_call_secs": 0},
                {"role": "agent", "message": "Hi!", "time_in_call_secs": 2},
                {"role": "user", "message": "Bye.", "time_in_call_secs": 5},
            ]),
            None,
        );
        assert_eq!(caller_spans(&c), vec![span(0.0, Some(2.0)), span(6.0, None)]);
    }

    #[test]
    fn short_turns_tool_entries_and_odd_times_are_left_out() {
        let c = conversation(
            json!([
                {"role": "agent", "message": "Hi", "time_in_call_secs": 0},
                {"role": "user", "message": "Yes", "time_in_call_secs": 4},
                {"role": "agent", "message": "Good", "time_in_call_secs": 5},
                {"role": "tool", "time_in_call_secs": 6},
                {"role": "user", "message": "no time"},
                {"role": "user", "message": "negative", "time_in_call_secs": -3},
                {"role": "agent", "message": "Bye", "time_in_call_secs": 9},
            ]),
            Some(10.0),
        );
        assert_eq!(caller_spans(&c), vec![]);
        assert_eq!(caller_spans(&conversation(json!([]), Some(10.0))), vec![]);
    }

    #[test]
    fn turns_out_of_order_are_put_in_order() {
        let c = conversation(
            json!([
                {"role": "user", "message": "b", "time_in_call_secs": 10},
                {"role": "agent", "message": "a", "time_in_call_secs": 0},
                {"role": "agent", "message": "c", "time_in_call_secs": 20},
            ]),
            Some(30.0),
        );
        assert_eq!(caller_spans(&c), vec![span(11.0, Some(20.0))]);
    }
}
