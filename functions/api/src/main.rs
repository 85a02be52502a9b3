use api::Api;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use echome_aws::{DynamoRecords, lambda, secrets};
use echome_core::env;
use echome_elevenlabs::{ApiKey, Client, ElevenLabsEngine};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let table = env::required("TABLE_NAME")?;
    let key_parameter = env::required("ELEVENLABS_API_KEY_PARAMETER")?;
    let sdk = echome_aws::config::load().await;
    let key = secrets::ssm_secret(&sdk, &key_parameter).await?;
    let engine = ElevenLabsEngine::new(Client::new(echome_elevenlabs::Config::with_key(ApiKey::new(key)))?);
    let api = Api { records: DynamoRecords::new(&sdk, table), engine };
    lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let api = &api;
        async move { Ok::<_, lambda_runtime::Diagnostic>(api.handle(event.payload).await) }
    }))
    .await
}
