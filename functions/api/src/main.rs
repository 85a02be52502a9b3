use api::{Api, ProviderCheck, Reachability};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use echome_auth::{Jwks, Verifier};
use echome_aws::secrets::ssm_secret;
use echome_aws::{DynamoRateLimiter, DynamoRecords, S3BlobStore, SfnRunStarter, lambda};
use echome_core::BlobArchive;
use echome_core::env;
use echome_core::limits::RoleLimits;
use echome_core::people::ErasureKey;
use echome_elevenlabs::{Client, ElevenLabsEngine};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let table = env::required("TABLE_NAME")?;
    let (issuer, audience) = (env::required("ECHOME_JWT_ISSUER")?, env::required("ECHOME_JWT_AUDIENCE")?);
    let provider_base =
        std::env::var("ELEVENLABS_API_BASE").unwrap_or_else(|_| "https://api.elevenlabs.io".into());
    let limits = RoleLimits::from_env()?;
    let library = echome_core::library::LibrarySettings::from_env()?;
    let sdk = echome_aws::config::load().await;
    // Deleting a model deletes its voice at ElevenLabs (the key from SSM, as every function).
    let engine = ElevenLabsEngine::new(Client::new(lambda::elevenlabs_config(&sdk).await?)?);
    // The receipts' hash key, from SSM like every secret (a SecureString of 32+ characters);
    // without it only erasure is refused, not the whole API.
    let erasure_key = ssm_secret(&sdk, &env::required("ERASURE_HASH_KEY_PARAMETER")?)
        .await
        .and_then(|k| ErasureKey::new(k.into_bytes()))
        .inspect_err(|e| tracing::error!(error = %e, "no usable erasure hash key: erasure is unavailable"))
        .ok();
    let (s3, bucket) = (S3BlobStore::new(&sdk), env::required("BUCKET_NAME")?);
    let api = Api {
        records: DynamoRecords::new(&sdk, table.clone()),
        // The gateway verifies tokens on protected routes; this checks the ones it lets through
        // on open routes (`/health?detail`).
        tokens: Verifier::Jwks(Jwks::new(issuer.clone(), audience, Jwks::well_known(&issuer))?),
        limiter: DynamoRateLimiter::new(&sdk, table),
        limits,
        provider: ProviderCheck::new(Reachability::elevenlabs(&provider_base)?),
        engine,
        // A model asked for starts a clone run, from a recording that must be there.
        runs: SfnRunStarter::new(&sdk, env::required("STATE_MACHINE_ARN")?),
        blobs: s3.clone(),
        bucket: bucket.clone(),
        library,
        consent: echome_core::ConsentPolicy::from_env()?,
        archive: BlobArchive { blobs: s3, bucket },
        erasure_key,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let api = &api;
        async move { Ok::<_, lambda_runtime::Diagnostic>(api.handle(event.payload).await) }
    }))
    .await
}
