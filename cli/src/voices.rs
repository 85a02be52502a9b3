//! `echome voices list|delete|reconcile|compare`: the engine's voices next to the clone
//! cache, and how alike two voices are.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use echome_core::{CloneCache, StepError, VoiceEngine, VoiceId};
use serde_json::json;

use crate::engine::Engine;
use crate::local::Local;
use crate::output::fail_step;

#[derive(clap::Subcommand)]
pub enum VoicesCommand {
    /// The engine's voices and the cached clones.
    List(Json),
    /// Delete a voice echome made (at the engine and in the cache).
    Delete {
        id: String,
        #[command(flatten)]
        json: Json,
    },
    /// Delete echome's voices no fresh cache entry points to; forget entries whose voice is gone
    /// (what the daily ReconcileVoices function does in AWS).
    Reconcile {
        /// List what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        json: Json,
    },
    /// How alike two voices are: the cosine between their voiceprints (1 = the same voice).
    /// Each is an audio file or the id of a voice echome made; with more than two, every pair
    /// (a similarity matrix).
    Compare {
        a: String,
        b: String,
        more: Vec<String>,
        #[command(flatten)]
        json: Json,
    },
}

#[derive(clap::Args)]
pub struct Json {
    /// Machine-readable output on stdout.
    #[arg(long)]
    json: bool,
}

pub async fn run(data_dir: &Path, cmd: VoicesCommand) -> ExitCode {
    let json = match &cmd {
        VoicesCommand::List(j)
        | VoicesCommand::Reconcile { json: j, .. }
        | VoicesCommand::Delete { json: j, .. }
        | VoicesCommand::Compare { json: j, .. } => j.json,
    };
    match inner(data_dir, cmd, json).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail_step(json, &e),
    }
}

async fn inner(data_dir: &Path, cmd: VoicesCommand, json: bool) -> Result<(), StepError> {
    let local = Local::open(data_dir)?;
    if let VoicesCommand::Compare { a, b, more, .. } = &cmd {
        if !more.is_empty() {
            let all: Vec<String> = [a, b].into_iter().chain(more).cloned().collect();
            let matrix = crate::compare::matrix(&local, &all).await?;
            let round = |v: f64| (v * 10_000.0).round() / 10_000.0;
            if json {
                let rows: Vec<Vec<f64>> =
                    matrix.iter().map(|r| r.iter().map(|v| round(*v)).collect()).collect();
                println!("{}", json!({ "voices": all, "similarity": rows }));
            } else {
                for (name, row) in all.iter().zip(&matrix) {
                    let cells: Vec<String> = row.iter().map(|v| format!("{v:.3}")).collect();
                    println!("{}  {name}", cells.join(" "));
                }
            }
            return Ok(());
        }
        let similarity = crate::compare::similarity(&local, a, b).await?;
        if json {
            println!("{}", json!({ "similarity": (similarity * 10_000.0).round() / 10_000.0 }));
        } else {
            println!("similarity {similarity:.3} (1 = the same voice)");
        }
        return Ok(());
    }
    let engine = Engine::from_env()?;
    let now = Utc::now();
    match cmd {
        VoicesCommand::List(_) => {
            let at_engine = engine.voices().await?;
            let cache = local.records.clones().await?;
            let mut scores = Vec::with_capacity(cache.len());
            for c in &cache {
                scores.push(local.records.quality_of(&c.caller_id, &c.voice_id).await?.and_then(|q| q.score));
            }
            let rows: Vec<_> = cache
                .iter()
                .zip(&scores)
                .map(|(c, score)| {
                    json!({
                        "voice_id": c.voice_id,
                        "engine": c.engine,
                        "caller_id": c.caller_id.redacted(),
                        "status": c.status,
                        "fresh": c.is_fresh(now),
                        "reuse_count": c.reuse_count,
                        "last_used_at": c.last_used_at,
                        "quality": score,
                    })
                })
                .collect();
            let foreign = at_engine.iter().filter(|v| !v.ours).count();
            let ours: Vec<_> = at_engine.iter().filter(|v| v.ours).map(|v| v.voice_id.to_string()).collect();
            if json {
                println!(
                    "{:#}",
                    json!({ "engine": engine.name(), "cached": rows, "ours_at_engine": ours, "others_at_engine": foreign })
                );
            } else {
                println!(
                    "engine: {} ({} of echome's voices there, {foreign} others)",
                    engine.name(),
                    ours.len()
                );
                for (c, score) in cache.iter().zip(&scores) {
                    println!(
                        "  {:<24} {:<14} {:?}{} used {}x, last {}, quality {}",
                        c.voice_id.as_str(),
                        c.caller_id.redacted(),
                        c.status,
                        if c.is_fresh(now) { "" } else { " (expired)" },
                        c.reuse_count,
                        c.last_used_at.format("%Y-%m-%d %H:%M"),
                        score.map_or_else(|| "not measured".to_owned(), |s| format!("{s:.2}"))
                    );
                }
            }
        }
        VoicesCommand::Delete { id, .. } => {
            let voice = VoiceId::parse(&id).map_err(|e| StepError::invalid_input(e.to_string()))?;
            let known = engine.voices().await?;
            if known.iter().any(|v| v.voice_id == voice && !v.ours) {
                return Err(StepError::invalid_input(format!(
                    "{voice} was not made by echome; it is left alone"
                )));
            }
            engine.delete_voice(&voice).await?;
            for c in local.records.clones().await?.iter().filter(|c| c.voice_id == voice) {
                clone_voice::mark_evicted(&local.records, c).await?;
            }
            if json {
                println!("{}", json!({ "deleted": voice }));
            } else {
                println!("deleted {voice}");
            }
        }
        VoicesCommand::Compare { .. } => {}
        VoicesCommand::Reconcile { dry_run, .. } => {
            let input = reconcile_voices::ReconcileInput { dry_run };
            let done = reconcile_voices::handle(&local.records, &engine, input, now).await?;
            if json {
                println!("{:#}", json!(done));
            } else {
                let (verb, forgot) =
                    if done.dry_run { ("would delete", "would forget") } else { ("deleted", "forgot") };
                println!(
                    "{verb} {} voice(s), {forgot} {} cache entr(y/ies); kept {}, left {} not made by echome",
                    done.deleted.len(),
                    done.forgotten.len(),
                    done.kept,
                    done.others
                );
                for v in &done.deleted {
                    println!("  {verb} {v}");
                }
            }
        }
    }
    Ok(())
}
