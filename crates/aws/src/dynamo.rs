//! The records in one DynamoDB table.
//!
//! | item | pk | sk | gsi1pk | gsi1sk |
//! |---|---|---|---|---|
//! | caller's current sample | `CALLER#{e164}` | `SAMPLE` | | |
//! | clone run | `RUN#{run_id}` | `RUN` | `CALLER#{e164}` | `RUN#{started_at}` |
//! | call | `CALL#{call_id}` | `CALL` | `CALLER#{e164}` | `CALL#{started_at}#{call_id}` |
//! | call event | `CALL#{call_id}` (or `EVENTS#{day}`) | `EVENT#{at}#{kind}#{n}` | `EVENTS#{day}` | `{at}#{kind}#{n}` |
//! | caller's cached clone | `CALLER#{e164}` | `CLONE` | `CLONES` | `{last_used_at}#{e164}` |
//! | clone log entry | `RUN#{run_id}` | `CLONE#{at}` | | |
//!
//! Cached clones share one GSI1 partition ordered by last use: the least recently used voice
//! (the one to give up when the account's voice slots are full) is the first item of a query.
//! There are at most as many as the plan has voice slots. A clone item keeps the entry as made
//! in `record` (JSON) and what a use changes in attributes of their own, which win on read:
//! `status`, `voice_id`, `reuse_count`, `last_used_at`, `fresh_until` (the entry's
//! `expires_at`) and `gsi1sk`; so a use is one conditional `UpdateItem` (still active, still
//! that voice), never a read-modify-write that could bring an evicted voice back.
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
    CloneLogRecord, CloneRecord, CloneStatus, ErrorType, RunId, RunLog, RunOutcome, RunRecord, RunStatus,
    SampleLog, SampleRecord, SampleWrite, StepError, StorageError, VoiceId,
};

use crate::errors::storage_error;

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
    fn caller(&self) -> Result<CallerId, StorageError> {
        CallerId::parse(self.str("caller_id")?).map_err(|e| StorageError::Failed(e.to_string()))
    }
}

fn parse_time(v: &str) -> Result<DateTime<Utc>, StorageError> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StorageError::Failed(format!("bad time {v:?} in a record: {e}")))
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

    /// Creates the table as template.yaml declares it (keys, GSI1, TTL): for tests and
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
        let mut req = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash).map_err(|e| built("key", e))?)
            .key_schema(key("sk", KeyType::Range).map_err(|e| built("key", e))?)
            .global_secondary_indexes(gsi);
        for a in ["pk", "sk", "gsi1pk", "gsi1sk"] {
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
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(false),
            Err(e) => Err(storage_error(&subject, "writing", e)),
        }
    }
}

fn sample_item(r: &SampleRecord) -> Item {
    HashMap::from([
        ("pk".into(), s(caller_pk(&r.caller_id))),
        ("sk".into(), s("SAMPLE")),
        ("caller_id".into(), s(r.caller_id.as_str())),
        ("bucket".into(), s(&r.sample.bucket)),
        ("key".into(), s(&r.sample.key)),
        ("version".into(), s(&r.version)),
        ("uploaded_at".into(), s(timestamp(r.uploaded_at))),
        ("size".into(), n(r.size)),
    ])
}

impl SampleLog for DynamoRecords {
    async fn record_sample(&self, rec: &SampleRecord) -> Result<SampleWrite, StorageError> {
        // The same upload delivered twice counts as newest again, so a retried event still
        // starts its run.
        let cond = "attribute_not_exists(pk) OR uploaded_at < :t OR (uploaded_at = :t AND version = :v)";
        let written = self
            .put_if(
                sample_item(rec),
                cond,
                vec![(":t", s(timestamp(rec.uploaded_at))), (":v", s(&rec.version))],
            )
            .await?;
        Ok(if written { SampleWrite::Newest } else { SampleWrite::Superseded })
    }

    async fn current_sample(&self, caller: &CallerId) -> Result<Option<SampleRecord>, StorageError> {
        let Some(item) = self.get(caller_pk(caller), "SAMPLE").await? else { return Ok(None) };
        let r = Read(&item);
        Ok(Some(SampleRecord {
            caller_id: r.caller()?,
            sample: BlobRef::new(r.str("bucket")?, r.str("key")?),
            version: r.str("version")?.to_owned(),
            uploaded_at: r.time("uploaded_at")?,
            size: r.num("size")?.max(0) as u64,
        }))
    }
}

impl RunLog for DynamoRecords {
    async fn create_run(&self, rec: &RunRecord) -> Result<bool, StorageError> {
        let item = HashMap::from([
            ("pk".into(), s(format!("RUN#{}", rec.run_id))),
            ("sk".into(), s("RUN")),
            ("gsi1pk".into(), s(caller_pk(&rec.caller_id))),
            ("gsi1sk".into(), s(format!("RUN#{}", timestamp(rec.started_at)))),
            ("run_id".into(), s(rec.run_id.as_str())),
            ("caller_id".into(), s(rec.caller_id.as_str())),
            ("bucket".into(), s(&rec.sample.bucket)),
            ("key".into(), s(&rec.sample.key)),
            ("status".into(), s(rec.status.as_str())),
            ("started_at".into(), s(timestamp(rec.started_at))),
            (TTL_ATTRIBUTE.into(), n(rec.expires_at)),
        ]);
        self.put_if(item, "attribute_not_exists(pk)", vec![]).await
    }

    /// Writes what the state machine's RecordSuccess and RecordFailure states write.
    async fn finish_run(
        &self,
        run_id: &RunId,
        outcome: &RunOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let pk = format!("RUN#{run_id}");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk.clone()))
            .key("sk", s("RUN"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":at", s(timestamp(at)));
        req = match outcome {
            RunOutcome::Succeeded { report, voice_id } => req
                .update_expression(
                    "SET #status = :s, finished_at = :at, report_bucket = :rb, report_key = :rk, voice_id = :v",
                )
                .expression_attribute_values(":s", s(RunStatus::Succeeded.as_str()))
                .expression_attribute_values(":v", s(voice_id.as_ref().map_or("", VoiceId::as_str)))
                .expression_attribute_values(":rb", s(&report.bucket))
                .expression_attribute_values(":rk", s(&report.key)),
            RunOutcome::Failed(err) => req
                .update_expression("SET #status = :s, finished_at = :at, error_type = :et, cause = :c")
                .expression_attribute_values(":s", s(RunStatus::Failed.as_str()))
                .expression_attribute_values(":et", s(err.error_type.as_str()))
                .expression_attribute_values(":c", s(err.to_string())),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Err(StorageError::NotFound(pk)),
            Err(e) => Err(storage_error(&pk, "updating", e)),
        }
    }

    async fn latest_run(&self, caller: &CallerId) -> Result<Option<RunRecord>, StorageError> {
        let pk = caller_pk(caller);
        let out = self
            .gsi1_query()
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :run)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":run", s("RUN#"))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(|e| storage_error(&pk, "querying runs of", e))?;
        match out.items().first().map(|i| Read(i).str("run_id").map(str::to_owned)).transpose()? {
            Some(id) => self.run(&RunId::parse(&id).map_err(|e| StorageError::Failed(e.to_string()))?).await,
            None => Ok(None),
        }
    }

    async fn run(&self, run_id: &RunId) -> Result<Option<RunRecord>, StorageError> {
        let Some(item) = self.get(format!("RUN#{run_id}"), "RUN").await? else { return Ok(None) };
        let r = Read(&item);
        let status = r.str("status")?;
        let error = r
            .opt("error_type")
            .map(|t| StepError::from_cause(ErrorType::parse_or_internal(t), r.opt("cause").unwrap_or("")));
        let report = match (r.opt("report_bucket"), r.opt("report_key")) {
            (Some(b), Some(k)) => Some(BlobRef::new(b, k)),
            _ => None,
        };
        Ok(Some(RunRecord {
            run_id: run_id.clone(),
            caller_id: r.caller()?,
            sample: BlobRef::new(r.str("bucket")?, r.str("key")?),
            status: RunStatus::parse(status)
                .ok_or_else(|| StorageError::Failed(format!("unknown run status {status:?}")))?,
            started_at: r.time("started_at")?,
            finished_at: r.opt("finished_at").map(parse_time).transpose()?,
            report,
            voice_id: r.opt("voice_id").filter(|v| !v.is_empty()).and_then(|v| VoiceId::parse(v).ok()),
            error,
            expires_at: r.num(TTL_ATTRIBUTE)?,
        }))
    }
}

fn call_item(r: &CallRecord) -> Result<Item, StorageError> {
    let body = serde_json::to_string(r).map_err(|e| StorageError::Failed(format!("encoding a call: {e}")))?;
    Ok(HashMap::from([
        ("pk".into(), s(format!("CALL#{}", r.call_id))),
        ("sk".into(), s("CALL")),
        ("gsi1pk".into(), s(caller_pk(&r.caller_id))),
        ("gsi1sk".into(), s(format!("CALL#{}", call_sort_key(r)))),
        ("status".into(), s(r.status.as_str())),
        ("version".into(), n(r.version)),
        ("record".into(), s(body)),
        (TTL_ATTRIBUTE.into(), n(r.expires_at)),
    ]))
}

/// `{started_at}#{call_id}`: how a caller's calls sort, and the page cursor.
fn call_sort_key(r: &CallRecord) -> String {
    format!("{}#{}", timestamp(r.started_at), r.call_id)
}

fn call_from(item: &Item) -> Result<CallRecord, StorageError> {
    let mut rec: CallRecord = serde_json::from_str(Read(item).str("record")?)
        .map_err(|e| StorageError::Failed(format!("a broken call record: {e}")))?;
    rec.version = Read(item).num("version")?.max(0) as u64;
    Ok(rec)
}

fn event_from(item: &Item) -> Result<CallEventRecord, StorageError> {
    serde_json::from_str(Read(item).str("record")?)
        .map_err(|e| StorageError::Failed(format!("a broken call event: {e}")))
}

/// Unique per process and event: concurrent writers at the same millisecond never collide.
fn event_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().build_hasher().finish());
    format!("{seed:016x}{:08x}", SEQ.fetch_add(1, Ordering::Relaxed))
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

impl CallLog for DynamoRecords {
    async fn claim_call(&self, rec: &CallRecord) -> Result<CallClaim, StorageError> {
        let fresh = CallRecord { version: 0, ..rec.clone() };
        if self.put_if(call_item(&fresh)?, "attribute_not_exists(pk)", vec![]).await? {
            return Ok(CallClaim::New(fresh));
        }
        match self.call(&rec.call_id).await? {
            Some(first) => Ok(CallClaim::Existing(first)),
            None => Err(StorageError::Transient("the call record vanished".into())),
        }
    }

    async fn call(&self, call_id: &CallId) -> Result<Option<CallRecord>, StorageError> {
        self.get(format!("CALL#{call_id}"), "CALL").await?.as_ref().map(call_from).transpose()
    }

    async fn save_call(&self, rec: &CallRecord) -> Result<bool, StorageError> {
        let next = CallRecord { version: rec.version + 1, ..rec.clone() };
        self.put_if(call_item(&next)?, "version = :v", vec![(":v", n(rec.version))]).await
    }

    async fn calls_of(
        &self,
        caller: &CallerId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<CallPage, StorageError> {
        let pk = caller_pk(caller);
        let hi = format!("CALL#{}", after.unwrap_or("~"));
        let out = self
            .gsi1_query()
            .key_condition_expression("gsi1pk = :pk AND gsi1sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":lo", s("CALL#"))
            .expression_attribute_values(":hi", s(hi.clone()))
            .scan_index_forward(false)
            // One more than asked (and one for the cursor's own item, which BETWEEN includes)
            // says whether there is a next page.
            .limit(i32::try_from(limit + 2).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| storage_error(&pk, "querying calls of", e))?;
        let mut page = CallPage::default();
        for item in out.items() {
            if Read(item).opt("gsi1sk") == Some(hi.as_str()) {
                continue;
            }
            if page.calls.len() == limit {
                page.next = page.calls.last().map(call_sort_key);
                break;
            }
            page.calls.push(call_from(item)?);
        }
        Ok(page)
    }

    async fn log_event(&self, event: &CallEventRecord) -> Result<(), StorageError> {
        let body = serde_json::to_string(event)
            .map_err(|e| StorageError::Failed(format!("encoding a call event: {e}")))?;
        let at = timestamp(event.at);
        let sort = format!("{at}#{}#{}", event.kind.as_str(), event_suffix());
        let pk = match &event.call_id {
            Some(c) => format!("CALL#{c}"),
            None => format!("EVENTS#{}", event.at.format("%Y-%m-%d")),
        };
        let item = HashMap::from([
            ("pk".into(), s(pk)),
            ("sk".into(), s(format!("EVENT#{sort}"))),
            ("gsi1pk".into(), s(format!("EVENTS#{}", event.at.format("%Y-%m-%d")))),
            ("gsi1sk".into(), s(sort)),
            ("kind".into(), s(event.kind.as_str())),
            ("record".into(), s(body)),
            (TTL_ATTRIBUTE.into(), n(event.expires_at)),
        ]);
        self.put(item, "logging an event of").await
    }

    async fn call_events(&self, call_id: &CallId) -> Result<Vec<CallEventRecord>, StorageError> {
        let pk = format!("CALL#{call_id}");
        let req = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :e)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":e", s("EVENT#"));
        self.query_items(&pk, req).await?.iter().map(event_from).collect()
    }

    async fn events_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CallEventRecord>, StorageError> {
        let mut out = Vec::new();
        let mut day = from.date_naive();
        while day <= to.date_naive() {
            let pk = format!("EVENTS#{}", day.format("%Y-%m-%d"));
            let req = self
                .gsi1_query()
                .key_condition_expression("gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":from", s(timestamp(from)))
                // Sort keys carry milliseconds: through `to`'s whole millisecond, cut exactly below.
                .expression_attribute_values(":to", s(format!("{}~", timestamp(to))));
            for item in self.query_items(&pk, req).await? {
                let e = event_from(&item)?;
                if e.at >= from && e.at < to {
                    out.push(e);
                }
            }
            day = day.succ_opt().unwrap_or(day);
            if day == chrono::NaiveDate::MAX {
                break;
            }
        }
        Ok(out)
    }
}

/// The table keeps a clone entry a week past its freshness, so its voice can still be found
/// and deleted.
const CLONE_KEPT_AFTER_S: i64 = 7 * 24 * 3600;

fn clone_sort_key(last_used_at: DateTime<Utc>, caller: &CallerId) -> String {
    format!("{}#{}", timestamp(last_used_at), caller.as_str())
}

fn clone_item(r: &CloneRecord) -> Result<Item, StorageError> {
    let body =
        serde_json::to_string(r).map_err(|e| StorageError::Failed(format!("encoding a clone: {e}")))?;
    Ok(HashMap::from([
        ("pk".into(), s(caller_pk(&r.caller_id))),
        ("sk".into(), s("CLONE")),
        ("gsi1pk".into(), s("CLONES")),
        ("gsi1sk".into(), s(clone_sort_key(r.last_used_at, &r.caller_id))),
        ("voice_id".into(), s(r.voice_id.as_str())),
        ("status".into(), s(r.status.as_str())),
        ("reuse_count".into(), n(r.reuse_count)),
        ("last_used_at".into(), s(timestamp(r.last_used_at))),
        ("fresh_until".into(), n(r.expires_at)),
        ("record".into(), s(body)),
        (TTL_ATTRIBUTE.into(), n(r.expires_at.saturating_add(CLONE_KEPT_AFTER_S))),
    ]))
}

/// The entry as made, with what uses changed since (the attributes) laid over it.
fn clone_from(item: &Item) -> Result<CloneRecord, StorageError> {
    let read = Read(item);
    let mut rec: CloneRecord = serde_json::from_str(read.str("record")?)
        .map_err(|e| StorageError::Failed(format!("a broken clone record: {e}")))?;
    if let Some(status) = read.opt("status") {
        rec.status = match status {
            "active" => CloneStatus::Active,
            "evicted" => CloneStatus::Evicted,
            other => return Err(StorageError::Failed(format!("unknown clone status {other:?}"))),
        };
    }
    if let Some(v) = read.opt("voice_id") {
        rec.voice_id = VoiceId::parse(v).map_err(|e| StorageError::Failed(e.to_string()))?;
    }
    if item.contains_key("reuse_count") {
        rec.reuse_count = read.num("reuse_count")?.max(0) as u64;
    }
    if item.contains_key("last_used_at") {
        rec.last_used_at = read.time("last_used_at")?;
    }
    if item.contains_key("fresh_until") {
        rec.expires_at = read.num("fresh_until")?;
    }
    Ok(rec)
}

impl CloneCache for DynamoRecords {
    async fn clone_of(&self, caller: &CallerId) -> Result<Option<CloneRecord>, StorageError> {
        self.get(caller_pk(caller), "CLONE").await?.as_ref().map(clone_from).transpose()
    }

    async fn put_clone(&self, rec: &CloneRecord) -> Result<(), StorageError> {
        self.put(clone_item(rec)?, "writing the clone of").await
    }

    /// One `UpdateItem` conditioned on the entry being active with `voice`, which also moves
    /// `fresh_until` when that extends it; when the entry is already fresh for longer (a longer
    /// TTL set it), a second one counts the use and leaves the freshness alone (DynamoDB's
    /// update expressions have no `max`).
    async fn touch_clone(
        &self,
        caller: &CallerId,
        voice: &VoiceId,
        at: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<bool, StorageError> {
        let pk = caller_pk(caller);
        let until = at.checked_add_signed(ttl).map_or(i64::MAX, |t| t.timestamp());
        let counted =
            "SET reuse_count = if_not_exists(reuse_count, :zero) + :one, last_used_at = :at, gsi1sk = :sk";
        let still_ours = "attribute_exists(pk) AND #status = :active AND voice_id = :voice";
        let attempts = [
            (
                format!("{counted}, fresh_until = :until, {TTL_ATTRIBUTE} = :kept"),
                format!("{still_ours} AND (attribute_not_exists(fresh_until) OR fresh_until < :until)"),
                true,
            ),
            (counted.to_owned(), still_ours.to_owned(), false),
        ];
        for (update, condition, extends) in attempts {
            let mut req = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(pk.clone()))
                .key("sk", s("CLONE"))
                .update_expression(update)
                .condition_expression(condition)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":active", s(CloneStatus::Active.as_str()))
                .expression_attribute_values(":voice", s(voice.as_str()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":at", s(timestamp(at)))
                .expression_attribute_values(":sk", s(clone_sort_key(at, caller)));
            if extends {
                req = req
                    .expression_attribute_values(":until", n(until))
                    .expression_attribute_values(":kept", n(until.saturating_add(CLONE_KEPT_AFTER_S)));
            }
            match req.send().await {
                Ok(_) => return Ok(true),
                Err(e) if e.as_service_error().is_some_and(conditional_failed) => {}
                Err(e) => return Err(storage_error(&pk, "counting a use of the clone of", e)),
            }
        }
        Ok(false)
    }

    async fn clones(&self) -> Result<Vec<CloneRecord>, StorageError> {
        let req = self
            .gsi1_query()
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s("CLONES"));
        self.query_items("CLONES", req).await?.iter().map(clone_from).collect()
    }

    async fn log_clone(&self, rec: &CloneLogRecord) -> Result<(), StorageError> {
        let body = serde_json::to_string(rec)
            .map_err(|e| StorageError::Failed(format!("encoding a clone log: {e}")))?;
        let pk = format!("RUN#{}", rec.run_id);
        let item = HashMap::from([
            ("pk".into(), s(pk)),
            ("sk".into(), s(format!("CLONE#{}", timestamp(rec.at)))),
            ("status".into(), s(&rec.status)),
            ("latency_ms".into(), n(rec.latency_ms)),
            ("bytes_uploaded".into(), n(rec.bytes_uploaded)),
            ("record".into(), s(body)),
            (
                TTL_ATTRIBUTE.into(),
                n(echome_core::records::expiry(rec.at, echome_core::records::RUN_RETENTION_DAYS)),
            ),
        ]);
        self.put(item, "logging the clone of").await
    }
}
