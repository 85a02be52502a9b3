use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use echome_aws::{DynamoRecords, S3BlobStore, SfnRunStarter, lambda, secrets};
use echome_core::metrics::Sink;
use echome_core::{BlobArchive, env};
use echome_elevenlabs::{AgentConfig, ElevenLabsAgent};
use lambda_runtime::{LambdaEvent, service_fn};
use webhook_intake::{Config, Intake, config::Secrets};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let (table, state_machine, bucket) =
        (env::required("TABLE_NAME")?, env::required("STATE_MACHINE_ARN")?, env::required("BUCKET_NAME")?);
    let agent_config = AgentConfig::from_env()?
        .ok_or("ELEVENLABS_AGENT_ID and ELEVENLABS_AGENT_PHONE_NUMBER_ID are required")?;
    let sdk = echome_aws::config::load().await;
    let secret = |name: &'static str| {
        let sdk = &sdk;
        async move { secrets::ssm_secret(sdk, &env::required(name)?).await }
    };
    let secrets = Secrets {
        threecx: secret("THREECX_WEBHOOK_SECRET_PARAMETER").await?.into_bytes(),
        post_call: secret("ELEVENLABS_WEBHOOK_SECRET_PARAMETER").await?.into_bytes(),
        initiation: secret("ELEVENLABS_INITIATION_SECRET_PARAMETER").await?.into_bytes(),
    };
    let api = lambda::elevenlabs_config(&sdk).await?;
    let s3 = S3BlobStore::new(&sdk);
    let intake = Intake {
        records: DynamoRecords::new(&sdk, table),
        runs: SfnRunStarter::new(&sdk, state_machine),
        blobs: s3.clone(),
        agent: ElevenLabsAgent::new(api, agent_config)?,
        archive: BlobArchive { blobs: s3, bucket: bucket.clone() },
        config: Config {
            metrics: Sink::new(lambda::EmfMetrics::from_env()),
            ..Config::from_env(secrets, bucket)?
        },
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let intake = &intake;
        async move { Ok::<_, lambda_runtime::Diagnostic>(intake.handle(event.payload).await) }
    }))
    .await
}
