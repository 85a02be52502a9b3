use echome_aws::{DynamoRecords, S3BlobStore, lambda};
use echome_core::env;
use echome_elevenlabs::{Client, ElevenLabsEngine};
use lambda_runtime::{LambdaEvent, service_fn};
use score_voice::{Config, handle};

struct State {
    blobs: S3BlobStore,
    records: DynamoRecords,
    engine: ElevenLabsEngine,
    config: Config,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let config = Config::from_env()?;
    let table = env::required("TABLE_NAME")?;
    let sdk = echome_aws::config::load().await;
    let api = lambda::elevenlabs_config(&sdk).await?;
    let engine = ElevenLabsEngine::new(Client::new(api)?);
    let state =
        State { blobs: S3BlobStore::new(&sdk), records: DynamoRecords::new(&sdk, table), engine, config };
    lambda_runtime::run(service_fn(|event: LambdaEvent<echome_core::ScoreInput>| {
        let state = &state;
        async move {
            handle(&state.blobs, &state.records, &state.engine, &state.config, event.payload)
                .await
                .map_err(lambda::StepFailure::from)
        }
    }))
    .await
}
