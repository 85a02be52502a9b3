//! Gentle spectral noise reduction, used only when a pack's measured noise floor calls for it.
//! The noise spectrum is learnt from the quietest frames of the same audio (the room tone in
//! the pauses), and no bin is cut by more than 12 dB, so the voice keeps its timbre.

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

const MAX_CUT_DB: f32 = 12.0;
const OVER_SUBTRACT: f32 = 1.5;

pub fn denoise(x: &[f32], rate: u32) -> Vec<f32> {
    let n = ((rate as f32 * 0.032) as usize).next_power_of_two().max(256);
    let hop = n / 2;
    if x.len() < 4 * n {
        return x.to_vec();
    }
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    // Periodic Hann: at 50 % overlap its shifted copies add to exactly one.
    let window: Vec<f32> =
        (0..n).map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n as f32).cos()).collect();
    let frames = (x.len() - n) / hop + 1;
    let mut spectra: Vec<Vec<Complex<f32>>> = Vec::with_capacity(frames);
    let mut buf = vec![0.0f32; n];
    for f in 0..frames {
        for (b, (s, w)) in buf.iter_mut().zip(x[f * hop..f * hop + n].iter().zip(&window)) {
            *b = s * w;
        }
        let mut spec = fwd.make_output_vec();
        if fwd.process(&mut buf, &mut spec).is_err() {
            return x.to_vec();
        }
        spectra.push(spec);
    }
    // Noise: the mean power spectrum of the quietest 15 % of frames.
    let mut energy: Vec<(f32, usize)> =
        spectra.iter().enumerate().map(|(i, s)| (s.iter().map(|c| c.norm_sqr()).sum(), i)).collect();
    energy.sort_by(|a, b| a.0.total_cmp(&b.0));
    let quiet = &energy[..(frames * 15 / 100).max(1)];
    let bins = n / 2 + 1;
    let mut noise = vec![0.0f32; bins];
    for &(_, i) in quiet {
        for (p, c) in noise.iter_mut().zip(&spectra[i]) {
            *p += c.norm_sqr() / quiet.len() as f32;
        }
    }
    let floor = 10f32.powf(-MAX_CUT_DB / 20.0);
    let mut prev_gain = vec![1.0f32; bins];
    let mut out = vec![0.0f32; x.len()];
    for (f, spec) in spectra.iter_mut().enumerate() {
        for ((c, g_prev), nz) in spec.iter_mut().zip(prev_gain.iter_mut()).zip(&noise) {
            let p = c.norm_sqr().max(1e-20);
            let g = (1.0 - OVER_SUBTRACT * nz / p).max(0.0).sqrt().max(floor);
            // Smoothing over time keeps isolated bins from twinkling ("musical noise").
            let g = 0.5 * *g_prev + 0.5 * g;
            *g_prev = g;
            *c *= g;
        }
        spec[0].im = 0.0;
        spec[bins - 1].im = 0.0;
        if inv.process(spec, &mut buf).is_err() {
            return x.to_vec();
        }
        for (o, b) in out[f * hop..f * hop + n].iter_mut().zip(&buf) {
            *o += b / n as f32;
        }
    }
    // The first and last half-frames only got one window: keep the original there.
    out[..hop].copy_from_slice(&x[..hop]);
    let tail = (frames - 1) * hop + hop;
    out[tail + hop..].copy_from_slice(&x[tail + hop..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_steady_noise_and_keeps_the_tone() {
        let rate = 16000;
        let mut seed = 1u64;
        let mut noise = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.02
        };
        // A tone that comes and goes over steady hiss.
        let x: Vec<f32> = (0..rate * 4)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let on = (t * 2.0).fract() < 0.5;
                (if on { 0.3 * (std::f32::consts::TAU * 220.0 * t).sin() } else { 0.0 }) + noise()
            })
            .collect();
        let y = denoise(&x, rate);
        assert_eq!(y.len(), x.len());
        let rms_from = |v: &[f32], t: f32| {
            let s = (t * rate as f32) as usize;
            (v[s..s + 1600].iter().map(|a| a * a).sum::<f32>() / 1600.0).sqrt()
        };
        let (gx, gy) = (rms_from(&x, 1.3), rms_from(&y, 1.3));
        assert!(gy < 0.5 * gx, "noise in the gaps: {gx} -> {gy}");
        let (tx, ty) = (rms_from(&x, 1.05), rms_from(&y, 1.05));
        assert!((20.0 * (ty / tx).log10()).abs() < 1.0, "tone: {tx} -> {ty}");
    }
}
