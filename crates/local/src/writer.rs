//! Group commit for the local records. redb has one writer at a time and a durable commit costs
//! an fsync, so a hundred calls at once each waiting for their own fsync (and blocking an async
//! worker meanwhile) is what made the call path slow under load. Writes are queued to one thread
//! that applies everything waiting in one transaction and commits once: each caller still gets
//! its answer only after its write is committed as durably as it asked.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use echome_core::StorageError;
use redb::{Database, Durability, WriteTransaction};
use tokio::sync::oneshot;

use crate::records::failed;

/// Enough to absorb a burst; a bound so one commit never grows without limit.
const MAX_BATCH: usize = 256;

/// One queued write. `apply` may run more than once (on a fresh transaction) if another write in
/// its batch fails, so the write must depend only on what it owns and on the transaction.
trait Job: Send {
    /// Applies the write; false if it failed, and the transaction must then be rolled back.
    fn apply(&mut self, tx: &WriteTransaction) -> bool;
    /// Answers the caller: its own failure first, else the commit's outcome.
    fn finish(self: Box<Self>, committed: Result<(), StorageError>);
}

struct Pending<R, F> {
    op: F,
    outcome: Option<Result<R, StorageError>>,
    reply: oneshot::Sender<Result<R, StorageError>>,
}

impl<R, F> Job for Pending<R, F>
where
    R: Send,
    F: FnMut(&WriteTransaction) -> Result<R, StorageError> + Send,
{
    fn apply(&mut self, tx: &WriteTransaction) -> bool {
        let outcome = (self.op)(tx);
        let applied = outcome.is_ok();
        self.outcome = Some(outcome);
        applied
    }

    fn finish(self: Box<Self>, committed: Result<(), StorageError>) {
        let result = match self.outcome {
            Some(Ok(r)) => committed.map(|()| r),
            Some(Err(e)) => Err(e),
            None => Err(committed.err().unwrap_or_else(|| failed("the write was never applied"))),
        };
        if self.reply.send(result).is_err() {
            tracing::debug!("a local write finished after its caller stopped waiting");
        }
    }
}

struct Queued {
    durable: bool,
    job: Box<dyn Job>,
}

/// The queue and its thread. Dropping it lets the thread commit what is queued and waits for it,
/// so the database file is free again once the records are dropped.
pub(crate) struct GroupCommit {
    queue: Option<mpsc::Sender<Queued>>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub(crate) fn start(db: Arc<Database>) -> Result<Self, StorageError> {
        let (queue, jobs) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("echome-records-writer".into())
            .spawn(move || drain(&db, &jobs))
            .map_err(failed)?;
        Ok(Self { queue: Some(queue), thread: Some(thread) })
    }

    /// Runs `op` in a write transaction, answering once it is committed; `durable` asks for the
    /// commit to reach the disk (fsync) before the answer, otherwise the next durable commit
    /// carries it.
    pub(crate) async fn write<R, F>(&self, durable: bool, op: F) -> Result<R, StorageError>
    where
        R: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<R, StorageError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending { op, outcome: None, reply });
        let queue = self.queue.as_ref().ok_or_else(|| failed("the writer has stopped"))?;
        queue.send(Queued { durable, job }).map_err(|_| failed("the writer has stopped"))?;
        answer.await.map_err(|_| failed("the writer stopped before answering"))?
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the local records writer panicked");
        }
    }
}

fn drain(db: &Database, jobs: &mpsc::Receiver<Queued>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        commit(db, batch);
    }
}

/// Applies the batch in order in one transaction. If any write fails, the transaction is rolled
/// back and each write is retried alone, so one failure never takes the others with it.
fn commit(db: &Database, mut batch: Vec<Queued>) {
    let durable = batch.iter().any(|q| q.durable);
    let tx = db.begin_write().map_err(failed).and_then(|mut tx| {
        tx.set_durability(if durable { Durability::Immediate } else { Durability::None }).map_err(failed)?;
        Ok(tx)
    });
    let tx = match tx {
        Ok(tx) => tx,
        Err(e) => {
            for q in batch {
                q.job.finish(Err(e.clone()));
            }
            return;
        }
    };
    if batch.iter_mut().all(|q| q.job.apply(&tx)) {
        let committed = tx.commit().map_err(failed);
        for q in batch {
            q.job.finish(committed.clone());
        }
        return;
    }
    if let Err(e) = tx.abort() {
        tracing::warn!(error = %e, "rolling back a local write batch");
    }
    if batch.len() == 1 {
        for q in batch {
            q.job.finish(Ok(()));
        }
    } else {
        for q in batch {
            commit(db, vec![q]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};

    const T: TableDefinition<&str, u64> = TableDefinition::new("t");

    fn put(key: &'static str, v: u64) -> impl FnMut(&WriteTransaction) -> Result<(), StorageError> + Send {
        move |tx| {
            tx.open_table(T).map_err(failed)?.insert(key, v).map_err(failed)?;
            Ok(())
        }
    }

    fn read(db: &Database, key: &str) -> Option<u64> {
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(T).unwrap();
        t.get(key).unwrap().map(|v| v.value())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_land_in_order_and_a_failing_one_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("w.redb")).unwrap());
        let writer = Arc::new(GroupCommit::start(db.clone()).unwrap());

        // A counter bumped by 200 writers at once: every increment lands, each sees its own value.
        let bump = |w: Arc<GroupCommit>, durable| async move {
            w.write(durable, |tx| {
                let mut t = tx.open_table(T).map_err(failed)?;
                let n = t.get("n").map_err(failed)?.map_or(0, |v| v.value()) + 1;
                t.insert("n", n).map_err(failed)?;
                Ok(n)
            })
            .await
        };
        let tasks: Vec<_> = (0..200).map(|i| tokio::spawn(bump(writer.clone(), i % 2 == 0))).collect();
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap().unwrap());
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..=200).collect::<Vec<_>>());
        assert_eq!(read(&db, "n"), Some(200));

        // A write that fails after writing, queued among good ones: its write is rolled back,
        // the others commit, and each caller gets its own answer.
        let bad = |w: Arc<GroupCommit>| async move {
            w.write(true, |tx| {
                tx.open_table(T).map_err(failed)?.insert("bad", 1).map_err(failed)?;
                Err::<(), _>(StorageError::NotFound("no such thing".into()))
            })
            .await
        };
        let (a, b, c) = tokio::join!(
            writer.write(true, put("a", 1)),
            bad(writer.clone()),
            writer.write(false, put("c", 3))
        );
        assert_eq!((a, b, c), (Ok(()), Err(StorageError::NotFound("no such thing".into())), Ok(())));
        assert_eq!((read(&db, "a"), read(&db, "bad"), read(&db, "c")), (Some(1), None, Some(3)));
    }

    #[tokio::test]
    async fn dropping_the_writer_commits_what_is_queued_and_frees_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.redb");
        let db = Arc::new(Database::create(&path).unwrap());
        let writer = GroupCommit::start(db.clone()).unwrap();
        writer.write(true, put("kept", 7)).await.unwrap();
        drop(writer);
        drop(db);
        let reopened = Database::create(&path).expect("the file is free once the writer is dropped");
        let tx = reopened.begin_read().unwrap();
        assert_eq!(tx.open_table(T).unwrap().get("kept").unwrap().map(|v| v.value()), Some(7));
    }
}
