//! Where the weights are: `ECHOME_VOICEPRINT_WEIGHTS` when set (then they must load; `off`
//! runs without, to compare with the cepstral selection), else
//! the Lambda layer's `/opt/voiceprint/ge2e.safetensors`, else a `.tools/voiceprint/` that
//! `make tools` filled in a folder above the running program (a checkout's `target/`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Encoder, WeightsError};

pub const ENV: &str = "ECHOME_VOICEPRINT_WEIGHTS";
pub const LAYER_PATH: &str = "/opt/voiceprint/ge2e.safetensors";
const FILE: &str = ".tools/voiceprint/ge2e.safetensors";

fn found() -> Option<PathBuf> {
    if Path::new(LAYER_PATH).is_file() {
        return Some(LAYER_PATH.into());
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors().skip(1).map(|dir| dir.join(FILE)).find(|p| p.is_file())
}

/// The encoder, or `None` when no weights are installed (the selection then falls back to
/// cepstral prints and says so). A configured path that does not load is an error.
pub fn default_encoder() -> Result<Option<Arc<Encoder>>, WeightsError> {
    let path = match std::env::var_os(ENV) {
        Some(p) if p == "off" => return Ok(None),
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => match found() {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    Encoder::load(&path).map(|e| Some(Arc::new(e)))
}
