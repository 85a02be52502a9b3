//! The voice library (`VoiceLibrary`): models by id with two indexes (by time, by person),
//! each person's active model, and the audit trail. Every conditional write reads and writes
//! in one transaction of the single writer, so nothing slips in between.

use echome_core::library::{ActiveVoice, AuditEvent, ModelId, ModelPage, Person, VoiceLibrary, VoiceModel};

use super::*;

impl VoiceLibrary for LocalRecords {
    async fn create_model(&self, m: &VoiceModel) -> Result<bool, StorageError> {
        let (id, by_time, by_person) = (m.id.to_string(), keys::model_sort(m), keys::person_model(m));
        let bytes = encode(&VoiceModel { version: 1, ..m.clone() })?;
        self.writer
            .write(true, move |tx| {
                let mut t = tx.open_table(MODELS).map_err(failed)?;
                if t.get(id.as_str()).map_err(failed)?.is_some() {
                    return Ok(false);
                }
                t.insert(id.as_str(), bytes.as_slice()).map_err(failed)?;
                drop(t);
                tx.open_table(MODELS_BY_TIME)
                    .map_err(failed)?
                    .insert(by_time.as_str(), id.as_str())
                    .map_err(failed)?;
                tx.open_table(MODELS_BY_PERSON)
                    .map_err(failed)?
                    .insert(by_person.as_str(), id.as_str())
                    .map_err(failed)?;
                Ok(true)
            })
            .await
    }

    async fn model(&self, id: &ModelId) -> Result<Option<VoiceModel>, StorageError> {
        self.get(MODELS, id.as_str())
    }

    async fn save_model(&self, m: &VoiceModel) -> Result<bool, StorageError> {
        let id = m.id.to_string();
        let (read_at, bytes) = (m.version, encode(&VoiceModel { version: m.version + 1, ..m.clone() })?);
        self.update(MODELS, move |t| {
            let stored: VoiceModel = match t.get(id.as_str()).map_err(failed)? {
                Some(v) => decode(v.value())?,
                None => return Ok(false),
            };
            if stored.version != read_at {
                return Ok(false);
            }
            t.insert(id.as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(true)
        })
        .await
    }

    async fn models_of(&self, person: &Person) -> Result<Vec<VoiceModel>, StorageError> {
        let ids = {
            let tx = self.db.begin_read().map_err(failed)?;
            let t = tx.open_table(MODELS_BY_PERSON).map_err(failed)?;
            let (lo, hi) = keys::owned_by(person.as_key());
            let mut ids = Vec::new();
            for entry in t.range(lo.as_str()..hi.as_str()).map_err(failed)? {
                ids.push(entry.map_err(failed)?.1.value().to_owned());
            }
            ids
        };
        self.models_by_id(&ids)
    }

    async fn models(&self, limit: usize, after: Option<&str>) -> Result<ModelPage, StorageError> {
        let mut keyed = Vec::new();
        {
            let tx = self.db.begin_read().map_err(failed)?;
            let t = tx.open_table(MODELS_BY_TIME).map_err(failed)?;
            let range = match after {
                Some(a) => t.range::<&str>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
                None => t.range::<&str>(..),
            };
            for entry in range.map_err(failed)?.take(limit + 1) {
                let (k, v) = entry.map_err(failed)?;
                keyed.push((k.value().to_owned(), v.value().to_owned()));
            }
        }
        let more = keyed.len() > limit;
        keyed.truncate(limit);
        let next = more.then(|| keyed.last().map(|(k, _)| k.clone())).flatten();
        let ids: Vec<String> = keyed.into_iter().map(|(_, id)| id).collect();
        Ok(ModelPage { models: self.models_by_id(&ids)?, next })
    }

    async fn active_voice(&self, person: &Person) -> Result<Option<ActiveVoice>, StorageError> {
        self.get(ACTIVE, person.as_key())
    }

    async fn set_active(
        &self,
        person: &Person,
        new: Option<&ActiveVoice>,
        expected: Option<&ModelId>,
    ) -> Result<bool, StorageError> {
        let key = person.as_key().to_owned();
        let expected = expected.cloned();
        let bytes = new.map(encode).transpose()?;
        self.update(ACTIVE, move |t| {
            let current: Option<ActiveVoice> =
                t.get(key.as_str()).map_err(failed)?.map(|v| decode(v.value())).transpose()?;
            if current.map(|c| c.model_id) != expected {
                return Ok(false);
            }
            match &bytes {
                Some(b) => t.insert(key.as_str(), b.as_slice()).map_err(failed)?,
                None => t.remove(key.as_str()).map_err(failed)?,
            };
            Ok(true)
        })
        .await
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StorageError> {
        let bytes = encode(event)?;
        let event = event.clone();
        self.update(AUDIT, move |t| {
            let mut n = 0;
            while t.get(keys::model_audit(&event, n).as_str()).map_err(failed)?.is_some() {
                n += 1;
            }
            t.insert(keys::model_audit(&event, n).as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(())
        })
        .await
    }

    async fn audit_of(&self, id: &ModelId) -> Result<Vec<AuditEvent>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let t = tx.open_table(AUDIT).map_err(failed)?;
        let (lo, hi) = keys::owned_by(id.as_str());
        let mut out = Vec::new();
        for entry in t.range(lo.as_str()..hi.as_str()).map_err(failed)? {
            out.push(decode(entry.map_err(failed)?.1.value())?);
        }
        Ok(out)
    }
}

impl LocalRecords {
    fn models_by_id(&self, ids: &[String]) -> Result<Vec<VoiceModel>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let t = tx.open_table(MODELS).map_err(failed)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = t.get(id.as_str()).map_err(failed)? {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }
}
