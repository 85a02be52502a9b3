//! Cached clones (the voice-slot LRU) and the clone log.

use super::*;

/// The table keeps a clone entry a week past its freshness, so its voice can still be found
/// and deleted.
const CLONE_KEPT_AFTER_S: i64 = 7 * 24 * 3600;

fn clone_sort_key(last_used_at: DateTime<Utc>, person: &Person) -> String {
    format!("{}#{}", timestamp(last_used_at), person.as_key())
}

fn clone_item(r: &CloneRecord) -> Result<Item, StorageError> {
    let body = record_json(r, &r.person, "a clone")?;
    Ok(HashMap::from([
        ("pk".into(), s(voice_pk(&r.person))),
        ("sk".into(), s("CLONE")),
        ("gsi1pk".into(), s("CLONES")),
        ("gsi1sk".into(), s(clone_sort_key(r.last_used_at, &r.person))),
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
    let mut rec: CloneRecord = read.record("clone record")?;
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

impl DynamoRecords {
    /// An `UpdateItem` of the caller's clone entry, only while it holds `voice`.
    fn while_it_holds(
        &self,
        person: &Person,
        voice: &VoiceId,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(voice_pk(person)))
            .key("sk", s("CLONE"))
            .condition_expression("attribute_exists(pk) AND voice_id = :voice")
            .expression_attribute_values(":voice", s(voice.as_str()))
    }
}

impl CloneCache for DynamoRecords {
    async fn clone_of(&self, person: &Person) -> Result<Option<CloneRecord>, StorageError> {
        self.get(voice_pk(person), "CLONE").await?.as_ref().map(clone_from).transpose()
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
        person: &Person,
        voice: &VoiceId,
        at: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<bool, StorageError> {
        let pk = voice_pk(person);
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
                .expression_attribute_values(":sk", s(clone_sort_key(at, person)));
            if extends {
                req = req
                    .expression_attribute_values(":until", n(until))
                    .expression_attribute_values(":kept", n(until.saturating_add(CLONE_KEPT_AFTER_S)));
            }
            if written(req.send().await, &pk, "counting a use of the clone of")? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn evict_clone(&self, person: &Person, voice: &VoiceId) -> Result<bool, StorageError> {
        let req = self
            .while_it_holds(person, voice)
            .update_expression("SET #status = :evicted")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":evicted", s(CloneStatus::Evicted.as_str()));
        written(req.send().await, &voice_pk(person), "marking the clone evicted of")
    }

    async fn clones(&self) -> Result<Vec<CloneRecord>, StorageError> {
        let req = self
            .gsi1_query()
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s("CLONES"));
        self.query_items("CLONES", req).await?.iter().map(clone_from).collect()
    }

    async fn log_clone(&self, rec: &CloneLogRecord) -> Result<(), StorageError> {
        let body = record_json(rec, &rec.person, "a clone log")?;
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

    async fn clone_log(&self, run_id: &RunId) -> Result<Vec<CloneLogRecord>, StorageError> {
        let pk = format!("RUN#{run_id}");
        let req = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :c)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":c", s("CLONE#"));
        self.query_items(&pk, req).await?.iter().map(|item| Read(item).record("clone log entry")).collect()
    }

    /// An `UpdateItem` of the entry's `quality` attribute, conditioned on its voice: a
    /// `put_clone` of a newer voice replaces the whole item, score and all.
    async fn set_quality(&self, person: &Person, score: &QualityScore) -> Result<bool, StorageError> {
        let body = serde_json::to_string(score)
            .map_err(|e| StorageError::Failed(format!("encoding a quality score: {e}")))?;
        let req = self
            .while_it_holds(person, &score.voice_id)
            .update_expression("SET quality = :q")
            .expression_attribute_values(":q", s(body));
        written(req.send().await, &voice_pk(person), "storing the quality of the clone of")
    }

    async fn quality_of(
        &self,
        person: &Person,
        voice: &VoiceId,
    ) -> Result<Option<QualityScore>, StorageError> {
        let Some(item) = self.get(voice_pk(person), "CLONE").await? else {
            return Ok(None);
        };
        let read = Read(&item);
        if read.opt("voice_id") != Some(voice.as_str()) {
            return Ok(None);
        }
        read.opt("quality")
            .map(|q| {
                serde_json::from_str(q)
                    .map_err(|e| StorageError::Failed(format!("a broken quality score: {e}")))
            })
            .transpose()
    }
}
