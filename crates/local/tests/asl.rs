//! The local runner and statemachine/clone-run.asl.json must describe the same run: the same
//! Task states, in the same order, calling the same functions, failing to the same state.

use echome_local::runner::{AFTER_FAILURE, AT_DEADLINE, CLONE_RUN, ON_FAILURE};
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

/// The Task states on the path from `start`, following `Next`, the first branch of a
/// Parallel state and, at a Choice, the branch taken when a caller is waiting.
fn tasks_from(states: &Value, start: &str) -> Vec<(String, String)> {
    let mut path = Vec::new();
    let mut at = start.to_owned();
    loop {
        let s = &states[&at];
        match s["Type"].as_str() {
            Some("Task") => path.push((at.clone(), task(states, &at))),
            Some("Parallel") => {
                let branch = &s["Branches"][0];
                path.extend(tasks_from(&branch["States"], branch["StartAt"].as_str().unwrap()));
            }
            Some("Choice") if s["Choices"][1]["Variable"] == "$.pack" => {
                // Without a kept pack: the whole path, analysis included; after it, the
                // pack SegmentAudio cut (with usable speech) goes on to the clone.
                let analysed = path.iter().any(|(state, _)| state == "SegmentAudio");
                let next = if analysed { &s["Choices"][1]["Next"] } else { &s["Default"] };
                at = next.as_str().unwrap().to_owned();
                continue;
            }
            Some("Choice") => {
                let first = &s["Choices"][0];
                // On whether a caller is waiting, or (on the failure path) whether the error
                // has a Cause: either way the first choice is the path.
                // After it, both ends (a fault or not) are terminal.
                assert!(
                    matches!(
                        first["Variable"].as_str(),
                        Some("$.person" | "$.call" | "$.error.Cause" | "$.error.Error" | "$.combine")
                    ),
                    "{at}"
                );
                at = first["Next"].as_str().unwrap().to_owned();
                continue;
            }
            _ => {}
        }
        if s["End"] == true || matches!(s["Type"].as_str(), Some("Succeed" | "Fail")) {
            break;
        }
        at = s["Next"].as_str().unwrap_or_else(|| panic!("{at} has no Next")).to_owned();
    }
    path
}

#[test]
fn the_runner_runs_the_state_machine_s_task_states_in_order() {
    let asl = asl();
    let path = tasks_from(&asl["States"], asl["StartAt"].as_str().unwrap());
    let runner: Vec<_> = CLONE_RUN.iter().map(|s| (s.state.to_owned(), s.function.to_owned())).collect();
    assert_eq!(runner, path, "runner (left) and ASL (right) disagree");
}

/// A score that cannot be measured never fails the run: ScoreVoice's Catch takes every error,
/// keeps it where the score would be, and ends the branch as a success.
#[test]
fn the_score_comes_after_the_hand_over_and_its_failure_costs_the_run_nothing() {
    let asl = asl();
    let branch = &asl["States"][CLONE_AND_HAND_OVER]["Branches"][0];
    let states = &branch["States"];
    assert_eq!(states["TransitionCall"]["Next"], "ScoreVoice", "the caller is handed over first");
    assert_eq!(states["CallerWaiting"]["Default"], "ScoreVoice");
    let score = &states["ScoreVoice"];
    assert_eq!(score["Catch"].as_array().unwrap().len(), 1);
    let catch = &score["Catch"][0];
    assert_eq!(catch["ErrorEquals"], serde_json::json!(["States.ALL"]));
    assert_eq!(
        (catch["ResultPath"].as_str(), catch["Next"].as_str()),
        (Some("$.quality"), Some("CloneDone"))
    );
    assert_eq!(states["CloneDone"]["Type"], "Succeed");
    assert_eq!(echome_local::asl::catch("ScoreVoice", "ProviderRejected"), Some("CloneDone"));
}

/// A kept pack skips the analysis, and CloneVoice's `PackGone` (its files expired) sends the
/// run back to it, as the runner does (it reads the same Catch).
#[test]
fn a_kept_pack_goes_straight_to_clone_voice_and_back_to_the_analysis_when_it_is_gone() {
    let asl = asl();
    let branch = &asl["States"][CLONE_AND_HAND_OVER]["Branches"][0];
    let start = &branch["States"]["PackAtHand"];
    assert_eq!(start["Type"], "Choice");
    let choice = &start["Choices"][1];
    assert_eq!((choice["Variable"].as_str(), choice["IsPresent"].as_bool()), (Some("$.pack"), Some(true)));
    assert_eq!(choice["Next"].as_str(), Some(CLONE_RUN[2].state));
    assert_eq!(start["Default"].as_str(), Some(CLONE_RUN[0].state));
    let clone = &branch["States"][CLONE_RUN[2].state];
    assert_eq!(clone["Parameters"]["pack.$"], "$.pack", "a kept pack sits where SegmentAudio puts one");
    assert_eq!(clone["Parameters"]["sample.$"], "$.sample", "the pack is kept with its recording");
    assert_eq!(echome_local::asl::catch(CLONE_RUN[2].state, "PackGone"), Some(CLONE_RUN[0].state));
    let catch = &clone["Catch"][0];
    assert_ne!(catch["ResultPath"], "$", "the run's input survives the Catch");
    assert_ne!(catch["ResultPath"], "$.pack");
    assert_eq!(
        echome_local::asl::catch(CLONE_RUN[2].state, "ProviderRejected"),
        None,
        "left to the Parallel"
    );
}

/// A run started without `combine` (by code from before it) gets none on the way to ExtractAudio,
/// which passes `$.combine` on: a missing path there would be a States.Runtime error.
/// The run's Parallel: the clone beside the deadline.
const CLONE_AND_HAND_OVER: &str = "CloneAndHandOver";

#[test]
fn a_run_started_with_caller_id_gets_its_person_before_anything_reads_it() {
    let asl = asl();
    let states = &asl["States"];
    let start = &states[asl["StartAt"].as_str().unwrap()];
    assert_eq!(start["Choices"][0]["Variable"], "$.person");
    assert_eq!(start["Choices"][0]["Next"], CLONE_AND_HAND_OVER);
    let fill = &states[start["Default"].as_str().unwrap()];
    assert_eq!(
        (fill["Type"].as_str(), fill["InputPath"].as_str(), fill["ResultPath"].as_str()),
        (Some("Pass"), Some("$.caller_id"), Some("$.person"))
    );
    assert_eq!(fill["Next"], CLONE_AND_HAND_OVER);
    // Nothing reads $.caller_id but that fill: every state is given the person.
    let text = serde_json::to_string(&asl).unwrap();
    assert_eq!(text.matches("$.caller_id").count(), 1 + 1, "the fill and its Choice's comment");
}

#[test]
fn a_run_without_earlier_calls_gets_none_before_anything_reads_them() {
    let asl = asl();
    let branch = &asl["States"][CLONE_AND_HAND_OVER]["Branches"][0];
    let states = &branch["States"];
    let start = &states[branch["StartAt"].as_str().unwrap()];
    assert_eq!(start["Choices"][0]["Variable"], "$.combine");
    let fill = &states[start["Default"].as_str().unwrap()];
    assert_eq!((fill["Type"].as_str(), fill["ResultPath"].as_str()), (Some("Pass"), Some("$.combine")));
    assert_eq!(fill["Result"], serde_json::json!([]));
    assert_eq!(
        (start["Choices"][0]["Next"].as_str(), fill["Next"].as_str()),
        (Some("PackAtHand"), Some("PackAtHand"))
    );
    assert_eq!(states[CLONE_RUN[0].state]["Parameters"]["combine.$"], "$.combine");
    // What every starter writes: the field is there even when empty.
    let input = echome_core::CloneRunInput {
        run_id: echome_core::RunId::parse("r1").unwrap(),
        person: echome_core::Person::from(echome_core::CallerId::parse("+14155550123").unwrap()),
        sample: echome_core::BlobRef::new("b", "samples/+14155550123/a.wav"),
        pack: None,
        call: None,
        combine: vec![],
    };
    assert_eq!(serde_json::to_value(input).unwrap()["combine"], serde_json::json!([]));
}

/// SegmentAudio's answer that the recording holds no usable speech fails the branch with its
/// reason (the failure path records it and hands a waiting caller over), and the run then ends
/// without an execution failure; every other error still ends in the Fail state.
#[test]
fn no_usable_speech_is_recorded_but_ends_the_execution_without_a_failure() {
    let asl = asl();
    let states = &asl["States"];
    let branch = &states[CLONE_AND_HAND_OVER]["Branches"][0]["States"];
    assert_eq!(branch[CLONE_RUN[1].state]["Next"], "PackAtHand", "SegmentAudio's answer is looked at");
    let first = &branch["PackAtHand"]["Choices"][0];
    assert_eq!(first["Variable"], "$.pack.no_usable_speech", "checked before the pack is cloned");
    let fail = &branch[first["Next"].as_str().unwrap()];
    assert_eq!(
        (fail["Type"].as_str(), fail["ErrorPath"].as_str(), fail["CausePath"].as_str()),
        (Some("Fail"), Some("$.pack.no_usable_speech.Error"), Some("$.pack.no_usable_speech.Cause"))
    );
    let answer = serde_json::to_value(
        echome_core::SegmentAnswer::from_result(Err(
            echome_core::AudioError::NoiseOnly { duration_s: 9.0 }.into()
        ))
        .unwrap(),
    )
    .unwrap();
    assert!(
        answer["no_usable_speech"]["Error"].is_string() && answer["no_usable_speech"]["Cause"].is_string()
    );

    let ends = ["CallerWaitingAfterFailure", "HandOverAfterFailure"];
    let mut nexts: Vec<&str> = vec![states[ends[0]]["Default"].as_str().unwrap()];
    nexts.push(states[ends[1]]["Next"].as_str().unwrap());
    nexts.push(states[ends[1]]["Catch"][0]["Next"].as_str().unwrap());
    assert!(nexts.iter().all(|n| *n == "NotAFault"), "{nexts:?}");
    let choice = &states["NotAFault"];
    let only = &choice["Choices"][0];
    assert_eq!(
        (only["Variable"].as_str(), only["StringEquals"].as_str()),
        (Some("$.error.Error"), Some(echome_core::ErrorType::NoUsableSpeech.as_str()))
    );
    assert_eq!(states[only["Next"].as_str().unwrap()]["Type"], "Succeed");
    assert_eq!(states[choice["Default"].as_str().unwrap()]["Type"], "Fail", "a fault still fails");
}

#[test]
fn the_deadline_runs_beside_the_clone_and_the_failure_path_hands_over() {
    let asl = asl();
    let states = &asl["States"];
    let parallel = &states[CLONE_AND_HAND_OVER];
    assert_eq!(parallel["Type"], "Parallel");
    let deadline = &parallel["Branches"][1];
    let path = tasks_from(&deadline["States"], deadline["StartAt"].as_str().unwrap());
    assert_eq!(path, [(AT_DEADLINE.state.to_owned(), AT_DEADLINE.function.to_owned())]);
    let catch: Vec<_> =
        parallel["Catch"].as_array().unwrap().iter().map(|c| c["Next"].as_str().unwrap()).collect();
    assert_eq!(catch.len(), 1, "one failure path");
    let failure = tasks_from(states, catch[0]);
    let expected = [ON_FAILURE, AFTER_FAILURE].map(|s| (s.state.to_owned(), s.function.to_owned()));
    assert_eq!(failure, expected, "a failed clone goes to the failure path");
    // Without a Cause the failure path still gets one, so no JSONPath of it can fail.
    let add = &states[states[catch[0]]["Default"].as_str().unwrap()];
    assert_eq!((add["Type"].as_str(), add["Next"].as_str()), (Some("Pass"), Some(ON_FAILURE.state)));
    assert!(add["Parameters"]["Cause"].is_string() && add["Parameters"]["Error.$"] == "$.error.Error");
}

#[test]
fn a_failing_deadline_hand_over_does_not_fail_the_parallel_state() {
    let asl = asl();
    let deadline = &asl["States"][CLONE_AND_HAND_OVER]["Branches"][1]["States"];
    let catch = deadline[AT_DEADLINE.state]["Catch"].as_array().expect("the deadline branch catches");
    assert_eq!(catch[0]["ErrorEquals"][0], "States.ALL");
    let mut at = catch[0]["Next"].as_str().unwrap();
    while deadline[at]["Type"] == "Pass" {
        at = deadline[at]["Next"].as_str().unwrap();
    }
    assert_eq!(deadline[at]["Type"], "Succeed", "the branch ends well, so the clone is not cancelled");
}

/// Every name a Retry or Catch matches is one the functions return, or one of Step Functions'
/// own (`States.*`, `Lambda.*`).
#[test]
fn every_error_name_the_asl_matches_exists_in_code() {
    fn names(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "ErrorEquals" {
                        out.extend(v.as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()));
                    } else {
                        names(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| names(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    names(&asl(), &mut all);
    assert!(all.iter().any(|n| n == "ProviderThrottled"), "{all:?}");
    for name in all.iter().filter(|n| !n.starts_with("States.") && !n.starts_with("Lambda.")) {
        assert!(
            echome_core::ErrorType::ALL.iter().any(|t| t.as_str() == name),
            "the ASL matches {name:?}, which no function returns"
        );
    }
}

#[test]
fn every_function_step_retries_what_the_runner_retries() {
    let asl = asl();
    let branch = &asl["States"][CLONE_AND_HAND_OVER]["Branches"][0]["States"];
    for step in CLONE_RUN.iter().filter(|s| !s.function.contains(':')) {
        // The Parallel state catches every failure; CloneVoice's one Catch (a kept pack gone)
        // leads back into the branch, and ScoreVoice's takes everything (a score never fails
        // the run), which the tests above check.
        let catches: Vec<&str> = branch[step.state]["Catch"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ErrorEquals"].as_array().unwrap().iter().filter_map(|e| e.as_str()))
            .collect();
        let expected: &[&str] = match step.state {
            "CloneVoice" => &["PackGone"],
            "ScoreVoice" => &["States.ALL"],
            _ => &[],
        };
        assert_eq!(catches, expected, "{}: the Parallel state catches the rest", step.state);
        let retried: Vec<&str> = branch[step.state]["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap().iter().filter_map(|e| e.as_str()))
            .collect();
        // The runner retries exactly these two names.
        for name in ["Retryable", "ProviderThrottled"] {
            let expected = name == "Retryable"
                || matches!(step.function, "clone-voice" | "transition-call" | "score-voice");
            assert_eq!(retried.contains(&name), expected, "{} retries {name}: {retried:?}", step.state);
        }
    }
    assert_eq!(task(&asl["States"], ON_FAILURE.state), ON_FAILURE.function);
}
