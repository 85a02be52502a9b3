use echome_aws::{DynamoRecords, SfnRunStarter, lambda};
use echome_core::env;
use lambda_runtime::{LambdaEvent, service_fn};
use upload_trigger::handle_json;

struct State {
    records: DynamoRecords,
    starter: SfnRunStarter,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let (table, state_machine) = (env::required("TABLE_NAME")?, env::required("STATE_MACHINE_ARN")?);
    let sdk = echome_aws::config::load().await;
    let state =
        State { records: DynamoRecords::new(&sdk, table), starter: SfnRunStarter::new(&sdk, state_machine) };
    // The event is taken as JSON and read record by record: one odd record must not refuse the
    // whole event before the handler sees it.
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let state = &state;
        async move {
            handle_json(&state.records, &state.starter, event.payload)
                .await
                .map_err(lambda::StepFailure::from)
        }
    }))
    .await
}
