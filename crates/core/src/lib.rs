//! echome's domain: validated ids, the clone run's step inputs and outputs, errors and the ports
//! (traits) that the AWS and local adapters implement. Nothing here does I/O.

pub mod env;
pub mod error;
pub mod ids;
pub mod ports;
pub mod records;
pub mod redact;
pub mod signing;
pub mod steps;
pub mod threecx;

pub use error::{AudioError, ErrorType, StepError, StorageError};
pub use ids::{CallId, CallerId, IdError, RunId, VoiceId};
pub use ports::{
    BlobStore, CallLog, CloneCache, EngineVoice, RunLog, RunStart, RunStarter, SampleLog, SpeechFormat,
    VoiceEngine,
};
pub use records::{
    CallRecord, CallStatus, CloneLogRecord, CloneRecord, CloneStatus, RunOutcome, RunRecord, RunStatus,
    SampleRecord, SampleWrite,
};
pub use steps::{
    BlobRef, CloneInput, CloneOutput, CloneRunInput, ExtractInput, ExtractOutput, SegmentInput,
    SegmentOutput, SourceInfo, SynthesizeInput, SynthesizeOutput,
};
