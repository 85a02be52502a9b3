use api::handle;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use echome_aws::{DynamoRecords, lambda};
use lambda_runtime::{LambdaEvent, service_fn};

struct State {
    records: DynamoRecords,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let table = echome_core::env::required("TABLE_NAME")?;
    let sdk = echome_aws::config::load().await;
    let state = State { records: DynamoRecords::new(&sdk, table) };
    lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let state = &state;
        async move { Ok::<_, lambda_runtime::Diagnostic>(handle(&state.records, event.payload).await) }
    }))
    .await
}
