//! The records on one machine, in redb: pure Rust (no C toolchain to install, unlike SQLite),
//! crash-safe ACID transactions in a single file under the data dir, and ordered keys, which is
//! all the call log's "by caller and time" index needs. Records are stored as JSON, as the
//! domain types serialize.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use echome_core::{
    CallLog, CallRecord, CallerId, CloneCache, CloneLogRecord, CloneRecord, RunId, RunLog, RunOutcome,
    RunRecord, RunStatus, SampleLog, SampleRecord, SampleWrite, StorageError,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

const SAMPLES: TableDefinition<&str, &[u8]> = TableDefinition::new("samples");
const RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("runs");
const CALLS: TableDefinition<&str, &[u8]> = TableDefinition::new("calls");
const CLONES: TableDefinition<&str, &[u8]> = TableDefinition::new("clones");
/// `{run_id}|{at}` → the clone log's record.
const CLONE_LOG: TableDefinition<&str, &[u8]> = TableDefinition::new("clone_log");
/// `{caller}|{started_at}|{call_id}` → call id: a caller's calls in time order.
const CALLS_BY_CALLER: TableDefinition<&str, &str> = TableDefinition::new("calls_by_caller");

#[derive(Clone)]
pub struct LocalRecords {
    db: Arc<Database>,
}

fn failed(e: impl std::fmt::Display) -> StorageError {
    StorageError::Failed(format!("local records: {e}"))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(v).map_err(failed)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(failed)
}

fn time_key(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl LocalRecords {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let db = Database::create(path).map_err(failed)?;
        let tx = db.begin_write().map_err(failed)?;
        for t in [SAMPLES, RUNS, CALLS, CLONES, CLONE_LOG] {
            tx.open_table(t).map_err(failed)?;
        }
        tx.open_table(CALLS_BY_CALLER).map_err(failed)?;
        tx.commit().map_err(failed)?;
        Ok(Self { db: Arc::new(db) })
    }

    fn get<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let t = tx.open_table(table).map_err(failed)?;
        let got = t.get(key).map_err(failed)?;
        got.map(|v| decode(v.value())).transpose()
    }

    /// Runs `f` on one table in a write transaction; it decides whether to write.
    fn update<R>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        f: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let tx = self.db.begin_write().map_err(failed)?;
        let r = {
            let mut t = tx.open_table(table).map_err(failed)?;
            f(&mut t)?
        };
        tx.commit().map_err(failed)?;
        Ok(r)
    }

    /// Every run on record, newest first (for `echome runs`).
    pub fn runs(&self) -> Result<Vec<RunRecord>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let t = tx.open_table(RUNS).map_err(failed)?;
        let mut out: Vec<RunRecord> = Vec::new();
        for entry in t.iter().map_err(failed)? {
            let (_, v) = entry.map_err(failed)?;
            out.push(decode(v.value())?);
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        Ok(out)
    }
}

impl SampleLog for LocalRecords {
    async fn record_sample(&self, rec: &SampleRecord) -> Result<SampleWrite, StorageError> {
        let bytes = encode(rec)?;
        self.update(SAMPLES, |t| {
            let current: Option<SampleRecord> =
                t.get(rec.caller_id.as_str()).map_err(failed)?.map(|v| decode(v.value())).transpose()?;
            let newest = current.is_none_or(|c| {
                c.uploaded_at < rec.uploaded_at
                    || (c.uploaded_at == rec.uploaded_at && c.version == rec.version)
            });
            if !newest {
                return Ok(SampleWrite::Superseded);
            }
            t.insert(rec.caller_id.as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(SampleWrite::Newest)
        })
    }

    async fn current_sample(&self, caller: &CallerId) -> Result<Option<SampleRecord>, StorageError> {
        self.get(SAMPLES, caller.as_str())
    }
}

impl RunLog for LocalRecords {
    async fn create_run(&self, rec: &RunRecord) -> Result<bool, StorageError> {
        let bytes = encode(rec)?;
        self.update(RUNS, |t| {
            if t.get(rec.run_id.as_str()).map_err(failed)?.is_some() {
                return Ok(false);
            }
            t.insert(rec.run_id.as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(true)
        })
    }

    async fn finish_run(
        &self,
        run_id: &RunId,
        outcome: &RunOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.update(RUNS, |t| {
            let mut rec: RunRecord = match t.get(run_id.as_str()).map_err(failed)? {
                Some(v) => decode(v.value())?,
                None => return Err(StorageError::NotFound(format!("run {run_id}"))),
            };
            rec.finished_at = Some(at);
            match outcome {
                RunOutcome::Succeeded { report, voice_id } => {
                    rec.status = RunStatus::Succeeded;
                    rec.report = Some(report.clone());
                    rec.voice_id = voice_id.clone();
                }
                RunOutcome::Failed(e) => {
                    rec.status = RunStatus::Failed;
                    rec.error = Some(e.clone());
                }
            }
            t.insert(run_id.as_str(), encode(&rec)?.as_slice()).map_err(failed)?;
            Ok(())
        })
    }

    async fn run(&self, run_id: &RunId) -> Result<Option<RunRecord>, StorageError> {
        self.get(RUNS, run_id.as_str())
    }
}

impl CallLog for LocalRecords {
    async fn record_call(&self, rec: &CallRecord) -> Result<CallRecord, StorageError> {
        let tx = self.db.begin_write().map_err(failed)?;
        let stored = {
            let mut calls = tx.open_table(CALLS).map_err(failed)?;
            let existing: Option<CallRecord> =
                calls.get(rec.call_id.as_str()).map_err(failed)?.map(|v| decode(v.value())).transpose()?;
            match existing {
                Some(first) => first,
                None => {
                    calls.insert(rec.call_id.as_str(), encode(rec)?.as_slice()).map_err(failed)?;
                    let mut index = tx.open_table(CALLS_BY_CALLER).map_err(failed)?;
                    let key =
                        format!("{}|{}|{}", rec.caller_id.as_str(), time_key(rec.started_at), rec.call_id);
                    index.insert(key.as_str(), rec.call_id.as_str()).map_err(failed)?;
                    rec.clone()
                }
            }
        };
        tx.commit().map_err(failed)?;
        Ok(stored)
    }

    async fn calls_by_caller(
        &self,
        caller: &CallerId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CallRecord>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let index = tx.open_table(CALLS_BY_CALLER).map_err(failed)?;
        let calls = tx.open_table(CALLS).map_err(failed)?;
        let lo = format!("{}|{}", caller.as_str(), time_key(from));
        let hi = format!("{}|{}", caller.as_str(), time_key(to));
        let mut out = Vec::new();
        for entry in index.range(lo.as_str()..hi.as_str()).map_err(failed)? {
            let (_, id) = entry.map_err(failed)?;
            if let Some(v) = calls.get(id.value()).map_err(failed)? {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }
}

impl CloneCache for LocalRecords {
    async fn clone_of(&self, caller: &CallerId) -> Result<Option<CloneRecord>, StorageError> {
        self.get(CLONES, caller.as_str())
    }

    async fn put_clone(&self, rec: &CloneRecord) -> Result<(), StorageError> {
        let bytes = encode(rec)?;
        self.update(CLONES, |t| {
            t.insert(rec.caller_id.as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(())
        })
    }

    async fn touch_clone(&self, caller: &CallerId, at: DateTime<Utc>) -> Result<(), StorageError> {
        self.update(CLONES, |t| {
            let mut rec: CloneRecord = match t.get(caller.as_str()).map_err(failed)? {
                Some(v) => decode(v.value())?,
                None => return Err(StorageError::NotFound(format!("clone of {caller}"))),
            };
            rec.reuse_count += 1;
            rec.last_used_at = at;
            t.insert(caller.as_str(), encode(&rec)?.as_slice()).map_err(failed)?;
            Ok(())
        })
    }

    async fn clones(&self) -> Result<Vec<CloneRecord>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let t = tx.open_table(CLONES).map_err(failed)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(failed)? {
            let (_, v) = entry.map_err(failed)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    async fn log_clone(&self, rec: &CloneLogRecord) -> Result<(), StorageError> {
        let key = format!("{}|{}", rec.run_id, time_key(rec.at));
        let bytes = encode(rec)?;
        self.update(CLONE_LOG, |t| {
            t.insert(key.as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(())
        })
    }
}

impl LocalRecords {
    /// The clone log of one run, oldest first.
    pub fn clone_log(&self, run_id: &RunId) -> Result<Vec<CloneLogRecord>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let t = tx.open_table(CLONE_LOG).map_err(failed)?;
        let (lo, hi) = (format!("{run_id}|"), format!("{run_id}}}"));
        let mut out = Vec::new();
        for entry in t.range(lo.as_str()..hi.as_str()).map_err(failed)? {
            let (_, v) = entry.map_err(failed)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use echome_core::{BlobRef, CallId, CallStatus, StepError};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[tokio::test]
    async fn behaves_like_the_dynamodb_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = LocalRecords::open(&dir.path().join("echome.redb")).unwrap();
        let caller = CallerId::parse("+14155550123").unwrap();
        let sample = |v: &str, at: &str| SampleRecord {
            caller_id: caller.clone(),
            sample: BlobRef::new("local", format!("samples/+14155550123/{v}.wav")),
            version: v.into(),
            uploaded_at: t(at),
            size: 1,
        };
        assert_eq!(
            db.record_sample(&sample("b", "2026-11-20T10:00:00Z")).await.unwrap(),
            SampleWrite::Newest
        );
        assert_eq!(
            db.record_sample(&sample("a", "2026-11-20T09:00:00Z")).await.unwrap(),
            SampleWrite::Superseded
        );
        assert_eq!(
            db.record_sample(&sample("b", "2026-11-20T10:00:00Z")).await.unwrap(),
            SampleWrite::Newest
        );
        assert_eq!(db.current_sample(&caller).await.unwrap().unwrap().version, "b");

        let run = RunRecord::started(
            RunId::parse("r1").unwrap(),
            caller.clone(),
            BlobRef::new("l", "k"),
            t("2026-11-20T10:00:00Z"),
        );
        assert!(db.create_run(&run).await.unwrap());
        assert!(!db.create_run(&run).await.unwrap());
        let err = StepError::internal("boom");
        db.finish_run(&run.run_id, &RunOutcome::Failed(err.clone()), t("2026-11-20T10:01:00Z"))
            .await
            .unwrap();
        let back = db.run(&run.run_id).await.unwrap().unwrap();
        assert_eq!((back.status, back.error), (RunStatus::Failed, Some(err)));
        let ghost = RunId::parse("nope").unwrap();
        assert!(
            db.finish_run(&ghost, &RunOutcome::Failed(StepError::internal("x")), Utc::now()).await.is_err()
        );

        let call = |id: &str, at: &str| CallRecord {
            call_id: CallId::parse(id).unwrap(),
            caller_id: caller.clone(),
            started_at: t(at),
            status: CallStatus::Started,
            expires_at: 0,
        };
        let first = call("c1", "2026-11-20T09:00:00Z");
        assert_eq!(db.record_call(&first).await.unwrap(), first);
        assert_eq!(db.record_call(&call("c1", "2026-11-20T09:30:00Z")).await.unwrap(), first);
        db.record_call(&call("c2", "2026-11-20T12:00:00Z")).await.unwrap();
        db.record_call(&call("c3", "2026-11-21T09:00:00Z")).await.unwrap();
        let got =
            db.calls_by_caller(&caller, t("2026-11-20T00:00:00Z"), t("2026-11-20T12:00:00Z")).await.unwrap();
        assert_eq!(got.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(), ["c1"]);
        drop(db);
        let reopened = LocalRecords::open(&dir.path().join("echome.redb")).unwrap();
        assert_eq!(reopened.runs().unwrap().len(), 1, "records survive a restart");
    }
}
