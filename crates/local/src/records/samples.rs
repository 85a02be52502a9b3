//! Each caller's current sample, and the pack kept with it (`SampleLog`).

use super::*;

impl SampleLog for LocalRecords {
    async fn record_sample(&self, rec: &SampleRecord) -> Result<SampleWrite, StorageError> {
        let (rec, bytes) = (rec.clone(), encode(rec)?);
        self.update(SAMPLES, move |t| {
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
        .await
    }

    async fn current_sample(&self, caller: &CallerId) -> Result<Option<SampleRecord>, StorageError> {
        self.get(SAMPLES, caller.as_str())
    }

    async fn record_pack(
        &self,
        caller: &CallerId,
        sample: &BlobRef,
        pack: &SegmentOutput,
    ) -> Result<bool, StorageError> {
        let (caller, sample, pack) = (caller.clone(), sample.clone(), pack.clone());
        self.update(SAMPLES, move |t| {
            let current: Option<SampleRecord> =
                t.get(caller.as_str()).map_err(failed)?.map(|v| decode(v.value())).transpose()?;
            let Some(mut current) = current.filter(|c| c.sample == sample) else { return Ok(false) };
            current.pack = Some(pack.clone());
            t.insert(caller.as_str(), encode(&current)?.as_slice()).map_err(failed)?;
            Ok(true)
        })
        .await
    }
}
