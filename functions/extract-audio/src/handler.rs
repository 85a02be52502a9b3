//! ExtractAudio: the caller's original recording, in any container and codec, becomes two WAVs
//! under `runs/{run_id}/`: `source.wav` (mono at the source's own rate, which the pack is cut
//! from) and `analysis.wav` (mono 16 kHz for the VAD). One ffmpeg pass writes both.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use echome_audio::features::RATE;
use echome_audio::ffmpeg::{self, ExtractConfig};
use echome_audio::wav::WavWriter;
use echome_core::recordings::{RecordingChannel, is_call_recording};
use echome_core::{AudioError, BlobRef, BlobStore, ExtractInput, ExtractOutput, StepError, env};

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
    // ffmpeg probes by content, but a known extension helps it with headerless formats.
    let original = work.path().join(format!("original{}", extension_of(&input.sample.key)));
    let size = blobs.download_to(&input.sample, &original).await?;
    if size == 0 {
        return Err(AudioError::EmptyFile.into());
    }
    tracing::info!(run_id = %input.run_id, caller = %input.caller_id, bytes = size, "extracting");

    let source = work.path().join(SOURCE_NAME);
    let analysis = work.path().join(ANALYSIS_NAME);
    let mut extract_cfg = cfg.extract;
    if is_call_recording(&input.sample.key) {
        extract_cfg.channel = cfg.call_channel;
    }
    let (src, ana) = (original.clone(), analysis.clone());
    let source_out = source.clone();
    let info = tokio::task::spawn_blocking(move || decode(&src, &source_out, &ana, &extract_cfg))
        .await
        .map_err(|e| StepError::internal(format!("the decoder stopped: {e}")))??;

    let prefix = input.run_id.prefix();
    let out = ExtractOutput {
        analysis: BlobRef::new(&cfg.bucket, format!("{prefix}{ANALYSIS_NAME}")),
        source: BlobRef::new(&cfg.bucket, format!("{prefix}{SOURCE_NAME}")),
        source_info: info,
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
