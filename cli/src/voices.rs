//! `echome voices`: the voice library's models (list, show, activate, deactivate, delete,
//! share, unshare, usage, cleanup: through the API's handler, see `library.rs`), the engine's
//! voices next to the clone cache, reconciliation, and how alike two voices are.

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
    /// The library's voice models (filtered), the engine's voices and the cached clones.
    List {
        /// Only this person's models (a caller's number or a named id such as emp-42).
        #[arg(long)]
        person: Option<String>,
        /// Only models that are (or are not) their person's active one.
        #[arg(long)]
        active: Option<bool>,
        /// Only models scored at least this (0 to 1).
        #[arg(long)]
        min_quality: Option<f64>,
        #[command(flatten)]
        json: Json,
    },
    /// One voice model: its person, owner, quality, status, usage and shares.
    Show {
        id: String,
        #[command(flatten)]
        json: Json,
    },
    /// Make a ready model its person's active voice (by hand: a new recording does not
    /// replace it).
    Activate {
        id: String,
        #[command(flatten)]
        json: Json,
    },
    /// Leave the model's person without an active voice.
    Deactivate {
        id: String,
        #[command(flatten)]
        json: Json,
    },
    /// Delete a voice model (`vm-…`: its voice at the provider, the record kept for audit, the
    /// next best activated) or a voice echome made (at the engine and in the cache).
    Delete {
        id: String,
        #[command(flatten)]
        json: Json,
    },
    /// Share a model with a user: `use` to speak with it, `manage` to change it too.
    Share {
        id: String,
        #[arg(long = "with")]
        user: String,
        #[arg(long, default_value = "use")]
        permission: String,
        #[command(flatten)]
        json: Json,
    },
    /// End a share.
    Unshare {
        id: String,
        #[arg(long = "with")]
        user: String,
        #[command(flatten)]
        json: Json,
    },
    /// A model's uses, characters, cost and last use.
    Usage {
        id: String,
        #[command(flatten)]
        json: Json,
    },
    /// The best ready model of a person (highest quality, then newest) meeting the criteria.
    Best {
        #[arg(long)]
        person: String,
        #[arg(long)]
        min_quality: Option<f64>,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        max_latency_ms: Option<f64>,
        #[command(flatten)]
        json: Json,
    },
    /// A model's record and pack as one tar archive.
    Export {
        id: String,
        #[arg(long)]
        out: std::path::PathBuf,
        #[command(flatten)]
        json: Json,
    },
    /// Back up your models (all of them on your own data dir) into one archive.
    Backup {
        #[arg(long)]
        person: Option<String>,
        /// Also copy the archive here.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        json: Json,
    },
    /// Restore a backup (its id, or an archive file `backup` wrote).
    Restore {
        backup: String,
        /// Replace models on record.
        #[arg(long)]
        overwrite: bool,
        /// Make each restored model its person's active voice.
        #[arg(long)]
        activate: bool,
        #[command(flatten)]
        json: Json,
    },
    /// The library in figures: models by provider and status, active, quality, uses, cost.
    Analytics(Json),
    /// Delete the models the cleanup rules select (old, inactive, poor and unused; or expired).
    Cleanup {
        /// List what would go; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        json: Json,
    },
    /// Delete echome's voices no fresh cache entry points to; forget entries whose voice is gone
    /// (what the daily ReconcileVoices function does in AWS).
    Reconcile {
        /// List what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// First remove the models the cleanup rules select (what the daily schedule does).
        #[arg(long)]
        cleanup: bool,
        #[command(flatten)]
        json: Json,
    },
    /// How alike two voices are: the cosine between their voiceprints (1 = the same voice).
    /// Each is an audio file or the id of a voice echome made; with more than two, every pair
    /// (a similarity matrix). Two voice models (`vm-…`) are compared by the library: quality
    /// parts, usage and their speakers' similarity.
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
        VoicesCommand::List { json: j, .. }
        | VoicesCommand::Show { json: j, .. }
        | VoicesCommand::Activate { json: j, .. }
        | VoicesCommand::Deactivate { json: j, .. }
        | VoicesCommand::Share { json: j, .. }
        | VoicesCommand::Unshare { json: j, .. }
        | VoicesCommand::Usage { json: j, .. }
        | VoicesCommand::Cleanup { json: j, .. }
        | VoicesCommand::Best { json: j, .. }
        | VoicesCommand::Analytics(j)
        | VoicesCommand::Export { json: j, .. }
        | VoicesCommand::Backup { json: j, .. }
        | VoicesCommand::Restore { json: j, .. }
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
    if let Some(done) = library_command(&local, &cmd, json).await? {
        return Ok(done);
    }
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
        VoicesCommand::List { person, active, min_quality, .. } => {
            let models = all_models(&local, person, active, min_quality).await?;
            let at_engine = engine.voices().await?;
            let cache = local.records.clones().await?;
            let mut scores = Vec::with_capacity(cache.len());
            for c in &cache {
                scores.push(local.records.quality_of(&c.person, &c.voice_id).await?.and_then(|q| q.score));
            }
            let rows: Vec<_> = cache
                .iter()
                .zip(&scores)
                .map(|(c, score)| {
                    json!({
                        "voice_id": c.voice_id,
                        "engine": c.engine,
                        "person": c.person.to_string(),
                        "caller_id": c.person.caller().map(echome_core::CallerId::redacted),
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
                    json!({ "models": models, "engine": engine.name(), "cached": rows, "ours_at_engine": ours, "others_at_engine": foreign })
                );
            } else {
                println!("{} voice model(s)", models.len());
                for m in &models {
                    println!("  {}", model_line(m));
                }
                println!(
                    "engine: {} ({} of echome's voices there, {foreign} others)",
                    engine.name(),
                    ours.len()
                );
                for (c, score) in cache.iter().zip(&scores) {
                    println!(
                        "  {:<24} {:<14} {:?}{} used {}x, last {}, quality {}",
                        c.voice_id.as_str(),
                        c.person.to_string(),
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
        VoicesCommand::Reconcile { dry_run, cleanup, .. } => {
            let input = reconcile_voices::ReconcileInput { dry_run, cleanup };
            let rules =
                echome_core::library::LibrarySettings::from_env().map_err(StepError::invalid_input)?.cleanup;
            let done =
                reconcile_voices::handle(&local.records, &engine, &local.blobs, input, &rules, now).await?;
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
        _ => {}
    }
    Ok(())
}

/// The library's commands, answered by the API's handler; `None` for the others.
async fn library_command(local: &Local, cmd: &VoicesCommand, json: bool) -> Result<Option<()>, StepError> {
    use aws_lambda_events::http::Method;
    let model = |id: &str| format!("/voice-models/{}", crate::library::encode(id));
    let (method, path, body) = match cmd {
        VoicesCommand::Show { id, .. } => (Method::GET, model(id), None),
        VoicesCommand::Activate { id, .. } => {
            (Method::POST, format!("{}/activate", model(id)), Some(json!({})))
        }
        VoicesCommand::Deactivate { id, .. } => {
            (Method::POST, format!("{}/deactivate", model(id)), Some(json!({})))
        }
        VoicesCommand::Delete { id, .. } if id.starts_with("vm-") => (Method::DELETE, model(id), None),
        VoicesCommand::Share { id, user, permission, .. } => (
            Method::POST,
            format!("{}/shares", model(id)),
            Some(json!({ "user": user, "permission": permission })),
        ),
        VoicesCommand::Unshare { id, user, .. } => {
            (Method::DELETE, format!("{}/shares/{}", model(id), crate::library::encode(user)), None)
        }
        VoicesCommand::Usage { id, .. } => (Method::GET, format!("{}/usage", model(id)), None),
        VoicesCommand::Cleanup { dry_run, .. } => {
            (Method::POST, "/voice-models/cleanup".to_owned(), Some(json!({ "dry_run": dry_run })))
        }
        VoicesCommand::Best { person, min_quality, provider, max_latency_ms, .. } => (
            Method::POST,
            "/voice-models/select-best".to_owned(),
            Some(
                json!({ "person": person, "min_quality": min_quality, "provider": provider, "max_latency_ms": max_latency_ms }),
            ),
        ),
        VoicesCommand::Analytics(_) => (Method::GET, "/analytics".to_owned(), None),
        VoicesCommand::Export { id, .. } => (Method::GET, format!("{}/export", model(id)), None),
        VoicesCommand::Backup { person, .. } => {
            (Method::POST, "/backups".to_owned(), Some(json!({ "person": person })))
        }
        VoicesCommand::Restore { backup, overwrite, activate, .. } => {
            let id = crate::library::backup_on_file(local, backup).await?;
            (
                Method::POST,
                format!("/backups/{id}/restore"),
                Some(json!({ "overwrite_existing": overwrite, "activate_restored": activate })),
            )
        }
        VoicesCommand::Compare { a, b, more, .. }
            if more.is_empty() && a.starts_with("vm-") && b.starts_with("vm-") =>
        {
            (Method::POST, "/voice-models/compare".to_owned(), Some(json!({ "a": a, "b": b })))
        }
        _ => return Ok(None),
    };
    let answer = crate::library::call(local, method, &path, body).await?;
    match cmd {
        VoicesCommand::Export { out, .. } | VoicesCommand::Backup { out: Some(out), .. } => {
            crate::library::fetch(&answer, out)?;
        }
        _ => {}
    }
    if json {
        println!("{answer:#}");
        return Ok(Some(()));
    }
    match cmd {
        VoicesCommand::Show { .. } => println!("{}", model_line(&answer)),
        VoicesCommand::Activate { id, .. } => {
            println!("{id} is now the active voice of {}", answer["person"].as_str().unwrap_or("its person"))
        }
        VoicesCommand::Deactivate { id, .. } => println!("{id} is no longer active"),
        VoicesCommand::Delete { id, .. } => match answer["activated_instead"].as_str() {
            Some(next) => println!("deleted {id}; {next} is active in its place"),
            None => println!("deleted {id}"),
        },
        VoicesCommand::Best { .. } => println!("{}", model_line(&answer["model"])),
        VoicesCommand::Export { id, out, .. } => {
            println!("{id}: {} file(s) in {}", answer["files"], out.display());
            for m in answer["missing"].as_array().into_iter().flatten() {
                println!("  gone already: {}", m.as_str().unwrap_or("?"));
            }
        }
        VoicesCommand::Backup { .. } => println!(
            "backup {}: {} model(s) in {}",
            answer["backup_id"].as_str().unwrap_or("?"),
            answer["models"].as_array().map_or(0, Vec::len),
            answer["download_url"].as_str().unwrap_or("?")
        ),
        VoicesCommand::Restore { .. } => println!(
            "restored {} (cloned again: {}), skipped {}, activated {}",
            answer["restored"],
            answer["recloned"],
            answer["skipped"].as_array().map_or(0, Vec::len),
            answer["activated"]
        ),
        VoicesCommand::Compare { a, b, .. } => println!(
            "{a} vs {b}: quality {} vs {}, speakers {}",
            answer["a"]["quality"]["score"],
            answer["b"]["quality"]["score"],
            answer["voiceprint_similarity"]["score"]
                .as_f64()
                .map_or_else(|| "not comparable".to_owned(), |s| format!("{s:.3} alike"))
        ),
        VoicesCommand::Usage { id, .. } => println!(
            "{id}: {} call(s) answered in it, {} speech request(s), {} characters, cost {}, last used {}",
            answer["calls"],
            answer["uses"],
            answer["characters"],
            answer["cost"].as_f64().map_or_else(|| "(no price set)".to_owned(), |c| format!("{c:.4}")),
            answer["last_used_at"].as_str().unwrap_or("never")
        ),
        VoicesCommand::Cleanup { dry_run, .. } => {
            let removed = answer["removed"].as_array().cloned().unwrap_or_default();
            let verb = if *dry_run { "would remove" } else { "removed" };
            println!("{verb} {} model(s)", removed.len());
            for r in &removed {
                println!(
                    "  {} ({}, {})",
                    r["id"].as_str().unwrap_or("?"),
                    r["person"].as_str().unwrap_or("?"),
                    r["reason"].as_str().unwrap_or("?")
                );
            }
        }
        _ => println!("{answer:#}"),
    }
    Ok(Some(()))
}

/// Every model the filters select, page after page.
async fn all_models(
    local: &Local,
    person: Option<String>,
    active: Option<bool>,
    min_quality: Option<f64>,
) -> Result<Vec<serde_json::Value>, StepError> {
    use aws_lambda_events::http::Method;
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = crate::library::with_query(
            "/voice-models",
            &[
                ("person", person.clone()),
                ("active", active.map(|a| a.to_string())),
                ("min_quality", min_quality.map(|q| q.to_string())),
                ("limit", Some("100".into())),
                ("cursor", cursor.clone()),
            ],
        );
        let page = crate::library::call(local, Method::GET, &path, None).await?;
        out.extend(page["models"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(out),
        }
    }
}

/// One line per model: id, person, status, active, quality, owner.
fn model_line(m: &serde_json::Value) -> String {
    let quality =
        m["quality"]["score"].as_f64().map_or_else(|| "not measured".to_owned(), |s| format!("{s:.2}"));
    format!(
        "{:<28} {:<14} {:<8}{} quality {quality}, owner {}",
        m["id"].as_str().unwrap_or("?"),
        m["person"].as_str().unwrap_or("?"),
        m["status"].as_str().unwrap_or("?"),
        if m["is_active"].as_bool() == Some(true) { " active" } else { "" },
        m["owner"].as_str().unwrap_or("?"),
    )
}
