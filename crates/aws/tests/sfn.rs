//! Starting clone runs on Step Functions, against a real moto server through the real SDK.

use echome_aws::SfnRunStarter;
use echome_core::{BlobRef, CallerId, CloneRunInput, RunId, RunStart, RunStarter};
use echome_testkit::moto::MotoServer;

#[tokio::test]
async fn a_run_starts_once_under_its_own_name() {
    let moto = MotoServer::start();
    let sdk = echome_aws::config::for_endpoint(&moto.endpoint());
    let definition = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../statemachine/clone-run.asl.json"
    ))
    .unwrap()
    .replace("${ExtractAudioFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:extract-audio")
    .replace("${SegmentAudioFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:segment-audio")
    .replace("${TableName}", "echome");
    let probe = SfnRunStarter::new(&sdk, "unused");
    let created = probe
        .client()
        .create_state_machine()
        .name("clone-run")
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/clone-run")
        .send()
        .await
        .unwrap();
    let starter = SfnRunStarter::new(&sdk, created.state_machine_arn());

    let caller = CallerId::parse("+14155550123").unwrap();
    let key = "samples/+14155550123/call.mp3";
    let input = CloneRunInput {
        run_id: RunId::for_upload(&caller, key, "v1"),
        caller_id: caller.clone(),
        sample: BlobRef::new("echome-recordings", key),
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

    let list = starter
        .client()
        .list_executions()
        .state_machine_arn(created.state_machine_arn())
        .send()
        .await
        .unwrap();
    let names: Vec<_> = list.executions().iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(names, [input.run_id.as_str()]);
    let arn = list.executions()[0].execution_arn();
    let desc = starter.client().describe_execution().execution_arn(arn).send().await.unwrap();
    let sent: CloneRunInput = serde_json::from_str(desc.input().unwrap()).unwrap();
    assert_eq!(sent, input, "the state machine gets the run's input, caller id in full");
}
