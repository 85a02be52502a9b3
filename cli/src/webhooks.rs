//! `echome webhooks [PREFIX]`: the webhook deliveries `echome serve` kept, as received (in the
//! local database; in AWS they are objects under `webhooks/` in the bucket).

use std::path::Path;
use std::process::ExitCode;

use echome_core::StepError;
use serde_json::{Value, json};

use crate::local::Local;
use crate::output::fail_step;

#[derive(clap::Args)]
pub struct WebhooksArgs {
    /// Only deliveries under `webhooks/{PREFIX}`: `3cx`, `elevenlabs/2026-11-22`.
    #[arg(default_value = "")]
    prefix: String,
    /// One JSON line per delivery on stdout, with its body.
    #[arg(long)]
    json: bool,
}

pub fn run(data_dir: &Path, args: WebhooksArgs) -> ExitCode {
    match list(data_dir, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail_step(args.json, &e),
    }
}

fn list(data_dir: &Path, args: &WebhooksArgs) -> Result<(), StepError> {
    let local = Local::open(data_dir)?;
    let kept = local.records.kept_webhooks(&format!("webhooks/{}", args.prefix))?;
    if !args.json && kept.is_empty() {
        eprintln!("no webhook deliveries kept under webhooks/{}", args.prefix);
    }
    for (key, body) in kept {
        if args.json {
            // A body that is not JSON (it was kept all the same) is shown as text.
            let shown = serde_json::from_slice::<Value>(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
            println!("{}", json!({ "key": key, "bytes": body.len(), "body": shown }));
        } else {
            println!("{key}  {} bytes", body.len());
        }
    }
    Ok(())
}
