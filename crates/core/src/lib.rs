//! echome's domain: validated ids, the clone run's step inputs and outputs, errors and the ports
//! (traits) that the AWS and local adapters implement. Nothing here does I/O.

pub mod error;
pub mod ids;
pub mod ports;
pub mod steps;

pub use error::{AudioError, ErrorType, StepError, StorageError};
pub use ids::{CallerId, IdError, RunId};
pub use ports::BlobStore;
pub use steps::{BlobRef, ExtractInput, ExtractOutput, SegmentInput, SegmentOutput, SourceInfo};
