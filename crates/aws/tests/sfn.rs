//! Starting clone runs on Step Functions, against a real moto server through the real SDK.

use echome_aws::{DynamoRecords, SfnRunStarter};
use echome_core::{
    BlobRef, CallerId, CloneRunInput, ErrorType, RunId, RunLog, RunRecord, RunStart, RunStarter, RunStatus,
};
use echome_testkit::moto::MotoServer;

#[tokio::test]
async fn a_run_starts_once_under_its_own_name() {
    let moto = MotoServer::start();
    let sdk = echome_aws::config::for_endpoint(&moto.endpoint());
    let (starter, machine) = clone_run_machine(&sdk).await;

    let caller = CallerId::parse("+14155550123").unwrap();
    let key = "samples/+14155550123/call.mp3";
    let input = CloneRunInput {
        run_id: RunId::for_upload(&caller, key, "v1"),
        person: echome_core::Person::from(caller.clone()),
        sample: BlobRef::new("echome-recordings", key),
        pack: None,
        call: None,
        combine: vec![],
    };
    assert_eq!(starter.start(&input).await.unwrap(), RunStart::Started);
    // While the first run is open, Step Functions answers a same-name, same-input start with
    // the first execution; what matters is that there is still only one.
    assert_eq!(starter.start(&input).await.unwrap(), RunStart::Started);
    // A same-name start with another input is refused by Step Functions: reported, not an error.
    let other = CloneRunInput {
        sample: BlobRef::new("echome-recordings", "samples/+14155550123/x.wav"),
        ..input.clone()
    };
    assert_eq!(starter.start(&other).await.unwrap(), RunStart::AlreadyStarted);

    let list = starter.client().list_executions().state_machine_arn(&machine).send().await.unwrap();
    let names: Vec<_> = list.executions().iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(names, [input.run_id.as_str()]);
    let arn = list.executions()[0].execution_arn();
    let desc = starter.client().describe_execution().execution_arn(arn).send().await.unwrap();
    let sent: CloneRunInput = serde_json::from_str(desc.input().unwrap()).unwrap();
    assert_eq!(sent, input, "the state machine gets the run's input, caller id in full");
}

/// Moto runs the ASL itself (not our Lambdas): the function call fails as a missing function,
/// and the Catch path must record that on the run's item exactly as DynamoRecords reads it.
#[tokio::test]
async fn the_state_machine_s_failure_path_records_the_run_as_failed() {
    let caller = CallerId::parse("+14155550123").unwrap();
    let run_id = RunId::for_upload(&caller, "samples/+14155550123/call.mp3", "v1");
    let (status, run) = run_on_moto(run_id, None, None).await;
    assert_eq!(status, "FAILED");
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.finished_at.is_some_and(|t| t >= run.started_at), "{run:?}");
    let error = run.error.expect("the failure is on record");
    assert_eq!(error.error_type, ErrorType::Internal, "an unknown error name is an internal failure");
    assert!(error.message.contains("extract-audio"), "{error:?}");
}

/// With a caller waiting, the failure path also tries the hand-over (its function is missing
/// in moto too) and still ends the run as failed, with the clone's error on record.
#[tokio::test]
async fn with_a_caller_waiting_the_failure_path_still_records_the_clone_s_error() {
    let call = echome_core::CallContext {
        threecx_call_id: echome_core::CallId::parse("3cx-9001").unwrap(),
        greeting_call_id: Some("conv_greeting".into()),
        phone_number: CallerId::parse("+14155550123").unwrap(),
        deadline: chrono::SubsecRound::trunc_subsecs(chrono::Utc::now() + chrono::Duration::seconds(35), 0),
    };
    let waiting = RunId::for_call(&call.threecx_call_id);
    let (status, run) = run_on_moto(waiting, Some(call), None).await;
    assert_eq!(status, "FAILED");
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.unwrap().message.contains("extract-audio"));
}

/// Moto's interpreter takes the kept pack's path: the first function the run calls is
/// clone-voice, not extract-audio.
#[tokio::test]
async fn a_run_given_a_kept_pack_starts_at_clone_voice() {
    let caller = CallerId::parse("+14155550123").unwrap();
    let run_id = RunId::for_upload(&caller, "samples/+14155550123/call.mp3", "v1");
    let pack = echome_testkit::fixtures::pack("echome-recordings", "earlier");
    let (status, run) = run_on_moto(run_id, None, Some(pack)).await;
    assert_eq!(status, "FAILED");
    let error = run.error.expect("the failure is on record");
    assert!(error.message.contains("clone-voice") && !error.message.contains("extract-audio"), "{error:?}");
}

/// An input without `combine` (started by code from before it, during a deploy) still reaches
/// ExtractAudio (missing in moto) and takes the failure path that records the run, instead of a
/// States.Runtime error on `$.combine` that no Catch takes.
#[tokio::test]
async fn a_run_started_without_earlier_calls_still_reaches_extract_audio() {
    let caller = CallerId::parse("+14155550123").unwrap();
    let run_id = RunId::for_upload(&caller, "samples/+14155550123/old.mp3", "v1");
    let (status, run) = run_input_on_moto(run_id, None, |input| {
        input.as_object_mut().unwrap().remove("combine");
    })
    .await;
    assert_eq!(status, "FAILED");
    assert_eq!(run.status, RunStatus::Failed, "the failure path ran");
    assert!(run.error.unwrap().message.contains("extract-audio"), "it got as far as ExtractAudio");
}

/// An input naming its caller as `caller_id` (started by code from before named people, during
/// a deploy), with a caller waiting: every state is given `$.person` from it, so the run gets
/// as far as ExtractAudio and its failure path (which hands the caller over, reading
/// `$.person` too) records it, instead of a States.Runtime error no Catch takes.
#[tokio::test]
async fn a_run_started_with_caller_id_still_runs_and_records_its_failure() {
    let call = echome_core::CallContext {
        threecx_call_id: echome_core::CallId::parse("3cx-9002").unwrap(),
        greeting_call_id: None,
        phone_number: CallerId::parse("+14155550123").unwrap(),
        deadline: chrono::SubsecRound::trunc_subsecs(chrono::Utc::now() + chrono::Duration::seconds(35), 0),
    };
    let run_id = RunId::for_call(&call.threecx_call_id);
    let (status, run) = run_input_on_moto(run_id, Some(call), |input| {
        let object = input.as_object_mut().unwrap();
        let person = object.remove("person").unwrap();
        object.insert("caller_id".into(), person);
    })
    .await;
    assert_eq!(status, "FAILED");
    assert_eq!(run.status, RunStatus::Failed, "the failure path ran");
    assert!(run.error.unwrap().message.contains("extract-audio"), "it got as far as ExtractAudio");
}

/// SegmentAudio's answer that there is no usable speech (as the Lambda returns it; moto runs no
/// Lambda, so the run is given it as its pack): the run is recorded as failed with the reason,
/// and the execution succeeds, so the ExecutionsFailed alarm stays for faults.
#[tokio::test]
async fn no_usable_speech_is_recorded_on_the_run_without_failing_the_execution() {
    let caller = CallerId::parse("+14155550123").unwrap();
    let run_id = RunId::for_upload(&caller, "samples/+14155550123/calls/c1.mp3", "v1");
    let short = echome_core::AudioError::TooLittleSpeech { found_s: 8.5, required_s: 30.0, speech_s: 11.0 };
    let answer = echome_core::SegmentAnswer::from_result(Err(short.into())).unwrap();
    let answer = serde_json::to_value(answer).unwrap();
    let (status, run) = run_input_on_moto(run_id, None, |input| input["pack"] = answer).await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("the reason is on record");
    assert_eq!((error.error_type, error.code.as_str()), (ErrorType::NoUsableSpeech, "too_little_speech"));
    assert!(error.message.contains("found 8.5 s"), "{error:?}");
}

/// One clone run on a moto server of its own (moto cannot start an execution while it holds a
/// Parallel one): how the execution ended and the run's record afterwards.
async fn run_on_moto(
    run_id: RunId,
    call: Option<echome_core::CallContext>,
    pack: Option<echome_core::SegmentOutput>,
) -> (String, RunRecord) {
    let pack = pack.map(|p| serde_json::to_value(p).unwrap());
    run_input_on_moto(run_id, call, |input| {
        if let Some(pack) = pack {
            input["pack"] = pack;
        }
    })
    .await
}

/// The same, with the input as `edit` leaves it (SegmentAudio's answer in `$.pack`, which is
/// not a pack; an input from before a field existed).
async fn run_input_on_moto(
    run_id: RunId,
    call: Option<echome_core::CallContext>,
    edit: impl FnOnce(&mut serde_json::Value),
) -> (String, RunRecord) {
    let moto = MotoServer::start();
    moto.enable_state_machine_execution();
    let sdk = echome_aws::config::for_endpoint(&moto.endpoint());
    let records = DynamoRecords::new(&sdk, "echome");
    records.create_table().await.unwrap();
    let (starter, machine) = clone_run_machine(&sdk).await;
    let caller = CallerId::parse("+14155550123").unwrap();
    let sample = BlobRef::new("echome-recordings", "samples/+14155550123/call.mp3");
    records
        .create_run(&RunRecord::started(run_id.clone(), caller.clone(), sample.clone(), chrono::Utc::now()))
        .await
        .unwrap();
    let input = CloneRunInput {
        run_id: run_id.clone(),
        person: echome_core::Person::from(caller),
        sample,
        pack: None,
        call,
        combine: vec![],
    };
    let mut input = serde_json::to_value(input).unwrap();
    edit(&mut input);
    let client = starter.client();
    let start = client.start_execution().state_machine_arn(&machine).name(run_id.as_str());
    start.input(input.to_string()).send().await.unwrap();
    let status = final_status(&starter, &machine, &run_id).await;
    (status, records.run(&run_id).await.unwrap().unwrap())
}

/// Waits for the execution named after `run_id` to end; its status.
async fn final_status(starter: &SfnRunStarter, machine: &str, run_id: &RunId) -> String {
    let mut status = String::new();
    for _ in 0..100 {
        let list = starter.client().list_executions().state_machine_arn(machine).send().await.unwrap();
        let exec = list.executions().iter().find(|e| e.name() == run_id.as_str()).expect("the execution");
        status = exec.status().as_str().to_owned();
        if status != "RUNNING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    status
}

fn definition() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachine/clone-run.asl.json"))
        .unwrap()
        .replace("${ExtractAudioFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:extract-audio")
        .replace("${SegmentAudioFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:segment-audio")
        .replace("${CloneVoiceFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:clone-voice")
        .replace("${ScoreVoiceFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:score-voice")
        .replace(
            "${TransitionCallFunctionArn}",
            "arn:aws:lambda:us-east-1:123456789012:function:transition-call",
        )
        .replace("${TableName}", "echome")
}

/// The clone-run state machine, created in moto; a starter for it and its ARN.
async fn clone_run_machine(sdk: &aws_config::SdkConfig) -> (SfnRunStarter, String) {
    let created = SfnRunStarter::new(sdk, "unused")
        .client()
        .create_state_machine()
        .name("clone-run")
        .definition(definition())
        .role_arn("arn:aws:iam::123456789012:role/clone-run")
        .send()
        .await
        .unwrap();
    let arn = created.state_machine_arn().to_owned();
    (SfnRunStarter::new(sdk, &arn), arn)
}
