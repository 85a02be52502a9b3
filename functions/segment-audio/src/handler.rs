//! SegmentAudio: finds the caller's clean speech in `analysis.wav`, then cuts the pack from
//! `source.wav` with range reads (the full-quality copy is never downloaded whole) and writes
//! `runs/{run_id}/sample_N.wav`, `timeline.svg` and, last, `report.json`.

use std::fs::File;
use std::io::{BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use echome_audio::analysis::Analysis;
use echome_audio::features::RATE;
use echome_audio::pipeline::{Plan, PrepareConfig, analyzer, build_report, plan, render_sample, sample_name};
use echome_audio::prepare::{PICTURE_NAME, REPORT_NAME, write_wav};
use echome_audio::wav::{SampleFormat, SampleStream, WavLayout, decode_mono, read_header};
use echome_core::{
    AudioError, BlobRef, BlobStore, SegmentAnswer, SegmentInput, SegmentOutput, StepError, env,
};

/// Enough for any header ffmpeg writes (RIFF, fmt with extensible format, no metadata).
const HEADER_PROBE_BYTES: u64 = 4096;

#[derive(Clone)]
pub struct Config {
    pub bucket: String,
    pub work_dir: PathBuf,
    pub prepare: PrepareConfig,
    /// The speaker encoder (the voiceprint layer in AWS); without it the main speaker is told
    /// apart by cepstra, and the report says so.
    pub encoder: Option<Arc<echome_voiceprint::Encoder>>,
}

impl Config {
    /// Reads `BUCKET_NAME` (required), `WORK_DIR`, `MIN_SPEECH_S` (default 30) and the
    /// encoder's weights (`ECHOME_VOICEPRINT_WEIGHTS`, or the layer's).
    pub fn from_env() -> Result<Self, String> {
        let mut prepare = PrepareConfig::default();
        if let Some(s) = env::parsed("MIN_SPEECH_S", "a number of seconds")? {
            prepare = prepare.with_min_speech(s);
        }
        let encoder = echome_voiceprint::default_encoder().map_err(|e| e.to_string())?;
        Ok(Self { bucket: env::required("BUCKET_NAME")?, work_dir: env::work_dir(), prepare, encoder })
    }
}

pub async fn handle<B: BlobStore>(
    blobs: &B,
    cfg: &Config,
    input: SegmentInput,
) -> Result<SegmentOutput, StepError> {
    let work = tempfile::Builder::new().prefix("segment-").tempdir_in(&cfg.work_dir).map_err(|e| {
        StepError::internal(format!("creating a work folder in {}: {e}", cfg.work_dir.display()))
    })?;
    let analysis_wav = work.path().join("analysis.wav");
    blobs.download_to(&input.extracted.analysis, &analysis_wav).await?;
    let (prepare, encoder) = (cfg.prepare, cfg.encoder.clone());
    let plan = Arc::new(
        tokio::task::spawn_blocking(move || analyse(&analysis_wav, &prepare, encoder.as_ref()))
            .await
            .map_err(|e| StepError::internal(format!("the analysis stopped: {e}")))??,
    );

    let source = &input.extracted.source;
    let header = blobs.read_range(source, 0, HEADER_PROBE_BYTES).await?;
    let layout = read_header(&mut Cursor::new(header))
        .map_err(|e| StepError::internal(format!("{source} is not the WAV extract-audio writes: {e}")))?;
    let rate = layout.format.sample_rate;
    let bits = input.extracted.source_info.pack_bits;

    let prefix = input.run_id.prefix();
    let key = |name: &str| BlobRef::new(&cfg.bucket, format!("{prefix}{name}"));
    let mut samples = Vec::new();
    let mut sample_reports = Vec::new();
    for (i, file) in plan.selection.files.iter().enumerate() {
        let mut pieces = Vec::with_capacity(file.intervals.len());
        for &(s, e) in &file.intervals {
            pieces.push(read_interval(blobs, source, &layout, s, e).await?);
        }
        let (plan, file, prepare, out) =
            (Arc::clone(&plan), file.clone(), cfg.prepare, work.path().join(sample_name(i)));
        let (report, path) = tokio::task::spawn_blocking(move || {
            let (audio, report) = render_sample(i, &file, pieces, rate, &plan, &prepare);
            write_wav(&out, &audio, rate, bits).map(|()| (report, out)).map_err(StepError::from)
        })
        .await
        .map_err(|e| StepError::internal(format!("rendering stopped: {e}")))??;
        let blob = key(&sample_name(i));
        blobs.upload_from(&blob, &path, "audio/wav").await?;
        samples.push(blob);
        sample_reports.push(report);
    }

    let report = build_report(&input.extracted.source_info, &plan, sample_reports, &cfg.prepare);
    let svg =
        echome_audio::timeline::render(&report, &plan.analysis.timeline, &format!("run {}", input.run_id));
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| StepError::internal(format!("encoding the report: {e}")))?;
    let (picture, report_blob) = (key(PICTURE_NAME), key(REPORT_NAME));
    blobs.put_bytes(&picture, svg.into_bytes(), "image/svg+xml").await?;
    // The report goes last: a run folder with a report always holds the samples it names.
    blobs.put_bytes(&report_blob, json, "application/json").await?;
    tracing::info!(
        run_id = %input.run_id,
        files = samples.len(),
        speech_s = report.totals.speech_s,
        selected_s = report.totals.selected_s,
        "sample pack written"
    );
    Ok(SegmentOutput {
        samples,
        report: report_blob,
        picture,
        speech_s: report.totals.speech_s,
        selected_s: report.totals.selected_s,
        noisy: report.noisy,
        warnings: report.warnings.iter().map(|w| w.code.to_owned()).collect(),
    })
}

/// What the state machine gets ([`SegmentAnswer`]): a recording without enough usable speech
/// is an answer, recorded on the run by the ASL, not a failed invocation that alarms.
pub async fn answer<B: BlobStore>(
    blobs: &B,
    cfg: &Config,
    input: SegmentInput,
) -> Result<SegmentAnswer, StepError> {
    let run_id = input.run_id.clone();
    let answer = SegmentAnswer::from_result(handle(blobs, cfg, input).await)?;
    if let SegmentAnswer::NoUsableSpeech { no_usable_speech } = &answer {
        tracing::info!(run_id = %run_id, cause = %no_usable_speech.cause, "no usable speech: the run records it, no fault");
    }
    Ok(answer)
}

/// Streams the analysis WAV through the analyser; memory stays flat whatever its length.
fn analyse(
    path: &Path,
    cfg: &PrepareConfig,
    encoder: Option<&Arc<echome_voiceprint::Encoder>>,
) -> Result<Plan, StepError> {
    let io = |e: std::io::Error| AudioError::io(format!("reading {}", path.display()), e);
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let layout = read_header(&mut reader).map_err(io)?;
    let f = layout.format;
    if f.sample_rate != RATE || f.channels != 1 || f.format != SampleFormat::Int16 {
        return Err(StepError::invalid_input(format!(
            "{} is not the 16 kHz mono 16-bit WAV extract-audio writes",
            path.display()
        )));
    }
    let mut stream = SampleStream::new(reader, layout);
    let mut analyzer = analyzer(cfg, encoder);
    let mut block = Vec::with_capacity(32 * 1024);
    loop {
        block.clear();
        if stream.next_block(&mut block).map_err(io)? == 0 {
            break;
        }
        analyzer.push(&block);
    }
    let analysis: Analysis = analyzer.finish();
    Ok(plan(analysis, cfg)?)
}

async fn read_interval<B: BlobStore>(
    blobs: &B,
    source: &BlobRef,
    layout: &WavLayout,
    start_s: f64,
    end_s: f64,
) -> Result<Vec<f32>, StepError> {
    let rate = layout.format.sample_rate as f64;
    let (start, len) = layout.byte_range((start_s * rate) as u64, (end_s * rate) as u64);
    let bytes = blobs.read_range(source, start, len).await?;
    let mut out = Vec::with_capacity(bytes.len() / layout.format.block_align().max(1));
    decode_mono(&bytes, layout.format, &mut out);
    Ok(out)
}
