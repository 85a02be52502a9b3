//! Erasing a person's records (`People::erase_records`) in one write transaction, and the
//! erasure receipts (`erasures`: `{started_at}#{id}` → receipt, in time order).

use std::collections::BTreeMap;

use echome_core::library::{Person, VoiceModel};
use echome_core::people::ErasureReceipt;
use redb::WriteTransaction;

use super::*;

type Counts = BTreeMap<String, u64>;

/// Removes `keys` from a table of values; counts them under `kind`.
fn remove_all(
    tx: &WriteTransaction,
    table: TableDefinition<&str, &[u8]>,
    keys: &[String],
    kind: &str,
    counts: &mut Counts,
) -> Result<(), StorageError> {
    let mut t = tx.open_table(table).map_err(failed)?;
    for k in keys {
        if t.remove(k.as_str()).map_err(failed)?.is_some() {
            *counts.entry(kind.to_owned()).or_default() += 1;
        }
    }
    Ok(())
}

/// The keys (and values) of an index table in `[lo, hi)`.
fn index_range(
    tx: &WriteTransaction,
    table: TableDefinition<&str, &str>,
    (lo, hi): (String, String),
) -> Result<Vec<(String, String)>, StorageError> {
    let t = tx.open_table(table).map_err(failed)?;
    let mut out = Vec::new();
    for entry in t.range(lo.as_str()..hi.as_str()).map_err(failed)? {
        let (k, v) = entry.map_err(failed)?;
        out.push((k.value().to_owned(), v.value().to_owned()));
    }
    Ok(out)
}

fn remove_index(
    tx: &WriteTransaction,
    table: TableDefinition<&str, &str>,
    keys: &[String],
) -> Result<(), StorageError> {
    let mut t = tx.open_table(table).map_err(failed)?;
    for k in keys {
        t.remove(k.as_str()).map_err(failed)?;
    }
    Ok(())
}

/// Keys of `table` whose value `pick` chooses.
fn keys_where<T: serde::de::DeserializeOwned>(
    tx: &WriteTransaction,
    table: TableDefinition<&str, &[u8]>,
    pick: impl Fn(&T) -> bool,
) -> Result<Vec<String>, StorageError> {
    let t = tx.open_table(table).map_err(failed)?;
    let mut out = Vec::new();
    for entry in t.iter().map_err(failed)? {
        let (k, v) = entry.map_err(failed)?;
        if pick(&decode(v.value())?) {
            out.push(k.value().to_owned());
        }
    }
    Ok(out)
}

fn erase_in(tx: &WriteTransaction, person: &Person) -> Result<Counts, StorageError> {
    let mut counts = Counts::new();
    let me = person.as_key().to_owned();
    if let Some(caller) = person.caller() {
        let own = vec![caller.as_str().to_owned()];
        remove_all(tx, SAMPLES, &own, "sample_records", &mut counts)?;
        remove_all(tx, CLONES, &own, "clone_entries", &mut counts)?;
        remove_all(tx, VOICEPRINTS, &own, "voiceprints", &mut counts)?;
        remove_all(tx, QUALITY, &own, "quality_scores", &mut counts)?;
        let runs = keys_where::<RunRecord>(tx, RUNS, |r| &r.caller_id == caller)?;
        let mut log = Vec::new();
        for run in &runs {
            log.extend(index_keys(tx, CLONE_LOG, keys::owned_by(run))?);
        }
        remove_all(tx, CLONE_LOG, &log, "clone_log_entries", &mut counts)?;
        remove_all(tx, RUNS, &runs, "runs", &mut counts)?;
        let calls = index_range(tx, CALLS_BY_CALLER, keys::owned_by(caller.as_str()))?;
        for (_, call) in &calls {
            let events = index_range(tx, EVENTS_BY_CALL, keys::owned_by(call))?;
            let event_keys: Vec<String> = events.iter().map(|(_, e)| e.clone()).collect();
            remove_all(tx, EVENTS, &event_keys, "call_events", &mut counts)?;
            remove_index(tx, EVENTS_BY_CALL, &events.into_iter().map(|(k, _)| k).collect::<Vec<_>>())?;
        }
        let call_ids: Vec<String> = calls.iter().map(|(_, c)| c.clone()).collect();
        remove_all(tx, CALLS, &call_ids, "calls", &mut counts)?;
        remove_index(tx, CALLS_BY_CALLER, &calls.into_iter().map(|(k, _)| k).collect::<Vec<_>>())?;
    }
    let by_person = index_range(tx, MODELS_BY_PERSON, keys::owned_by(&me))?;
    let models: Vec<String> = by_person.iter().map(|(_, id)| id.clone()).collect();
    let mut audit = Vec::new();
    let mut by_time = Vec::new();
    {
        let t = tx.open_table(MODELS).map_err(failed)?;
        for id in &models {
            if let Some(v) = t.get(id.as_str()).map_err(failed)? {
                by_time.push(keys::model_sort(&decode::<VoiceModel>(v.value())?));
            }
        }
    }
    for id in &models {
        audit.extend(index_keys(tx, AUDIT, keys::owned_by(id))?);
    }
    remove_all(tx, AUDIT, &audit, "audit_events", &mut counts)?;
    remove_all(tx, MODELS, &models, "voice_models", &mut counts)?;
    remove_index(tx, MODELS_BY_TIME, &by_time)?;
    remove_index(tx, MODELS_BY_PERSON, &by_person.into_iter().map(|(k, _)| k).collect::<Vec<_>>())?;
    let own = vec![me];
    remove_all(tx, ACTIVE, &own, "active_voices", &mut counts)?;
    remove_all(tx, CONSENT, &own, "consent_records", &mut counts)?;
    remove_all(tx, PEOPLE, &own, "person_records", &mut counts)?;
    Ok(counts)
}

/// The keys of a table of values in `[lo, hi)`.
fn index_keys(
    tx: &WriteTransaction,
    table: TableDefinition<&str, &[u8]>,
    (lo, hi): (String, String),
) -> Result<Vec<String>, StorageError> {
    let t = tx.open_table(table).map_err(failed)?;
    let mut out = Vec::new();
    for entry in t.range(lo.as_str()..hi.as_str()).map_err(failed)? {
        out.push(entry.map_err(failed)?.0.value().to_owned());
    }
    Ok(out)
}

impl LocalRecords {
    pub(super) async fn erase_person(&self, person: &Person) -> Result<Counts, StorageError> {
        let person = person.clone();
        self.writer.write(true, move |tx| erase_in(tx, &person)).await
    }

    pub(super) async fn put_erasure(&self, r: &ErasureReceipt) -> Result<(), StorageError> {
        self.put(ERASURES, &format!("{}#{}", keys::time(r.started_at), r.id), r).await
    }

    pub(super) fn all_erasures(&self) -> Result<Vec<ErasureReceipt>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let t = tx.open_table(ERASURES).map_err(failed)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(failed)? {
            out.push(decode(entry.map_err(failed)?.1.value())?);
        }
        Ok(out)
    }
}
