//! The steps from analysis to a finished pack, independent of where the audio lives (files
//! locally, S3 in Lambda): plan the selection, render each file, write the report.

use echome_core::{AudioError, SourceInfo};
use serde::Serialize;

use crate::analysis::Analysis;
use crate::classify::{Class, ClassifyConfig, classify, effective_snr};
use crate::loudness::normalize;
use crate::report::{Report, SampleReport, SegmentReport, SourceReport, Totals, Warning};
use crate::select::{FilePlan, SelectConfig, Selection, select};
use crate::speaker::{SpeakerConfig, SpeakerDecision};
use crate::vad::VadConfig;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PrepareConfig {
    #[serde(skip)]
    pub vad: VadConfig,
    #[serde(skip)]
    pub classify: ClassifyConfig,
    pub speaker: SpeakerConfig,
    pub select: SelectConfig,
    pub target_rms_db: f32,
    /// How far below the target the level may go to keep peaks under the ceiling unlimited.
    pub rms_slack_db: f32,
    pub ceiling_dbtp: f32,
    /// Noise reduction runs when the pack's SNR is below this.
    pub denoise_below_snr_db: f32,
    /// The pack is reported noisy (ElevenLabs should remove background noise) below this.
    pub noisy_below_snr_db: f32,
}

impl Default for PrepareConfig {
    fn default() -> Self {
        Self {
            vad: VadConfig::default(),
            classify: ClassifyConfig::default(),
            speaker: SpeakerConfig::default(),
            select: SelectConfig::default(),
            target_rms_db: -20.0,
            rms_slack_db: 3.0,
            ceiling_dbtp: -3.0,
            denoise_below_snr_db: 25.0,
            noisy_below_snr_db: 20.0,
        }
    }
}

impl PrepareConfig {
    /// `min_speech_s` is the one knob users set; everything else follows the guidance.
    pub fn with_min_speech(mut self, seconds: f64) -> Self {
        self.select.min_speech_s = seconds;
        self
    }
}

pub struct Plan {
    pub analysis: Analysis,
    pub classes: Vec<Class>,
    pub speaker: SpeakerDecision,
    pub selection: Selection,
}

/// The analyser for `cfg`, embedding speech chunks when an encoder is given.
pub fn analyzer(
    cfg: &PrepareConfig,
    encoder: Option<&std::sync::Arc<echome_voiceprint::Encoder>>,
) -> crate::analysis::Analyzer {
    match encoder {
        Some(e) => crate::analysis::Analyzer::with_voiceprints(cfg.vad, cfg.classify, e.clone()),
        None => crate::analysis::Analyzer::new(cfg.vad),
    }
}

/// Every chunk's class, the main speaker by embeddings where the analysis made them (by
/// cepstra otherwise).
pub fn classes(analysis: &Analysis, cfg: &PrepareConfig) -> (Vec<Class>, SpeakerDecision) {
    let mut classes = classify(&analysis.chunks, cfg.classify);
    let speaker = if analysis.embeddings.is_empty() {
        SpeakerDecision::default()
    } else {
        crate::speaker::decide(&analysis.chunks, &mut classes, &analysis.embeddings, &cfg.speaker)
    };
    (classes, speaker)
}

/// The classes, then the selection.
pub fn plan(analysis: Analysis, cfg: &PrepareConfig) -> Result<Plan, AudioError> {
    let (classes, speaker) = classes(&analysis, cfg);
    let selection =
        select(&analysis.chunks, &classes, analysis.duration_s, analysis.max_level_db, &cfg.select)?;
    Ok(Plan { analysis, classes, speaker, selection })
}

/// Name of the i-th pack file (0-based).
pub fn sample_name(i: usize) -> String {
    format!("sample_{}.wav", i + 1)
}

const FADE_S: f64 = 0.01;

/// Joins a file's pieces (mono at `rate`, one per interval) with short fades, reduces noise
/// when called for, and normalizes; returns the audio and its report entry.
pub fn render_sample(
    index: usize,
    file: &FilePlan,
    pieces: Vec<Vec<f32>>,
    rate: u32,
    plan: &Plan,
    cfg: &PrepareConfig,
) -> (Vec<f32>, SampleReport) {
    let fade = ((rate as f64 * FADE_S) as usize).max(1);
    let mut audio = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
    let flattened = crate::clipping::clipped(pieces.iter().map(Vec::as_slice));
    let mut clipped = 0usize;
    for mut piece in pieces {
        clipped += piece.iter().filter(|s| s.abs() >= 0.999).count();
        let n = piece.len();
        for i in 0..fade.min(n / 2) {
            let g = i as f32 / fade as f32;
            piece[i] *= g;
            piece[n - 1 - i] *= g;
        }
        audio.extend(piece);
    }
    let mut snrs: Vec<f32> = file.chunks.iter().map(|&i| effective_snr(&plan.analysis.chunks[i])).collect();
    snrs.sort_by(|a, b| a.total_cmp(b));
    let snr_db = snrs.get(snrs.len() / 2).copied().unwrap_or(0.0);
    let denoised = snr_db < cfg.denoise_below_snr_db;
    if denoised {
        audio = crate::denoise::denoise(&audio, rate);
    }
    let n = normalize(&mut audio, rate, cfg.target_rms_db, cfg.rms_slack_db, cfg.ceiling_dbtp);
    let report = SampleReport {
        path: sample_name(index),
        duration_s: audio.len() as f64 / rate as f64,
        source_intervals: file.intervals.iter().map(|&(s, e)| [round3(s), round3(e)]).collect(),
        sample_rate_hz: rate,
        rms_dbfs: round1(n.level_db),
        true_peak_dbtp: round1(n.true_peak_db),
        snr_db: round1(snr_db),
        clipping_ratio: clipped as f32 / audio.len().max(1) as f32,
        clipped_at_dbfs: flattened.map(|c| round1(c.level_dbfs)),
        gain_db: round1(n.gain_db),
        limiter_db: round1(n.limited_db),
        denoised,
    };
    (audio, report)
}

fn round1(x: f32) -> f32 {
    (x * 10.0).round() / 10.0
}
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Effective bandwidth of the speech: narrowband sources (phone lines) stop near 3.4–4 kHz
/// even when the file's rate is higher.
fn bandwidth_hz(source: &SourceInfo, plan: &Plan) -> u32 {
    let nyquist = source.sample_rate_hz / 2;
    let speech: Vec<_> = plan
        .analysis
        .chunks
        .iter()
        .zip(&plan.classes)
        .filter(|(_, c)| **c == Class::Speech)
        .map(|(ch, _)| ch)
        .collect();
    let w: f64 = speech.iter().map(|c| c.duration_s()).sum();
    if w <= 0.0 {
        return nyquist;
    }
    let high = speech.iter().map(|c| c.high_ratio as f64 * c.duration_s()).sum::<f64>() / w;
    // Speech has energy above 4 kHz at about −20 to −30 dB of its main band; below −40 dB
    // there is nothing up there but resampling residue: a phone line in a wideband file.
    if high < 1e-4 { nyquist.min(4000) } else { nyquist }
}

pub fn build_report(
    source: &SourceInfo,
    plan: &Plan,
    samples: Vec<SampleReport>,
    cfg: &PrepareConfig,
) -> Report {
    let chunks = &plan.analysis.chunks;
    let selected: std::collections::HashSet<usize> =
        plan.selection.files.iter().flat_map(|f| f.chunks.iter().copied()).collect();
    let dur = |k: Class| -> f64 {
        chunks.iter().zip(&plan.classes).filter(|(_, c)| **c == k).map(|(ch, _)| ch.duration_s()).sum()
    };
    let selected_s: f64 = samples.iter().map(|s| s.duration_s).sum();
    let bandwidth = bandwidth_hz(source, plan);
    let narrowband = bandwidth <= 4000;
    let mut warnings = Vec::new();
    if narrowband {
        warnings.push(Warning {
            code: "narrowband",
            message: format!(
                "the speech reaches only about {bandwidth} Hz (a phone line or similar); the pack keeps the source's {} Hz and is not upsampled, so the clone will sound like a phone call",
                source.sample_rate_hz
            ),
        });
    }
    if selected_s < cfg.select.target_min_s {
        warnings.push(Warning {
            code: "below_target",
            message: format!(
                "only {selected_s:.1} s of clean speech selected; ElevenLabs recommends 1–2 minutes for a good clone"
            ),
        });
    }
    let min_snr = samples.iter().map(|s| s.snr_db).fold(f32::INFINITY, f32::min);
    let noisy = min_snr < cfg.noisy_below_snr_db;
    if samples.iter().any(|s| s.denoised) {
        warnings.push(Warning {
            code: "noisy",
            message: format!("background noise is high (SNR {min_snr:.0} dB); noise reduction was applied"),
        });
    }
    let clip = samples.iter().map(|s| s.clipping_ratio).fold(0.0f32, f32::max);
    let flattened = samples.iter().filter_map(|s| s.clipped_at_dbfs).reduce(f32::max);
    if let Some(level) = flattened {
        warnings.push(Warning {
            code: "clipped",
            message: format!(
                "the speech is clipped in the source (its peaks are flattened at {level:.1} dBFS): the clone may sound harsh; a recording made at a lower input level is better"
            ),
        });
    } else if clip > 1e-4 {
        warnings.push(Warning {
            code: "clipped",
            message: format!("{:.3} % of the selected samples are clipped in the source", clip * 100.0),
        });
    }
    if plan.analysis.embeddings.is_empty() {
        warnings.push(Warning {
            code: "no_voiceprint",
            message: "the speaker encoder's weights are not installed: the main speaker was told apart by pitch and cepstra only".into(),
        });
    }
    if source.decode_errors > 0 {
        warnings.push(Warning {
            code: "decode_errors",
            message: format!(
                "ffmpeg recovered from {} decoding error(s); the damaged parts were skipped",
                source.decode_errors
            ),
        });
    }
    Report {
        source: SourceReport {
            container: source.container.clone(),
            codec: source.codec.clone(),
            sample_rate_hz: source.sample_rate_hz,
            channels: source.channels,
            duration_s: plan.analysis.duration_s,
            bandwidth_hz: bandwidth,
            narrowband,
        },
        samples,
        totals: Totals {
            speech_s: plan.selection.speech_s,
            usable_s: plan.selection.usable_s,
            selected_s,
            music_s: dur(Class::Music),
            noise_s: dur(Class::Noise),
            other_speaker_s: dur(Class::OtherSpeaker),
            noisy_speech_s: dur(Class::NoisySpeech),
        },
        warnings,
        noisy,
        segments: chunks
            .iter()
            .zip(&plan.classes)
            .enumerate()
            .map(|(i, (c, class))| SegmentReport {
                start_s: round3(c.start_s),
                end_s: round3(c.end_s),
                class: *class,
                selected: selected.contains(&i),
                snr_db: round1(effective_snr(c)),
                similarity: plan
                    .speaker
                    .similarity
                    .get(i)
                    .copied()
                    .flatten()
                    .map(|s| (s * 1000.0).round() / 1000.0),
            })
            .collect(),
        voiceprint: plan
            .speaker
            .voiceprint
            .clone()
            .map(|embedding| crate::report::Voiceprint { model: echome_voiceprint::MODEL, embedding }),
        prosody: crate::prosody::measure(
            chunks.iter().enumerate().filter(|(i, _)| selected.contains(i)).map(|(_, c)| c),
        ),
    }
}
