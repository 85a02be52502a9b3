use echome_aws::{DynamoRecords, S3BlobStore, lambda};
use echome_core::env;
use echome_elevenlabs::{Client, ElevenLabsEngine};
use lambda_runtime::{LambdaEvent, service_fn};
use synthesize_speech::Config;
use synthesize_speech::batch::{Invocation, invoke};

struct State {
    blobs: S3BlobStore,
    /// The voice models a request may name (`model_id`), whose uses are counted.
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
    let mut engine = ElevenLabsEngine::new(Client::new(api)?);
    if let Ok(model) = std::env::var("ELEVENLABS_MODEL_ID") {
        engine.model_id = model;
    }
    let state =
        State { blobs: S3BlobStore::new(&sdk), records: DynamoRecords::new(&sdk, table), engine, config };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Invocation>| {
        let state = &state;
        async move {
            invoke(&state.blobs, &state.engine, &state.records, &state.config, event.payload)
                .await
                .map_err(lambda::StepFailure::from)
        }
    }))
    .await
}
