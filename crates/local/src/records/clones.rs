//! The clone cache, one entry per caller, and the clone log (`CloneCache`).

use super::*;

impl CloneCache for LocalRecords {
    async fn clone_of(&self, person: &Person) -> Result<Option<CloneRecord>, StorageError> {
        self.get(CLONES, person.as_key())
    }

    async fn put_clone(&self, rec: &CloneRecord) -> Result<(), StorageError> {
        self.put(CLONES, rec.person.as_key(), rec).await
    }

    /// Read and written in one transaction of the single writer, so nothing slips in between.
    async fn touch_clone(
        &self,
        person: &Person,
        voice: &VoiceId,
        at: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<bool, StorageError> {
        let (person, voice) = (person.clone(), voice.clone());
        let until = at.checked_add_signed(ttl).map_or(i64::MAX, |t| t.timestamp());
        self.update_with(CLONES, Durable::No, move |t| {
            let mut rec: CloneRecord = match t.get(person.as_key()).map_err(failed)? {
                Some(v) => decode(v.value())?,
                None => return Ok(false),
            };
            if rec.status != CloneStatus::Active || rec.voice_id != voice {
                return Ok(false);
            }
            rec.reuse_count += 1;
            rec.last_used_at = at;
            rec.expires_at = rec.expires_at.max(until);
            t.insert(person.as_key(), encode(&rec)?.as_slice()).map_err(failed)?;
            Ok(true)
        })
        .await
    }

    async fn evict_clone(&self, person: &Person, voice: &VoiceId) -> Result<bool, StorageError> {
        let (person, voice) = (person.clone(), voice.clone());
        self.update(CLONES, move |t| {
            let mut rec: CloneRecord = match t.get(person.as_key()).map_err(failed)? {
                Some(v) => decode(v.value())?,
                None => return Ok(false),
            };
            if rec.voice_id != voice {
                return Ok(false);
            }
            rec.status = CloneStatus::Evicted;
            t.insert(person.as_key(), encode(&rec)?.as_slice()).map_err(failed)?;
            Ok(true)
        })
        .await
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
        let key = keys::clone_log(rec);
        let bytes = encode(rec)?;
        self.update(CLONE_LOG, move |t| {
            t.insert(key.as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(())
        })
        .await
    }

    async fn clone_log(&self, run_id: &RunId) -> Result<Vec<CloneLogRecord>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let t = tx.open_table(CLONE_LOG).map_err(failed)?;
        let (lo, hi) = keys::owned_by(run_id.as_str());
        let mut out = Vec::new();
        for entry in t.range(lo.as_str()..hi.as_str()).map_err(failed)? {
            let (_, v) = entry.map_err(failed)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    async fn set_quality(&self, person: &Person, score: &QualityScore) -> Result<bool, StorageError> {
        self.put_quality(person, score).await
    }

    async fn quality_of(
        &self,
        person: &Person,
        voice: &VoiceId,
    ) -> Result<Option<QualityScore>, StorageError> {
        self.quality(person, voice)
    }
}
