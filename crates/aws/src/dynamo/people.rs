//! People (`People`): a named person's record and each person's consent.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | named person | `PERSON#{id}` | `PROFILE` |
//! | a person's consent (granted or revoked) | `PERSON#{id or e164}` | `CONSENT` |
//! | erasure receipt (no number: a keyed hash) | `ERASURE#{id}` | `RECEIPT` | gsi2: `ERASURES` / `{started_at}#{id}` |
//!
//! Access patterns: both by get on the person's partition, beside their active model
//! (`PERSON#…` / `ACTIVE`, in `models.rs`). A person is created with `attribute_not_exists`,
//! so two operators creating the same id get one record and one 409. Receipts are listed from
//! GSI2's `ERASURES` partition in time order. Erasing a person's records finds their
//! partitions (the person's profile's and their voice records', and by GSI1 their runs, a
//! caller's calls and their models), queries each and deletes every item in it.

use echome_core::library::Person;
use std::collections::{BTreeMap, BTreeSet};

use echome_core::people::{ConsentRecord, ErasureReceipt, People, PersonRecord};

use super::*;

fn person_pk(p: &Person) -> String {
    format!("PERSON#{}", p.as_key())
}

fn json_item<T: serde::Serialize>(pk: String, sk: &str, v: &T, what: &str) -> Result<Item, StorageError> {
    let body = serde_json::to_string(v).map_err(|e| StorageError::Failed(format!("encoding {what}: {e}")))?;
    Ok(HashMap::from([("pk".into(), s(pk)), ("sk".into(), s(sk)), ("record".into(), s(body))]))
}

impl People for DynamoRecords {
    async fn create_person(&self, rec: &PersonRecord) -> Result<bool, StorageError> {
        let item = json_item(person_pk(&rec.id), "PROFILE", rec, "a person")?;
        self.put_if(item, "attribute_not_exists(pk)", vec![]).await
    }

    async fn person(&self, id: &Person) -> Result<Option<PersonRecord>, StorageError> {
        self.get(person_pk(id), "PROFILE").await?.map(|i| Read(&i).record("person")).transpose()
    }

    async fn consent(&self, id: &Person) -> Result<Option<ConsentRecord>, StorageError> {
        self.get(person_pk(id), "CONSENT").await?.map(|i| Read(&i).record("consent record")).transpose()
    }

    async fn save_consent(&self, rec: &ConsentRecord) -> Result<(), StorageError> {
        self.put(json_item(person_pk(&rec.person), "CONSENT", rec, "a consent record")?, "consent").await
    }

    async fn erase_records(&self, id: &Person) -> Result<BTreeMap<String, u64>, StorageError> {
        let mut counts = BTreeMap::new();
        for pk in self.partitions_of(id).await? {
            self.erase_partition(&pk, &mut counts).await?;
        }
        Ok(counts)
    }

    async fn save_erasure(&self, r: &ErasureReceipt) -> Result<(), StorageError> {
        let mut item = json_item(format!("ERASURE#{}", r.id), "RECEIPT", r, "an erasure receipt")?;
        item.insert("gsi2pk".into(), s("ERASURES"));
        item.insert("gsi2sk".into(), s(format!("{}#{}", timestamp(r.started_at), r.id)));
        self.put(item, "erasure receipt").await
    }

    async fn erasures(&self) -> Result<Vec<ErasureReceipt>, StorageError> {
        let req = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(super::models::GSI2)
            .key_condition_expression("gsi2pk = :pk")
            .expression_attribute_values(":pk", s("ERASURES"));
        self.query_items("ERASURES", req).await?.iter().map(|i| Read(i).record("erasure receipt")).collect()
    }
}

/// The kind of record an item is, by its sort key, as receipts count them.
fn kind_of(sk: &str) -> &'static str {
    match sk {
        "SAMPLE" => "sample_records",
        "CLONE" => "clone_entries",
        "VOICEPRINT" => "voiceprints",
        "RUN" => "runs",
        "CALL" => "calls",
        "MODEL" => "voice_models",
        "ACTIVE" => "active_voices",
        "CONSENT" => "consent_records",
        "PROFILE" => "person_records",
        s if s.starts_with("CLONE#") => "clone_log_entries",
        s if s.starts_with("EVENT#") => "call_events",
        s if s.starts_with("AUDIT#") => "audit_events",
        _ => "other_records",
    }
}

impl DynamoRecords {
    /// The person's partitions: their profile's, their voice records' (a caller's with their
    /// calls), and (by GSI1) each of their runs, a caller's calls and each of their models.
    async fn partitions_of(&self, id: &Person) -> Result<BTreeSet<String>, StorageError> {
        let owners = [person_pk(id), voice_pk(id)];
        let mut out = BTreeSet::from(owners.clone());
        for owner in owners {
            let req = self
                .gsi1_query()
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(owner.clone()));
            for item in self.query_items(&owner, req).await? {
                out.insert(Read(&item).str("pk")?.to_owned());
            }
        }
        Ok(out)
    }

    /// Deletes every item of the partition, counting each by its kind.
    async fn erase_partition(
        &self,
        pk: &str,
        counts: &mut BTreeMap<String, u64>,
    ) -> Result<(), StorageError> {
        let req = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .projection_expression("pk, sk");
        for item in self.query_items(pk, req).await? {
            let sk = Read(&item).str("sk")?.to_owned();
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk.clone()))
                .send()
                .await
                .map_err(|e| storage_error(pk, "erasing", e))?;
            *counts.entry(kind_of(&sk).to_owned()).or_default() += 1;
        }
        Ok(())
    }
}
