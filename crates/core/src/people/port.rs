//! Where people and their consent are kept: DynamoDB in AWS (`crates/aws/src/dynamo/people.rs`),
//! the local records on one machine.

use std::future::Future;

use crate::error::StorageError;
use crate::library::Person;

use super::consent::ConsentRecord;
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
}
