//! Where people and their consent are kept: DynamoDB in AWS (`crates/aws/src/dynamo/people.rs`),
//! the local records on one machine.

use std::future::Future;

use crate::error::StorageError;
use crate::library::Person;

use super::consent::{ConsentMissing, ConsentPolicy, ConsentScope};

use std::collections::BTreeMap;

use super::consent::ConsentRecord;
use super::erase::ErasureReceipt;
use super::person::PersonRecord;

pub trait People: Send + Sync {
    /// Records a new named person; `false` when one of that id is on record.
    fn create_person(&self, rec: &PersonRecord) -> impl Future<Output = Result<bool, StorageError>> + Send;

    fn person(&self, id: &Person) -> impl Future<Output = Result<Option<PersonRecord>, StorageError>> + Send;

    /// The person's consent on record (granted, or revoked), if any.
    fn consent(
        &self,
        id: &Person,
    ) -> impl Future<Output = Result<Option<ConsentRecord>, StorageError>> + Send;

    /// Replaces the person's consent record: a new grant, or the revoked one.
    fn save_consent(&self, rec: &ConsentRecord) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Deletes every record of the person (their sample, cached voice, reference voice, runs
    /// and their clone log, models with their audit, active voice, consent and person record;
    /// a caller's calls and their events); returns how many of each kind went.
    fn erase_records(
        &self,
        id: &Person,
    ) -> impl Future<Output = Result<BTreeMap<String, u64>, StorageError>> + Send;

    /// Writes the receipt (it replaces the one of its id).
    fn save_erasure(&self, r: &ErasureReceipt) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Every receipt, oldest first (erasures are rare: a few a month).
    fn erasures(&self) -> impl Future<Output = Result<Vec<ErasureReceipt>, StorageError>> + Send;
}

/// `policy`'s verdict on doing `scope` to `person`: the outer error is the store's, the inner
/// one the refusal. Their consent is read only when the policy asks for it.
pub async fn consent_verdict<P: People>(
    store: &P,
    policy: ConsentPolicy,
    person: &Person,
    scope: ConsentScope,
) -> Result<Result<(), ConsentMissing>, StorageError> {
    if policy == ConsentPolicy::NotRequired {
        return Ok(Ok(()));
    }
    let consent = store.consent(person).await?;
    Ok(policy.check(person, consent.as_ref(), scope))
}
