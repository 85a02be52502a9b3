//! The local runner and statemachine/clone-run.asl.json must describe the same run: the same
//! Task states, in the same order, calling the same functions, failing to the same state.

use echome_local::runner::{CLONE_RUN, ON_FAILURE};
use serde_json::Value;

fn asl() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/clone-run.asl.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("the ASL is JSON")
}

/// `${ExtractAudioFunctionArn}` → `extract-audio`; `arn:aws:states:::dynamodb:updateItem` →
/// `dynamodb:updateItem`.
fn function_of(resource: &str) -> String {
    if let Some(name) = resource.strip_prefix("${").and_then(|r| r.strip_suffix("FunctionArn}")) {
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        }
        return out;
    }
    resource.strip_prefix("arn:aws:states:::").unwrap_or(resource).to_owned()
}

/// The function a Task state calls.
fn task(states: &Value, name: &str) -> String {
    let s = &states[name];
    assert_eq!(s["Type"], "Task", "{name} is a Task state in the ASL");
    function_of(s["Resource"].as_str().unwrap())
}

#[test]
fn the_runner_runs_the_state_machine_s_task_states_in_order() {
    let asl = asl();
    let states = &asl["States"];
    let mut path = Vec::new();
    let mut at = asl["StartAt"].as_str().unwrap().to_owned();
    loop {
        let s = &states[&at];
        if s["Type"] == "Task" {
            path.push((at.clone(), task(states, &at)));
        }
        if s["End"] == true || matches!(s["Type"].as_str(), Some("Succeed" | "Fail")) {
            break;
        }
        at = s["Next"].as_str().unwrap_or_else(|| panic!("{at} has no Next")).to_owned();
    }
    let runner: Vec<_> = CLONE_RUN.iter().map(|s| (s.state.to_owned(), s.function.to_owned())).collect();
    assert_eq!(runner, path, "runner (left) and ASL (right) disagree");
}

#[test]
fn every_function_step_fails_to_the_same_state_as_the_runner() {
    let asl = asl();
    let states = &asl["States"];
    for step in CLONE_RUN.iter().filter(|s| !s.function.contains(':')) {
        let catch = &states[step.state]["Catch"];
        let targets: Vec<_> = catch.as_array().unwrap().iter().map(|c| c["Next"].as_str().unwrap()).collect();
        assert_eq!(targets, [ON_FAILURE.state], "{}'s Catch", step.state);
        let retried: Vec<&str> = states[step.state]["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap().iter().filter_map(|e| e.as_str()))
            .collect();
        // The runner retries exactly these two names.
        for name in ["Retryable", "ProviderThrottled"] {
            let expected = name == "Retryable" || step.function == "clone-voice";
            assert_eq!(retried.contains(&name), expected, "{} retries {name}: {retried:?}", step.state);
        }
    }
    assert_eq!(task(states, ON_FAILURE.state), ON_FAILURE.function);
}
