use echome_aws::{S3BlobStore, lambda};
use lambda_runtime::{LambdaEvent, service_fn};
use segment_audio::{Config, answer};

struct State {
    blobs: S3BlobStore,
    config: Config,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let config = Config::from_env()?;
    let sdk = echome_aws::config::load().await;
    let state = State { blobs: S3BlobStore::new(&sdk), config };
    lambda_runtime::run(service_fn(|event: LambdaEvent<echome_core::SegmentInput>| {
        let state = &state;
        async move { answer(&state.blobs, &state.config, event.payload).await.map_err(lambda::StepFailure::from) }
    }))
    .await
}
