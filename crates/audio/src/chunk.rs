//! What a chunk of sound is like, summed up from its frames: the evidence for speech, music
//! or noise, its quality, and a voice print for telling speakers apart.

use serde::Serialize;

use crate::features::{CEPS, FRAME_S};
use crate::vad::RawChunk;

#[derive(Debug, Clone, Serialize)]
pub struct ChunkStats {
    pub start_s: f64,
    pub end_s: f64,
    /// Mean level of the active frames, dBFS.
    pub level_db: f32,
    /// Background level around the chunk, dBFS.
    pub background_db: f32,
    pub snr_db: f32,
    /// Level minus the 10th-percentile frame: how deep the gaps between words go. A music bed
    /// or noise under the voice fills them in.
    pub depth_db: f32,
    /// Share of frames with a clear pitch.
    pub voiced_ratio: f32,
    /// Share of voiced frames in stretches of ≥ 200 ms whose pitch stays within half a semitone
    /// (held notes; speech glides).
    pub steady_ratio: f32,
    /// Mean share of energy in spectral peaks held ≥ 300 ms.
    pub tonal: f32,
    /// The same in the quieter half of the frames: music under a voice shows here.
    pub tonal_quiet: f32,
    /// Energy peaks (syllable nuclei) per second.
    pub syllable_rate: f32,
    /// Median spectral flatness.
    pub flatness: f32,
    pub clip_ratio: f32,
    pub f0_median_hz: f32,
    /// How far the pitch moves inside the chunk: the 10th to 90th percentile of its voiced
    /// frames, in semitones (0 with fewer than 10 voiced frames). Intonation; flat in a monotone.
    pub f0_range_st: f32,
    /// Voice print: mean mel cepstrum of the voiced frames.
    pub cep: [f32; CEPS],
    pub voiced_frames: u32,
    /// Mean 4–7.5 kHz / 0.3–3.4 kHz energy ratio of voiced frames.
    pub high_ratio: f32,
}

impl ChunkStats {
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

fn mean_db(dbs: impl Iterator<Item = f32>) -> f32 {
    let (sum, n) = dbs.fold((0.0f64, 0usize), |(s, n), d| (s + 10f64.powf(d as f64 / 10.0), n + 1));
    if n == 0 { -120.0 } else { (10.0 * (sum / n as f64 + 1e-12).log10()) as f32 }
}

fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
}

pub fn summarize(raw: &RawChunk) -> ChunkStats {
    let frames = &raw.frames;
    let n = frames.len().max(1);
    let start_s = raw.start_frame as f64 * FRAME_S;
    let end_s = start_s + frames.len() as f64 * FRAME_S;
    let level_db = mean_db(frames.iter().filter(|t| t.active).map(|t| t.frame.energy_db));
    let floor = median(frames.iter().map(|t| t.floor_db).collect());
    // The pause before the chunk is the best witness of the background; inside long sound
    // only the tracked floor is left.
    let background_db = raw.gap_before_db.map_or(floor, |g| g.max(floor - 3.0));

    let voiced: Vec<f32> = frames.iter().filter(|t| t.frame.voiced()).map(|t| t.frame.f0_hz).collect();
    let voiced_frames = voiced.len() as u32;

    let mut sorted_db: Vec<f32> = frames.iter().map(|t| t.frame.energy_db).collect();
    sorted_db.sort_by(|a, b| a.total_cmp(b));
    let quiet_cut = sorted_db[sorted_db.len() / 2];
    let p10 = sorted_db[sorted_db.len() / 10];
    let quiet: Vec<f32> =
        frames.iter().filter(|t| t.frame.energy_db <= quiet_cut).map(|t| t.frame.tonal).collect();

    let mut cep = [0.0f32; CEPS];
    let mut high = 0.0f32;
    for t in frames.iter().filter(|t| t.frame.voiced()) {
        cep.iter_mut().zip(&t.frame.cep).for_each(|(a, b)| *a += b);
        high += t.frame.high_ratio;
    }
    if voiced_frames > 0 {
        cep.iter_mut().for_each(|c| *c /= voiced_frames as f32);
        high /= voiced_frames as f32;
    }

    ChunkStats {
        start_s,
        end_s,
        level_db,
        background_db,
        snr_db: level_db - background_db,
        depth_db: level_db - p10,
        voiced_ratio: voiced_frames as f32 / n as f32,
        steady_ratio: steady_ratio(frames.iter().map(|t| t.frame.f0_hz)),
        tonal: frames.iter().map(|t| t.frame.tonal).sum::<f32>() / n as f32,
        tonal_quiet: quiet.iter().sum::<f32>() / quiet.len().max(1) as f32,
        syllable_rate: nuclei(frames.iter().map(|t| t.frame.energy_db)) as f32
            / (end_s - start_s).max(0.01) as f32,
        flatness: median(frames.iter().map(|t| t.frame.flatness).collect()),
        clip_ratio: frames.iter().map(|t| t.frame.clipped as f32).sum::<f32>()
            / (n * crate::features::HOP) as f32,
        f0_range_st: range_st(&voiced),
        f0_median_hz: median(voiced),
        cep,
        voiced_frames,
        high_ratio: high,
    }
}

/// The 10th–90th percentile spread of `f0s` (Hz), in semitones.
fn range_st(f0s: &[f32]) -> f32 {
    if f0s.len() < 10 {
        return 0.0;
    }
    let mut st: Vec<f32> = f0s.iter().map(|f| 12.0 * f.log2()).collect();
    st.sort_by(|a, b| a.total_cmp(b));
    st[st.len() * 9 / 10] - st[st.len() / 10]
}

/// Share of voiced frames that sit in runs of ≥ 20 frames spanning at most half a semitone.
fn steady_ratio(f0s: impl Iterator<Item = f32>) -> f32 {
    let mut voiced = 0usize;
    let mut steady = 0usize;
    let mut run: Vec<f32> = Vec::new();
    let flush = |run: &mut Vec<f32>, steady: &mut usize| {
        if run.len() >= 20 {
            *steady += run.len();
        }
        run.clear();
    };
    for f in f0s {
        if f <= 0.0 {
            flush(&mut run, &mut steady);
            continue;
        }
        voiced += 1;
        let st = 12.0 * f.log2();
        let (lo, hi) = run.iter().fold((st, st), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        if hi - lo > 0.5 {
            flush(&mut run, &mut steady);
        }
        run.push(st);
    }
    flush(&mut run, &mut steady);
    if voiced == 0 { 0.0 } else { steady as f32 / voiced as f32 }
}

/// Counts energy peaks that rise and fall by at least 5 dB: syllable nuclei in speech.
fn nuclei(energy_db: impl Iterator<Item = f32>) -> usize {
    let mut count = 0;
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    let mut rising = true;
    let mut avg = None::<f32>;
    for e in energy_db {
        let s = match avg {
            Some(a) => 0.6 * a + 0.4 * e,
            None => e,
        };
        avg = Some(s);
        if rising {
            hi = hi.max(s);
            lo = lo.min(s);
            if hi - s >= 5.0 && hi - lo >= 5.0 {
                count += 1;
                rising = false;
                lo = s;
            }
        } else {
            lo = lo.min(s);
            if s - lo >= 5.0 {
                rising = true;
                hi = s;
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gliding_voice_is_not_steady_and_a_held_note_is() {
        let glide: Vec<f32> = (0..100).map(|i| 110.0 * 2f32.powf(i as f32 * 0.08 / 12.0)).collect();
        assert!(steady_ratio(glide.into_iter()) < 0.3);
        let note = std::iter::repeat_n(220.0f32, 60).chain(std::iter::repeat_n(0.0, 5));
        assert_eq!(steady_ratio(note), 1.0);
    }

    #[test]
    fn counts_syllable_like_peaks() {
        // Four bursts of 15 frames at −20 dB separated by 10 frames at −40 dB.
        let e = (0..100).map(|i| if i % 25 < 15 { -20.0 } else { -40.0 });
        assert_eq!(nuclei(e), 4);
        assert_eq!(nuclei(std::iter::repeat_n(-20.0, 100)), 0);
    }
}
