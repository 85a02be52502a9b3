use echome_aws::{S3BlobStore, lambda, secrets};
use echome_core::env;
use echome_elevenlabs::{ApiKey, Client, ElevenLabsEngine};
use lambda_runtime::{LambdaEvent, service_fn};
use synthesize_speech::Config;
use synthesize_speech::batch::{Invocation, invoke};

struct State {
    blobs: S3BlobStore,
    engine: ElevenLabsEngine,
    config: Config,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let config = Config::from_env()?;
    let key_parameter = env::required("ELEVENLABS_API_KEY_PARAMETER")?;
    let sdk = echome_aws::config::load().await;
    let key = secrets::ssm_secret(&sdk, &key_parameter).await?;
    let api = echome_elevenlabs::Config::with_key(ApiKey::new(key));
    let mut engine = ElevenLabsEngine::new(Client::new(api)?);
    if let Ok(model) = std::env::var("ELEVENLABS_MODEL_ID") {
        engine.model_id = model;
    }
    let state = State { blobs: S3BlobStore::new(&sdk), engine, config };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Invocation>| {
        let state = &state;
        async move {
            invoke(&state.blobs, &state.engine, &state.config, event.payload)
                .await
                .map_err(lambda::StepFailure::from)
        }
    }))
    .await
}
