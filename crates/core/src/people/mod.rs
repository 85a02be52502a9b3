//! People whose voices echome keeps, and their consent to it. A caller (their number) needs no
//! record of their own; anyone else an operator names (an employee) is created with one. A
//! person's consent is recorded before any clone of them, under the deployment's
//! [`ConsentPolicy`]; revoking it takes their voices away (see [`revoke`]).

pub mod consent;
pub mod erase;
pub mod person;
pub mod port;
pub mod revoke;

pub use consent::{
    ConsentError, ConsentMethod, ConsentMissing, ConsentPolicy, ConsentRecord, ConsentScope, Evidence,
};
pub use erase::{ErasureKey, ErasureReceipt, ErasureStatus};
pub use person::{PersonError, PersonKind, PersonRecord, voice_name};
pub use port::{People, consent_verdict};
