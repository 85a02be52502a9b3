use echome_aws::{DynamoRecords, lambda, secrets};
use echome_core::env;
use echome_elevenlabs::{AgentConfig, ApiKey, ElevenLabsAgent};
use lambda_runtime::{LambdaEvent, service_fn};
use transition_call::{Config, handle};

struct State {
    records: DynamoRecords,
    agent: ElevenLabsAgent,
    config: Config,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let config = Config { emf: true, ..Config::from_env()? };
    let table = env::required("TABLE_NAME")?;
    let key_parameter = env::required("ELEVENLABS_API_KEY_PARAMETER")?;
    let agent_config = AgentConfig::from_env()?
        .ok_or("ELEVENLABS_AGENT_ID and ELEVENLABS_AGENT_PHONE_NUMBER_ID are required")?;
    let sdk = echome_aws::config::load().await;
    let key = secrets::ssm_secret(&sdk, &key_parameter).await?;
    let api = echome_elevenlabs::Config::with_key(ApiKey::new(key));
    let state = State {
        records: DynamoRecords::new(&sdk, table),
        agent: ElevenLabsAgent::new(api, agent_config)?,
        config,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<echome_core::TransitionInput>| {
        let state = &state;
        async move {
            handle(&state.records, &state.agent, &state.config, event.payload)
                .await
                .map_err(lambda::StepFailure::from)
        }
    }))
    .await
}
