//! The call flow's writes over the [`CallLog`] port: a versioned read-modify-write that never
//! loses a racing update, and recording an event (stored, and handed to the metrics).

use crate::calls::{CallEventRecord, CallRecord};
use crate::ids::CallId;
use crate::metrics::Sink;
use crate::ports::CallLog;

/// Stores a call-flow event, kept as long as its call (`retention_days`), and hands it to the
/// metrics. An event that cannot be stored is logged, never fails the call.
pub async fn record_event<L: CallLog>(
    log: &L,
    metrics: &Sink,
    retention_days: i64,
    mut event: CallEventRecord,
) {
    event.expires_at = crate::records::expiry(event.at, retention_days);
    metrics.record(&event);
    if let Err(e) = log.log_event(&event).await {
        tracing::warn!(kind = event.kind.as_str(), error = %e, "a call event was not stored");
    }
}

/// Extra time a losing writer waits for its turn in [`update_call`].
const UPDATE_ATTEMPTS: u32 = 8;

/// Read-modify-write on one call, retried when another writer got in between (a `CallEnded`
/// racing the hand-over must not be lost). `f` returns `false` to leave the record as it is.
/// `Ok(None)`: no such call.
pub async fn update_call<L: CallLog>(
    log: &L,
    call_id: &CallId,
    mut f: impl FnMut(&mut CallRecord) -> bool,
) -> Result<Option<CallRecord>, crate::error::StorageError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let Some(mut rec) = log.call(call_id).await? else { return Ok(None) };
        if !f(&mut rec) {
            return Ok(Some(rec));
        }
        if log.save_call(&rec).await? {
            rec.version += 1;
            return Ok(Some(rec));
        }
    }
    Err(crate::error::StorageError::Transient(format!("call {call_id} kept changing while being updated")))
}
