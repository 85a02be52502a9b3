//! Clipping, wherever it happened. A recording clipped at full scale has samples at ±1, but one
//! clipped before a gain stage (a phone's or a recorder's input, then turned down) or passed
//! through a lossy codec (which rings around flattened peaks) has none there. What every
//! clipped recording shares is the shape of its loudest samples: speech's amplitudes thin out
//! towards the peak, clipped speech piles up at its clip level. So the top half of the
//! amplitude range (relative to the recording's own peak) is split into eighths: in speech the
//! count falls from each to the next (measured on real recordings, wideband, telephone, μ-law:
//! the loudest quarter's busiest eighth holds at most 0.4 times the samples of the eighth at
//! half the peak); in a clipped recording one of the loudest quarter's eighths holds more than
//! the half-peak one (1.8 to 2 times, for clipping at full scale or 10 dB down, WAV, MP3, μ-law).

/// Eighths of the top half of the range: coarse enough that μ-law's steps (16 levels from
/// half to full scale) leave none empty.
const BINS: usize = 8;
/// Fewer samples than this at half the peak tell nothing either way.
const MIN_BASE: usize = 200;
/// The loudest quarter's busiest eighth against the half-peak eighth: above this, clipped.
const PILED_UP: f64 = 1.0;

/// A recording's flattened peaks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clipped {
    /// The recording's peak, where its samples pile up (dBFS).
    pub level_dbfs: f32,
    /// Share of the samples in the loudest quarter of its range (at least the clipped ones).
    pub share: f32,
}

/// Whether `samples` (one recording's audio, or the pieces of a pack) are clipped.
pub fn clipped<'a>(pieces: impl IntoIterator<Item = &'a [f32]> + Clone) -> Option<Clipped> {
    let peak = pieces.clone().into_iter().flatten().fold(0.0f32, |m, s| m.max(s.abs()));
    if peak <= 0.0 {
        return None;
    }
    let mut bins = [0usize; BINS];
    let mut total = 0usize;
    for s in pieces.into_iter().flatten() {
        total += 1;
        let r = s.abs() / peak;
        if r >= 0.5 {
            bins[(((r - 0.5) * 2.0 * BINS as f32) as usize).min(BINS - 1)] += 1;
        }
    }
    let loudest = bins[BINS / 2..].iter().copied().max().unwrap_or(0);
    if bins[0] < MIN_BASE || (loudest as f64) <= PILED_UP * bins[0] as f64 {
        return None;
    }
    let top: usize = bins[BINS / 2..].iter().sum();
    Some(Clipped { level_dbfs: 20.0 * peak.log10(), share: top as f32 / total.max(1) as f32 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Speech-like amplitudes: a Laplacian-distributed signal (peaks are rare), seeded.
    fn speechlike(n: usize, scale: f32) -> Vec<f32> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                let l = if u < 0.5 { (2.0 * u).ln() } else { -(2.0 * (1.0 - u)).ln() };
                (l as f32 * 0.08 * scale).clamp(-1.0, 1.0)
            })
            .collect()
    }

    fn mulaw(x: f32) -> f32 {
        let mu = 255.0f32;
        let y = x.signum() * (1.0 + mu * x.abs()).ln() / (1.0 + mu).ln();
        let q = (y * 127.0).round() / 127.0;
        q.signum() * ((1.0 + mu).powf(q.abs()) - 1.0) / mu
    }

    #[test]
    fn clean_speech_is_not_clipped_at_any_level_or_through_mulaw() {
        for scale in [0.5, 1.0, 1.4] {
            let x = speechlike(400_000, scale);
            assert_eq!(clipped([x.as_slice()]), None, "scale {scale}");
            let q: Vec<f32> = x.iter().map(|s| mulaw(*s)).collect();
            assert_eq!(clipped([q.as_slice()]), None, "μ-law, scale {scale}");
        }
    }

    #[test]
    fn clipping_is_found_at_full_scale_and_below_it() {
        let loud = speechlike(400_000, 6.0);
        let full = clipped([loud.as_slice()]).expect("clipped at full scale");
        assert!(full.level_dbfs > -0.1 && full.share > 0.01, "{full:?}");
        // The same clipped signal turned down 10 dB: no sample near ±1, still clipped.
        let quiet: Vec<f32> = loud.iter().map(|s| s * 0.316).collect();
        let low = clipped([&quiet[..200_000], &quiet[200_000..]]).expect("clipped, then turned down");
        assert!((low.level_dbfs + 10.0).abs() < 0.2, "{low:?}");
    }

    #[test]
    fn silence_and_a_few_samples_say_nothing() {
        assert_eq!(clipped([[0.0f32; 100].as_slice()]), None);
        assert_eq!(clipped([[1.0f32, -1.0, 1.0].as_slice()]), None);
    }
}
