//! Speaker embeddings ("voiceprints") on CPU: the GE2E encoder that Resemblyzer 0.1.4 ships
//! (a 3-layer LSTM of 256 units over 40 mel bands at 16 kHz, a linear layer to 256, ReLU, L2
//! norm), with Resemblyzer's own frontend and partial-utterance averaging, so its embeddings
//! match the reference package's. The weights are converted once by layers/voiceprint/ge2e_weights.py.

pub mod encoder;
pub mod locate;
pub mod lstm;
pub mod mel;
pub mod recurrent;
pub mod weights;

pub use encoder::{Embedding, Encoder, SAMPLE_RATE};
pub use locate::default_encoder;

/// Names the model a voiceprint came from: prints of different models are not comparable.
pub const MODEL: &str = "ge2e-resemblyzer-0.1.4";
pub use weights::{Weights, WeightsError};
