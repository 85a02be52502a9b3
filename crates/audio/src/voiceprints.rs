//! Speaker embeddings of the speech chunks, made while the recording is still being decoded:
//! each clean speech chunk's middle 1.6 s (one partial of the GE2E encoder) goes to a thread
//! of its own, which embeds them in batches. Memory stays bounded by one batch, and the
//! embedding runs on the core the decoder leaves idle.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use echome_voiceprint::{Embedding, Encoder};

use crate::chunk::ChunkStats;
use crate::classify::{Class, ClassifyConfig, chunk_class};
use crate::features::RATE;

/// Seconds embedded per chunk: one partial of the encoder.
pub const CLIP_S: f64 = 1.6;
/// Chunks shorter than this keep today's cepstral voice print only.
pub const MIN_CHUNK_S: f64 = 1.0;
const BATCH: usize = 64;

/// A chunk worth embedding: speech-like and clean (what could end up in the pack).
pub fn is_candidate(c: &ChunkStats, cfg: &ClassifyConfig) -> bool {
    c.duration_s() >= MIN_CHUNK_S && chunk_class(c, cfg) == Class::Speech
}

/// The `[start, end)` seconds of a chunk that are embedded: [`CLIP_S`] around its middle, so a
/// short chunk brings the room tone around it (as Resemblyzer sees a clip) rather than the
/// zero padding of a partial it does not fill.
pub fn clip_range(c: &ChunkStats) -> (f64, f64) {
    let mid = (c.start_s + c.end_s) / 2.0;
    let start = (mid - CLIP_S / 2.0).max(0.0);
    (start, start + CLIP_S)
}

pub struct VoiceprintTap {
    send: Option<SyncSender<(usize, Vec<f32>)>>,
    worker: Option<JoinHandle<Vec<(usize, Embedding)>>>,
}

impl VoiceprintTap {
    /// A tap whose thread embeds with `encoder` (one thread of its own).
    pub fn start(encoder: Arc<Encoder>) -> Self {
        let (send, recv) = sync_channel::<(usize, Vec<f32>)>(2 * BATCH);
        let worker = std::thread::Builder::new()
            .name("voiceprints".into())
            .spawn(move || embed_all(&encoder, recv))
            .ok();
        Self { send: Some(send), worker }
    }

    /// Hands over chunk `index`'s clip (16 kHz).
    pub fn push(&self, index: usize, clip: Vec<f32>) {
        if let Some(send) = &self.send
            && send.send((index, clip)).is_err()
        {
            tracing::warn!(index, "the voiceprint thread has stopped; the chunk keeps its cepstral print");
        }
    }

    /// Every embedding made, by chunk index (`len` chunks).
    pub fn finish(mut self, len: usize) -> Vec<Option<Embedding>> {
        self.send = None;
        let mut out = vec![None; len];
        let made = self.worker.take().map(|w| w.join());
        match made {
            Some(Ok(made)) => {
                for (i, e) in made {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = Some(e);
                    }
                }
            }
            Some(Err(_)) => {
                tracing::error!("the voiceprint thread panicked; chunks keep their cepstral prints")
            }
            None => tracing::error!("the voiceprint thread did not start; chunks keep their cepstral prints"),
        }
        out
    }
}

/// While the stream runs, a batch at a time on this thread; what is still queued when it ends
/// is embedded at once, on every core (the decoder is done by then).
fn embed_all(encoder: &Encoder, recv: Receiver<(usize, Vec<f32>)>) -> Vec<(usize, Embedding)> {
    let mut out = Vec::new();
    let mut batch: Vec<(usize, Vec<f32>)> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<(usize, Vec<f32>)>, out: &mut Vec<(usize, Embedding)>, threads: usize| {
        let clips: Vec<&[f32]> = batch.iter().map(|(_, c)| c.as_slice()).collect();
        for ((i, _), e) in batch.iter().zip(encoder.embed_all_on(&clips, threads)) {
            if let Some(e) = e {
                out.push((*i, e));
            }
        }
        batch.clear();
    };
    while let Ok(item) = recv.recv() {
        batch.push(item);
        if batch.len() == BATCH {
            flush(&mut batch, &mut out, 1);
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut out, usize::MAX);
    }
    out
}

/// The clip of `c` out of `window`, which holds the stream's samples from `window_start`.
pub fn cut(c: &ChunkStats, window: &[f32], window_start: usize) -> Option<Vec<f32>> {
    let (s, e) = clip_range(c);
    let (s, e) = ((s * RATE as f64) as usize, (e * RATE as f64) as usize);
    let from = s.checked_sub(window_start)?;
    let to = e.checked_sub(window_start)?.min(window.len());
    (to > from).then(|| window[from..to].to_vec())
}
