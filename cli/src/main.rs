//! `echome`: the pipeline's steps on one machine, no AWS account needed.

mod agent;
mod compare;
mod engine;
mod library;
mod local;
mod output;
mod people;
mod prepare;
mod recordings;
mod run;
mod runs;
mod say;
mod serve;
mod token;
mod voices;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "echome", version, about = "Voice-cloning pipeline for phone calls, run locally")]
struct Cli {
    /// Where local runs keep recordings, packs and records.
    #[arg(long, global = true, default_value = ".echome", env = "ECHOME_DATA_DIR")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pick the caller's clean speech from any recording and write a clone-ready sample pack.
    Prepare(prepare::Args),
    /// Run the whole clone run on a recording, locally, with every step the state machine has.
    Run(run::RunArgs),
    /// The clone run on a recording (prepare + clone); prints the voice id.
    Clone(run::RunArgs),
    /// Text to speech in a voice.
    Say(say::SayArgs),
    /// Voices at the engine and in the clone cache.
    #[command(subcommand)]
    Voices(voices::VoicesCommand),
    /// The webhooks and the read API over HTTP, with the same handlers as in AWS.
    Serve(serve::ServeArgs),
    /// Clone runs: accept a speaker a run refused.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Recordings of callers and named people.
    #[command(subcommand)]
    Samples(SamplesCommand),
    /// The webhook deliveries `echome serve` kept, as received.
    Webhooks(webhooks::WebhooksArgs),
    /// A bearer token for `echome serve`'s API, printed on stdout.
    Token(token::TokenArgs),
    /// Named people (employees, presenters) whose voices echome may keep.
    #[command(subcommand)]
    People(people::PeopleCommand),
    /// Consent to clone a person: grant, revoke (deletes their voices), show.
    #[command(subcommand)]
    Consent(people::ConsentCommand),
}

#[derive(Subcommand)]
enum SamplesCommand {
    /// Store a recording as an upload to samples/{caller or person}/ would, and clone it.
    Add(run::RunArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ECHOME_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Prepare(args) => prepare::run(args),
        Command::Run(args) | Command::Clone(args) => runtime.block_on(run::run(&cli.data_dir, args)),
        Command::Say(args) => runtime.block_on(say::run(args)),
        Command::Serve(args) => runtime.block_on(serve::run(&cli.data_dir, args)),
        Command::Voices(cmd) => runtime.block_on(voices::run(&cli.data_dir, cmd)),
        Command::Runs(cmd) => runtime.block_on(runs::run(&cli.data_dir, cmd)),
        Command::Samples(SamplesCommand::Add(args)) => runtime.block_on(run::add_sample(&cli.data_dir, args)),
        Command::Webhooks(args) => webhooks::run(&cli.data_dir, args),
        Command::Token(args) => token::run(&cli.data_dir, args),
        Command::People(cmd) => runtime.block_on(people::people(&cli.data_dir, cmd)),
        Command::Consent(cmd) => runtime.block_on(people::consent(&cli.data_dir, cmd)),
    }
}
