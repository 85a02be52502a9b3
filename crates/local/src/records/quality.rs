//! Each caller's voice's measured quality, beside the clone entry it belongs to: a score is
//! only ever read back for the voice it measured.

use echome_core::{CloneRecord, Person, QualityScore, StorageError, VoiceId};
use redb::ReadableTable;

use super::{CLONES, LocalRecords, QUALITY, decode, encode, failed};

impl LocalRecords {
    /// Written in one transaction with the read of the caller's entry: only while it holds the
    /// scored voice.
    pub(super) async fn put_quality(
        &self,
        person: &Person,
        score: &QualityScore,
    ) -> Result<bool, StorageError> {
        let (person, voice, bytes) = (person.clone(), score.voice_id.clone(), encode(score)?);
        self.writer
            .write(true, move |tx| {
                let clones = tx.open_table(CLONES).map_err(failed)?;
                let holds = match clones.get(person.as_key()).map_err(failed)? {
                    Some(v) => decode::<CloneRecord>(v.value())?.voice_id == voice,
                    None => false,
                };
                drop(clones);
                if holds {
                    let mut t = tx.open_table(QUALITY).map_err(failed)?;
                    t.insert(person.as_key(), bytes.as_slice()).map_err(failed)?;
                }
                Ok(holds)
            })
            .await
    }

    pub(super) fn quality(
        &self,
        person: &Person,
        voice: &VoiceId,
    ) -> Result<Option<QualityScore>, StorageError> {
        let held = self.get::<CloneRecord>(CLONES, person.as_key())?.is_some_and(|c| &c.voice_id == voice);
        let score: Option<QualityScore> = self.get(QUALITY, person.as_key())?;
        Ok(score.filter(|s| held && &s.voice_id == voice))
    }
}
