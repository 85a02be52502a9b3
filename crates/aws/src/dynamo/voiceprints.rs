//! Each caller's reference voice (`CALLER#{e164}` / `VOICEPRINT`): no TTL, it is kept until the
//! caller's data is erased.

use echome_core::{ReferenceVoice, ReferenceVoices};

use super::*;

const SK: &str = "VOICEPRINT";

impl ReferenceVoices for DynamoRecords {
    async fn reference_voice(&self, person: &Person) -> Result<Option<ReferenceVoice>, StorageError> {
        let Some(item) = self.get(voice_pk(person), SK).await? else { return Ok(None) };
        Read(&item).record("reference voice").map(Some)
    }

    async fn put_reference_voice(&self, rec: &ReferenceVoice) -> Result<(), StorageError> {
        let body = record_json(rec, &rec.person, "a reference voice")?;
        let item = HashMap::from([
            ("pk".into(), s(voice_pk(&rec.person))),
            ("sk".into(), s(SK)),
            ("run_id".into(), s(rec.run_id.as_str())),
            ("recorded_at".into(), s(timestamp(rec.recorded_at))),
            ("record".into(), s(body)),
        ]);
        self.put(item, "writing the reference voice of").await
    }
}
