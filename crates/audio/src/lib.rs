//! From a recording to a clone-ready sample pack, without AWS.

pub mod analysis;
pub mod chunk;
pub mod classify;
pub mod features;
pub mod select;
pub mod vad;
pub mod wav;
