//! Level, true peak and a transparent look-ahead limiter, to bring each pack file to about
//! −20 dBFS RMS of active speech with true peak ≤ −3 dBTP (ElevenLabs' cloning guidance).

use std::collections::VecDeque;

fn db(power: f64) -> f32 {
    (10.0 * (power + 1e-20).log10()) as f32
}

/// RMS of active speech (dBFS): the mean power of 10 ms blocks within 35 dB of the loud ones,
/// so pauses do not drag the level down.
pub fn active_level_db(x: &[f32], rate: u32) -> f32 {
    let block = (rate as usize / 100).max(1);
    let mut blocks: Vec<f64> = x
        .chunks(block)
        .map(|b| b.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / b.len() as f64)
        .collect();
    if blocks.is_empty() {
        return -120.0;
    }
    let mut sorted = blocks.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let p95 = sorted[(sorted.len() * 95 / 100).min(sorted.len() - 1)];
    let gate = p95 * 10f64.powf(-3.5).max(1e-7);
    blocks.retain(|&p| p >= gate);
    db(blocks.iter().sum::<f64>() / blocks.len().max(1) as f64)
}

/// 4× oversampling interpolator (windowed sinc, 12 taps a phase, as in ITU-R BS.1770-4 Annex 2).
struct Oversampler {
    phases: [[f32; 12]; 3],
}

impl Oversampler {
    fn new() -> Self {
        let mut phases = [[0.0f32; 12]; 3];
        for (p, taps) in phases.iter_mut().enumerate() {
            let frac = (p + 1) as f64 / 4.0;
            for (k, t) in taps.iter_mut().enumerate() {
                // Tap k weighs x[n - 5 + k]; the point sits at n + frac.
                let x = (k as f64 - 5.0) - frac;
                let sinc = if x.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let w = 0.5 + 0.5 * (std::f64::consts::PI * x / 6.5).cos();
                *t = (sinc * w) as f32;
            }
        }
        Self { phases }
    }

    /// Largest magnitude at or between sample n and n+1.
    fn peak_at(&self, x: &[f32], n: usize) -> f32 {
        let mut m = x[n].abs();
        if n + 7 <= x.len() && n >= 5 {
            for taps in &self.phases {
                let v: f32 = taps.iter().enumerate().map(|(k, t)| t * x[n + k - 5]).sum();
                m = m.max(v.abs());
            }
        }
        m
    }
}

/// True peak (dBTP).
pub fn true_peak_db(x: &[f32]) -> f32 {
    let os = Oversampler::new();
    let peak = (0..x.len()).map(|n| os.peak_at(x, n)).fold(0.0f32, f32::max);
    20.0 * (peak.max(1e-10)).log10()
}

/// Look-ahead limiter: gain never exceeds what keeps the true peak under `ceiling_db`, and
/// moves smoothly (5 ms attack from the look-ahead, 80 ms release). Returns the deepest
/// gain reduction in dB.
pub fn limit(x: &mut [f32], rate: u32, ceiling_db: f32) -> f32 {
    let ceiling = 10f32.powf(ceiling_db / 20.0);
    let os = Oversampler::new();
    let need: Vec<f32> = (0..x.len()).map(|n| (ceiling / os.peak_at(x, n).max(1e-9)).min(1.0)).collect();
    let look = (rate as usize * 5 / 1000).max(1);
    // Sliding minimum over [n - look, n + look] (monotonic deque), then a moving average over
    // [n - look/2, n + look/2]: every averaged value is still ≤ the need at n.
    let n = x.len();
    let mut mins = vec![1.0f32; n];
    let mut dq: VecDeque<usize> = VecDeque::new();
    let mut next = 0;
    for (i, m) in mins.iter_mut().enumerate() {
        let hi = (i + look).min(n - 1);
        while next <= hi {
            while dq.back().is_some_and(|&j| need[j] >= need[next]) {
                dq.pop_back();
            }
            dq.push_back(next);
            next += 1;
        }
        while dq.front().is_some_and(|&j| j + look < i) {
            dq.pop_front();
        }
        *m = dq.front().map_or(1.0, |&j| need[j]);
    }
    let half = look / 2;
    let mut prefix = vec![0.0f64; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + mins[i] as f64;
    }
    let release = 1.0 - (-1.0 / (0.08 * rate as f32)).exp();
    let mut g_prev = 1.0f32;
    let mut deepest = 1.0f32;
    for (i, sample) in x.iter_mut().enumerate() {
        let (lo, hi) = (i.saturating_sub(half), (i + half).min(n - 1));
        let avg = ((prefix[hi + 1] - prefix[lo]) / (hi + 1 - lo) as f64) as f32;
        let g = avg.min(g_prev + (1.0 - g_prev) * release);
        *sample *= g;
        g_prev = g;
        deepest = deepest.min(g);
    }
    -20.0 * deepest.log10()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalized {
    pub gain_db: f32,
    pub level_db: f32,
    pub true_peak_db: f32,
    pub limited_db: f32,
}

/// Brings speech to `target_db` RMS; if its peaks would pass `ceiling_db`, first gives up to
/// `slack_db` of level (down to −23 dB with the defaults), then limits the rest.
pub fn normalize(x: &mut [f32], rate: u32, target_db: f32, slack_db: f32, ceiling_db: f32) -> Normalized {
    let level = active_level_db(x, rate);
    let peak = true_peak_db(x);
    let mut gain = target_db - level;
    if peak + gain > ceiling_db {
        gain = (ceiling_db - peak).max(gain - slack_db);
    }
    let g = 10f32.powf(gain / 20.0);
    x.iter_mut().for_each(|s| *s *= g);
    let mut limited_db = 0.0;
    if true_peak_db(x) > ceiling_db {
        // A little under the ceiling: the interpolator is an estimate.
        limited_db = limit(x, rate, ceiling_db - 0.3);
    }
    Normalized {
        gain_db: gain,
        level_db: active_level_db(x, rate),
        true_peak_db: true_peak_db(x),
        limited_db,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speechy(rate: u32, secs: f32) -> Vec<f32> {
        // Bursts of a harmonic tone with sharp transients (crest factor like speech), and pauses.
        (0..(rate as f32 * secs) as usize)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let on = (t * 3.0).fract() < 0.6;
                let env = if on { 0.05 + 0.25 * (-(t * 3.0).fract() * 20.0).exp() } else { 0.0 };
                env * ((std::f32::consts::TAU * 150.0 * t).sin()
                    + 0.5 * (std::f32::consts::TAU * 450.0 * t).sin())
            })
            .collect()
    }

    #[test]
    fn true_peak_sees_between_samples() {
        // A quarter-rate sine sampled at 45° phase: samples peak at 0.707, the wave at 1.0.
        let x: Vec<f32> = (0..400)
            .map(|i| (std::f32::consts::FRAC_PI_2 * i as f32 + std::f32::consts::FRAC_PI_4).sin())
            .collect();
        let sample_peak = x.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(sample_peak < 0.71);
        let tp = true_peak_db(&x);
        assert!(tp > -0.5 && tp < 0.3, "true peak {tp} dB");
    }

    #[test]
    fn normalizes_speech_into_the_cloning_window() {
        for rate in [8000, 16000, 44100, 48000] {
            let mut x = speechy(rate, 6.0);
            x.iter_mut().for_each(|s| *s *= 0.1);
            let n = normalize(&mut x, rate, -20.0, 3.0, -3.0);
            assert!((-23.5..=-18.0).contains(&n.level_db), "{rate} Hz: level {}", n.level_db);
            assert!(n.true_peak_db <= -3.0, "{rate} Hz: true peak {}", n.true_peak_db);
        }
    }

    #[test]
    fn limiter_keeps_the_ceiling() {
        let mut x = speechy(48000, 3.0);
        x.iter_mut().for_each(|s| *s *= 3.0);
        limit(&mut x, 48000, -3.3);
        assert!(true_peak_db(&x) <= -3.0, "{}", true_peak_db(&x));
    }
}
