use aws_lambda_events::event::s3::S3Event;
use echome_aws::{DynamoRecords, SfnRunStarter, lambda};
use echome_core::env;
use lambda_runtime::{LambdaEvent, service_fn};
use upload_trigger::handle;

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
    lambda_runtime::run(service_fn(|event: LambdaEvent<S3Event>| {
        let state = &state;
        async move {
            handle(&state.records, &state.starter, event.payload).await.map_err(lambda::StepFailure::from)
        }
    }))
    .await
}
