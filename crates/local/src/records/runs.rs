//! The clone runs and how they ended (`RunLog`), and every run for `echome runs`.

use super::*;

impl RunLog for LocalRecords {
    async fn create_run(&self, rec: &RunRecord) -> Result<bool, StorageError> {
        let (run_id, bytes) = (rec.run_id.clone(), encode(rec)?);
        self.update(RUNS, move |t| {
            if t.get(run_id.as_str()).map_err(failed)?.is_some() {
                return Ok(false);
            }
            t.insert(run_id.as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(true)
        })
        .await
    }

    async fn finish_run(
        &self,
        run_id: &RunId,
        outcome: &RunOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let (run_id, outcome) = (run_id.clone(), outcome.clone());
        self.update(RUNS, move |t| {
            let mut rec: RunRecord = match t.get(run_id.as_str()).map_err(failed)? {
                Some(v) => decode(v.value())?,
                None => return Err(StorageError::NotFound(format!("run {run_id}"))),
            };
            rec.finished_at = Some(at);
            match &outcome {
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
        .await
    }

    async fn run(&self, run_id: &RunId) -> Result<Option<RunRecord>, StorageError> {
        self.get(RUNS, run_id.as_str())
    }

    async fn latest_run(&self, person: &Person) -> Result<Option<RunRecord>, StorageError> {
        Ok(self.runs()?.into_iter().find(|r| &r.person == person))
    }

    async fn runs_of(&self, person: &Person) -> Result<Vec<RunId>, StorageError> {
        Ok(self.runs()?.into_iter().filter(|r| &r.person == person).map(|r| r.run_id).collect())
    }
}

impl LocalRecords {
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
