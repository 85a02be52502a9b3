//! `echome runs accept RUN`: an operator accepts the speaker a run refused as not the caller
//! (`speaker_mismatch`); the pack it judged becomes the caller's reference voice and is cloned.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use echome_core::speaker_accept::{AcceptError, accept_speaker};
use echome_core::{CloneRunInput, RunId, RunLog, SampleLog, StepError};

use crate::local::Local;
use crate::output::fail_step;
use crate::run::{Common, run_and_report};

#[derive(clap::Subcommand)]
pub enum RunsCommand {
    /// Accept the speaker a run refused as not the caller's voice, and clone it.
    Accept(AcceptArgs),
}

#[derive(clap::Args)]
pub struct AcceptArgs {
    pub run_id: String,
    /// Who accepts it (kept with the caller's reference voice).
    #[arg(long, env = "USER", default_value = "operator")]
    pub by: String,
    #[command(flatten)]
    pub common: Common,
}

pub async fn run(data_dir: &Path, cmd: RunsCommand) -> ExitCode {
    let RunsCommand::Accept(args) = cmd;
    let json = args.common.json;
    match accept(data_dir, args).await {
        Ok(code) => code,
        Err(e) => fail_step(json, &e),
    }
}

async fn accept(data_dir: &Path, args: AcceptArgs) -> Result<ExitCode, StepError> {
    let local = Local::open(data_dir)?;
    let refused = RunId::parse(&args.run_id).map_err(|e| StepError::invalid_input(e.to_string()))?;
    let by = args.by.trim();
    if by.is_empty() {
        return Err(StepError::invalid_input("--by names who accepts the speaker"));
    }
    accept_speaker(&local.records, &refused, by, Utc::now()).await.map_err(|e| match e {
        AcceptError::Storage(e) => StepError::from(e),
        other => StepError::invalid_input(other.to_string()),
    })?;
    let run = local
        .records
        .run(&refused)
        .await?
        .ok_or_else(|| StepError::internal(format!("run {refused} vanished")))?;
    // The recording the refused run judged, from the pack kept with it when it is still the
    // caller's current sample (so it is not analysed again).
    let pack = local
        .records
        .current_sample(&run.person)
        .await?
        .filter(|c| c.sample == run.sample)
        .and_then(|c| c.pack);
    let input = CloneRunInput {
        run_id: refused.after_acceptance(),
        person: run.person,
        sample: run.sample,
        pack,
        call: None,
        combine: vec![],
    };
    run_and_report(&local, input, &args.common).await
}
