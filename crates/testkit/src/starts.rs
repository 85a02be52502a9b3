//! A run starter for the unit tests of the handlers that start clone runs: it keeps what it was
//! asked to start and, like a named Step Functions execution, starts a run id once.

use std::sync::Mutex;

use echome_core::{CloneRunInput, RunStart, RunStarter, StorageError};

#[derive(Default)]
pub struct Starts(pub Mutex<Vec<CloneRunInput>>);

impl Starts {
    pub fn started(&self) -> Vec<CloneRunInput> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl RunStarter for Starts {
    async fn start(&self, input: &CloneRunInput) -> Result<RunStart, StorageError> {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.iter().any(|s| s.run_id == input.run_id) {
            return Ok(RunStart::AlreadyStarted);
        }
        seen.push(input.clone());
        Ok(RunStart::Started)
    }
}
