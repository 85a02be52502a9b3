//! The ports for one machine: blobs on the filesystem (and, as the skeleton grows, records in an
//! embedded database and an in-process runner of the clone run).

pub mod asl;
pub mod blobs;
pub mod limits;
pub mod offline_voice;
pub mod records;
pub mod runner;
mod writer;

pub use blobs::FsBlobStore;
pub use limits::InProcessLimiter;
pub use offline_voice::OfflineEngine;
pub use records::LocalRecords;
pub use runner::{Background, CloneRunSteps, RunEvent, RunResult, Runner};
