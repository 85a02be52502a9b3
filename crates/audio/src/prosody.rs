//! How a voice speaks: its speaking rate and pitch, measured the same way (chunk by chunk) on a
//! pack's selected speech and on a clone's test phrases, so that the two compare like with like.

pub use echome_core::prosody::Prosody;

use crate::chunk::ChunkStats;

/// Chunks with fewer voiced frames say nothing reliable about pitch.
const MIN_VOICED_FRAMES: u32 = 10;

/// Over `chunks` that carry voiced speech; `None` when none does.
pub fn measure<'a>(chunks: impl IntoIterator<Item = &'a ChunkStats>) -> Option<Prosody> {
    let voiced: Vec<&ChunkStats> =
        chunks.into_iter().filter(|c| c.voiced_frames >= MIN_VOICED_FRAMES && c.f0_median_hz > 0.0).collect();
    let speech_s: f64 = voiced.iter().map(|c| c.duration_s()).sum();
    if speech_s <= 0.0 {
        return None;
    }
    let weighted = |f: fn(&ChunkStats) -> f32| {
        (voiced.iter().map(|c| f64::from(f(c)) * c.duration_s()).sum::<f64>() / speech_s) as f32
    };
    let mut by_pitch: Vec<(f32, f64)> = voiced.iter().map(|c| (c.f0_median_hz, c.duration_s())).collect();
    by_pitch.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut seen = 0.0;
    let f0_median_hz = by_pitch
        .iter()
        .find(|(_, d)| {
            seen += d;
            seen >= speech_s / 2.0
        })
        .map_or(0.0, |(f, _)| *f);
    Some(Prosody {
        speech_s: (speech_s * 1000.0).round() / 1000.0,
        syllable_rate: weighted(|c| c.syllable_rate),
        f0_median_hz,
        pitch_range_st: weighted(|c| c.f0_range_st),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::tests::chunk;

    #[test]
    fn the_figures_are_weighted_by_duration_and_skip_unvoiced_chunks() {
        let mut a = chunk(0.0, 3.0, 120.0, 1.0);
        a.syllable_rate = 4.0;
        a.f0_range_st = 6.0;
        let mut b = chunk(3.0, 1.0, 200.0, 1.0);
        b.syllable_rate = 8.0;
        b.f0_range_st = 2.0;
        let mut silent = chunk(4.0, 5.0, 0.0, 1.0);
        silent.voiced_frames = 0;
        let p = measure([&a, &b, &silent]).expect("voiced speech");
        assert_eq!(p.speech_s, 4.0);
        assert!((p.syllable_rate - 5.0).abs() < 1e-5, "{p:?}");
        assert!((p.pitch_range_st - 5.0).abs() < 1e-5, "{p:?}");
        assert_eq!(p.f0_median_hz, 120.0, "three of the four seconds are at 120 Hz");
        assert_eq!(measure([&silent]), None);
    }
}
