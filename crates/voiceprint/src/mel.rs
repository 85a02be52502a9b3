//! The encoder's frontend, as Resemblyzer computes it with librosa: a power mel spectrogram
//! (not log) of 40 Slaney-normalised bands, 25 ms periodic Hann windows every 10 ms, frames
//! centred with zero padding (`librosa.feature.melspectrogram` with its defaults since 0.10).

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::encoder::SAMPLE_RATE;

pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
pub const N_MELS: usize = 40;
const N_BINS: usize = N_FFT / 2 + 1;

/// `librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)`: Slaney's mel scale (linear below
/// 1 kHz, logarithmic above) and area normalisation; computed in f64, kept as f32 as librosa does.
fn filterbank() -> Vec<[f32; N_BINS]> {
    let f_sp = 200.0 / 3.0;
    let (min_log_hz, min_log_mel, logstep) = (1000.0, 1000.0 / f_sp, (6.4f64).ln() / 27.0);
    let hz_to_mel =
        |f: f64| if f >= min_log_hz { min_log_mel + (f / min_log_hz).ln() / logstep } else { f / f_sp };
    let mel_to_hz =
        |m: f64| if m >= min_log_mel { min_log_hz * (logstep * (m - min_log_mel)).exp() } else { f_sp * m };
    let top = hz_to_mel(f64::from(SAMPLE_RATE) / 2.0);
    let mel_f: Vec<f64> = (0..N_MELS + 2).map(|i| mel_to_hz(top * i as f64 / (N_MELS + 1) as f64)).collect();
    let fft_hz = |k: usize| k as f64 * f64::from(SAMPLE_RATE) / N_FFT as f64;
    (0..N_MELS)
        .map(|i| {
            let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
            let mut row = [0f32; N_BINS];
            for (k, w) in row.iter_mut().enumerate() {
                let lower = (fft_hz(k) - mel_f[i]) / (mel_f[i + 1] - mel_f[i]);
                let upper = (mel_f[i + 2] - fft_hz(k)) / (mel_f[i + 2] - mel_f[i + 1]);
                *w = (lower.min(upper).max(0.0) * enorm) as f32;
            }
            row
        })
        .collect()
}

/// Computes mel frames; one per thread (the FFT plan and buffers are reused).
pub struct MelFrontend {
    fft: Arc<dyn RealToComplex<f32>>,
    window: [f32; N_FFT],
    bank: Vec<[f32; N_BINS]>,
}

impl Default for MelFrontend {
    fn default() -> Self {
        Self::new()
    }
}

impl MelFrontend {
    pub fn new() -> Self {
        let mut window = [0f32; N_FFT];
        for (n, w) in window.iter_mut().enumerate() {
            *w = (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos()) as f32;
        }
        Self { fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT), window, bank: filterbank() }
    }

    /// Frames `1 + len / 160` of `wav` (16 kHz, −1..1), each 40 band powers, row after row.
    pub fn frames(&self, wav: &[f32]) -> Vec<f32> {
        let n = 1 + wav.len() / HOP;
        let mut out = vec![0f32; n * N_MELS];
        let (mut buf, mut spec) = (self.fft.make_input_vec(), self.fft.make_output_vec());
        let mut power = [0f32; N_BINS];
        let half = (N_FFT / 2) as isize;
        for (t, frame) in out.chunks_exact_mut(N_MELS).enumerate() {
            let start = (t * HOP) as isize - half;
            for (i, b) in buf.iter_mut().enumerate() {
                let at = start + i as isize;
                let x = if at >= 0 { wav.get(at as usize).copied().unwrap_or(0.0) } else { 0.0 };
                *b = x * self.window[i];
            }
            // Lengths match the plan, so this cannot fail.
            if self.fft.process(&mut buf, &mut spec).is_err() {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.re * c.re + c.im * c.im;
            }
            for (m, row) in frame.iter_mut().zip(&self.bank) {
                *m = row.iter().zip(&power).map(|(w, p)| w * p).sum();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filterbank_matches_librosa_s_slaney_mel_filters() {
        let bank = filterbank();
        // librosa 0.11's filters.mel(sr=16000, n_fft=400, n_mels=40)[0][:3] is
        // [0, 0.00739021, 0.01240452]; the band peaks at bin 2 (80 Hz).
        let peak =
            |row: &[f32; N_BINS]| row.iter().enumerate().fold(0, |b, (i, w)| if *w > row[b] { i } else { b });
        assert_eq!(peak(&bank[0]), 2);
        assert_eq!(bank[0][0], 0.0);
        assert!((bank[0][1] - 0.007_390_21).abs() < 1e-7, "{}", bank[0][1]);
        assert!((bank[0][2] - 0.012_404_52).abs() < 1e-7, "{}", bank[0][2]);
        assert!(bank.iter().all(|r| r.iter().all(|w| *w >= 0.0)));
        assert!(peak(&bank[39]) > peak(&bank[38]));
    }

    #[test]
    fn frames_are_centred_and_count_as_librosa_s() {
        let mel = MelFrontend::new();
        assert_eq!(mel.frames(&vec![0.0; 16_000]).len(), (1 + 100) * N_MELS);
        // A 1 kHz tone: its energy lands in the bands around 1 kHz, none at the top.
        let tone: Vec<f32> =
            (0..16_000).map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 16_000.0).sin()).collect();
        let f = mel.frames(&tone);
        let mid = &f[50 * N_MELS..51 * N_MELS];
        let loudest = mid.iter().enumerate().fold(0, |b, (i, v)| if *v > mid[b] { i } else { b });
        assert!((13..=16).contains(&loudest), "band {loudest}");
        assert!(mid[39] < mid[loudest] * 1e-4);
    }
}
