//! `prepare` on one machine: a recording file in, the pack, report and picture in a folder out.
//! The folder gets either a complete pack or nothing new: everything is written to a hidden
//! work folder first and moved into place at the end.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use echome_core::{AudioError, SourceInfo};

use crate::pipeline::{
    Plan, PrepareConfig, analyzer, build_report, classes, plan, render_sample, sample_name,
};
use crate::report::Report;
use crate::wav::{WavLayout, WavWriter, decode_mono, read_header};

pub const REPORT_NAME: &str = "report.json";
pub const PICTURE_NAME: &str = "timeline.svg";

/// Progress of a long step, for a progress bar.
pub enum Progress {
    /// Seconds decoded and analysed so far, of the declared total if known.
    Analysing {
        done_s: f64,
    },
    Rendering {
        file: usize,
        of: usize,
    },
}

/// Reads `[start_s, end_s)` ranges of a mono WAV as f32, seeking to each.
pub fn read_intervals(path: &Path, intervals: &[(f64, f64)]) -> Result<(Vec<Vec<f32>>, u32), AudioError> {
    let io = |e: std::io::Error| AudioError::io(format!("reading {}", path.display()), e);
    let mut f = BufReader::new(File::open(path).map_err(io)?);
    let layout: WavLayout = read_header(&mut f).map_err(io)?;
    let rate = layout.format.sample_rate;
    let mut pieces = Vec::with_capacity(intervals.len());
    for &(s, e) in intervals {
        let (start, len) = layout.byte_range((s * rate as f64) as u64, (e * rate as f64) as u64);
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut bytes = vec![0u8; len as usize];
        f.read_exact(&mut bytes).map_err(io)?;
        let mut out = Vec::new();
        decode_mono(&bytes, layout.format, &mut out);
        pieces.push(out);
    }
    Ok((pieces, rate))
}

pub fn write_wav(path: &Path, samples: &[f32], rate: u32, bits: u16) -> Result<(), AudioError> {
    let io = |e: std::io::Error| AudioError::io(format!("writing {}", path.display()), e);
    let mut w = WavWriter::new(BufWriter::new(File::create(path).map_err(io)?), rate, bits).map_err(io)?;
    w.write(samples).map_err(io)?;
    w.finish().map_err(io)?;
    Ok(())
}

/// Renders every planned file from the source copy into `dir`; returns the report.
pub fn render_pack(
    source: &SourceInfo,
    source_wav: &Path,
    plan: &Plan,
    cfg: &PrepareConfig,
    dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, AudioError> {
    let mut samples = Vec::new();
    let of = plan.selection.files.len();
    for (i, file) in plan.selection.files.iter().enumerate() {
        progress(Progress::Rendering { file: i + 1, of });
        let (pieces, rate) = read_intervals(source_wav, &file.intervals)?;
        let (audio, report) = render_sample(i, file, pieces, rate, plan, cfg);
        write_wav(&dir.join(sample_name(i)), &audio, rate, source.pack_bits)?;
        samples.push(report);
    }
    Ok(build_report(source, plan, samples, cfg))
}

/// A hidden work folder inside the output folder, removed unless it is committed.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(out: &Path) -> Result<Self, AudioError> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = out.join(format!(".echome-work-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| AudioError::io(format!("creating {}", dir.display()), e))?;
        Ok(Self(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.0.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.0)
        {
            tracing::warn!(dir = %self.0.display(), error = %e, "could not remove work folder");
        }
    }
}

/// The whole pipeline for a local file; with an encoder, the main speaker is found by speaker
/// embeddings.
pub fn prepare_file(
    input: &Path,
    out: &Path,
    cfg: &PrepareConfig,
    encoder: Option<&std::sync::Arc<echome_voiceprint::Encoder>>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, AudioError> {
    std::fs::create_dir_all(out).map_err(|e| AudioError::io(format!("creating {}", out.display()), e))?;
    let work = WorkDir::new(out)?;
    let source_wav = work.0.join("source.wav");
    let mut analyzer = analyzer(cfg, encoder);
    let mut seen = 0usize;
    let source = crate::ffmpeg::extract(input, &source_wav, &Default::default(), |block| {
        analyzer.push(block);
        seen += block.len();
        if seen % (crate::features::RATE as usize * 60) < block.len() {
            progress(Progress::Analysing { done_s: seen as f64 / crate::features::RATE as f64 });
        }
    })?;
    let plan = plan(analyzer.finish(), cfg)?;
    let pack_dir = work.0.join("pack");
    std::fs::create_dir_all(&pack_dir).map_err(|e| AudioError::io("creating the work folder", e))?;
    let report = render_pack(&source, &source_wav, &plan, cfg, &pack_dir, progress)?;
    let title =
        input.file_name().map_or_else(|| input.display().to_string(), |n| n.to_string_lossy().into_owned());
    let svg = crate::timeline::render(&report, &plan.analysis.timeline, &title);
    let json = serde_json::to_vec_pretty(&report).map_err(|e| AudioError::io("encoding the report", e))?;
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(pack_dir.join(name), bytes).map_err(|e| AudioError::io(format!("writing {name}"), e))
    };
    write(PICTURE_NAME, svg.as_bytes())?;
    write(REPORT_NAME, &json)?;
    commit(&pack_dir, out, report.samples.len())?;
    Ok(report)
}

/// The main speaker's voiceprint in a local recording: the same analysis as `prepare_file`
/// (so the other party of a call is left out), without cutting a pack. A recording with
/// fewer than three embeddable chunks gives the mean of those it has.
pub fn voiceprint_file(
    input: &Path,
    cfg: &PrepareConfig,
    encoder: &std::sync::Arc<echome_voiceprint::Encoder>,
) -> Result<echome_voiceprint::Embedding, AudioError> {
    let mut analyzer = analyzer(cfg, Some(encoder));
    // Only the analysis stream is needed: the full-quality copy goes to the null device.
    crate::ffmpeg::extract(input, Path::new("/dev/null"), &Default::default(), |block| analyzer.push(block))?;
    let analysis = analyzer.finish();
    let fallback = echome_voiceprint::Embedding::mean(analysis.embeddings.iter().flatten());
    let (classes, decided) = classes(&analysis, cfg);
    decided.voiceprint.or(fallback).ok_or_else(|| {
        let speech_s = analysis
            .chunks
            .iter()
            .zip(&classes)
            .filter(|(_, c)| !matches!(c, crate::classify::Class::Music | crate::classify::Class::Noise))
            .map(|(c, _)| c.duration_s())
            .sum();
        AudioError::TooLittleSpeech { found_s: 0.0, required_s: crate::voiceprints::MIN_CHUNK_S, speech_s }
    })
}

/// Replaces the previous pack in `out` (if any) with the new one. The report goes last: a
/// folder with a report always holds the samples that report names.
fn commit(from: &Path, out: &Path, samples: usize) -> Result<(), AudioError> {
    let io = |what: String| move |e: std::io::Error| AudioError::io(what, e);
    let old_report = out.join(REPORT_NAME);
    if old_report.exists() {
        std::fs::remove_file(&old_report).map_err(io(format!("removing {}", old_report.display())))?;
    }
    for entry in std::fs::read_dir(out).map_err(io(format!("listing {}", out.display())))? {
        let path = entry.map_err(io("listing the output folder".into()))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with("sample_") && name.ends_with(".wav") {
            std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
        }
    }
    let names = (0..samples).map(sample_name).chain([PICTURE_NAME.to_owned(), REPORT_NAME.to_owned()]);
    for name in names {
        std::fs::rename(from.join(&name), out.join(&name))
            .map_err(io(format!("moving {name} into place")))?;
    }
    Ok(())
}
