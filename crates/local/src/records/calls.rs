//! Calls by id and by caller and time, and the call flow's events (`CallLog`).

use super::*;

impl CallLog for LocalRecords {
    async fn claim_call(&self, rec: &CallRecord) -> Result<CallClaim, StorageError> {
        let (rec, bytes) = (rec.clone(), encode(rec)?);
        self.writer
            .write(true, move |tx| {
                let mut calls = tx.open_table(CALLS).map_err(failed)?;
                let existing: Option<CallRecord> = calls
                    .get(rec.call_id.as_str())
                    .map_err(failed)?
                    .map(|v| decode(v.value()))
                    .transpose()?;
                Ok(match existing {
                    Some(first) => CallClaim::Existing(first),
                    None => {
                        calls.insert(rec.call_id.as_str(), bytes.as_slice()).map_err(failed)?;
                        let mut index = tx.open_table(CALLS_BY_CALLER).map_err(failed)?;
                        let key = keys::caller_call(&rec.caller_id, &keys::call_sort(&rec));
                        index.insert(key.as_str(), rec.call_id.as_str()).map_err(failed)?;
                        CallClaim::New(rec.clone())
                    }
                })
            })
            .await
    }

    async fn call(&self, call_id: &CallId) -> Result<Option<CallRecord>, StorageError> {
        self.get(CALLS, call_id.as_str())
    }

    async fn save_call(&self, rec: &CallRecord) -> Result<bool, StorageError> {
        let next = CallRecord { version: rec.version + 1, ..rec.clone() };
        let (call_id, version, bytes) = (rec.call_id.clone(), rec.version, encode(&next)?);
        self.update(CALLS, move |t| {
            let stored: Option<CallRecord> =
                t.get(call_id.as_str()).map_err(failed)?.map(|v| decode(v.value())).transpose()?;
            match stored {
                Some(s) if s.version == version => {
                    t.insert(call_id.as_str(), bytes.as_slice()).map_err(failed)?;
                    Ok(true)
                }
                Some(_) => Ok(false),
                None => Err(StorageError::NotFound(format!("call {call_id}"))),
            }
        })
        .await
    }

    async fn calls_of(
        &self,
        caller: &CallerId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<CallPage, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let index = tx.open_table(CALLS_BY_CALLER).map_err(failed)?;
        let calls = tx.open_table(CALLS).map_err(failed)?;
        let (lo, end) = keys::owned_by(caller.as_str());
        let hi = match after {
            Some(cursor) => keys::caller_call(caller, cursor),
            None => end,
        };
        let mut page = CallPage::default();
        for entry in index.range(lo.as_str()..hi.as_str()).map_err(failed)?.rev() {
            let (_, id) = entry.map_err(failed)?;
            if page.calls.len() == limit {
                page.next = page.calls.last().map(keys::call_sort);
                break;
            }
            if let Some(v) = calls.get(id.value()).map_err(failed)? {
                page.calls.push(decode(v.value())?);
            }
        }
        Ok(page)
    }

    async fn log_event(&self, event: &CallEventRecord) -> Result<(), StorageError> {
        let bytes = encode(event)?;
        let (event, call) = (event.clone(), event.call_id.clone());
        self.writer
            .write(false, move |tx| {
                let mut events = tx.open_table(EVENTS).map_err(failed)?;
                let mut n = 0u32;
                let key = loop {
                    let key = keys::event(&event, n);
                    if events.get(key.as_str()).map_err(failed)?.is_none() {
                        break key;
                    }
                    n += 1;
                };
                events.insert(key.as_str(), bytes.as_slice()).map_err(failed)?;
                if let Some(call) = &call {
                    let mut by_call = tx.open_table(EVENTS_BY_CALL).map_err(failed)?;
                    let index = keys::call_event(call.as_str(), &key);
                    by_call.insert(index.as_str(), key.as_str()).map_err(failed)?;
                }
                Ok(())
            })
            .await
    }

    async fn call_events(&self, call_id: &CallId) -> Result<Vec<CallEventRecord>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let by_call = tx.open_table(EVENTS_BY_CALL).map_err(failed)?;
        let events = tx.open_table(EVENTS).map_err(failed)?;
        let (lo, hi) = keys::owned_by(call_id.as_str());
        let mut out = Vec::new();
        for entry in by_call.range(lo.as_str()..hi.as_str()).map_err(failed)? {
            let (_, key) = entry.map_err(failed)?;
            if let Some(v) = events.get(key.value()).map_err(failed)? {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }

    async fn events_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CallEventRecord>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let events = tx.open_table(EVENTS).map_err(failed)?;
        // Keys carry milliseconds: scan through `to`'s whole millisecond, then cut at full precision.
        let (lo, hi) = keys::events_between(from, to);
        let mut out = Vec::new();
        for entry in events.range(lo.as_str()..hi.as_str()).map_err(failed)? {
            let (_, v) = entry.map_err(failed)?;
            let event: CallEventRecord = decode(v.value())?;
            if event.at >= from && event.at < to {
                out.push(event);
            }
        }
        Ok(out)
    }
}
