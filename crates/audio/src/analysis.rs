//! Drives the streaming analysis: samples in, chunk statistics and a coarse timeline out.
//! Memory is bounded by the longest chunk, whatever the recording's length. With a
//! voiceprint tap, each clean speech chunk's middle is embedded as it completes.

use serde::Serialize;

use std::sync::Arc;

use echome_voiceprint::{Embedding, Encoder};

use crate::chunk::{ChunkStats, summarize};
use crate::classify::ClassifyConfig;
use crate::features::{FRAME_S, FrameAnalyzer, HOP, RATE, SILENCE_DB};
use crate::vad::{Chunker, VadConfig};
use crate::voiceprints::{VoiceprintTap, cut, is_candidate};

/// One bin of the recording's level over time, for the picture.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LevelBin {
    pub peak_db: f32,
    pub mean_db: f32,
}

/// Seconds per timeline bin.
pub const TIMELINE_BIN_S: f64 = 1.0;

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub duration_s: f64,
    pub chunks: Vec<ChunkStats>,
    pub timeline: Vec<LevelBin>,
    /// Loudest frame seen, dBFS: tells digital silence from a quiet recording.
    pub max_level_db: f32,
    /// Each chunk's speaker embedding, where one was made (clean speech of ≥ 1 s, with an
    /// encoder); empty without one.
    #[serde(skip)]
    pub embeddings: Vec<Option<Embedding>>,
}

/// Samples kept behind the read position: more than the longest chunk (12 s) and the VAD's
/// hangover, so a chunk's audio is still there when the chunk completes.
const KEEP: usize = 16 * RATE as usize;

pub struct Analyzer {
    frames: FrameAnalyzer,
    chunker: Chunker,
    pending: Vec<f32>,
    consumed: usize,
    frame_count: u64,
    chunks: Vec<ChunkStats>,
    timeline: Vec<LevelBin>,
    bin_sum: f64,
    bin_n: u32,
    bin_peak: f32,
    max_level_db: f32,
    /// Stream position of `pending[0]`.
    drained: usize,
    tap: Option<(VoiceprintTap, ClassifyConfig)>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new(VadConfig::default())
    }
}

impl Analyzer {
    pub fn new(cfg: VadConfig) -> Self {
        Self {
            frames: FrameAnalyzer::new(),
            chunker: Chunker::new(cfg),
            pending: Vec::with_capacity(64 * 1024),
            consumed: 0,
            frame_count: 0,
            chunks: Vec::new(),
            timeline: Vec::new(),
            bin_sum: 0.0,
            bin_n: 0,
            bin_peak: -120.0,
            max_level_db: -120.0,
            drained: 0,
            tap: None,
        }
    }

    /// Also embeds every chunk that `classify` could count as clean speech.
    pub fn with_voiceprints(cfg: VadConfig, classify: ClassifyConfig, encoder: Arc<Encoder>) -> Self {
        Self { tap: Some((VoiceprintTap::start(encoder), classify)), ..Self::new(cfg) }
    }

    fn completed(&mut self, chunk: ChunkStats) {
        if let Some((tap, cfg)) = &self.tap
            && is_candidate(&chunk, cfg)
            && let Some(clip) = cut(&chunk, &self.pending, self.drained)
        {
            tap.push(self.chunks.len(), clip);
        }
        self.chunks.push(chunk);
    }

    /// Samples must be mono at [`RATE`].
    pub fn push(&mut self, samples: &[f32]) {
        self.pending.extend_from_slice(samples);
        while self.pending.len() - self.consumed >= HOP {
            let hop = &self.pending[self.consumed..self.consumed + HOP];
            let frame = self.frames.push_hop(hop);
            self.consumed += HOP;
            self.frame_count += 1;
            self.note_level(frame.energy_db);
            if let (_, Some(raw)) = self.chunker.push(frame) {
                self.completed(summarize(&raw));
            }
        }
        let keep = if self.tap.is_some() { KEEP } else { 0 };
        if self.consumed > keep + 32 * 1024 {
            let drop = self.consumed - keep;
            self.pending.drain(..drop);
            self.consumed -= drop;
            self.drained += drop;
        }
    }

    fn note_level(&mut self, db: f32) {
        let db = db.max(SILENCE_DB - 10.0);
        self.max_level_db = self.max_level_db.max(db);
        self.bin_sum += 10f64.powf(db as f64 / 10.0);
        self.bin_n += 1;
        self.bin_peak = self.bin_peak.max(db);
        if self.bin_n as f64 * FRAME_S >= TIMELINE_BIN_S - 1e-9 {
            self.flush_bin();
        }
    }

    fn flush_bin(&mut self) {
        if self.bin_n == 0 {
            return;
        }
        let mean = 10.0 * (self.bin_sum / self.bin_n as f64 + 1e-12).log10();
        self.timeline.push(LevelBin { peak_db: self.bin_peak, mean_db: mean as f32 });
        self.bin_sum = 0.0;
        self.bin_n = 0;
        self.bin_peak = -120.0;
    }

    pub fn finish(mut self) -> Analysis {
        let tail = self.pending.len() - self.consumed;
        if tail > 0 {
            let mut hop = self.pending[self.consumed..].to_vec();
            hop.resize(HOP, 0.0);
            self.push(&hop);
        }
        if let Some(raw) = self.chunker.finish() {
            self.completed(summarize(&raw));
        }
        self.flush_bin();
        let duration_s = (self.frame_count as f64 * HOP as f64
            - (HOP - tail % HOP) as f64 * (tail > 0) as u8 as f64)
            / RATE as f64;
        let embeddings = match self.tap.take() {
            Some((tap, _)) => tap.finish(self.chunks.len()),
            None => Vec::new(),
        };
        Analysis {
            duration_s,
            chunks: self.chunks,
            timeline: self.timeline,
            max_level_db: self.max_level_db,
            embeddings,
        }
    }
}
