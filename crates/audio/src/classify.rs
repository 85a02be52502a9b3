//! Chunk classes from their statistics, and the main speaker among the speech chunks.

use serde::Serialize;

use crate::chunk::ChunkStats;
use crate::features::CEPS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Clean speech of the main speaker: what the pack is made of.
    Speech,
    /// Speech buried in noise or a music bed (the gaps between words never go quiet).
    NoisySpeech,
    /// Speech, but not the main speaker's (or two voices at once).
    OtherSpeaker,
    Music,
    Noise,
}

#[derive(Debug, Clone, Copy)]
pub struct ClassifyConfig {
    /// Speech needs this many dB between the voice and both the background and its own gaps.
    pub min_snr_db: f32,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        Self { min_snr_db: 18.0 }
    }
}

/// The smaller of the SNR against the surrounding background and the depth of the gaps
/// between words: a music bed or noise under a voice shows in one or the other.
pub fn effective_snr(c: &ChunkStats) -> f32 {
    c.snr_db.min(c.depth_db)
}

/// Speech has syllables (energy peaks at 2–9 per second), voicing that comes and goes, and a
/// spectrum that is not flat. Music is voiced without syllables; noise is neither. Held
/// partials (`tonal`) alone do not make music: a man reading slowly holds his vowels long
/// enough for 0.42 of his energy to count as held (speech-dispatcher's recording), while the
/// music beds measured here stay under 0.2; only more than half held is a note, not a voice.
pub const MAX_SPEECH_TONAL: f32 = 0.55;

pub fn is_speech_like(c: &ChunkStats) -> bool {
    (2.0..=9.0).contains(&c.syllable_rate)
        && (0.2..=0.95).contains(&c.voiced_ratio)
        && c.flatness < 0.4
        && c.tonal < MAX_SPEECH_TONAL
        && c.voiced_frames >= 20
}

fn sound_class(c: &ChunkStats) -> Class {
    if is_speech_like(c) {
        Class::Speech
    } else if c.voiced_ratio >= 0.25 || c.tonal >= 0.4 {
        Class::Music
    } else {
        Class::Noise
    }
}

/// A chunk's class on its own, before the main speaker is known: clean speech, noisy speech,
/// music or noise.
pub fn chunk_class(c: &ChunkStats, cfg: &ClassifyConfig) -> Class {
    match sound_class(c) {
        Class::Speech if effective_snr(c) < cfg.min_snr_db => Class::NoisySpeech,
        other => other,
    }
}

/// Classifies every chunk; speech chunks that are clean but do not match the main speaker
/// become [`Class::OtherSpeaker`].
pub fn classify(chunks: &[ChunkStats], cfg: ClassifyConfig) -> Vec<Class> {
    let mut classes: Vec<Class> = chunks.iter().map(|c| chunk_class(c, &cfg)).collect();
    let clean: Vec<usize> = (0..chunks.len()).filter(|&i| classes[i] == Class::Speech).collect();
    for i in other_speakers(chunks, &clean) {
        classes[i] = Class::OtherSpeaker;
    }
    classes
}

const DIMS: usize = CEPS + 1;
/// A chunk whose median pitch is this many semitones from the main voice's is someone else.
const MAX_PITCH_ST: f32 = 5.0;

fn voice_print(c: &ChunkStats) -> [f32; DIMS] {
    let mut v = [0.0f32; DIMS];
    // Pitch in semitones, counted twice: it is the strongest single cue between speakers.
    v[0] = 12.0 * c.f0_median_hz.max(50.0).log2();
    v[1..].copy_from_slice(&c.cep);
    v
}

/// Indices (from `candidates`) that are not the main speaker: the smaller of two clusters when
/// the chunks form two clearly separate voices, and outliers far from the main voice.
pub fn other_speakers(chunks: &[ChunkStats], candidates: &[usize]) -> Vec<usize> {
    if candidates.len() < 3 {
        return Vec::new();
    }
    let prints: Vec<[f32; DIMS]> = candidates.iter().map(|&i| voice_print(&chunks[i])).collect();
    let weights: Vec<f32> = candidates.iter().map(|&i| chunks[i].duration_s() as f32).collect();
    let total_w: f32 = weights.iter().sum();

    // z-score each dimension (duration-weighted) so cepstra and pitch weigh alike.
    let mut mean = [0.0f32; DIMS];
    let mut sd = [0.0f32; DIMS];
    for (p, w) in prints.iter().zip(&weights) {
        for d in 0..DIMS {
            mean[d] += p[d] * w / total_w;
        }
    }
    for (p, w) in prints.iter().zip(&weights) {
        for d in 0..DIMS {
            sd[d] += (p[d] - mean[d]).powi(2) * w / total_w;
        }
    }
    let scale: Vec<f32> =
        (0..DIMS).map(|d| if d == 0 { 2.0 } else { 1.0 } / sd[d].sqrt().max(1e-3)).collect();
    let z: Vec<Vec<f32>> =
        prints.iter().map(|p| (0..DIMS).map(|d| (p[d] - mean[d]) * scale[d]).collect()).collect();
    let dist = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>().sqrt();

    // Weighted 2-means, seeded with the weighted centre and the print farthest from it.
    let centre = vec![0.0f32; DIMS];
    let far =
        (0..z.len()).max_by(|&a, &b| dist(&z[a], &centre).total_cmp(&dist(&z[b], &centre))).unwrap_or(0);
    let mut cents = [centre, z[far].clone()];
    let mut assign = vec![0usize; z.len()];
    for _ in 0..20 {
        for (a, p) in assign.iter_mut().zip(&z) {
            *a = usize::from(dist(p, &cents[1]) < dist(p, &cents[0]));
        }
        for (k, cent) in cents.iter_mut().enumerate() {
            let w: f32 = (0..z.len()).filter(|&i| assign[i] == k).map(|i| weights[i]).sum();
            if w > 0.0 {
                for d in 0..DIMS {
                    cent[d] =
                        (0..z.len()).filter(|&i| assign[i] == k).map(|i| z[i][d] * weights[i]).sum::<f32>()
                            / w;
                }
            }
        }
    }
    let cluster_w = |k: usize| (0..z.len()).filter(|&i| assign[i] == k).map(|i| weights[i]).sum::<f32>();
    let main = if cluster_w(1) > cluster_w(0) { 1 } else { 0 };
    let spread = |k: usize| {
        let (s, w) = (0..z.len()).filter(|&i| assign[i] == k).fold((0.0f32, 0.0f32), |(s, w), i| {
            (s + dist(&z[i], &cents[k]).powi(2) * weights[i], w + weights[i])
        });
        if w > 0.0 { (s / w).sqrt() } else { 0.0 }
    };
    let pooled = ((spread(0).powi(2) + spread(1).powi(2)) / 2.0).sqrt().max(1e-3);
    let separation = dist(&cents[0], &cents[1]) / pooled;
    let two_voices = separation >= 2.5 && cluster_w(1 - main) >= 0.03 * total_w;

    let main_spread = spread(main).max(1e-3);
    // Pitch alone, too: one speaker's chunks keep their median pitch within a few semitones,
    // and on a phone line (no fundamental below 300 Hz) the cepstra of two voices grow alike.
    let mut main_pitch: Vec<(f32, f32)> =
        (0..z.len()).filter(|&i| assign[i] == main).map(|i| (prints[i][0], weights[i])).collect();
    main_pitch.sort_by(|a, b| a.0.total_cmp(&b.0));
    let half = main_pitch.iter().map(|p| p.1).sum::<f32>() / 2.0;
    let mut acc = 0.0;
    let median_st = main_pitch.iter().find(|p| {
        acc += p.1;
        acc >= half
    });
    let median_st = median_st.map_or(0.0, |p| p.0);
    (0..z.len())
        .filter(|&i| {
            (two_voices && assign[i] != main)
                || dist(&z[i], &cents[main]) > 3.0 * main_spread
                || (prints[i][0] - median_st).abs() > MAX_PITCH_ST
        })
        .map(|i| candidates[i])
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn chunk(start: f64, dur: f64, f0: f32, cep0: f32) -> ChunkStats {
        let mut cep = [0.0; CEPS];
        cep[0] = cep0;
        cep[1] = 0.1 * (start as f32).sin();
        ChunkStats {
            start_s: start,
            end_s: start + dur,
            level_db: -22.0,
            background_db: -65.0,
            snr_db: 43.0,
            depth_db: 35.0,
            voiced_ratio: 0.65,
            steady_ratio: 0.0,
            tonal: 0.02,
            tonal_quiet: 0.02,
            syllable_rate: 4.5,
            flatness: 0.03,
            clip_ratio: 0.0,
            f0_median_hz: f0,
            f0_range_st: 4.0,
            cep,
            voiced_frames: (dur * 60.0) as u32,
            high_ratio: 0.01,
        }
    }

    #[test]
    fn speech_music_noise_and_buried_speech() {
        let speech = chunk(0.0, 4.0, 100.0, 1.0);
        let music = ChunkStats { syllable_rate: 1.2, voiced_ratio: 0.6, ..speech.clone() };
        let noise = ChunkStats { syllable_rate: 0.3, voiced_ratio: 0.02, flatness: 0.5, ..speech.clone() };
        let bed = ChunkStats { depth_db: 11.0, ..speech.clone() };
        let classes = classify(&[speech, music, noise, bed], ClassifyConfig::default());
        assert_eq!(classes, vec![Class::Speech, Class::Music, Class::Noise, Class::NoisySpeech]);
    }

    #[test]
    fn the_voice_with_the_most_speech_is_the_main_speaker() {
        let mut chunks: Vec<ChunkStats> =
            (0..20).map(|i| chunk(i as f64 * 5.0, 4.0, 95.0 + (i % 3) as f32, 1.0)).collect();
        chunks.extend((0..6).map(|i| chunk(200.0 + i as f64 * 5.0, 3.0, 230.0 + i as f32, -2.0)));
        let classes = classify(&chunks, ClassifyConfig::default());
        assert!(classes[..20].iter().all(|c| *c == Class::Speech));
        assert!(classes[20..].iter().all(|c| *c == Class::OtherSpeaker), "{classes:?}");
    }

    #[test]
    fn a_few_chunks_at_another_pitch_are_another_speaker() {
        // Too few to form their own cluster, but an octave above the main voice.
        let mut chunks: Vec<ChunkStats> =
            (0..40).map(|i| chunk(i as f64 * 5.0, 4.0, 95.0 + (i % 5) as f32, 1.0)).collect();
        chunks.push(chunk(300.0, 4.0, 200.0, 1.0));
        let classes = classify(&chunks, ClassifyConfig::default());
        assert_eq!(classes[40], Class::OtherSpeaker);
        assert!(classes[..40].iter().all(|c| *c == Class::Speech));
    }

    #[test]
    fn one_consistent_voice_loses_nothing() {
        let chunks: Vec<ChunkStats> = (0..30)
            .map(|i| chunk(i as f64 * 5.0, 4.0, 90.0 + (i % 7) as f32, 1.0 + 0.05 * (i % 4) as f32))
            .collect();
        let classes = classify(&chunks, ClassifyConfig::default());
        let kept = classes.iter().filter(|c| **c == Class::Speech).count();
        assert!(kept >= 29, "kept {kept} of 30");
    }
}
