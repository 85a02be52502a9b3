//! ExtractAudio: the caller's original recording, in any container and codec, becomes two WAVs
//! under `runs/{run_id}/`: `source.wav` (mono at the source's own rate, which the pack is cut
//! from) and `analysis.wav` (mono 16 kHz for the VAD). One ffmpeg pass writes both. Earlier
//! recordings of the caller's calls, each too short alone (`combine`, chosen by upload-trigger),
//! are decoded the same way at the newest recording's rate and joined before it, with a short
//! pause between: several short calls make one pack.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use echome_audio::features::RATE;
use echome_audio::ffmpeg::{self, ExtractConfig};
use echome_audio::wav::{self, WavWriter};
use echome_core::recordings::{RecordingChannel, is_call_recording};
use echome_core::{AudioError, BlobRef, BlobStore, ErrorType, ExtractInput, ExtractOutput, StepError, env};

pub const SOURCE_NAME: &str = "source.wav";
pub const ANALYSIS_NAME: &str = "analysis.wav";

#[derive(Debug, Clone)]
pub struct Config {
    /// Where derived audio is written (`runs/{run_id}/…`).
    pub bucket: String,
    /// Scratch space for the original and the two WAVs (Lambda: /tmp, sized in the template).
    pub work_dir: PathBuf,
    pub extract: ExtractConfig,
    /// `RECORDING_CHANNEL`: the caller's channel in call recordings (`samples/{caller}/calls/`);
    /// other uploads are mixed down.
    pub call_channel: RecordingChannel,
}

impl Config {
    /// Reads `BUCKET_NAME` (required), `WORK_DIR` (default the system temp dir) and
    /// `MAX_DURATION_S` (default 4 h).
    pub fn from_env() -> Result<Self, String> {
        let mut extract = ExtractConfig::default();
        if let Some(s) = env::parsed("MAX_DURATION_S", "a number of seconds")? {
            extract.max_duration_s = s;
        }
        Ok(Self {
            bucket: env::required("BUCKET_NAME")?,
            work_dir: env::work_dir(),
            extract,
            call_channel: RecordingChannel::from_env()?,
        })
    }
}

pub async fn handle<B: BlobStore>(
    blobs: &B,
    cfg: &Config,
    input: ExtractInput,
) -> Result<ExtractOutput, StepError> {
    let work = tempfile::Builder::new().prefix("extract-").tempdir_in(&cfg.work_dir).map_err(|e| {
        StepError::internal(format!("creating a work folder in {}: {e}", cfg.work_dir.display()))
    })?;
    let mut extract_cfg = cfg.extract;
    if is_call_recording(&input.sample.key) {
        extract_cfg.channel = cfg.call_channel;
    }
    let newest = extract_one(blobs, &input.sample, work.path(), "sample", extract_cfg).await?;
    tracing::info!(run_id = %input.run_id, person = %input.person, bytes = newest.bytes, "extracted the recording");
    let mut info = newest.info.clone();

    // Earlier short calls go first, in their order, at the newest recording's rate and depth.
    let mut joined = Vec::new();
    let mut pieces = Vec::new();
    let mut earlier_s = 0.0;
    for (i, blob) in input.combine.iter().enumerate() {
        // A short call's recording can still be long (an hour on hold): the join is bounded.
        let room = JOIN_MAX_S - earlier_s;
        if room < 1.0 {
            tracing::info!(run_id = %input.run_id, left_out = input.combine.len() - i, "the earlier calls fill the join: the rest are left out");
            break;
        }
        let earlier_cfg = ExtractConfig {
            source_format: Some((info.pack_rate_hz, info.pack_bits)),
            max_duration_s: room,
            ..extract_cfg
        };
        match extract_one(blobs, blob, work.path(), &format!("earlier_{i}"), earlier_cfg).await {
            Ok(piece) if piece.info.duration_s > room => {
                tracing::info!(run_id = %input.run_id, duration_s = piece.info.duration_s, "an earlier call is longer than the join has room for: left out");
            }
            Ok(piece) => {
                earlier_s += piece.info.duration_s;
                joined.push(blob.clone());
                pieces.push(piece);
            }
            // One unreadable earlier call costs the run that call's speech, not the run.
            Err(e) if matches!(e.error_type, ErrorType::InvalidAudio | ErrorType::InvalidInput) => {
                tracing::warn!(run_id = %input.run_id, code = %e.code, "an earlier call's recording is left out of the join")
            }
            Err(e) => return Err(e),
        }
    }
    let (source, analysis) = if pieces.is_empty() {
        (newest.source, newest.analysis)
    } else {
        pieces.push(newest);
        let (source, analysis) = (work.path().join(SOURCE_NAME), work.path().join(ANALYSIS_NAME));
        let frames = join(&pieces, &source, &analysis).await?;
        info.duration_s = frames as f64 / RATE as f64;
        info.declared_duration_s = None;
        tracing::info!(run_id = %input.run_id, recordings = pieces.len(), duration_s = info.duration_s, "joined with the caller's earlier short calls");
        (source, analysis)
    };

    let prefix = input.run_id.prefix();
    let out = ExtractOutput {
        analysis: BlobRef::new(&cfg.bucket, format!("{prefix}{ANALYSIS_NAME}")),
        source: BlobRef::new(&cfg.bucket, format!("{prefix}{SOURCE_NAME}")),
        source_info: info,
        joined,
    };
    blobs.upload_from(&out.source, &source, "audio/wav").await?;
    blobs.upload_from(&out.analysis, &analysis, "audio/wav").await?;
    tracing::info!(
        run_id = %input.run_id,
        duration_s = out.source_info.duration_s,
        rate_hz = out.source_info.pack_rate_hz,
        codec = %out.source_info.codec,
        "extracted"
    );
    Ok(out)
}

/// Between joined recordings: a pause, so no phrase runs from one call into the next.
const JOIN_GAP_S: f64 = 0.5;
/// At most this much audio of earlier calls is joined (their speech is what is short; their
/// length need not be): the join stays well inside the function's time and scratch space.
pub const JOIN_MAX_S: f64 = 600.0;

/// One recording, downloaded and decoded into `{name}_source.wav` and `{name}_analysis.wav`.
struct Piece {
    source: PathBuf,
    analysis: PathBuf,
    info: echome_core::SourceInfo,
    bytes: u64,
}

async fn extract_one<B: BlobStore>(
    blobs: &B,
    blob: &BlobRef,
    work: &Path,
    name: &str,
    cfg: ExtractConfig,
) -> Result<Piece, StepError> {
    // ffmpeg probes by content, but a known extension helps it with headerless formats.
    let original = work.join(format!("{name}{}", extension_of(&blob.key)));
    let bytes = blobs.download_to(blob, &original).await?;
    if bytes == 0 {
        return Err(AudioError::EmptyFile.into());
    }
    let source = work.join(format!("{name}_{SOURCE_NAME}"));
    let analysis = work.join(format!("{name}_{ANALYSIS_NAME}"));
    let (src, ana, out) = (original.clone(), analysis.clone(), source.clone());
    let info = tokio::task::spawn_blocking(move || decode(&src, &out, &ana, &cfg))
        .await
        .map_err(|e| StepError::internal(format!("the decoder stopped: {e}")))??;
    std::fs::remove_file(&original)
        .map_err(|e| StepError::internal(format!("removing {}: {e}", original.display())))?;
    Ok(Piece { source, analysis, info, bytes })
}

/// Joins the pieces' two WAVs each; the frames of analysis audio written.
async fn join(pieces: &[Piece], source: &Path, analysis: &Path) -> Result<u64, StepError> {
    let sources: Vec<PathBuf> = pieces.iter().map(|p| p.source.clone()).collect();
    let analyses: Vec<PathBuf> = pieces.iter().map(|p| p.analysis.clone()).collect();
    let (source, analysis) = (source.to_path_buf(), analysis.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let io =
            |what: &str, e: std::io::Error| StepError::from(AudioError::io(format!("joining {what}"), e));
        let sources: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
        let analyses: Vec<&Path> = analyses.iter().map(PathBuf::as_path).collect();
        wav::concat(&sources, JOIN_GAP_S, &source).map_err(|e| io("the recordings", e))?;
        wav::concat(&analyses, JOIN_GAP_S, &analysis).map_err(|e| io("the analysis audio", e))
    })
    .await
    .map_err(|e| StepError::internal(format!("the join stopped: {e}")))?
}

/// One ffmpeg pass; the 16 kHz stream is written to `analysis` as it arrives.
fn decode(
    original: &Path,
    source: &Path,
    analysis: &Path,
    cfg: &ExtractConfig,
) -> Result<echome_core::SourceInfo, StepError> {
    let io = |e: std::io::Error| AudioError::io(format!("writing {}", analysis.display()), e);
    let file = File::create(analysis).map_err(io)?;
    let mut writer = WavWriter::new(BufWriter::new(file), RATE, 16).map_err(io)?;
    let mut write_error = None;
    let info = ffmpeg::extract(original, source, cfg, |block| {
        if write_error.is_none()
            && let Err(e) = writer.write(block)
        {
            write_error = Some(e);
        }
    })?;
    if let Some(e) = write_error {
        return Err(io(e).into());
    }
    writer.finish().map_err(io)?;
    Ok(info)
}

fn extension_of(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    match name.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_plain_extensions() {
        assert_eq!(extension_of("samples/+14155550123/call.MP3"), ".mp3");
        assert_eq!(extension_of("samples/+14155550123/noext"), "");
        assert_eq!(extension_of("samples/+1/.hidden"), "");
        assert_eq!(extension_of("samples/+1/a.b c"), "");
    }
}
