use echome_aws::{DynamoRecords, lambda};
use echome_core::env;
use echome_core::metrics::Sink;
use echome_elevenlabs::{AgentConfig, ElevenLabsAgent};
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
    let config = Config { metrics: Sink::new(lambda::EmfMetrics::from_env()), ..Config::from_env()? };
    let table = env::required("TABLE_NAME")?;
    let agent_config = AgentConfig::from_env()?
        .ok_or("ELEVENLABS_AGENT_ID and ELEVENLABS_AGENT_PHONE_NUMBER_ID are required")?;
    let sdk = echome_aws::config::load().await;
    let api = lambda::elevenlabs_config(&sdk).await?;
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
