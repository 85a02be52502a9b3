//! Per-frame features of 16 kHz mono audio, 10 ms hop, 32 ms Hann window.
//!
//! One forward FFT per frame gives the spectrum; its inverse gives the autocorrelation for
//! pitch. Tonal-peak persistence is what tells music and hum from speech: a speaker's harmonics
//! glide with the pitch, while notes and hum hold the same spectral peaks for hundreds of ms.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

pub const RATE: u32 = 16_000;
pub const HOP: usize = 160;
pub const WIN: usize = 512;
const NFFT: usize = 1024;
const BINS: usize = NFFT / 2 + 1;
const HZ_PER_BIN: f32 = RATE as f32 / NFFT as f32;
pub const FRAME_S: f64 = HOP as f64 / RATE as f64;
/// Pitch search range 70–400 Hz.
const MIN_LAG: usize = (RATE / 400) as usize;
const MAX_LAG: usize = (RATE / 70) as usize;
/// A bin's peak score leaks 1/30 a frame, so a peak present in every frame settles at 30 and
/// passes [`PERSIST_SCORE`] after about 330 ms (a few masked frames do not reset it).
const PERSIST_DECAY: f32 = 29.0 / 30.0;
const PERSIST_SCORE: f32 = 20.0;
const MEL_BANDS: usize = 24;
pub const CEPS: usize = 12;
/// Below this level a frame is digital silence for every practical purpose.
pub const SILENCE_DB: f32 = -90.0;

#[derive(Debug, Clone, Copy, Default)]
pub struct Frame {
    /// Mean-square level of the hop, dBFS (a full-scale square wave is 0 dB).
    pub energy_db: f32,
    /// Samples at or above 0.99 of full scale in the hop.
    pub clipped: u16,
    /// Normalized autocorrelation at the pitch lag (0–1); 0 when not measured.
    pub harmonicity: f32,
    /// Fundamental in Hz, 0 when unvoiced.
    pub f0_hz: f32,
    /// Spectral flatness of 300–4000 Hz (0 tonal … 1 white noise).
    pub flatness: f32,
    /// Share of 94–5000 Hz energy held in peaks that have persisted ≥ 300 ms.
    pub tonal: f32,
    /// Energy of 4–7.5 kHz relative to 0.3–3.4 kHz (linear); tells narrowband sources.
    pub high_ratio: f32,
    /// Mel cepstrum c1…c12, measured on voiced frames only (speaker embedding).
    pub cep: [f32; CEPS],
}

impl Frame {
    pub fn voiced(&self) -> bool {
        self.f0_hz > 0.0
    }
}

pub struct FrameAnalyzer {
    fwd: Arc<dyn RealToComplex<f32>>,
    inv: Arc<dyn ComplexToReal<f32>>,
    window: Vec<f32>,
    /// Autocorrelation of the window itself, to undo its taper (Boersma 1993).
    window_acf: Vec<f32>,
    mel: Vec<(usize, usize, Vec<f32>)>,
    dct: Vec<[f32; MEL_BANDS]>,
    buf: Vec<f32>,
    fft_in: Vec<f32>,
    spec: Vec<Complex<f32>>,
    power: Vec<f32>,
    acf: Vec<f32>,
    /// Leaky count of recent frames with a spectral peak at (or next to) each bin. A held
    /// note keeps its bins busy; a gliding harmonic passes through a bin in a few frames.
    peak_score: Vec<f32>,
    is_peak: Vec<bool>,
    scratch: Vec<Complex<f32>>,
    scratch_inv: Vec<Complex<f32>>,
}

impl Default for FrameAnalyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameAnalyzer {
    pub fn new() -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(NFFT);
        let inv = planner.plan_fft_inverse(NFFT);
        let window: Vec<f32> = (0..WIN)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / WIN as f32).cos())
            .collect();
        let w0: f32 = window.iter().map(|w| w * w).sum();
        let window_acf = (0..=MAX_LAG + 1)
            .map(|lag| window.iter().zip(&window[lag..]).map(|(a, b)| a * b).sum::<f32>() / w0)
            .collect();
        let scratch = fwd.make_scratch_vec();
        let scratch_inv = inv.make_scratch_vec();
        Self {
            fwd,
            inv,
            window,
            window_acf,
            mel: mel_filters(),
            dct: dct_matrix(),
            buf: Vec::with_capacity(WIN),
            fft_in: vec![0.0; NFFT],
            spec: vec![Complex::default(); BINS],
            power: vec![0.0; BINS],
            acf: vec![0.0; NFFT],
            peak_score: vec![0.0; BINS],
            is_peak: vec![false; BINS],
            scratch,
            scratch_inv,
        }
    }

    /// Analyses one hop of new samples (exactly [`HOP`]); the window spans the last [`WIN`].
    pub fn push_hop(&mut self, hop: &[f32]) -> Frame {
        debug_assert_eq!(hop.len(), HOP);
        if self.buf.len() >= WIN {
            self.buf.drain(..HOP);
        }
        while self.buf.len() + HOP < WIN {
            self.buf.push(0.0);
        }
        self.buf.extend_from_slice(hop);

        let ms = hop.iter().map(|s| s * s).sum::<f32>() / HOP as f32;
        let energy_db = 10.0 * (ms + 1e-12).log10();
        let clipped = hop.iter().filter(|s| s.abs() >= 0.99).count() as u16;
        let mut frame = Frame { energy_db, clipped, ..Frame::default() };
        if energy_db < SILENCE_DB {
            self.peak_score.fill(0.0);
            return frame;
        }

        let mean = self.buf.iter().sum::<f32>() / WIN as f32;
        for ((dst, &x), &w) in self.fft_in.iter_mut().zip(&self.buf).zip(&self.window) {
            *dst = (x - mean) * w;
        }
        self.fft_in[WIN..].fill(0.0);
        if self.fwd.process_with_scratch(&mut self.fft_in, &mut self.spec, &mut self.scratch).is_err() {
            return frame;
        }
        for (p, c) in self.power.iter_mut().zip(&self.spec) {
            *p = c.norm_sqr();
        }

        frame.flatness = self.flatness(300.0, 4000.0);
        frame.tonal = self.tonal_share();
        let (f0, h) = self.pitch();
        frame.harmonicity = h;
        if h >= 0.5 {
            frame.f0_hz = f0;
            frame.cep = self.cepstrum();
            let low = self.band(300.0, 3400.0);
            frame.high_ratio = if low > 0.0 { self.band(4000.0, 7500.0) / low } else { 0.0 };
        }
        frame
    }

    fn bin(hz: f32) -> usize {
        ((hz / HZ_PER_BIN).round() as usize).min(BINS - 1)
    }

    fn band(&self, lo: f32, hi: f32) -> f32 {
        self.power[Self::bin(lo)..=Self::bin(hi)].iter().sum()
    }

    fn flatness(&self, lo: f32, hi: f32) -> f32 {
        let band = &self.power[Self::bin(lo)..=Self::bin(hi)];
        let n = band.len() as f32;
        let arith = band.iter().sum::<f32>() / n;
        if arith <= 1e-20 {
            return 0.0;
        }
        let geo = (band.iter().map(|p| (p + 1e-20).ln()).sum::<f32>() / n).exp();
        (geo / arith).clamp(0.0, 1.0)
    }

    fn tonal_share(&mut self) -> f32 {
        let (lo, hi) = (Self::bin(150.0), Self::bin(5000.0));
        let db = |p: f32| 10.0 * (p + 1e-20).log10();
        for k in lo..=hi {
            // A peak stands 6 dB over the dip on each side within 3 bins (partials of low
            // notes sit only a few bins apart).
            let left = self.power[k - 3..k].iter().copied().fold(f32::INFINITY, f32::min);
            let right = self.power[k + 1..=k + 3].iter().copied().fold(f32::INFINITY, f32::min);
            self.is_peak[k] = self.power[k] >= self.power[k - 1]
                && self.power[k] > self.power[k + 1]
                && db(self.power[k]) - db(left.max(right)) >= 6.0;
        }
        let mut total = 0.0f32;
        let mut tonal = 0.0f32;
        for k in lo..=hi {
            total += self.power[k];
            let hit = self.is_peak[k - 1] || self.is_peak[k] || self.is_peak[k + 1];
            let score = &mut self.peak_score[k];
            *score = *score * PERSIST_DECAY + if hit { 1.0 } else { 0.0 };
            if self.is_peak[k] && *score >= PERSIST_SCORE {
                tonal += self.power[k - 2..=k + 2].iter().sum::<f32>();
            }
        }
        if total > 0.0 { (tonal / total).min(1.0) } else { 0.0 }
    }

    /// Autocorrelation pitch: the shortest lag within 85 % of the best peak, so that a
    /// strong subharmonic does not halve the pitch.
    fn pitch(&mut self) -> (f32, f32) {
        // The complex spectrum is not needed past `power`: reuse its buffer (no per-frame allocation).
        for (c, &p) in self.spec.iter_mut().zip(&self.power) {
            *c = Complex::new(p, 0.0);
        }
        if self.inv.process_with_scratch(&mut self.spec, &mut self.acf, &mut self.scratch_inv).is_err() {
            return (0.0, 0.0);
        }
        let r0 = self.acf[0];
        if r0 <= 1e-12 {
            return (0.0, 0.0);
        }
        let norm = |acf: &[f32], lag: usize, wacf: &[f32]| acf[lag] / r0 / wacf[lag].max(1e-6);
        let mut best = 0.0f32;
        for lag in MIN_LAG..=MAX_LAG {
            best = best.max(norm(&self.acf, lag, &self.window_acf));
        }
        if best < 0.3 {
            return (0.0, best.max(0.0));
        }
        for lag in MIN_LAG..=MAX_LAG {
            let v = norm(&self.acf, lag, &self.window_acf);
            let prev = norm(&self.acf, lag - 1, &self.window_acf);
            let next = norm(&self.acf, lag + 1, &self.window_acf);
            if v >= 0.85 * best && v >= prev && v >= next {
                let denom = prev - 2.0 * v + next;
                let shift = if denom.abs() > 1e-9 { 0.5 * (prev - next) / denom } else { 0.0 };
                let f0 = RATE as f32 / (lag as f32 + shift.clamp(-0.5, 0.5));
                return (f0, v.min(1.0));
            }
        }
        (0.0, best.min(1.0))
    }

    fn cepstrum(&self) -> [f32; CEPS] {
        let mut logmel = [0.0f32; MEL_BANDS];
        for (out, (start, _, weights)) in logmel.iter_mut().zip(&self.mel) {
            let e: f32 = weights.iter().zip(&self.power[*start..]).map(|(w, p)| w * p).sum();
            *out = (e + 1e-10).ln();
        }
        let mut cep = [0.0f32; CEPS];
        for (c, row) in cep.iter_mut().zip(&self.dct) {
            *c = row.iter().zip(&logmel).map(|(a, b)| a * b).sum();
        }
        cep
    }
}

fn mel(hz: f32) -> f32 {
    2595.0 * (1.0 + hz / 700.0).log10()
}
fn mel_inv(m: f32) -> f32 {
    700.0 * (10f32.powf(m / 2595.0) - 1.0)
}

fn mel_filters() -> Vec<(usize, usize, Vec<f32>)> {
    let (lo, hi) = (mel(100.0), mel(7600.0));
    let edges: Vec<f32> =
        (0..MEL_BANDS + 2).map(|i| mel_inv(lo + (hi - lo) * i as f32 / (MEL_BANDS + 1) as f32)).collect();
    (0..MEL_BANDS)
        .map(|b| {
            let (l, c, r) = (edges[b], edges[b + 1], edges[b + 2]);
            let start = (l / HZ_PER_BIN).ceil() as usize;
            let end = ((r / HZ_PER_BIN).floor() as usize).min(BINS - 1);
            let weights = (start..=end)
                .map(|k| {
                    let f = k as f32 * HZ_PER_BIN;
                    if f <= c { (f - l) / (c - l) } else { (r - f) / (r - c) }.max(0.0)
                })
                .collect();
            (start, end, weights)
        })
        .collect()
}

fn dct_matrix() -> Vec<[f32; MEL_BANDS]> {
    (1..=CEPS)
        .map(|k| {
            let mut row = [0.0f32; MEL_BANDS];
            for (n, v) in row.iter_mut().enumerate() {
                *v = (std::f32::consts::PI * k as f32 * (n as f32 + 0.5) / MEL_BANDS as f32).cos()
                    * (2.0 / MEL_BANDS as f32).sqrt();
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(signal: impl Fn(usize) -> f32, frames: usize) -> Vec<Frame> {
        let mut a = FrameAnalyzer::new();
        (0..frames)
            .map(|f| {
                let hop: Vec<f32> = (0..HOP).map(|i| signal(f * HOP + i)).collect();
                a.push_hop(&hop)
            })
            .collect()
    }

    fn noise(seed: u64) -> impl Fn(usize) -> f32 {
        move |i| {
            let mut x = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x ^= x >> 32;
            (x as f32 / u64::MAX as f32 - 0.5) * 0.2
        }
    }

    #[test]
    fn finds_the_pitch_of_a_harmonic_tone() {
        let f0 = 140.0f32;
        let tone = move |i: usize| {
            let t = i as f32 / RATE as f32;
            (1..=8).map(|h| (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32).sum::<f32>()
                * 0.1
        };
        let frames = run(tone, 50);
        let last = frames[40];
        assert!(last.harmonicity > 0.9, "harmonicity {}", last.harmonicity);
        assert!((last.f0_hz - f0).abs() < 3.0, "f0 {}", last.f0_hz);
    }

    #[test]
    fn white_noise_is_flat_and_unvoiced() {
        let frames = run(noise(7), 60);
        let f = frames[50];
        assert!(!f.voiced(), "harmonicity {}", f.harmonicity);
        assert!(f.flatness > 0.5, "flatness {}", f.flatness);
        assert!(f.tonal < 0.05, "tonal {}", f.tonal);
    }

    #[test]
    fn a_held_note_becomes_tonal_after_300_ms_and_a_glide_does_not() {
        let note = |i: usize| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / RATE as f32).sin() * 0.3;
        let frames = run(note, 60);
        assert!(frames[10].tonal < 0.1);
        assert!(frames[50].tonal > 0.8, "tonal {}", frames[50].tonal);

        // A voice-like glide: 120→180 Hz over a second, harmonics moving with it.
        let glide = |i: usize| {
            let t = i as f32 / RATE as f32;
            let phase = 2.0 * std::f32::consts::PI * (120.0 * t + 30.0 * t * t);
            (1..=10).map(|h| (phase * h as f32).sin() / h as f32).sum::<f32>() * 0.1
        };
        let frames = run(glide, 100);
        let tonal = frames[30..].iter().map(|f| f.tonal).sum::<f32>() / 70.0;
        assert!(tonal < 0.35, "glide tonal {tonal}");
    }

    #[test]
    fn silence_is_cheap_and_quiet() {
        let frames = run(|_| 0.0, 10);
        assert!(frames.iter().all(|f| f.energy_db < SILENCE_DB && !f.voiced()));
    }
}
