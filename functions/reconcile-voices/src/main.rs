use echome_aws::{DynamoRecords, S3BlobStore, lambda};
use echome_core::env;
use echome_core::library::LibrarySettings;
use echome_elevenlabs::{Client, ElevenLabsEngine};
use lambda_runtime::{LambdaEvent, service_fn};
use reconcile_voices::{ReconcileInput, handle};

struct State {
    records: DynamoRecords,
    /// Cleanup moves a deleted model's files under deleted/.
    blobs: S3BlobStore,
    engine: ElevenLabsEngine,
    library: LibrarySettings,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let table = env::required("TABLE_NAME")?;
    let library = LibrarySettings::from_env()?;
    let sdk = echome_aws::config::load().await;
    let api = lambda::elevenlabs_config(&sdk).await?;
    let engine = ElevenLabsEngine::new(Client::new(api)?);
    let state =
        State { records: DynamoRecords::new(&sdk, table), blobs: S3BlobStore::new(&sdk), engine, library };
    lambda_runtime::run(service_fn(|event: LambdaEvent<ReconcileInput>| {
        let state = &state;
        async move {
            let rules = &state.library.cleanup;
            handle(&state.records, &state.engine, &state.blobs, event.payload, rules, chrono::Utc::now())
                .await
                .map_err(lambda::StepFailure::from)
        }
    }))
    .await
}
