//! The records on one machine, in redb: pure Rust (no C toolchain to install, unlike SQLite),
//! crash-safe ACID transactions in a single file under the data dir, and ordered keys, which is
//! all the call log's "by caller and time" index needs. Records are stored as JSON, as the
//! domain types serialize. One file per port served (`samples`, `runs`, `calls`, `clones`,
//! `quality`, `voiceprints`, `webhooks`, `models`, `people`); every key format is in `keys`.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use echome_core::{
    BlobRef, CallClaim, CallEventRecord, CallId, CallLog, CallPage, CallRecord, CallerId, CloneCache,
    CloneLogRecord, CloneRecord, CloneStatus, Delivery, Person, QualityScore, RunId, RunLog, RunOutcome,
    RunRecord, RunStatus, SampleLog, SampleRecord, SampleWrite, SegmentOutput, StorageError, VoiceId,
    WebhookArchive,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::writer::GroupCommit;

const SAMPLES: TableDefinition<&str, &[u8]> = TableDefinition::new("samples");
const RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("runs");
const CALLS: TableDefinition<&str, &[u8]> = TableDefinition::new("calls");
const CLONES: TableDefinition<&str, &[u8]> = TableDefinition::new("clones");
/// `{run_id}|{at}` → the clone log's record.
const CLONE_LOG: TableDefinition<&str, &[u8]> = TableDefinition::new("clone_log");
/// `{caller}|{started_at}#{call_id}` → call id: a caller's calls in time order.
const CALLS_BY_CALLER: TableDefinition<&str, &str> = TableDefinition::new("calls_by_caller");
/// `{at}|{kind}|{n}` → a call-flow event, in time order.
const EVENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("call_events");
/// `{call_id}|{event key}` → event key: one call's events.
const EVENTS_BY_CALL: TableDefinition<&str, &str> = TableDefinition::new("call_events_by_call");
/// [`Delivery::key`] → the webhook delivery's body, as received.
const WEBHOOKS: TableDefinition<&str, &[u8]> = TableDefinition::new("webhooks");
/// caller → the caller's reference voice.
const VOICEPRINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("voiceprints");
/// Caller → the measured quality of their voice (see `quality.rs`).
const QUALITY: TableDefinition<&str, &[u8]> = TableDefinition::new("clone_quality");
/// Model id → the voice model (see `models.rs`).
const MODELS: TableDefinition<&str, &[u8]> = TableDefinition::new("voice_models");
/// `{created_at}#{model_id}` → model id: every model in time order.
const MODELS_BY_TIME: TableDefinition<&str, &str> = TableDefinition::new("models_by_time");
/// `{person}|{created_at}#{model_id}` → model id: a person's models in time order.
const MODELS_BY_PERSON: TableDefinition<&str, &str> = TableDefinition::new("models_by_person");
/// Person → their active model.
const ACTIVE: TableDefinition<&str, &[u8]> = TableDefinition::new("active_voices");
/// `{model_id}|{at}|{n}` → an audit event.
const AUDIT: TableDefinition<&str, &[u8]> = TableDefinition::new("model_audit");
/// Named person's id → their record (see `people.rs`).
const PEOPLE: TableDefinition<&str, &[u8]> = TableDefinition::new("people");
/// Person → their consent.
const CONSENT: TableDefinition<&str, &[u8]> = TableDefinition::new("consent");
/// `{started_at}#{id}` → an erasure receipt (see `erase.rs`).
const ERASURES: TableDefinition<&str, &[u8]> = TableDefinition::new("erasures");

mod calls;
mod clones;
mod erase;
mod keys;
mod models;
mod people;
mod quality;
mod runs;
mod samples;
mod voiceprints;
mod webhooks;

/// Reads go straight to the database; writes are group-committed by one writer thread.
#[derive(Clone)]
pub struct LocalRecords {
    writer: Arc<GroupCommit>,
    db: Arc<Database>,
}

pub(crate) fn failed(e: impl std::fmt::Display) -> StorageError {
    StorageError::Failed(format!("local records: {e}"))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(v).map_err(failed)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(failed)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Durable {
    Yes,
    No,
}

impl LocalRecords {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StorageError::Failed(format!(
                "{} is in use by another echome process (is `echome serve` running on this data dir?)",
                path.display()
            )),
            other => failed(other),
        })?;
        let tx = db.begin_write().map_err(failed)?;
        for t in [
            SAMPLES,
            RUNS,
            CALLS,
            CLONES,
            CLONE_LOG,
            EVENTS,
            WEBHOOKS,
            VOICEPRINTS,
            QUALITY,
            MODELS,
            ACTIVE,
            AUDIT,
            PEOPLE,
            CONSENT,
            ERASURES,
        ] {
            tx.open_table(t).map_err(failed)?;
        }
        for t in [CALLS_BY_CALLER, EVENTS_BY_CALL, MODELS_BY_TIME, MODELS_BY_PERSON] {
            tx.open_table(t).map_err(failed)?;
        }
        tx.commit().map_err(failed)?;
        let db = Arc::new(db);
        Ok(Self { writer: Arc::new(GroupCommit::start(db.clone())?), db })
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

    /// Stores `value` under `key`, replacing what was there, in a durable write.
    async fn put<T: Serialize>(
        &self,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        key: &str,
        value: &T,
    ) -> Result<(), StorageError> {
        let (key, bytes) = (key.to_owned(), encode(value)?);
        self.update(table, move |t| {
            t.insert(key.as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(())
        })
        .await
    }

    /// Runs `f` on one table in a durable write; it decides whether to write.
    async fn update<R: Send + 'static>(
        &self,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        f: impl FnMut(&mut redb::Table<&str, &[u8]>) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError> {
        self.update_with(table, Durable::Yes, f).await
    }

    /// [`Self::update`], for bookkeeping (call events, reuse counts) with `Durable::No`: it may
    /// be lost in a crash until the next durable commit, and costs no fsync on the call's path.
    async fn update_with<R: Send + 'static>(
        &self,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        durable: Durable,
        mut f: impl FnMut(&mut redb::Table<&str, &[u8]>) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError> {
        self.writer
            .write(durable == Durable::Yes, move |tx| {
                let mut t = tx.open_table(table).map_err(failed)?;
                f(&mut t)
            })
            .await
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
        let who = Person::from(&caller);
        let sample = |v: &str, at: &str| SampleRecord {
            person: who.clone(),
            sample: BlobRef::new("local", format!("samples/+14155550123/{v}.wav")),
            version: v.into(),
            uploaded_at: t(at),
            size: 1,
            pack: None,
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
        assert_eq!(db.current_sample(&who).await.unwrap().unwrap().version, "b");
        // A pack is kept with the current sample only.
        let pack = |run: &str| echome_testkit::fixtures::pack("local", run);
        let older = sample("a", "2026-11-20T09:00:00Z").sample;
        assert!(!db.record_pack(&who, &older, &pack("r0")).await.unwrap());
        let current = sample("b", "2026-11-20T10:00:00Z").sample;
        assert!(db.record_pack(&who, &current, &pack("r1")).await.unwrap());
        assert_eq!(db.current_sample(&who).await.unwrap().unwrap().pack, Some(pack("r1")));

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

        let call = |id: &str, at: &str| {
            CallRecord::new(CallId::parse(id).unwrap(), caller.clone(), "+18005550199".into(), t(at))
        };
        let first = call("c1", "2026-11-20T09:00:00Z");
        assert_eq!(db.claim_call(&first).await.unwrap(), CallClaim::New(first.clone()));
        assert_eq!(
            db.claim_call(&call("c1", "2026-11-20T09:30:00Z")).await.unwrap(),
            CallClaim::Existing(first.clone())
        );
        for (id, at) in [("c2", "2026-11-20T12:00:00Z"), ("c3", "2026-11-21T09:00:00Z")] {
            db.claim_call(&call(id, at)).await.unwrap();
        }
        let ids = |p: &CallPage| p.calls.iter().map(|c| c.call_id.to_string()).collect::<Vec<_>>();
        let page = db.calls_of(&caller, 2, None).await.unwrap();
        assert_eq!(ids(&page), ["c3", "c2"]);
        let rest = db.calls_of(&caller, 2, page.next.as_deref()).await.unwrap();
        assert_eq!((ids(&rest), rest.next), (vec!["c1".to_owned()], None));

        let mut stale = first.clone();
        assert!(db.save_call(&CallRecord { status: CallStatus::Ended, ..first.clone() }).await.unwrap());
        stale.status = CallStatus::Agent;
        assert!(!db.save_call(&stale).await.unwrap(), "a write based on an old read is refused");
        let ended = echome_core::call_log::update_call(&db, &first.call_id, |c| {
            c.note = Some("hung up".into());
            true
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!((ended.status, ended.version), (CallStatus::Ended, 2));
        assert_eq!(db.call(&first.call_id).await.unwrap(), Some(ended));

        use echome_core::{CallEventKind, CallEventRecord};
        let at = t("2026-11-20T09:00:01Z");
        for kind in [CallEventKind::Incoming, CallEventKind::Incoming, CallEventKind::Ended] {
            db.log_event(&CallEventRecord::new(kind, Some(&first.call_id), at)).await.unwrap();
        }
        db.log_event(&CallEventRecord::new(CallEventKind::WebhookRejected, None, t("2026-11-22T00:00:00Z")))
            .await
            .unwrap();
        assert_eq!(db.call_events(&first.call_id).await.unwrap().len(), 3, "same instant, all kept");
        let day = db.events_between(t("2026-11-20T00:00:00Z"), t("2026-11-21T00:00:00Z")).await.unwrap();
        assert_eq!(day.len(), 3);
        let just_now = t("2026-11-20T09:00:02.142100Z");
        db.log_event(&CallEventRecord::new(CallEventKind::Incoming, None, just_now)).await.unwrap();
        let upto = |to: &str| db.events_between(t("2026-11-20T09:00:02Z"), t(to));
        assert_eq!(upto("2026-11-20T09:00:02.142900Z").await.unwrap().len(), 1, "same millisecond as `to`");
        assert_eq!(upto("2026-11-20T09:00:02.142100Z").await.unwrap().len(), 0, "`to` is excluded");
        drop(db);
        let reopened = LocalRecords::open(&dir.path().join("echome.redb")).unwrap();
        assert_eq!(reopened.runs().unwrap().len(), 1, "records survive a restart");
    }

    #[tokio::test]
    async fn a_use_counts_only_while_the_entry_is_active_with_that_voice() {
        let dir = tempfile::tempdir().unwrap();
        let db = LocalRecords::open(&dir.path().join("echome.redb")).unwrap();
        let caller = CallerId::parse("+14155550123").unwrap();
        let who = Person::from(&caller);
        let (old, new) = (VoiceId::parse("voiceOld").unwrap(), VoiceId::parse("voiceNew").unwrap());
        let made = t("2026-11-20T09:00:00Z");
        let entry = CloneRecord {
            person: who.clone(),
            voice_id: old.clone(),
            engine: "elevenlabs".into(),
            pack_digest: "abc".into(),
            run_id: RunId::parse("run-1").unwrap(),
            created_at: made,
            last_used_at: made,
            reuse_count: 0,
            status: CloneStatus::Active,
            expires_at: (made + chrono::Duration::hours(24)).timestamp(),
        };
        let ttl = chrono::Duration::hours(24);
        let missing = Person::parse("+14155550999").unwrap();
        assert!(!db.touch_clone(&missing, &old, made, ttl).await.unwrap(), "no entry: nothing to count");
        assert!(db.clone_of(&missing).await.unwrap().is_none(), "and nothing is created");

        db.put_clone(&entry).await.unwrap();
        let used = t("2026-11-20T20:00:00Z");
        assert!(db.touch_clone(&who, &old, used, ttl).await.unwrap());
        let got = db.clone_of(&who).await.unwrap().unwrap();
        assert_eq!((got.reuse_count, got.last_used_at), (1, used));
        assert_eq!(got.expires_at, (used + ttl).timestamp(), "a frequent caller's clone lives on");
        assert!(db.touch_clone(&who, &old, used, chrono::Duration::hours(1)).await.unwrap());
        let got = db.clone_of(&who).await.unwrap().unwrap();
        assert_eq!(got.expires_at, (used + ttl).timestamp(), "a use never shortens the life");

        // Replaced by a new voice: a late use of the old one changes nothing.
        let replaced = CloneRecord { voice_id: new.clone(), reuse_count: 0, ..entry.clone() };
        db.put_clone(&replaced).await.unwrap();
        assert!(!db.touch_clone(&who, &old, used, ttl).await.unwrap());
        assert_eq!(db.clone_of(&who).await.unwrap().unwrap(), replaced);

        // Evicted: the use does not bring it back.
        let evicted = CloneRecord { status: CloneStatus::Evicted, ..replaced };
        db.put_clone(&evicted).await.unwrap();
        assert!(!db.touch_clone(&who, &new, used, ttl).await.unwrap());
        assert_eq!(db.clone_of(&who).await.unwrap().unwrap(), evicted);
    }

    #[test]
    fn a_database_in_use_is_named_with_what_to_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("echome.redb");
        let _serving = LocalRecords::open(&path).unwrap();
        let Err(StorageError::Failed(msg)) = LocalRecords::open(&path) else { panic!("opened twice") };
        assert!(msg.contains("in use by another echome process") && msg.contains("echome serve"), "{msg}");
    }

    #[tokio::test]
    async fn webhook_deliveries_are_kept_as_received_and_listed_by_source_and_day() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("echome.redb");
        let db = LocalRecords::open(&path).unwrap();
        let at = t("2026-11-22T09:05:07.042Z");
        let body = br#"{"event_type":"IncomingCall"}"#;
        let key = db.keep(&Delivery { source: "3cx", received_at: at, body }).await.unwrap();
        db.keep(&Delivery { source: "elevenlabs", received_at: at, body: b"not json" }).await.unwrap();
        db.keep(&Delivery { source: "3cx", received_at: t("2026-11-23T00:00:00Z"), body }).await.unwrap();
        drop(db);
        let db = LocalRecords::open(&path).unwrap();
        let day = db.kept_webhooks("webhooks/3cx/2026-11-22/").unwrap();
        assert_eq!(day, [(key, body.to_vec())]);
        assert_eq!(db.kept_webhooks("webhooks/").unwrap().len(), 3);
        assert_eq!(db.kept_webhooks("webhooks/elevenlabs/").unwrap()[0].1, b"not json");
    }
}
