//! A named person's record: who they are, for the people who look after their voice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::library::Person;
use crate::library::model::printable;

/// A display name, at most this many characters ("Anna Berg").
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonError {
    #[error("display_name must be 1 to {MAX_DISPLAY_NAME_CHARS} characters without control characters")]
    DisplayName,
    #[error("kind must be employee, presenter or other, not {0:?}")]
    Kind(String),
    #[error(
        "a caller is known by their number and needs no record; people created by hand have an id such as emp-42"
    )]
    CallerRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonKind {
    Employee,
    Presenter,
    Other,
}

impl PersonKind {
    pub fn parse(raw: &str) -> Result<Self, PersonError> {
        match raw {
            "employee" => Ok(Self::Employee),
            "presenter" => Ok(Self::Presenter),
            "other" => Ok(Self::Other),
            other => Err(PersonError::Kind(other.chars().take(40).collect())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::Presenter => "presenter",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonRecord {
    pub id: Person,
    pub display_name: String,
    pub kind: PersonKind,
    /// The user who created the record.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl PersonRecord {
    /// A named person (never a caller: their number is their record).
    pub fn new(
        id: Person,
        display_name: &str,
        kind: PersonKind,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<Self, PersonError> {
        if id.caller().is_some() {
            return Err(PersonError::CallerRecord);
        }
        let display_name = printable(display_name, MAX_DISPLAY_NAME_CHARS).ok_or(PersonError::DisplayName)?;
        Ok(Self { id, display_name, kind, created_by: created_by.to_owned(), created_at: at })
    }
}

/// The voice's name at the provider, as its voice list shows it: a named person's display
/// name ("Anna Berg (echome)"), or a caller's number redacted (a number is never sent whole).
pub fn voice_name(person: &Person, record: Option<&PersonRecord>) -> String {
    match (person, record) {
        (Person::Caller(c), _) => format!("echome {}", c.redacted()),
        (Person::Named(_), Some(r)) => format!("{} (echome)", r.display_name),
        (Person::Named(id), None) => format!("{id} (echome)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voices_are_named_after_their_person() {
        let anna = Person::parse("emp-42").unwrap();
        let rec =
            PersonRecord::new(anna.clone(), "Anna Berg", PersonKind::Employee, "alice", Utc::now()).unwrap();
        assert_eq!(voice_name(&anna, Some(&rec)), "Anna Berg (echome)");
        assert_eq!(voice_name(&anna, None), "emp-42 (echome)");
        let caller = Person::parse("+14155550123").unwrap();
        let name = voice_name(&caller, None);
        assert!(name.starts_with("echome +1") && !name.contains("4155550"), "{name}");
    }

    #[test]
    fn a_named_person_needs_a_printable_name_and_is_never_a_caller() {
        let at = Utc::now();
        let emp = Person::parse("emp-42").unwrap();
        let rec = PersonRecord::new(emp.clone(), "  Anna Berg ", PersonKind::Employee, "ops", at).unwrap();
        assert_eq!(rec.display_name, "Anna Berg");
        for bad in ["", "   ", "a\u{7}b", &"x".repeat(101)] {
            assert_eq!(
                PersonRecord::new(emp.clone(), bad, PersonKind::Other, "ops", at),
                Err(PersonError::DisplayName),
                "{bad:?}"
            );
        }
        let caller = Person::parse("+14155550123").unwrap();
        assert_eq!(
            PersonRecord::new(caller, "A", PersonKind::Other, "ops", at),
            Err(PersonError::CallerRecord)
        );
        assert_eq!(PersonKind::parse("robot"), Err(PersonError::Kind("robot".into())));
    }
}
