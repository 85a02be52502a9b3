//! The records in one DynamoDB table.
//!
//! | item | pk | sk | gsi1pk | gsi1sk |
//! |---|---|---|---|---|
//! | person's current sample (and the pack kept with it) | `{voice pk}` | `SAMPLE` | | |
//! | clone run | `RUN#{run_id}` | `RUN` | `{voice pk}` | `RUN#{started_at}` |
//! | call | `CALL#{call_id}` | `CALL` | `CALLER#{e164}` | `CALL#{started_at}#{call_id}` |
//! | call event | `CALL#{call_id}` (or `EVENTS#{day}`) | `EVENT#{at}#{kind}#{n}` | `EVENTS#{day}` | `{at}#{kind}#{n}` |
//! | person's cached clone | `{voice pk}` | `CLONE` | `CLONES` | `{last_used_at}#{e164 or id}` |
//! | clone log entry | `RUN#{run_id}` | `CLONE#{at}` | | |
//! | person's reference voice (voiceprint; no TTL) | `{voice pk}` | `VOICEPRINT` | | |
//! | voice models, active voices, their audit | see `models.rs` (which also uses GSI2) | | | |
//! | named people, consent | see `people.rs` | | | |
//!
//! `{voice pk}` is where a person's voice records live: a caller's `CALLER#{e164}` (beside
//! their calls), a named person's `NAMED#{id}` (apart from their profile, `PERSON#{id}`). Items
//! name their person in the attribute `person`; those written before named people say
//! `caller_id`, which is still read.
//!
//! Cached clones share one GSI1 partition ordered by last use: the least recently used voice
//! (the one to give up when the account's voice slots are full) is the first item of a query.
//! There are at most as many as the plan has voice slots. A clone item keeps the entry as made
//! in `record` (JSON) and what a use changes in attributes of their own, which win on read:
//! `status`, `voice_id`, `reuse_count`, `last_used_at`, `fresh_until` (the entry's
//! `expires_at`) and `gsi1sk`; so a use is one conditional `UpdateItem` (still active, still
//! that voice), never a read-modify-write that could bring an evicted voice back. The voice's
//! measured quality (score-voice) is the attribute `quality` (JSON), set while the item holds
//! that voice; a newer voice's `put_clone` replaces the item without it.
//!
//! Access patterns: a caller's current sample (get by pk); a run by id (get; the state
//! machine's RecordSuccess/RecordFailure states update the same item); a call by id (get); a
//! caller's calls or runs by time (query GSI1 on `gsi1pk` with a `gsi1sk` range); a call's
//! events (query pk); a day's events, for `/metrics` (query GSI1 on `EVENTS#{day}`). A call is
//! written with a `version` condition, so a `CallEnded` racing the hand-over is never lost. Writes are
//! conditional so retried events are idempotent: a run or call is created once, and a sample
//! only replaces an older one. Runs and calls carry `expires_at` (epoch seconds), the table's
//! TTL attribute. Times are RFC 3339 UTC with milliseconds, which sort as strings and match
//! `$$.State.EnteredTime`, which the state machine writes.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use echome_core::{
    BlobRef, CallClaim, CallEventRecord, CallId, CallLog, CallPage, CallRecord, CallerId, CloneCache,
    CloneLogRecord, CloneRecord, CloneStatus, ErrorType, Person, QualityScore, RunId, RunLog, RunOutcome,
    RunRecord, RunStatus, SampleLog, SampleRecord, SampleWrite, SegmentOutput, StepError, StorageError,
    VoiceId,
};

use crate::errors::storage_error;

mod calls;
mod clones;
mod models;
mod people;
mod runs;
mod samples;
mod voiceprints;

pub const GSI1: &str = "gsi1";
pub const TTL_ATTRIBUTE: &str = "expires_at";

#[derive(Debug, Clone)]
pub struct DynamoRecords {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn caller_pk(c: &CallerId) -> String {
    format!("CALLER#{}", c.as_str())
}

/// Where a person's voice records live (their sample, clone entry, voiceprint; their runs by
/// GSI1): a caller's beside their calls, a named person's apart from their profile.
fn voice_pk(p: &Person) -> String {
    match p {
        Person::Caller(c) => caller_pk(c),
        Person::Named(n) => format!("NAMED#{n}"),
    }
}

/// A record's JSON as an item keeps it. A caller's also names them as `caller_id`, as records
/// did before named people, so code from before then (a rollback) still reads what this code
/// wrote; a named person's cannot be read by such code either way.
fn record_json<T: serde::Serialize>(v: &T, person: &Person, what: &str) -> Result<String, StorageError> {
    let failed = |e: serde_json::Error| StorageError::Failed(format!("encoding {what}: {e}"));
    let mut json = serde_json::to_value(v).map_err(failed)?;
    if let (Some(c), Some(o)) = (person.caller(), json.as_object_mut()) {
        o.insert("caller_id".into(), c.as_str().into());
    }
    serde_json::to_string(&json).map_err(failed)
}

/// Names an item's person: `person`, and for a caller `caller_id` too, the attribute code from
/// before named people reads (a rollback keeps working).
fn name_person(item: &mut Item, person: &Person) {
    item.insert("person".into(), s(person.as_key()));
    if let Some(c) = person.caller() {
        item.insert("caller_id".into(), s(c.as_str()));
    }
}

/// Reading an item back: a missing or malformed attribute is a broken record, not a retry.
struct Read<'a>(&'a Item);

impl Read<'_> {
    fn opt(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
    }
    fn str(&self, name: &str) -> Result<&str, StorageError> {
        self.opt(name).ok_or_else(|| StorageError::Failed(format!("record without {name}")))
    }
    fn num(&self, name: &str) -> Result<i64, StorageError> {
        self.0
            .get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StorageError::Failed(format!("record without a number in {name}")))
    }
    fn time(&self, name: &str) -> Result<DateTime<Utc>, StorageError> {
        parse_time(self.str(name)?)
    }
    /// The item's `record` (the JSON most items keep), as `T`; `what` names it when broken.
    /// The `caller_id` copy [`record_json`] keeps beside `person` is dropped (the field reads
    /// either name, not both).
    fn record<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, StorageError> {
        let broken = |e: serde_json::Error| StorageError::Failed(format!("a broken {what}: {e}"));
        let mut v: serde_json::Value = serde_json::from_str(self.str("record")?).map_err(broken)?;
        if let Some(o) = v.as_object_mut()
            && o.contains_key("person")
        {
            o.remove("caller_id");
        }
        serde_json::from_value(v).map_err(broken)
    }
    /// Whose record it is: `person`, or `caller_id` in records from before named people.
    fn person(&self) -> Result<Person, StorageError> {
        let raw = match self.opt("person") {
            Some(p) => p,
            None => self.str("caller_id")?,
        };
        Person::from_record(raw).map_err(|e| StorageError::Failed(e.to_string()))
    }
}

fn parse_time(v: &str) -> Result<DateTime<Utc>, StorageError> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StorageError::Failed(format!("bad time {v:?} in a record: {e}")))
}

/// A conditional write's outcome: `Ok(false)` when its condition failed, which is an answer,
/// not an error.
fn written<O, E>(
    sent: Result<O, aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
    subject: &str,
    what: &str,
) -> Result<bool, StorageError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match sent {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(false),
        Err(e) => Err(storage_error(subject, what, e)),
    }
}

fn conditional_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

impl DynamoRecords {
    pub fn new(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(sdk), table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table as template.yaml declares it (keys, GSI1, GSI2, TTL): for tests and
    /// development endpoints; in AWS, CloudFormation owns the table.
    pub async fn create_table(&self) -> Result<(), StorageError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
            ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build()
        };
        let attr = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let built =
            |what: &str, e: aws_sdk_dynamodb::error::BuildError| StorageError::Failed(format!("{what}: {e}"));
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash).map_err(|e| built("gsi key", e))?)
            .key_schema(key("gsi1sk", KeyType::Range).map_err(|e| built("gsi key", e))?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(|e| built("gsi", e))?;
        let gsi2 = GlobalSecondaryIndex::builder()
            .index_name(models::GSI2)
            .key_schema(key("gsi2pk", KeyType::Hash).map_err(|e| built("gsi key", e))?)
            .key_schema(key("gsi2sk", KeyType::Range).map_err(|e| built("gsi key", e))?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(|e| built("gsi", e))?;
        let mut req = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash).map_err(|e| built("key", e))?)
            .key_schema(key("sk", KeyType::Range).map_err(|e| built("key", e))?)
            .global_secondary_indexes(gsi)
            .global_secondary_indexes(gsi2);
        for a in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"] {
            req = req.attribute_definitions(attr(a).map_err(|e| built("attribute", e))?);
        }
        req.send().await.map_err(|e| storage_error(&self.table, "creating table", e))?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(|e| built("ttl", e))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| storage_error(&self.table, "enabling TTL on", e))?;
        Ok(())
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StorageError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk.clone()))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| storage_error(&pk, "reading", e))?;
        Ok(out.item)
    }

    /// Puts an item, replacing any with its key; `what` names the write in errors.
    async fn put(&self, item: Item, what: &str) -> Result<(), StorageError> {
        let subject = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| storage_error(&subject, what, e))?;
        Ok(())
    }

    /// Puts an item unless the condition fails; `Ok(false)` when it did.
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StorageError> {
        let subject = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        written(req.send().await, &subject, "writing")
    }
}

impl DynamoRecords {
    /// A query of GSI1 (a caller's runs and calls, the clone LRU, a day's events).
    fn gsi1_query(&self) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client.query().table_name(&self.table).index_name(GSI1)
    }

    async fn query_items(
        &self,
        subject: &str,
        req: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StorageError> {
        let mut pages = req.into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(|e| storage_error(subject, "querying", e))?);
        }
        Ok(out)
    }
}
