//! From a recording to a clone-ready sample pack, without AWS.

pub mod features;
pub mod wav;
