use echome_aws::{DynamoRecords, S3BlobStore, lambda, secrets};
use echome_core::{ConsentPolicy, env};
use echome_fetch::{Credentials, FetchPolicy, Fetcher};
use fetch_recording::{Config, handle_json};
use lambda_runtime::{LambdaEvent, service_fn};

struct State {
    blobs: S3BlobStore,
    records: DynamoRecords,
    fetcher: Fetcher,
    config: Config,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let table = env::required("TABLE_NAME")?;
    let fetcher = Fetcher::new(FetchPolicy::from_env()?);
    let sdk = echome_aws::config::load().await;
    // The PBX's download credentials, when it asks for any: an SSM SecureString.
    let credentials =
        match std::env::var("PBX_RECORDING_CREDENTIALS_PARAMETER").ok().filter(|p| !p.is_empty()) {
            Some(name) => Some(Credentials::parse(&secrets::ssm_secret(&sdk, &name).await?)?),
            None => None,
        };
    let config = Config { consent: ConsentPolicy::from_env()?, credentials, scratch: env::work_dir() };
    let state =
        State { blobs: S3BlobStore::new(&sdk), records: DynamoRecords::new(&sdk, table), fetcher, config };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let state = &state;
        async move {
            handle_json(&state.blobs, &state.records, &state.fetcher, &state.config, event.payload)
                .await
                .map_err(lambda::StepFailure::from)
        }
    }))
    .await
}
