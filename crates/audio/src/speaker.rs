//! The main speaker by speaker embeddings: the largest group of clean speech chunks whose
//! embeddings agree, its centroid the voiceprint; a chunk far from it (another person, two
//! voices at once) is not the main speaker. Chunks too short to embed are judged by today's
//! cepstral prints against the chunks the embeddings kept.

use echome_voiceprint::Embedding;
use serde::Serialize;

use crate::chunk::ChunkStats;
use crate::classify::{Class, other_speakers};

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SpeakerConfig {
    /// Two chunks this similar are taken to be one voice when the main group is sought.
    pub link: f32,
    /// A chunk less similar than this to the main speaker's centroid is never theirs.
    pub accept: f32,
    /// Nor is one more than this many robust deviations below the main voice's median...
    pub spread: f32,
    /// ...unless it is at least this similar.
    pub ceiling: f32,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        Self { link: 0.75, accept: 0.70, spread: 2.5, ceiling: 0.85 }
    }
}

/// What the embeddings said.
#[derive(Debug, Clone, Default)]
pub struct SpeakerDecision {
    /// The main speaker's voiceprint (the mean of their chunks' embeddings).
    pub voiceprint: Option<Embedding>,
    /// Each chunk's similarity to it, where the chunk was embedded.
    pub similarity: Vec<Option<f32>>,
}

/// The lowest similarity still the main voice's: `spread` robust deviations (1.4826 · MAD)
/// below the members' median, never below `accept`, never above `ceiling`.
fn robust_floor(sims: &[f64], cfg: &SpeakerConfig) -> f64 {
    if sims.len() < 3 {
        return f64::from(cfg.accept);
    }
    let mut v = sims.to_vec();
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    let mut dev: Vec<f64> = v.iter().map(|s| (s - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let sigma = 1.4826 * dev[dev.len() / 2];
    (median - f64::from(cfg.spread) * sigma).clamp(f64::from(cfg.accept), f64::from(cfg.ceiling))
}

/// Re-decides which clean speech chunks are the main speaker's; `classes` is today's
/// classification (cepstra and pitch) and is updated in place.
pub fn decide(
    chunks: &[ChunkStats],
    classes: &mut [Class],
    embeddings: &[Option<Embedding>],
    cfg: &SpeakerConfig,
) -> SpeakerDecision {
    let clean: Vec<bool> = classes.iter().map(|c| matches!(c, Class::Speech | Class::OtherSpeaker)).collect();
    let embedded: Vec<(usize, &Embedding)> = (0..chunks.len())
        .filter(|&i| clean[i])
        .filter_map(|i| embeddings.get(i).and_then(Option::as_ref).map(|e| (i, e)))
        .collect();
    if embedded.len() < 3 {
        return SpeakerDecision::default();
    }
    let weight = |i: usize| chunks[i].duration_s();
    // The densest chunk: the most speech within `link` of it.
    let density = |e: &Embedding| -> f64 {
        embedded.iter().filter(|(_, o)| e.cosine(o) >= f64::from(cfg.link)).map(|(j, _)| weight(*j)).sum()
    };
    let Some(&(_, seed)) = embedded.iter().max_by(|a, b| density(a.1).total_cmp(&density(b.1))) else {
        return SpeakerDecision::default();
    };
    let mut voice = Embedding::weighted_mean(
        embedded.iter().filter(|(_, e)| seed.cosine(e) >= f64::from(cfg.link)).map(|(i, e)| (*e, weight(*i))),
    );
    // The members are the chunks close to the centroid, by how close the members themselves
    // are: a second voice or an overlap sits below the main voice's own spread.
    let mut threshold = f64::from(cfg.accept);
    for _ in 0..4 {
        let Some(v) = &voice else { break };
        let members: Vec<(&Embedding, f64)> = embedded
            .iter()
            .filter(|(_, e)| v.cosine(e) >= threshold)
            .map(|(i, e)| (*e, weight(*i)))
            .collect();
        let sims: Vec<f64> = members.iter().map(|(e, _)| v.cosine(e)).collect();
        threshold = robust_floor(&sims, cfg);
        voice = Embedding::weighted_mean(members).or(voice);
    }
    let Some(voice) = voice else { return SpeakerDecision::default() };
    let sims: Vec<f64> = embedded.iter().map(|(_, e)| voice.cosine(e)).filter(|s| *s >= threshold).collect();
    let threshold = robust_floor(&sims, cfg) as f32;
    let mut similarity = vec![None; chunks.len()];
    let mut main = Vec::new();
    for &(i, e) in &embedded {
        let s = voice.cosine(e) as f32;
        similarity[i] = Some(s);
        classes[i] = if s >= threshold { Class::Speech } else { Class::OtherSpeaker };
        if s >= threshold {
            main.push(i);
        }
    }
    // Too short to embed: judged by their cepstral prints beside the main speaker's chunks.
    let short: Vec<usize> = (0..chunks.len()).filter(|&i| clean[i] && similarity[i].is_none()).collect();
    if !short.is_empty() {
        let pool: Vec<usize> = main.iter().chain(&short).copied().collect();
        let others = other_speakers(chunks, &pool);
        for i in short {
            classes[i] = if others.contains(&i) { Class::OtherSpeaker } else { Class::Speech };
        }
    }
    SpeakerDecision { voiceprint: Some(voice), similarity }
}
