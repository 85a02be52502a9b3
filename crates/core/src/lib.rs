//! echome's domain: validated ids, the clone run's step inputs and outputs, errors and the ports
//! (traits) that the AWS and local adapters implement. Nothing here does I/O but through the
//! ports; metrics leave through `metrics::MetricsSink`.

pub mod archive;
pub mod auth;
pub mod blob;
pub mod call_log;
pub mod calls;
pub mod duration;
pub mod env;
pub mod error;
pub mod ids;
pub mod library;
pub mod limits;
pub mod metrics;
pub mod people;
pub mod ports;
pub mod prosody;
pub mod quality;
pub mod reclone;
pub mod recordings;
pub mod records;
pub mod redact;
pub mod signing;
pub mod speaker_accept;
pub mod speech;
pub mod steps;
pub mod threecx;
pub mod url_samples;
pub mod voiceprint;

pub use archive::BlobArchive;
pub use blob::BlobRef;
pub use calls::{CallEventKind, CallEventRecord, CallPath, CallRecord, CallStatus, HandOver};
pub use error::{AudioError, ErrorType, StepError, StorageError};
pub use ids::{CallId, CallerId, ConversationId, IdError, Person, RunId, VoiceId};
pub use library::{ModelPage, VoiceLibrary};
pub use people::{ConsentPolicy, People};
pub use ports::{
    AgentCallRequest, AgentCallStarted, AgentCalls, BlobStore, CallClaim, CallLog, CallPage, CloneCache,
    Delivery, EngineVoice, ReferenceVoices, RunLog, RunStart, RunStarter, SampleLog, VoiceEngine,
    WebhookArchive,
};
pub use quality::{PackFigures, QualityScore};
pub use records::{
    CloneLogRecord, CloneRecord, CloneStatus, RunOutcome, RunRecord, RunStatus, SampleRecord, SampleWrite,
};
pub use speech::SpeechFormat;
pub use steps::{
    CallContext, CloneInput, CloneOutput, CloneRunInput, ExtractInput, ExtractOutput, ScoreInput,
    SegmentAnswer, SegmentInput, SegmentOutput, SourceInfo, SynthesizeInput, SynthesizeOutput,
    TransitionInput, TransitionOutput,
};
pub use voiceprint::{MatchThreshold, PackSpeaker, ReferenceVoice, SpeakerCheck, Voiceprint};
