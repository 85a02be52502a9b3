//! Erasing a person's records (`People::erase_records`) in one write transaction, and the
//! erasure receipts (`erasures`: `{started_at}#{id}` → receipt, in time order).

use std::collections::BTreeMap;

use echome_core::library::{Person, VoiceModel};
use echome_core::people::ErasureReceipt;
use redb::WriteTransaction;

use super::*;

type Counts = BTreeMap<String, u64>;

/// Removes `keys` from `table` (of records or an index); how many were there.
fn remove_keys<V: redb::Value + 'static>(
    tx: &WriteTransaction,
    table: TableDefinition<&str, V>,
    keys: &[String],
) -> Result<u64, StorageError> {
    let mut t = tx.open_table(table).map_err(failed)?;
    let mut removed = 0;
    for k in keys {
        if t.remove(k.as_str()).map_err(failed)?.is_some() {
            removed += 1;
        }
    }
    Ok(removed)
}

fn add(counts: &mut Counts, kind: &str, n: u64) {
    if n > 0 {
        *counts.entry(kind.to_owned()).or_default() += n;
    }
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
    let own = vec![me.clone()];
    add(&mut counts, "sample_records", remove_keys(tx, SAMPLES, &own)?);
    add(&mut counts, "clone_entries", remove_keys(tx, CLONES, &own)?);
    add(&mut counts, "voiceprints", remove_keys(tx, VOICEPRINTS, &own)?);
    add(&mut counts, "quality_scores", remove_keys(tx, QUALITY, &own)?);
    let runs = keys_where::<RunRecord>(tx, RUNS, |r| &r.person == person)?;
    let mut log = Vec::new();
    for run in &runs {
        log.extend(index_keys(tx, CLONE_LOG, keys::owned_by(run))?);
    }
    add(&mut counts, "clone_log_entries", remove_keys(tx, CLONE_LOG, &log)?);
    add(&mut counts, "runs", remove_keys(tx, RUNS, &runs)?);
    if let Some(caller) = person.caller() {
        let calls = index_range(tx, CALLS_BY_CALLER, keys::owned_by(caller.as_str()))?;
        for (_, call) in &calls {
            let events = index_range(tx, EVENTS_BY_CALL, keys::owned_by(call))?;
            let event_keys: Vec<String> = events.iter().map(|(_, e)| e.clone()).collect();
            add(&mut counts, "call_events", remove_keys(tx, EVENTS, &event_keys)?);
            remove_keys(tx, EVENTS_BY_CALL, &events.into_iter().map(|(k, _)| k).collect::<Vec<_>>())?;
        }
        let call_ids: Vec<String> = calls.iter().map(|(_, c)| c.clone()).collect();
        add(&mut counts, "calls", remove_keys(tx, CALLS, &call_ids)?);
        remove_keys(tx, CALLS_BY_CALLER, &calls.into_iter().map(|(k, _)| k).collect::<Vec<_>>())?;
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
    add(&mut counts, "audit_events", remove_keys(tx, AUDIT, &audit)?);
    add(&mut counts, "voice_models", remove_keys(tx, MODELS, &models)?);
    remove_keys(tx, MODELS_BY_TIME, &by_time)?;
    remove_keys(tx, MODELS_BY_PERSON, &by_person.into_iter().map(|(k, _)| k).collect::<Vec<_>>())?;
    let own = vec![me];
    add(&mut counts, "active_voices", remove_keys(tx, ACTIVE, &own)?);
    add(&mut counts, "consent_records", remove_keys(tx, CONSENT, &own)?);
    add(&mut counts, "person_records", remove_keys(tx, PEOPLE, &own)?);
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
