//! People (`People`): a named person's record and each person's consent.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | named person | `PERSON#{id}` | `PROFILE` |
//! | a person's consent (granted or revoked) | `PERSON#{id or e164}` | `CONSENT` |
//!
//! Access patterns: both by get on the person's partition, beside their active model
//! (`PERSON#…` / `ACTIVE`, in `models.rs`). A person is created with `attribute_not_exists`,
//! so two operators creating the same id get one record and one 409.

use echome_core::library::Person;
use echome_core::people::{ConsentRecord, People, PersonRecord};

use super::*;

fn person_pk(p: &Person) -> String {
    format!("PERSON#{}", p.as_key())
}

fn json_item<T: serde::Serialize>(pk: String, sk: &str, v: &T, what: &str) -> Result<Item, StorageError> {
    let body = serde_json::to_string(v).map_err(|e| StorageError::Failed(format!("encoding {what}: {e}")))?;
    Ok(HashMap::from([("pk".into(), s(pk)), ("sk".into(), s(sk)), ("record".into(), s(body))]))
}

fn from_item<T: serde::de::DeserializeOwned>(item: &Item, what: &str) -> Result<T, StorageError> {
    serde_json::from_str(Read(item).str("record")?)
        .map_err(|e| StorageError::Failed(format!("a broken {what}: {e}")))
}

impl People for DynamoRecords {
    async fn create_person(&self, rec: &PersonRecord) -> Result<bool, StorageError> {
        let item = json_item(person_pk(&rec.id), "PROFILE", rec, "a person")?;
        self.put_if(item, "attribute_not_exists(pk)", vec![]).await
    }

    async fn person(&self, id: &Person) -> Result<Option<PersonRecord>, StorageError> {
        self.get(person_pk(id), "PROFILE").await?.map(|i| from_item(&i, "person")).transpose()
    }

    async fn consent(&self, id: &Person) -> Result<Option<ConsentRecord>, StorageError> {
        self.get(person_pk(id), "CONSENT").await?.map(|i| from_item(&i, "consent record")).transpose()
    }

    async fn save_consent(&self, rec: &ConsentRecord) -> Result<(), StorageError> {
        self.put(json_item(person_pk(&rec.person), "CONSENT", rec, "a consent record")?, "consent").await
    }
}
