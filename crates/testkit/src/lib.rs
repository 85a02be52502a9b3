//! Test recordings with known ground truth, for tests and the benchmark. Speech comes from
//! espeak-ng (a main speaker and a second one), music and noise are synthesized here, and
//! every stretch is labelled so that a selection can be scored.

pub mod conversation;
pub mod elevenlabs;
pub mod events;
pub mod fixtures;
pub mod iam;
pub mod moto;
pub mod music;
pub mod playback;
pub mod rng;
pub mod scene;
pub mod serve;
pub mod speech;
pub mod starts;

pub use rng::Rng;
pub use scene::{Label, Scene, SceneKind, Truth, generate};
pub use speech::Voice;

/// Every generated recording is at espeak-ng's own rate.
pub const RATE: u32 = 22_050;
