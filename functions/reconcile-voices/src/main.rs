use echome_aws::{DynamoRecords, lambda};
use echome_core::env;
use echome_elevenlabs::{Client, ElevenLabsEngine};
use lambda_runtime::{LambdaEvent, service_fn};
use reconcile_voices::{ReconcileInput, handle};

struct State {
    records: DynamoRecords,
    engine: ElevenLabsEngine,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let table = env::required("TABLE_NAME")?;
    let sdk = echome_aws::config::load().await;
    let api = lambda::elevenlabs_config(&sdk).await?;
    let state =
        State { records: DynamoRecords::new(&sdk, table), engine: ElevenLabsEngine::new(Client::new(api)?) };
    lambda_runtime::run(service_fn(|event: LambdaEvent<ReconcileInput>| {
        let state = &state;
        async move {
            handle(&state.records, &state.engine, event.payload, chrono::Utc::now())
                .await
                .map_err(lambda::StepFailure::from)
        }
    }))
    .await
}
