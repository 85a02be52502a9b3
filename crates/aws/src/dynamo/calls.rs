//! Calls and their events.

use super::*;

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
    Read(item).record("call event")
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
