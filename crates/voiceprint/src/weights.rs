//! The encoder's weights from a safetensors file (layers/voiceprint/ge2e_weights.py writes it from the
//! Resemblyzer wheel): an 8-byte header length, a JSON header naming each tensor's dtype, shape
//! and byte range, then the raw little-endian data.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

pub const HIDDEN: usize = 256;
pub const GATES: usize = 4 * HIDDEN;
pub const EMBEDDING: usize = 256;
pub const LAYERS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("reading the encoder weights {path}: {detail}")]
    Io { path: String, detail: String },
    #[error("the encoder weights {path} are malformed: {detail}")]
    Malformed { path: String, detail: String },
}

/// One LSTM layer, as PyTorch keeps it: gates in the order input, forget, cell, output.
#[derive(Debug, Clone)]
pub struct Layer {
    /// `GATES × input` and `GATES × HIDDEN`, row-major.
    pub w_ih: Vec<f32>,
    pub w_hh: Vec<f32>,
    /// `w_hh` packed for the recurrent product (`recurrent::pack`), once.
    pub w_hh_packed: Vec<f32>,
    /// `b_ih + b_hh`: they are only ever added together.
    pub bias: Vec<f32>,
    pub input: usize,
}

#[derive(Debug, Clone)]
pub struct Weights {
    pub layers: Vec<Layer>,
    /// `EMBEDDING × HIDDEN`, row-major.
    pub linear: Vec<f32>,
    pub linear_bias: Vec<f32>,
}

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

impl Weights {
    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| WeightsError::Io { path: shown.clone(), detail: e.to_string() })?;
        Self::parse(&bytes).map_err(|detail| WeightsError::Malformed { path: shown, detail })
    }

    fn parse(bytes: &[u8]) -> Result<Self, String> {
        let len = bytes.get(..8).ok_or("shorter than its header")?;
        let len = u64::from_le_bytes(len.try_into().map_err(|_| "no header length")?) as usize;
        let header = bytes.get(8..8 + len).ok_or("the header runs past the end")?;
        let data = &bytes[8 + len..];
        let mut entries: HashMap<String, serde_json::Value> =
            serde_json::from_slice(header).map_err(|e| format!("header: {e}"))?;
        entries.remove("__metadata__");
        let tensor = |name: &str, shape: &[usize]| -> Result<Vec<f32>, String> {
            let v = entries.get(name).ok_or_else(|| format!("no tensor {name}"))?;
            let e: Entry = serde_json::from_value(v.clone()).map_err(|e| format!("{name}: {e}"))?;
            if e.dtype != "F32" || e.shape != shape {
                return Err(format!("{name} is {} {:?}, expected F32 {shape:?}", e.dtype, e.shape));
            }
            let [from, to] = e.data_offsets;
            let raw = data.get(from..to).filter(|r| r.len() == shape.iter().product::<usize>() * 4);
            let raw = raw.ok_or_else(|| format!("{name}: bad data range {from}..{to}"))?;
            Ok(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        };
        let mut layers = Vec::with_capacity(LAYERS);
        for l in 0..LAYERS {
            let input = if l == 0 { crate::mel::N_MELS } else { HIDDEN };
            let b_ih = tensor(&format!("lstm.bias_ih_l{l}"), &[GATES])?;
            let b_hh = tensor(&format!("lstm.bias_hh_l{l}"), &[GATES])?;
            let w_hh = tensor(&format!("lstm.weight_hh_l{l}"), &[GATES, HIDDEN])?;
            layers.push(Layer {
                w_ih: tensor(&format!("lstm.weight_ih_l{l}"), &[GATES, input])?,
                w_hh_packed: crate::recurrent::pack(&w_hh),
                w_hh,
                bias: b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect(),
                input,
            });
        }
        Ok(Self {
            layers,
            linear: tensor("linear.weight", &[EMBEDDING, HIDDEN])?,
            linear_bias: tensor("linear.bias", &[EMBEDDING])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_or_foreign_file_is_malformed_not_a_panic() {
        for bytes in
            [&b""[..], &b"\x10\x00\x00\x00\x00\x00\x00\x00{}"[..], &b"\x02\x00\x00\x00\x00\x00\x00\x00{}"[..]]
        {
            assert!(Weights::parse(bytes).is_err());
        }
    }
}
