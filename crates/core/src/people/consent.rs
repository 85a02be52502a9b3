//! Consent: who agreed to their voice being cloned or spoken with, how, when, with what
//! evidence, and whether they took it back. The deployment's [`ConsentPolicy`] decides whether
//! a clone or a speech request needs it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorType, StepError};
use crate::library::Person;
use crate::library::model::printable;

/// Evidence and a giver's name, at most this many characters.
pub const MAX_EVIDENCE_CHARS: usize = 1024;
pub const MAX_GIVER_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    #[error("method must be ivr, recorded_verbal, written or api, not {0:?}")]
    Method(String),
    #[error("scope must be clone or speech (or both), not {0:?}")]
    Scope(String),
    #[error("consent needs at least one scope: clone, speech")]
    NoScope,
    #[error(
        "given_by must name who gave the consent: 1 to {MAX_GIVER_CHARS} characters without control characters"
    )]
    Giver,
    #[error(
        "evidence must be a key to the recording or document: 1 to {MAX_EVIDENCE_CHARS} characters without control characters"
    )]
    Evidence,
    #[error("CONSENT_POLICY must be required or not_required, not {0:?}")]
    Policy(String),
}

/// How the consent was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    /// Keyed in on the phone system's menu.
    Ivr,
    /// Said aloud on a recorded call.
    RecordedVerbal,
    /// A signed form.
    Written,
    /// Given through another system, which called this API.
    Api,
}

impl ConsentMethod {
    pub fn parse(raw: &str) -> Result<Self, ConsentError> {
        match raw {
            "ivr" => Ok(Self::Ivr),
            "recorded_verbal" => Ok(Self::RecordedVerbal),
            "written" => Ok(Self::Written),
            "api" => Ok(Self::Api),
            other => Err(ConsentError::Method(other.chars().take(40).collect())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ivr => "ivr",
            Self::RecordedVerbal => "recorded_verbal",
            Self::Written => "written",
            Self::Api => "api",
        }
    }
}

/// What the consent covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// Making a voice of them.
    Clone,
    /// Speaking text in that voice.
    Speech,
}

impl ConsentScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clone => "clone",
            Self::Speech => "speech",
        }
    }

    /// `clone,speech`; an empty list is refused (consent to nothing is not consent).
    pub fn parse_list<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<BTreeSet<Self>, ConsentError> {
        let mut out = BTreeSet::new();
        for part in raw.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
            out.insert(match part {
                "clone" => Self::Clone,
                "speech" => Self::Speech,
                other => return Err(ConsentError::Scope(other.chars().take(40).collect())),
            });
        }
        if out.is_empty() { Err(ConsentError::NoScope) } else { Ok(out) }
    }
}

/// Where the proof is: a key to the recording or the scanned form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Evidence(String);

impl Evidence {
    pub fn parse(raw: &str) -> Result<Self, ConsentError> {
        printable(raw, MAX_EVIDENCE_CHARS).map(Self).ok_or(ConsentError::Evidence)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Evidence {
    type Error = ConsentError;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        Self::parse(&v)
    }
}

impl From<Evidence> for String {
    fn from(e: Evidence) -> Self {
        e.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub person: Person,
    /// Who gave it: the person, or whoever may speak for them.
    pub given_by: String,
    pub method: ConsentMethod,
    pub scopes: BTreeSet<ConsentScope>,
    pub evidence: Option<Evidence>,
    pub granted_at: DateTime<Utc>,
    /// The user who recorded it.
    pub recorded_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

impl ConsentRecord {
    pub fn grant(
        person: Person,
        given_by: &str,
        method: ConsentMethod,
        scopes: BTreeSet<ConsentScope>,
        evidence: Option<Evidence>,
        recorded_by: &str,
        at: DateTime<Utc>,
    ) -> Result<Self, ConsentError> {
        if scopes.is_empty() {
            return Err(ConsentError::NoScope);
        }
        Ok(Self {
            person,
            given_by: printable(given_by, MAX_GIVER_CHARS).ok_or(ConsentError::Giver)?,
            method,
            scopes,
            evidence,
            granted_at: at,
            recorded_by: recorded_by.to_owned(),
            revoked_at: None,
            revoked_by: None,
        })
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Marks it revoked by `by` at `at`; `false` when it already was (nothing to save).
    pub fn revoke(&mut self, by: &str, at: DateTime<Utc>) -> bool {
        if self.is_revoked() {
            return false;
        }
        self.revoked_at = Some(at);
        self.revoked_by = Some(by.to_owned());
        true
    }
}

/// Why something needing consent may not go ahead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentMissing {
    #[error("{0} has not consented to their voice being {1}; record their consent first")]
    NotGiven(String, &'static str),
    #[error("{0} revoked their consent; their voice is not {1}")]
    Revoked(String, &'static str),
    #[error("{0}'s consent does not cover their voice being {1}; record consent with that scope")]
    OutOfScope(String, &'static str),
}

impl ConsentMissing {
    pub const CODE: &'static str = "consent_missing";
}

/// A clone run's step stops with it: no retry can help until someone records consent.
impl From<ConsentMissing> for StepError {
    fn from(e: ConsentMissing) -> Self {
        StepError::new(ErrorType::ConsentMissing, ConsentMissing::CODE, e.to_string())
    }
}

/// `CONSENT_POLICY`: whether a clone (and speech in a person's voice) needs their consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentPolicy {
    #[default]
    Required,
    NotRequired,
}

impl ConsentPolicy {
    /// `CONSENT_POLICY`, `required` when unset.
    pub fn from_env() -> Result<Self, String> {
        Self::parse(std::env::var("CONSENT_POLICY").ok().as_deref()).map_err(|e| e.to_string())
    }

    pub fn parse(raw: Option<&str>) -> Result<Self, ConsentError> {
        match raw.map(str::trim) {
            None | Some("required") => Ok(Self::Required),
            Some("not_required") => Ok(Self::NotRequired),
            Some(other) => Err(ConsentError::Policy(other.chars().take(40).collect())),
        }
    }

    /// Whether `person`, whose consent on record is `consent`, may have `scope` done.
    pub fn check(
        self,
        person: &Person,
        consent: Option<&ConsentRecord>,
        scope: ConsentScope,
    ) -> Result<(), ConsentMissing> {
        if self == Self::NotRequired {
            return Ok(());
        }
        let what = match scope {
            ConsentScope::Clone => "cloned",
            ConsentScope::Speech => "spoken with",
        };
        match consent {
            None => Err(ConsentMissing::NotGiven(person.to_string(), what)),
            Some(c) if c.is_revoked() => Err(ConsentMissing::Revoked(person.to_string(), what)),
            Some(c) if !c.scopes.contains(&scope) => {
                Err(ConsentMissing::OutOfScope(person.to_string(), what))
            }
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Person {
        Person::parse("+14155550123").unwrap()
    }

    fn granted(scopes: &[&str]) -> ConsentRecord {
        let scopes = ConsentScope::parse_list(scopes.iter().copied()).unwrap();
        ConsentRecord::grant(caller(), "the caller", ConsentMethod::Ivr, scopes, None, "ops", Utc::now())
            .unwrap()
    }

    #[test]
    fn required_consent_must_be_given_unrevoked_and_in_scope() {
        let p = ConsentPolicy::Required;
        let err = p.check(&caller(), None, ConsentScope::Clone).unwrap_err();
        assert!(matches!(err, ConsentMissing::NotGiven(..)));
        assert!(!err.to_string().contains("5550123"), "the number is redacted: {err}");
        assert!(p.check(&caller(), Some(&granted(&["clone"])), ConsentScope::Clone).is_ok());
        assert!(matches!(
            p.check(&caller(), Some(&granted(&["clone"])), ConsentScope::Speech),
            Err(ConsentMissing::OutOfScope(..))
        ));
        let mut revoked = granted(&["clone", "speech"]);
        revoked.revoked_at = Some(Utc::now());
        assert!(matches!(
            p.check(&caller(), Some(&revoked), ConsentScope::Clone),
            Err(ConsentMissing::Revoked(..))
        ));
        assert!(ConsentPolicy::NotRequired.check(&caller(), None, ConsentScope::Clone).is_ok());
        let step = StepError::from(err);
        assert_eq!((step.error_type, step.code.as_str()), (ErrorType::ConsentMissing, "consent_missing"));
    }

    #[test]
    fn the_policy_defaults_to_required_and_refuses_anything_else() {
        assert_eq!(ConsentPolicy::parse(None), Ok(ConsentPolicy::Required));
        assert_eq!(ConsentPolicy::parse(Some("not_required")), Ok(ConsentPolicy::NotRequired));
        assert_eq!(ConsentPolicy::parse(Some("off")), Err(ConsentError::Policy("off".into())));
    }

    #[test]
    fn a_grant_names_its_giver_and_some_scope() {
        assert_eq!(ConsentScope::parse_list([" ", ""]), Err(ConsentError::NoScope));
        assert_eq!(ConsentScope::parse_list(["clone", "voice"]), Err(ConsentError::Scope("voice".into())));
        let scopes = ConsentScope::parse_list(["clone"]).unwrap();
        let at = Utc::now();
        assert_eq!(
            ConsentRecord::grant(caller(), " ", ConsentMethod::Written, scopes, None, "ops", at),
            Err(ConsentError::Giver)
        );
        assert_eq!(Evidence::parse("a\nb"), Err(ConsentError::Evidence));
        assert_eq!(ConsentMethod::parse("email"), Err(ConsentError::Method("email".into())));
    }
}
