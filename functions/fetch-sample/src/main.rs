use echome_aws::{DynamoRecords, S3BlobStore, lambda};
use echome_core::env;
use echome_fetch::ytdlp::YtDlp;
use echome_fetch::{FetchPolicy, Fetcher};
use fetch_sample::{Config, Source, handle_json};
use lambda_runtime::{LambdaEvent, service_fn};

struct State {
    blobs: S3BlobStore,
    records: DynamoRecords,
    fetcher: Fetcher,
    ytdlp: YtDlp,
    config: Config,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let table = env::required("TABLE_NAME")?;
    let fetcher = Fetcher::new(FetchPolicy::for_url_samples()?);
    // The layer's yt-dlp (`/opt/bin/yt-dlp`, set as YT_DLP in the template).
    let ytdlp = YtDlp::from_env()?;
    let config = Config::from_env()?;
    let sdk = echome_aws::config::load().await;
    let state = State {
        blobs: S3BlobStore::new(&sdk),
        records: DynamoRecords::new(&sdk, table),
        fetcher,
        ytdlp,
        config,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let state = &state;
        async move {
            let source = Source { fetcher: &state.fetcher, ytdlp: &state.ytdlp };
            handle_json(&state.blobs, &state.records, &source, &state.config, event.payload)
                .await
                .map_err(lambda::StepFailure::from)
        }
    }))
    .await
}
