//! From a recording to a clone-ready sample pack, without AWS.

pub mod analysis;
pub mod chunk;
pub mod classify;
pub mod clipping;
pub mod denoise;
pub mod features;
pub mod ffmpeg;
pub mod loudness;
pub mod mp3;
pub mod phrase;
pub mod pipeline;
pub mod prepare;
pub mod prosody;
pub mod report;
pub mod select;
pub mod speaker;
pub mod timeline;
pub mod vad;
pub mod voiceprints;
pub mod wav;

pub use pipeline::PrepareConfig;
pub use prepare::prepare_file;
pub use report::Report;
