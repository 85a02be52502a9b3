//! Picks the pack to ElevenLabs' instant-cloning guidance: 1–2 minutes of one clean, consistent
//! speaker (more than 3 does not help), in 1–3 files of whole speech chunks.

use echome_core::AudioError;
use serde::Serialize;

use crate::chunk::ChunkStats;
use crate::classify::{Class, effective_snr};

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SelectConfig {
    /// Below this much usable speech there is no pack.
    pub min_speech_s: f64,
    /// Stop preferring quality over quantity once this much is selected.
    pub target_min_s: f64,
    pub target_max_s: f64,
    pub max_file_s: f64,
    pub max_files: usize,
    /// Room tone kept before and after each chunk: the natural pause between chunks.
    pub pad_s: f64,
    /// Past `target_min_s`, chunks this much noisier than the best are left out (consistency).
    pub consistency_db: f32,
}

impl Default for SelectConfig {
    fn default() -> Self {
        Self {
            min_speech_s: 30.0,
            target_min_s: 60.0,
            target_max_s: 120.0,
            max_file_s: 60.0,
            max_files: 3,
            pad_s: 0.15,
            consistency_db: 12.0,
        }
    }
}

/// One pack file: the source ranges (seconds, padded) joined in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilePlan {
    pub intervals: Vec<(f64, f64)>,
    pub chunks: Vec<usize>,
}

impl FilePlan {
    pub fn duration_s(&self) -> f64 {
        self.intervals.iter().map(|(s, e)| e - s).sum()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Selection {
    pub files: Vec<FilePlan>,
    /// Seconds of clean main-speaker speech found (the pool the pack was chosen from).
    pub usable_s: f64,
    pub speech_s: f64,
}

fn quality(c: &ChunkStats, median_level: f32) -> f32 {
    effective_snr(c).min(45.0) + 4.0 * (c.duration_s().min(6.0) as f32 / 6.0)
        - 2000.0 * c.clip_ratio
        - 0.5 * (c.level_db - median_level).abs()
}

/// Chooses chunks and lays them out in files, or says why there is no pack.
pub fn select(
    chunks: &[ChunkStats],
    classes: &[Class],
    duration_s: f64,
    max_level_db: f32,
    cfg: &SelectConfig,
) -> Result<Selection, AudioError> {
    let dur = |k: Class| -> f64 {
        chunks.iter().zip(classes).filter(|(_, c)| **c == k).map(|(ch, _)| ch.duration_s()).sum()
    };
    let usable_s = dur(Class::Speech);
    let speech_s = usable_s + dur(Class::NoisySpeech) + dur(Class::OtherSpeaker);
    if chunks.is_empty() || max_level_db < -70.0 {
        return Err(AudioError::SilenceOnly { duration_s });
    }
    if speech_s < 1.0 {
        let music_s = dur(Class::Music);
        return Err(if music_s >= dur(Class::Noise) {
            AudioError::MusicOnly { music_s, duration_s }
        } else {
            AudioError::NoiseOnly { duration_s }
        });
    }
    if usable_s < cfg.min_speech_s {
        return Err(AudioError::TooLittleSpeech {
            found_s: usable_s,
            required_s: cfg.min_speech_s,
            speech_s,
        });
    }

    let mut pool: Vec<usize> = (0..chunks.len()).filter(|&i| classes[i] == Class::Speech).collect();
    let mut levels: Vec<f32> = pool.iter().map(|&i| chunks[i].level_db).collect();
    levels.sort_by(|a, b| a.total_cmp(b));
    let median_level = levels[levels.len() / 2];
    pool.sort_by(|&a, &b| quality(&chunks[b], median_level).total_cmp(&quality(&chunks[a], median_level)));
    let best_snr = effective_snr(&chunks[pool[0]]);

    let padded = |c: &ChunkStats| c.duration_s() + 2.0 * cfg.pad_s;
    let capacity = cfg.max_file_s * cfg.max_files as f64;
    let mut chosen = Vec::new();
    let mut total = 0.0;
    for &i in &pool {
        let c = &chunks[i];
        if total >= cfg.target_min_s && effective_snr(c) < best_snr - cfg.consistency_db {
            break;
        }
        if total + padded(c) > cfg.target_max_s.min(capacity) {
            continue;
        }
        chosen.push(i);
        total += padded(c);
    }
    chosen.sort_by(|&a, &b| chunks[a].start_s.total_cmp(&chunks[b].start_s));

    // Lay out in time order, as evenly as the chunks allow, each file at most max_file_s.
    // 10 % headroom per file: whole chunks rarely fill a file exactly.
    let n_files = ((total / (0.9 * cfg.max_file_s)).ceil() as usize).clamp(1, cfg.max_files);
    let per_file = total / n_files as f64;
    let mut files: Vec<FilePlan> = Vec::new();
    let mut current = FilePlan { intervals: Vec::new(), chunks: Vec::new() };
    for &i in &chosen {
        let c = &chunks[i];
        let len = padded(c);
        let full = current.duration_s() + len > cfg.max_file_s
            || (current.duration_s() >= per_file && files.len() + 1 < n_files);
        if full && !current.intervals.is_empty() {
            files.push(std::mem::replace(
                &mut current,
                FilePlan { intervals: Vec::new(), chunks: Vec::new() },
            ));
        }
        let start = (c.start_s - cfg.pad_s).max(0.0);
        let end = (c.end_s + cfg.pad_s).min(duration_s);
        current.intervals.push((start, end));
        current.chunks.push(i);
    }
    if !current.intervals.is_empty() {
        files.push(current);
    }
    Ok(Selection { files, usable_s, speech_s })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::tests::chunk;

    #[test]
    fn fills_two_minutes_with_the_cleanest_chunks_in_time_order() {
        let mut chunks = Vec::new();
        for i in 0..60 {
            let mut c = chunk(i as f64 * 6.0, 4.0, 100.0, 1.0);
            c.depth_db = if i % 2 == 0 { 40.0 } else { 25.0 };
            chunks.push(c);
        }
        let classes = vec![Class::Speech; chunks.len()];
        let sel = select(&chunks, &classes, 400.0, -10.0, &SelectConfig::default()).unwrap();
        let total: f64 = sel.files.iter().map(FilePlan::duration_s).sum();
        assert!((100.0..=120.0).contains(&total), "total {total}");
        assert!(sel.files.len() >= 2 && sel.files.len() <= 3);
        assert!(sel.files.iter().all(|f| f.duration_s() <= 60.0));
        let picked: Vec<usize> = sel.files.iter().flat_map(|f| f.chunks.clone()).collect();
        assert!(picked.windows(2).all(|w| w[0] < w[1]), "time order");
        // 27 padded chunks of 4.3 s fill 120 s; all of them come from the 40 dB half.
        assert_eq!(picked.len(), 27);
        assert!(picked.iter().all(|&i| i % 2 == 0), "only the cleanest: {picked:?}");
    }

    #[test]
    fn too_little_speech_says_how_much() {
        let chunks: Vec<ChunkStats> = (0..5).map(|i| chunk(i as f64 * 6.0, 4.0, 100.0, 1.0)).collect();
        let classes = vec![Class::Speech; 5];
        match select(&chunks, &classes, 60.0, -10.0, &SelectConfig::default()) {
            Err(AudioError::TooLittleSpeech { found_s, required_s, .. }) => {
                assert!((found_s - 20.0).abs() < 1e-9);
                assert_eq!(required_s, 30.0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nothing_but_music_or_silence_is_named() {
        let music = vec![chunk(0.0, 10.0, 100.0, 1.0)];
        let err = select(&music, &[Class::Music], 10.0, -10.0, &SelectConfig::default()).unwrap_err();
        assert_eq!(err.code(), "music_only");
        let err = select(&[], &[], 10.0, -95.0, &SelectConfig::default()).unwrap_err();
        assert_eq!(err.code(), "silence_only");
        let err = select(&music, &[Class::Noise], 10.0, -10.0, &SelectConfig::default()).unwrap_err();
        assert_eq!(err.code(), "noise_only");
    }
}
