//! People (`People`): a named person's record and each person's consent, both by person id.

use echome_core::library::Person;
use std::collections::BTreeMap;

use echome_core::people::{ConsentRecord, ErasureReceipt, People, PersonRecord};

use super::*;

impl People for LocalRecords {
    async fn create_person(&self, rec: &PersonRecord) -> Result<bool, StorageError> {
        let (id, bytes) = (rec.id.as_key().to_owned(), encode(rec)?);
        self.update(PEOPLE, move |t| {
            if t.get(id.as_str()).map_err(failed)?.is_some() {
                return Ok(false);
            }
            t.insert(id.as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(true)
        })
        .await
    }

    async fn person(&self, id: &Person) -> Result<Option<PersonRecord>, StorageError> {
        self.get(PEOPLE, id.as_key())
    }

    async fn consent(&self, id: &Person) -> Result<Option<ConsentRecord>, StorageError> {
        self.get(CONSENT, id.as_key())
    }

    async fn save_consent(&self, rec: &ConsentRecord) -> Result<(), StorageError> {
        self.put(CONSENT, rec.person.as_key(), rec).await
    }

    async fn erase_records(&self, id: &Person) -> Result<BTreeMap<String, u64>, StorageError> {
        self.erase_person(id).await
    }

    async fn save_erasure(&self, r: &ErasureReceipt) -> Result<(), StorageError> {
        self.put_erasure(r).await
    }

    async fn erasures(&self) -> Result<Vec<ErasureReceipt>, StorageError> {
        self.all_erasures()
    }
}
