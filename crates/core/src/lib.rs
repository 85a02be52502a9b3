//! echome's domain: validated ids, the clone run's step inputs and outputs, errors and the ports
//! (traits) that the AWS and local adapters implement. Nothing here does I/O but through the
//! ports (and the metric lines `calls::record_event` writes to stdout in Lambda).

pub mod archive;
pub mod calls;
pub mod env;
pub mod error;
pub mod ids;
pub mod metrics;
pub mod ports;
pub mod records;
pub mod redact;
pub mod signing;
pub mod steps;
pub mod threecx;

pub use archive::{BlobArchive, Delivery};
pub use calls::{CallEventKind, CallEventRecord, CallPath, CallRecord, CallStatus, HandOver};
pub use error::{AudioError, ErrorType, StepError, StorageError};
pub use ids::{CallId, CallerId, IdError, RunId, VoiceId};
pub use ports::{
    AgentCallRequest, AgentCallStarted, AgentCalls, BlobStore, CallClaim, CallLog, CallPage, CloneCache,
    EngineVoice, RunLog, RunStart, RunStarter, SampleLog, SpeechFormat, VoiceEngine, WebhookArchive,
};
pub use records::{
    CloneLogRecord, CloneRecord, CloneStatus, RunOutcome, RunRecord, RunStatus, SampleRecord, SampleWrite,
};
pub use steps::{
    BlobRef, CallContext, CloneInput, CloneOutput, CloneRunInput, ExtractInput, ExtractOutput, SegmentInput,
    SegmentOutput, SourceInfo, SynthesizeInput, SynthesizeOutput, TransitionInput, TransitionOutput,
};
