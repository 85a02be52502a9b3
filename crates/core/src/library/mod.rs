//! The voice library: voice models as records with owners, one active model per person,
//! the rules that choose it, who may do what, and the audit trail. Storage is the
//! [`VoiceLibrary`] port; the operations in `ops` are what the API, the CLI and the
//! call flow call.

pub mod access;
pub mod audit;
pub mod model;
pub mod ops;
pub mod port;
pub mod rules;
pub mod settings;

pub use access::{Act, Verdict};
pub use audit::{AuditAction, AuditEvent};
pub use model::{
    ActiveVoice, ModelError, ModelId, ModelSource, ModelStatus, Person, SYSTEM_OWNER, Share, SharePermission,
    Usage, VoiceModel,
};
pub use ops::{Actor, CleanedUp, LibraryError};
pub use port::{ModelPage, VoiceLibrary};
pub use rules::{CleanupReason, CleanupRules, DEFAULT_REPLACE_ABOVE};
pub use settings::LibrarySettings;
