//! Utterance embeddings as Resemblyzer's `VoiceEncoder.embed_utterance` makes them: the clip
//! is raised to −30 dBFS if quieter (never lowered), cut into partials of 160 frames (1.6 s)
//! every 77 frames (1.3 partials a second), the last kept only if it covers ≥ 75 %, each
//! partial embedded, and the mean L2-normalised. Resemblyzer's own silence trimming (webrtcvad)
//! is left to the caller: echome embeds chunks its VAD has already cut at pauses.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::lstm;
use crate::mel::{HOP, MelFrontend, N_MELS};
use crate::weights::{EMBEDDING, Weights, WeightsError};

pub const SAMPLE_RATE: u32 = 16_000;
const PARTIAL_FRAMES: usize = 160;
const FRAME_STEP: usize = 77;
const MIN_COVERAGE: f64 = 0.75;
const TARGET_DBFS: f64 = -30.0;
/// Partials embedded together: large enough for matrix–matrix products (the recurrent weights
/// are packed once per step for the whole batch), small enough that a batch's activations
/// stay near 25 MB.
const BATCH: usize = 64;

/// An L2-normalised speaker embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Normalises `v`; `None` for a zero vector.
    pub fn from_raw(v: Vec<f32>) -> Option<Self> {
        let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        (norm > 0.0 && v.len() == EMBEDDING)
            .then(|| Self(v.iter().map(|x| (f64::from(*x) / norm) as f32).collect()))
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// Cosine similarity (both are unit vectors): 1 for the same direction.
    pub fn cosine(&self, other: &Embedding) -> f64 {
        self.0.iter().zip(&other.0).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum()
    }

    /// The normalised mean of several embeddings (a speaker's voiceprint from their clips).
    pub fn mean<'a>(all: impl IntoIterator<Item = &'a Embedding>) -> Option<Embedding> {
        Self::weighted_mean(all.into_iter().map(|e| (e, 1.0)))
    }

    /// The same, each embedding counted by its weight (e.g. its chunk's seconds).
    pub fn weighted_mean<'a>(all: impl IntoIterator<Item = (&'a Embedding, f64)>) -> Option<Embedding> {
        let mut sum = vec![0f32; EMBEDDING];
        for (e, w) in all {
            sum.iter_mut().zip(&e.0).for_each(|(s, v)| *s += v * w as f32);
        }
        Self::from_raw(sum)
    }
}

pub struct Encoder {
    weights: Weights,
    /// The machine's cores: the most threads one call uses.
    threads: usize,
}

/// Where each partial of a clip starts, in frames, as `compute_partial_slices` places them.
fn partial_starts(n_samples: usize) -> Vec<usize> {
    let n_frames = (n_samples + 1).div_ceil(HOP);
    let steps = (n_frames + FRAME_STEP + 1).saturating_sub(PARTIAL_FRAMES).max(1);
    let mut starts: Vec<usize> = (0..steps).step_by(FRAME_STEP).collect();
    if let Some(&last) = starts.last() {
        let (from, to) = (last * HOP, (last + PARTIAL_FRAMES) * HOP);
        let coverage = (n_samples as f64 - from as f64) / (to - from) as f64;
        if coverage < MIN_COVERAGE && starts.len() > 1 {
            starts.pop();
        }
    }
    starts
}

/// Resemblyzer's `normalize_volume(wav, -30, increase_only=True)`: what the encoder does to a
/// clip before its mel frames.
pub fn raised(wav: &[f32]) -> Vec<f32> {
    let rms = (wav.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / wav.len().max(1) as f64).sqrt();
    let dbfs = 20.0 * (rms.max(1e-12)).log10();
    let gain = if dbfs < TARGET_DBFS { 10f64.powf((TARGET_DBFS - dbfs) / 20.0) as f32 } else { 1.0 };
    wav.iter().map(|x| x * gain).collect()
}

impl Encoder {
    pub fn new(weights: Weights) -> Self {
        Self { weights, threads: std::thread::available_parallelism().map_or(1, |n| n.get()) }
    }

    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        Ok(Self::new(Weights::load(path)?))
    }

    /// One clip (16 kHz mono, −1..1); `None` for an empty one. Silence has an embedding like
    /// any sound (as in Resemblyzer): cut clips to speech first.
    pub fn embed(&self, wav: &[f32]) -> Option<Embedding> {
        self.embed_all(&[wav]).pop().flatten()
    }

    /// Many clips at once: their partials share batches (and the machine's cores).
    pub fn embed_all(&self, clips: &[&[f32]]) -> Vec<Option<Embedding>> {
        self.embed_all_on(clips, self.threads)
    }

    /// The same on at most `threads` threads (and at most the encoder's own limit).
    pub fn embed_all_on(&self, clips: &[&[f32]], threads: usize) -> Vec<Option<Embedding>> {
        // Every partial's frames, and which clip it belongs to.
        let mel = MelFrontend::new();
        let mut partials: Vec<(usize, Vec<f32>)> = Vec::new();
        for (i, clip) in clips.iter().enumerate() {
            if clip.is_empty() {
                continue;
            }
            let starts = partial_starts(clip.len());
            let mut wav = raised(clip);
            let needed = (starts.last().copied().unwrap_or(0) + PARTIAL_FRAMES) * HOP;
            if needed >= wav.len() {
                wav.resize(needed, 0.0);
            }
            let frames = mel.frames(&wav);
            for s in starts {
                partials.push((i, frames[s * N_MELS..(s + PARTIAL_FRAMES) * N_MELS].to_vec()));
            }
        }
        let threads = threads.clamp(1, self.threads);
        let embedded =
            self.embed_partials(&partials.iter().map(|(_, f)| f.as_slice()).collect::<Vec<_>>(), threads);
        let mut sums: Vec<Option<Vec<f32>>> = vec![None; clips.len()];
        for ((clip, _), e) in partials.iter().zip(embedded) {
            let sum = sums[*clip].get_or_insert_with(|| vec![0f32; EMBEDDING]);
            sum.iter_mut().zip(e).for_each(|(s, v)| *s += v);
        }
        sums.into_iter().map(|s| s.and_then(Embedding::from_raw)).collect()
    }

    /// Partials of `PARTIAL_FRAMES` frames each, in batches spread over the cores.
    fn embed_partials(&self, partials: &[&[f32]], threads: usize) -> Vec<[f32; EMBEDDING]> {
        if partials.is_empty() {
            return Vec::new();
        }
        // Few partials are split evenly over the threads rather than left in one batch.
        let size = BATCH.min(partials.len().div_ceil(threads)).max(1);
        let batches: Vec<&[&[f32]]> = partials.chunks(size).collect();
        let threads = threads.min(batches.len()).max(1);
        let mut results: Vec<Vec<[f32; EMBEDDING]>> = vec![Vec::new(); batches.len()];
        std::thread::scope(|scope| {
            for (worker, slots) in results.chunks_mut(batches.len().div_ceil(threads)).enumerate() {
                let first = worker * batches.len().div_ceil(threads);
                let batches = &batches;
                scope.spawn(move || {
                    for (k, slot) in slots.iter_mut().enumerate() {
                        *slot = self.batch(batches[first + k]);
                    }
                });
            }
        });
        results.into_iter().flatten().collect()
    }

    fn batch(&self, partials: &[&[f32]]) -> Vec<[f32; EMBEDDING]> {
        let n = partials.len();
        // Time-major: frame t of every partial, then frame t + 1.
        let mut frames = vec![0f32; PARTIAL_FRAMES * n * N_MELS];
        for (b, p) in partials.iter().enumerate() {
            for t in 0..PARTIAL_FRAMES {
                let to = (t * n + b) * N_MELS;
                frames[to..to + N_MELS].copy_from_slice(&p[t * N_MELS..(t + 1) * N_MELS]);
            }
        }
        lstm::forward(&self.weights, &frames, PARTIAL_FRAMES, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_are_placed_as_resemblyzer_places_them() {
        // compute_partial_slices(n, rate=1.3, min_coverage=0.75), printed by Resemblyzer 0.1.4.
        assert_eq!(partial_starts(16_000), [0]);
        assert_eq!(partial_starts(32_000), [0, 77]);
        assert_eq!(partial_starts(48_000), [0, 77, 154]);
        assert_eq!(partial_starts(100), [0]);
    }

    #[test]
    fn quiet_clips_are_raised_to_minus_30_dbfs_and_loud_ones_left_alone() {
        let quiet: Vec<f32> = (0..1600).map(|i| if i % 2 == 0 { 0.001 } else { -0.001 }).collect();
        let up = raised(&quiet);
        let rms = (up.iter().map(|x| x * x).sum::<f32>() / up.len() as f32).sqrt();
        assert!((20.0 * rms.log10() + 30.0).abs() < 0.01);
        let loud = vec![0.5f32; 100];
        assert_eq!(raised(&loud), loud);
    }

    #[test]
    fn cosine_of_unit_vectors() {
        let a = Embedding::from_raw((0..EMBEDDING).map(|i| i as f32).collect()).unwrap();
        assert!((a.cosine(&a) - 1.0).abs() < 1e-6);
        assert!(Embedding::from_raw(vec![0.0; EMBEDDING]).is_none());
    }
}
