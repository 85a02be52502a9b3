//! Each caller's voice's measured quality, beside the clone entry it belongs to: a score is
//! only ever read back for the voice it measured.

use echome_core::{CallerId, CloneRecord, QualityScore, StorageError, VoiceId};
use redb::ReadableTable;

use super::{CLONES, LocalRecords, QUALITY, decode, encode, failed};

impl LocalRecords {
    /// Written in one transaction with the read of the caller's entry: only while it holds the
    /// scored voice.
    pub(super) async fn put_quality(
        &self,
        caller: &CallerId,
        score: &QualityScore,
    ) -> Result<bool, StorageError> {
        let (caller, voice, bytes) = (caller.clone(), score.voice_id.clone(), encode(score)?);
        self.writer
            .write(true, move |tx| {
                let clones = tx.open_table(CLONES).map_err(failed)?;
                let holds = match clones.get(caller.as_str()).map_err(failed)? {
                    Some(v) => decode::<CloneRecord>(v.value())?.voice_id == voice,
                    None => false,
                };
                drop(clones);
                if holds {
                    let mut t = tx.open_table(QUALITY).map_err(failed)?;
                    t.insert(caller.as_str(), bytes.as_slice()).map_err(failed)?;
                }
                Ok(holds)
            })
            .await
    }

    pub(super) fn quality(
        &self,
        caller: &CallerId,
        voice: &VoiceId,
    ) -> Result<Option<QualityScore>, StorageError> {
        let held = self.get::<CloneRecord>(CLONES, caller.as_str())?.is_some_and(|c| &c.voice_id == voice);
        let score: Option<QualityScore> = self.get(QUALITY, caller.as_str())?;
        Ok(score.filter(|s| held && &s.voice_id == voice))
    }
}
