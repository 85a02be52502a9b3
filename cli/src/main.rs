//! `echome`: the pipeline's steps on one machine, no AWS account needed.

mod output;
mod prepare;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "echome", version, about = "Voice-cloning pipeline for phone calls, run locally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pick the caller's clean speech from any recording and write a clone-ready sample pack.
    Prepare(prepare::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ECHOME_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Prepare(args) => prepare::run(args),
    }
}
