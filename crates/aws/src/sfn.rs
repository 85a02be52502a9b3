//! Starts clone runs on Step Functions. The execution is named after the run id, so a second
//! start of the same run (a redelivered event) is refused by Step Functions itself.

use aws_sdk_sfn::Client;
use echome_core::{CloneRunInput, RunStart, RunStarter, StorageError};

use crate::errors::storage_error;

#[derive(Debug, Clone)]
pub struct SfnRunStarter {
    client: Client,
    state_machine_arn: String,
}

impl SfnRunStarter {
    pub fn new(sdk: &aws_config::SdkConfig, state_machine_arn: impl Into<String>) -> Self {
        Self { client: Client::new(sdk), state_machine_arn: state_machine_arn.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl RunStarter for SfnRunStarter {
    async fn start(&self, input: &CloneRunInput) -> Result<RunStart, StorageError> {
        let name = input.run_id.as_str();
        let body = serde_json::to_string(input)
            .map_err(|e| StorageError::Failed(format!("encoding the input: {e}")))?;
        let sent = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(body)
            .send()
            .await;
        match sent {
            Ok(out) => {
                tracing::info!(run_id = name, execution = out.execution_arn(), "clone run started");
                Ok(RunStart::Started)
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_already_exists()) => {
                tracing::info!(run_id = name, "clone run already started");
                Ok(RunStart::AlreadyStarted)
            }
            Err(e) => Err(storage_error(name, "starting the clone run", e)),
        }
    }
}
