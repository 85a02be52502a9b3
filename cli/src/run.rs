//! `echome run` and `echome samples add`: a recording goes into the local store the way an S3
//! upload would, and the clone run's steps run in-process, in the state machine's order.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use chrono::Utc;
use echome_core::{
    BlobRef, BlobStore, CallerId, CloneCache, CloneRunInput, Person, QualityScore, RunId, RunLog, RunRecord,
    RunStatus, SpeakerCheck, StepError,
};
use echome_local::RunEvent;
use serde_json::json;
use upload_trigger::{Accepted, Upload, accept_upload};

use echome_core::ErrorType;
use echome_core::url_samples::{SourceUrl, UrlSampleRequest, UrlSampleSource};
use fetch_sample::{Outcome as UrlOutcome, fetch_sample};

use crate::agent::Agent;
use crate::engine::Engine;
use crate::local::{BUCKET, Local};
use crate::output::{fail_step, spinner};
use crate::recordings::UrlSamples;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("whose").required(true)))]
pub struct RunArgs {
    /// The recording: WAV, MP3, M4A/AAC, MP4, WebM/Opus, OGG, FLAC…
    #[arg(required_unless_present = "url")]
    pub audio: Option<PathBuf>,
    /// Instead of a file (`echome samples add` only): a page (YouTube, the other sites yt-dlp
    /// knows, any page with an <audio> or <video>) or a media link; only its audio is
    /// downloaded, inside the fence (`SAMPLE_URL_*`, `FETCH_ALLOWED_NETWORKS`).
    #[arg(long, conflicts_with = "audio")]
    pub url: Option<String>,
    /// A caller's phone number, E.164 (+14155550123).
    #[arg(long, group = "whose")]
    pub caller: Option<String>,
    /// A named person's id (`emp-42`), as `echome people add` made them; their voice is named
    /// after them.
    #[arg(long, group = "whose")]
    pub person: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Args)]
pub struct Common {
    /// Machine-readable output on stdout.
    #[arg(long)]
    pub json: bool,
    /// Minimum clean speech (seconds) below which there is no pack.
    #[arg(long, default_value_t = 30.0, env = "ECHOME_MIN_SPEECH_S")]
    pub min_speech: f64,
}

/// `echome run`: one clone run on this recording, whatever the caller's current sample is.
pub async fn run(data_dir: &Path, args: RunArgs) -> ExitCode {
    let json = args.common.json;
    match run_inner(data_dir, args).await {
        Ok(code) => code,
        Err(e) => fail_step(json, &e),
    }
}

async fn run_inner(data_dir: &Path, args: RunArgs) -> Result<ExitCode, StepError> {
    let local = Local::open(data_dir)?;
    let person = args.whose()?;
    // As upload-trigger holds a named person's folder: theirs once someone created them.
    if let Person::Named(id) = &person
        && echome_core::People::person(&local.records, &person).await?.is_none()
    {
        return Err(StepError::invalid_input(format!(
            "no person {id:?} is on record (echome people add {id} --name NAME creates one)"
        )));
    }
    let Some(audio) = &args.audio else {
        return Err(StepError::invalid_input(
            "echome run takes a recording file; `echome samples add --person ID --url URL` takes a URL",
        ));
    };
    let upload = store(&local, &person, audio).await?;
    let run_id = RunId::for_upload(&person, &upload.object.key, &upload.version);
    let input =
        CloneRunInput { run_id, person, sample: upload.object, pack: None, call: None, combine: vec![] };
    run_and_report(&local, input, &args.common).await
}

/// Records the run as started, runs it in-process, and prints how it ended.
pub async fn run_and_report(
    local: &Local,
    input: CloneRunInput,
    common: &Common,
) -> Result<ExitCode, StepError> {
    local
        .records
        .create_run(&RunRecord::started(
            input.run_id.clone(),
            &input.person,
            input.sample.clone(),
            Utc::now(),
        ))
        .await?;
    let started = Instant::now();
    let runner =
        local.runner(common.min_speech, Engine::from_env()?, Agent::NotConfigured, progress(common.json))?;
    runner.run(&input).await?;
    report(local, &input.run_id, started, common.json).await
}

/// `echome samples add`: as an upload under `samples/{person}/`: recorded as the person's
/// sample (the newest wins) and cloned.
pub async fn add_sample(data_dir: &Path, args: RunArgs) -> ExitCode {
    let json = args.common.json;
    let inner = async {
        let local = Local::open(data_dir)?;
        let person = args.whose()?;
        let upload = match (&args.audio, &args.url) {
            (_, Some(url)) => from_url(&local, &person, url).await?,
            (Some(audio), None) => store(&local, &person, audio).await?,
            (None, None) => return Err(StepError::invalid_input("give a recording file or --url URL")),
        };
        let started = Instant::now();
        let runner = local.runner(
            args.common.min_speech,
            Engine::from_env()?,
            Agent::NotConfigured,
            progress(json),
        )?;
        match accept_upload(&local.records, &runner, &upload).await? {
            Accepted::Started { run_id } | Accepted::AlreadyStarted { run_id } => {
                let run_id = RunId::parse(&run_id).map_err(|e| StepError::internal(e.to_string()))?;
                report(&local, &run_id, started, json).await
            }
            Accepted::Skipped { reason } => {
                Err(StepError::invalid_input(format!("the sample was not accepted: {reason}")))
            }
            Accepted::Superseded => Err(StepError::invalid_input(
                "the sample was not accepted: a newer sample of this person is on record",
            )),
        }
    };
    match inner.await {
        Ok(code) => code,
        Err(e) => fail_step(json, &e),
    }
}

impl RunArgs {
    /// Whose recording it is: `--caller` (an E.164 number) or `--person` (either kind).
    fn whose(&self) -> Result<Person, StepError> {
        let bad = |e: echome_core::IdError| StepError::invalid_input(e.to_string());
        match (&self.caller, &self.person) {
            (Some(c), _) => CallerId::parse(c).map(Person::Caller).map_err(bad),
            (None, Some(p)) => Person::parse(p).map_err(bad),
            (None, None) => Err(StepError::invalid_input("give --caller NUMBER or --person ID")),
        }
    }
}

/// Copies the recording to `samples/{person}/{time}-{name}`; like a versioned bucket, nothing
/// already stored is overwritten.
async fn store(local: &Local, person: &Person, audio: &Path) -> Result<Upload, StepError> {
    let meta = std::fs::metadata(audio)
        .map_err(|e| StepError::invalid_input(format!("cannot read {}: {e}", audio.display())))?;
    if !meta.is_file() {
        return Err(StepError::invalid_input(format!("{} is not a file", audio.display())));
    }
    let now = Utc::now();
    let name = audio
        .file_name()
        .map(|n| echome_core::ids::safe_file_name(&n.to_string_lossy()))
        .unwrap_or_else(|| "recording".into());
    let object = BlobRef::new(BUCKET, person.upload_key(&name, now));
    local.blobs.upload_from(&object, audio, "application/octet-stream").await?;
    Ok(Upload {
        object,
        version: format!("local-{}", now.timestamp_nanos_opt().unwrap_or_default()),
        size: meta.len(),
        at: now,
    })
}

/// Takes the audio at `raw` as a sample of `person` through fetch-sample's own handler (the
/// request filed as the API files it); the sample it stores, as an upload.
async fn from_url(local: &Local, person: &Person, raw: &str) -> Result<Upload, StepError> {
    let url = SourceUrl::parse(raw).map_err(|e| StepError::invalid_input(e.to_string()))?;
    let fetch = UrlSamples::from_env(local.data_dir.join("tmp").join("url-samples"))?;
    let req = UrlSampleRequest::new(person.clone(), url, &crate::library::local_user(), Utc::now());
    echome_core::url_samples::file(&local.blobs, BUCKET, &req).await?;
    let (record, request) = (BlobRef::new(BUCKET, req.source_key()), BlobRef::new(BUCKET, req.key()));
    let spinner = spinner("fetching the audio");
    let outcome = fetch_sample(&local.blobs, &local.records, &fetch.source(), &fetch.config, &request).await;
    spinner.finish_and_clear();
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            // Nothing here retries it as Lambda would: the request goes, its record says why.
            local.blobs.delete_versions(&request).await?;
            return Err(e);
        }
    };
    match outcome {
        UrlOutcome::Stored { sample, bytes } => {
            let now = Utc::now();
            let version = format!("local-{}", now.timestamp_nanos_opt().unwrap_or_default());
            Ok(Upload { object: sample, version, size: bytes, at: now })
        }
        UrlOutcome::Refused { code, reason } => {
            let source: Option<UrlSampleSource> =
                local.blobs.get_bytes(&record).await.ok().and_then(|b| serde_json::from_slice(&b).ok());
            let what = source.and_then(|s| s.what_to_do).map(|w| format!(" ({w})")).unwrap_or_default();
            Err(StepError::new(ErrorType::InvalidInput, code, format!("{reason}{what}")))
        }
        UrlOutcome::AlreadyStored | UrlOutcome::Skipped { .. } => {
            Err(StepError::internal(format!("the URL sample {} was handled elsewhere", req.id)))
        }
    }
}

fn progress(json: bool) -> impl Fn(RunEvent) + Send + Sync + 'static {
    let pb = spinner("starting the clone run");
    if json {
        pb.finish_and_clear();
    }
    move |event| match event {
        RunEvent::Entered(step) => pb.set_message(format!("{} ({})", step.state, step.function)),
        RunEvent::Retrying(step, n) => pb.set_message(format!("{}: retry {n}", step.state)),
        RunEvent::Left(step, took) => {
            pb.println(format!("  {:<14} {:>6.1} s", step.state, took.as_secs_f64()));
            if step.state == "RecordSuccess" || step.state == "RecordFailure" {
                pb.finish_and_clear();
            }
        }
    }
}

async fn report(local: &Local, run_id: &RunId, started: Instant, json: bool) -> Result<ExitCode, StepError> {
    let run = local
        .records
        .run(run_id)
        .await?
        .ok_or_else(|| StepError::internal(format!("run {run_id} vanished")))?;
    let path = |b: &BlobRef| local.blobs.path_of(b).map(|p| p.display().to_string());
    let run_dir = local.blobs.path_of(&BlobRef::new(BUCKET, run_id.prefix()))?;
    let took_s = started.elapsed().as_secs_f64();
    let clone_log = local.records.clone_log(run_id).await?;
    let check = clone_log.iter().rev().find_map(|l| l.speaker_check.as_ref()).map(SpeakerCheck::figures);
    match (&run.status, &run.error) {
        (RunStatus::Succeeded, _) => {
            let report_blob =
                run.report.clone().ok_or_else(|| StepError::internal("a finished run without a report"))?;
            let report: serde_json::Value =
                serde_json::from_slice(&local.blobs.get_bytes(&report_blob).await?)
                    .map_err(|e| StepError::internal(format!("reading the report: {e}")))?;
            let samples: Vec<String> = report["samples"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s["path"].as_str())
                        .map(|p| run_dir.join(p).display().to_string())
                        .collect()
                })
                .unwrap_or_default();
            let picture = path(&report_blob.with_key(format!("{}timeline.svg", run_id.prefix())))?;
            let last = clone_log.last();
            let engine = last.map_or("", |l| l.engine.as_str()).to_owned();
            let cached = last.is_some_and(|l| l.status == "reused");
            let quality = match &run.voice_id {
                Some(v) => local.records.quality_of(&run.person, v).await?,
                None => None,
            };
            let offline_note = (engine == "offline").then_some(
                "offline engine: a matching espeak-ng voice, not a clone (set ELEVENLABS_API_KEY to clone)",
            );
            if json {
                let out = json!({
                    "run_id": run_id,
                    "status": "succeeded",
                    "person": run.person.to_string(),
                    "caller_id": run.person.caller().map(CallerId::redacted),
                    "took_s": took_s,
                    "samples": samples,
                    "report": path(&report_blob)?,
                    "picture": picture,
                    "speech_s": report["totals"]["speech_s"],
                    "selected_s": report["totals"]["selected_s"],
                    "warnings": report["warnings"],
                    "voice_id": run.voice_id,
                    "engine": engine,
                    "cached": cached,
                    "speaker_check": check,
                    "quality": quality.as_ref().map(quality_json),
                    "note": offline_note,
                });
                println!("{out:#}");
            } else {
                println!("run {run_id}: succeeded in {took_s:.1} s");
                println!(
                    "sample pack: {:.1} s of clean speech in {} file(s)",
                    report["totals"]["selected_s"].as_f64().unwrap_or(0.0),
                    samples.len()
                );
                for s in &samples {
                    println!("  {s}");
                }
                println!("report:  {}", path(&report_blob)?);
                println!("picture: {picture}");
                if let Some(c) = &check {
                    println!(
                        "speaker: matches the caller's voice on record at {} (threshold {})",
                        c["similarity"], c["threshold"]
                    );
                }
                if let Some(v) = &run.voice_id {
                    println!("voice:   {v} ({engine}{})", if cached { ", reused" } else { "" });
                }
                match &quality {
                    Some(q) => println!("quality: {}", quality_line(q)),
                    None => println!("quality: not measured (see the log)"),
                }
                if let Some(note) = offline_note {
                    println!("note:    {note}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        (_, Some(err)) => {
            if json {
                let out = json!({
                    "run_id": run_id,
                    "status": "failed",
                    "error": { "type": err.error_type, "code": err.code, "message": err.message },
                    "speaker_check": check,
                });
                println!("{out:#}");
            } else {
                eprintln!("run {run_id}: failed [{}]: {}", err.code, err.message);
                if err.code == "speaker_mismatch" {
                    eprintln!("if this is the caller, accept the new speaker: echome runs accept {run_id}");
                }
            }
            Ok(ExitCode::FAILURE)
        }
        _ => Err(StepError::internal(format!("run {run_id} did not finish"))),
    }
}

/// The score and its parts, and where the phrases it was measured on are.
fn quality_json(q: &QualityScore) -> serde_json::Value {
    let mut out = q.summary();
    out["scored_by_run"] = json!(q.run_id);
    out
}

fn quality_line(q: &QualityScore) -> String {
    let measured = |s: Option<f64>| s.map_or_else(|| "not measured".to_owned(), |s| format!("{s:.2}"));
    let parts: Vec<String> =
        q.parts.named().iter().map(|(name, p)| format!("{name} {}", measured(p.score))).collect();
    format!("{} ({})", measured(q.score), parts.join(", "))
}
