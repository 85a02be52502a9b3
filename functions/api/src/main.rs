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
    let erasure_key = match ssm_secret(&sdk, &env::required("ERASURE_HASH_KEY_PARAMETER")?).await {
        Ok(k) => match ErasureKey::new(k.into_bytes()) {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::error!(error = %e, "the erasure hash key is too short: erasure is unavailable");
                None
            }
        },
        Err(e) => {
            tracing::error!(error = %e, "no erasure hash key: erasure is unavailable until it is created");
            None
        }
    };
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
        blobs: S3BlobStore::new(&sdk),
        bucket: env::required("BUCKET_NAME")?,
        library,
        consent: echome_core::ConsentPolicy::from_env()?,
        archive: BlobArchive { blobs: S3BlobStore::new(&sdk), bucket: env::required("BUCKET_NAME")? },
        erasure_key,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let api = &api;
        async move { Ok::<_, lambda_runtime::Diagnostic>(api.handle(event.payload).await) }
    }))
    .await
}
