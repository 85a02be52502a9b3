//! Each caller's current sample, and the pack kept with it (`SampleLog`).

use super::*;

impl SampleLog for LocalRecords {
    async fn record_sample(&self, rec: &SampleRecord) -> Result<SampleWrite, StorageError> {
        let (rec, bytes) = (rec.clone(), encode(rec)?);
        self.update(SAMPLES, move |t| {
            let current: Option<SampleRecord> =
                t.get(rec.person.as_key()).map_err(failed)?.map(|v| decode(v.value())).transpose()?;
            let newest = current.is_none_or(|c| {
                c.uploaded_at < rec.uploaded_at
                    || (c.uploaded_at == rec.uploaded_at && c.version == rec.version)
            });
            if !newest {
                return Ok(SampleWrite::Superseded);
            }
            t.insert(rec.person.as_key(), bytes.as_slice()).map_err(failed)?;
            Ok(SampleWrite::Newest)
        })
        .await
    }

    async fn current_sample(&self, person: &Person) -> Result<Option<SampleRecord>, StorageError> {
        self.get(SAMPLES, person.as_key())
    }

    async fn record_pack(
        &self,
        person: &Person,
        sample: &BlobRef,
        pack: &SegmentOutput,
    ) -> Result<bool, StorageError> {
        let (person, sample, pack) = (person.clone(), sample.clone(), pack.clone());
        self.update(SAMPLES, move |t| {
            let current: Option<SampleRecord> =
                t.get(person.as_key()).map_err(failed)?.map(|v| decode(v.value())).transpose()?;
            let Some(mut current) = current.filter(|c| c.sample == sample) else { return Ok(false) };
            current.pack = Some(pack.clone());
            t.insert(person.as_key(), encode(&current)?.as_slice()).map_err(failed)?;
            Ok(true)
        })
        .await
    }
}
