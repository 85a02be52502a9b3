//! The recurrent product of every LSTM step, `gates += h · W_hhᵀ`, against `W_hh` packed once
//! when the weights load. A general matrix product packs both operands on every call: at 160
//! steps a partial and three layers, re-packing the same 1 MB of weights was a third of the
//! encoder's time. Here `W_hh` is laid out in panels of [`NR`] gate rows, k-major inside a panel
//! (16 KB, which stays in L1 while every row of `h` passes it), and a 4 × 16 block of the result
//! is kept in registers over the 256 products. The kernel is plain Rust that the compiler
//! vectorises for whatever the caller is compiled for (see `lstm::step`).

use crate::weights::{GATES, HIDDEN};

/// Gate rows per panel.
pub const NR: usize = 16;
/// Rows of `h` per block.
const MR: usize = 4;

/// `W_hh` (`GATES × HIDDEN`, row-major) in panels: `packed[(p · HIDDEN + k) · NR + j]` is
/// `w_hh[(p · NR + j) · HIDDEN + k]`.
pub fn pack(w_hh: &[f32]) -> Vec<f32> {
    debug_assert_eq!(w_hh.len(), GATES * HIDDEN);
    let mut packed = vec![0f32; GATES * HIDDEN];
    for p in 0..GATES / NR {
        for k in 0..HIDDEN {
            for j in 0..NR {
                packed[(p * HIDDEN + k) * NR + j] = w_hh[(p * NR + j) * HIDDEN + k];
            }
        }
    }
    packed
}

/// `gates[b] += W_hh · h[b]` for each of the `batch` rows (`h`: `batch × HIDDEN`, `gates`:
/// `batch × GATES`), against `W_hh` as [`pack`] lays it out. Inlined into the caller, which
/// chooses the target features it is compiled for (`lstm::step`).
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))]
#[inline(always)]
pub(crate) fn kernel(batch: usize, h: &[f32], packed: &[f32], gates: &mut [f32]) {
    assert!(h.len() >= batch * HIDDEN && gates.len() >= batch * GATES && packed.len() == GATES * HIDDEN);
    for (p, panel) in packed.chunks_exact(HIDDEN * NR).enumerate() {
        let mut b0 = 0;
        while b0 + MR <= batch {
            block::<MR>(b0, p, h, panel, gates);
            b0 += MR;
        }
        while b0 < batch {
            block::<1>(b0, p, h, panel, gates);
            b0 += 1;
        }
    }
}

/// Rows `b0 .. b0 + R` of `gates`, columns of panel `p`.
#[inline(always)]
fn block<const R: usize>(b0: usize, p: usize, h: &[f32], panel: &[f32], gates: &mut [f32]) {
    let mut acc = [[0f32; NR]; R];
    let rows: [&[f32]; R] = std::array::from_fn(|r| &h[(b0 + r) * HIDDEN..(b0 + r + 1) * HIDDEN]);
    for (k, w) in panel.chunks_exact(NR).enumerate() {
        for r in 0..R {
            let x = rows[r][k];
            for j in 0..NR {
                acc[r][j] = x.mul_add(w[j], acc[r][j]);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let out = &mut gates[(b0 + r) * GATES + p * NR..(b0 + r) * GATES + (p + 1) * NR];
        out.iter_mut().zip(acc).for_each(|(g, a)| *g += a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packed_product_is_the_plain_one() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let w: Vec<f32> = (0..GATES * HIDDEN).map(|_| next()).collect();
        let packed = pack(&w);
        for batch in [1, 3, 4, 9] {
            let h: Vec<f32> = (0..batch * HIDDEN).map(|_| next()).collect();
            let start: Vec<f32> = (0..batch * GATES).map(|_| next()).collect();
            let mut fast = start.clone();
            kernel(batch, &h, &packed, &mut fast);
            for b in 0..batch {
                for n in 0..GATES {
                    let plain: f64 = (0..HIDDEN)
                        .map(|k| f64::from(h[b * HIDDEN + k]) * f64::from(w[n * HIDDEN + k]))
                        .sum::<f64>()
                        + f64::from(start[b * GATES + n]);
                    let got = f64::from(fast[b * GATES + n]);
                    assert!((got - plain).abs() < 1e-4, "batch {batch} row {b} gate {n}: {got} vs {plain}");
                }
            }
        }
    }
}
