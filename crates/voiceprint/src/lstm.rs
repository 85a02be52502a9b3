//! The LSTM stack and the projection, over a batch of partial utterances at once: each layer's
//! input projection is one matrix product over every frame of the batch, and each step's
//! recurrent product is one over the batch, so the work is matrix–matrix, not vector by vector.

use crate::weights::{EMBEDDING, GATES, HIDDEN, Weights};

/// `c += a · bᵀ` for row-major `a` (m × k), `b` (n × k) and `c` (m × n).
fn gemm_abt(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
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

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The embedding of each partial: `frames` holds `batch` partials of `steps` frames of
/// `N_MELS` bands, time-major (`frames[(t * batch + b) * N_MELS ..]`). Returns `batch`
/// L2-normalised vectors (after the ReLU), in order.
pub fn forward(w: &Weights, frames: &[f32], steps: usize, batch: usize) -> Vec<[f32; EMBEDDING]> {
    let mut input = frames.to_vec();
    let mut gates = vec![0f32; steps * batch * GATES];
    let mut h = vec![0f32; batch * HIDDEN];
    let mut c = vec![0f32; batch * HIDDEN];
    for layer in &w.layers {
        for row in gates.chunks_exact_mut(GATES) {
            row.copy_from_slice(&layer.bias);
        }
        gemm_abt(steps * batch, layer.input, GATES, &input, &layer.w_ih, &mut gates);
        h.fill(0.0);
        c.fill(0.0);
        let mut output = vec![0f32; steps * batch * HIDDEN];
        for t in 0..steps {
            let g = &mut gates[t * batch * GATES..(t + 1) * batch * GATES];
            gemm_abt(batch, HIDDEN, GATES, &h, &layer.w_hh, g);
            for b in 0..batch {
                let g = &g[b * GATES..(b + 1) * GATES];
                let (hb, cb) = (&mut h[b * HIDDEN..(b + 1) * HIDDEN], &mut c[b * HIDDEN..(b + 1) * HIDDEN]);
                for j in 0..HIDDEN {
                    let i = sigmoid(g[j]);
                    let f = sigmoid(g[HIDDEN + j]);
                    let cell = g[2 * HIDDEN + j].tanh();
                    let o = sigmoid(g[3 * HIDDEN + j]);
                    cb[j] = f * cb[j] + i * cell;
                    hb[j] = o * cb[j].tanh();
                }
            }
            output[t * batch * HIDDEN..(t + 1) * batch * HIDDEN].copy_from_slice(&h);
        }
        input = output;
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
    fn the_product_is_a_times_b_transposed_added_to_c() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]; // 2×3
        let mut c = [10.0, 0.0, 0.0, 0.0];
        gemm_abt(2, 3, 2, &a, &b, &mut c);
        assert_eq!(c, [14.0, 2.0, 10.0, 5.0]);
    }
}
