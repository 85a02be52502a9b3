//! The LSTM stack and the projection, over a batch of partial utterances at once: each layer's
//! input projection is one matrix product over every frame of the batch, and each step's
//! recurrent product is one over the batch, so the work is matrix–matrix, not vector by vector.

use crate::weights::{EMBEDDING, GATES, HIDDEN, Layer, Weights};

/// Steps whose input projection is made in one product.
const STEP_BLOCK: usize = 16;

/// `c += a · bᵀ` for row-major `a` (m × k), `b` (n × k) and `c` (m × n).
pub(crate) fn gemm_abt(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    debug_assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    // SAFETY: the slices hold the m×k, n×k and m×n elements the strides describe (checked
    // above in debug builds and by every caller's construction).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            1,
            k as isize,
            1.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `e^x` to about 3e-7 relative error, in plain arithmetic the compiler vectorises: `2^n · e^r`
/// with `r = x − n ln 2` in [−0.35, 0.35] (ln 2 split in two so `r` stays exact) and a degree-6
/// polynomial for `e^r`. libm's `exp` per element was a fifth of the encoder's time.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    // Rounded to the nearest integer by adding and taking away 1.5 · 2^23 (exact for |v| < 2^22):
    // `f32::round` is a libm call without SSE4.1, and a call in the loop stops it vectorising.
    const ROUND: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    f32::from_bits(((n as i32 + 127) as u32) << 23) * p
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// One step of one row (inlined into the callers' target features): `g` holds the four gates' pre-activations (input, forget, cell,
/// output), `h` and `c` the row's state.
#[inline(always)]
fn cell_step(g: &mut [f32], h: &mut [f32], c: &mut [f32]) {
    let (ifg, o) = g.split_at_mut(3 * HIDDEN);
    let (i_f, cell) = ifg.split_at_mut(2 * HIDDEN);
    i_f.iter_mut().for_each(|v| *v = sigmoid(*v));
    o.iter_mut().for_each(|v| *v = sigmoid(*v));
    cell.iter_mut().for_each(|v| *v = tanh(*v));
    let (i, f) = i_f.split_at(HIDDEN);
    for j in 0..HIDDEN {
        c[j] = f[j] * c[j] + i[j] * cell[j];
    }
    for j in 0..HIDDEN {
        h[j] = o[j] * tanh(c[j]);
    }
}

/// One step of every row: the recurrent product, then the gates. On x86-64 with AVX2 and FMA
/// (chosen at run time) both are compiled for them, so the product runs the packed kernel and
/// the gates' `exp` eight lanes at a time; without them the general product is used. On aarch64
/// (NEON and FMA are part of every CPU, Graviton included) the packed kernel always runs.
fn step(layer: &Layer, batch: usize, g: &mut [f32], h: &mut [f32], c: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is compiled for (checked above).
            unsafe { step_avx2(layer, batch, g, h, c) };
        } else {
            gemm_abt(batch, HIDDEN, GATES, h, &layer.w_hh, g);
            cells(g, h, c);
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        crate::recurrent::kernel(batch, h, &layer.w_hh_packed, g);
        cells(g, h, c);
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        gemm_abt(batch, HIDDEN, GATES, h, &layer.w_hh, g);
        cells(g, h, c);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn step_avx2(layer: &Layer, batch: usize, g: &mut [f32], h: &mut [f32], c: &mut [f32]) {
    crate::recurrent::kernel(batch, h, &layer.w_hh_packed, g);
    cells(g, h, c);
}

#[inline(always)]
fn cells(g: &mut [f32], h: &mut [f32], c: &mut [f32]) {
    for ((g, hb), cb) in
        g.chunks_exact_mut(GATES).zip(h.chunks_exact_mut(HIDDEN)).zip(c.chunks_exact_mut(HIDDEN))
    {
        cell_step(g, hb, cb);
    }
}

/// The embedding of each partial: `frames` holds `batch` partials of `steps` frames of
/// `N_MELS` bands, time-major (`frames[(t * batch + b) * N_MELS ..]`). Returns `batch`
/// L2-normalised vectors (after the ReLU), in order.
pub fn forward(w: &Weights, frames: &[f32], steps: usize, batch: usize) -> Vec<[f32; EMBEDDING]> {
    let mut input = frames.to_vec();
    // The input projection is made a block of steps at a time: the gates of every step at once
    // would take 160 · batch · 4 KB.
    let block = STEP_BLOCK.min(steps);
    let mut gates = vec![0f32; block * batch * GATES];
    let mut h = vec![0f32; batch * HIDDEN];
    let mut c = vec![0f32; batch * HIDDEN];
    let mut output = vec![0f32; steps * batch * HIDDEN];
    for layer in &w.layers {
        h.fill(0.0);
        c.fill(0.0);
        for t0 in (0..steps).step_by(block) {
            let n = block.min(steps - t0);
            let gates = &mut gates[..n * batch * GATES];
            for row in gates.chunks_exact_mut(GATES) {
                row.copy_from_slice(&layer.bias);
            }
            let x = &input[t0 * batch * layer.input..(t0 + n) * batch * layer.input];
            gemm_abt(n * batch, layer.input, GATES, x, &layer.w_ih, gates);
            for k in 0..n {
                let g = &mut gates[k * batch * GATES..(k + 1) * batch * GATES];
                step(layer, batch, g, &mut h, &mut c);
                let t = t0 + k;
                output[t * batch * HIDDEN..(t + 1) * batch * HIDDEN].copy_from_slice(&h);
            }
        }
        std::mem::swap(&mut input, &mut output);
        output.resize(steps * batch * HIDDEN, 0.0);
    }
    // The last layer's final hidden state → linear → ReLU → L2 norm.
    let mut out = Vec::with_capacity(batch);
    for b in 0..batch {
        let hb = &h[b * HIDDEN..(b + 1) * HIDDEN];
        let mut e = [0f32; EMBEDDING];
        for (i, v) in e.iter_mut().enumerate() {
            let row = &w.linear[i * HIDDEN..(i + 1) * HIDDEN];
            *v = (row.iter().zip(hb).map(|(a, b)| a * b).sum::<f32>() + w.linear_bias[i]).max(0.0);
        }
        let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            e.iter_mut().for_each(|v| *v /= norm);
        }
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_exp_tanh_and_sigmoid_are_as_good_as_libm_s() {
        for k in -2000..=2000 {
            let x = k as f32 / 100.0;
            assert!((exp(x) - x.exp()).abs() <= 5e-7 * x.exp(), "exp({x})");
            assert!((tanh(x) - x.tanh()).abs() < 1e-6, "tanh({x})");
            assert!((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6, "sigmoid({x})");
        }
        assert_eq!(exp(-200.0), exp(-87.0));
        assert!(tanh(100.0) == 1.0 && tanh(-100.0) == -1.0 && sigmoid(-100.0) >= 0.0);
    }

    #[test]
    fn the_product_is_a_times_b_transposed_added_to_c() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]; // 2×3
        let mut c = [10.0, 0.0, 0.0, 0.0];
        gemm_abt(2, 3, 2, &a, &b, &mut c);
        assert_eq!(c, [14.0, 2.0, 10.0, 5.0]);
    }
}
