//! Each caller's reference voice, kept until the caller's data is erased.

use echome_core::{CallerId, ReferenceVoice, ReferenceVoices, StorageError};

use super::{LocalRecords, VOICEPRINTS, encode, failed};

impl ReferenceVoices for LocalRecords {
    async fn reference_voice(&self, caller: &CallerId) -> Result<Option<ReferenceVoice>, StorageError> {
        self.get(VOICEPRINTS, caller.as_str())
    }

    async fn put_reference_voice(&self, rec: &ReferenceVoice) -> Result<(), StorageError> {
        let (caller, bytes) = (rec.caller_id.clone(), encode(rec)?);
        self.update(VOICEPRINTS, move |t| {
            t.insert(caller.as_str(), bytes.as_slice()).map_err(failed)?;
            Ok(())
        })
        .await
    }
}
